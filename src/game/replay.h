/* replay.h - re-running a stored game and checking that it comes out the same.
 *
 * A stored game holds its seed, config, seat count, the exact files of its game version, and
 * every input in order with the hash of the state after it. Replaying loads that version in
 * a fresh sandbox, applies the inputs one by one, and compares every event the game emits and
 * every state hash, then the result. Used by `monkeytown replay GAME_ID`, and by a room
 * rebuilt from the store after a restart (room_restore.c): one code path for both. */
#ifndef MT_REPLAY_H
#define MT_REPLAY_H

#include "config.h"

#include "referee.h"

#include <jansson.h>
#include <stddef.h>

/* One game event the replay emitted: the seat it was for (0: everyone), and its JSON text
 * (malloc'd) when it lies past the log's end, else NULL. */
struct replay_event {
    int seat;
    char *json;
};

/* What a replay found beyond yes or no. */
struct replay_trace {
    struct replay_event *events; /* every game event emitted, in order */
    size_t nevents, cap;
    int to_move;     /* turn-based: the seat to move after the last input (-1: no input) */
    long long ticks; /* real-time: the ticks run */
    char *outcome;   /* the result's JSON when the game ended in the replay, else NULL */
    int gm;          /* the game master's seat after the last handover replayed (0: none) */
};

/* The source of the input that records a handover of the game master's seat (hand_gm): its
 * seat is the giver, its action {"gm": the new game master's seat}. */
#define REPLAY_HANDOVER "handover"

/* Replays the stored inputs of game (as store_load_game delivers it) through ref, set up for
 * its version, seed, config and seats; checks every event and state hash against the log.
 * live: the game had not ended (a restart): the log may stop anywhere, even between an input
 * and its events, so events past its end are the cut-off tail (kept in trace, not a
 * divergence) and a real-time game runs to its last durable tick. Returns 0, 1 with the
 * divergence in report, or 2 when the script failed. Free trace with replay_trace_free. */
int replay_run(struct referee *ref, json_t *game, int live, struct replay_trace *trace,
               char *report, size_t len);

/* Frees what replay_run put in t and zeroes it (t itself is the caller's); t may be reused. */
void replay_trace_free(struct replay_trace *t);

/* Whether a logged event ({type, payload}) is one the game emitted, as opposed to the
 * server's own turn-clock (timeout) and agent-reasoning game_events. */
int replay_is_game_event(json_t *logged);

/* Replays game (as store_load_game delivers it). Returns 0 when every state and the result
 * are identical, 1 with the first divergence described in report, 2 when the game cannot be
 * replayed (no version files, script failure). report gets a human-readable summary. */
int replay_game(const struct config *cfg, json_t *game, char *report, size_t len);

/* The `monkeytown replay GAME_ID` command: opens the store, loads, replays, prints. Returns the
 * process exit status. */
int replay_command(const struct config *cfg, const char *game_id);

#endif
