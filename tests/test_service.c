/*
 * test_service.c - the service toolkit (hive/service.h): options and the
 * config file, the logfmt log, signals, and systemd's notifications and
 * watchdog, read from a datagram socket the test sets as NOTIFY_SOCKET.
 *
 * Each test that starts a service does it in a child process (fork before
 * any thread), since hive_service_start blocks signals and a second stop
 * signal ends the process; the test reads the child's log file and exit
 * status.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <hive/service.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/hive-test-service-XXXXXX";

static void dir_make(void) {
  cr_assert_not_null(mkdtemp(dir));
}

static pid_t service_pid; /* the child a test started, if any */

/* After each test (.fini): its child, if a failed test left it, and its
 * folder go. */
static void dir_remove(void) {
  if (service_pid > 0 && kill(service_pid, SIGKILL) == 0)
    waitpid(service_pid, NULL, 0);
  if (strcmp(dir + strlen(dir) - 6, "XXXXXX") == 0)
    return; /* never made */
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
}

static void path_in(char *out, size_t size, const char *name) {
  snprintf(out, size, "%s/%s", dir, name);
}

static void file_write(const char *name, const char *text) {
  char p[256];
  path_in(p, sizeof(p), name);
  FILE *f = fopen(p, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

/* The whole of a file of dir, malloc'd ("" if none). */
static char *file_read(const char *name) {
  char p[256];
  path_in(p, sizeof(p), name);
  FILE *f = fopen(p, "r");
  char *text = calloc(1, 1 << 20);
  if (f != NULL) {
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
  }
  return text;
}

static bool file_exists(const char *name) {
  char p[256];
  path_in(p, sizeof(p), name);
  return access(p, F_OK) == 0;
}

/* Waits (up to 20 s) until the file holds `what`. */
static bool file_await(const char *name, const char *what) {
  for (int i = 0; i < 2000; i++) {
    char *text = file_read(name);
    bool found = strstr(text, what) != NULL;
    free(text);
    if (found)
      return true;
    usleep(10000);
  }
  return false;
}

/* ---- options ---------------------------------------------------------------- */

static const char *opt_db = "default.db";
static unsigned opt_n = 7;
static bool opt_flag = false;
static const hive_service_opt_t test_opts[] = {
    {"db", HIVE_OPT_STRING, &opt_db, "FILE", "a file"},
    {"max-n", HIVE_OPT_UINT, &opt_n, "N", "a number"},
    {"flag", HIVE_OPT_BOOL, &opt_flag, NULL, "a switch"},
};

static hive_service_t test_service(void) {
  return (hive_service_t){.name = "test-svc",
                          .section = "svc",
                          .version = "9.9",
                          .summary = "a service under test",
                          .opts = test_opts,
                          .nopts = 3};
}

static int init_with(hive_service_t *svc, int argc, const char **argv) {
  return hive_service_init(svc, argc, (char **)argv);
}

Test(service, flags_win_over_the_config_file_and_keys_may_use_underscores, .fini = dir_remove) {
  dir_make();
  file_write("svc.conf", "[other]\ndb = not-ours.db\n\n[svc]\ndb = from-file.db\nmax_n = 5\n"
                         "workers = 3\nlog-level = debug\nflag = true\n");
  char conf[256];
  path_in(conf, sizeof(conf), "svc.conf");
  hive_service_t svc = test_service();
  const char *argv[] = {"test-svc", "--config", conf,
                        "--max-n",  "11",       "--gateway-unix=/tmp/x.sock"};
  cr_assert_eq(init_with(&svc, 6, argv), HIVE_OK);
  cr_assert_str_eq(opt_db, "from-file.db");
  cr_assert_eq(opt_n, 11);
  cr_assert(opt_flag);
  cr_assert_eq(svc.config.workers, 3);
  cr_assert_eq(svc.config.log_level, HIVE_LOG_DEBUG);
  cr_assert_str_eq(svc.config.gateway_unix, "/tmp/x.sock");
  hive_service_free(&svc);
}

Test(service, a_bad_flag_or_key_is_refused_and_changes_nothing, .fini = dir_remove) {
  dir_make();
  hive_service_t svc = test_service();
  const char *unknown[] = {"test-svc", "--db", "x.db", "--nope"};
  cr_assert_eq(init_with(&svc, 4, unknown), HIVE_EINVAL);
  cr_assert_str_eq(opt_db, "default.db", "the options are as they were");
  cr_assert_null(svc.internal);
  const char *bad_number[] = {"test-svc", "--max-n", "12x"};
  cr_assert_eq(init_with(&svc, 3, bad_number), HIVE_EINVAL);
  cr_assert_eq(opt_n, 7);
  const char *missing[] = {"test-svc", "--db"};
  cr_assert_eq(init_with(&svc, 2, missing), HIVE_EINVAL);
  const char *level[] = {"test-svc", "--log-level", "loud"};
  cr_assert_eq(init_with(&svc, 3, level), HIVE_EINVAL);
  file_write("bad.conf", "[svc]\ndb = a.db\nsurprise = 1\n");
  char conf[256];
  path_in(conf, sizeof(conf), "bad.conf");
  const char *bad_key[] = {"test-svc", "--config", conf};
  cr_assert_eq(init_with(&svc, 3, bad_key), HIVE_EINVAL);
  cr_assert_str_eq(opt_db, "default.db");
  const char *no_file[] = {"test-svc", "--config", "/nonexistent/svc.conf"};
  cr_assert_eq(init_with(&svc, 3, no_file), HIVE_EINVAL);
}

Test(service, help_and_version_print_and_say_done, .fini = dir_remove) {
  hive_service_t svc = test_service();
  const char *help[] = {"test-svc", "--help"};
  cr_assert_eq(init_with(&svc, 2, help), HIVE_SERVICE_DONE);
  const char *version[] = {"test-svc", "--bogus-after-is-not-read", "--version"};
  cr_assert_eq(init_with(&svc, 3, version), HIVE_EINVAL, "flags are checked in order");
  const char *version_only[] = {"test-svc", "--version"};
  cr_assert_eq(init_with(&svc, 2, version_only), HIVE_SERVICE_DONE);
}

Test(service, the_token_file_gives_the_gateway_its_token, .fini = dir_remove) {
  dir_make();
  file_write("token", "t0ken\n");
  char token[256];
  path_in(token, sizeof(token), "token");
  hive_service_t svc = test_service();
  const char *argv[] = {"test-svc", "--token-file", token};
  cr_assert_eq(init_with(&svc, 3, argv), HIVE_OK);
  cr_assert_str_eq(svc.config.gateway_token, "t0ken");
  hive_service_free(&svc);
  file_write("empty", "\n");
  path_in(token, sizeof(token), "empty");
  cr_assert_eq(init_with(&svc, 3, argv), HIVE_EINVAL);
}

/* ---- a running service, in a child process ---------------------------------- */

static atomic_bool blocker_go;
static int blocker_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state, (void)msg;
  hive_log(hive_node(ctx), HIVE_LOG_INFO, "blocking \"every\" worker\\now");
  while (atomic_load(&blocker_go))
    ; /* holds the only worker until told */
  return HIVE_OK;
}
static const hive_behaviour_t blocker_b = {.name = "blocker", .handle = blocker_handle};

static int ticker_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state, (void)msg;
  hive_log(hive_node(ctx), HIVE_LOG_DEBUG, "tick");
  return HIVE_OK;
}
static const hive_behaviour_t ticker_b = {.name = "ticker", .handle = ticker_handle};

static void slow_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)state, (void)reason;
  hive_log(hive_node(ctx), HIVE_LOG_INFO, "slow terminate begins");
  sleep(30);
}
static const hive_behaviour_t slow_b = {
    .name = "slow", .handle = ticker_handle, .terminate = slow_terminate};

/* In the child: sends the blocker its message once the file "block"
 * exists, and lets it go once "unblock" does. */
static hive_t *child_node;
static void *blocker_driver(void *arg) {
  (void)arg;
  while (!file_exists("block"))
    usleep(5000);
  hive_send(child_node, hive_whereis(child_node, "blocker"), HIVE_TAG_USER, NULL, 0);
  while (!file_exists("unblock"))
    usleep(5000);
  atomic_store(&blocker_go, false);
  return NULL;
}

/* The child: a service with a ticker (a debug line every 20 ms), and, as
 * the test asks, a blocker or an actor slow to stop. Exits with what
 * hive_service_run returns. */
static _Noreturn void service_child(const char *what, const char *extra_flag) {
  char log[256], conf[256];
  path_in(log, sizeof(log), "svc.log");
  path_in(conf, sizeof(conf), "svc.conf");
  hive_service_t svc = test_service();
  const char *argv[] = {"test-svc", "--config",  conf, "--log-file",
                        log,        "--workers", "1",  extra_flag};
  if (hive_service_init(&svc, extra_flag != NULL ? 8 : 7, (char **)argv) != HIVE_OK)
    _exit(2);
  hive_t *h;
  if (hive_service_start(&svc, &h) != HIVE_OK)
    _exit(3);
  hive_pid_t ticker;
  hive_spawn(h, strcmp(what, "slow") == 0 ? &slow_b : &ticker_b, NULL, 0, NULL, &ticker);
  hive_timer_t tick;
  hive_send_interval(h, ticker, HIVE_TAG_USER, NULL, 0, 20, &tick);
  if (strcmp(what, "watched") == 0) { /* a top actor that ends: the service must stop, 1 */
    hive_pid_t top;
    hive_spawn(h, &ticker_b, NULL, 0, NULL, &top);
    hive_service_watch(&svc, top);
    hive_kill(h, top);
  }
  if (strcmp(what, "blocker") == 0) {
    hive_pid_t blocker;
    hive_spawn(h, &blocker_b, NULL, 0, NULL, &blocker);
    hive_register(h, "blocker", blocker);
    child_node = h;
    pthread_t t;
    pthread_create(&t, NULL, blocker_driver, NULL);
    pthread_detach(t);
  }
  hive_service_ready(&svc);
  _exit(hive_service_run(&svc));
}

static pid_t service_fork(const char *what, const char *extra_flag) {
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test killed on its timeout takes it along */
    service_child(what, extra_flag);
  }
  service_pid = pid;
  return pid;
}

static int service_wait(pid_t pid) {
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  service_pid = 0; /* reaped */
  cr_assert(WIFEXITED(status), "exited, not killed (status %#x)", status);
  return WEXITSTATUS(status);
}

Test(service, logs_logfmt_lines_naming_the_actor, .timeout = 60, .fini = dir_remove) {
  dir_make();
  file_write("svc.conf", "[svc]\nlog_level = debug\n");
  pid_t pid = service_fork("ticker", NULL);
  cr_assert(file_await("svc.log", "msg=\"tick\""));
  kill(pid, SIGTERM);
  cr_assert_eq(service_wait(pid), 0);
  char *text = file_read("svc.log");
  char *line = strstr(text, "msg=\"tick\"");
  while (line > text && line[-1] != '\n')
    line--;
  /* ts=2026-11-30T16:05:01.250Z level=debug actor=<0.1.1> msg="tick" */
  int year, mon, day, hour, min, sec, ms;
  char level[16], actor[32];
  cr_assert_eq(sscanf(line, "ts=%4d-%2d-%2dT%2d:%2d:%2d.%3dZ level=%15s actor=%31s", &year, &mon,
                      &day, &hour, &min, &sec, &ms, level, actor),
               9, "%.120s", line);
  cr_assert_str_eq(level, "debug");
  cr_assert_eq(actor[0], '<');
  cr_assert_not_null(strstr(text, "level=info msg=\"test-svc 9.9 starting"));
  cr_assert_not_null(strstr(text, "level=info msg=\"SIGTERM: stopping\""));
  cr_assert_not_null(strstr(text, "msg=\"test-svc stopped\""));
  free(text);
}

Test(service, sighup_reopens_the_log_and_reloads_the_level, .timeout = 60, .fini = dir_remove) {
  dir_make();
  file_write("svc.conf", "[svc]\nlog_level = info\n");
  pid_t pid = service_fork("ticker", NULL);
  cr_assert(file_await("svc.log", "ready"));
  char log[256], moved[256];
  path_in(log, sizeof(log), "svc.log");
  path_in(moved, sizeof(moved), "svc.log.1");
  cr_assert_eq(rename(log, moved), 0); /* as logrotate does */
  file_write("svc.conf", "[svc]\nlog_level = debug\n");
  kill(pid, SIGHUP);
  cr_assert(file_await("svc.log", "log file reopened"));
  cr_assert(file_await("svc.log", "msg=\"tick\""), "the debug level came from the file");
  char *old = file_read("svc.log.1");
  cr_assert_null(strstr(old, "msg=\"tick\""));
  free(old);
  kill(pid, SIGTERM);
  cr_assert_eq(service_wait(pid), 0);
}

Test(service, a_log_level_flag_is_not_reloaded_by_sighup, .timeout = 60, .fini = dir_remove) {
  dir_make();
  file_write("svc.conf", "[svc]\nlog_level = debug\n");
  pid_t pid = service_fork("ticker", "--log-level=warn");
  for (int i = 0; i < 2000 && !file_exists("svc.log"); i++)
    usleep(10000); /* opened once the signals are blocked: they wait for the service */
  cr_assert(file_exists("svc.log"));
  kill(pid, SIGHUP);
  kill(pid, SIGTERM); /* taken in order: the HUP first */
  cr_assert_eq(service_wait(pid), 0);
  char *text = file_read("svc.log");
  cr_assert_null(strstr(text, "msg=\"tick\""));
  cr_assert_null(strstr(text, "reloaded"));
  free(text);
}

Test(service, a_watched_actor_that_ends_stops_the_service_with_1, .timeout = 60,
     .fini = dir_remove) {
  dir_make();
  file_write("svc.conf", "[svc]\n");
  pid_t pid = service_fork("watched", NULL);
  cr_assert_eq(service_wait(pid), 1, "no signal sent: the watched actor's end stopped it");
  char *text = file_read("svc.log");
  cr_assert_not_null(strstr(text, "ended ("), "%s", text); /* kill, or noproc if before the watch */
  cr_assert_not_null(strstr(text, "): the service stops, exit status 1"), "%s", text);
  cr_assert_not_null(strstr(text, "test-svc stopped"));
  free(text);
}

Test(service, a_second_stop_signal_exits_at_once_with_1, .timeout = 60, .fini = dir_remove) {
  dir_make();
  file_write("svc.conf", "[svc]\n");
  pid_t pid = service_fork("slow", NULL);
  cr_assert(file_await("svc.log", "ready"));
  kill(pid, SIGTERM);
  cr_assert(file_await("svc.log", "slow terminate begins"));
  kill(pid, SIGINT);
  cr_assert_eq(service_wait(pid), 1, "not after the 30 s terminate");
  cr_assert(file_await("svc.log", "second INT while stopping"));
}

/* ---- systemd: READY, WATCHDOG, STOPPING on our own NOTIFY_SOCKET ------------- */

static int notify_socket(void) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  path_in(addr.sun_path, sizeof(addr.sun_path), "notify");
  cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
  setenv("NOTIFY_SOCKET", addr.sun_path, 1);
  return fd;
}

/* The next notification (up to timeout_ms), or "" if none. */
static const char *notify_next(int fd, int timeout_ms) {
  static char buf[256];
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, timeout_ms) != 1)
    return "";
  ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

Test(service, tells_systemd_ready_stopping_and_feeds_the_watchdog_while_workers_progress,
     .timeout = 120, .fini = dir_remove) {
  dir_make();
  file_write("svc.conf", "[svc]\n");
  int fd = notify_socket();
  setenv("WATCHDOG_USEC", "200000", 1); /* fed every 100 ms */
  atomic_store(&blocker_go, true);
  pid_t pid = service_fork("blocker", NULL);
  cr_assert_str_eq(notify_next(fd, 20000), "READY=1");
  for (int i = 0; i < 3; i++)
    cr_assert_str_eq(notify_next(fd, 20000), "WATCHDOG=1");
  /* The one worker stuck in a handler: the probe gets no answer and the
   * watchdog is not fed until the worker is free again. */
  file_write("block", "");
  cr_assert(file_await("svc.log", "no worker answered the watchdog's probe"));
  while (strcmp(notify_next(fd, 0), "") != 0) {
  } /* what was sent before */
  cr_assert_str_eq(notify_next(fd, 300), "", "not fed while no worker makes progress");
  file_write("unblock", "");
  const char *fed;
  do
    fed = notify_next(fd, 20000);
  while (strcmp(fed, "") != 0 && strcmp(fed, "WATCHDOG=1") != 0);
  cr_assert_str_eq(fed, "WATCHDOG=1", "fed again once the worker is free");
  cr_assert(file_await("svc.log", "workers make progress again"));
  /* The blocker's line, quoted and escaped: msg="blocking \"every\" worker\\now" */
  cr_assert(file_await("svc.log", "msg=\"blocking \\\"every\\\" worker\\\\now\""));
  kill(pid, SIGTERM);
  /* STOPPING=1 comes, after any WATCHDOG=1 already on its way. */
  const char *m;
  do
    m = notify_next(fd, 20000);
  while (strcmp(m, "WATCHDOG=1") == 0);
  cr_assert_str_eq(m, "STOPPING=1");
  cr_assert_eq(service_wait(pid), 0);
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  close(fd);
}
