/*
 * tree.c - a three-level supervision tree at work.
 *
 *   root (one_for_one)
 *   |- db_sup (one_for_all): pool, cache
 *   `- web_sup (rest_for_one): listener, flaky, handler
 *
 * "flaky" fails on every third tick of its timer. rest_for_one restarts it
 * and "handler" (started after it), but not "listener". The supervisors'
 * reports go through the logger, printed here. After a second and a half,
 * hive_stop takes the tree down: deepest first, last started first.
 */
#include <hive/hive.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { TAG_TICK = HIVE_TAG_USER };

/* A worker: says when it starts and stops; "flaky" also ticks and fails. */
struct worker {
  char name[16];
  int ticks;
};

static int worker_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  struct worker *w = state;
  snprintf(w->name, sizeof(w->name), "%.*s", (int)len, (const char *)arg);
  printf("  start %s\n", w->name);
  if (strcmp(w->name, "flaky") == 0) /* a tick every 150 ms, cancelled when it dies */
    return hive_send_interval(hive_node(ctx), hive_self(ctx), TAG_TICK, NULL, 0, 150,
                              &(hive_timer_t){0});
  return HIVE_OK;
}

static int worker_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)ctx;
  struct worker *w = state;
  if (msg->tag == TAG_TICK && ++w->ticks % 3 == 0) {
    printf("  %s fails\n", w->name);
    return HIVE_EINVAL; /* ends with reason error: its supervisor decides */
  }
  return HIVE_OK;
}

static void worker_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)ctx;
  char why[64];
  hive_reason_format(reason, why, sizeof(why));
  printf("  stop  %s (%s)\n", ((struct worker *)state)->name, why);
}

static const hive_behaviour_t worker_b = {.name = "worker",
                                          .state_size = sizeof(struct worker),
                                          .init = worker_init,
                                          .handle = worker_handle,
                                          .terminate = worker_terminate};

/* Supervisor reports are info lines; print them. */
static void print_log(void *user, int level, const char *line) {
  (void)user, (void)level;
  printf("log: %s\n", line);
}

/* A worker child spec whose argument is its name. */
static hive_child_spec_t worker(const char *name) {
  hive_child_spec_t c;
  hive_child_spec_init(&c);
  c.id = name;
  c.behaviour = &worker_b;
  c.arg = name;
  c.arg_len = strlen(name);
  return c;
}

/* A supervisor child spec. */
static hive_child_spec_t supervisor(const char *id, const hive_sup_spec_t *spec) {
  hive_child_spec_t c;
  hive_child_spec_init(&c);
  c.id = id;
  c.behaviour = hive_sup_behaviour();
  c.arg = spec;
  c.arg_len = sizeof(*spec);
  c.type = HIVE_CHILD_SUPERVISOR;
  return c;
}

int main(void) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.log_fn = print_log;
  cfg.log_level = HIVE_LOG_INFO;
  hive_t *node;
  if (hive_start(&node, &cfg) != HIVE_OK)
    return 1;

  hive_child_spec_t db_children[] = {worker("pool"), worker("cache")};
  hive_sup_spec_t db;
  hive_sup_spec_init(&db);
  db.strategy = HIVE_SUP_ONE_FOR_ALL;
  db.children = db_children;
  db.nchildren = 2;

  hive_child_spec_t web_children[] = {worker("listener"), worker("flaky"), worker("handler")};
  hive_sup_spec_t web;
  hive_sup_spec_init(&web);
  web.strategy = HIVE_SUP_REST_FOR_ONE;
  web.intensity = 5; /* flaky fails about twice a second: allow it */
  web.period_s = 5;
  web.children = web_children;
  web.nchildren = 3;

  hive_child_spec_t root_children[] = {supervisor("db_sup", &db), supervisor("web_sup", &web)};
  hive_sup_spec_t root;
  hive_sup_spec_init(&root);
  root.children = root_children;
  root.nchildren = 2;

  printf("starting the tree\n");
  hive_pid_t pid;
  int rc = hive_sup_start(node, &root, &pid);
  if (rc != HIVE_OK) {
    fprintf(stderr, "hive_sup_start: %s\n", hive_strerror(rc));
    return 1;
  }
  hive_child_counts_t counts;
  hive_sup_count_children(node, pid, &counts);
  printf("root supervises %zu supervisors\n", counts.supervisors);
  nanosleep(&(struct timespec){1, 500000000}, NULL); /* let flaky fail a few times */
  printf("stopping the node\n");
  return hive_stop(node) == HIVE_OK ? 0 : 1;
}
