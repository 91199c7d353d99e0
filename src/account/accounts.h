/* accounts.h - players: guests, registered accounts, statistics and ratings.
 *
 * The index of every player lives in memory, rebuilt at start-up from the store's players
 * rows, and every change is written back through store_put. With PostgreSQL the index is a
 * cache of the database, shared with every server on it: a registration is answered after
 * PostgreSQL committed it (its unique index decides a taken name), a login and GET
 * /api/players/:id read the row there, and results go as game_results rows that the database
 * applies to stats and ratings itself (docs/architecture.md, Accounts and auth). Password
 * hashing (libxcrypt
 * yescrypt, ~30 ms) runs on worker threads, never on the loop. Failed logins are throttled per
 * account and per client address; registrations (--register-rate) and new guests
 * (--guest-rate) per client address.
 *
 * HTTP: POST /api/auth/guest, /api/auth/register, /api/auth/login, GET /api/players/:id.
 * Loop thread only. */
#ifndef MT_ACCOUNTS_H
#define MT_ACCOUNTS_H

#include "auth.h"
#include "config.h"

#include <jansson.h>

/* Registers the store loader. Call before store_init. */
void accounts_preinit(void);

/* Registers the HTTP routes. Returns 0, or -1 when the route table is full. */
int accounts_init(const struct config *cfg);
void accounts_shutdown(void);

/* A socket opened for who: records the player and its last-seen time. The time is written to
 * the store with the player's first row, then at most once every --last-seen-interval seconds;
 * the rest stays in memory until accounts_flush_seen. A guest that has not played is kept in
 * memory only (nothing of it is worth storing): with no socket open it is forgotten after
 * --guest-idle-timeout seconds, and made again from its token if that comes back. */
void accounts_seen(const struct identity *who);

/* A socket of who closed (call from on_close): the guest's idle time starts again. */
void accounts_left(const struct identity *who);

/* Spends a token of peer's guest bucket (--guest-rate a minute, shared by sockets without a
 * token and POST /api/auth/guest). Returns 1, or 0 with *retry_after_s set: make no guest. */
int accounts_admit_guest(const char *peer, int *retry_after_s);

/* The settings changed (a reload): re-arms the idle-guest timer for a new timeout. */
void accounts_reconfigured(void);

/* Writes every last-seen time not written yet (at shutdown, before the store closes). */
void accounts_flush_seen(void);

/* Settles finished game game_id (two or more seats): stats and Elo ratings of the
 * participants. ids[i] is seat i+1's player id ("agent:<name>" for agents); winner is a seat or
 * 0; draw is set for a draw. With PostgreSQL the result row is keyed by game_id, so a game
 * settled twice (a rebuilt room finishing again) counts once. */
void accounts_record_result(const char *game_id, const char *const *ids, const char *const *names,
                            int seats, int winner, int draw);

/* {playerId, name, stats} for GET /api/players/:id, or NULL. New reference. */
json_t *accounts_player_json(const char *id);

/* The player id of agent (by name) in the store and in an external agent's token: a
 * name-based UUID of "monkeytown-agent:<name>". */
void accounts_agent_id(const char *agent, char out[UUID_LEN + 1]);

/* The rating of an agent by name, or -1 when it has played no rated game. */
double accounts_agent_rating(const char *agent);

/* The per-address and per-account throttles (new guests, registrations, failed logins) across
 * a cluster: fn is told of every token this instance takes (table is "guest", "register",
 * "fail_account" or "fail_address"), and accounts_apply_spend takes the token another
 * instance took, so each instance's buckets count the whole cluster's attempts (a relay's
 * latency behind). */
void accounts_set_spend_hook(void (*fn)(const char *table, const char *key));
void accounts_apply_spend(const char *table, const char *key);

#endif
