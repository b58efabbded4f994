/*
 * test_sup_calls.c - the supervisor calls and their errors, spec checks,
 * and auto_shutdown with significant children.
 */
#include "supervised.h"

TestSuite(calls, .init = log_setup, .timeout = 120);

static w_arg_t ab[] = {{"a", 0}, {"b", 0}};

Test(calls, start_terminate_restart_delete_which_count) {
  hive_t *h = test_start(0);
  hive_child_spec_t specs[2];
  w_specs(specs, ab, 2, HIVE_RESTART_PERMANENT);
  hive_pid_t sup = sup_with(h, HIVE_SUP_ONE_FOR_ONE, specs, 1);
  hive_pid_t b;
  cr_assert_eq(hive_sup_start_child(h, sup, &specs[1], NULL, 0, &b), HIVE_OK);
  cr_assert_neq(b, 0);
  cr_assert_eq(hive_sup_start_child(h, sup, &specs[1], NULL, 0, NULL), HIVE_EEXIST);
  hive_child_info_t info[4];
  size_t n;
  cr_assert_eq(hive_sup_which_children(h, sup, info, 4, &n), HIVE_OK);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(info[0].id, "a");
  cr_assert_str_eq(info[1].id, "b");
  cr_assert_eq(info[1].pid, b);
  cr_assert_eq(info[1].type, HIVE_CHILD_WORKER);
  cr_assert_eq(info[1].restart, HIVE_RESTART_PERMANENT);

  cr_assert_eq(hive_sup_restart_child(h, sup, "b", NULL), HIVE_ERUNNING);
  cr_assert_eq(hive_sup_delete_child(h, sup, "b"), HIVE_ERUNNING);
  cr_assert_eq(hive_sup_terminate_child(h, sup, "b", 0), HIVE_OK);
  TEST_JOIN(h, b);
  cr_assert_eq(child_pid(h, sup, "b"), 0, "kept as a stopped spec");
  hive_pid_t b2;
  cr_assert_eq(hive_sup_restart_child(h, sup, "b", &b2), HIVE_OK);
  cr_assert_neq(b2, 0);
  cr_assert_eq(hive_sup_terminate_child(h, sup, "b", 0), HIVE_OK);
  cr_assert_eq(hive_sup_delete_child(h, sup, "b"), HIVE_OK);
  hive_child_counts_t counts;
  cr_assert_eq(hive_sup_count_children(h, sup, &counts), HIVE_OK);
  cr_assert_eq(counts.specs, 1);
  cr_assert_eq(counts.active, 1);
  cr_assert_eq(counts.workers, 1);
  cr_assert_eq(counts.supervisors, 0);

  cr_assert_eq(hive_sup_terminate_child(h, sup, "nope", 0), HIVE_ENOTFOUND);
  cr_assert_eq(hive_sup_restart_child(h, sup, "nope", NULL), HIVE_ENOTFOUND);
  cr_assert_eq(hive_sup_delete_child(h, sup, "nope"), HIVE_ENOTFOUND);
  cr_assert_eq(hive_sup_which_children(h, sup, NULL, 0, &n), HIVE_OK, "just the count");
  cr_assert_eq(n, 1);
  hive_stop(h);
}

Test(calls, bad_specs_start_nothing) {
  hive_t *h = test_start(0);
  hive_child_spec_t specs[2];
  w_specs(specs, ab, 2, HIVE_RESTART_PERMANENT);
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.children = specs;
  spec.nchildren = 2;
  specs[1].id = "a"; /* duplicate id */
  cr_assert_eq(hive_sup_start(h, &spec, NULL), HIVE_EINVAL);
  specs[1].id = "b";
  specs[1].significant = true; /* with auto_shutdown never */
  cr_assert_eq(hive_sup_start(h, &spec, NULL), HIVE_EINVAL);
  specs[1].significant = false;
  specs[1].restart = 9;
  cr_assert_eq(hive_sup_start(h, &spec, NULL), HIVE_EINVAL);
  specs[1].restart = HIVE_RESTART_PERMANENT;
  spec.period_s = 0;
  cr_assert_eq(hive_sup_start(h, &spec, NULL), HIVE_EINVAL);
  spec.period_s = 5;
  spec.strategy = 42;
  cr_assert_eq(hive_sup_start(h, &spec, NULL), HIVE_EINVAL);
  cr_assert_eq(hive_sup_start(NULL, &spec, NULL), HIVE_EINVAL);
  cr_assert_eq(hive_sup_start(h, NULL, NULL), HIVE_EINVAL);
  cr_assert_eq(log_count(), 0, "nothing started");
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.actors_spawned, 0);
  /* Calls to something that is not a supervisor, or to nobody. */
  cr_assert_eq(hive_sup_count_children(h, 0, &(hive_child_counts_t){0}), HIVE_EINVAL);
  cr_assert_eq(hive_sup_terminate_child(h, 12345, NULL, 0), HIVE_EINVAL);
  hive_stop(h);
}

/* ---- auto_shutdown --------------------------------------------------------- */

static hive_pid_t significant_sup(hive_t *h, int auto_shutdown, w_arg_t *args, int n) {
  static hive_child_spec_t specs[4];
  w_specs(specs, args, n, HIVE_RESTART_TRANSIENT);
  for (int i = 0; i < n; i++)
    specs[i].significant = i < n - 1; /* the last one is not */
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.auto_shutdown = auto_shutdown;
  spec.children = specs;
  spec.nchildren = (size_t)n;
  hive_pid_t sup;
  cr_assert_eq(hive_sup_start(h, &spec, &sup), HIVE_OK);
  return sup;
}

Test(calls, any_significant_shuts_down_when_one_ends_by_itself) {
  hive_t *h = test_start(0);
  w_arg_t args[] = {{"s1", 0}, {"s2", 0}, {"plain", 0}};
  hive_pid_t sup = significant_sup(h, HIVE_AUTO_SHUTDOWN_ANY_SIGNIFICANT, args, 3);
  cr_assert_eq(hive_send(h, child_pid(h, sup, "s1"), TAG_NORMAL, NULL, 0), HIVE_OK);
  TEST_JOIN(h, sup);
  cr_assert_str_eq(log_since(3), "stop:s1 stop:plain stop:s2");
  hive_stop(h);
}

Test(calls, all_significant_waits_for_the_last_one) {
  hive_t *h = test_start(0);
  w_arg_t args[] = {{"s1", 0}, {"s2", 0}, {"plain", 0}};
  hive_pid_t sup = significant_sup(h, HIVE_AUTO_SHUTDOWN_ALL_SIGNIFICANT, args, 3);
  hive_pid_t s1 = child_pid(h, sup, "s1");
  cr_assert_eq(hive_send(h, s1, TAG_NORMAL, NULL, 0), HIVE_OK);
  TEST_JOIN(h, s1);
  cr_assert_eq(hive_join(h, sup, 100), HIVE_ETIMEDOUT, "s2 still runs");
  cr_assert_eq(hive_send(h, child_pid(h, sup, "s2"), TAG_NORMAL, NULL, 0), HIVE_OK);
  TEST_JOIN(h, sup);
  hive_stop(h);
}

Test(calls, a_significant_child_stopped_by_the_supervisor_does_not_count) {
  hive_t *h = test_start(0);
  w_arg_t args[] = {{"s1", 0}, {"plain", 0}};
  hive_pid_t sup = significant_sup(h, HIVE_AUTO_SHUTDOWN_ANY_SIGNIFICANT, args, 2);
  cr_assert_eq(hive_sup_terminate_child(h, sup, "s1", 0), HIVE_OK);
  cr_assert_eq(hive_join(h, sup, 100), HIVE_ETIMEDOUT, "only exits a child makes on its own");
  hive_stop(h);
}
