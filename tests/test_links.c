/*
 * test_links.c - links and trapping exits, Erlang's rules.
 */
#include "watcher.h"

TestSuite(links, .init = watcher_setup, .timeout = 120);

Test(links, a_normal_exit_is_ignored_by_a_linked_actor_not_trapping) {
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h);
  hive_pid_t w = watcher_spawn(h, (watcher_arg_t){.link = target});
  cr_assert(watcher_alive(h, w));
  target_end(h, target, HIVE_STOP);
  cr_assert(watcher_alive(h, w), "a normal exit must not take the linked actor down");
  cr_assert_eq(atomic_load(&nevents), 0);
  hive_stop(h);
}

Test(links, an_abnormal_exit_ends_a_linked_actor_with_the_same_reason) {
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h);
  hive_pid_t w = watcher_spawn(h, (watcher_arg_t){.link = target});
  cr_assert(watcher_alive(h, w));
  target_end(h, target, -7);
  TEST_JOIN(h, w);
  cr_assert_eq(watcher_reason.kind, HIVE_REASON_ERROR);
  cr_assert_eq(watcher_reason.code, -7);
  hive_stop(h);
}

Test(links, trapping_exits_turns_the_signal_into_a_message) {
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h);
  hive_pid_t w = watcher_spawn(h, (watcher_arg_t){.link = target, .trap = true});
  cr_assert(watcher_alive(h, w));
  target_end(h, target, -7);
  TEST_WAIT(&event_sem);
  cr_assert_eq(events[0].tag, HIVE_TAG_EXIT);
  cr_assert_eq(events[0].pid, target);
  cr_assert_eq(events[0].reason.kind, HIVE_REASON_ERROR);
  cr_assert_eq(events[0].reason.code, -7);
  cr_assert(watcher_alive(h, w), "it traps: it lives on");
  /* A trapping actor also hears of normal exits of its links. */
  hive_pid_t other = target_spawn(h);
  hive_pid_t w2 = watcher_spawn(h, (watcher_arg_t){.link = other, .trap = true});
  cr_assert(watcher_alive(h, w2));
  target_end(h, other, HIVE_STOP);
  TEST_WAIT(&event_sem);
  cr_assert_eq(events[1].reason.kind, HIVE_REASON_NORMAL);
  hive_stop(h);
}

Test(links, kill_cannot_be_trapped) {
  hive_t *h = test_start(0);
  hive_pid_t w = watcher_spawn(h, (watcher_arg_t){.trap = true});
  cr_assert_eq(hive_exit(h, w, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN}), HIVE_OK);
  TEST_WAIT(&event_sem); /* trapped: a message */
  cr_assert_eq(events[0].reason.kind, HIVE_REASON_SHUTDOWN);
  cr_assert(watcher_alive(h, w));
  cr_assert_eq(hive_kill(h, w), HIVE_OK);
  TEST_JOIN(h, w);
  cr_assert_eq(watcher_reason.kind, HIVE_REASON_KILL);
  cr_assert_eq(atomic_load(&nevents), 1, "kill is not delivered as a message");
  hive_stop(h);
}

Test(links, a_kill_reaches_links_as_a_trappable_signal) {
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h);
  hive_pid_t w = watcher_spawn(h, (watcher_arg_t){.link = target, .trap = true});
  cr_assert(watcher_alive(h, w));
  cr_assert_eq(hive_kill(h, target), HIVE_OK);
  TEST_WAIT(&event_sem);
  cr_assert_eq(events[0].reason.kind, HIVE_REASON_KILL);
  cr_assert(watcher_alive(h, w));
  hive_stop(h);
}

Test(links, linking_to_a_dead_actor_gives_noproc_at_once) {
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h);
  target_end(h, target, HIVE_STOP);
  hive_pid_t trapping = watcher_spawn(h, (watcher_arg_t){.link = target, .trap = true});
  TEST_WAIT(&event_sem);
  cr_assert_eq(events[0].tag, HIVE_TAG_EXIT);
  cr_assert_eq(events[0].pid, target);
  cr_assert_eq(events[0].reason.kind, HIVE_REASON_NOPROC);
  cr_assert(watcher_alive(h, trapping));
  hive_pid_t plain = watcher_spawn(h, (watcher_arg_t){.link = target});
  TEST_JOIN(h, plain);
  cr_assert_eq(watcher_reason.kind, HIVE_REASON_NOPROC, "not trapping: it ends with noproc");
  hive_stop(h);
}

Test(links, after_unlink_the_link_has_no_effect) {
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h);
  hive_pid_t w = watcher_spawn(h, (watcher_arg_t){.link = target});
  cr_assert_eq(hive_send(h, w, TAG_UNLINK, &target, sizeof(target)), HIVE_OK);
  TEST_WAIT(&ping_sem);
  target_end(h, target, -9);
  cr_assert(watcher_alive(h, w));
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, w, &s), HIVE_OK);
  cr_assert_eq(s.links, 0);
  hive_stop(h);
}

/* ---- a chain of 100 ------------------------------------------------------ */

#define CHAIN 100
static atomic_int chain_errors;
static sem_t chain_done;
static int chain_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)state, (void)len;
  hive_pid_t previous;
  memcpy(&previous, arg, sizeof(previous));
  return previous != 0 ? hive_link(ctx, previous) : HIVE_OK;
}
static void chain_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *r) {
  (void)ctx, (void)state;
  if (r->kind == HIVE_REASON_ERROR && r->code == -3)
    atomic_fetch_add(&chain_errors, 1);
  sem_post(&chain_done);
}
static const hive_behaviour_t chain_b = {
    .name = "chain", .init = chain_init, .handle = target_handle, .terminate = chain_terminate};

Test(links, an_abnormal_exit_travels_down_a_chain_of_a_hundred) {
  sem_init(&chain_done, 0, 0);
  hive_t *h = test_start(0);
  hive_pid_t pids[CHAIN], previous = 0;
  for (int i = 0; i < CHAIN; i++) {
    cr_assert_eq(hive_spawn(h, &chain_b, &previous, sizeof(previous), NULL, &pids[i]), HIVE_OK);
    previous = pids[i];
  }
  int rc = -3;
  cr_assert_eq(hive_send(h, pids[0], HIVE_TAG_USER, &rc, sizeof(rc)), HIVE_OK);
  for (int i = 0; i < CHAIN; i++)
    TEST_WAIT(&chain_done);
  cr_assert_eq(atomic_load(&chain_errors), CHAIN, "every link ended with error -3");
  for (int i = 0; i < CHAIN; i++) /* terminate runs before the count drops */
    TEST_JOIN(h, pids[i]);
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.actors_alive, 0);
  hive_stop(h);
}

/* ---- spawn_link ----------------------------------------------------------- */

static atomic_int child_spawn_rc = 1;
static hive_pid_t child_pid;
static int failing_init(hive_ctx_t *ctx, void *s, const void *a, size_t l) {
  (void)ctx, (void)s, (void)a, (void)l;
  return -11;
}
static const hive_behaviour_t failing_b = {
    .name = "failing", .init = failing_init, .handle = target_handle};
static int parent_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.flags = HIVE_SPAWN_LINK;
  const hive_behaviour_t *b = msg->len > 0 ? &failing_b : &target_b;
  atomic_store(&child_spawn_rc, hive_spawn(hive_node(ctx), b, NULL, 0, &opts, &child_pid));
  return watcher_handle(ctx, state, &(hive_msg_t){.tag = TAG_PING});
}
static const hive_behaviour_t parent_b = {.name = "parent",
                                          .init = watcher_init,
                                          .handle = parent_handle,
                                          .terminate = watcher_terminate};

Test(links, spawn_link_links_before_init_and_a_failed_init_sends_no_signal) {
  hive_t *h = test_start(0);
  watcher_arg_t arg = {0};
  hive_pid_t parent;
  cr_assert_eq(hive_spawn(h, &parent_b, &arg, sizeof(arg), NULL, &parent), HIVE_OK);
  cr_assert_eq(hive_send(h, parent, HIVE_TAG_USER, "fail", 4), HIVE_OK);
  TEST_WAIT(&ping_sem);
  cr_assert_eq(atomic_load(&child_spawn_rc), -11);
  cr_assert(watcher_alive(h, parent), "the parent learns from the result, not a signal");
  cr_assert_eq(hive_send(h, parent, HIVE_TAG_USER, NULL, 0), HIVE_OK);
  TEST_WAIT(&ping_sem);
  cr_assert_eq(atomic_load(&child_spawn_rc), HIVE_OK);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, child_pid, &s), HIVE_OK);
  cr_assert_eq(s.links, 1, "linked at once");
  target_end(h, child_pid, -5);
  TEST_JOIN(h, parent);
  cr_assert_eq(watcher_reason.code, -5);
  hive_stop(h);
}

Test(links, spawn_link_needs_a_calling_actor) {
  hive_t *h = test_start(0);
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.flags = HIVE_SPAWN_LINK;
  cr_assert_eq(hive_spawn(h, &target_b, NULL, 0, &opts, NULL), HIVE_EINVAL);
  cr_assert_eq(hive_link(NULL, 1), HIVE_EINVAL);
  cr_assert_eq(hive_unlink(NULL, 1), HIVE_EINVAL);
  cr_assert_eq(hive_trap_exit(NULL, true), HIVE_EINVAL);
  cr_assert_eq(hive_exit_info(NULL, NULL, NULL), HIVE_EINVAL);
  cr_assert_eq(hive_exit_info(&(hive_msg_t){.tag = HIVE_TAG_USER}, NULL, NULL), HIVE_EINVAL);
  hive_stop(h);
}
