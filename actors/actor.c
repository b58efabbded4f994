/*
 * actor.c - spawning, sending, running turns and ending actors.
 *
 * An actor's callbacks run only while its mailbox token is held (mailbox.h):
 * init inside hive_spawn, handle and terminate inside a worker's turn. So no
 * two callbacks of one actor ever overlap, and the fields marked "token" in
 * runtime.h need no lock.
 *
 * The end of an actor, in order: it stops accepting messages (alive_pid 0,
 * so senders get HIVE_ENOPROC), its name is released and its timers
 * cancelled, the messages it can see become dead letters (requests among
 * them are answered noproc), terminate runs, replies it still owes are
 * answered noproc, its links and monitors are told, a crash report is
 * logged for an abnormal reason, its state is freed, and the slot retires
 * once its mailbox is empty.
 *
 * Callbacks of an actor spawned with HIVE_SPAWN_TRAP_FAULTS run through
 * hive__faults_call, so a fault inside them ends the actor, not the process.
 */
#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actor.h"
#include "mailbox/tsan.h"

hive_t *hive_node(hive_ctx_t *ctx) {
  return ctx != NULL ? ctx->node : NULL;
}

hive_pid_t hive_self(hive_ctx_t *ctx) {
  return ctx != NULL ? hive__life(ctx->actor)->self : 0;
}

void hive_spawn_opts_init(hive_spawn_opts_t *opts) {
  if (opts != NULL)
    *opts = (hive_spawn_opts_t){.mailbox = HIVE_MAILBOX_UNBOUNDED};
}

static int actor_check_opts(const hive_spawn_opts_t *opts) {
  if ((opts->flags &
       ~(HIVE_SPAWN_BLOCKING | HIVE_SPAWN_LINK | HIVE_SPAWN_TRAP_FAULTS | HIVE_SPAWN_PROCESS)) != 0)
    return HIVE_EINVAL;
  if ((opts->flags & HIVE_SPAWN_PROCESS) &&
      (opts->flags & (HIVE_SPAWN_BLOCKING | HIVE_SPAWN_TRAP_FAULTS)))
    return HIVE_EINVAL; /* a process actor is both already */
  const hive_limits_t none = {0};
  if (!(opts->flags & HIVE_SPAWN_PROCESS) && memcmp(&opts->limits, &none, sizeof(none)) != 0)
    return HIVE_EINVAL; /* limits are for process actors */
  switch (opts->mailbox) {
  case HIVE_MAILBOX_UNBOUNDED:
    if (opts->capacity != 0)
      return HIVE_EINVAL;
    break;
  case HIVE_MAILBOX_REJECT:
  case HIVE_MAILBOX_DROP_NEW:
  case HIVE_MAILBOX_BLOCK:
    if (opts->capacity == 0 || opts->capacity > (size_t)INT64_MAX)
      return HIVE_EINVAL;
    break;
  default:
    return HIVE_EINVAL;
  }
  if ((opts->mailbox == HIVE_MAILBOX_BLOCK) != (opts->block_ms > 0))
    return HIVE_EINVAL; /* a blocking mailbox needs its timeout; others none */
  if (opts->name != NULL) {
    size_t n = strnlen(opts->name, HIVE_NAME_MAX + 1);
    if (n == 0)
      return HIVE_EINVAL;
    if (n > HIVE_NAME_MAX)
      return HIVE_ENAMETOOLONG;
  }
  return HIVE_OK;
}

/* Records why the actor ends; the first decision wins. Token holder. */
bool hive__actor_decide_exit(hive__actor_t *a, int kind, int code, const char *text) {
  hive__life_t *life = hive__life(a);
  if (life->exiting)
    return false;
  life->exiting = true;
  life->exit_reason = (hive_reason_t){.kind = kind, .code = code};
  if (text != NULL) {
    life->exit_text = strdup(text); /* NULL on no memory: the reason loses its text */
    life->exit_reason.text = life->exit_text;
  }
  return true;
}

/* ---- calling callbacks ------------------------------------------------------ */

enum { CALL_INIT, CALL_HANDLE, CALL_TERMINATE };

typedef struct {
  int which;
  hive__actor_t *a;
  hive_ctx_t *ctx;
  const void *arg; /* init */
  size_t arg_len;
  const hive_msg_t *msg; /* handle */
} actor_call_t;

static int actor_call_run(void *p) {
  actor_call_t *c = p;
  hive__life_t *life = hive__life(c->a);
  const hive_behaviour_t *b = life->behaviour;
  switch (c->which) {
  case CALL_INIT:
    return b->init(c->ctx, life->state_block, c->arg, c->arg_len);
  case CALL_HANDLE:
    return b->handle(c->ctx, life->state_block, c->msg);
  default:
    b->terminate(c->ctx, life->state_block, &life->exit_reason);
    return HIVE_OK;
  }
}

/* Runs a callback; with fault trapping, a fault returns HIVE__CRASHED. */
static int actor_call(actor_call_t *c, int *signal) {
  if (!hive__life(c->a)->trap_faults)
    return actor_call_run(c);
  return hive__faults_call(actor_call_run, c, signal);
}

static void actor_decide_from_result(hive__actor_t *a, int rc, int signal) {
  hive__life_t *life = hive__life(a);
  if (rc == HIVE_STOP)
    hive__actor_decide_exit(a, HIVE_REASON_NORMAL, 0, NULL);
  else if (rc == HIVE__CRASHED) /* it failed by itself only if that decided its end */
    life->failed_itself =
        hive__actor_decide_exit(a, HIVE_REASON_CRASH, signal, "fault trapped in a callback");
  else if (rc != HIVE_OK)
    life->failed_itself = hive__actor_decide_exit(a, HIVE_REASON_ERROR, rc, hive_strerror(rc));
}

/* An Erlang-style crash report, for an actor that failed by itself (an
 * error result or a fault). One ended by a signal ran no code to fail in:
 * whoever sent the signal reports, as in OTP. */
static void actor_report(hive_t *h, hive__actor_t *a) {
  hive__life_t *life = hive__life(a);
  if (!life->failed_itself || h->log_level > HIVE_LOG_ERROR)
    return;
  char pid[HIVE_PID_STRLEN], reason[192];
  hive_pid_format(life->self, pid, sizeof(pid));
  hive_reason_format(&life->exit_reason, reason, sizeof(reason));
  const char *name = life->behaviour->name != NULL ? life->behaviour->name : "";
  hive_log(h, HIVE_LOG_ERROR,
           "crash report: actor %s (behaviour %s) ended: %s; last message tag %u", pid, name,
           reason, life->last_tag);
}

/*
 * Ends the incarnation. Adds the messages it drains to *user_done and
 * *sys_done so the caller finishes them on the mailbox. Token holder.
 */
static void actor_end(hive_t *h, hive__actor_t *a, bool run_terminate, int64_t *user_done,
                      int64_t *sys_done) {
  hive__life_t *life = hive__life(a);
  atomic_store_explicit(&a->state, HIVE_ACTOR_EXITING, memory_order_relaxed);
  atomic_store(&a->alive_pid, 0); /* seq_cst: pairs with hive_register */
  hive__registry_release(h, a);
  hive__timers_cancel_slot(h, a);

  hive__msg_t *msg;
  while ((msg = hive__mailbox_take_owner(&a->mb, life->self)) != NULL) {
    if (msg->flags & HIVE__MSG_SYSTEM) {
      ++*sys_done;
      if (msg->to == life->self)
        hive__signal_bookkeep_owner(a, msg); /* links and monitors made late still count */
      else
        hive__signal_answer_dead(h, msg->to, msg);
    } else {
      ++*user_done;
      hive__count_dead_letter(h, msg->to == life->self ? a : NULL);
      hive__request_fail_queued(h, msg->to, msg);
    }
    hive__msg_free(msg);
  }

  if (run_terminate && life->behaviour->terminate != NULL) {
    hive__actor_t *outer = hive__tls.actor;
    hive__tls.actor = a;
    struct hive_ctx ctx = {.node = h, .actor = a};
    actor_call_t call = {.which = CALL_TERMINATE, .a = a, .ctx = &ctx};
    int signal = 0;
    if (actor_call(&call, &signal) == HIVE__CRASHED)
      hive_log(h, HIVE_LOG_ERROR, "terminate of actor <%u.%u.%u> crashed with signal %d",
               HIVE_PID_NODE(life->self), HIVE_PID_SLOT(life->self), HIVE_PID_GEN(life->self),
               signal);
    hive__tls.actor = outer;
  }
  hive__request_end_owner(h, a); /* after terminate, which may still reply */
  hive__links_end_owner(h, a);   /* links and monitors learn the reason */
  if (run_terminate)
    actor_report(h, a);

  free(life->state_block);
  free(life->exit_text);
  life->state_block = NULL;
  life->exit_text = NULL;
  life->behaviour = NULL;
  atomic_store_explicit(&a->behaviour_name, NULL, memory_order_relaxed);
  hive_pid_t ended = life->self;
  bool last = hive__node_count_exit(h, life->exit_reason.kind);
  /* Its part of the node's processed, kept once the walk no longer sees
   * it (hive_node_stats); stray turns after this only dead-letter. */
  atomic_fetch_add_explicit(&h->processed_ended,
                            atomic_load_explicit(&a->processed, memory_order_relaxed),
                            memory_order_relaxed);
  atomic_store(&a->pid, 0); /* seq_cst: see hive__node_actor_exited */
  life->self = 0;
  life->exiting = false; /* stray turns of the empty slot must still drain */
  life->retiring = true;
  hive__node_actor_exited(h, a, ended, last);
}

/*
 * Gives the token back after user + sys messages were finished. Reschedules
 * the actor if more are pending; frees the slot of an ended actor once its
 * mailbox is empty. The caller must not touch a afterwards.
 */
static void actor_release(hive_t *h, hive__actor_t *a, int64_t user, int64_t sys) {
  hive__life_t *life = hive__life(a);
  bool retire = life->retiring, yielded = life->yielding;
  life->retiring = false; /* before the token goes: a stray turn may follow */
  life->yielding = false;
  if (life->self != 0)
    atomic_store_explicit(&a->state, HIVE_ACTOR_IDLE, memory_order_relaxed);
  if (!hive__mailbox_finish_owner(&a->mb, user, sys)) {
    if (retire)
      hive__pidtab_release(h, a);
    return;
  }
  life->retiring = retire; /* still ours: the token stayed */
  if (yielded)
    hive__sched_yield(h, a);
  else
    hive__sched_requeue(h, a);
}

/* Answers and timeouts reach the handler only while the request or timer
 * they belong to is still open. */
static bool actor_accept_runtime_message(hive_t *h, hive__actor_t *a, hive__msg_t *msg) {
  if (msg->flags & (HIVE__MSG_ANSWER | HIVE__MSG_RECV_TIMEOUT))
    return hive__request_accept_owner(h, a, msg);
  return true;
}

#if HIVE_STATS
/* Records a timed handler call that counts for `weight` calls (runtime.h,
 * "Statistics"). Token holder. */
static void actor_note_handler_time(hive__actor_t *a, uint64_t ns, unsigned weight) {
  hive__life_t *life = hive__life(a);
  hive__stats_add(&life->handler_ns, ns * weight);
  hive__stats_raise(&life->handler_max_ns, ns);
  life->time_every_call = ns >= HIVE__STATS_SLOW_NS;
}

/* Records how long a stamped message waited. */
static void actor_note_wait(hive__actor_t *a, const hive__msg_t *msg) {
  uint32_t now_us = (uint32_t)(hive__now_ns() / 1000u);
  uint32_t waited_us = now_us - msg->stamp_us; /* modulo 2^32: waits under 71 minutes */
  hive__stats_raise(&hive__life(a)->wait_max_ns, (uint64_t)waited_us * 1000u);
}
#endif

/* A system message the token holder took: applied if it is for the
 * current incarnation self (never for a slot without one: self 0), else
 * answered for the dead one. Returns what the handler must see now, if
 * anything: a trapped exit or a DOWN (the caller frees it). */
static inline hive__msg_t *actor_take_signal(hive_t *h, hive__actor_t *a, hive_pid_t self,
                                             hive__msg_t *msg) {
  if (msg->to == self)
    return hive__signal_apply_owner(a, msg);
  hive__signal_answer_dead(h, msg->to, msg);
  return NULL;
}

/* Calls the behaviour's handle; with fault trapping, a fault returns
 * HIVE__CRASHED and its signal. */
static int actor_invoke_trapped(hive__actor_t *a, hive_ctx_t *ctx, hive__msg_t *msg, int *signal) {
  actor_call_t call = {.which = CALL_HANDLE, .a = a, .ctx = ctx, .msg = &msg->pub};
  return hive__faults_call(actor_call_run, &call, signal);
}

static inline int actor_invoke(hive__actor_t *a, hive_ctx_t *ctx, hive__msg_t *msg, int *signal) {
  hive__life_t *life = hive__life(a);
  if (!life->trap_faults)
    return life->behaviour->handle(ctx, life->state_block, &msg->pub);
  return actor_invoke_trapped(a, ctx, msg, signal);
}

#if HIVE_STATS
/* actor_invoke, timed: out of line, so that the untimed path stays small. */
static int actor_invoke_timed(hive__actor_t *a, hive_ctx_t *ctx, hive__msg_t *msg, int *signal,
                              unsigned weight) {
  hive__tls.stamp = HIVE__STAMP_NEXT; /* and the first message it sends */
  uint64_t started = hive__now_ns();
  int rc = actor_invoke(a, ctx, msg, signal);
  actor_note_handler_time(a, hive__now_ns() - started, weight);
  hive__tls.stamp = HIVE__STAMP_NEVER;
  return rc;
}
#endif

/* Hands one user message to the handler. Token holder, on worker w; seq is
 * the worker's even call_seq, marked odd for the watchdog during the call. */
static inline void actor_handle(hive__worker_t *w, uint64_t seq, hive__actor_t *a, hive_ctx_t *ctx,
                                hive__msg_t *msg) {
  hive__life_t *life = hive__life(a);
  int rc, signal = 0;
#if HIVE_STATS
  if (msg->flags & HIVE__MSG_STAMPED)
    actor_note_wait(a, msg);
#endif
  if (life->requests != NULL)
    hive__request_note_message_owner(ctx->node, a); /* any message disarms */
  life->current = msg;
  atomic_store_explicit(&w->call_seq, seq + 1, memory_order_release);
#if HIVE_STATS
  /* Timed calls (runtime.h, "Statistics"): how many calls this one counts for. */
  if (life->time_every_call)
    rc = actor_invoke_timed(a, ctx, msg, &signal, 1);
  else if (hive__stats_sample(&w->calls_to_sample))
    rc = actor_invoke_timed(a, ctx, msg, &signal, HIVE__STATS_SAMPLE);
  else
#endif
    rc = actor_invoke(a, ctx, msg, &signal);
  atomic_store_explicit(&w->call_seq, seq + 2, memory_order_release);
  if (msg->pub.ref != 0) {
    hive__request_handled_owner(ctx->node, a, msg);
    life->current_replied = false;
  }
  life->current = NULL;
  if (rc != HIVE_OK) {
    life->last_tag = msg->pub.tag; /* for the crash report */
    actor_decide_from_result(a, rc, signal);
  }
}

void hive__actor_turn(hive__worker_t *w, hive__actor_t *a) {
  hive__life_t *life = hive__life(a);
  hive__assert_turn_begins(a);
  hive_t *h = w->node;
  int64_t user_done = 0, sys_done = 0;
  const hive_pid_t self = life->self; /* 0: a slot without incarnation */
  if (self != 0)
    atomic_store_explicit(&a->state, HIVE_ACTOR_RUNNING, memory_order_relaxed);
  hive__tls.actor = a;
  struct hive_ctx ctx = {.node = h, .actor = a};
  /* For the watchdog: who runs on this worker, and the call count. */
  atomic_store_explicit(&w->call_pid, self, memory_order_relaxed);
  uint64_t seq = atomic_load_explicit(&w->call_seq, memory_order_relaxed);

  while (user_done + sys_done < h->batch && life->turn_ends == 0) {
    hive__msg_t *msg = hive__mailbox_take_owner(&a->mb, self);
    if (msg == NULL)
      break;
    hive__msg_t *handled = NULL, *trapped = NULL; /* one call site: inlined */
    if (msg->flags & HIVE__MSG_SYSTEM) {
      sys_done++;
      trapped = actor_take_signal(h, a, self, msg);
      handled = trapped; /* a trapped exit or a DOWN, handled now: signal order */
    } else {
      user_done++;
      if (msg->to != self) {
        hive__count_dead_letter(h, NULL); /* sent to an earlier incarnation */
        hive__request_fail_queued(h, msg->to, msg);
      } else if ((msg->flags & HIVE__MSG_UNBOUNDED) && !actor_accept_runtime_message(h, a, msg)) {
        hive__count_dead_letter(h, a); /* a late reply, a stale timeout, a removed monitor */
      } else {
        handled = msg;
#if HIVE_STATS
        /* Counted when handed over, so the message in progress is never
         * missing from the accounting; user messages only: what was sent. */
        hive__stats_add(&a->processed, 1);
#endif
      }
    }
    if (handled != NULL) {
      actor_handle(w, seq, a, &ctx, handled);
      seq += 2;
    }
    if (trapped != NULL && trapped != msg) /* a DOWN is the signal itself */
      hive__msg_free(trapped);
    hive__msg_free(msg);
  }
  if (self != 0 && life->exiting)
    actor_end(h, a, true, &user_done, &sys_done);
  hive__outbox_end_turn(h, &w->outbox);
  sys_done += life->sys_extra; /* taken by hive_checkpoint during handlers */
  life->sys_extra = 0;
  hive__tls.actor = NULL;
#if HIVE_STATS
  hive__stats_add(&w->messages, (uint64_t)(user_done + sys_done));
#endif
  actor_release(h, a, user_done, sys_done);
}

int hive_yield(hive_ctx_t *ctx) {
  if (ctx == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(ctx->node);
  hive__life(ctx->actor)->yielding = true; /* read by the turn and actor_release */
  return HIVE_OK;
}

bool hive_checkpoint(hive_ctx_t *ctx) {
  if (ctx == NULL || ctx->node->child)
    return false; /* a process actor is stopped by SIGKILL, not by asking */
  hive__actor_t *a = ctx->actor;
  hive__life_t *life = hive__life(a);
  hive__msg_t *msg;
  if (hive__tls.outbox != NULL && hive__tls.outbox->nheld > 0)
    hive__outbox_flush(ctx->node, hive__tls.outbox); /* the turn goes on holding */
  /* One load when nothing waits on the system lane. */
  while (!life->exiting && (msg = hive__mailbox_take_system_owner(&a->mb)) != NULL) {
    life->sys_extra++;
    hive__msg_t *trapped = actor_take_signal(ctx->node, a, life->self, msg);
    if (trapped != NULL)
      hive__push_user(ctx->node, a, trapped); /* inside a handler: queued for later */
    if (trapped != msg)
      hive__msg_free(msg);
  }
  return life->exiting;
}

int hive_spawn(hive_t *h, const hive_behaviour_t *b, const void *arg, size_t arg_len,
               const hive_spawn_opts_t *opts, hive_pid_t *out) {
  return hive__spawn(h, b, arg, arg_len, opts, NULL, out);
}

int hive__spawn(hive_t *h, const hive_behaviour_t *b, const void *arg, size_t arg_len,
                const hive_spawn_opts_t *opts, const hive__spawn_extra_t *extra, hive_pid_t *out) {
  hive_spawn_opts_t defaults;
  if (h == NULL || b == NULL || b->handle == NULL || (arg_len > 0 && arg == NULL))
    return HIVE_EINVAL;
  if (opts == NULL) {
    hive_spawn_opts_init(&defaults);
    opts = &defaults;
  }
  HIVE__NOT_IN_CHILD(h);
  int rc = actor_check_opts(opts);
  if (rc != HIVE_OK)
    return rc;
  if (opts->flags & HIVE_SPAWN_PROCESS)
    return h->spawn_process != NULL ? h->spawn_process(h, b, arg, arg_len, opts, extra, out)
                                    : HIVE_ENOTSUP;
  /* spawn_link links to the calling actor: there must be one, of this node. */
  hive__actor_t *parent = (opts->flags & HIVE_SPAWN_LINK) ? hive__tls.actor : NULL;
  if ((opts->flags & HIVE_SPAWN_LINK) && (parent == NULL || hive__tls.node != h))
    return HIVE_EINVAL;
  if (atomic_load(&h->stopping))
    return HIVE_ESHUTDOWN;
  if (atomic_fetch_add(&h->alive, 1) >= h->max_actors) {
    atomic_fetch_sub(&h->alive, 1);
    return HIVE_ELIMIT;
  }
  void *state = NULL;
  if (b->state_size > 0 && (state = calloc(1, b->state_size)) == NULL) {
    atomic_fetch_sub(&h->alive, 1);
    return HIVE_ENOMEM;
  }
  hive__actor_t *a = hive__pidtab_alloc(h, &rc);
  if (a == NULL) {
    free(state);
    atomic_fetch_sub(&h->alive, 1);
    return rc;
  }

  /* We hold the token: set up the incarnation, then publish its pid. */
  hive__life_t *life = hive__life(a);
  hive_pid_t self = hive__pid_make(h->node_id, a->slot, hive__pid_gen(h, a->gen));
  life->self = self;
  life->behaviour = b;
  life->state_block = state;
  a->blocking = (opts->flags & HIVE_SPAWN_BLOCKING) != 0;
  life->trap_faults = (opts->flags & HIVE_SPAWN_TRAP_FAULTS) != 0;
  life->trap_exit = false;
  life->failed_itself = false;
  life->last_tag = 0;
  life->sys_extra = 0;
  life->exiting = false;
  life->retiring = false;
  life->exit_text = NULL;
  life->exit_reason = (hive_reason_t){.kind = HIVE_REASON_NORMAL};
  life->current = NULL;
  life->current_replied = false;
  atomic_store_explicit(&a->processed, 0, memory_order_relaxed);
  atomic_store_explicit(&a->dead_letters, 0, memory_order_relaxed);
  atomic_store_explicit(&a->long_handlers, 0, memory_order_relaxed);
  atomic_store_explicit(&life->handler_ns, 0, memory_order_relaxed);
  atomic_store_explicit(&life->handler_max_ns, 0, memory_order_relaxed);
  atomic_store_explicit(&life->wait_max_ns, 0, memory_order_relaxed);
  life->time_every_call = false;
  hive__actor_t *spawner = hive__tls.node == h ? hive__tls.actor : NULL;
  atomic_store_explicit(&a->parent, spawner != NULL ? hive__life(spawner)->self : 0,
                        memory_order_relaxed);
  atomic_store_explicit(&a->restarts, extra != NULL ? extra->restarts : 0, memory_order_relaxed);
  atomic_store_explicit(&a->supervisor, extra != NULL && extra->supervisor, memory_order_relaxed);
  atomic_store_explicit(&a->behaviour_name, b->name != NULL ? b->name : "", memory_order_relaxed);
  hive__mailbox_reset_owner(&a->mb, opts->mailbox, (int64_t)opts->capacity, opts->block_ms);
  atomic_store_explicit(&a->state, HIVE_ACTOR_RUNNING, memory_order_relaxed);
  atomic_store_explicit(&a->pid, self, memory_order_release);
  atomic_store_explicit(&a->alive_pid, self, memory_order_release);
  atomic_fetch_add_explicit(&h->spawned, 1, memory_order_relaxed);

  if (opts->name != NULL)
    rc = hive_register(h, opts->name, self);
  if (rc == HIVE_OK && parent != NULL)
    rc = hive__link_both_owner(parent, a);
  int signal = 0;
  if (rc == HIVE_OK && b->init != NULL) {
    hive__tls_t outer = hive__tls;
    hive__tls.actor = a;
    if (hive__tls.node == NULL)
      hive__tls.node = h; /* so hive_stop from init is refused */
    struct hive_ctx ctx = {.node = h, .actor = a};
    actor_call_t call = {.which = CALL_INIT, .a = a, .ctx = &ctx, .arg = arg, .arg_len = arg_len};
    rc = actor_call(&call, &signal);
    hive__tls = outer;
  }

  int64_t user_done = 0, sys_done = 1 + life->sys_extra; /* the claim, and checkpoints */
  life->sys_extra = 0;
  if (rc != HIVE_OK) {
    if (parent != NULL)
      hive__unlink_both_owner(parent, a); /* the caller learns from the result */
    actor_decide_from_result(a, rc, signal);
    actor_end(h, a, false, &user_done, &sys_done);
    actor_release(h, a, user_done, sys_done);
    return rc == HIVE__CRASHED ? HIVE_ECRASHED : rc > 0 ? HIVE_STOP : rc;
  }
  if (out != NULL)
    *out = self;
  actor_release(h, a, user_done, sys_done);
  return HIVE_OK;
}

/* Fills in what every user message carries and pushes it. */
static int actor_deliver(hive_t *h, hive__actor_t *a, hive_pid_t to, uint32_t tag,
                         hive__msg_t *msg) {
  msg->to = to;
  msg->pub.tag = tag;
  msg->pub.from = hive__tls.actor != NULL ? hive__life(hive__tls.actor)->self : 0;
  int rc = hive__push_user_waiting(h, a, msg);
  return rc == HIVE__DROPPED ? HIVE_OK : rc;
}

/* The actor whose callback calls into h on this thread, else 0. */
static hive_pid_t actor_caller(hive_t *h) {
  return hive__tls.actor != NULL && hive__tls.node == h ? hive__life(hive__tls.actor)->self : 0;
}

/* A send no live slot of this node takes: elsewhere if a layer above
 * routes it (a process actor's side of its channel), else a dead letter.
 * Out of line: the hot path pays only the branch that leads here. */
static __attribute__((noinline)) int actor_send_elsewhere(hive_t *h, hive_pid_t to, uint32_t tag,
                                                          const void *data, size_t len) {
  if (h->elsewhere != NULL)
    return h->elsewhere(h, false, to, tag, 0, data, len);
  if (hive__pid_remote(h, to)) { /* another node's actor: cluster/ carries it */
    hive_pid_t from = actor_caller(h);
    hive__msg_t *msg = hive__msg_make(to, tag, from, 0, 0, data, len);
    return msg != NULL ? h->route(h, msg) : HIVE_ENOMEM;
  }
  hive__count_undeliverable(h);
  return HIVE_ENOPROC;
}

int hive_send(hive_t *h, hive_pid_t to, uint32_t tag, const void *data, size_t len) {
  if (h == NULL || to == 0 || tag < HIVE_TAG_USER || (len > 0 && data == NULL))
    return HIVE_EINVAL;
  hive__actor_t *a = hive__lookup_live(h, to);
  if (a == NULL)
    return actor_send_elsewhere(h, to, tag, data, len);
  hive__msg_t *msg = hive__msg_new(data, len);
  if (msg == NULL)
    return HIVE_ENOMEM;
  return actor_deliver(h, a, to, tag, msg);
}

int hive_send_move(hive_t *h, hive_pid_t to, uint32_t tag, void *buf, size_t len) {
  if (h == NULL || to == 0 || tag < HIVE_TAG_USER || (len > 0 && buf == NULL))
    return HIVE_EINVAL;
  hive__actor_t *a = hive__lookup_live(h, to);
  if (a == NULL) {
    int rc = actor_send_elsewhere(h, to, tag, buf, len);
    if (rc == HIVE_OK)
      free(buf); /* sent as a copy: given up as a move would have */
    return rc;
  }
  hive__msg_t *msg = hive__msg_new(NULL, 0);
  if (msg == NULL)
    return HIVE_ENOMEM;
  if (len > 0) {
    msg->pub.data = buf;
    msg->pub.len = len;
    msg->flags |= HIVE__MSG_OWNED;
  }
  int rc = actor_deliver(h, a, to, tag, msg);
  if (rc == HIVE_OK && len == 0)
    free(buf); /* given up even when empty */
  return rc;
}

int hive__send_internal(hive_t *h, hive_pid_t to, uint32_t tag, void *buf, size_t len) {
  hive__msg_t *msg = hive__msg_make(to, tag, 0, 0, HIVE__MSG_NOBOUND, NULL, 0);
  if (msg == NULL) {
    free(buf);
    return HIVE_ENOMEM;
  }
  if (len > 0) {
    msg->pub.data = buf;
    msg->pub.len = len;
    msg->flags |= HIVE__MSG_OWNED;
  } else {
    free(buf);
  }
  int rc = hive__deliver(h, msg);
  if (rc != HIVE_OK && len > 0)
    free(buf); /* a failed delivery leaves an owned buffer to us */
  return rc;
}

int hive__actor_stop_now(hive_t *h, hive_pid_t pid, const hive_reason_t *reason) {
  hive__actor_t *a = hive__lookup_live(h, pid);
  if (a == NULL)
    return HIVE_ENOPROC;
  if (!hive__mailbox_claim(&a->mb))
    return HIVE_EALREADY;              /* it has work or is running: not ours to end here */
  int64_t user_done = 0, sys_done = 1; /* the claim */
  if (hive__life(a)->self != pid) {    /* it ended and the slot moved on before our claim */
    actor_release(h, a, user_done, sys_done);
    return HIVE_ENOPROC;
  }
  hive__actor_decide_exit(a, reason->kind, reason->code, reason->text);
  actor_end(h, a, true, &user_done, &sys_done);
  actor_release(h, a, user_done, sys_done);
  return HIVE_OK;
}

int hive_exit(hive_t *h, hive_pid_t pid, const hive_reason_t *reason) {
  if (h == NULL || pid == 0 || reason == NULL || reason->kind < HIVE_REASON_NORMAL ||
      reason->kind > HIVE_REASON_NOCONNECTION)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  hive_pid_t from = actor_caller(h);
  return hive__send_exit(h, from, pid, reason, 0);
}

/* A process actor's child (HIVE_SPAWN_PROCESS) gets SIGKILL from the
 * killer's thread, after the kill's exit signal is on its way: its proxy
 * may be waiting for a core the child holds, and would only see the kill
 * at its next look. The proxy sees the channel close, finds the kill
 * waiting (hive_checkpoint), and the actor ends with reason kill. (The
 * pid is the child's until the zygote has reaped it, and the proxy clears
 * os_pid only after that.) */
static void actor_kill_child(hive_t *h, hive_pid_t pid) {
  hive__actor_t *a = hive__lookup_live(h, pid);
  int os_pid = a != NULL ? atomic_load_explicit(&a->os_pid, memory_order_acquire) : 0;
  /* Still the same incarnation after the load: not a later actor's child. */
  if (os_pid > 0 && atomic_load_explicit(&a->alive_pid, memory_order_acquire) == pid) {
    kill(-os_pid, SIGKILL); /* its process group: what it started too */
    kill(os_pid, SIGKILL);
  }
}

int hive_kill(hive_t *h, hive_pid_t pid) {
  if (h == NULL || pid == 0)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  hive_pid_t from = actor_caller(h);
  int rc = hive__send_exit(h, from, pid, &(hive_reason_t){.kind = HIVE_REASON_KILL},
                           HIVE__EXIT_UNTRAPPABLE);
  if (rc == HIVE_OK)
    actor_kill_child(h, pid);
  return rc;
}

int hive__kill_reserved(hive_t *h, hive__msg_t *reserve, hive_pid_t to) {
  int rc = hive__send_reserved(h, reserve, actor_caller(h), to);
  if (rc == HIVE_OK)
    actor_kill_child(h, to);
  return rc;
}

void hive__actor_request_shutdown(hive_t *h, hive__actor_t *a, bool kill) {
  hive_pid_t pid = atomic_load_explicit(&a->alive_pid, memory_order_acquire);
  if (pid != 0 &&
      hive__send_exit(h, 0, pid,
                      &(hive_reason_t){.kind = kill ? HIVE_REASON_KILL : HIVE_REASON_SHUTDOWN},
                      kill ? HIVE__EXIT_UNTRAPPABLE : 0) == HIVE_OK &&
      kill)
    actor_kill_child(h, pid); /* hive_stop past its grace: as hive_kill does */
}

/* A child process's resident memory and CPU time, from /proc/PID/stat
 * (fields 14, 15: utime and stime in clock ticks; 24: rss in pages);
 * zeros if it is gone. */
static void actor_process_usage(int os_pid, uint64_t *rss_bytes, uint64_t *cpu_ns) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", os_pid);
  FILE *f = fopen(path, "re");
  size_t n = f != NULL ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
  if (f != NULL)
    fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')'); /* the command may hold spaces */
  unsigned long long utime, stime;
  long long rss;
  if (p == NULL ||
      sscanf(p + 2,
             "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
             "%*u %*u %lld",
             &utime, &stime, &rss) != 3)
    return;
  long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  *cpu_ns = (utime + stime) * (1000000000ull / (uint64_t)(tick > 0 ? tick : 100));
  *rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
}

int hive_actor_stats(hive_t *h, hive_pid_t pid, hive_actor_stats_t *out) {
  if (h == NULL || pid == 0 || out == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  hive__actor_t *a = hive__pidtab_lookup(h, pid);
  if (a == NULL || atomic_load_explicit(&a->pid, memory_order_acquire) != pid)
    return HIVE_ENOPROC;
  hive__life_t *life = hive__life(a);
  hive_actor_stats_t s = {.pid = pid};
  hive__registry_name_of(h, a, s.name);
  const char *bname = atomic_load_explicit(&a->behaviour_name, memory_order_relaxed);
  s.behaviour = bname != NULL ? bname : "";
  s.state = atomic_load_explicit(&a->state, memory_order_relaxed);
  s.mailbox_len = (uint64_t)hive__mailbox_len(&a->mb);
  s.mailbox_hwm = (uint64_t)atomic_load_explicit(&a->mb.hwm, memory_order_relaxed);
  s.capacity = (uint64_t)atomic_load_explicit(&a->mb.capacity, memory_order_relaxed);
  s.processed = atomic_load_explicit(&a->processed, memory_order_relaxed);
  s.dropped = atomic_load_explicit(&a->mb.dropped, memory_order_relaxed);
  s.dead_letters = atomic_load_explicit(&a->dead_letters, memory_order_relaxed);
  s.long_handlers = atomic_load_explicit(&a->long_handlers, memory_order_relaxed);
  s.handler_ns = atomic_load_explicit(&life->handler_ns, memory_order_relaxed);
  s.handler_max_ns = atomic_load_explicit(&life->handler_max_ns, memory_order_relaxed);
  s.max_wait_ns = atomic_load_explicit(&life->wait_max_ns, memory_order_relaxed);
  s.restarts = atomic_load_explicit(&a->restarts, memory_order_relaxed);
  s.parent = atomic_load_explicit(&a->parent, memory_order_relaxed);
  s.supervisor = atomic_load_explicit(&a->supervisor, memory_order_relaxed);
  s.links = atomic_load_explicit(&life->nlinks, memory_order_relaxed);
  s.monitors = atomic_load_explicit(&life->nmonitors, memory_order_relaxed);
  s.enqueued = s.processed + s.dropped + s.dead_letters + s.mailbox_len;
  if ((s.os_pid = atomic_load_explicit(&a->os_pid, memory_order_relaxed)) != 0)
    actor_process_usage(s.os_pid, &s.rss_bytes, &s.cpu_ns);
  /* The slot may have moved to a later incarnation while we read. */
  if (atomic_load_explicit(&a->pid, memory_order_acquire) != pid)
    return HIVE_ENOPROC;
  *out = s;
  return HIVE_OK;
}

/* What hive_actor_list fills in, one actor at a time. */
typedef struct {
  hive_pid_t *pids;
  size_t max, n;
} actor_list_t;

static void actor_list_add(hive__actor_t *a, hive_pid_t pid, void *arg) {
  (void)a;
  actor_list_t *list = arg;
  if (list->n < list->max)
    list->pids[list->n] = pid;
  list->n++;
}

int hive_actor_list(hive_t *h, hive_pid_t *pids, size_t max, size_t *count) {
  if (h == NULL || count == NULL || (max > 0 && pids == NULL))
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  actor_list_t list = {.pids = pids, .max = max};
  hive__pidtab_each(h, actor_list_add, &list);
  *count = list.n;
  return HIVE_OK;
}
