/* game_proto.h - the game message types of the v1 protocol: create_game, join_game,
 * quick_match, player_input, chat_message, leave_game, resume, subscribe.
 *
 * Each handler checks its payload fields (BAD_MESSAGE), then rate limits
 * (RATE_LIMIT_EXCEEDED), then the game (NOT_FOUND, NOT_IN_GAME, NOT_YOUR_TURN, ILLEGAL_MOVE)
 * and hands the work to rooms and the matchmaker. */
#ifndef MT_GAME_PROTO_H
#define MT_GAME_PROTO_H

#include "config.h"
#include "proto.h"
#include "session.h"

/* Registers the handlers with the protocol table. Returns 0, or -1 on OOM. */
int game_proto_init(const struct config *cfg);

/* A cluster's hook for a request about a room not held by this process: returns 1 when it
 * took the request (forwarded to the room's owner, or answered), 0 to have it answered here
 * (NOT_FOUND, or a resume from the stored log). */
typedef int (*game_proto_forward_fn)(struct proto_request *r, const char *game_id);
void game_proto_set_forward(game_proto_forward_fn fn);

/* The same for quick_match, called with the game's name once the payload is checked: returns
 * 1 when the cluster took the request (to the instance that matches that game). */
void game_proto_set_match_forward(game_proto_forward_fn fn);

/* A cluster's source of the lobby snapshot sent after subscribe lobby: calls fn once with the
 * public rooms of every instance (borrowed) or NULL, and returns 0; -1 to use this
 * instance's own rooms. */
typedef int (*game_proto_rooms_fetch)(void (*fn)(json_t *rooms, void *arg), void *arg);
void game_proto_set_lobby_source(game_proto_rooms_fetch fn);

/* Answers a request for which the cluster found no owner but this process: served by the room
 * when it is here after all (taken over and rebuilt here while the owner was looked up), else
 * NOT_FOUND, or a resume of an ended game from the stored log. */
void game_proto_missing(struct proto_request *r);

/* The socket is gone: rooms hold its seats, the matchmaker forgets its waits. */
void game_proto_session_closed(struct session *s);

#endif
