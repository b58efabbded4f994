/*
 * test_watchdog.c - handler calls past the budget are reported once per
 * call: in the actor's statistics, in the log, and to the system monitor.
 * Also the logger itself: levels, redirection, crash reports, reasons.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

TestSuite(watchdog, .timeout = 120);

/* Log lines, captured. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_lines[64][512];
static int nlog;
static void capture(void *user, int level, const char *line) {
  (void)user, (void)level;
  pthread_mutex_lock(&log_lock);
  if (nlog < 64)
    snprintf(log_lines[nlog++], sizeof(log_lines[0]), "%s", line);
  pthread_mutex_unlock(&log_lock);
}
static int count_lines(const char *needle) {
  int n = 0;
  pthread_mutex_lock(&log_lock);
  for (int i = 0; i < nlog; i++)
    n += strstr(log_lines[i], needle) != NULL;
  pthread_mutex_unlock(&log_lock);
  return n;
}

static hive_t *start_watched(unsigned budget_ms, int level) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.handler_budget_ms = budget_ms;
  cfg.log_fn = capture;
  cfg.log_level = level;
  return test_start_config(&cfg);
}

/* Busy for the number of ms in its payload. */
static sem_t busy_done;
static int busy_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  unsigned ms;
  memcpy(&ms, msg->data, sizeof(ms));
  uint64_t until = test_now_ns() + (uint64_t)ms * 1000000u;
  while (test_now_ns() < until) {
  }
  sem_post(&busy_done);
  return HIVE_OK;
}
static const hive_behaviour_t busy_b = {.name = "busy", .handle = busy_handle};

/* The system monitor: records LONG_HANDLER reports. */
static atomic_int reports;
static hive_pid_t reported_pid;
static uint64_t reported_us;
static char reported_name[32];
static sem_t report_sem;
static int sysmon_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  if (msg->tag != HIVE_TAG_LONG_HANDLER)
    return HIVE_OK;
  uint64_t pid, us;
  const char *name;
  size_t len;
  if (hive_unpack(msg->data, msg->len, NULL, "uus", &pid, &us, &name, &len) == HIVE_OK) {
    reported_pid = pid;
    reported_us = us;
    snprintf(reported_name, sizeof(reported_name), "%.*s", (int)len, name);
    atomic_fetch_add(&reports, 1);
  }
  sem_post(&report_sem);
  return HIVE_OK;
}
static const hive_behaviour_t sysmon_b = {.name = "sysmon", .handle = sysmon_handle};

Test(watchdog, a_handler_past_its_budget_is_reported_once) {
  sem_init(&busy_done, 0, 0);
  sem_init(&report_sem, 0, 0);
  hive_t *h = start_watched(50, HIVE_LOG_INFO);
  hive_pid_t sysmon, busy;
  cr_assert_eq(hive_spawn(h, &sysmon_b, NULL, 0, NULL, &sysmon), HIVE_OK);
  cr_assert_eq(hive_system_monitor(h, sysmon), HIVE_OK);
  cr_assert_eq(hive_spawn(h, &busy_b, NULL, 0, NULL, &busy), HIVE_OK);
  unsigned ms = 300; /* six budgets: still one report */
  cr_assert_eq(hive_send(h, busy, HIVE_TAG_USER, &ms, sizeof(ms)), HIVE_OK);
  TEST_WAIT(&busy_done);
  TEST_WAIT(&report_sem);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, busy, &s), HIVE_OK);
  cr_assert_eq(s.long_handlers, 1, "once per call, however long it runs");
  cr_assert_eq(atomic_load(&reports), 1);
  cr_assert_eq(reported_pid, busy);
  cr_assert_str_eq(reported_name, "busy");
  cr_assert_geq(reported_us, 50000u, "reported after the budget, not before");
  cr_assert_eq(count_lines("long handler"), 1);
  cr_assert_eq(count_lines("busy"), 1);
  /* A second long call is reported again. */
  cr_assert_eq(hive_send(h, busy, HIVE_TAG_USER, &ms, sizeof(ms)), HIVE_OK);
  TEST_WAIT(&busy_done);
  TEST_WAIT(&report_sem);
  cr_assert_eq(hive_actor_stats(h, busy, &s), HIVE_OK);
  cr_assert_eq(s.long_handlers, 2);
  hive_stop(h);
}

Test(watchdog, short_handlers_and_a_zero_budget_are_never_reported) {
  sem_init(&busy_done, 0, 0);
  /* A budget 200 times the calls: the watchdog reads wall-clock time, and
   * on a loaded machine a 5 ms call can be off its core for a while (a
   * 100 ms budget was exceeded once under two CPU hogs and a soak). */
  hive_t *h = start_watched(1000, HIVE_LOG_INFO);
  hive_pid_t busy;
  cr_assert_eq(hive_spawn(h, &busy_b, NULL, 0, NULL, &busy), HIVE_OK);
  unsigned ms = 5;
  for (int i = 0; i < 40; i++) /* 200 ms of 5 ms calls */
    cr_assert_eq(hive_send(h, busy, HIVE_TAG_USER, &ms, sizeof(ms)), HIVE_OK);
  for (int i = 0; i < 40; i++)
    TEST_WAIT(&busy_done);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, busy, &s), HIVE_OK);
  cr_assert_eq(s.long_handlers, 0);
  hive_stop(h);

  h = start_watched(0, HIVE_LOG_INFO); /* off */
  cr_assert_eq(hive_spawn(h, &busy_b, NULL, 0, NULL, &busy), HIVE_OK);
  ms = 200;
  cr_assert_eq(hive_send(h, busy, HIVE_TAG_USER, &ms, sizeof(ms)), HIVE_OK);
  TEST_WAIT(&busy_done);
  cr_assert_eq(hive_actor_stats(h, busy, &s), HIVE_OK);
  cr_assert_eq(s.long_handlers, 0);
  cr_assert_eq(count_lines("long handler"), 0);
  hive_stop(h);
}

/* ---- the logger ------------------------------------------------------------ */

static int failing_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  return HIVE_ENOMEM;
}
static const hive_behaviour_t failing_b = {.name = "failing", .handle = failing_handle};

Test(watchdog, a_crash_report_names_actor_behaviour_reason_and_last_tag) {
  hive_t *h = start_watched(1000, HIVE_LOG_INFO);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &failing_b, NULL, 0, NULL, &pid), HIVE_OK);
  cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER + 7, NULL, 0), HIVE_OK);
  TEST_JOIN(h, pid);
  char text[HIVE_PID_STRLEN];
  hive_pid_format(pid, text, sizeof(text));
  cr_assert_eq(count_lines("crash report"), 1);
  cr_assert_eq(count_lines(text), 1);
  cr_assert_eq(count_lines("behaviour failing"), 1);
  cr_assert_eq(count_lines("error -2 (out of memory)"), 1);
  cr_assert_eq(count_lines("last message tag 71"), 1);
  /* Killed actors failed nothing themselves: no report. */
  cr_assert_eq(hive_spawn(h, &failing_b, NULL, 0, NULL, &pid), HIVE_OK);
  cr_assert_eq(hive_kill(h, pid), HIVE_OK);
  TEST_JOIN(h, pid);
  cr_assert_eq(count_lines("crash report"), 1);
  hive_stop(h);
}

/* Stops at a checkpoint, then returns an error: the kill decided its end. */
static sem_t in_loop;
static int stopped_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state, (void)msg;
  sem_post(&in_loop);
  while (!hive_checkpoint(ctx)) {
  }
  return HIVE_EINVAL;
}
static const hive_behaviour_t stopped_b = {.name = "stopped", .handle = stopped_handle};

Test(watchdog, an_actor_killed_first_gets_no_crash_report_whatever_it_returns) {
  sem_init(&in_loop, 0, 0);
  hive_t *h = start_watched(1000, HIVE_LOG_INFO);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &stopped_b, NULL, 0, NULL, &pid), HIVE_OK);
  cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER, NULL, 0), HIVE_OK);
  TEST_WAIT(&in_loop);
  cr_assert_eq(hive_kill(h, pid), HIVE_OK);
  TEST_JOIN(h, pid);
  cr_assert_eq(count_lines("crash report"), 0, "the kill ended it, not its error");
  hive_stop(h);
}

Test(watchdog, log_levels_filter) {
  hive_t *h = start_watched(1000, HIVE_LOG_WARNING);
  hive_log(h, HIVE_LOG_INFO, "quiet %d", 1);
  hive_log(h, HIVE_LOG_WARNING, "loud %d", 2);
  hive_log(h, HIVE_LOG_ERROR, "louder %s", "3");
  cr_assert_eq(count_lines("quiet"), 0);
  cr_assert_eq(count_lines("loud 2"), 1);
  cr_assert_eq(count_lines("louder 3"), 1);
  hive_stop(h);
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.log_level = 99;
  hive_t *bad;
  cr_assert_eq(hive_start(&bad, &cfg), HIVE_EINVAL);
}

Test(watchdog, reasons_print) {
  char buf[128];
  struct {
    hive_reason_t r;
    const char *text;
  } cases[] = {
      {{.kind = HIVE_REASON_NORMAL}, "normal"},
      {{.kind = HIVE_REASON_SHUTDOWN}, "shutdown"},
      {{.kind = HIVE_REASON_KILL}, "kill"},
      {{.kind = HIVE_REASON_ERROR, .code = -5}, "error -5 (timed out)"},
      {{.kind = HIVE_REASON_ERROR, .code = -5, .text = "db down"}, "error -5 (db down)"},
      {{.kind = HIVE_REASON_CRASH, .code = SIGSEGV}, "crash SIGSEGV"},
      {{.kind = HIVE_REASON_TIMEOUT}, "timeout"},
      {{.kind = HIVE_REASON_NOPROC}, "noproc"},
      {{.kind = HIVE_REASON_NOCONNECTION}, "noconnection"},
      {{.kind = HIVE_REASON_SHUTDOWN, .text = "node going down"}, "shutdown (node going down)"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int n = hive_reason_format(&cases[i].r, buf, sizeof(buf));
    cr_assert_str_eq(buf, cases[i].text);
    cr_assert_eq(n, (int)strlen(cases[i].text));
  }
  cr_assert_eq(hive_reason_format(&cases[0].r, NULL, 0), 6, "the length needed, like snprintf");
  cr_assert_eq(hive_reason_format(NULL, buf, sizeof(buf)), HIVE_EINVAL);
  cr_assert_eq(hive_system_monitor(NULL, 0), HIVE_EINVAL);
}
