/* pg_queue.h - the PostgreSQL store's write queue: rows in put order, coalesced while they
 * wait, and gathered into batches for the writer (store_pg.c).
 *
 * A row is converted into its statement parameters when it is put, so that memory is counted
 * exactly and the caller's JSON is released at once. Every queued row is also journaled
 * (pg_journal.h) before the put returns; rows leave the journal as they leave the queue.
 *
 * The queue owns its rows: pointers handed out (head, gathered rows) stay valid until the row
 * is popped. Rows in the statement in flight are marked taken, and are then neither coalesced
 * into nor gathered again. The queue registers and updates store_rows_dropped_total,
 * store_fenced_writes_total, store_queue_rows and store_journal_bytes. Loop thread only.
 *
 * Fences (sql/006): the rows of the tables with a column fence (pg_schema_fence_col) carry the
 * fencing token this instance holds for their game (pg_queue_set_fence), as the value of that
 * column. A row takes the fence held when it is put, and again when it goes out: rows put
 * before the directory's claim was answered then go with the fence too, so a game's rows never
 * reach PostgreSQL with a lower fence after a higher one. A released game's fence is kept until
 * every row put before the release has left the queue. */
#ifndef MT_PG_QUEUE_H
#define MT_PG_QUEUE_H

#include "pg_schema.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* One queued row, as statement parameters. */
struct pg_row {
    struct pg_row *next;
    const struct pg_table *t;
    uint64_t seq;         /* put order; reads wait for the rows before them */
    size_t bytes;         /* of text */
    unsigned mask;        /* bit i: the row has column i (possibly as SQL NULL) */
    int taken;            /* in the statement or round in flight: it may not change */
    uint64_t fence;       /* the value of column fence, for tables with one (else 0) */
    int off[PG_MAX_COLS]; /* where column i starts in text, or -1 for SQL NULL */
    char *text;           /* the values, NUL-terminated, back to back: own_text, or after a
                             merge a buffer of its own (see pg_queue.c, coalesce) */
    char own_text[];
};

/* Column i of r as text (borrowed), or NULL for SQL NULL. */
static inline const char *pg_row_col(const struct pg_row *r, int i)
{
    return r->off[i] < 0 ? NULL : r->text + r->off[i];
}

/* Converts a caller's row of t (json borrowed); raw_col (or NULL) names a column given as
 * JSON text in raw, which is stored as it is. Returns a row the caller frees with free(), not
 * queued, or NULL on OOM. */
struct pg_row *pg_row_new(const struct pg_table *t, const json_t *json, const char *raw_col,
                          const char *raw);

/* Whether a and b (of one table) have the same natural key, none of it NULL. */
int pg_row_same_key(const struct pg_row *a, const struct pg_row *b);

/* Sets up an empty queue and registers its metrics. Returns 0, or -1 on OOM. */
int pg_queue_open(void);

/* Frees every row still queued (after pg_journal_close, which keeps them for the next start). */
void pg_queue_close(void);

/* Queues row (taken) for table, with column raw_col given as JSON text in raw when raw_col is
 * set, and journals it. A row of an upsert table whose key has a queued row not in flight is
 * folded into it. Returns 1 when a new row joined the queue (the writer should be woken), 0
 * when it was folded in or dropped (an unknown table, OOM, the queue full: logged and counted
 * in store_rows_dropped_total). */
int pg_queue_put(const char *table, json_t *row, const char *raw_col, const char *raw);

/* The oldest queued row (borrowed), or NULL. */
struct pg_row *pg_queue_head(void);

/* The oldest row not taken (borrowed), or NULL. */
const struct pg_row *pg_queue_first_untaken(void);

/* Rows queued, and the seq of the last row put (0 before any). */
size_t pg_queue_rows(void);
uint64_t pg_queue_last_seq(void);

/* Below the bound (1,000,000 rows, 512 MiB): nothing is dropped. */
int pg_queue_below_bound(void);

/* Below 90 % of the bound and the journal not full: room for a new game. */
int pg_queue_accepting(void);

/* How many rows from the head (at most limit, 1 MB of text) are of the head's table and
 * columns, without two of one upsert key: one statement with parameters. */
int pg_queue_run(int limit);

/* Takes up to 500 rows (1 MB) of head's table and columns from head on into out, marking them
 * taken, keeping every order that matters: a row that needs a games row never passes it, an
 * upsert never passes (nor joins) an earlier row of its key, and a game_results row never
 * passes a players row. Rows already taken are skipped: they run earlier. Returns how many. */
int pg_queue_gather(const struct pg_row *head, struct pg_row **out);

/* Pops the first n rows (written, or given up). */
void pg_queue_pop(int n);

/* Pops the n taken rows (a gathered batch, written), wherever they lie in the queue. */
void pg_queue_pop_taken(int n);

/* Gives up the head row: logged with why and counted as dropped. */
void pg_queue_drop_head(const char *why);

/* This instance holds fence (> 0, from the room directory's claim) for game_id: its rows go
 * with it from now on, and those already queued when they go out. 0: the room was released
 * here; the fence is forgotten once the rows put until now have left the queue. */
void pg_queue_set_fence(const char *game_id, uint64_t fence);

/* Before r goes out: the fence held for its game, when it is higher than r's. */
void pg_row_refence(struct pg_row *r);

/* PostgreSQL refused a write of game_id for a stale fence: another instance owns the game. Its
 * queued rows not in flight are dropped (counted in store_fenced_writes_total, logged once), and
 * so are its rows put from now on, until a higher fence is set. Returns the rows dropped. */
int pg_queue_drop_game(const char *game_id, const char *why);

#endif
