/*
 * primes_service.c - a C service Python hands CPU-bound work to, through
 * the gateway. The Python side is offload.py, next to this file.
 *
 *   build/py_offload [PORT]      (default 7070; 0: a free one)
 *
 * The token comes from $HIVE_GATEWAY_TOKEN. It prints "port=PORT" once it
 * serves, and stops cleanly (hive_stop) when its standard input ends, so a
 * parent that dies takes it along. (A service to deploy handles signals
 * too: see samples/jobd.)
 *
 * The tree: a supervisor over one "primes.N" worker per CPU and "primes",
 * the actor Python calls. "primes" hands each request to the next worker
 * and answers it when the worker's reply comes (a deferred reply), so
 * requests from one client run on every core at once.
 */
#include <hive/hive.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WORKERS 64
#define MAX_PENDING 1024

/* ---- a worker: counts primes in [lo, hi) by trial division ------------- */

static bool is_prime(uint64_t n) {
  if (n < 2)
    return false;
  for (uint64_t d = 2; d * d <= n; d++)
    if (n % d == 0)
      return false;
  return true;
}

static int worker_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  uint32_t n;
  uint64_t lo, hi, count = 0;
  if (msg->ref == 0 || hive_unpack(msg->data, msg->len, NULL, "auu", &n, &lo, &hi) != HIVE_OK ||
      n != 2)
    return HIVE_OK; /* not a request for us: ignored */
  for (uint64_t i = lo; i < hi; i++) {
    count += is_prime(i);
    if (i % 4096 == 0 && hive_checkpoint(ctx))
      return HIVE_OK; /* asked to stop: hive_kill, or the node stopping */
  }
  void *out;
  size_t len;
  if (hive_pack(&out, &len, "u", count) == HIVE_OK) {
    hive_reply(ctx, msg, out, len);
    free(out);
  }
  return HIVE_OK;
}

static const hive_behaviour_t worker = {.name = "primes_worker", .handle = worker_handle};

/* ---- "primes": hands requests to the workers in turn -------------------- */

typedef struct {
  unsigned nworkers, next;
  struct {
    uint64_t ref;       /* our request to a worker; 0: free */
    hive_msg_t request; /* the caller's, answered when the worker replies */
  } pending[MAX_PENDING];
} dispatcher_t;

static int dispatcher_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx, (void)len;
  dispatcher_t *d = state;
  memcpy(&d->nworkers, arg, sizeof(d->nworkers));
  return HIVE_OK;
}

static int dispatcher_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  dispatcher_t *d = state;
  if (msg->tag == HIVE_TAG_REPLY || msg->tag == HIVE_TAG_NOPROC) {
    for (int i = 0; i < MAX_PENDING; i++)
      if (d->pending[i].ref == msg->ref) {
        d->pending[i].ref = 0;
        /* A worker that ended without replying: the caller gets nil. */
        if (msg->tag == HIVE_TAG_REPLY)
          hive_reply(ctx, &d->pending[i].request, msg->data, msg->len);
        else
          hive_reply(ctx, &d->pending[i].request, "\xc0", 1);
        break;
      }
    return HIVE_OK;
  }
  if (msg->ref == 0 || msg->tag < HIVE_TAG_USER)
    return HIVE_OK;
  int slot = 0;
  while (slot < MAX_PENDING && d->pending[slot].ref != 0)
    slot++;
  char name[32];
  snprintf(name, sizeof(name), "primes.%u", d->next++ % d->nworkers);
  hive_pid_t to = hive_whereis(hive_node(ctx), name);
  uint64_t ref;
  if (slot == MAX_PENDING || to == 0 ||
      hive_request(ctx, to, msg->tag, msg->data, msg->len, -1, &ref) != HIVE_OK) {
    hive_reply(ctx, msg, "\xc0", 1); /* cannot hand it over: nil at once */
    return HIVE_OK;
  }
  d->pending[slot].ref = ref;
  d->pending[slot].request = *msg; /* its from and ref; hive_reply needs no more */
  return HIVE_OK;
}

static const hive_behaviour_t dispatcher = {.name = "primes_dispatcher",
                                            .state_size = sizeof(dispatcher_t),
                                            .init = dispatcher_init,
                                            .handle = dispatcher_handle};

int main(int argc, char **argv) {
  static char tcp[16];
  snprintf(tcp, sizeof(tcp), "127.0.0.1:%s", argc > 1 ? argv[1] : "7070");
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.gateway_tcp = tcp; /* the token: $HIVE_GATEWAY_TOKEN */
  hive_t *h;
  int rc = hive_start(&h, &cfg);
  if (rc != HIVE_OK) {
    fprintf(stderr, "py_offload: cannot start (%s); is HIVE_GATEWAY_TOKEN set?\n",
            hive_strerror(rc));
    return 1;
  }

  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  unsigned nworkers = ns.workers < MAX_WORKERS ? ns.workers : MAX_WORKERS;
  static char names[MAX_WORKERS + 1][24];
  static hive_spawn_opts_t opts[MAX_WORKERS + 1];
  hive_child_spec_t children[MAX_WORKERS + 1];
  for (unsigned i = 0; i <= nworkers; i++) {
    hive_spawn_opts_init(&opts[i]);
    hive_child_spec_init(&children[i]);
    if (i < nworkers) {
      snprintf(names[i], sizeof(names[i]), "primes.%u", i);
      children[i].behaviour = &worker;
    } else {
      snprintf(names[i], sizeof(names[i]), "primes");
      children[i].behaviour = &dispatcher;
      children[i].arg = &nworkers;
      children[i].arg_len = sizeof(nworkers);
    }
    opts[i].name = names[i];
    children[i].id = names[i];
    children[i].opts = &opts[i];
  }
  hive_sup_spec_t spec;
  hive_sup_spec_init(&spec);
  spec.intensity = 10;
  spec.children = children;
  spec.nchildren = nworkers + 1;
  hive_pid_t sup;
  if ((rc = hive_sup_start(h, &spec, &sup)) != HIVE_OK) {
    fprintf(stderr, "py_offload: %s\n", hive_strerror(rc));
    hive_stop(h);
    return 1;
  }
  printf("port=%d\n", hive_gateway_port(h));
  fflush(stdout);

  /* Serve until stdin ends. */
  char buf[256];
  while (read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
  }
  hive_stop(h);
  return 0;
}
