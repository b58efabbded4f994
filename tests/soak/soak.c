/*
 * soak.c - hive under steady load and chaos for as long as asked
 * (docs/reliability.md, "The soak"):
 *
 *   soak SECONDS [--quiet]
 *
 * The node runs a supervision tree of about three hundred actors: eight
 * groups (one_for_one, rest_for_one and one_for_all) of 36 ordinary
 * workers and two process actors each. The load is steady:
 *   - every worker's periodic timer fires every 50 ms, and each tick sends a
 *     message that is forwarded through four more workers, looked up by name;
 *   - gateway clients (threads with TCP connections) call random workers
 *     and process actors by name, one call at a time, with a timeout;
 *   - with nats-server on the PATH, a second node (tests/cluster_node.c) runs
 *     as a process of its own and a thread asks its echo actor round trips.
 * A chaos thread meanwhile, every 20 ms or so: kills a random worker;
 * crashes one (a trapped SIGSEGV or abort); SIGKILLs a process actor's OS
 * process; hangs up a gateway connection in the middle of a call; now and
 * then kills a whole group's supervisor; and every few seconds SIGKILLs the
 * second node and starts it again.
 *
 * Checked all along: every call and every ask is answered within its
 * timeout and 2 s (a hang-up counts as the chaos's doing only on the
 * connection the chaos hung up). Checked at each checkpoint, when load and
 * chaos pause and the node goes quiet:
 *   - every supervisor is alive with all its children running;
 *   - each actor's own count of the messages it handled equals its
 *     `processed` statistic, and its mailbox is empty;
 *   - the node's accounting, counted apart by senders and receivers,
 *     balances exactly: sent = processed + dropped + dead letters + queued;
 *   - after the warm-up (the first quarter of the run, at least two
 *     checkpoints), the resident memory stays within the warm-up's highest
 *     + 25 % + 16 MiB, and the open descriptors within its highest + 8.
 * At the end hive_stop must return HIVE_OK (and, in a sanitizer build, leak
 * nothing), and every kind of chaos must have happened: a soak that ran no
 * chaos fails. Progress is one line per checkpoint; the last line says
 * "soak: passed" or why not. Exit status 0 on success, 1 on a failure.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hive/hive.h"
#include "hive/sup.h"
#include "tests/gw_client.h"
#include "tests/nats_ports.h"
#include "tests/sanitizers.h"

/* Trapped faults stay hive's to handle under AddressSanitizer too, and its
 * quarantine is kept small, so that freed memory it holds back does not
 * read as growth. Ignored in builds without it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_abort=0:quarantine_size_mb=16:"
         "thread_local_quarantine_size_kb=64";
}

/* ---- the shape of the soak ---------------------------------------------- */

#define GROUPS 8
#define WORKERS 36  /* ordinary actors per group */
#define PROCESSES 2 /* process actors per group */
#define TICK_MS 50  /* each worker's periodic timer */
#define HOPS 4      /* a tick's message is forwarded this many times */
#define CLIENTS 4   /* gateway connections */
#define CALL_TIMEOUT_MS 1000
#define ANSWER_SLACK_MS 2000 /* a call answered later than its timeout + this fails */
#define SETTLE_MS 60000      /* longest a checkpoint waits for the node to settle */

enum {
  TAG_TICK = HIVE_TAG_USER,
  TAG_FORWARD, /* uint32_t hops left */
  TAG_CALL,    /* a gateway call or an ask: echoed */
  TAG_PAUSE,   /* ask: stop the timer */
  TAG_RESUME,  /* ask: start it again */
  TAG_REPORT,  /* ask: answers the messages handled (uint64_t) */
  TAG_CRASH,   /* uint8_t: 0 a SIGSEGV, 1 abort() */
};
#define TAG_ROUND_TRIP (HIVE_TAG_USER + 40) /* any request the remote echo answers */

static const char *progname;
static bool quiet;

static uint64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0)
    ;
}

/* The first failure ends the soak: it is printed, and main exits 1. */
static _Atomic(const char *) failed;
static char failure_text[512];
static pthread_mutex_t failure_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *fmt, ...) {
  pthread_mutex_lock(&failure_lock);
  if (atomic_load(&failed) == NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(failure_text, sizeof(failure_text), fmt, ap);
    va_end(ap);
    atomic_store(&failed, failure_text);
  }
  pthread_mutex_unlock(&failure_lock);
}

static unsigned rand_below(unsigned *seed, unsigned n) {
  *seed = *seed * 1103515245u + 12345u;
  return (*seed >> 8) % n;
}

/* ---- the actors ----------------------------------------------------------- */

typedef struct {
  unsigned group, index;
} worker_arg_t;

typedef struct {
  worker_arg_t at;
  uint64_t handled; /* user messages handed to handle: compared with processed */
  hive_timer_t tick;
  unsigned seed;
} worker_t;

static int worker_arm(hive_ctx_t *ctx, worker_t *w) {
  return hive_send_interval(hive_node(ctx), hive_self(ctx), TAG_TICK, NULL, 0, TICK_MS, &w->tick);
}

static int worker_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  worker_t *w = state;
  if (len != sizeof(w->at))
    return HIVE_EINVAL;
  memcpy(&w->at, arg, sizeof(w->at));
  w->seed = (unsigned)hive_self(ctx);
  return worker_arm(ctx, w);
}

/* Forwards to a random worker of the same group, found by its name; one
 * that is being restarted has none, and the message ends here. */
static void worker_forward(hive_ctx_t *ctx, worker_t *w, uint32_t hops) {
  char name[32];
  snprintf(name, sizeof(name), "w%u.%u", w->at.group, rand_below(&w->seed, WORKERS));
  hive_pid_t to = hive_whereis(hive_node(ctx), name);
  if (to != 0)
    hive_send(hive_node(ctx), to, TAG_FORWARD, &hops, sizeof(hops));
}

static int worker_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  worker_t *w = state;
  if (msg->tag < HIVE_TAG_USER)
    return HIVE_OK;
  w->handled++;
  switch (msg->tag) {
  case TAG_TICK:
    worker_forward(ctx, w, HOPS);
    return HIVE_OK;
  case TAG_FORWARD: {
    uint32_t hops;
    if (msg->len == sizeof(hops)) {
      memcpy(&hops, msg->data, sizeof(hops));
      if (hops > 1)
        worker_forward(ctx, w, hops - 1);
    }
    return HIVE_OK;
  }
  case TAG_CALL:
    return hive_reply(ctx, msg, msg->data, msg->len);
  case TAG_PAUSE:
    if (w->tick != 0)
      hive_timer_cancel(hive_node(ctx), w->tick);
    w->tick = 0;
    return hive_reply(ctx, msg, NULL, 0);
  case TAG_RESUME:
    if (w->tick == 0 && worker_arm(ctx, w) != HIVE_OK)
      return HIVE_ENOMEM;
    return hive_reply(ctx, msg, NULL, 0);
  case TAG_REPORT:
    return hive_reply(ctx, msg, &w->handled, sizeof(w->handled));
  case TAG_CRASH:
    if (msg->len == 1 && *(const uint8_t *)msg->data == 1)
      abort();
    volatile uintptr_t unmapped = 64; /* the first page: a SIGSEGV (and no UBSan report) */
    *(int *)unmapped = 1;
    return HIVE_OK;
  default:
    return HIVE_OK;
  }
}

static const hive_behaviour_t worker_b = {.name = "soak_worker",
                                          .state_size = sizeof(worker_t),
                                          .init = worker_init,
                                          .handle = worker_handle};

/* A process actor: answers calls and reports, in its own OS process. */
static int process_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  uint64_t *handled = state;
  if (msg->tag < HIVE_TAG_USER)
    return HIVE_OK;
  ++*handled;
  if (msg->tag == TAG_REPORT)
    return hive_reply(ctx, msg, handled, sizeof(*handled));
  if (msg->ref != 0)
    return hive_reply(ctx, msg, msg->data, msg->len);
  return HIVE_OK;
}

static const hive_behaviour_t process_b = {
    .name = "soak_process", .state_size = sizeof(uint64_t), .handle = process_handle};

/* ---- the tree --------------------------------------------------------------- */

#define GROUP_CHILDREN (WORKERS + PROCESSES)

static char child_ids[GROUPS][GROUP_CHILDREN][16];
static worker_arg_t worker_args[GROUPS][WORKERS];
static hive_spawn_opts_t child_opts[GROUPS][GROUP_CHILDREN];
static hive_child_spec_t group_children[GROUPS][GROUP_CHILDREN];
static hive_sup_spec_t group_specs[GROUPS];
static char group_ids[GROUPS][16];
static hive_child_spec_t top_children[GROUPS];

static int start_tree(hive_t *h, hive_pid_t *top) {
  static const int strategies[] = {HIVE_SUP_ONE_FOR_ONE, HIVE_SUP_REST_FOR_ONE,
                                   HIVE_SUP_ONE_FOR_ALL};
  for (unsigned g = 0; g < GROUPS; g++) {
    for (unsigned i = 0; i < GROUP_CHILDREN; i++) {
      hive_child_spec_t *c = &group_children[g][i];
      hive_spawn_opts_t *o = &child_opts[g][i];
      hive_child_spec_init(c);
      hive_spawn_opts_init(o);
      if (i < WORKERS) {
        snprintf(child_ids[g][i], sizeof(child_ids[g][i]), "w%u.%u", g, i);
        worker_args[g][i] = (worker_arg_t){g, i};
        o->flags = HIVE_SPAWN_TRAP_FAULTS;
        c->behaviour = &worker_b;
        c->arg = &worker_args[g][i];
        c->arg_len = sizeof(worker_args[g][i]);
      } else {
        snprintf(child_ids[g][i], sizeof(child_ids[g][i]), "p%u.%u", g, i - WORKERS);
        o->flags = HIVE_SPAWN_PROCESS;
#ifndef UNDER_ASAN /* it reserves terabytes of address space */
        o->limits.mem_bytes = 1ull << 30;
#endif
        c->behaviour = &process_b;
        c->shutdown_ms = 2000;
      }
      o->name = child_ids[g][i];
      c->id = child_ids[g][i];
      c->opts = o;
    }
    hive_sup_spec_t *s = &group_specs[g];
    hive_sup_spec_init(s);
    s->strategy = strategies[g % 3];
    s->intensity = 1000;
    s->period_s = 1;
    s->children = group_children[g];
    s->nchildren = GROUP_CHILDREN;
    hive_child_spec_t *c = &top_children[g];
    hive_child_spec_init(c);
    snprintf(group_ids[g], sizeof(group_ids[g]), "group%u", g);
    c->id = group_ids[g];
    c->behaviour = hive_sup_behaviour();
    c->arg = s;
    c->arg_len = sizeof(*s);
    c->type = HIVE_CHILD_SUPERVISOR;
  }
  /* A killed group is restarted at once, while its old children, killed
   * through their links, may still hold their names: the new group's
   * start fails (name taken) and is tried again after a yield, each try
   * counting toward the intensity, as OTP's try_again_restart does. On a
   * loaded machine the old children can take long enough to die for a
   * thousand tries: the top allows for that, since what the soak checks is
   * that the tree survives the chaos, not the intensity rule (the
   * supervisor tests do). */
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.intensity = 100000;
  spec.period_s = 1;
  spec.children = top_children;
  spec.nchildren = GROUPS;
  return hive_sup_start(h, &spec, top);
}

/* ---- what the threads share ------------------------------------------------- */

static hive_t *node;
static hive_pid_t top_sup;

static atomic_uint_fast64_t calls_ok, calls_noproc, calls_timeout, calls_cut, asks_ok, asks_failed,
    longest_answer_ms;
static atomic_uint_fast64_t chaos_kills, chaos_crashes, chaos_process_kills, chaos_hangups,
    chaos_group_kills, chaos_node_kills;

/* An answer that came: fails if it came later than its timeout allows. */
static void answered_after(uint64_t started_ms, const char *what) {
  uint64_t took = now_ms() - started_ms;
  uint64_t longest = atomic_load(&longest_answer_ms);
  while (took > longest && !atomic_compare_exchange_weak(&longest_answer_ms, &longest, took))
    ;
  if (took > CALL_TIMEOUT_MS + ANSWER_SLACK_MS)
    fail("%s answered after %llu ms (timeout %d ms)", what, (unsigned long long)took,
         CALL_TIMEOUT_MS);
}

/* Pausing the load and the chaos: the control thread sets `pausing`; each
 * of those threads, between two operations, counts itself paused and waits
 * for the resume. */
static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pause_cond = PTHREAD_COND_INITIALIZER;
static bool pausing, stopping;
static unsigned paused;

/* False once the soak is stopping. */
static bool pause_point(void) {
  pthread_mutex_lock(&pause_lock);
  if (pausing) {
    paused++;
    pthread_cond_broadcast(&pause_cond);
    while (pausing && !stopping)
      pthread_cond_wait(&pause_cond, &pause_lock);
    paused--;
  }
  bool go = !stopping && atomic_load(&failed) == NULL;
  pthread_mutex_unlock(&pause_lock);
  return go;
}

/* Pauses the n load and chaos threads; false if one is not paused within
 * SETTLE_MS. */
static bool pause_threads(unsigned n) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += SETTLE_MS / 1000;
  pthread_mutex_lock(&pause_lock);
  pausing = true;
  int rc = 0;
  while (paused < n && rc == 0)
    rc = pthread_cond_timedwait(&pause_cond, &pause_lock, &until);
  bool all = paused == n;
  pthread_mutex_unlock(&pause_lock);
  return all;
}

static void resume_threads(bool stop) {
  pthread_mutex_lock(&pause_lock);
  pausing = false;
  stopping = stop;
  pthread_cond_broadcast(&pause_cond);
  pthread_mutex_unlock(&pause_lock);
}

/* ---- the tree's members ------------------------------------------------------- */

typedef struct {
  hive_pid_t pid;
  bool process;
} member_t;

#define MEMBERS (GROUPS * GROUP_CHILDREN)

/* Every worker and process actor, from their supervisors; false (why says
 * which) when a supervisor is not running or lacks a running child. */
static bool tree_members(member_t *out, char *why, size_t size) {
  hive_child_info_t groups[GROUPS], kids[GROUP_CHILDREN];
  size_t n;
  int rc = hive_sup_which_children(node, top_sup, groups, GROUPS, &n);
  if (rc != HIVE_OK || n != GROUPS) {
    snprintf(why, size, "the top supervisor: %s",
             rc != HIVE_OK ? hive_strerror(rc) : "a group is missing");
    return false;
  }
  for (unsigned g = 0; g < GROUPS; g++) {
    rc = groups[g].pid == 0
             ? HIVE_ENOPROC
             : hive_sup_which_children(node, groups[g].pid, kids, GROUP_CHILDREN, &n);
    if (rc != HIVE_OK || n != GROUP_CHILDREN) {
      snprintf(why, size, "supervisor %s: %s", groups[g].id, hive_strerror(rc));
      return false;
    }
    for (unsigned i = 0; i < GROUP_CHILDREN; i++) {
      if (kids[i].pid == 0) {
        snprintf(why, size, "supervisor %s: child %s is not running", groups[g].id, kids[i].id);
        return false;
      }
      out[g * GROUP_CHILDREN + i] = (member_t){kids[i].pid, i >= WORKERS};
    }
  }
  return true;
}

/* A random running child of a random group (0 if there is none now), and
 * that group's supervisor. */
static hive_pid_t random_child(unsigned *seed, bool process, hive_pid_t *group) {
  hive_child_info_t groups[GROUPS], kids[GROUP_CHILDREN];
  size_t n;
  *group = 0;
  if (hive_sup_which_children(node, top_sup, groups, GROUPS, &n) != HIVE_OK || n != GROUPS)
    return 0;
  *group = groups[rand_below(seed, GROUPS)].pid;
  if (*group == 0 || hive_sup_which_children(node, *group, kids, GROUP_CHILDREN, &n) != HIVE_OK ||
      n != GROUP_CHILDREN)
    return 0;
  unsigned i = process ? WORKERS + rand_below(seed, PROCESSES) : rand_below(seed, WORKERS);
  return kids[i].pid;
}

/* ---- gateway clients ---------------------------------------------------------- */

typedef struct {
  pthread_t thread;
  pthread_mutex_t lock; /* fd and cut, between the client and the chaos */
  int fd;               /* -1: not connected */
  bool cut;             /* the chaos hung it up */
  unsigned index;
} client_t;

static client_t clients[CLIENTS];
static int gateway_port;

/* Calls a random worker or process actor by name, one call at a time. */
static void *client_main(void *arg) {
  client_t *c = arg;
  unsigned seed = 7919u * (c->index + 1);
  uint64_t id = 0;
  while (pause_point()) {
    if (c->fd < 0) {
      int fd = gwc_open(gateway_port, "soak", NULL);
      if (fd < 0) {
        fail("gateway client %u could not connect", c->index);
        break;
      }
      pthread_mutex_lock(&c->lock);
      c->fd = fd;
      c->cut = false;
      pthread_mutex_unlock(&c->lock);
    }
    char to[32];
    unsigned g = rand_below(&seed, GROUPS);
    if (rand_below(&seed, 8) == 0)
      snprintf(to, sizeof(to), "p%u.%u", g, rand_below(&seed, PROCESSES));
    else
      snprintf(to, sizeof(to), "w%u.%u", g, rand_below(&seed, WORKERS));
    id++;
    uint64_t started = now_ms();
    gwc_frame_t f;
    bool sent = gwc_send(c->fd,
                         "m"
                         "ss"
                         "su"
                         "ss"
                         "su"
                         "su"
                         "su",
                         6, "op", "call", "id", id, "to", to, "tag", (uint64_t)TAG_CALL, "data", id,
                         "timeout_ms", (uint64_t)CALL_TIMEOUT_MS);
    if (!sent || !gwc_recv(c->fd, &f)) {
      if (sent)
        gwc_frame_free(&f);
      pthread_mutex_lock(&c->lock);
      bool cut = c->cut;
      close(c->fd);
      c->fd = -1;
      pthread_mutex_unlock(&c->lock);
      if (!cut) {
        fail("gateway client %u: the connection failed, not hung up by the chaos (%s)", c->index,
             strerror(errno));
        break;
      }
      atomic_fetch_add(&calls_cut, 1);
      continue;
    }
    answered_after(started, "a gateway call");
    if (gwc_u64(&f, "id") != id)
      fail("gateway client %u: an answer to call %llu, not %llu", c->index,
           (unsigned long long)gwc_u64(&f, "id"), (unsigned long long)id);
    else if (gwc_ok(&f)) {
      const msgpack_object *data = gwc_get(&f, "data");
      if (data == NULL || data->type != MSGPACK_OBJECT_POSITIVE_INTEGER || data->via.u64 != id)
        fail("gateway client %u: call %llu answered with other data", c->index,
             (unsigned long long)id);
      atomic_fetch_add(&calls_ok, 1);
    } else if (gwc_is(&f, "error", "noproc"))
      atomic_fetch_add(&calls_noproc, 1); /* its target is being restarted */
    else if (gwc_is(&f, "error", "timeout"))
      atomic_fetch_add(&calls_timeout, 1); /* its target was killed holding it */
    else {
      const msgpack_object *e = gwc_get(&f, "error");
      fail("gateway client %u: call to %s failed: %.*s", c->index, to,
           e != NULL && e->type == MSGPACK_OBJECT_STR ? (int)e->via.str.size : 1,
           e != NULL && e->type == MSGPACK_OBJECT_STR ? e->via.str.ptr : "?");
    }
    gwc_frame_free(&f);
  }
  pthread_mutex_lock(&c->lock);
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

/* The chaos hangs up a client's connection, maybe in the middle of a call. */
static bool hang_up(client_t *c) {
  pthread_mutex_lock(&c->lock);
  bool done = c->fd >= 0 && !c->cut;
  if (done) {
    c->cut = true;
    shutdown(c->fd, SHUT_RDWR);
  }
  pthread_mutex_unlock(&c->lock);
  return done;
}

/* ---- the second node (nats-server and tests/cluster_node.c) ------------------- */

static struct {
  bool on;
  pid_t nats;
  char dir[64], url[64];
  pid_t pid;               /* the node's process; 0: not running */
  FILE *out;               /* its standard output */
  _Atomic hive_pid_t echo; /* its echo actor; 0 while it is down */
  uint64_t next_kill_ms;   /* when the chaos kills it next */
} remote;

static bool nats_start(void) {
  snprintf(remote.dir, sizeof(remote.dir), "/tmp/hive-soak-XXXXXX");
  if (mkdtemp(remote.dir) == NULL)
    return false;
  char log[96];
  snprintf(log, sizeof(log), "%s/nats.log", remote.dir);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a soak that fails leaves no server behind */
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir",
           remote.dir, (char *)NULL);
    _exit(127);
  }
  if (pid < 0)
    return false;
  remote.nats = pid;
  for (int i = 0; i < 3000; i++) { /* an outside server getting ready: no event to wait on */
    int port = nats_ports_read(remote.dir, pid);
    if (port > 0) {
      snprintf(remote.url, sizeof(remote.url), "nats://127.0.0.1:%d", port);
      return true;
    }
    sleep_ms(10);
  }
  return false;
}

static void nats_stop(void) {
  if (remote.nats > 0) {
    kill(remote.nats, SIGTERM);
    waitpid(remote.nats, NULL, 0);
    remote.nats = 0;
  }
  char cmd[96];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", remote.dir);
  if (remote.dir[0] != '\0' && system(cmd) != 0)
    fprintf(stderr, "%s: could not remove %s\n", progname, remote.dir);
}

/* Starts the second node. Called by the chaos thread only: the node is
 * killed when the thread that started it ends (PR_SET_PDEATHSIG). False
 * when it could not join yet (its id is still taken by its killed
 * predecessor, until this node declares that one down). */
static bool remote_start(void) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return false;
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fds[1], 1);
    execl(CLUSTER_NODE, CLUSTER_NODE, remote.url, "2", (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return false;
  }
  FILE *out = fdopen(fds[0], "r");
  char line[128] = "";
  struct pollfd p = {.fd = fds[0], .events = POLLIN};
  unsigned long long echo = 0;
  if (poll(&p, 1, SETTLE_MS) == 1 && fgets(line, sizeof(line), out) != NULL &&
      sscanf(line, "ready 2 %*u %llu", &echo) == 1) {
    remote.pid = pid;
    remote.out = out;
    atomic_store(&remote.echo, (hive_pid_t)echo);
    return true;
  }
  int status;
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  fclose(out);
  if (strncmp(line, "start-failed", 12) != 0)
    fail("the second node did not start: \"%s\"", line);
  return false;
}

/* SIGKILL, or SIGTERM and an exit status of 0. */
static void remote_end(int sig) {
  if (remote.pid <= 0)
    return;
  atomic_store(&remote.echo, 0);
  kill(remote.pid, sig);
  int status;
  waitpid(remote.pid, &status, 0);
  if (sig == SIGTERM && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    fail("the second node did not stop cleanly (status %d)", status);
  fclose(remote.out);
  remote.pid = 0;
}

/* Asks the second node's echo for round trips, one at a time. */
static void *pinger_main(void *arg) {
  (void)arg;
  while (pause_point()) {
    hive_pid_t echo = atomic_load(&remote.echo);
    if (echo == 0) {
      sleep_ms(5); /* it is being restarted */
      continue;
    }
    void *reply;
    size_t len;
    uint64_t started = now_ms();
    int rc = hive_ask(node, echo, TAG_ROUND_TRIP, NULL, 0, CALL_TIMEOUT_MS, &reply, &len);
    answered_after(started, "an ask to the second node");
    if (rc == HIVE_OK) {
      free(reply);
      atomic_fetch_add(&asks_ok, 1);
    } else if (rc == HIVE_ENOPROC || rc == HIVE_ETIMEDOUT || rc == HIVE_ENOCONN) {
      /* The node was killed, or is not back yet. Such an answer can come
       * at once (noconnection): without a pause this loop would send
       * thousands a second, each a dead letter. */
      atomic_fetch_add(&asks_failed, 1);
      sleep_ms(10);
    } else
      fail("an ask to the second node: %s", hive_strerror(rc));
  }
  return NULL;
}

/* ---- the chaos ---------------------------------------------------------------- */

/* SIGKILLs a process actor's OS process. The pid is held through a pidfd
 * taken while the actor still reports it, so the signal cannot reach a
 * process that reused the number. */
static bool kill_process(hive_pid_t pid) {
  hive_actor_stats_t s;
  if (hive_actor_stats(node, pid, &s) != HIVE_OK || s.os_pid <= 0)
    return false;
  int pidfd = (int)syscall(SYS_pidfd_open, s.os_pid, 0);
  if (pidfd < 0)
    return false;
  int os_pid = s.os_pid;
  bool done = hive_actor_stats(node, pid, &s) == HIVE_OK && s.os_pid == os_pid &&
              syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) == 0;
  close(pidfd);
  return done;
}

static void *chaos_main(void *arg) {
  (void)arg;
  unsigned seed = 4242u;
  while (pause_point()) {
    sleep_ms(10 + rand_below(&seed, 20));
    unsigned roll = rand_below(&seed, 100);
    hive_pid_t group, pid = random_child(&seed, roll >= 70 && roll < 82, &group);
    if (roll < 3) {
      if (group != 0 && hive_kill(node, group) == HIVE_OK)
        atomic_fetch_add(&chaos_group_kills, 1);
    } else if (roll < 50) {
      if (pid != 0 && hive_kill(node, pid) == HIVE_OK)
        atomic_fetch_add(&chaos_kills, 1);
    } else if (roll < 70) {
      uint8_t how = (uint8_t)rand_below(&seed, 2);
      if (pid != 0 && hive_send(node, pid, TAG_CRASH, &how, 1) == HIVE_OK)
        atomic_fetch_add(&chaos_crashes, 1);
    } else if (roll < 82) {
      if (pid != 0 && kill_process(pid))
        atomic_fetch_add(&chaos_process_kills, 1);
    } else if (hang_up(&clients[rand_below(&seed, CLIENTS)]))
      atomic_fetch_add(&chaos_hangups, 1);

    if (remote.on && now_ms() >= remote.next_kill_ms) {
      if (remote.pid > 0) {
        remote_end(SIGKILL);
        atomic_fetch_add(&chaos_node_kills, 1);
        remote.next_kill_ms = now_ms(); /* started again at once, or as soon as it may */
      } else if (remote_start())
        remote.next_kill_ms = now_ms() + 2000 + rand_below(&seed, 4000);
      else
        remote.next_kill_ms = now_ms() + 250;
    }
  }
  if (remote.on)
    remote_end(SIGTERM);
  return NULL;
}

/* ---- checkpoints ---------------------------------------------------------------- */

static uint64_t rss_bytes(void) {
  unsigned long size = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f != NULL) {
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
      resident = 0;
    fclose(f);
  }
  return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static unsigned open_fds(void) {
  unsigned n = 0;
  DIR *d = opendir("/proc/self/fd");
  for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
    n += e->d_name[0] != '.';
  if (d != NULL)
    closedir(d);
  return n - 1; /* the directory's own */
}

/* Asks a member tag, with no argument; its answer (up to size bytes) in out. */
static int ask_member(hive_pid_t pid, uint32_t tag, void *out, size_t size) {
  void *reply;
  size_t len;
  int rc = hive_ask(node, pid, tag, NULL, 0, SETTLE_MS, &reply, &len);
  if (rc != HIVE_OK)
    return rc;
  if (len != size)
    rc = HIVE_EPAYLOAD;
  else if (size > 0)
    memcpy(out, reply, size);
  free(reply);
  return rc;
}

/* What the main thread is doing, for the watchdog. */
static _Atomic(const char *) phase = "starting";
static atomic_uint_fast64_t phase_since_ms;

static void enter(const char *what) {
  atomic_store(&phase, what);
  atomic_store(&phase_since_ms, now_ms());
}

typedef struct {
  uint64_t rss, warm_rss;
  uint64_t heap; /* bytes malloc has handed out and not had back (glibc's count) */
  unsigned fds, warm_fds;
  hive_node_stats_t ns;
} checkpoint_t;

/* Waits for every supervisor to have all its children; their members in
 * out. */
static bool whole_tree(member_t *out, uint64_t deadline) {
  char why[160];
  while (!tree_members(out, why, sizeof(why))) {
    if (now_ms() > deadline) {
      fail("not every supervisor is alive with all its children: %s", why);
      return false;
    }
    sleep_ms(10);
  }
  return true;
}

/* Waits until every message sent has been handled or dropped, by both
 * counts, and nothing moved for 20 ms. */
static bool node_quiet(hive_node_stats_t *ns, uint64_t deadline) {
  hive_node_stats_t before = {0};
  for (;;) {
    hive_node_stats(node, ns);
    bool balanced = ns->sent == ns->processed + ns->dropped + ns->dead_letters + ns->queued;
    if (balanced && ns->queued == 0 && ns->sent == before.sent && ns->processed == before.processed)
      return true;
    if (now_ms() > deadline) {
      fail("the node's accounting does not balance: sent %llu != processed %llu + dropped %llu "
           "+ dead letters %llu + queued %llu",
           (unsigned long long)ns->sent, (unsigned long long)ns->processed,
           (unsigned long long)ns->dropped, (unsigned long long)ns->dead_letters,
           (unsigned long long)ns->queued);
      return false;
    }
    before = *ns;
    sleep_ms(20);
  }
}

static bool same_members(const member_t *a, const member_t *b) {
  for (size_t i = 0; i < MEMBERS; i++)
    if (a[i].pid != b[i].pid)
      return false;
  return true;
}

/* Each actor's own count of what it handled against its statistics: 1
 * when all agree, 0 when one is gone or the tree changed meanwhile (a
 * restart the chaos set off before it paused: settle again), -1 on a
 * disagreement (failed). */
static int compare_counts(const member_t *members) {
  static member_t now[MEMBERS];
  for (size_t i = 0; i < MEMBERS; i++) {
    uint64_t handled;
    hive_actor_stats_t s;
    int rc = ask_member(members[i].pid, TAG_REPORT, &handled, sizeof(handled));
    /* A snapshot taken while the turn that answered ends may be a message
     * apart (hive.h): read again for up to 5 s; a message that is really
     * there stays. */
    uint64_t until = now_ms() + 5000;
    while (rc == HIVE_OK && (rc = hive_actor_stats(node, members[i].pid, &s)) == HIVE_OK &&
           (s.processed != handled || s.mailbox_len != 0) && now_ms() < until)
      sched_yield();
    if (rc == HIVE_ENOPROC)
      return 0;
    if (rc != HIVE_OK) {
      fail("asking %s %zu for its count: %s", members[i].process ? "process" : "worker", i,
           hive_strerror(rc));
      return -1;
    }
    if (s.processed != handled || s.mailbox_len != 0) {
      char why[160];
      if (!tree_members(now, why, sizeof(why)) || !same_members(now, members))
        return 0;
      char pid[32];
      fail("actor %s (%s) handled %llu messages, its statistics say processed %llu, mailbox %llu",
           hive_pid_format(members[i].pid, pid, sizeof(pid)), s.name, (unsigned long long)handled,
           (unsigned long long)s.processed, (unsigned long long)s.mailbox_len);
      return -1;
    }
  }
  return 1;
}

/* Pauses the load and the chaos, lets the node settle and go quiet, and
 * checks it (the head comment says what); then lets them go on. Settling:
 * a kill, a crash message or a SIGKILL the chaos sent just before it
 * paused may still restart actors (whose timers start again): so each
 * round stops the timers of every member not stopped yet, waits for the
 * quiet, and is done when the tree has not changed meanwhile. */
static bool checkpoint(unsigned threads, checkpoint_t *cp) {
  static member_t members[MEMBERS], after[MEMBERS];
  static hive_pid_t stopped[MEMBERS]; /* whose timer is stopped */
  enter("pausing the load and the chaos");
  if (!pause_threads(threads)) {
    fail("a load or chaos thread did not pause within %d s", SETTLE_MS / 1000);
    return false;
  }
  memset(stopped, 0, sizeof(stopped));
  uint64_t deadline = now_ms() + SETTLE_MS;
  for (int settled = 0; settled != 1;) {
    enter("waiting for every supervisor to have all its children");
    if (!whole_tree(members, deadline))
      return false;
    enter("stopping the workers' timers");
    for (size_t i = 0; i < MEMBERS; i++) {
      if (members[i].process || members[i].pid == stopped[i])
        continue;
      int rc = ask_member(members[i].pid, TAG_PAUSE, NULL, 0);
      if (rc != HIVE_OK && rc != HIVE_ENOPROC) { /* ENOPROC: restarted, seen next round */
        fail("pausing a worker: %s", hive_strerror(rc));
        return false;
      }
      stopped[i] = members[i].pid;
    }
    enter("waiting for the node's accounting to balance");
    if (!node_quiet(&cp->ns, deadline) || !whole_tree(after, deadline))
      return false;
    if (!same_members(members, after))
      continue;
    enter("comparing each actor's count with its statistics");
    if ((settled = compare_counts(members)) < 0)
      return false;
    if (settled == 0 && now_ms() > deadline) {
      fail("the tree kept changing with the chaos paused");
      return false;
    }
  }
  cp->rss = rss_bytes();
  cp->heap = mallinfo2().uordblks;
  cp->fds = open_fds();
  enter("resuming the workers' timers");
  for (size_t i = 0; i < MEMBERS; i++) {
    int rc = members[i].process ? HIVE_OK : ask_member(members[i].pid, TAG_RESUME, NULL, 0);
    if (rc != HIVE_OK) {
      fail("resuming a worker: %s", hive_strerror(rc));
      return false;
    }
  }
  enter("running");
  resume_threads(false);
  return true;
}

/* Ends the soak if the main thread is stuck in one phase for two minutes
 * (a supervisor call has no timeout). */
static void *watchdog_main(void *arg) {
  (void)arg;
  for (;;) {
    sleep_ms(1000);
    const char *what = atomic_load(&phase);
    if (strcmp(what, "running") != 0 && now_ms() - atomic_load(&phase_since_ms) > 120000) {
      fprintf(stderr, "%s: failed: stuck for 120 s %s\n", progname, what);
      _exit(1);
    }
  }
  return NULL;
}

/* hive's log: warnings and errors are expected here (every crash logs one),
 * so they are counted, and the last is kept for a failure report. */
static atomic_uint_fast64_t log_lines;
#define LOG_KEPT 8
static char log_kept[LOG_KEPT][256]; /* the last errors, for a failure's report */
static unsigned log_errors;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void soak_log(void *user, int level, const char *line) {
  (void)user;
  atomic_fetch_add(&log_lines, 1);
  if (level < HIVE_LOG_ERROR)
    return;
  pthread_mutex_lock(&log_lock);
  snprintf(log_kept[log_errors++ % LOG_KEPT], sizeof(log_kept[0]), "%s", line);
  pthread_mutex_unlock(&log_lock);
}

static void print_kept_errors(void) {
  pthread_mutex_lock(&log_lock);
  unsigned first = log_errors > LOG_KEPT ? log_errors - LOG_KEPT : 0;
  for (unsigned i = first; i < log_errors; i++)
    printf("soak: hive logged: %s\n", log_kept[i % LOG_KEPT]);
  pthread_mutex_unlock(&log_lock);
}

/* On a terminal, a bar between two checkpoints' lines. */
static void progress_bar(uint64_t done_ms, uint64_t total_ms) {
  enum { WIDTH = 40 };
  unsigned filled = (unsigned)(done_ms * WIDTH / total_ms);
  char cells[WIDTH + 1];
  for (unsigned i = 0; i < WIDTH; i++)
    cells[i] = i < filled ? '#' : '.';
  cells[WIDTH] = '\0';
  printf("\r[%s] %llu/%llu s, %llu chaos events", cells, (unsigned long long)(done_ms / 1000),
         (unsigned long long)(total_ms / 1000),
         (unsigned long long)(chaos_kills + chaos_crashes + chaos_process_kills + chaos_hangups +
                              chaos_group_kills + chaos_node_kills));
  fflush(stdout);
}

static void usage(void) {
  fprintf(stderr, "usage: %s SECONDS [--quiet]\n", progname);
  exit(2);
}

int main(int argc, char **argv) {
  progname = argv[0];
  char *end = NULL;
  long seconds = argc >= 2 ? strtol(argv[1], &end, 10) : 0;
  if (argc < 2 || argc > 3 || *end != '\0' || seconds < 10 || seconds > 7 * 86400)
    usage();
  if (argc == 3) {
    if (strcmp(argv[2], "--quiet") != 0)
      usage();
    quiet = true;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);

  /* The second node needs nats-server and the cluster_node program. */
  remote.on = access(CLUSTER_NODE, X_OK) == 0 && system("command -v nats-server >/dev/null") == 0;
  if (remote.on && !nats_start()) {
    fprintf(stderr, "%s: nats-server did not start (see %s)\n", progname, remote.dir);
    nats_stop();
    return 1;
  }
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.blocking_workers = GROUPS * PROCESSES; /* each process actor's proxy has a thread */
  cfg.gateway_tcp = "0";
  cfg.gateway_token = "soak";
  cfg.log_fn = soak_log;
  cfg.log_level = HIVE_LOG_WARNING;
  if (remote.on) {
    cfg.cluster_url = remote.url;
    cfg.node_id = 1;
  }
  int rc = hive_start(&node, &cfg);
  if (rc == HIVE_OK && (rc = start_tree(node, &top_sup)) != HIVE_OK)
    hive_stop(node);
  if (rc != HIVE_OK) {
    fprintf(stderr, "%s: the node did not start: %s\n", progname, hive_strerror(rc));
    nats_stop();
    return 1;
  }
  gateway_port = hive_gateway_port(node);
  printf("soak: %ld s; %u supervisors over %u workers and %u process actors; %u gateway "
         "clients; %s\n",
         seconds, GROUPS + 1, GROUPS * WORKERS, GROUPS * PROCESSES, CLIENTS,
         remote.on ? "a second node over NATS" : "no second node (no nats-server)");

  pthread_t chaos, pinger, watchdog;
  unsigned threads = CLIENTS + 1 + remote.on;
  pthread_create(&watchdog, NULL, watchdog_main, NULL);
  pthread_detach(watchdog);
  for (unsigned i = 0; i < CLIENTS; i++) {
    clients[i] = (client_t){.fd = -1, .index = i};
    pthread_mutex_init(&clients[i].lock, NULL);
    pthread_create(&clients[i].thread, NULL, client_main, &clients[i]);
  }
  pthread_create(&chaos, NULL, chaos_main, NULL);
  if (remote.on)
    pthread_create(&pinger, NULL, pinger_main, NULL);

  /* Checkpoints: every twelfth of the run, 5 to 30 s apart; the warm-up is
   * the first quarter of the run, and at least two checkpoints. */
  uint64_t start = now_ms(), stop_at = start + (uint64_t)seconds * 1000;
  uint64_t every = (uint64_t)seconds * 1000 / 12;
  every = every < 5000 ? 5000 : every > 30000 ? 30000 : every;
  checkpoint_t cp = {0};
  unsigned n = 0;
  enter("running");
  bool bar = !quiet && isatty(STDOUT_FILENO);
  for (uint64_t next = start + every; atomic_load(&failed) == NULL;) {
    for (unsigned k = 0; now_ms() < next && now_ms() < stop_at && atomic_load(&failed) == NULL;
         k++) {
      if (bar && k % 10 == 0)
        progress_bar(now_ms() - start, (uint64_t)seconds * 1000);
      sleep_ms(100);
    }
    if (bar)
      printf("\r\033[K"); /* the checkpoint's line takes the bar's place */
    if (atomic_load(&failed) != NULL || !checkpoint(threads, &cp))
      break;
    n++;
    double t = (double)(now_ms() - start) / 1000.0;
    bool warm = n <= 2 || t <= (double)seconds / 4.0;
    if (warm) {
      cp.warm_rss = cp.rss > cp.warm_rss ? cp.rss : cp.warm_rss;
      cp.warm_fds = cp.fds > cp.warm_fds ? cp.fds : cp.warm_fds;
    } else if (cp.rss > cp.warm_rss + cp.warm_rss / 4 + (16u << 20))
      fail("resident memory grew to %.1f MiB after a warm-up at %.1f MiB", cp.rss / 1048576.0,
           cp.warm_rss / 1048576.0);
    else if (cp.fds > cp.warm_fds + 8)
      fail("open descriptors grew to %u after a warm-up at %u", cp.fds, cp.warm_fds);
    if (!quiet || now_ms() >= stop_at)
      printf("[%5.0f/%ld s] checkpoint %u%s: sent %llu = processed %llu + dead %llu; restarts "
             "%llu; chaos %llu; calls %llu; rss %.1f MiB (heap %.1f), %u fds\n",
             t, seconds, n, warm ? " (warm-up)" : "", (unsigned long long)cp.ns.sent,
             (unsigned long long)cp.ns.processed, (unsigned long long)cp.ns.dead_letters,
             (unsigned long long)cp.ns.restarts,
             (unsigned long long)(chaos_kills + chaos_crashes + chaos_process_kills +
                                  chaos_hangups + chaos_group_kills + chaos_node_kills),
             (unsigned long long)(calls_ok + calls_noproc + calls_timeout + calls_cut),
             cp.rss / 1048576.0, cp.heap / 1048576.0, cp.fds);
    if (now_ms() >= stop_at)
      break;
    next = now_ms() + every;
  }

  enter("stopping");
  const char *why = atomic_load(&failed);
  if (why != NULL) {
    /* Children of this process die with it (PR_SET_PDEATHSIG). */
    printf("soak: FAILED after %.0f s: %s\n", (double)(now_ms() - start) / 1000.0, why);
    print_kept_errors();
    if (remote.nats > 0) /* its folder goes too; the second node dies with this process */
      kill(remote.nats, SIGKILL);
    nats_stop();
    fflush(stdout);
    _exit(1);
  }
  resume_threads(true);
  for (unsigned i = 0; i < CLIENTS; i++)
    pthread_join(clients[i].thread, NULL);
  pthread_join(chaos, NULL);
  if (remote.on)
    pthread_join(pinger, NULL);
  hive_node_stats_t ns;
  hive_node_stats(node, &ns);
  rc = hive_stop(node);
  nats_stop();
  if (rc != HIVE_OK)
    fail("hive_stop: %s", hive_strerror(rc));
  /* A soak that ran no chaos, or no load, proves nothing. */
  else if (chaos_kills == 0 || chaos_crashes == 0 || chaos_process_kills == 0 ||
           chaos_hangups == 0 || chaos_group_kills == 0 || (remote.on && chaos_node_kills == 0))
    fail("some kind of chaos never happened");
  else if (ns.exits[HIVE_REASON_CRASH] == 0 || ns.restarts == 0)
    fail("no actor crashed or was restarted");
  else if (calls_ok == 0 || calls_cut == 0 || (remote.on && asks_ok == 0))
    fail("no call was answered, or none was cut");
  printf("soak: chaos: %llu kills, %llu crashes, %llu process actors and %llu nodes SIGKILLed, "
         "%llu supervisors killed, %llu connections hung up\n",
         (unsigned long long)chaos_kills, (unsigned long long)chaos_crashes,
         (unsigned long long)chaos_process_kills, (unsigned long long)chaos_node_kills,
         (unsigned long long)chaos_group_kills, (unsigned long long)chaos_hangups);
  printf("soak: node: %llu actors spawned, %llu restarts, %llu crashes; %llu messages sent, "
         "%llu dead letters; %llu log lines\n",
         (unsigned long long)ns.actors_spawned, (unsigned long long)ns.restarts,
         (unsigned long long)ns.exits[HIVE_REASON_CRASH], (unsigned long long)ns.sent,
         (unsigned long long)ns.dead_letters, (unsigned long long)log_lines);
  printf("soak: gateway calls: %llu answered, %llu noproc, %llu timeout, %llu cut by hang-ups; "
         "asks to the second node: %llu answered, %llu failed; longest answer %llu ms\n",
         (unsigned long long)calls_ok, (unsigned long long)calls_noproc,
         (unsigned long long)calls_timeout, (unsigned long long)calls_cut,
         (unsigned long long)asks_ok, (unsigned long long)asks_failed,
         (unsigned long long)longest_answer_ms);
  printf("soak: memory %.1f MiB (warm-up %.1f MiB), %u descriptors (warm-up %u); %u checkpoints\n",
         cp.rss / 1048576.0, cp.warm_rss / 1048576.0, cp.fds, cp.warm_fds, n);
  why = atomic_load(&failed);
  if (why != NULL) {
    printf("soak: FAILED: %s\n", why);
    return 1;
  }
  printf("soak: passed\n");
  return 0;
}
