/*
 * test_sup_tree.c - restart intensity, failures climbing the tree, and a
 * tree of depth 4 stopped whole and in order by hive_stop.
 */
#include "supervised.h"

TestSuite(tree, .init = log_setup, .timeout = 120);

/* A parent (one_for_one) over a child supervisor "mid" (intensity 3 in
 * 1 s) over one worker "w". */
static void build_two_levels(hive_t *h, hive_pid_t *parent, unsigned period_s) {
  static w_arg_t w = {"w", 0};
  static hive_child_spec_t worker;
  w_specs(&worker, &w, 1, HIVE_RESTART_PERMANENT);
  static hive_sup_spec_t mid;
  hive_sup_spec_init(&mid);
  mid.intensity = 3;
  mid.period_s = period_s;
  mid.children = &worker;
  mid.nchildren = 1;
  static hive_child_spec_t mid_child;
  hive_child_spec_init(&mid_child);
  mid_child.id = "mid";
  mid_child.behaviour = hive_sup_behaviour();
  mid_child.arg = &mid;
  mid_child.arg_len = sizeof(mid);
  mid_child.type = HIVE_CHILD_SUPERVISOR;
  hive_sup_spec_t top;
  hive_sup_spec_init(&top);
  top.intensity = 10;
  top.children = &mid_child;
  top.nchildren = 1;
  cr_assert_eq(hive_sup_start(h, &top, parent), HIVE_OK);
}

static void crash_w(hive_t *h, hive_pid_t mid) {
  int mark = log_count();
  hive_pid_t w = child_pid(h, mid, "w");
  cr_assert_neq(w, 0);
  cr_assert_eq(hive_send(h, w, TAG_CRASH, NULL, 0), HIVE_OK);
  wait_events(mark + 2); /* stop:w, then start:w (by mid, or by a new mid) */
}

Test(tree, the_fourth_failure_in_the_period_stops_the_supervisor_and_its_parent_restarts_it) {
  hive_t *h = test_start(0);
  hive_pid_t top;
  build_two_levels(h, &top, 60);
  hive_pid_t mid = child_pid(h, top, "mid");
  for (int i = 0; i < 3; i++) /* three restarts: within intensity */
    crash_w(h, mid);
  cr_assert_eq(child_pid(h, top, "mid"), mid, "three restarts are allowed");
  hive_child_info_t info[1];
  size_t n;
  cr_assert_eq(hive_sup_which_children(h, mid, info, 1, &n), HIVE_OK);
  cr_assert_eq(info[0].restarts, 3);
  crash_w(h, mid); /* the fourth: mid gives up, stops w, exits shutdown; top restarts mid */
  TEST_JOIN(h, mid);
  hive_pid_t mid2 = child_pid(h, top, "mid");
  cr_assert_neq(mid2, 0, "the parent restarted it");
  cr_assert_neq(mid2, mid);
  cr_assert_neq(child_pid(h, mid2, "w"), 0, "with a fresh worker");
  cr_assert_eq(hive_sup_which_children(h, top, info, 1, &n), HIVE_OK);
  cr_assert_eq(info[0].restarts, 1);
  hive_stop(h);
}

Test(tree, failures_spread_over_more_than_the_period_never_give_up) {
  hive_t *h = test_start(0);
  hive_pid_t top;
  build_two_levels(h, &top, 1); /* 3 restarts per second */
  hive_pid_t mid = child_pid(h, top, "mid");
  for (int i = 0; i < 8; i++) {
    crash_w(h, mid);
    if (i % 2 == 1) /* two failures, then a pause longer than the period */
      nanosleep(&(struct timespec){1, 100000000}, NULL);
  }
  cr_assert_eq(child_pid(h, top, "mid"), mid, "never gave up");
  hive_stop(h);
}

/* ---- a tree of depth 4 ------------------------------------------------------ */

/* Level k supervisor: two workers "kA", "kB", then the next level. */
static hive_sup_spec_t levels[4];
static hive_child_spec_t level_children[4][3];
static w_arg_t level_args[4][2];

Test(tree, a_tree_of_depth_four_stops_whole_and_in_order) {
  hive_t *h = test_start(0);
  for (int k = 3; k >= 0; k--) {
    snprintf(level_args[k][0].id, sizeof(level_args[k][0].id), "%dA", k);
    snprintf(level_args[k][1].id, sizeof(level_args[k][1].id), "%dB", k);
    w_specs(level_children[k], level_args[k], 2, HIVE_RESTART_PERMANENT);
    hive_sup_spec_init(&levels[k]);
    levels[k].children = level_children[k];
    levels[k].nchildren = 2;
    if (k < 3) {
      hive_child_spec_t *next = &level_children[k][2];
      hive_child_spec_init(next);
      next->id = "next";
      next->behaviour = hive_sup_behaviour();
      next->arg = &levels[k + 1];
      next->arg_len = sizeof(levels[k + 1]);
      next->type = HIVE_CHILD_SUPERVISOR;
      levels[k].nchildren = 3;
    }
  }
  hive_pid_t root;
  cr_assert_eq(hive_sup_start(h, &levels[0], &root), HIVE_OK);
  cr_assert_str_eq(log_since(0), "start:0A start:0B start:1A start:1B start:2A start:2B "
                                 "start:3A start:3B");
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.actors_alive, 12, "4 supervisors, 8 workers");
  cr_assert_eq(hive_stop(h), HIVE_OK);
  cr_assert_str_eq(log_since(8),
                   "stop:3B stop:3A stop:2B stop:2A stop:1B stop:1A stop:0B "
                   "stop:0A",
                   "deepest first, each level in reverse start order");
}

/* ---- hive_stop: top-level supervisors last started first, then the rest ---- */

Test(tree, hive_stop_ends_top_level_supervisors_in_reverse_start_order_then_other_actors) {
  hive_t *h = test_start(0);
  static w_arg_t first = {"first", 0}, second = {"second", 0}, loose = {"loose", 0};
  hive_child_spec_t c1, c2;
  w_specs(&c1, &first, 1, HIVE_RESTART_PERMANENT);
  w_specs(&c2, &second, 1, HIVE_RESTART_PERMANENT);
  hive_pid_t unsupervised;
  cr_assert_eq(hive_spawn(h, &w_b, &loose, sizeof(loose), NULL, &unsupervised), HIVE_OK);
  sup_with(h, HIVE_SUP_ONE_FOR_ONE, &c1, 1);
  sup_with(h, HIVE_SUP_ONE_FOR_ONE, &c2, 1);
  int mark = log_count();
  cr_assert_eq(hive_stop(h), HIVE_OK);
  cr_assert_str_eq(log_since(mark), "stop:second stop:first stop:loose",
                   "the last started supervisor first, actors outside any tree last");
}

/* Starts top over "mid" over worker "w" (registered as "w-name"), every
 * spec, argument and name on this stack frame, which is scribbled over
 * before returning: whatever runs later runs from the supervisors' copies. */
static hive_pid_t start_from_a_frame_that_goes_away(hive_t *h) {
  char id_w[] = "w", id_mid[] = "mid", name[] = "w-name";
  w_arg_t w = {"w", 0};
  hive_child_spec_t worker;
  w_specs(&worker, &w, 1, HIVE_RESTART_PERMANENT);
  worker.id = id_w;
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.name = name;
  worker.opts = &opts;
  hive_sup_spec_t mid;
  hive_sup_spec_init(&mid);
  mid.intensity = 1;
  mid.period_s = 60;
  mid.children = &worker;
  mid.nchildren = 1;
  hive_child_spec_t mid_child;
  hive_child_spec_init(&mid_child);
  mid_child.id = id_mid;
  mid_child.behaviour = hive_sup_behaviour();
  mid_child.arg = &mid;
  mid_child.arg_len = sizeof(mid);
  mid_child.type = HIVE_CHILD_SUPERVISOR;
  hive_pid_t top = sup_with_intensity(h, HIVE_SUP_ONE_FOR_ONE, &mid_child, 1, 10, 60);
  memset(id_w, 'x', sizeof(id_w) - 1);
  memset(id_mid, 'x', sizeof(id_mid) - 1);
  memset(name, 'x', sizeof(name) - 1);
  memset(&w, 0xa5, sizeof(w));
  memset(&worker, 0xa5, sizeof(worker));
  memset(&opts, 0xa5, sizeof(opts));
  memset(&mid, 0xa5, sizeof(mid));
  memset(&mid_child, 0xa5, sizeof(mid_child));
  return top;
}

Test(tree, a_nested_supervisor_restarts_from_its_own_copy_of_the_spec) {
  hive_t *h = test_start(0);
  hive_pid_t top = start_from_a_frame_that_goes_away(h);
  hive_pid_t mid = child_pid(h, top, "mid");
  cr_assert_neq(mid, 0);
  crash_w(h, mid);
  crash_w(h, mid); /* the second failure in 60 s: mid gives up, top restarts it */
  TEST_JOIN(h, mid);
  hive_pid_t mid2 = child_pid(h, top, "mid");
  cr_assert_neq(mid2, 0, "the parent restarted mid from its copy");
  hive_pid_t w = child_pid(h, mid2, "w");
  cr_assert_neq(w, 0, "mid's restart started w from the copy of mid's spec");
  cr_assert_eq(hive_whereis(h, "w-name"), w, "with the name from the copied spawn options");
  hive_stop(h);
}
