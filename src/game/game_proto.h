/* game_proto.h - the game message types of the v1 protocol: create_game, join_game,
 * quick_match, player_input, chat_message, leave_game, resume, subscribe.
 *
 * Each handler checks its payload fields (BAD_MESSAGE), then rate limits
 * (RATE_LIMIT_EXCEEDED), then the game (NOT_FOUND, NOT_IN_GAME, NOT_YOUR_TURN, ILLEGAL_MOVE)
 * and hands the work to rooms and the matchmaker. */
#ifndef MT_GAME_PROTO_H
#define MT_GAME_PROTO_H

#include "config.h"
#include "session.h"

/* Registers the handlers with the protocol table. Returns 0, or -1 on OOM. */
int game_proto_init(const struct config *cfg);

/* The socket is gone: rooms hold its seats, the matchmaker forgets its waits. */
void game_proto_session_closed(struct session *s);

#endif
