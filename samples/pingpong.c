/*
 * pingpong.c - two actors bounce a ball N times.
 *
 * Shows: state blocks, an init argument, replying to msg->from, and ending
 * an actor by returning HIVE_STOP. Usage: pingpong [ROUND_TRIPS]
 */
#include <hive/hive.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TAG_BALL = HIVE_TAG_USER };

/* pong: sends every ball straight back to whoever sent it. */
static int pong_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  return hive_send(hive_node(ctx), msg->from, TAG_BALL, NULL, 0);
}

/* ping: serves the first ball in init, counts the returns. */
struct ping_arg {
  hive_pid_t pong;
  long rounds;
};

struct ping_state {
  struct ping_arg arg;
  long returned;
};

static int ping_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  struct ping_state *ping = state;
  (void)len;
  memcpy(&ping->arg, arg, sizeof(ping->arg)); /* arg lives only during init */
  return hive_send(hive_node(ctx), ping->arg.pong, TAG_BALL, NULL, 0);
}

static int ping_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  struct ping_state *ping = state;
  if (++ping->returned == ping->arg.rounds)
    return HIVE_STOP; /* done: hive_join in main returns */
  return hive_send(hive_node(ctx), msg->from, TAG_BALL, NULL, 0);
}

static const hive_behaviour_t pong_behaviour = {.name = "pong", .handle = pong_handle};
static const hive_behaviour_t ping_behaviour = {.name = "ping",
                                                .state_size = sizeof(struct ping_state),
                                                .init = ping_init,
                                                .handle = ping_handle};

int main(int argc, char **argv) {
  struct ping_arg arg = {.rounds = argc > 1 ? atol(argv[1]) : 1000000};
  if (arg.rounds < 1) {
    fprintf(stderr, "usage: pingpong [ROUND_TRIPS >= 1]\n");
    return 2;
  }
  hive_t *node;
  hive_pid_t ping;
  int rc = hive_start(&node, NULL);
  if (rc != HIVE_OK) {
    fprintf(stderr, "hive_start: %s\n", hive_strerror(rc));
    return 1;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if ((rc = hive_spawn(node, &pong_behaviour, NULL, 0, NULL, &arg.pong)) != HIVE_OK ||
      (rc = hive_spawn(node, &ping_behaviour, &arg, sizeof(arg), NULL, &ping)) != HIVE_OK) {
    fprintf(stderr, "hive_spawn: %s\n", hive_strerror(rc));
    hive_stop(node);
    return 1;
  }
  hive_join(node, ping, -1);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("pingpong: %ld round trips in %.3f s (%.2f M messages/s)\n", arg.rounds, secs,
         2.0 * (double)arg.rounds / secs / 1e6);
  return hive_stop(node) == HIVE_OK ? 0 : 1;
}
