/*
 * conn.c - a connection's actor: the protocol of docs/gateway.md, on the
 * workers, for one client.
 *
 * It gets the frames the loop read (GW_TAG_INPUT), serves each in order,
 * and queues its answers on the connection (hive__gw_conn_write). A call
 * becomes a hive_request whose ref maps to the client's id; the reply, a
 * timeout or a noproc comes back as a message and is answered by id, in
 * whatever order they come. Any other user message sent to this actor is
 * pushed to the client as an "op":"message" frame.
 *
 * Before a good hello only hello is served. A frame that is not a msgpack
 * map, or one over the size limit, gets its error and ends the actor; the
 * loop closes the socket once the error is written. When the actor ends
 * for any other reason (hive_stop, a kill), every call still in flight is
 * answered first: "shutdown" when the node stops, "internal" otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "util/listen.h"
#include "util/msgpack_span.h"
#include "util/pack.h"
#include "util/reftab.h"

/* A call with no timeout_ms waits this long for its reply. */
#define GW_CALL_TIMEOUT_MS 5000

typedef struct {
  gw_conn_t *conn; /* a reference of ours */
  hive__gateway_t *gw;
  bool welcomed;
  bool ending;          /* the connection closes: no more frames are served */
  uint64_t hello_timer; /* GW_TAG_HELLO_DUE, cancelled by the welcome */
  ck_ht_t *calls;       /* owned: ref of a call in flight -> the client's id */
  msgpack_unpacked unpacked;
  msgpack_sbuffer frame; /* an answer being built: 4 bytes of prefix, then its body */
  msgpack_packer pk;     /* writes into frame */
  msgpack_sbuffer data;  /* a request's data, packed again for the actor */
} gw_actor_t;

/* ---- answers ------------------------------------------------------------- */

static void frame_begin(gw_actor_t *s, uint32_t pairs) {
  s->frame.size = 0;
  msgpack_sbuffer_write(&s->frame, "\0\0\0\0", 4);
  msgpack_pack_map(&s->pk, pairs);
}

static void frame_end(gw_actor_t *s) {
  if (s->frame.data == NULL)
    return; /* out of memory while packing */
  size_t n = s->frame.size - 4;
  unsigned char *p = (unsigned char *)s->frame.data;
  p[0] = (unsigned char)(n >> 24);
  p[1] = (unsigned char)(n >> 16);
  p[2] = (unsigned char)(n >> 8);
  p[3] = (unsigned char)n;
  hive__gw_conn_write(s->conn, s->frame.data, s->frame.size);
}

/* Packs bytes an actor produced as one msgpack value: as they are if
 * they hold exactly one, else as a bin. */
static void pack_value(msgpack_packer *pk, msgpack_sbuffer *sb, const void *data, size_t len) {
  if (len > 0 && hive__msgpack_span(data, len) == len) {
    msgpack_sbuffer_write(sb, data, len);
  } else {
    msgpack_pack_bin(pk, len);
    msgpack_pack_bin_body(pk, data, len);
  }
}

static void answer_error(gw_actor_t *s, bool has_id, uint64_t id, int kind, const char *detail) {
  frame_begin(s, has_id ? 4 : 3);
  if (has_id)
    hive__pack_key_u64(&s->pk, "id", id);
  hive__pack_key_bool(&s->pk, "ok", false);
  hive__pack_key_str(&s->pk, "error", hive_gateway_error_name(kind));
  hive__pack_key_str(&s->pk, "detail", detail);
  frame_end(s);
  hive__gw_count_error(s->gw, kind);
}

/* {"id":N,"ok":true} with "data" from bytes (data NULL: none). */
static void answer_ok(gw_actor_t *s, uint64_t id, const void *data, size_t len) {
  frame_begin(s, data != NULL ? 3 : 2);
  hive__pack_key_u64(&s->pk, "id", id);
  hive__pack_key_bool(&s->pk, "ok", true);
  if (data != NULL) {
    hive__pack_str(&s->pk, "data");
    pack_value(&s->pk, &s->frame, data, len);
  }
  frame_end(s);
}

/* Ends the connection after what is queued: no more frames are served. */
static int conn_close(gw_actor_t *s) {
  s->ending = true;
  return HIVE_STOP;
}

/* ---- serving requests ---------------------------------------------------- */

static int serve_hello(hive_ctx_t *ctx, gw_actor_t *s, const gw_request_t *req) {
  if (s->welcomed) {
    answer_error(s, req->has_id, req->id, HIVE_GW_BADARG, "hello: already welcomed");
    return HIVE_OK;
  }
  if (!s->conn->unix_socket &&
      !hive__token_equal(s->gw->token, s->gw->token_len, req->token.p, req->token.n)) {
    answer_error(s, req->has_id, req->id, HIVE_GW_UNAUTHORIZED, "wrong token");
    hive_log(s->gw->h, HIVE_LOG_WARNING, "gateway: a client gave a wrong token; closing");
    return conn_close(s);
  }
  s->welcomed = true;
  hive__timer_cancel(s->gw->h, s->hello_timer);
  frame_begin(s, req->has_id ? 7 : 6);
  if (req->has_id)
    hive__pack_key_u64(&s->pk, "id", req->id);
  hive__pack_key_str(&s->pk, "op", "welcome");
  hive__pack_key_u64(&s->pk, "version", 1);
  hive__pack_key_str(&s->pk, "node", s->gw->node_name);
  hive__pack_key_u64(&s->pk, "node_id", HIVE_PID_NODE(hive_self(ctx)));
  hive__pack_key_u64(&s->pk, "max_frame", s->gw->max_frame);
  hive__pack_key_u64(&s->pk, "self", hive_self(ctx));
  frame_end(s);
  return HIVE_OK;
}

/* The pid req->to names; 0 (after answering noproc) if none. */
static hive_pid_t resolve_to(gw_actor_t *s, const gw_request_t *req) {
  if (req->to != 0)
    return req->to;
  char name[HIVE_NAME_MAX + 1];
  memcpy(name, req->to_name.p, req->to_name.n);
  name[req->to_name.n] = '\0';
  hive_pid_t pid = hive_whereis(s->gw->h, name);
  if (pid == 0 && (req->op != GW_OP_SEND || req->has_id)) {
    char detail[HIVE_NAME_MAX + 32];
    snprintf(detail, sizeof(detail), "no actor named '%s'", name);
    answer_error(s, req->has_id, req->id, HIVE_GW_NOPROC, detail);
  }
  return pid;
}

/* The request's data as the payload an actor gets: its msgpack bytes, or
 * nil when it has none. */
static bool request_payload(gw_actor_t *s, const gw_request_t *req, const void **data,
                            size_t *len) {
  s->data.size = 0;
  msgpack_packer pk;
  msgpack_packer_init(&pk, &s->data, msgpack_sbuffer_write);
  if (req->data != NULL)
    msgpack_pack_object(&pk, *req->data);
  else
    msgpack_pack_nil(&pk);
  *data = s->data.data;
  *len = s->data.size;
  return s->data.data != NULL;
}

/* Answers a failed send or call by its error code. */
static void answer_delivery_error(gw_actor_t *s, const gw_request_t *req, int rc) {
  if (rc == HIVE_ENOPROC)
    answer_error(s, req->has_id, req->id, HIVE_GW_NOPROC, "no such actor");
  else if (rc == HIVE_EFULL)
    answer_error(s, req->has_id, req->id, HIVE_GW_FULL, "the actor's mailbox is full");
  else
    answer_error(s, req->has_id, req->id, HIVE_GW_INTERNAL, hive_strerror(rc));
}

static void serve_send(gw_actor_t *s, const gw_request_t *req) {
  hive_pid_t to = resolve_to(s, req);
  const void *data;
  size_t len;
  if (to == 0)
    return;
  if (!request_payload(s, req, &data, &len)) {
    answer_error(s, req->has_id, req->id, HIVE_GW_INTERNAL, "out of memory");
    return;
  }
  int rc = hive_send(s->gw->h, to, req->tag, data, len);
  if (rc == HIVE_OK && req->has_id)
    answer_ok(s, req->id, NULL, 0);
  else if (rc != HIVE_OK && req->has_id)
    answer_delivery_error(s, req, rc);
}

static void serve_call(hive_ctx_t *ctx, gw_actor_t *s, const gw_request_t *req) {
  if (hive__reftab_count(s->calls) >= s->gw->max_inflight) {
    char detail[64];
    snprintf(detail, sizeof(detail), "%u calls in flight already", s->gw->max_inflight);
    answer_error(s, true, req->id, HIVE_GW_BUSY, detail);
    return;
  }
  hive_pid_t to = resolve_to(s, req);
  const void *data;
  size_t len;
  if (to == 0)
    return;
  if (!request_payload(s, req, &data, &len)) {
    answer_error(s, true, req->id, HIVE_GW_INTERNAL, "out of memory");
    return;
  }
  uint64_t ref;
  int timeout_ms = req->timeout_ms >= 0 ? (int)req->timeout_ms : GW_CALL_TIMEOUT_MS;
  int rc = hive_request(ctx, to, req->tag, data, len, timeout_ms, &ref);
  if (rc != HIVE_OK) {
    answer_delivery_error(s, req, rc);
    return;
  }
  if (!hive__reftab_put(s->calls, ref, req->id)) {
    /* Its answer will find no id and be dropped. */
    answer_error(s, true, req->id, HIVE_GW_INTERNAL, "out of memory");
  }
}

static void serve_whereis(gw_actor_t *s, const gw_request_t *req) {
  if (req->name.n == 0 || req->name.n > HIVE_NAME_MAX) {
    answer_ok(s, req->id, "\xc0", 1); /* no actor can have that name */
    return;
  }
  char name[HIVE_NAME_MAX + 1];
  memcpy(name, req->name.p, req->name.n);
  name[req->name.n] = '\0';
  hive_pid_t pid = hive_whereis(s->gw->h, name);
  frame_begin(s, 3);
  hive__pack_key_u64(&s->pk, "id", req->id);
  hive__pack_key_bool(&s->pk, "ok", true);
  hive__pack_str(&s->pk, "data");
  if (pid != 0)
    msgpack_pack_uint64(&s->pk, pid);
  else
    msgpack_pack_nil(&s->pk);
  frame_end(s);
}

static void serve_stats(gw_actor_t *s, const gw_request_t *req) {
  hive_pid_t to = resolve_to(s, req);
  hive_actor_stats_t st;
  if (to == 0)
    return;
  if (hive_actor_stats(s->gw->h, to, &st) != HIVE_OK) {
    answer_error(s, true, req->id, HIVE_GW_NOPROC, "no such actor");
    return;
  }
  frame_begin(s, 3);
  hive__pack_key_u64(&s->pk, "id", req->id);
  hive__pack_key_bool(&s->pk, "ok", true);
  hive__pack_str(&s->pk, "data");
  hive__pack_actor_stats(&s->pk, &st);
  frame_end(s);
}

/* Serves one frame body; HIVE_STOP once the connection must close. */
static int serve_frame(hive_ctx_t *ctx, gw_actor_t *s, const void *body, size_t len) {
  gw_request_t req;
  gw_problem_t problem;
  if (!hive__gw_decode(body, len, &s->unpacked, &req, &problem)) {
    answer_error(s, req.has_id, req.id, problem.kind, problem.detail);
    if (problem.kind == HIVE_GW_BADFRAME) {
      hive_log(s->gw->h, HIVE_LOG_WARNING, "gateway: %s; closing that connection", problem.detail);
      return conn_close(s);
    }
    return s->welcomed ? HIVE_OK : conn_close(s);
  }
  if (req.op == GW_OP_HELLO)
    return serve_hello(ctx, s, &req);
  if (!s->welcomed) {
    answer_error(s, req.has_id, req.id, HIVE_GW_UNAUTHORIZED, "the first frame is a hello");
    return conn_close(s);
  }
  switch (req.op) {
  case GW_OP_SEND:
    serve_send(s, &req);
    break;
  case GW_OP_CALL:
    serve_call(ctx, s, &req);
    break;
  case GW_OP_WHEREIS:
    serve_whereis(s, &req);
    break;
  case GW_OP_STATS:
    serve_stats(s, &req);
    break;
  }
  return HIVE_OK;
}

/* Serves the whole frames of one read, in order. */
static int serve_input(hive_ctx_t *ctx, gw_actor_t *s, const hive_msg_t *msg) {
  const unsigned char *p = msg->data;
  size_t left = msg->len;
  int rc = HIVE_OK;
  while (rc == HIVE_OK && !s->ending && left >= 4) {
    size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
    if (n > left - 4)
      break; /* never: the loop hands over whole frames */
    rc = serve_frame(ctx, s, p + 4, n);
    p += 4 + n;
    left -= 4 + n;
  }
  hive__gw_conn_consumed(s->conn, msg->len);
  return rc;
}

/* ---- answers from actors ------------------------------------------------- */

static void answer_call(gw_actor_t *s, const hive_msg_t *msg) {
  uint64_t id;
  if (!hive__reftab_take(s->calls, msg->ref, &id))
    return; /* not a call of this connection's */
  if (msg->tag == HIVE_TAG_REPLY)
    answer_ok(s, id, msg->data != NULL ? msg->data : "", msg->len);
  else if (msg->tag == HIVE_TAG_TIMEOUT)
    answer_error(s, true, id, HIVE_GW_TIMEOUT, "no reply in time");
  else
    answer_error(s, true, id, HIVE_GW_NOPROC, "the actor ended before it replied");
}

static void push_message(gw_actor_t *s, const hive_msg_t *msg) {
  frame_begin(s, 4);
  hive__pack_key_str(&s->pk, "op", "message");
  hive__pack_key_u64(&s->pk, "from", msg->from);
  hive__pack_key_u64(&s->pk, "tag", msg->tag);
  hive__pack_str(&s->pk, "data");
  pack_value(&s->pk, &s->frame, msg->data, msg->len);
  frame_end(s);
}

/* ---- the behaviour ------------------------------------------------------- */

static int conn_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  gw_actor_t *s = state;
  if (len != sizeof(gw_conn_t *))
    return HIVE_EINVAL;
  memcpy(&s->conn, arg, sizeof(s->conn));
  s->gw = s->conn->gw;
  /* On failure terminate does not run: the loop keeps the reference it
   * took for this actor and drops it. */
  if ((s->calls = hive__reftab_new()) == NULL)
    return HIVE_ENOMEM;
  msgpack_unpacked_init(&s->unpacked);
  msgpack_sbuffer_init(&s->frame);
  msgpack_sbuffer_init(&s->data);
  msgpack_packer_init(&s->pk, &s->frame, msgpack_sbuffer_write);
  /* A client that connects and says nothing would hold one of max_conns
   * for ever: it has hello_ms to say hello. */
  if (hive__timer_arm(s->gw->h, hive_self(ctx), GW_TAG_HELLO_DUE, 0, HIVE__MSG_NOBOUND, NULL, 0,
                      (uint64_t)s->gw->hello_ms * 1000000u, 0, &s->hello_timer) != HIVE_OK) {
    hive__reftab_destroy(s->calls);
    return HIVE_ENOMEM;
  }
  atomic_store(&s->conn->pid, hive_self(ctx));
  return HIVE_OK;
}

static int conn_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  gw_actor_t *s = state;
  switch (msg->tag) {
  case GW_TAG_INPUT:
    return serve_input(ctx, s, msg);
  case GW_TAG_CLOSED:
    return conn_close(s);
  case GW_TAG_HELLO_DUE: {
    if (s->welcomed)
      return HIVE_OK;
    char detail[64];
    snprintf(detail, sizeof(detail), "no hello within %u ms", s->gw->hello_ms);
    answer_error(s, false, 0, HIVE_GW_UNAUTHORIZED, detail);
    hive_log(s->gw->h, HIVE_LOG_INFO, "gateway: a client said no hello within %u ms; closing",
             s->gw->hello_ms);
    return conn_close(s);
  }
  case GW_TAG_TOOLARGE: {
    uint32_t n = 0;
    if (msg->len == sizeof(n))
      memcpy(&n, msg->data, sizeof(n));
    char detail[96];
    snprintf(detail, sizeof(detail), "a frame of %u bytes is over the limit of %zu", n,
             s->gw->max_frame);
    answer_error(s, false, 0, HIVE_GW_TOOLARGE, detail);
    hive_log(s->gw->h, HIVE_LOG_WARNING, "gateway: %s; closing that connection", detail);
    return conn_close(s);
  }
  case HIVE_TAG_REPLY:
  case HIVE_TAG_TIMEOUT:
  case HIVE_TAG_NOPROC:
    if (msg->ref != 0)
      answer_call(s, msg);
    return HIVE_OK;
  }
  if (atomic_load_explicit(&s->conn->gone, memory_order_relaxed))
    return conn_close(s); /* the client is gone: end now, not after the queue */
  if (msg->tag >= HIVE_TAG_USER && !s->ending)
    push_message(s, msg);
  return HIVE_OK;
}

typedef struct {
  gw_actor_t *s;
  int kind;
  const char *detail;
} fail_calls_t;

static void fail_call(uint64_t ref, uint64_t id, void *arg) {
  (void)ref;
  fail_calls_t *f = arg;
  answer_error(f->s, true, id, f->kind, f->detail);
}

static void conn_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)ctx;
  gw_actor_t *s = state;
  bool shutdown = reason->kind == HIVE_REASON_SHUTDOWN;
  fail_calls_t f = {.s = s,
                    .kind = shutdown ? HIVE_GW_SHUTDOWN : HIVE_GW_INTERNAL,
                    .detail = shutdown ? "the node is stopping" : "the connection's actor ended"};
  hive__reftab_each(s->calls, fail_call, &f);
  hive__reftab_destroy(s->calls);
  msgpack_unpacked_destroy(&s->unpacked);
  msgpack_sbuffer_destroy(&s->frame);
  msgpack_sbuffer_destroy(&s->data);
  hive__gw_conn_finish(s->conn);
  hive__gw_conn_release(s->conn);
}

const hive_behaviour_t hive__gw_conn_behaviour = {.name = "gateway_conn",
                                                  .state_size = sizeof(gw_actor_t),
                                                  .init = conn_init,
                                                  .handle = conn_handle,
                                                  .terminate = conn_terminate};
