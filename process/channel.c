/*
 * channel.c - reading and writing the frames of channel.h.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"

bool hive__proc_head_ok(const proc_head_t *head, bool from_child) {
  if (head->len > PROC_MAX_DATA)
    return false;
  switch (head->type) {
  case PROC_DONE:
  case PROC_DYING:
    return from_child && head->len == 0;
  case PROC_SEND: /* to an actor */
    return from_child && head->a != 0;
  case PROC_REPLY: /* to a request (its asker may be a plain thread: pid 0) */
    return from_child && head->b != 0;
  case PROC_INIT:
  case PROC_MSG:
  case PROC_TERM:
    return !from_child;
  default:
    return false;
  }
}

bool hive__proc_write(int fd, uint32_t type, uint32_t tag, int32_t code, uint64_t a, uint64_t b,
                      const void *data, size_t len) {
  if (len > PROC_MAX_DATA)
    return false;
  proc_head_t head = {.type = type, .len = (uint32_t)len, .tag = tag, .code = code, .a = a, .b = b};
  struct iovec iov[2] = {{.iov_base = &head, .iov_len = sizeof(head)},
                         {.iov_base = (void *)data, .iov_len = len}};
  struct msghdr m = {.msg_iov = iov, .msg_iovlen = len > 0 ? 2 : 1};
  size_t left = sizeof(head) + len;
  while (left > 0) {
    ssize_t put = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (put < 0 && errno == EINTR)
      continue;
    if (put <= 0)
      return false;
    left -= (size_t)put;
    while (put > 0 && m.msg_iovlen > 0) { /* skip what went */
      size_t n = (size_t)put < m.msg_iov[0].iov_len ? (size_t)put : m.msg_iov[0].iov_len;
      m.msg_iov[0].iov_base = (char *)m.msg_iov[0].iov_base + n;
      m.msg_iov[0].iov_len -= n;
      put -= (ssize_t)n;
      if (m.msg_iov[0].iov_len == 0) {
        m.msg_iov++;
        m.msg_iovlen--;
      }
    }
  }
  return true;
}

bool hive__proc_read(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    ssize_t got = read(fd, p, n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return false;
    p += got;
    n -= (size_t)got;
  }
  return true;
}

static uint64_t channel_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool hive__proc_spin_readable(int fd, uint64_t spin_ns) {
  uint64_t until = channel_now_ns() + spin_ns;
  do {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 0) != 0)
      return true; /* readable, EOF, or an error the read will see */
    sched_yield();
  } while (channel_now_ns() < until);
  return false;
}
