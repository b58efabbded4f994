/*
 * links.c - links, monitors, trapping exits: Erlang's failure signals.
 *
 * Everything here travels as signals on the system lane, so it overtakes
 * user messages and is applied only by the actor that receives it (the
 * token holder): no locks. An actor keeps three tables, created when first
 * needed: the actors it is linked to, the monitors it holds (ref -> target)
 * and the monitors on it (ref -> watcher).
 *
 * Rules, as in Erlang:
 *   - An exit signal with reason normal is ignored, unless the receiver
 *     traps exits (then it is a message) or sent it to itself.
 *   - Any other reason ends the receiver, unless it traps exits.
 *   - hive_kill cannot be trapped.
 *   - A signal that comes through a link the receiver has since removed is
 *     ignored: after hive_unlink returns, the link has no effect.
 *   - DOWN arrives once per monitor, as a signal that overtakes user
 *     messages; a DOWN for a monitor removed by hive_demonitor is dropped
 *     before any handler sees it.
 *   - A LINK or MONITOR signal that reaches an actor already gone is
 *     answered with noproc.
 */
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "util/reftab.h"

typedef struct hive__links {
  ck_ht_t *linked;     /* pid -> its exit signal, made ahead (link_put) */
  ck_ht_t *monitoring; /* ref -> target pid: monitors this actor holds */
  ck_ht_t *watchers;   /* ref -> its DOWN, made ahead (watcher_put): monitors on it */
} hive__links_t;

/* Payload of an exit signal; the reason text, NUL-terminated, may follow. */
typedef struct {
  int32_t kind;
  int32_t code;
  uint32_t flags;
} exit_signal_t;

/* Payload of HIVE_TAG_EXIT and HIVE_TAG_DOWN messages. */
typedef struct {
  hive_pid_t pid;
  int32_t kind;
  int32_t code;
} exit_info_t;

static hive__links_t *links_of(hive__actor_t *a) {
  hive__life_t *life = hive__life(a);
  if (life->links == NULL)
    life->links = calloc(1, sizeof(hive__links_t));
  return life->links;
}

static ck_ht_t *table(ck_ht_t **slot) {
  if (*slot == NULL)
    *slot = hive__reftab_new();
  return *slot;
}

static void stat_set(_Atomic uint64_t *counter, ck_ht_t *t) {
  atomic_store_explicit(counter, hive__reftab_count(t), memory_order_relaxed);
}

/* ---- sending signals and messages ---------------------------------------- */

static hive__msg_t *signal_new(int signal, hive_pid_t from, hive_pid_t to, uint64_t ref,
                               size_t len) {
  hive__msg_t *msg = hive__msg_make(to, 0, from, ref, 0, NULL, len);
  if (msg != NULL)
    msg->signal = signal;
  return msg;
}

static int signal_send(hive_t *h, hive__msg_t *msg);

/* An exit signal from `from` to `to` with reason (its text copied), not
 * yet sent; NULL when out of memory. */
static hive__msg_t *exit_signal_new(hive_pid_t from, hive_pid_t to, const hive_reason_t *reason,
                                    uint32_t flags) {
  size_t text_len = reason->text != NULL ? strlen(reason->text) + 1 : 0;
  hive__msg_t *msg = signal_new(HIVE__SIG_EXIT, from, to, 0, sizeof(exit_signal_t) + text_len);
  if (msg == NULL)
    return NULL;
  exit_signal_t sig = {.kind = reason->kind, .code = reason->code, .flags = flags};
  memcpy(msg + 1, &sig, sizeof(sig));
  if (text_len > 0)
    memcpy((char *)(msg + 1) + sizeof(sig), reason->text, text_len);
  msg->pub.tag = HIVE_TAG_EXIT;
  return msg;
}

/* Links and monitors on an actor are kept with the signal its end will
 * send through them (an exit signal, a DOWN), made when they are: so an
 * actor that ends when no memory is left still tells every actor linked to
 * it or watching it (its supervisor first of all). The reason is filled in
 * at the end; its text goes only in a signal made then. */

/* Puts key -> reserve in t; false, with reserve freed, if reserve is NULL,
 * key is there already, or there is no memory. */
static bool reserve_put(ck_ht_t *t, uint64_t key, hive__msg_t *reserve) {
  if (reserve != NULL && hive__reftab_put(t, key, (uint64_t)(uintptr_t)reserve))
    return true;
  if (reserve != NULL)
    hive__msg_free(reserve);
  return false;
}

/* Removes key from t, freeing its reserve; false if it was not there. */
static bool reserve_take(ck_ht_t *t, uint64_t key) {
  uint64_t reserve;
  if (!hive__reftab_take(t, key, &reserve))
    return false;
  hive__msg_free((hive__msg_t *)(uintptr_t)reserve);
  return true;
}

static bool link_put(hive__links_t *l, hive_pid_t self, hive_pid_t other) {
  return reserve_put(l->linked, other,
                     exit_signal_new(self, other, &(hive_reason_t){0}, HIVE__EXIT_FROM_LINK));
}

/* Removes the link to other; false if there was none. */
static bool link_take(hive__links_t *l, hive_pid_t other) {
  return l != NULL && reserve_take(l->linked, other);
}

/* The end's exit signal through a link, with its reason. */
static void link_fire(hive_t *h, hive__msg_t *reserve, const hive_reason_t *r) {
  hive__msg_t *msg = r->text != NULL
                         ? exit_signal_new(reserve->pub.from, reserve->to, r, HIVE__EXIT_FROM_LINK)
                         : NULL;
  if (msg != NULL) {
    hive__msg_free(reserve);
  } else { /* without the text, rather than not at all */
    exit_signal_t sig = {.kind = r->kind, .code = r->code, .flags = HIVE__EXIT_FROM_LINK};
    memcpy(reserve + 1, &sig, sizeof(sig));
    msg = reserve;
  }
  signal_send(h, msg);
}

/* Sends a signal to `to`; HIVE_ENOPROC if it is not alive, HIVE_ENOCONN
 * if it is another node's and that node is not connected, HIVE_ENOMEM if
 * it is another node's and the cluster could not take it. */
static int signal_send(hive_t *h, hive__msg_t *msg) {
  hive__actor_t *target = hive__lookup_live(h, msg->to);
  if (target == NULL) {
    if (hive__pid_remote(h, msg->to))
      return h->route(h, msg);
    hive__msg_free(msg);
    return HIVE_ENOPROC;
  }
  hive__push_system(h, target, msg);
  return HIVE_OK;
}

int hive__signal_local(hive_t *h, int signal, hive_pid_t from, hive_pid_t to, uint64_t ref) {
  hive__msg_t *msg = signal_new(signal, from, to, ref, 0);
  if (msg == NULL)
    return HIVE_ENOMEM;
  hive__actor_t *target = hive__lookup_live(h, to);
  if (target == NULL) {
    hive__signal_answer_dead(h, to, msg);
    hive__msg_free(msg);
    return HIVE_ENOPROC;
  }
  hive__push_system(h, target, msg);
  return HIVE_OK;
}

void hive__exit_signal_read(const hive__msg_t *msg, hive_reason_t *reason, uint32_t *flags) {
  exit_signal_t sig = {0};
  if (msg->pub.len >= sizeof(sig))
    memcpy(&sig, msg->pub.data, sizeof(sig));
  const char *text = msg->pub.len > sizeof(sig) ? (const char *)msg->pub.data + sizeof(sig) : NULL;
  *reason = (hive_reason_t){.kind = sig.kind, .code = sig.code, .text = text};
  *flags = sig.flags;
}

int hive__send_exit(hive_t *h, hive_pid_t from, hive_pid_t to, const hive_reason_t *reason,
                    uint32_t flags) {
  hive__msg_t *msg = exit_signal_new(from, to, reason, flags);
  return msg != NULL ? signal_send(h, msg) : HIVE_ENOMEM;
}

hive__msg_t *hive__kill_reserve(void) {
  return exit_signal_new(0, 0, &(hive_reason_t){.kind = HIVE_REASON_KILL}, HIVE__EXIT_UNTRAPPABLE);
}

int hive__send_reserved(hive_t *h, hive__msg_t *reserve, hive_pid_t from, hive_pid_t to) {
  reserve->pub.from = from;
  reserve->to = to;
  return signal_send(h, reserve);
}

/* A HIVE_TAG_EXIT or HIVE_TAG_DOWN message about pid ending with reason. */
static hive__msg_t *info_message(uint32_t tag, hive_pid_t pid, hive_pid_t to, uint64_t ref,
                                 int kind, int code, const char *text, uint32_t flags) {
  size_t text_len = text != NULL ? strlen(text) + 1 : 0;
  hive__msg_t *msg = hive__msg_make(to, tag, pid, ref, flags, NULL, sizeof(exit_info_t) + text_len);
  if (msg == NULL)
    return NULL;
  exit_info_t info = {.pid = pid, .kind = kind, .code = code};
  memcpy(msg + 1, &info, sizeof(info));
  if (text_len > 0)
    memcpy((char *)(msg + 1) + sizeof(info), text, text_len);
  return msg;
}

/* A DOWN about pid for watcher's monitor ref, not yet sent; NULL when out
 * of memory. */
static hive__msg_t *down_new(hive_pid_t pid, hive_pid_t watcher, uint64_t ref, int kind, int code,
                             const char *text) {
  hive__msg_t *msg = info_message(HIVE_TAG_DOWN, pid, watcher, ref, kind, code, text, 0);
  if (msg != NULL)
    msg->signal = HIVE__SIG_DOWN;
  return msg;
}

/* Sends a DOWN made by down_new: a system signal, so it overtakes user
 * messages and ignores bounds. */
static void down_send(hive_t *h, hive__msg_t *msg) {
  hive__actor_t *w = hive__lookup_live(h, msg->to);
  if (w != NULL)
    hive__push_system(h, w, msg);
  else if (hive__pid_remote(h, msg->to))
    h->route(h, msg); /* another node's watcher */
  else
    hive__msg_free(msg); /* the watcher is gone too: nobody to tell */
}

/* Tells watcher that the monitor ref on pid fired with this reason. */
static void send_down(hive_t *h, hive_pid_t pid, hive_pid_t watcher, uint64_t ref, int kind,
                      int code, const char *text) {
  hive__msg_t *msg = down_new(pid, watcher, ref, kind, code, text);
  if (msg != NULL)
    down_send(h, msg);
}

/* A monitor on this actor, kept with its DOWN (reserve_put, above). */
static bool watcher_put(hive__links_t *l, hive_pid_t self, hive_pid_t watcher, uint64_t ref) {
  return reserve_put(l->watchers, ref, down_new(self, watcher, ref, 0, 0, NULL));
}

static bool watcher_take(hive__links_t *l, uint64_t ref) {
  return l != NULL && reserve_take(l->watchers, ref);
}

/* The end's DOWN for one monitor, with its reason. */
static void watcher_fire(hive_t *h, hive__msg_t *reserve, const hive_reason_t *r) {
  hive__msg_t *down = r->text != NULL ? down_new(reserve->pub.from, reserve->to, reserve->pub.ref,
                                                 r->kind, r->code, r->text)
                                      : NULL;
  if (down != NULL) {
    hive__msg_free(reserve);
  } else { /* without the text, rather than not at all */
    exit_info_t info = {.pid = reserve->pub.from, .kind = r->kind, .code = r->code};
    memcpy(reserve + 1, &info, sizeof(info));
    down = reserve;
  }
  down_send(h, down);
}

void hive__send_down(hive_t *h, hive_pid_t pid, hive_pid_t watcher, uint64_t ref,
                     const hive_reason_t *reason) {
  send_down(h, pid, watcher, ref, reason->kind, reason->code, reason->text);
}

int hive_exit_info(const hive_msg_t *msg, hive_pid_t *pid, hive_reason_t *reason) {
  if (msg == NULL || (msg->tag != HIVE_TAG_EXIT && msg->tag != HIVE_TAG_DOWN) ||
      msg->len < sizeof(exit_info_t))
    return HIVE_EINVAL;
  exit_info_t info;
  memcpy(&info, msg->data, sizeof(info));
  if (pid != NULL)
    *pid = info.pid;
  if (reason != NULL) {
    const char *text = (const char *)msg->data + sizeof(info);
    size_t text_len = msg->len - sizeof(info);
    *reason = (hive_reason_t){.kind = info.kind,
                              .code = info.code,
                              .text = text_len > 0 && text[text_len - 1] == '\0' ? text : NULL};
  }
  return HIVE_OK;
}

/* ---- the calls ------------------------------------------------------------- */

int hive_link(hive_ctx_t *ctx, hive_pid_t other) {
  if (ctx == NULL || other == 0)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(ctx->node);
  hive__actor_t *a = ctx->actor;
  hive__life_t *life = hive__life(a);
  hive_t *h = ctx->node;
  if (other == life->self)
    return HIVE_OK;
  hive__links_t *l = links_of(a);
  if (l == NULL || table(&l->linked) == NULL)
    return HIVE_ENOMEM;
  if (hive__reftab_has(l->linked, other))
    return HIVE_OK;
  if (!link_put(l, life->self, other))
    return HIVE_ENOMEM;
  stat_set(&life->nlinks, l->linked);
  hive__msg_t *msg = signal_new(HIVE__SIG_LINK, life->self, other, 0, 0);
  int sent = msg != NULL ? signal_send(h, msg) : HIVE_ENOMEM;
  if (sent == HIVE_OK)
    return HIVE_OK;
  link_take(l, other); /* not linked after all */
  stat_set(&life->nlinks, l->linked);
  if (sent == HIVE_ENOMEM) /* here, or another node's record of it */
    return HIVE_ENOMEM;
  /* Linking to the dead (or to a node not connected): an exit signal
   * noproc (noconnection), as if it had just died. */
  hive__send_exit(h, other, life->self,
                  &(hive_reason_t){.kind = sent == HIVE_ENOCONN ? HIVE_REASON_NOCONNECTION
                                                                : HIVE_REASON_NOPROC},
                  0);
  return HIVE_OK;
}

int hive_unlink(hive_ctx_t *ctx, hive_pid_t other) {
  if (ctx == NULL || other == 0)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(ctx->node);
  hive__actor_t *a = ctx->actor;
  hive__life_t *life = hive__life(a);
  hive__links_t *l = life->links;
  if (l == NULL || !link_take(l, other))
    return HIVE_OK; /* not linked: nothing to undo */
  stat_set(&life->nlinks, l->linked);
  hive__msg_t *msg = signal_new(HIVE__SIG_UNLINK, life->self, other, 0, 0);
  if (msg != NULL)
    signal_send(ctx->node, msg);
  return HIVE_OK;
}

int hive_monitor(hive_ctx_t *ctx, hive_pid_t other, uint64_t *ref) {
  if (ctx == NULL || other == 0 || ref == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(ctx->node);
  hive__actor_t *a = ctx->actor;
  hive__life_t *life = hive__life(a);
  hive_t *h = ctx->node;
  hive__links_t *l = links_of(a);
  if (l == NULL || table(&l->monitoring) == NULL)
    return HIVE_ENOMEM;
  uint64_t r = atomic_fetch_add_explicit(&h->next_ref, 1, memory_order_relaxed) + 1;
  if (!hive__reftab_put(l->monitoring, r, other))
    return HIVE_ENOMEM;
  hive__msg_t *msg = signal_new(HIVE__SIG_MONITOR, life->self, other, r, 0);
  int sent = msg != NULL ? signal_send(h, msg) : HIVE_ENOMEM;
  if (sent == HIVE_ENOMEM) { /* here, or another node's record of it */
    hive__reftab_take(l->monitoring, r, NULL);
    return HIVE_ENOMEM;
  }
  if (sent == HIVE_ENOPROC || sent == HIVE_ENOCONN) /* to ourselves */
    send_down(h, other, life->self, r,
              sent == HIVE_ENOCONN ? HIVE_REASON_NOCONNECTION : HIVE_REASON_NOPROC, 0, NULL);
  *ref = r;
  return HIVE_OK;
}

int hive_demonitor(hive_ctx_t *ctx, uint64_t ref) {
  if (ctx == NULL || ref == 0)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(ctx->node);
  hive__actor_t *a = ctx->actor;
  hive__life_t *life = hive__life(a);
  uint64_t target;
  if (life->links == NULL || !hive__reftab_take(life->links->monitoring, ref, &target))
    return HIVE_ENOTFOUND;
  hive__msg_t *msg = signal_new(HIVE__SIG_DEMONITOR, life->self, target, ref, 0);
  if (msg != NULL)
    signal_send(ctx->node, msg); /* lets the target forget it; the DOWN filter does the rest */
  return HIVE_OK;
}

int hive_exit_self(hive_ctx_t *ctx, const hive_reason_t *reason) {
  if (ctx == NULL || reason == NULL || reason->kind < HIVE_REASON_NORMAL ||
      reason->kind > HIVE_REASON_NOCONNECTION)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(ctx->node);
  hive__actor_decide_exit(ctx->actor, reason->kind, reason->code, reason->text);
  return HIVE_OK;
}

int hive_trap_exit(hive_ctx_t *ctx, bool on) {
  if (ctx == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(ctx->node);
  hive__life(ctx->actor)->trap_exit = on;
  return HIVE_OK;
}

/* ---- applying signals (token holder) -------------------------------------- */

/* Records LINK/UNLINK/MONITOR/DEMONITOR; true if msg was one of them. */
static bool signal_bookkeep(hive__actor_t *a, const hive__msg_t *msg) {
  hive__life_t *life = hive__life(a);
  hive__links_t *l;
  switch (msg->signal) {
  case HIVE__SIG_LINK:
    if ((l = links_of(a)) != NULL && table(&l->linked) != NULL &&
        !hive__reftab_has(l->linked, msg->pub.from)) {
      link_put(l, life->self, msg->pub.from);
      stat_set(&life->nlinks, l->linked);
    }
    return true;
  case HIVE__SIG_UNLINK:
    if ((l = life->links) != NULL && link_take(l, msg->pub.from))
      stat_set(&life->nlinks, l->linked);
    return true;
  case HIVE__SIG_MONITOR:
    if ((l = links_of(a)) != NULL && table(&l->watchers) != NULL) {
      watcher_put(l, life->self, msg->pub.from, msg->pub.ref);
      stat_set(&life->nmonitors, l->watchers);
    }
    return true;
  case HIVE__SIG_DEMONITOR:
    if ((l = life->links) != NULL && watcher_take(l, msg->pub.ref))
      stat_set(&life->nmonitors, l->watchers);
    return true;
  default:
    return false;
  }
}

void hive__signal_bookkeep_owner(hive__actor_t *a, const hive__msg_t *msg) {
  signal_bookkeep(a, msg);
}

hive__msg_t *hive__signal_apply_owner(hive__actor_t *a, hive__msg_t *msg) {
  hive__life_t *life = hive__life(a);
  if (msg->signal == HIVE__SIG_DOWN) {
    /* Only for a monitor still held: none after hive_demonitor returned. */
    if (life->links == NULL || !hive__reftab_take(life->links->monitoring, msg->pub.ref, NULL))
      return NULL;
    /* The signal itself becomes the message (it holds the DOWN already):
     * no allocation, so no DOWN is lost for memory here. */
    msg->signal = 0;
    msg->flags = (msg->flags & ~HIVE__MSG_SYSTEM) | HIVE__MSG_NOBOUND;
    return msg;
  }
  if (signal_bookkeep(a, msg) || msg->signal != HIVE__SIG_EXIT)
    return NULL;
  exit_signal_t sig;
  memcpy(&sig, msg->pub.data, sizeof(sig));
  const char *text = msg->pub.len > sizeof(sig) ? (const char *)msg->pub.data + sizeof(sig) : NULL;
  hive_pid_t from = msg->pub.from;
  if (sig.flags & HIVE__EXIT_UNTRAPPABLE) {
    hive__actor_decide_exit(a, HIVE_REASON_KILL, 0, NULL);
    return NULL;
  }
  if (sig.flags & HIVE__EXIT_FROM_LINK) {
    /* Only through a link we still have; it is gone now either way. */
    if (!link_take(life->links, from))
      return NULL;
    stat_set(&life->nlinks, life->links->linked);
  }
  if (life->trap_exit) { /* a message, in the order the signals came */
    hive__msg_t *exit = info_message(HIVE_TAG_EXIT, from, life->self, 0, sig.kind, sig.code, text,
                                     HIVE__MSG_NOBOUND);
    if (exit == NULL) /* it cannot be told: it ends, rather than never learn of it */
      hive__actor_decide_exit(a, HIVE_REASON_ERROR, HIVE_ENOMEM,
                              "out of memory for an exit signal it traps");
    return exit;
  }
  if (sig.kind != HIVE_REASON_NORMAL || from == life->self)
    hive__actor_decide_exit(a, sig.kind, sig.code, text);
  return NULL;
}

void hive__signal_answer_dead(hive_t *h, hive_pid_t dead, const hive__msg_t *msg) {
  if (msg->signal == HIVE__SIG_LINK)
    hive__send_exit(h, dead, msg->pub.from, &(hive_reason_t){.kind = HIVE_REASON_NOPROC},
                    HIVE__EXIT_FROM_LINK);
  else if (msg->signal == HIVE__SIG_MONITOR)
    send_down(h, dead, msg->pub.from, msg->pub.ref, HIVE_REASON_NOPROC, 0, NULL);
}

void hive__links_end_owner(hive_t *h, hive__actor_t *a) {
  hive__life_t *life = hive__life(a);
  hive__links_t *l = life->links;
  if (l == NULL)
    return;
  const hive_reason_t *r = &life->exit_reason;
  ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
  ck_ht_entry_t *entry;
  if (l->linked != NULL)
    while (ck_ht_next(l->linked, &it, &entry))
      link_fire(h, (hive__msg_t *)(uintptr_t)ck_ht_entry_value_direct(entry), r);
  it = (ck_ht_iterator_t)CK_HT_ITERATOR_INITIALIZER;
  if (l->watchers != NULL)
    while (ck_ht_next(l->watchers, &it, &entry))
      watcher_fire(h, (hive__msg_t *)(uintptr_t)ck_ht_entry_value_direct(entry), r);
  hive__reftab_destroy(l->linked);
  hive__reftab_destroy(l->monitoring);
  hive__reftab_destroy(l->watchers);
  free(l);
  life->links = NULL;
  atomic_store_explicit(&life->nlinks, 0, memory_order_relaxed);
  atomic_store_explicit(&life->nmonitors, 0, memory_order_relaxed);
}

/* spawn_link: both sides at once; the caller holds both tokens. */
int hive__link_both_owner(hive__actor_t *parent, hive__actor_t *child) {
  hive__life_t *p = hive__life(parent);
  hive__life_t *c = hive__life(child);
  hive__links_t *lp = links_of(parent), *lc = links_of(child);
  if (lp == NULL || lc == NULL || table(&lp->linked) == NULL || table(&lc->linked) == NULL)
    return HIVE_ENOMEM;
  if (!link_put(lp, p->self, c->self))
    return HIVE_ENOMEM;
  if (!link_put(lc, c->self, p->self)) {
    link_take(lp, c->self);
    return HIVE_ENOMEM;
  }
  stat_set(&p->nlinks, lp->linked);
  stat_set(&c->nlinks, lc->linked);
  return HIVE_OK;
}

/* Undoes hive__link_both_owner when init failed: no signal is sent. */
void hive__unlink_both_owner(hive__actor_t *parent, hive__actor_t *child) {
  hive__life_t *p = hive__life(parent), *c = hive__life(child);
  if (link_take(p->links, c->self))
    stat_set(&p->nlinks, p->links->linked);
  if (link_take(c->links, p->self))
    stat_set(&c->nlinks, c->links->linked);
}
