/*
 * deliver.h - what deliver.c and deliver_cold.c share (private to
 * runtime/): the end of every push, and the rare paths, which live in
 * deliver_cold.c.
 *
 * Why two files: the rare paths must stay out of line, so that every
 * send's push keeps a short prologue (fewer registers saved). In the same
 * file the compiler inlines them, as it may once the library is built with
 * hidden visibility (callgrind: pingpong +1.2%, fanout +2%); from another
 * file it cannot.
 */
#ifndef HIVE_DELIVER_H
#define HIVE_DELIVER_H

#include "runtime.h"

/* A refused push: counts a drop (HIVE__DROPPED) or gives HIVE_EFULL, and
 * frees the message (a moved buffer stays the caller's on HIVE_EFULL). */
int hive__deliver_refused(hive_t *h, hive__msg_t *msg, int pushed);
/* A plain thread's push found a HIVE_MAILBOX_BLOCK mailbox full: retries
 * until there is room, the actor is gone or block_ms has passed. */
int hive__deliver_wait_for_room(hive_t *h, hive__actor_t *a, hive__msg_t *msg);

/* Turns a push's outcome into a return code, scheduling or freeing. */
static inline int hive__deliver_finish(hive_t *h, hive__actor_t *a, hive__msg_t *msg, int pushed) {
  if (pushed == HIVE__PUSH_SCHEDULE) {
    hive__sched_schedule(h, a);
    return HIVE_OK;
  }
  if (pushed == HIVE__PUSH_QUEUED)
    return HIVE_OK;
  return hive__deliver_refused(h, msg, pushed);
}

/* A push that found the mailbox full waits for room only for a plain
 * thread sending to a HIVE_MAILBOX_BLOCK mailbox. */
static inline bool hive__deliver_must_wait(hive__actor_t *a, int pushed) {
  return pushed == HIVE__PUSH_FULL && hive__tls.actor == NULL &&
         atomic_load_explicit(&a->mb.policy, memory_order_relaxed) == HIVE_MAILBOX_BLOCK;
}

#endif /* HIVE_DELIVER_H */
