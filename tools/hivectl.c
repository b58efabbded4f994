/*
 * hivectl - looks inside a running hive node through its admin socket
 * (hive_config_t.admin_socket): the actors and their mailboxes, a
 * refreshing top, the supervision tree, one actor's statistics, kill, and
 * Prometheus metrics. It speaks the protocol of docs/admin-protocol.md:
 * length-prefixed msgpack frames, one request and one reply at a time.
 *
 * With --cluster URL it reaches any node of a cluster instead (docs/
 * cluster.md): the same requests go over NATS to the subject P.adm.ID of
 * node --node ID, and `nodes` lists the cluster's live nodes.
 *
 * Exit status: 0 done, 1 the node refused the request (an unknown pid or
 * name, say), 2 a usage error or no node to talk to.
 */
#define _DEFAULT_SOURCE /* the termios flags and clock_gettime with -std=c11 */
#include <errno.h>
#include <msgpack.h>
#include <nats/nats.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "util/json.h"

#define REPLY_MAX (512u << 20) /* a larger reply is not from a hive node */

static const char usage[] =
    "usage: hivectl -s SOCKET [--json] COMMAND [ARGS]\n"
    "       hivectl --cluster URL [--node ID] [--json] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  nodes              (--cluster) the live nodes: id, name, incarnation, uptime,\n"
    "                     actors, messages in and out, heartbeat age\n"
    "  ps                 every actor: pid, name, behaviour, state, mailbox length,\n"
    "                     high-water mark, processed, dropped, longest handler call\n"
    "  top                the actors with the longest mailboxes, refreshed every second;\n"
    "                     q quits  [--interval MS] [--iterations N]\n"
    "  tree               the supervision tree, with each child's restarts\n"
    "  stats PID|NAME     every statistic of one actor\n"
    "  kill PID|NAME      kills an actor (its supervisor restarts it as its spec says)\n"
    "  node               node totals and each worker thread\n"
    "  metrics            Prometheus text exposition\n"
    "\n"
    "options:\n"
    "  -s, --socket PATH  the node's admin socket (default: $HIVE_SOCKET)\n"
    "  --json             ps, stats, tree, node and nodes print JSON instead of a table\n"
    "  --cluster URL      a cluster's NATS server(s), \"nats://host:4222\" or a comma list\n"
    "  --cluster-name N   the cluster's name (hive_config_t.cluster_name; default hive)\n"
    "  --node ID          the node to ask (default: the first heard from)\n"
    "  --creds FILE       NATS credentials, if the servers ask for them\n";

static const char *socket_path;
static natsConnection *cluster_nc; /* --cluster: requests go over NATS */
static char cluster_subject[160];

static _Noreturn void die(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("hivectl: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(status);
}

/* ---- the connection ------------------------------------------------------ */

static int node_connect(void) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof(addr.sun_path))
    die(2, "socket path too long: %s", socket_path);
  strcpy(addr.sun_path, socket_path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0)
    die(2, "socket: %s", strerror(errno));
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
    return fd;
  switch (errno) {
  case ENOENT:
    die(2, "no socket at %s: is the node running, with admin_socket set to this path?",
        socket_path);
  case ECONNREFUSED:
    die(2, "connection refused at %s: no node is listening there (a stale socket file?)",
        socket_path);
  case EACCES:
    die(2, "permission denied at %s: the socket belongs to another user (mode 0600)", socket_path);
  default:
    die(2, "cannot connect to %s: %s", socket_path, strerror(errno));
  }
}

/* Writes (or reads) exactly len bytes; exits if the node hangs up. */
static void transfer_all(int fd, void *buf, size_t len, bool writing) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      die(2, "the node closed the connection");
    p += n;
    len -= (size_t)n;
  }
}

static void pack_str(msgpack_packer *pk, const char *s) {
  msgpack_pack_str(pk, strlen(s));
  msgpack_pack_str_body(pk, s, strlen(s));
}

/* A reply: its strings point into body, so both live until reply_free. */
typedef struct {
  msgpack_unpacked u;
  char *body; /* owned */
} reply_t;

static void reply_free(reply_t *r) {
  msgpack_unpacked_destroy(&r->u);
  free(r->body);
}

/* ---- over a cluster (--cluster) ------------------------------------------ */

static void cluster_connect(const char *url, const char *creds) {
  natsOptions *opts;
  char *urls = strdup(url);
  const char *servers[16];
  int n = 0;
  for (char *save = NULL, *tok = strtok_r(urls, ", ", &save); tok != NULL && n < 16;
       tok = strtok_r(NULL, ", ", &save))
    servers[n++] = tok;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK)
    s = natsOptions_SetServers(opts, servers, n);
  if (s == NATS_OK)
    s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK && creds != NULL)
    s = natsOptions_SetUserCredentialsFromFiles(opts, creds, NULL);
  if (s == NATS_OK)
    s = natsConnection_Connect(&cluster_nc, opts);
  natsOptions_Destroy(opts);
  free(urls);
  if (s != NATS_OK)
    die(2, "cannot reach the cluster at %s: %s", url, natsStatus_GetText(s));
}

/* The id of the first node heard beating on P.hb, within 2 s. */
static long cluster_discover(const char *name) {
  char subject[128];
  snprintf(subject, sizeof(subject), "%s.hb", name);
  natsSubscription *sub;
  natsMsg *m = NULL;
  if (natsConnection_SubscribeSync(&sub, cluster_nc, subject) != NATS_OK ||
      natsSubscription_NextMsg(&m, sub, 2000) != NATS_OK)
    die(2, "no node of cluster %s beats (heartbeats on %s)", name, subject);
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  long id = -1;
  if (msgpack_unpack_next(&u, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &off) ==
          MSGPACK_UNPACK_SUCCESS &&
      u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size > 1 &&
      u.data.via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
    id = (long)u.data.via.array.ptr[1].via.u64;
  msgpack_unpacked_destroy(&u);
  natsMsg_Destroy(m);
  natsSubscription_Destroy(sub);
  if (id < 0)
    die(2, "a heartbeat on %s that no hive node sends", subject);
  return id;
}

/* Sends the request body to the node and returns its reply's bytes. */
static char *cluster_request(const msgpack_sbuffer *body, size_t *len) {
  natsMsg *m = NULL;
  natsStatus s =
      natsConnection_Request(&m, cluster_nc, cluster_subject, body->data, (int)body->size, 5000);
  if (s == NATS_NO_RESPONDERS || s == NATS_TIMEOUT)
    die(2, "no answer on %s: is that node up? (hivectl --cluster URL nodes)", cluster_subject);
  if (s != NATS_OK)
    die(2, "request on %s: %s", cluster_subject, natsStatus_GetText(s));
  *len = (size_t)natsMsg_GetDataLength(m);
  char *copy = malloc(*len ? *len : 1);
  if (copy == NULL)
    die(2, "out of memory");
  memcpy(copy, natsMsg_GetData(m), *len);
  natsMsg_Destroy(m);
  return copy;
}

/* Sends {"op": op, "target": target} and reads the reply. */
static void request(int fd, const char *op, const char *target, reply_t *reply) {
  msgpack_sbuffer sbuf;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sbuf);
  msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, target != NULL ? 2 : 1);
  pack_str(&pk, "op");
  pack_str(&pk, op);
  if (target != NULL) {
    pack_str(&pk, "target");
    pack_str(&pk, target);
  }
  if (cluster_nc != NULL) {
    size_t len;
    reply->body = cluster_request(&sbuf, &len);
    msgpack_sbuffer_destroy(&sbuf);
    msgpack_unpacked_init(&reply->u);
    size_t off = 0;
    if (msgpack_unpack_next(&reply->u, reply->body, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        reply->u.data.type != MSGPACK_OBJECT_MAP)
      die(2, "the node's reply is not a msgpack map");
    return;
  }
  unsigned char header[4] = {(unsigned char)(sbuf.size >> 24), (unsigned char)(sbuf.size >> 16),
                             (unsigned char)(sbuf.size >> 8), (unsigned char)sbuf.size};
  transfer_all(fd, header, 4, true);
  transfer_all(fd, sbuf.data, sbuf.size, true);
  msgpack_sbuffer_destroy(&sbuf);

  transfer_all(fd, header, 4, false);
  size_t len =
      ((size_t)header[0] << 24) | ((size_t)header[1] << 16) | ((size_t)header[2] << 8) | header[3];
  if (len > REPLY_MAX)
    die(2, "a reply of %zu bytes: is %s a hive node?", len, socket_path);
  char *body = malloc(len ? len : 1);
  if (body == NULL)
    die(2, "out of memory");
  transfer_all(fd, body, len, false);
  reply->body = body;
  msgpack_unpacked_init(&reply->u);
  size_t off = 0;
  if (msgpack_unpack_next(&reply->u, body, len, &off) != MSGPACK_UNPACK_SUCCESS ||
      reply->u.data.type != MSGPACK_OBJECT_MAP)
    die(2, "the node's reply is not a msgpack map");
}

/* ---- reading replies ----------------------------------------------------- */

static const msgpack_object *field(const msgpack_object *map, const char *key) {
  if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
    return NULL;
  size_t n = strlen(key);
  for (uint32_t i = 0; i < map->via.map.size; i++) {
    const msgpack_object *k = &map->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
        memcmp(k->via.str.ptr, key, n) == 0)
      return &map->via.map.ptr[i].val;
  }
  return NULL;
}

static uint64_t field_u64(const msgpack_object *map, const char *key) {
  const msgpack_object *v = field(map, key);
  return v != NULL && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v->via.u64 : 0;
}

/* A string field as a NUL-terminated copy in buf. */
static const char *field_str(const msgpack_object *map, const char *key, char *buf, size_t size) {
  const msgpack_object *v = field(map, key);
  buf[0] = '\0';
  if (v != NULL && v->type == MSGPACK_OBJECT_STR)
    snprintf(buf, size, "%.*s", (int)v->via.str.size, v->via.str.ptr);
  return buf;
}

/* Exits 1 with the node's error unless the reply says ok. */
static void check_ok(const msgpack_object *reply) {
  const msgpack_object *ok = field(reply, "ok");
  if (ok != NULL && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean)
    return;
  char why[512];
  field_str(reply, "error", why, sizeof(why));
  die(1, "%s", why[0] ? why : "the node refused the request");
}

/* request, then exits 1 with the node's error unless the reply says ok. */
static void request_ok(int fd, const char *op, const char *target, reply_t *reply) {
  request(fd, op, target, reply);
  check_ok(&reply->u.data);
}

static void json_print(const msgpack_object *o) {
  hive__json_write(stdout, o);
}

/* ---- commands ------------------------------------------------------------ */

static void ps_header(void) {
  printf("%-14s %-16s %-14s %-8s %9s %9s %12s %9s %9s  %s\n", "PID", "NAME", "BEHAVIOUR", "STATE",
         "MAILBOX", "HIGH", "PROCESSED", "DROPPED", "MAX_MS", "PROCESS (os pid, rss, cpu)");
}

static void ps_row(const msgpack_object *a) {
  char pid[32], name[72], behaviour[72], state[16], process[64] = "";
  if (field(a, "os_pid") != NULL) /* a process actor */
    snprintf(process, sizeof(process), "%llu %.1fM %.2fs",
             (unsigned long long)field_u64(a, "os_pid"),
             (double)field_u64(a, "rss_bytes") / (1 << 20), (double)field_u64(a, "cpu_ns") / 1e9);
  printf("%-14s %-16s %-14s %-8s %9llu %9llu %12llu %9llu %9.1f  %s\n",
         field_str(a, "pid", pid, sizeof(pid)), field_str(a, "name", name, sizeof(name)),
         field_str(a, "behaviour", behaviour, sizeof(behaviour)),
         field_str(a, "state", state, sizeof(state)),
         (unsigned long long)field_u64(a, "mailbox_len"),
         (unsigned long long)field_u64(a, "mailbox_hwm"),
         (unsigned long long)field_u64(a, "processed"), (unsigned long long)field_u64(a, "dropped"),
         (double)field_u64(a, "handler_max_ns") / 1e6, process);
}

static const msgpack_object *array_field(const msgpack_object *reply, const char *key) {
  const msgpack_object *v = field(reply, key);
  if (v == NULL || v->type != MSGPACK_OBJECT_ARRAY)
    die(2, "the node's reply has no '%s' list", key);
  return v;
}

static void cmd_ps(int fd, bool as_json) {
  reply_t reply;
  request_ok(fd, "ps", NULL, &reply);
  const msgpack_object *actors = array_field(&reply.u.data, "actors");
  if (as_json) {
    json_print(actors);
    putchar('\n');
  } else {
    ps_header();
    for (uint32_t i = 0; i < actors->via.array.size; i++)
      ps_row(&actors->via.array.ptr[i]);
  }
  reply_free(&reply);
}

static void cmd_stats(int fd, const char *target, bool as_json) {
  reply_t reply;
  request_ok(fd, "stats", target, &reply);
  const msgpack_object *a = field(&reply.u.data, "actor");
  if (a == NULL || a->type != MSGPACK_OBJECT_MAP)
    die(2, "the node's reply has no 'actor'");
  if (as_json) {
    json_print(a);
    putchar('\n');
  } else {
    for (uint32_t i = 0; i < a->via.map.size; i++) {
      const msgpack_object *k = &a->via.map.ptr[i].key, *v = &a->via.map.ptr[i].val;
      printf("%-16.*s ", (int)k->via.str.size, k->via.str.ptr);
      if (v->type == MSGPACK_OBJECT_STR)
        printf("%.*s", (int)v->via.str.size, v->via.str.ptr);
      else
        json_print(v);
      if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && k->via.str.size > 3 &&
          memcmp(k->via.str.ptr + k->via.str.size - 3, "_ns", 3) == 0)
        printf("  (%.3f ms)", (double)v->via.u64 / 1e6);
      putchar('\n');
    }
  }
  reply_free(&reply);
}

static void cmd_kill(int fd, const char *target) {
  reply_t reply;
  request_ok(fd, "kill", target, &reply);
  char pid[32];
  printf("killed %s\n", field_str(&reply.u.data, "pid", pid, sizeof(pid)));
  reply_free(&reply);
}

static void tree_print(const msgpack_object *n, int depth) {
  char id[72], pid[32], name[72], behaviour[72], type[16];
  field_str(n, "id", id, sizeof(id));
  field_str(n, "pid", pid, sizeof(pid));
  field_str(n, "name", name, sizeof(name));
  field_str(n, "behaviour", behaviour, sizeof(behaviour));
  field_str(n, "type", type, sizeof(type));
  char label[160];
  snprintf(label, sizeof(label), "%*s%s", 2 * depth, "",
           id[0]        ? id
           : name[0]    ? name
           : depth == 0 ? "(top)"
                        : "(dynamic)");
  printf("%-28s %-12s %-10s %-14s %8llu  %s\n", label, pid[0] ? pid : "-", type, behaviour,
         (unsigned long long)field_u64(n, "restarts"), name);
  const msgpack_object *kids = field(n, "children");
  if (kids != NULL && kids->type == MSGPACK_OBJECT_ARRAY)
    for (uint32_t i = 0; i < kids->via.array.size; i++)
      tree_print(&kids->via.array.ptr[i], depth + 1);
}

static void cmd_tree(int fd, bool as_json) {
  reply_t reply;
  request_ok(fd, "tree", NULL, &reply);
  const msgpack_object *tree = array_field(&reply.u.data, "tree");
  if (as_json) {
    json_print(tree);
    putchar('\n');
  } else {
    printf("%-28s %-12s %-10s %-14s %8s  %s\n", "ID", "PID", "TYPE", "BEHAVIOUR", "RESTARTS",
           "NAME");
    for (uint32_t i = 0; i < tree->via.array.size; i++)
      tree_print(&tree->via.array.ptr[i], 0);
    if (tree->via.array.size == 0)
      printf("(no supervisors)\n");
  }
  reply_free(&reply);
}

static void cmd_node(int fd, bool as_json) {
  reply_t reply;
  request_ok(fd, "node", NULL, &reply);
  const msgpack_object *node = field(&reply.u.data, "node");
  const msgpack_object *workers = array_field(&reply.u.data, "workers");
  const msgpack_object *gateway = field(&reply.u.data, "gateway"); /* NULL: none */
  if (as_json) {
    printf("{\"node\":");
    json_print(node);
    printf(",\"workers\":");
    json_print(workers);
    if (gateway != NULL) {
      printf(",\"gateway\":");
      json_print(gateway);
    }
    printf("}\n");
    reply_free(&reply);
    return;
  }
  const char *keys[] = {"actors_alive", "actors_spawned", "actors_exited", "messages",
                        "dead_letters", "dropped",        "late_replies",  "restarts"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    printf("%-16s %llu\n", keys[i], (unsigned long long)field_u64(node, keys[i]));
  const msgpack_object *exits = field(node, "exits");
  printf("%-16s", "exits");
  for (uint32_t i = 0;
       exits != NULL && exits->type == MSGPACK_OBJECT_MAP && i < exits->via.map.size; i++)
    printf(" %.*s %llu", (int)exits->via.map.ptr[i].key.via.str.size,
           exits->via.map.ptr[i].key.via.str.ptr,
           (unsigned long long)exits->via.map.ptr[i].val.via.u64);
  printf("\n\n%-8s %-9s %12s %12s %10s %10s %8s %10s\n", "THREAD", "POOL", "TURNS", "MESSAGES",
         "STEALS", "STOLEN", "PARKS", "BUSY_S");
  for (uint32_t i = 0; i < workers->via.array.size; i++) {
    const msgpack_object *w = &workers->via.array.ptr[i];
    const msgpack_object *blocking = field(w, "blocking");
    printf("%-8llu %-9s %12llu %12llu %10llu %10llu %8llu %10.3f\n",
           (unsigned long long)field_u64(w, "index"),
           blocking != NULL && blocking->via.boolean ? "blocking" : "workers",
           (unsigned long long)field_u64(w, "turns"), (unsigned long long)field_u64(w, "messages"),
           (unsigned long long)field_u64(w, "steals_tried"),
           (unsigned long long)field_u64(w, "steals_won"),
           (unsigned long long)field_u64(w, "parks"), (double)field_u64(w, "busy_ns") / 1e9);
  }
  if (gateway != NULL && gateway->type == MSGPACK_OBJECT_MAP) {
    printf("\ngateway\n");
    const char *gkeys[] = {"connections", "accepted", "refused",   "frames_in",
                           "frames_out",  "bytes_in", "bytes_out", "slow_reader_closes"};
    for (size_t i = 0; i < sizeof(gkeys) / sizeof(gkeys[0]); i++)
      printf("  %-18s %llu\n", gkeys[i], (unsigned long long)field_u64(gateway, gkeys[i]));
    const msgpack_object *errors = field(gateway, "errors");
    printf("  %-18s", "errors");
    for (uint32_t i = 0;
         errors != NULL && errors->type == MSGPACK_OBJECT_MAP && i < errors->via.map.size; i++)
      if (errors->via.map.ptr[i].val.via.u64 > 0)
        printf(" %.*s %llu", (int)errors->via.map.ptr[i].key.via.str.size,
               errors->via.map.ptr[i].key.via.str.ptr,
               (unsigned long long)errors->via.map.ptr[i].val.via.u64);
    printf("\n");
  }
  reply_free(&reply);
}

static void cmd_nodes(bool as_json) {
  reply_t reply;
  request_ok(-1, "nodes", NULL, &reply);
  const msgpack_object *nodes = array_field(&reply.u.data, "nodes");
  if (as_json) {
    json_print(nodes);
    putchar('\n');
    reply_free(&reply);
    return;
  }
  printf("%4s %-20s %4s %10s %8s %12s %12s %8s\n", "ID", "NAME", "INC", "UPTIME", "ACTORS",
         "MSGS_IN", "MSGS_OUT", "HB_AGE");
  for (uint32_t i = 0; i < nodes->via.array.size; i++) {
    const msgpack_object *n = &nodes->via.array.ptr[i];
    char name[72], age[16];
    const msgpack_object *self = field(n, "self");
    bool is_self = self != NULL && self->type == MSGPACK_OBJECT_BOOLEAN && self->via.boolean;
    field_str(n, "name", name, sizeof(name));
    if (is_self)
      snprintf(age, sizeof(age), "(asked)");
    else
      snprintf(age, sizeof(age), "%llums", (unsigned long long)field_u64(n, "heartbeat_age_ms"));
    printf("%4llu %-20s %4llu %9.1fs %8llu %12llu %12llu %8s\n",
           (unsigned long long)field_u64(n, "id"), name,
           (unsigned long long)field_u64(n, "incarnation"),
           (double)field_u64(n, "uptime_ms") / 1000.0, (unsigned long long)field_u64(n, "actors"),
           (unsigned long long)field_u64(n, "msgs_in"),
           (unsigned long long)field_u64(n, "msgs_out"), age);
  }
  reply_free(&reply);
}

static void cmd_metrics(int fd) {
  reply_t reply;
  request_ok(fd, "metrics", NULL, &reply);
  const msgpack_object *text = field(&reply.u.data, "text");
  if (text == NULL || text->type != MSGPACK_OBJECT_STR)
    die(2, "the node's reply has no 'text'");
  fwrite(text->via.str.ptr, 1, text->via.str.size, stdout);
  reply_free(&reply);
}

/* ---- top ----------------------------------------------------------------- */

static struct termios saved_tty;
static bool tty_raw;

static void tty_restore(void) {
  if (tty_raw)
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
}

/* Keys arrive one at a time, unechoed, so q quits at once. */
static void tty_keys(void) {
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tty) != 0)
    return;
  struct termios t = saved_tty;
  t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
    tty_raw = true;
    atexit(tty_restore);
  }
}

/* Waits up to ms for a key; true if it was q. */
static bool wait_for_quit(int ms, bool *stdin_open) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (left <= 0)
      return false;
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    if (poll(&p, *stdin_open ? 1 : 0, (int)left) <= 0)
      continue;
    char c;
    ssize_t n = read(STDIN_FILENO, &c, 1);
    if (n <= 0)
      *stdin_open = false; /* end of input: only the time limit is left */
    else if (c == 'q' || c == 'Q')
      return true;
  }
}

static int by_mailbox(const void *x, const void *y) {
  uint64_t a = field_u64(*(const msgpack_object *const *)x, "mailbox_len");
  uint64_t b = field_u64(*(const msgpack_object *const *)y, "mailbox_len");
  return a < b ? 1 : a > b ? -1 : 0;
}

static void cmd_top(int fd, int interval_ms, long iterations) {
  enum { ROWS = 20 };
  bool screen = isatty(STDOUT_FILENO), stdin_open = true;
  tty_keys();
  uint64_t last_messages = 0;
  for (long round = 0; iterations <= 0 || round < iterations; round++) {
    reply_t node_reply, ps_reply;
    request_ok(fd, "node", NULL, &node_reply);
    request_ok(fd, "ps", NULL, &ps_reply);
    const msgpack_object *node = field(&node_reply.u.data, "node");
    const msgpack_object *actors = array_field(&ps_reply.u.data, "actors");
    uint32_t n = actors->via.array.size;
    const msgpack_object **rows = malloc((n ? n : 1) * sizeof(*rows));
    if (rows == NULL)
      die(2, "out of memory");
    for (uint32_t i = 0; i < n; i++)
      rows[i] = &actors->via.array.ptr[i];
    qsort(rows, n, sizeof(*rows), by_mailbox);
    uint64_t messages = field_u64(node, "messages");
    if (screen)
      fputs("\033[H\033[2J", stdout);
    printf("hive top  %s  actors %llu  messages %llu", socket_path,
           (unsigned long long)field_u64(node, "actors_alive"), (unsigned long long)messages);
    if (round > 0)
      printf(" (+%.0f/s)", (double)(messages - last_messages) * 1000.0 / interval_ms);
    printf("  dead letters %llu  restarts %llu\n",
           (unsigned long long)field_u64(node, "dead_letters"),
           (unsigned long long)field_u64(node, "restarts"));
    printf("sorted by mailbox length; every %d ms; q quits\n\n", interval_ms);
    ps_header();
    for (uint32_t i = 0; i < n && i < ROWS; i++)
      ps_row(rows[i]);
    if (!screen)
      putchar('\n');
    fflush(stdout);
    last_messages = messages;
    free(rows);
    reply_free(&ps_reply);
    reply_free(&node_reply);
    if ((iterations <= 0 || round + 1 < iterations) && wait_for_quit(interval_ms, &stdin_open))
      break;
  }
}

/* ---- main ---------------------------------------------------------------- */

static long number_arg(const char *opt, const char *value) {
  char *end;
  long n = value != NULL ? strtol(value, &end, 10) : 0;
  if (value == NULL || *end != '\0' || n <= 0)
    die(2, "%s needs a positive number", opt);
  return n;
}

int main(int argc, char **argv) {
  bool as_json = false;
  int interval_ms = 1000;
  long iterations = 0;
  const char *words[3];
  int nwords = 0;
  const char *cluster_url = NULL, *cluster_name = "hive", *creds = NULL;
  long node_id = -1;
  socket_path = getenv("HIVE_SOCKET");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
      if (++i == argc)
        die(2, "%s needs a path", a);
      socket_path = argv[i];
    } else if (strcmp(a, "--cluster") == 0 || strcmp(a, "--cluster-name") == 0 ||
               strcmp(a, "--creds") == 0) {
      if (++i == argc)
        die(2, "%s needs a value", a);
      *(strcmp(a, "--cluster") == 0        ? &cluster_url
        : strcmp(a, "--cluster-name") == 0 ? &cluster_name
                                           : &creds) = argv[i];
    } else if (strcmp(a, "--node") == 0) {
      node_id = number_arg(a, i + 1 < argc ? argv[++i] : NULL);
      if (node_id < 1 || node_id > 255)
        die(2, "--node takes a node id, 1..255");
    } else if (strcmp(a, "--json") == 0) {
      as_json = true;
    } else if (strcmp(a, "--interval") == 0) {
      interval_ms = (int)number_arg(a, i + 1 < argc ? argv[++i] : NULL);
    } else if (strcmp(a, "--iterations") == 0) {
      iterations = number_arg(a, i + 1 < argc ? argv[++i] : NULL);
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      return 0;
    } else if (a[0] == '-' && a[1] != '\0' && nwords == 0) {
      die(2, "unknown option %s\n\n%s", a, usage);
    } else if (nwords < 3) {
      words[nwords++] = a;
    } else {
      die(2, "too many arguments\n\n%s", usage);
    }
  }
  if (nwords == 0)
    die(2, "no command\n\n%s", usage);
  const char *cmd = words[0];
  if (cluster_url == NULL && socket_path == NULL)
    die(2, "no socket: give -s PATH (or set HIVE_SOCKET), or --cluster URL");
  if (strcmp(cmd, "nodes") == 0 && cluster_url == NULL)
    die(2, "nodes needs --cluster URL");
  if (node_id >= 0 && cluster_url == NULL)
    die(2, "--node needs --cluster URL");
  bool targeted = strcmp(cmd, "stats") == 0 || strcmp(cmd, "kill") == 0;
  if (targeted && nwords != 2)
    die(2, "%s needs one PID or NAME", cmd);
  if (!targeted && nwords != 1)
    die(2, "%s takes no argument", cmd);
  if (strcmp(cmd, "ps") != 0 && strcmp(cmd, "top") != 0 && strcmp(cmd, "tree") != 0 && !targeted &&
      strcmp(cmd, "node") != 0 && strcmp(cmd, "metrics") != 0 && strcmp(cmd, "nodes") != 0)
    die(2, "unknown command %s\n\n%s", cmd, usage);

  int fd = -1;
  if (cluster_url != NULL) {
    cluster_connect(cluster_url, creds);
    if (node_id < 0)
      node_id = cluster_discover(cluster_name);
    snprintf(cluster_subject, sizeof(cluster_subject), "%s.adm.%ld", cluster_name, node_id);
  } else {
    fd = node_connect();
  }
  if (strcmp(cmd, "nodes") == 0)
    cmd_nodes(as_json);
  else if (strcmp(cmd, "ps") == 0)
    cmd_ps(fd, as_json);
  else if (strcmp(cmd, "top") == 0)
    cmd_top(fd, interval_ms, iterations);
  else if (strcmp(cmd, "tree") == 0)
    cmd_tree(fd, as_json);
  else if (strcmp(cmd, "stats") == 0)
    cmd_stats(fd, words[1], as_json);
  else if (strcmp(cmd, "kill") == 0)
    cmd_kill(fd, words[1]);
  else if (strcmp(cmd, "node") == 0)
    cmd_node(fd, as_json);
  else
    cmd_metrics(fd);
  if (fd >= 0)
    close(fd);
  if (cluster_nc != NULL)
    natsConnection_Destroy(cluster_nc);
  return 0;
}
