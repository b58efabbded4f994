/*
 * test_yield.c - hive_yield: the actor's turn ends after the handler, and
 * every actor waiting to run then runs before its next message. Without
 * it, a turn goes on with the actor's own messages, up to the batch.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "helpers.h"

TestSuite(yield, .timeout = 60);

enum { TAG_GO = HIVE_TAG_USER, TAG_AGAIN, TAG_POKE };
#define OTHERS 10

static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;
static char order[64]; /* 'o' for each other actor handled, 'Y' for the yielder's second message */
static sem_t done_sem; /* posted for each */
static int norder;

static void note(char c) {
  pthread_mutex_lock(&order_lock);
  if (norder < (int)sizeof(order) - 1)
    order[norder++] = c;
  pthread_mutex_unlock(&order_lock);
  sem_post(&done_sem);
}

static int other_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  note('o');
  return HIVE_OK;
}
static const hive_behaviour_t other_b = {.name = "other", .handle = other_handle};

typedef struct {
  hive_pid_t others[OTHERS];
  bool yield;
} yielder_t;

/* On GO: wakes the others, sends itself AGAIN and (maybe) yields. */
static int yielder_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx, (void)len;
  memcpy(state, arg, sizeof(yielder_t));
  return HIVE_OK;
}
static int yielder_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  yielder_t *y = state;
  hive_t *h = hive_node(ctx);
  if (msg->tag == TAG_GO) {
    int rc = HIVE_OK; /* a failure shows as '!' in the order */
    for (int i = 0; i < OTHERS; i++)
      rc |= hive_send(h, y->others[i], TAG_POKE, NULL, 0);
    rc |= hive_send(h, hive_self(ctx), TAG_AGAIN, NULL, 0);
    if (y->yield)
      rc |= hive_yield(ctx);
    if (rc != HIVE_OK)
      note('!');
    return HIVE_OK;
  }
  note('Y');
  return HIVE_OK;
}
static const hive_behaviour_t yielder_b = {.name = "yielder",
                                           .state_size = sizeof(yielder_t),
                                           .init = yielder_init,
                                           .handle = yielder_handle};

/* Runs the yielder once on a node of `workers` workers: the order in which
 * the others and the yielder's AGAIN were handled. */
static const char *run_once(bool yield, unsigned workers) {
  sem_init(&done_sem, 0, 0);
  norder = 0;
  memset(order, 0, sizeof(order));
  hive_t *h = test_start(workers);
  yielder_t arg = {.yield = yield};
  for (int i = 0; i < OTHERS; i++)
    cr_assert_eq(hive_spawn(h, &other_b, NULL, 0, NULL, &arg.others[i]), HIVE_OK);
  hive_pid_t y;
  cr_assert_eq(hive_spawn(h, &yielder_b, &arg, sizeof(arg), NULL, &y), HIVE_OK);
  cr_assert_eq(hive_send(h, y, TAG_GO, NULL, 0), HIVE_OK);
  for (int i = 0; i < OTHERS + 1; i++) /* each handled message posts */
    TEST_WAIT(&done_sem);
  cr_assert_eq(hive_stop(h), HIVE_OK);
  return order;
}

Test(yield, every_actor_waiting_to_run_goes_before_the_next_message) {
  cr_assert_str_eq(run_once(true, 1), "ooooooooooY");
}

Test(yield, without_it_a_message_to_self_is_handled_in_the_same_turn) {
  cr_assert_str_eq(run_once(false, 1), "Yoooooooooo");
}

Test(yield, outside_an_actor_is_refused) {
  cr_assert_eq(hive_yield(NULL), HIVE_EINVAL);
}

/* With two workers the others may run on either (the idle one steals),
 * and the yielder's next message still comes after them all. Repeated,
 * since where each actor lands varies. */
Test(yield, waits_for_what_is_queued_on_every_worker) {
  for (int round = 0; round < 50; round++) {
    const char *seen = run_once(true, 2);
    cr_assert_eq(strchr(seen, 'Y') - seen, OTHERS, "round %d: %s", round, seen);
  }
}
