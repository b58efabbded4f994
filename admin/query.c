/*
 * query.c - the answers an inspector gets: actors, one actor, kill, the
 * supervision tree, the node, the cluster's nodes and the Prometheus text,
 * packed as msgpack (docs/admin-protocol.md). The admin socket, hivectl
 * --node over the cluster and the HTTP endpoint (which writes them as
 * JSON) all answer through hive__admin_query, so they give the same
 * fields.
 *
 * Everything is read through the public API on the caller's thread (the
 * admin socket's, a NATS callback's, libmicrohttpd's), never a worker's.
 */
#define _GNU_SOURCE /* qsort_r */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "hive/cluster.h"
#include "hive/sup.h"
#include "util/pack.h"

#define QUERY_TREE_DEPTH_MAX 32 /* supervisors nested deeper are cut off */
#define QUERY_NODES_MAX 256

static void pack_ok(msgpack_packer *pk, uint32_t more_pairs) {
  msgpack_pack_map(pk, 1 + more_pairs);
  hive__pack_key_bool(pk, "ok", true);
}

static int pack_error(msgpack_packer *pk, int rc, const char *text) {
  msgpack_pack_map(pk, 2);
  hive__pack_key_bool(pk, "ok", false);
  hive__pack_key_str(pk, "error", text);
  return rc;
}

hive_pid_t *hive__admin_all_pids(hive_t *h, size_t *n) {
  size_t cap = 256;
  for (;;) {
    hive_pid_t *pids = malloc(cap * sizeof(*pids));
    if (pids == NULL)
      return NULL;
    hive_actor_list(h, pids, cap, n);
    if (*n <= cap)
      return pids;
    free(pids);
    cap = *n + *n / 4; /* actors started meanwhile: a little more room */
  }
}

/* ---- actors -------------------------------------------------------------- */

/* The fields ps sorts by: every counter of hive_actor_stats_t, and
 * "mailbox" for mailbox_len. */
static const struct {
  const char *name;
  size_t offset;
} sort_keys[] = {
#define SORT_KEY(field)                                                                            \
  { #field, offsetof(hive_actor_stats_t, field) }
    {"mailbox", offsetof(hive_actor_stats_t, mailbox_len)},
    SORT_KEY(mailbox_len),
    SORT_KEY(mailbox_hwm),
    SORT_KEY(capacity),
    SORT_KEY(enqueued),
    SORT_KEY(processed),
    SORT_KEY(dropped),
    SORT_KEY(dead_letters),
    SORT_KEY(handler_ns),
    SORT_KEY(handler_max_ns),
    SORT_KEY(max_wait_ns),
    SORT_KEY(long_handlers),
    SORT_KEY(restarts),
    SORT_KEY(links),
    SORT_KEY(monitors),
    SORT_KEY(rss_bytes),
    SORT_KEY(cpu_ns),
#undef SORT_KEY
};

static uint64_t stat_at(const hive_actor_stats_t *s, size_t offset) {
  uint64_t v;
  memcpy(&v, (const char *)s + offset, sizeof(v));
  return v;
}

/* What ps sorts: 16 bytes an actor, not its whole statistics, so that
 * sorting 100 000 actors takes 1.6 MB. */
typedef struct {
  uint64_t key;
  hive_pid_t pid;
} ranked_t;

static int by_key(const void *a, const void *b, void *sign) {
  const ranked_t *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -*(int *)sign : *(int *)sign;
  return x->pid < y->pid ? -1 : x->pid > y->pid; /* a stable order for paging */
}

static bool actor_matches(const hive_actor_stats_t *s, const char *filter) {
  char pid[HIVE_PID_STRLEN];
  hive_pid_format(s->pid, pid, sizeof(pid));
  return strstr(pid, filter) != NULL || strstr(s->name, filter) != NULL ||
         strstr(s->behaviour, filter) != NULL;
}

/*
 * ps: {"ok", "total": actors that pass the filter, "actors": [the page]}.
 * Every actor's counters are read (hive_actor_stats is a few loads each)
 * to rank it, then only the page's are read again and packed: a node of
 * 100 000 actors answers a sorted page of 50 in about 16 ms. An actor
 * that ends between the two reads is left out of its page.
 */
static int query_actors(hive_t *h, const hive__admin_query_t *q, msgpack_packer *pk) {
  bool sorted = q->sort != NULL && strcmp(q->sort, "pid") != 0;
  size_t key = 0, nkeys = sizeof(sort_keys) / sizeof(sort_keys[0]);
  if (sorted) {
    while (key < nkeys && strcmp(sort_keys[key].name, q->sort) != 0)
      key++;
    if (key == nkeys) {
      char why[96];
      snprintf(why, sizeof(why), "cannot sort by '%.32s': not a counter of an actor", q->sort);
      return pack_error(pk, HIVE_EINVAL, why);
    }
  }
  size_t n;
  hive_pid_t *pids = hive__admin_all_pids(h, &n);
  ranked_t *ranked = pids != NULL ? malloc((n ? n : 1) * sizeof(*ranked)) : NULL;
  size_t live = 0;
  for (size_t i = 0; ranked != NULL && i < n; i++) {
    hive_actor_stats_t s;
    if (hive_actor_stats(h, pids[i], &s) == HIVE_OK &&
        (q->filter == NULL || actor_matches(&s, q->filter)))
      ranked[live++] = (ranked_t){sorted ? stat_at(&s, sort_keys[key].offset) : 0, s.pid};
  }
  free(pids);
  if (ranked == NULL)
    return pack_error(pk, HIVE_ENOMEM, "out of memory");
  if (sorted) {
    int sign = q->ascending ? 1 : -1;
    qsort_r(ranked, live, sizeof(*ranked), by_key, &sign);
  }
  size_t first = q->offset < live ? q->offset : live;
  size_t count = live - first;
  if (q->limit != 0 && count > q->limit)
    count = q->limit;
  hive_actor_stats_t *page = malloc((count ? count : 1) * sizeof(*page));
  if (page == NULL) {
    free(ranked);
    return pack_error(pk, HIVE_ENOMEM, "out of memory");
  }
  size_t shown = 0;
  for (size_t i = first; i < first + count; i++)
    if (hive_actor_stats(h, ranked[i].pid, &page[shown]) == HIVE_OK)
      shown++;
  free(ranked);
  pack_ok(pk, 2);
  hive__pack_key_u64(pk, "total", live);
  hive__pack_str(pk, "actors");
  msgpack_pack_array(pk, (uint32_t)shown);
  for (size_t i = 0; i < shown; i++)
    hive__pack_actor_stats(pk, &page[i]);
  free(page);
  return HIVE_OK;
}

/* Resolves "<0.12.3>", "0.12.3" or a registered name to a live actor. */
static int query_resolve(hive_t *h, const char *target, hive_pid_t *pid, char *why,
                         size_t why_size) {
  if (target == NULL || target[0] == '\0') {
    snprintf(why, why_size, "this op needs a target: a pid or a name");
    return HIVE_EINVAL;
  }
  if (hive_pid_parse(target, pid) == HIVE_OK) {
    hive_actor_stats_t s;
    if (hive_actor_stats(h, *pid, &s) == HIVE_OK)
      return HIVE_OK;
    snprintf(why, why_size, "no actor %.40s", target);
    return HIVE_ENOPROC;
  }
  *pid = strlen(target) <= HIVE_NAME_MAX ? hive_whereis(h, target) : 0;
  if (*pid != 0)
    return HIVE_OK;
  snprintf(why, why_size, "no actor named '%.*s'", HIVE_NAME_MAX, target);
  return HIVE_ENOPROC;
}

static int query_stats(hive_t *h, const char *target, msgpack_packer *pk) {
  char why[HIVE_NAME_MAX + 64];
  hive_pid_t pid;
  hive_actor_stats_t s;
  int rc = query_resolve(h, target, &pid, why, sizeof(why));
  if (rc != HIVE_OK)
    return pack_error(pk, rc, why);
  if (hive_actor_stats(h, pid, &s) != HIVE_OK)
    return pack_error(pk, HIVE_ENOPROC, "the actor ended");
  pack_ok(pk, 1);
  hive__pack_str(pk, "actor");
  hive__pack_actor_stats(pk, &s);
  return HIVE_OK;
}

static int query_kill(hive_t *h, const char *target, msgpack_packer *pk) {
  char why[HIVE_NAME_MAX + 64];
  hive_pid_t pid;
  int rc = query_resolve(h, target, &pid, why, sizeof(why));
  if (rc != HIVE_OK)
    return pack_error(pk, rc, why);
  if (hive_kill(h, pid) != HIVE_OK)
    return pack_error(pk, HIVE_ENOPROC, "the actor ended");
  char text[HIVE_PID_STRLEN];
  hive_log(h, HIVE_LOG_INFO, "admin: killed %s (%s)", hive_pid_format(pid, text, sizeof(text)),
           target);
  pack_ok(pk, 1);
  hive__pack_key_pid(pk, "pid", pid);
  return HIVE_OK;
}

/* ---- the supervision tree ------------------------------------------------ */

/* The children of the supervisor pid, in a new array (*n of them); NULL
 * when it has none, or cannot tell. */
static hive_child_info_t *query_children(hive_t *h, hive_pid_t pid, size_t *n) {
  hive_child_info_t *kids = NULL;
  size_t again;
  if (hive_sup_which_children(h, pid, NULL, 0, n) != HIVE_OK || *n == 0 ||
      (kids = malloc(*n * sizeof(*kids))) == NULL ||
      hive_sup_which_children(h, pid, kids, *n, &again) != HIVE_OK) {
    free(kids);
    *n = 0;
    return NULL;
  }
  if (again < *n)
    *n = again; /* some were deleted meanwhile */
  return kids;
}

/* Packs one node of the tree: a child (pid 0: not running), and, for a
 * running supervisor, its own children, depth first; at most max of them
 * (0: all), with children_total saying how many there were. */
static void query_pack_node(hive_t *h, msgpack_packer *pk, hive_pid_t pid, const char *id,
                            bool supervisor, uint64_t restarts, size_t max, int depth) {
  hive_actor_stats_t s = {.pid = pid, .behaviour = ""};
  if (pid != 0)
    hive_actor_stats(h, pid, &s);
  size_t n = 0;
  hive_child_info_t *kids =
      supervisor && pid != 0 && depth < QUERY_TREE_DEPTH_MAX ? query_children(h, pid, &n) : NULL;
  size_t shown = max != 0 && n > max ? max : n;
  msgpack_pack_map(pk, shown < n ? 8 : 7);
  hive__pack_key_pid(pk, "pid", pid);
  hive__pack_key_str(pk, "id", id);
  hive__pack_key_str(pk, "name", s.name);
  hive__pack_key_str(pk, "behaviour", s.behaviour);
  hive__pack_key_str(pk, "type", supervisor ? "supervisor" : "worker");
  hive__pack_key_u64(pk, "restarts", restarts);
  if (shown < n)
    hive__pack_key_u64(pk, "children_total", n);
  hive__pack_str(pk, "children");
  msgpack_pack_array(pk, (uint32_t)shown);
  for (size_t i = 0; i < shown; i++)
    query_pack_node(h, pk, kids[i].pid, kids[i].id, kids[i].type == HIVE_CHILD_SUPERVISOR,
                    kids[i].restarts, max, depth + 1);
  free(kids);
}

/* The roots are the supervisors no other supervisor started. */
static int query_tree(hive_t *h, size_t max_children, msgpack_packer *pk) {
  size_t n;
  hive_pid_t *pids = hive__admin_all_pids(h, &n);
  if (pids == NULL)
    return pack_error(pk, HIVE_ENOMEM, "out of memory");
  size_t roots = 0;
  for (size_t i = 0; i < n; i++) {
    hive_actor_stats_t s, parent;
    bool root =
        hive_actor_stats(h, pids[i], &s) == HIVE_OK && s.supervisor &&
        (s.parent == 0 || hive_actor_stats(h, s.parent, &parent) != HIVE_OK || !parent.supervisor);
    if (root)
      pids[roots++] = pids[i];
  }
  pack_ok(pk, 1);
  hive__pack_str(pk, "tree");
  msgpack_pack_array(pk, (uint32_t)roots);
  for (size_t i = 0; i < roots; i++)
    query_pack_node(h, pk, pids[i], "", true, 0, max_children, 0);
  free(pids);
  return HIVE_OK;
}

/* ---- node, workers, the cluster ------------------------------------------ */

/* The gateway's counters (docs/admin-protocol.md, "gateway"). */
static void query_pack_gateway(msgpack_packer *pk, const hive_gateway_stats_t *gs) {
  msgpack_pack_map(pk, 9);
  hive__pack_key_u64(pk, "connections", gs->connections);
  hive__pack_key_u64(pk, "accepted", gs->accepted);
  hive__pack_key_u64(pk, "refused", gs->refused);
  hive__pack_key_u64(pk, "frames_in", gs->frames_in);
  hive__pack_key_u64(pk, "frames_out", gs->frames_out);
  hive__pack_key_u64(pk, "bytes_in", gs->bytes_in);
  hive__pack_key_u64(pk, "bytes_out", gs->bytes_out);
  hive__pack_key_u64(pk, "slow_reader_closes", gs->slow_reader_closes);
  hive__pack_str(pk, "errors");
  msgpack_pack_map(pk, HIVE_GW_ERROR_KINDS);
  for (int k = 0; k < HIVE_GW_ERROR_KINDS; k++)
    hive__pack_key_u64(pk, hive_gateway_error_name(k), gs->errors[k]);
}

static int query_node(hive_t *h, msgpack_packer *pk) {
  hive_node_stats_t ns;
  hive_node_stats(h, &ns);
  hive_gateway_stats_t gs;
  hive_gateway_stats(h, &gs);
  pack_ok(pk, gs.running ? 3 : 2);
  if (gs.running) {
    hive__pack_str(pk, "gateway");
    query_pack_gateway(pk, &gs);
  }
  hive__pack_str(pk, "node");
  msgpack_pack_map(pk, 15);
  hive__pack_key_u64(pk, "node_id", h->node_id);
  hive__pack_key_u64(pk, "workers", ns.workers);
  hive__pack_key_u64(pk, "blocking_workers", ns.blocking_workers);
  hive__pack_key_u64(pk, "actors_alive", ns.actors_alive);
  hive__pack_key_u64(pk, "actors_spawned", ns.actors_spawned);
  hive__pack_key_u64(pk, "actors_exited", ns.actors_exited);
  hive__pack_str(pk, "exits");
  msgpack_pack_map(pk, HIVE_REASON_KINDS);
  for (int k = 0; k < HIVE_REASON_KINDS; k++)
    hive__pack_key_u64(pk, hive__reason_name(k), ns.exits[k]);
  hive__pack_key_u64(pk, "messages", ns.messages);
  hive__pack_key_u64(pk, "sent", ns.sent);
  hive__pack_key_u64(pk, "processed", ns.processed);
  hive__pack_key_u64(pk, "queued", ns.queued);
  hive__pack_key_u64(pk, "dead_letters", ns.dead_letters);
  hive__pack_key_u64(pk, "dropped", ns.dropped);
  hive__pack_key_u64(pk, "late_replies", ns.late_replies);
  hive__pack_key_u64(pk, "restarts", ns.restarts);
  unsigned threads = ns.workers + ns.blocking_workers;
  hive__pack_str(pk, "workers");
  msgpack_pack_array(pk, threads);
  for (unsigned i = 0; i < threads; i++) {
    hive_worker_stats_t w;
    hive_worker_stats(h, i, &w);
    msgpack_pack_map(pk, 8);
    hive__pack_key_u64(pk, "index", w.index);
    hive__pack_key_bool(pk, "blocking", w.blocking);
    hive__pack_key_u64(pk, "turns", w.turns);
    hive__pack_key_u64(pk, "messages", w.messages);
    hive__pack_key_u64(pk, "steals_tried", w.steals_tried);
    hive__pack_key_u64(pk, "steals_won", w.steals_won);
    hive__pack_key_u64(pk, "parks", w.parks);
    hive__pack_key_u64(pk, "busy_ns", w.busy_ns);
  }
  return HIVE_OK;
}

static void query_pack_cluster_node(msgpack_packer *pk, const hive_node_info_t *n,
                                    uint64_t now_ms) {
  msgpack_pack_map(pk, 14);
  hive__pack_key_u64(pk, "id", n->id);
  hive__pack_key_str(pk, "name", n->name);
  hive__pack_key_u64(pk, "incarnation", n->incarnation);
  hive__pack_key_bool(pk, "self", n->self);
  hive__pack_key_u64(pk, "started_ms", n->started_ms);
  hive__pack_key_u64(pk, "uptime_ms",
                     n->started_ms != 0 && now_ms > n->started_ms ? now_ms - n->started_ms : 0);
  hive__pack_key_u64(pk, "heartbeat_age_ms", n->heartbeat_age_ms);
  hive__pack_key_u64(pk, "actors", n->actors);
  hive__pack_key_u64(pk, "msgs_in", n->msgs_in);
  hive__pack_key_u64(pk, "msgs_out", n->msgs_out);
  hive__pack_key_u64(pk, "bytes_in", n->bytes_in);
  hive__pack_key_u64(pk, "bytes_out", n->bytes_out);
  hive__pack_key_u64(pk, "dead_letters", n->dead_letters);
  hive__pack_key_u64(pk, "downs", n->downs);
}

static int query_nodes(hive_t *h, msgpack_packer *pk) {
  if (h->nodes == NULL)
    return pack_error(pk, HIVE_ENOTSUP, "this node is in no cluster");
  hive_node_info_t *nodes = malloc(QUERY_NODES_MAX * sizeof(*nodes));
  if (nodes == NULL)
    return pack_error(pk, HIVE_ENOMEM, "out of memory");
  int n = h->nodes(h, nodes, QUERY_NODES_MAX);
  if (n < 0) {
    free(nodes);
    return pack_error(pk, HIVE_ENOTSUP, "this node is in no cluster");
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now); /* started_ms is wall-clock time */
  uint64_t now_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
  pack_ok(pk, 1);
  hive__pack_str(pk, "nodes");
  msgpack_pack_array(pk, (uint32_t)n);
  for (int i = 0; i < n; i++)
    query_pack_cluster_node(pk, &nodes[i], now_ms);
  free(nodes);
  return HIVE_OK;
}

static int query_metrics(hive_t *h, msgpack_packer *pk) {
  char *text;
  size_t len;
  if (hive_metrics(h, &text, &len) != HIVE_OK)
    return pack_error(pk, HIVE_ENOMEM, "out of memory");
  pack_ok(pk, 1);
  hive__pack_str(pk, "text");
  msgpack_pack_str(pk, len);
  msgpack_pack_str_body(pk, text, len);
  free(text);
  return HIVE_OK;
}

int hive__admin_query(hive_t *h, const hive__admin_query_t *q, msgpack_packer *pk) {
  const char *op = q->op != NULL ? q->op : "";
  if (strcmp(op, "ps") == 0)
    return query_actors(h, q, pk);
  if (strcmp(op, "stats") == 0)
    return query_stats(h, q->target, pk);
  if (strcmp(op, "kill") == 0)
    return query_kill(h, q->target, pk);
  if (strcmp(op, "tree") == 0)
    return query_tree(h, q->children, pk);
  if (strcmp(op, "node") == 0)
    return query_node(h, pk);
  if (strcmp(op, "nodes") == 0)
    return query_nodes(h, pk);
  if (strcmp(op, "metrics") == 0)
    return query_metrics(h, pk);
  char why[64];
  snprintf(why, sizeof(why), "unknown op '%.31s'", op);
  return pack_error(pk, HIVE_EINVAL, why);
}

/* ---- the admin socket's requests ----------------------------------------- */

/* A count in a request: decimal digits, at most 10 of them. */
static bool parse_count(const char *s, size_t *out) {
  size_t n = strlen(s);
  if (n == 0 || n > 10 || strspn(s, "0123456789") != n)
    return false;
  *out = (size_t)strtoull(s, NULL, 10);
  return true;
}

/* The request's fields, copied out of the msgpack body. */
typedef struct {
  char op[32], target[HIVE_PID_STRLEN + HIVE_NAME_MAX], sort[32], order[8], limit[12], offset[12],
      filter[HIVE_NAME_MAX + 1], children[12];
} request_fields_t;

/*
 * Parses a request: one map of string keys to string values, "op"
 * required. False, with the reason in why, if the frame is not a request.
 */
static bool request_parse(const void *body, size_t len, request_fields_t *f, char *why,
                          size_t why_size) {
  static const struct {
    const char *key;
    size_t offset, size;
  } keys[] = {
#define FIELD(k) {#k, offsetof(request_fields_t, k), sizeof(((request_fields_t *)0)->k)}
      FIELD(op),    FIELD(target), FIELD(sort),   FIELD(order),
      FIELD(limit), FIELD(offset), FIELD(filter), FIELD(children),
#undef FIELD
  };
  hive_unpacker_t u;
  uint32_t pairs;
  bool ok = false;
  memset(f, 0, sizeof(*f));
  if (hive_unpacker_init(&u, body, len, NULL) != HIVE_OK) {
    snprintf(why, why_size, "the frame is not msgpack");
    return false;
  }
  if (u.count == 0 || hive_unpack_next(&u, "m", &pairs) != HIVE_OK) {
    snprintf(why, why_size, "a request is a msgpack map");
    goto out;
  }
  for (uint32_t i = 0; i < pairs; i++) {
    const char *key, *value;
    size_t key_len, value_len, k = 0, nkeys = sizeof(keys) / sizeof(keys[0]);
    if (hive_unpack_next(&u, "ss", &key, &key_len, &value, &value_len) != HIVE_OK) {
      snprintf(why, why_size, "request keys and values are strings");
      goto out;
    }
    while (k < nkeys && (strlen(keys[k].key) != key_len || memcmp(keys[k].key, key, key_len)))
      k++;
    if (k == nkeys) {
      snprintf(why, why_size, "unknown field '%.*s'", (int)(key_len < 32 ? key_len : 32), key);
      goto out;
    }
    if (value_len >= keys[k].size || memchr(value, '\0', value_len) != NULL) {
      snprintf(why, why_size, "field '%s' is too long", keys[k].key);
      goto out;
    }
    char *dest = (char *)f + keys[k].offset;
    memcpy(dest, value, value_len);
    dest[value_len] = '\0';
  }
  if (u.pos != u.count) {
    snprintf(why, why_size, "a frame holds one request");
    goto out;
  }
  ok = true;
out:
  hive_unpacker_free(&u);
  return ok;
}

bool hive__admin_answer(hive_t *h, const void *body, size_t len, msgpack_packer *pk) {
  request_fields_t f;
  char why[128];
  if (!request_parse(body, len, &f, why, sizeof(why))) {
    pack_error(pk, HIVE_EINVAL, why);
    hive_log(h, HIVE_LOG_WARNING, "admin socket: bad request (%s); closing that connection", why);
    return false;
  }
  hive__admin_query_t q = {.op = f.op,
                           .target = f.target,
                           .sort = f.sort[0] ? f.sort : NULL,
                           .ascending = strcmp(f.order, "asc") == 0,
                           .filter = f.filter[0] ? f.filter : NULL};
  if ((f.limit[0] && !parse_count(f.limit, &q.limit)) ||
      (f.offset[0] && !parse_count(f.offset, &q.offset)) ||
      (f.children[0] && !parse_count(f.children, &q.children)) ||
      (f.order[0] && strcmp(f.order, "asc") != 0 && strcmp(f.order, "desc") != 0))
    pack_error(pk, HIVE_EINVAL, "limit, offset and children are counts; order is asc or desc");
  else
    hive__admin_query(h, &q, pk);
  return true;
}
