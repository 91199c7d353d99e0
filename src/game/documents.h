/* documents.h - per-player documents that outlive a game (a character sheet): for each player
 * and game name, the versions saved by the game's ctx.save_doc (docs/scripting.md, "Documents"),
 * each with its author and note. GET /api/players/:id/documents/:game reads them
 * (api_documents.c).
 *
 * Every version is a row of player_documents (store.h), key (player_id, game, version), and the
 * server keeps the versions in memory: they come back from the store at start-up (store_on_load;
 * PostgreSQL loads the table after the players), so a room starting, a replay and a rebuild read
 * them without waiting. Versions are numbered from 1 per (player, game); the newest
 * DOCUMENT_VERSIONS_KEPT are kept, older ones are forgotten (and deleted by PostgreSQL's
 * trigger, sql/007; the embedded log keeps their records, which start-up skips).
 *
 * Not shared between live instances (--cluster): each knows PostgreSQL's versions as of its
 * start, and its own saves.
 *
 * Loop thread only (and the replay command's thread, which is its loop). */
#ifndef MT_DOCUMENTS_H
#define MT_DOCUMENTS_H

#include <jansson.h>
#include <stddef.h>

#define DOCUMENT_MAX_BYTES 65536  /* a document's JSON text (lua/referee.lua refuses more) */
#define DOCUMENT_NOTE_MAX 200     /* a note's bytes (lua/referee.lua) */
#define DOCUMENT_VERSIONS_KEPT 50 /* per (player, game) */

/* Makes the index and registers its loader for the store's rows: before store_init. Returns 0,
 * or -1 without memory. */
int documents_preinit(void);

/* Frees every document kept. */
void documents_shutdown(void);

/* The newest version of player's document for game: its number (0: none) and, when there is
 * one, *doc its JSON text (borrowed until the next save or load of that key). */
int documents_latest(const char *player_id, const char *game, const char **doc);

/* Version version's JSON text, or NULL when it is not kept (never saved, or pruned). */
const char *documents_get(const char *player_id, const char *game, int version);

/* The JSON text of the k-th (from 0) kept version that game_id saved for player, or NULL: what
 * a replay compares its saves with. */
const char *documents_saved_by_game(const char *player_id, const char *game, const char *game_id,
                                    int k);

/* The documents a game starts from, as referee_set_docs takes them: {"<seat>": {"doc": ...}} for
 * seats 1..nseats whose players[seat] is not NULL, {"<seat>": {}} when versions[seat] is 0.
 * Returns malloc'd text, or NULL without memory or when a version is no longer kept (*missing
 * then names its seat; else it is 0). */
char *documents_start_json(const char *game, int nseats, const char *const *players,
                           const int *versions, int *missing);

/* Saves a new version of player's document for game: doc is its JSON text (len bytes, valid
 * JSON of an object, at most DOCUMENT_MAX_BYTES); author "rules", "player" or "gm", author_id
 * the editing player's id (NULL for the rules); game_id the game that saved it. The version is
 * kept and its row queued to the store. Returns the new version, or -1 (without memory, or a
 * document the limits refuse), which is logged. */
int documents_save(const char *player_id, const char *game, const char *doc, size_t len,
                   const char *note, const char *author, const char *author_id,
                   const char *game_id);

/* [{version, author, authorId, note, createdAt, gameId}] of the kept versions, newest first
 * (an empty array when there are none). New reference. */
json_t *documents_list_json(const char *player_id, const char *game);

/* {version, author, authorId, note, createdAt, gameId, doc} of one version, or NULL when it is
 * not kept. New reference. */
json_t *documents_version_json(const char *player_id, const char *game, int version);

#endif
