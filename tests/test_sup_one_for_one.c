/*
 * test_sup_one_for_one.c - one_for_one, restart types, starting and
 * stopping in order, shutdown times.
 */
#include "supervised.h"

TestSuite(one_for_one, .init = log_setup, .timeout = 120);

static w_arg_t abc[] = {{"a", 0}, {"b", 0}, {"c", 0}};

Test(one_for_one, children_start_in_list_order) {
  hive_t *h = test_start(0);
  hive_child_spec_t specs[3];
  w_specs(specs, abc, 3, HIVE_RESTART_PERMANENT);
  sup_with(h, HIVE_SUP_ONE_FOR_ONE, specs, 3);
  cr_assert_str_eq(log_since(0), "start:a start:b start:c");
  hive_stop(h);
  cr_assert_str_eq(log_since(3), "stop:c stop:b stop:a", "stopped in reverse order");
}

Test(one_for_one, a_failing_init_stops_the_started_in_reverse_and_returns_its_reason) {
  hive_t *h = test_start(0);
  w_arg_t args[] = {{"a", 0}, {"b", 0}, {"c", W_FAIL_INIT}, {"d", 0}};
  hive_child_spec_t specs[4];
  w_specs(specs, args, 4, HIVE_RESTART_PERMANENT);
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.children = specs;
  spec.nchildren = 4;
  hive_pid_t sup = 0;
  cr_assert_eq(hive_sup_start(h, &spec, &sup), -40, "the child's reason");
  cr_assert_eq(sup, 0);
  cr_assert_str_eq(log_since(0), "start:a start:b fail:c stop:b stop:a");
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.actors_alive, 0, "nothing left running");
  hive_stop(h);
}

Test(one_for_one, only_the_failed_child_is_restarted) {
  hive_t *h = test_start(0);
  hive_child_spec_t specs[3];
  w_specs(specs, abc, 3, HIVE_RESTART_PERMANENT);
  hive_pid_t sup = sup_with(h, HIVE_SUP_ONE_FOR_ONE, specs, 3);
  hive_pid_t a = child_pid(h, sup, "a"), b = child_pid(h, sup, "b"), c = child_pid(h, sup, "c");
  int mark = log_count();
  cr_assert_eq(hive_send(h, b, TAG_CRASH, NULL, 0), HIVE_OK);
  wait_events(mark + 2);
  cr_assert_str_eq(log_since(mark), "stop:b start:b");
  hive_pid_t b2 = child_pid(h, sup, "b");
  cr_assert_neq(b2, 0);
  cr_assert_neq(b2, b, "a new pid");
  cr_assert_eq(child_pid(h, sup, "a"), a, "siblings keep their pids");
  cr_assert_eq(child_pid(h, sup, "c"), c);
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.restarts, 1);
  hive_stop(h);
}

Test(one_for_one, a_transient_child_that_exits_normally_is_not_restarted) {
  hive_t *h = test_start(0);
  hive_child_spec_t specs[3];
  w_specs(specs, abc, 3, HIVE_RESTART_TRANSIENT);
  hive_pid_t sup = sup_with(h, HIVE_SUP_ONE_FOR_ONE, specs, 3);
  hive_pid_t a = child_pid(h, sup, "a"), b = child_pid(h, sup, "b");
  cr_assert_eq(hive_send(h, a, TAG_NORMAL, NULL, 0), HIVE_OK);
  TEST_JOIN(h, a);
  cr_assert_eq(hive_send(h, b, TAG_SHUTDOWN_SELF, NULL, 0), HIVE_OK);
  TEST_JOIN(h, b);
  /* Both are stopped for good: a round trip through the supervisor shows it. */
  cr_assert_eq(child_pid(h, sup, "a"), 0);
  cr_assert_eq(child_pid(h, sup, "b"), 0);
  int mark = log_count();
  hive_pid_t c = child_pid(h, sup, "c");
  cr_assert_eq(hive_send(h, c, TAG_CRASH, NULL, 0), HIVE_OK); /* abnormal: restarted */
  wait_events(mark + 2);
  cr_assert_str_eq(log_since(mark), "stop:c start:c");
  hive_child_counts_t counts;
  cr_assert_eq(hive_sup_count_children(h, sup, &counts), HIVE_OK);
  cr_assert_eq(counts.specs, 3, "transient specs stay");
  cr_assert_eq(counts.active, 1);
  hive_stop(h);
}

Test(one_for_one, a_temporary_child_is_never_restarted) {
  hive_t *h = test_start(0);
  hive_child_spec_t specs[3];
  w_specs(specs, abc, 3, HIVE_RESTART_TEMPORARY);
  hive_pid_t sup = sup_with(h, HIVE_SUP_ONE_FOR_ONE, specs, 3);
  hive_pid_t b = child_pid(h, sup, "b");
  cr_assert_eq(hive_send(h, b, TAG_CRASH, NULL, 0), HIVE_OK);
  TEST_JOIN(h, b);
  hive_child_counts_t counts;
  cr_assert_eq(hive_sup_count_children(h, sup, &counts), HIVE_OK);
  cr_assert_eq(counts.specs, 2, "a temporary child's spec goes with it");
  cr_assert_eq(counts.active, 2);
  hive_stop(h);
}

Test(one_for_one, a_child_that_ignores_shutdown_is_killed_after_its_time) {
  hive_t *h = test_start(0);
  w_arg_t args[] = {{"obeys", 0}, {"ignores", W_IGNORE_SHUTDOWN}};
  hive_child_spec_t specs[2];
  w_specs(specs, args, 2, HIVE_RESTART_PERMANENT);
  specs[0].shutdown_ms = 200;
  specs[1].shutdown_ms = 200;
  hive_pid_t sup = sup_with(h, HIVE_SUP_ONE_FOR_ONE, specs, 2);
  hive_pid_t obeys = child_pid(h, sup, "obeys"), ignores = child_pid(h, sup, "ignores");
  (void)obeys;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  cr_assert_eq(hive_sup_terminate_child(h, sup, "ignores", 0), HIVE_OK);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  cr_assert_geq(waited, 0.2, "it had its 200 ms");
  cr_assert_eq(child_pid(h, sup, "ignores"), 0);
  cr_assert_eq(hive_join(h, ignores, 0), HIVE_OK, "killed");
  clock_gettime(CLOCK_MONOTONIC, &t0);
  cr_assert_eq(hive_sup_terminate_child(h, sup, "obeys", 0), HIVE_OK);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  cr_assert_lt(waited, 0.2, "one that obeys is not waited for: %.3f s", waited);
  hive_stop(h);
}

Test(one_for_one, brutal_kill_kills_at_once) {
  hive_t *h = test_start(0);
  w_arg_t args[] = {{"ignores", W_IGNORE_SHUTDOWN}};
  hive_child_spec_t specs[1];
  w_specs(specs, args, 1, HIVE_RESTART_PERMANENT);
  specs[0].shutdown_ms = HIVE_SHUTDOWN_BRUTAL_KILL;
  hive_pid_t sup = sup_with(h, HIVE_SUP_ONE_FOR_ONE, specs, 1);
  cr_assert_eq(hive_sup_terminate_child(h, sup, "ignores", 0), HIVE_OK);
  cr_assert_eq(child_pid(h, sup, "ignores"), 0);
  hive_stop(h);
}
