/*
 * test_pids.c - pids name one incarnation for ever; printing them.
 */
#include "blocker.h"

TestSuite(pids, .init = blocker_setup, .timeout = 120);

static atomic_long stale_seen;
static int record_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  hive_pid_t meant;
  memcpy(&meant, msg->data, sizeof(meant));
  if (meant != hive_self(ctx))
    atomic_fetch_add(&stale_seen, 1);
  sem_post(&handled);
  return HIVE_OK;
}
static const hive_behaviour_t record_b = {.name = "record", .handle = record_handle};

Test(pids, a_stale_pid_never_reaches_the_actor_that_reused_its_slot) {
  /* One worker: a freed slot waits in the cache of the worker that ended
   * its actor until that cache overflows back to the node's list; with
   * two, the old slot's worker might end none of the actors below, and its
   * cache would never overflow (a flake seen about one run in ten). */
  hive_t *h = test_start(1);
  hive_pid_t old;
  cr_assert_eq(hive_spawn(h, &record_b, NULL, 0, NULL, &old), HIVE_OK);
  cr_assert_eq(hive_kill(h, old), HIVE_OK);
  TEST_JOIN(h, old);

  hive_pid_t fresh = 0;
  for (int i = 0; i < 100000; i++) {
    cr_assert_eq(hive_spawn(h, &record_b, NULL, 0, NULL, &fresh), HIVE_OK);
    if (HIVE_PID_SLOT(fresh) == HIVE_PID_SLOT(old))
      break;
    hive_kill(h, fresh);
    TEST_JOIN(h, fresh);
  }
  cr_assert_eq(HIVE_PID_SLOT(fresh), HIVE_PID_SLOT(old), "the slot was never reused");
  cr_assert_neq(fresh, old);
  cr_assert_neq(HIVE_PID_GEN(fresh), HIVE_PID_GEN(old));

  hive_node_stats_t before, after;
  hive_node_stats(h, &before);
  cr_assert_eq(hive_send(h, old, TAG_WORK, &old, sizeof(old)), HIVE_ENOPROC);
  hive_node_stats(h, &after);
  cr_assert_eq(after.dead_letters, before.dead_letters + 1);
  cr_assert_eq(hive_kill(h, old), HIVE_ENOPROC, "signals to the old pid reach nobody too");
  cr_assert_eq(hive_actor_stats(h, old, &(hive_actor_stats_t){0}), HIVE_ENOPROC);

  /* The new actor is alive and gets only its own message. */
  cr_assert_eq(hive_send(h, fresh, TAG_WORK, &fresh, sizeof(fresh)), HIVE_OK);
  TEST_WAIT(&handled);
  cr_assert_eq(atomic_load(&stale_seen), 0);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, fresh, &s), HIVE_OK);
  cr_assert_eq(s.processed, 1);
  hive_stop(h);
}

Test(pids, pids_that_name_nothing_are_refused) {
  hive_t *h = test_start(0);
  hive_pid_t first, pid;
  cr_assert_eq(hive_spawn(h, &record_b, NULL, 0, NULL, &first), HIVE_OK);
  cr_assert_eq(hive_spawn(h, &record_b, NULL, 0, NULL, &pid), HIVE_OK);
  cr_assert_eq(HIVE_PID_NODE(pid), 0);
  cr_assert_neq(HIVE_PID_SLOT(pid), 0, "so that no bad pid below is 0");
  hive_pid_t other_node = pid | ((hive_pid_t)7 << 56);
  hive_pid_t far_slot = ((hive_pid_t)0xffffff << 32) | 1;
  hive_pid_t gen_zero = pid & ~(hive_pid_t)0xffffffff;
  hive_pid_t next_gen = pid + 1;
  hive_pid_t bad[] = {other_node, far_slot, gen_zero, next_gen};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cr_assert_eq(hive_send(h, bad[i], TAG_WORK, NULL, 0), HIVE_ENOPROC, "pid %zu", i);
    cr_assert_eq(hive_kill(h, bad[i]), HIVE_ENOPROC);
    cr_assert_eq(hive_register(h, "x", bad[i]), HIVE_ENOPROC);
    cr_assert_eq(hive_join(h, bad[i], 0), HIVE_OK, "nothing to wait for");
  }
  cr_assert_eq(hive_join(h, pid, 10), HIVE_ETIMEDOUT, "the real one is alive");
  hive_stop(h);
}

Test(pids, pids_print_erlang_style) {
  char buf[HIVE_PID_STRLEN];
  hive_pid_t pid = ((hive_pid_t)0 << 56) | ((hive_pid_t)42 << 32) | 3;
  cr_assert_str_eq(hive_pid_format(pid, buf, sizeof(buf)), "<0.42.3>");
  pid = ((hive_pid_t)255 << 56) | ((hive_pid_t)0xffffff << 32) | 0xffffffffu;
  cr_assert_str_eq(hive_pid_format(pid, buf, sizeof(buf)), "<255.16777215.4294967295>");
  cr_assert_lt(strlen(buf) + 1, HIVE_PID_STRLEN);
  cr_assert_null(hive_pid_format(pid, NULL, 10));
}

Test(pids, node_id_is_part_of_every_pid) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.node_id = 9;
  hive_t *h = test_start_config(&cfg);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &record_b, NULL, 0, NULL, &pid), HIVE_OK);
  cr_assert_eq(HIVE_PID_NODE(pid), 9);
  cr_assert_eq(hive_send(h, pid, TAG_WORK, &pid, sizeof(pid)), HIVE_OK);
  TEST_WAIT(&handled);
  hive_stop(h);
}

/* Workers keep the slots of actors that ended on them; those cached slots
 * must never make a spawn fail while fewer than max_actors are alive. */
static int stop_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  return HIVE_STOP;
}
static const hive_behaviour_t stop_b = {.name = "stop", .handle = stop_handle};

Test(pids, slots_freed_on_workers_never_make_a_spawn_fail) {
  enum { MAX = 1024 }; /* a whole chunk of slots: no slack in the table */
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.max_actors = MAX;
  hive_t *h = test_start_config(&cfg);
  static hive_pid_t pids[MAX];
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < MAX; i++)
      cr_assert_eq(hive_spawn(h, &stop_b, NULL, 0, NULL, &pids[i]), HIVE_OK, "round %d, actor %d",
                   round, i);
    for (int i = 0; i < MAX; i++) /* each ends on a worker, which keeps its slot */
      cr_assert_eq(hive_send(h, pids[i], HIVE_TAG_USER, NULL, 0), HIVE_OK);
    for (int i = 0; i < MAX; i++)
      TEST_JOIN(h, pids[i]);
  }
  hive_stop(h);
}
