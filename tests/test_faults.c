/*
 * test_faults.c - HIVE_SPAWN_TRAP_FAULTS: a fault in a trapping actor's
 * callback is that actor's crash; without the option, or outside actors,
 * the process dies as plain C would.
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>

#include "watcher.h"

TestSuite(faults, .init = watcher_setup, .timeout = 120);

/* Volatile, so the compiler cannot see the fault coming. */
static int *volatile bad_pointer = (int *)(uintptr_t)16;
static volatile int depth_limit = 1 << 30;

/* Faults as its payload's first byte says. */
static int faulty_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  switch (msg->len > 0 ? ((const char *)msg->data)[0] : 0) {
  case 's':
    *bad_pointer = 1; /* a real invalid access: SIGSEGV */
    break;
  case 'b':
    raise(SIGBUS);
    break;
  case 'f':
    raise(SIGFPE);
    break;
  case 'i':
    raise(SIGILL);
    break;
  case 'a':
    abort();
  }
  return HIVE_OK;
}

static int recurse(int depth) {
  volatile char frame[512];
  frame[0] = (char)depth;
  if (depth > depth_limit)
    return 0;
  return recurse(depth + 1) + frame[0]; /* not a tail call */
}
static int overflow_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  return recurse(0);
}

static int faulty_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)state, (void)len;
  return arg != NULL ? faulty_handle(ctx, NULL, &(hive_msg_t){.data = arg, .len = 1}) : HIVE_OK;
}

static const hive_behaviour_t faulty_b = {
    .name = "faulty", .init = faulty_init, .handle = faulty_handle};
static const hive_behaviour_t overflow_b = {.name = "overflow", .handle = overflow_handle};

static hive_pid_t spawn_trapping(hive_t *h, const hive_behaviour_t *b) {
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.flags = HIVE_SPAWN_TRAP_FAULTS;
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, b, NULL, 0, &opts, &pid), HIVE_OK);
  return pid;
}

/* Makes a trapping actor fault with `how`; returns its DOWN reason. */
static hive_reason_t crash_with(hive_t *h, const hive_behaviour_t *b, char how) {
  hive_pid_t pid = spawn_trapping(h, b);
  int before = atomic_load(&nevents);
  cr_assert(watcher_alive(h, watcher_spawn(h, (watcher_arg_t){.monitor = pid})));
  cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER, &how, 1), HIVE_OK);
  TEST_WAIT(&event_sem);
  cr_assert_eq(events[before].pid, pid);
  return events[before].reason;
}

/* A thousand actors that must go on answering. */
static atomic_int answered;
static sem_t answered_sem;
static int answer_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  atomic_fetch_add(&answered, 1);
  sem_post(&answered_sem);
  return HIVE_OK;
}
static const hive_behaviour_t answer_b = {.name = "answer", .handle = answer_handle};

Test(faults, a_segfault_is_the_actors_crash_and_the_node_serves_on) {
  sem_init(&answered_sem, 0, 0);
  hive_t *h = test_start(0);
  hive_pid_t others[1000];
  for (int i = 0; i < 1000; i++)
    cr_assert_eq(hive_spawn(h, &answer_b, NULL, 0, NULL, &others[i]), HIVE_OK);
  hive_reason_t r = crash_with(h, &faulty_b, 's');
  cr_assert_eq(r.kind, HIVE_REASON_CRASH);
  cr_assert_eq(r.code, SIGSEGV);
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 1000; i++)
      cr_assert_eq(hive_send(h, others[i], HIVE_TAG_USER, NULL, 0), HIVE_OK);
    for (int i = 0; i < 1000; i++)
      TEST_WAIT(&answered_sem);
  }
  cr_assert_eq(atomic_load(&answered), 3000);
  /* The same worker threads can trap again. */
  r = crash_with(h, &faulty_b, 's');
  cr_assert_eq(r.code, SIGSEGV);
  hive_stop(h);
}

Test(faults, every_fault_signal_is_trapped) {
  hive_t *h = test_start(0);
  struct {
    char how;
    int sig;
  } cases[] = {{'b', SIGBUS}, {'f', SIGFPE}, {'i', SIGILL}, {'a', SIGABRT}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    hive_reason_t r = crash_with(h, &faulty_b, cases[i].how);
    cr_assert_eq(r.kind, HIVE_REASON_CRASH, "case %c", cases[i].how);
    cr_assert_eq(r.code, cases[i].sig, "case %c: signal %d", cases[i].how, r.code);
  }
  hive_stop(h);
}

Test(faults, a_stack_overflow_is_trapped_on_the_alternate_stack) {
  hive_t *h = test_start(0);
  hive_reason_t r = crash_with(h, &overflow_b, 'x');
  cr_assert_eq(r.kind, HIVE_REASON_CRASH);
  cr_assert_eq(r.code, SIGSEGV);
  hive_stop(h);
}

Test(faults, a_fault_in_init_fails_the_spawn) {
  hive_t *h = test_start(0);
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.flags = HIVE_SPAWN_TRAP_FAULTS;
  hive_pid_t pid = 0;
  cr_assert_eq(hive_spawn(h, &faulty_b, "s", 1, &opts, &pid), HIVE_ECRASHED);
  cr_assert_eq(pid, 0);
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.actors_alive, 0);
  hive_stop(h);
}

/* Without the option, a fault ends the process, as in plain C. */
Test(faults, without_the_option_a_fault_ends_the_process, .signal = SIGSEGV) {
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &faulty_b, NULL, 0, NULL, &pid), HIVE_OK);
  cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER, "s", 1), HIVE_OK);
  hive_join(h, pid, TEST_TIMEOUT_MS); /* the process dies before this returns */
}

/* Once the handlers are installed, faults outside trapping actors still
 * end the process. */
Test(faults, a_fault_outside_trapping_callbacks_still_ends_the_process, .signal = SIGSEGV) {
  hive_t *h = test_start(0);
  hive_reason_t r = crash_with(h, &faulty_b, 's'); /* installs the handlers */
  cr_assert_eq(r.code, SIGSEGV);
  faulty_handle(NULL, NULL, &(hive_msg_t){.data = "s", .len = 1}); /* on the test thread */
}
