/*
 * inbound.c - batches from other nodes, delivered to the actors here.
 *
 * cnats calls hive__cluster_on_data on the data subscription's thread, one
 * batch at a time, in the order the server got them. A batch counts only if
 * its node's incarnation is up here (a batch also brings a new node up, as
 * a heartbeat does), and it is delivered under the peer's in_lock, so a
 * node-down waits for it: nothing from a node is delivered after its DOWN.
 * Each envelope must name an actor of this node and come from an actor of
 * the batch's node and incarnation (or a plain thread there, from 0);
 * anything else is dropped as a dead letter.
 */
#include <string.h>

#include "internal.h"

/* The pid standing for a plain thread of node id (incarnation inc): slot 0
 * with a generation count of 0, which no actor ever has. A request from
 * there carries it as its sender; the reply routed to it completes the
 * thread's hive_ask on that node. */
static hive_pid_t inbound_thread_pid(unsigned id, unsigned inc) {
  return ((hive_pid_t)id << 56) | ((hive_pid_t)inc << 24);
}

static bool inbound_is_thread_pid(hive_pid_t pid) {
  return HIVE_PID_SLOT(pid) == 0 && (HIVE_PID_GEN(pid) & 0xffffffu) == 0;
}

static void inbound_message(cluster_t *c, cluster_peer_t *p, const wire_head_t *head,
                            const wire_env_t *env) {
  hive_t *h = c->h;
  bool answer = env->flags & HIVE__MSG_ANSWER;
  if (answer ? env->tag != HIVE_TAG_REPLY && env->tag != HIVE_TAG_NOPROC
             : env->tag < HIVE_TAG_USER) {
    hive__count_undeliverable(h);
    return;
  }
  if (answer) /* the request is closed: a node-down no longer answers it */
    hive__watch_answer_in(c, p, inbound_is_thread_pid(env->to) ? 0 : env->to, env);
  if (inbound_is_thread_pid(env->to)) { /* a plain thread has no mailbox: answers only */
    if (answer && HIVE_PID_INCARNATION(env->to) == atomic_load(&c->inc))
      hive__ask_answer(h, env->ref, env->tag == HIVE_TAG_REPLY, env->data, env->len);
    else
      hive__count_undeliverable(h);
    return;
  }
  hive_pid_t from = env->from != 0 ? env->from : inbound_thread_pid(head->src, head->src_inc);
  hive__msg_t *msg =
      hive__msg_make(env->to, env->tag, from, env->ref,
                     env->flags & (HIVE__MSG_ANSWER | HIVE__MSG_NOBOUND), env->data, env->len);
  if (msg != NULL)
    hive__deliver(h, msg); /* a dead actor's: counted there */
  else
    hive__count_undeliverable(h); /* no memory for it: a dead letter, not lost unseen */
}

static void inbound_signal(cluster_t *c, cluster_peer_t *p, const wire_env_t *env) {
  hive_t *h = c->h;
  char text[WIRE_TEXT_MAX + 1];
  hive_reason_t reason = env->reason;
  if (env->text != NULL) {
    memcpy(text, env->text, env->text_len);
    text[env->text_len] = '\0';
    reason.text = text;
  }
  hive__watch_in(c, p, env);
  switch (env->signal) {
  case HIVE__SIG_EXIT:
    if (env->eflags & HIVE__EXIT_UNTRAPPABLE)
      hive_kill(h, env->to); /* as a kill made here: a process actor's child dies at once */
    else
      hive__send_exit(h, env->from, env->to, &reason, env->eflags & HIVE__EXIT_FROM_LINK);
    break;
  case HIVE__SIG_LINK:
  case HIVE__SIG_UNLINK:
  case HIVE__SIG_MONITOR:
  case HIVE__SIG_DEMONITOR:
    hive__signal_local(h, env->signal, env->from, env->to, env->ref);
    break;
  case HIVE__SIG_DOWN:
    hive__send_down(h, env->from, env->to, env->ref, &reason);
    break;
  default:
    break;
  }
}

void hive__cluster_on_data(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg) {
  (void)nc;
  (void)sub;
  cluster_t *c = arg;
  const char *data = natsMsg_GetData(m);
  size_t len = (size_t)natsMsg_GetDataLength(m);
  wire_reader_t r;
  wire_head_t head;
  bool ok = hive__wire_reader_open(&r, data, len, &head);
  if (!ok || head.src == c->id || head.dst_inc != atomic_load(&c->inc) ||
      !hive__cluster_peer_seen(c, head.src, head.src_inc, NULL)) {
    if (!ok)
      atomic_fetch_add_explicit(&c->bad_batches, 1, memory_order_relaxed);
    hive__wire_reader_close(&r);
    natsMsg_Destroy(m);
    return;
  }
  cluster_peer_t *p = &c->peers[head.src];
  pthread_mutex_lock(&p->in_lock);
  if (atomic_load(&p->state) == (PEER_UP | head.src_inc)) {
    atomic_fetch_add_explicit(&p->bytes_in, len, memory_order_relaxed);
    wire_env_t env;
    int got;
    while ((got = hive__wire_read_env(&r, &env)) == 1) {
      atomic_fetch_add_explicit(&p->msgs_in, 1, memory_order_relaxed);
      bool ours = HIVE_PID_NODE(env.to) == c->id;
      bool theirs = env.from == 0 || (HIVE_PID_NODE(env.from) == head.src &&
                                      HIVE_PID_INCARNATION(env.from) == head.src_inc);
      if (!ours || !theirs)
        hive__count_undeliverable(c->h);
      else if (env.kind == WIRE_MESSAGE)
        inbound_message(c, p, &head, &env);
      else
        inbound_signal(c, p, &env);
    }
    if (got < 0)
      atomic_fetch_add_explicit(&c->bad_batches, 1, memory_order_relaxed);
  }
  pthread_mutex_unlock(&p->in_lock);
  hive__wire_reader_close(&r);
  natsMsg_Destroy(m);
}
