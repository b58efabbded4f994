/*
 * log.c - the node's logger, and printing exit reasons.
 *
 * Lines go to stderr unless hive_config_t.log_fn redirects them; lines below
 * the configured level are dropped before they are formatted. Each line is
 * formatted into a buffer first and handed over whole, so lines from several
 * workers never interleave.
 */
#define _GNU_SOURCE /* sigabbrev_np */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runtime.h"

#define LOG_LINE_MAX 512

static const char *log_level_name(int level) {
  switch (level) {
  case HIVE_LOG_DEBUG:
    return "debug";
  case HIVE_LOG_INFO:
    return "info";
  case HIVE_LOG_WARNING:
    return "warning";
  default:
    return "error";
  }
}

void hive__vlog(hive_t *h, int level, const char *fmt, va_list ap) {
  if (h == NULL || level < atomic_load_explicit(&h->log_level, memory_order_relaxed))
    return;
  char line[LOG_LINE_MAX];
  vsnprintf(line, sizeof(line), fmt, ap);
  if (h->log_fn != NULL)
    h->log_fn(h->log_user, level, line);
  else
    fprintf(stderr, "hive %s: %s\n", log_level_name(level), line);
}

void hive_log(hive_t *h, int level, const char *fmt, ...) {
  if (h == NULL || fmt == NULL)
    return;
  va_list ap;
  va_start(ap, fmt);
  hive__vlog(h, level, fmt, ap);
  va_end(ap);
}

int hive_log_level_set(hive_t *h, int level) {
  if (h == NULL || level < HIVE_LOG_DEBUG || level > HIVE_LOG_NONE)
    return HIVE_EINVAL;
  atomic_store_explicit(&h->log_level, level, memory_order_relaxed);
  return HIVE_OK;
}

hive_pid_t hive_current_actor(void) {
  hive__actor_t *a = hive__tls.actor;
  return a != NULL ? atomic_load_explicit(&a->pid, memory_order_relaxed) : 0;
}

const char *hive__reason_name(int kind) {
  static const char *const names[HIVE_REASON_KINDS] = {
      "normal", "shutdown", "kill", "error", "crash", "timeout", "noproc", "noconnection"};
  return kind >= 0 && kind < HIVE_REASON_KINDS ? names[kind] : "unknown";
}

int hive_reason_format(const hive_reason_t *r, char *buf, size_t size) {
  if (r == NULL || (buf == NULL && size > 0))
    return HIVE_EINVAL;
  if (r->kind < HIVE_REASON_NORMAL || r->kind > HIVE_REASON_NOCONNECTION)
    return snprintf(buf, size, "unknown reason %d", r->kind);
  const char *kind = hive__reason_name(r->kind);
  const char *text = r->text != NULL && r->text[0] != '\0' ? r->text : NULL;
  if (r->kind == HIVE_REASON_ERROR)
    return text ? snprintf(buf, size, "error %d (%s)", r->code, text)
                : snprintf(buf, size, "error %d (%s)", r->code, hive_strerror(r->code));
  if (r->kind == HIVE_REASON_CRASH) {
    const char *sig = sigabbrev_np(r->code);
    return text ? snprintf(buf, size, "crash SIG%s (%s)", sig ? sig : "?", text)
                : snprintf(buf, size, "crash SIG%s", sig ? sig : "?");
  }
  return text ? snprintf(buf, size, "%s (%s)", kind, text) : snprintf(buf, size, "%s", kind);
}
