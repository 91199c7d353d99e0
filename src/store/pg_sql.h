/* pg_sql.h - the SQL text of the PostgreSQL store, made from the tables of pg_schema.h and the
 * rows of pg_queue.h: pure functions, no connection, no state (tests/unit/test_pg_sql.c).
 *
 * Every function returning char * returns text the caller frees, or NULL on OOM. Functions
 * appending to a struct pg_sb record an allocation failure in it (pg_sb_take then returns
 * NULL). Rows are borrowed. Any thread. */
#ifndef MT_PG_SQL_H
#define MT_PG_SQL_H

#include "pg_queue.h"
#include "pg_schema.h"

#include <stddef.h>

/* A growing string. Zero-initialise; s is NUL-terminated once something was added. */
struct pg_sb {
    char *s;
    size_t len, cap;
    int oom; /* an allocation failed: nothing more is added */
};

/* Appends printf-formatted text. */
void pg_sb_add(struct pg_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends len bytes as they are (literal text may hold '%'). */
void pg_sb_put(struct pg_sb *b, const char *text, size_t len);

/* The text built so far (the caller frees it), or NULL (and b freed) after an allocation
 * failed. An empty string builder gives NULL without a failure: check b->len first. */
char *pg_sb_take(struct pg_sb *b);

/* Where a write statement's rows come from. */
enum pg_rows_from {
    PG_FROM_PARAMS,  /* nrows rows of text parameters $1.. in a VALUES list */
    PG_FROM_ARRAYS,  /* one array parameter per column (the body of a PREPAREd shape) */
    PG_FROM_LITERALS /* the rows themselves, as one array literal per column */
};

/* How a literal is written: as standard SQL ('' for a quote, backslashes as they are: the
 * server has standard_conforming_strings on, the default since PostgreSQL 9.1), or as an
 * escape string E'...' (backslashes doubled too) for a server that has it off. */
enum pg_quoting { PG_QUOTE_STANDARD, PG_QUOTE_ESCAPE };

/* The statement writing nrows rows of t that carry the columns of mask: a multi-row INSERT ...
 * ON CONFLICT (DO UPDATE for upsert tables, DO NOTHING otherwise; the event log's PREPAREd
 * inserts go without, see pg_sql.c), or for an upsert of rows lacking a required column an
 * UPDATE ... FROM (PostgreSQL checks NOT NULL before it looks for a conflict). rows is used
 * only with PG_FROM_LITERALS (NULL otherwise), and quoting only then. */
char *pg_sql_write(const struct pg_table *t, unsigned mask, int nrows, struct pg_row *const *rows,
                   enum pg_rows_from from, enum pg_quoting quoting);

/* Appends "PREPARE mt_w<k> (type[], ...) AS <pg_sql_write over array parameters>;\n". */
void pg_sql_prepare(struct pg_sb *b, int k, const struct pg_table *t, unsigned mask);

/* Appends "EXECUTE mt_w<k> ('{...}', ...);\n": the nrows rows' columns of mask as array
 * literals, for the shape pg_sql_prepare made under k. */
void pg_sql_execute(struct pg_sb *b, int k, const struct pg_table *t, unsigned mask, int nrows,
                    struct pg_row *const *rows, enum pg_quoting quoting);

/* Games with everything a replay needs, in one statement (one snapshot) of $1 (an array of
 * game ids): a row per id, in their order, of five columns: the games row (NULL for an unknown
 * id), the participants, events and inputs (JSON arrays in seat, seq and ord order) and the
 * script_versions row. Rows are JSON objects with the keys of their formats, jsonb columns as
 * JSON values and timestamps as ms since the epoch. One statement for a batch: a takeover or a
 * restart loads many games, and each statement is a round trip on the store's connection. */
char *pg_sql_load_games(void);

/* Every players row as such a JSON object, or (where not NULL) those matching where, an SQL
 * condition on the alias p that may name $1. */
char *pg_sql_players(const char *where);

/* Every row of table (one of pg_schema.c) as such a JSON object, ordered by order (SQL on the
 * alias t, e.g. "t.version"). */
char *pg_sql_rows(const char *table, const char *order);

#endif
