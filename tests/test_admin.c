/*
 * test_admin.c - the admin socket and hivectl, run as a subprocess against
 * a node with known state: an actor blocked with exactly 1 000 queued
 * messages, a supervisor whose children were restarted, named actors.
 */
#include <msgpack.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blocker.h"
#include "gw_client.h"
#include "supervised.h"

static char sock_path[108];
static char out[1 << 20]; /* what the last hivectl run printed */

static hive_t *start_with_socket(void) {
  snprintf(sock_path, sizeof(sock_path), "/tmp/hive-test-%d.sock", (int)getpid());
  unlink(sock_path);
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = 2;
  cfg.log_level = HIVE_LOG_NONE;
  cfg.admin_socket = sock_path;
  return test_start_config(&cfg);
}

/* Runs hivectl with args (stdout and stderr into out); its exit status. */
static int hivectl(const char *args) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd), "%s -s %s %s 2>&1", HIVECTL, sock_path, args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, sizeof(out) - 1, p);
  out[n] = '\0';
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The flat JSON object in out that contains needle, copied into obj. */
static void json_object_with(const char *needle, char *obj, size_t size) {
  const char *hit = strstr(out, needle);
  cr_assert_not_null(hit, "no %s in: %s", needle, out);
  const char *start = hit, *end = strchr(hit, '}');
  while (start > out && *start != '{')
    start--;
  cr_assert(end != NULL && (size_t)(end - start) < size);
  memcpy(obj, start, (size_t)(end - start + 1));
  obj[end - start + 1] = '\0';
}

#define ASSERT_HAS(text, needle)                                                                   \
  cr_assert(strstr((text), (needle)) != NULL, "no %s in: %s", (needle), (text))

static hive_pid_t spawn_blocked_named(hive_t *h, const char *name, int queued) {
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.name = name;
  hive_pid_t pid = blocker_spawn_blocked(h, &opts);
  for (int i = 0; i < queued; i++)
    cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_OK);
  return pid;
}

static void release_blocked(hive_t *h, hive_pid_t pid, int queued) {
  (void)pid;
  expect = queued + 1;
  sem_post(&gate);
  TEST_WAIT(&handled);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(admin, ps_and_stats_show_an_actor_blocked_with_1000_queued, .init = blocker_setup) {
  hive_t *h = start_with_socket();
  hive_pid_t pid = spawn_blocked_named(h, "blocked", 1000);
  char pid_text[HIVE_PID_STRLEN], obj[4096];
  hive_pid_format(pid, pid_text, sizeof(pid_text));

  cr_assert_eq(hivectl("--json ps"), 0, "%s", out);
  json_object_with("\"name\":\"blocked\"", obj, sizeof(obj));
  ASSERT_HAS(obj, "\"mailbox_len\":1000,");
  ASSERT_HAS(obj, "\"mailbox_hwm\":1000,");
  ASSERT_HAS(obj, "\"state\":\"running\"");
  ASSERT_HAS(obj, "\"behaviour\":\"blocker\"");
  ASSERT_HAS(obj, "\"processed\":1,");
  ASSERT_HAS(obj, "\"enqueued\":1001,");

  cr_assert_eq(hivectl("ps"), 0, "%s", out);
  ASSERT_HAS(out, "MAILBOX");
  const char *line = strstr(out, pid_text);
  cr_assert_not_null(line, "%s", out);
  char p[32], name[32], behaviour[32], state[16];
  unsigned long long len, hwm, processed, dropped;
  double max_ms;
  cr_assert_eq(sscanf(line, "%31s %31s %31s %15s %llu %llu %llu %llu %lf", p, name, behaviour,
                      state, &len, &hwm, &processed, &dropped, &max_ms),
               9, "%s", line);
  cr_assert_str_eq(name, "blocked");
  cr_assert_str_eq(state, "running");
  cr_assert_eq(len, 1000);
  cr_assert_eq(hwm, 1000);
  cr_assert_eq(processed, 1);
  cr_assert_eq(dropped, 0);

  /* stats by name and by pid agree. */
  cr_assert_eq(hivectl("--json stats blocked"), 0, "%s", out);
  ASSERT_HAS(out, "\"mailbox_len\":1000,");
  ASSERT_HAS(out, pid_text);
  char args[64];
  snprintf(args, sizeof(args), "--json stats '%s'", pid_text);
  cr_assert_eq(hivectl(args), 0, "%s", out);
  ASSERT_HAS(out, "\"name\":\"blocked\"");

  /* top: sorted by mailbox length, so the blocked actor comes first. */
  cr_assert_eq(hivectl("top --iterations 2 --interval 50 </dev/null"), 0, "%s", out);
  const char *header = strstr(out, "PID");
  cr_assert_not_null(header, "%s", out);
  const char *first_row = strchr(header, '\n') + 1;
  cr_assert(strncmp(first_row, pid_text, strlen(pid_text)) == 0, "%s", out);
  cr_assert_not_null(strstr(first_row + 1, "hive top"), "two refreshes: %s", out);

  release_blocked(h, pid, 1000);
}

Test(admin, tree_counts_restarts_and_kill_by_name_restarts_the_child, .init = log_setup) {
  hive_t *h = start_with_socket();
  w_arg_t args[2] = {{.id = "a"}, {.id = "b"}};
  hive_child_spec_t specs[2];
  w_specs(specs, args, 2, HIVE_RESTART_PERMANENT);
  hive_spawn_opts_t named;
  hive_spawn_opts_init(&named);
  named.name = "worker_a";
  specs[0].opts = &named;
  hive_pid_t sup = sup_with(h, HIVE_SUP_ONE_FOR_ONE, specs, 2);
  wait_events(2);
  for (int i = 0; i < 2; i++) { /* two crashes, two restarts */
    int before = log_count();
    hive_send(h, child_pid(h, sup, "a"), TAG_CRASH, NULL, 0);
    wait_events(before + 2); /* stop a, start a */
  }

  char sup_text[HIVE_PID_STRLEN], obj[1024];
  hive_pid_format(sup, sup_text, sizeof(sup_text));
  cr_assert_eq(hivectl("--json tree"), 0, "%s", out);
  ASSERT_HAS(out, sup_text);
  json_object_with("\"id\":\"a\"", obj, sizeof(obj));
  ASSERT_HAS(obj, "\"restarts\":2,");
  ASSERT_HAS(obj, "\"name\":\"worker_a\"");
  json_object_with("\"id\":\"b\"", obj, sizeof(obj));
  ASSERT_HAS(obj, "\"restarts\":0,");
  cr_assert_eq(hivectl("tree"), 0, "%s", out);
  const char *row = strstr(out, "\n  a ");
  cr_assert_not_null(row, "%s", out);
  char id[16], pid[32], type[16], behaviour[32], name[32];
  unsigned long long restarts;
  cr_assert_eq(
      sscanf(row, "%15s %31s %15s %31s %llu %31s", id, pid, type, behaviour, &restarts, name), 6,
      "%s", row);
  cr_assert_str_eq(type, "worker");
  cr_assert_eq(restarts, 2);
  cr_assert_str_eq(name, "worker_a");

  hive_pid_t old = hive_whereis(h, "worker_a");
  char old_text[HIVE_PID_STRLEN], expect_line[64];
  hive_pid_format(old, old_text, sizeof(old_text));
  int before = log_count();
  cr_assert_eq(hivectl("kill worker_a"), 0, "%s", out);
  snprintf(expect_line, sizeof(expect_line), "killed %s", old_text);
  ASSERT_HAS(out, expect_line);
  wait_events(before + 2); /* stop a, start a: restarted by its supervisor */
  hive_pid_t now = hive_whereis(h, "worker_a");
  cr_assert(now != 0 && now != old);
  cr_assert_eq(hivectl("--json tree"), 0, "%s", out);
  json_object_with("\"id\":\"a\"", obj, sizeof(obj));
  ASSERT_HAS(obj, "\"restarts\":3,");
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(admin, clear_errors_for_unknown_actors_and_absent_nodes) {
  hive_t *h = start_with_socket();
  cr_assert_eq(hivectl("stats '<0.999.1>'"), 1, "%s", out);
  ASSERT_HAS(out, "no actor <0.999.1>");
  cr_assert_eq(hivectl("kill ghost"), 1, "%s", out);
  ASSERT_HAS(out, "no actor named 'ghost'");
  cr_assert_eq(hivectl("frobnicate"), 2, "%s", out);
  ASSERT_HAS(out, "unknown command");
  cr_assert_eq(hive_stop(h), HIVE_OK);

  /* hive_stop removed the socket: nothing there now. */
  cr_assert_eq(hivectl("ps"), 2, "%s", out);
  ASSERT_HAS(out, "no socket at");

  /* A socket file nobody listens on refuses the connection. */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, sock_path);
  cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  cr_assert_eq(hivectl("ps"), 2, "%s", out);
  ASSERT_HAS(out, "connection refused");
  close(fd);

  /* Such a stale file is replaced by the next node; a live one is not. */
  h = start_with_socket(); /* unlinks first: bind it again as stale */
  hive_stop(h);
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.log_level = HIVE_LOG_NONE;
  cfg.admin_socket = sock_path;
  hive_t *first = NULL, *second = NULL;
  cr_assert_eq(hive_start(&first, &cfg), HIVE_OK, "a stale socket file is replaced");
  cr_assert_eq(hive_start(&second, &cfg), HIVE_EADDRINUSE);
  hive_stop(first);
  close(fd);
  /* A file that is not a socket is never touched. */
  FILE *f = fopen(sock_path, "w");
  fputs("keep me", f);
  fclose(f);
  cr_assert_eq(hive_start(&second, &cfg), HIVE_EADDRINUSE);
  struct stat st;
  cr_assert_eq(stat(sock_path, &st), 0);
  cr_assert(S_ISREG(st.st_mode) && st.st_size == 7);
  unlink(sock_path);
}

Test(admin, socket_file_is_mode_0600_and_removed_at_stop) {
  hive_t *h = start_with_socket();
  struct stat st;
  cr_assert_eq(stat(sock_path, &st), 0);
  cr_assert(S_ISSOCK(st.st_mode));
  cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
  cr_assert_eq(hive_stop(h), HIVE_OK);
  cr_assert_eq(stat(sock_path, &st), -1);
}

/* ---- raw frames ---------------------------------------------------------- */

static int raw_connect(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, sock_path);
  cr_assert_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  return fd;
}

static void raw_send(int fd, const void *body, uint32_t len, uint32_t declared) {
  unsigned char header[4] = {declared >> 24, declared >> 16, declared >> 8, declared};
  cr_assert_eq(write(fd, header, 4), 4);
  if (len > 0)
    cr_assert_eq(write(fd, body, len), (ssize_t)len);
}

static void raw_request(int fd, const char *op) {
  msgpack_sbuffer sbuf;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sbuf);
  msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 1);
  msgpack_pack_str_with_body(&pk, "op", 2);
  msgpack_pack_str_with_body(&pk, op, strlen(op));
  raw_send(fd, sbuf.data, (uint32_t)sbuf.size, (uint32_t)sbuf.size);
  msgpack_sbuffer_destroy(&sbuf);
}

/* Reads one reply frame; its "ok" and "error" into the arguments. */
static void raw_reply(int fd, bool *ok, char *error, size_t size) {
  unsigned char header[4];
  cr_assert(gwc_read_all(fd, header, 4), "no reply frame");
  size_t len = ((size_t)header[0] << 24) | (header[1] << 16) | (header[2] << 8) | header[3];
  char *body = malloc(len);
  cr_assert(gwc_read_all(fd, body, len));
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  cr_assert_eq(msgpack_unpack_next(&u, body, len, &off), MSGPACK_UNPACK_SUCCESS);
  cr_assert_eq(u.data.type, MSGPACK_OBJECT_MAP);
  *ok = false;
  error[0] = '\0';
  for (uint32_t i = 0; i < u.data.via.map.size; i++) {
    msgpack_object_kv *kv = &u.data.via.map.ptr[i];
    if (kv->key.via.str.size == 2 && memcmp(kv->key.via.str.ptr, "ok", 2) == 0)
      *ok = kv->val.via.boolean;
    if (kv->key.via.str.size == 5 && memcmp(kv->key.via.str.ptr, "error", 5) == 0)
      snprintf(error, size, "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
  }
  msgpack_unpacked_destroy(&u);
  free(body);
}

/* True if the node closed fd: end of file within the test timeout. */
static bool closed_by_node(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  char c;
  return poll(&p, 1, TEST_TIMEOUT_MS) == 1 && read(fd, &c, 1) == 0;
}

static char logged[8192];
static pthread_mutex_t logged_lock = PTHREAD_MUTEX_INITIALIZER;
static void log_to_buffer(void *user, int level, const char *line) {
  (void)user, (void)level;
  pthread_mutex_lock(&logged_lock);
  strncat(logged, line, sizeof(logged) - strlen(logged) - 2);
  strcat(logged, "\n");
  pthread_mutex_unlock(&logged_lock);
}

Test(admin, bad_and_oversized_frames_close_only_their_connection) {
  snprintf(sock_path, sizeof(sock_path), "/tmp/hive-test-%d.sock", (int)getpid());
  unlink(sock_path);
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.admin_socket = sock_path;
  cfg.log_fn = log_to_buffer;
  cfg.log_level = HIVE_LOG_WARNING;
  hive_t *h = test_start_config(&cfg);
  int good = raw_connect();
  bool ok;
  char error[256];

  int garbage = raw_connect();
  raw_send(garbage, "\xc1\xc1\xc1\xc1\xc1", 5, 5); /* 0xc1 is never used in msgpack */
  raw_reply(garbage, &ok, error, sizeof(error));
  cr_assert(!ok);
  ASSERT_HAS(error, "not msgpack");
  cr_assert(closed_by_node(garbage));
  close(garbage);

  int not_map = raw_connect();
  raw_send(not_map, "\x05", 1, 1); /* the integer 5 */
  raw_reply(not_map, &ok, error, sizeof(error));
  cr_assert(!ok);
  ASSERT_HAS(error, "map");
  cr_assert(closed_by_node(not_map));
  close(not_map);

  int oversized = raw_connect();
  raw_send(oversized, NULL, 0, 0x7fffffff);
  raw_reply(oversized, &ok, error, sizeof(error));
  cr_assert(!ok);
  ASSERT_HAS(error, "over the limit");
  cr_assert(closed_by_node(oversized));
  close(oversized);

  /* An unknown op is a well-formed request: an error reply, and the
   * connection stays. */
  raw_request(good, "dance");
  raw_reply(good, &ok, error, sizeof(error));
  cr_assert(!ok);
  ASSERT_HAS(error, "unknown op 'dance'");
  raw_request(good, "node");
  raw_reply(good, &ok, error, sizeof(error));
  cr_assert(ok, "%s", error);
  close(good);

  cr_assert_eq(hivectl("ps"), 0, "the node still serves: %s", out);
  cr_assert_eq(hive_stop(h), HIVE_OK);
  ASSERT_HAS(logged, "admin socket: bad request");
  ASSERT_HAS(logged, "over the limit");
}

/* Three requests in one write: each answered, in order, though no more
 * bytes come to wake the node after the first. */
Test(admin, requests_pipelined_in_one_write_are_each_answered_in_order) {
  hive_t *h = start_with_socket();
  int fd = raw_connect();
  struct timeval tv = {.tv_sec = TEST_TIMEOUT_MS / 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)); /* a lost reply fails, not hangs */
  unsigned char frames[256];
  size_t n = 0;
  const char *ops[] = {"node", "dance", "ps"};
  for (int i = 0; i < 3; i++) {
    void *body;
    size_t len;
    cr_assert_eq(hive_pack(&body, &len, "mss", 1, "op", ops[i]), HIVE_OK);
    frames[n++] = 0, frames[n++] = 0, frames[n++] = 0, frames[n++] = (unsigned char)len;
    memcpy(frames + n, body, len);
    n += len;
    free(body);
  }
  cr_assert_eq(write(fd, frames, n), (ssize_t)n);
  bool ok;
  char error[256];
  raw_reply(fd, &ok, error, sizeof(error));
  cr_assert(ok, "node: %s", error);
  raw_reply(fd, &ok, error, sizeof(error));
  cr_assert(!ok);
  ASSERT_HAS(error, "unknown op 'dance'");
  raw_reply(fd, &ok, error, sizeof(error));
  cr_assert(ok, "ps: %s", error);
  close(fd);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(admin, several_clients_at_once) {
  hive_t *h = start_with_socket();
  enum { CLIENTS = 8 };
  int fds[CLIENTS];
  for (int i = 0; i < CLIENTS; i++)
    fds[i] = raw_connect();
  for (int i = 0; i < CLIENTS; i++) /* every request is in before any reply is read */
    raw_request(fds[i], i % 2 ? "ps" : "tree");
  for (int i = CLIENTS - 1; i >= 0; i--) {
    bool ok;
    char error[256];
    raw_reply(fds[i], &ok, error, sizeof(error));
    cr_assert(ok, "client %d: %s", i, error);
    close(fds[i]);
  }
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(admin, metrics_pass_promtool, .init = blocker_setup) {
  hive_t *h = start_with_socket();
  hive_pid_t pid = spawn_blocked_named(h, "we\"ird\\name", 1000);
  cr_assert_eq(hivectl("metrics"), 0, "%s", out);
  ASSERT_HAS(out, "# TYPE hive_actor_mailbox_length gauge");
  char expect_line[128], pid_text[HIVE_PID_STRLEN];
  hive_pid_format(pid, pid_text, sizeof(pid_text));
  snprintf(expect_line, sizeof(expect_line),
           "hive_actor_mailbox_length{pid=\"%s\",name=\"we\\\"ird\\\\name\",behaviour=\"blocker\"} "
           "1000\n",
           pid_text);
  ASSERT_HAS(out, expect_line);
  ASSERT_HAS(out, "hive_worker_messages_total{worker=\"0\",pool=\"workers\"}");

  char file[64], cmd[256];
  snprintf(file, sizeof(file), "/tmp/hive-metrics-%d.txt", (int)getpid());
  FILE *f = fopen(file, "w");
  fputs(out, f);
  fclose(f);
  snprintf(cmd, sizeof(cmd), "promtool check metrics < %s > %s.out 2>&1", file, file);
  int status = system(cmd);
  snprintf(cmd, sizeof(cmd), "%s.out", file);
  f = fopen(cmd, "r");
  size_t n = f != NULL ? fread(out, 1, sizeof(out) - 1, f) : 0;
  out[n] = '\0';
  if (f != NULL)
    fclose(f);
  unlink(file);
  unlink(cmd);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "promtool check metrics failed (is the Debian package prometheus installed?): %s", out);
  release_blocked(h, pid, 1000);
}

Test(admin, node_and_tree_show_the_gateway_and_its_connections) {
  char gw_path[108];
  snprintf(sock_path, sizeof(sock_path), "/tmp/hive-test-%d.sock", (int)getpid());
  snprintf(gw_path, sizeof(gw_path), "/tmp/hive-test-gw-%d.sock", (int)getpid());
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = 2;
  cfg.log_level = HIVE_LOG_NONE;
  cfg.admin_socket = sock_path;
  cfg.gateway_unix = gw_path;
  hive_t *h = test_start_config(&cfg);
  int fd = gwc_connect_unix(gw_path);
  cr_assert(gwc_send(fd, "mss", 1, "op", "hello"));
  gwc_frame_t f;
  cr_assert(gwc_recv(fd, &f));
  hive_pid_t conn = gwc_u64(&f, "self");
  gwc_frame_free(&f);
  cr_assert(gwc_send(fd, "msssu", 2, "op", "frob", "id", (uint64_t)1));
  cr_assert(gwc_recv(fd, &f) && gwc_is(&f, "error", "unknownop"));
  gwc_frame_free(&f);

  cr_assert_eq(hivectl("node"), 0, "%s", out);
  ASSERT_HAS(out, "gateway\n");
  ASSERT_HAS(out, "  connections        1\n");
  ASSERT_HAS(out, " unknownop 1");
  cr_assert_eq(hivectl("--json node"), 0, "%s", out);
  ASSERT_HAS(out, "\"gateway\":{\"connections\":1,");
  cr_assert_eq(hivectl("tree"), 0, "%s", out);
  char conn_text[HIVE_PID_STRLEN];
  hive_pid_format(conn, conn_text, sizeof(conn_text));
  ASSERT_HAS(out, "hive.gateway");
  ASSERT_HAS(out, conn_text); /* the connection's actor, a child of the gateway's supervisor */
  cr_assert_eq(hivectl("metrics"), 0, "%s", out);
  ASSERT_HAS(out, "hive_gateway_connections 1\n");
  ASSERT_HAS(out, "hive_gateway_errors_total{kind=\"unknownop\"} 1\n");
  close(fd);
  hive_stop(h);
}

static int iso_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  if (msg->ref != 0)
    hive_reply(ctx, msg, msg->data, msg->len);
  return HIVE_OK;
}
static const hive_behaviour_t iso_b = {.name = "iso", .handle = iso_handle};

Test(admin, ps_stats_and_metrics_show_a_process_actor_s_os_pid_memory_and_cpu) {
  hive_t *h = start_with_socket();
  hive_spawn_opts_t o;
  hive_spawn_opts_init(&o);
  o.flags = HIVE_SPAWN_PROCESS;
  o.name = "isolated";
  hive_pid_t p;
  cr_assert_eq(hive_spawn(h, &iso_b, NULL, 0, &o, &p), HIVE_OK);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, p, &s), HIVE_OK);
  char os_pid[32];
  snprintf(os_pid, sizeof(os_pid), " %d ", s.os_pid);
  cr_assert_eq(hivectl("ps"), 0, "%s", out);
  ASSERT_HAS(out, "PROCESS (os pid, rss, cpu)");
  ASSERT_HAS(out, os_pid);
  cr_assert_eq(hivectl("stats isolated"), 0, "%s", out);
  ASSERT_HAS(out, "os_pid");
  ASSERT_HAS(out, "rss_bytes");
  ASSERT_HAS(out, "cpu_ns");
  cr_assert_eq(hivectl("metrics"), 0, "%s", out);
  ASSERT_HAS(out, "# TYPE hive_process_resident_bytes gauge");
  ASSERT_HAS(out, "hive_process_cpu_seconds_total{pid=");
  hive_stop(h);
}
