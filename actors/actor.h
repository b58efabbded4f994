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

#endif /* HIVE_ACTOR_H */
