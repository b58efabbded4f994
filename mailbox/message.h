/*
 * message.h - a message in flight and where messages come from (internal to
 * hive).
 *
 * A message is one allocation: the header, then the payload inline unless
 * the sender moved an owned buffer. Workers allocate from and free into a
 * cache of their own and trade whole batches through the node's depot
 * (message.c), so the hot path takes no lock. The mailbox (mailbox.h) links
 * messages through their first field.
 */
#ifndef HIVE_MESSAGE_H
#define HIVE_MESSAGE_H

#include <ck_stack.h>
#include <pthread.h>
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

/* A new message to `to` carrying tag, from, ref and flags, with len
 * payload bytes copied from data (or left for the caller to fill when data
 * is NULL); NULL on no memory. Every message the runtime makes is made
 * here (hive_send fills in its fields on the way, as it goes). */
static inline hive__msg_t *hive__msg_make(hive_pid_t to, uint32_t tag, hive_pid_t from,
                                          uint64_t ref, uint32_t flags, const void *data,
                                          size_t len) {
  hive__msg_t *msg = hive__msg_new(data, len);
  if (msg != NULL) {
    msg->to = to;
    msg->pub.tag = tag;
    msg->pub.from = from;
    msg->pub.ref = ref;
    msg->flags |= flags;
  }
  return msg;
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

#endif /* HIVE_MESSAGE_H */
