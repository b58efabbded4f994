/*
 * fault_injection.c - allocation failure, every path, as SQLite tests it:
 * each operation is run again and again, the Nth allocation failing in
 * run N, until a run completes without reaching N. At every N the call
 * returns HIVE_OK or HIVE_ENOMEM (or the error the operation documents),
 * nothing crashes, the node still answers a round trip, its accounting
 * still balances, and (under ASan) nothing leaks by the end.
 *
 * Built only with -DHIVE_FAULT_INJECTION=ON: the link wraps malloc,
 * calloc, realloc, strdup, strndup and aligned_alloc (-Wl,--wrap), so
 * every allocation hive's own code makes, on any of its threads (ck's
 * too, through util/ck_alloc.c), comes through fault_alloc below.
 * Allocations inside shared libraries (msgpack-c, cnats, libc's own) are
 * not seen. The cluster sweep runs two nodes in this process over a
 * nats-server it starts, so both ends of an envelope are failed. Each sweep reports how many failure points it covered and at how
 * many distinct call sites.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <execinfo.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cluster/internal.h"
#include "http_client.h"
#include "nats_server.h"
#include "supervised.h"

/* ---- the hook ---------------------------------------------------------- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t align, size_t size);

static atomic_long fault_countdown; /* fail when it reaches 0; < 0: off */
static atomic_bool fault_hit;
static void *_Atomic fault_last_site; /* where the failed allocation was made */
#define FAULT_SITES_MAX 512
static void *fault_sites[FAULT_SITES_MAX]; /* distinct call sites failed, under fault_lock */
static int fault_nsites;
static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;

/* True if this allocation must fail; notes where it was called from. */
static bool fault_now(void *site) {
  if (atomic_load_explicit(&fault_countdown, memory_order_relaxed) < 0 ||
      atomic_fetch_sub(&fault_countdown, 1) != 1)
    return false;
  atomic_store(&fault_hit, true);
  atomic_store(&fault_last_site, site);
  if (getenv("HIVE_FAULT_STACKS") != NULL) { /* the whole stack of each failure */
    void *frames[24];
    int n = backtrace(frames, 24);
    fprintf(stderr, "fault injection: failing this allocation:\n");
    backtrace_symbols_fd(frames, n, 2);
  }
  pthread_mutex_lock(&fault_lock);
  int i = 0;
  while (i < fault_nsites && fault_sites[i] != site)
    i++;
  if (i == fault_nsites && fault_nsites < FAULT_SITES_MAX)
    fault_sites[fault_nsites++] = site;
  pthread_mutex_unlock(&fault_lock);
  return true;
}

#define SITE __builtin_return_address(0)
void *__wrap_malloc(size_t size) {
  return fault_now(SITE) ? NULL : __real_malloc(size);
}
void *__wrap_calloc(size_t n, size_t size) {
  return fault_now(SITE) ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t size) {
  return fault_now(SITE) ? NULL : __real_realloc(p, size);
}
char *__wrap_strdup(const char *s) {
  return fault_now(SITE) ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n) {
  return fault_now(SITE) ? NULL : __real_strndup(s, n);
}
void *__wrap_aligned_alloc(size_t align, size_t size) {
  return fault_now(SITE) ? NULL : __real_aligned_alloc(align, size);
}

/* Names the call site of the last failed allocation, for a failing sweep. */
static void fault_print_site(void) {
  void *site = atomic_load(&fault_last_site);
  fprintf(stderr, "fault injection: the failed allocation was made at:\n");
  backtrace_symbols_fd(&site, 1, 2);
}

/* Fails the nth allocation from now (1: the next one). */
static void fault_arm(long n) {
  atomic_store(&fault_hit, false);
  atomic_store(&fault_countdown, n);
}

/* Stops failing; whether the armed allocation was reached. */
static bool fault_disarm(void) {
  atomic_store(&fault_countdown, -1);
  return atomic_load(&fault_hit);
}

/* ---- the sweep --------------------------------------------------------- */

enum { FI_ECHO = HIVE_TAG_USER + 40, FI_MONITOR, FI_LINK, FI_REQUEST };

static int sweep_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  hive_t *h = hive_node(ctx);
  int rc = HIVE_OK;
  hive_pid_t target = 0;
  if (msg->len == sizeof(target))
    memcpy(&target, msg->data, sizeof(target));
  uint64_t ref;
  switch (msg->tag) {
  case FI_MONITOR: /* monitor target, then drop the monitor */
    rc = hive_monitor(ctx, target, &ref);
    if (rc == HIVE_OK)
      hive_demonitor(ctx, ref);
    break;
  case FI_LINK:
    rc = hive_link(ctx, target);
    if (rc == HIVE_OK)
      hive_unlink(ctx, target);
    break;
  case FI_REQUEST: /* a request to target; its answer comes as a message */
    rc = hive_request(ctx, target, FI_ECHO, "q", 1, 1000, &ref);
    break;
  }
  (void)h;
  if (msg->ref != 0)
    hive_reply(ctx, msg, &rc, sizeof(rc));
  return HIVE_OK;
}
static const hive_behaviour_t sweep_b = {.name = "echo", .handle = sweep_handle};

static hive_t *node;
static hive_pid_t echo, peer;
static void (*also_check)(const char *what, long n); /* a sweep's own checks after each run */

/* Starts the sweep's node from cfg (its own fields set past
 * hive_config_init), with the actor echo. */
static void sweep_start(hive_config_t *cfg) {
  log_setup();
  cfg->workers = 2;
  cfg->log_level = HIVE_LOG_NONE;
  atomic_store(&fault_countdown, -1);
  node = test_start_config(cfg);
  cr_assert_eq(hive_spawn(node, &sweep_b, NULL, 0, NULL, &echo), HIVE_OK);
}

static void sweep_setup(void) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  sweep_start(&cfg);
  cr_assert_eq(hive_spawn(node, &sweep_b, NULL, 0, NULL, &peer), HIVE_OK);
}

/* The node answers, and its accounting balances. */
static void assert_node_works(const char *what, long n) {
  void *reply = NULL;
  size_t len;
  int rc = hive_ask(node, echo, FI_ECHO, "x", 1, 10000, &reply, &len);
  if (rc != HIVE_OK)
    fault_print_site();
  cr_assert_eq(rc, HIVE_OK, "%s, allocation %ld failed: then a round trip: %s", what, n,
               hive_strerror(rc));
  free(reply);
  test_assert_node_accounting(node);
  if (also_check != NULL)
    also_check(what, n);
}

typedef int (*operation_t)(void);

/* Runs op with its 1st, 2nd, ... allocation failing until it makes fewer;
 * each result must be one of ok (HIVE_OK), HIVE_ENOMEM, or also_ok. */
static void sweep(const char *what, operation_t op, int also_ok) {
  pthread_mutex_lock(&fault_lock);
  fault_nsites = 0;
  pthread_mutex_unlock(&fault_lock);
  long n = 1;
  for (;; n++) {
    cr_assert_lt(n, 100000, "%s: no end to its allocations", what);
    fault_arm(n);
    int rc = op();
    bool hit = fault_disarm();
    if (getenv("HIVE_FAULT_VERBOSE") != NULL && hit) { /* which allocation, when one hangs */
      fprintf(stderr, "%s: allocation %ld failed, rc %d, at ", what, n, rc);
      fault_print_site();
    }
    if (!(rc == HIVE_OK || rc == HIVE_ENOMEM || (also_ok != 0 && rc == also_ok)))
      fault_print_site();
    cr_assert(rc == HIVE_OK || rc == HIVE_ENOMEM || (also_ok != 0 && rc == also_ok),
              "%s, allocation %ld failed: %s", what, n, hive_strerror(rc));
    assert_node_works(what, n);
    if (!hit)
      break;
  }
  cr_assert_gt(n, 1, "%s: the sweep found no allocation to fail", what);
  fprintf(stderr, "fault injection: %-28s %3ld failure points, %3d distinct sites\n", what, n - 1,
          fault_nsites);
}

static int op_spawn(void) {
  hive_pid_t pid;
  int rc = hive_spawn(node, &sweep_b, NULL, 0, NULL, &pid);
  if (rc == HIVE_OK) {
    hive_kill(node, pid);
    hive_join(node, pid, 10000);
  }
  return rc;
}

static char payload[300];

static int op_send_copy(void) {
  return hive_send(node, echo, FI_ECHO, payload, sizeof(payload));
}

static int op_send_move(void) {
  char *buf = __real_malloc(sizeof(payload)); /* the caller's, before the sweep counts */
  memcpy(buf, payload, sizeof(payload));
  int rc = hive_send_move(node, echo, FI_ECHO, buf, sizeof(payload));
  if (rc != HIVE_OK)
    free(buf); /* a failed move leaves the buffer to its caller */
  return rc;
}

static int op_ask(void) {
  void *reply = NULL;
  size_t len;
  /* A reply the actor could not make (its hive_reply got HIVE_ENOMEM) is
   * a timeout here, as a lost reply is in Erlang: 1 s, not to wait long. */
  int rc = hive_ask(node, echo, FI_ECHO, payload, sizeof(payload), 1000, &reply, &len);
  free(reply);
  return rc;
}

/* A call made by actor `by` of node h, asked of it: the ask's result, else
 * the call's. */
static int ask_actor(hive_t *h, hive_pid_t by, uint32_t tag, hive_pid_t target) {
  void *reply = NULL;
  size_t len;
  int rc = hive_ask(h, by, tag, &target, sizeof(target), 1000, &reply, &len);
  int inner = HIVE_OK;
  if (rc == HIVE_OK && len == sizeof(inner))
    memcpy(&inner, reply, sizeof(inner));
  free(reply);
  return rc != HIVE_OK ? rc : inner;
}

static int op_monitor(void) {
  return ask_actor(node, echo, FI_MONITOR, peer);
}
static int op_link(void) {
  return ask_actor(node, echo, FI_LINK, peer);
}
static int op_request(void) {
  return ask_actor(node, echo, FI_REQUEST, peer);
}

static int op_timer(void) {
  hive_timer_t timer;
  return hive_send_after(node, echo, FI_ECHO, payload, 10, 1, &timer);
}

Test(fault_injection, every_allocation_of_the_core_calls_fails_in_turn, .init = sweep_setup,
     .timeout = 600) {
  memset(payload, 'p', sizeof(payload));
  sweep("spawn", op_spawn, 0);
  sweep("send (copy)", op_send_copy, 0);
  sweep("send (move)", op_send_move, 0);
  sweep("ask", op_ask, HIVE_ETIMEDOUT);
  sweep("request (from an actor)", op_request, HIVE_ETIMEDOUT);
  sweep("monitor", op_monitor, HIVE_ETIMEDOUT);
  sweep("link", op_link, HIVE_ETIMEDOUT);
  sweep("timer", op_timer, 0);
  cr_assert_eq(hive_stop(node), HIVE_OK);
}

/* hive_start: every allocation of a node's start fails in turn; a start
 * that fails frees what it took (LeakSanitizer checks at exit). */
Test(fault_injection, every_allocation_of_hive_start_fails_in_turn, .timeout = 600) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = 2;
  cfg.log_level = HIVE_LOG_NONE;
  atomic_store(&fault_countdown, -1);
  long n = 1;
  for (;; n++) {
    cr_assert_lt(n, 100000, "hive_start: no end to its allocations");
    hive_t *h = NULL;
    fault_arm(n);
    int rc = hive_start(&h, &cfg);
    bool hit = fault_disarm();
    cr_assert(rc == HIVE_OK || rc == HIVE_ENOMEM || rc == HIVE_ESYS,
              "hive_start, allocation %ld failed: %s", n, hive_strerror(rc));
    if (rc == HIVE_OK)
      cr_assert_eq(hive_stop(h), HIVE_OK);
    else
      cr_assert_null(h);
    if (!hit)
      break;
  }
  cr_assert_gt(n, 1, "hive_start: the sweep found no allocation to fail");
  fprintf(stderr, "fault injection: %-28s %3ld failure points, %3d distinct sites\n", "hive_start",
          n - 1, fault_nsites);
}

/* ---- the gateway ------------------------------------------------------- */

/* The client side makes no allocation the hook sees: frames are packed
 * before the sweep arms it, read into a buffer on the stack and parsed by
 * msgpack-c (a shared library, not wrapped). */
static void *gw_hello, *gw_call, *admin_ps;
static size_t gw_hello_len, gw_call_len, admin_ps_len;

static bool gw_write_frame(int fd, const void *body, size_t len) {
  unsigned char frame[256];
  if (len + 4 > sizeof(frame))
    return false;
  frame[0] = (unsigned char)(len >> 24), frame[1] = (unsigned char)(len >> 16);
  frame[2] = (unsigned char)(len >> 8), frame[3] = (unsigned char)len;
  memcpy(frame + 4, body, len);
  return send(fd, frame, len + 4, MSG_NOSIGNAL) == (ssize_t)(len + 4);
}

/* One answer (the gateway's or the admin socket's framing, which is the
 * same): HIVE_OK for {"ok":true} (or a welcome), HIVE_ENOMEM for an
 * error answer or a closed connection, HIVE_ETIMEDOUT for no answer within
 * the socket's 5 s: a request lost without a word. */
static int gw_answer(int fd) {
  unsigned char prefix[4];
  char body[4096];
  errno = 0;
  if (!gwc_read_all(fd, (char *)prefix, 4))
    return errno == EAGAIN || errno == EWOULDBLOCK ? HIVE_ETIMEDOUT : HIVE_ENOMEM;
  size_t n = (size_t)prefix[0] << 24 | (size_t)prefix[1] << 16 | (size_t)prefix[2] << 8 | prefix[3];
  if (n > sizeof(body) || !gwc_read_all(fd, body, n))
    return HIVE_ENOMEM;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int rc = HIVE_ENOMEM;
  if (msgpack_unpack_next(&u, body, n, NULL) == MSGPACK_UNPACK_SUCCESS &&
      u.data.type == MSGPACK_OBJECT_MAP)
    for (uint32_t i = 0; i < u.data.via.map.size; i++) {
      const msgpack_object *k = &u.data.via.map.ptr[i].key, *v = &u.data.via.map.ptr[i].val;
      if (k->type != MSGPACK_OBJECT_STR)
        continue;
      if ((k->via.str.size == 2 && memcmp(k->via.str.ptr, "ok", 2) == 0 &&
           v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean) ||
          (k->via.str.size == 2 && memcmp(k->via.str.ptr, "op", 2) == 0 &&
           v->type == MSGPACK_OBJECT_STR && v->via.str.size == 7 &&
           memcmp(v->via.str.ptr, "welcome", 7) == 0))
        rc = HIVE_OK;
    }
  msgpack_unpacked_destroy(&u);
  return rc;
}

/* A connection, its hello, one call to echo, and the hang-up. */
static int op_gateway_call(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)hive_gateway_port(node))};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int rc = HIVE_ENOMEM;
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
      gw_write_frame(fd, gw_hello, gw_hello_len) && (rc = gw_answer(fd)) == HIVE_OK)
    rc = gw_write_frame(fd, gw_call, gw_call_len) ? gw_answer(fd) : HIVE_ENOMEM;
  close(fd);
  return rc;
}

Test(fault_injection, every_allocation_of_a_gateway_call_fails_in_turn, .timeout = 600) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.gateway_tcp = "0";
  cfg.gateway_token = "sweep";
  sweep_start(&cfg);
  cr_assert_eq(hive_pack(&gw_hello, &gw_hello_len, "mssss", 2, "op", "hello", "token", "sweep"),
               HIVE_OK);
  cr_assert_eq(hive_pack(&gw_call, &gw_call_len,
                         "m"
                         "ss"
                         "su"
                         "su"
                         "su"
                         "ss"
                         "su",
                         6, "op", "call", "id", (uint64_t)1, "to", (uint64_t)echo, "tag",
                         (uint64_t)FI_ECHO, "data", "x", "timeout_ms", (uint64_t)2000),
               HIVE_OK);
  sweep("gateway: connect, hello, call", op_gateway_call, 0);
  free(gw_hello);
  free(gw_call);
  cr_assert_eq(hive_stop(node), HIVE_OK);
}

/* ---- the admin socket ---------------------------------------------------- */

static char admin_path[64];

/* A connection to the admin socket, a ps request and its answer. */
static int op_admin_ps(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof(a.sun_path), "%s", admin_path);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int rc = HIVE_ENOMEM;
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
      gw_write_frame(fd, admin_ps, admin_ps_len))
    rc = gw_answer(fd);
  close(fd);
  return rc;
}

Test(fault_injection, every_allocation_of_an_admin_request_fails_in_turn, .timeout = 600) {
  snprintf(admin_path, sizeof(admin_path), "/tmp/hive-fi-admin-%d.sock", (int)getpid());
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.admin_socket = admin_path;
  sweep_start(&cfg);
  cr_assert_eq(hive_pack(&admin_ps, &admin_ps_len, "mss", 1, "op", "ps"), HIVE_OK);
  sweep("admin socket: connect, ps", op_admin_ps, 0);
  free(admin_ps);
  cr_assert_eq(hive_stop(node), HIVE_OK);
}

/* ---- the HTTP endpoint ------------------------------------------------------- */

/* Braces and brackets balanced outside strings, and nothing after: a
 * JSON body with no hole in it. */
static bool json_whole(const char *s) {
  int depth = 0;
  bool in_string = false;
  for (; *s != '\0'; s++) {
    if (in_string) {
      if (*s == '\\' && s[1] != '\0')
        s++;
      else if (*s == '"')
        in_string = false;
    } else if (*s == '"') {
      in_string = true;
    } else if (*s == '{' || *s == '[') {
      depth++;
    } else if ((*s == '}' || *s == ']') && --depth < 0) {
      return false;
    }
  }
  return depth == 0 && !in_string;
}

/* GET /api/actors: HIVE_OK for a 200 with a whole body, HIVE_ENOMEM for a
 * 500 or a closed connection, anything else is wrong. */
static int op_http_actors(void) {
  static char resp[1 << 16];
  int status = http_fetch(hive_http_port(node), "GET", "/api/actors", NULL, resp, sizeof(resp));
  if (status == 200)
    return json_whole(http_body(resp)) && http_body(resp)[0] == '[' ? HIVE_OK : HIVE_EINVAL;
  return status == 500 || status == 0 ? HIVE_ENOMEM : HIVE_EINVAL;
}

Test(fault_injection, every_allocation_of_an_http_request_fails_in_turn, .timeout = 600) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.http_listen = "127.0.0.1:0";
  sweep_start(&cfg);
  sweep("HTTP: GET /api/actors", op_http_actors, 0);
  cr_assert_eq(hive_stop(node), HIVE_OK);
}

/* ---- supervisors ---------------------------------------------------------- */

static bool sup_restart_seen; /* in the last run */

/* A supervisor of three workers starts, one child is killed and restarted,
 * and the supervisor is stopped. Its calls wait for ever, so a supervisor
 * that waits for a child it could not stop would hang the sweep: each
 * child keeps a kill made while it started, each link the exit signal its
 * end will send, and an exit signal that cannot become a message ends the
 * actor that traps it. */
static int op_supervisor(void) {
  static w_arg_t args[3] = {{.id = "a"}, {.id = "b"}, {.id = "c"}};
  hive_child_spec_t specs[3];
  w_specs(specs, args, 3, HIVE_RESTART_PERMANENT);
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.intensity = 100;
  spec.period_s = 1;
  spec.children = specs;
  spec.nchildren = 3;
  hive_pid_t sup;
  int rc = hive_sup_start(node, &spec, &sup);
  if (rc != HIVE_OK)
    return rc;
  /* A child killed, restarted (or, short of memory, the supervisor gives
   * up and ends: that too is an answer). */
  hive_child_info_t kids[3];
  size_t n;
  sup_restart_seen = false;
  if (hive_sup_which_children(node, sup, kids, 3, &n) == HIVE_OK && n == 3 &&
      hive_kill(node, kids[0].pid) == HIVE_OK) {
    hive_pid_t killed = kids[0].pid;
    for (int i = 0; i < 5000; i++) {
      int got = hive_sup_which_children(node, sup, kids, 3, &n);
      sup_restart_seen = got == HIVE_OK && kids[0].pid != killed && kids[0].pid != 0;
      if (got == HIVE_ENOPROC || sup_restart_seen)
        break;
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, NULL); /* polling a restart, for at most 5 s */
    }
  }
  if (hive_exit(node, sup, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN}) != HIVE_OK)
    hive_kill(node, sup);
  return hive_join(node, sup, 5000) == HIVE_OK ? HIVE_OK : HIVE_ETIMEDOUT;
}

Test(fault_injection, every_allocation_of_a_supervisor_s_start_restart_and_stop_fails_in_turn,
     .init = sweep_setup, .timeout = 600) {
  sweep("supervisor: start, restart, stop", op_supervisor, 0);
  cr_assert(sup_restart_seen, "the last run, with no allocation failed, restarted its child");
  cr_assert_eq(hive_stop(node), HIVE_OK);
}

/* ---- cluster envelopes ------------------------------------------------------ */

/* Two nodes of this process over a nats-server of the test's own, so that
 * both ends of every envelope (the batch it is packed into, what it sets
 * up, its delivery) have their allocations failed. */
static hive_t *node2;
static hive_pid_t echo2;

static uint64_t bad_batches(hive_t *h) {
  return atomic_load(&h->cluster->bad_batches);
}

/* Larger than a batch's buffer is kept (CLUSTER_BATCH_KEEP), so that
 * every run grows one, and that growth is failed in its turn. */
static char large[CLUSTER_BATCH_KEEP + 4096];

/* Both ways: a large send, a plain thread's ask, an actor's request, a
 * monitor and a link, each between an actor here and one on the other
 * node. */
static int op_cluster(void) {
  void *reply = NULL;
  size_t len;
  int rc = hive_send(node, echo2, FI_ECHO, large, sizeof(large));
  int got = hive_send(node2, echo, FI_ECHO, large, sizeof(large));
  rc = rc != HIVE_OK ? rc : got;
  got = hive_ask(node, echo2, FI_ECHO, payload, sizeof(payload), 1000, &reply, &len);
  rc = rc != HIVE_OK ? rc : got;
  free(reply);
  const int calls[][2] = {{1, FI_REQUEST}, {1, FI_MONITOR}, {1, FI_LINK},
                          {2, FI_REQUEST}, {2, FI_MONITOR}, {2, FI_LINK}};
  for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
    got = calls[i][0] == 1 ? ask_actor(node, echo, (uint32_t)calls[i][1], echo2)
                           : ask_actor(node2, echo2, (uint32_t)calls[i][1], echo);
    rc = rc != HIVE_OK ? rc : got;
  }
  return rc;
}

/* After each run: round trips both ways, both nodes' accounting balances,
 * and no failure ever put a malformed batch on the wire. */
static void cluster_check(const char *what, long n) {
  void *reply = NULL;
  size_t len;
  int rc = hive_ask(node, echo2, FI_ECHO, "x", 1, 10000, &reply, &len);
  free(reply);
  cr_assert_eq(rc, HIVE_OK, "%s, allocation %ld failed: then an ask to node 2: %s", what, n,
               hive_strerror(rc));
  rc = hive_ask(node2, echo, FI_ECHO, "x", 1, 10000, &reply, &len);
  free(reply);
  cr_assert_eq(rc, HIVE_OK, "%s, allocation %ld failed: then an ask from node 2: %s", what, n,
               hive_strerror(rc));
  test_assert_node_accounting(node2);
  cr_assert_eq(bad_batches(node) + bad_batches(node2), 0,
               "%s, allocation %ld failed: a malformed batch reached a node", what, n);
}

static hive_t *cluster_sweep_start(const char *url, unsigned id) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = 2;
  cfg.log_level = HIVE_LOG_NONE;
  cfg.cluster_url = url;
  cfg.node_id = id;
  return test_start_config(&cfg);
}

static nats_t server;

static void cluster_sweep_fini(void) {
  nats_cleanup(&server); /* also when the sweep failed */
}

Test(fault_injection, every_allocation_of_cluster_envelopes_fails_in_turn, .timeout = 600,
     .fini = cluster_sweep_fini) {
  log_setup();
  nats_start(&server, false);
  atomic_store(&fault_countdown, -1);
  node = cluster_sweep_start(server.url, 1);
  node2 = cluster_sweep_start(server.url, 2);
  cr_assert_eq(hive_spawn(node, &sweep_b, NULL, 0, NULL, &echo), HIVE_OK);
  cr_assert_eq(hive_spawn(node2, &sweep_b, NULL, 0, NULL, &echo2), HIVE_OK);
  cluster_test_wait_node(node, 2);
  cluster_test_wait_node(node2, 1);
  memset(payload, 'p', sizeof(payload));
  also_check = cluster_check;
  sweep("cluster envelopes, both ways", op_cluster, HIVE_ETIMEDOUT);
  also_check = NULL;
  cr_assert_eq(hive_stop(node2), HIVE_OK);
  cr_assert_eq(hive_stop(node), HIVE_OK);
}
