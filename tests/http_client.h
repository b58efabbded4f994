/*
 * http_client.h - the smallest HTTP/1.1 client, for the tests of the HTTP
 * endpoint: one request on a new loopback connection, read until the
 * server closes it (Connection: close).
 */
#ifndef HIVE_TEST_HTTP_CLIENT_H
#define HIVE_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* A connection to 127.0.0.1:port whose reads give up after 60 s; -1 if
 * refused. */
static inline int http_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {.tv_sec = 60};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static inline bool http_send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t put = send(fd, p, n, MSG_NOSIGNAL);
    if (put <= 0)
      return false;
    p += put, n -= (size_t)put;
  }
  return true;
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
