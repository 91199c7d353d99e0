/* pg_schema.c - the tables of the PostgreSQL store (see pg_schema.h). */
#include "pg_schema.h"

#include <string.h>

static const struct pg_column players_cols[] = {
    {"id", "uuid", 1},         {"username", "text", 0},
    {"name", "text", 1},       {"password_hash", "text", 0},
    {"role", "text", 0},       {"stats", "jsonb", 0},
    {"rating", "float8", 0},   {"created_at", "ms", 0},
    {"last_seen_at", "ms", 0}, {NULL}};
static const struct pg_column script_versions_cols[] = {{"id", "text", 1},
                                                        {"kind", "text", 1},
                                                        {"name", "text", 1},
                                                        {"files", "jsonb", 1},
                                                        {"commit", "text", 0},
                                                        {"created_at", "ms", 0},
                                                        {NULL}};
static const struct pg_column agent_behaviors_cols[] = {{"name", "text", 1},
                                                        {"version", "text", 1},
                                                        {"personality", "text", 1},
                                                        {"title", "text", 1},
                                                        {"commit", "text", 0},
                                                        {"created_at", "ms", 0},
                                                        {NULL}};
static const struct pg_column games_cols[] = {{"id", "uuid", 1},
                                              {"game", "text", 1},
                                              {"version", "text", 1},
                                              {"config", "jsonb", 0},
                                              {"status", "text", 1},
                                              {"result", "jsonb", 0},
                                              {"seed", "bigint", 1},
                                              {"seats", "int", 1},
                                              {"created_at", "ms", 0},
                                              {"started_at", "ms", 0},
                                              {"ended_at", "ms", 0},
                                              {"tick_rate", "int", 0},
                                              {"ticks", "bigint", 0},
                                              {"private", "bool", 0},
                                              {"fence", "bigint", 0},
                                              {"owner", "text", 0},
                                              {NULL}};
static const struct pg_column game_participants_cols[] = {
    {"game_id", "uuid", 1}, {"seat", "int", 1},        {"player_id", "uuid", 0},
    {"agent", "text", 0},   {"name", "text", 1},       {"score", "float8", 0},
    {"fence", "bigint", 0}, {"doc_version", "int", 0}, {NULL}};
static const struct pg_column game_events_cols[] = {{"game_id", "uuid", 1},
                                                    {"seq", "bigint", 1},
                                                    {"type", "text", 1},
                                                    {"payload", "jsonb", 1},
                                                    {"t", "bigint", 1},
                                                    {"fence", "bigint", 0},
                                                    {NULL}};
static const struct pg_column game_results_cols[] = {
    {"id", "uuid", 1},   {"players", "jsonb", 1}, {"winner", "int", 1},
    {"draw", "bool", 1}, {"created_at", "ms", 0}, {NULL}};
static const struct pg_column game_inputs_cols[] = {
    {"game_id", "uuid", 1},    {"ord", "bigint", 1},
    {"seat", "int", 1},        {"action", "jsonb", 0},
    {"source", "text", 1},     {"t", "bigint", 1},
    {"state_hash", "text", 0}, {"tick", "bigint", 0},
    {"fence", "bigint", 0},    {NULL}};

static const struct pg_column player_documents_cols[] = {
    {"player_id", "uuid", 1}, {"game", "text", 1},
    {"version", "int", 1},    {"author", "text", 1},
    {"author_id", "uuid", 0}, {"note", "text", 0},
    {"doc", "jsonb", 1},      {"game_id", "uuid", 0},
    {"created_at", "ms", 0},  {NULL}};

/* In foreign-key order (a table before those that refer to it), though nothing relies on it:
 * rows are written in the order they were put. */
static const struct pg_table tables[] = {{"players", 1, 1, players_cols},
                                         {"script_versions", 1, 0, script_versions_cols},
                                         {"agent_behaviors", 2, 0, agent_behaviors_cols},
                                         {"games", 1, 1, games_cols},
                                         {"game_participants", 2, 1, game_participants_cols},
                                         {"game_events", 2, 0, game_events_cols},
                                         {"game_inputs", 2, 0, game_inputs_cols},
                                         {"game_results", 1, 0, game_results_cols},
                                         {"player_documents", 3, 0, player_documents_cols}};
#define N_TABLES (sizeof tables / sizeof tables[0])

const struct pg_table *pg_schema_table(const char *name)
{
    for (size_t i = 0; i < N_TABLES; i++)
        if (strcmp(tables[i].name, name) == 0) return &tables[i];
    return NULL;
}

const struct pg_table *pg_schema_tables(size_t *n)
{
    *n = N_TABLES;
    return tables;
}

int pg_schema_ncols(const struct pg_table *t)
{
    int n = 0;
    while (n < PG_MAX_COLS && t->cols[n].name)
        n++;
    return n;
}

int pg_schema_is_event_log(const struct pg_table *t)
{
    return strcmp(t->name, "game_events") == 0 || strcmp(t->name, "game_inputs") == 0;
}

int pg_schema_fence_col(const struct pg_table *t)
{
    for (int i = 0; i < pg_schema_ncols(t); i++)
        if (strcmp(t->cols[i].name, "fence") == 0) return i;
    return -1;
}

int pg_schema_has_game_fk(const struct pg_table *t)
{
    return pg_schema_is_event_log(t) || strcmp(t->name, "game_participants") == 0;
}

void pg_schema_normalize(const struct pg_table *t, json_t *row)
{
    for (int i = 0; i < pg_schema_ncols(t); i++) {
        const struct pg_column *c = &t->cols[i];
        json_t *v = json_object_get(row, c->name);
        if (json_is_integer(v) && (strcmp(c->type, "float8") == 0 || strcmp(c->type, "ms") == 0))
            json_object_set_new(row, c->name, json_real((double)json_integer_value(v)));
    }
}
