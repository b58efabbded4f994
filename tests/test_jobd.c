/*
 * test_jobd.c - hive-jobd driven by a C client over the gateway's wire
 * protocol (tests/gw_client.h), as any language would drive it: the
 * Python suite (samples/jobd/tests) covers the rest of docs/jobd.md.
 *
 * Each test starts the built hive-jobd (HIVE_JOBD) in a fresh folder,
 * reads its port from its log, and stops it with SIGTERM: exit 0.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "gw_client.h"

static char dir[] = "/tmp/hive-test-jobd-XXXXXX";
static pid_t jobd_pid;
static int port;

static void jobd_start(void) {
  cr_assert_not_null(mkdtemp(dir));
  char token[300], db[300], log[300];
  snprintf(token, sizeof(token), "%s/token", dir);
  snprintf(db, sizeof(db), "%s/jobs.db", dir);
  snprintf(log, sizeof(log), "%s/log", dir);
  FILE *f = fopen(token, "w");
  cr_assert_not_null(f);
  fputs("c-client\n", f);
  fclose(f);
  fflush(NULL);
  jobd_pid = fork();
  cr_assert_geq(jobd_pid, 0);
  if (jobd_pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test killed on its timeout takes it along */
    execl(HIVE_JOBD, "hive-jobd", "--gateway", "127.0.0.1:0", "--token-file", token, "--db", db,
          "--log-file", log, "--workers", "2", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 3000 && port == 0; i++) { /* up to 30 s */
    FILE *l = fopen(log, "r");
    char line[512];
    while (l != NULL && fgets(line, sizeof(line), l) != NULL) {
      const char *p = strstr(line, "gateway listening on port ");
      if (p != NULL)
        port = atoi(p + strlen("gateway listening on port "));
    }
    if (l != NULL)
      fclose(l);
    if (port == 0)
      usleep(10000);
  }
  cr_assert_gt(port, 0, "hive-jobd did not say its port");
}

/* SIGTERM: an orderly stop, exit 0; then the folder goes. */
static void jobd_stop(void) {
  if (jobd_pid > 0) {
    kill(jobd_pid, SIGTERM);
    int status;
    cr_assert_eq(waitpid(jobd_pid, &status, 0), jobd_pid);
    jobd_pid = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
  }
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(jobd, .init = jobd_start, .fini = jobd_stop, .timeout = 120);

/* A value of a msgpack map, or NULL. */
static const msgpack_object *field(const msgpack_object *map, const char *key) {
  if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
    return NULL;
  for (uint32_t i = 0; i < map->via.map.size; i++) {
    const msgpack_object *k = &map->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
        memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
      return &map->via.map.ptr[i].val;
  }
  return NULL;
}

static bool str_is(const msgpack_object *o, const char *want) {
  return o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(want) &&
         memcmp(o->via.str.ptr, want, o->via.str.size) == 0;
}

static uint64_t next_id = 1;

/* Reads until the answer to call id (pushes in between are skipped). */
static void answer_of(int fd, uint64_t id, gwc_frame_t *f) {
  for (;;) {
    cr_assert(gwc_recv(fd, f), "no answer to call %llu", (unsigned long long)id);
    if (gwc_u64(f, "id") == id)
      return;
    gwc_frame_free(f);
  }
}

/* Calls "jobd" with the data hive_pack(fmt, ...) makes; the answer's
 * frame in *f (its "data" is jobd's answer). */
static void call(int fd, gwc_frame_t *f, const char *fmt, ...) {
  void *data;
  size_t len;
  va_list ap;
  va_start(ap, fmt);
  cr_assert_eq(hive_vpack(&data, &len, fmt, ap), HIVE_OK);
  va_end(ap);
  /* The call frame around the data: data's bytes go in as they are. */
  void *head;
  size_t head_len;
  uint64_t id = next_id++;
  cr_assert_eq(hive_pack(&head, &head_len, "msssssususus", 6, "op", "call", "to", "jobd", "id", id,
                         "tag", (uint64_t)HIVE_TAG_USER, "timeout_ms", (uint64_t)30000, "data"),
               HIVE_OK);
  char *frame = malloc(head_len + len);
  memcpy(frame, head, head_len);
  memcpy(frame + head_len, data, len);
  free(head);
  free(data);
  cr_assert(gwc_send_body(fd, frame, head_len + len));
  answer_of(fd, id, f);
  cr_assert(gwc_ok(f), "the gateway refused the call");
}

static int open_client(void) {
  int fd = gwc_open(port, "c-client", NULL);
  cr_assert_geq(fd, 0, "no welcome from jobd's gateway");
  return fd;
}

static int64_t submit(int fd, const char *kind, bool isolate, uint64_t lo, uint64_t hi) {
  gwc_frame_t f;
  if (strcmp(kind, "primes") == 0)
    call(fd, &f, "msssssauust", 4, "op", "submit", "kind", kind, "args", 2, lo, hi, "isolate",
         (int)isolate);
  else
    call(fd, &f, "msssssast", 4, "op", "submit", "kind", kind, "args", 0, "isolate", (int)isolate);
  const msgpack_object *id = field(gwc_get(&f, "data"), "id");
  cr_assert(id != NULL && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "submit: no id");
  int64_t out = (int64_t)id->via.u64;
  gwc_frame_free(&f);
  return out;
}

Test(jobd, a_c_client_submits_and_reads_the_result_in_node_and_isolated) {
  int fd = open_client();
  for (int isolate = 0; isolate < 2; isolate++) {
    int64_t job = submit(fd, "primes", isolate, 0, 100000);
    gwc_frame_t f;
    call(fd, &f, "msssusu", 3, "op", "result", "id", (uint64_t)job, "wait_ms", (uint64_t)20000);
    const msgpack_object *data = gwc_get(&f, "data");
    cr_assert(str_is(field(data, "state"), "done"), "isolate %d: not done", isolate);
    const msgpack_object *result = field(data, "result");
    cr_assert(result != NULL && result->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
              result->via.u64 == 9592);
    gwc_frame_free(&f);
  }
  close(fd);
}

Test(jobd, a_c_client_cancels_an_isolated_spin_within_a_second) {
  int fd = open_client();
  int64_t job = submit(fd, "spin", true, 0, 0);
  gwc_frame_t f;
  for (;;) { /* until it runs (its process spawned) */
    call(fd, &f, "msssu", 2, "op", "status", "id", (uint64_t)job);
    bool running = str_is(field(gwc_get(&f, "data"), "state"), "running");
    gwc_frame_free(&f);
    if (running)
      break;
    usleep(5000);
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  call(fd, &f, "msssu", 2, "op", "cancel", "id", (uint64_t)job);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  cr_assert(str_is(field(gwc_get(&f, "data"), "state"), "cancelled"));
  gwc_frame_free(&f);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  cr_assert_lt(secs, 1.0, "cancel took %.3f s", secs);
  close(fd);
}

Test(jobd, a_malformed_request_gets_an_error_and_the_service_goes_on) {
  int fd = open_client();
  gwc_frame_t f;
  call(fd, &f, "s", "not a map");
  cr_assert(str_is(field(gwc_get(&f, "data"), "error"), "badarg"));
  gwc_frame_free(&f);
  call(fd, &f, "msu", 1, "op", (uint64_t)7);
  cr_assert(str_is(field(gwc_get(&f, "data"), "error"), "unknownop"), "an op that is no string");
  gwc_frame_free(&f);
  call(fd, &f, "mssss", 2, "op", "submit", "kind", "teleport");
  cr_assert(str_is(field(gwc_get(&f, "data"), "error"), "badarg"));
  gwc_frame_free(&f);
  call(fd, &f, "msssu", 2, "op", "status", "id", (uint64_t)424242);
  cr_assert(str_is(field(gwc_get(&f, "data"), "error"), "notfound"));
  gwc_frame_free(&f);
  int64_t job = submit(fd, "primes", false, 0, 100);
  cr_assert_gt(job, 0, "and it still serves");
  close(fd);
}
