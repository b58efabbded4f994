/*
 * gateway.h - the gateway's private interface: what its event loop
 * (loop.c), its connection actors (conn.c) and its frame decoder
 * (frame.c) share, and the two calls node/ makes.
 *
 * Who does what:
 *   - One event-loop thread (loop.c) owns every socket: it accepts, reads
 *     and writes, and never decodes msgpack. Whole frames it reads go to
 *     the connection's actor in one internal message a read; answers come
 *     back as bytes the actor queued on the connection.
 *   - Each connection has an actor (conn.c), a temporary child of the
 *     simple_one_for_one supervisor "hive.gateway": it decodes frames,
 *     makes the calls, matches replies to call ids, and encodes answers.
 *     It runs on the workers like any actor; it never touches the socket.
 *
 * A connection (gw_conn_t) is shared by the loop and the actor, counted:
 * whichever lets go last frees it.
 */
#ifndef HIVE_GATEWAY_PRIVATE_H
#define HIVE_GATEWAY_PRIVATE_H

#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "actors/actor.h"

/* For node/: starts the gateway if cfg asks for one (HIVE_OK if it does
 * not); stops it: calls in flight answered "shutdown", every connection
 * closed, the thread joined. */
int hive__gateway_start(hive_t *h, const hive_config_t *cfg);
void hive__gateway_stop(hive_t *h);

#define GW_DEFAULT_MAX_FRAME (1u << 20)
#define GW_DEFAULT_MAX_INFLIGHT 1024u
#define GW_DEFAULT_MAX_CONNS 10000u
#define GW_DEFAULT_HELLO_MS 10000u
#define GW_SLOW_READER_FRAMES 8 /* unsent output over 8 x max_frame closes */

/* Internal messages to a connection's actor (actors/actor.h's block). */
#define GW_TAG_INPUT (HIVE__TAG_GATEWAY + 0)     /* whole frames, prefixes included */
#define GW_TAG_CLOSED (HIVE__TAG_GATEWAY + 1)    /* the loop closed the socket */
#define GW_TAG_TOOLARGE (HIVE__TAG_GATEWAY + 2)  /* payload: the uint32 length read */
#define GW_TAG_HELLO_DUE (HIVE__TAG_GATEWAY + 3) /* hello_ms after it connected */

typedef struct hive__gateway hive__gateway_t;

/* A client's stream, being cut into frames (frame.c): a length prefix or a
 * frame read in part waits here between reads. */
typedef struct gw_framer {
  unsigned char prefix[4];
  size_t prefix_len;
  unsigned char *partial; /* owned: a frame read in part, 4 + its length */
  size_t partial_len, partial_size;
} gw_framer_t;

typedef struct gw_conn {
  hive__gateway_t *gw;
  _Atomic int refs;         /* the loop's and the actor's */
  _Atomic hive_pid_t pid;   /* its actor, set by its init once it holds its reference */
  bool unix_socket;         /* no token needed */
  _Atomic bool read_paused; /* the loop stopped reading: too much input held */
  _Atomic bool gone;        /* closed, or closing as a slow reader: the actor ends */
  _Atomic size_t in_held;   /* bytes handed to the actor, not yet decoded */

  /* The loop's own. */
  int fd;
  gw_framer_t framer;
  unsigned char *writing; /* owned: output being written */
  size_t writing_len, writing_done, writing_size;
  uint32_t events;             /* what epoll watches: EPOLLIN and/or EPOLLOUT */
  bool discarding;             /* a frame was too large: read nothing more */
  struct gw_conn *prev, *next; /* every open connection (gw->conns) */
  struct gw_conn *ready_next;  /* under gw->ready_lock */
  bool ready; /* under gw->ready_lock: on the ready list, which holds a reference */

  /* Output, under lock: the actor appends, the loop takes it whole. */
  pthread_mutex_t lock;
  unsigned char *out; /* owned */
  size_t out_len, out_size;
  bool close_when_flushed; /* the actor ended: close once out is written */
  bool slow;               /* its unsent output passed the bound: close it */
  bool closed;             /* the socket is closed: output is dropped */
  _Atomic size_t unsent;   /* out_len + what the loop still writes */
} gw_conn_t;

struct hive__gateway {
  hive_t *h;
  size_t max_frame;
  unsigned max_inflight;
  unsigned max_conns;
  unsigned hello_ms; /* a connection without a hello by then is closed */
  char *token;       /* owned; NULL: none (Unix socket only) */
  size_t token_len;
  char node_name[32];
  hive_pid_t sup; /* the connections' supervisor */

  int epoll_fd;
  int wake_fd;         /* an eventfd: the ready list, or stop */
  int tcp_fd, unix_fd; /* listeners, -1: none */
  int port;            /* the TCP port bound */
  char *unix_path;     /* owned */
  pthread_t thread;
  _Atomic int stopping;    /* 1: stop accepting; 2: flush and leave */
  unsigned char *read_buf; /* owned: the loop's read buffer */
  gw_conn_t *conns;        /* the loop's: every open connection */
  size_t nconns;
  gw_conn_t *closed; /* closed in this round of events; released after it */

  /* Connections with output to write, input to resume, or to close. The
   * loop is woken when the list stops being empty. */
  pthread_mutex_t ready_lock;
  gw_conn_t *ready_head;
};

/* ---- conn.c ---- */

/* The behaviour of a connection's actor; its argument is a gw_conn_t *
 * with a reference taken for it. */
extern const hive_behaviour_t hive__gw_conn_behaviour;

/* ---- loop.c: what the actor calls ---- */

/* Queues one whole frame (prefix included) for the client. Closes the
 * connection as a slow reader if the unsent output would pass its bound.
 * Any thread. */
void hive__gw_conn_write(gw_conn_t *c, const void *frame, size_t len);
/* The actor decoded len bytes of input: lets the loop read again. */
void hive__gw_conn_consumed(gw_conn_t *c, size_t len);
/* The actor ends: the loop closes the socket once the output is written. */
void hive__gw_conn_finish(gw_conn_t *c);
/* Drops a reference; the last one frees the connection. */
void hive__gw_conn_release(gw_conn_t *c);
/* Counts one error frame of kind (HIVE_GW_*). */
void hive__gw_count_error(hive__gateway_t *gw, int kind);

/* ---- frame.c: cutting the stream into frames ---- */

/* Whole frames, prefixes included, cut from what one read brought. */
typedef struct gw_batch {
  unsigned char *data; /* owned by the caller, who frees it */
  size_t len, size;
  size_t frames;
} gw_batch_t;

enum { GW_SPLIT_OK, GW_SPLIT_TOOLARGE, GW_SPLIT_NOMEM };

/*
 * Cuts the len bytes at p, which follow what f has seen, into whole
 * frames appended to batch; a frame read in part waits in f, in a buffer
 * of exactly its size, allocated only once its prefix is within
 * max_frame. GW_SPLIT_TOOLARGE: a prefix over max_frame (*too_large: the
 * length it gave); the frames before it are in batch and nothing after it
 * is read. GW_SPLIT_NOMEM: out of memory; the connection cannot go on.
 * The libFuzzer target tests/fuzz/fuzz_gateway_stream.c checks it against
 * a plain reading of the whole stream.
 */
int hive__gw_split(gw_framer_t *f, size_t max_frame, const unsigned char *p, size_t len,
                   gw_batch_t *batch, uint32_t *too_large);
void hive__gw_framer_free(gw_framer_t *f);

/* ---- frame.c: decoding a request ---- */

enum { GW_OP_HELLO, GW_OP_SEND, GW_OP_CALL, GW_OP_WHEREIS, GW_OP_STATS };

typedef struct gw_str {
  const char *p;
  size_t n;
} gw_str_t;

typedef struct gw_request {
  int op;
  bool has_id;
  uint64_t id;
  bool has_to;
  hive_pid_t to;    /* a pid, or 0 with to_name set */
  gw_str_t to_name; /* a registered name */
  uint32_t tag;
  const msgpack_object *data; /* NULL: absent */
  int64_t timeout_ms;         /* -1: absent */
  gw_str_t name;              /* whereis */
  gw_str_t token;             /* hello; p NULL: absent */
  gw_str_t client;            /* hello */
} gw_request_t;

/* What a decode found wrong: an error kind (HIVE_GW_*), or -1 for none,
 * and the detail for the error frame. */
typedef struct gw_problem {
  int kind;
  char detail[96];
} gw_problem_t;

/*
 * Decodes one frame body (len bytes, no prefix) into req, parsing into
 * *unpacked (which req then points into). Returns true for a request to
 * serve; false with *problem set (and req->id/has_id if the frame named
 * one). Never reads past len nor allocates beyond what len justifies.
 */
bool hive__gw_decode(const void *body, size_t len, msgpack_unpacked *unpacked, gw_request_t *req,
                     gw_problem_t *problem);

#endif /* HIVE_GATEWAY_PRIVATE_H */
