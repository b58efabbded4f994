/*
 * proxy.c - a process actor's node side: an actor on the blocking pool
 * that hands each of its callbacks to its child and waits for the child
 * to finish it.
 *
 * Because the proxy takes its next message only once the child is done
 * with the last, the messages waiting for the child wait in the proxy's
 * mailbox: statistics stay exact. What the child sends (SEND, REPLY) the
 * proxy sends as itself, from inside the callback, so `from` is the
 * actor's pid and replies go through hive_reply's bookkeeping.
 *
 * While the child runs a callback the proxy first looks for its answer
 * for PROXY_SPIN_NS, yielding the core (most callbacks end within that,
 * and a sleep and a wake would cost more than the whole round trip),
 * then polls its channel in short slices and looks at hive_checkpoint
 * between them: a kill, or an exit
 * signal the actor does not trap, sends SIGKILL to the child's process
 * group at once, as does a callback past limits.handler_ms. Every child
 * is reaped by its proxy, and the reason the actor ends with says what
 * the child died of.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "process.h"

#define PROXY_SPIN_NS 50000     /* how long a proxy looks for the child's answer before polling */
#define PROXY_SLICE_MS 2        /* how often a waiting proxy looks for a kill */
#define PROXY_TERMINATE_MS 1000 /* the longest terminate may take without handler_ms */
#define PROXY_MODULE_MAX 4096

/* What a wait for the child ended with, beside a callback's result. */
enum { PROXY_DONE, PROXY_DIED, PROXY_STOPPED, PROXY_TIMEOUT, PROXY_PROTOCOL };

typedef struct {
  hive_limits_t limits;
  uint64_t offset;
  char module[PROXY_MODULE_MAX];
  size_t arg_len;
  unsigned char arg[]; /* arg_len bytes */
} proxy_arg_t;

typedef struct {
  pid_t os_pid; /* 0 once reaped */
  int fd;       /* the node's end of the channel; -1: closed */
  hive_limits_t limits;
  hive_t *h;
  hive__actor_t *slot;      /* the proxy's own, for its os_pid statistic */
  uint64_t dying_vm;        /* the address space the child reported as it died, bytes */
  hive__proc_child_t child; /* on the spawner's list while the child lives */
} proxy_t;

/* Whether this proxy waits on its child (then it sees the child die) or
 * idles (then the spawner tells it: process.h). */
static void proxy_busy(proxy_t *p, bool busy) {
  atomic_store_explicit(&p->child.busy, busy, memory_order_release);
}

static uint64_t proxy_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* SIGKILL to the child's process group (what the child started dies with
 * it), then waits for the zygote to have reaped it; *status and *ru say
 * how it ended. (The zygote reaps a child the moment it dies: a kill
 * after that could only reach a process that took its pid, which pid
 * allocation makes practically impossible within that moment.) */
static void proxy_reap(proxy_t *p, int *status, struct rusage *ru) {
  *status = 0;
  memset(ru, 0, sizeof(*ru));
  if (p->os_pid <= 0)
    return;
  hive__proc_forget(p->h, &p->child);
  kill(-p->os_pid, SIGKILL);
  kill(p->os_pid, SIGKILL); /* if it left its group */
  uint64_t cpu_us = 0;
  hive__proc_wait_exit(p->h, p->os_pid, status, &cpu_us); /* the zygote reaps it */
  ru->ru_utime.tv_sec = (time_t)(cpu_us / 1000000u);
  ru->ru_utime.tv_usec = (suseconds_t)(cpu_us % 1000000u);
  p->os_pid = 0;
  if (p->slot != NULL)
    atomic_store_explicit(&p->slot->os_pid, 0, memory_order_relaxed);
  if (p->fd >= 0) {
    close(p->fd);
    p->fd = -1;
  }
}

/* The reason a child that died of itself gives its actor. */
static void proxy_reason_of(const proxy_t *p, int status, const struct rusage *ru,
                            hive_reason_t *reason) {
  uint64_t cpu_ms = (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000u +
                    (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1000u;
  bool near_mem_limit =
      p->limits.mem_bytes > 0 && p->dying_vm + p->limits.mem_bytes / 8 >= p->limits.mem_bytes;
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char *text = NULL;
    if (p->limits.cpu_ms > 0 &&
        (sig == SIGXCPU || (sig == SIGKILL && cpu_ms + 1000 >= p->limits.cpu_ms))) {
      sig = SIGXCPU;
      text = "cpu limit";
    } else if (near_mem_limit) {
      text = "memory limit";
    }
    *reason = (hive_reason_t){.kind = HIVE_REASON_CRASH, .code = sig, .text = text};
  } else {
    *reason = (hive_reason_t){
        .kind = HIVE_REASON_CRASH, .code = 0, .text = near_mem_limit ? "memory limit" : "exited"};
  }
}

/* Reads n bytes, polling in slices; PROXY_DONE when read. ctx NULL: no
 * looking for a kill (terminate, which runs once the actor is ending). */
static int proxy_read(hive_ctx_t *ctx, proxy_t *p, void *buf, size_t n, uint64_t deadline) {
  char *c = buf;
  hive__proc_spin_readable(p->fd, PROXY_SPIN_NS);
  while (n > 0) {
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    int ready = poll(&pfd, 1, PROXY_SLICE_MS);
    if (ready > 0) {
      ssize_t got = read(p->fd, c, n);
      if (got < 0 && (errno == EINTR || errno == EAGAIN))
        continue;
      if (got <= 0)
        return PROXY_DIED;
      c += got;
      n -= (size_t)got;
      continue;
    }
    if (ready < 0 && errno != EINTR)
      return PROXY_DIED;
    if (ctx != NULL && hive_checkpoint(ctx))
      return PROXY_STOPPED;
    if (deadline != 0 && proxy_now_ms() >= deadline)
      return PROXY_TIMEOUT;
  }
  return PROXY_DONE;
}

/*
 * Waits for the child to finish the callback it was handed, doing what it
 * asks meanwhile. current: the message being handled (NULL in init and
 * terminate). On PROXY_DONE, *rc is what the callback returned.
 */
static int proxy_wait(hive_ctx_t *ctx, proxy_t *p, const hive_msg_t *current, unsigned limit_ms,
                      bool watch_kill, int *rc) {
  uint64_t deadline = limit_ms > 0 ? proxy_now_ms() + limit_ms : 0;
  hive_ctx_t *watch = watch_kill ? ctx : NULL;
  for (;;) {
    proc_head_t head;
    int got = proxy_read(watch, p, &head, sizeof(head), deadline);
    if (got != PROXY_DONE)
      return got;
    if (!hive__proc_head_ok(&head, true))
      return PROXY_PROTOCOL;
    if (head.type == PROC_DONE) {
      *rc = head.code;
      return PROXY_DONE;
    }
    if (head.type == PROC_DYING) {
      p->dying_vm = head.a;
      continue; /* EOF follows */
    }
    void *data = head.len > 0 ? malloc(head.len) : NULL;
    if (head.len > 0 && data == NULL)
      return PROXY_PROTOCOL; /* cannot take it: end the actor rather than lose it */
    if ((got = proxy_read(watch, p, data, head.len, deadline)) != PROXY_DONE) {
      free(data);
      return got;
    }
    if (head.type == PROC_SEND) {
      if (head.tag < HIVE_TAG_USER) {
        free(data);
        return PROXY_PROTOCOL;
      }
      if (hive_send_move(hive_node(ctx), head.a, head.tag, data, head.len) != HIVE_OK)
        free(data); /* a dead letter, as any send to a dead actor */
    } else {        /* REPLY */
      if (current != NULL && current->ref == head.b && current->from == head.a)
        hive_reply(ctx, current, data, head.len);
      else
        hive_reply(ctx, &(hive_msg_t){.tag = HIVE_TAG_USER, .from = head.a, .ref = head.b}, data,
                   head.len); /* a reply deferred from an earlier callback */
      free(data);
    }
  }
}

/* Ends the actor for how its wait ended (not PROXY_DONE). */
static int proxy_fail(hive_ctx_t *ctx, proxy_t *p, int how) {
  int status;
  struct rusage ru;
  hive_reason_t reason;
  switch (how) {
  case PROXY_STOPPED: /* a kill or an exit signal: the actor layer has the reason */
    proxy_reap(p, &status, &ru);
    return HIVE_OK;
  case PROXY_TIMEOUT:
    proxy_reap(p, &status, &ru);
    reason = (hive_reason_t){.kind = HIVE_REASON_TIMEOUT, .text = "handler_ms"};
    break;
  case PROXY_PROTOCOL:
    proxy_reap(p, &status, &ru);
    reason = (hive_reason_t){.kind = HIVE_REASON_CRASH, .text = "protocol"};
    break;
  default:                                            /* PROXY_DIED */
    if (ctx->actor != NULL && hive_checkpoint(ctx)) { /* hive_kill sent the SIGKILL itself */
      proxy_reap(p, &status, &ru);
      return HIVE_OK;
    }
    proxy_reap(p, &status, &ru);
    proxy_reason_of(p, status, &ru, &reason);
    break;
  }
  if (ctx->actor != NULL)
    hive_exit_self(ctx, &reason);
  return reason.kind == HIVE_REASON_TIMEOUT ? HIVE_ETIMEDOUT : HIVE_ECRASHED;
}

static int proxy_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  proxy_t *p = state;
  const proxy_arg_t *pa = arg;
  p->fd = -1;
  if (len < sizeof(*pa) || len != sizeof(*pa) + pa->arg_len)
    return HIVE_EINVAL;
  p->limits = pa->limits;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    return HIVE_ESYS;
  int err;
  p->child.owner = hive_self(ctx);
  proxy_busy(p, true); /* until init is done */
  pid_t pid = hive__proc_spawn(hive_node(ctx), fds[1], &p->child, &err);
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return err;
  }
  p->os_pid = pid;
  p->fd = fds[0];
  p->h = hive_node(ctx);
  p->slot = ctx->actor;
  atomic_store_explicit(&ctx->actor->os_pid, pid, memory_order_relaxed);
  /* INIT: the limits, the behaviour's module, the argument. */
  size_t module_len = strlen(pa->module) + 1;
  size_t n = sizeof(pa->limits) + module_len + pa->arg_len;
  unsigned char *data = malloc(n);
  if (data == NULL) {
    int status;
    struct rusage ru;
    proxy_reap(p, &status, &ru);
    return HIVE_ENOMEM;
  }
  memcpy(data, &pa->limits, sizeof(pa->limits));
  memcpy(data + sizeof(pa->limits), pa->module, module_len);
  memcpy(data + sizeof(pa->limits) + module_len, pa->arg, pa->arg_len);
  bool sent = hive__proc_write(p->fd, PROC_INIT, (uint32_t)sizeof(pa->limits), 0, hive_self(ctx),
                               pa->offset, data, n);
  free(data);
  int rc = HIVE_OK;
  int how = sent ? proxy_wait(ctx, p, NULL, p->limits.handler_ms, true, &rc) : PROXY_DIED;
  if (how != PROXY_DONE || rc != HIVE_OK) {
    int status;
    struct rusage ru;
    proxy_reap(p, &status, &ru);
    if (how == PROXY_TIMEOUT)
      return HIVE_ETIMEDOUT;
    return how == PROXY_DONE ? rc : HIVE_ECRASHED;
  }
  proxy_busy(p, false);
  return HIVE_OK;
}

static int proxy_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  proxy_t *p = state;
  if (p->fd < 0)
    return HIVE_ECRASHED;
  proxy_busy(p, true);
  if (!hive__proc_write(p->fd, PROC_MSG, msg->tag, 0, msg->from, msg->ref, msg->data, msg->len))
    return proxy_fail(ctx, p, PROXY_DIED);
  int rc = HIVE_OK;
  int how = proxy_wait(ctx, p, msg, p->limits.handler_ms, true, &rc);
  if (how != PROXY_DONE)
    return proxy_fail(ctx, p, how);
  proxy_busy(p, false);
  return rc;
}

static void proxy_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  proxy_t *p = state;
  int status;
  struct rusage ru;
  proxy_busy(p, true); /* the actor is ending: the child's end is this proxy's to see */
  if (p->fd >= 0 && reason->kind != HIVE_REASON_KILL) {
    const char *text = reason->text != NULL ? reason->text : "";
    int rc;
    if (hive__proc_write(p->fd, PROC_TERM, (uint32_t)reason->kind, reason->code, 0, 0, text,
                         strlen(text)))
      proxy_wait(ctx, p, NULL, p->limits.handler_ms > 0 ? p->limits.handler_ms : PROXY_TERMINATE_MS,
                 false, &rc); /* the actor is ending already: no kill to look for */
  }
  proxy_reap(p, &status, &ru);
}

static const hive_behaviour_t proxy_behaviour = {.name = "process",
                                                 .state_size = sizeof(proxy_t),
                                                 .init = proxy_init,
                                                 .handle = proxy_handle,
                                                 .terminate = proxy_terminate};

/* hive_spawn with HIVE_SPAWN_PROCESS: a proxy on the blocking pool. */
static int process_spawn(hive_t *h, const hive_behaviour_t *b, const void *arg, size_t arg_len,
                         const hive_spawn_opts_t *opts, const struct hive__spawn_extra *extra,
                         hive_pid_t *out) {
  proxy_arg_t *pa = calloc(1, sizeof(*pa) + arg_len);
  if (pa == NULL)
    return HIVE_ENOMEM;
  if (!hive__proc_locate(b, pa->module, sizeof(pa->module), &pa->offset)) {
    free(pa);
    hive_log(h, HIVE_LOG_ERROR,
             "process actor: behaviour '%s' is not a static hive_behaviour_t of the program or a "
             "library it loads at start; the child could not find it",
             b->name != NULL ? b->name : "");
    return HIVE_EINVAL;
  }
  pa->limits = opts->limits;
  pa->arg_len = arg_len;
  if (arg_len > 0)
    memcpy(pa->arg, arg, arg_len);
  hive_spawn_opts_t proxy_opts = *opts;
  proxy_opts.flags = (opts->flags & ~HIVE_SPAWN_PROCESS) | HIVE_SPAWN_BLOCKING;
  proxy_opts.limits = (hive_limits_t){0};
  int rc = hive__spawn(h, &proxy_behaviour, pa, sizeof(*pa) + arg_len, &proxy_opts, extra, out);
  free(pa);
  return rc;
}

void hive__process_install(hive_t *h) {
  h->spawn_process = hive__process_host_linked ? process_spawn : NULL;
}
