/*
 * http.c - the HTTP endpoint: /metrics for Prometheus, the JSON API under
 * /api, and the inspector page (docs/inspecting.md), served by GNU
 * libmicrohttpd on threads of its own, never the workers.
 *
 * Every answer is built by hive__admin_query (query.c), the same one the
 * admin socket gives hivectl, and written as JSON (util/json.c): the API
 * has the fields of hivectl --json by construction.
 *
 * Who may ask. A loopback address serves anyone on the machine (as the
 * admin socket serves its user); any other address needs http_token, and
 * every /metrics and /api request must then carry it as a bearer token.
 * The page itself holds no data and is served to anyone who can connect:
 * it sends the token it is given with each request. A kill is a POST, and
 * needs the token whenever one is set. Tokens compare in constant time.
 * On loopback, two browser attacks are refused: a page of another site
 * that rebinds its DNS name to 127.0.0.1 (the Host header must name
 * loopback), and a cross-site form that posts a kill (a POST's Origin,
 * when the browser sends one, must be the page's own).
 *
 * Limits, so that no client holds more than its share: libmicrohttpd
 * reads at most HTTP_REQUEST_MEMORY bytes of request line and headers
 * (more gets 431 or 414 and the connection closed), closes a connection
 * idle for HTTP_IDLE_S, and serves at most HTTP_CONNECTIONS_MAX at once
 * with epoll, so a slow client costs a socket, not a thread.
 */
#define _GNU_SOURCE /* open_memstream is POSIX; strcasecmp, strncasecmp */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h>

#include "admin.h"
#include "http_assets.h"
#include "util/json.h"
#include "util/listen.h"
#include "util/pack.h"

#define HTTP_THREADS 2
#define HTTP_CONNECTIONS_MAX 1024
#define HTTP_IDLE_S 30
#define HTTP_REQUEST_MEMORY (64 * 1024)

typedef struct hive__http {
  hive_t *h;
  struct MHD_Daemon *daemon;
  int port;
  bool loopback;
  char *token; /* owned; NULL: none */
  size_t token_len;
} hive__http_t;

/* ---- answers ------------------------------------------------------------- */

static enum MHD_Result http_send(struct MHD_Connection *conn, unsigned status, const char *type,
                                 char *body, size_t len, const char *total) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  if (r == NULL) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  if (total != NULL)
    MHD_add_response_header(r, "X-Total-Count", total);
  if (status == MHD_HTTP_UNAUTHORIZED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"hive\"");
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
  enum MHD_Result ok = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ok;
}

/* {"error": text} with status. */
static enum MHD_Result http_error(struct MHD_Connection *conn, unsigned status, const char *text) {
  char *body = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&body, &len);
  if (out == NULL)
    return MHD_NO;
  msgpack_object o = {.type = MSGPACK_OBJECT_STR,
                      .via.str = {.size = (uint32_t)strlen(text), .ptr = text}};
  fputs("{\"error\":", out);
  hive__json_write(out, &o);
  fputs("}\n", out);
  bool cut = ferror(out) != 0;
  if (fclose(out) != 0 || cut) {
    free(body);
    return MHD_NO; /* no memory even for the error: the connection closes */
  }
  return http_send(conn, status, "application/json", body, len, NULL);
}

static const msgpack_object *map_field(const msgpack_object *map, const char *key) {
  for (uint32_t i = 0; map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++) {
    const msgpack_object *k = &map->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
        memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
      return &map->via.map.ptr[i].val;
  }
  return NULL;
}

static unsigned http_status_of(int rc) {
  switch (rc) {
  case HIVE_ENOPROC:
  case HIVE_ENOTSUP:
    return MHD_HTTP_NOT_FOUND;
  case HIVE_EINVAL:
    return MHD_HTTP_BAD_REQUEST;
  default:
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
  }
}

/*
 * Answers q as JSON: the reply's field named by field (NULL: the whole
 * reply but "ok"), or {"error": ...} with a status that says why. The
 * metrics text goes out as it is.
 */
static enum MHD_Result http_query(hive__http_t *http, struct MHD_Connection *conn,
                                  const hive__admin_query_t *q, const char *field) {
  hive__pack_buf_t buf;
  msgpack_packer pk;
  hive__pack_buf_init(&buf, &pk);
  int rc = hive__admin_query(http->h, q, &pk);
  msgpack_unpacked un;
  msgpack_unpacked_init(&un);
  enum MHD_Result result;
  if (buf.failed ||
      msgpack_unpack_next(&un, buf.sb.data, buf.sb.size, NULL) != MSGPACK_UNPACK_SUCCESS) {
    result = http_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    goto out;
  }
  const msgpack_object *reply = &un.data;
  if (rc != HIVE_OK) {
    const msgpack_object *why = map_field(reply, "error");
    char text[256] = "failed";
    if (why != NULL && why->type == MSGPACK_OBJECT_STR)
      snprintf(text, sizeof(text), "%.*s", (int)why->via.str.size, why->via.str.ptr);
    result = http_error(conn, http_status_of(rc), text);
    goto out;
  }
  char *body = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&body, &len);
  if (out == NULL) {
    result = MHD_NO;
    goto out;
  }
  const msgpack_object *text = strcmp(q->op, "metrics") == 0 ? map_field(reply, "text") : NULL;
  if (text != NULL) {
    fwrite(text->via.str.ptr, 1, text->via.str.size, out);
  } else if (field != NULL) {
    const msgpack_object *value = map_field(reply, field);
    if (value != NULL)
      hive__json_write(out, value);
    else
      fputs("null", out); /* an answer without its field: a bug, not a crash */
    putc('\n', out);
  } else if (reply->via.map.size > 0) { /* the reply without "ok" */
    msgpack_object_map rest = reply->via.map;
    rest.ptr++, rest.size--; /* "ok" is packed first */
    hive__json_write(out, &(msgpack_object){.type = MSGPACK_OBJECT_MAP, .via.map = rest});
    putc('\n', out);
  }
  bool cut = ferror(out) != 0; /* a write the stream had no memory for */
  if (fclose(out) != 0 || cut) {
    free(body);
    result = http_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    goto out;
  }
  char total[24] = "";
  const msgpack_object *t = map_field(reply, "total");
  if (t != NULL)
    snprintf(total, sizeof(total), "%llu", (unsigned long long)t->via.u64);
  result = http_send(conn, MHD_HTTP_OK,
                     text != NULL ? "text/plain; version=0.0.4; charset=utf-8" : "application/json",
                     body, len, t != NULL ? total : NULL);
out:
  msgpack_unpacked_destroy(&un);
  msgpack_sbuffer_destroy(&buf.sb);
  return result;
}

static enum MHD_Result http_asset(struct MHD_Connection *conn, const hive__http_asset_t *a) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  /* The page asks nothing but this node, and runs no script it did not
   * load from here. */
  MHD_add_response_header(r, "Content-Security-Policy",
                          "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
  enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ok;
}

/* ---- who may ask --------------------------------------------------------- */

static bool http_has_token(hive__http_t *http, struct MHD_Connection *conn) {
  const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
  if (http->token == NULL || auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
    return false;
  return hive__token_equal(http->token, http->token_len, auth + 7, strlen(auth + 7));
}

/* A Host header naming loopback ("localhost", 127.x, [::1]), any port. */
static bool http_host_is_loopback(const char *host) {
  size_t n = strcspn(host, host[0] == '[' ? "]" : ":");
  if (host[0] == '[')
    return n == 4 && strncmp(host, "[::1", 4) == 0;
  if (n == 9 && strncasecmp(host, "localhost", 9) == 0)
    return true;
  return strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == n;
}

/* The Origin a browser sends, if any, is this server's own. */
static bool http_same_origin(struct MHD_Connection *conn) {
  const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
  const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
  if (origin == NULL)
    return true; /* not a browser's cross-site request */
  return host != NULL && strncmp(origin, "http://", 7) == 0 && strcmp(origin + 7, host) == 0;
}

/* ---- routes -------------------------------------------------------------- */

static const char *arg(struct MHD_Connection *conn, const char *key) {
  return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static bool arg_count(struct MHD_Connection *conn, const char *key, size_t *out) {
  const char *v = arg(conn, key);
  if (v == NULL)
    return true;
  size_t n = strlen(v);
  if (n == 0 || n > 10 || strspn(v, "0123456789") != n)
    return false;
  *out = (size_t)strtoull(v, NULL, 10);
  return true;
}

/* GET /api/actors?sort=&order=&offset=&limit=&filter= */
static enum MHD_Result http_actors(hive__http_t *http, struct MHD_Connection *conn) {
  const char *order = arg(conn, "order");
  hive__admin_query_t q = {.op = "ps",
                           .sort = arg(conn, "sort"),
                           .ascending = order != NULL && strcmp(order, "asc") == 0,
                           .filter = arg(conn, "filter")};
  if (q.filter != NULL && q.filter[0] == '\0')
    q.filter = NULL;
  if (!arg_count(conn, "offset", &q.offset) || !arg_count(conn, "limit", &q.limit) ||
      (order != NULL && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0))
    return http_error(conn, MHD_HTTP_BAD_REQUEST,
                      "offset and limit are counts; order is asc or desc");
  return http_query(http, conn, &q, "actors");
}

static enum MHD_Result http_route(hive__http_t *http, struct MHD_Connection *conn, const char *url,
                                  bool post) {
  /* GET / and its files: no data, so no token. */
  for (size_t i = 0; i < hive__http_nassets; i++)
    if (strcmp(url, hive__http_assets[i].path) == 0)
      return post ? http_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET")
                  : http_asset(conn, &hive__http_assets[i]);
  bool api = strncmp(url, "/api/", 5) == 0;
  if (!api && strcmp(url, "/metrics") != 0)
    return http_error(conn, MHD_HTTP_NOT_FOUND, "no such page");
  bool token = http_has_token(http, conn);
  if (!http->loopback && !token)
    return http_error(conn, MHD_HTTP_UNAUTHORIZED,
                      "this node needs its token: Authorization: Bearer TOKEN");

  const char *kill_suffix = "/kill";
  size_t n = strlen(url), ks = strlen(kill_suffix);
  if (strncmp(url, "/api/actors/", 12) == 0 && n > 12 + ks &&
      strcmp(url + n - ks, kill_suffix) == 0) {
    if (!post)
      return http_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "a kill is a POST");
    if (http->token != NULL && !token)
      return http_error(conn, MHD_HTTP_UNAUTHORIZED,
                        "a kill needs this node's token: Authorization: Bearer TOKEN");
    if (!http_same_origin(conn))
      return http_error(conn, MHD_HTTP_FORBIDDEN, "a kill from another site's page");
    char target[HIVE_PID_STRLEN + HIVE_NAME_MAX + 1];
    if (n - 12 - ks >= sizeof(target))
      return http_error(conn, MHD_HTTP_NOT_FOUND, "no such actor");
    memcpy(target, url + 12, n - 12 - ks);
    target[n - 12 - ks] = '\0';
    return http_query(http, conn, &(hive__admin_query_t){.op = "kill", .target = target}, NULL);
  }
  if (post)
    return http_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only a kill is a POST");
  if (strcmp(url, "/metrics") == 0)
    return http_query(http, conn, &(hive__admin_query_t){.op = "metrics"}, NULL);
  if (strcmp(url, "/api/node") == 0)
    return http_query(http, conn, &(hive__admin_query_t){.op = "node"}, NULL);
  if (strcmp(url, "/api/workers") == 0)
    return http_query(http, conn, &(hive__admin_query_t){.op = "node"}, "workers");
  if (strcmp(url, "/api/nodes") == 0)
    return http_query(http, conn, &(hive__admin_query_t){.op = "nodes"}, "nodes");
  if (strcmp(url, "/api/tree") == 0) {
    hive__admin_query_t q = {.op = "tree"};
    if (!arg_count(conn, "children", &q.children))
      return http_error(conn, MHD_HTTP_BAD_REQUEST, "children is a count");
    return http_query(http, conn, &q, "tree");
  }
  if (strcmp(url, "/api/actors") == 0)
    return http_actors(http, conn);
  if (strncmp(url, "/api/actors/", 12) == 0 && strchr(url + 12, '/') == NULL)
    return http_query(http, conn, &(hive__admin_query_t){.op = "stats", .target = url + 12},
                      "actor");
  return http_error(conn, MHD_HTTP_NOT_FOUND, "no such page");
}

/* libmicrohttpd's callback, on its threads: called once with the headers,
 * again for each piece of a body (read and thrown away: no route takes
 * one), and last with none, when the answer is given. */
static enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **req_cls) {
  (void)version, (void)upload_data;
  static int headers_seen;
  hive__http_t *http = cls;
  if (*req_cls == NULL) {
    *req_cls = &headers_seen;
    return MHD_YES;
  }
  if (*upload_data_size != 0) {
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (http->loopback) {
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
    if (host != NULL && !http_host_is_loopback(host))
      return http_error(conn, MHD_HTTP_FORBIDDEN,
                        "this node serves loopback names only (Host: 127.0.0.1 or localhost)");
  }
  bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
  if (!post && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return http_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET, and POST to kill");
  return http_route(http, conn, url, post);
}

static void http_log(void *cls, const char *fmt, va_list ap) {
  hive__http_t *http = cls;
  char line[256];
  vsnprintf(line, sizeof(line), fmt, ap);
  line[strcspn(line, "\n")] = '\0';
  hive_log(http->h, HIVE_LOG_DEBUG, "http: %s", line);
}

/* ---- start and stop ------------------------------------------------------ */

static void http_free(hive__http_t *http) {
  free(http->token);
  free(http);
}

int hive__http_start(hive_t *h, const hive_config_t *cfg) {
  if (cfg == NULL || cfg->http_listen == NULL)
    return HIVE_OK;
  hive__http_t *http = calloc(1, sizeof(*http));
  if (http == NULL)
    return HIVE_ENOMEM;
  http->h = h;
  const char *token = cfg->http_token != NULL ? cfg->http_token : getenv("HIVE_HTTP_TOKEN");
  if (token != NULL && token[0] != '\0') {
    if ((http->token = strdup(token)) == NULL) {
      http_free(http);
      return HIVE_ENOMEM;
    }
    http->token_len = strlen(token);
  }
  /* Without a token, only loopback: refused before anything listens. */
  char why[320];
  int fd;
  int rc = hive__tcp_listen(cfg->http_listen, 128, http->token == NULL, &fd, &http->port,
                            &http->loopback, why, sizeof(why));
  if (rc != HIVE_OK) {
    hive_log(h, HIVE_LOG_ERROR, "http: %s%s", why,
             rc == HIVE_EINVAL && http->token == NULL
                 ? " (any other address needs a token: http_token or HIVE_HTTP_TOKEN); not starting"
                 : "");
    http_free(http);
    return rc;
  }
  http->daemon = MHD_start_daemon(
      MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, http_on_request, http,
      MHD_OPTION_EXTERNAL_LOGGER, http_log, http, MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_THREADS, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)HTTP_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_S,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_REQUEST_MEMORY, MHD_OPTION_END);
  if (http->daemon == NULL) {
    hive_log(h, HIVE_LOG_ERROR, "http: libmicrohttpd did not start on %s", cfg->http_listen);
    close(fd);
    http_free(http);
    return HIVE_ESYS;
  }
  h->http = http;
  /* The address as a person types it: the host given ("PORT" alone means
   * 127.0.0.1), the port bound. */
  const char *colon = strrchr(cfg->http_listen, ':');
  int host_len = colon != NULL ? (int)(colon - cfg->http_listen) : 9;
  hive_log(h, HIVE_LOG_INFO, "http: the inspector is at http://%.*s:%d/%s", host_len,
           colon != NULL ? cfg->http_listen : "127.0.0.1", http->port,
           http->token != NULL ? " (with a token)" : "");
  return HIVE_OK;
}

void hive__http_stop(hive_t *h) {
  hive__http_t *http = h->http;
  if (http == NULL)
    return;
  MHD_stop_daemon(http->daemon); /* joins its threads, closes the socket */
  h->http = NULL;
  http_free(http);
}

int hive_http_port(hive_t *h) {
  if (h == NULL)
    return HIVE_EINVAL;
  hive__http_t *http = h->http;
  return http != NULL ? http->port : HIVE_ENOTFOUND;
}
