/* pg_sql.c - the SQL text of the PostgreSQL store (see pg_sql.h). */
#include "pg_sql.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growing string ---- */

/* Makes room for n more bytes and a NUL. Returns 0, or -1 (and remembers it) on OOM. */
static int sb_reserve(struct pg_sb *b, size_t n)
{
    if (b->oom) return -1;
    if (b->len + n + 1 <= b->cap) return 0;
    size_t cap = (b->len + n + 1) * 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void pg_sb_add(struct pg_sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sb_reserve(b, (size_t)n) < 0) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void pg_sb_put(struct pg_sb *b, const char *text, size_t len)
{
    if (sb_reserve(b, len) < 0) return;
    memcpy(b->s + b->len, text, len);
    b->len += len;
    b->s[b->len] = '\0';
}

char *pg_sb_take(struct pg_sb *b)
{
    if (!b->oom) return b->s;
    free(b->s);
    return NULL;
}

/* ---- lists of columns ---- */

/* "col1", "col2" for the columns of mask. */
static void column_list(struct pg_sb *b, const struct pg_table *t, unsigned mask)
{
    for (int i = 0, first = 1; i < pg_schema_ncols(t); i++) {
        if (!(mask & (1u << i))) continue;
        pg_sb_add(b, "%s\"%s\"", first ? "" : ", ", t->cols[i].name);
        first = 0;
    }
}

static int has_required(const struct pg_table *t, unsigned mask)
{
    for (int i = 0; i < pg_schema_ncols(t); i++)
        if (t->cols[i].required && !(mask & (1u << i))) return 0;
    return 1;
}

/* "col" = src."col" for the non-key columns of mask; with only the key, the key itself (the
 * statement must set something, and this changes nothing). */
static void set_list(struct pg_sb *b, const struct pg_table *t, unsigned mask, const char *src)
{
    int sets = 0;
    for (int i = t->nkey; i < pg_schema_ncols(t); i++)
        if (mask & (1u << i))
            pg_sb_add(b, "%s\"%s\" = %s.\"%s\"", sets++ ? ", " : "", t->cols[i].name, src,
                      t->cols[i].name);
    if (!sets) pg_sb_add(b, "\"%s\" = %s.\"%s\"", t->cols[0].name, src, t->cols[0].name);
}

/* ---- rows as VALUES, or as arrays ---- */

/* Parameter n of a statement with parameters. */
static void param(struct pg_sb *b, const struct pg_column *c, int n)
{
    if (strcmp(c->type, "ms") == 0)
        pg_sb_add(b, "to_timestamp($%d::float8 / 1000)", n);
    else
        pg_sb_add(b, "$%d::%s", n, c->type);
}

/* The VALUES rows of a batch of nrows parameterised rows having the columns of mask. */
static void values(struct pg_sb *b, const struct pg_table *t, unsigned mask, int nrows)
{
    int n = pg_schema_ncols(t), p = 1;
    for (int r = 0; r < nrows; r++) {
        pg_sb_put(b, r ? ", (" : "(", r ? 3 : 1);
        for (int i = 0, first = 1; i < n; i++) {
            if (!(mask & (1u << i))) continue;
            if (!first) pg_sb_put(b, ", ", 2);
            param(b, &t->cols[i], p++);
            first = 0;
        }
        pg_sb_put(b, ")", 1);
    }
}

/* The element type of a column's array: timestamps travel as ms since the epoch. */
static const char *array_type(const struct pg_column *c)
{
    return strcmp(c->type, "ms") == 0 ? "float8" : c->type;
}

/* One array element, double-quoted with '"' and '\' escaped (array syntax), inside a string
 * literal: a quote doubled, and in an escape string each backslash doubled again. */
static void array_element(struct pg_sb *b, const char *v, enum pg_quoting quoting)
{
    const char *bs = quoting == PG_QUOTE_ESCAPE ? "\\\\" : "\\";
    size_t bslen = strlen(bs);
    pg_sb_put(b, "\"", 1);
    for (const char *run = v; *run; run++) {
        size_t plain = strcspn(run, "\"\\'");
        pg_sb_put(b, run, plain);
        run += plain;
        if (!*run) break;
        if (*run == '\'') {
            pg_sb_put(b, "''", 2);
            continue;
        }
        pg_sb_put(b, bs, bslen);
        if (*run == '\\')
            pg_sb_put(b, bs, bslen);
        else
            pg_sb_put(b, run, 1);
    }
    pg_sb_put(b, "\"", 1);
}

/* Column col of nrows rows as an array literal, '{"v1",NULL,...}' (with cast, ::type[]). The
 * text is UTF-8 already (jansson's, or checked by store_put_json). */
static void array_literal(struct pg_sb *b, const struct pg_column *c, int col, int nrows,
                          struct pg_row *const *rows, enum pg_quoting quoting, int cast)
{
    pg_sb_put(b, quoting == PG_QUOTE_ESCAPE ? "E'{" : "'{", quoting == PG_QUOTE_ESCAPE ? 3 : 2);
    for (int r = 0; r < nrows; r++) {
        const char *v = pg_row_col(rows[r], col);
        if (r) pg_sb_put(b, ",", 1);
        if (v)
            array_element(b, v, quoting);
        else
            pg_sb_put(b, "NULL", 4);
    }
    pg_sb_put(b, "}'", 2);
    if (cast) pg_sb_add(b, "::%s[]", array_type(c));
}

/* The nrows rows (columns of mask) as a query: SELECT over unnest() of one array literal per
 * column (rows NULL: of one array parameter per column, for PREPARE), timestamps converted,
 * each column named as in the table. Parsing and planning this costs the same for 1 row or
 * 500; a VALUES list with a cast literal per value cost PostgreSQL half of its time. */
static void unnest(struct pg_sb *b, const struct pg_table *t, unsigned mask, int nrows,
                   struct pg_row *const *rows, enum pg_quoting quoting)
{
    int n = pg_schema_ncols(t), first = 1;
    pg_sb_add(b, "SELECT ");
    for (int i = 0; i < n; i++) {
        if (!(mask & (1u << i))) continue;
        const char *name = t->cols[i].name;
        if (strcmp(t->cols[i].type, "ms") == 0)
            pg_sb_add(b, "%sto_timestamp(u.\"%s\" / 1000) AS \"%s\"", first ? "" : ", ", name,
                      name);
        else
            pg_sb_add(b, "%su.\"%s\"", first ? "" : ", ", name);
        first = 0;
    }
    pg_sb_add(b, " FROM unnest(");
    for (int i = 0, p = 1; i < n; i++) {
        if (!(mask & (1u << i))) continue;
        if (p > 1) pg_sb_put(b, ", ", 2);
        if (rows)
            array_literal(b, &t->cols[i], i, nrows, rows, quoting, 1);
        else
            pg_sb_add(b, "$%d", p);
        p++;
    }
    pg_sb_add(b, ") AS u (");
    column_list(b, t, mask);
    pg_sb_add(b, ")");
}

/* The rows as a table expression: a VALUES list or a query over unnest(). */
static void rows_expr(struct pg_sb *b, const struct pg_table *t, unsigned mask, int nrows,
                      struct pg_row *const *rows, enum pg_rows_from from, enum pg_quoting quoting)
{
    if (from == PG_FROM_PARAMS) {
        pg_sb_add(b, "VALUES ");
        values(b, t, mask, nrows);
    } else {
        unnest(b, t, mask, nrows, from == PG_FROM_LITERALS ? rows : NULL, quoting);
    }
}

/* ---- write statements ---- */

static char *insert_sql(const struct pg_table *t, unsigned mask, int nrows,
                        struct pg_row *const *rows, enum pg_rows_from from, enum pg_quoting quoting)
{
    struct pg_sb b = {0};
    pg_sb_add(&b, "INSERT INTO %s (", t->name);
    column_list(&b, t, mask);
    pg_sb_add(&b, ") ");
    rows_expr(&b, t, mask, nrows, rows, from, quoting);
    /* The event log's prepared inserts go without ON CONFLICT DO NOTHING, whose check before
     * each row was a seventh of PostgreSQL's time. A row is only ever sent twice after a
     * round's reply was lost with its commit done; that round then fails on the key, and its
     * statements go again one at a time (written), with ON CONFLICT DO NOTHING, which skips
     * what is there. */
    if (pg_schema_is_event_log(t) && from == PG_FROM_ARRAYS) return pg_sb_take(&b);
    pg_sb_add(&b, " ON CONFLICT (");
    column_list(&b, t, (1u << t->nkey) - 1);
    pg_sb_add(&b, ") DO %s", t->upsert ? "UPDATE SET " : "NOTHING");
    if (t->upsert) set_list(&b, t, mask, "EXCLUDED");
    return pg_sb_take(&b);
}

static char *update_sql(const struct pg_table *t, unsigned mask, int nrows,
                        struct pg_row *const *rows, enum pg_rows_from from, enum pg_quoting quoting)
{
    struct pg_sb b = {0};
    pg_sb_add(&b, "UPDATE %s AS t SET ", t->name);
    set_list(&b, t, mask, "v");
    pg_sb_add(&b, " FROM (");
    rows_expr(&b, t, mask, nrows, rows, from, quoting);
    pg_sb_add(&b, ") AS v (");
    column_list(&b, t, mask);
    pg_sb_add(&b, ") WHERE ");
    for (int i = 0; i < t->nkey; i++)
        pg_sb_add(&b, "%st.\"%s\" = v.\"%s\"", i ? " AND " : "", t->cols[i].name, t->cols[i].name);
    return pg_sb_take(&b);
}

/* An upsert of rows that lack a required column is an UPDATE: a row whose key is unknown then
 * changes nothing. */
char *pg_sql_write(const struct pg_table *t, unsigned mask, int nrows, struct pg_row *const *rows,
                   enum pg_rows_from from, enum pg_quoting quoting)
{
    return t->upsert && !has_required(t, mask) ? update_sql(t, mask, nrows, rows, from, quoting)
                                               : insert_sql(t, mask, nrows, rows, from, quoting);
}

void pg_sql_prepare(struct pg_sb *b, int k, const struct pg_table *t, unsigned mask)
{
    char *stmt = pg_sql_write(t, mask, 0, NULL, PG_FROM_ARRAYS, PG_QUOTE_STANDARD);
    if (!stmt) {
        b->oom = 1;
        return;
    }
    pg_sb_add(b, "PREPARE mt_w%d (", k);
    for (int i = 0, first = 1; i < pg_schema_ncols(t); i++) {
        if (!(mask & (1u << i))) continue;
        pg_sb_add(b, "%s%s[]", first ? "" : ", ", array_type(&t->cols[i]));
        first = 0;
    }
    pg_sb_add(b, ") AS ");
    pg_sb_put(b, stmt, strlen(stmt));
    pg_sb_put(b, ";\n", 2);
    free(stmt);
}

void pg_sql_execute(struct pg_sb *b, int k, const struct pg_table *t, unsigned mask, int nrows,
                    struct pg_row *const *rows, enum pg_quoting quoting)
{
    pg_sb_add(b, "EXECUTE mt_w%d (", k);
    for (int i = 0, first = 1; i < pg_schema_ncols(t); i++) {
        if (!(mask & (1u << i))) continue;
        if (!first) pg_sb_put(b, ", ", 2);
        array_literal(b, &t->cols[i], i, nrows, rows, quoting, 0);
        first = 0;
    }
    pg_sb_put(b, ");\n", 3);
}

/* ---- reads ---- */

/* A row as json_build_object(...), its keys those of the row format: jsonb columns are JSON
 * values, timestamps ms since the epoch. Without the fence, which is the writer's: a loaded
 * game is the same from either store. */
static void row_object(struct pg_sb *b, const char *table, const char *alias)
{
    const struct pg_table *t = pg_schema_table(table);
    pg_sb_add(b, "json_build_object(");
    for (int i = 0, first = 1; i < pg_schema_ncols(t); i++) {
        const struct pg_column *c = &t->cols[i];
        /* Not read back: the fence is the store's own, and games.owner carries a process's
         * lease token (sql/008), which only the cluster's scripts may see. */
        if (i == pg_schema_fence_col(t) || strcmp(c->name, "owner") == 0) continue;
        pg_sb_add(b, "%s'%s', ", first ? "" : ", ", c->name);
        first = 0;
        if (strcmp(c->type, "ms") == 0)
            pg_sb_add(b, "(extract(epoch FROM %s.\"%s\") * 1000)::bigint", alias, c->name);
        else
            pg_sb_add(b, "%s.\"%s\"", alias, c->name);
    }
    pg_sb_add(b, ")");
}

/* "(SELECT json_agg(<row> ORDER BY a.order) FROM table a WHERE a.game_id = x.id)" */
static void game_list(struct pg_sb *b, const char *table, const char *alias, const char *order)
{
    pg_sb_add(b, ", (SELECT json_agg(");
    row_object(b, table, alias);
    pg_sb_add(b, " ORDER BY %s.%s) FROM %s %s WHERE %s.game_id = x.id)", alias, order, table, alias,
              alias);
}

char *pg_sql_load_games(void)
{
    struct pg_sb b = {0};
    pg_sb_add(&b, "SELECT (SELECT ");
    row_object(&b, "games", "g");
    pg_sb_add(&b, " FROM games g WHERE g.id = x.id)");
    game_list(&b, "game_participants", "p", "seat");
    game_list(&b, "game_events", "e", "seq");
    game_list(&b, "game_inputs", "i", "ord");
    pg_sb_add(&b, ", (SELECT ");
    row_object(&b, "script_versions", "v");
    pg_sb_add(&b, " FROM script_versions v JOIN games g ON v.id = g.version WHERE g.id = x.id)"
                  " FROM unnest($1::uuid[]) WITH ORDINALITY AS x(id, n) ORDER BY x.n");
    return pg_sb_take(&b);
}

char *pg_sql_rows(const char *table, const char *order)
{
    struct pg_sb b = {0};
    pg_sb_add(&b, "SELECT ");
    row_object(&b, table, "t");
    pg_sb_add(&b, " FROM %s t ORDER BY %s", table, order);
    return pg_sb_take(&b);
}

char *pg_sql_players(const char *where)
{
    struct pg_sb b = {0};
    pg_sb_add(&b, "SELECT ");
    row_object(&b, "players", "p");
    pg_sb_add(&b, " FROM players p%s%s", where ? " WHERE " : "", where ? where : "");
    return pg_sb_take(&b);
}
