/*
 * loop.c - the gateway's event loop: one thread, epoll (level-triggered),
 * every socket of the gateway; and the gateway's start and stop.
 *
 * Reading: a read takes what the socket holds into one buffer; the whole
 * frames in it (prefixes included), cut by hive__gw_split (frame.c), go
 * to the connection's actor in one message, and a frame read in part
 * waits in a buffer of exactly its size, allocated once its length prefix
 * has been checked against max_frame. A prefix over the limit is never
 * allocated for: the actor is told (GW_TAG_TOOLARGE), answers toolarge,
 * and the connection closes.
 * The bytes the actor has not decoded yet are bounded: past max_frame
 * plus one read, the loop stops reading that socket until the actor
 * catches up, so a client that floods is slowed by TCP, not buffered.
 *
 * Writing: actors append whole frames to the connection's output under
 * its lock and put it on the ready list; the loop takes the output whole
 * and writes it without the lock. Unsent output is bounded too: past
 * GW_SLOW_READER_FRAMES x max_frame, a client that does not read its
 * answers is closed, logged and counted.
 *
 * No read or write waits on one client: a client sending a byte a second
 * costs a read each second and nothing else.
 */
#define _GNU_SOURCE /* accept4 */
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway.h"
#include "util/listen.h"
#include "util/pack.h"

#define GW_READ_SIZE 65536
#define GW_EVENTS 64
#define GW_STOP_FLUSH_MS 1000 /* hive_stop waits this long for clients to read */
#define GW_SPIN_NS 50000      /* the loop polls without sleeping this long after input */
#define GW_MAX_FRAME_LIMIT (64u << 20)
#define GW_KEEP_BUFFER (256u << 10) /* an output buffer kept between bursts */

static size_t gw_slow_limit(const hive__gateway_t *gw) {
  return GW_SLOW_READER_FRAMES * gw->max_frame;
}

/* Undecoded input past which the loop stops reading a connection. */
static size_t gw_input_limit(const hive__gateway_t *gw) {
  return gw->max_frame + GW_READ_SIZE;
}

void hive__gw_count_error(hive__gateway_t *gw, int kind) {
  if (kind >= 0 && kind < HIVE_GW_ERROR_KINDS)
    atomic_fetch_add_explicit(&gw->h->gw.errors[kind], 1, memory_order_relaxed);
}

static void gw_count(_Atomic uint64_t *counter, uint64_t n) {
  atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

/* ---- connections: references and the ready list ----------------------- */

void hive__gw_conn_release(gw_conn_t *c) {
  if (atomic_fetch_sub(&c->refs, 1) != 1)
    return;
  pthread_mutex_destroy(&c->lock);
  free(c->out);
  free(c->writing);
  hive__gw_framer_free(&c->framer);
  free(c);
}

/* Puts c on the ready list (with a reference) unless it is there; wakes
 * the loop if the list was empty. c->lock held, or the loop's own call. */
static void gw_conn_schedule(gw_conn_t *c) {
  hive__gateway_t *gw = c->gw;
  bool wake = false;
  pthread_mutex_lock(&gw->ready_lock);
  if (!c->ready) {
    c->ready = true;
    atomic_fetch_add(&c->refs, 1);
    wake = gw->ready_head == NULL;
    c->ready_next = gw->ready_head;
    gw->ready_head = c;
  }
  pthread_mutex_unlock(&gw->ready_lock);
  if (wake) {
    uint64_t one = 1;
    while (write(gw->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }
}

void hive__gw_conn_write(gw_conn_t *c, const void *frame, size_t len) {
  hive__gateway_t *gw = c->gw;
  pthread_mutex_lock(&c->lock);
  if (c->closed || c->slow) {
    pthread_mutex_unlock(&c->lock);
    return;
  }
  size_t unsent = atomic_load_explicit(&c->unsent, memory_order_relaxed);
  if (unsent + len > gw_slow_limit(gw)) {
    c->slow = true; /* the loop closes it */
    atomic_store(&c->gone, true);
    gw_conn_schedule(c);
    pthread_mutex_unlock(&c->lock);
    return;
  }
  if (c->out_len + len > c->out_size) {
    size_t size = c->out_size > 0 ? c->out_size : 4096;
    while (size < c->out_len + len)
      size *= 2;
    unsigned char *out = realloc(c->out, size);
    if (out == NULL) {
      c->slow = true; /* cannot queue it: close rather than lose a frame silently */
      gw_conn_schedule(c);
      pthread_mutex_unlock(&c->lock);
      return;
    }
    c->out = out;
    c->out_size = size;
  }
  memcpy(c->out + c->out_len, frame, len);
  c->out_len += len;
  atomic_fetch_add_explicit(&c->unsent, len, memory_order_relaxed);
  gw_conn_schedule(c);
  pthread_mutex_unlock(&c->lock);
  gw_count(&gw->h->gw.frames_out, 1);
}

void hive__gw_conn_consumed(gw_conn_t *c, size_t len) {
  size_t left = atomic_fetch_sub(&c->in_held, len) - len;
  if (atomic_load(&c->read_paused) && left < gw_input_limit(c->gw)) {
    pthread_mutex_lock(&c->lock);
    if (!c->closed)
      gw_conn_schedule(c);
    pthread_mutex_unlock(&c->lock);
  }
}

void hive__gw_conn_finish(gw_conn_t *c) {
  pthread_mutex_lock(&c->lock);
  c->close_when_flushed = true;
  if (!c->closed)
    gw_conn_schedule(c);
  pthread_mutex_unlock(&c->lock);
}

/* ---- the loop's side of a connection ----------------------------------- */

static void gw_watch(hive__gateway_t *gw, gw_conn_t *c, uint32_t events) {
  if (c->events == events)
    return;
  struct epoll_event ev = {.events = events, .data.ptr = c};
  epoll_ctl(gw->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
  c->events = events;
}

/* Closes the socket now. tell: the actor does not know yet. */
static void gw_conn_close(hive__gateway_t *gw, gw_conn_t *c, bool tell) {
  assert(c->fd >= 0); /* closed once */
  epoll_ctl(gw->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  atomic_store(&c->gone, true);
  pthread_mutex_lock(&c->lock);
  c->closed = true;
  tell = tell && !c->close_when_flushed;
  pthread_mutex_unlock(&c->lock);
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    gw->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  gw->nconns--;
  atomic_fetch_sub(&gw->h->gw.connections, 1);
  if (tell)
    hive__send_internal(gw->h, c->pid, GW_TAG_CLOSED, NULL, 0);
  /* The loop's reference goes once this round of events is over: a later
   * event of the round may still name c. */
  c->next = gw->closed;
  gw->closed = c;
}

static void gw_release_closed(hive__gateway_t *gw) {
  while (gw->closed != NULL) {
    gw_conn_t *c = gw->closed;
    gw->closed = c->next;
    hive__gw_conn_release(c);
  }
}

/* Writes what the connection has queued; false if it was closed. */
static bool gw_conn_flush(hive__gateway_t *gw, gw_conn_t *c) {
  for (;;) {
    if (c->writing_done == c->writing_len) {
      pthread_mutex_lock(&c->lock);
      bool done = c->out_len == 0;
      bool close_now = done && c->close_when_flushed;
      if (!done) { /* swap: the actor appends to the emptied buffer */
        unsigned char *out = c->out;
        size_t size = c->out_size;
        c->out = c->writing;
        c->out_size = c->writing_size;
        c->writing = out;
        c->writing_size = size;
        c->writing_len = c->out_len;
        c->writing_done = 0;
        c->out_len = 0;
      }
      pthread_mutex_unlock(&c->lock);
      if (done) {
        if (c->writing_size > GW_KEEP_BUFFER) { /* after a burst: give the memory back */
          free(c->writing);
          c->writing = NULL;
          c->writing_size = c->writing_len = c->writing_done = 0;
        }
        gw_watch(gw, c, c->events & ~(uint32_t)EPOLLOUT);
        if (close_now) {
          gw_conn_close(gw, c, false);
          return false;
        }
        return true;
      }
    }
    /* MSG_NOSIGNAL: a client that hung up is an error here, never a SIGPIPE */
    ssize_t put =
        send(c->fd, c->writing + c->writing_done, c->writing_len - c->writing_done, MSG_NOSIGNAL);
    if (put < 0 && errno == EINTR)
      continue;
    if (put < 0 && errno == EAGAIN) {
      gw_watch(gw, c, c->events | EPOLLOUT);
      return true;
    }
    if (put <= 0) {
      gw_conn_close(gw, c, true); /* the client went away */
      return false;
    }
    c->writing_done += (size_t)put;
    atomic_fetch_sub_explicit(&c->unsent, (size_t)put, memory_order_relaxed);
    gw_count(&gw->h->gw.bytes_out, (uint64_t)put);
  }
}

/* A length prefix over the limit: the actor answers, the socket closes. */
static void gw_conn_too_large(hive__gateway_t *gw, gw_conn_t *c, uint32_t n) {
  c->discarding = true;
  gw_watch(gw, c, c->events & ~(uint32_t)EPOLLIN);
  uint32_t *len = malloc(sizeof(*len));
  if (len != NULL)
    *len = n;
  hive__send_internal(gw->h, c->pid, GW_TAG_TOOLARGE, len, len != NULL ? sizeof(*len) : 0);
}

/* Reads what the socket holds; false if the connection was closed. */
static bool gw_conn_read(hive__gateway_t *gw, gw_conn_t *c) {
  ssize_t got = read(c->fd, gw->read_buf, GW_READ_SIZE);
  if (got < 0 && (errno == EAGAIN || errno == EINTR))
    return true;
  if (got <= 0) {
    gw_conn_close(gw, c, true); /* the client went away */
    return false;
  }
  gw_count(&gw->h->gw.bytes_in, (uint64_t)got);
  if (c->discarding)
    return true; /* after a frame too large: nothing more is read */
  gw_batch_t batch = {0};
  uint32_t too_large = 0;
  int split = hive__gw_split(&c->framer, gw->max_frame, gw->read_buf, (size_t)got, &batch,
                             &too_large);
  if (split == GW_SPLIT_NOMEM) {
    free(batch.data);
    hive_log(gw->h, HIVE_LOG_ERROR, "gateway: out of memory reading a frame; closing");
    gw_conn_close(gw, c, true);
    return false;
  }
  if (batch.len > 0) {
    gw_count(&gw->h->gw.frames_in, batch.frames);
    atomic_fetch_add(&c->in_held, batch.len);
    if (hive__send_internal(gw->h, c->pid, GW_TAG_INPUT, batch.data, batch.len) != HIVE_OK) {
      gw_conn_close(gw, c, false); /* its actor is gone */
      return false;
    }
  }
  if (split == GW_SPLIT_TOOLARGE) { /* after the frames before it are handed over */
    gw_conn_too_large(gw, c, too_large);
    return true;
  }
  /* Too much undecoded: stop reading until the actor catches up. The
   * actor checks read_paused after lowering in_held; both seq_cst, so one
   * of the two sees the other. */
  if (atomic_load(&c->in_held) >= gw_input_limit(gw)) {
    atomic_store(&c->read_paused, true);
    if (atomic_load(&c->in_held) >= gw_input_limit(gw))
      gw_watch(gw, c, c->events & ~(uint32_t)EPOLLIN);
    else
      atomic_store(&c->read_paused, false);
  }
  return true;
}

/* Serves a connection taken off the ready list. */
static void gw_conn_ready(hive__gateway_t *gw, gw_conn_t *c) {
  if (c->fd < 0)
    return; /* closed meanwhile */
  pthread_mutex_lock(&c->lock);
  bool slow = c->slow;
  pthread_mutex_unlock(&c->lock);
  if (slow) {
    atomic_fetch_add(&gw->h->gw.slow_reader_closes, 1);
    char pid[HIVE_PID_STRLEN];
    hive_pid_format(c->pid, pid, sizeof(pid));
    hive_log(gw->h, HIVE_LOG_WARNING,
             "gateway: connection %s does not read its answers (over %zu bytes unsent); closing",
             pid, gw_slow_limit(gw));
    gw_conn_close(gw, c, true);
    return;
  }
  if (atomic_load(&c->read_paused) && atomic_load(&c->in_held) < gw_input_limit(gw)) {
    atomic_store(&c->read_paused, false);
    gw_watch(gw, c, c->events | EPOLLIN);
  }
  gw_conn_flush(gw, c);
}

static void gw_serve_ready(hive__gateway_t *gw) {
  uint64_t count;
  while (read(gw->wake_fd, &count, sizeof(count)) < 0 && errno == EINTR) {
  }
  pthread_mutex_lock(&gw->ready_lock);
  gw_conn_t *list = gw->ready_head;
  gw->ready_head = NULL;
  pthread_mutex_unlock(&gw->ready_lock);
  /* An entry stays marked ready until it is taken, so that no actor puts
   * it on the list again (and rewrites its link) while the rest wait. */
  while (list != NULL) {
    pthread_mutex_lock(&gw->ready_lock);
    gw_conn_t *c = list;
    list = c->ready_next;
    c->ready = false;
    pthread_mutex_unlock(&gw->ready_lock);
    gw_conn_ready(gw, c);
    hive__gw_conn_release(c); /* the ready list's reference */
  }
}

/* ---- accepting ----------------------------------------------------------- */

/* An error frame written straight to a socket no actor serves. */
static void gw_refuse(hive__gateway_t *gw, int fd, int kind, const char *detail) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_sbuffer_write(&sb, "\0\0\0\0", 4);
  msgpack_pack_map(&pk, 3);
  hive__pack_key_bool(&pk, "ok", false);
  hive__pack_key_str(&pk, "error", hive_gateway_error_name(kind));
  hive__pack_key_str(&pk, "detail", detail);
  if (sb.data != NULL) {
    size_t n = sb.size - 4;
    unsigned char *p = (unsigned char *)sb.data;
    p[0] = (unsigned char)(n >> 24), p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8), p[3] = (unsigned char)n;
    ssize_t put = send(fd, sb.data, sb.size, MSG_NOSIGNAL); /* a new socket has room */
    (void)put;
  }
  msgpack_sbuffer_destroy(&sb);
  hive__gw_count_error(gw, kind);
  close(fd);
}

static void gw_accept_one(hive__gateway_t *gw, int fd, bool unix_socket) {
  if (gw->nconns >= gw->max_conns) {
    atomic_fetch_add(&gw->h->gw.refused, 1);
    gw_refuse(gw, fd, HIVE_GW_BUSY, "too many connections");
    return;
  }
  if (!unix_socket) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  gw_conn_t *c = calloc(1, sizeof(*c));
  if (c == NULL || pthread_mutex_init(&c->lock, NULL) != 0) {
    free(c);
    gw_refuse(gw, fd, HIVE_GW_INTERNAL, "out of memory");
    return;
  }
  c->gw = gw;
  c->fd = fd;
  c->unix_socket = unix_socket;
  atomic_init(&c->refs, 2); /* the loop's and the actor's */
  hive_pid_t pid;
  int rc = hive_sup_start_child(gw->h, gw->sup, NULL, &c, sizeof(c), &pid);
  if (rc != HIVE_OK) {
    /* Out of memory, the actor may have started all the same, its start's
     * answer lost (or its supervisor unable to keep it): then it holds its
     * reference, and is killed (should even that fail for memory, it idles
     * until hive_stop ends it). Closed first: its end schedules nothing. */
    hive_pid_t taken = atomic_load(&c->pid);
    pthread_mutex_lock(&c->lock);
    c->closed = true;
    pthread_mutex_unlock(&c->lock);
    c->fd = -1;
    if (taken != 0)
      hive_kill(gw->h, taken);
    else
      atomic_store(&c->refs, 1);
    hive__gw_conn_release(c);
    bool stopping = rc == HIVE_ESHUTDOWN || rc == HIVE_ENOPROC;
    gw_refuse(gw, fd, stopping ? HIVE_GW_SHUTDOWN : HIVE_GW_INTERNAL,
              stopping ? "the node is stopping" : hive_strerror(rc));
    return;
  }
  c->events = EPOLLIN;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (epoll_ctl(gw->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    c->fd = -1;
    close(fd);
    hive_exit(gw->h, pid, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN});
    hive__gw_conn_release(c);
    return;
  }
  c->next = gw->conns;
  if (gw->conns != NULL)
    gw->conns->prev = c;
  gw->conns = c;
  gw->nconns++;
  atomic_fetch_add(&gw->h->gw.connections, 1);
  atomic_fetch_add(&gw->h->gw.accepted, 1);
}

static void gw_accept(hive__gateway_t *gw, int listen_fd, bool unix_socket) {
  for (int i = 0; i < GW_EVENTS; i++) { /* a few at a time: others wait too */
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return;
    gw_accept_one(gw, fd, unix_socket);
  }
}

/* ---- the thread ---------------------------------------------------------- */

static void gw_close_listeners(hive__gateway_t *gw) {
  if (gw->tcp_fd >= 0) {
    epoll_ctl(gw->epoll_fd, EPOLL_CTL_DEL, gw->tcp_fd, NULL);
    close(gw->tcp_fd);
    gw->tcp_fd = -1;
  }
  if (gw->unix_fd >= 0) {
    epoll_ctl(gw->epoll_fd, EPOLL_CTL_DEL, gw->unix_fd, NULL);
    close(gw->unix_fd);
    gw->unix_fd = -1;
    unlink(gw->unix_path);
  }
}

static void *gw_main(void *arg) {
  hive__gateway_t *gw = arg;
  struct epoll_event events[GW_EVENTS];
  uint64_t flush_until = 0;
  uint64_t spin_until = 0; /* after input: poll without sleeping until then */
  for (;;) {
    int stopping = atomic_load(&gw->stopping);
    if (stopping >= 1)
      gw_close_listeners(gw);
    if (stopping == 2) {
      uint64_t now = hive__now_ns();
      if (flush_until == 0)
        flush_until = now + GW_STOP_FLUSH_MS * 1000000ull;
      if (gw->conns == NULL || now >= flush_until)
        break;
    }
    /* Answers to input just handed over come within microseconds, and
     * waking this thread from a sleep costs as much again: so it looks
     * without sleeping for GW_SPIN_NS after input, as workers do. */
    int timeout = stopping == 2 ? 10 : -1;
    if (spin_until != 0 && hive__now_ns() < spin_until)
      timeout = 0;
    else
      spin_until = 0;
    int n = epoll_wait(gw->epoll_fd, events, GW_EVENTS, timeout);
    if (n == 0 && timeout == 0)
      sched_yield(); /* a client waiting for this core goes first */
    if (n < 0 && errno != EINTR) {
      hive_log(gw->h, HIVE_LOG_ERROR, "gateway: epoll_wait failed: %s", strerror(errno));
      break;
    }
    for (int i = 0; i < n; i++) {
      void *who = events[i].data.ptr;
      if (who == &gw->wake_fd) {
        gw_serve_ready(gw);
      } else if (who == &gw->tcp_fd) {
        if (gw->tcp_fd >= 0)
          gw_accept(gw, gw->tcp_fd, false);
      } else if (who == &gw->unix_fd) {
        if (gw->unix_fd >= 0)
          gw_accept(gw, gw->unix_fd, true);
      } else {
        gw_conn_t *c = who;
        uint32_t ev = events[i].events;
        if (c->fd < 0)
          continue;
        /* Write first: a closing connection's last answers go out. */
        if ((ev & EPOLLOUT) && !gw_conn_flush(gw, c))
          continue;
        if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (c->events & EPOLLIN)) {
          if (gw_conn_read(gw, c))
            spin_until = hive__now_ns() + GW_SPIN_NS;
        } else if ((ev & (EPOLLHUP | EPOLLERR)) && !(ev & EPOLLOUT)) {
          gw_conn_close(gw, c, true);
        }
      }
    }
    gw_release_closed(gw);
  }
  /* Whoever did not read in time is closed now. */
  while (gw->conns != NULL)
    gw_conn_close(gw, gw->conns, true);
  gw_serve_ready(gw); /* drops the ready list's references */
  gw_release_closed(gw);
  return NULL;
}

/* ---- start and stop ------------------------------------------------------ */

static int gw_listen_tcp(hive__gateway_t *gw, const char *spec) {
  char why[320];
  int rc = hive__tcp_listen(spec, 1024, false, &gw->tcp_fd, &gw->port, NULL, why, sizeof(why));
  if (rc != HIVE_OK)
    hive_log(gw->h, HIVE_LOG_ERROR, "gateway: %s", why);
  return rc;
}

/* The connections' supervisor, registered as "hive.gateway". */
static int gw_start_sup(hive__gateway_t *gw) {
  hive_child_spec_t conn;
  hive_child_spec_init(&conn);
  conn.id = "conn";
  conn.behaviour = &hive__gw_conn_behaviour;
  conn.restart = HIVE_RESTART_TEMPORARY; /* a connection ends alone */
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.strategy = HIVE_SUP_SIMPLE_ONE_FOR_ONE;
  spec.children = &conn;
  spec.nchildren = 1;
  int rc = hive_sup_start(gw->h, &spec, &gw->sup);
  if (rc == HIVE_OK && (rc = hive_register(gw->h, "hive.gateway", gw->sup)) != HIVE_OK) {
    hive_exit(gw->h, gw->sup, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN});
    hive_join(gw->h, gw->sup, -1);
  }
  return rc;
}

static int gw_watch_fd(hive__gateway_t *gw, int fd, int *who) {
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = who};
  return epoll_ctl(gw->epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0 ? HIVE_OK : HIVE_ESYS;
}

static void gw_free(hive__gateway_t *gw) {
  gw_close_listeners(gw);
  if (gw->epoll_fd >= 0)
    close(gw->epoll_fd);
  if (gw->wake_fd >= 0)
    close(gw->wake_fd);
  pthread_mutex_destroy(&gw->ready_lock);
  free(gw->unix_path);
  free(gw->token);
  free(gw->read_buf);
  free(gw);
}

static int gw_configure(hive__gateway_t *gw, const hive_config_t *cfg) {
  gw->max_frame = cfg->gateway_max_frame != 0 ? cfg->gateway_max_frame : GW_DEFAULT_MAX_FRAME;
  gw->max_inflight =
      cfg->gateway_max_inflight != 0 ? cfg->gateway_max_inflight : GW_DEFAULT_MAX_INFLIGHT;
  gw->max_conns = cfg->gateway_max_conns != 0 ? cfg->gateway_max_conns : GW_DEFAULT_MAX_CONNS;
  gw->hello_ms = cfg->gateway_hello_ms != 0 ? cfg->gateway_hello_ms : GW_DEFAULT_HELLO_MS;
  if (gw->max_frame > GW_MAX_FRAME_LIMIT) {
    hive_log(gw->h, HIVE_LOG_ERROR, "gateway: gateway_max_frame %zu is over the limit of %u",
             gw->max_frame, GW_MAX_FRAME_LIMIT);
    return HIVE_EINVAL;
  }
  const char *token =
      cfg->gateway_token != NULL ? cfg->gateway_token : getenv("HIVE_GATEWAY_TOKEN");
  if (token != NULL && token[0] != '\0') {
    if ((gw->token = strdup(token)) == NULL)
      return HIVE_ENOMEM;
    gw->token_len = strlen(token);
  }
  if (cfg->gateway_tcp != NULL && gw->token == NULL) {
    hive_log(gw->h, HIVE_LOG_ERROR,
             "gateway: a TCP gateway needs a token (gateway_token or HIVE_GATEWAY_TOKEN); "
             "not starting");
    return HIVE_EINVAL;
  }
  if (cfg->gateway_unix != NULL && (gw->unix_path = strdup(cfg->gateway_unix)) == NULL)
    return HIVE_ENOMEM;
  snprintf(gw->node_name, sizeof(gw->node_name), "node%u", gw->h->node_id);
  return HIVE_OK;
}

int hive__gateway_start(hive_t *h, const hive_config_t *cfg) {
  if (cfg == NULL || (cfg->gateway_tcp == NULL && cfg->gateway_unix == NULL))
    return HIVE_OK;
  hive__gateway_t *gw = calloc(1, sizeof(*gw));
  if (gw == NULL)
    return HIVE_ENOMEM;
  gw->h = h;
  gw->tcp_fd = gw->unix_fd = gw->epoll_fd = gw->wake_fd = -1;
  if (pthread_mutex_init(&gw->ready_lock, NULL) != 0) {
    free(gw);
    return HIVE_ESYS;
  }
  int rc = gw_configure(gw, cfg);
  if (rc != HIVE_OK)
    goto fail;
  rc = HIVE_ENOMEM;
  if ((gw->read_buf = malloc(GW_READ_SIZE)) == NULL)
    goto fail;
  rc = HIVE_ESYS;
  if ((gw->epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
      (gw->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
      gw_watch_fd(gw, gw->wake_fd, &gw->wake_fd) != HIVE_OK)
    goto fail;
  if (cfg->gateway_tcp != NULL && ((rc = gw_listen_tcp(gw, cfg->gateway_tcp)) != HIVE_OK ||
                                   (rc = gw_watch_fd(gw, gw->tcp_fd, &gw->tcp_fd)) != HIVE_OK))
    goto fail;
  if (gw->unix_path != NULL) {
    if ((rc = hive__unix_listen(gw->unix_path, 1024, &gw->unix_fd)) != HIVE_OK) {
      hive_log(h, HIVE_LOG_ERROR, "gateway: cannot listen on %s: %s", gw->unix_path,
               hive_strerror(rc));
      goto fail;
    }
    if ((rc = gw_watch_fd(gw, gw->unix_fd, &gw->unix_fd)) != HIVE_OK)
      goto fail;
  }
  if ((rc = gw_start_sup(gw)) != HIVE_OK)
    goto fail;
  if (pthread_create(&gw->thread, NULL, gw_main, gw) != 0) {
    rc = HIVE_ESYS;
    hive_exit(h, gw->sup, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN});
    hive_join(h, gw->sup, -1);
    goto fail;
  }
  h->gateway = gw;
  atomic_store(&h->gw.running, true);
  return HIVE_OK;
fail:
  gw_free(gw);
  return rc;
}

void hive__gateway_stop(hive_t *h) {
  hive__gateway_t *gw = h->gateway;
  if (gw == NULL)
    return;
  uint64_t one = 1;
  atomic_store(&gw->stopping, 1); /* no more connections */
  while (write(gw->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
  /* Each connection's actor answers its calls in flight with "shutdown". */
  if (hive_exit(h, gw->sup, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN}) == HIVE_OK)
    hive_join(h, gw->sup, -1);
  atomic_store(&gw->stopping, 2); /* write what is queued, then close */
  while (write(gw->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
  pthread_join(gw->thread, NULL);
  h->gateway = NULL;
  atomic_store(&h->gw.running, false);
  gw_free(gw);
}

int hive_gateway_port(hive_t *h) {
  if (h == NULL)
    return HIVE_EINVAL;
  hive__gateway_t *gw = h->gateway;
  return gw != NULL && gw->port > 0 ? gw->port : HIVE_ENOTFOUND;
}
