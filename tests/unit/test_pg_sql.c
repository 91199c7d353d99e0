/* Unit tests for pg_sql.c (and the rows of pg_queue.c it reads): the statements the PostgreSQL
 * store sends, made without a database. A change to one of these texts changes what every
 * server on a database runs: tests/integration/20_postgres.t runs them against PostgreSQL. */
#include "pg_queue.h"
#include "pg_sql.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* A row of table from JSON text (the test's own: valid). */
static struct pg_row *row(const char *table, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    struct pg_row *r = pg_row_new(pg_schema_table(table), j, NULL, NULL);
    json_decref(j);
    return r;
}

static void is_sql(char *got, const char *want, const char *what)
{
    is_str(got, want, "%s", what);
    free(got);
}

static void test_rows(void)
{
    struct pg_row *r = row("players", "{\"id\": \"u1\", \"name\": \"ann\", \"rating\": 1212.5,"
                                      " \"created_at\": 1700000000000.0, \"username\": null}");
    ok(r != NULL, "a players row converts");
    is_int(r->mask, 1 | 4 | 64 | 128 | 2, "mask: the columns the row has, a JSON null too");
    is_str(pg_row_col(r, 0), "u1", "a string as it is");
    is_str(pg_row_col(r, 6), "1212.5", "a real with a fraction as %%.17g");
    is_str(pg_row_col(r, 7), "1700000000000", "a whole real (ms) as an integer");
    ok(pg_row_col(r, 1) == NULL && pg_row_col(r, 3) == NULL, "null and absent are SQL NULL");
    struct pg_row *same = row("players", "{\"id\": \"u1\", \"name\": \"bob\"}");
    struct pg_row *other = row("players", "{\"id\": \"u2\", \"name\": \"ann\"}");
    ok(pg_row_same_key(r, same) && !pg_row_same_key(r, other), "rows compare by their key");
    free(r);
    free(same);
    free(other);

    json_t *j = json_pack("{ss,si,ss,si}", "game_id", "g", "seq", 3, "type", "move", "t", 7);
    r = pg_row_new(pg_schema_table("game_events"), j, "payload", "{\"x\":[1,2]}");
    json_decref(j);
    is_str(pg_row_col(r, 3), "{\"x\":[1,2]}", "a raw JSON column is kept as given");
    ok(r->mask & 8, "and counts as present");
    free(r);
}

static void test_writes(void)
{
    const struct pg_table *results = pg_schema_table("game_results");
    is_sql(pg_sql_write(results, 31, 2, NULL, PG_FROM_PARAMS, PG_QUOTE_STANDARD),
           "INSERT INTO game_results (\"id\", \"players\", \"winner\", \"draw\", \"created_at\") "
           "VALUES ($1::uuid, $2::jsonb, $3::int, $4::bool, to_timestamp($5::float8 / 1000)), "
           "($6::uuid, $7::jsonb, $8::int, $9::bool, to_timestamp($10::float8 / 1000)) "
           "ON CONFLICT (\"id\") DO NOTHING",
           "insert-once rows with parameters: DO NOTHING on a known key");

    const struct pg_table *players = pg_schema_table("players");
    is_sql(pg_sql_write(players, 1 | 4 | 256, 1, NULL, PG_FROM_PARAMS, PG_QUOTE_STANDARD),
           "INSERT INTO players (\"id\", \"name\", \"last_seen_at\") VALUES ($1::uuid, $2::text, "
           "to_timestamp($3::float8 / 1000)) ON CONFLICT (\"id\") DO UPDATE SET "
           "\"name\" = EXCLUDED.\"name\", \"last_seen_at\" = EXCLUDED.\"last_seen_at\"",
           "an upsert sets only the columns the rows have");

    const struct pg_table *games = pg_schema_table("games");
    unsigned aborted = 1 | 16 | 32 | 1024; /* id, status, result, ended_at */
    is_sql(pg_sql_write(games, aborted, 1, NULL, PG_FROM_PARAMS, PG_QUOTE_STANDARD),
           "UPDATE games AS t SET \"status\" = v.\"status\", \"result\" = v.\"result\", "
           "\"ended_at\" = v.\"ended_at\" FROM (VALUES ($1::uuid, $2::text, $3::jsonb, "
           "to_timestamp($4::float8 / 1000))) AS v (\"id\", \"status\", \"result\", "
           "\"ended_at\") WHERE t.\"id\" = v.\"id\"",
           "an upsert lacking a required column is an UPDATE");
    is_sql(pg_sql_write(players, 1, 1, NULL, PG_FROM_PARAMS, PG_QUOTE_STANDARD),
           "UPDATE players AS t SET \"id\" = v.\"id\" FROM (VALUES ($1::uuid)) AS v (\"id\") "
           "WHERE t.\"id\" = v.\"id\"",
           "with only the key, the key is set to itself");

    const struct pg_table *events = pg_schema_table("game_events");
    is_sql(pg_sql_write(events, 31, 0, NULL, PG_FROM_ARRAYS, PG_QUOTE_STANDARD),
           "INSERT INTO game_events (\"game_id\", \"seq\", \"type\", \"payload\", \"t\") SELECT "
           "u.\"game_id\", u.\"seq\", u.\"type\", u.\"payload\", u.\"t\" FROM unnest($1, $2, $3, "
           "$4, $5) AS u (\"game_id\", \"seq\", \"type\", \"payload\", \"t\")",
           "the event log's prepared insert goes without ON CONFLICT");
}

static void test_literals(void)
{
    struct pg_row *rows[2] = {
        row("game_participants",
            "{\"game_id\": \"g\", \"seat\": 1, \"name\": \"a\\\"b\\\\c'd\", \"score\": 2}"),
        row("game_participants", "{\"game_id\": \"g\", \"seat\": 2, \"name\": \"e\"}")};
    const struct pg_table *t = pg_schema_table("game_participants");
    unsigned mask = 1 | 2 | 16 | 32;
    is_sql(
        pg_sql_write(t, mask, 2, rows, PG_FROM_LITERALS, PG_QUOTE_STANDARD),
        "INSERT INTO game_participants (\"game_id\", \"seat\", \"name\", \"score\") SELECT "
        "u.\"game_id\", u.\"seat\", u.\"name\", u.\"score\" FROM unnest('{\"g\",\"g\"}'::uuid[], "
        "'{\"1\",\"2\"}'::int[], '{\"a\\\"b\\\\c''d\",\"e\"}'::text[], "
        "'{\"2\",NULL}'::float8[]) AS u (\"game_id\", \"seat\", \"name\", \"score\") "
        "ON CONFLICT (\"game_id\", \"seat\") DO UPDATE SET \"name\" = EXCLUDED.\"name\", "
        "\"score\" = EXCLUDED.\"score\"",
        "rows as array literals: array escapes, quotes doubled, NULL");

    struct pg_sb b = {0};
    pg_sql_execute(&b, 3, t, 16, 2, rows, PG_QUOTE_ESCAPE);
    is_sql(pg_sb_take(&b), "EXECUTE mt_w3 (E'{\"a\\\\\"b\\\\\\\\c''d\",\"e\"}');\n",
           "an escape string literal doubles the backslashes again");

    struct pg_sb p = {0};
    pg_sql_prepare(&p, 7, pg_schema_table("games"), 1 | 16 | 1024);
    is_sql(pg_sb_take(&p),
           "PREPARE mt_w7 (uuid[], text[], float8[]) AS UPDATE games AS t SET \"status\" = "
           "v.\"status\", \"ended_at\" = v.\"ended_at\" FROM (SELECT u.\"id\", u.\"status\", "
           "to_timestamp(u.\"ended_at\" / 1000) AS \"ended_at\" FROM unnest($1, $2, $3) AS u "
           "(\"id\", \"status\", \"ended_at\")) AS v (\"id\", \"status\", \"ended_at\") WHERE "
           "t.\"id\" = v.\"id\";\n",
           "a shape is prepared over array parameters, timestamps as ms");
    free(rows[0]);
    free(rows[1]);
}

static void test_reads(void)
{
    char *game = pg_sql_load_games();
    ok(game && strncmp(game, "SELECT (SELECT json_build_object('id', g.\"id\", ", 47) == 0,
       "load_games starts with the games row");
    ok(game && strstr(game, " ORDER BY p.seat) FROM game_participants p WHERE p.game_id = x.id)") &&
           strstr(game, " ORDER BY e.seq) FROM game_events e WHERE e.game_id = x.id)") &&
           strstr(game, " ORDER BY i.ord) FROM game_inputs i WHERE i.game_id = x.id)"),
       "participants, events and inputs in seat, seq and ord order");
    ok(game && strstr(game, "'created_at', (extract(epoch FROM g.\"created_at\") * 1000)::bigint"),
       "timestamps are read as ms since the epoch");
    ok(game && !strstr(game, "fence"), "reads leave the fence out: the game is the same");
    ok(game && strstr(game, " FROM script_versions v JOIN games g ON v.id = g.version WHERE "
                            "g.id = x.id)"),
       "and the script version last");
    ok(game && strstr(game, " FROM unnest($1::uuid[]) WITH ORDINALITY AS x(id, n) ORDER BY x.n"),
       "a row per id of the array $1, in its order");
    free(game);
    is_sql(pg_sql_players("p.id = $1::uuid"),
           "SELECT json_build_object('id', p.\"id\", 'username', p.\"username\", 'name', "
           "p.\"name\", 'password_hash', p.\"password_hash\", 'role', p.\"role\", 'stats', "
           "p.\"stats\", 'rating', p.\"rating\", 'created_at', (extract(epoch FROM "
           "p.\"created_at\") * 1000)::bigint, 'last_seen_at', (extract(epoch FROM "
           "p.\"last_seen_at\") * 1000)::bigint) FROM players p WHERE p.id = $1::uuid",
           "a players read");
}

/* sql/006: the rows a room's owner writes carry its fence, and PostgreSQL compares it. */
static void test_fence(void)
{
    struct pg_row *ev = row("game_events", "{\"game_id\": \"g\", \"seq\": 1, \"type\": \"x\","
                                           " \"payload\": 1, \"t\": 0}");
    const struct pg_table *events = pg_schema_table("game_events");
    is_int(pg_schema_fence_col(events), 5, "the event log has a fence column");
    ok(ev && ev->mask == 63 && ev->fence == 0 && strcmp(pg_row_col(ev, 5), "0") == 0,
       "a row always has it: 0 without a fence held");
    is_sql(pg_sql_write(events, ev->mask, 1, NULL, PG_FROM_PARAMS, PG_QUOTE_STANDARD),
           "INSERT INTO game_events (\"game_id\", \"seq\", \"type\", \"payload\", \"t\", "
           "\"fence\") VALUES ($1::uuid, $2::bigint, $3::text, $4::jsonb, $5::bigint, "
           "$6::bigint) ON CONFLICT (\"game_id\", \"seq\") DO NOTHING",
           "an event is inserted with its fence");
    free(ev);
    struct pg_row *in = row("game_inputs", "{\"game_id\": \"g\", \"ord\": 1, \"seat\": 1,"
                                           " \"source\": \"player\", \"t\": 0, \"fence\": 7}");
    ok(in && in->fence == 7 && strcmp(pg_row_col(in, 8), "7") == 0,
       "an input row carries the fence it was put with (the journal's copy)");
    struct pg_sb b = {0};
    pg_sql_execute(&b, 2, pg_schema_table("game_inputs"), 1 | 256, 1, &in, PG_QUOTE_STANDARD);
    is_sql(pg_sb_take(&b), "EXECUTE mt_w2 ('{\"g\"}', '{\"7\"}');\n", "and its array literal");
    free(in);

    const struct pg_table *games = pg_schema_table("games");
    is_sql(pg_sql_write(games, 1 | 16 | 16384, 1, NULL, PG_FROM_PARAMS, PG_QUOTE_STANDARD),
           "UPDATE games AS t SET \"status\" = v.\"status\", \"fence\" = v.\"fence\" FROM "
           "(VALUES ($1::uuid, $2::text, $3::bigint)) AS v (\"id\", \"status\", \"fence\") "
           "WHERE t.\"id\" = v.\"id\"",
           "a games update sets the fence: a higher one takes the game over, a lower is refused");
    char *upsert = pg_sql_write(games, 0x7fff, 1, NULL, PG_FROM_ARRAYS, PG_QUOTE_STANDARD);
    ok(upsert && strstr(upsert, "\"private\", \"fence\") SELECT ") &&
           strstr(upsert, "\"private\" = EXCLUDED.\"private\", \"fence\" = EXCLUDED.\"fence\""),
       "and so does the upsert of a whole games row");
    free(upsert);
}

static void test_sb(void)
{
    struct pg_sb b = {0};
    pg_sb_put(&b, "100%", 4);
    pg_sb_add(&b, " of %d", 3);
    is_sql(pg_sb_take(&b), "100% of 3", "text is put as it is, formats as formats");
    struct pg_sb failed = {0};
    pg_sb_add(&failed, "x");
    failed.oom = 1;
    pg_sb_add(&failed, "y");
    ok(pg_sb_take(&failed) == NULL, "after a failed allocation the text is NULL");
}

int main(void)
{
    test_rows();
    test_writes();
    test_literals();
    test_reads();
    test_fence();
    test_sb();
    return done_testing();
}
