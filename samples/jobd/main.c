/*
 * main.c - hive-jobd: runs jobs handed to it over the gateway, under a
 * supervision tree, and loses none it accepted (docs/jobd.md,
 * docs/deploying.md). The service toolkit (hive/service.h) gives it its
 * flags, config file, signals, log and systemd notifications; this file
 * only adds jobd's own options and starts its tree (jobd.h draws it).
 */
#include <hive/service.h>
#include <hive/sup.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jobd.h"

static const char *db = "jobd.db";
static unsigned max_running = 0; /* 0: one per worker */
static unsigned max_queued = 100000;
static unsigned keep_results_s = 86400;
static bool isolate = false;

static const hive_service_opt_t jobd_opts[] = {
    {"db", HIVE_OPT_STRING, &db, "FILE", "the job table, an SQLite database (default jobd.db)"},
    {"max-running", HIVE_OPT_UINT, &max_running, "N", "jobs running at once (default: workers)"},
    {"max-queued", HIVE_OPT_UINT, &max_queued, "N", "jobs queued or running (default 100000)"},
    {"keep-results", HIVE_OPT_UINT, &keep_results_s, "SECONDS",
     "how long finished jobs are kept (default 86400)"},
    {"isolate", HIVE_OPT_BOOL, &isolate, NULL, "run every job in a process of its own"},
};

/* The tree jobd.h draws: scheduler, jobs, table, rest_for_one. */
static int jobd_start_tree(hive_t *h, unsigned running, hive_pid_t *out) {
  jobd_table_arg_t table = {.keep_results_s = keep_results_s,
                            .max_queued = max_queued > 0 ? max_queued : 1,
                            .isolate = isolate};
  if (strlen(db) >= sizeof(table.db)) {
    hive_log(h, HIVE_LOG_ERROR, "--db: the path is too long");
    return HIVE_EINVAL;
  }
  strcpy(table.db, db);

  hive_spawn_opts_t sched_opts, jobs_opts, table_opts;
  hive_spawn_opts_init(&sched_opts);
  sched_opts.flags = HIVE_SPAWN_BLOCKING; /* it waits for jobd.jobs to start each job */
  sched_opts.name = JOBD_SCHEDULER;
  hive_spawn_opts_init(&jobs_opts);
  jobs_opts.name = JOBD_JOBS;
  hive_spawn_opts_init(&table_opts);
  table_opts.flags = HIVE_SPAWN_BLOCKING; /* a commit waits for the disk */
  table_opts.name = JOBD_TABLE;

  hive_child_spec_t job;
  hive_child_spec_init(&job);
  job.id = "job";
  job.behaviour = &jobd_job;
  job.restart = HIVE_RESTART_TEMPORARY; /* a retry is the scheduler's call */
  job.shutdown_ms = 2000;
  hive_sup_spec_t jobs;
  hive_sup_spec_init(&jobs);
  jobs.strategy = HIVE_SUP_SIMPLE_ONE_FOR_ONE;
  jobs.children = &job;
  jobs.nchildren = 1;

  hive_child_spec_t children[3];
  for (int i = 0; i < 3; i++)
    hive_child_spec_init(&children[i]);
  children[0].id = "scheduler";
  children[0].behaviour = &jobd_scheduler;
  children[0].arg = &running;
  children[0].arg_len = sizeof(running);
  children[0].opts = &sched_opts;
  children[1].id = "jobs";
  children[1].behaviour = hive_sup_behaviour();
  children[1].arg = &jobs;
  children[1].arg_len = sizeof(jobs);
  children[1].opts = &jobs_opts;
  children[1].type = HIVE_CHILD_SUPERVISOR;
  children[1].shutdown_ms = HIVE_SHUTDOWN_INFINITY;
  children[2].id = "table";
  children[2].behaviour = &jobd_table;
  children[2].arg = &table;
  children[2].arg_len = sizeof(table);
  children[2].opts = &table_opts;
  hive_sup_spec_t top;
  hive_sup_spec_init(&top);
  top.strategy = HIVE_SUP_REST_FOR_ONE;
  top.intensity = 3;
  top.period_s = 10;
  top.children = children;
  top.nchildren = 3;
  return hive_sup_start(h, &top, out);
}

int main(int argc, char **argv) {
  hive_service_t svc = {.name = "hive-jobd",
                        .section = "jobd",
                        .version = JOBD_VERSION,
                        .summary = "Runs jobs handed to it over hive's gateway; loses none it "
                                   "accepted (docs/jobd.md).",
                        .opts = jobd_opts,
                        .nopts = sizeof(jobd_opts) / sizeof(jobd_opts[0])};
  int rc = hive_service_init(&svc, argc, argv);
  if (rc != HIVE_OK)
    return rc == HIVE_SERVICE_DONE ? 0 : 2;
  /* Each isolated job holds a blocking-pool thread while its process
   * works (its proxy waits there), as do sleep jobs, the scheduler and the
   * table: the pool gets room for all of them. */
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned workers = svc.config.workers > 0 ? svc.config.workers : cpus > 0 ? (unsigned)cpus : 1;
  unsigned running = max_running > 0 ? max_running : workers;
  if (running > HIVE_MAX_WORKERS - 4) { /* the table and the scheduler need threads too */
    fprintf(stderr, "hive-jobd: --max-running: at most %d\n", HIVE_MAX_WORKERS - 4);
    hive_service_free(&svc);
    return 2;
  }
  if (svc.config.blocking_workers < running + 4)
    svc.config.blocking_workers = running + 4;
  hive_t *h;
  if (hive_service_start(&svc, &h) != HIVE_OK)
    return 1;
  hive_pid_t top;
  rc = jobd_start_tree(h, running, &top);
  if (rc != HIVE_OK) {
    hive_log(h, HIVE_LOG_ERROR, "jobd cannot start its tree: %s", hive_strerror(rc));
    hive_stop(h);
    hive_service_free(&svc);
    return 1;
  }
  hive_register(h, "jobd.sup", top);
  hive_service_watch(&svc, top); /* if the tree gives up, exit 1: systemd restarts jobd */
  if (hive_gateway_port(h) > 0)
    hive_log(h, HIVE_LOG_INFO, "gateway listening on port %d", hive_gateway_port(h));
  hive_service_ready(&svc);
  return hive_service_run(&svc);
}
