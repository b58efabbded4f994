/*
 * deliver.c - putting a message into a live actor's mailbox.
 *
 * The one path every message takes: hive_send, replies, and timers. A
 * message goes to the incarnation named in msg->to; a slot whose alive_pid
 * has moved on is a dead actor, and the push that takes the mailbox token
 * schedules the actor.
 */
#include "deliver.h"

void hive__count_undeliverable(hive_t *h) {
  hive__count_sent(h, 1);
  hive__count_dead_letter(h, NULL);
}

void hive__count_dead_letter(hive_t *h, hive__actor_t *owner) {
  atomic_fetch_add_explicit(&h->dead_letters, 1, memory_order_relaxed);
  if (owner != NULL) /* single writer: the owner's token holder */
    atomic_store_explicit(&owner->dead_letters,
                          atomic_load_explicit(&owner->dead_letters, memory_order_relaxed) + 1,
                          memory_order_relaxed);
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
  /* Counted sent here, taken back if a full mailbox refuses it. */
  if (out != NULL) {
#if HIVE_STATS
    out->sent_turn++; /* published at the end of the turn */
#endif
    if (!atomic_load_explicit(&out->hold_off, memory_order_relaxed)) {
      if (outbox_hold(out, a, msg))
        return HIVE_OK;
    } else if (out->nheld > 0) {
      hive__outbox_flush(h, out); /* what was held goes first: order holds */
    }
  } else {
    hive__count_sent(h, 1);
  }
  int pushed = hive__mailbox_push_mpsc(&a->mb, msg);
  if (pushed == HIVE__PUSH_SCHEDULE && out != NULL &&
      atomic_load_explicit(&a->mb.capacity, memory_order_relaxed) == 0) /* unbounded only */
    atomic_store_explicit(&a->mb.scheduled_in, out->turn, memory_order_relaxed);
  return hive__deliver_finish(h, a, msg, pushed);
}

int hive__push_user(hive_t *h, hive__actor_t *a, hive__msg_t *msg) {
  hive__stats_stamp(msg);
  return deliver_push(h, hive__tls.outbox, a, msg);
}

int hive__push_user_waiting(hive_t *h, hive__actor_t *a, hive__msg_t *msg) {
  hive__stats_stamp(msg);
  hive__outbox_t *out = hive__tls.outbox;
  if (out != NULL)
    return deliver_push(h, out, a, msg); /* a worker never waits */
  hive__count_sent(h, 1);                /* taken back if a full mailbox refuses it */
  int pushed = hive__mailbox_push_mpsc(&a->mb, msg);
  if (!hive__deliver_must_wait(a, pushed))
    return hive__deliver_finish(h, a, msg, pushed); /* the common case: one push */
  return hive__deliver_wait_for_room(h, a, msg);
}

void hive__push_system(hive_t *h, hive__actor_t *a, hive__msg_t *msg) {
  if (hive__mailbox_push_system_mpsc(&a->mb, msg) == HIVE__PUSH_SCHEDULE)
    hive__sched_schedule(h, a);
}

int hive__deliver(hive_t *h, hive__msg_t *msg) {
  hive__actor_t *a = hive__lookup_live(h, msg->to);
  if (a == NULL)
    return hive__deliver_elsewhere(h, msg);
  return hive__push_user(h, a, msg);
}
