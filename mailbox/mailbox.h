/*
 * mailbox.h - the MPSC mailbox of one actor (internal to hive).
 *
 * Two lanes, each a stack of messages linked as in a Concurrency Kit
 * ck_stack: producers push with one CAS (a chain of messages too), the
 * owner takes the whole lane in one swap and reverses it, which gives FIFO
 * order per producer. The system lane is never bounded and is always served
 * first.
 *
 * `pending` counts messages accepted and not yet finished. It is also the
 * scheduling token: the push that moves it from 0 to 1 owns the actor's
 * next turn and must schedule it; the owner keeps the token while pending
 * stays above 0 after a turn. So an actor is scheduled exactly once however
 * many threads send to it. Producers increment before they push, so pending
 * never drops below the number of messages the owner can see.
 *
 * Functions ending in _mpsc are safe from any thread; _owner functions only
 * from the thread holding the token.
 */
#ifndef HIVE_MAILBOX_H
#define HIVE_MAILBOX_H

#include <ck_ec.h>
#include <ck_stack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "hive/hive.h"

/* Building with -DHIVE_STATS=0 compiles out the counters that cost the hot
 * path (per-message counts, the high-water mark, handler and wait times),
 * to measure what they cost; the tests expect them on. */
#ifndef HIVE_STATS
#define HIVE_STATS 1
#endif

/* One message in flight. The payload lives inline after the struct unless
 * HIVE__MSG_OWNED says data is a separate malloc'd buffer. */
typedef struct hive__msg {
  ck_stack_entry_t link; /* must stay first: lanes cast entries back */
  hive_pid_t to;         /* the incarnation it was sent to */
  hive_msg_t pub;        /* what the handler sees */
  uint32_t flags;        /* HIVE__MSG_* */
  union {
    int signal;        /* system lane: HIVE__SIG_* */
    uint32_t stamp_us; /* user lane, HIVE__MSG_STAMPED: when it was sent */
  };
} hive__msg_t;

#define HIVE__MSG_OWNED 1u /* pub.data was malloc'd separately: free it too */
#define HIVE__MSG_SYSTEM 2u
#define HIVE__MSG_ANSWER                                                                           \
  4u                              /* REPLY, NOPROC or a request's TIMEOUT: checked                 \
                                     against the receiver's open requests */
#define HIVE__MSG_RECV_TIMEOUT 8u /* a receive timeout; ref is its arming number */
#define HIVE__MSG_NOBOUND 16u     /* made by the runtime: ignores mailbox bounds */
#define HIVE__MSG_STAMPED 32u     /* stamp_us is set (statistics) */
/* Messages the runtime makes are never refused by a bounded mailbox: an
 * answer, a timeout or a DOWN that was dropped would leave someone waiting. */
#define HIVE__MSG_UNBOUNDED (HIVE__MSG_ANSWER | HIVE__MSG_RECV_TIMEOUT | HIVE__MSG_NOBOUND)

/* 0 turns the workers' message caches off (sanitizer builds: ASan then
 * sees every message freed). */
#ifndef HIVE_MSG_CACHE
#define HIVE_MSG_CACHE 1
#endif

/* Size classes of cached messages (message.c); a message's class is kept
 * in two flag bits, HIVE__MSG_CLASS_FLAG(c). */
#define HIVE__MSG_CLASSES 2
#define HIVE__MSG_CLASS_SHIFT 6
#define HIVE__MSG_CLASS_FLAG(c) ((uint32_t)((c) + 1) << HIVE__MSG_CLASS_SHIFT)
#define HIVE__MSG_CLASS_OF(flags) ((int)(((flags) >> HIVE__MSG_CLASS_SHIFT) & 3u) - 1)
#define HIVE__MSG_BATCH 128        /* messages a cache trades with the depot at once */
#define HIVE__MSG_DEPOT_BATCHES 64 /* batches a depot keeps per class; more are freed */

/* Free messages shared by the workers of one node, in whole batches. */
typedef struct hive__msg_depot {
  pthread_mutex_t lock;
  unsigned nbatches[HIVE__MSG_CLASSES];
  hive__msg_t *batches[HIVE__MSG_CLASSES][HIVE__MSG_DEPOT_BATCHES]; /* owned */
} hive__msg_depot_t;

/* One thread's free messages; only that thread touches it. */
typedef struct hive__msg_cache {
  hive__msg_t *free[HIVE__MSG_CLASSES]; /* owned, linked through link.next */
  unsigned count[HIVE__MSG_CLASSES];
  hive__msg_depot_t *depot;
} hive__msg_cache_t;

/* The calling thread's cache, NULL outside the workers (message.c). */
extern _Thread_local hive__msg_cache_t *hive__msg_cache;

/* Payload bytes the largest cached class holds inline. */
#define HIVE__MSG_CACHED_PAYLOAD 64
/* Messages a cache holds per class before it gives a batch back. */
#define HIVE__MSG_CACHE_MAX (2 * HIVE__MSG_BATCH)

/* The cached class for len payload bytes: 0 none, 1 up to
 * HIVE__MSG_CACHED_PAYLOAD; -1 for larger payloads, never cached. */
static inline int hive__msg_class(size_t len) {
  return len == 0 ? 0 : len <= HIVE__MSG_CACHED_PAYLOAD ? 1 : -1;
}

hive__msg_t *hive__msg_new_slow(const void *data, size_t len);
void hive__msg_free_slow(hive__msg_t *msg);

/* Fills a fresh message of class c (-1: not cached) for len payload bytes. */
static inline hive__msg_t *hive__msg_init(hive__msg_t *msg, int c, const void *data, size_t len) {
  memset(msg, 0, sizeof(*msg));
  if (c >= 0)
    msg->flags = HIVE__MSG_CLASS_FLAG(c);
  if (len > 0) {
    if (data != NULL)
      memcpy(msg + 1, data, len);
    msg->pub.data = msg + 1;
  }
  msg->pub.len = len;
  return msg;
}

/* Allocates a message with len bytes of inline payload, copied from data
 * unless data is NULL (the caller fills msg + 1). Any thread; a worker
 * takes it from its cache when it can (inline: every send does this). */
static inline hive__msg_t *hive__msg_new(const void *data, size_t len) {
  hive__msg_cache_t *cache = hive__msg_cache;
  int c = hive__msg_class(len);
  hive__msg_t *msg;
  if (cache == NULL || c < 0 || (msg = cache->free[c]) == NULL)
    return hive__msg_new_slow(data, len);
  cache->free[c] = (hive__msg_t *)msg->link.next;
  cache->count[c]--;
  return hive__msg_init(msg, c, data, len);
}

/* Frees msg and the payload it owns. Any thread; a worker keeps it in its
 * cache when it can. */
static inline void hive__msg_free(hive__msg_t *msg) {
  hive__msg_cache_t *cache = hive__msg_cache;
  int c = HIVE__MSG_CLASS_OF(msg->flags);
  if (cache == NULL || c < 0 || (msg->flags & HIVE__MSG_OWNED) ||
      cache->count[c] >= HIVE__MSG_CACHE_MAX) {
    hive__msg_free_slow(msg);
    return;
  }
  msg->link.next = (ck_stack_entry_t *)cache->free[c];
  cache->free[c] = msg;
  cache->count[c]++;
}

int hive__msg_depot_init(hive__msg_depot_t *depot);
void hive__msg_depot_fini(hive__msg_depot_t *depot); /* frees the batches */
/* The calling thread allocates from and frees into cache until it leaves;
 * leaving frees the messages the cache holds. */
void hive__msg_cache_enter(hive__msg_cache_t *cache, hive__msg_depot_t *depot);
void hive__msg_cache_leave(hive__msg_cache_t *cache);

/* Senders touch the first cache line on every push; the owner touches the
 * second on every take. Keeping them apart means a producer and a consumer
 * on two cores do not pass a line back and forth for each message. The
 * static asserts in mailbox.c keep each part within its line. */
#define HIVE__MAILBOX_LINE 64

typedef struct hive__mailbox {
  /* Senders' line: written by every push, read by the owner once a swap. */
  _Alignas(HIVE__MAILBOX_LINE) ck_stack_entry_t *user; /* newest user message; ck_pr */
  _Atomic int64_t pending;     /* all lanes plus a spawn's claim; the token */
  _Atomic int64_t hwm;         /* most user messages seen queued */
  _Atomic int64_t capacity;    /* 0: unbounded; set before the actor is published */
  _Atomic int64_t bounded_len; /* bounded mailboxes only: user messages queued */
  _Atomic uint64_t dropped;    /* drop-new policy only */
  _Atomic int policy;          /* HIVE_MAILBOX_* */
  _Atomic unsigned block_ms;   /* HIVE_MAILBOX_BLOCK: longest a plain thread waits */
  /* The runtime's: the worker turn whose push last scheduled the actor
   * (runtime.h, "outbox"); written by that push, which holds the token. */
  _Atomic uint64_t scheduled_in;

  /* Owner's line: written on every take; senders of system messages and
   * the statistics come here only now and then. */
  _Alignas(HIVE__MAILBOX_LINE) ck_stack_entry_t *sys; /* newest system message; ck_pr */
  _Atomic int64_t sys_pending;                        /* system messages and claims in pending */
  _Atomic int64_t taken; /* user messages taken this turn, not yet finished */
  hive__msg_t *sys_head; /* owner: what the last swaps took, oldest first */
  hive__msg_t *user_head;
  const struct ck_ec_mode *room_mode; /* set once by the runtime */
  /* HIVE_MAILBOX_BLOCK: bumped by the owner each time it frees a place;
   * senders waiting for room sleep on it. No syscall while nobody waits. */
  ck_ec32_t room;
  bool owner_bounded; /* owner: capacity > 0, read on every take */
} hive__mailbox_t;

/* Resets an unused mailbox (no messages anywhere) to unbounded. room_mode
 * is how senders of a blocking mailbox sleep and are woken (single
 * producer: only the owner bumps `room`). */
void hive__mailbox_init(hive__mailbox_t *mb, const struct ck_ec_mode *room_mode);

/* Outcomes of a push. */
#define HIVE__PUSH_QUEUED 0   /* enqueued; the actor already had the token */
#define HIVE__PUSH_SCHEDULE 1 /* enqueued and took the token: schedule it */
#define HIVE__PUSH_DROPPED 2  /* drop-new policy: not enqueued, counted */
#define HIVE__PUSH_FULL 3     /* reject policy: not enqueued */

int hive__mailbox_push_mpsc(hive__mailbox_t *mb, hive__msg_t *msg);
/* Pushes n user messages at once, linked newest to oldest through
 * link.next (oldest's link is overwritten), with one add and one CAS.
 * Unbounded mailboxes only. HIVE__PUSH_SCHEDULE or HIVE__PUSH_QUEUED. */
int hive__mailbox_push_chain_mpsc(hive__mailbox_t *mb, hive__msg_t *newest, hive__msg_t *oldest,
                                  int64_t n);
int hive__mailbox_push_system_mpsc(hive__mailbox_t *mb, hive__msg_t *msg);

/* Token holder: sets up the mailbox for a new incarnation. Messages a late
 * sender left for the previous one stay queued (and counted in pending);
 * the owner drops them because their `to` is stale. */
void hive__mailbox_reset_owner(hive__mailbox_t *mb, int policy, int64_t capacity,
                               unsigned block_ms);

/* Takes the token of an idle mailbox (pending 0 -> 1, counted as a system
 * message); false if somebody holds it. Used by spawn before init runs. */
bool hive__mailbox_claim(hive__mailbox_t *mb);

/* The next message, system lane first; NULL if none is visible. self is the
 * owner's pid: only its own messages free a place in a bounded mailbox. */
hive__msg_t *hive__mailbox_take_owner(hive__mailbox_t *mb, hive_pid_t self);

/* Ends a turn that finished `user` user messages and `sys` system messages
 * (claims included). Returns true if the owner keeps the token (more work
 * is pending) and must reschedule; false if the actor is now idle and the
 * caller must not touch it again. */
bool hive__mailbox_finish_owner(hive__mailbox_t *mb, int64_t user, int64_t sys);

/* The next system message only (for hive_checkpoint); NULL if none. */
hive__msg_t *hive__mailbox_take_system_owner(hive__mailbox_t *mb);

/* User messages queued now (a racy snapshot, never negative). */
int64_t hive__mailbox_len(hive__mailbox_t *mb);

#endif /* HIVE_MAILBOX_H */
