/*
 * test_stats.c - the statistics API: handler and wait times, the actor
 * list, per-worker counters, exits by reason, parents and restarts.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blocker.h"
#include "supervised.h"

enum { TAG_SLOW = HIVE_TAG_USER + 10, TAG_QUIT };

static sem_t slow_done;
static atomic_int slow_left;

static int slow_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  if (msg->tag == TAG_QUIT)
    return HIVE_STOP;
  struct timespec pause = {.tv_nsec = 1000000}; /* 1 ms of "work" */
  nanosleep(&pause, NULL);
  if (atomic_fetch_sub(&slow_left, 1) == 1)
    sem_post(&slow_done);
  return HIVE_OK;
}

static const hive_behaviour_t slow_b = {.name = "slow", .handle = slow_handle};

Test(stats, slow_handlers_are_timed_on_every_call) {
  hive_t *h = test_start(1);
  sem_init(&slow_done, 0, 0);
  enum { CALLS = 400 }; /* more than the longest gap between samples (127) */
  atomic_store(&slow_left, CALLS);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &slow_b, NULL, 0, NULL, &pid), HIVE_OK);
  uint64_t started = test_now_ns();
  for (int i = 0; i < CALLS; i++)
    hive_send(h, pid, TAG_SLOW, NULL, 0);
  TEST_WAIT(&slow_done);
  uint64_t elapsed = test_now_ns() - started;
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, pid, &s), HIVE_OK);
  cr_assert_geq(s.handler_max_ns, 1000000u, "max %llu ns", (unsigned long long)s.handler_max_ns);
  /* The first sampled call counts for 64; every call after it is timed.
   * So the estimate is within 64 calls of the truth. */
  cr_assert_geq(s.handler_ns, (CALLS - 64) * 1000000ull, "total %llu ns",
                (unsigned long long)s.handler_ns);
  /* ... and the call that counts for 64 took at most the longest. */
  cr_assert_leq(s.handler_ns, elapsed + 64 * s.handler_max_ns, "total %llu ns in %llu",
                (unsigned long long)s.handler_ns, (unsigned long long)elapsed);
  hive_stop(h);
}

Test(stats, fast_handlers_are_sampled, .init = blocker_setup) {
  hive_t *h = test_start(1);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 0, NULL, &pid), HIVE_OK);
  enum { N = 20000 };
  expect = N;
  for (int i = 0; i < N; i++)
    hive_send(h, pid, TAG_WORK, NULL, 0);
  TEST_WAIT(&handled);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, pid, &s), HIVE_OK);
  cr_assert_eq(s.processed, N);
  cr_assert_gt(s.handler_ns, 0, "about 312 of 20 000 calls were timed");
  cr_assert_gt(s.handler_max_ns, 0);
  cr_assert_leq(s.handler_max_ns, s.handler_ns);
  hive_stop(h);
}

Test(stats, longest_wait_covers_the_time_a_message_was_held, .init = blocker_setup) {
  hive_t *h = test_start(2);
  hive_pid_t pid = blocker_spawn_blocked(h, NULL);
  for (int i = 0; i < 1000; i++) /* from a plain thread: one in 64 is stamped */
    hive_send(h, pid, TAG_WORK, NULL, 0);
  uint64_t held_from = test_now_ns();
  struct timespec pause = {.tv_nsec = 50000000}; /* the messages wait 50 ms, at least */
  nanosleep(&pause, NULL);
  expect = 1001;
  uint64_t held = test_now_ns() - held_from;
  sem_post(&gate);
  TEST_WAIT(&handled);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, pid, &s), HIVE_OK);
  cr_assert_geq(s.max_wait_ns, held - 1000000, "waited %llu ns, held %llu ns",
                (unsigned long long)s.max_wait_ns, (unsigned long long)held);
  cr_assert_lt(s.max_wait_ns, 60ull * 1000000000u);
  hive_stop(h);
}

static int stop_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  return msg->tag == TAG_WORK ? HIVE_STOP : -5;
}

static const hive_behaviour_t stopper_b = {.name = "stopper", .handle = stop_handle};

Test(stats, node_counts_exits_by_reason) {
  hive_t *h = test_start(2);
  hive_pid_t normal, error, killed, shut;
  cr_assert_eq(hive_spawn(h, &stopper_b, NULL, 0, NULL, &normal), HIVE_OK);
  cr_assert_eq(hive_spawn(h, &stopper_b, NULL, 0, NULL, &error), HIVE_OK);
  cr_assert_eq(hive_spawn(h, &stopper_b, NULL, 0, NULL, &killed), HIVE_OK);
  cr_assert_eq(hive_spawn(h, &stopper_b, NULL, 0, NULL, &shut), HIVE_OK);
  hive_send(h, normal, TAG_WORK, NULL, 0);
  hive_send(h, error, TAG_WORK + 1, NULL, 0);
  hive_kill(h, killed);
  hive_exit(h, shut, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN});
  TEST_JOIN(h, normal);
  TEST_JOIN(h, error);
  TEST_JOIN(h, killed);
  TEST_JOIN(h, shut);
  hive_node_stats_t ns;
  cr_assert_eq(hive_node_stats(h, &ns), HIVE_OK);
  cr_assert_eq(ns.exits[HIVE_REASON_NORMAL], 1);
  cr_assert_eq(ns.exits[HIVE_REASON_ERROR], 1);
  cr_assert_eq(ns.exits[HIVE_REASON_KILL], 1);
  cr_assert_eq(ns.exits[HIVE_REASON_SHUTDOWN], 1);
  cr_assert_eq(ns.actors_exited, 4);
  hive_stop(h);
}

Test(stats, worker_counters_add_up_to_the_node, .init = blocker_setup) {
  hive_t *h = test_start(2);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 0, NULL, &pid), HIVE_OK);
  expect = 500;
  for (int i = 0; i < 500; i++)
    hive_send(h, pid, TAG_WORK, NULL, 0);
  TEST_WAIT(&handled);
  /* A turn adds its messages to its worker when it ends, just after the
   * last handler posted `handled`. */
  hive_node_stats_t ns;
  uint64_t deadline = test_now_ns() + TEST_TIMEOUT_MS * 1000000ull;
  do
    cr_assert_eq(hive_node_stats(h, &ns), HIVE_OK);
  while (ns.messages < 500 && test_now_ns() < deadline);
  cr_assert_eq(ns.workers, 2);
  uint64_t messages = 0, turns = 0, busy = 0;
  for (unsigned i = 0; i < ns.workers + ns.blocking_workers; i++) {
    hive_worker_stats_t w;
    cr_assert_eq(hive_worker_stats(h, i, &w), HIVE_OK);
    cr_assert_eq(w.index, i);
    cr_assert_eq(w.blocking, i >= ns.workers);
    cr_assert_leq(w.steals_won, w.steals_tried);
    messages += w.messages;
    turns += w.turns;
    busy += w.busy_ns;
  }
  hive_worker_stats_t w;
  cr_assert_eq(hive_worker_stats(h, ns.workers + ns.blocking_workers, &w), HIVE_EINVAL);
  cr_assert_geq(messages, ns.messages, "read later, never less");
  cr_assert_geq(ns.messages, 500);
  cr_assert_gt(turns, 0);
  cr_assert_gt(busy, 0);
  hive_stop(h);
}

Test(stats, actor_list_is_a_snapshot_of_every_actor) {
  hive_t *h = test_start(2);
  hive_pid_t spawned[100];
  for (int i = 0; i < 100; i++)
    cr_assert_eq(hive_spawn(h, &stopper_b, NULL, 0, NULL, &spawned[i]), HIVE_OK);
  hive_pid_t pids[200];
  size_t n;
  cr_assert_eq(hive_actor_list(h, pids, 200, &n), HIVE_OK);
  cr_assert_eq(n, 100);
  for (int i = 0; i < 100; i++)
    cr_assert_eq(pids[i], spawned[i], "oldest slot first");
  cr_assert_eq(hive_actor_list(h, pids, 10, &n), HIVE_OK);
  cr_assert_eq(n, 100, "the count says how many there are");
  cr_assert_eq(hive_actor_list(h, NULL, 0, &n), HIVE_OK);
  cr_assert_eq(n, 100);
  cr_assert_eq(hive_actor_list(h, NULL, 5, &n), HIVE_EINVAL);
  hive_send(h, spawned[0], TAG_WORK, NULL, 0);
  TEST_JOIN(h, spawned[0]);
  cr_assert_eq(hive_actor_list(h, pids, 200, &n), HIVE_OK);
  cr_assert_eq(n, 99);
  cr_assert_eq(pids[0], spawned[1]);
  hive_stop(h);
}

Test(stats, children_know_their_supervisor_and_restarts, .init = log_setup) {
  hive_t *h = test_start(2);
  w_arg_t args[1] = {{.id = "a"}};
  hive_child_spec_t specs[1];
  w_specs(specs, args, 1, HIVE_RESTART_PERMANENT);
  hive_pid_t sup = sup_with(h, HIVE_SUP_ONE_FOR_ONE, specs, 1);
  wait_events(1);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, sup, &s), HIVE_OK);
  cr_assert(s.supervisor);
  cr_assert_eq(s.parent, 0, "started from a plain thread");
  hive_pid_t child = child_pid(h, sup, "a");
  cr_assert_eq(hive_actor_stats(h, child, &s), HIVE_OK);
  cr_assert(!s.supervisor);
  cr_assert_eq(s.parent, sup);
  cr_assert_eq(s.restarts, 0);
  hive_send(h, child, TAG_CRASH, NULL, 0);
  wait_events(3); /* stop a, start a */
  cr_assert_eq(hive_actor_stats(h, child_pid(h, sup, "a"), &s), HIVE_OK);
  cr_assert_eq(s.restarts, 1);
  cr_assert_eq(s.parent, sup);
  hive_stop(h);
}

Test(stats, pids_parse_back) {
  hive_pid_t pid = ((hive_pid_t)3 << 56) | ((hive_pid_t)42 << 32) | 7, back;
  char text[HIVE_PID_STRLEN];
  hive_pid_format(pid, text, sizeof(text));
  cr_assert_str_eq(text, "<3.42.7>");
  cr_assert_eq(hive_pid_parse(text, &back), HIVE_OK);
  cr_assert_eq(back, pid);
  cr_assert_eq(hive_pid_parse("3.42.7", &back), HIVE_OK);
  cr_assert_eq(back, pid);
  const char *bad[] = {"",        "<3.42.7", "3.42",      "3.42.7.1", "<3.42.0>",
                       "256.1.1", "a.b.c",   "<3.42.7>x", "3.-1.2",   "3.16777216.1"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_assert_eq(hive_pid_parse(bad[i], &back), HIVE_EINVAL, "%s", bad[i]);
}

/* ---- the node-wide accounting -------------------------------------------- */

enum { TAG_FORWARD = HIVE_TAG_USER + 20 };

static sem_t sunk;
static atomic_int sink_left;

/* Forwards each message to the pid in its payload: a worker's send. */
static int forwarder_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  hive_pid_t to;
  memcpy(&to, msg->data, sizeof(to));
  hive_send(hive_node(ctx), to, TAG_WORK, NULL, 0);
  return HIVE_OK;
}
static const hive_behaviour_t forwarder_b = {.name = "forwarder", .handle = forwarder_handle};

/* Answers a request; counts the rest, and says when sink_left reach 0. */
static int sink_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  if (msg->ref != 0)
    hive_reply(ctx, msg, "pong", 4);
  else if (atomic_fetch_sub(&sink_left, 1) == 1)
    sem_post(&sunk);
  return HIVE_OK;
}
static const hive_behaviour_t sink_b = {.name = "sink", .handle = sink_handle};

Test(stats, the_node_accounting_counts_senders_apart_and_balances, .init = blocker_setup) {
  hive_t *h = test_start(2);
  uint64_t sent = 0; /* what this test sends to the node's pids, counted here too */

  /* A drop-new mailbox of 10, its actor held in its first message (on the
   * blocking pool, so the workers stay free): of 40 more, 10 queue and 30
   * are dropped. */
  hive_pid_t held = blocker_spawn_bounded(h, HIVE_MAILBOX_DROP_NEW, 10, 0, HIVE_SPAWN_BLOCKING);
  sent++;
  for (int i = 0; i < 40; i++, sent++)
    cr_assert_eq(hive_send(h, held, TAG_WORK, NULL, 0), HIVE_OK);
  /* A reject mailbox of 5, held too: what it refuses was not sent. */
  hive_pid_t full = blocker_spawn_bounded(h, HIVE_MAILBOX_REJECT, 5, 0, HIVE_SPAWN_BLOCKING);
  sent++;
  for (int i = 0; i < 20; i++)
    cr_assert_eq(hive_send(h, full, TAG_WORK, NULL, 0), i < 5 ? HIVE_OK : HIVE_EFULL);
  sent += 5;

  /* 1 000 forwards between actors (sends from a worker), 100 asks from
   * this thread (their replies are no mailbox message), and 7 sends to a
   * dead pid. */
  hive_pid_t sink, fwd, dead;
  cr_assert_eq(hive_spawn(h, &sink_b, NULL, 0, NULL, &sink), HIVE_OK);
  cr_assert_eq(hive_spawn(h, &forwarder_b, NULL, 0, NULL, &fwd), HIVE_OK);
  sem_init(&sunk, 0, 0);
  atomic_store(&sink_left, 1000);
  for (int i = 0; i < 1000; i++, sent += 2) /* this send, and the forward */
    cr_assert_eq(hive_send(h, fwd, TAG_FORWARD, &sink, sizeof(sink)), HIVE_OK);
  TEST_WAIT(&sunk);
  for (int i = 0; i < 100; i++, sent++) {
    void *reply;
    size_t len;
    cr_assert_eq(hive_ask(h, sink, HIVE_TAG_USER, NULL, 0, 10000, &reply, &len), HIVE_OK);
    free(reply);
  }
  cr_assert_eq(hive_spawn(h, &sink_b, NULL, 0, NULL, &dead), HIVE_OK);
  cr_assert_eq(hive_kill(h, dead), HIVE_OK);
  TEST_JOIN(h, dead);
  for (int i = 0; i < 7; i++, sent++)
    cr_assert_eq(hive_send(h, dead, TAG_WORK, NULL, 0), HIVE_ENOPROC);

  /* Quiet: every forward reached the sink; the held actors hold still. */
  hive_node_stats_t ns = test_assert_node_accounting(h);
  cr_assert_eq(ns.sent, sent, "the node counted %lu sends, the test made %lu",
               (unsigned long)ns.sent, (unsigned long)sent);
  cr_assert_eq(ns.dropped, 30);
  cr_assert_eq(ns.dead_letters, 7);
  cr_assert_eq(ns.queued, 10 + 5);
  cr_assert_eq(ns.processed, 2 + 1000 + 1000 + 100); /* the holds, fwd and sink */

  /* The held actors end: what they had queued becomes dead letters. */
  cr_assert_eq(hive_kill(h, held), HIVE_OK);
  cr_assert_eq(hive_kill(h, full), HIVE_OK);
  sem_post(&gate);
  sem_post(&gate);
  TEST_JOIN(h, held);
  TEST_JOIN(h, full);
  ns = test_assert_node_accounting(h);
  cr_assert_eq(ns.sent, sent);
  cr_assert_eq(ns.queued, 0);
  cr_assert_eq(ns.dead_letters, 7 + 10 + 5);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}
