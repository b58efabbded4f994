/*
 * admin.c - the admin socket: a node's statistics, its supervision tree and
 * hive_kill, for hivectl and any other client (docs/admin-protocol.md).
 *
 * One thread serves every connection with poll(): a request is read whole,
 * answered from the public API on this thread, and the reply queued on the
 * connection, which is written as the client reads. A connection with a
 * reply pending is not read from, so a client that sends and never reads
 * holds at most one reply. A frame that cannot be a request (oversized,
 * not msgpack, not a map) gets an error reply and ends that connection
 * only; the node logs why and goes on.
 *
 * The socket file has mode 0600 (util/unix_listen.c) and is removed at
 * hive_stop. A stale file left by a process that died is replaced; a live
 * socket, or a file that is not a socket, is not touched.
 */
#define _GNU_SOURCE /* accept4, SOCK_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <msgpack.h>

#include "admin.h"
#include "hive/sup.h"
#include "util/pack.h"
#include "util/unix_listen.h"

#define ADMIN_CLIENTS_MAX 32
#define ADMIN_TREE_DEPTH_MAX 32 /* supervisors nested deeper are cut off */
#define ADMIN_CALL_TIMEOUT_MS 5000

typedef struct {
  int fd;            /* -1: free */
  unsigned char *in; /* owned: 4 + HIVE__ADMIN_REQUEST_MAX bytes */
  size_t in_len;
  char *out; /* owned: the reply being written */
  size_t out_len, out_done;
  bool closing; /* close once out is written */
} admin_client_t;

typedef struct hive__admin {
  hive_t *h;
  char *path; /* owned */
  int listen_fd;
  int wake[2]; /* a byte on wake[1] tells the thread to leave */
  pthread_t thread;
  admin_client_t clients[ADMIN_CLIENTS_MAX];
} hive__admin_t;

static void pack_ok(msgpack_packer *pk, uint32_t more_pairs) {
  msgpack_pack_map(pk, 1 + more_pairs);
  hive__pack_str(pk, "ok");
  msgpack_pack_true(pk);
}

static void pack_error(msgpack_packer *pk, const char *text) {
  msgpack_pack_map(pk, 2);
  hive__pack_str(pk, "ok");
  msgpack_pack_false(pk);
  hive__pack_key_str(pk, "error", text);
}

hive_pid_t *hive__admin_all_pids(hive_t *h, size_t *n) {
  size_t cap = 256;
  for (;;) {
    hive_pid_t *pids = malloc(cap * sizeof(*pids));
    if (pids == NULL)
      return NULL;
    hive_actor_list(h, pids, cap, n);
    if (*n <= cap)
      return pids;
    free(pids);
    cap = *n + *n / 4; /* actors started meanwhile: a little more room */
  }
}

static void admin_ps(hive_t *h, msgpack_packer *pk) {
  size_t n;
  hive_pid_t *pids = hive__admin_all_pids(h, &n);
  if (pids == NULL) {
    pack_error(pk, "out of memory");
    return;
  }
  /* Actors that end while we read are left out; count them first. */
  hive_actor_stats_t *stats = malloc((n ? n : 1) * sizeof(*stats));
  size_t live = 0;
  for (size_t i = 0; stats != NULL && i < n; i++)
    if (hive_actor_stats(h, pids[i], &stats[live]) == HIVE_OK)
      live++;
  free(pids);
  if (stats == NULL) {
    pack_error(pk, "out of memory");
    return;
  }
  pack_ok(pk, 1);
  hive__pack_str(pk, "actors");
  msgpack_pack_array(pk, live);
  for (size_t i = 0; i < live; i++)
    hive__pack_actor_stats(pk, &stats[i]);
  free(stats);
}

/* Resolves "<0.12.3>", "0.12.3" or a registered name. */
static bool admin_resolve(hive_t *h, const char *target, hive_pid_t *pid, char *why,
                          size_t why_size) {
  if (hive_pid_parse(target, pid) == HIVE_OK) {
    hive_actor_stats_t s;
    if (hive_actor_stats(h, *pid, &s) == HIVE_OK)
      return true;
    snprintf(why, why_size, "no actor %s", target);
    return false;
  }
  *pid = strlen(target) <= HIVE_NAME_MAX ? hive_whereis(h, target) : 0;
  if (*pid != 0)
    return true;
  snprintf(why, why_size, "no actor named '%s'", target);
  return false;
}

static void admin_stats(hive_t *h, msgpack_packer *pk, const char *target) {
  char why[HIVE_NAME_MAX + 64];
  hive_pid_t pid;
  hive_actor_stats_t s;
  if (!admin_resolve(h, target, &pid, why, sizeof(why))) {
    pack_error(pk, why);
  } else if (hive_actor_stats(h, pid, &s) != HIVE_OK) {
    pack_error(pk, "the actor ended");
  } else {
    pack_ok(pk, 1);
    hive__pack_str(pk, "actor");
    hive__pack_actor_stats(pk, &s);
  }
}

static void admin_kill(hive_t *h, msgpack_packer *pk, const char *target) {
  char why[HIVE_NAME_MAX + 64];
  hive_pid_t pid;
  if (!admin_resolve(h, target, &pid, why, sizeof(why))) {
    pack_error(pk, why);
  } else if (hive_kill(h, pid) != HIVE_OK) {
    pack_error(pk, "the actor ended");
  } else {
    hive_log(h, HIVE_LOG_INFO, "admin socket: killed %s", target);
    pack_ok(pk, 1);
    hive__pack_key_pid(pk, "pid", pid);
  }
}

/* ---- the supervision tree ------------------------------------------------ */

/* The children of the supervisor pid, in a new array (*n of them); NULL
 * when it has none, or cannot tell. */
static hive_child_info_t *admin_children(hive_t *h, hive_pid_t pid, size_t *n) {
  hive_child_info_t *kids = NULL;
  size_t again;
  if (hive_sup_which_children(h, pid, NULL, 0, n) != HIVE_OK || *n == 0 ||
      (kids = malloc(*n * sizeof(*kids))) == NULL ||
      hive_sup_which_children(h, pid, kids, *n, &again) != HIVE_OK) {
    free(kids);
    *n = 0;
    return NULL;
  }
  if (again < *n)
    *n = again; /* some were deleted meanwhile */
  return kids;
}

/* Packs one node of the tree: a child (pid 0: not running), and, for a
 * running supervisor, its own children, depth first. */
static void admin_pack_node(hive_t *h, msgpack_packer *pk, hive_pid_t pid, const char *id,
                            bool supervisor, uint64_t restarts, int depth) {
  hive_actor_stats_t s = {.pid = pid, .behaviour = ""};
  if (pid != 0)
    hive_actor_stats(h, pid, &s);
  size_t n = 0;
  hive_child_info_t *kids =
      supervisor && pid != 0 && depth < ADMIN_TREE_DEPTH_MAX ? admin_children(h, pid, &n) : NULL;
  msgpack_pack_map(pk, 7);
  hive__pack_key_pid(pk, "pid", pid);
  hive__pack_key_str(pk, "id", id);
  hive__pack_key_str(pk, "name", s.name);
  hive__pack_key_str(pk, "behaviour", s.behaviour);
  hive__pack_key_str(pk, "type", supervisor ? "supervisor" : "worker");
  hive__pack_key_u64(pk, "restarts", restarts);
  hive__pack_str(pk, "children");
  msgpack_pack_array(pk, n);
  for (size_t i = 0; i < n; i++)
    admin_pack_node(h, pk, kids[i].pid, kids[i].id, kids[i].type == HIVE_CHILD_SUPERVISOR,
                    kids[i].restarts, depth + 1);
  free(kids);
}

/* The roots are the supervisors no other supervisor started. */
static void admin_tree(hive_t *h, msgpack_packer *pk) {
  size_t n;
  hive_pid_t *pids = hive__admin_all_pids(h, &n);
  if (pids == NULL) {
    pack_error(pk, "out of memory");
    return;
  }
  size_t roots = 0;
  for (size_t i = 0; i < n; i++) {
    hive_actor_stats_t s, parent;
    bool root =
        hive_actor_stats(h, pids[i], &s) == HIVE_OK && s.supervisor &&
        (s.parent == 0 || hive_actor_stats(h, s.parent, &parent) != HIVE_OK || !parent.supervisor);
    if (root)
      pids[roots++] = pids[i];
  }
  pack_ok(pk, 1);
  hive__pack_str(pk, "tree");
  msgpack_pack_array(pk, roots);
  for (size_t i = 0; i < roots; i++)
    admin_pack_node(h, pk, pids[i], "", true, 0, 0);
  free(pids);
}

/* ---- node and workers ---------------------------------------------------- */

/* The gateway's counters (docs/admin-protocol.md, "gateway"). */
static void admin_pack_gateway(msgpack_packer *pk, const hive_gateway_stats_t *gs) {
  msgpack_pack_map(pk, 9);
  hive__pack_key_u64(pk, "connections", gs->connections);
  hive__pack_key_u64(pk, "accepted", gs->accepted);
  hive__pack_key_u64(pk, "refused", gs->refused);
  hive__pack_key_u64(pk, "frames_in", gs->frames_in);
  hive__pack_key_u64(pk, "frames_out", gs->frames_out);
  hive__pack_key_u64(pk, "bytes_in", gs->bytes_in);
  hive__pack_key_u64(pk, "bytes_out", gs->bytes_out);
  hive__pack_key_u64(pk, "slow_reader_closes", gs->slow_reader_closes);
  hive__pack_str(pk, "errors");
  msgpack_pack_map(pk, HIVE_GW_ERROR_KINDS);
  for (int k = 0; k < HIVE_GW_ERROR_KINDS; k++)
    hive__pack_key_u64(pk, hive_gateway_error_name(k), gs->errors[k]);
}

static void admin_node(hive_t *h, msgpack_packer *pk) {
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  hive_gateway_stats_t gs;
  hive_gateway_stats(h, &gs);
  pack_ok(pk, gs.running ? 3 : 2);
  if (gs.running) {
    hive__pack_str(pk, "gateway");
    admin_pack_gateway(pk, &gs);
  }
  hive__pack_str(pk, "node");
  msgpack_pack_map(pk, 11);
  hive__pack_key_u64(pk, "workers", ns.workers);
  hive__pack_key_u64(pk, "blocking_workers", ns.blocking_workers);
  hive__pack_key_u64(pk, "actors_alive", ns.actors_alive);
  hive__pack_key_u64(pk, "actors_spawned", ns.actors_spawned);
  hive__pack_key_u64(pk, "actors_exited", ns.actors_exited);
  hive__pack_str(pk, "exits");
  msgpack_pack_map(pk, HIVE_REASON_KINDS);
  for (int k = 0; k < HIVE_REASON_KINDS; k++)
    hive__pack_key_u64(pk, hive__reason_name(k), ns.exits[k]);
  hive__pack_key_u64(pk, "messages", ns.messages);
  hive__pack_key_u64(pk, "dead_letters", ns.dead_letters);
  hive__pack_key_u64(pk, "dropped", ns.dropped);
  hive__pack_key_u64(pk, "late_replies", ns.late_replies);
  hive__pack_key_u64(pk, "restarts", ns.restarts);
  unsigned threads = ns.workers + ns.blocking_workers;
  hive__pack_str(pk, "workers");
  msgpack_pack_array(pk, threads);
  for (unsigned i = 0; i < threads; i++) {
    hive_worker_stats_t w;
    hive_worker_stats(h, i, &w);
    msgpack_pack_map(pk, 8);
    hive__pack_key_u64(pk, "index", w.index);
    hive__pack_key_bool(pk, "blocking", w.blocking);
    hive__pack_key_u64(pk, "turns", w.turns);
    hive__pack_key_u64(pk, "messages", w.messages);
    hive__pack_key_u64(pk, "steals_tried", w.steals_tried);
    hive__pack_key_u64(pk, "steals_won", w.steals_won);
    hive__pack_key_u64(pk, "parks", w.parks);
    hive__pack_key_u64(pk, "busy_ns", w.busy_ns);
  }
}

static void admin_metrics(hive_t *h, msgpack_packer *pk) {
  char *text;
  size_t len;
  if (hive_metrics(h, &text, &len) != HIVE_OK) {
    pack_error(pk, "out of memory");
    return;
  }
  pack_ok(pk, 1);
  hive__pack_str(pk, "text");
  msgpack_pack_str(pk, len);
  msgpack_pack_str_body(pk, text, len);
  free(text);
}

/* ---- requests ------------------------------------------------------------ */

/* Copies a msgpack string into buf (NUL-terminated); false if too long. */
static bool admin_copy_str(const char *s, size_t n, char *buf, size_t size) {
  if (n >= size)
    return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return true;
}

/*
 * Parses a request: one map of string keys to string values, "op" required,
 * "target" for stats and kill. False, with the reason in why, if the frame
 * is not a request at all.
 */
static bool admin_parse(const void *body, size_t len, char *op, size_t op_size, char *target,
                        size_t target_size, char *why, size_t why_size) {
  hive_unpacker_t u;
  uint32_t pairs;
  bool ok = false;
  op[0] = target[0] = '\0';
  if (hive_unpacker_init(&u, body, len, NULL) != HIVE_OK) {
    snprintf(why, why_size, "the frame is not msgpack");
    return false;
  }
  if (u.count == 0 || hive_unpack_next(&u, "m", &pairs) != HIVE_OK) {
    snprintf(why, why_size, "a request is a msgpack map");
    goto out;
  }
  for (uint32_t i = 0; i < pairs; i++) {
    const char *key, *value;
    size_t key_len, value_len;
    if (hive_unpack_next(&u, "ss", &key, &key_len, &value, &value_len) != HIVE_OK) {
      snprintf(why, why_size, "request keys and values are strings");
      goto out;
    }
    char *dest = NULL;
    size_t dest_size = 0;
    if (key_len == 2 && memcmp(key, "op", 2) == 0)
      dest = op, dest_size = op_size;
    else if (key_len == 6 && memcmp(key, "target", 6) == 0)
      dest = target, dest_size = target_size;
    if (dest == NULL) {
      snprintf(why, why_size, "unknown field '%.*s'", (int)(key_len < 32 ? key_len : 32), key);
      goto out;
    }
    if (!admin_copy_str(value, value_len, dest, dest_size)) {
      snprintf(why, why_size, "field '%.*s' is too long", (int)key_len, key);
      goto out;
    }
  }
  if (u.pos != u.count) {
    snprintf(why, why_size, "a frame holds one request");
    goto out;
  }
  ok = true;
out:
  hive_unpacker_free(&u);
  return ok;
}

/* Answers one request into sbuf; false if the connection must close. */
static bool admin_answer(hive_t *h, const void *body, size_t len, msgpack_packer *pk) {
  char op[32], target[HIVE_PID_STRLEN + HIVE_NAME_MAX], why[128];
  if (!admin_parse(body, len, op, sizeof(op), target, sizeof(target), why, sizeof(why))) {
    pack_error(pk, why);
    hive_log(h, HIVE_LOG_WARNING, "admin socket: bad request (%s); closing that connection", why);
    return false;
  }
  bool needs_target = strcmp(op, "stats") == 0 || strcmp(op, "kill") == 0;
  if (needs_target && target[0] == '\0') {
    snprintf(why, sizeof(why), "op '%s' needs a target: a pid or a name", op);
    pack_error(pk, why);
  } else if (strcmp(op, "ps") == 0) {
    admin_ps(h, pk);
  } else if (strcmp(op, "stats") == 0) {
    admin_stats(h, pk, target);
  } else if (strcmp(op, "kill") == 0) {
    admin_kill(h, pk, target);
  } else if (strcmp(op, "tree") == 0) {
    admin_tree(h, pk);
  } else if (strcmp(op, "node") == 0) {
    admin_node(h, pk);
  } else if (strcmp(op, "metrics") == 0) {
    admin_metrics(h, pk);
  } else {
    snprintf(why, sizeof(why), "unknown op '%s'", op);
    pack_error(pk, why);
  }
  return true;
}

/* h->admin_answer: one request answered into a msgpack_sbuffer. */
static bool admin_answer_into(hive_t *h, const void *request, size_t len, void *out) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
  return admin_answer(h, request, len, &pk);
}

/* ---- connections --------------------------------------------------------- */

static void client_close(admin_client_t *c) {
  close(c->fd);
  free(c->in);
  free(c->out);
  *c = (admin_client_t){.fd = -1};
}

/* Queues a reply frame: a 4-byte big-endian length, then the body. */
static void client_queue(admin_client_t *c, msgpack_sbuffer *body) {
  size_t n = body->size;
  c->out = malloc(4 + n);
  if (c->out == NULL) {
    c->closing = true;
    return;
  }
  c->out[0] = (char)(n >> 24);
  c->out[1] = (char)(n >> 16);
  c->out[2] = (char)(n >> 8);
  c->out[3] = (char)n;
  memcpy(c->out + 4, body->data, n);
  c->out_len = 4 + n;
  c->out_done = 0;
}

static void client_answer(hive__admin_t *ad, admin_client_t *c, const void *body, size_t len,
                          bool well_formed_length) {
  msgpack_sbuffer sbuf;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sbuf);
  msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
  if (!well_formed_length) {
    char why[96];
    snprintf(why, sizeof(why), "a frame of %zu bytes is over the limit of %u", len,
             HIVE__ADMIN_REQUEST_MAX);
    pack_error(&pk, why);
    hive_log(ad->h, HIVE_LOG_WARNING, "admin socket: %s; closing that connection", why);
    c->closing = true;
  } else if (!admin_answer(ad->h, body, len, &pk)) {
    c->closing = true;
  }
  client_queue(c, &sbuf);
  msgpack_sbuffer_destroy(&sbuf);
}

/* Reads what the client sent and answers each whole frame. */
static void client_read(hive__admin_t *ad, admin_client_t *c) {
  ssize_t got = read(c->fd, c->in + c->in_len, 4 + HIVE__ADMIN_REQUEST_MAX - c->in_len);
  if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
    client_close(c); /* the client went away */
    return;
  }
  if (got < 0)
    return;
  c->in_len += (size_t)got;
  if (c->in_len < 4)
    return;
  size_t len = ((size_t)c->in[0] << 24) | ((size_t)c->in[1] << 16) | ((size_t)c->in[2] << 8) |
               (size_t)c->in[3];
  if (len > HIVE__ADMIN_REQUEST_MAX) {
    client_answer(ad, c, NULL, len, false);
    return;
  }
  if (c->in_len < 4 + len)
    return;
  client_answer(ad, c, c->in + 4, len, true);
  /* Requests pipelined behind this one wait until its reply is written. */
  memmove(c->in, c->in + 4 + len, c->in_len - 4 - len);
  c->in_len -= 4 + len;
}

static void client_write(admin_client_t *c) {
  ssize_t put = write(c->fd, c->out + c->out_done, c->out_len - c->out_done);
  if (put < 0 && errno != EAGAIN && errno != EINTR) {
    client_close(c);
    return;
  }
  if (put > 0)
    c->out_done += (size_t)put;
  if (c->out_done < c->out_len)
    return;
  free(c->out);
  c->out = NULL;
  c->out_len = c->out_done = 0;
  if (c->closing)
    client_close(c);
}

static void admin_accept(hive__admin_t *ad) {
  int fd = accept4(ad->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0)
    return;
  for (int i = 0; i < ADMIN_CLIENTS_MAX; i++) {
    admin_client_t *c = &ad->clients[i];
    if (c->fd >= 0)
      continue;
    *c = (admin_client_t){.fd = fd, .in = malloc(4 + HIVE__ADMIN_REQUEST_MAX)};
    if (c->in == NULL)
      client_close(c);
    return;
  }
  hive_log(ad->h, HIVE_LOG_WARNING, "admin socket: %d connections already; refusing one",
           ADMIN_CLIENTS_MAX);
  close(fd);
}

static void *admin_main(void *arg) {
  hive__admin_t *ad = arg;
  struct pollfd fds[2 + ADMIN_CLIENTS_MAX];
  admin_client_t *owner[2 + ADMIN_CLIENTS_MAX];
  for (;;) {
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = ad->wake[0], .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = ad->listen_fd, .events = POLLIN};
    for (int i = 0; i < ADMIN_CLIENTS_MAX; i++) {
      admin_client_t *c = &ad->clients[i];
      if (c->fd < 0)
        continue;
      owner[n] = c;
      fds[n++] = (struct pollfd){.fd = c->fd, .events = c->out != NULL ? POLLOUT : POLLIN};
    }
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR)
        continue;
      hive_log(ad->h, HIVE_LOG_ERROR, "admin socket: poll failed: %s", strerror(errno));
      break;
    }
    if (fds[0].revents != 0)
      break; /* hive_stop */
    for (nfds_t i = 2; i < n; i++) {
      admin_client_t *c = owner[i];
      if (fds[i].revents == 0)
        continue;
      if (c->out != NULL)
        client_write(c);
      else
        client_read(ad, c);
      if (c->fd >= 0 && c->out != NULL)
        client_write(c); /* most replies go out at once */
    }
    if (fds[1].revents & POLLIN)
      admin_accept(ad);
  }
  return NULL;
}

/* ---- start and stop ------------------------------------------------------ */

int hive__admin_start(hive_t *h, const char *path) {
  h->admin_answer = admin_answer_into; /* for hivectl --node, over the cluster */
  if (path == NULL)
    return HIVE_OK;
  hive__admin_t *ad = calloc(1, sizeof(*ad));
  if (ad == NULL || (ad->path = strdup(path)) == NULL) {
    free(ad);
    return HIVE_ENOMEM;
  }
  ad->h = h;
  for (int i = 0; i < ADMIN_CLIENTS_MAX; i++)
    ad->clients[i].fd = -1;
  int rc = hive__unix_listen(ad->path, 16, &ad->listen_fd);
  if (rc != HIVE_OK)
    goto fail;
  rc = HIVE_ESYS;
  if (pipe2(ad->wake, O_CLOEXEC) != 0)
    goto fail_socket;
  if (pthread_create(&ad->thread, NULL, admin_main, ad) != 0)
    goto fail_pipe;
  h->admin = ad;
  return HIVE_OK;

fail_pipe:
  close(ad->wake[0]);
  close(ad->wake[1]);
fail_socket:
  close(ad->listen_fd);
  unlink(ad->path);
fail:
  free(ad->path);
  free(ad);
  return rc;
}

void hive__admin_stop(hive_t *h) {
  hive__admin_t *ad = h->admin;
  if (ad == NULL)
    return;
  char byte = 0;
  while (write(ad->wake[1], &byte, 1) < 0 && errno == EINTR) {
  }
  pthread_join(ad->thread, NULL);
  for (int i = 0; i < ADMIN_CLIENTS_MAX; i++)
    if (ad->clients[i].fd >= 0)
      client_close(&ad->clients[i]);
  close(ad->listen_fd);
  unlink(ad->path);
  close(ad->wake[0]);
  close(ad->wake[1]);
  free(ad->path);
  free(ad);
  h->admin = NULL;
}
