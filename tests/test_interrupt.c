/*
 * test_interrupt.c - stopping actors that are idle, queued or running:
 * hive_kill, and hive_checkpoint for handlers in long loops.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

TestSuite(interrupt, .timeout = 120);

/* A handler that loops until hive_checkpoint says stop. */
static atomic_uint_fast64_t stopped_at;
static atomic_long after_stop, loops_started;
static sem_t looping;

static int runaway_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  if (msg->len == 0) {
    atomic_fetch_add(&after_stop, 1); /* any message after the loop: must never run */
    return HIVE_OK;
  }
  atomic_fetch_add(&loops_started, 1);
  sem_post(&looping);
  while (!hive_checkpoint(ctx)) {
  }
  atomic_store(&stopped_at, test_now_ns());
  return HIVE_OK;
}
static const hive_behaviour_t runaway_b = {.name = "runaway", .handle = runaway_handle};

static int by_value(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

Test(interrupt, checkpoint_sees_a_kill_within_a_millisecond) {
  sem_init(&looping, 0, 0);
  hive_t *h = test_start(0);
  enum { TRIALS = 21 };
  uint64_t delays[TRIALS];
  for (int t = 0; t < TRIALS; t++) {
    hive_pid_t pid;
    cr_assert_eq(hive_spawn(h, &runaway_b, NULL, 0, NULL, &pid), HIVE_OK);
    cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER, "go", 2), HIVE_OK);
    for (int i = 0; i < 10; i++) /* queued behind the loop: must never run */
      cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER, NULL, 0), HIVE_OK);
    TEST_WAIT(&looping);
    uint64_t killed_at = test_now_ns();
    cr_assert_eq(hive_kill(h, pid), HIVE_OK);
    TEST_JOIN(h, pid);
    delays[t] = atomic_load(&stopped_at) - killed_at;
  }
  cr_assert_eq(atomic_load(&after_stop), 0, "no message runs after checkpoint said stop");
  qsort(delays, TRIALS, sizeof(delays[0]), by_value);
  cr_log_info("checkpoint saw the kill after %.1f us (median), %.1f us (worst)",
              delays[TRIALS / 2] / 1e3, delays[TRIALS - 1] / 1e3);
  /* The median: one trial may lose its core to the OS on a loaded machine. */
  cr_assert_lt(delays[TRIALS / 2], 1000000u, "median %.1f us", delays[TRIALS / 2] / 1e3);
  hive_stop(h);
}

Test(interrupt, checkpoint_is_false_while_nothing_asks_to_stop) {
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &runaway_b, NULL, 0, NULL, &pid), HIVE_OK);
  sem_init(&looping, 0, 0);
  cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER, "go", 2), HIVE_OK);
  TEST_WAIT(&looping);
  /* A normal exit signal is ignored: the loop goes on. */
  cr_assert_eq(hive_exit(h, pid, &(hive_reason_t){.kind = HIVE_REASON_NORMAL}), HIVE_OK);
  cr_assert_eq(hive_join(h, pid, 100), HIVE_ETIMEDOUT);
  cr_assert_eq(hive_exit(h, pid, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN}), HIVE_OK);
  TEST_JOIN(h, pid);
  hive_stop(h);
  cr_assert_eq(hive_checkpoint(NULL), false);
}

/* ---- idle and queued actors die at once ----------------------------------- */

static atomic_long handled;
static int count_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  atomic_fetch_add(&handled, 1);
  return HIVE_OK;
}
static const hive_behaviour_t count_b = {.name = "count", .handle = count_handle};

Test(interrupt, an_idle_actor_dies_at_once) {
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &count_b, NULL, 0, NULL, &pid), HIVE_OK);
  uint64_t t0 = test_now_ns();
  cr_assert_eq(hive_kill(h, pid), HIVE_OK);
  TEST_JOIN(h, pid);
  cr_log_info("an idle actor ended %.1f us after the kill", (test_now_ns() - t0) / 1e3);
  cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER, NULL, 0), HIVE_ENOPROC);
  hive_stop(h);
}

Test(interrupt, a_queued_actor_dies_before_its_messages_run) {
  sem_init(&looping, 0, 0);
  hive_t *h = test_start(1); /* one worker, held by a runaway loop */
  hive_pid_t busy, queued;
  cr_assert_eq(hive_spawn(h, &runaway_b, NULL, 0, NULL, &busy), HIVE_OK);
  cr_assert_eq(hive_spawn(h, &count_b, NULL, 0, NULL, &queued), HIVE_OK);
  cr_assert_eq(hive_send(h, busy, HIVE_TAG_USER, "go", 2), HIVE_OK);
  TEST_WAIT(&looping);
  for (int i = 0; i < 100; i++)
    cr_assert_eq(hive_send(h, queued, HIVE_TAG_USER, NULL, 0), HIVE_OK);
  cr_assert_eq(hive_kill(h, queued), HIVE_OK);
  cr_assert_eq(hive_kill(h, busy), HIVE_OK); /* frees the worker */
  TEST_JOIN(h, queued);
  cr_assert_eq(atomic_load(&handled), 0, "the kill overtook all 100 messages");
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.dead_letters, 100);
  hive_stop(h);
}

/* ---- a DOWN taken by hive_checkpoint --------------------------------------- */

/* A handler monitors a target, kills it and calls hive_checkpoint until
 * the target is gone and once more, so that the checkpoint takes the DOWN
 * that waits: the DOWN must reach the handler once, after it returns. */
static atomic_int downs_seen;
static sem_t down_sem;
static uint64_t watched_ref;

static int watcher_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  hive_pid_t target;
  if (msg->tag == HIVE_TAG_DOWN) {
    atomic_fetch_add(&downs_seen, msg->ref == watched_ref);
    sem_post(&down_sem);
  } else if (msg->ref != 0) { /* a round trip: everything sent before it has come */
    hive_reply(ctx, msg, NULL, 0);
  } else if (msg->len == sizeof(target)) {
    memcpy(&target, msg->data, sizeof(target));
    hive_actor_stats_t s;
    if (hive_monitor(ctx, target, &watched_ref) == HIVE_OK &&
        hive_kill(hive_node(ctx), target) == HIVE_OK)
      while (hive_actor_stats(hive_node(ctx), target, &s) == HIVE_OK)
        hive_checkpoint(ctx); /* its DOWN is sent before it is gone */
    hive_checkpoint(ctx);
  }
  return HIVE_OK;
}
static const hive_behaviour_t watcher_b = {.name = "watcher", .handle = watcher_handle};

Test(interrupt, a_down_taken_by_checkpoint_reaches_the_handler_once_afterwards) {
  sem_init(&down_sem, 0, 0);
  hive_t *h = test_start(2);
  hive_pid_t watcher, target;
  cr_assert_eq(hive_spawn(h, &watcher_b, NULL, 0, NULL, &watcher), HIVE_OK);
  cr_assert_eq(hive_spawn(h, &count_b, NULL, 0, NULL, &target), HIVE_OK);
  cr_assert_eq(hive_send(h, watcher, HIVE_TAG_USER, &target, sizeof(target)), HIVE_OK);
  TEST_WAIT(&down_sem);
  void *reply;
  size_t len;
  cr_assert_eq(hive_ask(h, watcher, HIVE_TAG_USER, NULL, 0, TEST_TIMEOUT_MS, &reply, &len),
               HIVE_OK);
  free(reply);
  cr_assert_eq(atomic_load(&downs_seen), 1, "one DOWN, with the monitor's ref");
  hive_stop(h);
}

/* ---- hive_stop ends actors that trap exits -------------------------------- */

static int trapper_init(hive_ctx_t *ctx, void *s, const void *a, size_t l) {
  (void)s, (void)a, (void)l;
  return hive_trap_exit(ctx, true);
}
static const hive_behaviour_t trapper_b = {
    .name = "trapper", .init = trapper_init, .handle = count_handle};

Test(interrupt, hive_stop_kills_what_ignores_shutdown) {
  hive_t *h = test_start(0);
  cr_assert_eq(hive_spawn(h, &trapper_b, NULL, 0, NULL, NULL), HIVE_OK);
  uint64_t t0 = test_now_ns();
  cr_assert_eq(hive_stop(h), HIVE_OK);
  double waited = (test_now_ns() - t0) / 1e9;
  cr_assert_geq(atomic_load(&handled), 1, "the trapper got shutdown as a message");
  cr_assert_lt(waited, 30.0, "killed after the grace period, not waited on for ever");
}
