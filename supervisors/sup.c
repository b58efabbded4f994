/*
 * sup.c - the supervisor actor, with Erlang/OTP's rules (include/hive/sup.h);
 * its specs are in spec.c and the calls that reach it in calls.c.
 *
 * A supervisor is an actor that traps exits and is linked to each child
 * (HIVE_SPAWN_LINK), so a child's end arrives as a HIVE_TAG_EXIT message.
 * It never blocks a worker: stopping children is a plan carried out one
 * message at a time. A plan is a queue of children to stop, one after
 * another in the order given (each sent shutdown, then killed when its
 * shutdown time runs out), and what to do once they are all gone: restart
 * a set of children in start order, answer a caller, or end the
 * supervisor. Calls that arrive while a plan runs wait until it is done.
 *
 * Starting is synchronous, as in OTP: init starts the children in order.
 * If one fails, the children already started are ended at once in reverse
 * order on the calling thread (they are idle, so their mailbox token can be
 * taken: hive__actor_stop_now), and the supervisor fails with that error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "util/reftab.h"

/* ---- the supervisor's state ------------------------------------------------ */

/* What a plan does once its children are stopped. */
enum { THEN_NOTHING, THEN_RESTART, THEN_EXIT, THEN_REPLY };

typedef struct {
  hive_msg_t request; /* from and ref: enough to reply later */
  sup_call_t call;
} sup_deferred_t;

/* A child that ended by itself while a plan ran: handled after it. */
typedef struct {
  struct sup_child *child;
  hive_reason_t reason; /* kind and code; no text */
} sup_failure_t;

typedef struct {
  hive_t *h;
  hive_pid_t self;
  hive_pid_t parent;     /* its spawner; 0 for a supervisor started by a plain thread */
  bool retry_sent;       /* a SUP_TAG_RETRY is on its way */
  uint64_t retries_sent; /* SUP_TAG_RETRY messages sent; the payload is their number */
  int strategy;
  unsigned intensity, period_s;
  int auto_shutdown;
  sup_child_t **children; /* start order */
  size_t n, cap;
  sup_child_t *template; /* simple_one_for_one */
  ck_ht_t *by_pid;       /* running child pid -> sup_child_t* */
  uint64_t *restart_log; /* times of the last restarts, oldest first */
  size_t nlog;
  /* The plan in progress. */
  bool busy;
  hive_pid_t *stop_queue; /* pids to stop, in this order */
  size_t nstop, stop_pos, stop_cap;
  int then;
  hive_reason_t exit_reason; /* THEN_EXIT */
  hive_msg_t reply_to;       /* THEN_REPLY: the terminate_child request */
  /* Work that waits for the plan: children that ended meanwhile, calls. */
  sup_failure_t *failed;
  size_t nfailed, failed_cap;
  sup_deferred_t *deferred;
  size_t ndeferred, deferred_cap;
} sup_t;

static sup_child_t *sup_find_pid(sup_t *s, hive_pid_t pid) {
  uint64_t v;
  return hive__reftab_get(s->by_pid, pid, &v) ? (sup_child_t *)(uintptr_t)v : NULL;
}

static size_t sup_index(sup_t *s, const sup_child_t *c) {
  for (size_t i = 0; i < s->n; i++)
    if (s->children[i] == c)
      return i;
  return s->n;
}

static sup_child_t *sup_find_id(sup_t *s, const char *id) {
  for (size_t i = 0; i < s->n; i++)
    if (s->children[i]->id != NULL && strcmp(s->children[i]->id, id) == 0)
      return s->children[i];
  return NULL;
}

/* items (n used of *cap) with room for one more: the same array, a bigger
 * one, or NULL when out of memory (items is then still valid). */
static void *sup_room(void *items, size_t n, size_t *cap, size_t size) {
  if (n < *cap)
    return items;
  size_t want = *cap ? 2 * *cap : 8;
  void *grown = realloc(items, want * size);
  if (grown != NULL)
    *cap = want;
  return grown;
}

static bool sup_append(sup_t *s, sup_child_t *c) {
  sup_child_t **children = sup_room(s->children, s->n, &s->cap, sizeof(*children));
  if (children == NULL)
    return false;
  s->children = children;
  s->children[s->n++] = c;
  return true;
}

static void sup_remove(sup_t *s, sup_child_t *c) {
  size_t i = sup_index(s, c);
  if (i < s->n) {
    memmove(&s->children[i], &s->children[i + 1], (s->n - i - 1) * sizeof(*s->children));
    s->n--;
  }
  hive__sup_child_free(c);
}

static const char *sup_child_name(const sup_child_t *c) {
  return c->id != NULL ? c->id : "(dynamic)";
}

/* Kills c now, with the kill made when it started (its next start makes
 * another): no allocation, so it cannot fail for memory. */
static void sup_kill_child(sup_t *s, sup_child_t *c) {
  if (c->kill_reserve == NULL) { /* spent on this incarnation already */
    hive_kill(s->h, c->pid);
    return;
  }
  hive__kill_reserved(s->h, c->kill_reserve, c->pid);
  c->kill_reserve = NULL;
}

/* Starts c, linked to the supervisor. HIVE_STOP from init: not started. */
static int sup_start(sup_t *s, sup_child_t *c) {
  if ((c->kill_reserve == NULL && (c->kill_reserve = hive__kill_reserve()) == NULL) ||
      (s->by_pid == NULL && (s->by_pid = hive__reftab_new()) == NULL))
    return HIVE_ENOMEM; /* before the child runs: nothing to undo */
  hive_pid_t pid = 0;
  hive__spawn_extra_t extra = {.restarts = c->restarts,
                               .supervisor = c->behaviour == hive_sup_behaviour()};
  int rc = hive__spawn(s->h, c->behaviour, c->arg, c->arg_len, &c->opts, &extra, &pid);
  if (rc != HIVE_OK)
    return rc;
  c->pid = pid;
  c->retry_rc = 0;
  if (!hive__reftab_put(s->by_pid, pid, (uint64_t)(uintptr_t)c)) {
    sup_kill_child(s, c); /* one it could not keep track of: its end is a stranger's */
    c->pid = 0;
    return HIVE_ENOMEM;
  }
  return HIVE_OK;
}

/* The child's end has arrived: it no longer runs. */
static void sup_forget(sup_t *s, sup_child_t *c) {
  if (c->pid != 0 && s->by_pid != NULL)
    hive__reftab_take(s->by_pid, c->pid, NULL);
  c->pid = 0;
  c->stopping = false;
  if (c->kill_timer != 0)
    hive_timer_cancel(s->h, c->kill_timer);
  c->kill_timer = 0;
}

/* Restart intensity: true if one more restart now stays within it. */
static bool sup_restart_allowed(sup_t *s) {
  uint64_t now = hive__now_ns(), period = (uint64_t)s->period_s * 1000000000u;
  size_t keep = 0;
  for (size_t i = 0; i < s->nlog; i++) /* drop restarts older than the period */
    if (now - s->restart_log[i] < period)
      s->restart_log[keep++] = s->restart_log[i];
  s->nlog = keep;
  if (s->nlog >= s->intensity)
    return false; /* this one would be more than intensity in the period */
  s->restart_log[s->nlog++] = now;
  return true;
}

static void sup_log_child(sup_t *s, int level, const sup_child_t *c, hive_pid_t pid,
                          const hive_reason_t *reason, const char *what) {
  char sup[HIVE_PID_STRLEN], child[HIVE_PID_STRLEN], why[160];
  hive_pid_format(s->self, sup, sizeof(sup));
  hive_pid_format(pid, child, sizeof(child));
  hive_reason_format(reason, why, sizeof(why));
  if (pid == 0) /* a retry */
    hive_log(s->h, level, "supervisor %s: child %s failed to restart: %s; %s (restarts %llu)", sup,
             sup_child_name(c), why, what, (unsigned long long)c->restarts);
  else
    hive_log(s->h, level, "supervisor %s: child %s %s ended: %s; %s (restarts %llu)", sup,
             sup_child_name(c), child, why, what, (unsigned long long)c->restarts);
}

/* An exit signal from an actor that is neither the parent nor a child. */
static void sup_log_stranger(sup_t *s, hive_pid_t pid, const hive_reason_t *reason) {
  char sup[HIVE_PID_STRLEN], from[HIVE_PID_STRLEN], why[160];
  hive_pid_format(s->self, sup, sizeof(sup));
  hive_pid_format(pid, from, sizeof(from));
  hive_reason_format(reason, why, sizeof(why));
  hive_log(s->h, HIVE_LOG_WARNING,
           "supervisor %s: exit signal from %s, neither its parent nor a child, ignored: %s", sup,
           from, why);
}

/* ---- plans ---------------------------------------------------------------- */

static void sup_step(sup_t *s, hive_ctx_t *ctx);

static bool sup_queue_stop(sup_t *s, hive_pid_t pid) {
  hive_pid_t *queue = sup_room(s->stop_queue, s->nstop, &s->stop_cap, sizeof(*queue));
  if (queue == NULL)
    return false;
  s->stop_queue = queue;
  s->stop_queue[s->nstop++] = pid;
  return true;
}

/* Begins a plan: stop the running children from index `from` on (to the
 * end) in reverse order, or just `only` if not NULL. */
static void sup_plan(sup_t *s, hive_ctx_t *ctx, size_t from, sup_child_t *only, int then) {
  s->busy = true;
  s->nstop = s->stop_pos = 0;
  s->then = then;
  if (only != NULL) {
    sup_queue_stop(s, only->pid);
  } else {
    for (size_t i = s->n; i > from; i--)
      if (s->children[i - 1]->pid != 0)
        sup_queue_stop(s, s->children[i - 1]->pid);
  }
  sup_step(s, ctx);
}

/* The supervisor ends: all children stopped, last first, then it exits. */
static void sup_shutdown(sup_t *s, hive_ctx_t *ctx, const hive_reason_t *reason) {
  s->exit_reason = (hive_reason_t){.kind = reason->kind, .code = reason->code};
  for (size_t i = 0; i < s->n; i++) {
    s->children[i]->replan = false;
    s->children[i]->retry_rc = 0;
  }
  sup_plan(s, ctx, 0, NULL, THEN_EXIT);
}

/* Asks c to stop: shutdown, then a kill when its shutdown time is up.
 * Out of memory for the signal or the timer, it is killed at once: a
 * supervisor must not wait for a child it could not tell to stop. */
static void sup_stop_child(sup_t *s, sup_child_t *c) {
  c->stopping = true;
  if (c->shutdown_ms == HIVE_SHUTDOWN_BRUTAL_KILL ||
      hive_exit(s->h, c->pid, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN}) == HIVE_ENOMEM) {
    sup_kill_child(s, c);
    return;
  }
  if (c->shutdown_ms > 0 &&
      hive_send_after(s->h, s->self, SUP_TAG_KILL, &c->pid, sizeof(c->pid),
                      (unsigned)c->shutdown_ms, &c->kill_timer) == HIVE_ENOMEM)
    sup_kill_child(s, c);
}

static void sup_child_ended(sup_t *s, hive_ctx_t *ctx, sup_child_t *c, const hive_reason_t *reason);
static void sup_restart_failed(sup_t *s, hive_ctx_t *ctx, sup_child_t *c, int rc);
static void sup_do_call(sup_t *s, hive_ctx_t *ctx, const hive_msg_t *request,
                        const sup_call_t *call);

/* Goes on with the plan: stop the next child, or finish. */
static void sup_step(sup_t *s, hive_ctx_t *ctx) {
  while (s->stop_pos < s->nstop) {
    sup_child_t *c = sup_find_pid(s, s->stop_queue[s->stop_pos]);
    if (c == NULL) { /* already gone */
      s->stop_pos++;
      continue;
    }
    if (!c->stopping)
      sup_stop_child(s, c);
    return; /* wait for its end */
  }
  s->busy = false;
  switch (s->then) {
  case THEN_RESTART:
    for (size_t i = 0; i < s->n && !s->busy; i++) {
      sup_child_t *c = s->children[i];
      if (!c->replan)
        continue;
      c->replan = false;
      int rc = sup_start(s, c);
      if (rc != HIVE_OK && rc != HIVE_STOP)
        sup_restart_failed(s, ctx, c, rc);
    }
    break;
  case THEN_EXIT:
    hive_exit_self(ctx, &s->exit_reason);
    return;
  case THEN_REPLY: {
    sup_answer_t answer = {.rc = HIVE_OK};
    hive_reply(ctx, &s->reply_to, &answer, sizeof(answer));
    break;
  }
  }
  /* What waited for the plan, in the order it came. */
  while (!s->busy && s->nfailed > 0) {
    sup_failure_t f = s->failed[0];
    memmove(s->failed, s->failed + 1, --s->nfailed * sizeof(*s->failed));
    sup_child_ended(s, ctx, f.child, &f.reason);
  }
  while (!s->busy && s->ndeferred > 0) {
    sup_deferred_t d = s->deferred[0];
    memmove(s->deferred, s->deferred + 1, --s->ndeferred * sizeof(*s->deferred));
    sup_do_call(s, ctx, &d.request, &d.call);
  }
}

/* A child ended by itself with reason: restart by the rules. */
static void sup_child_ended(sup_t *s, hive_ctx_t *ctx, sup_child_t *c,
                            const hive_reason_t *reason) {
  hive_pid_t pid = c->pid;
  sup_forget(s, c);
  if (s->busy) { /* after the plan in progress */
    if (c->replan)
      return; /* it will be started again by the plan anyway */
    sup_failure_t *failed = sup_room(s->failed, s->nfailed, &s->failed_cap, sizeof(*failed));
    if (failed == NULL)
      return;
    s->failed = failed;
    s->failed[s->nfailed++] =
        (sup_failure_t){.child = c, .reason = {.kind = reason->kind, .code = reason->code}};
    return;
  }
  bool normal = reason->kind == HIVE_REASON_NORMAL || reason->kind == HIVE_REASON_SHUTDOWN;
  bool restart =
      c->restart == HIVE_RESTART_PERMANENT || (c->restart == HIVE_RESTART_TRANSIENT && !normal);
  if (!restart) {
    bool significant = c->significant;
    if (reason->kind != HIVE_REASON_NORMAL)
      sup_log_child(s, HIVE_LOG_INFO, c, pid, reason, "not restarted");
    if (c->restart == HIVE_RESTART_TEMPORARY || s->strategy == HIVE_SUP_SIMPLE_ONE_FOR_ONE)
      sup_remove(s, c);
    if (significant) {
      bool others = false;
      for (size_t i = 0; i < s->n; i++)
        others |= s->children[i]->significant && s->children[i]->pid != 0;
      if (s->auto_shutdown == HIVE_AUTO_SHUTDOWN_ANY_SIGNIFICANT ||
          (s->auto_shutdown == HIVE_AUTO_SHUTDOWN_ALL_SIGNIFICANT && !others))
        sup_shutdown(s, ctx, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN});
    }
    return;
  }
  if (!sup_restart_allowed(s)) {
    char sup[HIVE_PID_STRLEN];
    hive_pid_format(s->self, sup, sizeof(sup));
    sup_log_child(s, HIVE_LOG_ERROR, c, pid, reason, "giving up");
    hive_log(
        s->h, HIVE_LOG_ERROR,
        "supervisor %s: more than %u restarts in %u s; stopping its children and shutting down",
        sup, s->intensity, s->period_s);
    sup_shutdown(s, ctx, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN});
    return;
  }
  c->restarts++;
  hive__node_count_restart(s->h);
  sup_log_child(s, HIVE_LOG_INFO, c, pid, reason, "restarting");
  size_t at = sup_index(s, c);
  switch (s->strategy) {
  case HIVE_SUP_ONE_FOR_ALL:
  case HIVE_SUP_REST_FOR_ONE: {
    size_t from = s->strategy == HIVE_SUP_ONE_FOR_ALL ? 0 : at;
    for (size_t i = from; i < s->n; i++)
      s->children[i]->replan = s->children[i]->pid != 0 || s->children[i] == c;
    sup_plan(s, ctx, from, NULL, THEN_RESTART);
    break;
  }
  default: { /* one_for_one, simple_one_for_one */
    int rc = sup_start(s, c);
    if (rc != HIVE_OK && rc != HIVE_STOP)
      sup_restart_failed(s, ctx, c, rc);
  }
  }
}

/* Sends the next SUP_TAG_RETRY and yields; false if out of memory. */
static bool sup_send_retry(sup_t *s, hive_ctx_t *ctx) {
  uint64_t number = s->retries_sent + 1;
  if (hive_send(s->h, s->self, SUP_TAG_RETRY, &number, sizeof(number)) != HIVE_OK)
    return false;
  s->retries_sent = number;
  s->retry_sent = true;
  hive_yield(ctx);
  return true;
}

/*
 * Restarting c failed with rc. As OTP's try_again_restart, the supervisor
 * tries again only after it has let the node run: it sends itself
 * SUP_TAG_RETRY and yields, so the actors waiting to run, on any worker
 * (above all a dead child's own children, still holding their names), run
 * first. The
 * retry counts toward the restart intensity like any restart, so a child
 * that can never start still makes the supervisor give up.
 */
static void sup_restart_failed(sup_t *s, hive_ctx_t *ctx, sup_child_t *c, int rc) {
  c->retry_rc = rc;
  c->retry_after = s->retries_sent + 1; /* one sent after this failure and a yield */
  if (!s->retry_sent && !sup_send_retry(s, ctx)) {
    c->retry_rc = 0; /* no memory for the message: count it as an exit now */
    sup_child_ended(s, ctx, c, &(hive_reason_t){.kind = HIVE_REASON_ERROR, .code = rc});
  }
}

/* SUP_TAG_RETRY number `number`: the restarts that failed before it was
 * sent are tried again, in start order. Those that failed after it (in the
 * same turn as its arrival) and those that fail now wait for the next. */
static void sup_retry(sup_t *s, hive_ctx_t *ctx, uint64_t number) {
  s->retry_sent = false;
  bool later = false;
  for (size_t i = 0; i < s->n; i++) {
    sup_child_t *c = s->children[i];
    c->retry_now = c->retry_rc != 0 && c->retry_after <= number;
    later |= c->retry_rc != 0 && c->retry_after > number;
  }
  if (later)
    sup_send_retry(s, ctx); /* they too get their yield first */
  for (;;) {                /* from the start each time: a retry may remove children */
    sup_child_t *c = NULL;
    for (size_t i = 0; i < s->n && c == NULL; i++)
      if (s->children[i]->retry_now)
        c = s->children[i];
    if (c == NULL)
      return;
    int rc = c->retry_rc;
    c->retry_now = false;
    c->retry_rc = 0;
    if (rc != 0)
      sup_child_ended(s, ctx, c, &(hive_reason_t){.kind = HIVE_REASON_ERROR, .code = rc});
  }
}

/* ---- calls ------------------------------------------------------------------ */

static void sup_answer(hive_ctx_t *ctx, const hive_msg_t *request, int rc, hive_pid_t pid) {
  sup_answer_t answer = {.rc = rc, .pid = pid};
  hive_reply(ctx, request, &answer, sizeof(answer));
}

static void sup_do_call(sup_t *s, hive_ctx_t *ctx, const hive_msg_t *request,
                        const sup_call_t *call) {
  bool simple = s->strategy == HIVE_SUP_SIMPLE_ONE_FOR_ONE;
  sup_child_t *c = NULL;
  if ((call->op == CALL_TERMINATE || call->op == CALL_RESTART || call->op == CALL_DELETE) &&
      (c = simple && call->op == CALL_TERMINATE ? sup_find_pid(s, call->pid)
                                                : sup_find_id(s, call->id)) == NULL) {
    sup_answer(ctx, request, HIVE_ENOTFOUND, 0);
    return;
  }
  switch (call->op) {
  case CALL_START: {
    if (simple != (call->spec == NULL)) {
      sup_answer(ctx, request, HIVE_EINVAL, 0);
      return;
    }
    int rc = simple ? HIVE_OK : hive__sup_child_check(call->spec, s->strategy, s->auto_shutdown);
    if (rc == HIVE_OK && !simple && sup_find_id(s, call->spec->id) != NULL)
      rc = HIVE_EEXIST;
    if (rc == HIVE_OK) {
      c = simple ? hive__sup_child_clone(s->template, call->arg, call->arg_len)
                 : hive__sup_child_copy(call->spec, NULL, 0);
      rc = c == NULL || !sup_append(s, c) ? HIVE_ENOMEM : sup_start(s, c);
      if (rc != HIVE_OK && c != NULL && (simple || rc != HIVE_STOP))
        sup_remove(s, c); /* a failed start leaves nothing behind */
    }
    sup_answer(ctx, request, rc == HIVE_STOP ? HIVE_OK : rc, rc == HIVE_OK ? c->pid : 0);
    return;
  }
  case CALL_TERMINATE:
    if (c->pid == 0) {
      c->retry_rc = 0; /* a stopped child is not restarted */
      sup_answer(ctx, request, HIVE_OK, 0);
      return;
    }
    s->reply_to = *request;
    sup_plan(s, ctx, 0, c, THEN_REPLY);
    return;
  case CALL_RESTART: {
    int rc = simple ? HIVE_EINVAL : c->pid != 0 ? HIVE_ERUNNING : sup_start(s, c);
    sup_answer(ctx, request, rc == HIVE_STOP ? HIVE_OK : rc, rc == HIVE_OK ? c->pid : 0);
    return;
  }
  case CALL_DELETE: {
    int rc = simple ? HIVE_EINVAL : c->pid != 0 ? HIVE_ERUNNING : HIVE_OK;
    if (rc == HIVE_OK)
      sup_remove(s, c);
    sup_answer(ctx, request, rc, 0);
    return;
  }
  case CALL_COUNT: {
    sup_answer_t answer = {.rc = HIVE_OK};
    answer.counts.specs = simple ? 1 : s->n; /* as OTP: the template is simple's one spec */
    for (size_t i = 0; i < s->n; i++) {
      answer.counts.active += s->children[i]->pid != 0;
      if (s->children[i]->type == HIVE_CHILD_SUPERVISOR)
        answer.counts.supervisors++;
      else
        answer.counts.workers++;
    }
    hive_reply(ctx, request, &answer, sizeof(answer));
    return;
  }
  case CALL_WHICH: {
    size_t len = sizeof(sup_answer_t) + s->n * sizeof(hive_child_info_t);
    sup_answer_t *answer = calloc(1, len);
    if (answer == NULL) {
      sup_answer(ctx, request, HIVE_ENOMEM, 0);
      return;
    }
    answer->count = s->n;
    hive_child_info_t *info = (hive_child_info_t *)(answer + 1);
    for (size_t i = 0; i < s->n; i++) {
      const sup_child_t *k = s->children[i];
      snprintf(info[i].id, sizeof(info[i].id), "%s", k->id != NULL ? k->id : "");
      info[i].pid = k->pid;
      info[i].type = k->type;
      info[i].restart = k->restart;
      info[i].restarts = k->restarts;
    }
    hive_reply(ctx, request, answer, len);
    free(answer);
    return;
  }
  }
}

/* ---- the behaviour ---------------------------------------------------------- */

static void sup_free(sup_t *s) {
  for (size_t i = 0; i < s->n; i++)
    hive__sup_child_free(s->children[i]);
  hive__sup_child_free(s->template);
  free(s->children);
  hive__reftab_destroy(s->by_pid);
  free(s->restart_log);
  free(s->stop_queue);
  free(s->failed);
  free(s->deferred);
}

static int sup_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  sup_t *s = state;
  if (len != sizeof(hive_sup_spec_t))
    return HIVE_EINVAL;
  const hive_sup_spec_t *spec = arg;
  int rc = hive__sup_spec_check(spec);
  if (rc != HIVE_OK)
    return rc;
  s->h = hive_node(ctx);
  s->self = hive_self(ctx);
  s->parent = atomic_load_explicit(&ctx->actor->parent, memory_order_relaxed);
  s->strategy = spec->strategy;
  s->intensity = spec->intensity;
  s->period_s = spec->period_s;
  s->auto_shutdown = spec->auto_shutdown;
  hive_trap_exit(ctx, true);
  if ((s->restart_log = calloc(spec->intensity + 1, sizeof(*s->restart_log))) == NULL)
    return HIVE_ENOMEM;
  if (s->strategy == HIVE_SUP_SIMPLE_ONE_FOR_ONE) {
    s->template = hive__sup_child_copy(&spec->children[0], NULL, 0);
    rc = s->template == NULL ? HIVE_ENOMEM : HIVE_OK;
  }
  for (size_t i = 0;
       rc == HIVE_OK && s->strategy != HIVE_SUP_SIMPLE_ONE_FOR_ONE && i < spec->nchildren; i++) {
    sup_child_t *c = hive__sup_child_copy(&spec->children[i], NULL, 0);
    if (c == NULL || !sup_append(s, c)) {
      hive__sup_child_free(c);
      rc = HIVE_ENOMEM;
      break;
    }
    rc = sup_start(s, c);
    if (rc == HIVE_STOP)
      rc = HIVE_OK; /* init chose not to start: kept as a stopped child, as OTP's ignore */
  }
  if (rc != HIVE_OK) {
    /* Undo, last started first, each gone before the next. */
    for (size_t i = s->n; i > 0; i--) {
      sup_child_t *c = s->children[i - 1];
      if (c->pid == 0)
        continue;
      /* No unlink first: that signal would make it busy. Its exit signal
       * reaches this supervisor, which is failing too and drops it. */
      if (hive__actor_stop_now(s->h, c->pid, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN}) ==
          HIVE_EALREADY)
        sup_kill_child(s, c); /* busy already: the best we can do here */
    }
    sup_free(s);
  }
  return rc;
}

static int sup_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  sup_t *s = state;
  if (msg->tag == HIVE_TAG_EXIT) {
    hive_pid_t pid;
    hive_reason_t reason;
    hive_exit_info(msg, &pid, &reason);
    sup_child_t *c = sup_find_pid(s, pid);
    if (c == NULL) {
      /* From its parent, or from outside any actor (a plain thread, the
       * node stopping), which stands for the parent: stop everything. */
      if (pid != s->parent && pid != 0) {
        sup_log_stranger(s, pid, &reason); /* as OTP: neither parent nor child */
        return HIVE_OK;
      }
      if (reason.kind != HIVE_REASON_NORMAL && !(s->busy && s->then == THEN_EXIT))
        sup_shutdown(s, ctx, &reason);
      return HIVE_OK;
    }
    if (c->stopping) { /* one we asked to stop */
      sup_forget(s, c);
      if (c->restart == HIVE_RESTART_TEMPORARY || s->strategy == HIVE_SUP_SIMPLE_ONE_FOR_ONE)
        sup_remove(s, c);
      sup_step(s, ctx);
      return HIVE_OK;
    }
    sup_child_ended(s, ctx, c, &reason);
    return HIVE_OK;
  }
  if (msg->tag == SUP_TAG_KILL && msg->len == sizeof(hive_pid_t)) {
    hive_pid_t pid;
    memcpy(&pid, msg->data, sizeof(pid));
    sup_child_t *c = sup_find_pid(s, pid);
    if (c != NULL && c->stopping) {
      c->kill_timer = 0;
      sup_kill_child(s, c); /* its shutdown time is up */
    }
    return HIVE_OK;
  }
  if (msg->tag == SUP_TAG_RETRY && msg->from == s->self && msg->len == sizeof(uint64_t)) {
    uint64_t number;
    memcpy(&number, msg->data, sizeof(number));
    sup_retry(s, ctx, number);
    return HIVE_OK;
  }
  if (msg->tag == SUP_TAG_CALL && msg->len == sizeof(sup_call_t) && msg->ref != 0) {
    sup_call_t call;
    memcpy(&call, msg->data, sizeof(call));
    if (!s->busy) {
      sup_do_call(s, ctx, msg, &call);
      return HIVE_OK;
    }
    /* After the plan: the caller waits. */
    sup_deferred_t *deferred =
        sup_room(s->deferred, s->ndeferred, &s->deferred_cap, sizeof(*deferred));
    if (deferred == NULL) {
      sup_answer(ctx, msg, HIVE_ENOMEM, 0);
      return HIVE_OK;
    }
    s->deferred = deferred;
    s->deferred[s->ndeferred++] = (sup_deferred_t){.request = *msg, .call = call};
    return HIVE_OK;
  }
  return HIVE_OK; /* anything else is not for a supervisor */
}

static void sup_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)ctx, (void)reason;
  sup_free(state); /* children still running (a kill) go through their links */
}

static const hive_behaviour_t sup_behaviour = {.name = "supervisor",
                                               .state_size = sizeof(sup_t),
                                               .init = sup_init,
                                               .handle = sup_handle,
                                               .terminate = sup_terminate};

const hive_behaviour_t *hive_sup_behaviour(void) {
  return &sup_behaviour;
}
