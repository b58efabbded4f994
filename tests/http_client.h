/*
 * http_client.h - the smallest HTTP/1.1 client, for the tests of the HTTP
 * endpoint: one request on a new loopback connection, read until the
 * server closes it (Connection: close).
 */
#ifndef HIVE_TEST_HTTP_CLIENT_H
#define HIVE_TEST_HTTP_CLIENT_H

#include <stdio.h>
#include <string.h>

#include "gw_client.h" /* gwc_connect_tcp, gwc_write_all */

/* A connection to 127.0.0.1:port (reads give up after 30 s); -1 if refused. */
static inline int http_connect(int port) {
  return gwc_connect_tcp(port);
}

static inline bool http_send_all(int fd, const char *p, size_t n) {
  return gwc_write_all(fd, p, n);
}

/* Reads the answer until the server closes, into resp (NUL-terminated);
 * its status (0: none). */
static inline int http_read_answer(int fd, char *resp, size_t size) {
  size_t got = 0;
  ssize_t n;
  while (got + 1 < size && (n = recv(fd, resp + got, size - 1 - got, 0)) > 0)
    got += (size_t)n;
  resp[got] = '\0';
  int status = 0;
  sscanf(resp, "HTTP/1.%*d %d", &status);
  return status;
}

/* method path, with extra header lines (each ending "\r\n") or NULL; the
 * answer's head and body in resp; its status (0: no answer). */
static inline int http_fetch(int port, const char *method, const char *path, const char *headers,
                             char *resp, size_t size) {
  int fd = http_connect(port);
  if (fd < 0) {
    resp[0] = '\0';
    return 0;
  }
  char req[4096];
  int n = snprintf(req, sizeof(req),
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s\r\n", method,
                   path, port, headers != NULL ? headers : "");
  int status = http_send_all(fd, req, (size_t)n) ? http_read_answer(fd, resp, size) : 0;
  close(fd);
  return status;
}

/* The body of an answer http_fetch read. */
static inline const char *http_body(const char *resp) {
  const char *end = strstr(resp, "\r\n\r\n");
  return end != NULL ? end + 4 : "";
}

#endif /* HIVE_TEST_HTTP_CLIENT_H */
