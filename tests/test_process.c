/*
 * test_process.c - process-isolated actors (HIVE_SPAWN_PROCESS): an actor
 * like any other from outside, a child process inside: round trips, what
 * the child may call, kill at once, each reason a child can die with,
 * links, monitors and supervision across the boundary, and no descriptor
 * or child left behind.
 */
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sanitizers.h"
#include "watcher.h"

TestSuite(process, .init = watcher_setup, .timeout = 300);

enum {
  P_ECHO = HIVE_TAG_USER,
  P_SPIN,
  P_SEGV,
  P_ABORT,
  P_SLEEP,
  P_HOG, /* allocates and touches memory until an allocation fails, then faults */
  P_CALLS,
  P_FORWARD, /* sends its payload (a pid) a message, then replies */
  P_STOP,
  P_GARBAGE, /* writes a malformed frame on its channel, as a compromised child might */
  P_LIMITS,  /* replies with its RLIMIT_NOFILE and RLIMIT_CPU (soft, hard) */
  P_HOLD,    /* keeps the request, unanswered */
  P_ANSWER,  /* answers the request it kept, in this later callback */
};

/* An address nothing is mapped at: a store there is a real SIGSEGV. */
static volatile int *volatile bad_pointer = (volatile int *)(uintptr_t)16;

/* The child's behaviour: static, as a process actor's must be. */
static int child_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx, (void)state;
  if (len == 4 && memcmp(arg, "fail", 4) == 0)
    return -5;
  if (len == 8 && (uintptr_t)arg % _Alignof(max_align_t) != 0)
    return -6; /* an argument of 8 bytes must be readable as a uint64_t */
  return HIVE_OK;
}

static hive_msg_t held; /* in the child: a request P_HOLD kept */

static int child_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  hive_t *h = hive_node(ctx);
  switch (msg->tag) {
  case P_SPIN:
    for (volatile unsigned long i = 0;; i++) {
    }
  case P_SEGV:
    *bad_pointer = 1;
    break;
  case P_ABORT:
    abort();
  case P_SLEEP:
    sleep(60);
    break;
  case P_HOG:
    for (;;) {
      char *p = malloc(1 << 20);
      if (p == NULL)
        *bad_pointer = 1; /* as careless code would */
      memset(p, 1, 1 << 20);
    }
  case P_CALLS: {
    /* What a child may not call answers HIVE_ENOTSUP. */
    hive_pid_t pid, other = hive_self(ctx) + 1; /* any well-formed pid */
    uint64_t ref;
    hive_timer_t t;
    void *r;
    size_t n;
    int64_t rcs[] = {
        hive_spawn(h, &(hive_behaviour_t){.handle = child_handle}, NULL, 0, NULL, &pid),
        hive_link(ctx, other),
        hive_monitor(ctx, other, &ref),
        hive_register(h, "child", hive_self(ctx)),
        hive_send_after(h, hive_self(ctx), P_ECHO, NULL, 0, 10, &t),
        hive_ask(h, other, P_ECHO, NULL, 0, 10, &r, &n),
        hive_request(ctx, other, P_ECHO, NULL, 0, 10, &ref),
        hive_kill(h, other),
        hive_trap_exit(ctx, true),
        hive_checkpoint(ctx) ? 1 : 0,
        (int64_t)(hive_self(ctx) >> 1)};
    void *out;
    size_t len;
    hive_pack(&out, &len, "aiiiiiiiiiii", (uint32_t)11, rcs[0], rcs[1], rcs[2], rcs[3], rcs[4],
              rcs[5], rcs[6], rcs[7], rcs[8], rcs[9], rcs[10]);
    hive_reply(ctx, msg, out, len);
    free(out);
    break;
  }
  case P_FORWARD: {
    hive_pid_t to;
    memcpy(&to, msg->data, sizeof(to));
    hive_send(h, to, TAG_PING, NULL, 0);
    hive_reply(ctx, msg, "ok", 2);
    break;
  }
  case P_STOP:
    return HIVE_STOP;
  case P_HOLD:
    held = (hive_msg_t){.tag = msg->tag, .from = msg->from, .ref = msg->ref};
    break;
  case P_ANSWER:
    hive_reply(ctx, &held, "late", 4);
    break;
  case P_LIMITS: {
    struct rlimit nofile, cpu;
    getrlimit(RLIMIT_NOFILE, &nofile);
    getrlimit(RLIMIT_CPU, &cpu);
    void *out;
    size_t len;
    hive_pack(&out, &len, "auuu", (uint32_t)3, (uint64_t)nofile.rlim_cur, (uint64_t)cpu.rlim_cur,
              (uint64_t)cpu.rlim_max);
    hive_reply(ctx, msg, out, len);
    free(out);
    break;
  }
  case P_GARBAGE: {
    unsigned char junk[32];
    memset(junk, 0x5a, sizeof(junk));           /* type 0x5a5a5a5a: no such frame */
    ssize_t put = write(3, junk, sizeof(junk)); /* the channel: descriptor 3 */
    (void)put;
    sleep(60);
    break;
  }
  default:
    if (msg->ref != 0)
      hive_reply(ctx, msg, msg->data, msg->len);
  }
  return HIVE_OK;
}

static const hive_behaviour_t child_b = {
    .name = "child", .init = child_init, .handle = child_handle};

static hive_pid_t spawn_child(hive_t *h, const hive_limits_t *limits) {
  hive_spawn_opts_t o;
  hive_spawn_opts_init(&o);
  o.flags = HIVE_SPAWN_PROCESS;
  if (limits != NULL)
    o.limits = *limits;
  hive_pid_t pid;
  int rc = hive_spawn(h, &child_b, NULL, 0, &o, &pid);
  cr_assert_eq(rc, HIVE_OK, "spawn: %s", hive_strerror(rc));
  return pid;
}

/* Watches pid, sends it tag, and returns the DOWN's event. */
static watcher_event_t *down_after(hive_t *h, hive_pid_t pid, uint32_t tag) {
  watcher_spawn(h, (watcher_arg_t){.monitor = pid}); /* monitoring once spawned */
  if (tag != 0)
    cr_assert_eq(hive_send(h, pid, tag, NULL, 0), HIVE_OK);
  TEST_WAIT(&event_sem);
  cr_assert_eq(events[0].tag, HIVE_TAG_DOWN);
  return &events[0];
}

Test(process, an_ask_round_trips_and_the_child_is_another_process) {
  hive_t *h = test_start(0);
  hive_pid_t p = spawn_child(h, NULL);
  void *r;
  size_t n;
  cr_assert_eq(hive_ask(h, p, P_ECHO, "hello", 5, 5000, &r, &n), HIVE_OK);
  cr_assert(n == 5 && memcmp(r, "hello", 5) == 0);
  free(r);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, p, &s), HIVE_OK);
  cr_assert_str_eq(s.behaviour, "process");
  cr_assert_eq(s.processed, 1);
  cr_assert_eq(s.enqueued, s.processed + s.dropped + s.dead_letters + s.mailbox_len);
  hive_stop(h);
}

Test(process, init_gets_its_argument_aligned_as_malloc_aligns) {
  hive_t *h = test_start(0);
  hive_spawn_opts_t o;
  hive_spawn_opts_init(&o);
  o.flags = HIVE_SPAWN_PROCESS;
  uint64_t value = 42;
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &child_b, &value, sizeof(value), &o, &pid), HIVE_OK);
  hive_stop(h);
}

Test(process, a_child_answers_a_request_it_kept_in_a_later_callback) {
  hive_t *h = test_start(0);
  hive_pid_t p = spawn_child(h, NULL);
  hive_timer_t t; /* the answer is asked for once the ask waits */
  cr_assert_eq(hive_send_after(h, p, P_ANSWER, NULL, 0, 50, &t), HIVE_OK);
  void *r;
  size_t n;
  cr_assert_eq(hive_ask(h, p, P_HOLD, NULL, 0, 10000, &r, &n), HIVE_OK);
  cr_assert(n == 4 && memcmp(r, "late", 4) == 0);
  free(r);
  hive_stop(h);
}

Test(process, a_child_may_send_and_reply_and_nothing_else) {
  hive_t *h = test_start(0);
  hive_pid_t p = spawn_child(h, NULL);
  hive_pid_t w = watcher_spawn(h, (watcher_arg_t){0});
  void *r;
  size_t n;
  cr_assert_eq(hive_ask(h, p, P_FORWARD, &w, sizeof(w), 5000, &r, &n), HIVE_OK);
  free(r);
  TEST_WAIT(&ping_sem); /* the child's send reached the watcher */
  cr_assert_eq(hive_ask(h, p, P_CALLS, NULL, 0, 5000, &r, &n), HIVE_OK);
  uint32_t count;
  int64_t rc[11];
  cr_assert_eq(hive_unpack(r, n, NULL, "aiiiiiiiiiii", &count, &rc[0], &rc[1], &rc[2], &rc[3],
                           &rc[4], &rc[5], &rc[6], &rc[7], &rc[8], &rc[9], &rc[10]),
               HIVE_OK);
  free(r);
  for (int i = 0; i < 9; i++)
    cr_assert_eq(rc[i], HIVE_ENOTSUP, "call %d: %s", i, hive_err_name((int)rc[i]));
  cr_assert_eq(rc[9], 0, "hive_checkpoint is false in a child");
  cr_assert_eq(rc[10], (int64_t)(p >> 1), "hive_self is the actor's pid");
  hive_stop(h);
}

Test(process, hive_kill_stops_a_child_that_never_checks_at_once) {
  hive_t *h = test_start(0);
  hive_pid_t p = spawn_child(h, NULL);
  watcher_spawn(h, (watcher_arg_t){.monitor = p});
  cr_assert_eq(hive_send(h, p, P_SPIN, NULL, 0), HIVE_OK);
  cr_assert_eq(hive_send(h, p, P_ECHO, NULL, 0), HIVE_OK);
  /* The spin has begun once the echo waits behind it. */
  hive_actor_stats_t s;
  do
    cr_assert_eq(hive_actor_stats(h, p, &s), HIVE_OK);
  while (s.mailbox_len != 1 || s.state != HIVE_ACTOR_RUNNING);
  uint64_t t0 = test_now_ns();
  cr_assert_eq(hive_kill(h, p), HIVE_OK);
  TEST_WAIT(&event_sem);
  uint64_t ms = (test_now_ns() - t0) / 1000000u;
  cr_assert_eq(events[0].reason.kind, HIVE_REASON_KILL);
  cr_assert_lt(ms, 1000, "DOWN %llu ms after the kill", (unsigned long long)ms);
  hive_stop(h);
}

Test(process, a_fault_ends_the_actor_with_reason_crash_and_the_signal) {
  hive_t *h = test_start(0);
  hive_pid_t normal = watcher_spawn(h, (watcher_arg_t){0});
  watcher_event_t *e = down_after(h, spawn_child(h, NULL), P_SEGV);
  cr_assert_eq(e->reason.kind, HIVE_REASON_CRASH);
  cr_assert_eq(e->reason.code, SIGSEGV);
  watcher_setup();
  e = down_after(h, spawn_child(h, NULL), P_ABORT);
  cr_assert_eq(e->reason.kind, HIVE_REASON_CRASH);
  cr_assert_eq(e->reason.code, SIGABRT);
  cr_assert(watcher_alive(h, normal), "the node and an actor beside it go on");
  hive_stop(h);
}

/* A child that dies while its actor waits for messages (killed from
 * outside: an operator, the OOM killer) ends the actor at once, not at its
 * next message: its monitors and its supervisor learn of it. */
Test(process, a_child_killed_from_outside_while_idle_ends_its_actor_at_once) {
  hive_t *h = test_start(0);
  hive_pid_t p = spawn_child(h, NULL);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, p, &s), HIVE_OK);
  cr_assert_gt(s.os_pid, 0);
  watcher_spawn(h, (watcher_arg_t){.monitor = p});
  cr_assert_eq(kill(s.os_pid, SIGKILL), 0);
  TEST_WAIT(&event_sem);
  cr_assert_eq(events[0].tag, HIVE_TAG_DOWN);
  cr_assert_eq(events[0].reason.kind, HIVE_REASON_CRASH);
  cr_assert_eq(events[0].reason.code, SIGKILL);
  hive_node_stats_t ns = test_assert_node_accounting(h);
  cr_assert_eq(ns.dead_letters, 0, "the notice reached the actor: no dead letter");
  hive_stop(h);
}

/* Nor does an actor that ends in the usual ways leave a notice behind. */
Test(process, process_actors_that_end_leave_no_dead_letter) {
  hive_t *h = test_start(0);
  for (int i = 0; i < 20; i++) {
    hive_pid_t p = spawn_child(h, NULL);
    if (i % 2 == 0)
      cr_assert_eq(hive_kill(h, p), HIVE_OK);
    else
      cr_assert_eq(hive_send(h, p, P_STOP, NULL, 0), HIVE_OK);
    TEST_JOIN(h, p);
  }
  hive_node_stats_t ns = test_assert_node_accounting(h);
  cr_assert_eq(ns.dead_letters, 0);
  hive_stop(h);
}

Test(process, a_callback_past_handler_ms_is_killed_with_reason_timeout) {
  hive_t *h = test_start(0);
  hive_limits_t l = {.handler_ms = 100};
  watcher_event_t *e = down_after(h, spawn_child(h, &l), P_SLEEP);
  cr_assert_eq(e->reason.kind, HIVE_REASON_TIMEOUT);
  hive_stop(h);
}

Test(process, the_cpu_limit_ends_the_actor_with_sigxcpu_and_its_text) {
  hive_t *h = test_start(0);
  hive_limits_t l = {.cpu_ms = 1000};
  watcher_event_t *e = down_after(h, spawn_child(h, &l), P_SPIN);
  cr_assert_eq(e->reason.kind, HIVE_REASON_CRASH);
  cr_assert_eq(e->reason.code, SIGXCPU);
  cr_assert_str_eq(e->text, "cpu limit");
  hive_stop(h);
}

/* The limits are applied in the child, nowhere else. (mem_bytes is
 * checked by the next test, in the builds without AddressSanitizer, whose
 * terabytes of shadow mappings RLIMIT_AS cannot sit beside.) */
Test(process, the_limits_are_set_in_the_child_and_not_in_the_node) {
  hive_t *h = test_start(0);
  struct rlimit node_nofile;
  getrlimit(RLIMIT_NOFILE, &node_nofile);
  hive_limits_t l = {.nofile = 64, .cpu_ms = 2500};
  hive_pid_t p = spawn_child(h, &l);
  void *r;
  size_t n;
  cr_assert_eq(hive_ask(h, p, P_LIMITS, NULL, 0, 5000, &r, &n), HIVE_OK);
  uint32_t count;
  uint64_t nofile, cpu_soft, cpu_hard;
  cr_assert_eq(hive_unpack(r, n, NULL, "auuu", &count, &nofile, &cpu_soft, &cpu_hard), HIVE_OK);
  free(r);
  cr_assert_eq(nofile, 64);
  cr_assert_eq(cpu_soft, 3, "cpu_ms rounded up to whole seconds");
  cr_assert_eq(cpu_hard, 4, "SIGKILL a second after SIGXCPU");
  struct rlimit after;
  getrlimit(RLIMIT_NOFILE, &after);
  cr_assert_eq(after.rlim_cur, node_nofile.rlim_cur, "the node's own limits are untouched");
  hive_stop(h);
}

#ifndef UNDER_ASAN
Test(process, the_memory_limit_fails_allocations_and_names_the_cause) {
  hive_t *h = test_start(0);
  hive_limits_t l = {.mem_bytes = 256u << 20};
  watcher_event_t *e = down_after(h, spawn_child(h, &l), P_HOG);
  cr_assert_eq(e->reason.kind, HIVE_REASON_CRASH);
  cr_assert_eq(e->reason.code, SIGSEGV);
  cr_assert_str_eq(e->text, "memory limit");
  hive_stop(h);
}
#endif

Test(process, a_request_in_flight_when_the_child_dies_gets_noproc) {
  hive_t *h = test_start(0);
  hive_pid_t p = spawn_child(h, NULL);
  cr_assert_eq(hive_send(h, p, P_SEGV, NULL, 0), HIVE_OK);
  void *r;
  size_t n;
  int rc = hive_ask(h, p, P_ECHO, "x", 1, 10000, &r, &n);
  cr_assert_eq(rc, HIVE_ENOPROC, "%s", hive_strerror(rc));
  hive_stop(h);
}

Test(process, an_init_that_fails_fails_the_spawn_and_leaves_no_child) {
  hive_t *h = test_start(0);
  hive_spawn_opts_t o;
  hive_spawn_opts_init(&o);
  o.flags = HIVE_SPAWN_PROCESS;
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &child_b, "fail", 4, &o, &pid), -5);
  cr_assert_leq(waitpid(-1, NULL, WNOHANG), 0, "no child left to reap (the zygote lives on)");
  /* A behaviour that is not static cannot be found by the child. */
  hive_behaviour_t *heap = malloc(sizeof(*heap));
  *heap = child_b;
  cr_assert_eq(hive_spawn(h, heap, NULL, 0, &o, &pid), HIVE_EINVAL);
  free(heap);
  o.flags = HIVE_SPAWN_PROCESS | HIVE_SPAWN_BLOCKING;
  cr_assert_eq(hive_spawn(h, &child_b, NULL, 0, &o, &pid), HIVE_EINVAL);
  hive_stop(h);
}

Test(process, links_and_monitors_work_both_ways) {
  hive_t *h = test_start(0);
  /* A normal actor linked to a process actor that crashes gets the EXIT. */
  hive_pid_t p = spawn_child(h, NULL);
  watcher_spawn(h, (watcher_arg_t){.link = p, .trap = true});
  cr_assert_eq(hive_send(h, p, P_SEGV, NULL, 0), HIVE_OK);
  TEST_WAIT(&event_sem);
  cr_assert_eq(events[0].tag, HIVE_TAG_EXIT);
  cr_assert_eq(events[0].pid, p);
  cr_assert_eq(events[0].reason.code, SIGSEGV);
  /* A process actor linked to a normal actor that fails is ended too. */
  watcher_setup();
  hive_pid_t t = target_spawn(h);
  hive_spawn_opts_t o;
  hive_spawn_opts_init(&o);
  o.flags = HIVE_SPAWN_PROCESS;
  p = spawn_child(h, NULL);
  watcher_spawn(h, (watcher_arg_t){.monitor = p});
  hive_pid_t linker = watcher_spawn(h, (watcher_arg_t){.link = t});
  (void)linker;
  cr_assert_eq(hive_exit(h, p, &(hive_reason_t){.kind = HIVE_REASON_ERROR, .code = 7}), HIVE_OK);
  TEST_WAIT(&event_sem);
  cr_assert_eq(events[0].tag, HIVE_TAG_DOWN);
  cr_assert_eq(events[0].reason.kind, HIVE_REASON_ERROR);
  cr_assert_eq(events[0].reason.code, 7);
  hive_stop(h);
}

/* Open descriptors of this process. */
static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  while (readdir(d) != NULL)
    n++;
  closedir(d);
  return n;
}

/* This process's resident memory, bytes. */
static long rss_bytes(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f != NULL) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
      resident = 0;
    fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

Test(process, crash_and_restart_cycles_leak_no_descriptor_and_no_child) {
  hive_t *h = test_start(0);
  hive_child_spec_t c;
  hive_child_spec_init(&c);
  c.id = "isolated";
  c.behaviour = &child_b;
  static hive_spawn_opts_t o;
  hive_spawn_opts_init(&o);
  o.flags = HIVE_SPAWN_PROCESS;
  o.name = "isolated";
  c.opts = &o;
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.intensity = 100000;
  spec.period_s = 1;
  spec.children = &c;
  spec.nchildren = 1;
  hive_pid_t sup;
  cr_assert_eq(hive_sup_start(h, &spec, &sup), HIVE_OK);
  int fds_before = -1;
  long rss_before = 0;
  for (int i = 0; i < 1000; i++) {
    hive_pid_t p;
    while ((p = hive_whereis(h, "isolated")) == 0) {
    }              /* restarted: named again */
    if (i == 10) { /* after warm-up */
      fds_before = open_fds();
      rss_before = rss_bytes();
    }
    void *r;
    size_t n;
    cr_assert_eq(hive_ask(h, p, P_ECHO, "x", 1, 10000, &r, &n), HIVE_OK);
    free(r);
    cr_assert_eq(hive_send(h, p, P_SEGV, NULL, 0), HIVE_OK);
    TEST_JOIN(h, p);
  }
  /* The same state as at the first count: a live child, its restart done. */
  hive_pid_t last;
  while ((last = hive_whereis(h, "isolated")) == 0) {
  }
  void *r;
  size_t n;
  cr_assert_eq(hive_ask(h, last, P_ECHO, "x", 1, 10000, &r, &n), HIVE_OK);
  free(r);
  /* A leak would show as hundreds; a channel pair in passing (the
   * spawner's reply and a proxy's close race the count) as at most 2. */
  int fds_after = open_fds();
  cr_assert_leq(fds_after, fds_before + 2, "no descriptor leaked over 990 cycles: %d then %d",
                fds_before, fds_after);
  long rss_growth = rss_bytes() - rss_before;
  cr_assert_lt(rss_growth, 16l << 20, "RSS grew %ld KiB over 990 cycles", rss_growth / 1024);
  int status;
  pid_t z = waitpid(-1, &status, WNOHANG);
  cr_assert_leq(z, 0, "no zombie (reaped %d, status %x)", (int)z, status); /* 0: a live child */
  hive_stop(h);
  cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "and none after hive_stop");
}

Test(process, statistics_show_the_child_s_os_pid_memory_and_cpu_time) {
  hive_t *h = test_start(0);
  hive_pid_t p = spawn_child(h, NULL);
  void *r;
  size_t n;
  cr_assert_eq(hive_ask(h, p, P_ECHO, "x", 1, 5000, &r, &n), HIVE_OK);
  free(r);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, p, &s), HIVE_OK);
  cr_assert_gt(s.os_pid, 0);
  cr_assert_neq(s.os_pid, getpid());
  cr_assert_eq(kill(s.os_pid, 0), 0, "a live process");
  cr_assert_gt(s.rss_bytes, 0);
  /* The child inherited its channel (3) and the standard three, nothing else. */
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/fd", s.os_pid);
  DIR *d = opendir(path);
  cr_assert_not_null(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    cr_assert(e->d_name[0] == '.' || atoi(e->d_name) <= 3, "the child holds descriptor %s",
              e->d_name);
  closedir(d);
  hive_pid_t normal = watcher_spawn(h, (watcher_arg_t){0});
  cr_assert_eq(hive_actor_stats(h, normal, &s), HIVE_OK);
  cr_assert_eq(s.os_pid, 0, "not a process actor");
  cr_assert_eq(s.rss_bytes, 0);
  hive_stop(h);
}

Test(process, a_malformed_frame_from_the_child_ends_it_with_crash_protocol) {
  hive_t *h = test_start(0);
  hive_pid_t normal = watcher_spawn(h, (watcher_arg_t){0});
  watcher_event_t *e = down_after(h, spawn_child(h, NULL), P_GARBAGE);
  cr_assert_eq(e->reason.kind, HIVE_REASON_CRASH);
  cr_assert_str_eq(e->text, "protocol");
  cr_assert(watcher_alive(h, normal), "the node goes on");
  hive_stop(h);
}

Test(process, one_for_all_restarts_normal_siblings_when_a_process_child_crashes) {
  hive_t *h = test_start(0);
  static hive_spawn_opts_t po, no;
  hive_spawn_opts_init(&po);
  po.flags = HIVE_SPAWN_PROCESS;
  po.name = "proc";
  hive_spawn_opts_init(&no);
  no.name = "normal";
  hive_child_spec_t c[2];
  hive_child_spec_init(&c[0]);
  c[0].id = "normal";
  c[0].behaviour = &watcher_b;
  c[0].arg = &(watcher_arg_t){0};
  c[0].arg_len = sizeof(watcher_arg_t);
  c[0].opts = &no;
  hive_child_spec_init(&c[1]);
  c[1].id = "proc";
  c[1].behaviour = &child_b;
  c[1].opts = &po;
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.strategy = HIVE_SUP_ONE_FOR_ALL;
  spec.intensity = 10;
  spec.children = c;
  spec.nchildren = 2;
  hive_pid_t sup;
  cr_assert_eq(hive_sup_start(h, &spec, &sup), HIVE_OK);
  hive_pid_t normal = hive_whereis(h, "normal"), proc = hive_whereis(h, "proc");
  cr_assert_eq(hive_send(h, proc, P_SEGV, NULL, 0), HIVE_OK);
  TEST_JOIN(h, normal); /* its sibling's crash ended it */
  TEST_WAIT(&watcher_end_sem);
  cr_assert_eq(watcher_reason.kind, HIVE_REASON_SHUTDOWN);
  hive_pid_t p2;
  while ((p2 = hive_whereis(h, "proc")) == 0 || p2 == proc) {
  } /* restarted, both */
  void *r;
  size_t n;
  cr_assert_eq(hive_ask(h, p2, P_ECHO, "y", 1, 10000, &r, &n), HIVE_OK);
  free(r);
  cr_assert_neq(hive_whereis(h, "normal"), 0);
  hive_stop(h);
}

Test(process, hive_stop_ends_running_process_actors_within_their_shutdown_time) {
  hive_t *h = test_start(0);
  hive_pid_t ps[4];
  for (int i = 0; i < 4; i++) {
    ps[i] = spawn_child(h, NULL);
    cr_assert_eq(hive_send(h, ps[i], i % 2 ? P_SPIN : P_SLEEP, NULL, 0), HIVE_OK);
  }
  hive_actor_stats_t s;
  int os_pids[4];
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(hive_actor_stats(h, ps[i], &s), HIVE_OK);
    os_pids[i] = s.os_pid;
  }
  uint64_t t0 = test_now_ns();
  cr_assert_eq(hive_stop(h), HIVE_OK);
  uint64_t ms = (test_now_ns() - t0) / 1000000u;
  cr_assert_lt(ms, 3000, "stopped in %llu ms", (unsigned long long)ms);
  for (int i = 0; i < 4; i++)
    cr_assert(kill(os_pids[i], 0) != 0 && errno == ESRCH, "child %d gone and reaped", os_pids[i]);
}

/* True once os_pid is gone: no such process, or a zombie its new parent
 * has yet to reap (it runs no more code). */
static bool process_gone(int os_pid) {
  char path[64], buf[256];
  snprintf(path, sizeof(path), "/proc/%d/stat", os_pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return true;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  return p != NULL && p[1] == ' ' && p[2] == 'Z';
}

Test(process, a_node_killed_with_sigkill_leaves_no_child_behind) {
  int out[2], in[2];
  cr_assert_eq(pipe(out), 0);
  cr_assert_eq(pipe(in), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
  char *argv[] = {PROCESS_NODE, NULL};
  pid_t node;
  cr_assert_eq(posix_spawn(&node, PROCESS_NODE, &fa, NULL, argv, NULL), 0);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  close(in[0]);
  FILE *f = fdopen(out[0], "r");
  int children[3];
  for (int i = 0; i < 3; i++)
    cr_assert_eq(fscanf(f, "%d", &children[i]), 1, "the node printed its children");
  fclose(f);
  for (int i = 0; i < 3; i++)
    cr_assert(!process_gone(children[i]));
  cr_assert_eq(kill(node, SIGKILL), 0);
  cr_assert_eq(waitpid(node, NULL, 0), node);
  close(in[1]);
  uint64_t deadline = test_now_ns() + 10000000000ull;
  for (int i = 0; i < 3; i++) {
    while (!process_gone(children[i]))
      cr_assert_lt(test_now_ns(), deadline, "child %d outlived its node", children[i]);
  }
}

/* A child whose terminate tells a watcher (its pid is init's argument). */
static int telling_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx;
  memcpy(state, arg, len);
  return HIVE_OK;
}
static void telling_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  hive_pid_t watcher;
  memcpy(&watcher, state, sizeof(watcher));
  if (reason->kind == HIVE_REASON_SHUTDOWN)
    hive_send(hive_node(ctx), watcher, TAG_PING, NULL, 0);
}
static const hive_behaviour_t telling_b = {.name = "telling",
                                           .state_size = sizeof(hive_pid_t),
                                           .init = telling_init,
                                           .handle = child_handle,
                                           .terminate = telling_terminate};

Test(process, terminate_runs_in_the_child_with_the_reason) {
  hive_t *h = test_start(0);
  hive_pid_t w = watcher_spawn(h, (watcher_arg_t){0});
  hive_spawn_opts_t o;
  hive_spawn_opts_init(&o);
  o.flags = HIVE_SPAWN_PROCESS;
  hive_pid_t p;
  cr_assert_eq(hive_spawn(h, &telling_b, &w, sizeof(w), &o, &p), HIVE_OK);
  cr_assert_eq(hive_exit(h, p, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN}), HIVE_OK);
  TEST_WAIT(&ping_sem); /* sent by the child's terminate */
  TEST_JOIN(h, p);
  hive_stop(h);
}
