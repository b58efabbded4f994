/*
 * supervised.h - workers for the supervisor tests. Each logs "start:ID"
 * from init and "stop:ID" from terminate, in one ordered log, and does what
 * its messages say.
 */
#ifndef HIVE_TEST_SUPERVISED_H
#define HIVE_TEST_SUPERVISED_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

#define W_FAIL_INIT 1u       /* init returns -40 */
#define W_IGNORE_SHUTDOWN 2u /* traps exits and ignores them */
#define W_STOP_INIT 4u       /* init returns HIVE_STOP (not started) */

enum { TAG_CRASH = HIVE_TAG_USER + 80, TAG_NORMAL, TAG_SHUTDOWN_SELF };

typedef struct {
  char id[24];
  unsigned flags;
} w_arg_t;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char events[4096][32];
static int nevents;
static sem_t event_sem;

static inline void log_setup(void) {
  pthread_mutex_lock(&log_lock);
  nevents = 0;
  pthread_mutex_unlock(&log_lock);
  sem_init(&event_sem, 0, 0);
}

static inline void log_event(const char *what, const char *id) {
  pthread_mutex_lock(&log_lock);
  if (nevents < 4096)
    snprintf(events[nevents++], sizeof(events[0]), "%s:%s", what, id);
  pthread_mutex_unlock(&log_lock);
  sem_post(&event_sem);
}

/* Waits until n events in all were logged. */
static inline void wait_events(int n) {
  for (;;) {
    pthread_mutex_lock(&log_lock);
    int have = nevents;
    pthread_mutex_unlock(&log_lock);
    if (have >= n)
      return;
    cr_assert(test_wait(&event_sem, TEST_TIMEOUT_MS), "only %d of %d events came", have, n);
  }
}

/* The log from index `from`, joined with spaces. */
static inline const char *log_since(int from) {
  static char joined[8192];
  joined[0] = '\0';
  pthread_mutex_lock(&log_lock);
  for (int i = from; i < nevents; i++) {
    strncat(joined, events[i], sizeof(joined) - strlen(joined) - 2);
    if (i + 1 < nevents)
      strcat(joined, " ");
  }
  pthread_mutex_unlock(&log_lock);
  return joined;
}

static inline int log_count(void) {
  pthread_mutex_lock(&log_lock);
  int n = nevents;
  pthread_mutex_unlock(&log_lock);
  return n;
}

static inline int w_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  w_arg_t *w = state;
  memcpy(w, arg, sizeof(*w));
  if (w->flags & W_FAIL_INIT) {
    log_event("fail", w->id);
    return -40;
  }
  if (w->flags & W_STOP_INIT)
    return HIVE_STOP;
  if (w->flags & W_IGNORE_SHUTDOWN)
    hive_trap_exit(ctx, true);
  log_event("start", w->id);
  return HIVE_OK;
}

static inline int w_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  switch (msg->tag) {
  case TAG_CRASH:
    return -41;
  case TAG_NORMAL:
    return HIVE_STOP;
  case TAG_SHUTDOWN_SELF:
    return hive_exit_self(ctx, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN});
  }
  return HIVE_OK; /* including trapped EXIT messages: ignored */
}

static inline void w_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *r) {
  (void)ctx, (void)r;
  log_event("stop", ((w_arg_t *)state)->id);
}

static const hive_behaviour_t w_b = {.name = "worker",
                                     .state_size = sizeof(w_arg_t),
                                     .init = w_init,
                                     .handle = w_handle,
                                     .terminate = w_terminate};

/* Child specs over a table of args (which must outlive nothing: copied). */
static inline void w_specs(hive_child_spec_t *specs, w_arg_t *args, int n, int restart) {
  for (int i = 0; i < n; i++) {
    hive_child_spec_init(&specs[i]);
    specs[i].id = args[i].id;
    specs[i].behaviour = &w_b;
    specs[i].arg = &args[i];
    specs[i].arg_len = sizeof(args[i]);
    specs[i].restart = restart;
  }
}

/* A supervisor of strategy over specs, allowing intensity restarts in
 * period_s seconds. */
static inline hive_pid_t sup_with_intensity(hive_t *h, int strategy, hive_child_spec_t *specs,
                                            size_t n, unsigned intensity, unsigned period_s) {
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.strategy = strategy;
  spec.intensity = intensity;
  spec.period_s = period_s;
  spec.children = specs;
  spec.nchildren = n;
  hive_pid_t sup;
  int rc = hive_sup_start(h, &spec, &sup);
  cr_assert_eq(rc, HIVE_OK, "hive_sup_start: %s", hive_strerror(rc));
  return sup;
}

/* A supervisor of strategy over specs, 100 restarts in 1 s allowed. */
static inline hive_pid_t sup_with(hive_t *h, int strategy, hive_child_spec_t *specs, size_t n) {
  return sup_with_intensity(h, strategy, specs, n, 100, 1);
}

/* The pid of child id under sup (0 if not running). */
static inline hive_pid_t child_pid(hive_t *h, hive_pid_t sup, const char *id) {
  hive_child_info_t info[64];
  size_t n;
  cr_assert_eq(hive_sup_which_children(h, sup, info, 64, &n), HIVE_OK);
  for (size_t i = 0; i < n && i < 64; i++)
    if (strcmp(info[i].id, id) == 0)
      return info[i].pid;
  return 0;
}

#endif /* HIVE_TEST_SUPERVISED_H */
