/* Unit tests for pg_schema.c: the tables the PostgreSQL store writes are those the migrations
 * of sql/ make. The migrations are parsed here (CREATE TABLE, ALTER TABLE ADD/DROP/ALTER
 * COLUMN, in version order) into columns with a type, NOT NULL and DEFAULT, and a primary key;
 * every table of pg_schema must then have the same columns, of the same types, its required
 * columns exactly the NOT NULL ones without a default, and its key the primary key. */
#include "pg_schema.h"
#include "tap.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 8192
#define NAME 64

struct sql_column {
    char name[NAME], type[NAME];
    int not_null, has_default;
};

struct sql_table {
    char name[NAME];
    struct sql_column cols[32];
    int ncols;
    char key[4][NAME];
    int nkey;
};

static struct sql_table model[32];
static int nmodel, unsupported;
static char tokens[MAX_TOKENS][NAME];
static int ntokens;

/* ---- reading the files ---- */

/* The whole file (the migrations hold no NUL byte), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t cap = 0;
    if (f && getdelim(&text, &cap, '\0', f) < 0) {
        free(text);
        text = NULL;
    }
    if (f) fclose(f);
    return text;
}

/* Tokens of sql, lower-cased: words, 'strings' (kept quoted) and single punctuation, without
 * comments and $$ function bodies. Statements end with a ";" token. */
static void tokenize(const char *s)
{
    ntokens = 0;
    while (*s && ntokens < MAX_TOKENS) {
        size_t n = 1;
        if (isspace((unsigned char)*s)) {
            s++;
            continue;
        }
        if (s[0] == '-' && s[1] == '-') {
            s += strcspn(s, "\n");
            continue;
        }
        if (s[0] == '$' && s[1] == '$') { /* a function body: nothing of the tables' shape */
            const char *end = strstr(s + 2, "$$");
            s = end ? end + 2 : s + strlen(s);
            continue;
        }
        if (*s == '\'')
            n = strcspn(s + 1, "'") + 2;
        else if (isalnum((unsigned char)*s) || *s == '_')
            for (n = 0; isalnum((unsigned char)s[n]) || s[n] == '_'; n++)
                ;
        if (n >= NAME) n = NAME - 1;
        for (size_t i = 0; i < n; i++)
            tokens[ntokens][i] = (char)tolower((unsigned char)s[i]);
        tokens[ntokens++][n] = '\0';
        s += n;
    }
}

static int is(int at, const char *word)
{
    return at < ntokens && strcmp(tokens[at], word) == 0;
}

/* ---- the model ---- */

static struct sql_table *table(const char *name)
{
    for (int i = 0; i < nmodel; i++)
        if (strcmp(model[i].name, name) == 0) return &model[i];
    return NULL;
}

static struct sql_column *column(struct sql_table *t, const char *name)
{
    for (int i = 0; t && i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0) return &t->cols[i];
    return NULL;
}

/* The store's name for an SQL type (pg_schema's casts). */
static const char *store_type(const char *sql)
{
    static const char *const map[][2] = {
        {"uuid", "uuid"},     {"varchar", "text"},   {"text", "text"},     {"jsonb", "jsonb"},
        {"double", "float8"}, {"timestamptz", "ms"}, {"bigint", "bigint"}, {"integer", "int"},
        {"int", "int"},       {"boolean", "bool"},   {"bool", "bool"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(sql, map[i][0]) == 0) return map[i][1];
    return sql;
}

/* A column definition from token at to the ',' or ')' that ends it at depth 0; returns the
 * token after it. */
static int parse_column(int at, struct sql_table *t)
{
    struct sql_column *c = &t->cols[t->ncols++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", tokens[at]);
    snprintf(c->type, sizeof c->type, "%s", store_type(tokens[at + 1]));
    int depth = 0;
    for (at += 2; at < ntokens && !is(at, ";"); at++) {
        if (depth == 0 && (is(at, ",") || is(at, ")"))) break;
        depth += is(at, "(") - is(at, ")");
        if (depth) continue;
        if (is(at, "not") && is(at + 1, "null")) c->not_null = 1;
        if (is(at, "default")) c->has_default = 1;
        if (is(at, "primary") && is(at + 1, "key")) {
            c->not_null = 1;
            memcpy(t->key[t->nkey++], c->name, NAME);
        }
    }
    return at;
}

/* PRIMARY KEY (a, b) at at; returns the token after the ')'. */
static int parse_key(int at, struct sql_table *t)
{
    for (at += 3; at < ntokens && !is(at, ")"); at++)
        if (!is(at, ",") && t->nkey < 4) {
            snprintf(t->key[t->nkey++], NAME, "%s", tokens[at]);
            column(t, tokens[at])->not_null = 1;
        }
    return at + 1;
}

/* CREATE TABLE name ( ... ) from token at (at "table"); returns the end of the statement. */
static int parse_create(int at)
{
    struct sql_table *t = &model[nmodel++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", tokens[at + 1]);
    at += 3; /* past the name and "(" */
    while (at < ntokens && !is(at, ";")) {
        if (is(at, "primary"))
            at = parse_key(at, t);
        else
            at = parse_column(at, t);
        if (is(at, ",") || is(at, ")")) at++;
    }
    return at;
}

static void drop_column(struct sql_table *t, const char *name)
{
    struct sql_column *c = column(t, name);
    if (!c) return;
    *c = t->cols[--t->ncols];
}

/* ALTER TABLE name ... from token at (at "table"); returns the end of the statement. */
static int parse_alter(int at)
{
    struct sql_table *t = table(tokens[at + 1]);
    int op = at + 2;
    if (!t) {
        unsupported++;
    } else if (is(op, "add") && is(op + 1, "column")) {
        at = parse_column(op + 2, t);
    } else if (is(op, "drop") && is(op + 1, "column")) {
        drop_column(t, tokens[op + 2]);
    } else if (is(op, "alter") && is(op + 1, "column") && is(op + 4, "not")) {
        struct sql_column *c = column(t, tokens[op + 2]);
        if (c) c->not_null = is(op + 3, "set");
        unsupported += !c;
    } else if (!(is(op, "drop") && is(op + 1, "constraint"))) { /* keys to games only */
        printf("# not understood: ALTER TABLE %s %s %s\n", tokens[at + 1], tokens[op],
               tokens[op + 1]);
        unsupported++;
    }
    while (at < ntokens && !is(at, ";"))
        at++;
    return at;
}

static void parse(const char *sql)
{
    tokenize(sql);
    for (int at = 0; at < ntokens; at++) {
        if (is(at, "create") && is(at + 1, "table"))
            at = parse_create(at + 1);
        else if (is(at, "alter") && is(at + 1, "table"))
            at = parse_alter(at + 1);
        while (at < ntokens && !is(at, ";")) /* any other statement */
            at++;
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Parses sql/NNN_*.sql in version order (the names sort so). Returns how many files. */
static int parse_migrations(const char *dir)
{
    DIR *d = opendir(dir);
    char *names[256];
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) && n < 256;) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".sql") == 0) names[n++] = strdup(e->d_name);
    }
    if (d) closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        char *sql = slurp(path);
        if (sql) parse(sql);
        free(sql);
        free(names[i]);
    }
    return n;
}

/* ---- the comparison ---- */

/* The differences between the store's table t and the model, each printed. */
static int differences(const struct pg_table *t)
{
    struct sql_table *s = table(t->name);
    int n = pg_schema_ncols(t), bad = 0;
    if (!s) {
        printf("#   %s: no CREATE TABLE in sql/\n", t->name);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        const struct pg_column *c = &t->cols[i];
        struct sql_column *sc = column(s, c->name);
        int required = sc && sc->not_null && !sc->has_default;
        if (!sc || strcmp(sc->type, c->type) != 0 || required != c->required)
            printf("#   %s.%s: store says %s%s, sql/ says %s%s\n", t->name, c->name, c->type,
                   c->required ? " required" : "", sc ? sc->type : "nothing",
                   required ? " required" : "");
        bad += !sc || strcmp(sc->type, c->type) != 0 || required != c->required;
    }
    if (s->ncols != n)
        printf("#   %s: %d columns in sql/, %d in the store\n", t->name, s->ncols, n);
    bad += s->ncols != n;
    for (int i = 0; i < t->nkey || i < s->nkey; i++) {
        int same = i < t->nkey && i < s->nkey && strcmp(t->cols[i].name, s->key[i]) == 0;
        if (!same) printf("#   %s: key column %d differs\n", t->name, i + 1);
        bad += !same;
    }
    return bad;
}

int main(void)
{
    int files = parse_migrations(MT_SOURCE_DIR "/sql");
    ok(files >= 5, "read the migrations of sql/ (%d files)", files);
    is_int(unsupported, 0, "every ALTER TABLE of sql/ is one this test understands");

    size_t n;
    const struct pg_table *tables = pg_schema_tables(&n);
    ok(n == 9, "the store knows 9 tables");
    for (size_t i = 0; i < n; i++) {
        ok(pg_schema_table(tables[i].name) == &tables[i], "%s is found by name", tables[i].name);
        is_int(differences(&tables[i]), 0, "%s: the store's columns are those of sql/",
               tables[i].name);
    }
    ok(pg_schema_table("schema_migrations") == NULL, "a table the store does not write is unknown");

    /* The comparison finds what it is for: a migration that changes a column the store knows. */
    parse("ALTER TABLE games ALTER COLUMN config SET NOT NULL;"
          "ALTER TABLE games ADD COLUMN extra text;");
    ok(differences(pg_schema_table("games")) == 2,
       "a column made NOT NULL and a new column are both reported");
    parse("ALTER TABLE games RENAME COLUMN seed TO seed2;");
    is_int(unsupported, 1, "an ALTER TABLE this test cannot follow fails it");

    json_t *row = json_pack("{si,sf,si}", "rating", 1200, "score", 1.5, "created_at", 5);
    pg_schema_normalize(pg_schema_table("players"), row);
    ok(json_is_real(json_object_get(row, "rating")) &&
           json_is_real(json_object_get(row, "created_at")),
       "normalize: float8 and timestamp columns read back as reals");
    ok(json_is_real(json_object_get(row, "score")), "normalize leaves other keys as they are");
    json_decref(row);
    ok(pg_schema_is_event_log(pg_schema_table("game_inputs")) &&
           !pg_schema_is_event_log(pg_schema_table("games")),
       "game_inputs is of the event log, games is not");
    ok(pg_schema_has_game_fk(pg_schema_table("game_participants")) &&
           !pg_schema_has_game_fk(pg_schema_table("players")),
       "participants need their games row, players do not");
    return done_testing();
}
