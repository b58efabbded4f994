/*
 * errors.c - error names and texts, and printing pids.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "hive/hive.h"

static const struct {
  int code;
  const char *name;
  const char *text;
} errors[] = {
    {HIVE_OK, "HIVE_OK", "success"},
    {HIVE_STOP, "HIVE_STOP", "stopped normally"},
    {HIVE_EINVAL, "HIVE_EINVAL", "invalid argument"},
    {HIVE_ENOMEM, "HIVE_ENOMEM", "out of memory"},
    {HIVE_ENOPROC, "HIVE_ENOPROC", "no such actor"},
    {HIVE_EFULL, "HIVE_EFULL", "mailbox full"},
    {HIVE_ETIMEDOUT, "HIVE_ETIMEDOUT", "timed out"},
    {HIVE_EEXIST, "HIVE_EEXIST", "name already registered"},
    {HIVE_ENOTFOUND, "HIVE_ENOTFOUND", "no such name"},
    {HIVE_ENAMETOOLONG, "HIVE_ENAMETOOLONG", "name too long"},
    {HIVE_EALREADY, "HIVE_EALREADY", "actor already has a name"},
    {HIVE_ESHUTDOWN, "HIVE_ESHUTDOWN", "node is stopping"},
    {HIVE_ELIMIT, "HIVE_ELIMIT", "too many actors"},
    {HIVE_EDEADLK, "HIVE_EDEADLK", "call would wait on its own thread"},
    {HIVE_ESYS, "HIVE_ESYS", "system call failed"},
    {HIVE_ECRASHED, "HIVE_ECRASHED", "callback crashed"},
    {HIVE_ERUNNING, "HIVE_ERUNNING", "child is running"},
    {HIVE_EPAYLOAD, "HIVE_EPAYLOAD", "payload malformed or not of the expected types"},
    {HIVE_EADDRINUSE, "HIVE_EADDRINUSE", "address or socket path in use"},
    {HIVE_ENOTSUP, "HIVE_ENOTSUP", "not available in a process actor's callbacks"},
    {HIVE_ENOCONN, "HIVE_ENOCONN", "node not connected"},
    {HIVE_ETOOBIG, "HIVE_ETOOBIG", "message larger than the cluster carries"},
};

const char *hive_strerror(int err) {
  for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
    if (errors[i].code == err)
      return errors[i].text;
  return "unknown error";
}

const char *hive_err_name(int err) {
  for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
    if (errors[i].code == err)
      return errors[i].name;
  return "HIVE_UNKNOWN";
}

const char *hive_gateway_error_name(int kind) {
  static const char *const names[HIVE_GW_ERROR_KINDS] = {
      "unauthorized", "badframe", "toolarge", "badarg",   "unknownop", "noproc",
      "timeout",      "full",     "busy",     "shutdown", "internal"};
  return kind >= 0 && kind < HIVE_GW_ERROR_KINDS ? names[kind] : "unknown";
}

char *hive_pid_format(hive_pid_t pid, char *buf, size_t size) {
  if (buf != NULL && size > 0)
    snprintf(buf, size, "<%u.%u.%" PRIu32 ">", HIVE_PID_NODE(pid), HIVE_PID_SLOT(pid),
             HIVE_PID_GEN(pid));
  return buf;
}

int hive_pid_parse(const char *text, hive_pid_t *out) {
  if (text == NULL || out == NULL)
    return HIVE_EINVAL;
  bool bracket = text[0] == '<';
  unsigned long part[3];
  const char *p = text + bracket;
  for (int i = 0; i < 3; i++) {
    if (!isdigit((unsigned char)*p))
      return HIVE_EINVAL;
    char *end;
    errno = 0;
    part[i] = strtoul(p, &end, 10);
    if (errno != 0)
      return HIVE_EINVAL;
    p = end;
    if (i < 2 && *p++ != '.')
      return HIVE_EINVAL;
  }
  if (bracket && *p++ != '>')
    return HIVE_EINVAL;
  if (*p != '\0' || part[0] > 255 || part[1] > 0xffffffu || part[2] > UINT32_MAX || part[2] == 0)
    return HIVE_EINVAL;
  *out = ((hive_pid_t)part[0] << 56) | ((hive_pid_t)part[1] << 32) | (hive_pid_t)part[2];
  return HIVE_OK;
}
