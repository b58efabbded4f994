/*
 * internal.h - what the parts of the service toolkit (service/) share:
 * the state behind hive_service_t.internal.
 */
#ifndef HIVE_SERVICE_INTERNAL_H
#define HIVE_SERVICE_INTERNAL_H

#include <hive/service.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct service_internal {
  /* The common options' values (strings owned through `owned`). */
  const char *config_path, *log_file, *log_level, *admin_socket, *gateway, *gateway_unix,
      *token_file, *http, *http_token_file;
  unsigned workers;
  bool log_level_from_flag; /* SIGHUP then leaves the level alone */
  char **owned;             /* every string handed out to an option, freed at the end */
  size_t nowned, capowned;
  char *token;      /* read from token_file */
  char *http_token; /* read from http_token_file */

  /* The log: lines go to log_fd (stderr, or log_file opened for appending;
   * a reopen dup2()s the new file over it, so the number never changes). */
  int log_fd;

  /* Running. */
  hive_pid_t probe;   /* answers the watchdog's asks */
  pthread_t watchdog; /* feeds systemd's watchdog; joined before the stop */
  bool watchdog_running;
  pthread_mutex_t watchdog_lock;
  pthread_cond_t watchdog_cond;
  bool watchdog_quit;     /* under watchdog_lock */
  uint64_t watchdog_usec; /* WatchdogSec, in microseconds */
  atomic_bool failed;     /* a watched actor ended: exit status 1 */
  atomic_bool stopping;   /* hive_service_run is stopping the node */
} service_internal_t;

/* options.c */
int hive__service_options(hive_service_t *svc, service_internal_t *in, int argc, char **argv);
int hive__service_level_of(const char *name); /* HIVE_LOG_*, or 0 for an unknown name */
/* Reads only the log level from the config file (SIGHUP): the level, or 0. */
int hive__service_reload_level(hive_service_t *svc, service_internal_t *in);
void hive__service_options_free(service_internal_t *in);

/* log.c */
void hive__service_log(void *user, int level, const char *line); /* a hive_log_fn */
int hive__service_log_open(service_internal_t *in); /* HIVE_OK, or HIVE_ESYS (printed) */
void hive__service_log_reopen(hive_service_t *svc, service_internal_t *in);
void hive__service_log_close(service_internal_t *in);

#endif /* HIVE_SERVICE_INTERNAL_H */
