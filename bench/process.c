/*
 * process [-w WORKERS] [N]: process-isolated actors (HIVE_SPAWN_PROCESS).
 *
 *   spawn         N spawns of a process actor, one at a time: median, p99
 *   round trip    an actor makes N hive_request round trips to a process
 *                 actor, one in flight: rate and p50
 *   kill to DOWN  N/10 times: a process actor spinning in a callback that
 *                 never checks is killed; the time until its watcher has
 *                 the DOWN: p50, p99
 *
 * One RESULT line each; the last one is bench=process (the round trip).
 */
#include <semaphore.h>

#include "bench.h"

enum { TAG_ECHO = HIVE_TAG_USER, TAG_SPIN, TAG_GO };

static int child_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  if (msg->tag == TAG_SPIN)
    for (volatile unsigned long i = 0;; i++) {
    }
  if (msg->ref != 0)
    hive_reply(ctx, msg, msg->data, msg->len);
  return HIVE_OK;
}
static const hive_behaviour_t child_b = {.name = "child", .handle = child_handle};

/* Makes `left` requests to `to`, one in flight, timing each. */
typedef struct {
  hive_pid_t to;
  long left, n;
  double sent_at;
  double *lat;
  sem_t *done;
} driver_t;

static int driver_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx, (void)len;
  memcpy(state, arg, sizeof(driver_t));
  return HIVE_OK;
}

static int driver_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  driver_t *d = state;
  if (msg->tag == HIVE_TAG_REPLY)
    d->lat[d->n - d->left--] = bench_now() - d->sent_at;
  else if (msg->tag != TAG_GO)
    return HIVE_OK;
  if (d->left == 0) {
    sem_post(d->done);
    return HIVE_STOP;
  }
  uint64_t ref;
  d->sent_at = bench_now();
  bench_check(hive_request(ctx, d->to, TAG_ECHO, "x", 1, 10000, &ref), "hive_request");
  return HIVE_OK;
}
static const hive_behaviour_t driver_b = {
    .name = "driver", .state_size = sizeof(driver_t), .init = driver_init, .handle = driver_handle};

/* Watches a pid and posts when its DOWN comes. */
static sem_t down_sem;
static double down_at;
static int watcher_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)state, (void)len;
  hive_pid_t pid;
  uint64_t ref;
  memcpy(&pid, arg, sizeof(pid));
  return hive_monitor(ctx, pid, &ref);
}
static int watcher_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx, (void)state;
  if (msg->tag != HIVE_TAG_DOWN)
    return HIVE_OK;
  down_at = bench_now();
  sem_post(&down_sem);
  return HIVE_STOP;
}
static const hive_behaviour_t watcher_b = {
    .name = "watcher", .init = watcher_init, .handle = watcher_handle};

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  bench_args_t args = {.sizes = {2000}, .nsizes = 1};
  if (bench_parse(argc, argv, &args, "[N]") != 0)
    return 2;
  long n = args.sizes[0], kills = n / 10 > 0 ? n / 10 : 1;
  hive_t *h = bench_start(&args);
  hive_spawn_opts_t o;
  hive_spawn_opts_init(&o);
  o.flags = HIVE_SPAWN_PROCESS;
  double *lat = malloc(sizeof(double) * (size_t)n);

  /* Spawn: a process actor ready to run (its child's init done). */
  double t0 = bench_now();
  for (long i = 0; i < n; i++) {
    hive_pid_t pid;
    double t = bench_now();
    bench_check(hive_spawn(h, &child_b, NULL, 0, &o, &pid), "spawn");
    lat[i] = bench_now() - t;
    bench_check(hive_kill(h, pid), "kill");
    hive_join(h, pid, -1);
  }
  double secs = bench_now() - t0;
  qsort(lat, (size_t)n, sizeof(double), cmp);
  printf("RESULT peer=hive bench=process_spawn n=%ld secs=%.3f rate=%.0f p50_us=%.0f p99_us=%.0f\n",
         n, secs, (double)n / secs, lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6);

  /* Round trips from an actor. */
  hive_pid_t child;
  bench_check(hive_spawn(h, &child_b, NULL, 0, &o, &child), "spawn");
  sem_t done;
  sem_init(&done, 0, 0);
  driver_t d = {.to = child, .left = n, .n = n, .lat = lat, .done = &done};
  hive_pid_t driver;
  bench_check(hive_spawn(h, &driver_b, &d, sizeof(d), NULL, &driver), "spawn driver");
  t0 = bench_now();
  bench_check(hive_send(h, driver, TAG_GO, NULL, 0), "go");
  sem_wait(&done);
  secs = bench_now() - t0;
  qsort(lat, (size_t)n, sizeof(double), cmp);
  double rt_p50 = lat[n / 2] * 1e6, rate = (double)n / secs;

  /* Kill to DOWN, of a child spinning without checks. */
  sem_init(&down_sem, 0, 0);
  for (long i = 0; i < kills; i++) {
    hive_pid_t pid, w;
    bench_check(hive_spawn(h, &child_b, NULL, 0, &o, &pid), "spawn");
    bench_check(hive_spawn(h, &watcher_b, &pid, sizeof(pid), NULL, &w), "watcher");
    bench_check(hive_send(h, pid, TAG_SPIN, NULL, 0), "spin");
    bench_check(hive_send(h, pid, TAG_ECHO, NULL, 0), "echo");
    hive_actor_stats_t s;
    do /* the spin runs once the echo waits behind it */
      hive_actor_stats(h, pid, &s);
    while (s.mailbox_len != 1 || s.state != HIVE_ACTOR_RUNNING);
    double t = bench_now();
    bench_check(hive_kill(h, pid), "kill");
    sem_wait(&down_sem);
    lat[i] = down_at - t;
    hive_join(h, pid, -1);
  }
  qsort(lat, (size_t)kills, sizeof(double), cmp);
  printf("RESULT peer=hive bench=process_kill_to_down n=%ld secs=0 rate=0 p50_us=%.0f "
         "p99_us=%.0f\n",
         kills, lat[kills / 2] * 1e6, lat[kills * 99 / 100] * 1e6);
  printf("RESULT peer=hive bench=process n=%ld secs=%.3f rate=%.0f p50_us=%.1f\n", n, secs, rate,
         rt_p50);
  free(lat);
  hive_stop(h);
  return 0;
}
