/* pg_queue.c - the PostgreSQL store's write queue (see pg_queue.h). */
#include "pg_queue.h"

#include "hmap.h"
#include "json_text.h"
#include "log.h"
#include "metrics.h"
#include "pg_journal.h"
#include "util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BATCH_ROWS 500
#define BATCH_BYTES (1u << 20)
#define QUEUE_ROWS 1000000u
#define QUEUE_BYTES (512ull << 20)
#define MAX_BLOCKED 512 /* rows gather tracks as holding back later ones */
#define FENCE_TEXT                                                                                 \
    21 /* a fence's digits and NUL: a slot at the start of a fenced row's text,                    \
          rewritten in place when the fence rises (pg_row_refence) */

/* A fence held here for a game (pg_queue_set_fence). */
struct held_fence {
    uint64_t fence;
    int held;             /* 0: released, forgotten once the queue passes released_at */
    uint64_t released_at; /* q.last_seq at the release */
    int stale;            /* PostgreSQL refused it: another instance owns the game */
};

/* A released fence to forget once every row up to seq has left the queue. */
struct forget {
    struct forget *next;
    uint64_t seq;
    char game[];
};

static struct {
    struct pg_row *head, *tail;
    size_t rows, bytes;
    uint64_t last_seq;
    int full_reported;   /* "queue full" was logged for this overflow */
    struct hmap *latest; /* upsert tables: row key -> the last queued row with that key */
    struct hmap *fences; /* game id -> struct held_fence */
    struct forget *forgets, *forgets_tail; /* in seq order */
} q;

static struct metric *m_dropped, *m_fenced, *m_queue, *m_journal;

/* ---- fences ---- */

static struct held_fence *held_fence(const char *game)
{
    return game && q.fences ? hmap_get(q.fences, game) : NULL;
}

/* Sets r's fence (a fenced table's row): the number in its slot. */
static void row_set_fence(struct pg_row *r, uint64_t fence)
{
    r->fence = fence;
    snprintf(r->text, FENCE_TEXT, "%" PRIu64, fence);
}

void pg_row_refence(struct pg_row *r)
{
    const struct held_fence *h =
        pg_schema_fence_col(r->t) >= 0 ? held_fence(pg_row_col(r, 0)) : NULL;
    if (h && h->fence > r->fence) row_set_fence(r, h->fence);
}

/* Forgets the released fences whose rows have all left the queue (every row up to the one
 * before the head). A fence claimed again since its release is kept. */
static void forget_fences(void)
{
    uint64_t left = q.head ? q.head->seq - 1 : q.last_seq;
    while (q.forgets && q.forgets->seq <= left) {
        struct forget *f = q.forgets;
        struct held_fence *h = held_fence(f->game);
        if (h && !h->held && h->released_at == f->seq) free(hmap_del(q.fences, f->game));
        q.forgets = f->next;
        free(f);
    }
    if (!q.forgets) q.forgets_tail = NULL;
}

static void release_fence(const char *game, struct held_fence *h)
{
    size_t len = strlen(game) + 1;
    struct forget *f = h ? malloc(sizeof *f + len) : NULL;
    if (!f) { /* nothing held, or OOM: the queued rows keep the fence they were put with */
        free(h ? hmap_del(q.fences, game) : NULL);
        return;
    }
    h->held = 0;
    h->released_at = f->seq = q.last_seq;
    f->next = NULL;
    memcpy(f->game, game, len);
    if (q.forgets_tail)
        q.forgets_tail->next = f;
    else
        q.forgets = f;
    q.forgets_tail = f;
}

void pg_queue_set_fence(const char *game_id, uint64_t fence)
{
    struct held_fence *h = held_fence(game_id);
    if (!q.fences) return;
    if (!fence) {
        release_fence(game_id, h);
        return;
    }
    if (!h) {
        h = calloc(1, sizeof *h);
        if (!h || hmap_put(q.fences, game_id, h) < 0) {
            free(h); /* OOM: the rows go with the fence of their put, 0 */
            return;
        }
    }
    if (fence > h->fence) h->fence = fence;
    h->held = 1;
    h->stale = 0;
}

static void free_fence(const char *key, void *value, void *arg)
{
    free(value);
}

static void free_fences(void)
{
    while (q.forgets) {
        struct forget *f = q.forgets;
        q.forgets = f->next;
        free(f);
    }
    q.forgets_tail = NULL;
    hmap_free_values(q.fences, free_fence);
    q.fences = NULL;
}

/* The fence a caller's row says it was written with (a row of the journal), or 0. */
static uint64_t json_fence(const json_t *row)
{
    json_int_t f = json_integer_value(json_object_get(row, "fence"));
    return f > 0 ? (uint64_t)f : 0;
}

/* ---- rows ---- */

/* Appends the text of JSON value v as a statement parameter of column c to out, with its
 * NUL. Returns 1, 0 for SQL NULL (nothing appended), or -1 on OOM. */
static int param_text(const struct pg_column *c, const json_t *v, struct json_text *out)
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

struct pg_row *pg_row_new(const struct pg_table *t, const json_t *json, const char *raw_col,
                          const char *raw)
{
    static struct json_text vals; /* loop thread only */
    static const char slot[FENCE_TEXT];
    int off[PG_MAX_COLS] = {0}, n = pg_schema_ncols(t), failed = 0, fc = pg_schema_fence_col(t);
    unsigned mask = 0;
    vals.len = 0;
    if (fc >= 0) failed = json_text_put(&vals, slot, sizeof slot) < 0;
    for (int i = 0; i < n && !failed; i++) {
        size_t at = vals.len;
        int got;
        if (i == fc) { /* always written: the slot, filled in below */
            mask |= 1u << i;
            off[i] = 0;
            continue;
        }
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
    struct pg_row *r = failed ? NULL : malloc(sizeof *r + vals.len);
    if (!r) return NULL;
    *r = (struct pg_row){.t = t, .bytes = vals.len, .mask = mask, .text = r->own_text};
    memcpy(r->off, off, sizeof off);
    memcpy(r->text, vals.data, vals.len);
    if (fc >= 0) row_set_fence(r, json_fence(json));
    return r;
}

int pg_row_same_key(const struct pg_row *a, const struct pg_row *b)
{
    for (int i = 0; i < a->t->nkey; i++) {
        const char *x = pg_row_col(a, i), *y = pg_row_col(b, i);
        if (!x || !y || strcmp(x, y) != 0) return 0;
    }
    return 1;
}

/* "table\x1fkey1\x1fkey2" in out (at least 256 bytes), or 0 when a key column is NULL or too
 * long (such a row is never coalesced). */
static int row_key(const struct pg_row *r, char *out, size_t size)
{
    size_t at = strlen(r->t->name);
    memcpy(out, r->t->name, at);
    for (int i = 0; i < r->t->nkey; i++) {
        const char *k = pg_row_col(r, i);
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
static void row_free(struct pg_row *r)
{
    char key[256];
    if (r->t->upsert && q.latest && row_key(r, key, sizeof key) && hmap_get(q.latest, key) == r)
        hmap_del(q.latest, key);
    if (r->text != r->own_text) free(r->text);
    free(r);
}

/* The row whose column i a merge of into and later keeps: later's when it has the column. */
static const struct pg_row *merge_source(const struct pg_row *into, const struct pg_row *later,
                                         int i)
{
    return later->mask & (1u << i) ? later : into;
}

/* Folds the newer row `later` of the same upsert key into the queued row `into`: the columns
 * of later win, those only into has stay. Writing the result once is what writing both in
 * order would leave in the table (an upsert sets only the columns it has). Returns 0, or -1 on
 * OOM (nothing changed). The player row of an agent changes with every game it plays, and a
 * game's row three times per game: without this, most of a busy queue's upserts were rewrites
 * of one row, each needing a statement of its own (a statement may touch a row once). */
static int coalesce(struct pg_row *into, const struct pg_row *later)
{
    int n = pg_schema_ncols(into->t), off[PG_MAX_COLS], fc = pg_schema_fence_col(into->t);
    size_t slot = fc >= 0 ? FENCE_TEXT : 0, len = slot;
    for (int i = 0; i < n; i++) {
        const char *v = i == fc ? NULL : pg_row_col(merge_source(into, later, i), i);
        if (v) len += strlen(v) + 1;
    }
    char *text = malloc(len ? len : 1), *at = text + slot;
    if (!text) return -1;
    for (int i = 0; i < n; i++) {
        const char *v = i == fc ? NULL : pg_row_col(merge_source(into, later, i), i);
        off[i] = i == fc ? 0 : v ? (int)(at - text) : -1;
        if (!v) continue;
        size_t vlen = strlen(v) + 1;
        memcpy(at, v, vlen);
        at += vlen;
    }
    if (into->text != into->own_text) free(into->text);
    q.bytes = q.bytes - into->bytes + len;
    into->text = text;
    into->bytes = len;
    into->mask |= later->mask;
    memcpy(into->off, off, sizeof off);
    if (fc >= 0) row_set_fence(into, into->fence > later->fence ? into->fence : later->fence);
    return 0;
}

/* ---- the queue ---- */

int pg_queue_open(void)
{
    memset(&q, 0, sizeof q);
    q.latest = hmap_new();
    q.fences = hmap_new();
    m_fenced = metrics_counter("store_fenced_writes_total",
                               "Rows dropped because PostgreSQL refused their game's fence: "
                               "another instance owns the game now",
                               "table");
    m_dropped = metrics_counter("store_rows_dropped_total",
                                "Rows the store gave up on (rejected by the database, or the "
                                "queue was full)",
                                "table");
    m_queue = metrics_gauge("store_queue_rows", "Rows waiting to be written to the database", NULL);
    m_journal = metrics_gauge("store_journal_bytes",
                              "Bytes of the local journal of rows the database may not have yet "
                              "(bounded by --spill-max-mb)",
                              NULL);
    return q.latest && q.fences && m_fenced && m_dropped && m_queue && m_journal ? 0 : -1;
}

void pg_queue_close(void)
{
    q.full_reported = 0;
    pg_queue_pop((int)q.rows);
    hmap_free(q.latest);
    q.latest = NULL;
    free_fences();
}

static void update_gauges(void)
{
    metric_set(m_queue, NULL, (double)q.rows);
    metric_set(m_journal, NULL, (double)pg_journal_bytes());
    if (q.full_reported && q.rows < QUEUE_ROWS * 9 / 10 && q.bytes < QUEUE_BYTES * 9 / 10) {
        log_msg(LOG_INFO, "store queue has room again", "{sI}", "queued", (json_int_t)q.rows);
        q.full_reported = 0;
    }
}

static void drop_put(const char *table, const struct pg_table *t, const char *why)
{
    log_msg(LOG_ERROR, "store: row dropped", "{ss,ss}", "table", table, "error", why);
    metric_add(m_dropped, t ? t->name : "unknown", 1);
}

/* Appends a queued row to the local journal (pg_journal.h), as the JSON text of the whole row. */
static void journal(uint64_t seq, const char *table, const json_t *row, const char *raw_col,
                    const char *raw)
{
    size_t len = 0;
    const char *text =
        raw_col ? json_text_scratch_with(row, raw_col, raw, &len) : json_text_scratch(row, &len);
    pg_journal_append(seq, table, text, len);
}

/* Appends r (not yet counted) to the queue, as the latest of its key when keyed. */
static void append(struct pg_row *r, const char *key)
{
    if (q.tail)
        q.tail->next = r;
    else
        q.head = r;
    q.tail = r;
    q.rows++;
    q.bytes += r->bytes;
    /* Without an entry (OOM), the key's rows are simply not coalesced; a stale entry would
     * fold a later row into an earlier one past this one. */
    if (key && hmap_put(q.latest, key, r) < 0) hmap_del(q.latest, key);
    update_gauges();
}

/* A fenced table's row r being put: it takes the fence held for its game, which the journal's
 * copy (row) says too. Returns 1 when r is not to be queued: PostgreSQL refused the game's
 * fence (counted). */
static int fence_put(const struct pg_table *t, struct pg_row *r, json_t *row)
{
    if (pg_schema_fence_col(t) < 0) return 0;
    const struct held_fence *h = held_fence(pg_row_col(r, 0));
    if (h && h->stale) {
        metric_add(m_fenced, t->name, 1);
        return 1;
    }
    pg_row_refence(r);
    if (r->fence) json_object_set_new(row, "fence", json_integer((json_int_t)r->fence));
    return 0;
}

int pg_queue_put(const char *table, json_t *row, const char *raw_col, const char *raw)
{
    const struct pg_table *t = pg_schema_table(table);
    struct pg_row *r = t && row ? pg_row_new(t, row, raw_col, raw) : NULL;
    if (!r) {
        drop_put(table, t,
                 !t     ? "unknown table"
                 : !row ? "no row (json_pack failed)"
                        : "out of memory");
        json_decref(row);
        return 0;
    }
    if (fence_put(t, r, row)) {
        json_decref(row);
        free(r);
        return 0;
    }
    char key[256];
    int keyed = t->upsert && q.latest && row_key(r, key, sizeof key);
    struct pg_row *last = keyed ? hmap_get(q.latest, key) : NULL;
    if (last && !last->taken && coalesce(last, r) == 0) {
        journal(last->seq, table, row, raw_col, raw);
        json_decref(row);
        free(r);
        update_gauges();
        return 0; /* the row it joined is queued, and its flush already asked for */
    }
    if (q.rows >= QUEUE_ROWS || q.bytes + r->bytes > QUEUE_BYTES) {
        if (!q.full_reported)
            drop_put(table, t, "the write queue is full (logged once)");
        else
            metric_add(m_dropped, t->name, 1);
        q.full_reported = 1;
        json_decref(row);
        free(r);
        return 0;
    }
    r->seq = ++q.last_seq;
    journal(r->seq, table, row, raw_col, raw);
    json_decref(row);
    append(r, keyed ? key : NULL);
    return 1;
}

struct pg_row *pg_queue_head(void)
{
    return q.head;
}

const struct pg_row *pg_queue_first_untaken(void)
{
    const struct pg_row *r = q.head;
    while (r && r->taken)
        r = r->next;
    return r;
}

size_t pg_queue_rows(void)
{
    return q.rows;
}

uint64_t pg_queue_last_seq(void)
{
    return q.last_seq;
}

int pg_queue_below_bound(void)
{
    return q.rows < QUEUE_ROWS && q.bytes < QUEUE_BYTES;
}

int pg_queue_accepting(void)
{
    return q.rows < QUEUE_ROWS / 10 * 9 && q.bytes < QUEUE_BYTES / 10 * 9 && !pg_journal_full();
}

/* ---- leaving the queue ---- */

/* Unlinks r (after prev, or the head) and frees it. */
static void unlink_row(struct pg_row *prev, struct pg_row *r)
{
    if (prev)
        prev->next = r->next;
    else
        q.head = r->next;
    if (q.tail == r) q.tail = prev;
    q.rows--;
    q.bytes -= r->bytes;
    row_free(r);
}

/* Rows left the queue: the journal lets go of everything before the head. */
static void released(void)
{
    pg_journal_released(q.head ? q.head->seq - 1 : q.last_seq);
    forget_fences();
    update_gauges();
}

void pg_queue_pop(int n)
{
    while (n-- > 0 && q.head)
        unlink_row(NULL, q.head);
    released();
}

/* The rows of a gathered batch all lie within the part of the queue gather looked at: one walk
 * down it finds them. */
void pg_queue_pop_taken(int n)
{
    struct pg_row *prev = NULL, *r = q.head;
    while (r && n > 0) {
        struct pg_row *next = r->next;
        if (r->taken) {
            unlink_row(prev, r);
            n--;
        } else {
            prev = r;
        }
        r = next;
    }
    released();
}

void pg_queue_drop_head(const char *why)
{
    const struct pg_row *r = q.head;
    char key[256] = "";
    for (int i = 0; i < r->t->nkey; i++) {
        const char *k = pg_row_col(r, i);
        size_t len = strlen(key);
        snprintf(key + len, sizeof key - len, "%s%s", i ? "/" : "", k ? k : "null");
    }
    log_msg(LOG_ERROR, "store: row dropped", "{ss,ss,ss}", "table", r->t->name, "key", key, "error",
            why);
    metric_add(m_dropped, r->t->name, 1);
    pg_queue_pop(1);
}

/* ---- batches ---- */

/* Whether one of the n rows from first has the key of r: an upsert may not touch a row twice
 * in one statement. Quadratic, but only for upserts, whose runs are short. */
static int repeats_key(const struct pg_row *first, int n, const struct pg_row *r)
{
    if (!r->t->upsert) return 0;
    for (; n > 0; n--, first = first->next)
        if (pg_row_same_key(first, r)) return 1;
    return 0;
}

int pg_queue_run(int limit)
{
    const struct pg_row *head = q.head, *r = head;
    size_t bytes = 0;
    int n = 0;
    for (; r && n < limit && r->t == head->t && r->mask == head->mask; r = r->next, n++) {
        if (n > 0 && (bytes + r->bytes > BATCH_BYTES || repeats_key(head, n, r))) break;
        bytes += r->bytes;
    }
    return n;
}

/* Whether r must wait behind one of the rows left behind (blocked) or already taken (out):
 * an earlier row of its key, or of another table the games row of its game. */
static int must_wait(const struct pg_row *r, const struct pg_row *const *blocked, int nblocked,
                     struct pg_row *const *out, int n)
{
    for (int i = 0; i < nblocked; i++) {
        const struct pg_row *b = blocked[i];
        if (b->t == r->t ? pg_row_same_key(b, r)
                         : pg_row_col(r, 0) && pg_row_col(b, 0) &&
                               strcmp(pg_row_col(r, 0), pg_row_col(b, 0)) == 0)
            return 1;
    }
    for (int i = 0; i < n && r->t->upsert; i++)
        if (pg_row_same_key(out[i], r)) return 1;
    return 0;
}

/* Rows of many games interleave in the queue, so runs of one table are short: gathering takes
 * the head's kind of row from further down. */
int pg_queue_gather(const struct pg_row *head, struct pg_row **out)
{
    const struct pg_row *blocked[MAX_BLOCKED];
    int nblocked = 0, n = 0, fk = pg_schema_has_game_fk(head->t);
    int results = strcmp(head->t->name, "game_results") == 0;
    size_t bytes = 0;
    for (const struct pg_row *r = head; r && n < BATCH_ROWS; r = r->next) {
        if (r->taken) continue; /* in an earlier statement of this round: it runs first */
        if (results && r->t != head->t && strcmp(r->t->name, "players") == 0)
            break; /* a result's players exist before it applies (the trigger updates them) */
        if (r->t == head->t && r->mask == head->mask && !must_wait(r, blocked, nblocked, out, n) &&
            (n == 0 || bytes + r->bytes <= BATCH_BYTES)) {
            bytes += r->bytes;
            out[n++] = (struct pg_row *)r;
            continue;
        }
        /* What stays behind may hold back later rows: its key (upserts), its game (children). */
        int holds = (fk && strcmp(r->t->name, "games") == 0) || (r->t == head->t && r->t->upsert);
        if (holds && nblocked == MAX_BLOCKED) break; /* too much to track: stop */
        if (holds) blocked[nblocked++] = r;
    }
    for (int i = 0; i < n; i++) {
        out[i]->taken = 1;
        pg_row_refence(out[i]);
    }
    return n;
}

/* ---- fenced off ---- */

int pg_queue_drop_game(const char *game_id, const char *why)
{
    struct pg_row *prev = NULL, *r = q.head;
    int n = 0;
    while (r) {
        struct pg_row *next = r->next;
        const char *game = pg_row_col(r, 0);
        if (!r->taken && pg_schema_fence_col(r->t) >= 0 && game && strcasecmp(game, game_id) == 0) {
            metric_add(m_fenced, r->t->name, 1);
            unlink_row(prev, r);
            n++;
        } else {
            prev = r;
        }
        r = next;
    }
    struct held_fence *h = held_fence(game_id);
    if (h) h->stale = 1;
    if (n)
        log_msg(LOG_ERROR, "stale fence: this instance no longer owns the game", "{ss,si,ss}",
                "game", game_id, "rows", n, "error", why);
    released();
    return n;
}
