/*
 * job.c - one job: the "job" actor jobd.jobs supervises, and the linked
 * "job.run" actor that does the work.
 *
 * The job actor traps exits, starts job.run with the flags the kind needs
 * (a process of its own when isolated; the blocking pool for sleep;
 * trapped faults otherwise, so a crash ends that actor, not the node),
 * and reports how the run ended to the scheduler. A cancel kills the job
 * actor; the link takes job.run with it: at its next hive_checkpoint, or
 * at once (SIGKILL) in a process.
 *
 * job.run sends its result to the job actor before it stops. The job
 * actor may see the run's exit (a system message, taken first) before the
 * result: then it waits for the result, which is already in its mailbox.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobd.h"

static const char *const kind_names[JOBD_KINDS] = {"primes", "sleep", "crash",
                                                   "hang",   "spin",  "fail"};
static const char *const state_names[JOBD_STATES] = {"queued",    "running", "done",   "failed",
                                                     "cancelled", "crashed", "timeout"};

static int name_find(const char *const *names, int n, const char *name, size_t len) {
  for (int i = 0; i < n; i++)
    if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
      return i;
  return -1;
}
const char *jobd_kind_name(unsigned kind) {
  return kind < JOBD_KINDS ? kind_names[kind] : "?";
}
int jobd_kind_of(const char *name, size_t len) {
  return name_find(kind_names, JOBD_KINDS, name, len);
}
const char *jobd_state_name(unsigned s) {
  return s < JOBD_STATES ? state_names[s] : "?";
}
int jobd_state_of(const char *name, size_t len) {
  return name_find(state_names, JOBD_STATES, name, len);
}
int64_t jobd_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- job.run: the work ---------------------------------------------------- */

typedef struct {
  hive_pid_t job; /* whom the result goes to */
  jobd_job_t *work;
  bool started;
  uint64_t next, hi, count; /* primes: where the count has got to */
} run_t;

#define RUN_SLICE_NS 5000000
#define JOBD_PRIMES_MAX                                                                            \
  (1ull                                                                                            \
   << 40) /* trial division of one number: at most 2^20 steps */ /* a job's share of a worker      \
                                                                    before others get a turn */

static uint64_t run_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool is_prime(uint64_t n) {
  if (n < 2)
    return false;
  for (uint64_t d = 2; d <= n / d; d++) /* d * d could wrap */
    if (n % d == 0)
      return false;
  return true;
}

/*
 * One slice of the work, as Erlang counts reductions: a job on the workers
 * runs RUN_SLICE_NS, then sends itself the next slice and yields, so the
 * gateway, the table and the other jobs run between its slices even when
 * every worker has a job. HIVE_OK with *out (msgpack, malloc'd): the
 * result. HIVE_ERUNNING: more slices to come. HIVE_STOP: asked to stop (a
 * kill). An error: the job failed.
 */
static int run_slice(hive_ctx_t *ctx, run_t *r, void **out, size_t *out_len) {
  const jobd_job_t *w = r->work;
  uint32_t n = 0;
  uint64_t until = run_now_ns() + RUN_SLICE_NS;
  switch (w->kind) {
  case JOBD_PRIMES: {
    if (!r->started) {
      uint64_t lo, hi;
      if (hive_unpack(w->args, w->args_len, NULL, "auu", &n, &lo, &hi) != HIVE_OK || n != 2 ||
          hi < lo || hi > JOBD_PRIMES_MAX)
        return HIVE_EINVAL; /* past the bound, one number could take minutes between checks */
      r->next = lo, r->hi = hi, r->started = true;
    }
    for (; r->next < r->hi; r->next++) {
      r->count += is_prime(r->next);
      if (r->next % 1024 == 0) {
        if (hive_checkpoint(ctx))
          return HIVE_STOP;
        if (run_now_ns() >= until) {
          r->next++;
          return HIVE_ERUNNING;
        }
      }
    }
    return hive_pack(out, out_len, "u", r->count);
  }
  case JOBD_SLEEP: { /* on the blocking pool: sleeping stalls no worker */
    uint64_t ms;
    if (hive_unpack(w->args, w->args_len, NULL, "au", &n, &ms) != HIVE_OK || n != 1)
      return HIVE_EINVAL;
    for (uint64_t slept = 0; slept < ms; slept += 5) {
      if (hive_checkpoint(ctx))
        return HIVE_STOP;
      struct timespec slice = {0, 5 * 1000000L};
      nanosleep(&slice, NULL);
    }
    return hive_pack(out, out_len, "u", ms);
  }
  case JOBD_CRASH: /* a deliberate fault: the actor crashes, not the node */
    raise(SIGSEGV);
    return HIVE_ECRASHED;
  case JOBD_HANG: /* busy forever, but stoppable: it checks, and yields */
    while (run_now_ns() < until)
      if (hive_checkpoint(ctx))
        return HIVE_STOP;
    return HIVE_ERUNNING;
  case JOBD_SPIN: /* forever, never checking: only a process can be stopped */
    for (volatile uint64_t i = 0;; i++) {
    }
  default: /* JOBD_FAIL */
    return HIVE_EINVAL;
  }
}

/* job.run's argument: the job actor's pid, then the job. */
static int run_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  run_t *r = state;
  const jobd_job_t *w = (const jobd_job_t *)((const char *)arg + sizeof(hive_pid_t));
  if (len < sizeof(hive_pid_t) + sizeof(*w) || len != sizeof(hive_pid_t) + sizeof(*w) + w->args_len)
    return HIVE_EINVAL;
  memcpy(&r->job, arg, sizeof(r->job));
  if ((r->work = malloc(len - sizeof(hive_pid_t))) == NULL)
    return HIVE_ENOMEM;
  memcpy(r->work, w, len - sizeof(hive_pid_t));
  return hive_send(hive_node(ctx), hive_self(ctx), JOBD_TAG_RUN, NULL, 0); /* work after init */
}

static int run_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  run_t *r = state;
  if (msg->tag != JOBD_TAG_RUN || msg->from != hive_self(ctx))
    return HIVE_OK;
  void *out = NULL;
  size_t len = 0;
  int rc = run_slice(ctx, r, &out, &len);
  if (rc == HIVE_ERUNNING) { /* the next slice, after the others' turns */
    hive_yield(ctx);         /* HIVE_ENOTSUP in a process: it has a core of its own */
    return hive_send(hive_node(ctx), hive_self(ctx), JOBD_TAG_RUN, NULL, 0);
  }
  if (rc != HIVE_OK)
    return rc == HIVE_STOP ? HIVE_OK : rc; /* stopping anyway, or failed */
  if (hive_send_move(hive_node(ctx), r->job, JOBD_TAG_RESULT, out, len) != HIVE_OK)
    free(out); /* the job actor is gone: nobody waits for it */
  return HIVE_STOP;
}

static void run_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)ctx, (void)reason;
  run_t *r = state;
  free(r->work);
}

static const hive_behaviour_t jobd_run = {.name = "job.run",
                                          .state_size = sizeof(run_t),
                                          .init = run_init,
                                          .handle = run_handle,
                                          .terminate = run_terminate};

/* ---- job: starts job.run, reports how it ended ---------------------------- */

typedef struct {
  int64_t id;
  uint32_t attempts;
  jobd_job_t *work; /* owned */
  hive_pid_t run;
  bool run_ended; /* its exit came, reason normal: the result is on its way */
  void *result;   /* its result, once it came */
  size_t result_len;
  bool has_result;
} job_t;

/* Tells the scheduler how the run ended, then the job actor stops. */
static int job_report(hive_ctx_t *ctx, job_t *j, unsigned state, const void *data, size_t len) {
  jobd_end_t *end = malloc(sizeof(*end) + len);
  if (end == NULL)
    return HIVE_ENOMEM;
  *end = (jobd_end_t){.id = j->id,
                      .state = state,
                      .attempts = j->attempts,
                      .ended_ms = jobd_now_ms(),
                      .result_len = (uint32_t)len};
  if (len > 0)
    memcpy(end->result, data, len);
  if (hive_send_move(hive_node(ctx), hive_whereis(hive_node(ctx), JOBD_SCHEDULER),
                     JOBD_TAG_ENDED_INTERNAL, end, sizeof(*end) + len) != HIVE_OK)
    free(end); /* the scheduler is gone: the table runs the job again at the next start */
  return HIVE_STOP;
}

static int job_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  job_t *j = state;
  const jobd_job_t *w = arg;
  if (len < sizeof(*w) || len != sizeof(*w) + w->args_len || w->kind >= JOBD_KINDS ||
      (j->work = malloc(len)) == NULL)
    return HIVE_EINVAL;
  memcpy(j->work, w, len);
  j->id = w->id;
  j->attempts = w->attempts;
  return hive_trap_exit(ctx, true);
}

/* The scheduler's go, once it watches this actor: starts job.run. (Were
 * the run started in init, a job could end before the scheduler's monitor
 * is in place, and its DOWN would say noproc instead of how it ended.) */
static int job_go(hive_ctx_t *ctx, job_t *j) {
  hive_spawn_opts_t o;
  hive_spawn_opts_init(&o);
  o.flags = HIVE_SPAWN_LINK;
  if (j->work->isolate || j->work->kind == JOBD_SPIN)
    o.flags |= HIVE_SPAWN_PROCESS;
  else if (j->work->kind == JOBD_SLEEP)
    o.flags |= HIVE_SPAWN_BLOCKING | HIVE_SPAWN_TRAP_FAULTS;
  else
    o.flags |= HIVE_SPAWN_TRAP_FAULTS;
  size_t len = sizeof(*j->work) + j->work->args_len;
  unsigned char *run_arg = malloc(sizeof(hive_pid_t) + len);
  if (run_arg == NULL)
    return HIVE_ENOMEM;
  hive_pid_t self = hive_self(ctx);
  memcpy(run_arg, &self, sizeof(self));
  memcpy(run_arg + sizeof(self), j->work, len);
  int rc = hive_spawn(hive_node(ctx), &jobd_run, run_arg, sizeof(self) + len, &o, &j->run);
  free(run_arg);
  if (rc == HIVE_OK)
    return HIVE_OK;
  char text[128];
  snprintf(text, sizeof(text), "cannot start: %s", hive_strerror(rc));
  void *packed;
  size_t plen;
  if (hive_pack(&packed, &plen, "s", text) != HIVE_OK)
    return HIVE_ENOMEM;
  rc = job_report(ctx, j, JOBD_FAILED, packed, plen);
  free(packed);
  return rc;
}

static int job_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  job_t *j = state;
  if (msg->tag == JOBD_TAG_RUN && j->run == 0 &&
      msg->from == hive_whereis(hive_node(ctx), JOBD_SCHEDULER))
    return job_go(ctx, j);
  if (msg->tag == JOBD_TAG_RESULT && msg->from == j->run) {
    if (j->run_ended)
      return job_report(ctx, j, JOBD_DONE, msg->data, msg->len);
    free(j->result);
    if ((j->result = malloc(msg->len > 0 ? msg->len : 1)) == NULL)
      return HIVE_ENOMEM;
    memcpy(j->result, msg->data, msg->len);
    j->result_len = msg->len;
    j->has_result = true;
    return HIVE_OK;
  }
  hive_pid_t from;
  hive_reason_t reason;
  if (msg->tag != HIVE_TAG_EXIT || hive_exit_info(msg, &from, &reason) != HIVE_OK)
    return HIVE_OK;
  if (from != j->run) /* not our run: an exit signal from the supervisor */
    return reason.kind == HIVE_REASON_NORMAL ? HIVE_OK : (hive_exit_self(ctx, &reason), HIVE_OK);
  if (reason.kind == HIVE_REASON_NORMAL) {
    if (j->has_result)
      return job_report(ctx, j, JOBD_DONE, j->result, j->result_len);
    j->run_ended = true; /* the result is right behind */
    return HIVE_OK;
  }
  char text[256];
  hive_reason_format(&reason, text, sizeof(text));
  void *packed;
  size_t len;
  if (hive_pack(&packed, &len, "s", text) != HIVE_OK)
    return HIVE_ENOMEM;
  unsigned state_now = reason.kind == HIVE_REASON_CRASH     ? JOBD_CRASHED
                       : reason.kind == HIVE_REASON_TIMEOUT ? JOBD_TIMEOUT
                                                            : JOBD_FAILED;
  int rc = job_report(ctx, j, state_now, packed, len);
  free(packed);
  return rc;
}

static void job_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)ctx, (void)reason;
  job_t *j = state;
  free(j->result);
  free(j->work);
}

const hive_behaviour_t jobd_job = {.name = "job",
                                   .state_size = sizeof(job_t),
                                   .init = job_init,
                                   .handle = job_handle,
                                   .terminate = job_terminate};
