/*
 * pack.c - msgpack packing helpers shared by admin/ and gateway/ (pack.h).
 */
#include <string.h>

#include "pack.h"

static int pack_buf_write(void *data, const char *buf, size_t len) {
  hive__pack_buf_t *b = data;
  if (msgpack_sbuffer_write(&b->sb, buf, len) == 0)
    return 0;
  b->failed = true;
  return -1;
}

void hive__pack_buf_init(hive__pack_buf_t *b, msgpack_packer *pk) {
  msgpack_sbuffer_init(&b->sb);
  b->failed = false;
  msgpack_packer_init(pk, b, pack_buf_write);
}

void hive__pack_str(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

void hive__pack_key_str(msgpack_packer *pk, const char *key, const char *value) {
  hive__pack_str(pk, key);
  hive__pack_str(pk, value);
}

void hive__pack_key_u64(msgpack_packer *pk, const char *key, uint64_t value) {
  hive__pack_str(pk, key);
  msgpack_pack_uint64(pk, value);
}

void hive__pack_key_bool(msgpack_packer *pk, const char *key, bool value) {
  hive__pack_str(pk, key);
  if (value)
    msgpack_pack_true(pk);
  else
    msgpack_pack_false(pk);
}

void hive__pack_key_pid(msgpack_packer *pk, const char *key, hive_pid_t pid) {
  char text[HIVE_PID_STRLEN] = "";
  if (pid != 0)
    hive_pid_format(pid, text, sizeof(text));
  hive__pack_key_str(pk, key, text);
}

const char *hive__actor_state_name(int state) {
  static const char *const names[] = {"idle", "queued", "running", "exiting"};
  return state >= 0 && state < 4 ? names[state] : "unknown";
}

void hive__pack_actor_stats(msgpack_packer *pk, const hive_actor_stats_t *s) {
  msgpack_pack_map(pk, s->os_pid != 0 ? 23 : 20);
  hive__pack_key_pid(pk, "pid", s->pid);
  hive__pack_key_str(pk, "name", s->name);
  hive__pack_key_str(pk, "behaviour", s->behaviour);
  hive__pack_key_str(pk, "state", hive__actor_state_name(s->state));
  hive__pack_key_u64(pk, "mailbox_len", s->mailbox_len);
  hive__pack_key_u64(pk, "mailbox_hwm", s->mailbox_hwm);
  hive__pack_key_u64(pk, "capacity", s->capacity);
  hive__pack_key_u64(pk, "enqueued", s->enqueued);
  hive__pack_key_u64(pk, "processed", s->processed);
  hive__pack_key_u64(pk, "dropped", s->dropped);
  hive__pack_key_u64(pk, "dead_letters", s->dead_letters);
  hive__pack_key_u64(pk, "handler_ns", s->handler_ns);
  hive__pack_key_u64(pk, "handler_max_ns", s->handler_max_ns);
  hive__pack_key_u64(pk, "max_wait_ns", s->max_wait_ns);
  hive__pack_key_u64(pk, "long_handlers", s->long_handlers);
  hive__pack_key_u64(pk, "restarts", s->restarts);
  hive__pack_key_u64(pk, "links", s->links);
  hive__pack_key_u64(pk, "monitors", s->monitors);
  hive__pack_key_pid(pk, "parent", s->parent);
  hive__pack_key_bool(pk, "supervisor", s->supervisor);
  if (s->os_pid != 0) { /* a process actor */
    hive__pack_key_u64(pk, "os_pid", (uint64_t)s->os_pid);
    hive__pack_key_u64(pk, "rss_bytes", s->rss_bytes);
    hive__pack_key_u64(pk, "cpu_ns", s->cpu_ns);
  }
}
