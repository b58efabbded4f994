/*
 * fuzz_admin_stream.c - libFuzzer target for the admin socket's framing
 * (admin/socket.c), end to end: any bytes written to a live node's admin
 * socket in one go, then a hang-up, get one well-formed reply per whole
 * frame, in order, until the node closes the connection. It closes only
 * after a frame that is not a request (that reply says ok=false) or one
 * whose length is over the limit, or at the hang-up: never in silence
 * with requests unanswered, and never without answering in 30 s.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin/admin.h"
#include "tests/gw_client.h"

static hive_t *h;
static char path[64];

static void node_stop(void) {
  hive_stop(h);
}

static int idle_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  return HIVE_OK;
}
static const hive_behaviour_t idle_b = {.name = "idle", .handle = idle_handle};

/* One node for the whole run, with an actor to name; a request that kills
 * it gets another. */
static void node(void) {
  if (h == NULL) {
    snprintf(path, sizeof(path), "/tmp/hive-fuzz-admin-%d.sock", (int)getpid());
    hive_config_t cfg;
    hive_config_init(&cfg);
    cfg.workers = 1;
    cfg.log_level = HIVE_LOG_NONE;
    cfg.admin_socket = path;
    if (hive_start(&h, &cfg) != HIVE_OK)
      abort();
    atexit(node_stop); /* removes the socket file */
  }
  if (hive_whereis(h, "idle") == 0) {
    hive_spawn_opts_t opts;
    hive_spawn_opts_init(&opts);
    opts.name = "idle";
    hive_spawn(h, &idle_b, NULL, 0, &opts, &(hive_pid_t){0});
  }
}

/* Reads one reply; false at the end of the stream. Its "ok" in *ok. */
static bool reply(int fd, bool *ok) {
  unsigned char prefix[4];
  ssize_t got = read(fd, prefix, 1);
  if (got == 0)
    return false;
  assert(got == 1 && "the node neither answered nor closed in 30 s");
  assert(gwc_read_all(fd, prefix + 1, 3));
  size_t n = (size_t)prefix[0] << 24 | (size_t)prefix[1] << 16 | (size_t)prefix[2] << 8 | prefix[3];
  char *body = malloc(n > 0 ? n : 1);
  assert(gwc_read_all(fd, body, n));
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  assert(msgpack_unpack_next(&u, body, n, &off) == MSGPACK_UNPACK_SUCCESS && off == n);
  const msgpack_object *o = &u.data;
  assert(o->type == MSGPACK_OBJECT_MAP && o->via.map.size >= 1);
  const msgpack_object_kv *kv = &o->via.map.ptr[0];
  assert(kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 2 &&
         memcmp(kv->key.via.str.ptr, "ok", 2) == 0 && kv->val.type == MSGPACK_OBJECT_BOOLEAN);
  *ok = kv->val.via.boolean;
  msgpack_unpacked_destroy(&u);
  free(body);
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  node();
  /* The frames a plain reading finds: whole ones, then at most one with a
   * length over the limit, which is answered too. */
  size_t frames = 0;
  for (size_t off = 0; off + 4 <= size; frames++) {
    size_t n = (size_t)data[off] << 24 | (size_t)data[off + 1] << 16 |
               (size_t)data[off + 2] << 8 | data[off + 3];
    if (n > HIVE__ADMIN_REQUEST_MAX) {
      frames++;
      break;
    }
    if (off + 4 + n > size)
      break;
    off += 4 + n;
  }
  int fd = gwc_connect_unix(path); /* reads give up after 30 s */
  assert(fd >= 0);
  /* All of it within the socket's buffer, no reply read first; the node
   * may close before the end (after a refusal). */
  gwc_write_all(fd, data, size);
  shutdown(fd, SHUT_WR);
  size_t replies = 0;
  bool ok = true;
  while (reply(fd, &ok))
    replies++;
  close(fd);
  /* Every frame answered, or the last answer was a refusal that closed it. */
  assert(replies <= frames);
  assert(replies == frames || (replies > 0 && !ok));
  return 0;
}
