/*
 * deliver.c - putting a message into a live actor's mailbox.
 *
 * The one path every message takes: hive_send, replies, and timers. A
 * message goes to the incarnation named in msg->to; a slot whose alive_pid
 * has moved on is a dead actor, and the push that takes the mailbox token
 * schedules the actor.
 */
#include "runtime.h"

void hive__count_dead_letter(hive_t *h, hive__actor_t *owner) {
  atomic_fetch_add_explicit(&h->dead_letters, 1, memory_order_relaxed);
  if (owner != NULL) /* single writer: the owner's token holder */
    atomic_store_explicit(&owner->dead_letters,
                          atomic_load_explicit(&owner->dead_letters, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

void hive__stats_stamp_sampled(hive__msg_t *msg) {
  if (hive__tls.stamp == HIVE__STAMP_NEXT)
    hive__tls.stamp = HIVE__STAMP_NEVER; /* one a timed turn */
  else if (!hive__stats_sample(&hive__tls.sends_to_sample))
    return;
  msg->flags |= HIVE__MSG_STAMPED;
  msg->stamp_us = (uint32_t)(hive__now_ns() / 1000u);
}

int hive__deliver_refused(hive_t *h, hive__msg_t *msg, int pushed) {
  if (pushed == HIVE__PUSH_DROPPED) {
    /* Counted, and HIVE_OK: a moved buffer was given up, so free it. */
    atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
    hive__msg_free(msg);
    return HIVE__DROPPED;
  }
  msg->flags &= ~HIVE__MSG_OWNED; /* the caller of a failed move keeps buf */
  hive__msg_free(msg);
  return HIVE_EFULL;
}

/* Turns a push's outcome into a return code, scheduling or freeing. */
static inline int deliver_finish(hive_t *h, hive__actor_t *a, hive__msg_t *msg, int pushed) {
  if (pushed == HIVE__PUSH_SCHEDULE) {
    hive__sched_schedule(h, a);
    return HIVE_OK;
  }
  if (pushed == HIVE__PUSH_QUEUED)
    return HIVE_OK;
  return hive__deliver_refused(h, msg, pushed);
}

void hive__outbox_flush(hive_t *h, hive__outbox_t *out) {
  for (unsigned k = 0; k < out->nheld; k++) {
    hive__outbox_entry_t *e = &out->entry[out->held[k]];
    int pushed = hive__mailbox_push_chain_mpsc(&e->actor->mb, e->newest, e->oldest, e->count);
    e->count = 0;
    if (pushed == HIVE__PUSH_SCHEDULE) /* it ran and went idle since */
      hive__sched_schedule(h, e->actor);
  }
  out->nheld = 0;
}

/* Holds msg back in the outbox if this turn woke its receiver a, or holds
 * messages for a already; false if msg must be pushed now. */
static inline bool outbox_hold(hive__outbox_t *out, hive__actor_t *a, hive__msg_t *msg) {
  hive__outbox_entry_t *e = &out->entry[HIVE_PID_SLOT(msg->to) & (HIVE__OUTBOX_SLOTS - 1)];
  if (e->turn != out->turn) { /* free: taken for a receiver this turn woke */
    if (atomic_load_explicit(&a->mb.scheduled_in, memory_order_relaxed) != out->turn)
      return false;
    e->turn = out->turn;
    e->to = msg->to;
    e->actor = a;
  } else if (e->to != msg->to) {
    return false; /* another receiver's */
  }
  msg->link.next = e->count == 0 ? NULL : &e->newest->link;
  if (e->count++ == 0) {
    e->oldest = msg;
    out->held[out->nheld++] = (uint8_t)(e - out->entry);
  }
  e->newest = msg;
  return true;
}

/* One push of a user message; on a worker (out not NULL), through its outbox. */
static inline int deliver_push(hive_t *h, hive__outbox_t *out, hive__actor_t *a, hive__msg_t *msg) {
  if (out != NULL) {
    if (!atomic_load_explicit(&out->hold_off, memory_order_relaxed)) {
      if (outbox_hold(out, a, msg))
        return HIVE_OK;
    } else if (out->nheld > 0) {
      hive__outbox_flush(h, out); /* what was held goes first: order holds */
    }
  }
  int pushed = hive__mailbox_push_mpsc(&a->mb, msg);
  if (pushed == HIVE__PUSH_SCHEDULE && out != NULL &&
      atomic_load_explicit(&a->mb.capacity, memory_order_relaxed) == 0) /* unbounded only */
    atomic_store_explicit(&a->mb.scheduled_in, out->turn, memory_order_relaxed);
  return deliver_finish(h, a, msg, pushed);
}

int hive__push_user(hive_t *h, hive__actor_t *a, hive__msg_t *msg) {
  hive__stats_stamp(msg);
  return deliver_push(h, hive__tls.outbox, a, msg);
}

/* A push that found the mailbox full waits for room only for a plain
 * thread sending to a HIVE_MAILBOX_BLOCK mailbox. */
static inline bool deliver_must_wait(hive__actor_t *a, int pushed) {
  return pushed == HIVE__PUSH_FULL && hive__tls.actor == NULL &&
         atomic_load_explicit(&a->mb.policy, memory_order_relaxed) == HIVE_MAILBOX_BLOCK;
}

/* A plain thread's push found a HIVE_MAILBOX_BLOCK mailbox full: retries
 * until there is room, the actor is gone or block_ms has passed. */
int hive__deliver_wait_for_room(hive_t *h, hive__actor_t *a, hive__msg_t *msg) {
  uint64_t deadline = hive__now_ns() + (uint64_t)atomic_load(&a->mb.block_ms) * 1000000u;
  for (;;) {
    uint32_t seen = ck_ec32_value(&a->mb.room); /* before the retry: no lost wakeup */
    int pushed = hive__mailbox_push_mpsc(&a->mb, msg);
    if (!deliver_must_wait(a, pushed))
      return deliver_finish(h, a, msg, pushed);
    bool dead = atomic_load_explicit(&a->alive_pid, memory_order_acquire) != msg->to;
    if (dead || hive__now_ns() >= deadline) {
      if (dead)
        hive__count_dead_letter(h, NULL);
      msg->flags &= ~HIVE__MSG_OWNED; /* the caller keeps a moved buffer */
      hive__msg_free(msg);
      return dead ? HIVE_ENOPROC : HIVE_ETIMEDOUT;
    }
    struct timespec until = hive__timespec_at(deadline);
    ck_ec32_wait(&a->mb.room, a->mb.room_mode, seen, &until);
  }
}

int hive__push_user_waiting(hive_t *h, hive__actor_t *a, hive__msg_t *msg) {
  hive__stats_stamp(msg);
  hive__outbox_t *out = hive__tls.outbox;
  if (out != NULL)
    return deliver_push(h, out, a, msg); /* a worker never waits */
  int pushed = hive__mailbox_push_mpsc(&a->mb, msg);
  if (!deliver_must_wait(a, pushed))
    return deliver_finish(h, a, msg, pushed); /* the common case: one push */
  return hive__deliver_wait_for_room(h, a, msg);
}

void hive__push_system(hive_t *h, hive__actor_t *a, hive__msg_t *msg) {
  if (hive__mailbox_push_system_mpsc(&a->mb, msg) == HIVE__PUSH_SCHEDULE)
    hive__sched_schedule(h, a);
}

int hive__deliver(hive_t *h, hive__msg_t *msg) {
  hive__actor_t *a = hive__lookup_for_message(h, msg->to);
  if (a == NULL) {
    msg->flags &= ~HIVE__MSG_OWNED;
    hive__msg_free(msg);
    return HIVE_ENOPROC;
  }
  return hive__push_user(h, a, msg);
}
