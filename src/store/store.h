/* store.h - durable storage of players, script versions, games, their events and inputs.
 *
 * The rest of the server writes facts as rows: a table name and a JSON object whose keys are
 * that table's columns (sql/ holds the schema; the embedded store uses the same names; the
 * column fence of games and the game's rows is the store's own, see store_set_fence). Writes
 * never block the caller: rows are queued and written in order by the backend; a row written
 * twice (a retry after an outage) is stored once, because every table has a natural key:
 *
 *   players            id                 upsert (username, name, password_hash, role, stats,
 *                                         rating, created_at, last_seen_at)
 *   script_versions    id                 insert once (kind, name, files, commit, created_at)
 *   agent_behaviors    name, version      insert once (personality, title, commit, created_at)
 *   games              id                 upsert (game, version, config, status, result, seed,
 *                                         seats, created_at, started_at, ended_at, tick_rate,
 *                                         ticks, private)
 *   game_participants  game_id, seat      upsert (player_id, agent, name, score, doc_version)
 *   game_events        game_id, seq       insert once (type, payload, t)
 *   game_inputs        game_id, ord       insert once (seat, action, source, t, state_hash,
 *                                         tick)
 *   game_results       id                 insert once (players, winner, draw, created_at);
 *                                         PostgreSQL only: applied to the players' stats
 *                                         and ratings by the database
 *   player_documents   player_id, game,   insert once (author, author_id, note, doc, game_id,
 *                      version            created_at): a player's document versions
 *                                         (documents.h); PostgreSQL keeps the newest 50
 *
 * Two backends: the embedded default (an append-only, checksummed log under --data-dir, see
 * store_log.c) and PostgreSQL (--database-url, store_pg.c). Loop thread only, except where a
 * function says otherwise. */
#ifndef MT_STORE_H
#define MT_STORE_H

#include "config.h"

#include <jansson.h>
#include <stdint.h>

/* Opens the configured backend and replays what it holds into the loaders registered with
 * store_on_load (players, to rebuild the account index). Returns 0, or -1 with a log line. */
int store_init(const struct config *cfg);

/* Opens the store for reading only (`monkeytown replay`): nothing is written, no lock is taken,
 * unfinished games are left as they are. Call before store_init. */
void store_set_readonly(int readonly);
int store_readonly(void);

/* `monkeytown compact`: rewrites the embedded log under cfg->data_dir without its superseded
 * records (store_log.c), offline: it fails (exit status 1) while a server holds the log.
 * Prints the sizes before and after. Returns the exit status. */
int store_compact_command(const struct config *cfg);

/* Flushes what is queued (bounded by the shutdown timeout) and closes the backend. */
void store_shutdown(void);

/* Queues one row. Takes ownership of row. Never blocks. */
void store_put(const char *table, json_t *row);

/* Like store_put, with one column given as JSON text: row (taken) lacks column, and json
 * (borrowed) is that column's value, valid JSON the server itself wrote (an event payload made
 * by the referee's encoder, an action jansson produced). Saves parsing text only to write it
 * out again. */
void store_put_json(const char *table, json_t *row, const char *column, const char *json);
/* Gives the backend a chance to read a reply that has come in, outside the loop's own turn:
 * main.c calls it between units of work (each WebSocket message, each posted result; see
 * loop_set_between). Cheap when there is nothing to do. Loop thread. */
void store_poll(void);

/* Asks the backend to make everything queued so far durable soon (a game just ended). */
void store_flush(void);

/* Called before anything leaves for a client (main.c sets it as the sockets' write hook): with
 * the embedded store every row put so far is then in the kernel, so what a player was sent
 * survives kill -9 of the server, and a room rebuilt after it (room_restore) continues exactly
 * where its players were. PostgreSQL: nothing (rows not yet committed when the process dies
 * are lost; a resume past the rebuilt room's seq is answered as docs/protocol.md says). Cheap
 * when there is nothing new. Loop thread. */
void store_barrier(void);

/* Loads one stored game for replay or its log: calls done(game, arg) on the loop thread with
 * {game row, participants: [...], events: [...], inputs: [...], script_version: {row}}
 * or NULL when there is no such game (or the backend is unavailable). game is borrowed. */
void store_load_game(const char *game_id, void (*done)(json_t *game, void *arg), void *arg);

/* The same for n games at once: done(game, args[i]) for each ids[i], in any order. One
 * statement per STORE_LOAD_BATCH games with PostgreSQL (a takeover or a restart loads many). */
#define STORE_LOAD_BATCH 256
void store_load_games(const char *const *ids, int n, void (*done)(json_t *game, void *arg),
                      void *const *args);

/* Whether writes are flowing (for /health/ready): fills out with backend details. */
int store_healthy(json_t *out);

/* Whether the write queue has room for a new game (false while a PostgreSQL outage has filled
 * the bounded buffer: new rooms are then refused with SERVER_BUSY). */
int store_accepting(void);

/* --cluster: this instance holds fence, the room directory's fencing token, for game_id (the
 * claim was answered), and its rows of the game (games, game_participants, game_events,
 * game_inputs) carry it from now on, also those queued and not yet written. PostgreSQL refuses
 * a row with a lower fence than the game's (sql/006): a deposed owner's writes are dropped
 * (store_fenced_writes_total). fence 0: the room was released here; the fence is forgotten once
 * the rows put before are written. Without it rows go with fence 0, as on a single server.
 * The embedded store ignores it. */
void store_set_fence(const char *game_id, uint64_t fence);

/* Registers fn to receive every stored row of table at start-up (before store_init returns). */
void store_on_load(const char *table, void (*fn)(json_t *row));

/* ---- the backend interface (store_log.c and store_pg.c implement it) ---- */
struct store_backend {
    const char *name;
    int (*open)(const struct config *cfg);
    void (*put)(const char *table, json_t *row); /* takes row */
    /* takes row; json is column's value as JSON text (see store_put_json) */
    void (*put_json)(const char *table, json_t *row, const char *column, const char *json);
    void (*flush)(void);
    void (*barrier)(void); /* optional: see store_barrier */
    void (*poll)(void);    /* optional: see store_poll */
    void (*load_game)(const char *game_id, void (*done)(json_t *game, void *arg), void *arg);
    /* optional: see store_load_games (n <= STORE_LOAD_BATCH; without it, load_game each) */
    void (*load_games)(const char *const *ids, int n, void (*done)(json_t *game, void *arg),
                       void *const *args);
    int (*healthy)(json_t *out);
    int (*accepting)(void);
    void (*set_fence)(const char *game_id, uint64_t fence); /* optional: see store_set_fence */
    void (*close)(void);
};

extern const struct store_backend store_log_backend;
extern const struct store_backend store_pg_backend;

/* For backends: hands a loaded row to the registered loader of its table. */
void store_deliver_loaded(const char *table, json_t *row);

#endif
