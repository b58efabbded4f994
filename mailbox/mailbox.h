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
#include "message.h"

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
