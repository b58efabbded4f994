/*
 * deliver_cold.c - what a delivery does now and then, kept out of the send
 * path's file so that it stays out of line (deliver.h says why): stamping
 * a sampled message's send time, pushing what the outbox held, and the
 * ends of a push that found a bounded mailbox full: dropped (drop-new),
 * refused (reject), or a plain thread waiting for room (block).
 */
#include "deliver.h"

void hive__stats_stamp_sampled(hive__msg_t *msg) {
  if (hive__tls.stamp == HIVE__STAMP_NEXT)
    hive__tls.stamp = HIVE__STAMP_NEVER; /* one a timed turn */
  else if (!hive__stats_sample(&hive__tls.sends_to_sample))
    return;
  msg->flags |= HIVE__MSG_STAMPED;
  msg->stamp_us = (uint32_t)(hive__now_ns() / 1000u);
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

int hive__deliver_elsewhere(hive_t *h, hive__msg_t *msg) {
  if (hive__pid_remote(h, msg->to))
    return h->route(h, msg);
  hive__count_undeliverable(h);
  msg->flags &= ~HIVE__MSG_OWNED; /* the caller of a failed move keeps its buffer */
  hive__msg_free(msg);
  return HIVE_ENOPROC;
}

int hive__deliver_refused(hive_t *h, hive__msg_t *msg, int pushed) {
  if (pushed == HIVE__PUSH_DROPPED) {
    /* Counted, and HIVE_OK: a moved buffer was given up, so free it. */
    atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
    hive__msg_free(msg);
    return HIVE__DROPPED;
  }
  hive__count_sent(h, -1);        /* refused: not sent after all */
  msg->flags &= ~HIVE__MSG_OWNED; /* the caller of a failed move keeps buf */
  hive__msg_free(msg);
  return HIVE_EFULL;
}

int hive__deliver_wait_for_room(hive_t *h, hive__actor_t *a, hive__msg_t *msg) {
  uint64_t deadline = hive__now_ns() + (uint64_t)atomic_load(&a->mb.block_ms) * 1000000u;
  for (;;) {
    uint32_t seen = ck_ec32_value(&a->mb.room); /* before the retry: no lost wakeup */
    int pushed = hive__mailbox_push_mpsc(&a->mb, msg);
    if (!hive__deliver_must_wait(a, pushed))
      return hive__deliver_finish(h, a, msg, pushed);
    bool dead = atomic_load_explicit(&a->alive_pid, memory_order_acquire) != msg->to;
    if (dead || hive__now_ns() >= deadline) {
      if (dead)
        hive__count_dead_letter(h, NULL);
      else
        hive__count_sent(h, -1);      /* refused: not sent after all */
      msg->flags &= ~HIVE__MSG_OWNED; /* the caller keeps a moved buffer */
      hive__msg_free(msg);
      return dead ? HIVE_ENOPROC : HIVE_ETIMEDOUT;
    }
    struct timespec until = hive__timespec_at(deadline);
    ck_ec32_wait(&a->mb.room, a->mb.room_mode, seen, &until);
  }
}
