/*
 * test_sup_simple.c - simple_one_for_one: children from one template.
 */
#include "supervised.h"

TestSuite(simple, .init = log_setup, .timeout = 300);

static int quiet_init(hive_ctx_t *ctx, void *s, const void *a, size_t l) {
  (void)ctx, (void)s, (void)a, (void)l;
  return HIVE_OK;
}
static int quiet_handle(hive_ctx_t *ctx, void *s, const hive_msg_t *m) {
  (void)ctx, (void)s;
  return m->tag == TAG_CRASH ? -1 : HIVE_OK;
}
static const hive_behaviour_t quiet_b = {
    .name = "quiet", .init = quiet_init, .handle = quiet_handle};

static hive_pid_t simple_sup(hive_t *h, const hive_behaviour_t *b, int restart) {
  hive_child_spec_t template;
  hive_child_spec_init(&template);
  template.behaviour = b;
  template.restart = restart;
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.strategy = HIVE_SUP_SIMPLE_ONE_FOR_ONE;
  spec.intensity = 100000;
  spec.children = &template;
  spec.nchildren = 1;
  hive_pid_t sup;
  cr_assert_eq(hive_sup_start(h, &spec, &sup), HIVE_OK);
  return sup;
}

Test(simple, children_start_with_their_own_argument) {
  hive_t *h = test_start(0);
  hive_pid_t sup = simple_sup(h, &w_b, HIVE_RESTART_PERMANENT);
  hive_child_counts_t counts;
  cr_assert_eq(hive_sup_count_children(h, sup, &counts), HIVE_OK);
  cr_assert_eq(counts.specs, 1, "as OTP: the template is the one spec");
  cr_assert_eq(counts.active, 0, "none until asked");
  cr_assert_eq(counts.workers, 0);
  w_arg_t one = {"one", 0}, two = {"two", 0};
  hive_pid_t p1, p2;
  cr_assert_eq(hive_sup_start_child(h, sup, NULL, &one, sizeof(one), &p1), HIVE_OK);
  cr_assert_eq(hive_sup_start_child(h, sup, NULL, &two, sizeof(two), &p2), HIVE_OK);
  cr_assert_str_eq(log_since(0), "start:one start:two");
  int mark = log_count();
  cr_assert_eq(hive_send(h, p1, TAG_CRASH, NULL, 0), HIVE_OK);
  wait_events(mark + 2);
  cr_assert_str_eq(log_since(mark), "stop:one start:one", "restarted with its own argument");
  cr_assert_eq(hive_sup_terminate_child(h, sup, NULL, p2), HIVE_OK);
  cr_assert_eq(hive_sup_count_children(h, sup, &counts), HIVE_OK);
  cr_assert_eq(counts.specs, 1);
  cr_assert_eq(counts.workers, 1, "a terminated dynamic child is gone");
  cr_assert_eq(hive_sup_terminate_child(h, sup, NULL, p2), HIVE_ENOTFOUND);
  cr_assert_eq(hive_sup_start_child(h, sup, &(hive_child_spec_t){0}, NULL, 0, NULL), HIVE_EINVAL,
               "no spec for simple_one_for_one");
  cr_assert_eq(hive_sup_delete_child(h, sup, "one"), HIVE_ENOTFOUND);
  hive_stop(h);
}

Test(simple, ten_thousand_dynamic_children_started_and_stopped) {
  hive_t *h = test_start(0);
  hive_pid_t sup = simple_sup(h, &quiet_b, HIVE_RESTART_TRANSIENT);
  enum { N = 10000 };
  static hive_pid_t pids[N];
  for (int i = 0; i < N; i++)
    cr_assert_eq(hive_sup_start_child(h, sup, NULL, NULL, 0, &pids[i]), HIVE_OK);
  hive_child_counts_t counts;
  cr_assert_eq(hive_sup_count_children(h, sup, &counts), HIVE_OK);
  cr_assert_eq(counts.active, N);
  for (int i = 0; i < N; i += 2) /* half by terminate_child */
    cr_assert_eq(hive_sup_terminate_child(h, sup, NULL, pids[i]), HIVE_OK);
  for (int i = 1; i < N; i += 4) /* a quarter crash and come back */
    cr_assert_eq(hive_send(h, pids[i], TAG_CRASH, NULL, 0), HIVE_OK);
  for (int i = 1; i < N; i += 4)
    TEST_JOIN(h, pids[i]);
  cr_assert_eq(hive_sup_count_children(h, sup, &counts), HIVE_OK);
  cr_assert_eq(counts.specs, 1);
  cr_assert_eq(counts.workers, N / 2);
  cr_assert_eq(counts.active, N / 2, "the crashed ones were restarted");
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.restarts, N / 4);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}
