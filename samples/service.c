/*
 * service.c - a small supervised service to look at with hivectl.
 *
 *   build/service [--http HOST:PORT] [SOCKET] [SECONDS]
 *                                  (defaults: no HTTP, /tmp/hive-service.sock, 60)
 *
 * A supervisor "app" runs three children: "producer" sends work every
 * millisecond to "consumer", which is slower than that, so its mailbox
 * grows; and "flaky", which fails every second so the supervisor restarts
 * it. While it runs, try:
 *
 *   build/hivectl -s /tmp/hive-service.sock ps
 *   build/hivectl -s /tmp/hive-service.sock top
 *   build/hivectl -s /tmp/hive-service.sock tree
 *   build/hivectl -s /tmp/hive-service.sock stats consumer
 *   build/hivectl -s /tmp/hive-service.sock kill producer
 *   build/hivectl -s /tmp/hive-service.sock metrics
 *
 * With --http 8080 (or 127.0.0.1:0 for a free port) the node also serves
 * its live inspector page, which it prints the address of, and /metrics
 * for Prometheus (docs/inspecting.md).
 */
#include <hive/hive.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TAG_TICK = HIVE_TAG_USER, TAG_WORK };

/* producer: on every tick, one piece of work for the consumer. */
static int producer_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)arg, (void)len;
  return hive_send_interval(hive_node(ctx), hive_self(ctx), TAG_TICK, NULL, 0, 1, state);
}

static int producer_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state, (void)msg;
  hive_t *h = hive_node(ctx);
  hive_pid_t consumer = hive_whereis(h, "consumer");
  if (consumer != 0)
    hive_send(h, consumer, TAG_WORK, NULL, 0);
  return HIVE_OK;
}

/* consumer: 1.5 ms of work a message, so it falls behind. */
static int consumer_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  struct timespec pause = {.tv_nsec = 1500000};
  nanosleep(&pause, NULL);
  return HIVE_OK;
}

/* flaky: fails a second after it starts. */
static int flaky_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)arg, (void)len;
  return hive_send_after(hive_node(ctx), hive_self(ctx), TAG_TICK, NULL, 0, 1000, state);
}

static int flaky_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state, (void)msg;
  return -1; /* an error: the supervisor restarts it */
}

/* The state of producer and flaky is their timer. */
static const hive_behaviour_t producer = {.name = "producer",
                                          .state_size = sizeof(hive_timer_t),
                                          .init = producer_init,
                                          .handle = producer_handle};
static const hive_behaviour_t consumer = {.name = "consumer", .handle = consumer_handle};
static const hive_behaviour_t flaky = {.name = "flaky",
                                       .state_size = sizeof(hive_timer_t),
                                       .init = flaky_init,
                                       .handle = flaky_handle};

int main(int argc, char **argv) {
  const char *http = NULL;
  if (argc > 2 && strcmp(argv[1], "--http") == 0) {
    http = argv[2];
    argc -= 2, argv += 2;
  }
  const char *path = argc > 1 ? argv[1] : "/tmp/hive-service.sock";
  int seconds = argc > 2 ? atoi(argv[2]) : 60;

  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.admin_socket = path; /* hivectl talks to the node here */
  cfg.http_listen = http;  /* and a browser, or Prometheus, here */
  cfg.log_level = HIVE_LOG_WARNING;
  hive_t *h;
  int rc = hive_start(&h, &cfg);
  if (rc != HIVE_OK) {
    fprintf(stderr, "hive_start: %s\n", hive_strerror(rc));
    return 1;
  }

  hive_spawn_opts_t named[3];
  const char *names[3] = {"producer", "consumer", "flaky"};
  const hive_behaviour_t *behaviours[3] = {&producer, &consumer, &flaky};
  hive_child_spec_t children[3];
  for (int i = 0; i < 3; i++) {
    hive_spawn_opts_init(&named[i]);
    named[i].name = names[i];
    hive_child_spec_init(&children[i]);
    children[i].id = names[i];
    children[i].behaviour = behaviours[i];
    children[i].opts = &named[i];
  }
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.strategy = HIVE_SUP_ONE_FOR_ONE;
  spec.intensity = 10; /* flaky fails once a second: well within 10 in 5 s */
  spec.children = children;
  spec.nchildren = 3;
  hive_pid_t app;
  if ((rc = hive_sup_start(h, &spec, &app)) != HIVE_OK || hive_register(h, "app", app) != HIVE_OK) {
    fprintf(stderr, "hive_sup_start: %s\n", hive_strerror(rc));
    hive_stop(h);
    return 1;
  }
  printf("service running for %d s; admin socket %s\n", seconds, path);
  if (hive_http_port(h) > 0)
    printf("inspector: http://127.0.0.1:%d/\n", hive_http_port(h));
  fflush(stdout);
  struct timespec pause = {.tv_sec = seconds};
  nanosleep(&pause, NULL);

  hive_actor_stats_t s;
  if (hive_actor_stats(h, hive_whereis(h, "consumer"), &s) == HIVE_OK)
    printf("consumer: %llu handled, %llu queued\n", (unsigned long long)s.processed,
           (unsigned long long)s.mailbox_len);
  hive_stop(h);
  printf("service stopped\n");
  return 0;
}
