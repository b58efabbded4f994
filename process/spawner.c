/*
 * spawner.c - starts process actors' children, on a thread of its own.
 *
 * PR_SET_PDEATHSIG, which kills a child whose parent died, fires when the
 * thread that created the child ends, not the process. So children are
 * made by this one thread, which lives until hive_stop, never by whichever
 * thread called hive_spawn (a plain thread may end any time). The child
 * is posix_spawn of the program itself (/proc/self/exe): a fresh process,
 * never a fork of the threaded node, in a process group of its own, with
 * the default signal actions, and no descriptor but the standard three and
 * its channel (hive's are close-on-exec, and the rest are closed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "process.h"

extern char **environ;

typedef struct spawn_req {
  int child_fd;
  pid_t pid; /* out; -1: failed */
  int err;   /* out */
  bool done;
  struct spawn_req *next;
} spawn_req_t;

typedef struct hive__procs {
  pthread_mutex_t lock;
  pthread_cond_t cond; /* requests queued, or done */
  pthread_t thread;
  bool quit;
  spawn_req_t *queue;
} hive__procs_t;

static pthread_mutex_t procs_create_lock = PTHREAD_MUTEX_INITIALIZER;

/* The environment a child gets: ours, minus our two variables, plus them
 * set for this child. Owned by the caller (free the array, not the
 * strings but the two it made). */
static char **spawn_environment(char *channel, char *parent) {
  size_t n = 0;
  while (environ[n] != NULL)
    n++;
  char **env = malloc((n + 3) * sizeof(*env));
  if (env == NULL)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], HIVE__PROC_ENV_CHANNEL "=", sizeof(HIVE__PROC_ENV_CHANNEL)) != 0 &&
        strncmp(environ[i], HIVE__PROC_ENV_PARENT "=", sizeof(HIVE__PROC_ENV_PARENT)) != 0)
      env[k++] = environ[i];
  env[k++] = channel;
  env[k++] = parent;
  env[k] = NULL;
  return env;
}

/* The program to start: /proc/self/exe, which holds even if the file was
 * replaced since; unless that is not the program that was run (under
 * valgrind it is valgrind's tool), then the path the program was run by. */
static const char *spawn_program(void) {
  static char path[PATH_MAX];
  if (path[0] != '\0')
    return path;
  const char *execfn = (const char *)getauxval(AT_EXECFN);
  struct stat self, run;
  char resolved[PATH_MAX];
  if (execfn != NULL && stat("/proc/self/exe", &self) == 0 && stat(execfn, &run) == 0 &&
      (self.st_dev != run.st_dev || self.st_ino != run.st_ino) &&
      realpath(execfn, resolved) != NULL)
    snprintf(path, sizeof(path), "%s", resolved);
  else
    snprintf(path, sizeof(path), "/proc/self/exe");
  return path;
}

static void spawn_one(spawn_req_t *r) {
  char channel[64], parent[64];
  snprintf(channel, sizeof(channel), HIVE__PROC_ENV_CHANNEL "=%d", HIVE__PROC_CHILD_FD);
  snprintf(parent, sizeof(parent), HIVE__PROC_ENV_PARENT "=%ld", (long)getpid());
  char **env = spawn_environment(channel, parent);
  posix_spawn_file_actions_t files;
  posix_spawnattr_t attr;
  r->pid = -1;
  r->err = HIVE_ENOMEM;
  if (env == NULL)
    return;
  if (posix_spawn_file_actions_init(&files) != 0) {
    free(env);
    return;
  }
  if (posix_spawnattr_init(&attr) != 0) {
    posix_spawn_file_actions_destroy(&files);
    free(env);
    return;
  }
  /* dup2 clears close-on-exec on the copy: the channel stays; and every
   * descriptor above it is closed, so that none the program opened without
   * close-on-exec reaches the child either. */
  posix_spawn_file_actions_adddup2(&files, r->child_fd, HIVE__PROC_CHILD_FD);
  posix_spawn_file_actions_addclosefrom_np(&files, HIVE__PROC_CHILD_FD + 1);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0); /* its own group: a kill reaches its children too */
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_USEVFORK);
  char *argv[] = {"hive-process", NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, spawn_program(), &files, &attr, argv, env);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&files);
  free(env);
  if (rc == 0) {
    r->pid = pid;
    r->err = HIVE_OK;
  } else {
    r->err = rc == ENOMEM ? HIVE_ENOMEM : HIVE_ESYS;
  }
}

static void *spawner_main(void *arg) {
  hive__procs_t *p = arg;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (p->queue == NULL && !p->quit)
      pthread_cond_wait(&p->cond, &p->lock);
    if (p->queue == NULL)
      break; /* quit, nothing left */
    spawn_req_t *r = p->queue;
    p->queue = r->next;
    pthread_mutex_unlock(&p->lock);
    spawn_one(r);
    pthread_mutex_lock(&p->lock);
    r->done = true;
    pthread_cond_broadcast(&p->cond);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

/* The node's spawner, started on first use. */
static hive__procs_t *spawner_of(hive_t *h) {
  pthread_mutex_lock(&procs_create_lock);
  hive__procs_t *p = h->procs;
  if (p == NULL && (p = calloc(1, sizeof(*p))) != NULL) {
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (pthread_create(&p->thread, NULL, spawner_main, p) != 0) {
      pthread_cond_destroy(&p->cond);
      pthread_mutex_destroy(&p->lock);
      free(p);
      p = NULL;
    } else {
      h->procs = p;
    }
  }
  pthread_mutex_unlock(&procs_create_lock);
  return p;
}

pid_t hive__proc_spawn(hive_t *h, int child_fd, int *err) {
  hive__procs_t *p = spawner_of(h);
  if (p == NULL) {
    *err = HIVE_ESYS;
    return -1;
  }
  spawn_req_t r = {.child_fd = child_fd};
  pthread_mutex_lock(&p->lock);
  r.next = p->queue;
  p->queue = &r;
  pthread_cond_broadcast(&p->cond);
  while (!r.done)
    pthread_cond_wait(&p->cond, &p->lock);
  pthread_mutex_unlock(&p->lock);
  *err = r.err;
  return r.pid;
}

void hive__process_stop(hive_t *h) {
  hive__procs_t *p = h->procs;
  if (p == NULL)
    return;
  pthread_mutex_lock(&p->lock);
  p->quit = true;
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->lock);
  pthread_join(p->thread, NULL);
  pthread_cond_destroy(&p->cond);
  pthread_mutex_destroy(&p->lock);
  free(p);
  h->procs = NULL;
}
