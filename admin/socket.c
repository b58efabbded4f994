/*
 * socket.c - the admin socket: a node's statistics, its supervision tree and
 * hive_kill, for hivectl and any other client (docs/admin-protocol.md).
 *
 * One thread serves every connection with poll(): a request is read whole,
 * answered from the public API on this thread, and the reply queued on the
 * connection, which is written as the client reads. A connection with a
 * reply pending is not read from, so a client that sends and never reads
 * holds at most one reply. Requests pipelined in one write are answered
 * in order, each once the reply before it is written. A frame that cannot
 * be a request (oversized, not msgpack, not a map) gets an error reply and
 * ends that connection only; the node logs why and goes on.
 *
 * The socket file has mode 0600 (util/listen.c) and is removed at
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
#include "util/listen.h"
#include "util/pack.h"

#define ADMIN_CLIENTS_MAX 32

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

static void pack_error(msgpack_packer *pk, const char *text) {
  msgpack_pack_map(pk, 2);
  hive__pack_key_bool(pk, "ok", false);
  hive__pack_key_str(pk, "error", text);
}

/* ---- connections --------------------------------------------------------- */

static void client_close(admin_client_t *c) {
  close(c->fd);
  free(c->in);
  free(c->out);
  *c = (admin_client_t){.fd = -1};
}

/* Queues a reply frame: a 4-byte big-endian length, then the body. Out of
 * memory, the connection is closed instead: the client sees it close,
 * rather than wait for an answer that cannot come or read half of one. */
static void client_queue(admin_client_t *c, const hive__pack_buf_t *reply) {
  const msgpack_sbuffer *body = &reply->sb;
  size_t n = body->size;
  c->out = reply->failed ? NULL : malloc(4 + n);
  if (c->out == NULL) {
    client_close(c);
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
  hive__pack_buf_t reply;
  msgpack_packer pk;
  hive__pack_buf_init(&reply, &pk);
  if (!well_formed_length) {
    char why[96];
    snprintf(why, sizeof(why), "a frame of %zu bytes is over the limit of %u", len,
             HIVE__ADMIN_REQUEST_MAX);
    pack_error(&pk, why);
    hive_log(ad->h, HIVE_LOG_WARNING, "admin socket: %s; closing that connection", why);
    c->closing = true;
  } else if (!hive__admin_answer(ad->h, body, len, &pk)) {
    c->closing = true;
  }
  client_queue(c, &reply);
  msgpack_sbuffer_destroy(&reply.sb);
}

/* Answers the first whole frame c holds, if it holds one. The frames
 * pipelined behind it wait until its reply is written (client_write). */
static void client_take(hive__admin_t *ad, admin_client_t *c) {
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
  if (c->fd < 0)
    return; /* closed: no memory for the reply */
  memmove(c->in, c->in + 4 + len, c->in_len - 4 - len);
  c->in_len -= 4 + len;
}

/* Reads what the client sent, and answers the first whole frame. */
static void client_read(hive__admin_t *ad, admin_client_t *c) {
  ssize_t got = read(c->fd, c->in + c->in_len, 4 + HIVE__ADMIN_REQUEST_MAX - c->in_len);
  if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
    client_close(c); /* the client went away */
    return;
  }
  if (got < 0)
    return;
  c->in_len += (size_t)got;
  client_take(ad, c);
}

/* Writes what it can of c's reply; once it is out, answers the next
 * frame held, if any. True if the reply went out whole. */
static bool client_write(hive__admin_t *ad, admin_client_t *c) {
  ssize_t put = write(c->fd, c->out + c->out_done, c->out_len - c->out_done);
  if (put < 0 && errno != EAGAIN && errno != EINTR) {
    client_close(c);
    return false;
  }
  if (put > 0)
    c->out_done += (size_t)put;
  if (c->out_done < c->out_len)
    return false;
  free(c->out);
  c->out = NULL;
  c->out_len = c->out_done = 0;
  if (c->closing)
    client_close(c);
  else
    client_take(ad, c);
  return true;
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
      if (c->out == NULL)
        client_read(ad, c);
      /* Most replies go out at once, and with them the replies to the
       * frames pipelined behind (each written before the next is made);
       * what the socket cannot take now waits for POLLOUT. */
      while (c->fd >= 0 && c->out != NULL && client_write(ad, c))
        ;
    }
    if (fds[1].revents & POLLIN)
      admin_accept(ad);
  }
  return NULL;
}

/* ---- start and stop ------------------------------------------------------ */

int hive__admin_socket_start(hive_t *h, const char *path) {
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

void hive__admin_socket_stop(hive_t *h) {
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
