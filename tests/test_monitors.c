/*
 * test_monitors.c - monitors: one DOWN each, with the right ref and reason;
 * noproc for the dead; nothing after demonitor, even racing the exit.
 */
#include "watcher.h"

TestSuite(monitors, .init = watcher_setup, .timeout = 120);

Test(monitors, down_arrives_once_with_the_ref_and_reason) {
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h);
  hive_pid_t w = watcher_spawn(h, (watcher_arg_t){.monitor = target});
  cr_assert(watcher_alive(h, w));
  target_sync(h, target); /* the monitor reaches the target as a signal */
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, target, &s), HIVE_OK);
  cr_assert_eq(s.monitors, 1);
  target_end(h, target, -21);
  TEST_WAIT(&event_sem);
  cr_assert_eq(events[0].tag, HIVE_TAG_DOWN);
  cr_assert_eq(events[0].ref, watcher_ref);
  cr_assert_eq(events[0].pid, target);
  cr_assert_eq(events[0].reason.kind, HIVE_REASON_ERROR);
  cr_assert_eq(events[0].reason.code, -21);
  cr_assert(watcher_alive(h, w), "a monitor never takes the watcher down");
  cr_assert_eq(atomic_load(&nevents), 1, "exactly one DOWN");
  hive_stop(h);
}

Test(monitors, a_reason_text_is_copied_and_outlives_its_sender) {
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h);
  hive_pid_t w = watcher_spawn(h, (watcher_arg_t){.monitor = target});
  cr_assert(watcher_alive(h, w));
  char why[32] = "disk full on /var";
  cr_assert_eq(
      hive_exit(h, target, &(hive_reason_t){.kind = HIVE_REASON_ERROR, .code = -28, .text = why}),
      HIVE_OK);
  memset(why, 'x', sizeof(why) - 1); /* the caller's buffer is gone */
  TEST_WAIT(&event_sem);
  cr_assert_eq(events[0].reason.code, -28);
  cr_assert_str_eq(events[0].text, "disk full on /var");
  hive_stop(h);
}

Test(monitors, monitoring_a_dead_actor_gives_noproc_at_once) {
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h);
  target_end(h, target, HIVE_STOP);
  watcher_spawn(h, (watcher_arg_t){.monitor = target});
  TEST_WAIT(&event_sem);
  cr_assert_eq(events[0].tag, HIVE_TAG_DOWN);
  cr_assert_eq(events[0].ref, watcher_ref);
  cr_assert_eq(events[0].reason.kind, HIVE_REASON_NOPROC);
  hive_stop(h);
}

Test(monitors, no_down_after_demonitor) {
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h);
  hive_pid_t w = watcher_spawn(h, (watcher_arg_t){.monitor = target});
  cr_assert_eq(hive_send(h, w, TAG_DEMONITOR, NULL, 0), HIVE_OK);
  TEST_WAIT(&ping_sem);
  cr_assert_eq(atomic_load(&demonitor_rc), HIVE_OK);
  target_end(h, target, -1);
  /* A DOWN would have been queued before this ping: the target's end sends
   * it before hive_join returns. */
  cr_assert(watcher_alive(h, w));
  cr_assert_eq(atomic_load(&nevents), 0);
  cr_assert_eq(hive_send(h, w, TAG_DEMONITOR, NULL, 0), HIVE_OK);
  TEST_WAIT(&ping_sem);
  cr_assert_eq(atomic_load(&demonitor_rc), HIVE_ENOTFOUND, "only once");
  hive_stop(h);
}

Test(monitors, each_monitor_gets_its_own_down) {
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h);
  for (int i = 0; i < 10; i++)
    cr_assert(watcher_alive(h, watcher_spawn(h, (watcher_arg_t){.monitor = target})));
  target_end(h, target, HIVE_STOP);
  for (int i = 0; i < 10; i++)
    TEST_WAIT(&event_sem);
  for (int i = 0; i < 10; i++) {
    cr_assert_eq(events[i].reason.kind, HIVE_REASON_NORMAL);
    cr_assert_eq(events[i].pid, target);
  }
  hive_stop(h);
}

/* ---- the demonitor race ---------------------------------------------------- */

static atomic_int stale_downs, clean_demonitors, downs_seen;
static sem_t round_done;

struct racer {
  uint64_t ref;
  bool demonitored;
};

/* Monitors the target named in its first message, then demonitors on the
 * second, while the test kills the target at the same moment. */
static int racer_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct racer *r = state;
  if (msg->tag == HIVE_TAG_DOWN) {
    if (r->demonitored)
      atomic_fetch_add(&stale_downs, 1); /* the rule broken */
    atomic_fetch_add(&downs_seen, 1);
    sem_post(&round_done);
    return HIVE_STOP;
  }
  if (msg->len == sizeof(hive_pid_t)) {
    hive_pid_t target;
    memcpy(&target, msg->data, sizeof(target));
    return hive_monitor(ctx, target, &r->ref);
  }
  if (hive_demonitor(ctx, r->ref) == HIVE_OK) {
    r->demonitored = true;
    atomic_fetch_add(&clean_demonitors, 1);
    /* Anything still coming must stay out; this ping ends the round. */
    return hive_send(hive_node(ctx), hive_self(ctx), TAG_PING, NULL, 0);
  }
  if (msg->tag == TAG_PING) {
    sem_post(&round_done);
    return HIVE_STOP;
  }
  return HIVE_OK; /* the DOWN won the race and is on its way */
}
static const hive_behaviour_t racer_b = {
    .name = "racer", .state_size = sizeof(struct racer), .handle = racer_handle};

Test(monitors, demonitor_racing_the_exit_never_lets_a_stale_down_through) {
  sem_init(&round_done, 0, 0);
  hive_t *h = test_start(0);
  for (int round = 0; round < 1000; round++) {
    hive_pid_t target = target_spawn(h), racer;
    cr_assert_eq(hive_spawn(h, &racer_b, NULL, 0, NULL, &racer), HIVE_OK);
    cr_assert_eq(hive_send(h, racer, HIVE_TAG_USER, &target, sizeof(target)), HIVE_OK);
    /* Three orders, so that both sides win. When the DOWN wins, the racer
     * may be gone before the demonitor request reaches it. */
    int sent;
    if (round % 3 == 0) {
      cr_assert_eq(hive_kill(h, target), HIVE_OK);
      sent = hive_send(h, racer, TAG_DEMONITOR, NULL, 0);
    } else if (round % 3 == 1) {
      sent = hive_send(h, racer, TAG_DEMONITOR, NULL, 0);
      cr_assert_eq(hive_kill(h, target), HIVE_OK);
    } else {
      cr_assert_eq(hive_kill(h, target), HIVE_OK);
      TEST_JOIN(h, target);
      sent = hive_send(h, racer, TAG_DEMONITOR, NULL, 0);
    }
    cr_assert(sent == HIVE_OK || sent == HIVE_ENOPROC);
    TEST_WAIT(&round_done);
    TEST_JOIN(h, racer);
  }
  hive_stop(h);
  cr_assert_eq(atomic_load(&stale_downs), 0, "%d DOWNs came after a demonitor returned",
               atomic_load(&stale_downs));
  cr_assert_eq(atomic_load(&clean_demonitors) + atomic_load(&downs_seen), 1000);
  cr_log_info("demonitor won %d rounds, DOWN won %d", atomic_load(&clean_demonitors),
              atomic_load(&downs_seen));
}

Test(monitors, bad_arguments) {
  cr_assert_eq(hive_monitor(NULL, 1, &(uint64_t){0}), HIVE_EINVAL);
  cr_assert_eq(hive_demonitor(NULL, 1), HIVE_EINVAL);
}

/* ---- DOWN is a system message: it overtakes queued user messages ---------- */

static sem_t held, gate;
static atomic_int pings_before_down = -1, pings_seen;
struct held_watcher {
  uint64_t ref;
};
static int held_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  hive_pid_t target;
  memcpy(&target, arg, sizeof(target));
  return hive_monitor(ctx, target, &((struct held_watcher *)state)->ref);
}
static int held_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  if (msg->tag == HIVE_TAG_DOWN) {
    atomic_store(&pings_before_down, atomic_load(&pings_seen));
    sem_post(&event_sem);
  } else if (msg->len > 0) { /* the first message: hold here */
    sem_post(&held);
    test_wait(&gate, TEST_TIMEOUT_MS);
  } else {
    atomic_fetch_add(&pings_seen, 1);
  }
  return HIVE_OK;
}
static const hive_behaviour_t held_b = {.name = "held",
                                        .state_size = sizeof(struct held_watcher),
                                        .init = held_init,
                                        .handle = held_handle};

Test(monitors, down_overtakes_queued_user_messages) {
  sem_init(&held, 0, 0);
  sem_init(&gate, 0, 0);
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h), w;
  cr_assert_eq(hive_spawn(h, &held_b, &target, sizeof(target), NULL, &w), HIVE_OK);
  cr_assert_eq(hive_send(h, w, HIVE_TAG_USER, "hold", 4), HIVE_OK);
  TEST_WAIT(&held);
  for (int i = 0; i < 100; i++)
    cr_assert_eq(hive_send(h, w, HIVE_TAG_USER, NULL, 0), HIVE_OK);
  target_end(h, target, -1); /* the DOWN is queued behind 100 pings */
  sem_post(&gate);
  TEST_WAIT(&event_sem);
  cr_assert_eq(atomic_load(&pings_before_down), 0, "%d pings ran before the DOWN",
               atomic_load(&pings_before_down));
  hive_stop(h);
}

/* The DOWN is already queued when demonitor runs: it must be dropped. */
static sem_t in_handler;
static atomic_int late_downs, gated_demonitor_rc = 1;
static int gated_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct held_watcher *w = state;
  if (msg->tag == HIVE_TAG_DOWN) {
    atomic_fetch_add(&late_downs, 1);
    return HIVE_OK;
  }
  if (msg->len > 0) {
    sem_post(&in_handler);
    test_wait(&gate, TEST_TIMEOUT_MS); /* meanwhile the target dies */
    atomic_store(&gated_demonitor_rc, hive_demonitor(ctx, w->ref));
    return HIVE_OK;
  }
  sem_post(&event_sem); /* a ping after the demonitor */
  return HIVE_OK;
}
static const hive_behaviour_t gated_b = {.name = "gated",
                                         .state_size = sizeof(struct held_watcher),
                                         .init = held_init,
                                         .handle = gated_handle};

Test(monitors, demonitor_drops_a_down_already_queued) {
  sem_init(&in_handler, 0, 0);
  sem_init(&gate, 0, 0);
  hive_t *h = test_start(0);
  hive_pid_t target = target_spawn(h), w;
  cr_assert_eq(hive_spawn(h, &gated_b, &target, sizeof(target), NULL, &w), HIVE_OK);
  cr_assert_eq(hive_send(h, w, HIVE_TAG_USER, "go", 2), HIVE_OK);
  TEST_WAIT(&in_handler);
  target_end(h, target, -1); /* its DOWN is now in the watcher's mailbox */
  sem_post(&gate);
  cr_assert_eq(hive_send(h, w, HIVE_TAG_USER, NULL, 0), HIVE_OK);
  TEST_WAIT(&event_sem);
  cr_assert_eq(atomic_load(&gated_demonitor_rc), HIVE_OK, "the monitor was still held");
  cr_assert_eq(atomic_load(&late_downs), 0, "a DOWN came after demonitor returned");
  hive_stop(h);
}
