/*
 * gw_client.h - a small blocking client of the gateway's protocol
 * (docs/gateway.md), for the C tests and bench/gateway.c: frames built
 * with hive_pack, answers parsed with msgpack-c.
 */
#ifndef HIVE_TESTS_GW_CLIENT_H
#define HIVE_TESTS_GW_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "hive/hive.h"

/* A connected socket to 127.0.0.1:port, or to a Unix path; -1 on failure.
 * Reads give up after 30 s, so that a test never hangs on a lost answer. */
static inline int gwc_connect_tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  struct timeval tv = {.tv_sec = 30};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

static inline int gwc_connect_unix(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  size_t n = strlen(path);
  if (n < sizeof(a.sun_path))
    memcpy(a.sun_path, path, n + 1);
  if (fd < 0 || n >= sizeof(a.sun_path) || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  struct timeval tv = {.tv_sec = 30};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

static inline bool gwc_write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t put = send(fd, c, n, MSG_NOSIGNAL); /* a closed peer: false, not SIGPIPE */
    if (put < 0 && errno == EINTR)
      continue;
    if (put <= 0)
      return false;
    c += put;
    n -= (size_t)put;
  }
  return true;
}

/* Sends body (len bytes) as one frame and frees it. */
static inline bool gwc_send_body(int fd, void *body, size_t len) {
  unsigned char prefix[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                             (unsigned char)(len >> 8), (unsigned char)len};
  bool ok = gwc_write_all(fd, prefix, 4) && gwc_write_all(fd, body, len);
  free(body);
  return ok;
}

/* Sends the frame hive_pack(fmt, ...) makes. */
static inline bool gwc_send(int fd, const char *fmt, ...) {
  void *body;
  size_t len;
  va_list ap;
  va_start(ap, fmt);
  int rc = hive_vpack(&body, &len, fmt, ap);
  va_end(ap);
  return rc == HIVE_OK && gwc_send_body(fd, body, len);
}

static inline bool gwc_read_all(int fd, void *p, size_t n) {
  char *c = p;
  while (n > 0) {
    ssize_t got = read(fd, c, n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return false;
    c += got;
    n -= (size_t)got;
  }
  return true;
}

/* An answer: its parsed map. */
typedef struct {
  msgpack_unpacked u;
  const msgpack_object *map;
  char *body; /* owned: the parsed strings point into it */
} gwc_frame_t;

/* Reads one frame; false at EOF, on a read timeout, or on a frame that is
 * not a map. */
static inline bool gwc_recv(int fd, gwc_frame_t *f) {
  unsigned char prefix[4];
  msgpack_unpacked_init(&f->u);
  f->map = NULL;
  f->body = NULL;
  if (!gwc_read_all(fd, prefix, 4))
    return false;
  size_t n = (size_t)prefix[0] << 24 | (size_t)prefix[1] << 16 | (size_t)prefix[2] << 8 | prefix[3];
  char *body = f->body = malloc(n > 0 ? n : 1);
  bool ok = body != NULL && gwc_read_all(fd, body, n) &&
            msgpack_unpack_next(&f->u, body, n, NULL) == MSGPACK_UNPACK_SUCCESS &&
            f->u.data.type == MSGPACK_OBJECT_MAP;
  if (ok)
    f->map = &f->u.data;
  return ok;
}

static inline void gwc_frame_free(gwc_frame_t *f) {
  msgpack_unpacked_destroy(&f->u);
  free(f->body);
  f->body = NULL;
}

/* The value of key in the answer, or NULL. */
static inline const msgpack_object *gwc_get(const gwc_frame_t *f, const char *key) {
  for (uint32_t i = 0; f->map != NULL && i < f->map->via.map.size; i++) {
    const msgpack_object *k = &f->map->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
        memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
      return &f->map->via.map.ptr[i].val;
  }
  return NULL;
}

static inline uint64_t gwc_u64(const gwc_frame_t *f, const char *key) {
  const msgpack_object *o = gwc_get(f, key);
  return o != NULL && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : UINT64_MAX;
}

/* A string field compared with want. */
static inline bool gwc_is(const gwc_frame_t *f, const char *key, const char *want) {
  const msgpack_object *o = gwc_get(f, key);
  return o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(want) &&
         memcmp(o->via.str.ptr, want, o->via.str.size) == 0;
}

static inline bool gwc_ok(const gwc_frame_t *f) {
  const msgpack_object *o = gwc_get(f, "ok");
  return o != NULL && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
}

/* True once the peer has closed: a read returns EOF (after any frames
 * still queued, which are skipped). */
static inline bool gwc_closed(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t got = read(fd, buf, sizeof(buf));
    if (got == 0)
      return true;
    if (got < 0 && errno != EINTR)
      return errno == ECONNRESET;
  }
}

/* Connects and says hello; the connection's pid in *self. -1 on failure. */
static inline int gwc_open(int port, const char *token, hive_pid_t *self) {
  int fd = gwc_connect_tcp(port);
  if (fd < 0)
    return -1;
  gwc_frame_t f;
  if (!gwc_send(fd, "mssss", 2, "op", "hello", "token", token) || !gwc_recv(fd, &f) ||
      !gwc_is(&f, "op", "welcome")) {
    close(fd);
    return -1;
  }
  if (self != NULL)
    *self = gwc_u64(&f, "self");
  gwc_frame_free(&f);
  return fd;
}

#endif /* HIVE_TESTS_GW_CLIENT_H */
