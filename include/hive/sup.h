/*
 * sup.h - supervisor trees with Erlang/OTP's rules (supervisor(3)).
 *
 * A supervisor is an actor that starts children, watches them through
 * links (it traps exits) and restarts them by its strategy:
 *
 *   one_for_one   only the child that ended is restarted;
 *   one_for_all   every other child is stopped (in reverse start order),
 *                 then all are started again, in order;
 *   rest_for_one  the children started after it are stopped (reverse
 *                 order), then it and they are started again, in order;
 *   simple_one_for_one  every child comes from one spec, started by
 *                 hive_sup_start_child with an argument of its own.
 *
 * Restart types: permanent children are always restarted; transient ones
 * only after an exit other than normal or shutdown; temporary ones never,
 * not even when a sibling's failure stopped them (they are then removed).
 *
 * More than `intensity` restarts within `period_s` seconds and the
 * supervisor gives up: it stops all its children and exits with reason
 * shutdown. Its own supervisor sees that as any child's exit, so failures
 * climb the tree until a level copes.
 *
 * A restart that fails (its init returns an error: say a name its dead
 * predecessor's children still hold) is tried again, as OTP's
 * try_again_restart, after the supervisor has yielded (hive_yield), so the
 * actors waiting to run on its worker, the dying ones among them, go
 * first. Each try counts toward the intensity: a child that can never
 * start still makes the supervisor give up.
 *
 * Exit signals: from a child, handled as above; from the supervisor's
 * parent (the actor that started it) or from outside any actor (a plain
 * thread's hive_exit, hive_stop), any reason but normal stops it; from any
 * other actor, ignored and logged, as in OTP. hive_kill ends it regardless.
 *
 * Stopping a child: an exit signal shutdown, then a kill when its shutdown
 * time has passed (brutal kill: a kill at once; infinity: no kill). Out of
 * memory for the signal or the timer, the child is killed at once, with a
 * kill made when it started: a supervisor never waits for a child it
 * could not tell to stop.
 * Children stop in reverse start order. hive_stop stops the top-level
 * supervisors that way, the last started first.
 *
 * Specs are copied when the supervisor starts; they need not outlive the
 * call. The calls (hive_sup_start_child, ...) are for plain threads and
 * actors on the blocking pool: they wait for the supervisor's answer.
 */
#ifndef HIVE_SUP_H
#define HIVE_SUP_H

#include "hive/export.h"

#include "hive/hive.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HIVE_SUP_ONE_FOR_ONE 0
#define HIVE_SUP_ONE_FOR_ALL 1
#define HIVE_SUP_REST_FOR_ONE 2
#define HIVE_SUP_SIMPLE_ONE_FOR_ONE 3

#define HIVE_RESTART_PERMANENT 0
#define HIVE_RESTART_TRANSIENT 1
#define HIVE_RESTART_TEMPORARY 2

#define HIVE_SHUTDOWN_DEFAULT 0 /* 5000 ms for a worker, infinity for a supervisor */
#define HIVE_SHUTDOWN_BRUTAL_KILL (-1)
#define HIVE_SHUTDOWN_INFINITY (-2) /* wait as long as it takes */

#define HIVE_CHILD_WORKER 0
#define HIVE_CHILD_SUPERVISOR 1

/* When significant children ending by themselves stop the supervisor. */
#define HIVE_AUTO_SHUTDOWN_NEVER 0
#define HIVE_AUTO_SHUTDOWN_ANY_SIGNIFICANT 1
#define HIVE_AUTO_SHUTDOWN_ALL_SIGNIFICANT 2

/* Longest child id, without its NUL. */
#define HIVE_CHILD_ID_MAX 63

typedef struct hive_child_spec {
  const char *id;                    /* unique among the supervisor's children */
  const hive_behaviour_t *behaviour; /* a supervisor child: hive_sup_behaviour() */
  const void *arg;                   /* handed to init; copied. A supervisor
                                        child: a hive_sup_spec_t */
  size_t arg_len;
  const hive_spawn_opts_t *opts; /* NULL: defaults (HIVE_SPAWN_LINK is added) */
  int restart;                   /* HIVE_RESTART_* */
  int shutdown_ms;               /* > 0, or HIVE_SHUTDOWN_* */
  int type;                      /* HIVE_CHILD_* */
  bool significant;              /* for auto_shutdown; transient or temporary only */
} hive_child_spec_t;

typedef struct hive_sup_spec {
  int strategy;       /* HIVE_SUP_* */
  unsigned intensity; /* restarts allowed within period_s */
  unsigned period_s;  /* > 0 */
  int auto_shutdown;  /* HIVE_AUTO_SHUTDOWN_* */
  const hive_child_spec_t
      *children; /* started in this order; simple_one_for_one: the one template */
  size_t nchildren;
} hive_sup_spec_t;

/* Defaults: one_for_one, intensity 1, period 5 s, auto_shutdown never. */
HIVE_API void hive_sup_spec_init(hive_sup_spec_t *spec);
/* Defaults: permanent, default shutdown, worker, not significant. */
HIVE_API void hive_child_spec_init(hive_child_spec_t *child);

/* The behaviour of supervisors, for a supervisor that is itself a child. */
HIVE_API const hive_behaviour_t *hive_sup_behaviour(void);

/*
 * Starts a supervisor and its children, in order, each init finished before
 * the next starts. If one fails to start, those already started are stopped
 * in reverse order and this returns that child's error. HIVE_EINVAL for a
 * bad spec (duplicate ids, a significant child with auto_shutdown never or
 * restart permanent, ...), which starts nothing.
 */
HIVE_API int hive_sup_start(hive_t *h, const hive_sup_spec_t *spec, hive_pid_t *out);

/* Adds and starts a child: spec for the usual strategies; for
 * simple_one_for_one spec is NULL and arg/arg_len replace the template's
 * argument. HIVE_EEXIST for a duplicate id. */
HIVE_API int hive_sup_start_child(hive_t *h, hive_pid_t sup, const hive_child_spec_t *spec,
                                  const void *arg, size_t arg_len, hive_pid_t *out);
/* Stops a child (kept as a spec, unless temporary). simple_one_for_one:
 * id is NULL and pid names the child. HIVE_ENOTFOUND for an unknown child. */
HIVE_API int hive_sup_terminate_child(hive_t *h, hive_pid_t sup, const char *id, hive_pid_t pid);
/* Starts a stopped child again. HIVE_ERUNNING if it runs. */
HIVE_API int hive_sup_restart_child(hive_t *h, hive_pid_t sup, const char *id, hive_pid_t *out);
/* Removes a stopped child's spec. HIVE_ERUNNING if it runs. */
HIVE_API int hive_sup_delete_child(hive_t *h, hive_pid_t sup, const char *id);

typedef struct hive_child_info {
  char id[HIVE_CHILD_ID_MAX + 1]; /* "" for simple_one_for_one children */
  hive_pid_t pid;                 /* 0: not running */
  int type;                       /* HIVE_CHILD_* */
  int restart;                    /* HIVE_RESTART_* */
  uint64_t restarts;              /* times the supervisor restarted it */
} hive_child_info_t;

/* Up to max children, in start order; *count is how many there are. */
HIVE_API int hive_sup_which_children(hive_t *h, hive_pid_t sup, hive_child_info_t *out, size_t max,
                                     size_t *count);

/* As OTP's count_children: specs, the child specs it holds (1 for
 * simple_one_for_one: the template); active, the children running;
 * supervisors and workers, the children of each type, running or not. */
typedef struct hive_child_counts {
  size_t specs, active, supervisors, workers;
} hive_child_counts_t;

HIVE_API int hive_sup_count_children(hive_t *h, hive_pid_t sup, hive_child_counts_t *out);

#ifdef __cplusplus
}
#endif

#endif /* HIVE_SUP_H */
