/*
 * test_request.c - hive_ask from plain threads, hive_request and hive_reply
 * inside actors.
 */
#include <stdlib.h>

#include "blocker.h"

TestSuite(request, .init = blocker_setup, .timeout = 120);

enum { TAG_ECHO = HIVE_TAG_USER + 10, TAG_HOLD, TAG_RELEASE, TAG_DIE, TAG_TWICE, TAG_SYNC };

/* A server: echoes, holds requests to answer them later, or dies. */
struct server {
  hive_msg_t held[1024]; /* saved request headers: deferred replies */
  int nheld;
};
static atomic_int reply_twice_rc = 1, reply_non_request_rc = 1;

static int server_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct server *s = state;
  switch (msg->tag) {
  case TAG_ECHO:
    return hive_reply(ctx, msg, msg->data, msg->len);
  case TAG_HOLD:
    if (s->nheld < 1024)
      s->held[s->nheld++] = *msg; /* data is not kept: only from and ref matter */
    return HIVE_OK;
  case TAG_RELEASE:
    for (int i = 0; i < s->nheld; i++)
      hive_reply(ctx, &s->held[i], "late", 5);
    s->nheld = 0;
    return msg->ref != 0 ? hive_reply(ctx, msg, "fresh", 6) : HIVE_OK;
  case TAG_TWICE:
    hive_reply(ctx, msg, "one", 4);
    atomic_store(&reply_twice_rc, hive_reply(ctx, msg, "two", 4));
    return HIVE_OK;
  case TAG_DIE:
    return -99;
  default:
    atomic_store(&reply_non_request_rc, hive_reply(ctx, msg, "x", 2));
    return HIVE_OK;
  }
}
static const hive_behaviour_t server_b = {
    .name = "server", .state_size = sizeof(struct server), .handle = server_handle};

static hive_pid_t spawn_server(hive_t *h) {
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &server_b, NULL, 0, NULL, &pid), HIVE_OK);
  return pid;
}

Test(request, ask_returns_the_reply) {
  hive_t *h = test_start(0);
  hive_pid_t server = spawn_server(h);
  for (int i = 0; i < 1000; i++) {
    void *reply = NULL;
    size_t len = 0;
    cr_assert_eq(hive_ask(h, server, TAG_ECHO, &i, sizeof(i), 10000, &reply, &len), HIVE_OK);
    cr_assert_eq(len, sizeof(i));
    cr_assert_eq(*(int *)reply, i);
    free(reply);
  }
  hive_stop(h);
}

Test(request, ask_times_out_within_tolerance) {
  hive_t *h = test_start(0);
  hive_pid_t server = spawn_server(h);
  void *reply = NULL;
  size_t len;
  double t0 = test_now_s();
  cr_assert_eq(hive_ask(h, server, TAG_HOLD, NULL, 0, 100, &reply, &len), HIVE_ETIMEDOUT);
  double waited = test_now_s() - t0;
  cr_assert_geq(waited, 0.100, "returned after %.3f s, before the timeout", waited);
  cr_assert_lt(waited, 2.0, "returned after %.3f s", waited);
  cr_assert_null(reply);
  hive_stop(h);
}

Test(request, ask_to_a_dead_pid_is_refused_at_once) {
  hive_t *h = test_start(0);
  hive_pid_t server = spawn_server(h);
  cr_assert_eq(hive_kill(h, server), HIVE_OK);
  TEST_JOIN(h, server);
  void *reply;
  size_t len;
  double t0 = test_now_s();
  cr_assert_eq(hive_ask(h, server, TAG_ECHO, NULL, 0, 10000, &reply, &len), HIVE_ENOPROC);
  cr_assert_lt(test_now_s() - t0, 1.0);
  hive_stop(h);
}

Test(request, ask_learns_at_once_that_the_target_died_while_handling) {
  hive_t *h = test_start(0);
  hive_pid_t server = spawn_server(h);
  void *reply;
  size_t len;
  double t0 = test_now_s();
  cr_assert_eq(hive_ask(h, server, TAG_DIE, NULL, 0, 30000, &reply, &len), HIVE_ENOPROC);
  cr_assert_lt(test_now_s() - t0, 5.0, "answered long before the 30 s timeout");
  hive_stop(h);
}

Test(request, ask_learns_at_once_that_a_held_request_died_with_its_target) {
  hive_t *h = test_start(0);
  hive_pid_t server = spawn_server(h);
  /* The server holds the request (it owes the reply), then is killed. */
  cr_assert_eq(hive_send_after(h, server, TAG_DIE, NULL, 0, 100, &(hive_timer_t){0}), HIVE_OK);
  void *reply;
  size_t len;
  double t0 = test_now_s();
  cr_assert_eq(hive_ask(h, server, TAG_HOLD, NULL, 0, 30000, &reply, &len), HIVE_ENOPROC);
  cr_assert_lt(test_now_s() - t0, 5.0);
  hive_stop(h);
}

Test(request, queued_requests_of_a_dying_actor_are_answered_noproc) {
  hive_t *h = test_start(0);
  hive_pid_t pid = blocker_spawn_blocked(h, NULL);
  /* A plain thread's ask would block this test; use a helper thread. */
  cr_assert_eq(hive_kill(h, pid), HIVE_OK);
  sem_post(&gate);
  TEST_JOIN(h, pid);
  void *reply;
  size_t len;
  cr_assert_eq(hive_ask(h, pid, TAG_WORK, NULL, 0, 10000, &reply, &len), HIVE_ENOPROC);
  hive_stop(h);
}

Test(request, a_late_reply_never_reaches_a_later_ask) {
  hive_t *h = test_start(0);
  hive_pid_t server = spawn_server(h);
  void *reply = NULL;
  size_t len;
  cr_assert_eq(hive_ask(h, server, TAG_HOLD, "first", 6, 50, &reply, &len), HIVE_ETIMEDOUT);
  /* The server now answers the held request ("late"), then this one. */
  cr_assert_eq(hive_ask(h, server, TAG_RELEASE, NULL, 0, 10000, &reply, &len), HIVE_OK);
  cr_assert_str_eq(reply, "fresh");
  free(reply);
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  cr_assert_eq(ns.late_replies, 1);
  hive_stop(h);
}

Test(request, replying_twice_or_to_a_plain_message_is_an_error) {
  hive_t *h = test_start(0);
  hive_pid_t server = spawn_server(h);
  void *reply;
  size_t len;
  cr_assert_eq(hive_ask(h, server, TAG_TWICE, NULL, 0, 10000, &reply, &len), HIVE_OK);
  cr_assert_str_eq(reply, "one");
  free(reply);
  cr_assert_eq(hive_send(h, server, HIVE_TAG_USER, NULL, 0), HIVE_OK);
  cr_assert_eq(hive_ask(h, server, TAG_ECHO, "sync", 5, 10000, &reply, &len), HIVE_OK);
  free(reply);
  cr_assert_eq(atomic_load(&reply_twice_rc), HIVE_EALREADY);
  cr_assert_eq(atomic_load(&reply_non_request_rc), HIVE_EINVAL);
  hive_stop(h);
}

Test(request, ask_into_a_full_mailbox_fails_at_once) {
  hive_t *h = test_start(2); /* two actors are held at once */
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.mailbox = HIVE_MAILBOX_REJECT;
  opts.capacity = 1;
  hive_pid_t pid = blocker_spawn_blocked(h, &opts);
  cr_assert_eq(hive_send(h, pid, TAG_WORK, NULL, 0), HIVE_OK);
  void *reply;
  size_t len;
  cr_assert_eq(hive_ask(h, pid, TAG_WORK, NULL, 0, 10000, &reply, &len), HIVE_EFULL);
  opts.mailbox = HIVE_MAILBOX_DROP_NEW;
  hive_pid_t other = blocker_spawn_blocked(h, &opts);
  cr_assert_eq(hive_send(h, other, TAG_WORK, NULL, 0), HIVE_OK);
  cr_assert_eq(hive_ask(h, other, TAG_WORK, NULL, 0, 10000, &reply, &len), HIVE_EFULL);
  sem_post(&gate);
  sem_post(&gate);
  hive_stop(h);
}

/* ---- inside actors ------------------------------------------------------ */

#define CLIENTS 1000
static hive_pid_t server_pid;
static atomic_int got_reply, got_timeout, got_noproc, wrong_answer, extra_answer;
static sem_t clients_done, clients_synced;

struct client {
  int id;
  uint64_t ref;
  int answers;
};

/* Even clients ask for an echo; odd ones ask the server to hold the request
 * and time out after 50 ms. */
static int client_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  struct client *c = state;
  memcpy(&c->id, arg, sizeof(c->id));
  uint32_t tag = c->id % 2 == 0 ? TAG_ECHO : TAG_HOLD;
  return hive_request(ctx, server_pid, tag, &c->id, sizeof(c->id), c->id % 2 ? 50 : 60000, &c->ref);
}
static int client_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx;
  struct client *c = state;
  if (msg->tag == TAG_SYNC) {
    sem_post(&clients_synced);
    return HIVE_OK;
  }
  if (msg->ref != c->ref || ++c->answers > 1) {
    atomic_fetch_add(&extra_answer, 1);
    return HIVE_OK;
  }
  if (msg->tag == HIVE_TAG_REPLY) {
    if (c->id % 2 != 0 || msg->len != sizeof(int) || *(const int *)msg->data != c->id)
      atomic_fetch_add(&wrong_answer, 1);
    atomic_fetch_add(&got_reply, 1);
  } else if (msg->tag == HIVE_TAG_TIMEOUT) {
    if (c->id % 2 == 0)
      atomic_fetch_add(&wrong_answer, 1);
    atomic_fetch_add(&got_timeout, 1);
  } else if (msg->tag == HIVE_TAG_NOPROC) {
    atomic_fetch_add(&got_noproc, 1);
  }
  sem_post(&clients_done);
  return HIVE_OK;
}
static const hive_behaviour_t client_b = {.name = "client",
                                          .state_size = sizeof(struct client),
                                          .init = client_init,
                                          .handle = client_handle};

Test(request, a_thousand_actors_get_their_own_replies_and_timeouts) {
  sem_init(&clients_done, 0, 0);
  hive_t *h = test_start(0);
  server_pid = spawn_server(h);
  hive_pid_t clients[CLIENTS];
  for (int i = 0; i < CLIENTS; i++)
    cr_assert_eq(hive_spawn(h, &client_b, &i, sizeof(i), NULL, &clients[i]), HIVE_OK);
  for (int i = 0; i < CLIENTS; i++)
    TEST_WAIT(&clients_done);
  cr_assert_eq(atomic_load(&got_reply), CLIENTS / 2);
  cr_assert_eq(atomic_load(&got_timeout), CLIENTS / 2);
  /* The server answers the held requests now: every answer is late. */
  void *reply;
  size_t len;
  cr_assert_eq(hive_ask(h, server_pid, TAG_RELEASE, NULL, 0, 10000, &reply, &len), HIVE_OK);
  free(reply);
  /* The late replies were pushed before the server answered this ask, so
   * each client meets its late reply before this sync message. */
  sem_init(&clients_synced, 0, 0);
  for (int i = 1; i < CLIENTS; i += 2)
    cr_assert_eq(hive_send(h, clients[i], TAG_SYNC, NULL, 0), HIVE_OK);
  for (int i = 1; i < CLIENTS; i += 2)
    TEST_WAIT(&clients_synced);
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  hive_stop(h);
  cr_assert_eq(atomic_load(&wrong_answer), 0);
  cr_assert_eq(atomic_load(&extra_answer), 0, "a late reply reached a handler");
  cr_assert_eq(atomic_load(&got_noproc), 0);
  cr_assert_eq(ns.late_replies, CLIENTS / 2, "every held request's reply came late");
}

static int asker_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state, (void)msg;
  void *reply;
  size_t len;
  atomic_store(&reply_non_request_rc,
               hive_ask(hive_node(ctx), server_pid, TAG_ECHO, NULL, 0, 10, &reply, &len));
  return HIVE_STOP;
}
static const hive_behaviour_t asker_b = {.name = "asker", .handle = asker_handle};

Test(request, ask_inside_an_actor_is_refused) {
  hive_t *h = test_start(0);
  server_pid = spawn_server(h);
  hive_pid_t pid;
  cr_assert_eq(hive_spawn(h, &asker_b, NULL, 0, NULL, &pid), HIVE_OK);
  cr_assert_eq(hive_send(h, pid, HIVE_TAG_USER, NULL, 0), HIVE_OK);
  TEST_JOIN(h, pid);
  cr_assert_eq(atomic_load(&reply_non_request_rc), HIVE_EDEADLK);
  hive_stop(h);
}

static int die_client_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)arg, (void)len;
  struct client *c = state;
  c->id = 0;
  return hive_request(ctx, server_pid, TAG_DIE, NULL, 0, 60000, &c->ref);
}
static const hive_behaviour_t die_client_b = {.name = "die_client",
                                              .state_size = sizeof(struct client),
                                              .init = die_client_init,
                                              .handle = client_handle};

Test(request, a_request_to_an_actor_that_dies_gets_noproc) {
  sem_init(&clients_done, 0, 0);
  hive_t *h = test_start(0);
  server_pid = spawn_server(h);
  cr_assert_eq(hive_spawn(h, &die_client_b, NULL, 0, NULL, NULL), HIVE_OK);
  TEST_WAIT(&clients_done);
  cr_assert_eq(atomic_load(&got_noproc), 1);
  cr_assert_eq(atomic_load(&extra_answer), 0);
  hive_stop(h);
}

Test(request, bad_arguments) {
  hive_t *h = test_start(0);
  hive_pid_t server = spawn_server(h);
  void *reply;
  size_t len;
  cr_assert_eq(hive_ask(NULL, server, TAG_ECHO, NULL, 0, 10, &reply, &len), HIVE_EINVAL);
  cr_assert_eq(hive_ask(h, 0, TAG_ECHO, NULL, 0, 10, &reply, &len), HIVE_EINVAL);
  cr_assert_eq(hive_ask(h, server, HIVE_TAG_REPLY, NULL, 0, 10, &reply, &len), HIVE_EINVAL);
  cr_assert_eq(hive_ask(h, server, TAG_ECHO, NULL, 3, 10, &reply, &len), HIVE_EINVAL);
  cr_assert_eq(hive_ask(h, server, TAG_ECHO, NULL, 0, 10, NULL, &len), HIVE_EINVAL);
  cr_assert_eq(hive_ask(h, server, TAG_ECHO, NULL, 0, 10, &reply, NULL), HIVE_EINVAL);
  cr_assert_eq(hive_request(NULL, server, TAG_ECHO, NULL, 0, 10, &(uint64_t){0}), HIVE_EINVAL);
  cr_assert_eq(hive_reply(NULL, NULL, NULL, 0), HIVE_EINVAL);
  cr_assert_eq(hive_receive_timeout(NULL, 10), HIVE_EINVAL);
  hive_actor_stats_t s;
  cr_assert_eq(hive_actor_stats(h, server, &s), HIVE_OK);
  cr_assert_eq(s.enqueued, 0, "refused calls sent nothing");
  hive_stop(h);
}
