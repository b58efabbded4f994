/*
 * test_lifecycle.c - spawn, init, handler results, terminate, dead letters,
 * exit signals and stopping a node.
 */
#include <stdlib.h>

#include "blocker.h"

TestSuite(lifecycle, .init = blocker_setup, .timeout = 300);

/* ---- init ------------------------------------------------------------ */

static atomic_int init_calls, terminate_calls;
static int init_result;
static char init_seen[16];
static bool init_saw_self;

static int counted_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)state;
  atomic_fetch_add(&init_calls, 1);
  if (arg != NULL)
    memcpy(init_seen, arg, len < sizeof(init_seen) ? len : sizeof(init_seen));
  init_saw_self = hive_self(ctx) != 0 && hive_node(ctx) != NULL;
  return init_result;
}
static int ok_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  return HIVE_OK;
}
static void counted_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)ctx, (void)state, (void)reason;
  atomic_fetch_add(&terminate_calls, 1);
}
static const hive_behaviour_t counted_b = {
    .name = "counted", .init = counted_init, .handle = ok_handle, .terminate = counted_terminate};

Test(lifecycle, init_runs_before_spawn_returns_with_its_argument) {
  hive_t *h = test_start(0);
  init_result = HIVE_OK;
  hive_pid_t pid = 0;
  cr_assert_eq(hive_spawn(h, &counted_b, "argument", 9, NULL, &pid), HIVE_OK);
  cr_assert_eq(atomic_load(&init_calls), 1);
  cr_assert_str_eq(init_seen, "argument");
  cr_assert(init_saw_self);
  cr_assert_neq(pid, 0);
  hive_stop(h);
  cr_assert_eq(atomic_load(&terminate_calls), 1, "hive_stop runs terminate");
}

Test(lifecycle, failing_init_returns_its_error_and_leaves_no_actor) {
  hive_t *h = test_start(0);
  init_result = -42;
  hive_pid_t pid = 0;
  cr_assert_eq(hive_spawn(h, &counted_b, "x", 2, NULL, &pid), -42);
  cr_assert_eq(pid, 0, "no pid on failure");
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.actors_alive, 0);
  init_result = HIVE_STOP;
  cr_assert_eq(hive_spawn(h, &counted_b, "x", 2, NULL, &pid), HIVE_STOP);
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.actors_alive, 0);
  hive_stop(h);
  cr_assert_eq(atomic_load(&terminate_calls), 0, "terminate is not called when init failed");
}

Test(lifecycle, messages_sent_during_init_wait_for_it) {
  hive_t *h = test_start(0);
  init_result = HIVE_OK;
  hive_pid_t pid;
  expect = 3;
  cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 0, NULL, &pid), HIVE_OK);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_OK);
  TEST_WAIT(&handled);
  hive_stop(h);
}

/* ---- handler results and terminate ------------------------------------ */

static int result_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  int rc;
  memcpy(&rc, msg->data, sizeof(rc));
  return rc;
}
static const hive_behaviour_t result_b = {
    .name = "result", .handle = result_handle, .terminate = blocker_terminate};

static void expect_exit_after_result(int result, int kind, int code) {
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &result_b, NULL, 0, NULL, &pid), HIVE_OK);
  int ok = HIVE_OK;
  cr_assert_eq(hive_send(h, pid, TAG_WORK, &ok, sizeof(ok)), HIVE_OK);
  cr_assert_eq(hive_send(h, pid, TAG_WORK, &result, sizeof(result)), HIVE_OK);
  TEST_WAIT(&terminated);
  TEST_JOIN(h, pid);
  cr_assert_eq(final_reason.kind, kind);
  cr_assert_eq(final_reason.code, code);
  cr_assert_eq(final_stats.processed, 2);
  cr_assert_eq(hive_send(h, pid, TAG_WORK, &ok, sizeof(ok)), HIVE_ENOPROC);
  hive_stop(h);
  cr_assert_eq(atomic_load(&terminate_count), 1, "terminate ran exactly once");
}

Test(lifecycle, handler_stop_exits_normally) {
  expect_exit_after_result(HIVE_STOP, HIVE_REASON_NORMAL, 0);
}
Test(lifecycle, handler_error_exits_with_reason_error_and_its_code) {
  expect_exit_after_result(-77, HIVE_REASON_ERROR, -77);
}

Test(lifecycle, queued_messages_of_a_dead_actor_become_dead_letters) {
  hive_t *h = test_start(0);
  hive_pid_t pid = blocker_spawn_blocked(h, NULL);
  for (int i = 0; i < 100; i++)
    cr_assert_eq(hive_send(h, pid, TAG_WORK, "payload", 8), HIVE_OK);
  cr_assert_eq(hive_kill(h, pid), HIVE_OK);
  sem_post(&gate);
  TEST_JOIN(h, pid);
  cr_assert_eq(final_reason.kind, HIVE_REASON_KILL);
  cr_assert_eq(final_stats.dead_letters, 100);
  cr_assert_eq(atomic_load(&handled_count), 1);
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.dead_letters, 100);
  /* A send to the dead pid is refused and counted. */
  cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_ENOPROC);
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.dead_letters, 101);
  cr_assert_eq(hive_actor_stats(h, pid, &(hive_actor_stats_t){0}), HIVE_ENOPROC);
  hive_stop(h); /* LSan (CI) checks the payloads were freed */
}

Test(lifecycle, kill_and_shutdown_racing_run_terminate_once) {
  hive_t *h = test_start(0);
  for (int round = 0; round < 200; round++) {
    atomic_store(&terminate_count, 0);
    hive_pid_t pid;
    cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 0, NULL, &pid), HIVE_OK);
    hive_kill(h, pid);
    hive_exit(h, pid, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN});
    hive_kill(h, pid);
    TEST_JOIN(h, pid);
    cr_assert_eq(atomic_load(&terminate_count), 1);
  }
  hive_stop(h);
}

/* ---- exit signals ------------------------------------------------------ */

Test(lifecycle, exit_signal_normal_is_ignored) {
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 0, NULL, &pid), HIVE_OK);
  cr_assert_eq(hive_exit(h, pid, &(hive_reason_t){.kind = HIVE_REASON_NORMAL}), HIVE_OK);
  expect = 1;
  cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_OK);
  TEST_WAIT(&handled); /* handled after the signal: it is still alive */
  cr_assert_eq(atomic_load(&terminate_count), 0);
  cr_assert_eq(
      hive_exit(h, pid, &(hive_reason_t){.kind = HIVE_REASON_ERROR, .code = -5, .text = "custom"}),
      HIVE_OK);
  TEST_JOIN(h, pid);
  cr_assert_eq(final_reason.kind, HIVE_REASON_ERROR);
  cr_assert_eq(final_reason.code, -5);
  hive_stop(h);
}

/* ---- spawning from inside an actor ------------------------------------- */

static sem_t child_ran;
static atomic_int child_saw_no_sender;
static int child_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  if (msg->from == 0) /* it was sent by the parent actor */
    atomic_fetch_add(&child_saw_no_sender, 1);
  sem_post(&child_ran);
  return HIVE_STOP;
}
static const hive_behaviour_t child_b = {.name = "child", .handle = child_handle};
static int parent_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state, (void)msg;
  hive_pid_t child;
  int rc = hive_spawn(hive_node(ctx), &child_b, NULL, 0, NULL, &child);
  if (rc != HIVE_OK)
    return rc;
  return hive_send(hive_node(ctx), child, TAG_WORK, NULL, 0);
}
static const hive_behaviour_t parent_b = {.name = "parent", .handle = parent_handle};

Test(lifecycle, actors_spawn_actors) {
  sem_init(&child_ran, 0, 0);
  hive_t *h = test_start(0);
  hive_pid_t parent;
  cr_assert_eq(hive_spawn(h, &parent_b, NULL, 0, NULL, &parent), HIVE_OK);
  for (int i = 0; i < 1000; i++)
    cr_assert_eq(hive_send(h, parent, TAG_WORK, NULL, 0), HIVE_OK);
  for (int i = 0; i < 1000; i++)
    TEST_WAIT(&child_ran);
  cr_assert_eq(atomic_load(&child_saw_no_sender), 0);
  hive_stop(h);
}

/* ---- stopping a node ---------------------------------------------------- */

static int stop_from_inside_rc = 1;
static int stopper_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state, (void)msg;
  stop_from_inside_rc = hive_stop(hive_node(ctx));
  stop_from_inside_rc = stop_from_inside_rc == HIVE_EDEADLK &&
                                hive_join(hive_node(ctx), hive_self(ctx), 0) == HIVE_EDEADLK
                            ? HIVE_EDEADLK
                            : stop_from_inside_rc;
  return HIVE_STOP;
}
static const hive_behaviour_t stopper_b = {.name = "stopper", .handle = stopper_handle};

Test(lifecycle, hive_stop_from_inside_a_callback_is_refused) {
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &stopper_b, NULL, 0, NULL, &pid), HIVE_OK);
  cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_OK);
  TEST_JOIN(h, pid);
  cr_assert_eq(stop_from_inside_rc, HIVE_EDEADLK);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(lifecycle, hive_stop_ends_every_actor_with_shutdown) {
  hive_t *h = test_start(0);
  init_result = HIVE_OK;
  for (int i = 0; i < 10000; i++)
    cr_assert_eq(hive_spawn(h, &counted_b, NULL, 0, NULL, NULL), HIVE_OK);
  hive_pid_t busy = blocker_spawn_blocked(h, NULL);
  (void)busy;
  sem_post(&gate);
  cr_assert_eq(hive_stop(h), HIVE_OK);
  cr_assert_eq(atomic_load(&terminate_calls), 10000);
  cr_assert_eq(atomic_load(&terminate_count), 1);
  cr_assert_eq(final_reason.kind, HIVE_REASON_SHUTDOWN);
}

static int spawn_in_terminate_rc = 1;
static void spawning_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)state, (void)reason;
  spawn_in_terminate_rc = hive_spawn(hive_node(ctx), &counted_b, NULL, 0, NULL, NULL);
}
static const hive_behaviour_t spawning_b = {
    .name = "spawning", .handle = ok_handle, .terminate = spawning_terminate};

Test(lifecycle, spawn_after_stop_began_is_refused) {
  hive_t *h = test_start(0);
  cr_assert_eq(hive_spawn(h, &spawning_b, NULL, 0, NULL, NULL), HIVE_OK);
  cr_assert_eq(hive_stop(h), HIVE_OK);
  cr_assert_eq(spawn_in_terminate_rc, HIVE_ESHUTDOWN);
  cr_assert_eq(atomic_load(&init_calls), 0);
}

Test(lifecycle, hundred_start_stop_cycles_with_ten_thousand_actors) {
  init_result = HIVE_OK;
  for (int cycle = 0; cycle < 100; cycle++) {
    hive_t *h = test_start(0);
    for (int i = 0; i < 10000; i++) {
      hive_pid_t pid;
      cr_assert_eq(hive_spawn(h, &counted_b, NULL, 0, NULL, &pid), HIVE_OK);
      if (i % 3 == 0)
        hive_send(h, pid, TAG_WORK, "x", 1); /* some with work queued */
    }
    cr_assert_eq(hive_stop(h), HIVE_OK);
  }
  cr_assert_eq(atomic_load(&init_calls), 100 * 10000);
  cr_assert_eq(atomic_load(&terminate_calls), 100 * 10000);
}
