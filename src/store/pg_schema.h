/* pg_schema.h - the PostgreSQL tables the store writes and reads: the row formats of store.h
 * as the columns of sql/ (tests/unit/test_pg_schema.c checks them against the CREATE and
 * ALTER TABLE statements there; a new column needs a line in pg_schema.c).
 *
 * Static data, no state: any thread. Nothing here allocates except where a function says. */
#ifndef MT_PG_SCHEMA_H
#define MT_PG_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

#define PG_MAX_COLS 24 /* with the {NULL} end; a row's columns are bits of an unsigned */

struct pg_column {
    const char *name;
    const char *type; /* the parameter's cast; "ms" is a timestamp in ms since the epoch */
    int required;     /* NOT NULL without a default: an INSERT needs it */
};

struct pg_table {
    const char *name;
    int nkey;                     /* the first nkey columns are the natural key */
    int upsert;                   /* 1: a known key updates the other columns; 0: left alone */
    const struct pg_column *cols; /* ends with {NULL}; at most PG_MAX_COLS - 1 */
};

/* The table called name, or NULL for a table the store does not know. */
const struct pg_table *pg_schema_table(const char *name);

/* Every table, in foreign-key order; *n is their number. */
const struct pg_table *pg_schema_tables(size_t *n);

/* How many columns t has. */
int pg_schema_ncols(const struct pg_table *t);

/* game_events and game_inputs: written once each, by the game that owns them (script versions
 * and agent behaviours, also insert-once, are put again at every start). */
int pg_schema_is_event_log(const struct pg_table *t);

/* The column "fence" of the tables a room's owner writes with its fencing token (games, and
 * those of pg_schema_has_game_fk; sql/006), or -1. The store fills it in (pg_queue.h), and
 * reads leave it out: it is the writer's, not the game's. */
int pg_schema_fence_col(const struct pg_table *t);

/* The tables whose rows need their game's games row (a foreign key, or the order the writer
 * keeps for the event log since sql/003 dropped the key). */
int pg_schema_has_game_fk(const struct pg_table *t);

/* Makes a row read back from PostgreSQL (row, modified in place) look as it was put: numbers
 * of double precision and timestamp columns come back without a fraction, and the embedded
 * store hands back the reals it was given, which readers may rely on. */
void pg_schema_normalize(const struct pg_table *t, json_t *row);

#endif
