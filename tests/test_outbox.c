/*
 * test_outbox.c - messages a turn holds back (runtime.h, "outbox").
 *
 * A turn that wakes an idle actor holds back what it sends that actor
 * next and pushes it when the turn ends. The rules checked here: messages
 * from one sender still arrive in the order sent, whatever mix of receivers
 * and calls; nothing held is lost when the sender stops or crashes; and a
 * handler that runs long does not keep what it sends from a receiver that
 * another worker could run.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"

TestSuite(outbox, .timeout = 120);

enum { TAG_GO = HIVE_TAG_USER, TAG_SEQ, TAG_CRASH };

/* ---- order: one sender, several receivers, many calls in one turn ------- */

#define ORDER_RECEIVERS 5
#define ORDER_ROUNDS 2000 /* calls of the sender, each a message it sent itself */

static sem_t receivers_done;
static atomic_int out_of_order, wrong_total;

struct seq_receiver {
  long next; /* the sequence number expected next */
  long expect;
};
static int seq_receiver_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx, (void)len;
  struct seq_receiver *r = state;
  memcpy(&r->expect, arg, sizeof(long));
  return HIVE_OK;
}
static int seq_receiver_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx;
  struct seq_receiver *r = state;
  long seq;
  cr_assert_eq(msg->len, sizeof(seq));
  memcpy(&seq, msg->data, sizeof(seq));
  if (seq != r->next)
    atomic_fetch_add(&out_of_order, 1);
  r->next = seq + 1;
  if (r->next == r->expect)
    sem_post(&receivers_done);
  else if (r->next > r->expect)
    atomic_fetch_add(&wrong_total, 1);
  return HIVE_OK;
}
static const hive_behaviour_t seq_receiver_b = {.name = "seq_receiver",
                                                .state_size = sizeof(struct seq_receiver),
                                                .init = seq_receiver_init,
                                                .handle = seq_receiver_handle};

struct seq_sender {
  hive_pid_t receivers[ORDER_RECEIVERS];
  long sent[ORDER_RECEIVERS];
  long rounds_left;
};

/* Sends one numbered message to `to`, copied or moved by turns. */
static void send_seq(hive_ctx_t *ctx, hive_pid_t to, long seq) {
  if (seq % 3 == 2) {
    long *buf = malloc(sizeof(*buf));
    cr_assert_not_null(buf);
    *buf = seq;
    cr_assert_eq(hive_send_move(hive_node(ctx), to, TAG_SEQ, buf, sizeof(*buf)), HIVE_OK);
  } else {
    cr_assert_eq(hive_send(hive_node(ctx), to, TAG_SEQ, &seq, sizeof(seq)), HIVE_OK);
  }
}

static int seq_sender_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx;
  memcpy(state, arg, len);
  return HIVE_OK;
}

/* Each call sends every receiver a different number of messages (0 to 3,
 * by round), so held and pushed messages interleave in every way. */
static int seq_sender_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)msg;
  struct seq_sender *s = state;
  for (int i = 0; i < ORDER_RECEIVERS; i++)
    for (long k = 0; k < (s->rounds_left + i) % 4; k++)
      send_seq(ctx, s->receivers[i], s->sent[i]++);
  if (--s->rounds_left == 0)
    return HIVE_STOP;
  return hive_send(hive_node(ctx), hive_self(ctx), TAG_GO, NULL, 0);
}
static const hive_behaviour_t seq_sender_b = {.name = "seq_sender",
                                              .state_size = sizeof(struct seq_sender),
                                              .init = seq_sender_init,
                                              .handle = seq_sender_handle};

static void run_order(unsigned workers) {
  sem_init(&receivers_done, 0, 0);
  atomic_store(&out_of_order, 0);
  atomic_store(&wrong_total, 0);
  hive_t *h = test_start(workers);
  struct seq_sender s = {.rounds_left = ORDER_ROUNDS};
  for (int i = 0; i < ORDER_RECEIVERS; i++) {
    long expect = 0; /* what seq_sender_handle will send receiver i */
    for (long r = ORDER_ROUNDS; r > 0; r--)
      expect += (r + i) % 4;
    cr_assert_eq(hive_spawn(h, &seq_receiver_b, &expect, sizeof(expect), NULL, &s.receivers[i]),
                 HIVE_OK);
  }
  hive_pid_t sender;
  cr_assert_eq(hive_spawn(h, &seq_sender_b, &s, sizeof(s), NULL, &sender), HIVE_OK);
  cr_assert_eq(hive_send(h, sender, TAG_GO, NULL, 0), HIVE_OK);
  for (int i = 0; i < ORDER_RECEIVERS; i++)
    TEST_WAIT(&receivers_done);
  cr_assert_eq(atomic_load(&out_of_order), 0, "%d messages out of order",
               atomic_load(&out_of_order));
  cr_assert_eq(atomic_load(&wrong_total), 0);
  for (int i = 0; i < ORDER_RECEIVERS; i++)
    test_assert_accounting(h, s.receivers[i]);
  hive_node_stats_t ns;
  cr_assert_eq(hive_node_stats(h, &ns), HIVE_OK);
  cr_assert_eq(ns.dead_letters, 0);
  hive_stop(h);
}

Test(outbox, an_actor_s_messages_arrive_in_order_across_calls_one_worker) {
  run_order(1);
}
Test(outbox, an_actor_s_messages_arrive_in_order_across_calls_default_workers) {
  run_order(0);
}

/* ---- nothing held is lost when the sender ends --------------------------- */

#define ENDING_SENDS 10

static sem_t sender_ended;
static atomic_long ending_received;
static hive_pid_t ending_receiver;

static int counting_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  if (atomic_fetch_add(&ending_received, 1) + 1 == ENDING_SENDS)
    sem_post(&receivers_done);
  return HIVE_OK;
}
static const hive_behaviour_t counting_b = {.name = "counting", .handle = counting_handle};

static int *volatile bad_pointer = (int *)(uintptr_t)16;

/* Wakes the receiver, sends it the rest (held back), then ends as the tag
 * says: a normal stop, an error, or a crash. */
static int ending_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  for (long i = 0; i < ENDING_SENDS; i++)
    cr_assert_eq(hive_send(hive_node(ctx), ending_receiver, TAG_SEQ, &i, sizeof(i)), HIVE_OK);
  if (msg->tag == TAG_CRASH)
    *bad_pointer = 1; /* SIGSEGV, trapped */
  return msg->tag == TAG_GO ? HIVE_STOP : -1;
}
static void ending_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)ctx, (void)state, (void)reason;
  sem_post(&sender_ended);
}
static const hive_behaviour_t ending_b = {
    .name = "ending", .handle = ending_handle, .terminate = ending_terminate};

static void run_ending(uint32_t how) {
  sem_init(&receivers_done, 0, 0);
  sem_init(&sender_ended, 0, 0);
  atomic_store(&ending_received, 0);
  hive_t *h = test_start(1);
  cr_assert_eq(hive_spawn(h, &counting_b, NULL, 0, NULL, &ending_receiver), HIVE_OK);
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.flags = HIVE_SPAWN_TRAP_FAULTS;
  hive_pid_t sender;
  cr_assert_eq(hive_spawn(h, &ending_b, NULL, 0, &opts, &sender), HIVE_OK);
  cr_assert_eq(hive_send(h, sender, how, NULL, 0), HIVE_OK);
  TEST_WAIT(&sender_ended);
  TEST_WAIT(&receivers_done);
  cr_assert_eq(atomic_load(&ending_received), ENDING_SENDS);
  test_assert_accounting(h, ending_receiver);
  hive_stop(h);
}

Test(outbox, a_sender_that_stops_delivers_everything_it_sent) {
  run_ending(TAG_GO);
}
Test(outbox, a_sender_that_fails_delivers_everything_it_sent) {
  run_ending(TAG_SEQ);
}
Test(outbox, a_sender_that_crashes_delivers_everything_it_sent) {
  run_ending(TAG_CRASH);
}

/* ---- a long handler does not hold back what it sends ---------------------- */

static atomic_long long_received;
static atomic_long long_saw; /* what the receiver had handled when the handler gave up */
static hive_pid_t long_receiver;

static int long_receiver_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  atomic_fetch_add(&long_received, 1);
  return HIVE_OK;
}
static const hive_behaviour_t long_receiver_b = {.name = "long_receiver",
                                                 .handle = long_receiver_handle};

/* Runs 5 ms so that the other worker parks, wakes the receiver (it waits
 * in this worker's next slot), then keeps sending it a message every
 * millisecond until it has handled 3, for 10 s at most. */
static int long_sender_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state, (void)msg;
  struct timespec t0, last;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (test_elapsed_ns(&t0) < 5000000L) {
  }
  last = t0;
  long seq = 0;
  while (atomic_load(&long_received) < 3 && test_elapsed_ns(&t0) < 10000000000L) {
    if (seq == 0 || test_elapsed_ns(&last) >= 1000000L) {
      cr_assert_eq(hive_send(hive_node(ctx), long_receiver, TAG_SEQ, &seq, sizeof(seq)), HIVE_OK);
      seq++;
      clock_gettime(CLOCK_MONOTONIC, &last);
    }
  }
  atomic_store(&long_saw, atomic_load(&long_received));
  sem_post(&sender_ended);
  return HIVE_OK;
}
static const hive_behaviour_t long_sender_b = {.name = "long_sender", .handle = long_sender_handle};

Test(outbox, a_long_handler_s_messages_reach_a_receiver_on_another_worker) {
  sem_init(&sender_ended, 0, 0);
  atomic_store(&long_received, 0);
  hive_t *h = test_start(2);
  cr_assert_eq(hive_spawn(h, &long_receiver_b, NULL, 0, NULL, &long_receiver), HIVE_OK);
  hive_pid_t sender;
  cr_assert_eq(hive_spawn(h, &long_sender_b, NULL, 0, NULL, &sender), HIVE_OK);
  cr_assert_eq(hive_send(h, sender, TAG_GO, NULL, 0), HIVE_OK);
  TEST_WAIT(&sender_ended);
  cr_assert_geq(atomic_load(&long_saw), 3,
                "the receiver handled %ld messages while the handler ran; the rest were held",
                atomic_load(&long_saw));
  hive_stop(h);
}
