/*
 * spec.c - child and supervisor specs: their defaults, their checks, and
 * the deep copies a supervisor keeps, so that a child can be restarted
 * long after the caller's spec is gone (internal.h).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void hive_sup_spec_init(hive_sup_spec_t *spec) {
  if (spec != NULL)
    *spec = (hive_sup_spec_t){.strategy = HIVE_SUP_ONE_FOR_ONE, .intensity = 1, .period_s = 5};
}

void hive_child_spec_init(hive_child_spec_t *child) {
  if (child != NULL)
    *child = (hive_child_spec_t){.restart = HIVE_RESTART_PERMANENT};
}

static void sup_spec_free(hive_sup_spec_t *spec);

void hive__sup_child_free(sup_child_t *c) {
  if (c == NULL)
    return;
  free(c->id);
  if (c->behaviour == hive_sup_behaviour() && c->arg != NULL)
    sup_spec_free(c->arg);
  else
    free(c->arg);
  free((char *)c->opts.name);
  if (c->kill_reserve != NULL)
    hive__msg_free(c->kill_reserve);
  free(c);
}

bool hive__sup_name_ok(const char *id) {
  return id != NULL && id[0] != '\0' && strnlen(id, HIVE_CHILD_ID_MAX + 1) <= HIVE_CHILD_ID_MAX;
}

/* Checks one child spec against the supervisor's settings. */
int hive__sup_child_check(const hive_child_spec_t *c, int strategy, int auto_shutdown) {
  if (c == NULL || c->behaviour == NULL || (c->arg_len > 0 && c->arg == NULL))
    return HIVE_EINVAL;
  if (strategy != HIVE_SUP_SIMPLE_ONE_FOR_ONE && !hive__sup_name_ok(c->id))
    return HIVE_EINVAL;
  if (c->restart < HIVE_RESTART_PERMANENT || c->restart > HIVE_RESTART_TEMPORARY ||
      c->type < HIVE_CHILD_WORKER || c->type > HIVE_CHILD_SUPERVISOR ||
      c->shutdown_ms < HIVE_SHUTDOWN_INFINITY)
    return HIVE_EINVAL;
  if (c->significant &&
      (auto_shutdown == HIVE_AUTO_SHUTDOWN_NEVER || c->restart == HIVE_RESTART_PERMANENT))
    return HIVE_EINVAL; /* as OTP: only transient or temporary, and only if it can matter */
  if (c->behaviour == hive_sup_behaviour() && c->arg_len != sizeof(hive_sup_spec_t))
    return HIVE_EINVAL;
  return HIVE_OK;
}

int hive__sup_spec_check(const hive_sup_spec_t *spec) {
  if (spec == NULL || spec->strategy < HIVE_SUP_ONE_FOR_ONE ||
      spec->strategy > HIVE_SUP_SIMPLE_ONE_FOR_ONE || spec->period_s == 0 ||
      spec->auto_shutdown < HIVE_AUTO_SHUTDOWN_NEVER ||
      spec->auto_shutdown > HIVE_AUTO_SHUTDOWN_ALL_SIGNIFICANT ||
      (spec->nchildren > 0 && spec->children == NULL))
    return HIVE_EINVAL;
  if (spec->strategy == HIVE_SUP_SIMPLE_ONE_FOR_ONE && spec->nchildren != 1)
    return HIVE_EINVAL; /* exactly one template */
  for (size_t i = 0; i < spec->nchildren; i++) {
    int rc = hive__sup_child_check(&spec->children[i], spec->strategy, spec->auto_shutdown);
    if (rc != HIVE_OK)
      return rc;
    for (size_t j = 0; j < i && spec->strategy != HIVE_SUP_SIMPLE_ONE_FOR_ONE; j++)
      if (strcmp(spec->children[i].id, spec->children[j].id) == 0)
        return HIVE_EINVAL; /* duplicate id */
  }
  return HIVE_OK;
}

static hive_sup_spec_t *sup_spec_copy(const hive_sup_spec_t *spec);

/* Gives c its own copies of id, the name and arg (a deep copy for a
 * supervisor child); c's other fields are set. False on no memory (c then
 * holds what was copied, for hive__sup_child_free). */
static bool child_own(sup_child_t *c, const char *id, const char *name, const void *arg,
                      size_t arg_len) {
  c->id = NULL;
  c->opts.name = NULL;
  c->arg = NULL;
  c->arg_len = arg_len;
  if (id != NULL && (c->id = strdup(id)) == NULL)
    return false;
  if (name != NULL && (c->opts.name = strdup(name)) == NULL)
    return false;
  if (arg_len == 0)
    return true;
  if (c->behaviour == hive_sup_behaviour())
    return (c->arg = sup_spec_copy(arg)) != NULL;
  if ((c->arg = malloc(arg_len)) == NULL)
    return false;
  memcpy(c->arg, arg, arg_len);
  return true;
}

/* Copies a child spec (arg overrides the spec's argument if not NULL). */
sup_child_t *hive__sup_child_copy(const hive_child_spec_t *spec, const void *arg, size_t arg_len) {
  sup_child_t *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  if (arg == NULL) {
    arg = spec->arg;
    arg_len = spec->arg_len;
  }
  c->behaviour = spec->behaviour;
  c->restart = spec->restart;
  c->type = spec->type;
  c->significant = spec->significant;
  c->shutdown_ms = spec->shutdown_ms;
  if (c->shutdown_ms == HIVE_SHUTDOWN_DEFAULT)
    c->shutdown_ms = spec->type == HIVE_CHILD_SUPERVISOR ? HIVE_SHUTDOWN_INFINITY
                                                         : SUP_DEFAULT_WORKER_SHUTDOWN_MS;
  if (spec->opts != NULL)
    c->opts = *spec->opts;
  else
    hive_spawn_opts_init(&c->opts);
  c->opts.flags |= HIVE_SPAWN_LINK;
  if (!child_own(c, spec->id, spec->opts != NULL ? spec->opts->name : NULL, arg, arg_len)) {
    hive__sup_child_free(c);
    return NULL;
  }
  return c;
}

sup_child_t *hive__sup_child_clone(const sup_child_t *template, const void *arg, size_t arg_len) {
  sup_child_t *c = malloc(sizeof(*c));
  if (c == NULL)
    return NULL;
  if (arg == NULL) {
    arg = template->arg;
    arg_len = template->arg_len;
  }
  /* The template's settings; none of its state (it never runs). */
  *c = (sup_child_t){.behaviour = template->behaviour,
                     .opts = template->opts,
                     .restart = template->restart,
                     .shutdown_ms = template->shutdown_ms,
                     .type = template->type,
                     .significant = template->significant};
  if (!child_own(c, template->id, template->opts.name, arg, arg_len)) {
    hive__sup_child_free(c);
    return NULL;
  }
  return c;
}

/* Copies src into dst with copies of its own of the id, the spawn options
 * and their name, and the argument (deep for a supervisor child). False on
 * no memory: dst then holds what was copied, for sup_spec_free. */
static bool child_spec_copy(hive_child_spec_t *dst, const hive_child_spec_t *src) {
  *dst = (hive_child_spec_t){.behaviour = src->behaviour,
                             .restart = src->restart,
                             .shutdown_ms = src->shutdown_ms,
                             .type = src->type,
                             .significant = src->significant};
  if (src->id != NULL && (dst->id = strdup(src->id)) == NULL)
    return false;
  if (src->opts != NULL) {
    hive_spawn_opts_t *opts = malloc(sizeof(*opts));
    if (opts == NULL)
      return false;
    *opts = *src->opts;
    opts->name = NULL;
    dst->opts = opts;
    if (src->opts->name != NULL && (opts->name = strdup(src->opts->name)) == NULL)
      return false;
  }
  if (src->arg_len == 0)
    return true;
  if (src->behaviour == hive_sup_behaviour())
    dst->arg = sup_spec_copy(src->arg);
  else if ((dst->arg = malloc(src->arg_len)) != NULL)
    memcpy((void *)dst->arg, src->arg, src->arg_len);
  if (dst->arg == NULL)
    return false;
  dst->arg_len = src->arg_len;
  return true;
}

/* A supervisor spec deep-copied, so a supervisor child can be restarted
 * long after the caller's spec is gone: its nested supervisor then gets
 * the copy as its argument. */
static hive_sup_spec_t *sup_spec_copy(const hive_sup_spec_t *spec) {
  hive_sup_spec_t *copy = malloc(sizeof(*copy));
  if (copy == NULL)
    return NULL;
  *copy = *spec;
  copy->children = NULL;
  copy->nchildren = 0;
  if (spec->nchildren == 0)
    return copy;
  hive_child_spec_t *children = calloc(spec->nchildren, sizeof(*children));
  if (children == NULL) {
    free(copy);
    return NULL;
  }
  copy->children = children;
  for (size_t i = 0; i < spec->nchildren; i++) {
    copy->nchildren = i + 1; /* what sup_spec_free must free */
    if (!child_spec_copy(&children[i], &spec->children[i])) {
      sup_spec_free(copy);
      return NULL;
    }
  }
  return copy;
}

static void sup_spec_free(hive_sup_spec_t *spec) {
  if (spec == NULL)
    return;
  hive_child_spec_t *children = (hive_child_spec_t *)spec->children;
  for (size_t i = 0; i < spec->nchildren; i++) {
    free((char *)children[i].id);
    if (children[i].behaviour == hive_sup_behaviour())
      sup_spec_free((hive_sup_spec_t *)children[i].arg);
    else
      free((void *)children[i].arg);
    if (children[i].opts != NULL)
      free((char *)children[i].opts->name);
    free((void *)children[i].opts);
  }
  free(children);
  free(spec);
}
