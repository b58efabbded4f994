/*
 * scheduler.c - jobd.scheduler: runs queued jobs, at most max_running at
 * once, each as a child of jobd.jobs, and tells the table when each starts
 * and how it ends. It runs on the blocking pool, since starting a child
 * (hive_sup_start_child) waits for the supervisor.
 *
 * The queue is in memory, in the order jobs came; the table's database is
 * the truth it is rebuilt from after a restart. A job is watched with a
 * monitor; its end comes in its own report (JOBD_TAG_ENDED_INTERNAL) or,
 * if it died without one, in the DOWN. A cancel or a timeout kills the job
 * actor and says which it was.
 */
#include <stdlib.h>
#include <string.h>

#include "jobd.h"

typedef struct {
  jobd_job_t *job; /* owned; NULL: the slot is free */
  hive_pid_t pid;
  hive_timer_t timer; /* its timeout_ms, if any */
  bool has_timer;
  unsigned killed_as; /* JOBD_CANCELLED or JOBD_TIMEOUT once killed for that */
} running_t;

typedef struct {
  unsigned max_running, nrunning;
  running_t *running; /* max_running slots */
  jobd_job_t **queue; /* a ring of owned jobs, oldest at head; NULL: cancelled */
  size_t head, count, cap;
  int64_t max_id; /* the highest id seen: a lower one may be a duplicate */
} sched_t;

static size_t job_size(const jobd_job_t *j) {
  return sizeof(*j) + j->args_len;
}

static void tell_table(hive_ctx_t *ctx, uint32_t tag, const void *data, size_t len) {
  hive_send(hive_node(ctx), hive_whereis(hive_node(ctx), JOBD_TABLE), tag, data, len);
}

/* Reports an end that is not a retry, with a text result for an error. */
static void report_end(hive_ctx_t *ctx, const jobd_job_t *job, unsigned state, const char *text) {
  void *packed = NULL;
  size_t plen = 0;
  if (text != NULL && hive_pack(&packed, &plen, "s", text) != HIVE_OK)
    plen = 0;
  jobd_end_t *end = malloc(sizeof(*end) + plen);
  if (end != NULL) {
    *end = (jobd_end_t){.id = job->id,
                        .state = state,
                        .attempts = job->attempts,
                        .ended_ms = jobd_now_ms(),
                        .result_len = (uint32_t)plen};
    if (plen > 0)
      memcpy(end->result, packed, plen);
    tell_table(ctx, JOBD_TAG_ENDED_INTERNAL, end, sizeof(*end) + plen);
    free(end);
  }
  free(packed);
}

static bool queue_push(sched_t *s, jobd_job_t *job) {
  if (s->count == s->cap) {
    size_t cap = s->cap > 0 ? s->cap * 2 : 64;
    jobd_job_t **grown = malloc(cap * sizeof(*grown));
    if (grown == NULL)
      return false;
    for (size_t i = 0; i < s->count; i++)
      grown[i] = s->queue[(s->head + i) % s->cap];
    free(s->queue);
    s->queue = grown;
    s->cap = cap;
    s->head = 0;
  }
  s->queue[(s->head + s->count++) % s->cap] = job;
  return true;
}

static jobd_job_t *queue_pop(sched_t *s) {
  while (s->count > 0) {
    jobd_job_t *job = s->queue[s->head];
    s->head = (s->head + 1) % s->cap;
    s->count--;
    if (job != NULL)
      return job;
  }
  return NULL;
}

static running_t *running_by_pid(sched_t *s, hive_pid_t pid) {
  for (unsigned i = 0; i < s->max_running; i++)
    if (s->running[i].job != NULL && s->running[i].pid == pid)
      return &s->running[i];
  return NULL;
}

static running_t *running_by_id(sched_t *s, int64_t id) {
  for (unsigned i = 0; i < s->max_running; i++)
    if (s->running[i].job != NULL && s->running[i].job->id == id)
      return &s->running[i];
  return NULL;
}

static void running_free(hive_ctx_t *ctx, sched_t *s, running_t *r) {
  if (r->has_timer)
    hive_timer_cancel(hive_node(ctx), r->timer);
  free(r->job);
  *r = (running_t){0};
  s->nrunning--;
}

/* Starts queued jobs while there is room. */
static void sched_fill(hive_ctx_t *ctx, sched_t *s) {
  hive_t *h = hive_node(ctx);
  while (s->nrunning < s->max_running) {
    jobd_job_t *job = queue_pop(s);
    if (job == NULL)
      return;
    job->attempts++;
    running_t *r = NULL; /* a free slot: there is one, nrunning < max_running */
    for (unsigned i = 0; r == NULL && i < s->max_running; i++)
      if (s->running[i].job == NULL)
        r = &s->running[i];
    hive_pid_t pid, jobs = hive_whereis(h, JOBD_JOBS);
    int rc =
        jobs != 0 ? hive_sup_start_child(h, jobs, NULL, job, job_size(job), &pid) : HIVE_ENOPROC;
    if (rc == HIVE_ENOPROC || rc == HIVE_ESHUTDOWN) {
      /* jobd.jobs is gone: the tree is stopping, or restarting past the
       * scheduler. The job stays queued in the table for the next start. */
      job->attempts--;
      free(job);
      return;
    }
    if (rc != HIVE_OK) {
      hive_log(h, HIVE_LOG_WARNING, "job %lld: cannot start: %s", (long long)job->id,
               hive_strerror(rc));
      report_end(ctx, job, JOBD_FAILED, hive_strerror(rc));
      free(job);
      continue;
    }
    uint64_t ref;
    hive_monitor(ctx, pid, &ref);
    hive_send(h, pid, JOBD_TAG_RUN, NULL, 0); /* watched: it may go */
    *r = (running_t){.job = job, .pid = pid};
    s->nrunning++;
    int64_t which[2] = {job->id, job->attempts}; /* a late timer of an earlier attempt: ignored */
    if (job->timeout_ms > 0 &&
        hive_send_after(h, hive_self(ctx), JOBD_TAG_TIMEOUT, which, sizeof(which), job->timeout_ms,
                        &r->timer) == HIVE_OK)
      r->has_timer = true;
    jobd_started_t started = {
        .id = job->id, .attempts = job->attempts, .started_ms = jobd_now_ms()};
    tell_table(ctx, JOBD_TAG_STARTED, &started, sizeof(started));
  }
}

static void sched_enqueue(hive_ctx_t *ctx, sched_t *s, const hive_msg_t *msg) {
  const jobd_job_t *in = msg->data;
  if (msg->len < sizeof(*in) || msg->len != job_size(in))
    return;
  if (in->id <= s->max_id) { /* the table restarted and sends what it holds again */
    if (running_by_id(s, in->id) != NULL)
      return;
    for (size_t i = 0; i < s->count; i++) {
      jobd_job_t *q = s->queue[(s->head + i) % s->cap];
      if (q != NULL && q->id == in->id)
        return;
    }
  }
  s->max_id = in->id > s->max_id ? in->id : s->max_id;
  jobd_job_t *job = malloc(msg->len);
  if (job == NULL || (memcpy(job, in, msg->len), !queue_push(s, job))) {
    free(job);
    hive_log(hive_node(ctx), HIVE_LOG_ERROR, "job %lld: no memory to queue it", (long long)in->id);
    report_end(ctx, in, JOBD_FAILED, "no memory");
    return;
  }
  sched_fill(ctx, s);
}

static void sched_cancel(hive_ctx_t *ctx, sched_t *s, int64_t id, unsigned as) {
  running_t *r = running_by_id(s, id);
  if (r != NULL) {
    if (r->killed_as == 0)
      r->killed_as = as;
    hive_kill(hive_node(ctx), r->pid); /* its DOWN (reason kill) ends it */
    return;
  }
  for (size_t i = 0; as == JOBD_CANCELLED && i < s->count; i++) {
    jobd_job_t **q = &s->queue[(s->head + i) % s->cap];
    if (*q != NULL && (*q)->id == id) {
      report_end(ctx, *q, JOBD_CANCELLED, "cancelled while queued");
      free(*q);
      *q = NULL;
      return;
    }
  }
}

/* Puts a running job back at the end of the queue, its slot freed, and
 * tells the table it is queued again; the job, or NULL if it is lost (no
 * memory: the table runs it again at the next start). */
static jobd_job_t *sched_requeue(hive_ctx_t *ctx, sched_t *s, running_t *r) {
  jobd_job_t *again = r->job;
  r->job = NULL; /* kept: running_free frees only the slot */
  running_free(ctx, s, r);
  if (!queue_push(s, again)) {
    free(again);
    return NULL;
  }
  jobd_end_t requeued = {.id = again->id, .state = JOBD_QUEUED, .attempts = again->attempts};
  tell_table(ctx, JOBD_TAG_ENDED_INTERNAL, &requeued, sizeof(requeued));
  return again;
}

/* A job's own report of how its run ended: passed on, or a retry. */
static void sched_ended(hive_ctx_t *ctx, sched_t *s, const hive_msg_t *msg) {
  const jobd_end_t *end = msg->data;
  if (msg->len < sizeof(*end) || msg->len != sizeof(*end) + end->result_len)
    return;
  running_t *r = running_by_id(s, end->id);
  if (r == NULL || r->pid != msg->from)
    return; /* already ended by its DOWN (killed after it reported) */
  if (end->state == JOBD_CRASHED && r->job->attempts <= r->job->retries) {
    jobd_job_t *again = sched_requeue(ctx, s, r);
    if (again != NULL)
      hive_log(hive_node(ctx), HIVE_LOG_INFO, "job %lld crashed: retrying (attempt %u of %u)",
               (long long)again->id, again->attempts + 1, again->retries + 1);
  } else {
    tell_table(ctx, JOBD_TAG_ENDED_INTERNAL, msg->data, msg->len);
    running_free(ctx, s, r);
  }
  sched_fill(ctx, s);
}

static void sched_down(hive_ctx_t *ctx, sched_t *s, const hive_msg_t *msg) {
  hive_pid_t pid;
  hive_reason_t reason;
  if (hive_exit_info(msg, &pid, &reason) != HIVE_OK)
    return;
  running_t *r = running_by_pid(s, pid);
  if (r == NULL)
    return; /* its report came first */
  if (reason.kind == HIVE_REASON_NORMAL && r->killed_as == 0)
    return; /* it stopped by itself: its report is right behind */
  if (r->killed_as == 0 &&
      (reason.kind == HIVE_REASON_SHUTDOWN || reason.kind == HIVE_REASON_KILL)) {
    /* Stopped by its supervisor (the tree restarting) or killed from
     * outside: not the job's fault. It runs again. */
    sched_requeue(ctx, s, r);
    sched_fill(ctx, s);
    return;
  }
  char text[256];
  hive_reason_format(&reason, text, sizeof(text));
  unsigned state = r->killed_as != 0 ? r->killed_as : JOBD_CRASHED;
  report_end(ctx, r->job, state,
             state == JOBD_CANCELLED ? "cancelled"
             : state == JOBD_TIMEOUT ? "timeout_ms passed"
                                     : text);
  running_free(ctx, s, r);
  sched_fill(ctx, s);
}

static int sched_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx;
  sched_t *s = state;
  if (len != sizeof(unsigned))
    return HIVE_EINVAL;
  memcpy(&s->max_running, arg, sizeof(unsigned));
  if (s->max_running == 0 || (s->running = calloc(s->max_running, sizeof(running_t))) == NULL)
    return HIVE_EINVAL;
  return HIVE_OK;
}

static int sched_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  sched_t *s = state;
  hive_t *h = hive_node(ctx);
  if (msg->tag == HIVE_TAG_DOWN) {
    sched_down(ctx, s, msg);
    return HIVE_OK;
  }
  /* Only jobd's own actors (and timers) speak to the scheduler. */
  bool from_table = msg->from != 0 && msg->from == hive_whereis(h, JOBD_TABLE);
  switch (msg->tag) {
  case JOBD_TAG_ENQUEUE:
    if (from_table)
      sched_enqueue(ctx, s, msg);
    break;
  case JOBD_TAG_CANCEL:
    if (from_table && msg->len == sizeof(int64_t)) {
      int64_t id;
      memcpy(&id, msg->data, sizeof(id));
      sched_cancel(ctx, s, id, JOBD_CANCELLED);
    }
    break;
  case JOBD_TAG_TIMEOUT:
    if (msg->from == 0 && msg->len == 2 * sizeof(int64_t)) {
      int64_t which[2];
      memcpy(which, msg->data, sizeof(which));
      running_t *r = running_by_id(s, which[0]);
      if (r != NULL && r->job->attempts == (uint32_t)which[1]) {
        r->has_timer = false; /* it fired */
        sched_cancel(ctx, s, which[0], JOBD_TIMEOUT);
      }
    }
    break;
  case JOBD_TAG_ENDED_INTERNAL:
    sched_ended(ctx, s, msg); /* checks that it came from the job */
    break;
  default:
    break;
  }
  return HIVE_OK;
}

static void sched_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)ctx, (void)reason;
  sched_t *s = state;
  for (unsigned i = 0; s->running != NULL && i < s->max_running; i++)
    free(s->running[i].job);
  free(s->running);
  jobd_job_t *job;
  while ((job = queue_pop(s)) != NULL)
    free(job);
  free(s->queue);
}

const hive_behaviour_t jobd_scheduler = {.name = "jobd.scheduler",
                                         .state_size = sizeof(sched_t),
                                         .init = sched_init,
                                         .handle = sched_handle,
                                         .terminate = sched_terminate};
