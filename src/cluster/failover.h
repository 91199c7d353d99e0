/* failover.h - rooms outlive the instance that held them (--cluster).
 *
 * After each heartbeat every live instance asks the directory to take over rooms whose owner's
 * process is gone (directory_takeover: atomic in Redis, so each room goes to exactly one
 * instance, with its fence raised). The winner loads the game from PostgreSQL
 * (store_load_game) and rebuilds it with room_restore: the version it started with, its seats
 * (humans held for --seat-hold, as after a disconnect), agents, its log and its state replayed
 * from its inputs, a turn clock with its deadline kept, a real-time room ticking on from its
 * last durable tick. Players reconnect to any instance and `resume {gameId, lastSeq}`: the
 * relay finds the new owner. While a room is being rebuilt, requests for it answer
 * SERVER_BUSY ("being rebuilt"), not NOT_FOUND. A game the store cannot hand back is tried
 * again; one that cannot be rebuilt is closed as aborted. Loop thread only. */
#ifndef MT_FAILOVER_H
#define MT_FAILOVER_H

#include "config.h"

/* Starts taking over after each heartbeat. Does nothing without --cluster. Returns 0. */
int failover_init(const struct config *cfg);

/* Whether room_id was taken over here and is still being rebuilt. */
int failover_rebuilding(const char *room_id);

/* Stops taking over and frees the rebuilds in progress. Does nothing when failover_init did
 * nothing. Loop thread, at shutdown. */
void failover_shutdown(void);

#endif
