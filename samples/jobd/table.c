/*
 * table.c - "jobd", the job table: the actor the gateway's clients call
 * (docs/jobd.md has the operations), and the only writer of the SQLite
 * database that holds every job. It runs on the blocking pool: a commit
 * waits for the disk.
 *
 * Writes are batched per turn: the first write after a commit opens a
 * transaction and sends the table a FLUSH, which comes after every message
 * already in its mailbox; the FLUSH commits. Only then are the batch's
 * submits answered (with their ids) and handed to the scheduler, and the
 * clients waiting on jobs that ended told: nothing is answered that a crash
 * could still take back. If the commit (or any write in it) fails, the
 * whole batch is rolled back and its submits answered with an error:
 * what was accepted before stays. The batch's records of jobs starting and
 * ending are not lost with it: they wait in a backlog, which a timer
 * writes again every RETRY_MS, in order, and every later record waits
 * behind them until it has gone in (so no older record overwrites a newer
 * one).
 *
 * WAL mode, synchronous=FULL: a committed submit survives a kill -9 of
 * jobd and a power cut.
 */
#define _GNU_SOURCE
#include <msgpack.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "jobd.h"

#define TABLE_MAX_WAITERS 10000  /* result waits and cancels in flight */
#define TABLE_MAX_WATCHERS 10000 /* watches of jobs not yet ended */
#define TABLE_LIST_MAX 10000
#define RETRY_MS 1000 /* how soon a backlog of rolled-back records is written again */

/* Whom to answer: the request being handled (now), or one kept from an
 * earlier turn (now NULL; hive_reply finds the debt by from and ref). */
typedef struct {
  hive_pid_t from;
  uint64_t ref;
  const hive_msg_t *now;
} caller_t;

typedef struct {
  caller_t caller;
  int64_t id;
  hive_timer_t timer; /* wait_ms; cancels have none */
  bool has_timer, cancel;
} waiter_t;

typedef struct {
  hive_pid_t client; /* the gateway connection's pid, pushed to */
  int64_t id;
} watcher_t;

typedef struct {
  caller_t caller;
  jobd_job_t *job; /* owned: to the scheduler once committed */
} submit_t;

/* A record from the scheduler (STARTED or ENDED), kept until committed. */
typedef struct {
  uint32_t tag;
  size_t len;
  unsigned char data[];
} record_t;

typedef struct {
  record_t **all; /* owned, oldest first */
  size_t n, cap;
} records_t;

enum {
  ST_INSERT,
  ST_STARTED,
  ST_ENDED,
  ST_GET,
  ST_LIST,
  ST_LIST_STATE,
  ST_COUNTS,
  ST_PURGE,
  ST_UNFINISHED,
  ST_COUNT
};

static const char *const statements[ST_COUNT] = {
    [ST_INSERT] = "INSERT INTO jobs(kind, args, isolate, timeout_ms, retries, state, attempts, "
                  "submitted_ms) VALUES(?, ?, ?, ?, ?, 'queued', 0, ?)",
    [ST_STARTED] = "UPDATE jobs SET state = 'running', attempts = ?, started_ms = ? WHERE id = ?",
    [ST_ENDED] = "UPDATE jobs SET state = ?, attempts = ?, ended_ms = ?, result = ? WHERE id = ?",
    [ST_GET] = "SELECT id, kind, state, attempts, isolate, submitted_ms, started_ms, ended_ms, "
               "result, args, timeout_ms, retries FROM jobs WHERE id = ?",
    [ST_LIST] = "SELECT id, kind, state, attempts FROM jobs ORDER BY id DESC LIMIT ?",
    [ST_LIST_STATE] = "SELECT id, kind, state, attempts FROM jobs WHERE state = ? "
                      "ORDER BY id DESC LIMIT ?",
    [ST_COUNTS] = "SELECT state, COUNT(*) FROM jobs GROUP BY state",
    [ST_PURGE] = "DELETE FROM jobs WHERE state NOT IN ('queued', 'running') AND ended_ms < ?",
    [ST_UNFINISHED] = "SELECT id, kind, args, isolate, timeout_ms, retries, attempts FROM jobs "
                      "WHERE state IN ('queued', 'running') ORDER BY id",
};

typedef struct {
  jobd_table_arg_t cfg;
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  bool in_batch;
  bool batch_failed; /* a write of this batch failed: it is rolled back */
  submit_t *submits; /* this batch's */
  size_t nsubmits, capsubmits;
  int64_t *ended; /* ids that ended in this batch */
  size_t nended, capended;
  waiter_t *waiters;
  size_t nwaiters;
  watcher_t *watchers;
  size_t nwatchers;
  size_t unfinished; /* jobs queued or running: bounded by max_queued */
  records_t batch;   /* the records written in the open batch */
  records_t backlog; /* records of rolled-back batches, and those behind them */
  bool retry_armed;  /* a JOBD_TAG_RETRY is on its way */
  hive_timer_t purge;
} table_t;

/* ---- msgpack answers --------------------------------------------------- */

static void pack_key(msgpack_packer *pk, const char *key) {
  size_t n = strlen(key);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, key, n);
}
static void pack_string(msgpack_packer *pk, const char *s) {
  pack_key(pk, s);
}
static void pack_column_int(msgpack_packer *pk, sqlite3_stmt *st, int col) {
  if (sqlite3_column_type(st, col) == SQLITE_NULL)
    msgpack_pack_nil(pk);
  else
    msgpack_pack_int64(pk, sqlite3_column_int64(st, col));
}

/* An answer being packed. */
typedef struct {
  msgpack_sbuffer sb;
  msgpack_packer pk; /* writes into sb */
} out_t;

static void out_init(out_t *o) {
  msgpack_sbuffer_init(&o->sb);
  msgpack_packer_init(&o->pk, &o->sb, msgpack_sbuffer_write);
}

static void answer(hive_ctx_t *ctx, caller_t to, const msgpack_sbuffer *sb) {
  hive_msg_t kept = {.tag = HIVE_TAG_USER, .from = to.from, .ref = to.ref};
  hive_reply(ctx, to.now != NULL ? to.now : &kept, sb->data, sb->size);
}

static void answer_error(hive_ctx_t *ctx, caller_t to, const char *kind, const char *detail) {
  out_t o;
  out_init(&o);
  msgpack_pack_map(&o.pk, 2);
  pack_key(&o.pk, "error");
  pack_string(&o.pk, kind);
  pack_key(&o.pk, "detail");
  pack_string(&o.pk, detail);
  answer(ctx, to, &o.sb);
  msgpack_sbuffer_destroy(&o.sb);
}

/* ---- the request's fields ------------------------------------------------ */

static const msgpack_object *field(const msgpack_object *map, const char *key) {
  size_t n = strlen(key);
  for (uint32_t i = 0; i < map->via.map.size; i++) {
    const msgpack_object_kv *kv = &map->via.map.ptr[i];
    if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == n &&
        memcmp(kv->key.via.str.ptr, key, n) == 0)
      return &kv->val;
  }
  return NULL;
}

/* An unsigned field: *out, or def when absent; false if of another type. */
static bool field_uint(const msgpack_object *map, const char *key, uint64_t def, uint64_t *out) {
  const msgpack_object *v = field(map, key);
  if (v == NULL || v->type == MSGPACK_OBJECT_NIL) {
    *out = def;
    return true;
  }
  if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return false;
  *out = v->via.u64;
  return true;
}

/* ---- the database -------------------------------------------------------- */

static bool db_exec(table_t *t, const char *sql) {
  return sqlite3_exec(t->db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

/* Runs a write statement (bound already); false and the batch marked
 * failed if it did not go in. */
static bool db_write(hive_ctx_t *ctx, table_t *t, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc == SQLITE_DONE)
    return true;
  hive_log(hive_node(ctx), HIVE_LOG_ERROR, "database %s: %s", t->cfg.db, sqlite3_errmsg(t->db));
  t->batch_failed = true;
  return false;
}

/* Opens a batch if none is open: its FLUSH commits it. */
static bool batch_open(hive_ctx_t *ctx, table_t *t) {
  if (t->in_batch)
    return !t->batch_failed;
  if (!db_exec(t, "BEGIN IMMEDIATE")) {
    hive_log(hive_node(ctx), HIVE_LOG_ERROR, "database %s: %s", t->cfg.db, sqlite3_errmsg(t->db));
    return false;
  }
  t->in_batch = true;
  t->batch_failed = false;
  hive_send(hive_node(ctx), hive_self(ctx), JOBD_TAG_FLUSH, NULL, 0);
  return true;
}

/* An array of *cap items of size bytes, n of them used, with room for one
 * more: items, or a larger copy (*cap updated); NULL, items untouched, if
 * there is no memory for it. */
static void *room_for_one(void *items, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return items;
  size_t larger = *cap > 0 ? *cap * 2 : 64;
  void *grown = realloc(items, larger * size);
  if (grown != NULL)
    *cap = larger;
  return grown;
}

static void note_ended(table_t *t, int64_t id) {
  int64_t *ended = room_for_one(t->ended, &t->capended, t->nended, sizeof(*ended));
  if (ended == NULL)
    return; /* its waiters learn at their wait_ms */
  t->ended = ended;
  t->ended[t->nended++] = id;
}

/* Packs a job's row (ST_GET stepped onto it) as the status map; with_result
 * adds "result" or "error". */
static void pack_status(msgpack_packer *pk, sqlite3_stmt *st, bool with_result) {
  const char *state = (const char *)sqlite3_column_text(st, 2);
  bool done = state != NULL && strcmp(state, "done") == 0;
  bool final = state != NULL && strcmp(state, "queued") != 0 && strcmp(state, "running") != 0;
  msgpack_pack_map(pk, with_result ? 9 : 8);
  pack_key(pk, "id");
  msgpack_pack_int64(pk, sqlite3_column_int64(st, 0));
  pack_key(pk, "kind");
  pack_string(pk, (const char *)sqlite3_column_text(st, 1));
  pack_key(pk, "state");
  pack_string(pk, state != NULL ? state : "?");
  pack_key(pk, "attempts");
  msgpack_pack_int64(pk, sqlite3_column_int64(st, 3));
  pack_key(pk, "isolate");
  sqlite3_column_int(st, 4) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
  pack_key(pk, "submitted_ms");
  pack_column_int(pk, st, 5);
  pack_key(pk, "started_ms");
  pack_column_int(pk, st, 6);
  pack_key(pk, "ended_ms");
  pack_column_int(pk, st, 7);
  if (!with_result)
    return;
  pack_key(pk, done ? "result" : "error");
  const void *blob = sqlite3_column_blob(st, 8);
  int n = sqlite3_column_bytes(st, 8);
  if (final && blob != NULL && n > 0)
    msgpack_sbuffer_write(pk->data, blob, (size_t)n); /* one msgpack value, as stored */
  else
    msgpack_pack_nil(pk);
}

/* Answers to with the job's status (or result); false if there is no such job. */
static bool answer_row(hive_ctx_t *ctx, table_t *t, caller_t to, int64_t id, bool with_result) {
  sqlite3_stmt *st = t->st[ST_GET];
  sqlite3_bind_int64(st, 1, id);
  bool found = sqlite3_step(st) == SQLITE_ROW;
  if (found) {
    out_t o;
    out_init(&o);
    pack_status(&o.pk, st, with_result);
    if (to.ref != 0)
      answer(ctx, to, &o.sb);
    else /* a watcher: pushed */
      hive_send(hive_node(ctx), to.from, JOBD_TAG_ENDED, o.sb.data, o.sb.size);
    msgpack_sbuffer_destroy(&o.sb);
  }
  sqlite3_reset(st);
  return found;
}

/* The job's state now: JOBD_*, or -1 if there is no such job. */
static int row_state(table_t *t, int64_t id) {
  sqlite3_stmt *st = t->st[ST_GET];
  sqlite3_bind_int64(st, 1, id);
  int state = -1;
  if (sqlite3_step(st) == SQLITE_ROW) {
    const char *s = (const char *)sqlite3_column_text(st, 2);
    state = s != NULL ? jobd_state_of(s, strlen(s)) : -1;
  }
  sqlite3_reset(st);
  return state;
}

static bool final_state(int state) {
  return state >= JOBD_DONE;
}

/* ---- operations ---------------------------------------------------------- */

static void op_submit(hive_ctx_t *ctx, table_t *t, caller_t caller, const msgpack_object *req) {
  const msgpack_object *kind = field(req, "kind"), *args = field(req, "args"),
                       *isolate = field(req, "isolate");
  uint64_t timeout_ms, retries;
  int k = kind != NULL && kind->type == MSGPACK_OBJECT_STR
              ? jobd_kind_of(kind->via.str.ptr, kind->via.str.size)
              : -1;
  if (k < 0)
    return answer_error(ctx, caller, "badarg",
                        "kind: one of primes, sleep, crash, hang, spin, fail");
  if (args != NULL && args->type != MSGPACK_OBJECT_ARRAY && args->type != MSGPACK_OBJECT_NIL)
    return answer_error(ctx, caller, "badarg", "args: an array");
  if (isolate != NULL && isolate->type != MSGPACK_OBJECT_BOOLEAN &&
      isolate->type != MSGPACK_OBJECT_NIL)
    return answer_error(ctx, caller, "badarg", "isolate: true or false");
  if (!field_uint(req, "timeout_ms", 0, &timeout_ms) || timeout_ms > UINT32_MAX)
    return answer_error(ctx, caller, "badarg", "timeout_ms: a whole number of milliseconds");
  if (!field_uint(req, "retries", 0, &retries) || retries > 100)
    return answer_error(ctx, caller, "badarg", "retries: 0 to 100");
  if (t->unfinished >= t->cfg.max_queued)
    return answer_error(ctx, caller, "full", "too many jobs queued or running (max_queued)");
  bool iso = isolate != NULL && isolate->type == MSGPACK_OBJECT_BOOLEAN ? isolate->via.boolean
                                                                        : t->cfg.isolate;
  out_t packed_args;
  out_init(&packed_args);
  if (args != NULL && args->type == MSGPACK_OBJECT_ARRAY)
    msgpack_pack_object(&packed_args.pk, *args);
  else
    msgpack_pack_array(&packed_args.pk, 0);
  jobd_job_t *job = malloc(sizeof(*job) + packed_args.sb.size);
  submit_t *submits = room_for_one(t->submits, &t->capsubmits, t->nsubmits, sizeof(*submits));
  if (submits != NULL)
    t->submits = submits;
  if (job == NULL || submits == NULL || !batch_open(ctx, t)) {
    free(job);
    msgpack_sbuffer_destroy(&packed_args.sb);
    bool memory = job == NULL || submits == NULL;
    return answer_error(ctx, caller, memory ? "internal" : "storage",
                        memory ? "no memory" : sqlite3_errmsg(t->db));
  }
  *job = (jobd_job_t){.kind = (uint32_t)k,
                      .retries = (uint32_t)retries,
                      .timeout_ms = (uint32_t)timeout_ms,
                      .isolate = iso || k == JOBD_SPIN,
                      .args_len = (uint32_t)packed_args.sb.size};
  memcpy(job->args, packed_args.sb.data, packed_args.sb.size);
  msgpack_sbuffer_destroy(&packed_args.sb);
  sqlite3_stmt *st = t->st[ST_INSERT];
  sqlite3_bind_text(st, 1, jobd_kind_name(job->kind), -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, job->args, (int)job->args_len, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, job->isolate != 0);
  sqlite3_bind_int64(st, 4, job->timeout_ms);
  sqlite3_bind_int64(st, 5, job->retries);
  sqlite3_bind_int64(st, 6, jobd_now_ms());
  if (!db_write(ctx, t, st)) {
    free(job);
    return answer_error(ctx, caller, "storage", sqlite3_errmsg(t->db));
  }
  job->id = sqlite3_last_insert_rowid(t->db);
  caller.now = NULL; /* answered in a later turn */
  t->submits[t->nsubmits++] = (submit_t){.caller = caller, .job = job};
  t->unfinished++;
}

static void op_result(hive_ctx_t *ctx, table_t *t, caller_t caller, int64_t id,
                      const msgpack_object *req, bool cancel) {
  uint64_t wait_ms;
  if (!field_uint(req, "wait_ms", 0, &wait_ms) || wait_ms > 3600u * 1000u)
    return answer_error(ctx, caller, "badarg", "wait_ms: 0 to 3600000");
  int state = row_state(t, id);
  if (state < 0)
    return answer_error(ctx, caller, "notfound", "no job with that id");
  if (final_state(state) || (!cancel && wait_ms == 0)) {
    answer_row(ctx, t, caller, id, true);
    return;
  }
  if (t->nwaiters == TABLE_MAX_WAITERS)
    return answer_error(ctx, caller, "busy", "too many clients waiting");
  waiter_t *w = &t->waiters[t->nwaiters];
  caller.now = NULL; /* answered in a later turn */
  *w = (waiter_t){.caller = caller, .id = id, .cancel = cancel};
  if (!cancel) {
    uint64_t key[2] = {caller.from, caller.ref};
    if (hive_send_after(hive_node(ctx), hive_self(ctx), JOBD_TAG_WAIT_OVER, key, sizeof(key),
                        (unsigned)wait_ms, &w->timer) != HIVE_OK)
      return answer_error(ctx, caller, "internal", "cannot set a timer");
    w->has_timer = true;
  }
  t->nwaiters++;
  if (cancel)
    hive_send(hive_node(ctx), hive_whereis(hive_node(ctx), JOBD_SCHEDULER), JOBD_TAG_CANCEL, &id,
              sizeof(id));
}

static void op_watch(hive_ctx_t *ctx, table_t *t, caller_t caller, int64_t id) {
  int state = row_state(t, id);
  if (state < 0)
    return answer_error(ctx, caller, "notfound", "no job with that id");
  if (!final_state(state) && t->nwatchers == TABLE_MAX_WATCHERS)
    return answer_error(ctx, caller, "busy", "too many watches");
  out_t o;
  out_init(&o);
  msgpack_pack_map(&o.pk, 2);
  pack_key(&o.pk, "id");
  msgpack_pack_int64(&o.pk, id);
  pack_key(&o.pk, "watching");
  msgpack_pack_true(&o.pk);
  answer(ctx, caller, &o.sb);
  msgpack_sbuffer_destroy(&o.sb);
  if (final_state(state)) /* ended already: the push comes at once */
    answer_row(ctx, t, (caller_t){.from = caller.from}, id, true);
  else
    t->watchers[t->nwatchers++] = (watcher_t){.client = caller.from, .id = id};
}

static void op_list(hive_ctx_t *ctx, table_t *t, caller_t caller, const msgpack_object *req) {
  uint64_t limit;
  const msgpack_object *state = field(req, "state");
  if (!field_uint(req, "limit", 100, &limit) || limit == 0 || limit > TABLE_LIST_MAX)
    return answer_error(ctx, caller, "badarg", "limit: 1 to 10000");
  sqlite3_stmt *st;
  if (state != NULL && state->type != MSGPACK_OBJECT_NIL) {
    if (state->type != MSGPACK_OBJECT_STR ||
        jobd_state_of(state->via.str.ptr, state->via.str.size) < 0)
      return answer_error(ctx, caller, "badarg",
                          "state: queued, running, done, failed, cancelled, crashed or timeout");
    st = t->st[ST_LIST_STATE];
    sqlite3_bind_text(st, 1, state->via.str.ptr, (int)state->via.str.size, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (int64_t)limit);
  } else {
    st = t->st[ST_LIST];
    sqlite3_bind_int64(st, 1, (int64_t)limit);
  }
  out_t rows, o; /* the rows, then the array of them once counted */
  out_init(&rows);
  uint32_t n = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    msgpack_pack_map(&rows.pk, 4);
    pack_key(&rows.pk, "id");
    msgpack_pack_int64(&rows.pk, sqlite3_column_int64(st, 0));
    pack_key(&rows.pk, "kind");
    pack_string(&rows.pk, (const char *)sqlite3_column_text(st, 1));
    pack_key(&rows.pk, "state");
    pack_string(&rows.pk, (const char *)sqlite3_column_text(st, 2));
    pack_key(&rows.pk, "attempts");
    msgpack_pack_int64(&rows.pk, sqlite3_column_int64(st, 3));
    n++;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  out_init(&o);
  msgpack_pack_array(&o.pk, n);
  msgpack_sbuffer_write(&o.sb, rows.sb.data, rows.sb.size);
  answer(ctx, caller, &o.sb);
  msgpack_sbuffer_destroy(&o.sb);
  msgpack_sbuffer_destroy(&rows.sb);
}

static void op_counts(hive_ctx_t *ctx, table_t *t, caller_t caller) {
  int64_t counts[JOBD_STATES] = {0};
  sqlite3_stmt *st = t->st[ST_COUNTS];
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *s = (const char *)sqlite3_column_text(st, 0);
    int state = s != NULL ? jobd_state_of(s, strlen(s)) : -1;
    if (state >= 0)
      counts[state] = sqlite3_column_int64(st, 1);
  }
  sqlite3_reset(st);
  out_t o;
  out_init(&o);
  msgpack_pack_map(&o.pk, JOBD_STATES);
  for (int i = 0; i < JOBD_STATES; i++) {
    pack_key(&o.pk, jobd_state_name((unsigned)i));
    msgpack_pack_int64(&o.pk, counts[i]);
  }
  answer(ctx, caller, &o.sb);
  msgpack_sbuffer_destroy(&o.sb);
}

static void table_request(hive_ctx_t *ctx, table_t *t, const hive_msg_t *msg) {
  caller_t caller = {.from = msg->from, .ref = msg->ref, .now = msg};
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  size_t off = 0;
  if (msgpack_unpack_next(&u, msg->data, msg->len, &off) != MSGPACK_UNPACK_SUCCESS ||
      u.data.type != MSGPACK_OBJECT_MAP) {
    answer_error(ctx, caller, "badarg", "the request is a map with an \"op\"");
    msgpack_unpacked_destroy(&u);
    return;
  }
  const msgpack_object *req = &u.data, *op = field(req, "op");
  const char *name = op != NULL && op->type == MSGPACK_OBJECT_STR ? op->via.str.ptr : "";
  size_t n = op != NULL && op->type == MSGPACK_OBJECT_STR ? op->via.str.size : 0;
#define OP_IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
  uint64_t id = 0;
  bool needs_id = OP_IS("status") || OP_IS("result") || OP_IS("cancel") || OP_IS("watch");
  const msgpack_object *idf = field(req, "id");
  if (needs_id && (idf == NULL || !field_uint(req, "id", 0, &id) || id == 0 || id > INT64_MAX))
    answer_error(ctx, caller, "badarg", "id: a job's id");
  else if (OP_IS("submit"))
    op_submit(ctx, t, caller, req);
  else if (OP_IS("status")) {
    if (!answer_row(ctx, t, caller, (int64_t)id, false))
      answer_error(ctx, caller, "notfound", "no job with that id");
  } else if (OP_IS("result"))
    op_result(ctx, t, caller, (int64_t)id, req, false);
  else if (OP_IS("cancel"))
    op_result(ctx, t, caller, (int64_t)id, req, true);
  else if (OP_IS("watch"))
    op_watch(ctx, t, caller, (int64_t)id);
  else if (OP_IS("list"))
    op_list(ctx, t, caller, req);
  else if (OP_IS("counts"))
    op_counts(ctx, t, caller);
  else
    answer_error(ctx, caller, "unknownop",
                 "op: submit, status, result, cancel, list, watch or counts");
#undef OP_IS
  msgpack_unpacked_destroy(&u);
}

/* ---- from the scheduler, and the commit ---------------------------------- */

static void table_started(hive_ctx_t *ctx, table_t *t, const jobd_started_t *s) {
  if (!batch_open(ctx, t))
    return;
  sqlite3_stmt *st = t->st[ST_STARTED];
  sqlite3_bind_int64(st, 1, s->attempts);
  sqlite3_bind_int64(st, 2, s->started_ms);
  sqlite3_bind_int64(st, 3, s->id);
  db_write(ctx, t, st);
}

static void table_ended(hive_ctx_t *ctx, table_t *t, const jobd_end_t *e) {
  if (!batch_open(ctx, t))
    return;
  sqlite3_stmt *st = t->st[ST_ENDED];
  sqlite3_bind_text(st, 1, jobd_state_name(e->state), -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, e->attempts);
  if (e->state == JOBD_QUEUED) { /* a retry: back in the queue */
    sqlite3_bind_null(st, 3);
    sqlite3_bind_null(st, 4);
  } else {
    sqlite3_bind_int64(st, 3, e->ended_ms);
    sqlite3_bind_blob(st, 4, e->result, (int)e->result_len, SQLITE_STATIC);
  }
  sqlite3_bind_int64(st, 5, e->id);
  if (db_write(ctx, t, st) && final_state((int)e->state))
    note_ended(t, e->id); /* unfinished goes down once committed */
}

/* Answers the waiters and watchers of a job that ended (committed). */
static void table_tell_ended(hive_ctx_t *ctx, table_t *t, int64_t id) {
  for (size_t i = 0; i < t->nwaiters;) {
    waiter_t *w = &t->waiters[i];
    if (w->id != id) {
      i++;
      continue;
    }
    if (w->has_timer)
      hive_timer_cancel(hive_node(ctx), w->timer);
    if (!answer_row(ctx, t, w->caller, id, true)) /* removed since (keep_results) */
      answer_error(ctx, w->caller, "notfound", "the job ended and was removed");
    t->waiters[i] = t->waiters[--t->nwaiters];
  }
  for (size_t i = 0; i < t->nwatchers;) {
    if (t->watchers[i].id != id) {
      i++;
      continue;
    }
    answer_row(ctx, t, (caller_t){.from = t->watchers[i].client}, id, true);
    t->watchers[i] = t->watchers[--t->nwatchers];
  }
}

static bool records_push(records_t *r, record_t *rec) {
  record_t **all = room_for_one(r->all, &r->cap, r->n, sizeof(*all));
  if (all == NULL)
    return false;
  r->all = all;
  r->all[r->n++] = rec;
  return true;
}

static void records_clear(records_t *r) {
  for (size_t i = 0; i < r->n; i++)
    free(r->all[i]);
  r->n = 0;
}

/* Writes a record in the open batch and keeps it there until the commit. */
static void table_retry_arm(hive_ctx_t *ctx, table_t *t);

static void record_apply(hive_ctx_t *ctx, table_t *t, record_t *rec) {
  if (!t->in_batch && !batch_open(ctx, t)) { /* no batch: it waits in the backlog */
    if (!records_push(&t->backlog, rec))
      free(rec);
    table_retry_arm(ctx, t);
    return;
  }
  if (!records_push(&t->batch, rec)) {
    free(rec);
    hive_log(hive_node(ctx), HIVE_LOG_ERROR, "no memory for a job's record: it is lost");
    return;
  }
  if (rec->tag == JOBD_TAG_STARTED)
    table_started(ctx, t, (const jobd_started_t *)rec->data);
  else
    table_ended(ctx, t, (const jobd_end_t *)rec->data);
}

/* A record from the scheduler: written now, or behind the backlog. */
static void table_record(hive_ctx_t *ctx, table_t *t, const hive_msg_t *msg) {
  record_t *rec = malloc(sizeof(*rec) + msg->len);
  if (rec == NULL) {
    hive_log(hive_node(ctx), HIVE_LOG_ERROR, "no memory for a job's record: it is lost");
    return;
  }
  rec->tag = msg->tag;
  rec->len = msg->len;
  memcpy(rec->data, msg->data, msg->len);
  if (t->backlog.n == 0)
    record_apply(ctx, t, rec);
  else if (!records_push(&t->backlog, rec))
    free(rec);
}

static void table_retry_arm(hive_ctx_t *ctx, table_t *t) {
  hive_timer_t timer;
  if (!t->retry_armed && hive_send_after(hive_node(ctx), hive_self(ctx), JOBD_TAG_RETRY, NULL, 0,
                                         RETRY_MS, &timer) == HIVE_OK)
    t->retry_armed = true;
}

/* The backlog, written again in order in a batch of its own. */
static void table_retry(hive_ctx_t *ctx, table_t *t) {
  t->retry_armed = false;
  if (t->backlog.n == 0)
    return;
  hive_log(hive_node(ctx), HIVE_LOG_INFO, "database %s: writing %zu held records again", t->cfg.db,
           t->backlog.n);
  records_t backlog = t->backlog;
  t->backlog = (records_t){0};
  for (size_t i = 0; i < backlog.n; i++) {
    if (t->backlog.n > 0) { /* an older one went back: the rest wait behind it */
      if (!records_push(&t->backlog, backlog.all[i]))
        free(backlog.all[i]);
      continue;
    }
    record_apply(ctx, t, backlog.all[i]);
  }
  free(backlog.all);
}

static void table_flush(hive_ctx_t *ctx, table_t *t) {
  if (!t->in_batch)
    return;
  t->in_batch = false;
  bool ok = !t->batch_failed && db_exec(t, "COMMIT");
  if (!ok) {
    const char *why = t->batch_failed ? "a write failed" : sqlite3_errmsg(t->db);
    hive_log(hive_node(ctx), HIVE_LOG_ERROR,
             "database %s: batch rolled back (%s): %zu submits refused", t->cfg.db, why,
             t->nsubmits);
    db_exec(t, "ROLLBACK");
    /* The batch's records go first in the backlog: they are older. */
    for (size_t i = 0; i < t->backlog.n; i++)
      if (!records_push(&t->batch, t->backlog.all[i]))
        free(t->backlog.all[i]);
    free(t->backlog.all);
    t->backlog = t->batch;
    t->batch = (records_t){0};
    t->nended = 0; /* nothing ended after all: told once the backlog is in */
    if (t->backlog.n > 0)
      table_retry_arm(ctx, t);
  } else {
    records_clear(&t->batch);
  }
  hive_pid_t sched = hive_whereis(hive_node(ctx), JOBD_SCHEDULER);
  for (size_t i = 0; i < t->nsubmits; i++) {
    submit_t *s = &t->submits[i];
    if (ok) {
      out_t o;
      out_init(&o);
      msgpack_pack_map(&o.pk, 1);
      pack_key(&o.pk, "id");
      msgpack_pack_int64(&o.pk, s->job->id);
      answer(ctx, s->caller, &o.sb);
      msgpack_sbuffer_destroy(&o.sb);
      hive_send(hive_node(ctx), sched, JOBD_TAG_ENQUEUE, s->job,
                sizeof(*s->job) + s->job->args_len);
    } else {
      answer_error(ctx, s->caller, "storage", "the job could not be stored (see jobd's log)");
      t->unfinished--;
    }
    free(s->job);
  }
  t->nsubmits = 0;
  for (size_t i = 0; ok && i < t->nended; i++) {
    table_tell_ended(ctx, t, t->ended[i]);
    if (t->unfinished > 0)
      t->unfinished--;
  }
  t->nended = 0;
  t->batch_failed = false;
}

/* ---- the actor ----------------------------------------------------------- */

static const char *const schema =
    "PRAGMA journal_mode = WAL;"
    "PRAGMA synchronous = FULL;"
    "CREATE TABLE IF NOT EXISTS jobs("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, args BLOB NOT NULL,"
    "  isolate INTEGER NOT NULL, timeout_ms INTEGER NOT NULL, retries INTEGER NOT NULL,"
    "  state TEXT NOT NULL, attempts INTEGER NOT NULL, submitted_ms INTEGER NOT NULL,"
    "  started_ms INTEGER, ended_ms INTEGER, result BLOB);"
    "CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, id);";

/* Hands the scheduler every job that was queued or running when jobd last
 * stopped, however it stopped. */
static int table_requeue(hive_ctx_t *ctx, table_t *t) {
  sqlite3_stmt *st = t->st[ST_UNFINISHED];
  hive_pid_t sched = hive_whereis(hive_node(ctx), JOBD_SCHEDULER);
  size_t n = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const void *args = sqlite3_column_blob(st, 2);
    int args_len = sqlite3_column_bytes(st, 2);
    const char *kind = (const char *)sqlite3_column_text(st, 1);
    int k = kind != NULL ? jobd_kind_of(kind, strlen(kind)) : -1;
    jobd_job_t *job = k >= 0 && args_len >= 0 ? malloc(sizeof(*job) + (size_t)args_len) : NULL;
    if (job == NULL)
      continue;
    *job = (jobd_job_t){.id = sqlite3_column_int64(st, 0),
                        .kind = (uint32_t)k,
                        .isolate = (uint32_t)sqlite3_column_int(st, 3),
                        .timeout_ms = (uint32_t)sqlite3_column_int64(st, 4),
                        .retries = (uint32_t)sqlite3_column_int64(st, 5),
                        .attempts = (uint32_t)sqlite3_column_int64(st, 6),
                        .args_len = (uint32_t)args_len};
    if (args_len > 0)
      memcpy(job->args, args, (size_t)args_len);
    hive_send(hive_node(ctx), sched, JOBD_TAG_ENQUEUE, job, sizeof(*job) + job->args_len);
    free(job);
    n++;
  }
  sqlite3_reset(st);
  t->unfinished = n;
  if (n > 0)
    hive_log(hive_node(ctx), HIVE_LOG_INFO,
             "%zu jobs queued or running at the last stop: queued again", n);
  return rc == SQLITE_DONE ? HIVE_OK : HIVE_EINVAL;
}

static int table_init(hive_ctx_t *ctx, void *state, const void *arg, size_t len) {
  table_t *t = state;
  hive_t *h = hive_node(ctx);
  if (len != sizeof(t->cfg))
    return HIVE_EINVAL;
  memcpy(&t->cfg, arg, sizeof(t->cfg));
  t->waiters = malloc(TABLE_MAX_WAITERS * sizeof(*t->waiters));
  t->watchers = malloc(TABLE_MAX_WATCHERS * sizeof(*t->watchers));
  if (t->waiters == NULL || t->watchers == NULL) {
    free(t->waiters);
    free(t->watchers);
    return HIVE_ENOMEM;
  }
  int rc = sqlite3_open_v2(t->cfg.db, &t->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(t->db, schema, NULL, NULL, NULL);
  for (int i = 0; rc == SQLITE_OK && i < ST_COUNT; i++)
    rc = sqlite3_prepare_v2(t->db, statements[i], -1, &t->st[i], NULL);
  if (rc == SQLITE_OK)
    rc = table_requeue(ctx, t) == HIVE_OK ? SQLITE_OK : SQLITE_ERROR;
  if (rc != SQLITE_OK) {
    hive_log(h, HIVE_LOG_ERROR, "database %s: %s", t->cfg.db,
             t->db != NULL ? sqlite3_errmsg(t->db) : sqlite3_errstr(rc));
    for (int i = 0; i < ST_COUNT; i++) /* terminate does not run after a failed init */
      sqlite3_finalize(t->st[i]);
    sqlite3_close(t->db);
    free(t->waiters);
    free(t->watchers);
    return HIVE_EINVAL;
  }
  unsigned every_ms = t->cfg.keep_results_s < 120 ? t->cfg.keep_results_s * 500u : 60000u;
  hive_send_interval(h, hive_self(ctx), JOBD_TAG_PURGE, NULL, 0, every_ms > 0 ? every_ms : 1000,
                     &t->purge);
  hive_log(h, HIVE_LOG_INFO, "job table %s open", t->cfg.db);
  return HIVE_OK;
}

static int table_handle(hive_ctx_t *ctx, void *state, const hive_msg_t *msg) {
  table_t *t = state;
  hive_t *h = hive_node(ctx);
  if (msg->ref != 0 && msg->tag != HIVE_TAG_REPLY) {
    table_request(ctx, t, msg);
    return HIVE_OK;
  }
  /* Internal messages: from the scheduler, from itself, from its timers. */
  hive_pid_t sched = hive_whereis(h, JOBD_SCHEDULER);
  bool from_sched = msg->from != 0 && msg->from == sched;
  bool from_self = msg->from == hive_self(ctx), from_timer = msg->from == 0;
  if (msg->tag == JOBD_TAG_STARTED && from_sched && msg->len == sizeof(jobd_started_t)) {
    table_record(ctx, t, msg);
  } else if (msg->tag == JOBD_TAG_ENDED_INTERNAL && from_sched && msg->len >= sizeof(jobd_end_t)) {
    const jobd_end_t *e = msg->data;
    if (msg->len == sizeof(*e) + e->result_len)
      table_record(ctx, t, msg);
  } else if (msg->tag == JOBD_TAG_RETRY && from_timer) {
    table_retry(ctx, t);
  } else if (msg->tag == JOBD_TAG_FLUSH && from_self) {
    table_flush(ctx, t);
  } else if (msg->tag == JOBD_TAG_WAIT_OVER && from_timer && msg->len == 2 * sizeof(uint64_t)) {
    uint64_t key[2];
    memcpy(key, msg->data, sizeof(key));
    for (size_t i = 0; i < t->nwaiters; i++) {
      waiter_t *w = &t->waiters[i];
      if (w->caller.from == key[0] && w->caller.ref == key[1] && !w->cancel) {
        if (!answer_row(ctx, t, w->caller, w->id, true)) /* not ended yet: says so */
          answer_error(ctx, w->caller, "notfound", "the job was removed");
        t->waiters[i] = t->waiters[--t->nwaiters];
        break;
      }
    }
  } else if (msg->tag == JOBD_TAG_PURGE && from_timer) {
    sqlite3_stmt *st = t->st[ST_PURGE];
    sqlite3_bind_int64(st, 1, jobd_now_ms() - (int64_t)t->cfg.keep_results_s * 1000);
    if (batch_open(ctx, t))
      db_write(ctx, t, st);
  }
  return HIVE_OK;
}

static void table_terminate(hive_ctx_t *ctx, void *state, const hive_reason_t *reason) {
  (void)reason;
  table_t *t = state;
  if (t->db != NULL)
    table_flush(ctx, t); /* submits already written are accepted: commit and answer them */
  for (size_t i = 0; i < t->nwaiters; i++) /* every waiting client gets an answer */
    answer_error(ctx, t->waiters[i].caller, "shutdown", "jobd is stopping");
  hive_timer_cancel(hive_node(ctx), t->purge);
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(t->st[i]);
  if (t->db != NULL)
    sqlite3_close(t->db);
  records_clear(&t->batch);
  free(t->batch.all);
  if (t->backlog.n > 0)
    hive_log(hive_node(ctx), HIVE_LOG_WARNING,
             "database %s: %zu records of jobs starting or ending were never written: those "
             "jobs run again at the next start",
             t->cfg.db, t->backlog.n);
  records_clear(&t->backlog);
  free(t->backlog.all);
  free(t->submits);
  free(t->ended);
  free(t->waiters);
  free(t->watchers);
}

const hive_behaviour_t jobd_table = {.name = "jobd",
                                     .state_size = sizeof(table_t),
                                     .init = table_init,
                                     .handle = table_handle,
                                     .terminate = table_terminate};
