/*
 * test_args.c - bad arguments to every public call return an error and
 * change nothing: the node's totals and the target actor are untouched.
 */
#include <limits.h>

#include "blocker.h"

TestSuite(args, .init = blocker_setup, .timeout = 60);

static void assert_same_totals(const hive_node_stats_t *a, const hive_node_stats_t *b) {
  cr_assert_eq(a->actors_alive, b->actors_alive);
  cr_assert_eq(a->actors_spawned, b->actors_spawned);
  cr_assert_eq(a->actors_exited, b->actors_exited);
  cr_assert_eq(a->dead_letters, b->dead_letters);
  cr_assert_eq(a->dropped, b->dropped);
}

Test(args, start_and_stop) {
  hive_t *h = (hive_t *)0x1;
  cr_assert_eq(hive_start(NULL, NULL), HIVE_EINVAL);
  hive_config_t bad[5];
  for (int i = 0; i < 5; i++)
    hive_config_init(&bad[i]);
  bad[0].workers = HIVE_MAX_WORKERS + 1;
  bad[1].batch = HIVE_MAX_BATCH + 1;
  bad[2].max_actors = HIVE_MAX_ACTORS + 1;
  bad[3].node_id = 256;
  bad[4].workers = UINT_MAX;
  for (int i = 0; i < 5; i++) {
    cr_assert_eq(hive_start(&h, &bad[i]), HIVE_EINVAL, "config %d", i);
    cr_assert_eq(h, (hive_t *)0x1, "*out untouched on error");
  }
  cr_assert_eq(hive_stop(NULL), HIVE_EINVAL);
  hive_config_init(NULL);
  hive_spawn_opts_init(NULL);
  cr_assert_null(hive_data(NULL));
  cr_assert_null(hive_node(NULL));
  cr_assert_eq(hive_self(NULL), 0);
  cr_assert_eq(hive_node_stats(NULL, &(hive_node_stats_t){0}), HIVE_EINVAL);
}

Test(args, every_call_on_a_running_node) {
  hive_t *h = test_start(0);
  hive_pid_t pid = blocker_spawn_blocked(h, NULL);
  hive_node_stats_t before, after;
  cr_assert_eq(hive_node_stats(h, NULL), HIVE_EINVAL);
  cr_assert_eq(hive_node_stats(h, &before), HIVE_OK);

  /* spawn */
  static const hive_behaviour_t no_handle = {.name = "none"};
  hive_pid_t out = 12345;
  cr_assert_eq(hive_spawn(NULL, &blocker_b, NULL, 0, NULL, &out), HIVE_EINVAL);
  cr_assert_eq(hive_spawn(h, NULL, NULL, 0, NULL, &out), HIVE_EINVAL);
  cr_assert_eq(hive_spawn(h, &no_handle, NULL, 0, NULL, &out), HIVE_EINVAL);
  cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 4, NULL, &out), HIVE_EINVAL);
  hive_spawn_opts_t opts[9];
  for (int i = 0; i < 9; i++)
    hive_spawn_opts_init(&opts[i]);
  opts[7].mailbox = HIVE_MAILBOX_BLOCK; /* blocking, no timeout */
  opts[7].capacity = 4;
  opts[8].mailbox = HIVE_MAILBOX_REJECT; /* a timeout without blocking */
  opts[8].capacity = 4;
  opts[8].block_ms = 10;
  opts[0].flags = 1u << 31;              /* unknown option bit */
  opts[1].mailbox = 99;                  /* unknown mailbox kind */
  opts[2].mailbox = HIVE_MAILBOX_REJECT; /* bounded, zero capacity */
  opts[3].mailbox = HIVE_MAILBOX_DROP_NEW;
  opts[4].capacity = 10; /* unbounded with a capacity */
  opts[5].name = "";
  opts[6].mailbox = HIVE_MAILBOX_REJECT;
  opts[6].capacity = (size_t)-1;
  for (int i = 0; i < 9; i++)
    cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 0, &opts[i], &out), HIVE_EINVAL, "opts %d", i);
  cr_assert_eq(out, 12345, "*out untouched on error");

  /* send and send_move */
  char byte = 'x';
  cr_assert_eq(hive_send(NULL, pid, TAG_WORK, &byte, 1), HIVE_EINVAL);
  cr_assert_eq(hive_send(h, 0, TAG_WORK, &byte, 1), HIVE_EINVAL);
  cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER - 1, &byte, 1), HIVE_EINVAL, "system tags");
  cr_assert_eq(hive_send(h, pid, HIVE_TAG_EXIT, &byte, 1), HIVE_EINVAL);
  cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 1), HIVE_EINVAL);
  cr_assert_eq(hive_send_move(NULL, pid, TAG_WORK, &byte, 1), HIVE_EINVAL);
  cr_assert_eq(hive_send_move(h, 0, TAG_WORK, &byte, 1), HIVE_EINVAL);
  cr_assert_eq(hive_send_move(h, pid, HIVE_TAG_DOWN, &byte, 1), HIVE_EINVAL);
  cr_assert_eq(hive_send_move(h, pid, TAG_WORK, NULL, 1), HIVE_EINVAL);

  /* names */
  cr_assert_eq(hive_register(NULL, "n", pid), HIVE_EINVAL);
  cr_assert_eq(hive_register(h, "n", 0), HIVE_EINVAL);
  cr_assert_eq(hive_register(h, NULL, pid), HIVE_EINVAL);
  cr_assert_eq(hive_unregister(NULL, "n"), HIVE_EINVAL);
  cr_assert_eq(hive_unregister(h, NULL), HIVE_EINVAL);
  cr_assert_eq(hive_whereis(NULL, "n"), 0);
  cr_assert_eq(hive_whereis(h, NULL), 0);

  /* signals, join, stats */
  cr_assert_eq(hive_exit(NULL, pid, &(hive_reason_t){.kind = HIVE_REASON_KILL}), HIVE_EINVAL);
  cr_assert_eq(hive_exit(h, 0, &(hive_reason_t){.kind = HIVE_REASON_KILL}), HIVE_EINVAL);
  cr_assert_eq(hive_exit(h, pid, NULL), HIVE_EINVAL);
  cr_assert_eq(hive_exit(h, pid, &(hive_reason_t){.kind = -1}), HIVE_EINVAL);
  cr_assert_eq(hive_exit(h, pid, &(hive_reason_t){.kind = 99}), HIVE_EINVAL);
  cr_assert_eq(hive_kill(NULL, pid), HIVE_EINVAL);
  cr_assert_eq(hive_kill(h, 0), HIVE_EINVAL);
  cr_assert_eq(hive_join(NULL, pid, 0), HIVE_EINVAL);
  cr_assert_eq(hive_join(h, 0, 0), HIVE_EINVAL);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(NULL, pid, &s), HIVE_EINVAL);
  cr_assert_eq(hive_actor_stats(h, 0, &s), HIVE_EINVAL);
  cr_assert_eq(hive_actor_stats(h, pid, NULL), HIVE_EINVAL);

  /* Nothing changed: same totals, and the actor neither died nor got mail. */
  cr_assert_eq(hive_node_stats(h, &after), HIVE_OK);
  assert_same_totals(&before, &after);
  cr_assert_eq(hive_actor_stats(h, pid, &s), HIVE_OK);
  cr_assert_eq(s.mailbox_len, 0);
  cr_assert_eq(s.processed, 1);
  cr_assert_str_eq(s.name, "");
  sem_post(&gate);
  hive_stop(h);
}

Test(args, error_codes_have_names_and_texts) {
  int codes[] = {HIVE_OK,        HIVE_EINVAL, HIVE_ENOMEM,    HIVE_ENOPROC,      HIVE_EFULL,
                 HIVE_ETIMEDOUT, HIVE_EEXIST, HIVE_ENOTFOUND, HIVE_ENAMETOOLONG, HIVE_EALREADY,
                 HIVE_ESHUTDOWN, HIVE_ELIMIT, HIVE_EDEADLK,   HIVE_ESYS};
  for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    cr_assert_str_neq(hive_strerror(codes[i]), "unknown error", "code %d", codes[i]);
    cr_assert_str_neq(hive_err_name(codes[i]), "HIVE_UNKNOWN", "code %d", codes[i]);
  }
  cr_assert_str_eq(hive_err_name(HIVE_EFULL), "HIVE_EFULL");
  cr_assert_str_eq(hive_strerror(-9999), "unknown error");
  cr_assert_str_eq(hive_err_name(-9999), "HIVE_UNKNOWN");
}

Test(args, max_actors_is_enforced) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.max_actors = 100;
  hive_t *h = test_start_config(&cfg);
  for (int i = 0; i < 100; i++)
    cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 0, NULL, NULL), HIVE_OK);
  cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 0, NULL, NULL), HIVE_ELIMIT);
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.actors_alive, 100);
  hive_stop(h);
}
