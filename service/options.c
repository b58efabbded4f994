/*
 * options.c - a service's flags and config file. The file is an INI file
 * read by inih; only the service's own [section] is looked at (a file may
 * hold sections for other programs). The file is read first, then the
 * flags, so flags win. Every value is checked as it is set, and an error
 * names where it came from: the flag, or the file and line.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define OPTIONS_MAX 64 /* common options and the service's own, together */

typedef struct {
  hive_service_opt_t all[OPTIONS_MAX];
  size_t n;
} option_table_t;

static void table_add(option_table_t *t, hive_service_opt_t opt) {
  if (t->n < OPTIONS_MAX)
    t->all[t->n++] = opt;
}

/* The common options, then the service's own. */
static int table_build(option_table_t *t, const hive_service_t *svc, service_internal_t *in) {
  t->n = 0;
  table_add(t, (hive_service_opt_t){"config", HIVE_OPT_STRING, &in->config_path, "FILE",
                                    "read options from FILE's section (flags win)"});
  table_add(t, (hive_service_opt_t){"workers", HIVE_OPT_UINT, &in->workers, "N",
                                    "worker threads (default: one per CPU)"});
  table_add(t, (hive_service_opt_t){"log-level", HIVE_OPT_STRING, &in->log_level,
                                    "debug|info|warn|error", "lines below it are dropped"});
  table_add(t, (hive_service_opt_t){"log-file", HIVE_OPT_STRING, &in->log_file, "FILE",
                                    "log there, not stderr (SIGHUP reopens it)"});
  table_add(t, (hive_service_opt_t){"admin-socket", HIVE_OPT_STRING, &in->admin_socket, "PATH",
                                    "the admin socket hivectl connects to"});
  table_add(t, (hive_service_opt_t){"gateway", HIVE_OPT_STRING, &in->gateway, "HOST:PORT",
                                    "the gateway's TCP address (needs a token)"});
  table_add(t, (hive_service_opt_t){"gateway-unix", HIVE_OPT_STRING, &in->gateway_unix, "PATH",
                                    "the gateway's Unix socket"});
  table_add(t, (hive_service_opt_t){"token-file", HIVE_OPT_STRING, &in->token_file, "FILE",
                                    "the gateway's token (else $HIVE_GATEWAY_TOKEN)"});
  table_add(t, (hive_service_opt_t){"http", HIVE_OPT_STRING, &in->http, "HOST:PORT",
                                    "the inspector page and /metrics (a token unless loopback)"});
  table_add(t, (hive_service_opt_t){"http-token-file", HIVE_OPT_STRING, &in->http_token_file,
                                    "FILE", "the HTTP token (else $HIVE_HTTP_TOKEN)"});
  if (svc->nopts > 0 && svc->opts == NULL)
    return HIVE_EINVAL;
  for (size_t i = 0; i < svc->nopts; i++) {
    const hive_service_opt_t *o = &svc->opts[i];
    if (o->name == NULL || o->value == NULL || o->type < HIVE_OPT_STRING ||
        o->type > HIVE_OPT_BOOL || t->n == OPTIONS_MAX)
      return HIVE_EINVAL;
    table_add(t, *o);
  }
  return HIVE_OK;
}

/* The option a flag or key names ('_' and '-' alike); NULL if none. */
static const hive_service_opt_t *table_find(const option_table_t *t, const char *name, size_t len) {
  for (size_t i = 0; i < t->n; i++) {
    const char *o = t->all[i].name;
    if (strlen(o) != len)
      continue;
    size_t k = 0;
    while (k < len && (o[k] == name[k] || (o[k] == '-' && name[k] == '_')))
      k++;
    if (k == len)
      return &t->all[i];
  }
  return NULL;
}

int hive__service_level_of(const char *name) {
  static const struct {
    const char *name;
    int level;
  } levels[] = {{"debug", HIVE_LOG_DEBUG},
                {"info", HIVE_LOG_INFO},
                {"warn", HIVE_LOG_WARNING},
                {"warning", HIVE_LOG_WARNING},
                {"error", HIVE_LOG_ERROR}};
  for (size_t i = 0; name != NULL && i < sizeof(levels) / sizeof(levels[0]); i++)
    if (strcmp(name, levels[i].name) == 0)
      return levels[i].level;
  return 0;
}

/* Sets an option from text; NULL, or why the text is no good. */
static const char *option_set(service_internal_t *in, const hive_service_opt_t *o,
                              const char *text) {
  switch (o->type) {
  case HIVE_OPT_STRING: {
    if (o->value == &in->log_level && hive__service_level_of(text) == 0)
      return "not one of debug, info, warn, error";
    if (in->nowned == in->capowned) {
      size_t cap = in->capowned > 0 ? in->capowned * 2 : 16;
      char **grown = realloc(in->owned, cap * sizeof(*grown));
      if (grown == NULL)
        return "out of memory";
      in->owned = grown;
      in->capowned = cap;
    }
    char *copy = strdup(text);
    if (copy == NULL)
      return "out of memory";
    in->owned[in->nowned++] = copy;
    *(const char **)o->value = copy;
    return NULL;
  }
  case HIVE_OPT_UINT: {
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v > 0xffffffffu)
      return "not a whole number";
    *(unsigned *)o->value = (unsigned)v;
    return NULL;
  }
  default: { /* HIVE_OPT_BOOL */
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                "off", "0"};
    for (size_t i = 0; i < 4; i++) {
      if (strcmp(text, yes[i]) == 0) {
        *(bool *)o->value = true;
        return NULL;
      }
      if (strcmp(text, no[i]) == 0) {
        *(bool *)o->value = false;
        return NULL;
      }
    }
    return "not true or false";
  }
  }
}

typedef struct {
  const hive_service_t *svc;
  service_internal_t *in;
  const option_table_t *table;
  bool level_only; /* SIGHUP: only log_level is read, into `level` */
  int level;
  char error[256]; /* the first error */
} ini_ctx_t;

static int ini_key(void *user, const char *section, const char *name, const char *value) {
  ini_ctx_t *c = user;
  if (strcmp(section, c->svc->section != NULL ? c->svc->section : "") != 0)
    return 1; /* another program's section */
  if (c->level_only) {
    if (strcmp(name, "log_level") == 0 || strcmp(name, "log-level") == 0)
      c->level = hive__service_level_of(value);
    return 1;
  }
  const hive_service_opt_t *o = table_find(c->table, name, strlen(name));
  const char *why = o == NULL ? "unknown key" : NULL;
  if (o != NULL && o->value == &c->in->config_path)
    why = "config cannot name another file";
  if (why == NULL)
    why = option_set(c->in, o, value);
  if (why != NULL && c->error[0] == '\0')
    snprintf(c->error, sizeof(c->error), "%s = %s: %s", name, value, why);
  return why == NULL;
}

/* Reads the config file; HIVE_OK, or HIVE_EINVAL with the reason printed. */
static int options_read_file(const hive_service_t *svc, service_internal_t *in,
                             const option_table_t *table) {
  ini_ctx_t c = {.svc = svc, .in = in, .table = table};
  int line = ini_parse(in->config_path, ini_key, &c);
  if (line == 0)
    return HIVE_OK;
  if (line == -1)
    fprintf(stderr, "%s: cannot read config file %s: %s\n", svc->name, in->config_path,
            strerror(errno));
  else if (line < 0)
    fprintf(stderr, "%s: cannot read config file %s: out of memory\n", svc->name, in->config_path);
  else
    fprintf(stderr, "%s: %s:%d: %s\n", svc->name, in->config_path, line,
            c.error[0] != '\0' ? c.error : "not an INI line (key = value, or [section])");
  return HIVE_EINVAL;
}

int hive__service_reload_level(hive_service_t *svc, service_internal_t *in) {
  if (in->config_path == NULL)
    return 0;
  ini_ctx_t c = {.svc = svc, .in = in, .level_only = true};
  return ini_parse(in->config_path, ini_key, &c) == 0 ? c.level : 0;
}

static void options_help(const hive_service_t *svc, const option_table_t *t) {
  printf("Usage: %s [OPTION]...\n", svc->name);
  if (svc->summary != NULL)
    printf("%s\n", svc->summary);
  printf("\nEach option is also a key of the config file's [%s] section; flags win.\n\n",
         svc->section != NULL ? svc->section : "");
  for (size_t i = 0; i < t->n; i++) {
    char left[64];
    snprintf(left, sizeof(left), "--%s%s%s", t->all[i].name, t->all[i].arg != NULL ? " " : "",
             t->all[i].arg != NULL ? t->all[i].arg : "");
    printf("  %-34s %s\n", left, t->all[i].help != NULL ? t->all[i].help : "");
  }
  printf("  %-34s %s\n  %-34s %s\n", "--help", "print this and exit", "--version",
         "print the version and exit");
  printf("\nSIGTERM or SIGINT stops the service in order (a second one: at once);\n"
         "SIGHUP reopens the log file and reloads log_level from the config file.\n");
}

/* Splits argv[*i] "--name[=value]": the option, and its value (the next
 * argument when not after '='). NULL with *why set on an error. */
static const hive_service_opt_t *flag_parse(const option_table_t *t, int argc, char **argv, int *i,
                                            const char **value, const char **why) {
  const char *arg = argv[*i];
  *why = NULL;
  *value = NULL;
  if (strncmp(arg, "--", 2) != 0) {
    *why = "not an option (options start with --)";
    return NULL;
  }
  const char *name = arg + 2, *eq = strchr(name, '=');
  size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
  const hive_service_opt_t *o = table_find(t, name, len);
  if (o == NULL) {
    *why = "unknown option";
    return NULL;
  }
  if (eq != NULL)
    *value = eq + 1;
  else if (o->type == HIVE_OPT_BOOL)
    *value = "true";
  else if (*i + 1 < argc)
    *value = argv[++*i];
  else
    *why = "needs a value";
  return o;
}

/* The first line of path, in a new string in *token. */
static int token_read(const hive_service_t *svc, const char *path, char **token) {
  FILE *f = fopen(path, "re");
  if (f == NULL) {
    fprintf(stderr, "%s: cannot read token file %s: %s\n", svc->name, path, strerror(errno));
    return HIVE_EINVAL;
  }
  char line[1024];
  bool got = fgets(line, sizeof(line), f) != NULL;
  fclose(f);
  size_t n = got ? strcspn(line, "\r\n") : 0;
  if (n == 0) {
    fprintf(stderr, "%s: token file %s: the first line is empty\n", svc->name, path);
    return HIVE_EINVAL;
  }
  line[n] = '\0';
  *token = strdup(line);
  return *token != NULL ? HIVE_OK : HIVE_ENOMEM;
}

int hive__service_options(hive_service_t *svc, service_internal_t *in, int argc, char **argv) {
  option_table_t table;
  if (table_build(&table, svc, in) != HIVE_OK) {
    fprintf(stderr, "%s: a hive_service_opt_t is malformed\n", svc->name);
    return HIVE_EINVAL;
  }
  /* First pass: --help, --version, --config; every flag checked by name. */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      options_help(svc, &table);
      return HIVE_SERVICE_DONE;
    }
    if (strcmp(argv[i], "--version") == 0) {
      printf("%s %s (hive)\n", svc->name, svc->version != NULL ? svc->version : "");
      return HIVE_SERVICE_DONE;
    }
    const char *value, *why;
    const char *flag = argv[i];
    const hive_service_opt_t *o = flag_parse(&table, argc, argv, &i, &value, &why);
    if (why != NULL) {
      fprintf(stderr, "%s: %s: %s (try --help)\n", svc->name, flag, why);
      return HIVE_EINVAL;
    }
    if (o->value == &in->config_path && (why = option_set(in, o, value)) != NULL) {
      fprintf(stderr, "%s: %s: %s\n", svc->name, flag, why);
      return HIVE_EINVAL;
    }
  }
  if (in->config_path != NULL && options_read_file(svc, in, &table) != HIVE_OK)
    return HIVE_EINVAL;
  /* Second pass: the flags, over what the file said. */
  for (int i = 1; i < argc; i++) {
    const char *value, *why, *flag = argv[i];
    const hive_service_opt_t *o = flag_parse(&table, argc, argv, &i, &value, &why);
    if (o->value == &in->config_path)
      continue;
    if ((why = option_set(in, o, value)) != NULL) {
      fprintf(stderr, "%s: %s %s: %s (try --help)\n", svc->name, flag, value, why);
      return HIVE_EINVAL;
    }
    if (o->value == &in->log_level)
      in->log_level_from_flag = true;
  }
  if ((in->token_file != NULL && token_read(svc, in->token_file, &in->token) != HIVE_OK) ||
      (in->http_token_file != NULL &&
       token_read(svc, in->http_token_file, &in->http_token) != HIVE_OK))
    return HIVE_EINVAL;
  hive_config_t *cfg = &svc->config;
  cfg->workers = in->workers;
  cfg->log_level = in->log_level != NULL ? hive__service_level_of(in->log_level) : HIVE_LOG_INFO;
  cfg->admin_socket = in->admin_socket;
  cfg->gateway_tcp = in->gateway;
  cfg->gateway_unix = in->gateway_unix;
  if (in->token != NULL)
    cfg->gateway_token = in->token;
  cfg->http_listen = in->http;
  if (in->http_token != NULL)
    cfg->http_token = in->http_token;
  return HIVE_OK;
}

void hive__service_options_free(service_internal_t *in) {
  for (size_t i = 0; i < in->nowned; i++)
    free(in->owned[i]);
  free(in->owned);
  in->owned = NULL;
  in->nowned = in->capowned = 0;
  free(in->token);
  in->token = NULL;
  free(in->http_token);
  in->http_token = NULL;
}
