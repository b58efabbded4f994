/*
 * test_gateway.c - the gateway through real sockets: every op, errors and
 * malformed frames, the bounds (frame size, calls in flight, unread
 * output, connections), many clients at once, a slow client, and
 * hive_stop with calls in flight.
 */
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "gateway_actors.h"
#include "gw_client.h"
#include "helpers.h"

#define TOKEN "secret-token"

/* Log lines, for tests that wait on what the node logged. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];
static sem_t log_sem;

static void log_to_buffer(void *user, int level, const char *line) {
  (void)user, (void)level;
  pthread_mutex_lock(&log_lock);
  size_t n = strlen(log_text);
  snprintf(log_text + n, sizeof(log_text) - n, "%s\n", line);
  pthread_mutex_unlock(&log_lock);
  sem_post(&log_sem);
}

/* Waits until a log line containing text has been written. */
static void wait_log(const char *text) {
  for (;;) {
    pthread_mutex_lock(&log_lock);
    bool found = strstr(log_text, text) != NULL;
    pthread_mutex_unlock(&log_lock);
    if (found)
      return;
    cr_assert(test_wait(&log_sem, TEST_TIMEOUT_MS), "no log line with '%s'", text);
  }
}

static void setup(void) {
  sem_init(&log_sem, 0, 0);
  log_text[0] = '\0';
}

TestSuite(gateway, .init = setup, .timeout = 300);

static void gw_config(hive_config_t *cfg) {
  hive_config_init(cfg);
  cfg->log_fn = log_to_buffer;
  cfg->log_level = HIVE_LOG_WARNING;
  cfg->gateway_tcp = "0";
  cfg->gateway_token = TOKEN;
}

static hive_t *gw_start(hive_config_t *cfg) {
  hive_t *h = test_start_config(cfg);
  hive_pid_t sup;
  cr_assert_eq(gwt_start(h, &sup), HIVE_OK);
  cr_assert_gt(hive_gateway_port(h), 0);
  return h;
}

static hive_t *gw_start_default(void) {
  hive_config_t cfg;
  gw_config(&cfg);
  return gw_start(&cfg);
}

static int gw_open(hive_t *h, hive_pid_t *self) {
  int fd = gwc_open(hive_gateway_port(h), TOKEN, self);
  cr_assert_geq(fd, 0, "connect and hello");
  return fd;
}

static void recv_frame(int fd, gwc_frame_t *f) {
  cr_assert(gwc_recv(fd, f), "an answer frame");
}

/* Reads an error answer of kind (and id, unless UINT64_MAX). */
static void expect_error(int fd, uint64_t id, const char *kind) {
  gwc_frame_t f;
  recv_frame(fd, &f);
  cr_assert(!gwc_ok(&f), "an error");
  cr_assert(gwc_is(&f, "error", kind), "error %s", kind);
  cr_assert(gwc_get(&f, "detail") != NULL, "with a detail");
  if (id != UINT64_MAX)
    cr_assert_eq(gwc_u64(&f, "id"), id);
  else
    cr_assert_null(gwc_get(&f, "id"));
  gwc_frame_free(&f);
}

/* Calls name with integer data; returns the integer reply. */
static int64_t call_int(int fd, uint64_t id, const char *name, int64_t value) {
  cr_assert(gwc_send(fd, "msssusssi", 4, "op", "call", "id", id, "to", name, "data", value));
  gwc_frame_t f;
  recv_frame(fd, &f);
  cr_assert(gwc_ok(&f));
  cr_assert_eq(gwc_u64(&f, "id"), id);
  const msgpack_object *d = gwc_get(&f, "data");
  cr_assert_not_null(d);
  int64_t got = d->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)d->via.u64 : d->via.i64;
  gwc_frame_free(&f);
  return got;
}

Test(gateway, hello_is_welcomed_with_the_node_the_limits_and_the_connections_pid) {
  hive_t *h = gw_start_default();
  int fd = gwc_connect_tcp(hive_gateway_port(h));
  cr_assert(gwc_send(fd, "mssssss", 3, "op", "hello", "token", TOKEN, "client", "test"));
  gwc_frame_t f;
  recv_frame(fd, &f);
  cr_assert(gwc_is(&f, "op", "welcome"));
  cr_assert_eq(gwc_u64(&f, "version"), 1);
  cr_assert(gwc_is(&f, "node", "node0"));
  cr_assert_eq(gwc_u64(&f, "node_id"), 0);
  cr_assert_eq(gwc_u64(&f, "max_frame"), 1u << 20);
  hive_pid_t self = gwc_u64(&f, "self");
  gwc_frame_free(&f);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, self, &s), HIVE_OK, "self is the connection's actor");
  cr_assert_str_eq(s.behaviour, "gateway_conn");
  cr_assert_eq(s.parent, hive_whereis(h, "hive.gateway"), "a child of the gateway's supervisor");
  close(fd);
  hive_stop(h);
}

Test(gateway, every_op_round_trips) {
  hive_t *h = gw_start_default();
  int fd = gw_open(h, NULL);
  /* call, by name and by pid */
  cr_assert(gwc_send(fd, "msssusssaii", 4, "op", "call", "id", (uint64_t)1, "to", "sum", "data",
                     (uint32_t)2, (int64_t)40, (int64_t)2));
  gwc_frame_t f;
  recv_frame(fd, &f);
  cr_assert(gwc_ok(&f));
  cr_assert_eq(gwc_u64(&f, "id"), 1);
  cr_assert_eq(gwc_u64(&f, "data"), 42);
  gwc_frame_free(&f);
  hive_pid_t echo = hive_whereis(h, "echo");
  cr_assert(
      gwc_send(fd, "msssususs", 4, "op", "call", "id", (uint64_t)2, "to", echo, "data", "hi"));
  recv_frame(fd, &f);
  cr_assert(gwc_ok(&f) && gwc_is(&f, "data", "hi"));
  gwc_frame_free(&f);
  /* whereis: a pid, or nil */
  cr_assert(gwc_send(fd, "msssuss", 3, "op", "whereis", "id", (uint64_t)3, "name", "echo"));
  recv_frame(fd, &f);
  cr_assert(gwc_ok(&f));
  cr_assert_eq(gwc_u64(&f, "data"), echo);
  gwc_frame_free(&f);
  cr_assert(gwc_send(fd, "msssuss", 3, "op", "whereis", "id", (uint64_t)4, "name", "nobody"));
  recv_frame(fd, &f);
  cr_assert(gwc_ok(&f));
  cr_assert_eq(gwc_get(&f, "data")->type, MSGPACK_OBJECT_NIL);
  gwc_frame_free(&f);
  /* stats: the fields of hivectl --json stats */
  cr_assert(gwc_send(fd, "msssuss", 3, "op", "stats", "id", (uint64_t)5, "to", "echo"));
  recv_frame(fd, &f);
  cr_assert(gwc_ok(&f));
  const msgpack_object *d = gwc_get(&f, "data");
  cr_assert(d != NULL && d->type == MSGPACK_OBJECT_MAP && d->via.map.size == 20);
  gwc_frame_free(&f);
  /* send with an id is acknowledged; without one nothing comes back, and
   * the message arrives (its effect: echo processed one more) */
  hive_actor_stats_t before, after;
  cr_assert_eq(hive_actor_stats(h, echo, &before), HIVE_OK);
  cr_assert(gwc_send(fd, "msssssi", 3, "op", "send", "to", "echo", "data", (int64_t)7));
  cr_assert(gwc_send(fd, "msssusssi", 4, "op", "send", "id", (uint64_t)6, "to", "echo", "data",
                     (int64_t)8));
  recv_frame(fd, &f);
  cr_assert(gwc_ok(&f));
  cr_assert_eq(gwc_u64(&f, "id"), 6, "the first answer is the acknowledged send's");
  cr_assert_null(gwc_get(&f, "data"));
  gwc_frame_free(&f);
  cr_assert_eq(call_int(fd, 7, "echo", 9), 9); /* after both sends, in order */
  cr_assert_eq(hive_actor_stats(h, echo, &after), HIVE_OK);
  cr_assert_geq(after.processed, before.processed + 3);
  close(fd);
  hive_stop(h);
}

Test(gateway, calls_are_answered_as_their_replies_come_not_in_order) {
  hive_t *h = gw_start_default();
  int fd = gw_open(h, NULL);
  cr_assert(gwc_send(fd, "msssusssu", 4, "op", "call", "id", (uint64_t)1, "to", "slow", "data",
                     (uint64_t)300));
  cr_assert(gwc_send(fd, "msssusssu", 4, "op", "call", "id", (uint64_t)2, "to", "echo", "data",
                     (uint64_t)5));
  gwc_frame_t f;
  recv_frame(fd, &f);
  cr_assert_eq(gwc_u64(&f, "id"), 2, "the fast call first");
  gwc_frame_free(&f);
  recv_frame(fd, &f);
  cr_assert_eq(gwc_u64(&f, "id"), 1);
  cr_assert_eq(gwc_u64(&f, "data"), 300);
  gwc_frame_free(&f);
  close(fd);
  hive_stop(h);
}

Test(gateway, call_errors_timeout_noproc_and_a_reply_that_is_not_msgpack) {
  hive_t *h = gw_start_default();
  int fd = gw_open(h, NULL);
  cr_assert(gwc_send(fd, "msssusssu", 4, "op", "call", "id", (uint64_t)1, "to", "never",
                     "timeout_ms", (uint64_t)50));
  expect_error(fd, 1, "timeout");
  cr_assert(gwc_send(fd, "msssuss", 3, "op", "call", "id", (uint64_t)2, "to", "crash"));
  expect_error(fd, 2, "noproc"); /* it ended before replying */
  cr_assert(gwc_send(fd, "msssuss", 3, "op", "call", "id", (uint64_t)3, "to", "nobody"));
  expect_error(fd, 3, "noproc");
  cr_assert(gwc_send(fd, "msssusu", 3, "op", "call", "id", (uint64_t)4, "to", (uint64_t)12345));
  expect_error(fd, 4, "noproc");
  cr_assert(gwc_send(fd, "msssuss", 3, "op", "call", "id", (uint64_t)5, "to", "bytes"));
  gwc_frame_t f;
  recv_frame(fd, &f);
  const msgpack_object *d = gwc_get(&f, "data");
  cr_assert(gwc_ok(&f) && d != NULL && d->type == MSGPACK_OBJECT_BIN && d->via.bin.size == 3,
            "bytes that are not one msgpack value come as a bin");
  gwc_frame_free(&f);
  cr_assert_eq(call_int(fd, 6, "echo", 1), 1, "the connection still serves");
  close(fd);
  hive_stop(h);
}

Test(gateway, actors_push_messages_to_a_connection_by_its_pid) {
  hive_t *h = gw_start_default();
  hive_pid_t self;
  int fd = gw_open(h, &self);
  cr_assert(gwc_send(fd, "msssusssauuu", 4, "op", "call", "id", (uint64_t)1, "to", "pusher", "data",
                     (uint32_t)3, self, (uint64_t)5, (uint64_t)100));
  gwc_frame_t f;
  hive_pid_t pusher = hive_whereis(h, "pusher");
  for (uint64_t i = 0; i < 5; i++) {
    recv_frame(fd, &f);
    cr_assert(gwc_is(&f, "op", "message"), "pushed before the reply");
    cr_assert_eq(gwc_u64(&f, "from"), pusher);
    cr_assert_eq(gwc_u64(&f, "tag"), 100);
    cr_assert_eq(gwc_u64(&f, "data"), i, "in the order sent");
    gwc_frame_free(&f);
  }
  recv_frame(fd, &f);
  cr_assert(gwc_ok(&f) && gwc_u64(&f, "id") == 1 && gwc_u64(&f, "data") == 5);
  gwc_frame_free(&f);
  /* From C too: any actor's or thread's hive_send to the pid. */
  cr_assert_eq(hive_send(h, self, 200, "\x2a", 1), HIVE_OK);
  recv_frame(fd, &f);
  cr_assert(gwc_is(&f, "op", "message") && gwc_u64(&f, "tag") == 200 && gwc_u64(&f, "from") == 0 &&
            gwc_u64(&f, "data") == 42);
  gwc_frame_free(&f);
  close(fd);
  hive_stop(h);
}

Test(gateway, a_wrong_token_is_unauthorized_and_closed) {
  hive_t *h = gw_start_default();
  int fd = gwc_connect_tcp(hive_gateway_port(h));
  cr_assert(gwc_send(fd, "mssss", 2, "op", "hello", "token", "secret-tokem"));
  expect_error(fd, UINT64_MAX, "unauthorized");
  cr_assert(gwc_closed(fd));
  close(fd);
  fd = gwc_connect_tcp(hive_gateway_port(h)); /* no token at all */
  cr_assert(gwc_send(fd, "mss", 1, "op", "hello"));
  expect_error(fd, UINT64_MAX, "unauthorized");
  cr_assert(gwc_closed(fd));
  close(fd);
  wait_log("wrong token");
  hive_gateway_stats_t gs;
  cr_assert_eq(hive_gateway_stats(h, &gs), HIVE_OK);
  cr_assert_eq(gs.errors[HIVE_GW_UNAUTHORIZED], 2);
  hive_stop(h);
}

/* A client that connects and says nothing would hold one of max_conns for
 * ever: after gateway_hello_ms it is answered unauthorized and closed. One
 * welcomed before it keeps its connection past its own deadline. */
Test(gateway, a_client_that_says_no_hello_is_closed_after_hello_ms) {
  hive_config_t cfg;
  gw_config(&cfg);
  cfg.gateway_hello_ms = 200;
  hive_t *h = gw_start(&cfg);
  int good = gw_open(h, NULL);
  int silent = gwc_connect_tcp(hive_gateway_port(h)); /* after good: its deadline is later */
  cr_assert_geq(silent, 0);
  uint64_t t0 = test_now_ns();
  expect_error(silent, UINT64_MAX, "unauthorized");
  cr_assert_geq(test_now_ns() - t0, 150000000u, "not before its deadline");
  cr_assert(gwc_closed(silent));
  close(silent);
  cr_assert_eq(call_int(good, 1, "echo", 7), 7, "the welcomed one is still served");
  close(good);
  hive_stop(h);
}

Test(gateway, nothing_but_hello_is_answered_before_a_good_hello) {
  hive_t *h = gw_start_default();
  int fd = gwc_connect_tcp(hive_gateway_port(h));
  cr_assert(gwc_send(fd, "msssuss", 3, "op", "whereis", "id", (uint64_t)9, "name", "echo"));
  expect_error(fd, 9, "unauthorized");
  cr_assert(gwc_closed(fd));
  close(fd);
  hive_stop(h);
}

/* Sends raw bytes as one frame. */
static void send_raw_frame(int fd, const void *body, size_t len) {
  void *copy = malloc(len);
  memcpy(copy, body, len);
  cr_assert(gwc_send_body(fd, copy, len));
}

Test(gateway, malformed_frames_get_errors_and_framing_errors_close_the_connection) {
  hive_t *h = gw_start_default();
  /* Not msgpack: badframe, closed. */
  int fd = gw_open(h, NULL);
  send_raw_frame(fd, "\xc1", 1);
  expect_error(fd, UINT64_MAX, "badframe");
  cr_assert(gwc_closed(fd));
  close(fd);
  /* msgpack, but not a map: badframe, closed. */
  fd = gw_open(h, NULL);
  send_raw_frame(fd, "\x92\x01\x02", 3);
  expect_error(fd, UINT64_MAX, "badframe");
  cr_assert(gwc_closed(fd));
  close(fd);
  /* Two values in one frame: badframe. */
  fd = gw_open(h, NULL);
  send_raw_frame(fd, "\x80\x80", 2);
  expect_error(fd, UINT64_MAX, "badframe");
  cr_assert(gwc_closed(fd));
  close(fd);
  /* A map without op, a field of the wrong type, an unknown op: errors
   * that name the problem; the connection stays. */
  fd = gw_open(h, NULL);
  cr_assert(gwc_send(fd, "msu", 1, "id", (uint64_t)1));
  expect_error(fd, 1, "badarg");
  cr_assert(
      gwc_send(fd, "msssussss", 4, "op", "call", "id", (uint64_t)2, "to", "echo", "tag", "x"));
  gwc_frame_t f;
  recv_frame(fd, &f);
  cr_assert(gwc_is(&f, "error", "badarg") && gwc_u64(&f, "id") == 2);
  const msgpack_object *detail = gwc_get(&f, "detail");
  cr_assert(detail->via.str.size > 4 && memcmp(detail->via.str.ptr, "tag:", 4) == 0,
            "the detail names the field");
  gwc_frame_free(&f);
  cr_assert(gwc_send(fd, "msssu", 2, "op", "call", "id", (uint64_t)3) &&
            gwc_send(fd, "msi", 1, "op", (int64_t)5));
  expect_error(fd, 3, "badarg"); /* call without to */
  expect_error(fd, UINT64_MAX, "badarg");
  cr_assert(gwc_send(fd, "msssu", 2, "op", "launch", "id", (uint64_t)4));
  expect_error(fd, 4, "unknownop");
  cr_assert_eq(call_int(fd, 5, "echo", 5), 5, "the connection still serves");
  close(fd);
  hive_gateway_stats_t gs;
  cr_assert_eq(hive_gateway_stats(h, &gs), HIVE_OK);
  cr_assert_eq(gs.errors[HIVE_GW_BADFRAME], 3);
  cr_assert_eq(gs.errors[HIVE_GW_BADARG], 4);
  cr_assert_eq(gs.errors[HIVE_GW_UNKNOWNOP], 1);
  hive_stop(h);
}

Test(gateway, a_length_prefix_over_the_limit_is_refused_before_any_allocation) {
  hive_t *h = gw_start_default();
  struct mallinfo2 before = mallinfo2();
  int fd = gw_open(h, NULL);
  unsigned char huge[4] = {0x7f, 0xff, 0xff, 0xff}; /* 2 GiB */
  cr_assert(gwc_write_all(fd, huge, 4));
  char junk[65536] = {0};
  gwc_write_all(fd, junk, sizeof(junk)); /* the frame's first bytes: not kept */
  expect_error(fd, UINT64_MAX, "toolarge");
  cr_assert(gwc_closed(fd));
  close(fd);
  struct mallinfo2 after = mallinfo2();
  if (before.uordblks != 0) /* sanitizers replace malloc: there ASan would fail the test */
    cr_assert_lt(after.uordblks, before.uordblks + (1u << 20), "no frame-sized allocation");
  /* A frame cut short, then EOF: the node goes on serving others. */
  fd = gw_open(h, NULL);
  unsigned char cut[6] = {0, 0, 0, 10, 0x81, 0xa2};
  cr_assert(gwc_write_all(fd, cut, sizeof(cut)));
  close(fd);
  fd = gw_open(h, NULL);
  cr_assert_eq(call_int(fd, 1, "echo", 1), 1);
  close(fd);
  hive_gateway_stats_t gs;
  cr_assert_eq(hive_gateway_stats(h, &gs), HIVE_OK);
  cr_assert_eq(gs.errors[HIVE_GW_TOOLARGE], 1);
  hive_stop(h);
}

Test(gateway, calls_beyond_max_inflight_are_busy_and_the_connection_stays) {
  hive_config_t cfg;
  gw_config(&cfg);
  cfg.gateway_max_inflight = 4;
  hive_t *h = gw_start(&cfg);
  int fd = gw_open(h, NULL);
  for (uint64_t id = 1; id <= 5; id++)
    cr_assert(gwc_send(fd, "msssusssu", 4, "op", "call", "id", id, "to", "never", "timeout_ms",
                       (uint64_t)60000));
  expect_error(fd, 5, "busy");
  cr_assert(gwc_send(fd, "msssuss", 3, "op", "whereis", "id", (uint64_t)6, "name", "echo"));
  gwc_frame_t f;
  recv_frame(fd, &f);
  cr_assert(gwc_ok(&f) && gwc_u64(&f, "id") == 6);
  gwc_frame_free(&f);
  close(fd);
  hive_stop(h);
}

Test(gateway, a_client_that_does_not_read_is_closed_logged_and_counted) {
  hive_config_t cfg;
  gw_config(&cfg);
  cfg.gateway_max_frame = 4096; /* unsent output bound: 32 KiB */
  hive_t *h = gw_start(&cfg);
  hive_pid_t self;
  int fd = gw_open(h, &self);
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  /* A million pushed messages, never read. */
  cr_assert(gwc_send(fd, "msssssauuu", 3, "op", "send", "to", "pusher", "data", (uint32_t)3, self,
                     (uint64_t)1000000, (uint64_t)100));
  wait_log("does not read its answers");
  hive_gateway_stats_t gs;
  cr_assert_eq(hive_gateway_stats(h, &gs), HIVE_OK);
  cr_assert_eq(gs.slow_reader_closes, 1);
  cr_assert(gwc_closed(fd));
  close(fd);
  fd = gw_open(h, NULL);
  cr_assert_eq(call_int(fd, 1, "echo", 3), 3, "others are served");
  close(fd);
  hive_stop(h);
}

Test(gateway, a_connection_over_max_conns_gets_an_error_and_is_closed) {
  hive_config_t cfg;
  gw_config(&cfg);
  cfg.gateway_max_conns = 2;
  hive_t *h = gw_start(&cfg);
  int a = gw_open(h, NULL), b = gw_open(h, NULL);
  int c = gwc_connect_tcp(hive_gateway_port(h));
  expect_error(c, UINT64_MAX, "busy");
  cr_assert(gwc_closed(c));
  close(c);
  hive_gateway_stats_t gs;
  cr_assert_eq(hive_gateway_stats(h, &gs), HIVE_OK);
  cr_assert_eq(gs.refused, 1);
  cr_assert_eq(gs.connections, 2);
  cr_assert_eq(call_int(a, 1, "echo", 1), 1);
  cr_assert_eq(call_int(b, 1, "echo", 2), 2);
  close(a);
  close(b);
  hive_stop(h);
}

/* Clients make calls pipelined on many connections at once; every answer
 * must come back to its own connection, with its own id and data. (Each
 * call may wait 60 s: under a loaded sanitizer build 100 000 calls queue
 * for a while, and the default 5 s was once not enough.) */
static void many_clients(hive_t *h, int nconns, int calls) {
  int *fds = malloc(sizeof(int) * (size_t)nconns);
  for (int i = 0; i < nconns; i++)
    fds[i] = gw_open(h, NULL);
  for (int i = 0; i < nconns; i++)
    for (int k = 0; k < calls; k++)
      cr_assert(gwc_send(fds[i], "msssusssusu", 5, "op", "call", "id", (uint64_t)k, "to", "echo",
                         "data", (uint64_t)i * 1000 + (uint64_t)k, "timeout_ms", (uint64_t)60000));
  bool *seen = calloc((size_t)calls, 1);
  for (int i = 0; i < nconns; i++) {
    memset(seen, 0, (size_t)calls);
    for (int k = 0; k < calls; k++) {
      gwc_frame_t f;
      recv_frame(fds[i], &f);
      uint64_t id = gwc_u64(&f, "id");
      const msgpack_object *e = gwc_get(&f, "error");
      cr_assert(gwc_ok(&f) && id < (uint64_t)calls && !seen[id], "each id once (id %llu: %.*s)",
                (unsigned long long)id,
                e != NULL && e->type == MSGPACK_OBJECT_STR ? (int)e->via.str.size : 2,
                e != NULL && e->type == MSGPACK_OBJECT_STR ? e->via.str.ptr : "ok");
      seen[id] = true;
      cr_assert_eq(gwc_u64(&f, "data"), (uint64_t)i * 1000 + id, "the answer to that call");
      gwc_frame_free(&f);
    }
    close(fds[i]);
  }
  free(seen);
  free(fds);
}

Test(gateway, a_thousand_connections_of_a_hundred_calls_each_get_their_own_answers) {
  hive_t *h = gw_start_default();
  many_clients(h, 1000, 100);
  hive_gateway_stats_t gs;
  cr_assert_eq(hive_gateway_stats(h, &gs), HIVE_OK);
  cr_assert_geq(gs.frames_in, 1000 * 101);
  cr_assert_geq(gs.frames_out, 1000 * 101);
  hive_stop(h);
}

typedef struct {
  int port;
  sem_t done; /* posted once the others finished */
  bool others_done_first;
} slow_client_t;

/* Sends a hello one byte at a time, until the others are done. */
static void *slow_client(void *arg) {
  slow_client_t *s = arg;
  int fd = gwc_connect_tcp(s->port);
  void *body;
  size_t len;
  hive_pack(&body, &len, "mssss", 2, "op", "hello", "token", TOKEN);
  unsigned char frame[256] = {0, 0, (unsigned char)(len >> 8), (unsigned char)len};
  memcpy(frame + 4, body, len);
  free(body);
  for (size_t i = 0; i < len + 4; i++) {
    gwc_write_all(fd, &frame[i], 1);
    if (i + 1 < len + 4 && test_wait(&s->done, 0)) /* polls, does not wait */
      s->others_done_first = true, sem_post(&s->done);
    struct timespec t = {.tv_nsec = 100000000}; /* the slowness under test */
    nanosleep(&t, NULL);
  }
  gwc_frame_t f;
  bool welcomed = gwc_recv(fd, &f) && gwc_is(&f, "op", "welcome");
  gwc_frame_free(&f);
  close(fd);
  return welcomed ? s : NULL;
}

Test(gateway, a_client_sending_a_byte_a_second_delays_no_other_client) {
  hive_t *h = gw_start_default();
  slow_client_t s = {.port = hive_gateway_port(h)};
  sem_init(&s.done, 0, 0);
  pthread_t t;
  pthread_create(&t, NULL, slow_client, &s);
  many_clients(h, 50, 100);
  sem_post(&s.done);
  void *welcomed;
  pthread_join(t, &welcomed);
  cr_assert(s.others_done_first, "50 clients finished while the slow one was mid-frame");
  cr_assert_not_null(welcomed, "and the slow one was welcomed in the end");
  hive_stop(h);
}

typedef struct {
  hive_t *h;
} stopper_t;

static void *stop_node(void *arg) {
  hive_stop(((stopper_t *)arg)->h);
  return NULL;
}

Test(gateway, hive_stop_answers_every_call_in_flight_with_shutdown_then_closes) {
  hive_t *h = gw_start_default();
  int fd = gw_open(h, NULL);
  for (uint64_t id = 1; id <= 10; id++)
    cr_assert(gwc_send(fd, "msssusssu", 4, "op", "call", "id", id, "to", "never", "timeout_ms",
                       (uint64_t)60000));
  cr_assert_eq(call_int(fd, 11, "echo", 11), 11); /* the ten were made before it */
  stopper_t st = {.h = h};
  pthread_t t;
  pthread_create(&t, NULL, stop_node, &st);
  bool seen[11] = {false};
  for (int i = 0; i < 10; i++) {
    gwc_frame_t f;
    recv_frame(fd, &f);
    uint64_t id = gwc_u64(&f, "id");
    cr_assert(gwc_is(&f, "error", "shutdown") && id >= 1 && id <= 10 && !seen[id]);
    seen[id] = true;
    gwc_frame_free(&f);
  }
  cr_assert(gwc_closed(fd));
  close(fd);
  pthread_join(t, NULL);
}

Test(gateway, the_unix_socket_is_mode_0600_and_needs_no_token) {
  char path[64];
  snprintf(path, sizeof(path), "/tmp/hive-gw-test-%d.sock", (int)getpid());
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.log_level = HIVE_LOG_NONE;
  cfg.gateway_unix = path;
  hive_t *h = test_start_config(&cfg);
  hive_pid_t sup;
  cr_assert_eq(gwt_start(h, &sup), HIVE_OK);
  cr_assert_eq(hive_gateway_port(h), HIVE_ENOTFOUND, "no TCP listener");
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0600);
  int fd = gwc_connect_unix(path);
  cr_assert_geq(fd, 0);
  cr_assert(gwc_send(fd, "mss", 1, "op", "hello"));
  gwc_frame_t f;
  recv_frame(fd, &f);
  cr_assert(gwc_is(&f, "op", "welcome"));
  gwc_frame_free(&f);
  cr_assert_eq(call_int(fd, 1, "echo", 4), 4);
  close(fd);
  hive_stop(h);
  cr_assert_neq(stat(path, &st), 0, "removed by hive_stop");
}

Test(gateway, a_tcp_gateway_without_a_token_refuses_to_start_and_says_why) {
  hive_config_t cfg;
  gw_config(&cfg);
  cfg.gateway_token = NULL;
  unsetenv("HIVE_GATEWAY_TOKEN");
  hive_t *h;
  cr_assert_eq(hive_start(&h, &cfg), HIVE_EINVAL);
  wait_log("needs a token");
  setenv("HIVE_GATEWAY_TOKEN", TOKEN, 1); /* the environment's token serves */
  h = gw_start(&cfg);
  int fd = gw_open(h, NULL);
  close(fd);
  hive_stop(h);
  unsetenv("HIVE_GATEWAY_TOKEN");
  cfg.gateway_tcp = "127.0.0.1:notaport";
  cr_assert_eq(hive_start(&h, &cfg), HIVE_EINVAL);
}

Test(gateway, a_node_without_a_gateway_says_so) {
  hive_t *h = test_start(1);
  hive_gateway_stats_t gs;
  cr_assert_eq(hive_gateway_stats(h, &gs), HIVE_OK);
  cr_assert(!gs.running);
  cr_assert_eq(hive_gateway_port(h), HIVE_ENOTFOUND);
  hive_stop(h);
}

Test(gateway, a_client_that_hangs_up_with_calls_in_flight_ends_its_actor_alone) {
  char path[64];
  snprintf(path, sizeof(path), "/tmp/hive-gw-hangup-%d.sock", (int)getpid());
  hive_config_t cfg;
  gw_config(&cfg);
  cfg.gateway_unix = path;
  hive_t *h = gw_start(&cfg);
  for (int round = 0; round < 30; round++) {
    /* A Unix socket's hang-up comes as EPOLLHUP; a TCP client that closes
     * with answers unread sends a reset; one that closes cleanly, EOF. */
    int fd = round % 3 == 0 ? gwc_connect_unix(path) : gwc_connect_tcp(hive_gateway_port(h));
    cr_assert(gwc_send(fd, "mssss", 2, "op", "hello", "token", TOKEN));
    gwc_frame_t f;
    recv_frame(fd, &f);
    hive_pid_t self = gwc_u64(&f, "self");
    gwc_frame_free(&f);
    for (uint64_t id = 1; id <= 5; id++)
      cr_assert(gwc_send(fd, "msssusssu", 4, "op", "call", "id", id, "to", "never", "timeout_ms",
                         (uint64_t)60000));
    if (round % 3 == 1) { /* an answer left unread */
      cr_assert_eq(call_int(fd, 9, "echo", 1), 1);
      cr_assert(gwc_send(fd, "msssusssu", 4, "op", "call", "id", (uint64_t)10, "to", "echo", "data",
                         (uint64_t)1));
    }
    close(fd);
    TEST_JOIN(h, self); /* its actor ends */
  }
  hive_gateway_stats_t gs;
  cr_assert_eq(hive_gateway_stats(h, &gs), HIVE_OK);
  cr_assert_eq(gs.connections, 0);
  int fd = gw_open(h, NULL);
  cr_assert_eq(call_int(fd, 1, "echo", 2), 2, "the node serves on");
  close(fd);
  hive_stop(h);
}

Test(gateway, a_client_that_hangs_up_while_answers_are_written_costs_no_sigpipe) {
  signal(SIGPIPE, SIG_DFL); /* so that a SIGPIPE would end this test */
  hive_t *h = gw_start_default();
  for (int round = 0; round < 5; round++) {
    hive_pid_t self;
    int fd = gw_open(h, &self);
    /* 100 000 pushes on their way, and the client gone: the node's writes
     * fail with EPIPE, which must not be a SIGPIPE (it would end this
     * process). */
    cr_assert(gwc_send(fd, "msssssauuu", 3, "op", "send", "to", "pusher", "data", (uint32_t)3, self,
                       (uint64_t)100000, (uint64_t)100));
    gwc_frame_t f;
    recv_frame(fd, &f); /* the first push: writing has begun */
    gwc_frame_free(&f);
    close(fd);
    TEST_JOIN(h, self);
  }
  int fd = gw_open(h, NULL);
  cr_assert_eq(call_int(fd, 1, "echo", 5), 5, "the node serves on");
  close(fd);
  hive_stop(h);
}

Test(gateway, a_late_answer_to_a_call_that_timed_out_is_dropped) {
  hive_t *h = gw_start_default();
  int fd = gw_open(h, NULL);
  /* slow answers after 200 ms; the call waits 20. */
  cr_assert(gwc_send(fd, "msssusssusu", 5, "op", "call", "id", (uint64_t)1, "to", "slow", "data",
                     (uint64_t)200, "timeout_ms", (uint64_t)20));
  expect_error(fd, 1, "timeout");
  /* slow takes one call at a time: this one is answered after the late
   * reply to the first has reached the connection. */
  cr_assert(gwc_send(fd, "msssusssu", 4, "op", "call", "id", (uint64_t)2, "to", "slow", "data",
                     (uint64_t)1));
  gwc_frame_t f;
  recv_frame(fd, &f);
  cr_assert_eq(gwc_u64(&f, "id"), 2, "nothing for id 1 after its timeout");
  cr_assert(gwc_ok(&f));
  gwc_frame_free(&f);
  close(fd);
  hive_stop(h);
}
