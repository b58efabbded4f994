/*
 * sched.c - workers, run queues, stealing and parking.
 *
 * Each worker owns a ck_ring used SPMC: only the owner pushes (so only actors
 * scheduled from that worker, or requeued by it, go there), the owner and
 * thieves pop from the head, FIFO. A steal takes one actor in constant time.
 * Threads outside the pool, and owners whose ring is full, use the inject
 * queue: a mutex-guarded list that workers look at every other tick, so an
 * actor flooded with messages cannot starve one scheduled from outside.
 *
 * Work runs where it was made. A message that wakes an actor puts it in the
 * sender's worker's `next` slot, which that worker runs as soon as the
 * current turn ends: a pair of chatting actors stays on one core instead of
 * bouncing a cache line per message. After SCHED_NEXT_STREAK turns from the
 * slot in a row, the owner serves its run queue, so a chatting pair cannot
 * starve the others. A worker's own run queue and next slot wake nobody,
 * and thieves leave them alone while their owner keeps finishing turns:
 * moving an actor to another core costs a cache miss for every message it
 * was sent there (about 150 ns here), more than the short turns of a busy
 * worker take. A thief steals once it has seen the victim in the same turn
 * for SCHED_STEAL_AFTER_NS (a long handler), and keeps spinning that long
 * while it watches a victim with work queued; if every other worker is
 * parked, the watchdog (watchdog.c) notices the long call, moves the next
 * slot to the inject queue and wakes a worker to steal the rest.
 *
 * An actor that calls hive_yield ends its turn after that handler, and
 * runs again only after every actor that was then waiting to run has run
 * (hive__sched_yield): the actors in its worker's next slot and in the
 * inject queue move into its worker's run queue, and the actor waits, with
 * the inject queue, first for each run queue's consumer count to pass the
 * producer count it had at the yield and for each next slot to give up the
 * actor it held, then for each worker to finish the turn it was in or
 * about to begin at that moment (for up to SCHED_YIELD_PATIENCE_NS, so a
 * long handler elsewhere does not hold it up for long). A supervisor
 * retrying a failed restart relies on it: the dying actors that still hold
 * the names, on whichever worker, release them in between. While it waits,
 * workers see the inject queue non-empty and do not park.
 *
 * Parking is Dekker's handshake, done with read-modify-writes on the node's
 * `parked` count instead of fences (which ThreadSanitizer cannot model). A
 * worker about to sleep reads its event count, raises its flag, adds one to
 * `parked` and looks for work once more; a scheduler pushes, then reads
 * `parked` with an RMW, which always sees the newest value. Either the
 * scheduler's RMW comes later and sees the sleeper, or it comes first and
 * the sleeper's RMW, reading from it, sees the push. So no wakeup is lost.
 * Wakers skip the syscall while some worker is still spinning: that worker
 * will find the new actor itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mailbox/tsan.h"
#include "runtime.h"
#include "upcall.h"

_Thread_local hive__tls_t hive__tls;

/* How long an idle worker keeps looking before it parks. Waking a parked
 * thread costs tens of microseconds here, so spin about as long. */
#define SCHED_SPIN_NS 50000
/* Turns a worker takes from its next slot in a row while others wait. */
#define SCHED_NEXT_STREAK 64
/* How long a thief must see a victim in one turn before it takes from its
 * run queue or next slot. Longer than the turns of a worker feeding many
 * actors (a sender's turn of 64 messages to 60 receivers is ~100 us here),
 * whose actors would pay a cache miss per message on another core; short
 * beside a handler that computes for milliseconds. */
#define SCHED_STEAL_AFTER_NS 200000
/* How long an actor that yielded waits for a turn in progress on another
 * worker: a few of the kernel's time slices, so a worker preempted in the
 * middle of a turn (a dying actor releasing its name) gets back to it
 * first; short beside a handler that computes for a second. */
#define SCHED_YIELD_PATIENCE_NS 5000000

/* ---- ck_ec operations: futex wait and wake ----------------------------- */

static int sched_gettime(const struct ck_ec_ops *ops, struct timespec *out) {
  (void)ops;
  return clock_gettime(CLOCK_MONOTONIC, out);
}

static void sched_wait32(const struct ck_ec_wait_state *state, const uint32_t *addr,
                         uint32_t expected, const struct timespec *deadline) {
  struct timespec rel, *timeout = NULL;
  if (deadline != NULL) {
    /* futex takes a relative timeout; deadlines come from sched_gettime. */
    rel.tv_sec = deadline->tv_sec - state->now.tv_sec;
    rel.tv_nsec = deadline->tv_nsec - state->now.tv_nsec;
    if (rel.tv_nsec < 0) {
      rel.tv_nsec += 1000000000L;
      rel.tv_sec--;
    }
    if (rel.tv_sec < 0)
      return;
    timeout = &rel;
  }
  syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, expected, timeout, NULL, 0);
}

static void sched_wake32(const struct ck_ec_ops *ops, const uint32_t *addr) {
  (void)ops;
  syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static const struct ck_ec_ops sched_ec_ops = {
    .gettime = sched_gettime, .wait32 = sched_wait32, .wake32 = sched_wake32};
static const struct ck_ec_mode sched_ec_mode = {.ops = &sched_ec_ops, .single_producer = false};
const struct ck_ec_mode hive__ec_mode_sp = {.ops = &sched_ec_ops, .single_producer = true};

/* ---- Run queues ---------------------------------------------------------- */

static void sched_inject(hive_t *h, hive__actor_t *a) {
  pthread_mutex_lock(&h->inject_lock);
  a->inject_next = NULL;
  if (h->inject_tail != NULL)
    h->inject_tail->inject_next = a;
  else
    h->inject_head = a;
  h->inject_tail = a;
  atomic_fetch_add_explicit(&h->inject_len, 1, memory_order_relaxed);
  pthread_mutex_unlock(&h->inject_lock);
}

/* An actor that yielded. It waits in two steps: until each worker's run
 * queue and next slot have given out what they held at the yield; then,
 * from that moment, until each worker has finished the turn it was in or
 * about to begin, which may be one of those (for up to
 * SCHED_YIELD_PATIENCE_NS: a long handler is not waited for). */
typedef struct hive__yielded {
  struct hive__yielded *next;
  hive__actor_t *actor;
  bool queues_done;        /* the first step is over */
  uint64_t patience_until; /* after this, turns in progress are not waited for */
  struct {
    unsigned ring_tail;  /* its ring's producer count at the yield */
    hive__actor_t *next; /* in its next slot at the yield */
    uint64_t turns;      /* its turn count when the queues were done */
    /* Turns it must begin before the one it was in, or the actor it had
     * taken, has ended: 0 (it was idle), 1 (in a turn), 2 (taking). */
    unsigned turns_to_wait;
  } worker[];
} hive__yielded_t;

/* Whether y's wait is over; self is the worker asking, which is looking
 * for work and so in no turn. Under inject_lock (it updates y). */
static bool sched_yield_done(hive_t *h, hive__yielded_t *y, const hive__worker_t *self) {
  if (!y->queues_done) {
    for (unsigned i = 0; i < h->nworkers; i++) {
      hive__worker_t *w = &h->workers[i];
      if ((int)(ck_pr_load_uint(&w->ring.c_head) - y->worker[i].ring_tail) < 0)
        return false; /* modulo 2^32, as the ring counts */
      if (y->worker[i].next != NULL &&
          atomic_load_explicit(&w->next, memory_order_relaxed) == y->worker[i].next)
        return false;
    }
    for (unsigned i = 0; i < h->nworkers; i++) {
      hive__worker_t *w = &h->workers[i];
      /* call_pid first: a turn that begins after it is counted in turns. */
      hive_pid_t running = atomic_load_explicit(&w->call_pid, memory_order_acquire);
      y->worker[i].turns = atomic_load_explicit(&w->turns, memory_order_relaxed);
      y->worker[i].turns_to_wait = w == self || running == 0    ? 0
                                   : running == HIVE__PID_TAKEN ? 2
                                                                : 1;
    }
    y->queues_done = true;
    y->patience_until = hive__now_ns() + SCHED_YIELD_PATIENCE_NS;
  }
  for (unsigned i = 0; i < h->nworkers; i++) {
    hive__worker_t *w = &h->workers[i];
    if (y->worker[i].turns_to_wait == 0 ||
        atomic_load_explicit(&w->call_pid, memory_order_relaxed) == 0 ||
        atomic_load_explicit(&w->turns, memory_order_relaxed) - y->worker[i].turns >=
            y->worker[i].turns_to_wait)
      continue;
    return hive__now_ns() >= y->patience_until; /* a turn still runs: done once impatient */
  }
  return true;
}

/* The oldest yielded actor whose wait is over, or NULL. Under inject_lock. */
static hive__actor_t *sched_yielded_take(hive_t *h, const hive__worker_t *self) {
  for (hive__yielded_t **link = &h->yielded_head, *prev = NULL; *link != NULL;
       prev = *link, link = &(*link)->next) {
    hive__yielded_t *y = *link;
    if (!sched_yield_done(h, y, self))
      continue;
    *link = y->next;
    if (h->yielded_tail == y)
      h->yielded_tail = prev;
    hive__actor_t *a = y->actor;
    free(y);
    return a;
  }
  return NULL;
}

/* sched_inject_pop once the queue was seen non-empty. A function of its
 * own: inlined, it cost pingpong 1% more instructions (callgrind). */
static hive__actor_t *sched_inject_take(hive_t *h, const hive__worker_t *self) {
  pthread_mutex_lock(&h->inject_lock);
  hive__actor_t *a = h->yielded_head != NULL ? sched_yielded_take(h, self) : NULL;
  if (a == NULL && (a = h->inject_head) != NULL) {
    h->inject_head = a->inject_next;
    if (h->inject_head == NULL)
      h->inject_tail = NULL;
  }
  if (a != NULL)
    atomic_fetch_sub_explicit(&h->inject_len, 1, memory_order_relaxed);
  pthread_mutex_unlock(&h->inject_lock);
  return a;
}

/* The next actor of the inject queue for worker self, or NULL. */
static inline hive__actor_t *sched_inject_pop(hive_t *h, const hive__worker_t *self) {
  if (atomic_load_explicit(&h->inject_len, memory_order_relaxed) == 0)
    return NULL;
  return sched_inject_take(h, self);
}

/* Whether the inject queue holds actors: the only work no running worker
 * will get to (a run queue or next slot with work has a running owner, and
 * watchdog.c covers a long turn). */
static bool sched_inject_waiting(hive_t *h) {
  return atomic_load_explicit(&h->inject_len, memory_order_relaxed) > 0;
}

/* Wakes one parked worker, unless a spinning one will find the work. Call
 * after making the work visible. */
static void sched_wake_one(hive_t *h) {
  if (atomic_fetch_add(&h->parked, 0) == 0 || atomic_load(&h->spinning) > 0)
    return;
  for (unsigned i = 0; i < h->nworkers; i++) {
    hive__worker_t *w = &h->workers[i];
    bool expected = true;
    if (atomic_load_explicit(&w->parked, memory_order_relaxed) &&
        atomic_compare_exchange_strong(&w->parked, &expected, false)) {
      atomic_fetch_sub(&h->parked, 1);
      ck_ec_inc(&w->wake, &sched_ec_mode);
      return;
    }
  }
}

/* Pushes a at the tail of w's ring, which w will get to; or, from outside
 * the pool or with the ring full, on the inject queue, waking a sleeper if
 * nobody is spinning. */
static void sched_push(hive_t *h, hive__worker_t *w, hive__actor_t *a) {
  HIVE__TSAN_RELEASE(a);
  if (w != NULL && w->node == h && ck_ring_enqueue_spmc(&w->ring, w->ring_buf, a)) {
    /* If this turn runs long, the watchdog must be looking to notice. */
    if (atomic_load_explicit(&h->watchdog_napping, memory_order_relaxed) &&
        atomic_load_explicit(&h->parked, memory_order_relaxed) > 0)
      hive__watchdog_poke(h);
    return;
  }
  sched_inject(h, a);
  sched_wake_one(h);
}

/* The current thread's worker if it is one of this node's scheduler
 * workers (not a blocking-pool thread), else NULL. */
static hive__worker_t *sched_current_worker(hive_t *h) {
  hive__worker_t *w = hive__tls.worker;
  return w != NULL && w->node == h && !w->blocking ? w : NULL;
}

void hive__sched_schedule(hive_t *h, hive__actor_t *a) {
  hive__assert_scheduling(a);
  atomic_store_explicit(&a->state, HIVE_ACTOR_QUEUED, memory_order_relaxed);
  if (a->blocking) {
    hive__blocking_push(h, a);
    return;
  }
  hive__worker_t *w = sched_current_worker(h);
  if (w == NULL) {
    sched_push(h, NULL, a);
    return;
  }
  HIVE__TSAN_RELEASE(a);
  /* Only this worker puts actors in its slot; thieves and the watchdog
   * only take them out. So a slot seen empty stays empty until this store,
   * and no read-modify-write is needed (the common case: the slot was
   * emptied when this turn began). A full slot may be taken meanwhile. */
  hive__actor_t *older = atomic_load_explicit(&w->next, memory_order_relaxed);
  if (older == NULL) {
    atomic_store_explicit(&w->next, a, memory_order_release);
    return;
  }
  older = atomic_exchange_explicit(&w->next, a, memory_order_acq_rel);
  if (older != NULL)
    sched_push(h, w, older);
}

void hive__sched_rescue(hive_t *h, hive__worker_t *w) {
  hive__outbox_hold_off(&w->outbox);
  if (atomic_load_explicit(&w->next, memory_order_relaxed) != NULL) {
    hive__actor_t *a = atomic_exchange_explicit(&w->next, NULL, memory_order_acq_rel);
    if (a != NULL) {
      HIVE__TSAN_ACQUIRE(a);
      sched_push(h, NULL, a);
    }
  }
  if (ck_ring_size(&w->ring) > 0)
    sched_wake_one(h); /* it will see w in one turn, and steal */
}

void hive__sched_requeue(hive_t *h, hive__actor_t *a) {
  hive__assert_scheduling(a);
  atomic_store_explicit(&a->state, HIVE_ACTOR_QUEUED, memory_order_relaxed);
  if (a->blocking)
    hive__blocking_push(h, a);
  else
    sched_push(h, sched_current_worker(h), a);
}

void hive__sched_yield(hive_t *h, hive__actor_t *a) {
  hive__worker_t *w = sched_current_worker(h);
  if (w == NULL || a->blocking) {
    hive__sched_requeue(h, a);
    return;
  }
  hive__assert_scheduling(a);
  atomic_store_explicit(&a->state, HIVE_ACTOR_QUEUED, memory_order_relaxed);
  /* The next slot and the inject queue as they are now (not what others
   * add meanwhile) join the run queue, while it has room. */
  hive__actor_t *next = atomic_exchange_explicit(&w->next, NULL, memory_order_acq_rel);
  if (next != NULL) {
    HIVE__TSAN_ACQUIRE(next);
    sched_push(h, w, next);
  }
  for (size_t waiting = atomic_load_explicit(&h->inject_len, memory_order_relaxed);
       waiting > 0 && ck_ring_size(&w->ring) < HIVE__RUNQ_SIZE - 2; waiting--) {
    hive__actor_t *b = sched_inject_pop(h, w);
    if (b == NULL)
      break;
    HIVE__TSAN_ACQUIRE(b);
    sched_push(h, w, b);
  }
  /* Then a waits (hive__yielded_t) for what every run queue and next slot
   * holds now, and for the turns in progress once they are given out. */
  hive__yielded_t *y = malloc(sizeof(*y) + h->nworkers * sizeof(y->worker[0]));
  if (y == NULL) { /* the tail will do */
    sched_push(h, w, a);
    return;
  }
  for (unsigned i = 0; i < h->nworkers; i++) {
    hive__worker_t *other = &h->workers[i];
    y->worker[i].ring_tail = ck_pr_load_uint(&other->ring.p_tail);
    y->worker[i].next = atomic_load_explicit(&other->next, memory_order_relaxed);
  }
  y->queues_done = false;
  HIVE__TSAN_RELEASE(a);
  y->actor = a;
  y->next = NULL;
  pthread_mutex_lock(&h->inject_lock);
  if (h->yielded_tail != NULL)
    h->yielded_tail->next = y;
  else
    h->yielded_head = y;
  h->yielded_tail = y;
  atomic_fetch_add_explicit(&h->inject_len, 1, memory_order_relaxed);
  pthread_mutex_unlock(&h->inject_lock);
}

/* True once w has seen victim in the same turn for SCHED_STEAL_AFTER_NS. */
static bool sched_victim_stuck(hive__worker_t *w, hive__worker_t *victim, uint64_t now) {
  uint64_t turns = atomic_load_explicit(&victim->turns, memory_order_relaxed);
  hive__victim_watch_t *watch = &w->watch[victim->index];
  if (watch->turns != turns) {
    watch->turns = turns;
    watch->since_ns = now;
    return false;
  }
  return now - watch->since_ns >= SCHED_STEAL_AFTER_NS;
}

/* Whether victim has actors queued in its run queue or next slot. */
static bool sched_victim_has_work(hive__worker_t *victim) {
  return ck_ring_size(&victim->ring) > 0 ||
         atomic_load_explicit(&victim->next, memory_order_relaxed) != NULL;
}

static hive__actor_t *sched_steal(hive__worker_t *w) {
  hive_t *h = w->node;
  if (h->nworkers < 2)
    return NULL;
  w->rng ^= w->rng << 13;
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  unsigned start = (unsigned)(w->rng % h->nworkers);
  uint64_t now = 0; /* read once, and only if some victim has work */
  for (unsigned k = 0; k < h->nworkers; k++) {
    hive__worker_t *victim = &h->workers[(start + k) % h->nworkers];
    if (victim == w || !sched_victim_has_work(victim))
      continue;
    if (now == 0)
      now = hive__now_ns();
    if (!sched_victim_stuck(w, victim, now)) {
      w->watching = true; /* worth spinning on: it may be stuck */
      continue;
    }
    hive__outbox_hold_off(&victim->outbox);
    hive__actor_t *a;
    if (ck_ring_size(&victim->ring) > 0) {
      hive__stats_add(&w->steals_tried, 1);
      if (ck_ring_trydequeue_spmc(&victim->ring, victim->ring_buf, &a)) {
        hive__stats_add(&w->steals_won, 1);
        return a;
      }
    }
    a = atomic_load_explicit(&victim->next, memory_order_relaxed);
    if (a != NULL && atomic_compare_exchange_strong(&victim->next, &a, NULL))
      return a;
  }
  return NULL;
}

static hive__actor_t *sched_take_work(hive__worker_t *w);

/* The next actor for w to run, or NULL. From before it looks until the
 * turn of what it found begins, call_pid says HIVE__PID_TAKEN: an actor
 * that yields meanwhile waits for that turn too. */
static hive__actor_t *sched_find_work(hive__worker_t *w) {
  atomic_store_explicit(&w->call_pid, HIVE__PID_TAKEN, memory_order_relaxed);
  hive__actor_t *a = sched_take_work(w);
  if (a == NULL)
    atomic_store_explicit(&w->call_pid, 0, memory_order_relaxed);
  return a;
}

static hive__actor_t *sched_take_work(hive__worker_t *w) {
  hive_t *h = w->node;
  hive__actor_t *a = NULL;
  w->tick++;
  /* The next slot first, unless it has had its streak and others wait. */
  if (atomic_load_explicit(&w->next, memory_order_relaxed) != NULL) {
    bool others_wait = ck_ring_size(&w->ring) > 0 ||
                       atomic_load_explicit(&h->inject_len, memory_order_relaxed) > 0;
    if (w->next_streak < SCHED_NEXT_STREAK || !others_wait) {
      a = atomic_exchange_explicit(&w->next, NULL, memory_order_acq_rel);
      if (a != NULL) {
        w->next_streak++;
        HIVE__TSAN_ACQUIRE(a);
        return a;
      }
    } else {
      a = atomic_exchange_explicit(&w->next, NULL, memory_order_acq_rel);
      if (a != NULL)
        sched_push(h, w, a); /* to the tail: the others go first */
      a = NULL;
    }
  }
  w->next_streak = 0;
  if (w->tick & 1)
    a = sched_inject_pop(h, w);
  if (a == NULL && !ck_ring_dequeue_spmc(&w->ring, w->ring_buf, &a))
    a = NULL;
  if (a == NULL)
    a = sched_inject_pop(h, w);
  if (a == NULL)
    a = sched_steal(w);
  if (a != NULL)
    HIVE__TSAN_ACQUIRE(a);
  return a;
}

/* Looks for work for a while before the worker parks: SCHED_SPIN_NS, or
 * while it watches a victim that may be stuck, long enough to tell. */
static hive__actor_t *sched_spin(hive__worker_t *w) {
  hive_t *h = w->node;
  atomic_fetch_add(&h->spinning, 1);
  uint64_t start = hive__now_ns();
  hive__actor_t *a = NULL;
  for (unsigned i = 1; !atomic_load_explicit(&h->quit, memory_order_relaxed); i++) {
    w->watching = false;
    a = sched_find_work(w);
    if (a != NULL)
      break;
    ck_pr_stall();
    if ((i & 63) == 0) {
      uint64_t spun = hive__now_ns() - start;
      if (spun > SCHED_SPIN_NS && (!w->watching || spun > SCHED_STEAL_AFTER_NS + SCHED_SPIN_NS))
        break;
    }
  }
  atomic_fetch_sub(&h->spinning, 1);
  /* We were the one to notice; if more is waiting, get a sleeper going. */
  if (a != NULL && sched_inject_waiting(h))
    sched_wake_one(h);
  return a;
}

void hive__worker_thread_enter(hive__worker_t *w) {
  hive__tls.node = w->node;
  hive__tls.worker = w;
  hive__tls.stamp = HIVE__STAMP_NEVER; /* but in timed calls */
  hive__faults_thread_init(w);
  hive__msg_cache_enter(&w->msgs, &w->node->msg_depot);
  hive__tls.outbox = w->blocking ? NULL : &w->outbox; /* sends happen in turns only */
  hive__worker_note_wake(w);
}

void hive__worker_thread_leave(hive__worker_t *w) {
  hive__msg_cache_leave(&w->msgs);
  hive__faults_thread_fini(w);
  hive__tls.node = NULL;
  hive__tls.worker = NULL;
  hive__tls.outbox = NULL;
}

void hive__worker_note_sleep(hive__worker_t *w) {
  uint64_t since = atomic_load_explicit(&w->awake_since, memory_order_relaxed);
  hive__stats_add(&w->busy_ns, hive__now_ns() - since);
  atomic_store_explicit(&w->awake_since, 0, memory_order_relaxed);
#if HIVE_STATS
  /* Sends made outside a turn are published before it sleeps. */
  atomic_store_explicit(&w->outbox.sent, w->outbox.sent_turn, memory_order_relaxed);
#endif
}

void hive__worker_note_wake(hive__worker_t *w) {
  atomic_store_explicit(&w->awake_since, hive__now_ns(), memory_order_relaxed);
}

static void sched_park(hive__worker_t *w) {
  hive_t *h = w->node;
  uint32_t seen = ck_ec_value(&w->wake);
  atomic_store(&w->parked, true);
  atomic_fetch_add(&h->parked, 1); /* the RMW of the handshake */
  if (!sched_inject_waiting(h) && !atomic_load(&h->quit)) {
    hive__stats_add(&w->parks, 1);
    hive__worker_note_sleep(w);
    ck_ec_wait(&w->wake, &sched_ec_mode, seen, NULL);
    hive__worker_note_wake(w);
  }
  /* Whoever flips parked back owns the decrement of h->parked. */
  bool expected = true;
  if (atomic_compare_exchange_strong(&w->parked, &expected, false))
    atomic_fetch_sub(&h->parked, 1);
}

static void *sched_worker_main(void *arg) {
  hive__worker_t *w = arg;
  hive_t *h = w->node;
  hive__worker_thread_enter(w);
  while (!atomic_load_explicit(&h->quit, memory_order_relaxed)) {
    hive__actor_t *a = sched_find_work(w);
    if (a == NULL)
      a = sched_spin(w);
    if (a != NULL) {
      hive__stats_add(&w->turns, 1); /* also how thieves see progress */
      hive__actor_turn(w, a);        /* call_pid stays until the next look for work */
      continue;
    }
    if (!atomic_load(&h->quit))
      sched_park(w);
  }
  hive__worker_thread_leave(w);
  return NULL;
}

/* ---- Start and stop ------------------------------------------------------ */

static void sched_free_workers(hive_t *h, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    free(h->workers[i].ring_buf);
    free(h->workers[i].watch);
  }
  free(h->workers);
  h->workers = NULL;
}

/* Tells the first n workers to leave, wakes them and joins them. */
static void sched_quit_and_join(hive_t *h, unsigned n) {
  atomic_store(&h->quit, true);
  for (unsigned i = 0; i < n; i++) {
    atomic_store(&h->workers[i].parked, false);
    ck_ec_inc(&h->workers[i].wake, &sched_ec_mode);
  }
  for (unsigned i = 0; i < n; i++)
    pthread_join(h->workers[i].thread, NULL);
}

int hive__sched_start(hive_t *h) {
  if (pthread_mutex_init(&h->inject_lock, NULL) != 0)
    return HIVE_ESYS;
  h->workers = aligned_alloc(HIVE__CACHELINE, sizeof(hive__worker_t) * h->nworkers);
  if (h->workers == NULL) {
    pthread_mutex_destroy(&h->inject_lock);
    return HIVE_ENOMEM;
  }
  for (unsigned i = 0; i < h->nworkers; i++) {
    hive__worker_t *w = &h->workers[i];
    *w = (hive__worker_t){.node = h,
                          .index = i,
                          .rng = 0x9e3779b97f4a7c15ull * (i + 1),
                          .outbox = {.turn = i + 1, .turn_step = h->nworkers}};
    w->ring_buf = calloc(HIVE__RUNQ_SIZE, sizeof(ck_ring_buffer_t));
    w->watch = calloc(h->nworkers, sizeof(*w->watch));
    if (w->ring_buf == NULL || w->watch == NULL) {
      free(w->ring_buf);
      free(w->watch);
      sched_free_workers(h, i);
      pthread_mutex_destroy(&h->inject_lock);
      return HIVE_ENOMEM;
    }
    ck_ring_init(&w->ring, HIVE__RUNQ_SIZE);
    ck_ec_init(&w->wake, 0);
  }
  for (unsigned i = 0; i < h->nworkers; i++) {
    if (pthread_create(&h->workers[i].thread, NULL, sched_worker_main, &h->workers[i]) != 0) {
      sched_quit_and_join(h, i); /* only those that started */
      sched_free_workers(h, h->nworkers);
      pthread_mutex_destroy(&h->inject_lock);
      return HIVE_ESYS;
    }
  }
  return HIVE_OK;
}

void hive__sched_stop(hive_t *h) {
  sched_quit_and_join(h, h->nworkers);
  while (h->yielded_head != NULL) { /* none once every actor has ended */
    hive__yielded_t *y = h->yielded_head;
    h->yielded_head = y->next;
    free(y);
  }
  sched_free_workers(h, h->nworkers);
  pthread_mutex_destroy(&h->inject_lock);
}
