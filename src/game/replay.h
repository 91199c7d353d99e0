/* replay.h - re-running a stored game and checking that it comes out the same.
 *
 * A stored game holds its seed, config, seat count, the exact files of its game version, and
 * every input in order with the hash of the state after it. Replaying loads that version in
 * a fresh sandbox, applies the inputs one by one, and compares every event the game emits and
 * every state hash, then the result. Used by `monkeytown replay GAME_ID`. */
#ifndef MT_REPLAY_H
#define MT_REPLAY_H

#include "config.h"

#include <jansson.h>
#include <stddef.h>

/* Replays game (as store_load_game delivers it). Returns 0 when every state and the result
 * are identical, 1 with the first divergence described in report, 2 when the game cannot be
 * replayed (no version files, script failure). report gets a human-readable summary. */
int replay_game(const struct config *cfg, json_t *game, char *report, size_t len);

/* The `monkeytown replay GAME_ID` command: opens the store, loads, replays, prints. Returns the
 * process exit status. */
int replay_command(const struct config *cfg, const char *game_id);

#endif
