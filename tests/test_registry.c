/*
 * test_registry.c - registered names: one live actor per name, one name per
 * actor, released when the actor dies.
 */
#include <stdio.h>

#include "blocker.h"

TestSuite(registry, .init = blocker_setup, .timeout = 120);

static hive_pid_t spawn_plain(hive_t *h, const char *name) {
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.name = name;
  hive_pid_t pid = 0;
  int rc = hive_spawn(h, &blocker_b, NULL, 0, &opts, &pid);
  cr_assert_eq(rc, HIVE_OK, "spawn: %s", hive_strerror(rc));
  return pid;
}

Test(registry, register_and_whereis) {
  hive_t *h = test_start(0);
  hive_pid_t a = spawn_plain(h, NULL);
  cr_assert_eq(hive_whereis(h, "db"), 0);
  cr_assert_eq(hive_register(h, "db", a), HIVE_OK);
  cr_assert_eq(hive_whereis(h, "db"), a);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, a, &s), HIVE_OK);
  cr_assert_str_eq(s.name, "db");
  cr_assert_str_eq(s.behaviour, "blocker");
  cr_assert_eq(hive_unregister(h, "db"), HIVE_OK);
  cr_assert_eq(hive_whereis(h, "db"), 0);
  cr_assert_eq(hive_unregister(h, "db"), HIVE_ENOTFOUND);
  cr_assert_eq(hive_actor_stats(h, a, &s), HIVE_OK);
  cr_assert_str_eq(s.name, "");
  hive_stop(h);
}

Test(registry, one_live_actor_per_name_and_one_name_per_actor) {
  hive_t *h = test_start(0);
  hive_pid_t a = spawn_plain(h, "first");
  hive_pid_t b = spawn_plain(h, NULL);
  cr_assert_eq(hive_register(h, "first", b), HIVE_EEXIST);
  cr_assert_eq(hive_whereis(h, "first"), a, "a refused registration changes nothing");
  cr_assert_eq(hive_register(h, "second", a), HIVE_EALREADY);
  cr_assert_eq(hive_whereis(h, "second"), 0);
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.name = "first";
  hive_node_stats_t before, after;
  hive_node_stats(h, &before);
  cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 0, &opts, NULL), HIVE_EEXIST);
  hive_node_stats(h, &after);
  cr_assert_eq(after.actors_alive, before.actors_alive, "no actor is left behind");
  hive_stop(h);
}

Test(registry, a_name_is_released_when_its_actor_dies) {
  hive_t *h = test_start(0);
  hive_pid_t a = spawn_plain(h, "service");
  cr_assert_eq(hive_kill(h, a), HIVE_OK);
  TEST_JOIN(h, a);
  cr_assert_eq(hive_whereis(h, "service"), 0);
  hive_pid_t b = spawn_plain(h, "service");
  cr_assert_eq(hive_whereis(h, "service"), b, "the name is free for a successor");
  cr_assert_eq(hive_register(h, "other", a), HIVE_ENOPROC, "a dead actor cannot take a name");
  hive_stop(h);
}

Test(registry, names_are_checked) {
  hive_t *h = test_start(0);
  hive_pid_t a = spawn_plain(h, NULL);
  char longest[HIVE_NAME_MAX + 1], too_long[HIVE_NAME_MAX + 2];
  memset(longest, 'n', HIVE_NAME_MAX);
  longest[HIVE_NAME_MAX] = '\0';
  memset(too_long, 'n', HIVE_NAME_MAX + 1);
  too_long[HIVE_NAME_MAX + 1] = '\0';
  cr_assert_eq(hive_register(h, too_long, a), HIVE_ENAMETOOLONG);
  cr_assert_eq(hive_register(h, "", a), HIVE_EINVAL);
  cr_assert_eq(hive_register(h, NULL, a), HIVE_EINVAL);
  cr_assert_eq(hive_whereis(h, too_long), 0);
  cr_assert_eq(hive_register(h, longest, a), HIVE_OK);
  cr_assert_eq(hive_whereis(h, longest), a);
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.name = too_long;
  cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 0, &opts, NULL), HIVE_ENAMETOOLONG);
  hive_stop(h);
}

Test(registry, many_names) {
  hive_t *h = test_start(0);
  char name[32];
  hive_pid_t pids[5000];
  for (int i = 0; i < 5000; i++) {
    snprintf(name, sizeof(name), "actor-%d", i);
    pids[i] = spawn_plain(h, name);
  }
  for (int i = 0; i < 5000; i++) {
    snprintf(name, sizeof(name), "actor-%d", i);
    cr_assert_eq(hive_whereis(h, name), pids[i]);
  }
  hive_stop(h);
}
