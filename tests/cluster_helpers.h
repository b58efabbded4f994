/*
 * cluster_helpers.h - what the cluster tests share: a nats-server of the
 * test's own (nats_server.h), remote nodes run as processes of
 * cluster_node, and an inbox actor that records what this node's actors
 * receive.
 */
#ifndef HIVE_TEST_CLUSTER_HELPERS_H
#define HIVE_TEST_CLUSTER_HELPERS_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nats/nats.h>

#include "cluster_actors.h"
#include "helpers.h"
#include "nats_server.h"

/* ---- remote nodes (cluster_node) ------------------------------------------ */

typedef struct {
  pid_t pid;
  FILE *out;
  unsigned id, inc;
  hive_pid_t echo;
  char line[128];
} rnode_t;

/* Starts node id; true once it printed ready (line holds what it said). */
static inline bool rnode_start_args(rnode_t *r, const char *url, unsigned id, const char *hb,
                                    const char *down) {
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  char idarg[16];
  snprintf(idarg, sizeof(idarg), "%u", id);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no node behind */
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    if (hb != NULL)
      execl(CLUSTER_NODE, CLUSTER_NODE, url, idarg, hb, down, (char *)NULL);
    else
      execl(CLUSTER_NODE, CLUSTER_NODE, url, idarg, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  *r = (rnode_t){.pid = pid, .out = fdopen(fds[0], "r"), .id = id};
  if (fgets(r->line, sizeof(r->line), r->out) == NULL)
    return false;
  unsigned long long echo;
  if (sscanf(r->line, "ready %u %u %llu", &r->id, &r->inc, &echo) != 3)
    return false;
  r->echo = (hive_pid_t)echo;
  return true;
}

static inline void rnode_start(rnode_t *r, const char *url, unsigned id) {
  cr_assert(rnode_start_args(r, url, id, NULL, NULL), "node %u did not start: %s", id, r->line);
}

/* Its exit status, once it ended (after SIGTERM: 0). */
static inline int rnode_wait(rnode_t *r) {
  int status = -1;
  waitpid(r->pid, &status, 0);
  if (r->out != NULL)
    fclose(r->out);
  r->out = NULL;
  r->pid = 0;
  return status;
}

static inline void rnode_stop(rnode_t *r) {
  if (r->pid > 0) {
    kill(r->pid, SIGTERM);
    int status = rnode_wait(r);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "node %u ended with %d", r->id,
              status);
  }
}

static inline void rnode_kill(rnode_t *r) {
  if (r->pid > 0) {
    kill(r->pid, SIGKILL);
    rnode_wait(r);
  }
}

/* ---- this node ------------------------------------------------------------- */

static inline hive_t *cluster_test_start(const char *url, unsigned id, unsigned hb_ms,
                                         unsigned down_ms) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = 2;
  cfg.cluster_url = url;
  cfg.node_id = id;
  cfg.heartbeat_ms = hb_ms;
  cfg.node_down_ms = down_ms;
  cfg.log_level = HIVE_LOG_WARNING;
  hive_t *h;
  int rc = hive_start(&h, &cfg);
  cr_assert_eq(rc, HIVE_OK, "hive_start: %s", hive_strerror(rc));
  return h;
}


/* A round trip to a remote echo (any request is echoed): once it is back,
 * whatever was sent to that node before, from this thread, has arrived. */
static inline int echo_ask(hive_t *h, hive_pid_t echo, int timeout_ms) {
  void *reply;
  size_t len;
  int rc = hive_ask(h, echo, TAG_ROUND_TRIP, NULL, 0, timeout_ms, &reply, &len);
  if (rc == HIVE_OK)
    free(reply);
  return rc;
}

/* ---- the inbox: what this node's actors got -------------------------------- */

#define INBOX_MAX 4096

typedef struct {
  uint32_t tag;
  hive_pid_t from;
  uint64_t ref;
  uint64_t at_ns;
  size_t len;
  unsigned char data[32];
  hive_pid_t pid; /* DOWN / EXIT: who ended */
  int kind;       /* DOWN / EXIT: the reason */
} inbox_item_t;

static inbox_item_t inbox[INBOX_MAX];
static atomic_int inbox_n;
static sem_t inbox_sem;
static pthread_mutex_t inbox_lock = PTHREAD_MUTEX_INITIALIZER;

/* What an inbox does first. */
typedef struct {
  bool trap;
  hive_pid_t link, monitor;
  unsigned monitor_node;
} inbox_arg_t;

/* TAG_RELAY: send pid to `to` with tag, from the inbox (so answers come back
 * to it). */
typedef struct {
  hive_pid_t to;
  uint32_t tag;
  hive_pid_t pid;
} relay_t;

static inline int inbox_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)state;
  inbox_arg_t a = {0};
  if (len == sizeof(a))
    memcpy(&a, arg, sizeof(a));
  hive_trap_exit(ctx, a.trap);
  uint64_t ref;
  if (a.link != 0)
    cr_assert_eq(hive_link(ctx, a.link), HIVE_OK);
  if (a.monitor != 0)
    cr_assert_eq(hive_monitor(ctx, a.monitor, &ref), HIVE_OK);
  if (a.monitor_node != 0)
    cr_assert_eq(hive_monitor_node(ctx, a.monitor_node, &ref), HIVE_OK);
  return HIVE_OK;
}

static inline int inbox_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  if (msg->tag == TAG_RELAY && msg->len == sizeof(relay_t)) {
    relay_t r;
    memcpy(&r, msg->data, sizeof(r));
    cr_assert_eq(hive_send(hive_node(ctx), r.to, r.tag, &r.pid, sizeof(r.pid)), HIVE_OK);
    return HIVE_OK;
  }
  /* Several inboxes run at once on the workers: one writer at a time. */
  pthread_mutex_lock(&inbox_lock);
  int i = atomic_load(&inbox_n);
  if (i >= INBOX_MAX) {
    pthread_mutex_unlock(&inbox_lock);
    return HIVE_OK;
  }
  inbox_item_t *it = &inbox[i];
  *it = (inbox_item_t){
      .tag = msg->tag, .from = msg->from, .ref = msg->ref, .len = msg->len, .at_ns = test_now_ns()};
  if (msg->len > 0)
    memcpy(it->data, msg->data, msg->len < sizeof(it->data) ? msg->len : sizeof(it->data));
  if (msg->tag == HIVE_TAG_DOWN || msg->tag == HIVE_TAG_EXIT) {
    hive_reason_t r;
    hive_exit_info(msg, &it->pid, &r);
    it->kind = r.kind;
  } else if ((msg->tag == TAG_GOT_DOWN || msg->tag == TAG_GOT_EXIT) &&
             msg->len == sizeof(cluster_event_t)) {
    cluster_event_t ev;
    memcpy(&ev, msg->data, sizeof(ev));
    it->pid = ev.pid;
    it->kind = ev.kind;
  }
  atomic_store(&inbox_n, i + 1); /* after the item: readers see it whole */
  pthread_mutex_unlock(&inbox_lock);
  sem_post(&inbox_sem);
  return HIVE_OK;
}

static const hive_behaviour_t inbox_b = {
    .name = "inbox", .init = inbox_init, .handle = inbox_handle};

static inline hive_pid_t inbox_spawn(hive_t *h, inbox_arg_t arg) {
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &inbox_b, &arg, sizeof(arg), NULL, &pid), HIVE_OK);
  return pid;
}

/* Has the inbox `via` send pid to `to` with tag. */
static inline void inbox_relay(hive_t *h, hive_pid_t via, hive_pid_t to, uint32_t tag,
                               hive_pid_t pid) {
  relay_t r = {.to = to, .tag = tag, .pid = pid};
  cr_assert_eq(hive_send(h, via, TAG_RELAY, &r, sizeof(r)), HIVE_OK);
}

static inline void inbox_setup(void) {
  atomic_store(&inbox_n, 0);
  sem_init(&inbox_sem, 0, 0);
}

/* Waits for the next item with tag; its index. Fails the test after
 * timeout_ms. */
static inline int inbox_wait(uint32_t tag, int *seen, int timeout_ms) {
  for (;;) {
    while (*seen < atomic_load(&inbox_n)) {
      int i = (*seen)++;
      if (inbox[i].tag == tag)
        return i;
    }
    cr_assert(test_wait(&inbox_sem, timeout_ms), "timed out waiting for tag %u", tag);
  }
}

#endif /* HIVE_TEST_CLUSTER_HELPERS_H */
