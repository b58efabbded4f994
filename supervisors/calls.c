/*
 * calls.c - hive_sup_start and the hive_sup_* calls: plain threads (and
 * actors on the blocking pool) send a supervisor a request and wait for
 * its answer (internal.h; the supervisor's side is in sup.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int hive_sup_start(hive_t *h, const hive_sup_spec_t *spec, hive_pid_t *out) {
  if (h == NULL || spec == NULL)
    return HIVE_EINVAL;
  int rc = hive__sup_spec_check(spec);
  if (rc != HIVE_OK)
    return rc;
  hive_pid_t pid;
  rc = hive__spawn(h, hive_sup_behaviour(), spec, sizeof(*spec), NULL,
                   &(hive__spawn_extra_t){.supervisor = true}, &pid);
  if (rc != HIVE_OK)
    return rc;
  if (hive__tls.actor == NULL) /* top level: hive_stop ends it before the rest */
    hive__node_stop_first(h, pid);
  if (out != NULL)
    *out = pid;
  return HIVE_OK;
}

/* Sends a call and waits for the answer (plain threads, blocking actors). */
static int sup_call(hive_t *h, hive_pid_t sup, const sup_call_t *call, sup_answer_t *answer,
                    void **extra) {
  if (h == NULL || sup == 0)
    return HIVE_EINVAL;
  void *reply;
  size_t len;
  int rc = hive_ask(h, sup, SUP_TAG_CALL, call, sizeof(*call), -1, &reply, &len);
  if (rc != HIVE_OK)
    return rc;
  if (len < sizeof(*answer)) {
    free(reply);
    return HIVE_EINVAL; /* not a supervisor */
  }
  memcpy(answer, reply, sizeof(*answer));
  if (extra != NULL)
    *extra = reply;
  else
    free(reply);
  return answer->rc;
}

static int sup_call_id(sup_call_t *call, const char *id) {
  if (!hive__sup_name_ok(id))
    return HIVE_EINVAL;
  snprintf(call->id, sizeof(call->id), "%s", id);
  return HIVE_OK;
}

int hive_sup_start_child(hive_t *h, hive_pid_t sup, const hive_child_spec_t *spec, const void *arg,
                         size_t arg_len, hive_pid_t *out) {
  if (arg_len > 0 && arg == NULL)
    return HIVE_EINVAL;
  sup_call_t call = {.op = CALL_START, .spec = spec, .arg = arg, .arg_len = arg_len};
  sup_answer_t answer;
  int rc = sup_call(h, sup, &call, &answer, NULL);
  if (rc == HIVE_OK && out != NULL)
    *out = answer.pid;
  return rc;
}

int hive_sup_terminate_child(hive_t *h, hive_pid_t sup, const char *id, hive_pid_t pid) {
  sup_call_t call = {.op = CALL_TERMINATE, .pid = pid};
  if (id != NULL && sup_call_id(&call, id) != HIVE_OK)
    return HIVE_EINVAL;
  if (id == NULL && pid == 0)
    return HIVE_EINVAL;
  sup_answer_t answer;
  return sup_call(h, sup, &call, &answer, NULL);
}

int hive_sup_restart_child(hive_t *h, hive_pid_t sup, const char *id, hive_pid_t *out) {
  sup_call_t call = {.op = CALL_RESTART};
  if (sup_call_id(&call, id) != HIVE_OK)
    return HIVE_EINVAL;
  sup_answer_t answer;
  int rc = sup_call(h, sup, &call, &answer, NULL);
  if (rc == HIVE_OK && out != NULL)
    *out = answer.pid;
  return rc;
}

int hive_sup_delete_child(hive_t *h, hive_pid_t sup, const char *id) {
  sup_call_t call = {.op = CALL_DELETE};
  if (sup_call_id(&call, id) != HIVE_OK)
    return HIVE_EINVAL;
  sup_answer_t answer;
  return sup_call(h, sup, &call, &answer, NULL);
}

int hive_sup_which_children(hive_t *h, hive_pid_t sup, hive_child_info_t *out, size_t max,
                            size_t *count) {
  if (count == NULL || (max > 0 && out == NULL))
    return HIVE_EINVAL;
  sup_call_t call = {.op = CALL_WHICH};
  sup_answer_t answer;
  void *reply = NULL;
  int rc = sup_call(h, sup, &call, &answer, &reply);
  if (rc == HIVE_OK) {
    *count = answer.count;
    size_t n = answer.count < max ? answer.count : max;
    if (n > 0) /* out may be NULL when max is 0: just the count */
      memcpy(out, (sup_answer_t *)reply + 1, n * sizeof(*out));
  }
  free(reply);
  return rc;
}

int hive_sup_count_children(hive_t *h, hive_pid_t sup, hive_child_counts_t *out) {
  if (out == NULL)
    return HIVE_EINVAL;
  sup_call_t call = {.op = CALL_COUNT};
  sup_answer_t answer;
  int rc = sup_call(h, sup, &call, &answer, NULL);
  if (rc == HIVE_OK)
    *out = answer.counts;
  return rc;
}
