/*
 * blocker.h - an actor the tests can hold inside its handler, so that the
 * messages sent meanwhile stay queued.
 *
 * Its first message (TAG_BLOCK) posts `blocked` and waits on `gate`; every
 * other message is counted, and `handled` is posted once `expect` messages
 * in all (the blocking one included) have been handled. terminate records
 * the reason and the actor's own final statistics.
 */
#ifndef HIVE_TEST_BLOCKER_H
#define HIVE_TEST_BLOCKER_H

#include <stdatomic.h>
#include <string.h>

#include "helpers.h"

enum { TAG_BLOCK = HIVE_TAG_USER, TAG_WORK };

static sem_t blocked, gate, handled, terminated;
static atomic_long handled_count, terminate_count;
static long expect;
static hive_reason_t final_reason;
static hive_actor_stats_t final_stats;
static int final_stats_rc;

static inline void blocker_setup(void) {
  sem_init(&blocked, 0, 0);
  sem_init(&gate, 0, 0);
  sem_init(&handled, 0, 0);
  sem_init(&terminated, 0, 0);
  atomic_store(&handled_count, 0);
  atomic_store(&terminate_count, 0);
  expect = -1;
}

static inline int blocker_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  if (msg->tag == TAG_BLOCK) {
    sem_post(&blocked);
    test_wait(&gate, TEST_TIMEOUT_MS);
  }
  if (atomic_fetch_add(&handled_count, 1) + 1 == expect)
    sem_post(&handled);
  return HIVE_OK;
}

static inline void blocker_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)state;
  final_reason = *reason;
  final_reason.text = NULL; /* valid only during the call */
  final_stats_rc = hive_actor_stats(hive_node(ctx), hive_self(ctx), &final_stats);
  atomic_fetch_add(&terminate_count, 1);
  sem_post(&terminated);
}

static const hive_behaviour_t blocker_b = {
    .name = "blocker", .handle = blocker_handle, .terminate = blocker_terminate};

/* Spawns a blocker and holds it in its handler. */
static inline hive_pid_t blocker_spawn_blocked(hive_t *h, const hive_spawn_opts_t *opts) {
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 0, opts, &pid), HIVE_OK);
  cr_assert_eq(hive_send(h, pid, TAG_BLOCK, NULL, 0), HIVE_OK);
  TEST_WAIT(&blocked);
  return pid;
}

/* Spawns a blocker with a bounded mailbox (policy, capacity, block_ms;
 * flags: HIVE_SPAWN_*) and holds it in its handler. */
static inline hive_pid_t blocker_spawn_bounded(hive_t *h, int policy, size_t capacity,
                                               unsigned block_ms, unsigned flags) {
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.mailbox = policy;
  opts.capacity = capacity;
  opts.block_ms = block_ms;
  opts.flags = flags;
  return blocker_spawn_blocked(h, &opts);
}

#endif /* HIVE_TEST_BLOCKER_H */
