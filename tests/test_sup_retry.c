/*
 * test_sup_retry.c - a restart that fails is tried again only after the
 * supervisor has let the node run (OTP's try_again_restart), and each try
 * counts toward the restart intensity.
 *
 * The case that needs it: a child supervisor is killed while its workers
 * hold registered names. Its restart fails with HIVE_EEXIST until the old
 * workers have run their exit, which they can only do once the parent
 * gives its worker thread back.
 */
#include <hive/sup.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "supervised.h"

TestSuite(retry, .init = log_setup, .timeout = 240);

/* Waits until the log since mark holds event. */
static void wait_for_event(int mark, const char *event) {
  for (;;) {
    int seen = log_count();
    if (strstr(log_since(mark), event) != NULL)
      return;
    wait_events(seen + 1);
  }
}

/* ---- a tree whose child supervisors' workers hold names --------------- */

#define MAX_INNER 4
#define MAX_NAMED 8

typedef struct {
  int ninner, nworkers;
  w_arg_t args[MAX_INNER][MAX_NAMED];
  char worker_names[MAX_INNER][MAX_NAMED][sizeof(((w_arg_t *)0)->id)];
  char inner_ids[MAX_INNER][16];
  hive_spawn_opts_t worker_opts[MAX_INNER][MAX_NAMED];
  hive_child_spec_t workers[MAX_INNER][MAX_NAMED];
  hive_sup_spec_t inner[MAX_INNER];
  hive_spawn_opts_t inner_opts[MAX_INNER];
  hive_child_spec_t inner_children[MAX_INNER];
} named_tree_t;

/* A top supervisor (one_for_one, intensity in period_s) over ninner child
 * supervisors "inner<i>" (registered under that name), each over nworkers
 * workers registered as "w<i>.<k>". */
static hive_pid_t named_tree_start(hive_t *h, named_tree_t *t, int ninner, int nworkers,
                                   unsigned intensity, unsigned period_s) {
  t->ninner = ninner;
  t->nworkers = nworkers;
  for (int i = 0; i < ninner; i++) {
    for (int k = 0; k < nworkers; k++) {
      /* i and k are below MAX_INNER and MAX_NAMED: one digit each */
      snprintf(t->args[i][k].id, sizeof(t->args[i][k].id), "w%u.%u", (unsigned)i % 10u,
               (unsigned)k % 10u);
      memcpy(t->worker_names[i][k], t->args[i][k].id, sizeof(t->worker_names[i][k]));
      hive_spawn_opts_init(&t->worker_opts[i][k]);
      t->worker_opts[i][k].name = t->worker_names[i][k];
      t->worker_opts[i][k].mailbox = HIVE_MAILBOX_REJECT; /* senders flood them */
      t->worker_opts[i][k].capacity = 1000;
    }
    w_specs(t->workers[i], t->args[i], nworkers, HIVE_RESTART_PERMANENT);
    for (int k = 0; k < nworkers; k++)
      t->workers[i][k].opts = &t->worker_opts[i][k];
    hive_sup_spec_init(&t->inner[i]);
    t->inner[i].intensity = intensity;
    t->inner[i].period_s = period_s;
    t->inner[i].children = t->workers[i];
    t->inner[i].nchildren = (size_t)nworkers;
    snprintf(t->inner_ids[i], sizeof(t->inner_ids[i]), "inner%u", (unsigned)i % 10u);
    hive_spawn_opts_init(&t->inner_opts[i]);
    t->inner_opts[i].name = t->inner_ids[i];
    hive_child_spec_init(&t->inner_children[i]);
    t->inner_children[i].id = t->inner_ids[i];
    t->inner_children[i].behaviour = hive_sup_behaviour();
    t->inner_children[i].arg = &t->inner[i];
    t->inner_children[i].arg_len = sizeof(t->inner[i]);
    t->inner_children[i].type = HIVE_CHILD_SUPERVISOR;
    t->inner_children[i].opts = &t->inner_opts[i];
  }
  hive_sup_spec_t top;
  hive_sup_spec_init(&top);
  top.intensity = intensity;
  top.period_s = period_s;
  top.children = t->inner_children;
  top.nchildren = (size_t)ninner;
  hive_pid_t pid;
  cr_assert_eq(hive_sup_start(h, &top, &pid), HIVE_OK);
  return pid;
}

/* True if every child of the tree runs and every name names it. */
static bool named_tree_whole(hive_t *h, const named_tree_t *t, hive_pid_t top) {
  hive_child_info_t info[MAX_NAMED];
  size_t n;
  for (int i = 0; i < t->ninner; i++) {
    hive_pid_t inner = child_pid(h, top, t->inner_ids[i]);
    if (inner == 0 || hive_whereis(h, t->inner_ids[i]) != inner)
      return false;
    if (hive_sup_which_children(h, inner, info, MAX_NAMED, &n) != HIVE_OK ||
        n != (size_t)t->nworkers)
      return false;
    for (int k = 0; k < t->nworkers; k++)
      if (info[k].pid == 0 || hive_whereis(h, t->worker_names[i][k]) != info[k].pid)
        return false;
  }
  return true;
}

/* 20 kills in a row of a child supervisor whose three workers hold names:
 * each time it and its workers come back under the same names, and the
 * parent (intensity 50 in 5 s) never gives up. */
static void kill_inner_twenty_times(unsigned workers) {
  hive_t *h = test_start(workers);
  static named_tree_t tree;
  hive_pid_t top = named_tree_start(h, &tree, 1, 3, 50, 5);
  for (int round = 0; round < 20; round++) {
    hive_pid_t inner = child_pid(h, top, "inner0");
    cr_assert_neq(inner, 0, "round %d: inner is running", round);
    int mark = log_count();
    cr_assert_eq(hive_kill(h, inner), HIVE_OK);
    TEST_JOIN(h, inner);
    /* A try starts the workers in order until a name is still taken, so
     * only the one that works starts the last. */
    wait_for_event(mark, "start:w0.2");
    cr_assert_eq(hive_actor_stats(h, top, &(hive_actor_stats_t){0}), HIVE_OK,
                 "round %d: the parent gave up", round);
    hive_pid_t again = child_pid(h, top, "inner0");
    cr_assert(again != 0 && again != inner, "round %d: inner was not restarted", round);
    cr_assert(named_tree_whole(h, &tree, top), "round %d: a worker or name is missing", round);
  }
  hive_child_info_t info[1];
  size_t n;
  cr_assert_eq(hive_sup_which_children(h, top, info, 1, &n), HIVE_OK);
  cr_assert_geq(info[0].restarts, 20);
  cr_assert_leq(info[0].restarts, 50, "the tries stayed within the intensity");
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(retry, killed_child_supervisor_with_named_workers_comes_back_one_worker) {
  kill_inner_twenty_times(1);
}

Test(retry, killed_child_supervisor_with_named_workers_comes_back_default_workers) {
  kill_inner_twenty_times(0);
}

/* ---- a child whose restarts fail -------------------------------------- */

static atomic_int fail_next; /* inits that fail from now on; -1: all */
static atomic_int inits_failed;

static int flaky_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  int left = atomic_load(&fail_next);
  if (left != 0) {
    if (left > 0)
      atomic_fetch_sub(&fail_next, 1);
    atomic_fetch_add(&inits_failed, 1);
    return -40;
  }
  return w_init(ctx, state, arg, len);
}

static const hive_behaviour_t flaky_b = {.name = "flaky",
                                         .state_size = sizeof(w_arg_t),
                                         .init = flaky_init,
                                         .handle = w_handle,
                                         .terminate = w_terminate};

/* Records the reason of one monitored actor's end. */
static sem_t down_sem;
static hive_reason_t down_reason;

static int downwatch_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)state, (void)len;
  uint64_t ref;
  return hive_monitor(ctx, *(const hive_pid_t *)arg, &ref);
}
static int downwatch_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  if (msg->tag != HIVE_TAG_DOWN)
    return HIVE_OK;
  hive_exit_info(msg, &(hive_pid_t){0}, &down_reason);
  down_reason.text = NULL;
  sem_post(&down_sem);
  return HIVE_STOP;
}
static const hive_behaviour_t downwatch_b = {
    .name = "downwatch", .init = downwatch_init, .handle = downwatch_handle};

/* A supervisor of the given strategy (intensity 5 in 60 s) over "a", the
 * flaky "b" and "c". */
static hive_pid_t flaky_sup(hive_t *h, int strategy) {
  static w_arg_t args[3] = {{"a", 0}, {"b", 0}, {"c", 0}};
  static hive_child_spec_t specs[3];
  w_specs(specs, args, 3, HIVE_RESTART_PERMANENT);
  specs[1].behaviour = &flaky_b;
  atomic_store(&fail_next, 0);
  atomic_store(&inits_failed, 0);
  return sup_with_intensity(h, strategy, specs, 3, 5, 60);
}

/* b's restarts always fail: the supervisor tries exactly `intensity`
 * times, then gives up with reason shutdown. */
static void never_starting_child_exhausts_intensity(int strategy) {
  sem_init(&down_sem, 0, 0);
  hive_t *h = test_start(0);
  hive_pid_t sup = flaky_sup(h, strategy);
  hive_pid_t watch;
  cr_assert_eq(hive_spawn(h, &downwatch_b, &sup, sizeof(sup), NULL, &watch), HIVE_OK);
  atomic_store(&fail_next, -1);
  cr_assert_eq(hive_send(h, child_pid(h, sup, "b"), TAG_CRASH, NULL, 0), HIVE_OK);
  TEST_WAIT(&down_sem);
  cr_assert_eq(down_reason.kind, HIVE_REASON_SHUTDOWN);
  cr_assert_eq(atomic_load(&inits_failed), 5, "one try per restart the intensity allows");
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(retry, never_starting_child_exhausts_intensity_one_for_one) {
  never_starting_child_exhausts_intensity(HIVE_SUP_ONE_FOR_ONE);
}
Test(retry, never_starting_child_exhausts_intensity_one_for_all) {
  never_starting_child_exhausts_intensity(HIVE_SUP_ONE_FOR_ALL);
}
Test(retry, never_starting_child_exhausts_intensity_rest_for_one) {
  never_starting_child_exhausts_intensity(HIVE_SUP_REST_FOR_ONE);
}

/* b's next two restarts fail: the third try brings it back, and each try
 * was counted as a restart. */
static void child_failing_twice_comes_back(int strategy) {
  hive_t *h = test_start(0);
  hive_pid_t sup = flaky_sup(h, strategy);
  hive_pid_t b = child_pid(h, sup, "b");
  int mark = log_count();
  atomic_store(&fail_next, 2);
  cr_assert_eq(hive_send(h, b, TAG_CRASH, NULL, 0), HIVE_OK);
  TEST_JOIN(h, b);
  wait_for_event(mark, "start:b");
  cr_assert_eq(atomic_load(&inits_failed), 2);
  hive_child_info_t info[3];
  size_t n;
  cr_assert_eq(hive_sup_which_children(h, sup, info, 3, &n), HIVE_OK);
  cr_assert_eq(n, 3);
  cr_assert_eq(info[1].restarts, 3, "two failed tries and the one that worked");
  cr_assert(info[1].pid != 0 && info[1].pid != b);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(retry, child_failing_twice_comes_back_one_for_one) {
  child_failing_twice_comes_back(HIVE_SUP_ONE_FOR_ONE);
}
Test(retry, child_failing_twice_comes_back_one_for_all) {
  child_failing_twice_comes_back(HIVE_SUP_ONE_FOR_ALL);
}
Test(retry, child_failing_twice_comes_back_rest_for_one) {
  child_failing_twice_comes_back(HIVE_SUP_REST_FOR_ONE);
}

/* ---- random kills under load ------------------------------------------ */

typedef struct {
  hive_t *h;
  const named_tree_t *tree;
  atomic_bool stop;
  atomic_long kills, sent;
} chaos_t;

static void *chaos_killer(void *arg) {
  chaos_t *c = arg;
  unsigned seed = 12345;
  while (!atomic_load(&c->stop)) {
    int i = rand_r(&seed) % c->tree->ninner;
    int k = rand_r(&seed) % (c->tree->nworkers + 1); /* nworkers: the child supervisor */
    const char *name = k == c->tree->nworkers ? c->tree->inner_ids[i] : c->tree->worker_names[i][k];
    hive_pid_t pid = hive_whereis(c->h, name);
    if (pid != 0 && hive_kill(c->h, pid) == HIVE_OK)
      atomic_fetch_add(&c->kills, 1);
    nanosleep(&(struct timespec){0, (long)(1 + rand_r(&seed) % 4) * 1000000L}, NULL); /* pacing */
  }
  return NULL;
}

static void *chaos_sender(void *arg) {
  chaos_t *c = arg;
  unsigned seed = (unsigned)(uintptr_t)&seed;
  while (!atomic_load(&c->stop)) {
    int i = rand_r(&seed) % c->tree->ninner, k = rand_r(&seed) % c->tree->nworkers;
    hive_pid_t pid = hive_whereis(c->h, c->tree->worker_names[i][k]);
    if (pid != 0 && hive_send(c->h, pid, HIVE_TAG_USER, "work", 4) == HIVE_OK)
      atomic_fetch_add(&c->sent, 1);
  }
  return NULL;
}

/* 4 child supervisors of 8 named workers each; a thread kills a random
 * worker or child supervisor every 1-4 ms while two threads send through
 * the names as fast as the workers' bounded mailboxes take it, for at
 * least 10 s and until 1 000 kills (a loaded machine makes fewer in 10 s:
 * the kills, not the time, are what the test needs). The top supervisor
 * never dies, and afterwards every child runs again under its name. */
static void random_kills_under_load(unsigned workers) {
  hive_t *h = test_start(workers);
  static named_tree_t tree;
  /* 10 000 in 1 s: a kill costs a restart and a try or two; under a
   * loaded CI machine a dying actor's thread can be off its core for tens
   * of ms, and the tries go on meanwhile (each after a yield). Without the
   * yield the tries are microseconds apart and this gives up at once. */
  hive_pid_t top = named_tree_start(h, &tree, 4, 8, 10000, 1);
  chaos_t c = {.h = h, .tree = &tree};
  pthread_t killer, senders[2];
  pthread_create(&killer, NULL, chaos_killer, &c);
  for (int i = 0; i < 2; i++)
    pthread_create(&senders[i], NULL, chaos_sender, &c);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (test_elapsed_ns(&t0) < 10000000000L || atomic_load(&c.kills) < 1000) {
    cr_assert_lt(test_elapsed_ns(&t0), 2 * TEST_TIMEOUT_MS * 1000000L, "only %ld kills",
                 atomic_load(&c.kills));
    /* A round trip through the top supervisor: it is alive and answers. */
    hive_child_counts_t counts;
    cr_assert_eq(hive_sup_count_children(h, top, &counts), HIVE_OK, "the top supervisor died");
    cr_assert_eq(counts.specs, 4);
    nanosleep(&(struct timespec){0, 100000000L}, NULL); /* checks 10 times a second */
  }
  atomic_store(&c.stop, true);
  pthread_join(killer, NULL);
  for (int i = 0; i < 2; i++)
    pthread_join(senders[i], NULL);
  cr_assert_gt(atomic_load(&c.sent), 0);
  /* The last kills may still be settling: ask again (each a round trip)
   * until the tree is whole, for up to the usual timeout. */
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!named_tree_whole(h, &tree, top)) {
    cr_assert_lt(test_elapsed_ns(&t0), TEST_TIMEOUT_MS * 1000000L, "the tree never became whole");
    nanosleep(&(struct timespec){0, 1000000L}, NULL);
  }
  cr_assert_eq(hive_actor_stats(h, top, &(hive_actor_stats_t){0}), HIVE_OK);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(retry, random_kills_under_load_never_bring_down_the_top_default_workers) {
  random_kills_under_load(0);
}

Test(retry, random_kills_under_load_never_bring_down_the_top_one_worker) {
  random_kills_under_load(1);
}
