/* pg_read.h - the PostgreSQL store's reads: load_game and the accounts' calls (store_pg.h).
 *
 * Each is one statement that waits, in a queue of its own, until every row put before it is
 * written (so a game that just ended reads back complete), and then shares the connection
 * with the writes. While the database is not READY a read answers at once (NULL). A read is
 * not retried: a lost connection or a transient error answers NULL. The callers' callbacks
 * run on the loop thread, and what they are handed is borrowed. Loop thread only. */
#ifndef MT_PG_READ_H
#define MT_PG_READ_H

#include "store.h"
#include "store_pg.h"

#include <jansson.h>

/* Builds the statements; wake is called when a read is queued (the writer sends it when it is
 * due). Returns 0, or -1 on OOM. */
int pg_read_open(void (*wake)(void));

/* Answers every waiting read with NULL and frees the statements. */
void pg_read_close(void);

/* Sends the oldest waiting read if the rows put before it are all written (the connection is
 * READY and idle). Returns 1 when it sent one, else 0. */
int pg_read_send_due(void);

/* The connection was lost: every waiting read hears NULL. */
void pg_read_fail_all(void);

/* The backend's load_game (store.h): the games row with "participants", "events", "inputs"
 * (rows in seat, seq and ord order) and "script_version" added, the shape store_log.c gives;
 * NULL for no such game, a game id that is not a UUID, or no database. */
void pg_read_game(const char *game_id, void (*done)(json_t *game, void *arg), void *arg);

/* The backend's load_games (store.h): up to PG_READ_MAX_GAMES games in one statement, each
 * id's game (or NULL) to done with its own args[i]. */
#define PG_READ_MAX_GAMES STORE_LOAD_BATCH
void pg_read_games(const char *const *ids, int n, void (*done)(json_t *game, void *arg),
                   void *const *args);

/* store_pg_call and store_pg_find_player, as store_pg.h says. */
void pg_read_call(const char *sql, int n, const char *const *params, store_pg_reply done,
                  void *arg);
void pg_read_find_player(const char *key, int by_name, store_pg_reply done, void *arg);

#endif
