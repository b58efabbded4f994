/*
 * internal.h - what the files of supervisors/ share: the tags a supervisor
 * keeps for itself, a child as it keeps it, and the calls from plain
 * threads as they travel (private to supervisors/).
 *
 *   spec.c   child specs: defaults, checks, deep copies
 *   sup.c    the supervisor actor: starting, restarts, plans, retries
 *   calls.c  hive_sup_start and the calls, from plain threads
 */
#ifndef HIVE_SUP_INTERNAL_H
#define HIVE_SUP_INTERNAL_H

#include "actors/actor.h"
#include "hive/sup.h"

/* Tags in the user range that supervisors keep for themselves. */
#define SUP_TAG_CALL 0x7fff0001u  /* a hive_sup_* call, as a request */
#define SUP_TAG_KILL 0x7fff0002u  /* a child's shutdown time ran out; payload: its pid */
#define SUP_TAG_RETRY 0x7fff0003u /* restarts that failed are tried again */

#define SUP_DEFAULT_WORKER_SHUTDOWN_MS 5000

/* A child as the supervisor keeps it: everything copied. */
typedef struct sup_child {
  char *id; /* owned; NULL for simple_one_for_one children */
  const hive_behaviour_t *behaviour;
  void *arg; /* owned copy (a deep copy for a supervisor child) */
  size_t arg_len;
  hive_spawn_opts_t opts; /* opts.name: an owned copy */
  int restart, shutdown_ms, type;
  bool significant;
  hive_pid_t pid;       /* 0: not running */
  bool stopping;        /* we asked it to stop */
  bool replan;          /* to be started again when the current plan is done */
  int retry_rc;         /* its restart failed with this: tried again after a yield */
  uint64_t retry_after; /* by the SUP_TAG_RETRY of this number or a later one */
  bool retry_now;       /* being tried again by the SUP_TAG_RETRY in hand */
  hive_timer_t kill_timer;
  uint64_t restarts;
  /* Owned: a kill made while it was started, to stop it with when no
   * signal can be made then (out of memory): a supervisor never waits for
   * a child it could not tell to stop. */
  hive__msg_t *kill_reserve;
} sup_child_t;

/* A hive_sup_* call: pointers into the caller's memory, valid while it waits. */
typedef struct {
  int op;
  const hive_child_spec_t *spec;
  const void *arg;
  size_t arg_len;
  char id[HIVE_CHILD_ID_MAX + 1];
  hive_pid_t pid;
} sup_call_t;
enum { CALL_START, CALL_TERMINATE, CALL_RESTART, CALL_DELETE, CALL_WHICH, CALL_COUNT };

/* The answer to a call; which_children appends the infos. */
typedef struct {
  int rc;
  hive_pid_t pid;
  size_t count;
  hive_child_counts_t counts;
} sup_answer_t;

/* ---- spec.c ---- */

/* Ids are 1..HIVE_CHILD_ID_MAX characters. */
bool hive__sup_name_ok(const char *id);
/* Checks one child spec, and a supervisor spec with all its children;
 * HIVE_EINVAL if anything is wrong. */
int hive__sup_child_check(const hive_child_spec_t *c, int strategy, int auto_shutdown);
int hive__sup_spec_check(const hive_sup_spec_t *spec);
/* A child from its spec, everything copied (arg, if not NULL, replaces the
 * spec's argument); NULL on no memory. */
sup_child_t *hive__sup_child_copy(const hive_child_spec_t *spec, const void *arg, size_t arg_len);
/* A new child with template's settings (a simple_one_for_one child), with
 * its own copy of arg, or of the template's argument when arg is NULL. */
sup_child_t *hive__sup_child_clone(const sup_child_t *template, const void *arg, size_t arg_len);
void hive__sup_child_free(sup_child_t *c);

#endif /* HIVE_SUP_INTERNAL_H */
