/* scripts.h - the catalog of games and agents: versions, validation, hot reload.
 *
 * A version is an immutable, reference-counted snapshot of a script's source files, named by
 * the SHA-256 of their content (first 16 hex digits) and, when the folder is a clean git work
 * tree, the commit that last touched it. A version becomes current only after it has loaded
 * in a fresh sandbox and passed its own tests (on a worker thread, within the load budget);
 * a version that fails is refused, the previous one keeps serving, and the refusal is logged
 * and shown in the catalog. Rooms hold a reference to the version they started with, so a
 * reload never changes a running game.
 *
 * games/<name>/ (every .lua file) and agents/<name>.lua are watched with inotify (directories, not
 * files: editors and git replace files) and rescanned after a quiet period. Loop thread only. */
#ifndef MT_SCRIPTS_H
#define MT_SCRIPTS_H

#include "config.h"

#include <jansson.h>
#include <lua.h>

struct source_file {
    char *path; /* within the script's folder: "game.lua", "eval.lua", "minimax.lua" */
    char *text;
    size_t len;
    char *bc; /* compiled from text by the server once per version (NULL if it does not parse) */
    size_t bclen;
};

struct script_version {
    int refs; /* atomic: worker threads hold references too */
    int is_agent;
    char name[64];
    char id[17];
    char commit[41]; /* "" when unknown or the work tree is dirty */
    char subject[160];
    struct source_file *files;
    int nfiles;
    const char *main; /* the entry file: "game.lua" or "<name>.lua" */
    json_t *meta;     /* what validation reported: title, min, max, tick_rate, ... */
    int stored;       /* its script_versions row has been queued (loop thread) */
};

/* Queues v's script_versions row (its files, so games played on it can be replayed) unless
 * done before. Loop thread. */
void script_version_store(struct script_version *v);

/* Takes a reference to v (atomic: any thread). */
void script_version_ref(struct script_version *v);

/* Drops a reference (NULL: nothing); the last one frees v. Any thread. */
void script_version_unref(struct script_version *v);

/* Pushes { [path] = source } of v's files onto L, plus under the key "\0bc" the bytecode the
 * server compiled from them (lua/sandbox.lua loads that instead of parsing the text again). */
void script_version_push_files(lua_State *L, const struct script_version *v);

/* The chunk-name prefix of v's files: "games/<name>/" or "agents/". */
const char *script_version_prefix(const struct script_version *v, char *buf, size_t len);

/* A game's version made from stored files ({path: text}, as script_version_store writes them),
 * compiled as the catalog compiles a folder: what a replay runs. One reference (unref it);
 * NULL without game.lua, with too many files or without memory. Not in the catalog. */
struct script_version *script_version_from_files(const char *name, json_t *files);

/* Scans and validates every game and agent (synchronously), then starts watching. Returns 0,
 * or -1 when a directory cannot be read. */
int scripts_init(const struct config *cfg);
void scripts_shutdown(void);

/* The current version of a game or agent, or NULL (never loaded, refused, or removed).
 * Borrowed: take a reference to keep it past the current callback. */
struct script_version *scripts_game(const char *name);
struct script_version *scripts_agent(const char *name);

/* An agent that can play game (named in its games list, or "*" with the game defining legal),
 * preferring preferred when given. NULL when there is none. */
struct script_version *scripts_agent_for(const char *game, const char *preferred);

/* Catalog JSON for GET /api/games and GET /api/agents (new references). */
json_t *scripts_games_json(void);
json_t *scripts_agents_json(void);

/* Called on the loop thread when a new agent version goes live (not at start-up). */
void scripts_on_agent_evolved(void (*fn)(const struct script_version *v));

/* A cluster's view of refusals: fn is told of each version refused here (refusal borrowed:
 * {version, message, file?, line?, at}), and scripts_refused_elsewhere records a refusal of
 * another instance (refusal gains a reference; it carries "instance"): the catalog reports
 * it, and that version is not swapped in here even if it passes here. */
void scripts_on_refusal(void (*fn)(int is_agent, const char *name, const json_t *refusal));
void scripts_refused_elsewhere(int is_agent, const char *name, json_t *refusal);

/* Rescans now (the admin "force reload"). */
void scripts_rescan(void);

#endif
