/*
 * process.h - process-isolated actors (HIVE_SPAWN_PROCESS, docs/process.md):
 * the private interface of process/.
 *
 * A process actor is an ordinary actor on the node, its proxy (proxy.c),
 * which runs on the blocking pool and hands each callback to a child
 * process over a socket pair (channel.h). The children are forked by a
 * zygote: the program itself, started once with posix_spawn (never a
 * fork of the threaded node) from one long-lived thread (spawner.c, so
 * that PR_SET_PDEATHSIG follows the node, not a thread that may end), and
 * caught by libhive's constructor before main runs (host.c).
 */
#ifndef HIVE_PROCESS_H
#define HIVE_PROCESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "actors/actor.h"

/* For node/: lets hive_spawn make process actors on h; and, at hive_stop
 * (after every actor ended), stops the spawner thread. */
void hive__process_install(hive_t *h);
void hive__process_stop(hive_t *h);

/* A live child, as its spawner lists it. It lives in its proxy's state;
 * the spawner's lock guards the list fields. When the zygote reports the
 * child dead while its proxy is not waiting on it (busy false: the actor
 * idles between messages), the spawner ends the actor at once with an exit
 * signal carrying how the child died, so that its links, monitors and
 * supervisor learn of it then, not at its next message. A busy proxy sees
 * the channel close and ends the actor itself, with the finer reason it
 * knows (a limit, a protocol error). */
typedef struct hive__proc_child {
  struct hive__proc_child *prev, *next; /* the spawner's list */
  bool listed;
  pid_t os_pid;
  hive_pid_t owner; /* the proxy's pid */
  atomic_bool busy; /* the proxy waits on the child, or is ending it */
} hive__proc_child_t;

/* spawner.c: forks a child from the node's zygote, with child_fd as its
 * end of the channel (descriptor 3 there), and lists it as child (whose
 * owner and busy the caller has set). The child's pid, or -1 with *err
 * set. Any thread. */
pid_t hive__proc_spawn(hive_t *h, int child_fd, hive__proc_child_t *child, int *err);
/* Takes child off the list (if it is on it): from then on only its proxy
 * acts on its death. Before the proxy's state is freed. */
void hive__proc_forget(hive_t *h, hive__proc_child_t *child);
/* Waits until the zygote has reaped child pid: its wait status and CPU
 * time. The child must be dead or dying (killed). */
int hive__proc_wait_exit(hive_t *h, pid_t pid, int *status, uint64_t *cpu_us);

/* The zygote's control messages (spawner.c, host.c). */
enum { HIVE__ZYGOTE_FORK = 1, HIVE__ZYGOTE_FORKED, HIVE__ZYGOTE_EXIT };
typedef struct hive__zygote_msg {
  uint32_t type;
  int32_t pid;    /* FORKED: the child, or -1; EXIT: the child that ended */
  int32_t status; /* EXIT: its wait status */
  uint32_t pad;
  uint64_t id;     /* FORK, FORKED: the request */
  uint64_t cpu_us; /* EXIT: its CPU time */
} hive__zygote_msg_t;

/* The environment variables that tell libhive's constructor it is the
 * node's zygote: its control socket's descriptor, and its parent's pid. */
#define HIVE__PROC_ENV_PARENT "HIVE_PROCESS_PARENT"
#define HIVE__PROC_ENV_ZYGOTE "HIVE_PROCESS_ZYGOTE"
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
