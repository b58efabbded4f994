/*
 * test_sup_exit_signals.c - which exit signals stop a supervisor, as in
 * OTP: its parent's (or one from outside any actor, which stands for the
 * parent of a top-level supervisor); a signal from any other actor is
 * ignored and logged.
 */
#include <hive/sup.h>
#include <pthread.h>
#include <string.h>

#include "supervised.h"

TestSuite(sup_signals, .init = log_setup, .timeout = 60);

static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;
static int strangers_logged;

static void count_strangers(void *user, int level, const char *line) {
  (void)user, (void)level;
  pthread_mutex_lock(&lines_lock);
  strangers_logged += strstr(line, "neither its parent nor a child, ignored") != NULL;
  pthread_mutex_unlock(&lines_lock);
}

static hive_t *start_logging(void) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.log_level = HIVE_LOG_WARNING;
  cfg.log_fn = count_strangers;
  strangers_logged = 0;
  return test_start_config(&cfg);
}

/* Sends the exit signal in its payload to the pid in its payload, from
 * inside an actor, then answers. */
typedef struct {
  hive_pid_t to;
  hive_reason_t reason;
} order_t;

static int stranger_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  order_t order;
  memcpy(&order, msg->data, sizeof(order));
  int rc = hive_exit(hive_node(ctx), order.to, &order.reason);
  hive_reply(ctx, msg, &rc, sizeof(rc));
  return HIVE_OK;
}
static const hive_behaviour_t stranger_b = {.name = "stranger", .handle = stranger_handle};

static void stranger_sends(hive_t *h, hive_pid_t stranger, hive_pid_t to, int kind) {
  order_t order = {.to = to, .reason = {.kind = kind}};
  void *reply;
  size_t len;
  cr_assert_eq(
      hive_ask(h, stranger, HIVE_TAG_USER, &order, sizeof(order), TEST_TIMEOUT_MS, &reply, &len),
      HIVE_OK);
  cr_assert_eq(*(int *)reply, HIVE_OK);
  free(reply);
}

static hive_pid_t one_worker_sup(hive_t *h) {
  static w_arg_t args[1] = {{"a", 0}};
  static hive_child_spec_t specs[1];
  w_specs(specs, args, 1, HIVE_RESTART_PERMANENT);
  return sup_with(h, HIVE_SUP_ONE_FOR_ONE, specs, 1);
}

Test(sup_signals, an_exit_signal_from_an_unrelated_actor_is_ignored_and_logged) {
  hive_t *h = start_logging();
  hive_pid_t sup = one_worker_sup(h), stranger;
  hive_pid_t a = child_pid(h, sup, "a");
  cr_assert_eq(hive_spawn(h, &stranger_b, NULL, 0, NULL, &stranger), HIVE_OK);
  stranger_sends(h, stranger, sup, HIVE_REASON_SHUTDOWN);
  stranger_sends(h, stranger, sup, HIVE_REASON_ERROR);
  /* The supervisor answers after it has handled both signals. */
  cr_assert_eq(child_pid(h, sup, "a"), a, "still running, the child untouched");
  pthread_mutex_lock(&lines_lock);
  cr_assert_eq(strangers_logged, 2);
  pthread_mutex_unlock(&lines_lock);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(sup_signals, an_exit_signal_from_outside_any_actor_stops_a_top_level_supervisor) {
  hive_t *h = start_logging();
  hive_pid_t sup = one_worker_sup(h);
  int mark = log_count();
  cr_assert_eq(hive_exit(h, sup, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN}), HIVE_OK);
  TEST_JOIN(h, sup);
  cr_assert_str_eq(log_since(mark), "stop:a", "its children stopped first");
  cr_assert_eq(strangers_logged, 0);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

/* A supervisor started from inside an actor has that actor as its
 * parent: the parent's exit signal stops it, a sibling's does not. */
typedef struct {
  hive_pid_t sup;
} parent_state_t;

static int parent_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  parent_state_t *p = state;
  hive_t *h = hive_node(ctx);
  int rc;
  if (msg->len == 0) { /* start the supervisor */
    static w_arg_t args[1] = {{"b", 0}};
    static hive_child_spec_t specs[1];
    w_specs(specs, args, 1, HIVE_RESTART_PERMANENT);
    hive_sup_spec_t spec;
    hive_sup_spec_init(&spec);
    spec.children = specs;
    spec.nchildren = 1;
    rc = hive_sup_start(h, &spec, &p->sup);
    hive_reply(ctx, msg, &p->sup, sizeof(p->sup));
    return rc;
  }
  rc = hive_exit(h, p->sup, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN});
  hive_reply(ctx, msg, &rc, sizeof(rc));
  return HIVE_OK;
}
static const hive_behaviour_t parent_b = {
    .name = "parent", .state_size = sizeof(parent_state_t), .handle = parent_handle};

Test(sup_signals, the_parent_actor_stops_its_supervisor_a_sibling_does_not) {
  hive_t *h = start_logging();
  hive_pid_t parent, stranger, sup;
  cr_assert_eq(hive_spawn(h, &parent_b, NULL, 0, NULL, &parent), HIVE_OK);
  cr_assert_eq(hive_spawn(h, &stranger_b, NULL, 0, NULL, &stranger), HIVE_OK);
  void *reply;
  size_t len;
  cr_assert_eq(hive_ask(h, parent, HIVE_TAG_USER, NULL, 0, TEST_TIMEOUT_MS, &reply, &len), HIVE_OK);
  memcpy(&sup, reply, sizeof(sup));
  free(reply);
  cr_assert_neq(child_pid(h, sup, "b"), 0);
  stranger_sends(h, stranger, sup, HIVE_REASON_SHUTDOWN);
  cr_assert_neq(child_pid(h, sup, "b"), 0, "a sibling's signal is ignored");
  cr_assert_eq(strangers_logged, 1);
  int mark = log_count();
  cr_assert_eq(hive_ask(h, parent, HIVE_TAG_USER, "x", 1, TEST_TIMEOUT_MS, &reply, &len), HIVE_OK);
  cr_assert_eq(*(int *)reply, HIVE_OK);
  free(reply);
  TEST_JOIN(h, sup);
  cr_assert_str_eq(log_since(mark), "stop:b");
  cr_assert_eq(hive_stop(h), HIVE_OK);
}
