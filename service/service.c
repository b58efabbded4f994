/*
 * service.c - a service's life: start, ready, signals, the systemd
 * watchdog, stop (include/hive/service.h says what each does).
 *
 * Signals are blocked in every thread and read from a signalfd by
 * hive_service_run alone, so no handler runs inside the node. The stop
 * itself (hive_stop, which may take its children's shutdown times) runs
 * on a thread of its own; the main thread goes on reading signals, so a
 * second SIGTERM can still end the process at once.
 */
#define _GNU_SOURCE /* signalfd, eventfd, pthread_condattr_setclock */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* ---- the probe: a worker answering it proves the workers make progress -- */

/* The probe also watches the actors hive_service_watch names: when one
 * ends, the service stops as on SIGTERM, and exits 1. */
#define PROBE_TAG_WATCH (HIVE_TAG_USER + 1)

static int probe_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  (void)ctx;
  if (len != sizeof(service_internal_t *))
    return HIVE_EINVAL;
  memcpy(state, arg, len);
  return HIVE_OK;
}

static int probe_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  service_internal_t *in = *(service_internal_t **)state;
  if (msg->tag >= HIVE_TAG_USER && msg->ref != 0) { /* the watchdog's ask (a DOWN has a ref too) */
    hive_reply(ctx, msg, NULL, 0);
  } else if (msg->tag == PROBE_TAG_WATCH && msg->from == 0 && msg->len == sizeof(hive_pid_t)) {
    hive_pid_t pid;
    uint64_t ref;
    memcpy(&pid, msg->data, sizeof(pid));
    hive_monitor(ctx, pid, &ref);
  } else if (msg->tag == HIVE_TAG_DOWN && !atomic_load(&in->stopping)) { /* not our own stop */
    hive_pid_t pid;
    hive_reason_t reason;
    char who[HIVE_PID_STRLEN], why[128];
    hive_exit_info(msg, &pid, &reason);
    hive_pid_format(pid, who, sizeof(who));
    hive_reason_format(&reason, why, sizeof(why));
    hive_log(hive_node(ctx), HIVE_LOG_ERROR, "%s ended (%s): the service stops, exit status 1", who,
             why);
    atomic_store(&in->failed, true);
    kill(getpid(), SIGTERM); /* hive_service_run takes it */
  }
  return HIVE_OK;
}
static const hive_behaviour_t probe_behaviour = {.name = "service.probe",
                                                 .state_size = sizeof(service_internal_t *),
                                                 .init = probe_init,
                                                 .handle = probe_handle};

int hive_service_watch(hive_service_t *svc, hive_pid_t pid) {
  if (svc == NULL || svc->internal == NULL || svc->node == NULL || pid == 0)
    return HIVE_EINVAL;
  service_internal_t *in = svc->internal;
  return hive_send(svc->node, in->probe, PROBE_TAG_WATCH, &pid, sizeof(pid));
}

static void *service_watchdog_main(void *arg) {
  hive_service_t *svc = arg;
  service_internal_t *in = svc->internal;
  uint64_t half_us = in->watchdog_usec / 2;
  int timeout_ms = (int)(half_us / 1000u) > 0 ? (int)(half_us / 1000u) : 1;
  bool stalled = false;
  pthread_mutex_lock(&in->watchdog_lock);
  while (!in->watchdog_quit) {
    pthread_mutex_unlock(&in->watchdog_lock);
    void *reply = NULL;
    size_t reply_len = 0;
    int rc = hive_ask(svc->node, in->probe, HIVE_TAG_USER, NULL, 0, timeout_ms, &reply, &reply_len);
    free(reply);
    if (rc == HIVE_OK) {
      sd_notify(0, "WATCHDOG=1");
      if (stalled)
        hive_log(svc->node, HIVE_LOG_INFO, "workers make progress again: feeding the watchdog");
      stalled = false;
    } else if (!stalled) {
      hive_log(svc->node, HIVE_LOG_ERROR,
               "no worker answered the watchdog's probe in %d ms (%s): not feeding systemd's "
               "watchdog",
               timeout_ms, hive_strerror(rc));
      stalled = true;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + half_us * 1000u; /* after a failure too */
    until.tv_sec += (time_t)(ns / 1000000000u);
    until.tv_nsec = (long)(ns % 1000000000u);
    pthread_mutex_lock(&in->watchdog_lock);
    while (!in->watchdog_quit &&
           pthread_cond_timedwait(&in->watchdog_cond, &in->watchdog_lock, &until) == 0) {
    }
  }
  pthread_mutex_unlock(&in->watchdog_lock);
  return NULL;
}

static void service_watchdog_stop(service_internal_t *in) {
  if (!in->watchdog_running)
    return;
  pthread_mutex_lock(&in->watchdog_lock);
  in->watchdog_quit = true;
  pthread_cond_signal(&in->watchdog_cond);
  pthread_mutex_unlock(&in->watchdog_lock);
  pthread_join(in->watchdog, NULL);
  in->watchdog_running = false;
}

/* ---- init, start, ready ------------------------------------------------- */

/* An option's value as it was before hive_service_init, to put back. */
typedef union {
  const char *s;
  unsigned u;
  bool b;
} opt_saved_t;

static void opts_save(const hive_service_t *svc, opt_saved_t *saved, bool restore) {
  for (size_t i = 0; i < svc->nopts && svc->opts != NULL; i++) {
    const hive_service_opt_t *o = &svc->opts[i];
    if (o->value == NULL)
      continue;
    switch (o->type) {
    case HIVE_OPT_STRING:
      restore ? (void)(*(const char **)o->value = saved[i].s)
              : (void)(saved[i].s = *(const char **)o->value);
      break;
    case HIVE_OPT_UINT:
      restore ? (void)(*(unsigned *)o->value = saved[i].u)
              : (void)(saved[i].u = *(unsigned *)o->value);
      break;
    case HIVE_OPT_BOOL:
      restore ? (void)(*(bool *)o->value = saved[i].b) : (void)(saved[i].b = *(bool *)o->value);
      break;
    default:
      break;
    }
  }
}

int hive_service_init(hive_service_t *svc, int argc, char **argv) {
  if (svc == NULL || svc->name == NULL || svc->section == NULL || argc < 1 || argv == NULL)
    return HIVE_EINVAL;
  service_internal_t *in = calloc(1, sizeof(*in));
  opt_saved_t *saved = calloc(svc->nopts + 1, sizeof(*saved));
  if (in == NULL || saved == NULL) {
    free(in);
    free(saved);
    return HIVE_ENOMEM;
  }
  in->log_fd = STDERR_FILENO;
  hive_config_init(&svc->config);
  opts_save(svc, saved, false);
  int rc = hive__service_options(svc, in, argc, argv);
  if (rc != HIVE_OK) {
    opts_save(svc, saved, true); /* the user's options as they were */
    hive__service_options_free(in);
    free(in);
  } else {
    svc->internal = in;
  }
  free(saved);
  return rc;
}

/* The signals hive_service_run takes, blocked in the calling thread. */
static void service_block_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, set, NULL);
}

int hive_service_start(hive_service_t *svc, hive_t **out) {
  if (svc == NULL || svc->internal == NULL || out == NULL)
    return HIVE_EINVAL;
  service_internal_t *in = svc->internal;
  sigset_t set;
  service_block_signals(&set); /* before any thread of the node starts */
  int rc = hive__service_log_open(in);
  if (rc != HIVE_OK) {
    hive_service_free(svc);
    return rc;
  }
  svc->config.log_fn = hive__service_log;
  svc->config.log_user = in;
  rc = hive_start(&svc->node, &svc->config);
  if (rc != HIVE_OK) {
    char line[256];
    snprintf(line, sizeof(line), "%s cannot start: %s", svc->name, hive_strerror(rc));
    hive__service_log(in, HIVE_LOG_ERROR, line);
    hive_service_free(svc);
    return rc;
  }
  rc = hive_spawn(svc->node, &probe_behaviour, &in, sizeof(in), NULL, &in->probe);
  if (rc != HIVE_OK) {
    hive_log(svc->node, HIVE_LOG_ERROR, "%s cannot start its probe: %s", svc->name,
             hive_strerror(rc));
    hive_stop(svc->node);
    hive_service_free(svc);
    return rc;
  }
  hive_log(svc->node, HIVE_LOG_INFO, "%s %s starting (pid %ld)", svc->name,
           svc->version != NULL ? svc->version : "", (long)getpid());
  *out = svc->node;
  return HIVE_OK;
}

int hive_service_ready(hive_service_t *svc) {
  if (svc == NULL || svc->internal == NULL || svc->node == NULL)
    return HIVE_EINVAL;
  service_internal_t *in = svc->internal;
  sd_notify(0, "READY=1");
  hive_log(svc->node, HIVE_LOG_INFO, "%s ready", svc->name);
  uint64_t usec = 0;
  if (!in->watchdog_running && sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    in->watchdog_usec = usec;
    in->watchdog_quit = false;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&in->watchdog_cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&in->watchdog_lock, NULL);
    if (pthread_create(&in->watchdog, NULL, service_watchdog_main, svc) != 0) {
      hive_log(svc->node, HIVE_LOG_ERROR, "cannot start the watchdog thread");
      return HIVE_ESYS;
    }
    in->watchdog_running = true;
    hive_log(svc->node, HIVE_LOG_INFO, "feeding systemd's watchdog every %llu ms",
             (unsigned long long)(usec / 2000u));
  }
  return HIVE_OK;
}

/* ---- run and stop --------------------------------------------------------- */

typedef struct {
  hive_t *node;
  int done_fd; /* written once hive_stop has returned */
  int rc;
} stopper_t;

static void *service_stopper_main(void *arg) {
  stopper_t *s = arg;
  s->rc = hive_stop(s->node);
  uint64_t one = 1;
  ssize_t put = write(s->done_fd, &one, sizeof(one));
  (void)put;
  return NULL;
}

int hive_service_run(hive_service_t *svc) {
  if (svc == NULL || svc->internal == NULL || svc->node == NULL)
    return 1;
  service_internal_t *in = svc->internal;
  sigset_t set;
  service_block_signals(&set);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  int done_fd = eventfd(0, EFD_CLOEXEC);
  stopper_t stopper = {.node = svc->node, .done_fd = done_fd, .rc = HIVE_OK};
  pthread_t stopper_thread;
  bool stopping = false;
  if (sfd < 0 || done_fd < 0) {
    hive_log(svc->node, HIVE_LOG_ERROR, "cannot wait for signals: %s; stopping", strerror(errno));
    goto stop_now;
  }
  for (;;) {
    struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = done_fd, .events = POLLIN}};
    if (poll(fds, stopping ? 2 : 1, -1) < 0) {
      if (errno == EINTR)
        continue;
      if (!stopping)
        goto stop_now;
      break; /* the stopper runs: join it */
    }
    if (stopping && fds[1].revents != 0)
      break; /* hive_stop returned */
    struct signalfd_siginfo si;
    if (fds[0].revents == 0 || read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
      continue;
    int sig = (int)si.ssi_signo;
    if (sig == SIGHUP && stopping)
      continue; /* the node may be freed any moment now: leave it alone */
    if (sig == SIGHUP) {
      hive__service_log_reopen(svc, in);
      int level = in->log_level_from_flag ? 0 : hive__service_reload_level(svc, in);
      if (level != 0) {
        hive_log_level_set(svc->node, level);
        hive_log(svc->node, HIVE_LOG_INFO, "log level reloaded from %s", in->config_path);
      }
      continue;
    }
    if (stopping) { /* logged without the node, which hive_stop may have freed */
      char line[96];
      snprintf(line, sizeof(line), "second %s while stopping: exiting at once",
               sigabbrev_np(sig) != NULL ? sigabbrev_np(sig) : "signal");
      hive__service_log(in, HIVE_LOG_ERROR, line);
      _exit(1);
    }
    hive_log(svc->node, HIVE_LOG_INFO, "SIG%s: stopping", sigabbrev_np(sig));
    atomic_store(&in->stopping, true); /* the watched tree's end is ours now */
    sd_notify(0, "STOPPING=1");
    service_watchdog_stop(in);
    if (pthread_create(&stopper_thread, NULL, service_stopper_main, &stopper) != 0)
      goto stop_now;
    stopping = true;
  }
  pthread_join(stopper_thread, NULL);
  goto stopped;
stop_now: /* no thread for the stop: done on this one, without second-signal handling */
  atomic_store(&in->stopping, true);
  service_watchdog_stop(in);
  sd_notify(0, "STOPPING=1");
  stopper.rc = hive_stop(svc->node);
stopped:
  if (sfd >= 0)
    close(sfd);
  if (done_fd >= 0)
    close(done_fd);
  svc->node = NULL;
  char line[128];
  snprintf(line, sizeof(line), "%s stopped%s", svc->name,
           stopper.rc == HIVE_OK ? "" : ": hive_stop failed");
  hive__service_log(in, stopper.rc == HIVE_OK ? HIVE_LOG_INFO : HIVE_LOG_ERROR, line);
  bool failed = atomic_load(&in->failed);
  hive_service_free(svc);
  return stopper.rc == HIVE_OK && !failed ? 0 : 1;
}

void hive_service_free(hive_service_t *svc) {
  if (svc == NULL || svc->internal == NULL)
    return;
  service_internal_t *in = svc->internal;
  service_watchdog_stop(in);
  hive__service_log_close(in);
  hive__service_options_free(in);
  free(in);
  svc->internal = NULL;
}
