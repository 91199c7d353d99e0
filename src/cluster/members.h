/* members.h - cluster membership: which instances are alive (--cluster).
 *
 * Each instance holds a lease in Redis: the key mt:instance:<id>, whose value is a JSON with a
 * random token of this process, and which expires after --instance-lease-ms unless renewed.
 * The id is registered at start-up with SET NX (a live instance already holding it stops this
 * one: exit 2), renewed every --cluster-heartbeat-ms by a Redis script that first checks the
 * token, and deleted at a clean stop by the same check. The lease is at least three heartbeats
 * long, so one late heartbeat never hides an instance, and a stopped or dead one disappears by
 * itself: there is nothing to clean up after a crash. The same script returns every instance
 * still listed, which /api/cluster serves from memory.
 *
 * An instance that finds its key holding another token (it was paused past its lease and
 * another process took the id) stops: two processes serving under one id would both claim its
 * rooms. One that finds the key gone (paused past the lease, id still free) takes it again.
 * Loop thread only. */
#ifndef MT_MEMBERS_H
#define MT_MEMBERS_H

#include "config.h"

#include <jansson.h>

/* Registers this instance (blocking, with a 2 s timeout: start-up) and starts the heartbeat.
 * Does nothing without --cluster. Returns 0; -1 with a log line when Redis cannot be reached
 * or answers an error; -2 when a live instance holds the id. */
int members_init(const struct config *cfg);

/* The shared lobby: every public room of this instance is kept in the hash mt:rooms:<id>
 * (written as the lobby events happen, written again whole after a failed write or a lapsed
 * lease, expiring with the lease), and GET /api/rooms merges the hashes of the live instances
 * only, so a dead instance's rooms cannot linger. Answers x (200 with every room, or 503
 * SERVER_BUSY while Redis is away) and returns 0; returns -1 without --cluster (the caller
 * answers with this instance's rooms). */
struct http_exchange;
int members_rooms(struct http_exchange *x);

/* This instance's id and its process's lease token ("" before members_init). */
const char *members_self(void);
const char *members_token(void);

/* fn runs after each heartbeat's listing of the live instances (up to four hooks: returns
 * -1 when full); members_off_listing removes it. */
int members_on_listing(void (*fn)(void));
void members_off_listing(void (*fn)(void));

/* The live instance that is home to key (rendezvous hashing over the last listing, this
 * instance included): every instance that sees the same listing names the same home, and an
 * instance leaving moves only the keys it was home to. The string lives until the next
 * heartbeat. */
const char *members_home(const char *key);

/* Whether this instance's lease has lapsed by its own clock while Redis is reachable: it was
 * paused or cut off past the lease, so other instances may have taken its rooms. While Redis
 * is away nobody can take anything, and the answer is 0: rooms play on. */
int members_lease_lapsed(void);

/* fn runs when a heartbeat finds that the lease had lapsed in Redis (and took it again). */
void members_on_lapse(void (*fn)(void));

/* instance said goodbye (a clean stop: its key is gone): it leaves the listing now, and the
 * listing hooks run as after a heartbeat. */
void members_forget(const char *instance);

/* Whether instance was listed live by the last heartbeat. */
int members_listed(const char *instance);

/* The same list for other callers: fn gets every live instance's public rooms (borrowed), or
 * NULL while Redis is away, exactly once, maybe before this returns. Returns -1 without
 * --cluster (fn is not called). */
typedef void (*members_rooms_fn)(json_t *rooms, void *arg);
int members_rooms_fetch(members_rooms_fn fn, void *arg);

/* Deletes this instance's key if it is still ours (blocking, 2 s at most) and stops. */
void members_shutdown(void);

/* {self, instances: [{id, rooms, connections, startedAt, lastSeen}]}, as the last heartbeat
 * saw them (new reference), or NULL without --cluster. */
json_t *members_json(void);

#endif
