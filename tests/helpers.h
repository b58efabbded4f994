/*
 * helpers.h - small synchronisation helpers for the Criterion tests.
 *
 * Tests wait on semaphores that actors post, and on hive_join, always with
 * generous timeouts, never on sleeps.
 */
#ifndef HIVE_TEST_HELPERS_H
#define HIVE_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <hive/hive.h>
#include <semaphore.h>
#include <time.h>

#define TEST_TIMEOUT_MS 60000

static inline hive_t *test_start_config(const hive_config_t *cfg) {
  hive_t *h = NULL;
  int rc = hive_start(&h, cfg);
  cr_assert_eq(rc, HIVE_OK, "hive_start: %s", hive_strerror(rc));
  return h;
}

/* Tests log nothing unless they ask: crash reports of actors a test ends
 * on purpose are noise. */
static inline hive_t *test_start(unsigned workers) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = workers;
  cfg.log_level = HIVE_LOG_NONE;
  return test_start_config(&cfg);
}

/* Waits for sem; false on timeout. */
static inline bool test_wait(sem_t *sem, int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_nsec -= 1000000000L;
    until.tv_sec++;
  }
  int rc;
  while ((rc = sem_timedwait(sem, &until)) != 0 && errno == EINTR) {
  }
  return rc == 0;
}

#define TEST_WAIT(sem) cr_assert(test_wait((sem), TEST_TIMEOUT_MS), "timed out waiting on " #sem)
#define TEST_JOIN(h, pid)                                                                          \
  cr_assert_eq(hive_join((h), (pid), TEST_TIMEOUT_MS), HIVE_OK, "actor did not end in time")

/* CLOCK_MONOTONIC now, in nanoseconds and in seconds: for timing what a
 * test measures (a timer's lateness, a handler's length), never for
 * waiting on the runtime. */
static inline uint64_t test_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static inline double test_now_s(void) {
  return (double)test_now_ns() / 1e9;
}

/* Nanoseconds of CLOCK_MONOTONIC since t0: for handlers that stand in for
 * long computations, never for waiting on the runtime. */
static inline long test_elapsed_ns(const struct timespec *t0) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t0->tv_sec) * 1000000000L + (now.tv_nsec - t0->tv_nsec);
}

/* Checks the accounting rule of DESIGN.md for one live actor. */
static inline void test_assert_accounting(hive_t *h, hive_pid_t pid) {
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, pid, &s), HIVE_OK);
  cr_assert_eq(s.enqueued, s.processed + s.dropped + s.dead_letters + s.mailbox_len,
               "enqueued %lu != processed %lu + dropped %lu + dead %lu + queued %lu",
               (unsigned long)s.enqueued, (unsigned long)s.processed, (unsigned long)s.dropped,
               (unsigned long)s.dead_letters, (unsigned long)s.mailbox_len);
}

/* The node-wide accounting (hive_node_stats), whose `sent` the senders
 * count: exact once the node is quiet. A worker publishes its turn's sends
 * when the turn ends, which may be just after the work a test waited for:
 * so it is read until it balances, for at most the test timeout. */
static inline hive_node_stats_t test_assert_node_accounting(hive_t *h) {
  hive_node_stats_t ns;
  uint64_t deadline = test_now_ns() + TEST_TIMEOUT_MS * 1000000ull;
  struct timespec ms = {0, 1000000};
  do
    cr_assert_eq(hive_node_stats(h, &ns), HIVE_OK);
  while (ns.sent != ns.processed + ns.dropped + ns.dead_letters + ns.queued &&
         test_now_ns() < deadline && nanosleep(&ms, NULL) == 0);
  cr_assert_eq(ns.sent, ns.processed + ns.dropped + ns.dead_letters + ns.queued,
               "sent %lu != processed %lu + dropped %lu + dead %lu + queued %lu",
               (unsigned long)ns.sent, (unsigned long)ns.processed, (unsigned long)ns.dropped,
               (unsigned long)ns.dead_letters, (unsigned long)ns.queued);
  return ns;
}

#endif /* HIVE_TEST_HELPERS_H */
