/* directory.h - which instance owns each room (--cluster).
 *
 * The key mt:room:<gameId> holds "<instance> <lease token> <fence>": the owner, the token of
 * the owner's process lease (members.h) and the room's fencing token. An entry is only as good
 * as that lease: the owner renews every room it holds at once by renewing its own lease, and
 * a room whose owner's lease lapsed or passed to another process has no live owner, whatever
 * its entry says, so an instance that stops or dies leaves no room that anyone would relay to.
 * A claim (a Redis script, atomic) takes the room when it has no live owner and raises its
 * fence (INCR mt:fence:<gameId>); it is refused while another live process owns it, so one
 * room never has two owners. Each new owner gets a higher fence than every owner before it, and
 * hands it to the store once the claim is answered (store_set_fence): the room's PostgreSQL
 * rows carry it, and the database refuses a deposed owner's (sql/006). A release deletes the
 * entry only while it is still ours, and tells the store (fence 0).
 *
 * Lookups answer from Redis each time (a room moves only when its owner dies); while Redis is
 * away they fail fast and the caller answers SERVER_BUSY. Loop thread only. */
#ifndef MT_DIRECTORY_H
#define MT_DIRECTORY_H

#include "config.h"

#include <stdint.h>

/* Installs the room hooks (claims as rooms open here, releases as they are freed). Does
 * nothing without --cluster. Returns 0. */
int directory_init(const struct config *cfg);

/* Stops recording (after rooms_shutdown). The entries of the rooms freed at a stop go with
 * this instance's lease, which members_shutdown deletes: releases sent while stopping may
 * never leave. */
void directory_shutdown(void);

/* The answer to a lookup: owner is the live owner's id, or NULL when the room has none; then
 * failed says why: 0 no such room, DIRECTORY_FAILED Redis could not answer,
 * DIRECTORY_MOVING its owner's process is gone and a live instance is taking it over. */
enum { DIRECTORY_FAILED = 1, DIRECTORY_MOVING = 2 };
typedef void (*directory_fn)(const char *owner, int failed, void *arg);

/* Looks up room_id's owner; fn is called exactly once, maybe before this returns (Redis
 * away). */
void directory_lookup(const char *room_id, directory_fn fn, void *arg);

/* Takes over up to max rooms of dead processes (see TAKEOVER_LUA in directory.c: atomic in
 * Redis, so each such room goes to exactly one live instance, with its fence raised). fn is
 * called for each room won, with its new fence, once Redis answers; the caller rebuilds the
 * room (its room_register then finds the entry already ours). done is called last, with the
 * number of rooms won (max: more may be waiting), or -1 when Redis did not answer. Returns 0,
 * or -1 when Redis is away (nothing taken, neither called). */
typedef void (*directory_takeover_fn)(const char *room_id, uint64_t fence, void *arg);
typedef void (*directory_takeover_done_fn)(int taken, void *arg);
int directory_takeover(int max, directory_takeover_fn fn, directory_takeover_done_fn done,
                       void *arg);

/* Adopts for this instance each of the n rooms (n at most DIRECTORY_ADOPT_MAX) that has no
 * directory entry at all and whose owner owners[i] (games.owner, "<instance> <token>") holds no
 * lease, with a fence above held[i] (the one the database holds for it): the rooms of an owner
 * that died while Redis had lost its data (see ADOPT_LUA). The same test of the owner's lease
 * as a takeover's: an owner cut off past its lease loses its rooms either way, and finds out
 * when it claims them again. fn and done as for directory_takeover. Returns 0, or -1 when Redis
 * is away or n is out of range (neither called). */
enum { DIRECTORY_ADOPT_MAX = 64 };
int directory_adopt(const char *const *rooms, const uint64_t *held, const char *const *owners,
                    int n, directory_takeover_fn fn, directory_takeover_done_fn done, void *arg);

/* Claims room_id again after this instance's lease lapsed: fn gets ours 0 when another live
 * process owns it now (the caller disowns the room), 1 when it is still ours (or Redis could
 * not answer). Returns 0, or -1 (fn not called). */
typedef void (*directory_reclaim_fn)(const char *room_id, int ours, void *arg);
int directory_reclaim(const char *room_id, directory_reclaim_fn fn, void *arg);

/* The fence this instance holds for room_id, or 0 while its claim is unanswered or was
 * refused. */
uint64_t directory_fence(const char *room_id);

#endif
