/*
 * metrics.c - the node's statistics in the Prometheus text exposition
 * format, version 0.0.4 (hive_metrics).
 *
 * Each metric family is written whole, HELP and TYPE lines first, as the
 * format requires; counters end in _total and times are in seconds, which
 * is what `promtool check metrics` asks for. Actor series carry the labels
 * pid, name and behaviour, so a restarted child shows up as a new series
 * (its pid changed) with the same name.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

typedef struct {
  hive_t *h;
  FILE *out;
  hive_node_stats_t node;
  hive_worker_stats_t *workers; /* owned: node.workers + node.blocking_workers */
  hive_actor_stats_t *actors;   /* owned */
  size_t nactors;
} metrics_t;

static void family(metrics_t *m, const char *name, const char *type, const char *help) {
  fprintf(m->out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newlines escaped. */
static void label_value(FILE *out, const char *s) {
  for (; *s != '\0'; s++) {
    if (*s == '\\' || *s == '"')
      fprintf(out, "\\%c", *s);
    else if (*s == '\n')
      fputs("\\n", out);
    else
      fputc(*s, out);
  }
}

static void node_metric(metrics_t *m, const char *name, const char *type, const char *help,
                        uint64_t value) {
  family(m, name, type, help);
  fprintf(m->out, "%s %llu\n", name, (unsigned long long)value);
}

/* A per-thread or per-actor metric: a uint64_t field of the stats struct,
 * divided by `scale` (1e9 turns nanoseconds into seconds). */
typedef struct {
  const char *name, *type, *help;
  size_t field; /* offsetof */
  double scale;
} metric_t;

static double field_value(const void *stats, const metric_t *mt) {
  uint64_t v;
  memcpy(&v, (const char *)stats + mt->field, sizeof(v));
  return (double)v / mt->scale;
}

#define WORKER(name, field, scale, help)                                                           \
  { name, "counter", help, offsetof(hive_worker_stats_t, field), scale }
static const metric_t worker_metrics[] = {
    WORKER("hive_worker_turns_total", turns, 1, "Actor turns run by the thread."),
    WORKER("hive_worker_messages_total", messages, 1, "Messages handled by the thread."),
    WORKER("hive_worker_steals_tried_total", steals_tried, 1, "Run queues of other workers tried."),
    WORKER("hive_worker_steals_won_total", steals_won, 1, "Actors taken from other workers."),
    WORKER("hive_worker_parks_total", parks, 1, "Times the thread went to sleep."),
    WORKER("hive_worker_busy_seconds_total", busy_ns, 1e9, "Time the thread was awake."),
};

#define ACTOR(name, type, field, scale, help)                                                      \
  { name, type, help, offsetof(hive_actor_stats_t, field), scale }
static const metric_t actor_metrics[] = {
    ACTOR("hive_actor_mailbox_length", "gauge", mailbox_len, 1, "User messages queued now."),
    ACTOR("hive_actor_mailbox_high_water", "gauge", mailbox_hwm, 1,
          "Most user messages ever queued at once."),
    ACTOR("hive_actor_processed_total", "counter", processed, 1, "Messages handed to the handler."),
    ACTOR("hive_actor_dropped_total", "counter", dropped, 1,
          "Messages dropped by the actor's full mailbox."),
    ACTOR("hive_actor_dead_letters_total", "counter", dead_letters, 1,
          "Messages discarded because the actor was ending."),
    ACTOR("hive_actor_handler_seconds_total", "counter", handler_ns, 1e9,
          "Time spent in the handler (sampled estimate)."),
    ACTOR("hive_actor_restarts", "gauge", restarts, 1,
          "Times its supervisor had restarted the child when this actor started."),
};

static void worker_metric(metrics_t *m, const metric_t *mt) {
  family(m, mt->name, mt->type, mt->help);
  unsigned n = m->node.workers + m->node.blocking_workers;
  for (unsigned i = 0; i < n; i++)
    fprintf(m->out, "%s{worker=\"%u\",pool=\"%s\"} %.17g\n", mt->name, m->workers[i].index,
            m->workers[i].blocking ? "blocking" : "workers", field_value(&m->workers[i], mt));
}

/* A family over every actor, or (processes_only) over process actors. */
static void actor_metric_of(metrics_t *m, const metric_t *mt, bool processes_only) {
  family(m, mt->name, mt->type, mt->help);
  for (size_t i = 0; i < m->nactors; i++) {
    const hive_actor_stats_t *s = &m->actors[i];
    if (processes_only && s->os_pid == 0)
      continue;
    char pid[HIVE_PID_STRLEN];
    hive_pid_format(s->pid, pid, sizeof(pid));
    fprintf(m->out, "%s{pid=\"%s\",name=\"", mt->name, pid);
    label_value(m->out, s->name);
    fputs("\",behaviour=\"", m->out);
    label_value(m->out, s->behaviour);
    fprintf(m->out, "\"} %.17g\n", field_value(s, mt));
  }
}

static void actor_metric(metrics_t *m, const metric_t *mt) {
  actor_metric_of(m, mt, false);
}

/* Process actors' children (HIVE_SPAWN_PROCESS). */
static const metric_t process_metrics[] = {
    {"hive_process_resident_bytes", "gauge", "A process actor's resident memory.",
     offsetof(hive_actor_stats_t, rss_bytes), 1},
    {"hive_process_cpu_seconds_total", "counter", "The CPU time a process actor has used.",
     offsetof(hive_actor_stats_t, cpu_ns), 1e9},
};

/* Reads every statistic first, so that the families agree on the actors. */
static int metrics_read(metrics_t *m) {
  hive_node_stats(m->h, &m->node);
  unsigned threads = m->node.workers + m->node.blocking_workers;
  m->workers = calloc(threads, sizeof(*m->workers));
  if (m->workers == NULL)
    return HIVE_ENOMEM;
  for (unsigned i = 0; i < threads; i++)
    hive_worker_stats(m->h, i, &m->workers[i]);
  size_t n;
  hive_pid_t *pids = hive__admin_all_pids(m->h, &n);
  if (pids == NULL)
    return HIVE_ENOMEM;
  m->actors = malloc((n ? n : 1) * sizeof(*m->actors));
  if (m->actors == NULL) {
    free(pids);
    return HIVE_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    if (hive_actor_stats(m->h, pids[i], &m->actors[m->nactors]) == HIVE_OK)
      m->nactors++;
  free(pids);
  return HIVE_OK;
}

#define GATEWAY(name, type, field, help)                                                           \
  { name, type, help, offsetof(hive_gateway_stats_t, field), 1 }
static const metric_t gateway_metrics_table[] = {
    GATEWAY("hive_gateway_connections", "gauge", connections, "Gateway connections open now."),
    GATEWAY("hive_gateway_accepted_total", "counter", accepted, "Gateway connections accepted."),
    GATEWAY("hive_gateway_refused_total", "counter", refused,
            "Gateway connections turned away: gateway_max_conns were open."),
    GATEWAY("hive_gateway_frames_in_total", "counter", frames_in,
            "Frames read from gateway clients."),
    GATEWAY("hive_gateway_frames_out_total", "counter", frames_out,
            "Frames queued for gateway clients."),
    GATEWAY("hive_gateway_bytes_in_total", "counter", bytes_in, "Bytes read from gateway clients."),
    GATEWAY("hive_gateway_bytes_out_total", "counter", bytes_out,
            "Bytes written to gateway clients."),
    GATEWAY("hive_gateway_slow_reader_closes_total", "counter", slow_reader_closes,
            "Gateway clients closed for leaving their answers unread."),
};

static void gateway_metrics(metrics_t *m, const hive_gateway_stats_t *gs) {
  for (size_t i = 0; i < sizeof(gateway_metrics_table) / sizeof(gateway_metrics_table[0]); i++) {
    const metric_t *mt = &gateway_metrics_table[i];
    uint64_t v;
    memcpy(&v, (const char *)gs + mt->field, sizeof(v));
    node_metric(m, mt->name, mt->type, mt->help, v);
  }
  family(m, "hive_gateway_errors_total", "counter", "Gateway error frames sent, by kind.");
  for (int k = 0; k < HIVE_GW_ERROR_KINDS; k++)
    fprintf(m->out, "hive_gateway_errors_total{kind=\"%s\"} %llu\n", hive_gateway_error_name(k),
            (unsigned long long)gs->errors[k]);
}

static void metrics_write(metrics_t *m) {
  const hive_node_stats_t *ns = &m->node;
  node_metric(m, "hive_actors_alive", "gauge", "Actors spawned and not yet ended.",
              ns->actors_alive);
  node_metric(m, "hive_actors_spawned_total", "counter", "Actors spawned since the node started.",
              ns->actors_spawned);
  family(m, "hive_actor_exits_total", "counter", "Actors ended, by the kind of their reason.");
  for (int k = 0; k < HIVE_REASON_KINDS; k++)
    fprintf(m->out, "hive_actor_exits_total{reason=\"%s\"} %llu\n", hive__reason_name(k),
            (unsigned long long)ns->exits[k]);
  node_metric(m, "hive_messages_total", "counter",
              "Messages handled by all threads, system signals included.", ns->messages);
  node_metric(m, "hive_sent_total", "counter",
              "User messages sent to this node's actors, counted by the senders.", ns->sent);
  node_metric(m, "hive_processed_total", "counter", "User messages handed to a handler.",
              ns->processed);
  node_metric(m, "hive_queued", "gauge", "User messages in live actors' mailboxes now.",
              ns->queued);
  node_metric(m, "hive_dead_letters_total", "counter", "Messages that reached no handler.",
              ns->dead_letters);
  node_metric(m, "hive_dropped_total", "counter", "Messages dropped by full drop-new mailboxes.",
              ns->dropped);
  node_metric(m, "hive_late_replies_total", "counter",
              "Replies that came after their request was answered.", ns->late_replies);
  node_metric(m, "hive_restarts_total", "counter", "Children restarted by supervisors.",
              ns->restarts);

  hive_gateway_stats_t gs;
  if (hive_gateway_stats(m->h, &gs) == HIVE_OK && gs.running)
    gateway_metrics(m, &gs);

  for (size_t i = 0; i < sizeof(worker_metrics) / sizeof(worker_metrics[0]); i++)
    worker_metric(m, &worker_metrics[i]);
  for (size_t i = 0; i < sizeof(actor_metrics) / sizeof(actor_metrics[0]); i++)
    actor_metric(m, &actor_metrics[i]);
  bool processes = false;
  for (size_t i = 0; i < m->nactors && !processes; i++)
    processes = m->actors[i].os_pid != 0;
  for (size_t i = 0; processes && i < sizeof(process_metrics) / sizeof(process_metrics[0]); i++)
    actor_metric_of(m, &process_metrics[i], true);
  if (m->h->metrics_more != NULL)
    m->h->metrics_more(m->h, m->out); /* the cluster's, per peer */
}

int hive_metrics(hive_t *h, char **text, size_t *len) {
  if (h == NULL || text == NULL || len == NULL)
    return HIVE_EINVAL;
  HIVE__NOT_IN_CHILD(h);
  metrics_t m = {.h = h};
  int rc = metrics_read(&m);
  if (rc == HIVE_OK) {
    m.out = open_memstream(text, len);
    if (m.out == NULL) {
      rc = HIVE_ENOMEM;
    } else {
      metrics_write(&m);
      if (fclose(m.out) != 0) {
        free(*text);
        rc = HIVE_ENOMEM;
      }
    }
  }
  free(m.workers);
  free(m.actors);
  return rc;
}
