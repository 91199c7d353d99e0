/* store_pg.c - the PostgreSQL store (--database-url): libpq in non-blocking mode on the loop.
 *
 * One connection carries everything, one statement at a time. Its life:
 *
 *   connect (PQconnectPoll on libevent) -> migrate (sql/NNN_*.sql) -> load players -> ready
 *
 * Ready, it drains the write queue in batches: the run of consecutive rows at the head of the
 * queue that are of one table and carry the same columns (at most 500 rows or 1 MB) becomes one
 * multi-row INSERT ... ON CONFLICT. Rows are never reordered across tables (a game's row is
 * written before its events), and a statement sent again after an outage changes nothing.
 * A row may carry only some of its table's columns (a game closed as aborted says id, status,
 * result and ended_at): an upsert then updates just those, with an UPDATE when the row lacks
 * a column that an INSERT would need.
 *
 * Start-up: open() drives connect, migrate and the player load itself (poll(2) on the one
 * socket, at most 5 s), so the accounts are loaded when store_init returns. When the database
 * is down, the server starts anyway: the same steps run on the loop once it is back, and the
 * players then reach the loaders late.
 *
 * Outage: the queue stays in memory (bounded; accepting() turns false at 90%), the batch in
 * flight stays at the head of the queue, and reconnects back off from 100 ms to 5 s. A batch
 * that fails for another reason (a bad row) is retried row by row; only rows that fail alone
 * are dropped (store_rows_dropped_total).
 *
 * Reads (load_game, and the accounts' calls of store_pg.h) share the connection and wait for
 * the rows queued before them, so a game that just ended reads back complete. While the
 * database is down they answer NULL at once. A game_results row never passes a players row
 * (the database's trigger applies it to rows that must exist).
 * A loaded game is its games row plus "participants", "events", "inputs" (rows, in seat, seq
 * and ord order) and "script_version" (the row of its version): the shape store_log.c gives,
 * which `monkeytown replay` reads. Rows have the keys of their formats, jsonb columns as JSON
 * values and timestamps as ms since the epoch. */
#include "store.h"
#include "store_pg.h"

#include "hmap.h"
#include "json_text.h"
#include "log.h"
#include "pg_journal.h"
#include "loop.h"
#include "metrics.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 16 /* with the {NULL} end; a row's columns are bits of an unsigned */
#define BATCH_ROWS 500
#define ROUND_STATEMENTS 64 /* statements sent together in one round trip (see send_round) */
#define ROUND_ROWS (BATCH_ROWS * ROUND_STATEMENTS)
#define BATCH_BYTES (1u << 20)
#define ROUND_GAP_MS 20     /* rounds start at most this often while the queue is short... */
#define ROUND_GAP_ROWS 2000 /* ...shorter than this */
#define QUEUE_ROWS 1000000u
#define QUEUE_BYTES (512ull << 20)
#define CONNECT_TIMEOUT_MS 5000
#define OPEN_WAIT_MS 5000
#define CLOSE_WAIT_MS 2000 /* shutdown: how long the queue may make no progress */
#define CLOSE_MAX_MS 60000 /* shutdown: the longest wait for the queue */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define MIGRATION_LOCK "7262001" /* pg_advisory_lock key: one process migrates at a time */

/* ---- tables: the row formats of store.h (and the columns of sql/; a new column needs a
 * line here) ---- */

struct column {
    const char *name;
    const char *type; /* the parameter's cast; "ms" is a timestamp in ms since the epoch */
    int required;     /* NOT NULL without a default: an INSERT needs it */
};

struct table {
    const char *name;
    int nkey;                  /* the first nkey columns are the natural key */
    int upsert;                /* 1: a known key updates the other columns; 0: it is left alone */
    const struct column *cols; /* ends with {NULL}; at most MAX_COLS - 1 */
};

static const struct column players_cols[] = {
    {"id", "uuid", 1},         {"username", "text", 0},
    {"name", "text", 1},       {"password_hash", "text", 0},
    {"role", "text", 0},       {"stats", "jsonb", 0},
    {"rating", "float8", 0},   {"created_at", "ms", 0},
    {"last_seen_at", "ms", 0}, {NULL}};
static const struct column script_versions_cols[] = {{"id", "text", 1},
                                                     {"kind", "text", 1},
                                                     {"name", "text", 1},
                                                     {"files", "jsonb", 1},
                                                     {"commit", "text", 0},
                                                     {"created_at", "ms", 0},
                                                     {NULL}};
static const struct column agent_behaviors_cols[] = {{"name", "text", 1},
                                                     {"version", "text", 1},
                                                     {"personality", "text", 1},
                                                     {"title", "text", 1},
                                                     {"commit", "text", 0},
                                                     {"created_at", "ms", 0},
                                                     {NULL}};
static const struct column games_cols[] = {
    {"id", "uuid", 1},       {"game", "text", 1},    {"version", "text", 1},
    {"config", "jsonb", 0},  {"status", "text", 1},  {"result", "jsonb", 0},
    {"seed", "bigint", 1},   {"seats", "int", 1},    {"created_at", "ms", 0},
    {"started_at", "ms", 0}, {"ended_at", "ms", 0},  {"tick_rate", "int", 0},
    {"ticks", "bigint", 0},  {"private", "bool", 0}, {NULL}};
static const struct column game_participants_cols[] = {{"game_id", "uuid", 1},
                                                       {"seat", "int", 1},
                                                       {"player_id", "uuid", 0},
                                                       {"agent", "text", 0},
                                                       {"name", "text", 1},
                                                       {"score", "float8", 0},
                                                       {NULL}};
static const struct column game_events_cols[] = {{"game_id", "uuid", 1}, {"seq", "bigint", 1},
                                                 {"type", "text", 1},    {"payload", "jsonb", 1},
                                                 {"t", "bigint", 1},     {NULL}};
static const struct column game_results_cols[] = {{"id", "uuid", 1},       {"players", "jsonb", 1},
                                                  {"winner", "int", 1},    {"draw", "bool", 1},
                                                  {"created_at", "ms", 0}, {NULL}};
static const struct column game_inputs_cols[] = {
    {"game_id", "uuid", 1},    {"ord", "bigint", 1},  {"seat", "int", 1},
    {"action", "jsonb", 0},    {"source", "text", 1}, {"t", "bigint", 1},
    {"state_hash", "text", 0}, {"tick", "bigint", 0}, {NULL}};

/* In foreign-key order (a table before those that refer to it), though nothing relies on it:
 * rows are written in the order they were put. */
static const struct table tables[] = {{"players", 1, 1, players_cols},
                                      {"script_versions", 1, 0, script_versions_cols},
                                      {"agent_behaviors", 2, 0, agent_behaviors_cols},
                                      {"games", 1, 1, games_cols},
                                      {"game_participants", 2, 1, game_participants_cols},
                                      {"game_events", 2, 0, game_events_cols},
                                      {"game_inputs", 2, 0, game_inputs_cols},
                                      {"game_results", 1, 0, game_results_cols}};
#define N_TABLES (sizeof tables / sizeof tables[0])

static const struct table *find_table(const char *name)
{
    for (size_t i = 0; i < N_TABLES; i++)
        if (strcmp(tables[i].name, name) == 0) return &tables[i];
    return NULL;
}

static int ncols(const struct table *t)
{
    int n = 0;
    while (n < MAX_COLS && t->cols[n].name)
        n++;
    return n;
}

/* ---- a growing string, for SQL text ---- */

struct sb {
    char *s;
    size_t len, cap;
    int oom;
};

/* Makes room for n more bytes and a NUL. Returns 0, or -1 (and remembers it) on OOM. */
static int sb_reserve(struct sb *b, size_t n)
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

static void sb_add(struct sb *b, const char *fmt, ...)
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

/* Appends len bytes as they are (literal text may hold '%'). */
static void sb_put(struct sb *b, const char *text, size_t len)
{
    if (sb_reserve(b, len) < 0) return;
    memcpy(b->s + b->len, text, len);
    b->len += len;
    b->s[b->len] = '\0';
}

/* Returns the text built so far (the caller frees it), or NULL after an allocation failed. */
static char *sb_take(struct sb *b)
{
    if (!b->oom) return b->s;
    free(b->s);
    return NULL;
}

/* ---- queued rows ---- */

/* One row, already turned into its statement parameters, so that memory is counted exactly
 * and the caller's JSON is released at once. */
struct row {
    struct row *next;
    const struct table *t;
    uint64_t seq;      /* put order; load_game waits for the rows before it */
    size_t bytes;      /* of text */
    unsigned mask;     /* bit i: the row has column i (possibly as SQL NULL) */
    int taken;         /* in the statement or round in flight: it may not change */
    int off[MAX_COLS]; /* where column i starts in text, or -1 for SQL NULL */
    char *text;        /* the values, NUL-terminated, back to back: own_text, or after a merge
                          a buffer of its own (see coalesce) */
    char own_text[];
};

static struct {
    struct row *head, *tail;
    size_t rows, bytes;
    uint64_t last_seq;
    int full_reported;   /* "queue full" was logged for this overflow */
    struct hmap *latest; /* upsert tables: row key -> the last queued row with that key */
} q;

static const char *col_text(const struct row *r, int i)
{
    return r->off[i] < 0 ? NULL : r->text + r->off[i];
}

/* Appends the text of JSON value v as a statement parameter of column c to out, with its
 * NUL. Returns 1, 0 for SQL NULL (nothing appended), or -1 on OOM. */
static int param_text(const struct column *c, const json_t *v, struct json_text *out)
{
    char num[64];
    int n;
    if (!v || json_is_null(v)) return 0;
    if (strcmp(c->type, "jsonb") == 0 || json_is_object(v) || json_is_array(v)) {
        if (json_text_append(out, v) < 0) return -1;
        return json_text_put(out, "", 1) < 0 ? -1 : 1;
    }
    if (json_is_string(v))
        return json_text_put(out, json_string_value(v), json_string_length(v) + 1) < 0 ? -1 : 1;
    double d = json_is_real(v) ? json_real_value(v) : 0;
    if (json_is_integer(v))
        n = util_format_int(num, (int64_t)json_integer_value(v));
    else if (json_is_real(v) && d == floor(d) && fabs(d) < 1e15) /* ms timestamps, mostly */
        n = util_format_int(num, (int64_t)d);
    else if (json_is_real(v))
        n = snprintf(num, sizeof num, "%.17g", d);
    else
        n = snprintf(num, sizeof num, "%s", json_is_true(v) ? "true" : "false");
    num[n] = '\0'; /* util_format_int writes none */
    return json_text_put(out, num, (size_t)n + 1) < 0 ? -1 : 1;
}

/* Converts a caller's row; raw_col (or NULL) names a column given as JSON text in raw, which
 * is stored as it is. Returns NULL on OOM. */
static struct row *row_new(const struct table *t, const json_t *json, const char *raw_col,
                           const char *raw)
{
    static struct json_text vals; /* loop thread only */
    int off[MAX_COLS], n = ncols(t), failed = 0;
    unsigned mask = 0;
    vals.len = 0;
    for (int i = 0; i < n && !failed; i++) {
        size_t at = vals.len;
        int got;
        if (raw_col && strcmp(t->cols[i].name, raw_col) == 0) { /* JSON null: SQL NULL */
            got = strcmp(raw, "null") == 0                         ? 0
                  : json_text_put(&vals, raw, strlen(raw) + 1) < 0 ? -1
                                                                   : 1;
        } else {
            const json_t *v = json_object_get(json, t->cols[i].name);
            if (v) mask |= 1u << i;
            got = param_text(&t->cols[i], v, &vals);
        }
        if (raw_col && strcmp(t->cols[i].name, raw_col) == 0) mask |= 1u << i;
        off[i] = got > 0 ? (int)at : -1;
        failed = got < 0;
    }
    struct row *r = failed ? NULL : malloc(sizeof *r + vals.len);
    if (!r) return NULL;
    *r = (struct row){.t = t, .bytes = vals.len, .mask = mask, .text = r->own_text};
    memcpy(r->off, off, sizeof off);
    memcpy(r->text, vals.data, vals.len);
    return r;
}

static int same_key(const struct row *a, const struct row *b)
{
    for (int i = 0; i < a->t->nkey; i++) {
        const char *x = col_text(a, i), *y = col_text(b, i);
        if (!x || !y || strcmp(x, y) != 0) return 0;
    }
    return 1;
}

/* "table\x1fkey1\x1fkey2" in out (at least 256 bytes), or 0 when a key column is NULL or too
 * long (such a row is never coalesced). */
static int row_key(const struct row *r, char *out, size_t size)
{
    size_t at = strlen(r->t->name);
    memcpy(out, r->t->name, at);
    for (int i = 0; i < r->t->nkey; i++) {
        const char *k = col_text(r, i);
        size_t n = k ? strlen(k) : 0;
        if (!k || at + 1 + n + 1 > size) return 0;
        out[at++] = '\x1f';
        memcpy(out + at, k, n);
        at += n;
    }
    out[at] = '\0';
    return 1;
}

/* Frees a row that has left the queue, and forgets it as the latest of its key. */
static void row_free(struct row *r)
{
    char key[256];
    if (r->t->upsert && q.latest && row_key(r, key, sizeof key) && hmap_get(q.latest, key) == r)
        hmap_del(q.latest, key);
    if (r->text != r->own_text) free(r->text);
    free(r);
}

/* Folds the newer row `later` of the same upsert key into the queued row `into`: the columns
 * of later win, those only into has stay. Writing the result once is what writing both in
 * order would leave in the table (an upsert sets only the columns it has). Returns 0, or -1 on
 * OOM (nothing changed). The player row of an agent changes with every game it plays, and a
 * game's row three times per game: without this, most of a busy queue's upserts were rewrites
 * of one row, each needing a statement of its own (a statement may touch a row once). */
static int coalesce(struct row *into, const struct row *later)
{
    int n = ncols(into->t), off[MAX_COLS];
    unsigned mask = into->mask | later->mask;
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        const struct row *from = later->mask & (1u << i) ? later : into;
        const char *v = col_text(from, i);
        if (v) len += strlen(v) + 1;
    }
    char *text = malloc(len ? len : 1), *at = text;
    if (!text) return -1;
    for (int i = 0; i < n; i++) {
        const struct row *from = later->mask & (1u << i) ? later : into;
        const char *v = col_text(from, i);
        off[i] = v ? (int)(at - text) : -1;
        if (!v) continue;
        size_t vlen = strlen(v) + 1;
        memcpy(at, v, vlen);
        at += vlen;
    }
    if (into->text != into->own_text) free(into->text);
    q.bytes = q.bytes - into->bytes + len;
    into->text = text;
    into->bytes = len;
    into->mask = mask;
    memcpy(into->off, off, sizeof off);
    return 0;
}

/* ---- the connection's state ---- */

enum state { PG_DOWN, PG_CONNECTING, PG_SETUP, PG_READY };

/* Called once per statement: res is its result (the first error, else the last result), or
 * NULL when the connection was lost before it completed. res is borrowed. */
typedef void (*query_done)(PGresult *res, void *arg);

struct migration {
    int version;
    char name[64];
    char *sql;
    int applied; /* according to schema_migrations on this connection */
};

#define CALL_PARAMS 4

/* A read or a call (store_pg_call): one statement that runs once the rows put before it are
 * written. on_result hears its result, or NULL when the database could not be asked. */
struct load {
    struct load *next;
    uint64_t after;
    const char *sql; /* static, or owned by pg */
    int nparams;
    char *params[CALL_PARAMS];
    query_done on_result;
    void (*done)(json_t *game, void *arg); /* load_game */
    store_pg_reply reply;                  /* store_pg_call */
    void *arg;
};

static struct {
    char *url;
    PGconn *conn;
    enum state state;
    struct event *io, *timer, *flush_ev;
    short want;    /* the events io waits for */
    int attempt;   /* failed connects since the last success, for the backoff */
    int down_told; /* the outage was logged */
    int players_loaded;
    char last_error[256];

    int busy; /* a statement is in flight: the fields below describe it */
    query_done cb;
    void *cb_arg;
    PGresult *result;
    uint64_t sent_us;

    int batch; /* rows in that statement: the head of the queue, or the rows in taken[] */
    struct row *taken[ROUND_ROWS]; /* the gathered rows in flight (see gather, send_round) */
    int ntaken;
    int combined;       /* statements in the round in flight; 0: one statement with parameters */
    int plain;          /* rows of the statement in flight taken from the head, not gathered */
    uint64_t round_us;  /* when the last write went out (see pump) */
    int gap_armed;      /* flush_ev is armed as a timer for the end of the gap */
    int draining;       /* drive() runs: no gap, nothing but the socket is watched */
    uint64_t prepared;  /* shapes (bit i: shapes[i]) prepared on this connection */
    uint64_t preparing; /* shapes the round in flight prepares: prepared once it succeeds */
    int deallocate;     /* a failed round may have prepared some: DEALLOCATE ALL first */
    int single_rounds;  /* after a failed round: batches to send one statement at a time */
    int isolate;        /* rows still to send one at a time after a failed batch */

    struct migration *migs;
    int nmigs, mig_next;
    struct load *loads, *loads_tail;
    char *load_sql, *players_sql, *player_by_id_sql, *player_by_name_sql;
} pg;

static struct metric *m_dropped, *m_queue, *m_journal, *m_latency;
/* What the journal gave back at start-up: the players rows, delivered again after
 * PostgreSQL's own (which are older), and the games' last statuses. */
static json_t *journal_players, *journal_games;

static void connect_start(void);
static void pump(void);

/* Keeps msg as lastError, on one line: libpq's messages end with a newline and some add a
 * hint on a second line. */
static void set_error(const char *msg)
{
    char copy[sizeof pg.last_error];
    snprintf(copy, sizeof copy, "%s", msg && *msg ? msg : "unknown error");
    size_t n = strlen(copy);
    while (n > 0 && (copy[n - 1] == '\n' || copy[n - 1] == ' '))
        copy[--n] = '\0';
    for (char *c = copy; *c; c++)
        if (*c == '\n' || *c == '\t') *c = ' ';
    memcpy(pg.last_error, copy, n + 1);
}

/* The one-line reason of a failed statement (without "ERROR:" and the context lines). */
static const char *error_text(const PGresult *res)
{
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    return primary ? primary : PQresultErrorMessage(res);
}

static int failed(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY;
}

/* Errors that say nothing about the statement: the connection, the server going down or out
 * of resources, a conflict with another transaction, a read-only server (a standby, during a
 * failover). Sending the statement again on a new connection will do; anything else is the
 * statement's (or a row's) fault. */
static int transient(const PGresult *res)
{
    if (PQstatus(pg.conn) == CONNECTION_BAD) return 1;
    const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!code) return 1; /* made up by libpq: the connection */
    static const char *const prefixes[] = {"08", "40", "53", "57", "58", "25006"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(code, prefixes[i], strlen(prefixes[i])) == 0) return 1;
    return 0;
}

static void on_notice(void *arg, const char *message)
{
    log_msg(LOG_DEBUG, "postgres notice", "{ss}", "message", message);
}

/* ---- the socket ---- */

static void on_io(evutil_socket_t fd, short what, void *arg);

/* Makes io wait for what on the connection's socket, which changes with each connection and
 * may change while connecting (one address after another, often under the same number: so
 * while connecting it is always registered anew). */
static void watch(short what)
{
    int fd = PQsocket(pg.conn);
    if (pg.state != PG_CONNECTING && pg.want == what && event_get_fd(pg.io) == fd &&
        event_pending(pg.io, EV_READ | EV_WRITE, NULL))
        return;
    event_del(pg.io);
    event_assign(pg.io, loop_base(), fd, what | EV_PERSIST, on_io, NULL);
    event_add(pg.io, NULL);
    pg.want = what;
}

static void teardown(void)
{
    event_del(pg.io);
    pg.want = 0;
    evtimer_del(pg.timer);
    PQclear(pg.result);
    pg.result = NULL;
    PQfinish(pg.conn);
    pg.conn = NULL;
    pg.state = PG_DOWN;
    pg.prepared = pg.preparing = 0; /* prepared statements belong to the session */
    pg.deallocate = 0;
}

/* A random delay between half and all of 100 ms * 2^attempt, at most 5 s: servers that lost
 * the database together do not come back in step. */
static struct timeval backoff(void)
{
    int ms = BACKOFF_MIN_MS << (pg.attempt < 6 ? pg.attempt : 6);
    if (ms > BACKOFF_MAX_MS) ms = BACKOFF_MAX_MS;
    pg.attempt++;
    uint32_t r = 0;
    util_random_bytes(&r, sizeof r);
    ms = ms / 2 + (int)(r % (uint32_t)(ms / 2 + 1));
    return (struct timeval){ms / 1000, (ms % 1000) * 1000};
}

static void load_free(struct load *l)
{
    for (int i = 0; i < l->nparams; i++)
        free(l->params[i]);
    free(l);
}

static void fail_loads(void)
{
    while (pg.loads) {
        struct load *l = pg.loads;
        pg.loads = l->next;
        l->on_result(NULL, l);
    }
    pg.loads_tail = NULL;
}

/* Everything that ends a connection ends here: it is closed, the outage is logged once, a
 * reconnect is scheduled, and the statement in flight (if any) hears NULL. The rows of a
 * write in flight are still at the head of the queue: they go again after the reconnect. */
static void connection_failed(const char *why)
{
    query_done cb = pg.busy ? pg.cb : NULL;
    void *arg = pg.cb_arg;
    set_error(why);
    pg.busy = 0;
    teardown();
    if (!pg.down_told) {
        log_msg(LOG_WARN, "database unavailable: writes are queued until it is back", "{ss,sI}",
                "error", pg.last_error, "queued", (json_int_t)q.rows);
        pg.down_told = 1;
    } else {
        log_msg(LOG_DEBUG, "database still unavailable", "{ss}", "error", pg.last_error);
    }
    struct timeval tv = backoff();
    evtimer_add(pg.timer, &tv);
    fail_loads();
    if (cb) cb(NULL, arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    if (pg.state == PG_DOWN)
        connect_start();
    else if (pg.state == PG_CONNECTING)
        connection_failed("timeout while connecting");
}

/* ---- statements ---- */

static void flush_output(void)
{
    int r = PQflush(pg.conn);
    if (r < 0)
        connection_failed(PQerrorMessage(pg.conn));
    else
        watch(r ? EV_READ | EV_WRITE : EV_READ);
}

static void sent(int ok, query_done cb, void *arg)
{
    pg.busy = 1;
    pg.cb = cb;
    pg.cb_arg = arg;
    pg.sent_us = loop_now_us();
    if (!ok)
        connection_failed(PQerrorMessage(pg.conn));
    else
        flush_output();
}

/* Sends one statement with text parameters. Every path ends in one call of cb. */
static void send_params(const char *sql, int n, const char *const *vals, query_done cb, void *arg)
{
    sent(PQsendQueryParams(pg.conn, sql, n, NULL, vals, NULL, NULL, 0), cb, arg);
}

/* Sends SQL that may hold several statements (a migration file), which PostgreSQL runs as
 * one implicit transaction. */
static void send_script(const char *sql, query_done cb, void *arg)
{
    sent(PQsendQuery(pg.conn, sql), cb, arg);
}

static void finish_statement(void)
{
    PGresult *res = pg.result;
    pg.result = NULL;
    if (!res || (failed(res) && transient(res))) {
        char why[sizeof pg.last_error];
        snprintf(why, sizeof why, "%s", res ? error_text(res) : PQerrorMessage(pg.conn));
        PQclear(res);
        connection_failed(why);
        return;
    }
    query_done cb = pg.cb;
    pg.busy = 0;
    cb(res, pg.cb_arg);
    PQclear(res);
    pump();
}

/* Keeps the first error of a statement, else its last result. */
static void keep_result(PGresult *r)
{
    if (pg.result && failed(pg.result)) {
        PQclear(r);
        return;
    }
    PQclear(pg.result);
    pg.result = r;
}

static void read_input(void)
{
    if (!PQconsumeInput(pg.conn)) {
        connection_failed(PQerrorMessage(pg.conn));
        return;
    }
    if (!pg.busy) {
        /* Idle: a notice, or the server closing the connection (it is shutting down). */
        if (PQstatus(pg.conn) == CONNECTION_BAD) connection_failed(PQerrorMessage(pg.conn));
        return;
    }
    while (!PQisBusy(pg.conn)) {
        PGresult *r = PQgetResult(pg.conn);
        if (!r) {
            finish_statement();
            return;
        }
        keep_result(r);
    }
}

static void connect_step(void);

/* store_poll: with a statement in flight, reads its reply if it has come (at most every
 * 200 us: one recv() that finds nothing otherwise). */
static void pg_poll(void)
{
    static uint64_t last_us;
    if (pg.state != PG_READY || !pg.busy || !pg.conn) return;
    uint64_t now = loop_now_us();
    if (now - last_us < 200) return;
    last_us = now;
    read_input();
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    if (pg.state == PG_CONNECTING) {
        connect_step();
        return;
    }
    if ((what & EV_WRITE) && pg.busy) {
        flush_output();
        if (!pg.conn) return;
    }
    if (what & EV_READ) read_input();
}

/* ---- connecting, migrating, loading players ---- */

static void migrate_begin(void);

static void connect_start(void)
{
    /* The URL comes last so that whatever it says wins over these defaults. */
    static const char *const keys[] = {"application_name",
                                       "client_encoding",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "dbname",
                                       NULL};
    const char *vals[] = {"monkeytown", "UTF8", "30", "10", "3", pg.url, NULL};
    pg.conn = PQconnectStartParams(keys, vals, 1);
    if (!pg.conn || PQstatus(pg.conn) == CONNECTION_BAD) {
        connection_failed(pg.conn ? PQerrorMessage(pg.conn) : "out of memory");
        return;
    }
    PQsetNoticeProcessor(pg.conn, on_notice, NULL);
    pg.state = PG_CONNECTING;
    struct timeval tv = {CONNECT_TIMEOUT_MS / 1000, 0};
    evtimer_add(pg.timer, &tv);
    watch(EV_WRITE); /* libpq: start as if PQconnectPoll had said PGRES_POLLING_WRITING */
}

static void connect_step(void)
{
    switch (PQconnectPoll(pg.conn)) {
    case PGRES_POLLING_READING:
        watch(EV_READ);
        break;
    case PGRES_POLLING_WRITING:
        watch(EV_WRITE);
        break;
    case PGRES_POLLING_OK:
        evtimer_del(pg.timer);
        if (PQsetnonblocking(pg.conn, 1) < 0) {
            connection_failed(PQerrorMessage(pg.conn));
            return;
        }
        pg.state = PG_SETUP;
        watch(EV_READ);
        migrate_begin();
        break;
    default:
        connection_failed(PQerrorMessage(pg.conn));
        break;
    }
}

static void ready(void)
{
    pg.state = PG_READY;
    pg.attempt = 0;
    if (pg.down_told)
        log_msg(LOG_INFO, "database available again", "{sI}", "queued", (json_int_t)q.rows);
    else
        log_msg(LOG_INFO, "database connected", NULL);
    pg.down_told = 0;
    pump();
}

/* A setup step failed for a reason that retrying at once will not cure (a broken migration,
 * a missing permission): the connection is given up like a lost one, so the server keeps
 * queueing and tries again with the backoff while the operator looks at lastError. */
static void setup_failed(const char *what, PGresult *res)
{
    char why[sizeof pg.last_error];
    snprintf(why, sizeof why, "%s: %s", what, error_text(res));
    if (!pg.down_told) log_msg(LOG_ERROR, "database setup failed", "{ss}", "error", why);
    connection_failed(why);
}

static void loaded_players(PGresult *res, void *arg);
static void loaded_unfinished(PGresult *res, void *arg);

static void normalize(const struct table *t, json_t *row);

static void after_migrations(PGresult *res, void *arg)
{
    if (!res) return;
    if (pg.players_loaded) {
        ready();
        return;
    }
    send_params(pg.players_sql, 0, NULL, loaded_players, NULL);
}

static void loaded_players(PGresult *res, void *arg)
{
    if (!res) return;
    if (failed(res)) {
        setup_failed("cannot load players", res);
        return;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        json_t *row = json_loads(PQgetvalue(res, i, 0), 0, NULL);
        if (!row) continue;
        normalize(find_table("players"), row);
        store_deliver_loaded("players", row);
        json_decref(row);
    }
    /* The journal's rows of players are newer than what PostgreSQL had: they go last. */
    size_t i;
    json_t *jrow;
    json_array_foreach(journal_players, i, jrow) store_deliver_loaded("players", jrow);
    json_array_clear(journal_players);
    log_msg(LOG_INFO, "players loaded", "{si}", "rows", n);
    send_params("SELECT id::text FROM games WHERE status IN ('waiting', 'active')", 0, NULL,
                loaded_unfinished, NULL);
}

/* The games the last process (or a crash) left waiting or active: named to the server, which
 * rebuilds them (restore.c). Once per process, like the players. */
static void loaded_unfinished(PGresult *res, void *arg)
{
    if (!res) return;
    if (failed(res)) {
        setup_failed("cannot list unfinished games", res);
        return;
    }
    int n = PQntuples(res);
    pg.players_loaded = 1; /* before delivering: a rebuild may load games at once */
    ready();
    for (int i = 0; i < n; i++) {
        json_t *row = json_pack("{ss}", "id", PQgetvalue(res, i, 0));
        store_deliver_loaded("unfinished_games", row);
        json_decref(row);
    }
    if (n) log_msg(LOG_INFO, "unfinished games found", "{si}", "games", n);
}

static char *migration_sql(const struct migration *m);

static void applied_one(PGresult *res, void *arg);

/* Applies the next migration this database lacks, or releases the lock when none is left. */
static void apply_next(void)
{
    while (pg.mig_next < pg.nmigs && pg.migs[pg.mig_next].applied)
        pg.mig_next++;
    if (pg.mig_next == pg.nmigs) {
        send_params("SELECT pg_advisory_unlock(" MIGRATION_LOCK ")", 0, NULL, after_migrations,
                    NULL);
        return;
    }
    char *sql = migration_sql(&pg.migs[pg.mig_next]);
    if (!sql) {
        connection_failed("out of memory");
        return;
    }
    send_script(sql, applied_one, NULL);
    free(sql);
}

static void applied_one(PGresult *res, void *arg)
{
    if (!res) return;
    struct migration *m = &pg.migs[pg.mig_next];
    if (failed(res)) {
        char what[128];
        snprintf(what, sizeof what, "migration %03d_%s failed", m->version, m->name);
        setup_failed(what, res);
        return;
    }
    log_msg(LOG_INFO, "migration applied", "{si,ss}", "version", m->version, "name", m->name);
    m->applied = 1;
    apply_next();
}

static void mark_applied(struct migration *migs, int n, PGresult *res)
{
    for (int i = 0; i < n; i++)
        migs[i].applied = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        int v = atoi(PQgetvalue(res, r, 0));
        for (int i = 0; i < n; i++)
            if (migs[i].version == v) migs[i].applied = 1;
    }
}

static void got_versions(PGresult *res, void *arg)
{
    if (!res) return;
    if (failed(res)) {
        setup_failed("cannot read schema_migrations", res);
        return;
    }
    mark_applied(pg.migs, pg.nmigs, res);
    pg.mig_next = 0;
    apply_next();
}

/* The lock makes a second server (or `monkeytown migrate`) starting at the same time wait,
 * then find the migrations applied. It is a session lock: a lost connection releases it. */
static const char migrate_begin_sql[] =
    "SELECT pg_advisory_lock(" MIGRATION_LOCK ");"
    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text,"
    " applied_at timestamptz DEFAULT now());"
    "SELECT version FROM schema_migrations";

static void migrate_begin(void)
{
    send_script(migrate_begin_sql, got_versions, NULL);
}

/* ---- migration files ---- */

/* NNN_name.sql with a name of letters, digits, '_' and '-' (so it needs no quoting in SQL). */
static int parse_migration_name(const char *file, struct migration *m)
{
    char *end;
    long v = strtol(file, &end, 10);
    if (end == file || *end != '_' || v <= 0 || v > 1000000) return -1;
    const char *name = end + 1;
    size_t n = strlen(name);
    if (n <= 4 || n - 4 >= sizeof m->name || strcmp(name + n - 4, ".sql") != 0) return -1;
    for (size_t i = 0; i < n - 4; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", name[i]))
            return -1;
    m->version = (int)v;
    memcpy(m->name, name, n - 4);
    m->name[n - 4] = '\0';
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct sb b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sb_add(&b, "%.*s", (int)n, chunk);
    int bad = ferror(f);
    fclose(f);
    if (bad || !b.s) {
        free(b.s);
        return bad ? NULL : strdup("");
    }
    return sb_take(&b);
}

static int by_version(const void *a, const void *b)
{
    return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

static void free_migrations(struct migration *migs, int n)
{
    for (int i = 0; i < n; i++)
        free(migs[i].sql);
    free(migs);
}

/* Reads every migration of dir into *out (sorted by version; the caller frees it with
 * free_migrations). Returns their number, or -1 with the reason in err. */
/* Appends m to *migs (*n of them) with the text of its file. Returns 0, or -1. */
static int add_migration(struct migration **migs, int *n, struct migration m, const char *path)
{
    struct migration *grown = realloc(*migs, sizeof **migs * (size_t)(*n + 1));
    if (!grown) return -1;
    *migs = grown;
    if (!(m.sql = read_file(path))) return -1;
    grown[(*n)++] = m;
    return 0;
}

static int read_migrations(const char *dir, struct migration **out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot open the migrations directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct migration *migs = NULL, m;
    int n = 0;
    struct dirent *e;
    char path[4096];
    *err = '\0';
    while (!*err && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 4, ".sql") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (parse_migration_name(e->d_name, &m) < 0) /* never skip a migration silently */
            snprintf(err, errlen, "%s: a migration is named NNN_name.sql", path);
        else if (add_migration(&migs, &n, m, path) < 0)
            snprintf(err, errlen, "cannot read %s", path);
    }
    closedir(d);
    if (n > 1) qsort(migs, (size_t)n, sizeof *migs, by_version);
    for (int i = 1; i < n && !*err; i++)
        if (migs[i].version == migs[i - 1].version)
            snprintf(err, errlen, "two migrations have version %d in %s", migs[i].version, dir);
    if (*err) {
        free_migrations(migs, n);
        return -1;
    }
    *out = migs;
    return n;
}

/* The file and its record in schema_migrations, as one implicit transaction. The newlines
 * keep a last line that is a comment from swallowing the INSERT. */
static char *migration_sql(const struct migration *m)
{
    struct sb b = {0};
    sb_add(&b, "%s\n;\nINSERT INTO schema_migrations (version, name) VALUES (%d, '%s')", m->sql,
           m->version, m->name);
    return sb_take(&b);
}

/* ---- SQL for the tables ---- */

/* A row as json_build_object(...), its keys those of the row format: jsonb columns are JSON
 * values, timestamps ms since the epoch. */
static void sql_row_object(struct sb *b, const struct table *t, const char *alias)
{
    sb_add(b, "json_build_object(");
    for (int i = 0; i < ncols(t); i++) {
        const struct column *c = &t->cols[i];
        sb_add(b, "%s'%s', ", i ? ", " : "", c->name);
        if (strcmp(c->type, "ms") == 0)
            sb_add(b, "(extract(epoch FROM %s.\"%s\") * 1000)::bigint", alias, c->name);
        else
            sb_add(b, "%s.\"%s\"", alias, c->name);
    }
    sb_add(b, ")");
}

/* One game with everything it needs for a replay, in one statement (one snapshot). */
static char *load_game_sql(void)
{
    struct sb b = {0};
    sb_add(&b, "SELECT (SELECT ");
    sql_row_object(&b, find_table("games"), "g");
    sb_add(&b, " FROM games g WHERE g.id = $1::uuid), (SELECT json_agg(");
    sql_row_object(&b, find_table("game_participants"), "p");
    sb_add(&b, " ORDER BY p.seat) FROM game_participants p WHERE p.game_id = $1::uuid),"
               " (SELECT json_agg(");
    sql_row_object(&b, find_table("game_events"), "e");
    sb_add(&b, " ORDER BY e.seq) FROM game_events e WHERE e.game_id = $1::uuid),"
               " (SELECT json_agg(");
    sql_row_object(&b, find_table("game_inputs"), "i");
    sb_add(&b, " ORDER BY i.ord) FROM game_inputs i WHERE i.game_id = $1::uuid), (SELECT ");
    sql_row_object(&b, find_table("script_versions"), "v");
    sb_add(&b, " FROM script_versions v JOIN games g ON v.id = g.version WHERE g.id = $1::uuid)");
    return sb_take(&b);
}

/* Every players row, or (where not NULL) those matching where, which names $1. */
static char *players_sql(const char *where)
{
    struct sb b = {0};
    sb_add(&b, "SELECT ");
    sql_row_object(&b, find_table("players"), "p");
    sb_add(&b, " FROM players p%s%s", where ? " WHERE " : "", where ? where : "");
    return sb_take(&b);
}

/* Numbers of double precision columns come back from PostgreSQL without a fraction; the
 * embedded store hands back the reals it was given, and readers may rely on that. */
static void normalize(const struct table *t, json_t *row)
{
    for (int i = 0; i < ncols(t); i++) {
        const struct column *c = &t->cols[i];
        json_t *v = json_object_get(row, c->name);
        if (json_is_integer(v) && (strcmp(c->type, "float8") == 0 || strcmp(c->type, "ms") == 0))
            json_object_set_new(row, c->name, json_real((double)json_integer_value(v)));
    }
}

static void sql_column_list(struct sb *b, const struct table *t, unsigned mask);

/* Parameter n of a statement with parameters (send_batch). */
static void sql_param(struct sb *b, const struct column *c, int n)
{
    if (strcmp(c->type, "ms") == 0)
        sb_add(b, "to_timestamp($%d::float8 / 1000)", n);
    else
        sb_add(b, "$%d::%s", n, c->type);
}

/* The VALUES rows of a batch of nrows parameterised rows having the columns of mask. */
static void sql_values(struct sb *b, const struct table *t, unsigned mask, int nrows)
{
    int n = ncols(t), p = 1;
    for (int r = 0; r < nrows; r++) {
        sb_put(b, r ? ", (" : "(", r ? 3 : 1);
        for (int i = 0, first = 1; i < n; i++) {
            if (!(mask & (1u << i))) continue;
            if (!first) sb_put(b, ", ", 2);
            sql_param(b, &t->cols[i], p++);
            first = 0;
        }
        sb_put(b, ")", 1);
    }
}

/* The element type of a column's array: timestamps travel as ms since the epoch. */
static const char *array_type(const struct column *c)
{
    return strcmp(c->type, "ms") == 0 ? "float8" : c->type;
}

/* Column col of nrows rows as array text, {"v1",NULL,...}: each element double-quoted with
 * '"' and '\' escaped (array syntax). With sql_quotes, written as a standard SQL string
 * literal at once: '' for a quote, backslashes as they are. */
static void array_text(struct sb *b, int col, int nrows, struct row *const *rows, int sql_quotes)
{
    if (sql_quotes) sb_put(b, "'", 1);
    sb_put(b, "{", 1);
    for (int r = 0; r < nrows; r++) {
        const char *v = col_text(rows[r], col);
        if (r) sb_put(b, ",", 1);
        if (!v) {
            sb_put(b, "NULL", 4);
            continue;
        }
        sb_put(b, "\"", 1);
        for (const char *run = v; *run;) {
            size_t plain = strcspn(run, sql_quotes ? "\"\\'" : "\"\\");
            sb_put(b, run, plain);
            run += plain;
            if (!*run) break;
            if (*run == '\'')
                sb_put(b, "''", 2);
            else
                sb_put(b, (const char[]){'\\', *run}, 2);
            run++;
        }
        sb_put(b, "\"", 1);
    }
    sb_put(b, "}", 1);
    if (sql_quotes) sb_put(b, "'", 1);
}

/* Column col of nrows rows as an array literal, '{"v1",NULL,...}' (with cast, ::type[]).
 * While the server has standard_conforming_strings on (the default since PostgreSQL 9.1) it
 * is written straight into b; the text is UTF-8 already (jansson's, or checked by
 * store_put_json). Otherwise the array text goes through PQescapeLiteral. */
static void sql_array(struct sb *b, const struct column *c, int col, int nrows,
                      struct row *const *rows, int cast)
{
    const char *scs = PQparameterStatus(pg.conn, "standard_conforming_strings");
    if (scs && strcmp(scs, "on") == 0) {
        array_text(b, col, nrows, rows, 1);
    } else {
        struct sb a = {0};
        array_text(&a, col, nrows, rows, 0);
        char *lit = a.oom ? NULL : PQescapeLiteral(pg.conn, a.s, a.len);
        free(a.s);
        if (!lit) {
            b->oom = 1; /* out of memory, or text libpq cannot quote: the caller falls back */
            return;
        }
        sb_put(b, lit, strlen(lit));
        PQfreemem(lit);
    }
    if (cast) sb_add(b, "::%s[]", array_type(c));
}

/* The nrows rows (columns of mask) as a query: SELECT over unnest() of one array literal per
 * column (rows NULL: of one array parameter per column, for PREPARE), timestamps converted,
 * each column named as in the table. Parsing and planning this
 * costs the same for 1 row or 500; a VALUES list with a cast literal per value cost PostgreSQL
 * half of its time. */
static void sql_unnest(struct sb *b, const struct table *t, unsigned mask, int nrows,
                       struct row *const *rows)
{
    int n = ncols(t), first = 1;
    sb_add(b, "SELECT ");
    for (int i = 0; i < n; i++) {
        if (!(mask & (1u << i))) continue;
        const char *name = t->cols[i].name;
        if (strcmp(t->cols[i].type, "ms") == 0)
            sb_add(b, "%sto_timestamp(u.\"%s\" / 1000) AS \"%s\"", first ? "" : ", ", name, name);
        else
            sb_add(b, "%su.\"%s\"", first ? "" : ", ", name);
        first = 0;
    }
    sb_add(b, " FROM unnest(");
    for (int i = 0, p = 1; i < n; i++) {
        if (!(mask & (1u << i))) continue;
        if (p > 1) sb_put(b, ", ", 2);
        if (rows)
            sql_array(b, &t->cols[i], i, nrows, rows, 1);
        else
            sb_add(b, "$%d", p);
        p++;
    }
    sb_add(b, ") AS u (");
    sql_column_list(b, t, mask);
    sb_add(b, ")");
}

static void sql_column_list(struct sb *b, const struct table *t, unsigned mask)
{
    for (int i = 0, first = 1; i < ncols(t); i++) {
        if (!(mask & (1u << i))) continue;
        sb_add(b, "%s\"%s\"", first ? "" : ", ", t->cols[i].name);
        first = 0;
    }
}

static int has_required(const struct table *t, unsigned mask)
{
    for (int i = 0; i < ncols(t); i++)
        if (t->cols[i].required && !(mask & (1u << i))) return 0;
    return 1;
}

/* "col" = src."col" for the non-key columns of mask; with only the key, the key itself (the
 * statement must set something, and this changes nothing). */
static void sql_set_list(struct sb *b, const struct table *t, unsigned mask, const char *src)
{
    int sets = 0;
    for (int i = t->nkey; i < ncols(t); i++)
        if (mask & (1u << i))
            sb_add(b, "%s\"%s\" = %s.\"%s\"", sets++ ? ", " : "", t->cols[i].name, src,
                   t->cols[i].name);
    if (!sets) sb_add(b, "\"%s\" = %s.\"%s\"", t->cols[0].name, src, t->cols[0].name);
}

/* Where a statement's rows come from. */
enum rows_from {
    FROM_PARAMS,  /* nrows rows of text parameters in a VALUES list (send_batch) */
    FROM_ARRAYS,  /* one array parameter per column (a PREPAREd shape, see send_round) */
    FROM_LITERALS /* the rows themselves, as one array literal per column */
};

/* The rows as a table expression: a VALUES list or a query over unnest(). */
static void sql_rows(struct sb *b, const struct table *t, unsigned mask, int nrows,
                     struct row *const *rows, enum rows_from from)
{
    if (from == FROM_PARAMS) {
        sb_add(b, "VALUES ");
        sql_values(b, t, mask, nrows);
    } else {
        sql_unnest(b, t, mask, nrows, from == FROM_LITERALS ? rows : NULL);
    }
}

/* game_events and game_inputs: written once each, by the game that owns them (script
 * versions and agent behaviours, also insert-once, are put again at every start). */
static int is_event_log(const struct table *t)
{
    return strcmp(t->name, "game_events") == 0 || strcmp(t->name, "game_inputs") == 0;
}

static char *insert_sql(const struct table *t, unsigned mask, int nrows, struct row *const *rows,
                        enum rows_from from)
{
    struct sb b = {0};
    sb_add(&b, "INSERT INTO %s (", t->name);
    sql_column_list(&b, t, mask);
    sb_add(&b, ") ");
    sql_rows(&b, t, mask, nrows, rows, from);
    /* The event log's prepared inserts go without ON CONFLICT DO NOTHING, whose check before
     * each row was a seventh of PostgreSQL's time. A row is only ever sent twice after a
     * round's reply was lost with its commit done; that round then fails on the key, and its
     * statements go again one at a time (written), with ON CONFLICT DO NOTHING, which skips
     * what is there. */
    if (is_event_log(t) && from == FROM_ARRAYS) return sb_take(&b);
    sb_add(&b, " ON CONFLICT (");
    sql_column_list(&b, t, (1u << t->nkey) - 1);
    sb_add(&b, ") DO %s", t->upsert ? "UPDATE SET " : "NOTHING");
    if (t->upsert) sql_set_list(&b, t, mask, "EXCLUDED");
    return sb_take(&b);
}

static char *update_sql(const struct table *t, unsigned mask, int nrows, struct row *const *rows,
                        enum rows_from from)
{
    struct sb b = {0};
    sb_add(&b, "UPDATE %s AS t SET ", t->name);
    sql_set_list(&b, t, mask, "v");
    sb_add(&b, " FROM (");
    sql_rows(&b, t, mask, nrows, rows, from);
    sb_add(&b, ") AS v (");
    sql_column_list(&b, t, mask);
    sb_add(&b, ") WHERE ");
    for (int i = 0; i < t->nkey; i++)
        sb_add(&b, "%st.\"%s\" = v.\"%s\"", i ? " AND " : "", t->cols[i].name, t->cols[i].name);
    return sb_take(&b);
}

static int is_update(const struct table *t, unsigned mask)
{
    return t->upsert && !has_required(t, mask);
}

/* The statement for nrows rows of t having the columns of mask: INSERT ... ON CONFLICT, or
 * for an upsert of rows that lack a required column an UPDATE (PostgreSQL checks NOT NULL
 * before it looks for a conflict, so such an INSERT would fail even for a known key; a row
 * whose key is unknown then changes nothing). */
static char *write_sql(const struct table *t, unsigned mask, int nrows, struct row *const *rows,
                       enum rows_from from)
{
    return is_update(t, mask) ? update_sql(t, mask, nrows, rows, from)
                              : insert_sql(t, mask, nrows, rows, from);
}

/* ---- prepared shapes ---- */

/* A shape is a table and a set of columns: the statements of send_round for it differ only in
 * their arrays, so each is prepared once per connection (PREPARE mt_wN (...) AS ...) and then
 * run with EXECUTE mt_wN('{...}', ...). PostgreSQL then neither analyses nor plans the INSERT
 * again; that was a third of its time. Shapes are numbered for the life of the process. */
#define MAX_SHAPES 64

static struct {
    const struct table *t;
    unsigned mask;
} shapes[MAX_SHAPES];
static int nshapes;

/* The number of t's shape with the columns of mask, or -1 when MAX_SHAPES are taken. */
static int shape_of(const struct table *t, unsigned mask)
{
    for (int i = 0; i < nshapes; i++)
        if (shapes[i].t == t && shapes[i].mask == mask) return i;
    if (nshapes == MAX_SHAPES) return -1;
    shapes[nshapes].t = t;
    shapes[nshapes].mask = mask;
    return nshapes++;
}

/* PREPARE mt_wK (type[], ...) AS <the statement over array parameters>; */
static void sql_prepare(struct sb *b, int k)
{
    const struct table *t = shapes[k].t;
    unsigned mask = shapes[k].mask;
    char *stmt = write_sql(t, mask, 0, NULL, FROM_ARRAYS);
    if (!stmt) {
        b->oom = 1;
        return;
    }
    sb_add(b, "PREPARE mt_w%d (", k);
    for (int i = 0, first = 1; i < ncols(t); i++) {
        if (!(mask & (1u << i))) continue;
        sb_add(b, "%s%s[]", first ? "" : ", ", array_type(&t->cols[i]));
        first = 0;
    }
    sb_add(b, ") AS ");
    sb_put(b, stmt, strlen(stmt));
    sb_put(b, ";\n", 2);
    free(stmt);
}

/* EXECUTE mt_wK('{...}', ...); with the rows' columns as array literals. */
static void sql_execute(struct sb *b, int k, int nrows, struct row *const *rows)
{
    const struct table *t = shapes[k].t;
    sb_add(b, "EXECUTE mt_w%d (", k);
    for (int i = 0, first = 1; i < ncols(t); i++) {
        if (!(shapes[k].mask & (1u << i))) continue;
        if (!first) sb_put(b, ", ", 2);
        sql_array(b, &t->cols[i], i, nrows, rows, 0);
        first = 0;
    }
    sb_put(b, ");\n", 3);
}

/* ---- writing the queue ---- */

static void update_queue_gauge(void)
{
    metric_set(m_queue, NULL, (double)q.rows);
    metric_set(m_journal, NULL, (double)pgj_bytes());
    if (q.full_reported && q.rows < QUEUE_ROWS * 9 / 10 && q.bytes < QUEUE_BYTES * 9 / 10) {
        log_msg(LOG_INFO, "store queue has room again", "{sI}", "queued", (json_int_t)q.rows);
        q.full_reported = 0;
    }
}

static void pop_rows(int n)
{
    while (n-- > 0 && q.head) {
        struct row *r = q.head;
        q.head = r->next;
        q.rows--;
        q.bytes -= r->bytes;
        row_free(r);
    }
    if (!q.head) q.tail = NULL;
    pgj_released(q.head ? q.head->seq - 1 : q.last_seq);
    update_queue_gauge();
}

static void drop_head(const char *why)
{
    const struct row *r = q.head;
    char key[256] = "";
    for (int i = 0; i < r->t->nkey; i++) {
        const char *k = col_text(r, i);
        size_t len = strlen(key);
        snprintf(key + len, sizeof key - len, "%s%s", i ? "/" : "", k ? k : "null");
    }
    log_msg(LOG_ERROR, "store: row dropped", "{ss,ss,ss}", "table", r->t->name, "key", key, "error",
            why);
    metric_add(m_dropped, r->t->name, 1);
    pop_rows(1);
}

/* Whether one of the n rows from first has the key of r: an upsert may not touch a row twice
 * in one statement. Quadratic, but only for upserts, whose runs are short. */
static int repeats_key(const struct row *first, int n, const struct row *r)
{
    if (!r->t->upsert) return 0;
    for (; n > 0; n--, first = first->next)
        if (same_key(first, r)) return 1;
    return 0;
}

/* Unlinks and frees the rows of a gathered batch, in one walk down the queue (they all lie
 * within the part of it that gather() looked at). */
static void pop_taken(void)
{
    struct row *prev = NULL, *r = q.head;
    int left = pg.ntaken;
    while (r && left > 0) {
        struct row *next = r->next;
        if (r->taken) {
            if (prev)
                prev->next = next;
            else
                q.head = next;
            if (q.tail == r) q.tail = prev;
            q.rows--;
            q.bytes -= r->bytes;
            row_free(r);
            left--;
        } else {
            prev = r;
        }
        r = next;
    }
    pg.ntaken = 0;
    pgj_released(q.head ? q.head->seq - 1 : q.last_seq);
    update_queue_gauge();
}

/* A gathered batch that was not written: its rows stay queued, unmarked. */
static void untake(void)
{
    for (int i = 0; i < pg.ntaken; i++)
        pg.taken[i]->taken = 0;
    pg.ntaken = 0;
}

static void written(PGresult *res, void *arg)
{
    int n = pg.batch, gathered = pg.ntaken > 0, combined = pg.combined;
    struct row *r = q.head;
    for (int i = 0; i < pg.plain && r; i++, r = r->next)
        r->taken = 0; /* the head rows of a plain send: written and popped below, or kept */
    pg.plain = 0;
    pg.batch = 0;
    pg.combined = 0;
    if (!res) { /* the rows stay in the queue and go again */
        untake();
        return;
    }
    if (combined && !failed(res)) {
        pg.prepared |= pg.preparing;
        pg.deallocate = 0;
    }
    if (combined) pg.preparing = 0;
    if (combined && failed(res)) {
        /* PREPARE is not undone by the rollback: what this round prepared is unknown now. */
        pg.prepared = 0;
        pg.deallocate = 1;
        /* The round was one transaction: nothing of it was written. Its statements go again
         * one at a time, so that the usual isolation finds the row at fault. */
        log_msg(LOG_WARN, "store: combined round failed, retrying its statements one by one",
                "{si,ss}", "statements", combined, "error", error_text(res));
        untake();
        pg.single_rounds = combined;
        return;
    }
    if (pg.single_rounds && !combined) pg.single_rounds--;
    if (failed(res) && n > 1) {
        log_msg(LOG_WARN, "store: batch failed, retrying its rows one by one", "{ss,si,ss}",
                "table", q.head->t->name, "rows", n, "error", error_text(res));
        untake();
        pg.isolate = gathered ? 1 : n; /* a gathered batch retries from the head, row by row */
        return;
    }
    if (pg.isolate) pg.isolate--;
    if (failed(res)) {
        untake();
        drop_head(error_text(res));
        return;
    }
    metric_observe(m_latency, NULL, (double)(loop_now_us() - pg.sent_us) / 1000.0);
    if (gathered)
        pop_taken();
    else
        pop_rows(n);
}

static int has_game_fk(const struct table *t)
{
    return strcmp(t->name, "game_events") == 0 || strcmp(t->name, "game_inputs") == 0 ||
           strcmp(t->name, "game_participants") == 0;
}

/* Rows of many games interleave in the queue, so runs of one table are short. Gathers up to
 * BATCH_ROWS rows of the head's table and columns from further down, keeping every order that
 * matters: a row that needs a games row (foreign key) never passes that games row, and an
 * upsert never passes an earlier row with its key (nor shares a statement with one, which
 * PostgreSQL refuses). Returns how many rows were taken into pg.taken. */
static int gather(const struct row *head, struct row **out)
{
    const struct row *blocked[512];
    int nblocked = 0, n = 0, fk = has_game_fk(head->t);
    int results = strcmp(head->t->name, "game_results") == 0;
    size_t bytes = 0;
    for (const struct row *r = head; r && n < BATCH_ROWS; r = r->next) {
        if (r->taken) continue; /* in an earlier statement of this round: it runs first */
        if (results && r->t != head->t && strcmp(r->t->name, "players") == 0)
            break; /* a result's players exist before it applies (the trigger updates them) */
        int candidate = r->t == head->t && r->mask == head->mask;
        int parent = fk && strcmp(r->t->name, "games") == 0;
        int same_table = r->t == head->t;
        if (candidate) {
            int wait = 0;
            for (int i = 0; i < nblocked && !wait; i++) {
                const struct row *b = blocked[i];
                if (b->t == r->t)
                    wait = same_key(b, r); /* an earlier row of this key */
                else
                    wait = col_text(r, 0) && col_text(b, 0) &&
                           strcmp(col_text(r, 0), col_text(b, 0)) == 0;
            }
            for (int i = 0; i < n && !wait && r->t->upsert; i++)
                wait = same_key(out[i], r);
            if (!wait && (n == 0 || bytes + r->bytes <= BATCH_BYTES)) {
                bytes += r->bytes;
                out[n++] = (struct row *)r;
                continue;
            }
        }
        /* What stays behind may hold back later rows: its key (upserts), its game (children). */
        if ((parent || (same_table && r->t->upsert)) && nblocked < 512)
            blocked[nblocked++] = r;
        else if (parent || (same_table && r->t->upsert))
            break; /* too much to track: stop */
    }
    for (int i = 0; i < n; i++)
        out[i]->taken = 1;
    return n;
}

static const struct row *first_untaken(void)
{
    const struct row *r = q.head;
    while (r && r->taken)
        r = r->next;
    return r;
}

/* Sends up to ROUND_STATEMENTS gathered batches in one round trip: one text of several
 * statements with the values as escaped literals, which PostgreSQL runs as one transaction
 * (one commit for all). With one statement per round trip the store could not keep up with a
 * busy server: each kind of row (a table and a set of columns) needed its own round trip.
 * Each gather skips the rows already taken, which run earlier in the same transaction, so the
 * orders gather keeps still hold. Returns 0, or -1 when nothing was sent (send_batch then
 * sends one statement the usual way). */
static int send_round(void)
{
    struct sb b = {0};
    int total = 0, stmts = 0;
    uint64_t preparing = 0;
    if (pg.deallocate) sb_add(&b, "DEALLOCATE ALL;\n");
    while (stmts < ROUND_STATEMENTS && total + BATCH_ROWS <= ROUND_ROWS && b.len < BATCH_BYTES) {
        const struct row *head = first_untaken();
        if (!head) break;
        int n = gather(head, pg.taken + total), k = n ? shape_of(head->t, head->mask) : -1;
        size_t len = b.len;
        uint64_t bit = k >= 0 ? (uint64_t)1 << k : 0;
        if (k >= 0) {
            if (!((pg.prepared | preparing) & bit)) sql_prepare(&b, k);
            sql_execute(&b, k, n, pg.taken + total);
        } else if (n) {
            char *sql = write_sql(head->t, head->mask, n, pg.taken + total, FROM_LITERALS);
            if (sql) {
                sb_put(&b, sql, strlen(sql));
                sb_put(&b, ";\n", 2);
            }
            b.oom |= !sql;
        }
        if (!n || b.oom) {
            for (int i = 0; i < n; i++)
                pg.taken[total + i]->taken = 0;
            if (b.oom && b.s) { /* keep what was built before this batch */
                b.oom = 0;
                b.len = len;
                b.s[len] = '\0';
            }
            break;
        }
        preparing |= bit;
        total += n;
        stmts++;
    }
    char *text = sb_take(&b);
    pg.ntaken = total;
    if (!stmts || !text) {
        free(text);
        untake();
        return -1;
    }
    pg.preparing = preparing & ~pg.prepared;
    pg.batch = total;
    pg.combined = stmts;
    send_script(text, written, NULL);
    free(text);
    return 0;
}

/* Sends the head of the queue: the longest run of rows of one table and one set of columns
 * that fits a statement (for events and inputs, gathered from further down the queue too), or
 * a single row while isolating a bad one. */
static void send_batch(void)
{
    if (!pg.isolate && !pg.single_rounds && send_round() == 0) return;
    struct row *head = q.head, *r = head;
    int limit = pg.isolate ? 1 : BATCH_ROWS, n = 0;
    size_t bytes = 0;
    pg.ntaken = pg.isolate ? 0 : gather(head, pg.taken);
    if (pg.ntaken) {
        n = pg.ntaken;
    } else {
        for (; r && n < limit && r->t == head->t && r->mask == head->mask; r = r->next, n++) {
            if (n > 0 && (bytes + r->bytes > BATCH_BYTES || repeats_key(head, n, r))) break;
            bytes += r->bytes;
        }
    }
    int nc = ncols(head->t), np = 0;
    const char **vals = malloc(sizeof *vals * (size_t)(n * nc));
    char *sql = write_sql(head->t, head->mask, n, NULL, FROM_PARAMS);
    if (!vals || !sql) {
        free(vals);
        free(sql);
        untake();
        log_msg(LOG_ERROR, "store: out of memory building a batch", NULL);
        return; /* the next put or flush tries again */
    }
    r = head;
    for (int i = 0; i < n; i++, r = r->next) {
        struct row *row = pg.ntaken ? pg.taken[i] : r;
        row->taken = 1; /* in flight: not to be coalesced into (see written) */
        for (int c = 0; c < nc; c++)
            if (row->mask & (1u << c)) vals[np++] = col_text(row, c);
    }
    pg.batch = n;
    pg.plain = pg.ntaken ? 0 : n;
    send_params(sql, np, vals, written, NULL);
    free(vals);
    free(sql);
}

/* ---- reading a game ---- */

static json_t *column_json(PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? NULL : json_loads(PQgetvalue(res, 0, col), 0, NULL);
}

static void normalize_all(const char *table, json_t *rows)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) normalize(find_table(table), row);
}

/* The game row with participants, events, inputs and script_version added: the shape
 * store_log.c gives, so readers need not know the backend. */
static json_t *assemble_game(PGresult *res)
{
    json_t *game = PQntuples(res) == 1 ? column_json(res, 0) : NULL;
    if (!game) return NULL;
    static const char *const lists[] = {"participants", "events", "inputs"};
    static const char *const from[] = {"game_participants", "game_events", "game_inputs"};
    for (int i = 0; i < 3; i++) {
        json_t *rows = column_json(res, i + 1);
        normalize_all(from[i], rows);
        json_object_set_new(game, lists[i], rows ? rows : json_array());
    }
    normalize(find_table("games"), game);
    json_t *version = column_json(res, 4);
    if (version) {
        normalize(find_table("script_versions"), version);
        json_object_set_new(game, "script_version", version);
    }
    return game;
}

static void loaded_game(PGresult *res, void *arg)
{
    struct load *l = arg;
    json_t *game = NULL;
    if (res && failed(res))
        log_msg(LOG_WARN, "store: cannot load a game", "{ss,ss}", "game", l->params[0], "error",
                error_text(res));
    else if (res)
        game = assemble_game(res);
    l->done(game, l->arg);
    json_decref(game);
    load_free(l);
}

/* A call's rows: the first column of each, parsed as JSON (normalized as players rows when
 * they are: the reads of store_pg_find_player). */
static json_t *call_rows(PGresult *res, int players)
{
    json_t *rows = json_array();
    for (int i = 0; rows && i < PQntuples(res) && PQnfields(res) > 0; i++) {
        json_t *v = PQgetisnull(res, i, 0)
                        ? json_null()
                        : json_loads(PQgetvalue(res, i, 0), JSON_DECODE_ANY, NULL);
        if (v && players && json_is_object(v)) normalize(find_table("players"), v);
        json_array_append_new(rows, v ? v : json_null());
    }
    return rows;
}

static void called(PGresult *res, void *arg)
{
    struct load *l = arg;
    json_t *rows = NULL;
    const char *code = NULL;
    if (res && failed(res)) {
        code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        log_msg(LOG_DEBUG, "store: call refused", "{ss,ss}", "error", error_text(res), "sqlstate",
                code ? code : "");
        code = code ? code : "XX000";
    } else if (res) {
        rows = call_rows(res, l->sql == pg.player_by_id_sql || l->sql == pg.player_by_name_sql);
        code = rows ? "" : NULL; /* out of memory: as if the database could not be asked */
    }
    l->reply(rows, code, l->arg);
    json_decref(rows);
    load_free(l);
}

static void send_load(void)
{
    struct load *l = pg.loads;
    pg.loads = l->next;
    if (!pg.loads) pg.loads_tail = NULL;
    send_params(l->sql, l->nparams, (const char *const *)l->params, l->on_result, l);
}

/* Starts the next statement when the connection is ready and idle: a read whose rows are
 * all written, else the next batch of writes. Writes start at most every ROUND_GAP_MS while
 * fewer than ROUND_GAP_ROWS rows wait: a busy server put rows all the time, and rounds ran
 * back to back, over 200 a second with a few rows of each kind, each with its commit (an
 * fdatasync) and a statement per kind. PostgreSQL's time per row fell when rounds were
 * fewer and larger; the rows wait up to 20 ms longer, which nothing waits for. */
static void pump(void)
{
    if (pg.state != PG_READY || pg.busy) return;
    if (pg.loads && (!q.head || q.head->seq > pg.loads->after)) {
        send_load();
        return;
    }
    if (!q.head) return;
    uint64_t now = loop_now_us(), next = pg.round_us + ROUND_GAP_MS * 1000u;
    /* No gap after a failed round, while it is taken apart statement by statement and row
     * by row, until a round succeeds again. */
    int recovering = pg.isolate || pg.single_rounds || pg.deallocate;
    if (!pg.draining && !recovering && q.rows < ROUND_GAP_ROWS && now < next) {
        if (!pg.gap_armed) {
            struct timeval tv = {0, (suseconds_t)(next - now)};
            event_add(pg.flush_ev, &tv);
            pg.gap_armed = 1;
        }
        return;
    }
    pg.round_us = now;
    send_batch();
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    pg.gap_armed = 0; /* fired, or made active by a put: either way no longer pending */
    pump();
}

/* ---- blocking, for start-up and shutdown ---- */

/* Runs this module's I/O with poll(2) instead of the loop until done() or ms have passed, or
 * the connection fails. Only for open and close, where blocking is allowed. */
static void drive(int (*done)(void), int ms)
{
    uint64_t deadline = loop_now_ms() + (uint64_t)ms;
    pg.draining = 1;
    pump();
    while (!done() && pg.conn) {
        uint64_t now = loop_now_ms();
        if (now >= deadline) break;
        struct pollfd p = {PQsocket(pg.conn), 0, 0};
        p.events = (short)((pg.want & EV_READ ? POLLIN : 0) | (pg.want & EV_WRITE ? POLLOUT : 0));
        int r = poll(&p, 1, (int)(deadline - now));
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        short what = (short)((p.revents & (POLLIN | POLLERR | POLLHUP) ? EV_READ : 0) |
                             (p.revents & POLLOUT ? EV_WRITE : 0));
        on_io(p.fd, what ? what : EV_READ, NULL);
    }
    pg.draining = 0;
}

static int setup_done(void)
{
    return pg.state == PG_READY;
}

static int queue_done(void)
{
    return !q.head && !pg.busy;
}

/* ---- the backend ---- */

static int register_metrics(void)
{
    static const double bounds[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
    m_dropped = metrics_counter("store_rows_dropped_total",
                                "Rows the store gave up on (rejected by the database, or the "
                                "queue was full)",
                                "table");
    m_queue = metrics_gauge("store_queue_rows", "Rows waiting to be written to the database", NULL);
    m_journal = metrics_gauge("store_journal_bytes",
                              "Bytes of the local journal of rows the database may not have yet "
                              "(bounded by --spill-max-mb)",
                              NULL);
    m_latency =
        metrics_histogram("store_write_latency_ms", "Time for one batch of rows to be written (ms)",
                          NULL, bounds, (int)(sizeof bounds / sizeof bounds[0]));
    return m_dropped && m_queue && m_journal && m_latency ? 0 : -1;
}

static void pg_put_row(const char *table, json_t *row, const char *raw_col, const char *raw);

static void requeue(const char *table, json_t *row, void *arg)
{
    if (!table) return;
    if (strcmp(table, "players") == 0) {
        store_deliver_loaded("players", row);
        json_array_append(journal_players, row);
    } else if (strcmp(table, "games") == 0 && json_is_string(json_object_get(row, "status"))) {
        json_object_set(journal_games, json_string_value(json_object_get(row, "id")) ?: "",
                        json_object_get(row, "status"));
    }
    pg_put_row(table, json_deep_copy(row), NULL, NULL);
}

/* Opens the journal and queues what a previous process left in it; the games it left
 * unfinished are named to the server like PostgreSQL's (restore.c). */
static int open_journal(const struct config *cfg)
{
    journal_players = json_array();
    journal_games = json_object();
    if (!journal_players || !journal_games ||
        pgj_open(cfg->data_dir, (uint64_t)cfg->spill_max_mb << 20, requeue, NULL) < 0)
        return -1;
    pgj_replayed();
    const char *id;
    json_t *status;
    json_object_foreach(journal_games, id, status)
    {
        if (strcmp(json_string_value(status), "waiting") != 0 &&
            strcmp(json_string_value(status), "active") != 0)
            continue;
        json_t *row = json_pack("{ss}", "id", id);
        store_deliver_loaded("unfinished_games", row);
        json_decref(row);
    }
    json_decref(journal_games);
    journal_games = NULL;
    return 0;
}

static int pg_open(const struct config *cfg)
{
    char err[512];
    memset(&pg, 0, sizeof pg);
    memset(&q, 0, sizeof q);
    q.latest = hmap_new();
    pg.nmigs = read_migrations(cfg->sql_dir, &pg.migs, err, sizeof err);
    if (pg.nmigs < 0) {
        log_msg(LOG_ERROR, "store: cannot read the migrations", "{ss}", "error", err);
        return -1;
    }
    pg.url = strdup(cfg->database_url);
    pg.load_sql = load_game_sql();
    pg.players_sql = players_sql(NULL);
    pg.player_by_id_sql = players_sql("p.id = $1::uuid");
    pg.player_by_name_sql = players_sql("lower(p.username) = lower($1)");
    pg.io = event_new(loop_base(), -1, 0, on_io, NULL);
    pg.timer = evtimer_new(loop_base(), on_timer, NULL);
    pg.flush_ev = event_new(loop_base(), -1, 0, on_flush, NULL);
    if (!q.latest || !pg.url || !pg.load_sql || !pg.players_sql || !pg.player_by_id_sql ||
        !pg.player_by_name_sql || !pg.io || !pg.timer || !pg.flush_ev || register_metrics() < 0) {
        log_msg(LOG_ERROR, "store: out of memory", NULL);
        return -1;
    }
    /* `monkeytown replay` reads only: the journal belongs to the server that may be running. */
    if (!store_readonly() && open_journal(cfg) < 0) return -1;
    connect_start();
    drive(setup_done, OPEN_WAIT_MS);
    if (pg.state != PG_READY && !pg.down_told) /* still connecting (a failure is logged) */
        log_msg(LOG_WARN, "database not ready at start-up: starting without it", NULL);
    return 0;
}

static void drop_put(const char *table, const struct table *t, const char *why)
{
    log_msg(LOG_ERROR, "store: row dropped", "{ss,ss}", "table", table, "error", why);
    metric_add(m_dropped, t ? t->name : "unknown", 1);
}

static void pg_put(const char *table, json_t *row)
{
    pg_put_row(table, row, NULL, NULL);
}

static void pg_put_json(const char *table, json_t *row, const char *column, const char *json)
{
    pg_put_row(table, row, column, json);
}

/* Appends a queued row to the local journal (pg_journal.h), as the JSON text of the whole row. */
static void journal(uint64_t seq, const char *table, const json_t *row, const char *raw_col,
                    const char *raw)
{
    size_t len = 0;
    const char *text =
        raw_col ? json_text_scratch_with(row, raw_col, raw, &len) : json_text_scratch(row, &len);
    pgj_append(seq, table, text, len);
}

/* Queues row (taken), with column raw_col given as JSON text in raw when raw_col is set. */
static void pg_put_row(const char *table, json_t *row, const char *raw_col, const char *raw)
{
    const struct table *t = find_table(table);
    struct row *r = t && row ? row_new(t, row, raw_col, raw) : NULL;
    if (!r) {
        drop_put(table, t,
                 !t     ? "unknown table"
                 : !row ? "no row (json_pack failed)"
                        : "out of memory");
        json_decref(row);
        return;
    }
    char key[256];
    int keyed = t->upsert && q.latest && row_key(r, key, sizeof key);
    struct row *last = keyed ? hmap_get(q.latest, key) : NULL;
    if (last && !last->taken && coalesce(last, r) == 0) {
        journal(last->seq, table, row, raw_col, raw);
        json_decref(row);
        free(r);
        update_queue_gauge();
        return; /* the row it joined is queued, and its flush already asked for */
    }
    if (q.rows >= QUEUE_ROWS || q.bytes + r->bytes > QUEUE_BYTES) {
        if (!q.full_reported)
            drop_put(table, t, "the write queue is full (logged once)");
        else
            metric_add(m_dropped, t->name, 1);
        q.full_reported = 1;
        json_decref(row);
        free(r);
        return;
    }
    r->seq = ++q.last_seq;
    journal(r->seq, table, row, raw_col, raw);
    json_decref(row);
    if (q.tail)
        q.tail->next = r;
    else
        q.head = r;
    q.tail = r;
    q.rows++;
    q.bytes += r->bytes;
    /* Without an entry (OOM), the key's rows are simply not coalesced; a stale entry would
     * fold a later row into an earlier one past this one. */
    if (keyed && hmap_put(q.latest, key, r) < 0) hmap_del(q.latest, key);
    update_queue_gauge();
    /* Batch what this loop iteration puts: the flush runs once, after the current callbacks. */
    if (pg.state == PG_READY && !pg.busy && !pg.gap_armed) event_active(pg.flush_ev, 0, 0);
}

static void pg_flush(void)
{
    event_active(pg.flush_ev, 0, 0);
}

/* A load of sql with the n params (copied), or NULL when the database cannot be asked now
 * (down, or out of memory). */
static struct load *load_new(const char *sql, int n, const char *const *params, query_done cb)
{
    struct load *l = pg.state == PG_READY && n <= CALL_PARAMS ? calloc(1, sizeof *l) : NULL;
    if (!l) return NULL;
    l->after = q.last_seq;
    l->sql = sql;
    l->on_result = cb;
    for (int i = 0; i < n; i++) {
        l->params[l->nparams] = params[i] ? strdup(params[i]) : NULL;
        if (params[i] && !l->params[l->nparams]) {
            load_free(l);
            return NULL;
        }
        l->nparams++;
    }
    return l;
}

static void load_queue(struct load *l)
{
    if (pg.loads_tail)
        pg.loads_tail->next = l;
    else
        pg.loads = l;
    pg.loads_tail = l;
    event_active(pg.flush_ev, 0, 0);
}

static void pg_load_game(const char *game_id, void (*done)(json_t *game, void *arg), void *arg)
{
    struct load *l = util_is_uuid(game_id) ? load_new(pg.load_sql, 1, &game_id, loaded_game) : NULL;
    if (!l) {
        done(NULL, arg);
        return;
    }
    l->done = done;
    l->arg = arg;
    load_queue(l);
}

void store_pg_call(const char *sql, int n, const char *const *params, store_pg_reply done,
                   void *arg)
{
    struct load *l = store_pg_active() ? load_new(sql, n, params, called) : NULL;
    if (!l) {
        done(NULL, NULL, arg);
        return;
    }
    l->reply = done;
    l->arg = arg;
    load_queue(l);
}

void store_pg_find_player(const char *key, int by_name, store_pg_reply done, void *arg)
{
    if (!store_pg_active()) {
        done(NULL, NULL, arg);
        return;
    }
    if (!by_name && !util_is_uuid(key)) { /* no such player: PostgreSQL need not say so */
        json_t *none = json_array();
        done(none, none ? "" : NULL, arg);
        json_decref(none);
        return;
    }
    store_pg_call(by_name ? pg.player_by_name_sql : pg.player_by_id_sql, 1, &key, done, arg);
}

int store_pg_active(void)
{
    return pg.url != NULL;
}

static int below_bound(void)
{
    return q.rows < QUEUE_ROWS && q.bytes < QUEUE_BYTES;
}

static int pg_healthy(json_t *out)
{
    int connected = pg.state == PG_READY;
    json_object_set_new(out, "connected", json_boolean(connected));
    json_object_set_new(out, "queued", json_integer((json_int_t)q.rows));
    json_object_set_new(out, "journalBytes", json_integer((json_int_t)pgj_bytes()));
    json_object_set_new(out, "journalFull", json_boolean(pgj_full()));
    json_object_set_new(out, "lastError", json_string(pg.last_error));
    return connected && below_bound() && !pgj_full();
}

static int pg_accepting(void)
{
    return q.rows < QUEUE_ROWS / 10 * 9 && q.bytes < QUEUE_BYTES / 10 * 9 && !pgj_full();
}

/* Gives the queue ~2 s to reach the database (one more connection attempt if it is down),
 * then closes. What could not be written is counted in the log. */
static void pg_close(void)
{
    if (pg.state == PG_DOWN && q.head) {
        evtimer_del(pg.timer);
        connect_start();
    }
    /* Wait while the queue keeps shrinking: a server stopped under load may have seconds of
     * rows queued, and they are games that were played. CLOSE_WAIT_MS without progress (the
     * database is down or stuck) ends the wait, and CLOSE_MAX_MS caps it. */
    uint64_t started = loop_now_ms();
    size_t before;
    do {
        before = q.rows;
        drive(queue_done, CLOSE_WAIT_MS);
    } while (q.rows && q.rows < before && loop_now_ms() - started < CLOSE_MAX_MS);
    if (q.rows)
        log_msg(LOG_ERROR, "store: closing with rows not written", "{sI,ss}", "rows",
                (json_int_t)q.rows, "error", pg.last_error);
    if (pg.conn) PQfinish(pg.conn);
    pg.conn = NULL;
    pg.state = PG_DOWN;
    pg.busy = 0;
    PQclear(pg.result);
    fail_loads();
    q.full_reported = 0;
    pgj_close(); /* first: the rows still queued stay in it for the next start */
    pop_rows((int)q.rows);
    hmap_free(q.latest);
    q.latest = NULL;
    event_free(pg.io);
    event_free(pg.timer);
    event_free(pg.flush_ev);
    json_decref(journal_players);
    journal_players = NULL;
    free_migrations(pg.migs, pg.nmigs);
    free(pg.url);
    free(pg.load_sql);
    free(pg.players_sql);
    free(pg.player_by_id_sql);
    free(pg.player_by_name_sql);
    memset(&pg, 0, sizeof pg);
}

const struct store_backend store_pg_backend = {
    .name = "postgres",
    .open = pg_open,
    .put = pg_put,
    .put_json = pg_put_json,
    .flush = pg_flush,
    .barrier = pgj_barrier,
    .poll = pg_poll,
    .load_game = pg_load_game,
    .healthy = pg_healthy,
    .accepting = pg_accepting,
    .close = pg_close,
};

/* ---- `monkeytown migrate` ---- */

static int exec_ok(PGconn *c, const char *sql, const char *what, char *err, size_t errlen)
{
    PGresult *res = PQexec(c, sql);
    int ok = res && !failed(res);
    if (!ok) snprintf(err, errlen, "%s: %s", what, res ? error_text(res) : PQerrorMessage(c));
    PQclear(res);
    return ok;
}

static int migrate_on(PGconn *c, struct migration *migs, int n, char *err, size_t errlen)
{
    PGresult *res = PQexec(c, migrate_begin_sql);
    if (!res || failed(res)) {
        snprintf(err, errlen, "cannot read schema_migrations: %s",
                 res ? error_text(res) : PQerrorMessage(c));
        PQclear(res);
        return -1;
    }
    mark_applied(migs, n, res);
    PQclear(res);
    for (int i = 0; i < n; i++) {
        if (migs[i].applied) continue;
        char what[128], *sql = migration_sql(&migs[i]);
        snprintf(what, sizeof what, "migration %03d_%s failed", migs[i].version, migs[i].name);
        int ok = sql && exec_ok(c, sql, what, err, errlen);
        free(sql);
        if (!ok) return -1;
        log_msg(LOG_INFO, "migration applied", "{si,ss}", "version", migs[i].version, "name",
                migs[i].name);
    }
    return exec_ok(c, "SELECT pg_advisory_unlock(" MIGRATION_LOCK ")", "unlock", err, errlen) ? 0
                                                                                              : -1;
}

int store_pg_migrate(const char *url, const char *sql_dir, char *err, size_t errlen)
{
    struct migration *migs = NULL;
    int n = read_migrations(sql_dir, &migs, err, errlen);
    if (n < 0) return -1;
    static const char *const keys[] = {"application_name", "client_encoding", "connect_timeout",
                                       "dbname", NULL};
    const char *vals[] = {"monkeytown-migrate", "UTF8", "10", url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    int rc = -1;
    if (!c || PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect: %s", c ? PQerrorMessage(c) : "out of memory");
    } else {
        PQsetNoticeProcessor(c, on_notice, NULL);
        rc = migrate_on(c, migs, n, err, errlen);
    }
    size_t len = strlen(err);
    while (len > 0 && err[len - 1] == '\n')
        err[--len] = '\0';
    PQfinish(c);
    free_migrations(migs, n);
    return rc;
}
