/*
 * listen.h - the listening sockets of the admin socket, the gateway and
 * the HTTP endpoint, and the bearer-token comparison they share.
 */
#ifndef HIVE_UTIL_LISTEN_H
#define HIVE_UTIL_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Binds and listens at path with a non-blocking, close-on-exec Unix
 * socket into *fd, whose file only its owner may use (mode 0600). A stale
 * file left by a process that died (a socket nobody listens on) is
 * replaced; a live socket, or a file that is not a socket, is not touched:
 * HIVE_EADDRINUSE. HIVE_ENAMETOOLONG for a path too long for a socket
 * address, HIVE_ESYS for other failures. Remove the file with unlink once
 * the socket is closed.
 */
int hive__unix_listen(const char *path, int backlog, int *fd);

/*
 * Binds and listens at spec, "HOST:PORT", "[V6]:PORT" or "PORT" (meaning
 * 127.0.0.1), with a non-blocking, close-on-exec TCP socket into *fd; the
 * port it got (port 0 asks for a free one) in *port, and whether the
 * address is loopback (127.0.0.0/8, ::1) in *loopback (NULL: not wanted).
 * loopback_only refuses any other address before anything listens there.
 * HIVE_EINVAL for a spec that is not an address, or not loopback when
 * loopback_only, with the reason in why; HIVE_EADDRINUSE, HIVE_ESYS.
 */
int hive__tcp_listen(const char *spec, int backlog, bool loopback_only, int *fd, int *port,
                     bool *loopback, char *why, size_t why_size);

/* Whether got (got_len bytes) is want, in time that depends only on
 * want_len: a wrong token's prefix cannot be found by timing. */
bool hive__token_equal(const char *want, size_t want_len, const char *got, size_t got_len);

#endif /* HIVE_UTIL_LISTEN_H */
