/*
 * process.h - process-isolated actors (HIVE_SPAWN_PROCESS, docs/process.md):
 * the private interface of process/.
 *
 * A process actor is an ordinary actor on the node, its proxy (proxy.c),
 * which runs on the blocking pool and hands each callback to a child
 * process over a socket pair (channel.h). The child is the program itself,
 * started with posix_spawn (never a fork of the threaded node) from one
 * long-lived thread (spawner.c, so that the child's PR_SET_PDEATHSIG
 * follows the node, not a thread that may end), and caught by libhive's
 * constructor before main runs (host.c), which runs the callbacks.
 */
#ifndef HIVE_PROCESS_H
#define HIVE_PROCESS_H

#include <sys/types.h>

#include "actors/actor.h"

/* For node/: lets hive_spawn make process actors on h; and, at hive_stop
 * (after every actor ended), stops the spawner thread. */
void hive__process_install(hive_t *h);
void hive__process_stop(hive_t *h);

/* spawner.c: starts the child on the spawner thread, with child_fd as its
 * end of the channel (descriptor 3 there). The child's pid, or -1 with
 * *err set. Any thread. */
pid_t hive__proc_spawn(hive_t *h, int child_fd, int *err);

/* The environment variables that tell libhive's constructor it is a
 * process actor's child: its channel's descriptor, and its parent's pid. */
#define HIVE__PROC_ENV_CHANNEL "HIVE_PROCESS_CHANNEL"
#define HIVE__PROC_ENV_PARENT "HIVE_PROCESS_PARENT"
#define HIVE__PROC_CHILD_FD 3
extern const int hive__process_host_linked; /* host.c */

/* Where a static object lives: its module's name (as dl_iterate_phdr
 * names it: "" for the program) and its offset from the module's load
 * address. false if p is in no module's loaded segments (heap, stack). */
bool hive__proc_locate(const void *p, char *module, size_t module_size, uint64_t *offset);
/* The reverse, in this process; NULL if the module is not loaded or the
 * offset is past its segments. */
const void *hive__proc_resolve(const char *module, uint64_t offset, size_t size);

#endif /* HIVE_PROCESS_H */
