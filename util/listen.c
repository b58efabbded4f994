/*
 * listen.c - see listen.h.
 *
 * Unix sockets: the mode is set on the socket before bind (fchmod), which Linux gives
 * the file it creates, so the file is never open to others, even for the
 * moment between bind and the chmod that follows it.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hive/hive.h"
#include "listen.h"

/* A socket file nobody listens on: left by a process that died. */
static int unix_stale(const char *path, const struct sockaddr_un *addr) {
  struct stat st;
  if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
    return 0;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  int refused =
      connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 && errno == ECONNREFUSED;
  close(fd);
  return refused;
}

int hive__unix_listen(const char *path, int backlog, int *out) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(addr.sun_path))
    return HIVE_ENAMETOOLONG;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return HIVE_ESYS;
  fchmod(fd, S_IRUSR | S_IWUSR);
  int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
  if (rc != 0 && errno == EADDRINUSE && unix_stale(path, &addr)) {
    unlink(path);
    rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
  }
  if (rc != 0) {
    int err = errno;
    close(fd);
    return err == EADDRINUSE ? HIVE_EADDRINUSE : HIVE_ESYS;
  }
  if (chmod(path, S_IRUSR | S_IWUSR) != 0 || listen(fd, backlog) != 0) {
    close(fd);
    unlink(path);
    return HIVE_ESYS;
  }
  *out = fd;
  return HIVE_OK;
}

/* Splits "HOST:PORT" ("[V6]:PORT" too) or "PORT" (127.0.0.1). */
static bool tcp_split(const char *spec, char *host, size_t host_size, char *port,
                      size_t port_size) {
  const char *colon = strrchr(spec, ':');
  const char *p = colon != NULL ? colon + 1 : spec;
  size_t hn = colon != NULL ? (size_t)(colon - spec) : 0;
  const char *h = spec;
  if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']')
    h++, hn -= 2;
  if (colon == NULL)
    h = "127.0.0.1", hn = strlen(h);
  if (hn == 0 || hn >= host_size || strlen(p) == 0 || strlen(p) >= port_size ||
      strspn(p, "0123456789") != strlen(p))
    return false;
  memcpy(host, h, hn);
  host[hn] = '\0';
  strcpy(port, p);
  return true;
}

static bool tcp_loopback(const struct sockaddr *addr) {
  if (addr->sa_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
  const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(a6))
    return a6->s6_addr[12] == 127;
  return IN6_IS_ADDR_LOOPBACK(a6);
}

int hive__tcp_listen(const char *spec, int backlog, bool loopback_only, int *out, int *port,
                     bool *loopback, char *why, size_t why_size) {
  char host[256], service[8];
  if (!tcp_split(spec, host, sizeof(host), service, sizeof(service))) {
    snprintf(why, why_size, "'%s' is not HOST:PORT or PORT", spec);
    return HIVE_EINVAL;
  }
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *found;
  int rc = getaddrinfo(host, service, &hints, &found);
  if (rc != 0) {
    snprintf(why, why_size, "cannot resolve '%s': %s", host, gai_strerror(rc));
    return HIVE_EINVAL;
  }
  int fd = -1, err = HIVE_ESYS;
  for (struct addrinfo *ai = found; ai != NULL && fd < 0; ai = ai->ai_next) {
    if (loopback_only && !tcp_loopback(ai->ai_addr)) {
      err = HIVE_EINVAL; /* refused before anything listens there */
      continue;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
      continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
      break;
    err = errno == EADDRINUSE ? HIVE_EADDRINUSE : HIVE_ESYS;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(found);
  if (fd < 0) {
    if (err == HIVE_EINVAL)
      snprintf(why, why_size, "%s is not a loopback address", spec);
    else
      snprintf(why, why_size, "cannot listen on %s: %s", spec, hive_strerror(err));
    return err;
  }
  struct sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  getsockname(fd, (struct sockaddr *)&addr, &len);
  *port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                           : ((struct sockaddr_in *)&addr)->sin_port);
  if (loopback != NULL)
    *loopback = tcp_loopback((const struct sockaddr *)&addr);
  *out = fd;
  return HIVE_OK;
}

bool hive__token_equal(const char *want, size_t want_len, const char *got, size_t got_len) {
  unsigned char diff = got_len != want_len;
  for (size_t i = 0; i < want_len; i++)
    diff |= (unsigned char)want[i] ^ (unsigned char)(i < got_len ? got[i] : 0);
  return diff == 0;
}
