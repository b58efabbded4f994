/*
 * request.c - requests and replies, for plain threads (hive_ask) and inside
 * actors (hive_request), and the receive timeout.
 *
 * A request is a user message with a fresh ref. Only the actor handling it
 * can reply, during that call or later (it then owes the reply: the `owed`
 * table). So the requester learns of a dead target at once, without
 * monitors: a request still queued when its target ends is answered
 * "noproc" as the mailbox drains, and every reply still owed is answered
 * "noproc" when the actor ends.
 *
 * Plain threads wait in the node's `asks` table (ref -> waiter) under one
 * mutex; a reply for a ref that is no longer there (the ask timed out) is
 * dropped and counted as late. Inside actors, `pending` maps each open
 * request to its timeout timer; a REPLY, TIMEOUT or NOPROC message whose ref
 * is not pending (already answered) never reaches the handler.
 */
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "util/reftab.h"

/* ---- per-actor request state (token holder) ----------------------------- */

typedef struct hive__requests {
  ck_ht_t *owed;    /* ref -> requester pid (0: a plain thread) */
  ck_ht_t *pending; /* ref -> timeout timer id (0: none) */
  uint64_t recv_timer;
  uint64_t recv_seq;
} hive__requests_t;

static hive__requests_t *requests_of(hive__actor_t *a) {
  hive__life_t *life = hive__life(a);
  if (life->requests == NULL)
    life->requests = calloc(1, sizeof(hive__requests_t));
  return life->requests;
}

static uint64_t request_new_ref(hive_t *h) {
  return atomic_fetch_add_explicit(&h->next_ref, 1, memory_order_relaxed) + 1;
}

/* The live target of a request and the message that will carry it; a dead
 * target is a dead letter and HIVE_ENOPROC. Another node's actor: *a is
 * NULL and request_push routes the message. */
static int request_prepare(hive_t *h, hive_pid_t to, uint32_t tag, const void *data, size_t len,
                           hive__actor_t **a, hive__msg_t **msg) {
  if ((*a = hive__lookup_live(h, to)) == NULL && !hive__pid_remote(h, to)) {
    hive__count_undeliverable(h);
    return HIVE_ENOPROC;
  }
  if ((*msg = hive__msg_make(to, tag, 0, 0, 0, data, len)) == NULL)
    return HIVE_ENOMEM;
  return HIVE_OK;
}

/* Sends what request_prepare made: pushed to a, or routed to its node. */
static int request_push(hive_t *h, hive__actor_t *a, hive__msg_t *msg, bool may_wait) {
  if (a == NULL)
    return h->route(h, msg);
  return may_wait ? hive__push_user_waiting(h, a, msg) : hive__push_user(h, a, msg);
}

/* ---- plain-thread asks --------------------------------------------------- */

#define ASK_WAITING 0
#define ASK_REPLIED 1
#define ASK_NOPROC 2
#define ASK_NOMEM 3 /* the answer could not be made for lack of memory */

/* How long an asker spins before it sleeps: a reply from an actor that is
 * already running comes within microseconds, and waking a sleeping thread
 * costs tens of them. */
#define ASK_SPIN_NS 50000

typedef struct {
  pthread_cond_t cond;
  _Atomic int state; /* written under the asks' lock; spun on without it */
  void *reply;       /* owned until handed to the asker */
  size_t len;
} ask_waiter_t;

/* The node's plain threads waiting in hive_ask. */
struct hive__asks {
  pthread_mutex_t lock;
  ck_ht_t *table; /* owned: ref -> ask_waiter_t *, under lock */
};

int hive__asks_init(hive_t *h) {
  struct hive__asks *asks = malloc(sizeof(*asks));
  if (asks == NULL)
    return HIVE_ENOMEM;
  if (pthread_mutex_init(&asks->lock, NULL) != 0) {
    free(asks);
    return HIVE_ESYS;
  }
  if ((asks->table = hive__reftab_new()) == NULL) {
    pthread_mutex_destroy(&asks->lock);
    free(asks);
    return HIVE_ENOMEM;
  }
  h->asks = asks;
  return HIVE_OK;
}

void hive__asks_free(hive_t *h) {
  hive__reftab_destroy(h->asks->table);
  pthread_mutex_destroy(&h->asks->lock);
  free(h->asks);
  h->asks = NULL;
}

/* Hands an answer to the plain thread waiting on ref, if it still waits. */
static int ask_complete(hive_t *h, uint64_t ref, int state, const void *data, size_t len);

int hive__ask_answer(hive_t *h, uint64_t ref, bool replied, const void *data, size_t len) {
  return ask_complete(h, ref, replied ? ASK_REPLIED : ASK_NOPROC, data, len);
}

static int ask_complete(hive_t *h, uint64_t ref, int state, const void *data, size_t len) {
  void *copy = NULL;
  int code = HIVE_OK;
  if (state == ASK_NOPROC && len == sizeof(code))
    memcpy(&code, data, sizeof(code)); /* why (hive__request_handled_owner) */
  bool reply_lost = state == ASK_REPLIED && (copy = malloc(len > 0 ? len : 1)) == NULL;
  if (reply_lost || code == HIVE_ENOMEM) { /* the asker hears of it now, not at its timeout */
    state = ASK_NOMEM;
    len = 0;
  } else if (len > 0 && copy != NULL) {
    memcpy(copy, data, len);
  }
  uint64_t value;
  pthread_mutex_lock(&h->asks->lock);
  bool found = hive__reftab_take(h->asks->table, ref, &value);
  if (found) {
    ask_waiter_t *waiter = (ask_waiter_t *)(uintptr_t)value;
    waiter->reply = copy;
    waiter->len = len;
    atomic_store_explicit(&waiter->state, state, memory_order_release);
    pthread_cond_signal(&waiter->cond);
  }
  pthread_mutex_unlock(&h->asks->lock);
  if (!found) {
    free(copy);
    if (state == ASK_REPLIED)
      atomic_fetch_add_explicit(&h->late_replies, 1, memory_order_relaxed);
  }
  return reply_lost ? HIVE_ENOMEM : HIVE_OK; /* the replier learns its reply was not made */
}

int hive_ask(hive_t *h, hive_pid_t to, uint32_t tag, const void *data, size_t len, int timeout_ms,
             void **reply, size_t *reply_len) {
  if (h == NULL || to == 0 || tag < HIVE_TAG_USER || (len > 0 && data == NULL) || reply == NULL ||
      reply_len == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  /* A worker must never block (use hive_request); an actor on the blocking
   * pool may, but not on itself. */
  hive__worker_t *w = hive__tls.worker;
  if ((w != NULL && !w->blocking) ||
      (hive__tls.actor != NULL && hive__life(hive__tls.actor)->self == to))
    return HIVE_EDEADLK;
  hive__actor_t *a;
  hive__msg_t *msg;
  int prepared = request_prepare(h, to, tag, data, len, &a, &msg);
  if (prepared != HIVE_OK)
    return prepared;
  ask_waiter_t waiter = {.state = ASK_WAITING};
  int rc;
  if (hive__cond_init_monotonic(&waiter.cond) != 0) {
    hive__msg_free(msg);
    return HIVE_ESYS;
  }
  uint64_t ref = request_new_ref(h);
  pthread_mutex_lock(&h->asks->lock);
  bool put = hive__reftab_put(h->asks->table, ref, (uint64_t)(uintptr_t)&waiter);
  pthread_mutex_unlock(&h->asks->lock);
  if (!put) {
    hive__msg_free(msg);
    pthread_cond_destroy(&waiter.cond);
    return HIVE_ENOMEM;
  }

  msg->pub.ref = ref;
  rc = request_push(h, a, msg, true);
  if (rc == HIVE_OK) {
    uint64_t spin_until = hive__now_ns() + ASK_SPIN_NS;
    for (unsigned i = 1; atomic_load_explicit(&waiter.state, memory_order_acquire) == ASK_WAITING;
         i++) {
      ck_pr_stall();
      if ((i & 63) == 0 && hive__now_ns() > spin_until)
        break;
    }
  }
  struct timespec until;
  if (timeout_ms >= 0) {
    uint64_t due = hive__now_ns() + (uint64_t)timeout_ms * 1000000u;
    until = hive__timespec_at(due);
  }
  pthread_mutex_lock(&h->asks->lock);
  if (rc != HIVE_OK) {
    rc = rc == HIVE__DROPPED ? HIVE_EFULL : rc;
  } else {
    while (waiter.state == ASK_WAITING && rc == HIVE_OK) {
      if (timeout_ms < 0)
        pthread_cond_wait(&waiter.cond, &h->asks->lock);
      else if (pthread_cond_timedwait(&waiter.cond, &h->asks->lock, &until) != 0 &&
               waiter.state == ASK_WAITING)
        rc = HIVE_ETIMEDOUT;
    }
    if (waiter.state == ASK_NOPROC)
      rc = HIVE_ENOPROC;
    else if (waiter.state == ASK_NOMEM)
      rc = HIVE_ENOMEM;
  }
  if (waiter.state == ASK_WAITING)
    hive__reftab_take(h->asks->table, ref, NULL); /* a reply after this is late */
  pthread_mutex_unlock(&h->asks->lock);
  pthread_cond_destroy(&waiter.cond);
  if (rc == HIVE_OK) {
    *reply = waiter.reply;
    *reply_len = waiter.len;
  }
  return rc;
}

/* ---- requests inside actors ---------------------------------------------- */

int hive_request(hive_ctx_t *ctx, hive_pid_t to, uint32_t tag, const void *data, size_t len,
                 int timeout_ms, uint64_t *ref_out) {
  if (ctx == NULL || to == 0 || tag < HIVE_TAG_USER || (len > 0 && data == NULL) || ref_out == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(ctx->node);
  hive_t *h = ctx->node;
  hive__actor_t *self = ctx->actor;
  hive__life_t *me = hive__life(self);
  hive__requests_t *rq = requests_of(self);
  if (rq == NULL || (rq->pending == NULL && (rq->pending = hive__reftab_new()) == NULL))
    return HIVE_ENOMEM;
  hive__actor_t *a;
  hive__msg_t *msg;
  int rc = request_prepare(h, to, tag, data, len, &a, &msg);
  if (rc != HIVE_OK)
    return rc;
  uint64_t ref = request_new_ref(h), timer = 0;
  if (timeout_ms >= 0)
    rc = hive__timer_arm(h, me->self, HIVE_TAG_TIMEOUT, ref, HIVE__MSG_ANSWER, NULL, 0,
                         (uint64_t)timeout_ms * 1000000u, 0, &timer);
  if (rc == HIVE_OK && !hive__reftab_put(rq->pending, ref, timer))
    rc = HIVE_ENOMEM;
  if (rc != HIVE_OK) {
    if (timer != 0)
      hive__timer_cancel(h, timer);
    hive__msg_free(msg);
    return rc;
  }
  msg->pub.ref = ref;
  msg->pub.from = me->self;
  rc = request_push(h, a, msg, false);
  if (rc != HIVE_OK) {
    hive__reftab_take(rq->pending, ref, NULL);
    if (timer != 0)
      hive__timer_cancel(h, timer);
    return rc == HIVE__DROPPED ? HIVE_EFULL : rc;
  }
  *ref_out = ref;
  return HIVE_OK;
}

/* Sends an answer (REPLY or NOPROC) for request ref to requester `to`. */
static int request_answer(hive_t *h, hive_pid_t from, hive_pid_t to, uint64_t ref, uint32_t tag,
                          const void *data, size_t len) {
  if (to == 0)
    return ask_complete(h, ref, tag == HIVE_TAG_REPLY ? ASK_REPLIED : ASK_NOPROC, data, len);
  hive__msg_t *msg = hive__msg_make(to, tag, from, ref, HIVE__MSG_ANSWER, data, len);
  if (msg == NULL)
    return HIVE_ENOMEM;
  int rc = hive__deliver(h, msg);
  return rc == HIVE__DROPPED ? HIVE_OK : rc;
}

static bool request_is_request(const hive_msg_t *msg) {
  return msg->ref != 0 && msg->tag >= HIVE_TAG_USER;
}

int hive_reply(hive_ctx_t *ctx, const hive_msg_t *request, const void *data, size_t len) {
  if (ctx == NULL || request == NULL || (len > 0 && data == NULL))
    return HIVE_EINVAL;
  if (!request_is_request(request))
    return HIVE_EINVAL;
  if (ctx->node->child) /* a process actor: the reply goes over its channel */
    return ctx->node->elsewhere(ctx->node, true, request->from, 0, request->ref, data, len);
  hive__actor_t *a = ctx->actor;
  hive__life_t *life = hive__life(a);
  if (life->current != NULL && request == &life->current->pub) {
    if (life->current_replied)
      return HIVE_EALREADY;
    life->current_replied = true;
  } else {
    /* A reply deferred from an earlier call, through a saved copy. */
    hive__requests_t *rq = life->requests;
    uint64_t owed_to;
    if (rq == NULL || !hive__reftab_take(rq->owed, request->ref, &owed_to) ||
        owed_to != request->from)
      return HIVE_EALREADY;
  }
  return request_answer(ctx->node, life->self, request->from, request->ref, HIVE_TAG_REPLY, data,
                        len);
}

/* ---- owner-side hooks, called from actor.c -------------------------------- */

void hive__request_handled_owner(hive_t *h, hive__actor_t *a, const hive__msg_t *msg) {
  hive__life_t *life = hive__life(a);
  if (life->current_replied || !request_is_request(&msg->pub))
    return;
  hive__requests_t *rq = requests_of(a);
  if (rq != NULL && (rq->owed != NULL || (rq->owed = hive__reftab_new()) != NULL) &&
      hive__reftab_put(rq->owed, msg->pub.ref, msg->pub.from))
    return;
  /* No memory to remember the debt: the requester must not wait forever,
   * and hears why (HIVE_TAG_NOPROC carrying HIVE_ENOMEM). */
  int nomem = HIVE_ENOMEM;
  request_answer(h, life->self, msg->pub.from, msg->pub.ref, HIVE_TAG_NOPROC, &nomem,
                 sizeof(nomem));
}

void hive__request_fail_queued(hive_t *h, hive_pid_t from, const hive__msg_t *msg) {
  if (!(msg->flags & HIVE__MSG_SYSTEM) && request_is_request(&msg->pub))
    request_answer(h, from, msg->pub.from, msg->pub.ref, HIVE_TAG_NOPROC, NULL, 0);
}

bool hive__request_accept_owner(hive_t *h, hive__actor_t *a, hive__msg_t *msg) {
  hive__requests_t *rq = hive__life(a)->requests;
  if (msg->flags & HIVE__MSG_RECV_TIMEOUT) {
    if (rq == NULL || rq->recv_timer == 0 || msg->pub.ref != rq->recv_seq)
      return false; /* disarmed or re-armed since */
    rq->recv_timer = 0;
    msg->pub.ref = 0;
    return true;
  }
  uint64_t timer;
  if (rq == NULL || !hive__reftab_take(rq->pending, msg->pub.ref, &timer)) {
    if (msg->pub.tag == HIVE_TAG_REPLY)
      atomic_fetch_add_explicit(&h->late_replies, 1, memory_order_relaxed);
    return false; /* answered already: a late reply, or a stale timeout */
  }
  if (timer != 0 && msg->pub.tag != HIVE_TAG_TIMEOUT)
    hive__timer_cancel(h, timer);
  return true;
}

void hive__request_note_message_owner(hive_t *h, hive__actor_t *a) {
  hive__requests_t *rq = hive__life(a)->requests;
  if (rq != NULL && rq->recv_timer != 0) {
    hive__timer_cancel(h, rq->recv_timer);
    rq->recv_timer = 0;
    rq->recv_seq++; /* a timeout already on its way is now stale */
  }
}

void hive__request_end_owner(hive_t *h, hive__actor_t *a) {
  hive__life_t *life = hive__life(a);
  hive__requests_t *rq = life->requests;
  if (rq == NULL)
    return;
  if (rq->owed != NULL) {
    ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
    ck_ht_entry_t *entry;
    while (ck_ht_next(rq->owed, &it, &entry))
      request_answer(h, life->self, (hive_pid_t)ck_ht_entry_value_direct(entry),
                     (uint64_t)ck_ht_entry_key_direct(entry), HIVE_TAG_NOPROC, NULL, 0);
  }
  hive__reftab_destroy(rq->owed);
  hive__reftab_destroy(rq->pending);
  free(rq);
  life->requests = NULL;
}

int hive_receive_timeout(hive_ctx_t *ctx, int timeout_ms) {
  if (ctx == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(ctx->node);
  hive_t *h = ctx->node;
  hive__actor_t *a = ctx->actor;
  hive__request_note_message_owner(h, a); /* disarm what was armed */
  if (timeout_ms < 0)
    return HIVE_OK;
  hive__requests_t *rq = requests_of(a);
  if (rq == NULL)
    return HIVE_ENOMEM;
  rq->recv_seq++;
  return hive__timer_arm(h, hive__life(a)->self, HIVE_TAG_TIMEOUT, rq->recv_seq,
                         HIVE__MSG_RECV_TIMEOUT, NULL, 0, (uint64_t)timeout_ms * 1000000u, 0,
                         &rq->recv_timer);
}
