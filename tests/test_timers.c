/*
 * test_timers.c - send-after, periodic timers, cancel, timers dying with
 * their actor, receive timeouts. Non-arrival is checked against a sentinel
 * timer due later: timers fire in due order, so once the sentinel is in,
 * an earlier timer that was not cancelled would have arrived too.
 */
#include "helpers.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>

TestSuite(timers, .timeout = 120);

enum { TAG_TICK = HIVE_TAG_USER, TAG_SENTINEL, TAG_CANCEL };

/* A timer message carries its creation time and delay; the receiver checks
 * it never came early. */
struct stamp {
  uint64_t created_ns;
  uint64_t delay_ns;
  hive_timer_t victim; /* TAG_CANCEL: the timer to cancel */
};
static atomic_long ticks, early, sentinels, cancel_rc = 1;
static sem_t arrived;

static int clock_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  uint64_t now = test_now_ns();
  struct stamp s;
  if (msg->len == sizeof(s)) {
    memcpy(&s, msg->data, sizeof(s));
    if (now < s.created_ns + s.delay_ns)
      atomic_fetch_add(&early, 1);
  }
  if (msg->tag == TAG_SENTINEL)
    atomic_fetch_add(&sentinels, 1);
  else if (msg->tag == TAG_CANCEL)
    atomic_store(&cancel_rc, hive_timer_cancel(hive_node(ctx), s.victim));
  else
    atomic_fetch_add(&ticks, 1);
  sem_post(&arrived);
  return HIVE_OK;
}
static const hive_behaviour_t clock_b = {.name = "clock", .handle = clock_handle};

static void setup(void) {
  sem_init(&arrived, 0, 0);
  atomic_store(&ticks, 0);
  atomic_store(&early, 0);
  atomic_store(&sentinels, 0);
}

static hive_timer_t after(hive_t *h, hive_pid_t to, uint32_t tag, unsigned ms) {
  struct stamp s = {.created_ns = test_now_ns(), .delay_ns = (uint64_t)ms * 1000000u};
  hive_timer_t t = 0;
  cr_assert_eq(hive_send_after(h, to, tag, &s, sizeof(s), ms, &t), HIVE_OK);
  cr_assert_neq(t, 0);
  return t;
}

Test(timers, fire_after_their_delay_and_never_before, .init = setup) {
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &clock_b, NULL, 0, NULL, &pid), HIVE_OK);
  for (unsigned ms = 0; ms <= 200; ms += 10)
    after(h, pid, TAG_TICK, ms);
  for (int i = 0; i < 21; i++)
    TEST_WAIT(&arrived);
  cr_assert_eq(atomic_load(&ticks), 21);
  cr_assert_eq(atomic_load(&early), 0, "%ld timers fired early", atomic_load(&early));
  hive_stop(h);
}

Test(timers, a_cancelled_timer_never_fires, .init = setup) {
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &clock_b, NULL, 0, NULL, &pid), HIVE_OK);
  hive_timer_t victim = after(h, pid, TAG_TICK, 50);
  after(h, pid, TAG_SENTINEL, 150);
  cr_assert_eq(hive_timer_cancel(h, victim), HIVE_OK);
  cr_assert_eq(hive_timer_cancel(h, victim), HIVE_ENOTFOUND, "only once");
  TEST_WAIT(&arrived);
  cr_assert_eq(atomic_load(&sentinels), 1);
  cr_assert_eq(atomic_load(&ticks), 0);
  hive_stop(h);
}

Test(timers, a_timer_handler_can_cancel_another_timer, .init = setup) {
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &clock_b, NULL, 0, NULL, &pid), HIVE_OK);
  hive_timer_t victim = after(h, pid, TAG_TICK, 100);
  struct stamp s = {.created_ns = test_now_ns(), .delay_ns = 20000000u, .victim = victim};
  cr_assert_eq(hive_send_after(h, pid, TAG_CANCEL, &s, sizeof(s), 20, &(hive_timer_t){0}), HIVE_OK);
  after(h, pid, TAG_SENTINEL, 200);
  TEST_WAIT(&arrived);
  TEST_WAIT(&arrived);
  cr_assert_eq(atomic_load(&cancel_rc), HIVE_OK);
  cr_assert_eq(atomic_load(&sentinels), 1);
  cr_assert_eq(atomic_load(&ticks), 0);
  hive_stop(h);
}

Test(timers, a_periodic_timer_ticks_until_cancelled, .init = setup) {
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &clock_b, NULL, 0, NULL, &pid), HIVE_OK);
  uint64_t t0 = test_now_ns();
  hive_timer_t t;
  cr_assert_eq(hive_send_interval(h, pid, TAG_TICK, NULL, 0, 10, &t), HIVE_OK);
  for (int i = 0; i < 10; i++)
    TEST_WAIT(&arrived);
  cr_assert_geq(test_now_ns() - t0, 100000000u, "ten 10 ms ticks took at least 100 ms");
  cr_assert_eq(hive_timer_cancel(h, t), HIVE_OK);
  long at_cancel = atomic_load(&ticks);
  after(h, pid, TAG_SENTINEL, 100);
  while (atomic_load(&sentinels) == 0)
    TEST_WAIT(&arrived);
  cr_assert_leq(atomic_load(&ticks), at_cancel + 1, "a tick already on its way may land");
  hive_stop(h);
}

/* Once hive_timer_cancel has returned HIVE_OK, no message of that timer is
 * sent: a message sent after the cancel, from the cancelling thread, comes
 * after every tick. (The timer thread sends while it holds the timers, so a
 * tick it has taken out cannot land after a cancel that came between.) */
enum { TAG_MARK = TAG_CANCEL + 1 };
static atomic_long late_ticks;

static int marked_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx;
  bool *marked = state;
  if (msg->tag == TAG_MARK) {
    *marked = true;
    sem_post(&arrived);
  } else if (*marked) {
    atomic_fetch_add(&late_ticks, 1);
  } else {
    atomic_fetch_add(&ticks, 1);
  }
  return HIVE_OK;
}
static const hive_behaviour_t marked_b = {
    .name = "marked", .state_size = sizeof(bool), .handle = marked_handle};

Test(timers, no_tick_of_a_cancelled_timer_comes_after_the_cancel, .init = setup) {
  hive_t *h = test_start(0);
  enum { ACTORS = 64, ROUNDS = 60 };
  for (int round = 0; round < ROUNDS; round++) {
    hive_pid_t pids[ACTORS];
    hive_timer_t timers[ACTORS];
    long start = atomic_load(&ticks);
    for (int i = 0; i < ACTORS; i++) {
      cr_assert_eq(hive_spawn(h, &marked_b, NULL, 0, NULL, &pids[i]), HIVE_OK);
      cr_assert_eq(hive_send_interval(h, pids[i], TAG_TICK, NULL, 0, 1, &timers[i]), HIVE_OK);
    }
    uint64_t deadline = test_now_ns() + TEST_TIMEOUT_MS * 1000000ull;
    while (atomic_load(&ticks) < start + 4 * ACTORS && test_now_ns() < deadline)
      sched_yield(); /* ticking: cancel them while they fire */
    for (int i = 0; i < ACTORS; i++) {
      cr_assert_eq(hive_timer_cancel(h, timers[i]), HIVE_OK);
      cr_assert_eq(hive_send(h, pids[i], TAG_MARK, NULL, 0), HIVE_OK);
    }
    for (int i = 0; i < ACTORS; i++)
      TEST_WAIT(&arrived);
    for (int i = 0; i < ACTORS; i++) {
      hive_kill(h, pids[i]);
      TEST_JOIN(h, pids[i]);
    }
  }
  cr_assert_eq(atomic_load(&late_ticks), 0, "%ld ticks came after their timer's cancel",
               atomic_load(&late_ticks));
  hive_stop(h);
}

Test(timers, a_dead_actors_timers_never_fire, .init = setup) {
  hive_t *h = test_start(0);
  hive_pid_t doomed, witness;
  cr_assert_eq(hive_spawn(h, &clock_b, NULL, 0, NULL, &doomed), HIVE_OK);
  cr_assert_eq(hive_spawn(h, &clock_b, NULL, 0, NULL, &witness), HIVE_OK);
  hive_timer_t t = after(h, doomed, TAG_TICK, 50);
  hive_timer_t p;
  cr_assert_eq(hive_send_interval(h, doomed, TAG_TICK, NULL, 0, 5, &p), HIVE_OK);
  cr_assert_eq(hive_kill(h, doomed), HIVE_OK);
  TEST_JOIN(h, doomed);
  long before = atomic_load(&ticks);
  hive_node_stats_t ns0, ns1;
  hive_node_stats(h, &ns0);
  after(h, witness, TAG_SENTINEL, 150);
  while (atomic_load(&sentinels) == 0)
    TEST_WAIT(&arrived);
  hive_node_stats(h, &ns1);
  cr_assert_eq(atomic_load(&ticks), before);
  cr_assert_eq(ns1.dead_letters, ns0.dead_letters, "they were cancelled, not sent");
  cr_assert_eq(hive_timer_cancel(h, t), HIVE_ENOTFOUND);
  cr_assert_eq(hive_timer_cancel(h, p), HIVE_ENOTFOUND);
  cr_assert_eq(hive_send_after(h, doomed, TAG_TICK, NULL, 0, 1, &t), HIVE_ENOPROC);
  hive_stop(h);
}

Test(timers, a_hundred_thousand_pending_timers, .init = setup) {
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &clock_b, NULL, 0, NULL, &pid), HIVE_OK);
  enum { N = 100000 };
  static hive_timer_t timers[N];
  for (int i = 0; i < N; i++)
    timers[i] = after(h, pid, TAG_TICK, 200 + (unsigned)(i % 300));
  for (int i = 0; i < N; i += 2)
    cr_assert_eq(hive_timer_cancel(h, timers[i]), HIVE_OK);
  after(h, pid, TAG_SENTINEL, 1000);
  while (atomic_load(&sentinels) == 0)
    TEST_WAIT(&arrived);
  cr_assert_eq(atomic_load(&ticks), N / 2);
  cr_assert_eq(atomic_load(&early), 0);
  hive_stop(h);
}

/* ---- receive timeout ------------------------------------------------------ */

static atomic_long timeouts, messages, timeout_with_ref;
static atomic_uint_fast64_t armed_at, timeout_at;
static sem_t timed_out;

static int waiter_init(hive_ctx_t *ctx, void *s, const void *a, size_t l) {
  (void)s, (void)a, (void)l;
  atomic_store(&armed_at, test_now_ns());
  return hive_receive_timeout(ctx, 100);
}
static int waiter_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  if (msg->tag == HIVE_TAG_TIMEOUT) {
    if (msg->ref != 0)
      atomic_fetch_add(&timeout_with_ref, 1);
    atomic_store(&timeout_at, test_now_ns());
    atomic_fetch_add(&timeouts, 1);
    sem_post(&timed_out);
    return HIVE_OK;
  }
  atomic_fetch_add(&messages, 1);
  atomic_store(&armed_at, test_now_ns());
  return hive_receive_timeout(ctx, 100); /* re-armed after every message */
}
static const hive_behaviour_t waiter_b = {
    .name = "waiter", .init = waiter_init, .handle = waiter_handle};

Test(timers, receive_timeout_fires_only_after_silence) {
  sem_init(&timed_out, 0, 0);
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &waiter_b, NULL, 0, NULL, &pid), HIVE_OK);
  /* A message every 20 ms for 400 ms: never 100 ms of silence. */
  hive_timer_t ping;
  cr_assert_eq(hive_send_interval(h, pid, TAG_TICK, NULL, 0, 20, &ping), HIVE_OK);
  while (atomic_load(&messages) < 20)
    sched_yield();
  cr_assert_eq(hive_timer_cancel(h, ping), HIVE_OK);
  TEST_WAIT(&timed_out);
  cr_assert_eq(atomic_load(&timeouts), 1);
  cr_assert_eq(atomic_load(&timeout_with_ref), 0, "a receive timeout has ref 0");
  cr_assert_geq(atomic_load(&timeout_at) - atomic_load(&armed_at), 100000000u,
                "the timeout came %.1f ms after the last message",
                (double)(atomic_load(&timeout_at) - atomic_load(&armed_at)) / 1e6);
  hive_stop(h);
}

Test(timers, bad_arguments) {
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &clock_b, NULL, 0, NULL, &pid), HIVE_OK);
  hive_timer_t t;
  cr_assert_eq(hive_send_after(NULL, pid, TAG_TICK, NULL, 0, 1, &t), HIVE_EINVAL);
  cr_assert_eq(hive_send_after(h, 0, TAG_TICK, NULL, 0, 1, &t), HIVE_EINVAL);
  cr_assert_eq(hive_send_after(h, pid, HIVE_TAG_TIMEOUT, NULL, 0, 1, &t), HIVE_EINVAL);
  cr_assert_eq(hive_send_after(h, pid, TAG_TICK, NULL, 5, 1, &t), HIVE_EINVAL);
  cr_assert_eq(hive_send_after(h, pid, TAG_TICK, NULL, 0, 1, NULL), HIVE_EINVAL);
  cr_assert_eq(hive_send_interval(h, pid, TAG_TICK, NULL, 0, 0, &t), HIVE_EINVAL);
  cr_assert_eq(hive_timer_cancel(NULL, 1), HIVE_EINVAL);
  cr_assert_eq(hive_timer_cancel(h, 0), HIVE_EINVAL);
  cr_assert_eq(hive_timer_cancel(h, 123456), HIVE_ENOTFOUND);
  hive_stop(h);
}
