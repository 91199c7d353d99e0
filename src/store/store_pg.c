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
 * are dropped (store_rows_dropped_total). A write refused for a stale fence (sql/006: another
 * instance owns the game now) is not retried: the game's rows are dropped at once
 * (store_fenced_writes_total, see fenced_off), and the other games' rows go on.
 *
 * Reads (load_game, and the accounts' calls of store_pg.h) share the connection and wait for
 * the rows queued before them, so a game that just ended reads back complete. While the
 * database is down they answer NULL at once. A game_results row never passes a players row
 * (the database's trigger applies it to rows that must exist).
 * A loaded game is its games row plus "participants", "events", "inputs" (rows, in seat, seq
 * and ord order) and "script_version" (the row of its version): the shape store_log.c gives,
 * which `monkeytown replay` reads. Rows have the keys of their formats, jsonb columns as JSON
 * values and timestamps as ms since the epoch.
 *
 * This file keeps the backend table, the setup steps and the pump. The rest is in files of one
 * concern each: pg_schema (the tables), pg_sql (the SQL text), pg_queue (the write queue),
 * pg_conn (the connection), pg_read (reads and calls), pg_migrate (the migrations) and
 * pg_journal (the queue on local disk). */
#include "store.h"
#include "store_pg.h"

#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "pg_conn.h"
#include "pg_journal.h"
#include "pg_migrate.h"
#include "pg_queue.h"
#include "pg_read.h"
#include "pg_schema.h"
#include "pg_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_ROWS 500
#define ROUND_STATEMENTS 64 /* statements sent together in one round trip (see send_round) */
#define ROUND_ROWS (BATCH_ROWS * ROUND_STATEMENTS)
#define ROUND_BYTES (1u << 20)
#define ROUND_GAP_MS 20     /* rounds start at most this often while the queue is short... */
#define ROUND_GAP_ROWS 2000 /* ...shorter than this */
#define OPEN_WAIT_MS 5000
#define CLOSE_WAIT_MS 2000 /* shutdown: how long the queue may make no progress */
#define CLOSE_MAX_MS 60000 /* shutdown: the longest wait for the queue */
#define MAX_SHAPES 64

/* The writer: the write in flight, and the state of the session's prepared shapes. */
static struct {
    struct event *flush_ev;
    int players_loaded; /* the setup's player load ran once in this process */

    int batch; /* rows in the statement in flight: the head of the queue, or those in taken[] */
    struct pg_row *taken[ROUND_ROWS]; /* the gathered rows in flight (see send_round) */
    int ntaken;
    int combined;       /* statements in the round in flight; 0: one statement with parameters */
    int plain;          /* rows of the statement in flight taken from the head, not gathered */
    uint64_t round_us;  /* when the last write went out (see pump) */
    int gap_armed;      /* flush_ev is armed as a timer for the end of the gap */
    uint64_t prepared;  /* shapes (bit i: shapes[i]) prepared on this connection */
    uint64_t preparing; /* shapes the round in flight prepares: prepared once it succeeds */
    int deallocate;     /* a failed round may have prepared some: DEALLOCATE ALL first */
    int single_rounds;  /* after a failed round: batches to send one statement at a time */
    int isolate;        /* rows still to send one at a time after a failed batch */
    char *players_sql, *documents_sql;
} w;

static struct metric *m_latency;
/* What the journal gave back at start-up: the players rows, delivered again after
 * PostgreSQL's own (which are older), and the games' last statuses. */
static json_t *journal_players, *journal_games;

static void pump(void);

/* ---- prepared shapes ---- */

/* A shape is a table and a set of columns: the statements of send_round for it differ only in
 * their arrays, so each is prepared once per connection (PREPARE mt_wN (...) AS ...) and then
 * run with EXECUTE mt_wN('{...}', ...). PostgreSQL then neither analyses nor plans the INSERT
 * again; that was a third of its time. Shapes are numbered for the life of the process. */
static struct {
    const struct pg_table *t;
    unsigned mask;
} shapes[MAX_SHAPES];
static int nshapes;

/* The number of t's shape with the columns of mask, or -1 when MAX_SHAPES are taken. */
static int shape_of(const struct pg_table *t, unsigned mask)
{
    for (int i = 0; i < nshapes; i++)
        if (shapes[i].t == t && shapes[i].mask == mask) return i;
    if (nshapes == MAX_SHAPES) return -1;
    shapes[nshapes].t = t;
    shapes[nshapes].mask = mask;
    return nshapes++;
}

static enum pg_quoting quoting(void)
{
    return pg_conn_std_strings() ? PG_QUOTE_STANDARD : PG_QUOTE_ESCAPE;
}

/* ---- writing the queue ---- */

/* A gathered batch that was not written: its rows stay queued, unmarked. */
static void untake(void)
{
    for (int i = 0; i < w.ntaken; i++)
        w.taken[i]->taken = 0;
    w.ntaken = 0;
}

/* A combined round's reply: the shapes it prepared are prepared, or after a failure unknown. */
static void round_prepared(int ok)
{
    if (ok) {
        w.prepared |= w.preparing;
        w.deallocate = 0;
    } else { /* PREPARE is not undone by the rollback */
        w.prepared = 0;
        w.deallocate = 1;
    }
    w.preparing = 0;
}

/* A failed write: its rows go again, in smaller pieces, until the row at fault is alone and
 * dropped. */
static void write_failed(PGresult *res, int n, int gathered, int combined)
{
    if (combined) {
        /* The round was one transaction: nothing of it was written. Its statements go again
         * one at a time, so that the usual isolation finds the row at fault. */
        log_msg(LOG_WARN, "store: combined round failed, retrying its statements one by one",
                "{si,ss}", "statements", combined, "error", pg_error_text(res));
        untake();
        w.single_rounds = combined;
        return;
    }
    if (w.single_rounds) w.single_rounds--;
    if (n > 1) {
        log_msg(LOG_WARN, "store: batch failed, retrying its rows one by one", "{ss,si,ss}",
                "table", pg_queue_head()->t->name, "rows", n, "error", pg_error_text(res));
        untake();
        w.isolate = gathered ? 1 : n; /* a gathered batch retries from the head, row by row */
        return;
    }
    if (w.isolate) w.isolate--;
    untake();
    pg_queue_drop_head(pg_error_text(res));
}

/* A write PostgreSQL refused for a stale fence (sql/006: SQLSTATE MTF01, the game's id as the
 * DETAIL): another instance owns the game now, and every later write of it here would be
 * refused too. Retrying would fail forever and isolating it row by row would hold up every
 * other game, so the game's rows are dropped and the rest go again as they were (nothing of a
 * failed round was written). Returns 1 when that was the failure and rows were dropped; else
 * the usual isolation deals with it. */
static int fenced_off(const PGresult *res)
{
    const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *game = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    if (!code || strcmp(code, "MTF01") != 0 || !game) return 0;
    untake();
    return pg_queue_drop_game(game, pg_error_text(res)) > 0;
}

static void written(PGresult *res, void *arg)
{
    int n = w.batch, gathered = w.ntaken > 0, combined = w.combined;
    struct pg_row *r = pg_queue_head();
    for (int i = 0; i < w.plain && r; i++, r = r->next)
        r->taken = 0; /* the head rows of a plain send: written and popped below, or kept */
    w.plain = w.batch = w.combined = 0;
    if (!res) { /* the rows stay in the queue and go again */
        untake();
        return;
    }
    if (combined) round_prepared(!pg_failed(res));
    if (pg_failed(res) && fenced_off(res)) return;
    if (pg_failed(res)) {
        write_failed(res, n, gathered, combined);
        return;
    }
    if (w.single_rounds && !combined) w.single_rounds--;
    if (w.isolate) w.isolate--;
    metric_observe(m_latency, NULL, (double)(loop_now_us() - pg_conn_sent_us()) / 1000.0);
    if (gathered)
        pg_queue_pop_taken(w.ntaken);
    else
        pg_queue_pop(n);
    w.ntaken = 0;
}

/* Appends the statement for the n gathered rows from head to b: EXECUTE of head's shape
 * (PREPAREd first, in this round, when the session lacks it), or the statement itself when
 * every shape number is taken. Returns the shape's bit (0 for none). */
static uint64_t round_statement(struct pg_sb *b, const struct pg_row *head, int n,
                                uint64_t preparing)
{
    struct pg_row *const *rows = w.taken + w.ntaken;
    int k = shape_of(head->t, head->mask);
    if (k < 0) {
        char *sql = pg_sql_write(head->t, head->mask, n, rows, PG_FROM_LITERALS, quoting());
        if (sql) {
            pg_sb_put(b, sql, strlen(sql));
            pg_sb_put(b, ";\n", 2);
        }
        b->oom |= !sql;
        free(sql);
        return 0;
    }
    uint64_t bit = (uint64_t)1 << k;
    if (!((w.prepared | preparing) & bit)) pg_sql_prepare(b, k, head->t, head->mask);
    pg_sql_execute(b, k, head->t, head->mask, n, rows, quoting());
    return bit;
}

/* Sends up to ROUND_STATEMENTS gathered batches in one round trip: one text of several
 * statements with the values as array literals, which PostgreSQL runs as one transaction (one
 * commit for all). With one statement per round trip the store could not keep up with a busy
 * server: each kind of row (a table and a set of columns) needed its own round trip. Each
 * gather skips the rows already taken, which run earlier in the same transaction, so the
 * orders gather keeps still hold. Returns 0, or -1 when nothing was sent (send_batch then
 * sends one statement the usual way). */
static int send_round(void)
{
    struct pg_sb b = {0};
    int stmts = 0;
    uint64_t preparing = 0;
    if (w.deallocate) pg_sb_add(&b, "DEALLOCATE ALL;\n");
    while (stmts < ROUND_STATEMENTS && w.ntaken + BATCH_ROWS <= ROUND_ROWS && b.len < ROUND_BYTES) {
        const struct pg_row *head = pg_queue_first_untaken();
        int n = head ? pg_queue_gather(head, w.taken + w.ntaken) : 0;
        size_t len = b.len;
        uint64_t bit = n ? round_statement(&b, head, n, preparing) : 0;
        if (!n || b.oom) {
            for (int i = 0; i < n; i++)
                w.taken[w.ntaken + i]->taken = 0;
            if (b.oom && b.s) { /* keep what was built before this batch */
                b.oom = 0;
                b.len = len;
                b.s[len] = '\0';
            }
            break;
        }
        preparing |= bit;
        w.ntaken += n;
        stmts++;
    }
    char *text = pg_sb_take(&b);
    if (!stmts || !text) {
        free(text);
        untake();
        return -1;
    }
    w.preparing = preparing & ~w.prepared;
    w.batch = w.ntaken;
    w.combined = stmts;
    pg_conn_send_script(text, written, NULL);
    free(text);
    return 0;
}

/* Sends the head of the queue as one statement with parameters: the rows of the head's table
 * and columns gathered from further down the queue, or the run at the head, or a single row
 * while isolating a bad one. */
static void send_batch(void)
{
    if (!w.isolate && !w.single_rounds && send_round() == 0) return;
    struct pg_row *head = pg_queue_head(), *r = head;
    w.ntaken = w.isolate ? 0 : pg_queue_gather(head, w.taken);
    int n = w.ntaken ? w.ntaken : pg_queue_run(w.isolate ? 1 : BATCH_ROWS);
    int nc = pg_schema_ncols(head->t), np = 0;
    const char **vals = malloc(sizeof *vals * (size_t)(n * nc));
    char *sql = pg_sql_write(head->t, head->mask, n, NULL, PG_FROM_PARAMS, PG_QUOTE_STANDARD);
    if (!vals || !sql) {
        free(vals);
        free(sql);
        untake();
        log_msg(LOG_ERROR, "store: out of memory building a batch", NULL);
        return; /* the next put or flush tries again */
    }
    for (int i = 0; i < n; i++, r = r->next) {
        struct pg_row *row = w.ntaken ? w.taken[i] : r;
        row->taken = 1; /* in flight: not to be coalesced into (see written) */
        pg_row_refence(row);
        for (int c = 0; c < nc; c++)
            if (row->mask & (1u << c)) vals[np++] = pg_row_col(row, c);
    }
    w.batch = n;
    w.plain = w.ntaken ? 0 : n;
    pg_conn_send_params(sql, np, vals, written, NULL);
    free(vals);
    free(sql);
}

/* Starts the next statement when the connection is ready and idle: a read whose rows are all
 * written, else the next batch of writes. Writes start at most every ROUND_GAP_MS while fewer
 * than ROUND_GAP_ROWS rows wait: a busy server put rows all the time, and rounds ran back to
 * back, over 200 a second with a few rows of each kind, each with its commit (an fdatasync)
 * and a statement per kind. PostgreSQL's time per row fell when rounds were fewer and larger;
 * the rows wait up to 20 ms longer, which nothing waits for. */
static void pump(void)
{
    if (pg_conn_state() != PG_READY || pg_conn_busy() || pg_read_send_due()) return;
    if (!pg_queue_head()) return;
    uint64_t now = loop_now_us(), next = w.round_us + ROUND_GAP_MS * 1000u;
    /* No gap after a failed round, while it is taken apart statement by statement and row
     * by row, until a round succeeds again. */
    int recovering = w.isolate || w.single_rounds || w.deallocate;
    if (!pg_conn_draining() && !recovering && pg_queue_rows() < ROUND_GAP_ROWS && now < next) {
        if (!w.gap_armed) {
            struct timeval tv = {0, (suseconds_t)(next - now)};
            event_add(w.flush_ev, &tv);
            w.gap_armed = 1;
        }
        return;
    }
    w.round_us = now;
    send_batch();
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    w.gap_armed = 0; /* fired, or made active by a put: either way no longer pending */
    pump();
}

static void wake(void)
{
    event_active(w.flush_ev, 0, 0);
}

/* ---- setup: migrations, then the players and unfinished games, once per process ---- */

static void loaded_unfinished(PGresult *res, void *arg);
static void loaded_documents(PGresult *res, void *arg);

static void ready(void)
{
    pg_conn_ready();
    pump();
}

/* Hands the rows a setup read returned (one JSON object each) to table's loader: their number,
 * or -1 after failing the setup with what (res NULL: the connection went, nothing to do). */
static int deliver_rows(PGresult *res, const char *table, const char *what)
{
    if (!res) return -1;
    if (pg_failed(res)) {
        pg_conn_setup_failed(what, res);
        return -1;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        json_t *row = json_loads(PQgetvalue(res, i, 0), 0, NULL);
        if (!row) continue;
        pg_schema_normalize(pg_schema_table(table), row);
        store_deliver_loaded(table, row);
        json_decref(row);
    }
    return n;
}

static void loaded_players(PGresult *res, void *arg)
{
    int n = deliver_rows(res, "players", "cannot load players");
    if (n < 0) return;
    /* The journal's rows of players are newer than what PostgreSQL had: they go last. */
    size_t i;
    json_t *jrow;
    json_array_foreach(journal_players, i, jrow) store_deliver_loaded("players", jrow);
    json_array_clear(journal_players);
    log_msg(LOG_INFO, "players loaded", "{si}", "rows", n);
    pg_conn_send_params(w.documents_sql, 0, NULL, loaded_documents, NULL);
}

/* The players' documents (documents.h keeps them in memory). The journal's rows were delivered
 * before these, which are older: the index keeps each version once. */
static void loaded_documents(PGresult *res, void *arg)
{
    int n = deliver_rows(res, "player_documents", "cannot load player documents");
    if (n < 0) return;
    if (n) log_msg(LOG_INFO, "player documents loaded", "{si}", "rows", n);
    pg_conn_send_params("SELECT id::text FROM games WHERE status IN ('waiting', 'active')", 0, NULL,
                        loaded_unfinished, NULL);
}

/* Names the game id to the server as unfinished, which rebuilds it (restore.c). */
static void deliver_unfinished(const char *id)
{
    json_t *row = json_pack("{ss}", "id", id);
    store_deliver_loaded("unfinished_games", row);
    json_decref(row);
}

/* The games the last process (or a crash) left waiting or active. */
static void loaded_unfinished(PGresult *res, void *arg)
{
    if (!res) return;
    if (pg_failed(res)) {
        pg_conn_setup_failed("cannot list unfinished games", res);
        return;
    }
    int n = PQntuples(res);
    w.players_loaded = 1; /* before delivering: a rebuild may load games at once */
    ready();
    for (int i = 0; i < n; i++)
        deliver_unfinished(PQgetvalue(res, i, 0));
    if (n) log_msg(LOG_INFO, "unfinished games found", "{si}", "games", n);
}

static void migrated(void)
{
    if (w.players_loaded)
        ready();
    else
        pg_conn_send_params(w.players_sql, 0, NULL, loaded_players, NULL);
}

static void connected(void)
{
    pg_migrate_start(migrated);
}

/* The session ended: its prepared statements with it, and the reads waiting hear NULL. */
static void lost(void)
{
    w.prepared = w.preparing = 0;
    w.deallocate = 0;
    pg_read_fail_all();
}

static const struct pg_conn_hooks hooks = {connected, pump, lost, pg_queue_rows};

/* ---- the journal of a previous process ---- */

static void requeue(const char *table, json_t *row, void *arg)
{
    if (!table) return;
    if (strcmp(table, "players") == 0) {
        store_deliver_loaded("players", row);
        json_array_append(journal_players, row);
    } else if (strcmp(table, "player_documents") == 0) {
        store_deliver_loaded("player_documents", row);
    } else if (strcmp(table, "games") == 0 && json_is_string(json_object_get(row, "status"))) {
        json_object_set(journal_games, json_string_value(json_object_get(row, "id")) ?: "",
                        json_object_get(row, "status"));
    }
    pg_queue_put(table, json_deep_copy(row), NULL, NULL);
}

/* Opens the journal and queues what a previous process left in it; the games it left
 * unfinished are named to the server like PostgreSQL's (restore.c). */
static int open_journal(const struct config *cfg)
{
    journal_players = json_array();
    journal_games = json_object();
    if (!journal_players || !journal_games ||
        pg_journal_open(cfg->data_dir, (uint64_t)cfg->spill_max_mb << 20, requeue, NULL) < 0)
        return -1;
    pg_journal_replayed();
    const char *id;
    json_t *status;
    json_object_foreach(journal_games, id, status)
    {
        if (strcmp(json_string_value(status), "waiting") == 0 ||
            strcmp(json_string_value(status), "active") == 0)
            deliver_unfinished(id);
    }
    json_decref(journal_games);
    journal_games = NULL;
    return 0;
}

/* ---- the backend ---- */

static int register_metrics(void)
{
    static const double bounds[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
    m_latency =
        metrics_histogram("store_write_latency_ms", "Time for one batch of rows to be written (ms)",
                          NULL, bounds, (int)(sizeof bounds / sizeof bounds[0]));
    return m_latency ? 0 : -1;
}

static int setup_done(void)
{
    return pg_conn_state() == PG_READY;
}

static int queue_done(void)
{
    return !pg_queue_head() && !pg_conn_busy();
}

static int pg_open(const struct config *cfg)
{
    char err[512];
    memset(&w, 0, sizeof w);
    if (pg_migrate_load(cfg->sql_dir, err, sizeof err) < 0) {
        log_msg(LOG_ERROR, "store: cannot read the migrations", "{ss}", "error", err);
        return -1;
    }
    w.players_sql = pg_sql_players(NULL);
    w.documents_sql = pg_sql_rows("player_documents", "t.version");
    w.flush_ev = event_new(loop_base(), -1, 0, on_flush, NULL);
    if (pg_queue_open() < 0 || pg_conn_open(cfg->database_url, &hooks) < 0 ||
        pg_read_open(wake) < 0 || !w.players_sql || !w.documents_sql || !w.flush_ev ||
        register_metrics() < 0) {
        log_msg(LOG_ERROR, "store: out of memory", NULL);
        return -1;
    }
    /* `monkeytown replay` reads only: the journal belongs to the server that may be running. */
    if (!store_readonly() && open_journal(cfg) < 0) return -1;
    pg_conn_start();
    pg_conn_drive(setup_done, OPEN_WAIT_MS);
    if (pg_conn_state() != PG_READY && !pg_conn_down_told()) /* a failure is logged */
        log_msg(LOG_WARN, "database not ready at start-up: starting without it", NULL);
    return 0;
}

/* Queues row (taken); batches what this loop iteration puts: the flush runs once, after the
 * current callbacks. */
static void put_row(const char *table, json_t *row, const char *raw_col, const char *raw)
{
    if (pg_queue_put(table, row, raw_col, raw) && pg_conn_state() == PG_READY && !pg_conn_busy() &&
        !w.gap_armed)
        wake();
}

static void pg_put(const char *table, json_t *row)
{
    put_row(table, row, NULL, NULL);
}

static void pg_put_json(const char *table, json_t *row, const char *column, const char *json)
{
    put_row(table, row, column, json);
}

/* A new owner takes the game over in PostgreSQL by writing its games row with its fence
 * (sql/006 raises games.fence): from then on the database refuses the writes of every earlier
 * owner, without waiting for this one's next write of the row. Behind the rows already queued
 * (the row that creates the game among them). */
static char owner[112]; /* "<instance> <token>" (store_pg_set_owner), "" on a single server */

void store_pg_set_owner(const char *instance_and_token)
{
    snprintf(owner, sizeof owner, "%s", instance_and_token ? instance_and_token : "");
}

static void pg_set_fence(const char *game_id, uint64_t fence)
{
    pg_queue_set_fence(game_id, fence);
    if (fence && *owner)
        pg_put("games",
               json_pack("{ss,sI,ss}", "id", game_id, "fence", (json_int_t)fence, "owner", owner));
    else if (fence)
        pg_put("games", json_pack("{ss,sI}", "id", game_id, "fence", (json_int_t)fence));
}

static void pg_flush(void)
{
    wake();
}

static void pg_poll(void)
{
    pg_conn_poll();
}

static int pg_healthy(json_t *out)
{
    int connected = pg_conn_state() == PG_READY;
    json_object_set_new(out, "connected", json_boolean(connected));
    json_object_set_new(out, "queued", json_integer((json_int_t)pg_queue_rows()));
    json_object_set_new(out, "journalBytes", json_integer((json_int_t)pg_journal_bytes()));
    json_object_set_new(out, "journalFull", json_boolean(pg_journal_full()));
    json_object_set_new(out, "lastError", json_string(pg_conn_last_error()));
    return connected && pg_queue_below_bound() && !pg_journal_full();
}

/* Writes the queue out while it keeps shrinking (one more connection attempt if the database
 * is down): a server stopped under load may have seconds of rows queued, and they are games
 * that were played. CLOSE_WAIT_MS without progress (the database is down or stuck) ends the
 * wait, and CLOSE_MAX_MS caps it. What could not be written is counted in the log. */
static void write_out(void)
{
    if (pg_conn_state() == PG_DOWN && pg_queue_head()) pg_conn_start();
    uint64_t started = loop_now_ms();
    size_t before, rows;
    do {
        before = pg_queue_rows();
        pg_conn_drive(queue_done, CLOSE_WAIT_MS);
        rows = pg_queue_rows();
    } while (rows && rows < before && loop_now_ms() - started < CLOSE_MAX_MS);
    if (rows)
        log_msg(LOG_ERROR, "store: closing with rows not written", "{sI,ss}", "rows",
                (json_int_t)rows, "error", pg_conn_last_error());
}

static void pg_close(void)
{
    write_out();
    pg_conn_close();
    pg_read_close();
    pg_journal_close(); /* first: the rows still queued stay in it for the next start */
    pg_queue_close();
    event_free(w.flush_ev);
    json_decref(journal_players);
    journal_players = NULL;
    pg_migrate_free();
    free(w.players_sql);
    free(w.documents_sql);
    memset(&w, 0, sizeof w);
}

const struct store_backend store_pg_backend = {
    .name = "postgres",
    .open = pg_open,
    .put = pg_put,
    .put_json = pg_put_json,
    .flush = pg_flush,
    .barrier = pg_journal_barrier,
    .poll = pg_poll,
    .load_game = pg_read_game,
    .load_games = pg_read_games,
    .healthy = pg_healthy,
    .accepting = pg_queue_accepting,
    .set_fence = pg_set_fence,
    .close = pg_close,
};

/* ---- store_pg.h ---- */

int store_pg_active(void)
{
    return pg_conn_opened();
}

void store_pg_call(const char *sql, int n, const char *const *params, store_pg_reply done,
                   void *arg)
{
    if (store_pg_active())
        pg_read_call(sql, n, params, done, arg);
    else
        done(NULL, NULL, arg);
}

void store_pg_find_player(const char *key, int by_name, store_pg_reply done, void *arg)
{
    if (store_pg_active())
        pg_read_find_player(key, by_name, done, arg);
    else
        done(NULL, NULL, arg);
}

int store_pg_migrate(const char *url, const char *sql_dir, char *err, size_t errlen)
{
    return pg_migrate_run(url, sql_dir, err, errlen);
}
