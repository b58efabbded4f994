/*
 * admin.h - the admin layer's private interface: encoding statistics as
 * msgpack maps, shared by the admin socket (admin.c) and nothing else yet.
 *
 * admin/ sits on top of the other layers: it reads statistics through the
 * public API and asks supervisors for their children, so it depends on
 * supervisors/, actors/ and runtime/, and nothing depends on it but the
 * node's start and stop (the upcalls in runtime.h).
 */
#ifndef HIVE_ADMIN_H
#define HIVE_ADMIN_H

#include <msgpack.h>

#include "runtime/runtime.h"

/* The longest request frame the admin socket reads (replies may be longer). */
#define HIVE__ADMIN_REQUEST_MAX 65536u

/* Packs one actor's statistics as a map (docs/admin-protocol.md, "actor"). */
void hive__admin_pack_actor(msgpack_packer *pk, const hive_actor_stats_t *s);

/* The name of a HIVE_ACTOR_* state and of a HIVE_REASON_* kind. */
const char *hive__admin_state_name(int state);
const char *hive__admin_reason_name(int kind);

#endif /* HIVE_ADMIN_H */
