/*
 * test_http.c - the HTTP endpoint (admin/http.c): every route's status and
 * JSON shape, the same fields as hivectl --json, tokens, the browser
 * attacks it refuses, and clients that misbehave (a 1 MiB request line or
 * header, one byte a second, 200 at once) while the node goes on serving
 * and its workers answer.
 */
#define _GNU_SOURCE /* unshare, CLONE_NEWNET */
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blocker.h"
#include "http_client.h"
#include "scenarios.h"
#include "supervised.h"

#define ASSERT_HAS(text, needle)                                                                   \
  cr_assert(strstr((text), (needle)) != NULL, "no %s in: %s", (needle), (text))

static hive_t *start_http(const char *listen, const char *token) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = 2;
  cfg.log_level = HIVE_LOG_NONE;
  cfg.http_listen = listen;
  cfg.http_token = token;
  return test_start_config(&cfg);
}

static int connect_to(int port) {
  int fd = http_connect(port);
  cr_assert(fd >= 0, "connect to port %d", port);
  return fd;
}

typedef struct {
  int status;
  char text[1 << 20]; /* head and body */
  const char *body;
} answer_t;

static answer_t ans; /* one test at a time per process (Criterion forks) */

/* method path with extra header lines (each ending "\r\n"); fills ans. */
static int request(int port, const char *method, const char *path, const char *headers) {
  ans.status = http_fetch(port, method, path, headers, ans.text, sizeof(ans.text));
  ans.body = http_body(ans.text);
  return ans.status;
}

static int get(int port, const char *path) {
  return request(port, "GET", path, NULL);
}

/* Runs hivectl --json (over the admin socket at sock) into out. */
static void hivectl_json(const char *sock, const char *args, char *out, size_t size) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "%s -s %s --json %s", HIVECTL, sock, args);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, size - 1, p);
  out[n] = '\0';
  cr_assert_eq(pclose(p), 0, "%s: %s", cmd, out);
}

static int echo_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  (void)state;
  if (msg->ref != 0)
    hive_reply(ctx, msg, msg->data, msg->len);
  return HIVE_OK;
}
static const hive_behaviour_t echo_b = {.name = "echo", .handle = echo_handle};

/* A node serving HTTP at listen, with an echo actor. */
static hive_t *start_with_echo(const char *listen, const char *token, int *port, hive_pid_t *echo) {
  hive_t *h = start_http(listen, token);
  *port = hive_http_port(h);
  cr_assert_eq(hive_spawn(h, &echo_b, NULL, 0, NULL, echo), HIVE_OK);
  return h;
}

/* An actor round trip: the workers are serving. */
static void assert_workers_answer(hive_t *h, hive_pid_t echo) {
  void *reply;
  size_t len;
  cr_assert_eq(hive_ask(h, echo, HIVE_TAG_USER, "ping", 4, 10000, &reply, &len), HIVE_OK);
  cr_assert_eq(len, 4);
  free(reply);
}

/* ---- shapes ---------------------------------------------------------------- */

Test(http, every_route_answers_with_the_fields_of_hivectl_json, .init = log_setup) {
  char sock[108];
  snprintf(sock, sizeof(sock), "/tmp/hive-http-test-%d.sock", (int)getpid());
  unlink(sock);
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.workers = 2;
  cfg.log_level = HIVE_LOG_NONE;
  cfg.http_listen = "127.0.0.1:0";
  cfg.admin_socket = sock;
  hive_t *h = test_start_config(&cfg);
  int port = hive_http_port(h);
  cr_assert_gt(port, 0);

  w_arg_t args[2] = {{.id = "a"}, {.id = "b"}};
  hive_child_spec_t specs[2];
  w_specs(specs, args, 2, HIVE_RESTART_PERMANENT);
  hive_pid_t sup = sup_with(h, HIVE_SUP_ONE_FOR_ONE, specs, 2);
  wait_events(2);
  hive_pid_t echo;
  hive_spawn_opts_t named;
  hive_spawn_opts_init(&named);
  named.name = "echo";
  cr_assert_eq(hive_spawn(h, &echo_b, NULL, 0, &named, &echo), HIVE_OK);

  /* One idle actor: the same bytes from hivectl and from HTTP. */
  static char want[1 << 16];
  hivectl_json(sock, "stats echo", want, sizeof(want));
  cr_assert_eq(get(port, "/api/actors/echo"), 200, "%s", ans.text);
  ASSERT_HAS(ans.text, "Content-Type: application/json");
  cr_assert_str_eq(ans.body, want);
  char echo_text[HIVE_PID_STRLEN], path[64];
  hive_pid_format(echo, echo_text, sizeof(echo_text));
  snprintf(path, sizeof(path), "/api/actors/%s", echo_text + 1); /* 0.N.G, no brackets */
  path[strlen(path) - 1] = '\0';
  cr_assert_eq(get(port, path), 200, "%s", ans.text);
  cr_assert_str_eq(ans.body, want);
  snprintf(path, sizeof(path), "/api/actors/%%3C%s%%3E", echo_text + 1); /* <0.N.G>, escaped */
  path[strlen(path) - 4] = '\0';
  strcat(path, "%3E");
  cr_assert_eq(get(port, path), 200, "%s", ans.text);
  cr_assert_str_eq(ans.body, want);

  /* The tree: the supervisor and its children, as hivectl prints it. */
  hivectl_json(sock, "tree", want, sizeof(want));
  cr_assert_eq(get(port, "/api/tree"), 200);
  cr_assert_str_eq(ans.body, want);
  char sup_text[HIVE_PID_STRLEN];
  ASSERT_HAS(ans.body, hive_pid_format(sup, sup_text, sizeof(sup_text)));
  ASSERT_HAS(ans.body, "\"id\":\"a\"");
  ASSERT_HAS(ans.body, "\"id\":\"b\"");
  cr_assert_eq(get(port, "/api/tree?children=1"), 200);
  ASSERT_HAS(ans.body, "\"children_total\":2");
  cr_assert(strstr(ans.body, "\"id\":\"b\"") == NULL, "%s", ans.body);

  /* Node, workers, actors: the keys hivectl --json prints. */
  cr_assert_eq(get(port, "/api/node"), 200);
  for (const char *k = "node\0workers\0actors_alive\0actors_spawned\0exits\0messages\0"
                       "dead_letters\0dropped\0restarts\0busy_ns\0steals_won\0";
       *k; k += strlen(k) + 1) {
    char key[40];
    snprintf(key, sizeof(key), "\"%s\":", k);
    ASSERT_HAS(ans.body, key);
  }
  cr_assert_eq(get(port, "/api/workers"), 200);
  cr_assert_eq(ans.body[0], '[');
  ASSERT_HAS(ans.body, "\"index\":0,\"blocking\":false");
  cr_assert_eq(get(port, "/api/actors"), 200);
  cr_assert_eq(ans.body[0], '[');
  ASSERT_HAS(ans.text, "X-Total-Count: 4"); /* the supervisor, a, b, echo */
  ASSERT_HAS(ans.body, "\"mailbox_len\":");
  ASSERT_HAS(ans.body, "\"handler_ns\":");

  /* /metrics: Prometheus text; / and its files: the page. */
  cr_assert_eq(get(port, "/metrics"), 200);
  ASSERT_HAS(ans.text, "Content-Type: text/plain; version=0.0.4");
  ASSERT_HAS(ans.body, "hive_actors_alive 4\n");
  cr_assert_eq(get(port, "/"), 200);
  ASSERT_HAS(ans.text, "Content-Type: text/html");
  ASSERT_HAS(ans.text, "Content-Security-Policy: default-src 'self'");
  ASSERT_HAS(ans.body, "<title>hive inspector</title>");
  cr_assert_eq(get(port, "/inspector.js"), 200);
  ASSERT_HAS(ans.body, "/api/actors");
  cr_assert_eq(get(port, "/inspector.css"), 200);

  /* No cluster: no /api/nodes. */
  cr_assert_eq(get(port, "/api/nodes"), 404);
  ASSERT_HAS(ans.body, "\"error\":\"this node is in no cluster\"");
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(http, actors_sort_by_mailbox_and_page_without_overlap) {
  blocker_setup();
  hive_t *h = start_http("0", NULL);
  int port = hive_http_port(h);
  hive_pid_t echo[120];
  for (int i = 0; i < 120; i++)
    cr_assert_eq(hive_spawn(h, &echo_b, NULL, 0, NULL, &echo[i]), HIVE_OK);
  hive_pid_t busy = blocker_spawn_blocked(h, NULL);
  for (int i = 0; i < 500; i++)
    cr_assert_eq(hive_send(h, busy, TAG_WORK, NULL, 0), HIVE_OK);

  char busy_text[HIVE_PID_STRLEN], first[64];
  hive_pid_format(busy, busy_text, sizeof(busy_text));
  snprintf(first, sizeof(first), "[{\"pid\":\"%s\"", busy_text);
  cr_assert_eq(get(port, "/api/actors?sort=mailbox_len&limit=1"), 200, "%s", ans.text);
  cr_assert(strncmp(ans.body, first, strlen(first)) == 0, "%s", ans.body);
  ASSERT_HAS(ans.body, "\"mailbox_len\":500,");
  ASSERT_HAS(ans.text, "X-Total-Count: 121");
  cr_assert_eq(get(port, "/api/actors?sort=mailbox&limit=1"), 200); /* the short name */
  cr_assert(strncmp(ans.body, first, strlen(first)) == 0, "%s", ans.body);
  cr_assert_eq(get(port, "/api/actors?sort=mailbox_len&order=asc&limit=200"), 200);
  const char *last = NULL; /* ascending: the backed-up one comes last */
  for (const char *p = ans.body; (p = strstr(p, "{\"pid\":")) != NULL; p++)
    last = p;
  cr_assert(last != NULL && strncmp(last, first + 1, strlen(first + 1)) == 0, "%s", ans.body);

  /* Pages of 50 by pid: 121 actors, each exactly once. */
  int seen = 0;
  for (int offset = 0; offset < 150; offset += 50) {
    char path[64];
    snprintf(path, sizeof(path), "/api/actors?offset=%d&limit=50", offset);
    cr_assert_eq(get(port, path), 200);
    for (const char *p = ans.body; (p = strstr(p, "\"pid\":")) != NULL; p++)
      seen++;
  }
  cr_assert_eq(seen, 121);
  cr_assert_eq(get(port, "/api/actors?filter=blocker"), 200);
  ASSERT_HAS(ans.text, "X-Total-Count: 1");
  ASSERT_HAS(ans.body, busy_text);

  cr_assert_eq(get(port, "/api/actors?sort=nonsense"), 400);
  ASSERT_HAS(ans.body, "cannot sort by 'nonsense'");
  cr_assert_eq(get(port, "/api/actors?limit=-1"), 400);
  cr_assert_eq(get(port, "/api/actors?order=sideways"), 400);
  sem_post(&gate);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(http, unknown_paths_are_404_and_wrong_methods_405) {
  hive_t *h = start_http("0", NULL);
  int port = hive_http_port(h);
  cr_assert_eq(get(port, "/nothing"), 404);
  ASSERT_HAS(ans.text, "Content-Type: application/json");
  ASSERT_HAS(ans.body, "{\"error\":");
  cr_assert_eq(get(port, "/api/"), 404);
  cr_assert_eq(get(port, "/api/actors/0.999.1"), 404);
  ASSERT_HAS(ans.body, "no actor 0.999.1");
  cr_assert_eq(get(port, "/api/actors/nobody"), 404);
  cr_assert_eq(get(port, "/api/actors/x/y"), 404);
  cr_assert_eq(get(port, "/api/actors/0.1.1/kill"), 405); /* a kill is a POST */
  cr_assert_eq(request(port, "POST", "/api/node", "Content-Length: 0\r\n"), 405);
  cr_assert_eq(request(port, "DELETE", "/api/node", NULL), 405);
  cr_assert_eq(request(port, "POST", "/api/actors/nobody/kill", "Content-Length: 0\r\n"), 404);
  cr_assert_eq(hive_stop(h), HIVE_OK);
  /* No http_listen: no endpoint. */
  hive_t *none = start_http(NULL, NULL);
  cr_assert_eq(hive_http_port(none), HIVE_ENOTFOUND);
  cr_assert_eq(hive_stop(none), HIVE_OK);
}

Test(http, a_post_kills_and_the_supervisor_restarts_the_child, .init = log_setup) {
  hive_t *h = start_http("0", NULL);
  int port = hive_http_port(h);
  w_arg_t args[1] = {{.id = "a"}};
  hive_child_spec_t specs[1];
  w_specs(specs, args, 1, HIVE_RESTART_PERMANENT);
  hive_pid_t sup = sup_with(h, HIVE_SUP_ONE_FOR_ONE, specs, 1);
  wait_events(1);
  hive_pid_t old = child_pid(h, sup, "a");
  char old_text[HIVE_PID_STRLEN], path[80], want[80];
  hive_pid_format(old, old_text, sizeof(old_text));
  snprintf(path, sizeof(path), "/api/actors/%.*s/kill", (int)strlen(old_text) - 2, old_text + 1);
  int before = log_count();
  cr_assert_eq(request(port, "POST", path, "Content-Length: 0\r\n"), 200, "%s", ans.text);
  snprintf(want, sizeof(want), "{\"pid\":\"%s\"}", old_text);
  ASSERT_HAS(ans.body, want);
  wait_events(before + 2); /* stop a, start a */
  hive_pid_t now = child_pid(h, sup, "a");
  cr_assert(now != 0 && now != old);
  cr_assert_eq(get(port, "/api/tree"), 200);
  ASSERT_HAS(ans.body, "\"restarts\":1,");
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

/* ---- who may ask ----------------------------------------------------------- */

Test(http, a_token_on_loopback_guards_the_kill_only) {
  int port;
  hive_pid_t echo;
  hive_t *h = start_with_echo("127.0.0.1:0", "s3cret", &port, &echo);
  char text[HIVE_PID_STRLEN], path[80];
  hive_pid_format(echo, text, sizeof(text));
  snprintf(path, sizeof(path), "/api/actors/%.*s/kill", (int)strlen(text) - 2, text + 1);
  cr_assert_eq(get(port, "/api/node"), 200);
  cr_assert_eq(request(port, "POST", path, "Content-Length: 0\r\n"), 401);
  ASSERT_HAS(ans.text, "WWW-Authenticate: Bearer");
  cr_assert_eq(request(port, "POST", path, "Content-Length: 0\r\nAuthorization: Bearer s3cre\r\n"),
               401);
  cr_assert_eq(
      request(port, "POST", path, "Content-Length: 0\r\nAuthorization: Bearer s3cret!\r\n"), 401);
  cr_assert_eq(request(port, "POST", path, "Content-Length: 0\r\nAuthorization: Basic s3cret\r\n"),
               401);
  cr_assert_eq(hive_actor_stats(h, echo, &(hive_actor_stats_t){0}), HIVE_OK); /* still alive */
  cr_assert_eq(request(port, "POST", path, "Content-Length: 0\r\nAuthorization: Bearer s3cret\r\n"),
               200);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(http, loopback_refuses_other_host_names_and_cross_site_kills) {
  int port;
  hive_pid_t echo;
  hive_t *h = start_with_echo("0", NULL, &port, &echo);
  /* A DNS-rebinding page: its own host name, pointed at 127.0.0.1. */
  int fd = connect_to(port);
  const char *rebound =
      "GET /api/node HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n";
  cr_assert(http_send_all(fd, rebound, strlen(rebound)));
  cr_assert_eq(http_read_answer(fd, ans.text, sizeof(ans.text)), 403, "%s", ans.text);
  close(fd);
  static const char *loopback_names[] = {"localhost:1", "127.0.0.1", "[::1]:8080"};
  for (int i = 0; i < 3; i++) {
    const char *host = loopback_names[i];
    char req[256];
    snprintf(req, sizeof(req), "GET /api/node HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
             host);
    fd = connect_to(port);
    cr_assert(http_send_all(fd, req, strlen(req)));
    cr_assert_eq(http_read_answer(fd, ans.text, sizeof(ans.text)), 200, "Host: %s", host);
    close(fd);
  }
  /* A form on another site posting a kill. */
  char text[HIVE_PID_STRLEN], path[80], same[96];
  hive_pid_format(echo, text, sizeof(text));
  snprintf(path, sizeof(path), "/api/actors/%.*s/kill", (int)strlen(text) - 2, text + 1);
  cr_assert_eq(request(port, "POST", path, "Content-Length: 0\r\nOrigin: http://evil.example\r\n"),
               403);
  cr_assert_eq(hive_actor_stats(h, echo, &(hive_actor_stats_t){0}), HIVE_OK);
  snprintf(same, sizeof(same), "Content-Length: 0\r\nOrigin: http://127.0.0.1:%d\r\n", port);
  cr_assert_eq(request(port, "POST", path, same), 200, "%s", ans.text); /* the page's own */
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

/* Brings up lo in a network namespace of this test process's own, where
 * binding every address reaches nothing but this process. */
static bool private_network(void) {
  if (unshare(CLONE_NEWNET) != 0)
    return false;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = {0};
  strcpy(ifr.ifr_name, "lo");
  bool up = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags |= IFF_UP) &&
            ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  if (fd >= 0)
    close(fd);
  return up;
}

/* Collects the node's log lines. */
static char logged[4096];
static void log_into(void *user, int level, const char *line) {
  (void)user, (void)level;
  strncat(logged, line, sizeof(logged) - strlen(logged) - 2);
  strcat(logged, "\n");
}

Test(http, another_address_without_a_token_refuses_to_start_before_it_listens) {
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.log_fn = log_into;
  unsetenv("HIVE_HTTP_TOKEN");
  logged[0] = '\0';
  hive_t *h = NULL;
  for (const char *const *spec = (const char *const[]){"0.0.0.0:0", "[::]:0", NULL}; *spec;
       spec++) {
    cfg.http_listen = *spec;
    cr_assert_eq(hive_start(&h, &cfg), HIVE_EINVAL, "%s without a token must not start", *spec);
    cr_assert_null(h);
  }
  ASSERT_HAS(logged, "http: 0.0.0.0:0 is not a loopback address (any other address needs a token");
  cfg.http_listen = "nonsense:port";
  cr_assert_eq(hive_start(&h, &cfg), HIVE_EINVAL);
  ASSERT_HAS(logged, "http: 'nonsense:port' is not HOST:PORT or PORT");
}

Test(http, another_address_needs_the_token_for_every_read) {
  /* Binding every address, in a network namespace of this test's own:
   * nothing outside this process can reach it. scripts/test runs as root. */
  cr_assert(private_network(), "no network namespace: this test needs root");
  hive_config_t cfg;
  hive_config_init(&cfg);
  cfg.log_level = HIVE_LOG_NONE;
  cfg.http_listen = "0.0.0.0:0";
  setenv("HIVE_HTTP_TOKEN", "from-the-environment", 1);
  hive_t *h = test_start_config(&cfg);
  int port = hive_http_port(h);
  cr_assert_eq(get(port, "/api/node"), 401);
  ASSERT_HAS(ans.text, "WWW-Authenticate: Bearer");
  cr_assert_eq(get(port, "/metrics"), 401);
  cr_assert_eq(request(port, "GET", "/api/node", "Authorization: Bearer wrong\r\n"), 401);
  cr_assert_eq(request(port, "GET", "/api/node", "Authorization: Bearer from-the-environment\r\n"),
               200);
  cr_assert_eq(request(port, "GET", "/metrics", "Authorization: Bearer from-the-environment\r\n"),
               200);
  cr_assert_eq(get(port, "/"), 200); /* the page holds no data; it asks for the token */
  cr_assert_eq(hive_stop(h), HIVE_OK);
  unsetenv("HIVE_HTTP_TOKEN");
}

/* ---- clients that misbehave ------------------------------------------------ */

Test(http, a_one_mib_request_line_or_header_is_refused_and_the_node_serves_on) {
  int port;
  hive_pid_t echo;
  hive_t *h = start_with_echo("0", NULL, &port, &echo);
  size_t big = 1 << 20;
  char *req = malloc(big + 256);
  for (int which = 0; which < 2; which++) {
    size_t n;
    if (which == 0) { /* the request line */
      n = (size_t)sprintf(req, "GET /api/actors?filter=");
      memset(req + n, 'x', big);
      n += big;
      n += (size_t)sprintf(req + n, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    } else { /* one header */
      n = (size_t)sprintf(req, "GET /api/node HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ");
      memset(req + n, 'x', big);
      n += big;
      n += (size_t)sprintf(req + n, "\r\n\r\n");
    }
    int fd = connect_to(port);
    http_send_all(fd, req, n); /* the server may close before it is all sent */
    int status = http_read_answer(fd, ans.text, sizeof(ans.text));
    close(fd);
    cr_assert(status == 0 || status == 414 || status == 431, "status %d", status);
    cr_assert_eq(get(port, "/api/node"), 200);
    assert_workers_answer(h, echo);
  }
  free(req);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(http, a_client_sending_one_byte_a_second_holds_up_no_one) {
  int port;
  hive_pid_t echo;
  hive_t *h = start_with_echo("0", NULL, &port, &echo);
  int slow[2] = {connect_to(port), connect_to(port)}; /* as many as libmicrohttpd has threads */
  const char *req = "GET /api/node HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  size_t n = strlen(req);
  for (size_t i = 0; i < n; i++) {
    for (int s = 0; s < 2; s++)
      cr_assert(http_send_all(slow[s], req + i, 1));
    if (i % 8 == 0) { /* others are served all the while */
      cr_assert_eq(get(port, "/api/actors"), 200);
      assert_workers_answer(h, echo);
    }
    if (i < 4)
      sleep(1); /* the client's pace, not a wait for the server */
  }
  for (int s = 0; s < 2; s++) {
    cr_assert_eq(http_read_answer(slow[s], ans.text, sizeof(ans.text)), 200);
    close(slow[s]);
  }
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

static int concurrent_port;
static atomic_int concurrent_ok;

static void *concurrent_client(void *arg) {
  (void)arg;
  static const char *paths[] = {"/api/node", "/api/actors?sort=mailbox_len&limit=10", "/metrics",
                                "/api/tree", "/"};
  char *resp = malloc(1 << 18);
  for (int i = 0; i < 5; i++)
    if (http_fetch(concurrent_port, "GET", paths[i], NULL, resp, 1 << 18) == 200)
      atomic_fetch_add(&concurrent_ok, 1);
  free(resp);
  return NULL;
}

Test(http, two_hundred_clients_at_once_are_all_answered) {
  hive_pid_t echo;
  hive_t *h = start_with_echo("0", NULL, &concurrent_port, &echo);
  for (int i = 0; i < 200; i++) /* a node with some actors to list */
    cr_assert_eq(hive_spawn(h, &echo_b, NULL, 0, NULL, &(hive_pid_t){0}), HIVE_OK);
  atomic_store(&concurrent_ok, 0);
  pthread_t clients[200];
  for (int i = 0; i < 200; i++)
    cr_assert_eq(pthread_create(&clients[i], NULL, concurrent_client, NULL), 0);
  for (int i = 0; i < 50; i++)
    assert_workers_answer(h, echo); /* while they ask */
  for (int i = 0; i < 200; i++)
    pthread_join(clients[i], NULL);
  cr_assert_eq(atomic_load(&concurrent_ok), 1000);
  cr_assert_eq(hive_stop(h), HIVE_OK);
}

Test(http, a_stopped_node_closes_its_port) {
  hive_t *h = start_http("0", NULL);
  int port = hive_http_port(h);
  cr_assert_eq(get(port, "/api/node"), 200);
  cr_assert_eq(hive_stop(h), HIVE_OK);
  int fd = http_connect(port);
  cr_assert_lt(fd, 0, "the port is still open");
}
/* Supervision churn with the inspector reading and killing over HTTP (the
 * scenario ThreadSanitizer runs too, in concurrency_checks). */
Test(http, inspecting_over_http_while_children_crash_and_restart) {
  scenario_result_t failure = scenario_http_inspection(0);
  cr_assert_null(failure, "%s", failure);
}
