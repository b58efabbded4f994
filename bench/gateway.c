/*
 * gateway [-w WORKERS] [CALLS]: the gateway from a C client, the ceiling
 * the protocol allows (bench/gateway.py measures Python clients against
 * `gateway --serve`).
 *
 * A node with a TCP gateway and an "echo" actor; one client connection in
 * this process makes CALLS calls one at a time (latency), CALLS calls with
 * 64 in flight (throughput; $GATEWAY_DEPTH sets another depth), and CALLS
 * sends (throughput). One RESULT line each, the last one bench=gateway.
 *
 *   gateway --serve [-w WORKERS]   prints port=PORT, serves until stdin ends
 *                                  (token: "bench")
 */
#include "bench.h"

#include "../tests/gw_client.h"

#define TOKEN "bench"

static int echo_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  if (msg->ref != 0)
    hive_reply(ctx, msg, msg->data, msg->len);
  return HIVE_OK;
}

static bool call(int fd, uint64_t id) {
  return gwc_send(fd, "msssusssu", 4, "op", "call", "id", id, "to", "echo", "data", id);
}

static bool answer(int fd) {
  gwc_frame_t f;
  bool ok = gwc_recv(fd, &f) && gwc_ok(&f);
  gwc_frame_free(&f);
  return ok;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  bool serve = argc > 1 && strcmp(argv[1], "--serve") == 0;
  long depth = 64; /* calls in flight: GATEWAY_DEPTH in the environment */
  if (getenv("GATEWAY_DEPTH") != NULL && atol(getenv("GATEWAY_DEPTH")) > 0)
    depth = atol(getenv("GATEWAY_DEPTH"));
  bench_args_t args = {.sizes = {100000}, .nsizes = 1};
  if (bench_parse(argc - serve, argv + serve, &args, "[CALLS] | --serve") != 0)
    return 2;
  long n = args.sizes[0];
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = args.workers;
  cfg.gateway_tcp = "0";
  cfg.gateway_token = TOKEN;
  hive_t *h;
  bench_check(hive_start(&h, &cfg), "hive_start");
  static const hive_behaviour_t echo = {.name = "echo", .handle = echo_handle};
  hive_spawn_opts_t opts;
  hive_spawn_opts_init(&opts);
  opts.name = "echo";
  bench_check(hive_spawn(h, &echo, NULL, 0, &opts, NULL), "spawn echo");
  if (serve) {
    printf("port=%d\n", hive_gateway_port(h));
    fflush(stdout);
    char buf[64];
    while (fread(buf, 1, sizeof(buf), stdin) > 0) {
    }
    hive_stop(h);
    return 0;
  }

  int fd = gwc_open(hive_gateway_port(h), TOKEN, NULL);
  if (fd < 0) {
    fprintf(stderr, "cannot connect\n");
    return 1;
  }
  /* One call at a time: latency. */
  double *lat = malloc(sizeof(double) * (size_t)n);
  double t0 = bench_now();
  for (long i = 0; i < n; i++) {
    double t = bench_now();
    if (!call(fd, (uint64_t)i) || !answer(fd))
      return 1;
    lat[i] = bench_now() - t;
  }
  double secs = bench_now() - t0;
  qsort(lat, (size_t)n, sizeof(double), cmp_double);
  printf("RESULT peer=hive bench=gateway_c_call_1 n=%ld secs=%.3f rate=%.0f p50_us=%.1f "
         "p99_us=%.1f\n",
         n, secs, (double)n / secs, lat[n / 2] * 1e6, lat[n * 99 / 100] * 1e6);
  free(lat);

  /* depth calls in flight: throughput. The client writes the calls of a
   * round in one write and reads answers in large reads, as a client that
   * wants the ceiling would. */
  t0 = bench_now();
  long sent = 0, got = 0;
  char *out = malloc((size_t)depth * 64), *in = malloc(1 << 20);
  size_t in_len = 0;
  while (got < n) {
    size_t out_len = 0;
    while (sent < n && sent - got < depth) { /* top the window up */
      void *body;
      size_t len;
      if (hive_pack(&body, &len, "msssusssu", 4, "op", "call", "id", (uint64_t)sent, "to", "echo",
                    "data", (uint64_t)sent) != HIVE_OK)
        return 1;
      unsigned char prefix[4] = {0, 0, (unsigned char)(len >> 8), (unsigned char)len};
      memcpy(out + out_len, prefix, 4);
      memcpy(out + out_len + 4, body, len);
      out_len += 4 + len;
      free(body);
      sent++;
    }
    if (out_len > 0 && !gwc_write_all(fd, out, out_len))
      return 1;
    ssize_t r = read(fd, in + in_len, (1 << 20) - in_len);
    if (r <= 0)
      return 1;
    in_len += (size_t)r;
    size_t pos = 0;
    while (in_len - pos >= 4) { /* count whole answers */
      const unsigned char *p = (const unsigned char *)in + pos;
      size_t len = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
      if (in_len - pos - 4 < len)
        break;
      pos += 4 + len;
      got++;
    }
    memmove(in, in + pos, in_len - pos);
    in_len -= pos;
  }
  secs = bench_now() - t0;
  free(out);
  free(in);
  printf("RESULT peer=hive bench=gateway_c_call_%ld n=%ld secs=%.3f rate=%.0f\n", depth, n, secs,
         (double)n / secs);

  /* Sends, then one call: it is answered once every send was handled. */
  t0 = bench_now();
  for (long i = 0; i < n; i++)
    if (!gwc_send(fd, "msssssu", 3, "op", "send", "to", "echo", "data", (uint64_t)i))
      return 1;
  if (!call(fd, 0) || !answer(fd))
    return 1;
  secs = bench_now() - t0;
  printf("RESULT peer=hive bench=gateway_c_send n=%ld secs=%.3f rate=%.0f\n", n, secs,
         (double)n / secs);
  printf("RESULT peer=hive bench=gateway n=%ld secs=%.3f rate=%.0f\n", n, secs, (double)n / secs);
  close(fd);
  hive_stop(h);
  return 0;
}
