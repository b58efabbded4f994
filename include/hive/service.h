/*
 * service.h - what every hive service does the same way, so that none
 * writes it again: flags and a config file, signals, a logfmt log, and
 * systemd's notifications and watchdog. A separate library, libhive-service
 * (it links inih and libsystemd; libhive itself does not).
 *
 * A service's main, whole (docs/deploying.md explains each line):
 *
 *   static const char *db = "jobs.db";
 *   static const hive_service_opt_t opts[] = {
 *       {"db", HIVE_OPT_STRING, &db, "FILE", "the job table"}};
 *   int main(int argc, char **argv) {
 *     hive_service_t svc = {.name = "hive-jobd", .section = "jobd", .version = "1.0",
 *                           .summary = "runs jobs", .opts = opts, .nopts = 1};
 *     int rc = hive_service_init(&svc, argc, argv);
 *     if (rc != HIVE_OK)
 *       return rc == HIVE_SERVICE_DONE ? 0 : 2;   // --help, --version, or a bad flag
 *     hive_t *h;
 *     if (hive_service_start(&svc, &h) != HIVE_OK)
 *       return 1;                                 // the reason is in the log
 *     hive_pid_t top;                             // start the supervision tree,
 *     if (hive_sup_start(h, &spec, &top) != HIVE_OK) ...
 *     hive_service_watch(&svc, top);              // and exit 1 if it gives up
 *     hive_service_ready(&svc);
 *     return hive_service_run(&svc);              // until SIGTERM: 0, or 1
 *   }
 *
 * Options. Every service takes the common ones (--config FILE,
 * --workers N, --log-level debug|info|warn|error, --log-file FILE,
 * --admin-socket PATH, --gateway HOST:PORT, --gateway-unix PATH,
 * --token-file FILE, --http HOST:PORT, --http-token-file FILE, --help,
 * --version) and its own. Each is also a key of
 * the config file's [section] (an INI file, read with inih; a key may use
 * '_' where the flag has '-'). The file is read first, then the flags, so
 * flags win. A bad flag, key or value is printed with the reason and
 * changes nothing.
 *
 * Signals. SIGTERM or SIGINT stops the node in order (hive_stop: the tree,
 * deepest and last started first) and hive_service_run returns 0; a second
 * one while that runs exits at once with 1. SIGHUP reopens the log file
 * (after logrotate moved it) and reloads log_level from the config file,
 * unless --log-level was given. They are blocked in every thread the node
 * starts and taken by hive_service_run alone.
 *
 * The log: one line per event in logfmt, on stderr or --log-file:
 *   ts=2026-11-30T16:05:01.250Z level=info actor=<0.4.1> msg="job 7 done"
 * (actor= when an actor's callback logged it), through hive_log.
 *
 * systemd: with NOTIFY_SOCKET set (Type=notify), READY=1 from
 * hive_service_ready, STOPPING=1 at the first signal, and WATCHDOG=1 every
 * half WatchdogSec while the node's workers make progress: a probe actor
 * must answer within that half, so a node whose every worker is stuck
 * stops feeding it and systemd restarts the service.
 */
#ifndef HIVE_SERVICE_H
#define HIVE_SERVICE_H

#include "hive/hive.h"

#ifdef __cplusplus
extern "C" {
#endif

/* hive_service_init printed --help or --version: exit 0. */
#define HIVE_SERVICE_DONE 1

/* Option types (hive_service_opt_t.type) and what `value` points at. */
#define HIVE_OPT_STRING 1 /* const char **: the string lives until the service ends */
#define HIVE_OPT_UINT 2   /* unsigned * */
#define HIVE_OPT_BOOL 3   /* bool *: a flag without argument sets it; the file says true/false */

typedef struct hive_service_opt {
  const char *name; /* "db": the flag --db, the key db; '-' in flags, '-' or '_' in the file */
  int type;         /* HIVE_OPT_* */
  void *value;      /* where the value goes; its initial value is the default */
  const char *arg;  /* what --help shows after the flag ("FILE"); NULL for a bool */
  const char *help; /* one line for --help */
} hive_service_opt_t;

typedef struct hive_service {
  /* Set by the caller before hive_service_init. */
  const char *name;    /* the program: --help, --version, the log */
  const char *section; /* the config file's section: "jobd" reads [jobd] */
  const char *version;
  const char *summary;            /* one line for --help */
  const hive_service_opt_t *opts; /* the service's own options; may be NULL */
  size_t nopts;
  /* Filled by hive_service_init from the common options, then handed to
   * hive_start by hive_service_start: change what you need in between
   * (its log fields belong to the service's logger). */
  hive_config_t config;
  /* The node, once hive_service_start has started it. */
  hive_t *node;
  void *internal; /* owned by the library */
} hive_service_t;

/*
 * Reads the config file (--config) and the flags into the options and
 * svc->config. HIVE_OK: go on. HIVE_SERVICE_DONE: --help or --version was
 * printed. HIVE_EINVAL: a bad flag or value (printed on stderr, with how to
 * get help); the config file unreadable or malformed: HIVE_EINVAL too, with
 * the file, line and reason printed. Anything but HIVE_OK frees what it
 * took.
 */
HIVE_API int hive_service_init(hive_service_t *svc, int argc, char **argv);

/*
 * Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (the node's
 * threads inherit that), starts the node with svc->config and the logfmt
 * logger, and spawns the watchdog's probe actor. On an error it logs why,
 * frees what hive_service_init took and returns it.
 */
HIVE_API int hive_service_start(hive_service_t *svc, hive_t **out);

/* Watches pid (a top supervisor): if it ends, because it gave up after
 * too many restarts or was killed, the service stops as on SIGTERM and
 * hive_service_run returns 1, so systemd's Restart=on-failure starts it
 * again rather than leave a process that serves nothing. */
HIVE_API int hive_service_watch(hive_service_t *svc, hive_pid_t pid);

/* Tells systemd the service is ready (READY=1) and starts feeding its
 * watchdog when WatchdogSec is set; logs "ready". */
HIVE_API int hive_service_ready(hive_service_t *svc);

/*
 * Waits for signals as the header comment says; after SIGTERM or SIGINT,
 * stops the node and frees everything. Returns the exit status: 0 after
 * an orderly stop, 1 if a watched actor ended or hive_stop failed. (A second stop signal exits the
 * process with 1 from here, at once.)
 */
HIVE_API int hive_service_run(hive_service_t *svc);

/* Frees what hive_service_init took, for a program that does not go on to
 * hive_service_run (after hive_service_start, stop the node first). */
HIVE_API void hive_service_free(hive_service_t *svc);

#ifdef __cplusplus
}
#endif

#endif /* HIVE_SERVICE_H */
