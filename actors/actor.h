/*
 * actor.h - the actor layer's interface to the layers above (internal).
 */
#ifndef HIVE_ACTOR_H
#define HIVE_ACTOR_H

#include "runtime/runtime.h"
#include "runtime/upcall.h"

/*
 * The actor layer's part of a slot (hive__actor_t.life): one incarnation's
 * own fields. Token fields belong to whoever holds the mailbox token (the
 * worker running a turn, or hive_spawn during init); the statistics are
 * written by that holder alone and may be read by any thread.
 */
typedef struct hive__life {
  hive_pid_t self;
  const hive_behaviour_t *behaviour;
  void *state_block; /* owned: state_size bytes, freed at exit */
  hive_reason_t exit_reason;
  char *exit_text; /* owned copy of exit_reason.text */
  /* A turn goes on while turn_ends, both flags read in one load, is 0. */
  union {
    struct {
      bool exiting;  /* an exit has been decided; no more handlers run */
      bool yielding; /* hive_yield: the turn ends after this handler */
    };
    uint16_t turn_ends;
  };
  bool retiring;        /* exited: free the slot once the mailbox is empty */
  bool trap_faults;     /* HIVE_SPAWN_TRAP_FAULTS */
  bool time_every_call; /* its handlers are slow; time them all */
  /* Links, monitors and signals (links.c). */
  bool trap_exit;     /* exit signals arrive as messages */
  bool failed_itself; /* its own callback's result or fault ended it */
  /* Requests (request.c). */
  bool current_replied;            /* hive_reply answered `current` */
  uint32_t last_tag;               /* of the last message handled: crash reports */
  int64_t sys_extra;               /* system messages hive_checkpoint took this turn */
  hive__msg_t *current;            /* the message handle() is running for */
  struct hive__links *links;       /* owned; NULL until the actor needs it */
  struct hive__requests *requests; /* owned; NULL until the actor needs it */
  /* atomic, single writer: statistics (processed is the slot's). */
  _Atomic uint64_t handler_ns;     /* estimated total of handler calls */
  _Atomic uint64_t handler_max_ns; /* longest handler call timed */
  _Atomic uint64_t wait_max_ns;    /* longest a stamped message waited */
  _Atomic uint64_t nlinks;
  _Atomic uint64_t nmonitors;
} hive__life_t;
_Static_assert(sizeof(hive__life_t) <= HIVE__LIFE_SIZE && _Alignof(hive__life_t) <= 8,
               "hive__life_t outgrew its place in the slot: raise HIVE__LIFE_SIZE");

/* a's incarnation fields. Only actors/ reads the slot's life bytes, always
 * through this type. */
static inline hive__life_t *hive__life(hive__actor_t *a) {
  return (hive__life_t *)(void *)a->life;
}

/* Handed to callbacks; lives on the stack of the call. */
struct hive_ctx {
  hive_t *node;
  hive__actor_t *actor;
};

/* System signals carried on the system lane (hive__msg_t.signal). */
#define HIVE__SIG_EXIT 1
#define HIVE__SIG_LINK 2
#define HIVE__SIG_UNLINK 3
#define HIVE__SIG_MONITOR 4   /* ref: the monitor; from: the watcher */
#define HIVE__SIG_DEMONITOR 5 /* ref: the monitor */
#define HIVE__SIG_DOWN 6      /* a monitored actor ended; payload as HIVE_TAG_DOWN */

/* Flags of an exit signal. */
#define HIVE__EXIT_UNTRAPPABLE 1u /* hive_kill */
#define HIVE__EXIT_FROM_LINK 2u   /* a linked actor ended */

/* Tags from HIVE__TAG_INTERNAL up to HIVE_TAG_USER - 1 are for the layers
 * above actors/ to talk to actors of their own: no public call sends them.
 * Each folder keeps to its block. */
#define HIVE__TAG_INTERNAL 32
#define HIVE__TAG_GATEWAY 32 /* gateway/: 32 .. 39 */
#define HIVE__TAG_CLUSTER 40 /* cluster/: 40 .. 47 */

/* Sends an internal message (tag below HIVE_TAG_USER, from 0) to `to`,
 * giving it buf (malloc'd; len bytes, may be 0): the buffer is freed if
 * the message cannot be delivered. Never refused by a mailbox bound.
 * HIVE_ENOPROC (a dead letter), HIVE_ENOMEM. Any thread. */
int hive__send_internal(hive_t *h, hive_pid_t to, uint32_t tag, void *buf, size_t len);

/* What the layers above may add to a spawn. */
typedef struct hive__spawn_extra {
  uint64_t restarts; /* shown in the child's statistics */
  bool supervisor;   /* it runs hive_sup_behaviour() */
} hive__spawn_extra_t;

/* hive_spawn with extra (NULL: none). */
int hive__spawn(hive_t *h, const hive_behaviour_t *b, const void *arg, size_t arg_len,
                const hive_spawn_opts_t *opts, const hive__spawn_extra_t *extra, hive_pid_t *out);

/* Ends an idle actor now, on the calling thread: its terminate runs before
 * this returns. HIVE_EALREADY if it has work queued or is running (send it
 * a signal instead), HIVE_ENOPROC if it is gone. Supervisors use it to undo
 * a failed start in exact reverse order. */
int hive__actor_stop_now(hive_t *h, hive_pid_t pid, const hive_reason_t *reason);

/* Records why the actor ends; the first decision wins (true if this call
 * made it). Token holder. */
bool hive__actor_decide_exit(hive__actor_t *a, int kind, int code, const char *text);

/* For node/: asks the actor to end with reason shutdown, or kill
 * (hive_stop); and sets up and frees the node's table of plain threads
 * waiting in hive_ask (request.c). */
void hive__actor_request_shutdown(hive_t *h, hive__actor_t *a, bool kill);
int hive__asks_init(hive_t *h);
void hive__asks_free(hive_t *h);

/* ---- links.c ---- */

/* Sends an exit signal (reason copied) from `from` to `to`. */
int hive__send_exit(hive_t *h, hive_pid_t from, hive_pid_t to, const hive_reason_t *reason,
                    uint32_t flags);
/* A kill made ahead of need, so that sending it later cannot fail for
 * memory: supervisors keep one per child, to stop it with when no signal
 * can be made at the time. NULL when out of memory now; free an unsent one
 * with hive__msg_free. */
hive__msg_t *hive__kill_reserve(void);
/* hive_kill(h, to) with a reserve (taken, whatever happens). */
int hive__kill_reserved(hive_t *h, hive__msg_t *reserve, hive_pid_t to);
/* links.c's half of it: sends the reserve from `from` to `to`. */
int hive__send_reserved(hive_t *h, hive__msg_t *reserve, hive_pid_t from, hive_pid_t to);
/* For cluster/, which carries signals between nodes: a signal (LINK,
 * UNLINK, MONITOR, DEMONITOR) from another node to the local actor `to`;
 * LINK and MONITOR to the dead are answered noproc. HIVE_ENOPROC if `to`
 * is gone. Any thread. */
int hive__signal_local(hive_t *h, int signal, hive_pid_t from, hive_pid_t to, uint64_t ref);
/* Tells watcher (here or on another node) that its monitor ref on pid
 * fired. */
void hive__send_down(hive_t *h, hive_pid_t pid, hive_pid_t watcher, uint64_t ref,
                     const hive_reason_t *reason);
/* The reason and flags an exit signal (HIVE__SIG_EXIT) carries; reason->text
 * points into msg. */
void hive__exit_signal_read(const hive__msg_t *msg, hive_reason_t *reason, uint32_t *flags);
/* Hands a reply (replied) or a noproc answer to the plain thread on this
 * node waiting in hive_ask on ref, if it still waits (request.c). */
int hive__ask_answer(hive_t *h, uint64_t ref, bool replied, const void *data, size_t len);

/* Applies a system signal addressed to the current incarnation. Returns
 * the message to hand to the handler (the caller owns it), else NULL: a
 * HIVE_TAG_EXIT when the actor traps exits, a HIVE_TAG_DOWN for a monitor
 * it still holds. A DOWN is msg itself, made a message: free it once. */
hive__msg_t *hive__signal_apply_owner(hive__actor_t *a, hive__msg_t *msg);
/* Records link and monitor signals only (the actor is ending). */
void hive__signal_bookkeep_owner(hive__actor_t *a, const hive__msg_t *msg);
/* A signal that reached an actor already gone (pid dead): LINK and MONITOR
 * are answered with noproc. */
void hive__signal_answer_dead(hive_t *h, hive_pid_t dead, const hive__msg_t *msg);
/* The actor ends: exit signals to its links, DOWN to its watchers. */
void hive__links_end_owner(hive_t *h, hive__actor_t *a);
/* spawn_link, both sides at once, and its undoing when init failed. */
int hive__link_both_owner(hive__actor_t *parent, hive__actor_t *child);
void hive__unlink_both_owner(hive__actor_t *parent, hive__actor_t *child);

/* ---- request.c: hooks the turn calls (token holder) ---- */

/* After handle() returned for a request it did not answer: the actor now
 * owes the reply. */
void hive__request_handled_owner(hive_t *h, hive__actor_t *a, const hive__msg_t *msg);
/* A request that will never be handled (its target ended): answer noproc.
 * from is the pid it was sent to. Does nothing for other messages. */
void hive__request_fail_queued(hive_t *h, hive_pid_t from, const hive__msg_t *msg);
/* For REPLY / NOPROC / TIMEOUT messages: true if the handler should see it
 * (it answers an open request, or is the armed receive timeout). */
bool hive__request_accept_owner(hive_t *h, hive__actor_t *a, hive__msg_t *msg);
/* A message is about to be handled: disarms the receive timeout. */
void hive__request_note_message_owner(hive_t *h, hive__actor_t *a);
/* The actor ends: answers every owed reply with noproc, frees the state. */
void hive__request_end_owner(hive_t *h, hive__actor_t *a);

#endif /* HIVE_ACTOR_H */
