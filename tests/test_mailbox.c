/*
 * test_mailbox.c - bounded mailboxes, the system lane, payload copies and
 * moves, and the accounting rule:
 *   enqueued = processed + dropped + dead letters + still queued.
 * Every count is checked against what the test itself sent and saw handled.
 */
#include <pthread.h>
#include <stdlib.h>

#include "blocker.h"

TestSuite(mailbox, .init = blocker_setup, .timeout = 120);

/* A blocker with a bounded mailbox, held inside its first message. */
static hive_pid_t spawn_bounded_blocked(hive_t *h, int policy, size_t capacity) {
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.mailbox = policy;
  opts.capacity = capacity;
  return blocker_spawn_blocked(h, &opts);
}

static void shutdown_and_wait(hive_t *h, hive_pid_t pid) {
  cr_assert_eq(hive_exit(h, pid, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN}), HIVE_OK);
  TEST_WAIT(&terminated);
  cr_assert_eq(final_stats_rc, HIVE_OK, "terminate can read its own statistics");
}

Test(mailbox, reject_returns_efull_and_enqueues_nothing) {
  hive_t *h = test_start(0);
  hive_pid_t pid = spawn_bounded_blocked(h, HIVE_MAILBOX_REJECT, 10);

  for (int i = 0; i < 10; i++)
    cr_assert_eq(hive_send(h, pid, TAG_WORK, &i, sizeof(i)), HIVE_OK, "send %d", i);
  for (int i = 0; i < 5; i++)
    cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_EFULL);

  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, pid, &s), HIVE_OK);
  cr_assert_eq(s.capacity, 10);
  cr_assert_eq(s.mailbox_len, 10, "queued %lu", (unsigned long)s.mailbox_len);
  cr_assert_eq(s.mailbox_hwm, 10, "hwm %lu", (unsigned long)s.mailbox_hwm);
  cr_assert_eq(s.dropped, 0);
  cr_assert_eq(s.processed, 1, "the block message is in progress");
  cr_assert_eq(s.enqueued, 11, "the block message and ten more; nothing rejected");

  expect = 11;
  sem_post(&gate);
  TEST_WAIT(&handled);
  cr_assert_eq(atomic_load(&handled_count), 11, "rejected messages never arrive");
  cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_OK, "room again once drained");
  shutdown_and_wait(h, pid);
  cr_assert_eq(final_stats.enqueued, 12);
  cr_assert_eq(final_stats.processed + final_stats.dead_letters, 12);
  cr_assert_eq(final_stats.mailbox_len, 0);
  hive_stop(h);
}

Test(mailbox, drop_new_counts_what_it_drops) {
  hive_t *h = test_start(0);
  hive_pid_t pid = spawn_bounded_blocked(h, HIVE_MAILBOX_DROP_NEW, 5);

  for (int i = 0; i < 12; i++)
    cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_OK);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, pid, &s), HIVE_OK);
  cr_assert_eq(s.mailbox_len, 5);
  cr_assert_eq(s.dropped, 7);
  cr_assert_eq(s.enqueued, 13);
  hive_node_stats_t ns;
  cr_assert_eq(hive_node_stats(h, &ns), HIVE_OK);
  cr_assert_eq(ns.dropped, 7);

  expect = 6;
  sem_post(&gate);
  TEST_WAIT(&handled);
  shutdown_and_wait(h, pid);
  cr_assert_eq(atomic_load(&handled_count), 6, "dropped messages never arrive");
  cr_assert_eq(final_stats.processed, 6);
  cr_assert_eq(final_stats.dropped, 7);
  cr_assert_eq(final_stats.dead_letters, 0);
  cr_assert_eq(final_stats.enqueued, 13);
  hive_stop(h);
}

Test(mailbox, system_lane_overtakes_queued_user_messages) {
  hive_t *h = test_start(0);
  hive_pid_t pid = blocker_spawn_blocked(h, NULL);
  for (int i = 0; i < 10000; i++)
    cr_assert_eq(hive_send(h, pid, TAG_WORK, &i, sizeof(i)), HIVE_OK);
  cr_assert_eq(hive_exit(h, pid, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN}), HIVE_OK);
  sem_post(&gate);
  TEST_WAIT(&terminated);
  TEST_JOIN(h, pid);
  cr_assert_eq(atomic_load(&handled_count), 1, "only the message in progress ran, not %ld",
               atomic_load(&handled_count));
  cr_assert_eq(final_reason.kind, HIVE_REASON_SHUTDOWN);
  cr_assert_eq(final_stats.dead_letters, 10000, "the queued ones became dead letters");
  cr_assert_eq(final_stats.processed, 1);
  cr_assert_eq(final_stats.enqueued, 10001);
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.dead_letters, 10000);
  hive_stop(h);
}

Test(mailbox, unbounded_mailbox_takes_a_million) {
  hive_t *h = test_start(0);
  hive_pid_t pid = blocker_spawn_blocked(h, NULL);
  for (int i = 0; i < 1000000; i++)
    cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_OK);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, pid, &s), HIVE_OK);
  cr_assert_eq(s.mailbox_len, 1000000);
  cr_assert_eq(s.mailbox_hwm, 1000000);
  cr_assert_eq(s.capacity, 0);
  expect = 1000001;
  sem_post(&gate);
  TEST_WAIT(&handled);
  shutdown_and_wait(h, pid);
  cr_assert_eq(final_stats.processed, 1000001);
  cr_assert_eq(final_stats.enqueued, 1000001);
  hive_stop(h);
}

/* ---- copies and moves -------------------------------------------------- */

static sem_t got;
static const void *seen_data;
static char seen_text[32];

static int recorder_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  seen_data = msg->data;
  memcpy(seen_text, msg->data, msg->len < sizeof(seen_text) ? msg->len : sizeof(seen_text) - 1);
  sem_post(&got);
  return HIVE_OK;
}
static const hive_behaviour_t recorder_b = {.name = "recorder", .handle = recorder_handle};

Test(mailbox, send_copies_the_payload) {
  sem_init(&got, 0, 0);
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &recorder_b, NULL, 0, NULL, &pid), HIVE_OK);
  char buf[] = "original";
  cr_assert_eq(hive_send(h, pid, TAG_WORK, buf, sizeof(buf)), HIVE_OK);
  memcpy(buf, "changed!", sizeof(buf)); /* the sender's buffer is its own */
  TEST_WAIT(&got);
  cr_assert_str_eq(seen_text, "original");
  cr_assert_neq(seen_data, (const void *)buf);
  hive_stop(h);
}

Test(mailbox, send_move_hands_over_the_buffer) {
  sem_init(&got, 0, 0);
  hive_t *h = test_start(0);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &recorder_b, NULL, 0, NULL, &pid), HIVE_OK);
  char *buf = strdup("moved");
  cr_assert_eq(hive_send_move(h, pid, TAG_WORK, buf, 6), HIVE_OK);
  TEST_WAIT(&got);
  cr_assert_eq(seen_data, (const void *)buf, "the receiver sees the very same bytes");
  cr_assert_str_eq(seen_text, "moved");

  /* On an error the caller keeps the buffer (ASan reports a double free
   * or a leak if hive got this wrong). */
  cr_assert_eq(hive_kill(h, pid), HIVE_OK);
  TEST_JOIN(h, pid);
  char *kept = strdup("kept");
  cr_assert_eq(hive_send_move(h, pid, TAG_WORK, kept, 5), HIVE_ENOPROC);
  cr_assert_str_eq(kept, "kept");
  free(kept);
  hive_stop(h);
}

Test(mailbox, send_move_to_a_full_mailbox_leaves_the_buffer_with_the_caller) {
  hive_t *h = test_start(0);
  hive_pid_t pid = spawn_bounded_blocked(h, HIVE_MAILBOX_REJECT, 1);
  cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_OK);
  char *buf = strdup("full");
  cr_assert_eq(hive_send_move(h, pid, TAG_WORK, buf, 5), HIVE_EFULL);
  free(buf);
  sem_post(&gate);
  hive_stop(h);
}

/* ---- HIVE_MAILBOX_BLOCK: plain threads wait for room ---------------------- */

static hive_t *block_node;
static hive_pid_t block_target;
static atomic_int block_rc = 1;
static sem_t block_done;

static void *block_sender(void *arg) {
  (void)arg;
  atomic_store(&block_rc, hive_send(block_node, block_target, TAG_WORK, NULL, 0));
  sem_post(&block_done);
  return NULL;
}

static hive_pid_t spawn_blocking_mailbox(hive_t *h, size_t capacity, unsigned block_ms) {
  return blocker_spawn_bounded(h, HIVE_MAILBOX_BLOCK, capacity, block_ms, 0);
}

Test(mailbox, block_makes_a_plain_thread_wait_for_room) {
  sem_init(&block_done, 0, 0);
  block_node = test_start(0);
  block_target = spawn_blocking_mailbox(block_node, 2, 60000);
  for (int i = 0; i < 2; i++)
    cr_assert_eq(hive_send(block_node, block_target, TAG_WORK, NULL, 0), HIVE_OK);
  pthread_t sender;
  pthread_create(&sender, NULL, block_sender, NULL);
  /* While the mailbox is full the send must not return. */
  cr_assert(!test_wait(&block_done, 200), "the send returned %d without room",
            atomic_load(&block_rc));
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(block_node, block_target, &s), HIVE_OK);
  cr_assert_eq(s.mailbox_len, 2);
  expect = 4;
  sem_post(&gate); /* room appears: the send goes through */
  TEST_WAIT(&block_done);
  pthread_join(sender, NULL);
  cr_assert_eq(atomic_load(&block_rc), HIVE_OK);
  TEST_WAIT(&handled);
  cr_assert_eq(atomic_load(&handled_count), 4, "nothing lost, nothing doubled");
  hive_stop(block_node);
}

Test(mailbox, block_gives_up_after_its_timeout_and_enqueues_nothing) {
  hive_t *h = test_start(0);
  hive_pid_t pid = spawn_blocking_mailbox(h, 1, 100);
  cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_OK);
  uint64_t t0 = test_now_ns();
  char *buf = strdup("kept");
  cr_assert_eq(hive_send_move(h, pid, TAG_WORK, buf, 5), HIVE_ETIMEDOUT);
  uint64_t waited = test_now_ns() - t0;
  cr_assert_geq(waited, 100000000u, "waited %.1f ms, less than block_ms", waited / 1e6);
  cr_assert_lt(waited, 10000000000u);
  cr_assert_str_eq(buf, "kept", "the caller keeps a moved buffer");
  free(buf);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, pid, &s), HIVE_OK);
  cr_assert_eq(s.mailbox_len, 1);
  cr_assert_eq(s.enqueued, 2, "the held message and one more; the timed-out one is not in");
  sem_post(&gate);
  hive_stop(h);
}

static atomic_int actor_send_rc = 1;
static sem_t actor_sent;
static int full_sender_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  hive_pid_t to;
  memcpy(&to, msg->data, sizeof(to));
  atomic_store(&actor_send_rc, hive_send(hive_node(ctx), to, TAG_WORK, NULL, 0));
  sem_post(&actor_sent);
  return HIVE_OK;
}
static const hive_behaviour_t full_sender_b = {.name = "sender", .handle = full_sender_handle};

Test(mailbox, block_never_blocks_an_actor) {
  sem_init(&actor_sent, 0, 0);
  hive_t *h = test_start(2);
  hive_pid_t pid = spawn_blocking_mailbox(h, 1, 60000);
  cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_OK);
  hive_pid_t sender;
  cr_assert_eq(hive_spawn(h, &full_sender_b, NULL, 0, NULL, &sender), HIVE_OK);
  cr_assert_eq(hive_send(h, sender, TAG_WORK, &pid, sizeof(pid)), HIVE_OK);
  TEST_WAIT(&actor_sent);
  cr_assert_eq(atomic_load(&actor_send_rc), HIVE_EFULL);
  sem_post(&gate);
  hive_stop(h);
}

/* ---- system messages ignore bounds ------------------------------------------ */

static sem_t down_seen;
static uint64_t down_ref;
struct full_watcher {
  uint64_t ref;
};
static int full_watcher_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct full_watcher *w = state;
  if (msg->tag == HIVE_TAG_DOWN) {
    down_ref = msg->ref;
    sem_post(&down_seen);
  } else if (msg->len == sizeof(hive_pid_t)) {
    hive_pid_t target;
    memcpy(&target, msg->data, sizeof(target));
    hive_monitor(ctx, target, &w->ref);
    sem_post(&blocked); /* monitoring now; hold until the gate opens */
    test_wait(&gate, TEST_TIMEOUT_MS);
  }
  return HIVE_OK;
}
static const hive_behaviour_t full_watcher_b = {.name = "full_watcher",
                                                .state_size = sizeof(struct full_watcher),
                                                .handle = full_watcher_handle};

Test(mailbox, exit_signals_and_down_pass_a_full_bounded_mailbox) {
  sem_init(&down_seen, 0, 0);
  hive_t *h = test_start(2);
  /* An exit signal ends an actor whose bounded mailbox is full. */
  hive_pid_t full = spawn_bounded_blocked(h, HIVE_MAILBOX_REJECT, 1);
  cr_assert_eq(hive_send(h, full, TAG_WORK, NULL, 0), HIVE_OK);
  cr_assert_eq(hive_send(h, full, TAG_WORK, NULL, 0), HIVE_EFULL, "full");
  cr_assert_eq(hive_exit(h, full, &(hive_reason_t){.kind = HIVE_REASON_SHUTDOWN}), HIVE_OK);
  sem_post(&gate);
  TEST_JOIN(h, full);
  cr_assert_eq(final_reason.kind, HIVE_REASON_SHUTDOWN);

  /* A DOWN reaches a watcher whose bounded mailbox is full. */
  hive_pid_t target;
  cr_assert_eq(hive_spawn(h, &blocker_b, NULL, 0, NULL, &target), HIVE_OK);
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.mailbox = HIVE_MAILBOX_REJECT;
  opts.capacity = 1;
  hive_pid_t watcher;
  cr_assert_eq(hive_spawn(h, &full_watcher_b, NULL, 0, &opts, &watcher), HIVE_OK);
  cr_assert_eq(hive_send(h, watcher, TAG_WORK, &target, sizeof(target)), HIVE_OK);
  TEST_WAIT(&blocked);
  cr_assert_eq(hive_send(h, watcher, TAG_WORK, NULL, 0), HIVE_OK);
  cr_assert_eq(hive_send(h, watcher, TAG_WORK, NULL, 0), HIVE_EFULL, "full");
  cr_assert_eq(hive_kill(h, target), HIVE_OK);
  TEST_JOIN(h, target);
  sem_post(&gate);
  TEST_WAIT(&down_seen);
  cr_assert_neq(down_ref, 0);
  hive_stop(h);
}
