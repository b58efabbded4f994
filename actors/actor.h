/*
 * actor.h - the actor layer's interface to the layers above (internal).
 */
#ifndef HIVE_ACTOR_H
#define HIVE_ACTOR_H

#include "runtime/runtime.h"

/* Handed to callbacks; lives on the stack of the call. */
struct hive_ctx {
  hive_t *node;
  hive__actor_t *actor;
};

/* System signals carried on the system lane (hive__msg_t.signal). */
#define HIVE__SIG_EXIT 1

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
