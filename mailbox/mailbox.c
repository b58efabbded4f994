/*
 * mailbox.c - MPSC mailbox lanes and their counters.
 *
 * Hot path cost of a push: one atomic add on `pending` plus the ck_stack CAS;
 * bounded mailboxes add one CAS on `bounded_len`. Everything the owner
 * counts is single-writer and lives in the actor, not here.
 */
#include "mailbox.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tsan.h"

_Static_assert(offsetof(hive__mailbox_t, sys) == HIVE__MAILBOX_LINE, "senders' part fits a line");
_Static_assert(sizeof(hive__mailbox_t) == 2 * HIVE__MAILBOX_LINE, "owner's part fits a line");

void hive__mailbox_init(hive__mailbox_t *mb, const struct ck_ec_mode *room_mode) {
  assert(atomic_load(&mb->pending) == 0);
  ck_pr_store_ptr(&mb->user, NULL);
  ck_pr_store_ptr(&mb->sys, NULL);
  atomic_store_explicit(&mb->sys_pending, 0, memory_order_relaxed);
  mb->sys_head = NULL;
  mb->user_head = NULL;
  mb->room_mode = room_mode;
  ck_ec32_init(&mb->room, 0);
  hive__mailbox_reset_owner(mb, HIVE_MAILBOX_UNBOUNDED, 0, 0);
}

void hive__mailbox_reset_owner(hive__mailbox_t *mb, int policy, int64_t capacity,
                               unsigned block_ms) {
  atomic_store_explicit(&mb->hwm, 0, memory_order_relaxed);
  atomic_store_explicit(&mb->taken, 0, memory_order_relaxed);
  atomic_store_explicit(&mb->bounded_len, 0, memory_order_relaxed);
  atomic_store_explicit(&mb->dropped, 0, memory_order_relaxed);
  atomic_store_explicit(&mb->capacity, capacity, memory_order_relaxed);
  atomic_store_explicit(&mb->scheduled_in, 0, memory_order_relaxed); /* never for a bounded one */
  mb->owner_bounded = capacity > 0;
  atomic_store_explicit(&mb->policy, policy, memory_order_relaxed);
  atomic_store_explicit(&mb->block_ms, block_ms, memory_order_relaxed);
}

/*
 * Pushes the messages from newest to oldest, already linked newest first,
 * onto a lane with one CAS: ck_stack_push_upmc for a chain. The
 * ThreadSanitizer release comes after the last write of the link, which
 * is rewritten on every failed CAS. (ck's atomics are inline assembly that
 * TSan cannot see; tsan.h.)
 */
static void mailbox_lane_push(ck_stack_entry_t **lane, hive__msg_t *newest, hive__msg_t *oldest) {
#ifdef HIVE__TSAN
  /* Each link is read before its message is released: once released, the
   * owner may take it (from an earlier push's point of view) and rewrite
   * the link, and a read after the release would be outside the edge. */
  for (hive__msg_t *m = newest; m != oldest;) {
    hive__msg_t *next = (hive__msg_t *)m->link.next;
    HIVE__TSAN_RELEASE(m);
    m = next;
  }
#endif
  ck_stack_entry_t *head = ck_pr_load_ptr(lane);
  do {
    oldest->link.next = head;
    ck_pr_fence_store();
    HIVE__TSAN_RELEASE(oldest);
  } while (!ck_pr_cas_ptr_value(lane, head, &newest->link, &head));
}

/* Reserves a place in a bounded mailbox; false when full. */
static bool mailbox_reserve_bounded(hive__mailbox_t *mb, int64_t capacity) {
  int64_t n = atomic_load_explicit(&mb->bounded_len, memory_order_relaxed);
  do {
    if (n >= capacity)
      return false;
  } while (!atomic_compare_exchange_weak_explicit(&mb->bounded_len, &n, n + 1, memory_order_relaxed,
                                                  memory_order_relaxed));
  return true;
}

#if HIVE_STATS
static inline void mailbox_note_len(hive__mailbox_t *mb, int64_t pending_now) {
  int64_t hwm = atomic_load_explicit(&mb->hwm, memory_order_relaxed);
  /* pending counts more than the queued user messages: when it is no
   * higher than the mark, neither are they (the hot path: one load). */
  if (pending_now <= hwm)
    return;
  int64_t len = pending_now - atomic_load_explicit(&mb->sys_pending, memory_order_relaxed) -
                atomic_load_explicit(&mb->taken, memory_order_relaxed);
  while (len > hwm && !atomic_compare_exchange_weak_explicit(
                          &mb->hwm, &hwm, len, memory_order_relaxed, memory_order_relaxed)) {
  }
}
#endif

/* Counts n user messages (a chain, as for mailbox_lane_push) in pending and
 * links them onto the user lane, bound already checked. */
static inline int mailbox_push_user(hive__mailbox_t *mb, hive__msg_t *newest, hive__msg_t *oldest,
                                    int64_t n) {
  /* acq_rel: the 0 -> 1 winner must see the state the last owner left. */
  int64_t prev = atomic_fetch_add_explicit(&mb->pending, n, memory_order_acq_rel);
  mailbox_lane_push(&mb->user, newest, oldest);
#if HIVE_STATS
  mailbox_note_len(mb, prev + n);
#endif
  return prev == 0 ? HIVE__PUSH_SCHEDULE : HIVE__PUSH_QUEUED;
}

int hive__mailbox_push_mpsc(hive__mailbox_t *mb, hive__msg_t *msg) {
  int64_t capacity = atomic_load_explicit(&mb->capacity, memory_order_relaxed);
  if (capacity > 0 && !(msg->flags & HIVE__MSG_UNBOUNDED) &&
      !mailbox_reserve_bounded(mb, capacity)) {
    if (atomic_load_explicit(&mb->policy, memory_order_relaxed) == HIVE_MAILBOX_DROP_NEW) {
      atomic_fetch_add_explicit(&mb->dropped, 1, memory_order_relaxed);
      return HIVE__PUSH_DROPPED;
    }
    return HIVE__PUSH_FULL;
  }
  return mailbox_push_user(mb, msg, msg, 1);
}

int hive__mailbox_push_chain_mpsc(hive__mailbox_t *mb, hive__msg_t *newest, hive__msg_t *oldest,
                                  int64_t n) {
  assert(atomic_load_explicit(&mb->capacity, memory_order_relaxed) == 0);
  return mailbox_push_user(mb, newest, oldest, n);
}

int hive__mailbox_push_system_mpsc(hive__mailbox_t *mb, hive__msg_t *msg) {
  msg->flags |= HIVE__MSG_SYSTEM;
  atomic_fetch_add_explicit(&mb->sys_pending, 1, memory_order_relaxed);
  int64_t prev = atomic_fetch_add_explicit(&mb->pending, 1, memory_order_acq_rel);
  mailbox_lane_push(&mb->sys, msg, msg);
  return prev == 0 ? HIVE__PUSH_SCHEDULE : HIVE__PUSH_QUEUED;
}

bool hive__mailbox_claim(hive__mailbox_t *mb) {
  int64_t idle = 0;
  if (!atomic_compare_exchange_strong_explicit(&mb->pending, &idle, 1, memory_order_acq_rel,
                                               memory_order_relaxed))
    return false;
  atomic_fetch_add_explicit(&mb->sys_pending, 1, memory_order_relaxed);
  return true;
}

/* Swaps a lane out and returns its messages oldest first. */
static hive__msg_t *mailbox_swap_lane(ck_stack_entry_t **lane) {
  ck_stack_entry_t *entry = ck_pr_fas_ptr(lane, NULL);
  ck_stack_entry_t *fifo = NULL;
  while (entry != NULL) {
    HIVE__TSAN_ACQUIRE(entry); /* before reading anything the producer wrote */
    ck_stack_entry_t *next = entry->next;
    entry->next = fifo;
    fifo = entry;
    entry = next;
  }
  return (hive__msg_t *)fifo;
}

static hive__msg_t *mailbox_shift(hive__msg_t **head) {
  hive__msg_t *msg = *head;
  if (msg != NULL)
    *head = (hive__msg_t *)msg->link.next;
  return msg;
}

/* The next system message; inline, for the dequeue of every message. */
static inline hive__msg_t *mailbox_take_system(hive__mailbox_t *mb) {
  if (mb->sys_head == NULL && ck_pr_load_ptr(&mb->sys) != NULL)
    mb->sys_head = mailbox_swap_lane(&mb->sys);
  return mailbox_shift(&mb->sys_head);
}

hive__msg_t *hive__mailbox_take_system_owner(hive__mailbox_t *mb) {
  return mailbox_take_system(mb);
}

hive__msg_t *hive__mailbox_take_owner(hive__mailbox_t *mb, hive_pid_t self) {
  hive__msg_t *msg = mailbox_take_system(mb);
  if (msg != NULL)
    return msg;
  if (mb->user_head == NULL) {
    if (ck_pr_load_ptr(&mb->user) == NULL)
      return NULL;
    mb->user_head = mailbox_swap_lane(&mb->user);
  }
  msg = mailbox_shift(&mb->user_head);
  if (msg == NULL)
    return NULL;
  atomic_store_explicit(&mb->taken, atomic_load_explicit(&mb->taken, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  if (mb->owner_bounded && msg->to == self && !(msg->flags & HIVE__MSG_UNBOUNDED)) {
    atomic_fetch_sub_explicit(&mb->bounded_len, 1, memory_order_relaxed);
    if (atomic_load_explicit(&mb->policy, memory_order_relaxed) == HIVE_MAILBOX_BLOCK)
      ck_ec32_inc(&mb->room, mb->room_mode); /* a place is free: wake a waiting sender */
  }
  return msg;
}

bool hive__mailbox_finish_owner(hive__mailbox_t *mb, int64_t user, int64_t sys) {
  int64_t total = user + sys;
  if (total == 0)
    return true; /* the token holder always has pending >= 1 */
  if (sys > 0)
    atomic_fetch_sub_explicit(&mb->sys_pending, sys, memory_order_relaxed);
  /* Before the token goes: the next owner counts afresh. */
  atomic_store_explicit(&mb->taken, 0, memory_order_relaxed);
  /* acq_rel: publishes this turn's writes to whoever takes the token next. */
  int64_t left = atomic_fetch_sub_explicit(&mb->pending, total, memory_order_acq_rel) - total;
  assert(left >= 0);
  return left != 0;
}

int64_t hive__mailbox_len(hive__mailbox_t *mb) {
  int64_t len = atomic_load_explicit(&mb->pending, memory_order_relaxed) -
                atomic_load_explicit(&mb->sys_pending, memory_order_relaxed) -
                atomic_load_explicit(&mb->taken, memory_order_relaxed);
  return len > 0 ? len : 0;
}
