/*
 * test_sup_one_for_all.c - one_for_all: all restart, the others stopped in
 * reverse order first; temporary children are not brought back.
 */
#include "supervised.h"

TestSuite(one_for_all, .init = log_setup, .timeout = 120);

Test(one_for_all, every_child_restarts_the_others_stopped_in_reverse_first) {
  hive_t *h = test_start(0);
  w_arg_t args[] = {{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}};
  hive_child_spec_t specs[4];
  w_specs(specs, args, 4, HIVE_RESTART_PERMANENT);
  hive_pid_t sup = sup_with(h, HIVE_SUP_ONE_FOR_ALL, specs, 4);
  hive_pid_t old[4];
  for (int i = 0; i < 4; i++)
    old[i] = child_pid(h, sup, args[i].id);
  int mark = log_count();
  cr_assert_eq(hive_send(h, old[1], TAG_CRASH, NULL, 0), HIVE_OK);
  wait_events(mark + 8);
  cr_assert_str_eq(log_since(mark), "stop:b stop:d stop:c stop:a start:a start:b start:c start:d");
  for (int i = 0; i < 4; i++) {
    hive_pid_t now = child_pid(h, sup, args[i].id);
    cr_assert_neq(now, 0);
    cr_assert_neq(now, old[i], "child %s has a new pid", args[i].id);
  }
  hive_stop(h);
}

Test(one_for_all, a_temporary_child_stopped_by_a_sibling_is_not_restarted) {
  hive_t *h = test_start(0);
  w_arg_t args[] = {{"perm", 0}, {"temp", 0}};
  hive_child_spec_t specs[2];
  w_specs(specs, args, 2, HIVE_RESTART_PERMANENT);
  specs[1].restart = HIVE_RESTART_TEMPORARY;
  hive_pid_t sup = sup_with(h, HIVE_SUP_ONE_FOR_ALL, specs, 2);
  int mark = log_count();
  cr_assert_eq(hive_send(h, child_pid(h, sup, "perm"), TAG_CRASH, NULL, 0), HIVE_OK);
  wait_events(mark + 3);
  cr_assert_str_eq(log_since(mark), "stop:perm stop:temp start:perm");
  hive_child_counts_t counts;
  cr_assert_eq(hive_sup_count_children(h, sup, &counts), HIVE_OK);
  cr_assert_eq(counts.specs, 1, "the temporary child is gone");
  cr_assert_eq(counts.active, 1);
  hive_stop(h);
}
