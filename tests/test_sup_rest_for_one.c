/*
 * test_sup_rest_for_one.c - rest_for_one: the failed child and those after
 * it restart; those before it do not.
 */
#include "supervised.h"

TestSuite(rest_for_one, .init = log_setup, .timeout = 120);

Test(rest_for_one, the_failed_child_and_those_after_it_restart) {
  hive_t *h = test_start(0);
  w_arg_t args[] = {{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}};
  hive_child_spec_t specs[4];
  w_specs(specs, args, 4, HIVE_RESTART_PERMANENT);
  hive_pid_t sup = sup_with(h, HIVE_SUP_REST_FOR_ONE, specs, 4);
  hive_pid_t a = child_pid(h, sup, "a"), b = child_pid(h, sup, "b");
  hive_pid_t c = child_pid(h, sup, "c"), d = child_pid(h, sup, "d");
  int mark = log_count();
  cr_assert_eq(hive_send(h, c, TAG_CRASH, NULL, 0), HIVE_OK);
  wait_events(mark + 4);
  cr_assert_str_eq(log_since(mark), "stop:c stop:d start:c start:d");
  cr_assert_eq(child_pid(h, sup, "a"), a, "those before keep running");
  cr_assert_eq(child_pid(h, sup, "b"), b);
  cr_assert_neq(child_pid(h, sup, "c"), c);
  cr_assert_neq(child_pid(h, sup, "d"), d);
  hive_stop(h);
}

Test(rest_for_one, the_first_child_failing_restarts_all) {
  hive_t *h = test_start(0);
  w_arg_t args[] = {{"a", 0}, {"b", 0}, {"c", 0}};
  hive_child_spec_t specs[3];
  w_specs(specs, args, 3, HIVE_RESTART_PERMANENT);
  hive_pid_t sup = sup_with(h, HIVE_SUP_REST_FOR_ONE, specs, 3);
  int mark = log_count();
  cr_assert_eq(hive_send(h, child_pid(h, sup, "a"), TAG_CRASH, NULL, 0), HIVE_OK);
  wait_events(mark + 6);
  cr_assert_str_eq(log_since(mark), "stop:a stop:c stop:b start:a start:b start:c");
  hive_stop(h);
}
