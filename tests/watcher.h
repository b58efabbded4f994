/*
 * watcher.h - an actor that records the failure messages it gets, for the
 * link and monitor tests. Its init argument says what to do first.
 */
#ifndef HIVE_TEST_WATCHER_H
#define HIVE_TEST_WATCHER_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

enum { TAG_PING = HIVE_TAG_USER + 40, TAG_DEMONITOR, TAG_UNLINK };

typedef struct {
  hive_pid_t link;    /* hive_link to this in init, if not 0 */
  hive_pid_t monitor; /* hive_monitor this in init, if not 0 */
  bool trap;          /* trap exits */
} watcher_arg_t;

typedef struct {
  uint32_t tag;
  hive_pid_t pid;
  hive_reason_t reason; /* its text is copied into text */
  char text[64];
  uint64_t ref;
} watcher_event_t;

#define WATCHER_EVENTS 64
static watcher_event_t events[WATCHER_EVENTS];
static atomic_int nevents, npings, watcher_terminated;
static hive_reason_t watcher_reason;
static uint64_t watcher_ref;
static atomic_int demonitor_rc = 1;
static sem_t event_sem, ping_sem, watcher_end_sem;

static inline void watcher_setup(void) {
  sem_init(&event_sem, 0, 0);
  sem_init(&ping_sem, 0, 0);
  sem_init(&watcher_end_sem, 0, 0);
  atomic_store(&nevents, 0);
  atomic_store(&npings, 0);
  atomic_store(&watcher_terminated, 0);
}

static inline int watcher_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)state, (void)len;
  watcher_arg_t w;
  memcpy(&w, arg, sizeof(w));
  hive_trap_exit(ctx, w.trap);
  if (w.link != 0 && hive_link(ctx, w.link) != HIVE_OK)
    return HIVE_EINVAL;
  if (w.monitor != 0 && hive_monitor(ctx, w.monitor, &watcher_ref) != HIVE_OK)
    return HIVE_EINVAL;
  return HIVE_OK;
}

static inline int watcher_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  if (msg->tag == HIVE_TAG_EXIT || msg->tag == HIVE_TAG_DOWN) {
    int i = atomic_fetch_add(&nevents, 1);
    if (i < WATCHER_EVENTS) {
      events[i].tag = msg->tag;
      events[i].ref = msg->ref;
      hive_exit_info(msg, &events[i].pid, &events[i].reason);
      snprintf(events[i].text, sizeof(events[i].text), "%s",
               events[i].reason.text != NULL ? events[i].reason.text : "");
      events[i].reason.text = NULL; /* valid only during the call */
    }
    sem_post(&event_sem);
  } else if (msg->tag == TAG_DEMONITOR) {
    atomic_store(&demonitor_rc, hive_demonitor(ctx, watcher_ref));
    sem_post(&ping_sem);
  } else if (msg->tag == TAG_UNLINK) {
    hive_pid_t other;
    memcpy(&other, msg->data, sizeof(other));
    hive_unlink(ctx, other);
    sem_post(&ping_sem);
  } else if (msg->tag == TAG_PING) {
    atomic_fetch_add(&npings, 1);
    sem_post(&ping_sem);
  }
  return HIVE_OK;
}

static inline void watcher_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *r) {
  (void)ctx, (void)state;
  watcher_reason = *r;
  watcher_reason.text = NULL;
  atomic_fetch_add(&watcher_terminated, 1);
  sem_post(&watcher_end_sem);
}

static const hive_behaviour_t watcher_b = {.name = "watcher",
                                           .init = watcher_init,
                                           .handle = watcher_handle,
                                           .terminate = watcher_terminate};

static inline hive_pid_t watcher_spawn(hive_t *h, watcher_arg_t arg) {
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &watcher_b, &arg, sizeof(arg), NULL, &pid), HIVE_OK);
  return pid;
}

/* A target that does what its message says: exit with the int payload as
 * its result (HIVE_STOP, an error code), or nothing; it answers a request
 * (target_sync). */
static inline int target_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  int rc = HIVE_OK;
  if (msg->len == sizeof(rc))
    memcpy(&rc, msg->data, sizeof(rc));
  if (msg->ref != 0)
    hive_reply(ctx, msg, NULL, 0);
  return rc;
}
static const hive_behaviour_t target_b = {.name = "target", .handle = target_handle};

static inline hive_pid_t target_spawn(hive_t *h) {
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &target_b, NULL, 0, NULL, &pid), HIVE_OK);
  return pid;
}

/* Returns once target has applied every signal sent to it so far (a
 * monitor, a link): an ask round trip, since system messages are handled
 * before user messages. */
static inline void target_sync(hive_t *h, hive_pid_t target) {
  void *reply = NULL;
  size_t len;
  cr_assert_eq(hive_ask(h, target, HIVE_TAG_USER, NULL, 0, TEST_TIMEOUT_MS, &reply, &len), HIVE_OK);
  free(reply);
}

/* Makes target end with handler result rc and waits for it. */
static inline void target_end(hive_t *h, hive_pid_t target, int rc) {
  cr_assert_eq(hive_send(h, target, HIVE_TAG_USER, &rc, sizeof(rc)), HIVE_OK);
  TEST_JOIN(h, target);
}

/* Is pid alive and answering? A ping round trip through it. */
static inline bool watcher_alive(hive_t *h, hive_pid_t pid) {
  if (hive_send(h, pid, TAG_PING, NULL, 0) != HIVE_OK)
    return false;
  return test_wait(&ping_sem, TEST_TIMEOUT_MS);
}

#endif /* HIVE_TEST_WATCHER_H */
