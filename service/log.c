/*
 * log.c - a service's log: one logfmt line per event,
 *
 *   ts=2026-11-30T16:05:01.250Z level=info actor=<0.4.1> msg="job 7 done"
 *
 * written with one write(2) each, so lines from several threads never
 * interleave. actor= names the actor whose callback logged the line.
 */
#define _GNU_SOURCE /* O_CLOEXEC with _POSIX_C_SOURCE */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define LOG_LINE_MAX 1024

static const char *log_level_name(int level) {
  switch (level) {
  case HIVE_LOG_DEBUG:
    return "debug";
  case HIVE_LOG_INFO:
    return "info";
  case HIVE_LOG_WARNING:
    return "warn";
  default:
    return "error";
  }
}

void hive__service_log(void *user, int level, const char *line) {
  service_internal_t *in = user;
  char out[LOG_LINE_MAX];
  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  size_t n = strftime(out, sizeof(out), "ts=%Y-%m-%dT%H:%M:%S", &tm);
  n += (size_t)snprintf(out + n, sizeof(out) - n, ".%03ldZ level=%s", now.tv_nsec / 1000000,
                        log_level_name(level));
  hive_pid_t actor = hive_current_actor();
  if (actor != 0) {
    char pid[HIVE_PID_STRLEN];
    hive_pid_format(actor, pid, sizeof(pid));
    n += (size_t)snprintf(out + n, sizeof(out) - n, " actor=%s", pid);
  }
  n += (size_t)snprintf(out + n, sizeof(out) - n, " msg=\"");
  /* The message, quoted: '"' and '\' escaped, control characters as \n,
   * \t or \xHH; cut (with "...") rather than split over two lines. */
  const size_t room = sizeof(out) - 6; /* for a cut mark, the quote and the newline */
  for (const unsigned char *c = (const unsigned char *)line; *c != '\0'; c++) {
    char esc[5];
    size_t k;
    if (*c == '"' || *c == '\\')
      k = (size_t)snprintf(esc, sizeof(esc), "\\%c", *c);
    else if (*c == '\n')
      k = (size_t)snprintf(esc, sizeof(esc), "\\n");
    else if (*c == '\t')
      k = (size_t)snprintf(esc, sizeof(esc), "\\t");
    else if (*c < 0x20 || *c == 0x7f)
      k = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *c);
    else
      esc[0] = (char)*c, k = 1;
    if (n + k > room) {
      memcpy(out + n, "...", 3);
      n += 3;
      break;
    }
    memcpy(out + n, esc, k);
    n += k;
  }
  out[n++] = '"';
  out[n++] = '\n';
  const char *p = out;
  while (n > 0) {
    ssize_t put = write(in->log_fd, p, n);
    if (put < 0 && errno == EINTR)
      continue;
    if (put <= 0)
      return; /* nowhere to log to: nothing better to do */
    p += put;
    n -= (size_t)put;
  }
}

static int log_open_file(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int hive__service_log_open(service_internal_t *in) {
  in->log_fd = STDERR_FILENO;
  if (in->log_file == NULL)
    return HIVE_OK;
  int fd = log_open_file(in->log_file);
  if (fd < 0) {
    fprintf(stderr, "cannot open log file %s: %s\n", in->log_file, strerror(errno));
    return HIVE_ESYS;
  }
  in->log_fd = fd;
  return HIVE_OK;
}

void hive__service_log_reopen(hive_service_t *svc, service_internal_t *in) {
  if (in->log_file == NULL)
    return;
  int fd = log_open_file(in->log_file);
  if (fd < 0) { /* keep writing to the old one */
    hive_log(svc->node, HIVE_LOG_ERROR, "cannot reopen log file %s: %s", in->log_file,
             strerror(errno));
    return;
  }
  dup3(fd, in->log_fd, O_CLOEXEC); /* atomic: a line goes to the old file or the new one */
  close(fd);
  hive_log(svc->node, HIVE_LOG_INFO, "log file reopened");
}

void hive__service_log_close(service_internal_t *in) {
  if (in->log_fd != STDERR_FILENO && in->log_fd >= 0)
    close(in->log_fd);
  in->log_fd = STDERR_FILENO;
}
