/*
 * unix_listen.h - a listening Unix socket whose file only its owner may
 * use (mode 0600), for the admin socket and the gateway.
 */
#ifndef HIVE_UTIL_UNIX_LISTEN_H
#define HIVE_UTIL_UNIX_LISTEN_H

/*
 * Binds and listens at path with a non-blocking, close-on-exec socket
 * into *fd. A stale file left by a process that died (a socket nobody
 * listens on) is replaced; a live socket, or a file that is not a
 * socket, is not touched: HIVE_EADDRINUSE. HIVE_ENAMETOOLONG for a path
 * too long for a socket address, HIVE_ESYS for other failures. Remove the
 * file with unlink once the socket is closed.
 */
int hive__unix_listen(const char *path, int backlog, int *fd);

#endif /* HIVE_UTIL_UNIX_LISTEN_H */
