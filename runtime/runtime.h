/*
 * runtime.h - the node, its workers and the actor table (internal to hive).
 *
 * This is the interface runtime/ offers to actors/ and the layers above; the
 * files of runtime/ keep everything else static. One call goes the other
 * way, the scheduler running an actor's turn: it is declared in upcall.h.
 *
 * Ownership of an actor slot (struct hive__actor):
 *   - Slots live in chunks that are never freed before hive_stop, so a
 *     sender holding a stale pointer can always touch the mailbox safely.
 *   - The token holder (see mailbox.h: the worker running a turn, or
 *     hive_spawn during init) owns the incarnation; the fields that only the
 *     actor layer uses live in the `life` bytes, laid out by actors/actor.h.
 *   - Fields marked "atomic" may be read by any thread.
 */
#ifndef HIVE_RUNTIME_H
#define HIVE_RUNTIME_H

#include <assert.h>
#include <ck_ec.h>
#include <ck_hs.h>
#include <ck_ht.h>
#include <ck_ring.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hive/hive.h"
#include "mailbox/mailbox.h"

#define HIVE__CACHELINE 64
#define HIVE__RUNQ_SIZE 4096 /* power of two; holds RUNQ_SIZE - 1 actors */
#define HIVE__CHUNK_SHIFT 10 /* 1024 slots a chunk */
#define HIVE__CHUNK_SLOTS (1u << HIVE__CHUNK_SHIFT)
/* Bytes of a slot the actor layer lays out (hive__life_t in actors/actor.h,
 * which checks that it fits). */
#define HIVE__LIFE_SIZE 144

struct hive__name;
struct hive__spawn_extra; /* actors/actor.h */
typedef struct hive__timer hive__timer_t;

/* The node's timer service (timers.c). */
typedef struct hive__timers {
  pthread_t thread;
  pthread_mutex_t lock; /* guards all below and every slot's `timers` list */
  pthread_cond_t cond;
  hive__timer_t **heap; /* owned: min-heap on due time */
  size_t count, cap;
  ck_hs_t by_id;
  uint64_t next_id;
  bool quit;
} hive__timers_t;

typedef struct hive__actor {
  /* Two cache lines: one senders write, one the owner writes (mailbox.h). */
  hive__mailbox_t mb;

  /* Read on every send, written only when an incarnation begins or ends,
   * so this line stays in every core's cache. Set at spawn, before the pid
   * is published. */
  _Atomic hive_pid_t alive_pid;         /* the pid while it accepts messages, else 0 */
  _Atomic hive_pid_t pid;               /* the incarnation until its slot is freed */
  _Atomic(const char *) behaviour_name; /* atomic: for statistics */
  _Atomic hive_pid_t parent;            /* the actor that spawned it, 0 if none */
  _Atomic uint64_t restarts;            /* given by the supervisor that restarted it */
  bool blocking;                        /* runs on the blocking pool */
  _Atomic bool supervisor;              /* a supervisor */

  /* Written every turn: by the owner, and by whoever schedules it. */
  _Alignas(HIVE__CACHELINE) _Atomic int state; /* HIVE_ACTOR_* */

  /* The actor layer's own part of the slot: its token fields and the
   * statistics only a turn writes, laid out by actors/actor.h
   * (hive__life_t, reached through hive__life). runtime/ never reads it;
   * it sits here, on the line a turn writes anyway. */
  _Alignas(8) unsigned char life[HIVE__LIFE_SIZE];

  /* atomic, single writer (the token holder): statistics. processed counts
   * user messages handed to the handler (not signals delivered as
   * messages); the node adds it to hive.processed_ended when the
   * incarnation ends. */
  _Atomic uint64_t processed;
  _Atomic uint64_t dead_letters;
  _Atomic uint64_t long_handlers; /* atomic: written by the watchdog */

  /* Under hive.names_lock. */
  _Atomic(struct hive__name *) name;

  /* Timers aimed at this slot; under hive.timers.lock. */
  _Atomic(hive__timer_t *) timers; /* atomic: read without the lock as a hint */

  /* atomic: the pid a hive_join caller waits for, so that only the exit
   * of that incarnation wakes joiners. */
  _Atomic hive_pid_t joined;

  /* atomic: a process actor's child (process/), 0 if none; for statistics. */
  _Atomic int os_pid;

  /* Scheduler and slot allocator. */
  struct hive__actor *inject_next; /* under hive.inject_lock */
  struct hive__actor *free_next;   /* under hive.slots_lock, or its worker's */
  uint32_t slot;
  uint32_t gen; /* generation of the current or next incarnation */
#ifndef NDEBUG
  _Atomic bool queued; /* debug builds: scheduled and its turn not begun */
#endif
} hive__actor_t;
_Static_assert(offsetof(hive__actor_t, alive_pid) == sizeof(hive__mailbox_t) &&
                   offsetof(hive__actor_t, state) >= sizeof(hive__mailbox_t) + HIVE__CACHELINE,
               "what senders read shares no line with what a turn writes");

/* Invariants that hold by design, checked in Debug and sanitizer builds:
 * whoever schedules an actor holds its mailbox token (pending > 0), and an
 * actor is scheduled at most once until its turn begins, so it sits in
 * one run queue at most. */
static inline void hive__assert_scheduling(hive__actor_t *a) {
#ifndef NDEBUG
  assert(atomic_load_explicit(&a->mb.pending, memory_order_relaxed) > 0);
  assert(!atomic_exchange_explicit(&a->queued, true, memory_order_relaxed));
#else
  (void)a;
#endif
}
static inline void hive__assert_turn_begins(hive__actor_t *a) {
#ifndef NDEBUG
  assert(atomic_exchange_explicit(&a->queued, false, memory_order_relaxed));
#else
  (void)a;
#endif
}

/* What a thief last saw of a victim (sched.c). */
typedef struct hive__victim_watch {
  uint64_t turns;    /* the victim's turn count */
  uint64_t since_ns; /* when the thief first saw that count */
} hive__victim_watch_t;

/*
 * A worker's outbox (deliver.c). A send from a turn that wakes an idle
 * actor pushes as usual and marks the actor's mailbox with the turn
 * (scheduled_in). The actor then waits in this worker's queues until the
 * turn ends, so further messages the turn sends it are held back here and
 * pushed together when the turn ends: a turn that sends it k messages
 * makes 2 locked instructions for them instead of 2k, and the receiver
 * sees them no later than it could have run. Once a message to an actor is
 * held, every later one from the same turn is held too, so order holds.
 *
 * Unless the turn is long: once a thief or the watchdog finds the worker
 * stuck in one turn (sched.c, watchdog.c), queued actors may move to other
 * workers and should not wait for the turn's end. They set hold_off; the
 * next send pushes what is held and the rest of the turn holds nothing.
 */
#define HIVE__OUTBOX_SLOTS 64 /* a power of two; indexed by the receiver's slot */
typedef struct hive__outbox_entry {
  uint64_t turn;             /* in use while equal to the outbox's turn */
  hive_pid_t to;             /* the receiver */
  struct hive__actor *actor; /* its slot */
  hive__msg_t *newest;       /* owned: held back, linked to older ones */
  hive__msg_t *oldest;
  int64_t count;
} hive__outbox_entry_t;
typedef struct hive__outbox {
  uint64_t turn;      /* this worker's turn: unique among the node's workers, never 0 */
  uint64_t turn_step; /* h->nworkers, kept here: 3 instructions less a turn */
  /* The sending side of the accounting (hive_node_stats): user messages
   * this worker's sends put into mailboxes, counted in sent_turn (a plain
   * add on the send path) and published to sent at the end of each turn
   * and before it sleeps. A worker sends only to actors of its own node:
   * an outbox's held messages are pushed, and their actors scheduled, on
   * that node's workers. */
  uint64_t sent_turn;
  _Atomic uint64_t sent;
  _Atomic bool hold_off;            /* set by other threads: this turn is long */
  unsigned nheld;                   /* entries holding messages, listed in held */
  uint8_t held[HIVE__OUTBOX_SLOTS]; /* their indices */
  hive__outbox_entry_t entry[HIVE__OUTBOX_SLOTS];
} hive__outbox_t;

/* hive__worker_t.call_pid of a worker looking for an actor to run, or
 * about to begin the turn of one it took (sched.c, yields). */
#define HIVE__PID_TAKEN UINT64_MAX

typedef struct hive__worker {
  _Alignas(HIVE__CACHELINE) hive_t *node; /* aligned: no false sharing */
  unsigned index;
  pthread_t thread;
  ck_ring_t ring;                     /* owner pushes; owner and thieves pop */
  ck_ring_buffer_t *ring_buf;         /* owned */
  _Atomic(struct hive__actor *) next; /* woken by this worker: runs next */
  unsigned next_streak;               /* turns taken from next in a row */
  ck_ec32_t wake;                     /* parked here; see sched.c */
  _Atomic bool parked;
  bool blocking; /* one of the blocking pool's threads */
  /* The handler call in progress, for the watchdog: call_seq is odd while a
   * call runs; written by the worker, read by the watchdog. */
  _Atomic uint64_t call_seq;
  _Atomic hive_pid_t call_pid; /* the actor whose turn runs or last ran; HIVE__PID_TAKEN
                                  while it looks for one and until its turn begins;
                                  0: it found none */
  void *altstack;              /* owned: the signal stack for trapped faults */
  unsigned tick;
  uint32_t calls_to_sample; /* statistics: hive__stats_sample; kept away from `next`,
                               which thieves read, as it changes on every call */
  uint64_t rng;
  hive__msg_cache_t msgs;         /* this thread's free messages (message.c) */
  struct hive__actor *free_slots; /* this worker's free slots (pidtab.c) */
  struct hive__actor *free_slots_last;
  unsigned nfree_slots;
  hive__victim_watch_t *watch; /* owned: one per worker, as a thief sees it */
  hive__outbox_t outbox;       /* held-back messages of the running turn */
  bool watching;               /* its last look saw a victim that may be stuck */
  /* atomic, single writer: statistics. */
  _Atomic uint64_t turns;
  _Atomic uint64_t messages;
  _Atomic uint64_t steals_tried;
  _Atomic uint64_t steals_won;
  _Atomic uint64_t parks;
  _Atomic uint64_t busy_ns;     /* awake time up to the last sleep */
  _Atomic uint64_t awake_since; /* when it last woke; 0 while asleep */
  /* The sending side of the accounting (hive_node_stats), for sends that
   * do not go through the outbox (the blocking pool's); the outbox counts
   * the others. */
  _Atomic uint64_t sent;
} hive__worker_t;

/* The gateway's counters: gateway/ writes them, hive_gateway_stats
 * (node_state.c) reads them. */
typedef struct hive__gateway_counters {
  _Atomic bool running;
  _Atomic uint64_t connections;
  _Atomic uint64_t accepted;
  _Atomic uint64_t refused;
  _Atomic uint64_t frames_in;
  _Atomic uint64_t frames_out;
  _Atomic uint64_t bytes_in;
  _Atomic uint64_t bytes_out;
  _Atomic uint64_t slow_reader_closes;
  _Atomic uint64_t errors[HIVE_GW_ERROR_KINDS];
} hive__gateway_counters_t;

/* Fields that different threads write often sit on cache lines of their
 * own, so a spawn or an exit does not slow down a worker looking for work. */
struct hive {
  /* Read-mostly after hive_start. */
  unsigned nworkers;
  unsigned batch;
  unsigned max_actors;
  bool slot_caches; /* workers keep free slots of their own (pidtab.c) */
  unsigned node_id;
  void *data;
  hive__worker_t *workers;          /* owned: nworkers */
  _Atomic(hive__actor_t *) *chunks; /* owned: nchunks, each CHUNK_SLOTS; pidtab.c */
  unsigned nchunks;
  _Atomic bool quit;  /* workers: leave */
  hive_log_fn log_fn; /* NULL: stderr */
  void *log_user;
  _Atomic int log_level;      /* relaxed: hive_log_level_set may change it at any time */
  unsigned handler_budget_ms; /* 0: no watchdog */
  /* Passed down by the layers above (docs/architecture.md), NULL if none:
   * how a process actor is spawned (process/), and where a send or reply
   * goes that no slot of this node can take (a process actor's own side:
   * the channel). child: that side, where most calls are HIVE_ENOTSUP. */
  int (*spawn_process)(hive_t *h, const hive_behaviour_t *b, const void *arg, size_t arg_len,
                       const hive_spawn_opts_t *opts, const struct hive__spawn_extra *extra,
                       hive_pid_t *out);
  int (*elsewhere)(hive_t *h, bool reply, hive_pid_t to, uint32_t tag, uint64_t ref,
                   const void *data, size_t len);
  bool child;
  /* Where a message or signal to another node's pid goes (cluster/): takes
   * msg (to, pub, flags and signal filled in) whatever the outcome; HIVE_OK
   * once it is on its way, HIVE_ENOCONN if that node is not connected (a
   * dead letter, counted), HIVE_ETOOBIG, or HIVE_ENOMEM (not sent, not
   * counted). NULL: the node is in no cluster. */
  int (*route)(hive_t *h, hive__msg_t *msg);
  struct hive__cluster *cluster; /* owned by cluster/, NULL if none */
  /* Passed across between layers of equal rank, through node/'s order of
   * start: admin/ answers an admin request (docs/admin-protocol.md)
   * through pk (a msgpack_packer), for cluster/ to serve hivectl --node;
   * cluster/ adds its Prometheus families to hive_metrics' text and lists
   * the live nodes (hive_nodes) for admin/'s "nodes" answer. NULL: none. */
  bool (*admin_answer)(hive_t *h, const void *request, size_t len, void *pk);
  void (*metrics_more)(hive_t *h, FILE *out);
  int (*nodes)(hive_t *h, hive_node_info_t *out, size_t max);
  /* Generations: a pid's holds gen_base | (the slot's count & gen_mask).
   * In a cluster the top 8 bits are the node's incarnation (cluster/ sets
   * gen_base when it joins, and again when it rejoins); else base 0 and
   * the whole 32 bits count. */
  uint32_t gen_mask;
  _Atomic uint32_t gen_base;
  _Atomic hive_pid_t system_monitor;
  _Atomic bool stopping; /* hive_stop has begun: no more spawns */

  /* Free messages the workers trade in batches (message.c). */
  _Alignas(HIVE__CACHELINE) hive__msg_depot_t msg_depot;

  /* Actors scheduled by threads outside the pool, and run-queue overflow;
   * and actors that yielded, waiting for what was queued before them
   * (sched.c). inject_len counts both. */
  _Alignas(HIVE__CACHELINE) pthread_mutex_t inject_lock;
  hive__actor_t *inject_head, *inject_tail;
  struct hive__yielded *yielded_head, *yielded_tail; /* owned */
  _Atomic size_t inject_len;

  /* The blocking pool (blocking.c). */
  _Alignas(HIVE__CACHELINE) pthread_mutex_t blocking_lock;
  pthread_cond_t blocking_cond;
  hive__actor_t *blocking_head, *blocking_tail; /* through inject_next */
  _Atomic size_t blocking_len;                  /* queued: read by spinning threads */
  size_t blocking_spinning;                     /* threads looking for work, not asleep */
  bool blocking_quit;
  hive__worker_t *blocking; /* owned: nblocking */
  unsigned nblocking;

  /* Parking (sched.c). */
  _Alignas(HIVE__CACHELINE) _Atomic unsigned parked;
  _Atomic unsigned spinning;

  /* Free slots (pidtab.c). */
  _Alignas(HIVE__CACHELINE) pthread_mutex_t slots_lock;
  uint32_t slots_used;       /* slots ever handed out; under slots_lock */
  hive__actor_t *free_slots; /* under slots_lock */

  /* Names (registry.c). */
  _Alignas(HIVE__CACHELINE) pthread_mutex_t names_lock;
  ck_hs_t names;

  /* Timers (timers.c). */
  _Alignas(HIVE__CACHELINE) hive__timers_t timers;

  /* Totals written by every spawn and exit. */
  _Alignas(HIVE__CACHELINE) _Atomic uint64_t alive;
  _Atomic uint64_t spawned;
  _Atomic uint64_t exited;
  _Atomic uint64_t exits[HIVE_REASON_KINDS]; /* exited, by reason kind */

  /* Refs of requests and monitors (actors/), and the plain threads waiting
   * in hive_ask (owned by actors/request.c, which alone knows its shape). */
  _Alignas(HIVE__CACHELINE) _Atomic uint64_t next_ref;
  struct hive__asks *asks;

  /* The watchdog (watchdog.c). */
  _Alignas(HIVE__CACHELINE) pthread_t watchdog;
  pthread_mutex_t watchdog_lock;
  pthread_cond_t watchdog_cond;
  bool watchdog_quit;
  _Atomic bool watchdog_napping; /* waiting a quarter budget; poke to wake it */
  bool watchdog_poked;           /* under watchdog_lock */

  /* The gateway's counters. */
  _Alignas(HIVE__CACHELINE) hive__gateway_counters_t gw;

  /* Rarer events, and the waits of hive_stop and hive_join. */
  _Alignas(HIVE__CACHELINE) _Atomic uint64_t dead_letters;
  _Atomic uint64_t dropped;
  _Atomic uint64_t sent_outside;    /* sends from threads that are not this node's workers */
  _Atomic uint64_t processed_ended; /* hive__actor_t.processed of the incarnations that ended */
  _Atomic uint64_t late_replies;
  _Atomic uint64_t restarts;
  hive_pid_t *stop_first; /* owned: under stop_lock */
  size_t nstop_first, stop_first_cap;
  struct hive__admin *admin;     /* owned: the admin socket, NULL if none */
  struct hive__http *http;       /* owned: the HTTP endpoint, NULL if none */
  struct hive__gateway *gateway; /* owned: the gateway, NULL if none */
  struct hive__procs *procs;     /* owned: process actors' spawner, NULL until one */
  pthread_mutex_t stop_lock;     /* with stop_cond: hive_stop and hive_join wait */
  pthread_cond_t stop_cond;
};

/* Returns HIVE_ENOTSUP from a public call made inside a process actor's
 * callbacks (h is its side of the channel): docs/process.md lists the
 * calls that work there. */
#define HIVE__NOT_IN_CHILD(h)                                                                      \
  do {                                                                                             \
    if ((h)->child)                                                                                \
      return HIVE_ENOTSUP;                                                                         \
  } while (0)

/* What the current thread is doing for which node. */
typedef struct hive__tls {
  hive_t *node;           /* set on worker threads */
  hive__worker_t *worker; /* NULL outside the pool */
  hive__actor_t *actor;   /* whose callback runs now, else NULL */
  hive__outbox_t *outbox; /* a worker's (not the blocking pool's), else NULL */
  /* Statistics: which sends are stamped (HIVE__STAMP_*), sends left before
   * the next stamped one on a plain thread, and the state that draws the
   * gaps (hive__stats_next_gap). */
  uint8_t stamp;
  uint32_t sends_to_sample;
  uint64_t rng;
} hive__tls_t;

extern _Thread_local hive__tls_t hive__tls;

uint64_t hive__now_ns(void); /* CLOCK_MONOTONIC (timers.c) */
/* A gap between sampled events: uniform in 1 .. 2 * HIVE__STATS_SAMPLE - 1,
 * from the calling thread's generator (node.c). */
uint32_t hive__stats_next_gap(void);

/* ---- Statistics --------------------------------------------------------- */

/* HIVE_STATS (mailbox.h) says whether the hot path keeps its counters. */
/* Timing every handler call would cost pingpong a third of its speed (a
 * clock read is about 28 ns here), so one call in HIVE__STATS_SAMPLE on a
 * worker, at random, is timed and counts for that many. An actor whose
 * timed call took HIVE__STATS_SLOW_NS or more has every call timed until
 * one is faster again: the clock is then noise next to the handler, and
 * its max is exact. Message waits are sampled too (HIVE__STAMP_*). */
#define HIVE__STATS_SAMPLE 64u /* a power of two */
#define HIVE__STATS_SLOW_NS 50000u

/* Counts an event down to the next sampled one: true once in
 * HIVE__STATS_SAMPLE events on average. The gaps are random, so a pattern
 * in the events (two actors taking turns) cannot hide one of them. */
static inline bool hive__stats_sample(uint32_t *countdown) {
  if (*countdown > 1) {
    --*countdown;
    return false;
  }
  *countdown = hive__stats_next_gap();
  return true;
}

/* Raises a single-writer maximum. */
static inline void hive__stats_raise(_Atomic uint64_t *max, uint64_t value) {
  if (value > atomic_load_explicit(max, memory_order_relaxed))
    atomic_store_explicit(max, value, memory_order_relaxed);
}

/* Adds to a single-writer counter without a read-modify-write. */
static inline void hive__stats_add(_Atomic uint64_t *counter, uint64_t n) {
  atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + n,
                        memory_order_relaxed);
}

/* What every worker and blocking-pool thread does first and last: its
 * thread-local state, its signal stack, its busy time (sched.c). */
void hive__worker_thread_enter(hive__worker_t *w);
void hive__worker_thread_leave(hive__worker_t *w);
/* A worker or blocking thread goes to sleep, and wakes: its busy time. */
void hive__worker_note_sleep(hive__worker_t *w);
void hive__worker_note_wake(hive__worker_t *w);

/* ---- Pids and the actor table (pidtab.c) -------------------------------- */

static inline hive_pid_t hive__pid_make(unsigned node, uint32_t slot, uint32_t gen) {
  return ((hive_pid_t)node << 56) | ((hive_pid_t)slot << 32) | gen;
}
/* The generation a new incarnation of a slot whose count is gen gets. */
static inline uint32_t hive__pid_gen(hive_t *h, uint32_t gen) {
  return atomic_load_explicit(&h->gen_base, memory_order_relaxed) | (gen & h->gen_mask);
}
/* A message to pid leaves the node (cluster/ routes it). */
static inline bool hive__pid_remote(hive_t *h, hive_pid_t pid) {
  return h->route != NULL && HIVE_PID_NODE(pid) != h->node_id;
}

int hive__pidtab_init(hive_t *h);
void hive__pidtab_free(hive_t *h); /* frees every queued message too */
/* The slot pid names, or NULL if it cannot name one on this node. The slot
 * may hold another incarnation: compare alive_pid. Any thread; inline
 * because every send starts here. */
static inline hive__actor_t *hive__pidtab_lookup(hive_t *h, hive_pid_t pid) {
  if (HIVE_PID_NODE(pid) != h->node_id || HIVE_PID_GEN(pid) == 0)
    return NULL;
  uint32_t slot = HIVE_PID_SLOT(pid);
  uint32_t c = slot >> HIVE__CHUNK_SHIFT;
  if (c >= h->nchunks)
    return NULL;
  hive__actor_t *chunk = atomic_load_explicit(&h->chunks[c], memory_order_acquire);
  if (chunk == NULL)
    return NULL;
  return &chunk[slot & (HIVE__CHUNK_SLOTS - 1)];
}
/* A free slot whose mailbox token the caller now holds; NULL with *err set. */
hive__actor_t *hive__pidtab_alloc(hive_t *h, int *err);
/* Returns an exited slot to the free list; its generation moves on. */
void hive__pidtab_release(hive_t *h, hive__actor_t *a);
/* Calls visit for each slot that holds an incarnation (its pid, exiting
 * ones included), in slot order: a snapshot, as actors start and end
 * meanwhile. Any thread. */
void hive__pidtab_each(hive_t *h, void (*visit)(hive__actor_t *a, hive_pid_t pid, void *arg),
                       void *arg);

/* ---- Scheduling (sched.c) ------------------------------------------------ */

/* How the runtime's event counts sleep and wake (futex); single_producer
 * for counts only one thread bumps. */
extern const struct ck_ec_mode hive__ec_mode_sp;

int hive__sched_start(hive_t *h);
void hive__sched_stop(hive_t *h); /* joins the workers */
/* Schedules an actor whose token the caller just took (a message woke it):
 * into the current worker's next slot if the caller is one of this node's
 * workers, so the receiver runs where its sender is; else the inject
 * queue. Any thread. */
void hive__sched_schedule(hive_t *h, hive__actor_t *a);
/* w is stuck in a long call (the watchdog saw it): moves the actor in its
 * next slot, if any, to the inject queue, and wakes a parked worker to
 * steal from its run queue. Any thread. */
void hive__sched_rescue(hive_t *h, hive__worker_t *w);
/* Wakes a napping watchdog so it looks every millisecond for a while: a
 * worker queued an actor while others are parked. Any thread. */
void hive__watchdog_poke(hive_t *h);
/* Puts an actor whose turn ended with work left at the tail of the
 * current worker's run queue (or the inject queue outside the pool). */
void hive__sched_requeue(hive_t *h, hive__actor_t *a);
/* hive__sched_requeue for an actor that called hive_yield: it runs again
 * only once every actor now waiting in a run queue, a next slot or the
 * inject queue has run, and the turns in progress once they were handed
 * out have ended (sched.c). Any thread (outside the pool: a plain
 * hive__sched_requeue). */
void hive__sched_yield(hive_t *h, hive__actor_t *a);

/* ---- Logging (log.c), watchdog (watchdog.c), faults (faults.c) ---------- */

void hive__vlog(hive_t *h, int level, const char *fmt, va_list ap);
/* The name of a HIVE_REASON_* kind ("normal", ...; "unknown" for others). */
const char *hive__reason_name(int kind);

int hive__watchdog_start(hive_t *h); /* no thread when the budget is 0 */
void hive__watchdog_stop(hive_t *h);

/* What a trapped callback returns when it crashed; *signal says why. */
#define HIVE__CRASHED INT32_MIN
/* Runs fn(arg) so that a fault inside it (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT) returns HIVE__CRASHED with the signal in *signal instead of
 * ending the process. Installs the process's handlers on first use. */
int hive__faults_call(int (*fn)(void *), void *arg, int *signal);
/* Gives the calling thread an alternate signal stack (worker threads), so
 * that a stack overflow can be trapped too; and frees it. */
void hive__faults_thread_init(hive__worker_t *w);
void hive__faults_thread_fini(hive__worker_t *w);

/* ---- The blocking pool (blocking.c) -------------------------------------- */

int hive__blocking_start(hive_t *h);
void hive__blocking_stop(hive_t *h);
/* Queues a blocking actor whose token the caller holds. Any thread. */
void hive__blocking_push(hive_t *h, hive__actor_t *a);

/* ---- Delivering messages (deliver.c) ------------------------------------ */

/* Which user messages carry the time they were sent, for the receiver's
 * longest wait (hive__tls.stamp): plain threads stamp one in
 * HIVE__STATS_SAMPLE at random; workers stamp the first message sent by
 * each timed handler call, and no other. */
#define HIVE__STAMP_SAMPLED 0 /* a plain thread: the zeroed default */
#define HIVE__STAMP_NEVER 1
#define HIVE__STAMP_NEXT 2
void hive__stats_stamp_sampled(hive__msg_t *msg); /* deliver.c */
/* Stamps msg if this send is one of those. Before the push publishes it. */
static inline void hive__stats_stamp(hive__msg_t *msg) {
#if HIVE_STATS
  if (hive__tls.stamp != HIVE__STAMP_NEVER) /* the hot path: one load */
    hive__stats_stamp_sampled(msg);
#else
  (void)msg;
#endif
}

/* The slot of the live actor pid, or NULL. Any thread. */
static inline hive__actor_t *hive__lookup_live(hive_t *h, hive_pid_t pid) {
  hive__actor_t *a = hive__pidtab_lookup(h, pid);
  if (a == NULL || atomic_load_explicit(&a->alive_pid, memory_order_acquire) != pid)
    return NULL;
  return a;
}
/* Counts one dead letter, node-wide and, if owner is not NULL, on the
 * actor whose token the caller holds: a message that was sent (counted by
 * hive__count_sent) and then found no handler. */
void hive__count_dead_letter(hive_t *h, hive__actor_t *owner);
/* A message refused where it was sent (no live actor for its pid, here or
 * on a reachable node): sent and a dead letter at once. */
void hive__count_undeliverable(hive_t *h);

/* Counts one user message put into a mailbox of h (or, above, found no
 * actor): on the calling worker's own counter, or, from any other thread,
 * on a shared one. The sending side of the accounting (hive_node_stats). */
static inline void hive__count_sent(hive_t *h, int64_t n) {
#if HIVE_STATS
  hive__worker_t *w = hive__tls.worker;
  if (w != NULL && w->node == h)
    hive__stats_add(&w->sent, (uint64_t)n);
  else
    atomic_fetch_add_explicit(&h->sent_outside, (uint64_t)n, memory_order_relaxed);
#else
  (void)h, (void)n;
#endif
}

/* What hive__push_user returns when a drop-new mailbox dropped the message
 * (counted); public calls report it as HIVE_OK. */
#define HIVE__DROPPED 2

/* Pushes msg (msg->to set) on a's user lane and schedules a if it was idle.
 * HIVE_OK: msg is given away. HIVE__DROPPED: dropped and counted. HIVE_EFULL:
 * msg is freed, but a moved buffer is not: the caller keeps it. */
int hive__push_user(hive_t *h, hive__actor_t *a, hive__msg_t *msg);
/* As hive__push_user, but a plain thread (no actor running on it) sending
 * to a full HIVE_MAILBOX_BLOCK mailbox waits for room, at most the
 * mailbox's block_ms: then HIVE_ETIMEDOUT, or HIVE_ENOPROC if the actor
 * ended meanwhile; nothing is enqueued and a moved buffer stays the
 * caller's. For hive_send and hive_ask, never for the runtime's threads. */
int hive__push_user_waiting(hive_t *h, hive__actor_t *a, hive__msg_t *msg);
/* Pushes what the outbox holds back and frees its entries: at the end of a
 * turn, and in hive_checkpoint. The worker's thread. */
void hive__outbox_flush(hive_t *h, hive__outbox_t *out);
static inline void hive__outbox_end_turn(hive_t *h, hive__outbox_t *out) {
  if (out->nheld > 0)
    hive__outbox_flush(h, out);
#if HIVE_STATS
  atomic_store_explicit(&out->sent, out->sent_turn, memory_order_relaxed);
#endif
  out->turn += out->turn_step; /* frees every entry */
  if (atomic_load_explicit(&out->hold_off, memory_order_relaxed))
    atomic_store_explicit(&out->hold_off, false, memory_order_relaxed);
}
/* Any thread: w is stuck in a long turn; its outbox stops holding. */
static inline void hive__outbox_hold_off(hive__outbox_t *out) {
  if (!atomic_load_explicit(&out->hold_off, memory_order_relaxed))
    atomic_store_explicit(&out->hold_off, true, memory_order_relaxed);
}

/* Pushes msg on a's system lane and schedules a if it was idle. */
void hive__push_system(hive_t *h, hive__actor_t *a, hive__msg_t *msg);
/* Looks msg->to up and pushes; HIVE_ENOPROC (a dead letter) if it is gone.
 * A pid of another node goes to h->route. Ownership as in hive__push_user. */
int hive__deliver(hive_t *h, hive__msg_t *msg);
/* msg found no live slot here: routed if its pid is another node's, else
 * counted as a dead letter, freed, and HIVE_ENOPROC. */
int hive__deliver_elsewhere(hive_t *h, hive__msg_t *msg);

/* ---- Timers (timers.c) --------------------------------------------------- */

/* A CLOCK_MONOTONIC time in ns, as the timespec pthread_cond_timedwait takes. */
struct timespec hive__timespec_at(uint64_t ns);
/* A condition variable whose timed waits use CLOCK_MONOTONIC. 0 or an errno. */
int hive__cond_init_monotonic(pthread_cond_t *cond);
int hive__timers_start(hive_t *h);
void hive__timers_stop(hive_t *h); /* frees every timer left */
/* Arms a timer that delivers a message (tag, ref, msg_flags, a copy of
 * data) to the live actor `to` after delay_ns, then every interval_ns if
 * that is not 0. HIVE_ENOPROC if `to` is not alive. Any thread. */
int hive__timer_arm(hive_t *h, hive_pid_t to, uint32_t tag, uint64_t ref, uint32_t msg_flags,
                    const void *data, size_t len, uint64_t delay_ns, uint64_t interval_ns,
                    uint64_t *id);
/* HIVE_OK if the timer was still pending (it will not fire again),
 * HIVE_ENOTFOUND if it has fired (one-shot) or never existed. */
int hive__timer_cancel(hive_t *h, uint64_t id);
/* Cancels every timer aimed at slot a (its actor is ending). */
void hive__timers_cancel_slot(hive_t *h, hive__actor_t *a);

/* ---- Names (registry.c) ------------------------------------------------- */

int hive__registry_init(hive_t *h);
void hive__registry_free(hive_t *h);
/* Drops the actor's name, if it has one. */
void hive__registry_release(hive_t *h, hive__actor_t *a);
/* Copies the actor's name (or "") into buf of HIVE_NAME_MAX + 1 bytes. */
void hive__registry_name_of(hive_t *h, hive__actor_t *a, char *buf);

/* Counts a child restarted by a supervisor (hive_node_stats.restarts). */
void hive__node_count_restart(hive_t *h);

/* hive_stop ends these first, one at a time, the last added first (the
 * top-level supervisors), then every other actor. */
int hive__node_stop_first(hive_t *h, hive_pid_t pid);

/* An incarnation ends: first count it (before its pid field is cleared, so
 * that whoever sees it gone sees the totals too; true if it was the last
 * actor of a stopping node), then, once the pid is cleared, wake its
 * hive_join callers and hive_stop. */
bool hive__node_count_exit(hive_t *h, int reason_kind);
void hive__node_actor_exited(hive_t *h, hive__actor_t *a, hive_pid_t pid, bool last);

#endif /* HIVE_RUNTIME_H */
