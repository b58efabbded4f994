/*
 * actor.c - spawning, sending, running turns and ending actors.
 *
 * An actor's callbacks run only while its mailbox token is held (mailbox.h):
 * init inside hive_spawn, handle and terminate inside a worker's turn. So no
 * two callbacks of one actor ever overlap, and the fields marked "token" in
 * runtime.h need no lock.
 *
 * The end of an actor, in order: it stops accepting messages (alive_pid 0,
 * so senders get HIVE_ENOPROC), its name is released, the messages it can
 * see become dead letters, terminate runs, its state is freed, and the slot
 * retires once its mailbox is empty.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "mailbox/tsan.h"

/* Payload of an exit signal; the reason text follows it. */
typedef struct {
  int kind;
  int code;
} actor_exit_signal_t;

hive_t *hive_node(hive_ctx_t *ctx) {
  return ctx != NULL ? ctx->node : NULL;
}

hive_pid_t hive_self(hive_ctx_t *ctx) {
  return ctx != NULL ? ctx->actor->self : 0;
}

void hive_spawn_opts_init(hive_spawn_opts_t *opts) {
  if (opts != NULL)
    *opts = (hive_spawn_opts_t){.mailbox = HIVE_MAILBOX_UNBOUNDED};
}

static int actor_check_opts(const hive_spawn_opts_t *opts) {
  if ((opts->flags & ~HIVE_SPAWN_BLOCKING) != 0)
    return HIVE_EINVAL;
  switch (opts->mailbox) {
  case HIVE_MAILBOX_UNBOUNDED:
    if (opts->capacity != 0)
      return HIVE_EINVAL;
    break;
  case HIVE_MAILBOX_REJECT:
  case HIVE_MAILBOX_DROP_NEW:
    if (opts->capacity == 0 || opts->capacity > (size_t)INT64_MAX)
      return HIVE_EINVAL;
    break;
  default:
    return HIVE_EINVAL;
  }
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
static void actor_decide_exit(hive__actor_t *a, int kind, int code, const char *text) {
  if (a->exiting)
    return;
  a->exiting = true;
  a->exit_reason = (hive_reason_t){.kind = kind, .code = code};
  if (text != NULL) {
    a->exit_text = strdup(text); /* NULL on no memory: the reason loses its text */
    a->exit_reason.text = a->exit_text;
  }
}

/*
 * Ends the incarnation. Adds the messages it drains to *user_done and
 * *sys_done so the caller finishes them on the mailbox. Token holder.
 */
static void actor_end(hive_t *h, hive__actor_t *a, bool run_terminate, int64_t *user_done,
                      int64_t *sys_done) {
  atomic_store_explicit(&a->state, HIVE_ACTOR_EXITING, memory_order_relaxed);
  atomic_store_explicit(&a->alive_pid, 0, memory_order_release);
  hive__registry_release(h, a);
  hive__timers_cancel_slot(h, a);

  hive__msg_t *msg;
  while ((msg = hive__mailbox_take_owner(&a->mb, a->self)) != NULL) {
    if (msg->flags & HIVE__MSG_SYSTEM) {
      ++*sys_done;
    } else {
      ++*user_done;
      hive__count_dead_letter(h, msg->to == a->self ? a : NULL);
      hive__request_fail_queued(h, msg->to, msg);
    }
    hive__msg_free(msg);
  }

  const hive_behaviour_t *b = a->behaviour;
  if (run_terminate && b->terminate != NULL) {
    hive__actor_t *outer = hive__tls.actor;
    hive__tls.actor = a;
    struct hive_ctx ctx = {.node = h, .actor = a};
    b->terminate(&ctx, a->state_block, &a->exit_reason);
    hive__tls.actor = outer;
  }
  hive__request_end_owner(h, a); /* after terminate, which may still reply */

  free(a->state_block);
  free(a->exit_text);
  a->state_block = NULL;
  a->exit_text = NULL;
  a->behaviour = NULL;
  atomic_store_explicit(&a->behaviour_name, NULL, memory_order_relaxed);
  hive_pid_t ended = a->self;
  atomic_store(&a->pid, 0); /* seq_cst: see hive__node_actor_exited */
  a->self = 0;
  a->exiting = false; /* stray turns of the empty slot must still drain */
  a->retiring = true;
  hive__node_actor_exited(h, a, ended);
}

/*
 * Gives the token back after user + sys messages were finished. Reschedules
 * the actor if more are pending; frees the slot of an ended actor once its
 * mailbox is empty. The caller must not touch a afterwards.
 */
static void actor_release(hive_t *h, hive__actor_t *a, int64_t user, int64_t sys) {
  bool retire = a->retiring;
  a->retiring = false; /* before the token goes: a stray turn may follow */
  if (a->self != 0)
    atomic_store_explicit(&a->state, HIVE_ACTOR_IDLE, memory_order_relaxed);
  if (!hive__mailbox_finish_owner(&a->mb, user, sys)) {
    if (retire)
      hive__pidtab_release(h, a);
    return;
  }
  a->retiring = retire; /* still ours: the token stayed */
  hive__sched_requeue(h, a);
}

/* Applies a signal from the system lane. Token holder. */
static void actor_signal(hive__actor_t *a, const hive__msg_t *msg) {
  if (msg->signal != HIVE__SIG_EXIT)
    return;
  actor_exit_signal_t sig;
  memcpy(&sig, msg->pub.data, sizeof(sig));
  const char *text = msg->pub.len > sizeof(sig) ? (const char *)msg->pub.data + sizeof(sig) : NULL;
  /* As in Erlang: normal from another actor is ignored; from itself, it
   * ends the actor normally. */
  if (sig.kind == HIVE_REASON_NORMAL && msg->pub.from != a->self)
    return;
  actor_decide_exit(a, sig.kind, sig.code, text);
}

void hive__actor_turn(hive__worker_t *w, hive__actor_t *a) {
  hive_t *h = w->node;
  int64_t user_done = 0, sys_done = 0;
  const hive_pid_t self = a->self; /* 0: a slot without incarnation */
  if (self != 0)
    atomic_store_explicit(&a->state, HIVE_ACTOR_RUNNING, memory_order_relaxed);
  hive__tls.actor = a;
  struct hive_ctx ctx = {.node = h, .actor = a};
  uint64_t processed = atomic_load_explicit(&a->processed, memory_order_relaxed);

  while (user_done + sys_done < h->batch && !a->exiting) {
    hive__msg_t *msg = hive__mailbox_take_owner(&a->mb, self);
    if (msg == NULL)
      break;
    if (msg->flags & HIVE__MSG_SYSTEM) {
      sys_done++;
      if (self != 0 && msg->to == self)
        actor_signal(a, msg);
    } else {
      user_done++;
      if (self == 0 || msg->to != self) {
        hive__count_dead_letter(h, NULL); /* sent to an earlier incarnation */
        hive__request_fail_queued(h, msg->to, msg);
      } else if ((msg->flags & (HIVE__MSG_ANSWER | HIVE__MSG_RECV_TIMEOUT)) &&
                 !hive__request_accept_owner(h, a, msg)) {
        hive__count_dead_letter(h, a); /* a late reply, or a stale timeout */
      } else {
        /* Counted when handed over, so the message in progress is never
         * missing from the accounting. */
        atomic_store_explicit(&a->processed, ++processed, memory_order_relaxed);
        if (a->requests != NULL)
          hive__request_note_message_owner(h, a); /* any message disarms */
        a->current = msg;
        int rc = a->behaviour->handle(&ctx, a->state_block, &msg->pub);
        if (msg->pub.ref != 0) {
          hive__request_handled_owner(h, a, msg);
          a->current_replied = false;
        }
        a->current = NULL;
        if (rc == HIVE_STOP)
          actor_decide_exit(a, HIVE_REASON_NORMAL, 0, NULL);
        else if (rc != HIVE_OK)
          actor_decide_exit(a, HIVE_REASON_ERROR, rc, hive_strerror(rc));
      }
    }
    hive__msg_free(msg);
  }
  if (self != 0 && a->exiting)
    actor_end(h, a, true, &user_done, &sys_done);
  hive__tls.actor = NULL;
  atomic_store_explicit(&w->messages,
                        atomic_load_explicit(&w->messages, memory_order_relaxed) +
                            (uint64_t)(user_done + sys_done),
                        memory_order_relaxed);
  actor_release(h, a, user_done, sys_done);
}

int hive_spawn(hive_t *h, const hive_behaviour_t *b, const void *arg, size_t arg_len,
               const hive_spawn_opts_t *opts, hive_pid_t *out) {
  hive_spawn_opts_t defaults;
  if (h == NULL || b == NULL || b->handle == NULL || (arg_len > 0 && arg == NULL))
    return HIVE_EINVAL;
  if (opts == NULL) {
    hive_spawn_opts_init(&defaults);
    opts = &defaults;
  }
  int rc = actor_check_opts(opts);
  if (rc != HIVE_OK)
    return rc;
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
  hive_pid_t self = hive__pid_make(h->node_id, a->slot, a->gen);
  a->self = self;
  a->behaviour = b;
  a->state_block = state;
  a->blocking = (opts->flags & HIVE_SPAWN_BLOCKING) != 0;
  a->exiting = false;
  a->retiring = false;
  a->exit_text = NULL;
  a->exit_reason = (hive_reason_t){.kind = HIVE_REASON_NORMAL};
  a->current = NULL;
  a->current_replied = false;
  atomic_store_explicit(&a->processed, 0, memory_order_relaxed);
  atomic_store_explicit(&a->dead_letters, 0, memory_order_relaxed);
  atomic_store_explicit(&a->behaviour_name, b->name != NULL ? b->name : "", memory_order_relaxed);
  hive__mailbox_reset_owner(&a->mb, opts->mailbox, (int64_t)opts->capacity);
  atomic_store_explicit(&a->state, HIVE_ACTOR_RUNNING, memory_order_relaxed);
  atomic_store_explicit(&a->pid, self, memory_order_release);
  atomic_store_explicit(&a->alive_pid, self, memory_order_release);
  atomic_fetch_add_explicit(&h->spawned, 1, memory_order_relaxed);

  if (opts->name != NULL)
    rc = hive_register(h, opts->name, self);
  if (rc == HIVE_OK && b->init != NULL) {
    hive__tls_t outer = hive__tls;
    hive__tls.actor = a;
    if (hive__tls.node == NULL)
      hive__tls.node = h; /* so hive_stop from init is refused */
    struct hive_ctx ctx = {.node = h, .actor = a};
    rc = b->init(&ctx, state, arg, arg_len);
    hive__tls = outer;
  }

  int64_t user_done = 0, sys_done = 1; /* the claim */
  if (rc != HIVE_OK) {
    if (rc == HIVE_STOP)
      actor_decide_exit(a, HIVE_REASON_NORMAL, 0, NULL);
    else
      actor_decide_exit(a, HIVE_REASON_ERROR, rc, hive_strerror(rc));
    actor_end(h, a, false, &user_done, &sys_done);
    actor_release(h, a, user_done, sys_done);
    return rc > 0 ? HIVE_STOP : rc;
  }
  if (out != NULL)
    *out = self;
  actor_release(h, a, user_done, sys_done);
  return HIVE_OK;
}

/* The live actor to names, or NULL after counting a dead letter. */
static hive__actor_t *actor_lookup_live(hive_t *h, hive_pid_t to) {
  hive__actor_t *a = hive__lookup_live(h, to);
  if (a == NULL)
    hive__count_dead_letter(h, NULL);
  return a;
}

/* Fills in what every user message carries and pushes it. */
static int actor_deliver(hive_t *h, hive__actor_t *a, hive_pid_t to, uint32_t tag,
                         hive__msg_t *msg) {
  msg->to = to;
  msg->pub.tag = tag;
  msg->pub.from = hive__tls.actor != NULL ? hive__tls.actor->self : 0;
  int rc = hive__push_user(h, a, msg);
  return rc == HIVE__DROPPED ? HIVE_OK : rc;
}

int hive_send(hive_t *h, hive_pid_t to, uint32_t tag, const void *data, size_t len) {
  if (h == NULL || to == 0 || tag < HIVE_TAG_USER || (len > 0 && data == NULL))
    return HIVE_EINVAL;
  hive__actor_t *a = actor_lookup_live(h, to);
  if (a == NULL)
    return HIVE_ENOPROC;
  hive__msg_t *msg = hive__msg_new(data, len);
  if (msg == NULL)
    return HIVE_ENOMEM;
  return actor_deliver(h, a, to, tag, msg);
}

int hive_send_move(hive_t *h, hive_pid_t to, uint32_t tag, void *buf, size_t len) {
  if (h == NULL || to == 0 || tag < HIVE_TAG_USER || (len > 0 && buf == NULL))
    return HIVE_EINVAL;
  hive__actor_t *a = actor_lookup_live(h, to);
  if (a == NULL)
    return HIVE_ENOPROC;
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

/* Sends an exit signal with reason (kind, code, text) to pid. */
static int actor_send_exit(hive_t *h, hive_pid_t pid, int kind, int code, const char *text) {
  hive__actor_t *a = hive__lookup_live(h, pid);
  if (a == NULL)
    return HIVE_ENOPROC;
  size_t text_len = text != NULL ? strlen(text) + 1 : 0;
  hive__msg_t *msg = hive__msg_new(NULL, sizeof(actor_exit_signal_t) + text_len);
  if (msg == NULL)
    return HIVE_ENOMEM;
  actor_exit_signal_t sig = {.kind = kind, .code = code};
  memcpy(msg + 1, &sig, sizeof(sig));
  if (text_len > 0)
    memcpy((char *)(msg + 1) + sizeof(sig), text, text_len);
  msg->to = pid;
  msg->signal = HIVE__SIG_EXIT;
  msg->pub.tag = HIVE_TAG_EXIT;
  msg->pub.from = hive__tls.actor != NULL ? hive__tls.actor->self : 0;
  hive__push_system(h, a, msg);
  return HIVE_OK;
}

int hive_exit(hive_t *h, hive_pid_t pid, const hive_reason_t *reason) {
  if (h == NULL || pid == 0 || reason == NULL || reason->kind < HIVE_REASON_NORMAL ||
      reason->kind > HIVE_REASON_NOCONNECTION)
    return HIVE_EINVAL;
  return actor_send_exit(h, pid, reason->kind, reason->code, reason->text);
}

int hive_kill(hive_t *h, hive_pid_t pid) {
  if (h == NULL || pid == 0)
    return HIVE_EINVAL;
  return actor_send_exit(h, pid, HIVE_REASON_KILL, 0, NULL);
}

void hive__actor_request_shutdown(hive_t *h, hive__actor_t *a) {
  hive_pid_t pid = atomic_load_explicit(&a->alive_pid, memory_order_acquire);
  if (pid != 0)
    actor_send_exit(h, pid, HIVE_REASON_SHUTDOWN, 0, NULL);
}

int hive_actor_stats(hive_t *h, hive_pid_t pid, hive_actor_stats_t *out) {
  if (h == NULL || pid == 0 || out == NULL)
    return HIVE_EINVAL;
  hive__actor_t *a = hive__pidtab_lookup(h, pid);
  if (a == NULL || atomic_load_explicit(&a->pid, memory_order_acquire) != pid)
    return HIVE_ENOPROC;
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
  s.enqueued = s.processed + s.dropped + s.dead_letters + s.mailbox_len;
  /* The slot may have moved to a later incarnation while we read. */
  if (atomic_load_explicit(&a->pid, memory_order_acquire) != pid)
    return HIVE_ENOPROC;
  *out = s;
  return HIVE_OK;
}
