/*
 * test_blocking.c - actors spawned HIVE_SPAWN_BLOCKING run on their own pool:
 * handlers that sleep there never stall the workers.
 *
 * A pingpong pair runs throughout; its pace is its round count divided by
 * the length of a window. The window without sleepers is a plain sleep of
 * the test thread; the windows with sleepers last until 8 sleepers have
 * slept 200 ms twice each.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "helpers.h"

TestSuite(blocking, .timeout = 120);

static atomic_long rounds;
static atomic_bool stop_chat;
static hive_pid_t pair[2];
static sem_t slept;

static int chat_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state, (void)msg;
  atomic_fetch_add_explicit(&rounds, 1, memory_order_relaxed);
  if (atomic_load_explicit(&stop_chat, memory_order_relaxed))
    return HIVE_OK;
  return hive_send(hive_node(ctx), pair[pair[0] == hive_self(ctx)], HIVE_TAG_USER, NULL, 0);
}
static const hive_behaviour_t chat_b = {.name = "chat", .handle = chat_handle};

static int sleeper_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  nanosleep(&(struct timespec){0, 200000000}, NULL); /* a blocking call */
  sem_post(&slept);
  return HIVE_OK;
}
static const hive_behaviour_t sleeper_b = {.name = "sleeper", .handle = sleeper_handle};

/* Round trips per second while 8 sleepers sleep twice each (spawned with
 * flags), or while the test thread sleeps 400 ms (sleepers < 0). */
static double pace(hive_t *h, int sleepers, uint32_t flags) {
  long r0 = atomic_load(&rounds);
  double t0 = test_now_s();
  if (sleepers < 0) {
    nanosleep(&(struct timespec){0, 400000000}, NULL);
  } else {
    hive_spawn_opts_t opts;
    hive_spawn_opts_init(&opts);
    opts.flags = flags;
    for (int i = 0; i < sleepers; i++) {
      hive_pid_t pid;
      cr_assert_eq(hive_spawn(h, &sleeper_b, NULL, 0, &opts, &pid), HIVE_OK);
      cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER, NULL, 0), HIVE_OK);
      cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER, NULL, 0), HIVE_OK);
    }
    for (int i = 0; i < 2 * sleepers; i++)
      TEST_WAIT(&slept);
  }
  return (double)(atomic_load(&rounds) - r0) / (test_now_s() - t0);
}

Test(blocking, sleeping_blocking_actors_do_not_slow_the_workers) {
  sem_init(&slept, 0, 0);
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = 2;
  cfg.blocking_workers = 4;
  hive_t *h = test_start_config(&cfg);
  cr_assert_eq(hive_spawn(h, &chat_b, NULL, 0, NULL, &pair[0]), HIVE_OK);
  cr_assert_eq(hive_spawn(h, &chat_b, NULL, 0, NULL, &pair[1]), HIVE_OK);
  cr_assert_eq(hive_send(h, pair[0], HIVE_TAG_USER, NULL, 0), HIVE_OK);
  while (atomic_load(&rounds) < 100000)
    sched_yield();

  double alone = pace(h, -1, 0);
  double with_pool = pace(h, 8, HIVE_SPAWN_BLOCKING);
  double on_workers = pace(h, 8, 0); /* the control: what the flag prevents */
  atomic_store(&stop_chat, true);
  hive_stop(h);
  cr_log_info("pingpong messages/s: alone %.0f, blocking pool %.0f, sleepers on workers %.0f",
              alone, with_pool, on_workers);
  cr_assert_gt(with_pool, 0.5 * alone, "pace %.0f with sleeping blocking actors, %.0f without",
               with_pool, alone);
  cr_assert_lt(on_workers, 0.5 * alone,
               "the control should stall: sleepers on the workers left a pace of %.0f", on_workers);
}

static hive_pid_t echo_pid;
static atomic_int asked_rc = 1, self_ask_rc = 1;
static int echo_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  return hive_reply(ctx, msg, msg->data, msg->len);
}
static const hive_behaviour_t echo_b = {.name = "echo", .handle = echo_handle};
static int asking_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state, (void)msg;
  void *reply;
  size_t len;
  int rc = hive_ask(hive_node(ctx), echo_pid, HIVE_TAG_USER, "hi", 3, 10000, &reply, &len);
  if (rc == HIVE_OK)
    free(reply);
  atomic_store(&asked_rc, rc);
  atomic_store(&self_ask_rc,
               hive_ask(hive_node(ctx), hive_self(ctx), HIVE_TAG_USER, NULL, 0, 10, &reply, &len));
  sem_post(&slept);
  return HIVE_OK;
}
static const hive_behaviour_t asking_b = {.name = "asking", .handle = asking_handle};

Test(blocking, a_blocking_actor_may_ask_but_not_itself) {
  sem_init(&slept, 0, 0);
  hive_t *h = test_start(0);
  cr_assert_eq(hive_spawn(h, &echo_b, NULL, 0, NULL, &echo_pid), HIVE_OK);
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.flags = HIVE_SPAWN_BLOCKING;
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &asking_b, NULL, 0, &opts, &pid), HIVE_OK);
  cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER, NULL, 0), HIVE_OK);
  TEST_WAIT(&slept);
  cr_assert_eq(atomic_load(&asked_rc), HIVE_OK);
  cr_assert_eq(atomic_load(&self_ask_rc), HIVE_EDEADLK);
  hive_stop(h);
}

Test(blocking, blocking_actors_talk_to_normal_ones) {
  /* A blocking actor replies to asks and sends to normal actors. */
  hive_t *h = test_start(0);
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.flags = HIVE_SPAWN_BLOCKING;
  sem_init(&slept, 0, 0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &sleeper_b, NULL, 0, &opts, &pid), HIVE_OK);
  hive_actor_stats_t s;
  for (int i = 0; i < 3; i++)
    cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER, NULL, 0), HIVE_OK);
  for (int i = 0; i < 3; i++)
    TEST_WAIT(&slept);
  cr_assert_eq(hive_actor_stats(h, pid, &s), HIVE_OK);
  cr_assert_eq(s.processed, 3);
  cr_assert_eq(hive_stop(h), HIVE_OK, "stopping ends blocking actors too");
}
