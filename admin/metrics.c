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
#include <stdio.h>
#include <stdlib.h>

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

/* What one worker metric reads. */
typedef double (*worker_value_fn)(const hive_worker_stats_t *w);
static double w_turns(const hive_worker_stats_t *w) {
  return (double)w->turns;
}
static double w_messages(const hive_worker_stats_t *w) {
  return (double)w->messages;
}
static double w_steals_tried(const hive_worker_stats_t *w) {
  return (double)w->steals_tried;
}
static double w_steals_won(const hive_worker_stats_t *w) {
  return (double)w->steals_won;
}
static double w_parks(const hive_worker_stats_t *w) {
  return (double)w->parks;
}
static double w_busy(const hive_worker_stats_t *w) {
  return (double)w->busy_ns / 1e9;
}

static void worker_metric(metrics_t *m, const char *name, const char *help, worker_value_fn fn) {
  family(m, name, "counter", help);
  unsigned n = m->node.workers + m->node.blocking_workers;
  for (unsigned i = 0; i < n; i++)
    fprintf(m->out, "%s{worker=\"%u\",pool=\"%s\"} %.17g\n", name, m->workers[i].index,
            m->workers[i].blocking ? "blocking" : "workers", fn(&m->workers[i]));
}

typedef double (*actor_value_fn)(const hive_actor_stats_t *s);
static double a_len(const hive_actor_stats_t *s) {
  return (double)s->mailbox_len;
}
static double a_hwm(const hive_actor_stats_t *s) {
  return (double)s->mailbox_hwm;
}
static double a_processed(const hive_actor_stats_t *s) {
  return (double)s->processed;
}
static double a_dropped(const hive_actor_stats_t *s) {
  return (double)s->dropped;
}
static double a_dead(const hive_actor_stats_t *s) {
  return (double)s->dead_letters;
}
static double a_handler(const hive_actor_stats_t *s) {
  return (double)s->handler_ns / 1e9;
}
static double a_restarts(const hive_actor_stats_t *s) {
  return (double)s->restarts;
}

static void actor_metric(metrics_t *m, const char *name, const char *type, const char *help,
                         actor_value_fn fn) {
  family(m, name, type, help);
  for (size_t i = 0; i < m->nactors; i++) {
    const hive_actor_stats_t *s = &m->actors[i];
    char pid[HIVE_PID_STRLEN];
    hive_pid_format(s->pid, pid, sizeof(pid));
    fprintf(m->out, "%s{pid=\"%s\",name=\"", name, pid);
    label_value(m->out, s->name);
    fputs("\",behaviour=\"", m->out);
    label_value(m->out, s->behaviour);
    fprintf(m->out, "\"} %.17g\n", fn(s));
  }
}

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

static void metrics_write(metrics_t *m) {
  const hive_node_stats_t *ns = &m->node;
  node_metric(m, "hive_actors_alive", "gauge", "Actors spawned and not yet ended.",
              ns->actors_alive);
  node_metric(m, "hive_actors_spawned_total", "counter", "Actors spawned since the node started.",
              ns->actors_spawned);
  family(m, "hive_actor_exits_total", "counter", "Actors ended, by the kind of their reason.");
  for (int k = 0; k < HIVE_REASON_KINDS; k++)
    fprintf(m->out, "hive_actor_exits_total{reason=\"%s\"} %llu\n", hive__admin_reason_name(k),
            (unsigned long long)ns->exits[k]);
  node_metric(m, "hive_messages_total", "counter",
              "Messages handled by all threads, system signals included.", ns->messages);
  node_metric(m, "hive_dead_letters_total", "counter", "Messages that reached no handler.",
              ns->dead_letters);
  node_metric(m, "hive_dropped_total", "counter", "Messages dropped by full drop-new mailboxes.",
              ns->dropped);
  node_metric(m, "hive_late_replies_total", "counter",
              "Replies that came after their request was answered.", ns->late_replies);
  node_metric(m, "hive_restarts_total", "counter", "Children restarted by supervisors.",
              ns->restarts);

  worker_metric(m, "hive_worker_turns_total", "Actor turns run by the thread.", w_turns);
  worker_metric(m, "hive_worker_messages_total", "Messages handled by the thread.", w_messages);
  worker_metric(m, "hive_worker_steals_tried_total", "Run queues of other workers tried.",
                w_steals_tried);
  worker_metric(m, "hive_worker_steals_won_total", "Actors taken from other workers.",
                w_steals_won);
  worker_metric(m, "hive_worker_parks_total", "Times the thread went to sleep.", w_parks);
  worker_metric(m, "hive_worker_busy_seconds_total", "Time the thread was awake.", w_busy);

  actor_metric(m, "hive_actor_mailbox_length", "gauge", "User messages queued now.", a_len);
  actor_metric(m, "hive_actor_mailbox_high_water", "gauge",
               "Most user messages ever queued at once.", a_hwm);
  actor_metric(m, "hive_actor_processed_total", "counter", "Messages handed to the handler.",
               a_processed);
  actor_metric(m, "hive_actor_dropped_total", "counter",
               "Messages dropped by the actor's full mailbox.", a_dropped);
  actor_metric(m, "hive_actor_dead_letters_total", "counter",
               "Messages discarded because the actor was ending.", a_dead);
  actor_metric(m, "hive_actor_handler_seconds_total", "counter",
               "Time spent in the handler (sampled estimate).", a_handler);
  actor_metric(m, "hive_actor_restarts", "gauge",
               "Times its supervisor had restarted the child when this actor started.", a_restarts);
}

int hive_metrics(hive_t *h, char **text, size_t *len) {
  if (h == NULL || text == NULL || len == NULL)
    return HIVE_EINVAL;
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
