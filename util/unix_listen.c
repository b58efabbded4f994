/*
 * unix_listen.c - see unix_listen.h.
 *
 * The mode is set on the socket before bind (fchmod), which Linux gives
 * the file it creates, so the file is never open to others, even for the
 * moment between bind and the chmod that follows it.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hive/hive.h"
#include "unix_listen.h"

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
