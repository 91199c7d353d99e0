/* matchmaker.h - quick_match: pairing waiting humans, then agents after a wait.
 *
 * Waiters queue per game. As soon as enough humans wait for one room (the game's quick_fill,
 * else its maximum seats), they are seated together. When a waiter's waitMs passes first, a
 * room starts with the humans waiting then and agents in the other seats, unless that waiter
 * asked for no agent (agent: false), who then waits for humans only. Each matched socket gets
 * its game_state with the re of its quick_match. Loop thread only. */
#ifndef MT_MATCHMAKER_H
#define MT_MATCHMAKER_H

#include "config.h"
#include "session.h"

#include <jansson.h>

/* Readies the quick-match queue (empty). Returns 0. */
int matchmaker_init(const struct config *cfg);

/* Drops every waiter still queued, without answering them. Loop thread, at shutdown. */
void matchmaker_shutdown(void);

/* Queues s for game. agent: a name, "" for the default agent, or NULL for humans only.
 * Returns NULL, or an error code with msg (NOT_FOUND: no such game or agent). re is borrowed
 * (a reference is kept). */
const char *matchmaker_request(struct session *s, const char *game, const char *agent, int wait_ms,
                               json_t *re, char *msg, size_t msglen);

/* Drops every wait of s (its socket closed). */
void matchmaker_session_closed(struct session *s);

#endif
