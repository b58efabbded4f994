/*
 * cluster [-w WORKERS] [PINGPONG] [STREAM] [ASK] [KILLS]: two nodes joined
 * over a nats-server of the bench's own (started on a free loopback port,
 * stopped at the end); the other node is this program run again as a
 * process (--peer).
 *
 *   pingpong   an actor here and one there bounce a message PINGPONG times:
 *              messages/s, round trip p50 and p99
 *   stream     an actor sends STREAM 64-byte messages to one there, as fast
 *              as it can (batched per turn): messages/s at the receiver
 *   ask        a plain thread's hive_ask to an actor there, ASK times, one in
 *              flight: asks/s, p50, p99
 *   cnats      for scale, in the same run: raw cnats request/reply between
 *              two connections with SendAsap, ASK times: p50
 *   detect     KILLS times each: a node is SIGKILLed (then, another,
 *              SIGSTOPped); the time until a monitor here has DOWN
 *              noconnection, with the defaults (heartbeat 250 ms, down 2 s)
 *
 * Progress goes to stderr; one RESULT line each, bench=cluster last.
 */
#define _GNU_SOURCE
#include <nats/nats.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

enum { TAG_PING = HIVE_TAG_USER, TAG_PONG, TAG_DATA, TAG_DONE, TAG_GO, TAG_ASK };

/* ---- the peer node's actor -------------------------------------------------- */

static int peer_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  uint64_t *count = state;
  switch (msg->tag) {
  case TAG_PING:
    return hive_send(hive_node(ctx), msg->from, TAG_PONG, msg->data, msg->len);
  case TAG_DATA:
    (*count)++;
    return HIVE_OK;
  case TAG_DONE:
    hive_reply(ctx, msg, count, sizeof(*count));
    *count = 0;
    return HIVE_OK;
  default:
    if (msg->ref != 0)
      hive_reply(ctx, msg, msg->data, msg->len);
    return HIVE_OK;
  }
}
static const hive_behaviour_t peer_b = {
    .name = "peer", .state_size = sizeof(uint64_t), .handle = peer_handle};

static int peer_main(const char *url, unsigned id, unsigned workers) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = workers;
  cfg.cluster_url = url;
  cfg.node_id = id;
  cfg.log_level = HIVE_LOG_ERROR;
  hive_t *h;
  if (hive_start(&h, &cfg) != HIVE_OK)
    return 3;
  hive_pid_t pid;
  bench_check(hive_spawn(h, &peer_b, NULL, 0, NULL, &pid), "spawn");
  printf("%llu\n", (unsigned long long)pid);
  fflush(stdout);
  int sig;
  sigwait(&set, &sig);
  return hive_stop(h) == HIVE_OK ? 0 : 1;
}

/* ---- processes: nats-server and peers --------------------------------------- */

static char nats_dir[64] = "/tmp/hive-bench-nats-XXXXXX";
static pid_t nats_pid;
static char nats_url[64];

static void nats_start(void) {
  if (mkdtemp(nats_dir) == NULL)
    exit(1);
  nats_pid = fork();
  if (nats_pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    freopen("/dev/null", "w", stderr);
    execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir",
           nats_dir, (char *)NULL);
    _exit(127);
  }
  char ports[128];
  snprintf(ports, sizeof(ports), "%s/nats-server_%d.ports", nats_dir, (int)nats_pid);
  for (int i = 0; i < 1000 && nats_url[0] == '\0'; i++) {
    FILE *f = fopen(ports, "r");
    char buf[256] = {0};
    if (f != NULL) {
      if (fread(buf, 1, sizeof(buf) - 1, f) > 0) {
        char *p = strstr(buf, "nats://");
        char *end = p != NULL ? strchr(p, '"') : NULL;
        if (end != NULL)
          snprintf(nats_url, sizeof(nats_url), "%.*s", (int)(end - p), p);
      }
      fclose(f);
    }
    if (nats_url[0] == '\0')
      usleep(10000);
  }
  if (nats_url[0] == '\0') {
    fprintf(stderr, "nats-server did not start (is it installed?)\n");
    exit(1);
  }
}

static void nats_stop(void) {
  kill(nats_pid, SIGTERM);
  waitpid(nats_pid, NULL, 0);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", nats_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", nats_dir);
}

typedef struct {
  pid_t pid;
  hive_pid_t actor;
} peer_t;

static peer_t peer_start(const char *self, unsigned id, unsigned workers) {
  int fds[2];
  if (pipe(fds) != 0)
    exit(1);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    char idarg[8], warg[8];
    snprintf(idarg, sizeof(idarg), "%u", id);
    snprintf(warg, sizeof(warg), "%u", workers);
    execl(self, self, "--peer", nats_url, idarg, warg, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  FILE *f = fdopen(fds[0], "r");
  unsigned long long actor = 0;
  if (fscanf(f, "%llu", &actor) != 1) {
    fprintf(stderr, "peer node %u did not start\n", id);
    exit(1);
  }
  fclose(f);
  return (peer_t){.pid = pid, .actor = actor};
}

/* ---- percentiles -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile(double *v, long n, double p) {
  qsort(v, (size_t)n, sizeof(*v), cmp_double);
  long i = (long)(p * (double)(n - 1));
  return v[i];
}

/* ---- pingpong ----------------------------------------------------------------- */

typedef struct {
  hive_pid_t peer;
  long left, n;
  double sent_at;
  double *lat;
  sem_t *done;
} pinger_t;

static int pinger_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  pinger_t *p = state;
  memcpy(p, arg, sizeof(*p));
  p->sent_at = bench_now();
  return hive_send(hive_node(ctx), p->peer, TAG_PING, "ping", 4);
}

static int pinger_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)msg;
  pinger_t *p = state;
  double now = bench_now();
  p->lat[p->n - p->left] = now - p->sent_at;
  if (--p->left == 0) {
    sem_post(p->done);
    return HIVE_STOP;
  }
  p->sent_at = now;
  return hive_send(hive_node(ctx), p->peer, TAG_PING, "ping", 4);
}
static const hive_behaviour_t pinger_b = {
    .name = "pinger", .state_size = sizeof(pinger_t), .init = pinger_init, .handle = pinger_handle};

/* ---- stream --------------------------------------------------------------------- */

typedef struct {
  hive_pid_t peer;
  long left;
  uint64_t ref;
  uint64_t got;
  sem_t *done;
} streamer_t;

static int streamer_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  memcpy(state, arg, sizeof(streamer_t));
  return hive_send(hive_node(ctx), hive_self(ctx), TAG_GO, NULL, 0);
}

static int streamer_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  streamer_t *s = state;
  hive_t *h = hive_node(ctx);
  if (msg->tag == HIVE_TAG_REPLY) {
    memcpy(&s->got, msg->data, sizeof(s->got));
    sem_post(s->done);
    return HIVE_STOP;
  }
  static const char payload[64] = "sixty-four bytes of payload, as DESIGN's cluster anchors use";
  for (int i = 0; i < 256 && s->left > 0; i++, s->left--)
    bench_check(hive_send(h, s->peer, TAG_DATA, payload, sizeof(payload)), "send");
  if (s->left > 0)
    return hive_send(h, hive_self(ctx), TAG_GO, NULL, 0);
  /* After the last message from this sender: answered once all arrived. */
  return hive_request(ctx, s->peer, TAG_DONE, NULL, 0, -1, &s->ref);
}
static const hive_behaviour_t streamer_b = {.name = "streamer",
                                            .state_size = sizeof(streamer_t),
                                            .init = streamer_init,
                                            .handle = streamer_handle};

/* ---- detection -------------------------------------------------------------------- */

typedef struct {
  hive_pid_t target;
  double *down_at;
  int *kind;
  sem_t *done;
} watcher_t;

static int watcher_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)len;
  watcher_t *w = state;
  memcpy(w, arg, sizeof(*w));
  uint64_t ref;
  return hive_monitor(ctx, w->target, &ref);
}

static int watcher_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx;
  watcher_t *w = state;
  if (msg->tag != HIVE_TAG_DOWN)
    return HIVE_OK;
  *w->down_at = bench_now();
  hive_reason_t r;
  hive_exit_info(msg, NULL, &r);
  *w->kind = r.kind;
  sem_post(w->done);
  return HIVE_STOP;
}
static const hive_behaviour_t watcher_b = {.name = "watcher",
                                           .state_size = sizeof(watcher_t),
                                           .init = watcher_init,
                                           .handle = watcher_handle};

/* Kills (or stops) kills nodes one at a time; the detection times in ms. */
static double detect(hive_t *h, const char *self, unsigned workers, long kills, int sig,
                     double *p99) {
  double *ms = calloc((size_t)kills, sizeof(double));
  sem_t done;
  sem_init(&done, 0, 0);
  for (long k = 0; k < kills; k++) {
    peer_t p = peer_start(self, 3, workers);
    double down_at = 0;
    int kind = -1;
    watcher_t w = {.target = p.actor, .down_at = &down_at, .kind = &kind, .done = &done};
    bench_check(hive_spawn(h, &watcher_b, &w, sizeof(w), NULL, NULL), "watcher");
    void *reply;
    size_t len;
    bench_check(hive_ask(h, p.actor, TAG_ASK, NULL, 0, 10000, &reply, &len), "ask");
    free(reply);
    double t0 = bench_now();
    kill(p.pid, sig);
    sem_wait(&done);
    ms[k] = (down_at - t0) * 1e3;
    if (kind != HIVE_REASON_NOCONNECTION)
      fprintf(stderr, "detect: DOWN with reason %d\n", kind);
    kill(p.pid, SIGKILL);
    waitpid(p.pid, NULL, 0);
    fprintf(stderr, "\r  %s %ld/%ld: %.0f ms   ", sig == SIGKILL ? "SIGKILL" : "SIGSTOP", k + 1,
            kills, ms[k]);
  }
  fprintf(stderr, "\n");
  double p50 = percentile(ms, kills, 0.5);
  *p99 = percentile(ms, kills, 0.99);
  free(ms);
  return p50;
}

/* ---- raw cnats request/reply, for scale ------------------------------------------- */

static void cnats_echo(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg) {
  (void)sub, (void)arg;
  natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
  natsMsg_Destroy(m);
}

static double cnats_request(long n, double *lat) {
  natsOptions *opts;
  natsConnection *a, *b;
  natsSubscription *sub;
  natsOptions_Create(&opts);
  natsOptions_SetURL(opts, nats_url);
  natsOptions_SetSendAsap(opts, true);
  if (natsConnection_Connect(&a, opts) != NATS_OK || natsConnection_Connect(&b, opts) != NATS_OK)
    exit(1);
  natsConnection_Subscribe(&sub, b, "bench.echo", cnats_echo, NULL);
  natsConnection_Flush(b);
  for (long i = 0; i < n; i++) {
    natsMsg *reply;
    double t0 = bench_now();
    if (natsConnection_Request(&reply, a, "bench.echo", "ping", 4, 5000) != NATS_OK)
      exit(1);
    lat[i] = bench_now() - t0;
    natsMsg_Destroy(reply);
  }
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(a);
  natsConnection_Destroy(b);
  natsOptions_Destroy(opts);
  return percentile(lat, n, 0.5);
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "--peer") == 0)
    return peer_main(argv[2], (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]));
  bench_args_t args = {.sizes = {20000, 1000000, 5000, 5}, .nsizes = 4};
  if (bench_parse(argc, argv, &args, "[PINGPONG] [STREAM] [ASK] [KILLS]") != 0)
    return 2;
  long npp = args.sizes[0], nstream = args.sizes[1], nask = args.sizes[2], kills = args.sizes[3];
  nats_start();
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = args.workers;
  cfg.cluster_url = nats_url;
  cfg.node_id = 1;
  cfg.log_level = HIVE_LOG_ERROR;
  hive_t *h;
  bench_check(hive_start(&h, &cfg), "hive_start");
  peer_t peer = peer_start(argv[0], 2, args.workers);
  sem_t done;
  sem_init(&done, 0, 0);
  long nlat = npp > nask ? npp : nask;
  double *lat = malloc((size_t)nlat * sizeof(double));

  fprintf(stderr, "pingpong: %ld round trips\n", npp);
  pinger_t pp = {.peer = peer.actor, .left = npp, .n = npp, .lat = lat, .done = &done};
  double t0 = bench_now();
  bench_check(hive_spawn(h, &pinger_b, &pp, sizeof(pp), NULL, NULL), "spawn");
  sem_wait(&done);
  double secs = bench_now() - t0;
  double p50 = percentile(lat, npp, 0.5) * 1e6, p99 = percentile(lat, npp, 0.99) * 1e6;
  printf("RESULT peer=hive bench=cluster_pingpong n=%ld secs=%.3f rate=%.0f p50_us=%.1f "
         "p99_us=%.1f\n",
         npp, secs, 2.0 * (double)npp / secs, p50, p99);

  fprintf(stderr, "stream: %ld messages of 64 bytes\n", nstream);
  streamer_t st = {.peer = peer.actor, .left = nstream, .done = &done};
  t0 = bench_now();
  bench_check(hive_spawn(h, &streamer_b, &st, sizeof(st), NULL, NULL), "spawn");
  sem_wait(&done);
  secs = bench_now() - t0;
  double stream_secs = secs;
  printf("RESULT peer=hive bench=cluster_stream n=%ld secs=%.3f rate=%.0f\n", nstream, secs,
         (double)nstream / secs);

  fprintf(stderr, "ask: %ld round trips from a plain thread\n", nask);
  t0 = bench_now();
  for (long i = 0; i < nask; i++) {
    void *reply;
    size_t len;
    double a0 = bench_now();
    bench_check(hive_ask(h, peer.actor, TAG_ASK, "ping", 4, 5000, &reply, &len), "ask");
    lat[i] = bench_now() - a0;
    free(reply);
  }
  secs = bench_now() - t0;
  p50 = percentile(lat, nask, 0.5) * 1e6;
  p99 = percentile(lat, nask, 0.99) * 1e6;
  printf("RESULT peer=hive bench=cluster_ask n=%ld secs=%.3f rate=%.0f p50_us=%.1f p99_us=%.1f\n",
         nask, secs, (double)nask / secs, p50, p99);
  double ask_p50 = p50;

  t0 = bench_now();
  double raw = cnats_request(nask, lat) * 1e6;
  secs = bench_now() - t0;
  printf("RESULT peer=cnats bench=cnats_request n=%ld secs=%.3f rate=%.0f p50_us=%.1f "
         "(hive ask / raw: %.2f)\n",
         nask, secs, (double)nask / secs, raw, ask_p50 / raw);

  kill(peer.pid, SIGTERM);
  waitpid(peer.pid, NULL, 0);
  fprintf(stderr, "detect: %ld nodes killed, %ld stopped (defaults: 250 ms, 2000 ms)\n", kills,
          kills);
  double kill99, stop99;
  t0 = bench_now();
  double kill50 = detect(h, argv[0], args.workers, kills, SIGKILL, &kill99);
  double stop50 = detect(h, argv[0], args.workers, kills, SIGSTOP, &stop99);
  secs = bench_now() - t0;
  printf("RESULT peer=hive bench=cluster_detect n=%ld secs=%.3f kill_p50_ms=%.0f kill_p99_ms=%.0f "
         "stop_p50_ms=%.0f stop_p99_ms=%.0f\n",
         2 * kills, secs, kill50, kill99, stop50, stop99);
  /* The headline last: remote streaming. */
  printf("RESULT peer=hive bench=cluster n=%ld secs=%.3f rate=%.0f\n", nstream, stream_secs,
         (double)nstream / stream_secs);
  free(lat);
  hive_stop(h);
  nats_stop();
  return 0;
}
