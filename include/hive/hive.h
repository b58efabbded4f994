/*
 * hive.h - the public API of hive, an actor runtime for C in the style of
 * Erlang/OTP.
 *
 * A node (hive_t) runs actors on a pool of worker threads. An actor is a
 * behaviour (callbacks) plus a private state block; actors share nothing and
 * talk only by messages, which the runtime copies into the receiver's
 * lock-free mailbox. Callbacks of one actor never run at the same time.
 *
 * Conventions, as in libuv:
 *   - Every call that can fail returns an int: HIVE_OK (0) or a negative
 *     HIVE_E* code; hive_strerror() and hive_err_name() describe it.
 *   - Bad arguments return HIVE_EINVAL (or a more precise code) and change
 *     nothing. No call aborts the process on bad input.
 *   - Calls marked "actor only" take a hive_ctx_t and may be used only inside
 *     a callback, with the ctx that callback was given.
 */
#ifndef HIVE_HIVE_H
#define HIVE_HIVE_H

#include "hive/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Errors ------------------------------------------------------------ */

#define HIVE_OK 0
#define HIVE_STOP 1 /* from init/handle: exit with reason normal */

#define HIVE_EINVAL (-1)       /* an argument is invalid */
#define HIVE_ENOMEM (-2)       /* out of memory */
#define HIVE_ENOPROC (-3)      /* no such actor (never existed, or dead) */
#define HIVE_EFULL (-4)        /* bounded mailbox full; nothing was enqueued */
#define HIVE_ETIMEDOUT (-5)    /* a wait ran out of time */
#define HIVE_EEXIST (-6)       /* the name is already registered */
#define HIVE_ENOTFOUND (-7)    /* no such name */
#define HIVE_ENAMETOOLONG (-8) /* a name is longer than HIVE_NAME_MAX */
#define HIVE_EALREADY (-9)     /* the actor already has a registered name */
#define HIVE_ESHUTDOWN (-10)   /* the node is stopping */
#define HIVE_ELIMIT (-11)      /* too many actors (hive_config_t.max_actors) */
#define HIVE_EDEADLK (-12)     /* the call would wait on its own thread */
#define HIVE_ESYS (-13)        /* a system call failed (threads, memory maps) */
#define HIVE_EPAYLOAD (-14)    /* a payload is malformed or not of the expected types */
#define HIVE_ECRASHED (-15)    /* a callback crashed (a trapped fault) */
#define HIVE_ERUNNING (-16)    /* the child is running */
#define HIVE_EADDRINUSE (-17)  /* a socket's address or path is taken by a live socket or a file */
#define HIVE_ENOTSUP (-18) /* not available here: a process actor's callbacks (docs/process.md) */
#define HIVE_ENOCONN                                                                               \
  (-19)                    /* the actor's node is not connected, or its NATS servers cannot be     \
                              reached (docs/cluster.md) */
#define HIVE_ETOOBIG (-20) /* a message to another node is larger than NATS carries */

/* A static, human-readable description of err ("unknown error" if unknown). */
HIVE_API const char *hive_strerror(int err);
/* The code's name as a string, "HIVE_EFULL"; "HIVE_UNKNOWN" if unknown. */
HIVE_API const char *hive_err_name(int err);

/* ---- Pids ---------------------------------------------------------------- */

/*
 * A pid names one actor for ever: 8 bits of node, 24 bits of slot and 32 bits
 * of generation. When an actor dies its slot may be reused by a later actor,
 * with a new generation, so an old pid never reaches the new actor: a message
 * to it is counted as a dead letter and dropped. 0 is "no actor".
 */
typedef uint64_t hive_pid_t;

#define HIVE_PID_NODE(pid) ((unsigned)((pid) >> 56))
#define HIVE_PID_SLOT(pid) ((unsigned)(((pid) >> 32) & 0xffffffu))
#define HIVE_PID_GEN(pid) ((uint32_t)(pid))

/* Longest text hive_pid_format writes, with its terminating NUL. */
#define HIVE_PID_STRLEN 32
/* Writes pid Erlang-style, "<0.42.3>" (node.slot.generation); returns buf. */
HIVE_API char *hive_pid_format(hive_pid_t pid, char *buf, size_t size);
/* Reads "<0.42.3>" or "0.42.3" back; HIVE_EINVAL for anything else. */
HIVE_API int hive_pid_parse(const char *text, hive_pid_t *out);

/* ---- Messages ------------------------------------------------------------ */

/* Tags below HIVE_TAG_USER are reserved for system messages. */
#define HIVE_TAG_EXIT 1         /* exit signal, delivered to actors trapping exits */
#define HIVE_TAG_DOWN 2         /* a monitored actor ended */
#define HIVE_TAG_TIMEOUT 3      /* a request or receive timed out */
#define HIVE_TAG_LONG_HANDLER 4 /* watchdog report to the system monitor */
#define HIVE_TAG_REPLY 5        /* the reply to a request of yours (msg->ref) */
#define HIVE_TAG_NOPROC 6       /* a request's target ended before replying (msg->ref) */
#define HIVE_TAG_USER 64        /* first tag free for applications */

typedef struct hive_msg {
  uint32_t tag;     /* < HIVE_TAG_USER: system messages */
  hive_pid_t from;  /* 0 when sent from outside any actor */
  uint64_t ref;     /* request correlation, 0 if none */
  const void *data; /* payload; valid until the handler returns */
  size_t len;
} hive_msg_t;

/* ---- Exit reasons -------------------------------------------------------- */

#define HIVE_REASON_NORMAL 0       /* returned HIVE_STOP, or finished its work */
#define HIVE_REASON_SHUTDOWN 1     /* asked to stop (by a supervisor, hive_stop) */
#define HIVE_REASON_KILL 2         /* hive_kill: cannot be trapped */
#define HIVE_REASON_ERROR 3        /* a callback returned a negative code */
#define HIVE_REASON_CRASH 4        /* a trapped fault; code is the signal */
#define HIVE_REASON_TIMEOUT 5      /* gave up waiting */
#define HIVE_REASON_NOPROC 6       /* the actor did not exist */
#define HIVE_REASON_NOCONNECTION 7 /* its node went away */
#define HIVE_REASON_KINDS 8        /* how many kinds there are */

typedef struct hive_reason {
  int kind;         /* HIVE_REASON_* */
  int code;         /* the error code, or the signal number for a crash */
  const char *text; /* human-readable detail, may be NULL */
} hive_reason_t;

/* ---- Behaviours ---------------------------------------------------------- */

typedef struct hive hive_t;         /* one node; opaque */
typedef struct hive_ctx hive_ctx_t; /* handed to callbacks; valid during the call */

/*
 * What an actor does. The runtime allocates state_size zeroed bytes for each
 * actor and hands them to every callback; nobody else sees them.
 *
 * init (may be NULL) runs in the thread that calls hive_spawn, before
 * hive_spawn returns; messages sent to the new actor meanwhile wait in its
 * mailbox. It returns HIVE_OK to start, HIVE_STOP to end quietly (hive_spawn
 * returns HIVE_STOP and no actor is left), or a negative code (hive_spawn
 * returns that code). terminate is not called when init did not return
 * HIVE_OK, as in OTP: init cleans up after itself.
 *
 * handle (required) runs once per message. It returns HIVE_OK to go on,
 * HIVE_STOP to exit with reason normal, or a negative code to exit with
 * reason error and that code.
 *
 * terminate (may be NULL) runs exactly once after a successful init, when the
 * actor ends for any reason; by then its queued messages have become dead
 * letters. It must free what the state block points to.
 */
typedef struct hive_behaviour {
  const char *name;  /* shown in statistics; may be NULL */
  size_t state_size; /* zeroed block handed to every callback */
  int (*init)(hive_ctx_t *ctx, void *state, const void *arg, size_t arg_len);
  int (*handle)(hive_ctx_t *ctx, void *state, const hive_msg_t *msg);
  void (*terminate)(hive_ctx_t *ctx, void *state, const hive_reason_t *reason);
} hive_behaviour_t;

/* ---- Nodes --------------------------------------------------------------- */

#define HIVE_MAX_WORKERS 256
#define HIVE_MAX_BATCH 65536
#define HIVE_MAX_ACTORS (1u << 24)
#define HIVE_DEFAULT_BATCH 64
#define HIVE_DEFAULT_BLOCKING_WORKERS 4
#define HIVE_DEFAULT_MAX_ACTORS (1u << 20)

/* Log levels. */
#define HIVE_LOG_DEBUG 1
#define HIVE_LOG_INFO 2
#define HIVE_LOG_WARNING 3
#define HIVE_LOG_ERROR 4
#define HIVE_LOG_NONE 5

/* Receives each log line, whole and without a newline. May be called from
 * any of the node's threads at once. */
typedef void (*hive_log_fn)(void *user, int level, const char *line);

typedef struct hive_config {
  unsigned workers;          /* worker threads; 0: the number of online CPUs */
  unsigned blocking_workers; /* threads for HIVE_SPAWN_BLOCKING actors; 0: 4 */
  unsigned batch;            /* messages one actor may handle per turn; 0: 64 */
  unsigned max_actors;       /* live actors at once; 0: 1 048 576 */
  unsigned node_id;          /* this node's part of every pid, 0..255 */
  void *data;                /* for the user; hive never touches it */
  hive_log_fn log_fn;        /* NULL: lines go to stderr */
  void *log_user;            /* handed to log_fn */
  int log_level;             /* lines below it are dropped; 0: HIVE_LOG_INFO */
  /* Watchdog: a handler call running longer than this is reported (stats,
   * log, HIVE_TAG_LONG_HANDLER to the system monitor). hive_config_init
   * sets 1000; 0 turns the watchdog off. */
  unsigned handler_budget_ms;
  /* A Unix socket path for hivectl and other inspectors
   * (docs/admin-protocol.md), created with mode 0600 and removed by
   * hive_stop; NULL: none. A stale socket file is replaced; hive_start
   * fails with HIVE_EADDRINUSE if a node listens there or the path is not
   * a socket. */
  const char *admin_socket;
  /* The HTTP endpoint (docs/inspecting.md): /metrics for Prometheus, a
   * JSON API under /api, and the live inspector page at /, served on
   * libmicrohttpd's threads. "HOST:PORT", or "PORT" for 127.0.0.1; port 0:
   * a free one (hive_http_port); NULL: none. An address other than
   * loopback needs a token, sent as "Authorization: Bearer TOKEN"; on
   * loopback a token, when set, is needed only to kill. */
  const char *http_listen;
  const char *http_token; /* NULL: $HIVE_HTTP_TOKEN */
  /* The gateway, the socket door for other languages (hive/gateway.h,
   * docs/gateway.md): started when gateway_tcp or gateway_unix is set. */
  const char *gateway_tcp;       /* "HOST:PORT", or "PORT" for 127.0.0.1; port 0: a free
                                    one (hive_gateway_port); NULL: no TCP listener */
  const char *gateway_unix;      /* a Unix socket path, mode 0600, no token; NULL: none */
  const char *gateway_token;     /* NULL: $HIVE_GATEWAY_TOKEN; a TCP gateway needs one */
  size_t gateway_max_frame;      /* bytes a frame may hold; 0: 1 MiB */
  unsigned gateway_max_inflight; /* calls in flight per connection; 0: 1024 */
  unsigned gateway_max_conns;    /* connections at once; 0: 10 000 */
  unsigned gateway_hello_ms;     /* a connection silent this long after connecting,
                                    without a hello, is closed; 0: 10 000 */
  /* The cluster (hive/cluster.h, docs/cluster.md): joined when cluster_url
   * is set; node_id must then be 1..255 and unique among live nodes. */
  const char *cluster_url;  /* "nats://HOST:PORT", or a comma list of servers; NULL: none */
  const char *cluster_name; /* the prefix of every subject; NULL: "hive" */
  const char *node_name;    /* for people, [A-Za-z0-9_.-]{1,63}; NULL: "node<ID>" */
  unsigned heartbeat_ms;    /* 0: 250 */
  unsigned node_down_ms;    /* silent this long, a node is down; 0: 2000 */
  const char *cluster_user; /* NATS user and password; NULL: none */
  const char *cluster_password;
  const char *cluster_token;   /* a NATS token; NULL: none */
  const char *cluster_creds;   /* a NATS .creds file (JWT and NKey); NULL: none */
  const char *cluster_ca_file; /* CA certificates for tls:// servers; NULL: the system's */
} hive_config_t;

/* Fills cfg with the defaults: every field 0 ("choose for me"), except
 * handler_budget_ms = 1000. */
HIVE_API void hive_config_init(hive_config_t *cfg);

/*
 * Starts a node: its worker threads are running when this returns.
 * cfg NULL: defaults. Returns HIVE_EINVAL for out-of-range fields.
 */
HIVE_API int hive_start(hive_t **out, const hive_config_t *cfg);

/*
 * Stops a node: every live actor is sent an exit signal with reason shutdown
 * and its terminate callback runs; then the workers are joined and every byte
 * the node holds is freed. Messages still queued become dead letters. h is
 * invalid afterwards. Returns HIVE_EDEADLK if called from inside one of the
 * node's own callbacks. A handler that never returns keeps hive_stop waiting.
 */
HIVE_API int hive_stop(hive_t *h);

/* The user pointer given in hive_config_t.data. */
HIVE_API void *hive_data(hive_t *h);

/* ---- Spawning ------------------------------------------------------------ */

/* Mailbox kinds (hive_spawn_opts_t.mailbox). */
#define HIVE_MAILBOX_UNBOUNDED 0 /* default */
#define HIVE_MAILBOX_REJECT 1    /* full: hive_send returns HIVE_EFULL */
#define HIVE_MAILBOX_DROP_NEW 2  /* full: the new message is dropped, counted */
#define HIVE_MAILBOX_BLOCK                                                                         \
  3 /* full: a plain thread's send waits for room (block_ms);                                      \
       an actor's send gets HIVE_EFULL (workers never block) */

/* Spawn flags (hive_spawn_opts_t.flags). */
/* Runs the actor on the node's blocking pool (hive_config_t.blocking_workers
 * threads), so its handlers may sleep or block in system calls without
 * stalling the workers that run every other actor. */
#define HIVE_SPAWN_BLOCKING 0x1u
/* Links the new actor to the calling actor before init runs (spawn_link):
 * no failure can slip between the spawn and the link. Only from inside a
 * callback. If init fails, hive_spawn returns its error and no exit signal
 * is sent. */
#define HIVE_SPAWN_LINK 0x2u
/* Turns a fault in the actor's callbacks (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * abort) into the actor's crash instead of the process's; docs/failure.md
 * says what that can leave behind. Without it a fault ends the process, as
 * in plain C. */
#define HIVE_SPAWN_TRAP_FAULTS 0x4u
/* Runs the actor's callbacks in an OS process of its own (docs/process.md):
 * hive_kill stops it at once, even in a loop that never checks, and a crash
 * of any kind ends that actor only. Its behaviour must be a static
 * hive_behaviour_t (the child finds it at the same place in the same
 * program); inside, callbacks may call hive_send, hive_send_move,
 * hive_reply, hive_self, hive_node, hive_checkpoint and the payload
 * helpers; any other call returns HIVE_ENOTSUP. Not with
 * HIVE_SPAWN_BLOCKING or HIVE_SPAWN_TRAP_FAULTS. */
#define HIVE_SPAWN_PROCESS 0x8u

/* Limits of a process actor (HIVE_SPAWN_PROCESS); 0: none. */
typedef struct hive_limits {
  size_t mem_bytes;    /* address space (RLIMIT_AS): an allocation past it fails */
  unsigned cpu_ms;     /* CPU time, rounded up to whole seconds (RLIMIT_CPU) */
  unsigned handler_ms; /* wall-clock time of one callback: then killed, reason timeout */
  unsigned nofile;     /* open descriptors (RLIMIT_NOFILE) */
} hive_limits_t;

/* Longest registered name, without its terminating NUL. */
#define HIVE_NAME_MAX 63

typedef struct hive_spawn_opts {
  uint32_t flags;       /* HIVE_SPAWN_* bits; unknown bits are refused */
  int mailbox;          /* HIVE_MAILBOX_*; bounded kinds need capacity > 0 */
  size_t capacity;      /* bounded mailboxes: most user messages queued at once */
  unsigned block_ms;    /* HIVE_MAILBOX_BLOCK: longest a send waits (> 0); else 0 */
  const char *name;     /* registered before init runs; NULL: none */
  hive_limits_t limits; /* HIVE_SPAWN_PROCESS only; hive_spawn_opts_init zeroes them */
} hive_spawn_opts_t;

HIVE_API void hive_spawn_opts_init(hive_spawn_opts_t *opts);

/*
 * Starts an actor running behaviour b. arg (arg_len bytes) is handed to init
 * and need not outlive the call. On HIVE_OK *out (if out is not NULL) holds
 * the new pid. May be called from any thread, and from inside callbacks.
 */
HIVE_API int hive_spawn(hive_t *h, const hive_behaviour_t *b, const void *arg, size_t arg_len,
                        const hive_spawn_opts_t *opts, hive_pid_t *out);

/* ---- Sending ------------------------------------------------------------- */

/*
 * Sends tag (>= HIVE_TAG_USER) and a copy of len bytes at data to actor to.
 * From one sender to one receiver, messages arrive in the order sent; a
 * sender is an actor, or any thread outside the node. Returns HIVE_ENOPROC
 * (counted as a dead letter) if to is dead, HIVE_EFULL if its bounded
 * mailbox rejects. To a full HIVE_MAILBOX_BLOCK mailbox, a plain thread
 * waits for room up to the mailbox's block_ms, then HIVE_ETIMEDOUT; an
 * actor gets HIVE_EFULL at once. A message dropped by a drop-new mailbox returns HIVE_OK
 * and is counted in the receiver's dropped statistic. Inside an actor, the
 * messages a turn sends to an actor that turn woke are pushed together when
 * the turn ends, since the receiver waits for it anyway (docs/core.md,
 * "Scheduling"); order and delivery are as for any other send.
 */
HIVE_API int hive_send(hive_t *h, hive_pid_t to, uint32_t tag, const void *data, size_t len);

/*
 * As hive_send, but gives buf (from malloc) to the receiver instead of copying
 * it: on HIVE_OK the caller must not touch buf again and hive frees it. On an
 * error the caller still owns buf.
 */
HIVE_API int hive_send_move(hive_t *h, hive_pid_t to, uint32_t tag, void *buf, size_t len);

/* ---- Inside callbacks (actor only) --------------------------------------- */

HIVE_API hive_t *hive_node(hive_ctx_t *ctx);
HIVE_API hive_pid_t hive_self(hive_ctx_t *ctx);

/* ---- Names --------------------------------------------------------------- */

/*
 * Registers name (1..HIVE_NAME_MAX bytes) for the live actor pid. A name
 * names one live actor, an actor has at most one name, and the name is
 * released when the actor dies. Errors: HIVE_EEXIST (taken), HIVE_EALREADY
 * (pid already has a name), HIVE_ENOPROC, HIVE_ENAMETOOLONG, HIVE_EINVAL.
 */
HIVE_API int hive_register(hive_t *h, const char *name, hive_pid_t pid);
/* Removes name; HIVE_ENOTFOUND if it is not registered. */
HIVE_API int hive_unregister(hive_t *h, const char *name);
/* The pid registered under name, or 0. */
HIVE_API hive_pid_t hive_whereis(hive_t *h, const char *name);

/* ---- Exit signals -------------------------------------------------------- */

/*
 * Sends pid an exit signal with reason (copied). System messages overtake
 * the user messages queued before them and ignore mailbox bounds. Reason
 * normal is ignored by its target, as in Erlang; any other reason ends it.
 */
HIVE_API int hive_exit(hive_t *h, hive_pid_t pid, const hive_reason_t *reason);

/* Ends pid with reason kill; it cannot be trapped. An idle or queued actor
 * ends at once; a running handler ends when it returns, or when it calls
 * hive_checkpoint, which then returns true. */
HIVE_API int hive_kill(hive_t *h, hive_pid_t pid);

/* ---- Links, monitors, trapping exits (actor only) ------------------------ */

/*
 * Links the calling actor and other, both ways. When one ends with a reason
 * other than normal, the other gets an exit signal with that reason: it ends
 * too, unless it traps exits; then the signal arrives as a HIVE_TAG_EXIT
 * message (read it with hive_exit_info). Linking to a dead actor sends the
 * caller an exit signal with reason noproc at once. Linking twice, or to
 * oneself, does nothing.
 */
HIVE_API int hive_link(hive_ctx_t *ctx, hive_pid_t other);
/* Removes the link; no exit signal caused by it arrives after this returns. */
HIVE_API int hive_unlink(hive_ctx_t *ctx, hive_pid_t other);

/*
 * Watches other: when it ends, exactly one HIVE_TAG_DOWN message arrives,
 * with msg->ref == *ref (read pid and reason with hive_exit_info).
 * Monitoring a dead actor gives DOWN with reason noproc at once.
 */
HIVE_API int hive_monitor(hive_ctx_t *ctx, hive_pid_t other, uint64_t *ref);
/* Stops watching; no DOWN for ref arrives after this returns.
 * HIVE_ENOTFOUND if ref is not an active monitor of the caller. */
HIVE_API int hive_demonitor(hive_ctx_t *ctx, uint64_t ref);

/* Actor only: ends the calling actor with reason (copied) once the current
 * callback returns, whatever it returns. The first decision stands. */
HIVE_API int hive_exit_self(hive_ctx_t *ctx, const hive_reason_t *reason);

/* Exit signals (except kill) arrive as HIVE_TAG_EXIT messages while on.
 * One that cannot be made into a message (out of memory) ends the actor
 * with reason error HIVE_ENOMEM instead: it never goes unheard. */
HIVE_API int hive_trap_exit(hive_ctx_t *ctx, bool on);

/* Decodes a HIVE_TAG_EXIT or HIVE_TAG_DOWN message: the pid that ended (or
 * sent the signal) and the reason; reason->text points into msg and lives
 * as long as it. HIVE_EINVAL for other messages. */
HIVE_API int hive_exit_info(const hive_msg_t *msg, hive_pid_t *pid, hive_reason_t *reason);

/*
 * Actor only: for handlers that run long loops. Applies the exit signals
 * waiting for the actor; true means it must stop: return from the handler
 * soon (no further message of it will run). Cheap when nothing waits.
 */
HIVE_API bool hive_checkpoint(hive_ctx_t *ctx);

/*
 * Actor only, as Erlang's erlang:yield/0: once the current callback
 * returns, the actor's turn ends and every actor waiting to run on its
 * worker runs before the actor's next message is handled. A turn otherwise
 * handles up to `batch` messages in a row, those the actor sends itself
 * included, so a message to self is not by itself a way to let others run:
 * send it and yield (supervisors do so before retrying a failed restart).
 */
HIVE_API int hive_yield(hive_ctx_t *ctx);

/* ---- Logging and reporting ------------------------------------------------ */

/* Logs a line through the node's logger (printf-style). */
HIVE_API void hive_log(hive_t *h, int level, const char *fmt, ...);

/* Changes, at any time and from any thread, the level below which lines
 * are dropped (HIVE_LOG_*). HIVE_EINVAL for an unknown level. */
HIVE_API int hive_log_level_set(hive_t *h, int level);

/* The actor whose callback runs on the calling thread, 0 on any other
 * thread: for a log_fn that says which actor logged a line. */
HIVE_API hive_pid_t hive_current_actor(void);

/* Writes reason as text, "error -5 (no memory)", "crash SIGSEGV", like
 * snprintf: returns the length it needed. */
HIVE_API int hive_reason_format(const hive_reason_t *reason, char *buf, size_t size);

/*
 * Makes pid the node's system monitor (0: none): it receives a
 * HIVE_TAG_LONG_HANDLER message for each handler call the watchdog catches,
 * with a msgpack payload "uus": the pid, the time it had run (µs) and its
 * behaviour's name.
 */
HIVE_API int hive_system_monitor(hive_t *h, hive_pid_t pid);

/*
 * Plain threads: waits until pid has ended (its terminate callback has
 * returned), for at most timeout_ms milliseconds (negative: no limit).
 * When it returns HIVE_OK, the end is already counted in hive_node_stats.
 * Returns HIVE_OK at once if pid is already gone, HIVE_ETIMEDOUT, or
 * HIVE_EDEADLK if called from inside a callback of the node. Inside
 * actors, monitor instead.
 */
HIVE_API int hive_join(hive_t *h, hive_pid_t pid, int timeout_ms);

/* ---- Requests and replies ------------------------------------------------ */

/*
 * Plain threads: sends tag and a copy of data to `to` as a request and waits
 * for the reply, at most timeout_ms milliseconds (negative: no limit). On
 * HIVE_OK *reply holds a malloc'd copy of the reply (free it) and *reply_len
 * its length. HIVE_ENOPROC at once if `to` is dead or ends before replying,
 * HIVE_ETIMEDOUT when the time runs out (a reply after that is dropped and
 * counted as late, never given to another ask), HIVE_EFULL if a bounded
 * mailbox refused the request, HIVE_ENOMEM at once if the request or its
 * reply could not be made for lack of memory (the target's side included),
 * HIVE_EDEADLK inside a callback on a worker
 * (use hive_request there: it never blocks a worker). Actors spawned with
 * HIVE_SPAWN_BLOCKING may ask, but not themselves.
 */
HIVE_API int hive_ask(hive_t *h, hive_pid_t to, uint32_t tag, const void *data, size_t len,
                      int timeout_ms, void **reply, size_t *reply_len);

/*
 * Actor only: sends a request and returns at once with its ref in *ref.
 * Exactly one answer arrives later as a message carrying that ref:
 * HIVE_TAG_REPLY with the reply as payload, HIVE_TAG_NOPROC if the target
 * ended without replying (its payload, when it has one, is an int saying
 * why: HIVE_ENOMEM if the target could not record the request), or
 * HIVE_TAG_TIMEOUT after timeout_ms (negative: never). Whatever comes after the answer (a late
 * reply) is dropped and counted as a dead letter.
 */
HIVE_API int hive_request(hive_ctx_t *ctx, hive_pid_t to, uint32_t tag, const void *data,
                          size_t len, int timeout_ms, uint64_t *ref);

/*
 * Actor only: answers request (a message with a ref, from hive_ask or
 * hive_request) with a copy of data. Reply while handling it, or later with
 * a saved copy of its hive_msg_t (the actor then owes the reply; if it ends
 * first, the requester gets noproc). HIVE_EINVAL if request is not a
 * request, HIVE_EALREADY if it was answered already.
 */
HIVE_API int hive_reply(hive_ctx_t *ctx, const hive_msg_t *request, const void *data, size_t len);

/*
 * Actor only: if no message arrives within timeout_ms, the actor gets a
 * HIVE_TAG_TIMEOUT message with ref 0 (gen_server's timeout). Any message
 * disarms it; call again to re-arm. Negative: disarm.
 */
HIVE_API int hive_receive_timeout(hive_ctx_t *ctx, int timeout_ms);

/* ---- Timers -------------------------------------------------------------- */

/* A timer's handle; 0 is never a timer. */
typedef uint64_t hive_timer_t;

/*
 * Sends tag (>= HIVE_TAG_USER) and a copy of data to actor `to` once
 * delay_ms milliseconds have passed, never earlier; from is 0. One thread
 * per node serves every timer, so thousands cost no thread each. A timer is
 * cancelled when its target ends. HIVE_ENOPROC if `to` is not alive.
 */
HIVE_API int hive_send_after(hive_t *h, hive_pid_t to, uint32_t tag, const void *data, size_t len,
                             unsigned delay_ms, hive_timer_t *timer);
/* As hive_send_after, every interval_ms (> 0) until cancelled; ticks stay on
 * their original grid, and a tick missed entirely is skipped. */
HIVE_API int hive_send_interval(hive_t *h, hive_pid_t to, uint32_t tag, const void *data,
                                size_t len, unsigned interval_ms, hive_timer_t *timer);
/*
 * Stops a timer. HIVE_OK if it was pending: its message will not be sent
 * (for a periodic timer, no further tick), and none is on its way: what
 * the caller sends the target next arrives after every message the timer
 * sent. HIVE_ENOTFOUND if a one-shot timer has already fired, was
 * cancelled, or ended with its target.
 */
HIVE_API int hive_timer_cancel(hive_t *h, hive_timer_t timer);

/* ---- Statistics ---------------------------------------------------------- */

#define HIVE_ACTOR_IDLE 0    /* nothing to do */
#define HIVE_ACTOR_QUEUED 1  /* has messages, waits in a run queue */
#define HIVE_ACTOR_RUNNING 2 /* a callback is running */
#define HIVE_ACTOR_EXITING 3 /* ending: terminate is running or about to */

/*
 * One actor's counters, read without stopping it (so a snapshot taken while
 * it runs may be a message apart). Each counter is kept where its event
 * happens, except enqueued, which is derived: the sum of the others, which
 * by the accounting rule is every user message the mailbox accepted or
 * dropped:
 *   enqueued = processed + dropped + dead_letters + mailbox_len.
 * It holds by construction; the node-wide identity (hive_node_stats), whose
 * `sent` is counted by the senders, is the one that can fail.
 * mailbox_len leaves out the message being handled, as Erlang's
 * message_queue_len does.
 *
 * Times are sampled, because reading the clock around every call would
 * cost fast actors a third of their speed: one handler call in 64 on each
 * worker, at random, is timed and counts for 64, so handler_ns is exact on
 * average over many calls. An actor whose timed call took 50 us or more
 * has every call timed until one is faster again, so slow handlers are
 * measured exactly once one of their calls was sampled. max_wait_ns is the
 * longest wait, from the send to the start of the handler call, among the
 * messages that carry their send time: one in 64 (random) of those sent
 * from plain threads, and the first one each timed call sends.
 */
typedef struct hive_actor_stats {
  hive_pid_t pid;
  char name[HIVE_NAME_MAX + 1]; /* registered name, "" if none */
  const char *behaviour;        /* the behaviour's name, "" if none */
  int state;                    /* HIVE_ACTOR_* */
  uint64_t mailbox_len;         /* user messages queued now */
  uint64_t mailbox_hwm;         /* most user messages ever queued at once */
  uint64_t capacity;            /* bound of the mailbox; 0: unbounded */
  uint64_t enqueued;            /* user messages accepted (dropped included) */
  uint64_t processed;           /* handed to handle (the one in progress too) */
  uint64_t dropped;             /* dropped by a drop-new mailbox */
  uint64_t dead_letters;        /* discarded because the actor was exiting */
  uint64_t handler_ns;          /* time spent in handle, estimated (above) */
  uint64_t handler_max_ns;      /* longest handle call timed */
  uint64_t max_wait_ns;         /* longest a sampled message waited */
  uint64_t long_handlers;       /* handler calls the watchdog caught */
  uint64_t restarts;            /* times its supervisor restarted this child */
  uint64_t links;               /* actors linked to it */
  uint64_t monitors;            /* monitors watching it */
  hive_pid_t parent;            /* the actor that spawned it (its supervisor), 0 if none */
  bool supervisor;              /* it runs hive_sup_behaviour() */
  /* A process actor's child (HIVE_SPAWN_PROCESS); all 0 for other actors
   * and while no child runs. */
  int os_pid;         /* its OS process id */
  uint64_t rss_bytes; /* its resident memory now */
  uint64_t cpu_ns;    /* the CPU time it has used, user and system */
} hive_actor_stats_t;

/* Fills out for the actor pid (live or still ending); HIVE_ENOPROC if
 * there is none. */
HIVE_API int hive_actor_stats(hive_t *h, hive_pid_t pid, hive_actor_stats_t *out);

/*
 * Lists the actors of the node: writes up to max pids (oldest slot first)
 * and sets *count to how many there are, which may be more than max: call
 * again with a larger array. A snapshot: actors may start and end while it
 * is taken. Any thread.
 */
HIVE_API int hive_actor_list(hive_t *h, hive_pid_t *pids, size_t max, size_t *count);

/*
 * A node's counters. The accounting of user messages holds node-wide, and
 * here it is a real check, not a sum: each side is counted apart, `sent`
 * by the threads that send and `processed` by the turns that handle, so a
 * message lost between them would show. Once the node is quiet (no sends
 * and no turns in progress: a worker adds the sends of a turn when the turn
 * ends, a moment after its messages may have been handled):
 *   sent = processed + dropped + dead_letters + queued.
 * `sent` counts every user message sent to a pid of this node, whether an
 * actor took it or not (replies, timer messages and messages from other
 * nodes included); a send refused with HIVE_EFULL or HIVE_ETIMEDOUT was not
 * sent. Messages to other nodes' actors are counted per peer instead
 * (hive_nodes). `queued` is read from every live actor's mailbox, so it
 * costs a walk of the actors.
 */
typedef struct hive_node_stats {
  unsigned workers;
  unsigned blocking_workers;
  uint64_t actors_alive;             /* spawned and not yet ended */
  uint64_t actors_spawned;           /* since start */
  uint64_t actors_exited;            /* since start */
  uint64_t exits[HIVE_REASON_KINDS]; /* actors_exited by HIVE_REASON_* */
  uint64_t messages;                 /* handled by all workers, signals included */
  uint64_t sent;                     /* user messages sent to this node's pids */
  uint64_t processed;                /* user messages handed to a handler (not signals) */
  uint64_t queued;                   /* user messages in live actors' mailboxes now */
  uint64_t dead_letters;             /* every message that reached no handler */
  uint64_t dropped;                  /* every message a drop-new mailbox dropped */
  uint64_t late_replies;             /* replies that came after their request was answered */
  uint64_t restarts;                 /* children restarted by supervisors */
} hive_node_stats_t;

HIVE_API int hive_node_stats(hive_t *h, hive_node_stats_t *out);

/*
 * One thread's counters. Workers are numbered 0 .. workers - 1, and the
 * blocking pool's threads follow them (hive_node_stats gives both counts).
 * busy_ns is the time the thread was awake: running turns, or looking for
 * work before it parks (a worker spins about 50 us first).
 */
typedef struct hive_worker_stats {
  unsigned index;
  bool blocking;         /* one of the blocking pool's threads */
  uint64_t turns;        /* actor turns run */
  uint64_t messages;     /* messages handled, signals included */
  uint64_t steals_tried; /* run queues of other workers it tried */
  uint64_t steals_won;   /* actors it took from them */
  uint64_t parks;        /* times it went to sleep */
  uint64_t busy_ns;
} hive_worker_stats_t;

/* HIVE_EINVAL for an index past the last thread. */
HIVE_API int hive_worker_stats(hive_t *h, unsigned index, hive_worker_stats_t *out);

/*
 * The node's statistics in the Prometheus text exposition format (0.0.4):
 * node totals, exits by reason, each worker, and each actor's mailbox
 * length, high-water mark, processed, dropped and handler time, labelled
 * with pid, name and behaviour. *text is malloc'd (free it) and holds *len
 * bytes plus a NUL. Serve it from your own HTTP endpoint, or read it with
 * `hivectl metrics` (docs/inspecting.md).
 */
HIVE_API int hive_metrics(hive_t *h, char **text, size_t *len);

/* The TCP port the HTTP endpoint listens on (the one chosen for port 0),
 * or HIVE_ENOTFOUND when the node serves no HTTP (http_listen unset). */
HIVE_API int hive_http_port(hive_t *h);

#ifdef __cplusplus
}
#endif

#include "hive/cluster.h"
#include "hive/gateway.h"
#include "hive/payload.h"
#include "hive/sup.h"

#endif /* HIVE_HIVE_H */
