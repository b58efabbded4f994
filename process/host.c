/*
 * host.c - the zygote and a process actor's child. libhive's constructor
 * runs before main in every process that loads libhive; it finds
 * HIVE_PROCESS_ZYGOTE in the environment only in the zygote the spawner
 * started (spawner.c), and then never returns: the zygote forks a child
 * for each FORK it is sent, reaps them and reports how each ended. A
 * child runs the actor's callbacks as its channel asks, and exits when
 * the channel closes.
 *
 * Inside the child there is no node: hive_node gives a stand-in whose
 * `child` flag makes every call but hive_send, hive_send_move, hive_reply,
 * hive_self, hive_checkpoint (always false: a kill is a SIGKILL) and the
 * payload helpers return HIVE_ENOTSUP; sends and replies go over the
 * channel (the `elsewhere` hook). A fatal signal is reported (DYING, with
 * the address space at that moment, from an async-signal-safe handler),
 * then the child dies of it as it would have.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "process.h"

static int host_fd = -1;

/* proxy.c reads this, so that a program linked with the static libhive
 * links this file, and its constructor, too. */
const int hive__process_host_linked = 1;

static int host_elsewhere(hive_t *h, bool reply, hive_pid_t to, uint32_t tag, uint64_t ref,
                          const void *data, size_t len) {
  (void)h;
  if (len > PROC_MAX_DATA)
    return HIVE_EINVAL;
  if (!hive__proc_write(host_fd, reply ? PROC_REPLY : PROC_SEND, tag, 0, to, ref, data, len))
    _exit(0); /* the node is gone */
  return HIVE_OK;
}

/* The address space now, from /proc/self/status (VmSize), in bytes: read
 * with system calls only, as a signal handler may. */
static uint64_t host_vm_bytes(void) {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  for (ssize_t i = 0; i + 7 < n; i++) {
    if (memcmp(buf + i, "VmSize:", 7) != 0)
      continue;
    uint64_t kb = 0;
    for (ssize_t j = i + 7; j < n && buf[j] != '\n'; j++)
      if (buf[j] >= '0' && buf[j] <= '9')
        kb = kb * 10 + (uint64_t)(buf[j] - '0');
    return kb * 1024;
  }
  return 0;
}

static void host_fatal(int sig) {
  proc_head_t head = {.type = PROC_DYING, .code = sig, .a = host_vm_bytes()};
  ssize_t put = send(host_fd, &head, sizeof(head), MSG_NOSIGNAL);
  (void)put;
  signal(sig, SIG_DFL);
  raise(sig); /* dies of it, as it would have */
}

static void host_catch_fatal(void) {
  static char stack[64 * 1024];
  stack_t ss = {.ss_sp = stack, .ss_size = sizeof(stack)};
  sigaltstack(&ss, NULL); /* a stack overflow is reported too */
  struct sigaction sa = {.sa_handler = host_fatal, .sa_flags = SA_ONSTACK | SA_RESETHAND};
  sigemptyset(&sa.sa_mask);
  static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
  for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
    sigaction(fatal[i], &sa, NULL);
}

static void host_limit(int resource, rlim_t soft, rlim_t hard) {
  struct rlimit r = {.rlim_cur = soft, .rlim_max = hard};
  setrlimit(resource, &r);
}

static void host_apply_limits(const hive_limits_t *l) {
  if (l->mem_bytes > 0)
    host_limit(RLIMIT_AS, l->mem_bytes, l->mem_bytes);
  if (l->cpu_ms > 0) { /* SIGXCPU at the soft limit, SIGKILL a second later */
    rlim_t s = (l->cpu_ms + 999) / 1000;
    host_limit(RLIMIT_CPU, s, s + 1);
  }
  if (l->nofile > 0)
    host_limit(RLIMIT_NOFILE, l->nofile, l->nofile);
}

/* Reads a frame's data (len bytes, malloc'd; NULL for none). */
static void *host_read_data(uint32_t len) {
  if (len == 0)
    return NULL;
  void *data = malloc(len);
  if (data == NULL || !hive__proc_read(host_fd, data, len))
    _exit(data == NULL ? 70 : 0);
  return data;
}

static void host_done(int rc) {
  if (!hive__proc_write(host_fd, PROC_DONE, 0, rc, 0, 0, NULL, 0))
    _exit(0);
}

static _Noreturn void host_run(void) {
  proc_head_t head;
  if (!hive__proc_read(host_fd, &head, sizeof(head)) || head.type != PROC_INIT ||
      head.len > PROC_MAX_DATA || head.tag != sizeof(hive_limits_t) || head.len < head.tag + 1)
    _exit(0);
  unsigned char *init = host_read_data(head.len);
  hive_limits_t limits;
  memcpy(&limits, init, sizeof(limits));
  const char *module = (const char *)init + sizeof(limits);
  size_t rest = head.len - sizeof(limits);
  size_t module_len = strnlen(module, rest);
  if (module_len == rest)
    _exit(0);
  const unsigned char *arg = (const unsigned char *)module + module_len + 1;
  size_t arg_len = rest - module_len - 1;
  const hive_behaviour_t *b = hive__proc_resolve(module, head.b, sizeof(*b));
  if (b == NULL || b->handle == NULL)
    _exit(0); /* the node's proxy sees EOF: the actor fails to start */
  host_apply_limits(&limits);

  /* The stand-in node and slot the callbacks see. */
  hive_t *node = aligned_alloc(HIVE__CACHELINE, sizeof(*node));
  hive__actor_t *slot = aligned_alloc(HIVE__CACHELINE, sizeof(*slot));
  void *state = b->state_size > 0 ? calloc(1, b->state_size) : NULL;
  if (node == NULL || slot == NULL || (b->state_size > 0 && state == NULL))
    _exit(70);
  memset(node, 0, sizeof(*node));
  memset(slot, 0, sizeof(*slot));
  node->child = true;
  node->node_id = HIVE_PID_NODE(head.a);
  node->elsewhere = host_elsewhere;
  node->log_level = HIVE_LOG_INFO;
  hive__life(slot)->self = head.a;
  atomic_store_explicit(&slot->pid, head.a, memory_order_relaxed); /* hive_current_actor */
  hive__life(slot)->behaviour = b;
  hive__tls.node = node;
  hive__tls.actor = slot;
  struct hive_ctx ctx = {.node = node, .actor = slot};

  /* init gets its argument in a block of its own, aligned as malloc
   * aligns: in the INIT frame it follows the module's path, at any byte. */
  void *aligned_arg = arg_len > 0 ? malloc(arg_len) : NULL;
  if (arg_len > 0 && aligned_arg == NULL)
    _exit(70);
  if (arg_len > 0)
    memcpy(aligned_arg, arg, arg_len);
  free(init);
  int rc = b->init != NULL ? b->init(&ctx, state, aligned_arg, arg_len) : HIVE_OK;
  free(aligned_arg);
  host_done(rc);
  for (;;) {
    if (!hive__proc_read(host_fd, &head, sizeof(head)) || !hive__proc_head_ok(&head, false))
      _exit(0);
    void *data = host_read_data(head.len);
    if (head.type == PROC_MSG) {
      hive_msg_t msg = {
          .tag = head.tag, .from = head.a, .ref = head.b, .data = data, .len = head.len};
      host_done(b->handle(&ctx, state, &msg));
    } else if (head.type == PROC_TERM) {
      char *text = head.len > 0 ? strndup(data, head.len) : NULL;
      hive_reason_t reason = {.kind = (int)head.tag, .code = head.code, .text = text};
      if (b->terminate != NULL)
        b->terminate(&ctx, state, &reason);
      host_done(HIVE_OK);
      _exit(0);
    } else {
      _exit(0); /* INIT twice */
    }
    free(data);
  }
}

/* ---- the zygote ------------------------------------------------------------ */

static pid_t zygote_pid;

/* A forked child becomes a process actor's host: descriptor 3 its
 * channel, nothing else open, in a group of its own, dying with the
 * zygote (whose only thread made it). */
static _Noreturn void zygote_child(int ctl, int sfd, int channel) {
  close(ctl);
  close(sfd);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != zygote_pid)
    _exit(0);
  if (channel != HIVE__PROC_CHILD_FD) {
    dup2(channel, HIVE__PROC_CHILD_FD);
    close(channel);
  }
  /* Nothing else is open: the zygote was started with descriptor 3 (its
   * control socket, closed above) and no other, and opens only its
   * signalfd (closed above) and each child's channel. (close_range over
   * the whole limit would cost milliseconds a spawn.) */
  host_fd = HIVE__PROC_CHILD_FD;
  fcntl(host_fd, F_SETFD, FD_CLOEXEC);
  host_catch_fatal();
  host_run();
}

static void zygote_send(int ctl, const hive__zygote_msg_t *m) {
  while (send(ctl, m, sizeof(*m), MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

/* Reaps every child that ended and reports each. */
static void zygote_reap(int ctl) {
  int status;
  struct rusage ru;
  pid_t pid;
  while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
    uint64_t us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                  (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    zygote_send(ctl, &(hive__zygote_msg_t){
                         .type = HIVE__ZYGOTE_EXIT, .pid = pid, .status = status, .cpu_us = us});
  }
}

/* The zygote's loop: a FORK with a channel makes a child; a child that
 * ends is reaped and reported; EOF (the node is gone) ends the zygote,
 * and its children with it. Single-threaded, so a fork is safe. */
static _Noreturn void zygote_run(int ctl) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0)
    _exit(70);
  zygote_pid = getpid();
  for (;;) {
    struct pollfd fds[2] = {{.fd = ctl, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    if (poll(fds, 2, -1) < 0)
      continue;
    if (fds[1].revents != 0) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) > 0) {
      }
      zygote_reap(ctl);
    }
    if (fds[0].revents == 0)
      continue;
    hive__zygote_msg_t m;
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    ssize_t n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      _exit(0); /* the node is gone */
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    int channel = -1;
    if (c != NULL && c->cmsg_type == SCM_RIGHTS)
      memcpy(&channel, CMSG_DATA(c), sizeof(int));
    pid_t pid = -1;
    if (n == (ssize_t)sizeof(m) && m.type == HIVE__ZYGOTE_FORK && channel >= 0) {
      pid = fork();
      if (pid == 0)
        zygote_child(ctl, sfd, channel);
    }
    if (channel >= 0)
      close(channel);
    zygote_send(ctl, &(hive__zygote_msg_t){.type = HIVE__ZYGOTE_FORKED, .id = m.id, .pid = pid});
  }
}

/* Runs before main in every process that loads libhive; returns at once
 * unless this process is the node's zygote. */
__attribute__((constructor)) static void hive__process_host_entry(void) {
  const char *zygote = getenv(HIVE__PROC_ENV_ZYGOTE);
  const char *parent = getenv(HIVE__PROC_ENV_PARENT);
  if (zygote == NULL || parent == NULL)
    return;
  int ctl = atoi(zygote);
  pid_t expected = (pid_t)atol(parent);
  unsetenv(HIVE__PROC_ENV_ZYGOTE);
  unsetenv(HIVE__PROC_ENV_PARENT);
  /* Dies with the node: SIGKILL when the spawner thread (which lives as
   * long as the node) ends, and a parent already gone is seen at once. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != expected)
    _exit(0);
  fcntl(ctl, F_SETFD, FD_CLOEXEC);
  zygote_run(ctl);
}
