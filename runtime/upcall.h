/*
 * upcall.h - the one call that goes up the layers (docs/architecture.md).
 *
 * The scheduler decides which actor runs and where; what a turn does with
 * the actor's messages (signals, handlers, exits) is actors/' business. So
 * runtime/ calls up into actors/ here and nowhere else, as the Pony
 * runtime's scheduler calls ponyint_actor_run. scripts/check-layers allows
 * the functions declared in this file, and only these, to be defined above
 * the layer that calls them.
 */
#ifndef HIVE_UPCALL_H
#define HIVE_UPCALL_H

#include "runtime.h"

/* Runs one turn of a scheduled actor on worker w (a worker or blocking-pool
 * thread that holds the actor's token); reschedules it if work is left.
 * Provided by actors/actor.c. */
void hive__actor_turn(hive__worker_t *w, hive__actor_t *a);

#endif /* HIVE_UPCALL_H */
