/*
 * nats_server.h - a nats-server of a test's own (a free loopback port, its
 * store in a temporary folder, stopped by its pid), and waiting for the
 * nodes of a cluster to see each other over it. cluster_helpers.h adds the
 * remote nodes and actors of the cluster tests. Its includer defines
 * _GNU_SOURCE first.
 */
#ifndef HIVE_TEST_NATS_SERVER_H
#define HIVE_TEST_NATS_SERVER_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nats/nats.h>

#include "helpers.h"
#include "nats_ports.h"

/* ---- nats-server ------------------------------------------------------------ */

typedef struct {
  pid_t pid;
  char dir[128];
  char url[128];
  int port, cluster_port;
} nats_t;

/* Starts nats-server on port (0: a free one), with JetStream if js; extra
 * arguments (NULL-terminated list, may be NULL) go on its command line. */
static inline void nats_start_args(nats_t *n, int port, bool js, const char *const *extra) {
  if (n->dir[0] == '\0') {
    snprintf(n->dir, sizeof(n->dir), "/tmp/hive-nats-XXXXXX");
    cr_assert_not_null(mkdtemp(n->dir));
  }
  char portarg[16], jsdir[160], log[160];
  snprintf(portarg, sizeof(portarg), "%d", port > 0 ? port : -1);
  snprintf(jsdir, sizeof(jsdir), "%s/js", n->dir);
  snprintf(log, sizeof(log), "%s/log", n->dir);
  const char *argv[32] = {"nats-server",      "-a",  "127.0.0.1", "-p", portarg,
                          "--ports_file_dir", n->dir};
  int argc = 7;
  if (js) {
    argv[argc++] = "-js";
    argv[argc++] = "-sd";
    argv[argc++] = jsdir;
  }
  for (int i = 0; extra != NULL && extra[i] != NULL && argc < 31; i++)
    argv[argc++] = extra[i];
  argv[argc] = NULL;
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no server behind */
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execvp("nats-server", (char *const *)argv);
    _exit(127);
  }
  n->pid = pid;
  /* It writes its ports file once it listens (under a second). */
  for (int i = 0; i < 2000; i++) {
    if ((n->port = nats_ports_read(n->dir, pid)) > 0) {
      snprintf(n->url, sizeof(n->url), "nats://127.0.0.1:%d", n->port);
      return;
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, WNOHANG), 0, "nats-server exited: see %s", log);
    usleep(10000); /* an outside process getting ready: there is no event to wait on */
  }
  cr_assert_fail("nats-server did not start: see %s", log);
}

/* A loopback port free now (for a server's cluster routes, which have no
 * ports file). */
static inline int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* Server i of a 3-server NATS cluster on loopback: routes to the others. */
static inline void nats_start_member(nats_t *n, const int route_ports[3], int i) {
  char listen[64], routes[256];
  snprintf(listen, sizeof(listen), "nats://127.0.0.1:%d", route_ports[i]);
  snprintf(routes, sizeof(routes), "nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d",
           route_ports[0], route_ports[1], route_ports[2]);
  const char *extra[] = {"--cluster_name", "hive-test", "--cluster", listen,
                         "--routes",       routes,      NULL};
  nats_start_args(n, 0, false, extra);
}

static void nats_probe_got(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg) {
  (void)nc, (void)sub;
  sem_post(arg);
  natsMsg_Destroy(m);
}

/* Waits until a message published on server `from` reaches a subscriber
 * on server `to`: the cluster's routes carry interest between them. */
static inline void nats_wait_routed(const char *from, const char *to) {
  natsConnection *a, *b;
  natsSubscription *sub;
  sem_t got;
  sem_init(&got, 0, 0);
  cr_assert_eq(natsConnection_ConnectTo(&a, from), NATS_OK);
  cr_assert_eq(natsConnection_ConnectTo(&b, to), NATS_OK);
  cr_assert_eq(natsConnection_Subscribe(&sub, b, "hive-test.probe", nats_probe_got, &got), NATS_OK);
  natsConnection_Flush(b);
  bool routed = false;
  for (int i = 0; i < 200 && !routed; i++) {
    natsConnection_PublishString(a, "hive-test.probe", "?");
    natsConnection_Flush(a);
    routed = test_wait(&got, 50);
  }
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(a);
  natsConnection_Destroy(b);
  sem_destroy(&got);
  cr_assert(routed, "no route from %s to %s after 10 s", from, to);
}

static inline void nats_start(nats_t *n, bool js) {
  nats_start_args(n, 0, js, NULL);
}

static inline void nats_stop(nats_t *n) {
  if (n->pid > 0) {
    kill(n->pid, SIGTERM);
    waitpid(n->pid, NULL, 0);
    n->pid = 0;
  }
}

static inline void nats_cleanup(nats_t *n) {
  nats_stop(n);
  if (n->dir[0] != '\0') {
    char cmd[192];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", n->dir);
    cr_assert_eq(system(cmd), 0);
  }
}

/* ---- nodes meeting ------------------------------------------------------------ */

/* Waits (polling, up to 20 s) until node id is up here; its info. */
static inline hive_node_info_t cluster_test_wait_node(hive_t *h, unsigned id) {
  hive_node_info_t info = {0};
  for (int i = 0; i < 2000; i++) {
    hive_node_info_t nodes[16];
    int n = hive_nodes(h, nodes, 16);
    for (int k = 0; k < n && k < 16; k++)
      if (nodes[k].id == id)
        return nodes[k];
    usleep(10000); /* another process's heartbeat: no event here to wait on */
  }
  cr_assert_fail("node %u never came up", id);
  return info;
}

/* The node with id, as this node sees it; false if it is not up here. */
static inline bool cluster_test_node(hive_t *h, unsigned id, hive_node_info_t *out) {
  hive_node_info_t nodes[16];
  int n = hive_nodes(h, nodes, 16);
  for (int i = 0; i < n && i < 16; i++)
    if (nodes[i].id == id) {
      if (out != NULL)
        *out = nodes[i];
      return true;
    }
  return false;
}

#endif /* HIVE_TEST_NATS_SERVER_H */
