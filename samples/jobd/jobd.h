/*
 * jobd.h - what jobd's actors tell each other (samples/jobd).
 *
 * The tree, under the supervisor "jobd.sup" (rest_for_one, in this order):
 *
 *   jobd.scheduler  starts queued jobs, at most max_running at once, as
 *                   children of jobd.jobs; watches them (monitors), kills
 *                   one that is cancelled or past its timeout, retries a
 *                   crashed one if it asked to;
 *   jobd.jobs       simple_one_for_one: one "job" actor a job, which runs
 *                   the work in a linked "job.run" actor: a plain one, on
 *                   the blocking pool (sleep), or in a process (isolate);
 *   jobd            the job table: answers the gateway's calls, and keeps
 *                   every job in SQLite (the only writer), its writes
 *                   batched per turn: a submit is answered once its row is
 *                   committed, then the job goes to the scheduler.
 *
 * rest_for_one: if the scheduler fails, the running jobs and the table
 * restart with it, and the table re-queues from the database every job
 * that was queued or running (at least once; `attempts` counts starts).
 */
#ifndef JOBD_H
#define JOBD_H

#include <hive/hive.h>
#include <hive/sup.h>

#define JOBD_VERSION "1.0"
#define JOBD_TABLE "jobd"
#define JOBD_SCHEDULER "jobd.scheduler"
#define JOBD_JOBS "jobd.jobs"

/* The tag of the message pushed to a client that watches a job. */
#define JOBD_TAG_ENDED (HIVE_TAG_USER + 100)

/* Between jobd's own actors (never accepted from a gateway client: each
 * receiver checks the sender). */
enum {
  JOBD_TAG_ENQUEUE = HIVE_TAG_USER + 1000, /* table -> scheduler: a jobd_job_t */
  JOBD_TAG_CANCEL,                         /* table -> scheduler: int64 id */
  JOBD_TAG_STARTED,                        /* scheduler -> table: a jobd_started_t */
  JOBD_TAG_ENDED_INTERNAL,                 /* job -> scheduler -> table: a jobd_end_t */
  JOBD_TAG_FLUSH,                          /* table -> itself: commit the batch */
  JOBD_TAG_WAIT_OVER,                      /* timer -> table: a result's wait_ms ran out */
  JOBD_TAG_PURGE,                          /* timer -> table: remove old results */
  JOBD_TAG_RETRY,                          /* timer -> table: write the backlog again */
  JOBD_TAG_TIMEOUT,                        /* timer -> scheduler: a job's timeout_ms */
  JOBD_TAG_RUN,                            /* scheduler -> job, job.run -> itself: go */
  JOBD_TAG_RESULT,                         /* job.run -> job: the result, msgpack */
};

enum { JOBD_PRIMES, JOBD_SLEEP, JOBD_CRASH, JOBD_HANG, JOBD_SPIN, JOBD_FAIL, JOBD_KINDS };

enum {
  JOBD_QUEUED,
  JOBD_RUNNING,
  JOBD_DONE,
  JOBD_FAILED,
  JOBD_CANCELLED,
  JOBD_CRASHED,
  JOBD_TIMEOUT,
  JOBD_STATES
};

/* A job to run: the table's row, as the scheduler and the job actor need it. */
typedef struct jobd_job {
  int64_t id;
  uint32_t kind;       /* JOBD_* kind */
  uint32_t attempts;   /* starts so far */
  uint32_t retries;    /* starts allowed after a crash */
  uint32_t timeout_ms; /* 0: none */
  uint32_t isolate;    /* run in a process of its own */
  uint32_t args_len;   /* msgpack bytes of the args array that follow */
  unsigned char args[];
} jobd_job_t;

typedef struct jobd_started {
  int64_t id;
  uint32_t attempts;
  int64_t started_ms;
} jobd_started_t;

/* How a job's run ended. JOBD_QUEUED: back in the queue (a retry). */
typedef struct jobd_end {
  int64_t id;
  uint32_t state;
  uint32_t attempts;
  int64_t ended_ms;
  uint32_t result_len; /* done: the result, one msgpack value; else the error text */
  unsigned char result[];
} jobd_end_t;

/* The table's settings, its init argument. */
typedef struct jobd_table_arg {
  char db[4096];
  unsigned keep_results_s; /* finished jobs are removed after this */
  unsigned max_queued;     /* submits past it answer "full" */
  bool isolate;            /* every job in a process unless it says otherwise */
} jobd_table_arg_t;

extern const hive_behaviour_t jobd_table;
extern const hive_behaviour_t jobd_scheduler; /* arg: unsigned max_running */
extern const hive_behaviour_t jobd_job;       /* arg: a jobd_job_t */

const char *jobd_kind_name(unsigned kind);
int jobd_kind_of(const char *name, size_t len); /* -1 if none */
const char *jobd_state_name(unsigned state);
int jobd_state_of(const char *name, size_t len); /* -1 if none */
int64_t jobd_now_ms(void);                       /* wall clock, for people */

#endif /* JOBD_H */
