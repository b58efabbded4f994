/*
 * spawner.c - starts process actors' children, through a zygote.
 *
 * Starting a program costs more than a millisecond here (posix_spawn and
 * exit of /bin/true alone: 1.3 ms), forking a small single-threaded
 * process well under a tenth of that. So the node starts one zygote, the
 * program itself entering a zygote loop in libhive's constructor (host.c),
 * with posix_spawn: a fresh process, never a fork of the threaded node.
 * The zygote is single-threaded and forks each child on request; a fork
 * of it is safe. It reaps its children and reports how each ended.
 *
 * PR_SET_PDEATHSIG fires when the thread that created the process ends,
 * not the process. So the zygote is started by this file's thread, which
 * lives until hive_stop; the zygote dies with it, and each child (whose
 * PDEATHSIG is set against the zygote's only thread) with the zygote.
 *
 * The control socket (SOCK_SEQPACKET: one message a send) carries FORK
 * requests with the child's channel end (SCM_RIGHTS), and FORKED and EXIT
 * reports back, which this thread alone reads. An EXIT for a child whose
 * proxy idles ends that actor at once (process.h, hive__proc_child_t).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "process.h"

extern char **environ;

#define EXITS_MAX 4096 /* reports kept for proxies not yet asking */

typedef struct {
  pid_t pid;
  int status;
  uint64_t cpu_us;
} exit_report_t;

typedef struct hive__procs {
  pthread_mutex_t lock; /* guards all below */
  pthread_cond_t cond;  /* a FORKED or an EXIT came, or the zygote is gone */
  pthread_t thread;
  int ctl; /* the node's end of the control socket */
  pid_t zygote;
  int start_err;      /* HIVE_OK once the zygote runs */
  bool started, gone; /* gone: the zygote ended, no more children */
  bool forking;       /* a FORK is in flight: others wait for its FORKED */
  uint64_t next_id;
  uint64_t forked_id; /* the last FORKED report */
  pid_t forked_pid;
  exit_report_t *exits; /* owned: EXITS_MAX */
  size_t nexits;
  hive__proc_child_t *children; /* live children, newest first */
  hive_t *h;
} hive__procs_t;

static pthread_mutex_t procs_create_lock = PTHREAD_MUTEX_INITIALIZER;

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

/* Starts the zygote with zygote_fd as its end of the control socket
 * (descriptor 3 there), no other descriptor, default signal actions. */
static int spawn_zygote(int zygote_fd, pid_t *out) {
  char zygote[64], parent[64];
  snprintf(zygote, sizeof(zygote), HIVE__PROC_ENV_ZYGOTE "=%d", HIVE__PROC_CHILD_FD);
  snprintf(parent, sizeof(parent), HIVE__PROC_ENV_PARENT "=%ld", (long)getpid());
  size_t n = 0;
  while (environ[n] != NULL)
    n++;
  char **env = malloc((n + 3) * sizeof(*env));
  if (env == NULL)
    return HIVE_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], HIVE__PROC_ENV_ZYGOTE "=", sizeof(HIVE__PROC_ENV_ZYGOTE)) != 0 &&
        strncmp(environ[i], HIVE__PROC_ENV_PARENT "=", sizeof(HIVE__PROC_ENV_PARENT)) != 0)
      env[k++] = environ[i];
  env[k++] = zygote;
  env[k++] = parent;
  env[k] = NULL;
  posix_spawn_file_actions_t files;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&files);
  posix_spawnattr_init(&attr);
  /* dup2 clears close-on-exec on the copy; every descriptor above it is
   * closed, so none the program opened without close-on-exec leaks. */
  posix_spawn_file_actions_adddup2(&files, zygote_fd, HIVE__PROC_CHILD_FD);
  posix_spawn_file_actions_addclosefrom_np(&files, HIVE__PROC_CHILD_FD + 1);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK);
  char *argv[] = {"hive-zygote", NULL};
  int rc = posix_spawn(out, spawn_program(), &files, &attr, argv, env);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&files);
  free(env);
  return rc == 0 ? HIVE_OK : rc == ENOMEM ? HIVE_ENOMEM : HIVE_ESYS;
}

static void procs_note_exit(hive__procs_t *p, const hive__zygote_msg_t *m) {
  if (p->nexits == EXITS_MAX) /* nobody asks for the oldest: drop it */
    memmove(p->exits, p->exits + 1, (EXITS_MAX - 1) * sizeof(*p->exits));
  else
    p->nexits++;
  p->exits[p->nexits - 1] =
      (exit_report_t){.pid = m->pid, .status = m->status, .cpu_us = m->cpu_us};
}

static void procs_unlist(hive__procs_t *p, hive__proc_child_t *c) {
  if (!c->listed)
    return;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    p->children = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  c->listed = false;
}

/* A child died: if its proxy idles, its actor ends now, with the reason a
 * proxy gives a child that died of itself (process.h). (An exit signal to
 * an actor already ending, or ended, changes nothing and counts as no dead
 * letter.) */
static void procs_child_died(hive__procs_t *p, const hive__zygote_msg_t *m) {
  hive__proc_child_t *c = p->children;
  while (c != NULL && c->os_pid != m->pid)
    c = c->next;
  if (c == NULL)
    return;
  procs_unlist(p, c);
  if (atomic_load_explicit(&c->busy, memory_order_acquire))
    return;
  hive_reason_t reason = {.kind = HIVE_REASON_CRASH};
  if (WIFSIGNALED(m->status))
    reason.code = WTERMSIG(m->status);
  else
    reason.text = "exited";
  hive_exit(p->h, c->owner, &reason);
}

/* The spawner thread: starts the zygote, then reads its reports until it
 * ends (hive_stop closes the control socket's sending side). */
static void *spawner_main(void *arg) {
  hive__procs_t *p = arg;
  int fds[2];
  int err = HIVE_ESYS;
  pid_t zygote = -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0) {
    err = spawn_zygote(fds[1], &zygote);
    close(fds[1]);
    if (err != HIVE_OK)
      close(fds[0]);
  }
  pthread_mutex_lock(&p->lock);
  p->start_err = err;
  p->ctl = err == HIVE_OK ? fds[0] : -1;
  p->zygote = zygote;
  p->started = true;
  p->gone = err != HIVE_OK;
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->lock);
  if (err != HIVE_OK)
    return NULL;
  for (;;) {
    hive__zygote_msg_t m;
    ssize_t n = recv(fds[0], &m, sizeof(m), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n != (ssize_t)sizeof(m))
      break; /* the zygote ended */
    pthread_mutex_lock(&p->lock);
    if (m.type == HIVE__ZYGOTE_FORKED) {
      p->forked_id = m.id;
      p->forked_pid = m.pid;
    } else if (m.type == HIVE__ZYGOTE_EXIT) {
      procs_note_exit(p, &m);
      procs_child_died(p, &m);
    }
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
  }
  pthread_mutex_lock(&p->lock);
  p->gone = true;
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

/* The node's spawner, started on first use, its zygote running. */
static hive__procs_t *spawner_of(hive_t *h) {
  pthread_mutex_lock(&procs_create_lock);
  hive__procs_t *p = h->procs;
  if (p == NULL && (p = calloc(1, sizeof(*p))) != NULL) {
    p->ctl = -1;
    p->h = h;
    p->exits = malloc(EXITS_MAX * sizeof(*p->exits));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (p->exits == NULL || pthread_create(&p->thread, NULL, spawner_main, p) != 0) {
      pthread_cond_destroy(&p->cond);
      pthread_mutex_destroy(&p->lock);
      free(p->exits);
      free(p);
      p = NULL;
    } else {
      h->procs = p;
    }
  }
  pthread_mutex_unlock(&procs_create_lock);
  if (p != NULL) {
    pthread_mutex_lock(&p->lock);
    while (!p->started)
      pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
  }
  return p;
}

pid_t hive__proc_spawn(hive_t *h, int child_fd, hive__proc_child_t *child, int *err) {
  hive__procs_t *p = spawner_of(h);
  if (p == NULL || p->start_err != HIVE_OK) {
    *err = p == NULL ? HIVE_ESYS : p->start_err;
    return -1;
  }
  pthread_mutex_lock(&p->lock);
  /* One fork in flight at a time: forked_id holds one report, and a second
   * request sent while the first waits would overwrite the first's. */
  while (p->forking && !p->gone)
    pthread_cond_wait(&p->cond, &p->lock);
  p->forking = true;
  uint64_t id = ++p->next_id;
  hive__zygote_msg_t m = {.type = HIVE__ZYGOTE_FORK, .id = id};
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof(cbuf));
  struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &child_fd, sizeof(int));
  pid_t pid = -1;
  *err = HIVE_ESYS;
  if (!p->gone && sendmsg(p->ctl, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof(m)) {
    while (p->forked_id != id && !p->gone)
      pthread_cond_wait(&p->cond, &p->lock);
    if (p->forked_id == id && p->forked_pid > 0) {
      pid = p->forked_pid;
      *err = HIVE_OK;
      /* Listed before its EXIT can be read: that needs this lock. */
      child->os_pid = pid;
      child->prev = NULL;
      child->next = p->children;
      if (p->children != NULL)
        p->children->prev = child;
      p->children = child;
      child->listed = true;
    }
  }
  p->forking = false;
  pthread_cond_broadcast(&p->cond); /* the next request may go */
  pthread_mutex_unlock(&p->lock);
  return pid;
}

void hive__proc_forget(hive_t *h, hive__proc_child_t *child) {
  hive__procs_t *p = h->procs;
  if (p == NULL)
    return;
  pthread_mutex_lock(&p->lock);
  procs_unlist(p, child);
  pthread_mutex_unlock(&p->lock);
}

int hive__proc_wait_exit(hive_t *h, pid_t pid, int *status, uint64_t *cpu_us) {
  hive__procs_t *p = h->procs;
  if (p == NULL)
    return HIVE_ENOTFOUND;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    for (size_t i = 0; i < p->nexits; i++)
      if (p->exits[i].pid == pid) {
        *status = p->exits[i].status;
        *cpu_us = p->exits[i].cpu_us;
        p->exits[i] = p->exits[--p->nexits];
        pthread_mutex_unlock(&p->lock);
        return HIVE_OK;
      }
    if (p->gone) { /* the zygote died: its children died with it */
      pthread_mutex_unlock(&p->lock);
      *status = SIGKILL; /* as WIFSIGNALED with SIGKILL */
      *cpu_us = 0;
      return HIVE_OK;
    }
    pthread_cond_wait(&p->cond, &p->lock);
  }
}

void hive__process_stop(hive_t *h) {
  hive__procs_t *p = h->procs;
  if (p == NULL)
    return;
  if (p->ctl >= 0)
    shutdown(p->ctl, SHUT_RDWR); /* the zygote sees EOF and ends */
  pthread_join(p->thread, NULL);
  if (p->zygote > 0)
    while (waitpid(p->zygote, NULL, 0) < 0 && errno == EINTR) {
    }
  if (p->ctl >= 0)
    close(p->ctl);
  pthread_cond_destroy(&p->cond);
  pthread_mutex_destroy(&p->lock);
  free(p->exits);
  free(p);
  h->procs = NULL;
}
