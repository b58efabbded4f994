/*
 * channel.h - the frames a process actor and its node exchange over their
 * socket pair (process/): the node's side is the actor's proxy
 * (proxy.c), the other side the child's host loop (host.c).
 *
 * A frame is a fixed 32-byte head then `len` bytes of data:
 *
 *   node -> child   INIT     a: the actor's pid   b: the behaviour's offset in its module
 *                            tag: the limits' size data: limits, module path, NUL, arg
 *                   MSG      tag, a: from, b: ref  data: the payload
 *                   TERM     tag: reason kind, code: reason code   data: reason text
 *   child -> node   DONE     code: what the callback returned
 *                   SEND     a: to, tag            data: the payload
 *                   REPLY    a: to, b: ref         data: the payload
 *                   DYING    code: a fatal signal  a: its address space then, bytes
 *
 * One callback at a time: the node sends INIT, MSG or TERM and reads SEND
 * and REPLY frames until DONE. A frame that breaks these rules (an unknown
 * type, a length past the limit, DONE with nothing running) is a protocol
 * error: the node ends that actor with reason crash, text "protocol".
 */
#ifndef HIVE_PROCESS_CHANNEL_H
#define HIVE_PROCESS_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
  PROC_INIT = 1,
  PROC_MSG,
  PROC_TERM,
  PROC_DONE,
  PROC_SEND,
  PROC_REPLY,
  PROC_DYING,
};

#define PROC_MAX_DATA (64u << 20) /* the largest payload a frame carries */

typedef struct proc_head {
  uint32_t type;
  uint32_t len; /* bytes of data after the head */
  uint32_t tag;
  int32_t code;
  uint64_t a, b;
} proc_head_t;
_Static_assert(sizeof(proc_head_t) == 32, "the head is 32 bytes on the wire");

/* Checks a head read from the other side: true if it may be followed.
 * from_child: the frame came from a child (only DONE, SEND, REPLY). */
bool hive__proc_head_ok(const proc_head_t *head, bool from_child);

/* Writes a whole frame (head, then len bytes of data) to fd; false if the
 * other side is gone (never a SIGPIPE). */
bool hive__proc_write(int fd, uint32_t type, uint32_t tag, int32_t code, uint64_t a, uint64_t b,
                      const void *data, size_t len);
/* Waits up to spin_ns, yielding the core between looks, for fd to have
 * something to read (or EOF); true if it has. A side that sleeps in read
 * and is woken from another core pays tens of microseconds on a machine
 * like ours (a Unix-socket round trip: 60 us asleep, 3 us spinning), and
 * the next frame usually follows the last within that. */
bool hive__proc_spin_readable(int fd, uint64_t spin_ns);
/* Reads exactly n bytes; false at EOF or on an error. */
bool hive__proc_read(int fd, void *buf, size_t n);

#endif /* HIVE_PROCESS_CHANNEL_H */
