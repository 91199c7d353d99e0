/* store_log.c - the embedded store: one append-only, checksummed log file under --data-dir.
 *
 * Why a log and not an embedded database: every write the server makes is an append of a fact
 * (a row keyed as store.h lists), the natural unit of crash safety is one line, and reading it
 * all back at start-up is how the server rebuilds its indexes anyway. A line is
 *
 *     <crc32 of the JSON, 8 hex digits> <space> {"t": table, "r": row} <newline>
 *
 * written by one writer thread (log_writer.h), so the loop never waits for the disk. Records
 * reach the kernel within a few milliseconds (and at once when a game ends, store_flush), which
 * is what survives kill -9; fdatasync follows at most every 100 ms for power loss. At start-up a
 * torn or corrupt tail (the last line of a crash) is cut off, and games that were still waiting or
 * active when the process died are named to the server (the "unfinished_games" rows of
 * store_on_load), which rebuilds them from their records or closes them as aborted: never left
 * half-written.
 *
 * Compaction (compact.h decides what is live) rewrites the file without superseded rows: only
 * at start-up, before the writer thread exists, or offline (`monkeytown compact`), both under
 * the file's lock, never under a running writer. The new file is written beside the old one
 * (monkeytown.log.compact), synced, renamed over it and the directory synced, so a crash
 * leaves either the old log or the new one whole; a leftover .compact file is an interrupted
 * compaction and is removed at the next open. */
#include "store.h"

#include "compact.h"
#include "hmap.h"
#include "json_text.h"
#include "log.h"
#include "log_writer.h"
#include "loop.h"
#include "record.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct offsets {
    off_t *at;
    size_t n, cap;
};

static int fd = -1;
static char path[1100];
static char tmp_path[1120]; /* where a compaction writes the new log before the rename */
static off_t file_end;      /* where the next record lands: written bytes plus buffered bytes */
static size_t records;
static struct hmap *by_game;     /* game id -> struct offsets of every record of that game */
static struct hmap *by_version;  /* script version id -> struct offsets (one record) */
static struct hmap *game_status; /* game id -> strdup'd status, during start-up only */

/* ---- indexes ---- */

static void index_record(struct hmap *m, const char *key, off_t at)
{
    struct offsets *o = hmap_get(m, key);
    if (!o) {
        o = calloc(1, sizeof *o);
        if (!o || hmap_put(m, key, o) < 0) {
            free(o);
            return;
        }
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        off_t *grown = realloc(o->at, cap * sizeof *grown);
        if (!grown) return;
        o->at = grown;
        o->cap = cap;
    }
    o->at[o->n++] = at;
}

static void index_row(const char *table, json_t *row, off_t at)
{
    const char *game =
        json_string_value(json_object_get(row, strcmp(table, "games") == 0 ? "id" : "game_id"));
    if (game) index_record(by_game, game, at);
    if (strcmp(table, "script_versions") == 0 && json_string_value(json_object_get(row, "id")))
        index_record(by_version, json_string_value(json_object_get(row, "id")), at);
}

static void free_status(const char *key, void *v, void *arg)
{
    free(v);
}

static void free_offsets(const char *key, void *v, void *arg)
{
    struct offsets *o = v;
    free(o->at);
    free(o);
}

/* ---- liveness, tracked while the log is replayed at open ---- */

/* What a compaction does with each line of the log, by line number. */
enum { MARK_COPY, MARK_DROP, MARK_FOLD, MARK_LAST };

struct last_of_key {
    size_t line, len;
};

static struct {
    int on;
    struct hmap *last; /* compact_key -> struct last_of_key, the key's newest record */
    uint8_t *mark;     /* one per line read */
    size_t n, cap;
    long dead;
    long long dead_bytes;
} trk;

static void track_free(const char *key, void *v, void *arg)
{
    free(v);
}

static void track_reset(void)
{
    hmap_free_values(trk.last, track_free);
    free(trk.mark);
    trk = (typeof(trk)){0};
}

/* Marks the superseded record of row's key (if any) to be folded into this one; or, for a
 * version, this record to be dropped when its key was stored before. */
static void track_row(const char *table, json_t *row, size_t line, size_t len)
{
    char key[512];
    enum compact_kind kind = compact_kind(table);
    if (kind == COMPACT_KEEP || compact_key(table, row, key, sizeof key) < 0) return;
    struct last_of_key *prev = hmap_get(trk.last, key);
    if (prev && kind == COMPACT_FIRST) { /* written again: the first record stands */
        trk.mark[line] = MARK_DROP;
        trk.dead++;
        trk.dead_bytes += (long long)len;
        return;
    }
    if (!prev) {
        prev = malloc(sizeof *prev);
        if (!prev || hmap_put(trk.last, key, prev) < 0) {
            free(prev); /* untracked: its records are all kept, which is safe */
            return;
        }
    } else {
        trk.mark[prev->line] = MARK_FOLD;
        trk.dead++;
        trk.dead_bytes += (long long)prev->len;
        trk.mark[line] = MARK_LAST;
    }
    prev->line = line;
    prev->len = len;
}

/* Records one line read at open: row NULL is a damaged line (dropped by a compaction). */
static void track_line(const char *table, json_t *row, size_t len)
{
    if (!trk.on) return;
    if (trk.n == trk.cap) {
        size_t cap = trk.cap ? trk.cap * 2 : 4096;
        uint8_t *grown = realloc(trk.mark, cap);
        if (!grown) { /* without marks nothing can be compacted: stop tracking */
            track_reset();
            return;
        }
        trk.mark = grown;
        trk.cap = cap;
    }
    size_t line = trk.n++;
    trk.mark[line] = MARK_COPY;
    if (!row) {
        trk.mark[line] = MARK_DROP;
        trk.dead++;
        trk.dead_bytes += (long long)len;
        return;
    }
    track_row(table, row, line, len);
}

/* ---- writing ---- */

/* Table names are the store's own identifiers (letters and underscores): no escaping. */
static void log_put_text(const char *table, json_t *row, const char *text, size_t len);

static void log_put(const char *table, json_t *row)
{
    size_t len = 0;
    const char *text = store_readonly() ? NULL : json_text_scratch(row, &len);
    log_put_text(table, row, text, len);
}

static void log_put_json(const char *table, json_t *row, const char *column, const char *json)
{
    size_t len = 0;
    const char *text = store_readonly() ? NULL : json_text_scratch_with(row, column, json, &len);
    log_put_text(table, row, text, len);
}

/* Appends the record of row, whose text is text (NULL: nothing to write). Takes row. */
static void log_put_text(const char *table, json_t *row, const char *text, size_t len)
{
    if (!text) {
        json_decref(row);
        return;
    }
    off_t at = file_end;
    size_t n = log_writer_append(table, text, len);
    if (n) {
        file_end += (off_t)n;
        records++;
    }
    index_row(table, row, at);
    json_decref(row);
}

/* Every record put so far is in the kernel when this returns (log_writer_barrier). */
static void log_barrier(void)
{
    if (fd >= 0) log_writer_barrier();
}

/* ---- reading ---- */

static void note_status(const char *table, json_t *row)
{
    if (strcmp(table, "games") != 0) return;
    const char *id = json_string_value(json_object_get(row, "id"));
    const char *status = json_string_value(json_object_get(row, "status"));
    if (!id || !status) return;
    free(hmap_del(game_status, id));
    hmap_put(game_status, id, strdup(status));
}

/* Reads the whole log, delivering rows to the loaders. A bad last line is a torn write and is
 * cut off; a bad line with good lines after it (a damaged disk block) is skipped and reported,
 * never used to throw away what follows. */
static int replay_file(int ro, int deliver)
{
    lseek(fd, 0, SEEK_SET); /* the dup shares the offset */
    FILE *f = fdopen(dup(fd), "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    off_t at = 0, good_end = 0;
    long skipped = 0, pending_bad = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *rec = line[n - 1] == '\n' ? record_parse(line, (size_t)n - 1) : NULL;
        track_line(rec ? json_string_value(json_object_get(rec, "t")) : NULL,
                   rec ? json_object_get(rec, "r") : NULL, (size_t)n);
        if (!rec) {
            pending_bad++;
            at += n;
            continue;
        }
        skipped += pending_bad;
        pending_bad = 0;
        const char *table = json_string_value(json_object_get(rec, "t"));
        json_t *row = json_object_get(rec, "r");
        index_row(table, row, at);
        note_status(table, row);
        if (deliver) store_deliver_loaded(table, row);
        json_decref(rec);
        at += n;
        good_end = at;
        records++;
    }
    free(line);
    fclose(f);
    if (skipped)
        log_msg(LOG_ERROR, "store: skipped damaged records inside the log", "{ss,sI}", "file", path,
                "records", (json_int_t)skipped);
    if (good_end < at && !ro) {
        log_msg(LOG_WARN, "store: cutting a torn tail (a crash mid-write)", "{ss,sI,sI}", "file",
                path, "kept", (json_int_t)good_end, "dropped", (json_int_t)(at - good_end));
        if (ftruncate(fd, good_end) < 0) return -1;
    }
    lseek(fd, good_end, SEEK_SET);
    file_end = good_end;
    return 0;
}

/* Games the last process left waiting or active are named to the server, which rebuilds them
 * (restore.c) or closes them as aborted. */
static void name_unfinished(const char *id, void *status, void *arg)
{
    if (strcmp(status, "waiting") != 0 && strcmp(status, "active") != 0) return;
    json_t *row = json_pack("{ss}", "id", id);
    store_deliver_loaded("unfinished_games", row);
    json_decref(row);
    (*(int *)arg)++;
}

static json_t *read_record(off_t at)
{
    char head[64 * 1024];
    char *line = head;
    size_t cap = sizeof head;
    for (;;) {
        ssize_t n = pread(fd, line, cap, at);
        if (n <= 0) break;
        char *nl = memchr(line, '\n', (size_t)n);
        if (nl) {
            json_t *rec = record_parse(line, (size_t)(nl - line));
            if (line != head) free(line);
            return rec;
        }
        if ((size_t)n < cap) break;
        char *bigger = malloc(cap * 4);
        if (!bigger) break;
        if (line != head) free(line);
        line = bigger;
        cap *= 4;
    }
    if (line != head) free(line);
    return NULL;
}

static void log_load_game(const char *game_id, void (*done)(json_t *, void *), void *arg)
{
    log_writer_now();
    struct offsets *o = hmap_get(by_game, game_id);
    if (!o) {
        done(NULL, arg);
        return;
    }
    json_t *game = NULL, *parts = json_object(), *events = json_array(), *inputs = json_array();
    for (size_t i = 0; i < o->n; i++) {
        json_t *rec = read_record(o->at[i]);
        if (!rec) continue;
        const char *t = json_string_value(json_object_get(rec, "t"));
        json_t *row = json_object_get(rec, "r");
        if (strcmp(t, "games") == 0) {
            if (!game)
                game = json_deep_copy(row);
            else
                json_object_update(game, row); /* later rows upsert earlier ones */
        } else if (strcmp(t, "game_participants") == 0) {
            char seat[16];
            snprintf(seat, sizeof seat, "%lld",
                     (long long)json_integer_value(json_object_get(row, "seat")));
            json_object_set(parts, seat, row);
        } else if (strcmp(t, "game_events") == 0) {
            json_array_append(events, row);
        } else if (strcmp(t, "game_inputs") == 0) {
            json_array_append(inputs, row);
        }
        json_decref(rec);
    }
    if (!game) {
        json_decref(parts);
        json_decref(events);
        json_decref(inputs);
        done(NULL, arg);
        return;
    }
    json_t *plist = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(parts, k, v) json_array_append(plist, v);
    json_decref(parts);
    json_object_set_new(game, "participants", plist);
    json_object_set_new(game, "events", events);
    json_object_set_new(game, "inputs", inputs);
    const char *version = json_string_value(json_object_get(game, "version"));
    struct offsets *vo = version ? hmap_get(by_version, version) : NULL;
    json_t *vrec = vo && vo->n ? read_record(vo->at[0]) : NULL;
    if (vrec) json_object_set(game, "script_version", json_object_get(vrec, "r"));
    json_decref(vrec);
    done(game, arg);
    json_decref(game);
}

static int log_healthy(json_t *out)
{
    json_object_set_new(out, "file", json_string(path));
    json_object_set_new(out, "bytes", json_integer((json_int_t)file_end));
    json_object_set_new(out, "records", json_integer((json_int_t)records));
    if (log_writer_failed())
        json_object_set_new(out, "lastError", json_string("a write to the log failed"));
    return fd >= 0 && !log_writer_failed();
}

static int log_accepting(void)
{
    return !log_writer_failed();
}

/* ---- compaction (at open, before the writer exists) ---- */

static int write_all(int out, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(out, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Folds one superseded or newest upsert record into its key's state in stash; at the newest
 * (last), appends the folded row to ob. Returns 0, or -1 on OOM. */
static int fold_line(struct hmap *stash, struct log_writer_buf *ob, const char *line, size_t len,
                     int last)
{
    json_t *rec = record_parse(line, len);
    if (!rec) return 0; /* it parsed at open: cannot happen, and dropping it loses nothing new */
    const char *table = json_string_value(json_object_get(rec, "t"));
    json_t *row = json_object_get(rec, "r");
    char key[512];
    int rc = 0;
    if (compact_key(table, row, key, sizeof key) == 0) {
        json_t *state = hmap_get(stash, key);
        if (state)
            compact_fold(compact_kind(table), state, row);
        else if (hmap_put(stash, key, json_incref(row)) < 0)
            rc = -1, json_decref(row);
        if (last && rc == 0) {
            state = hmap_del(stash, key);
            size_t tlen;
            const char *text = json_text_scratch(state, &tlen);
            if (!text || !log_writer_append_line(ob, table, text, tlen)) rc = -1;
            json_decref(state);
        }
    }
    json_decref(rec);
    return rc;
}

static void stash_free(const char *key, void *v, void *arg)
{
    json_decref(v);
}

/* Writes the live records of the log (as marked at open) to out, in the log's order. */
static int write_live(int out)
{
    lseek(fd, 0, SEEK_SET);
    FILE *in = fdopen(dup(fd), "r");
    struct hmap *stash = hmap_new();
    struct log_writer_buf ob = {0};
    char *line = NULL;
    size_t cap = 0, i = 0;
    ssize_t n;
    int rc = in && stash ? 0 : -1;
    while (rc == 0 && (n = getline(&line, &cap, in)) > 0) {
        int mark = i < trk.n ? trk.mark[i] : MARK_DROP;
        i++;
        if (mark == MARK_COPY && line[n - 1] == '\n') { /* a good line: its bytes as they are */
            if (log_writer_reserve(&ob, (size_t)n) < 0)
                rc = -1;
            else
                memcpy(ob.data + ob.len, line, (size_t)n), ob.len += (size_t)n;
        } else if (mark == MARK_FOLD || mark == MARK_LAST) {
            rc = fold_line(stash, &ob, line, (size_t)n - 1, mark == MARK_LAST);
        }
        if (rc == 0 && ob.len >= (1u << 20)) {
            rc = write_all(out, ob.data, ob.len);
            ob.len = 0;
        }
    }
    if (rc == 0 && ob.len) rc = write_all(out, ob.data, ob.len);
    if (rc == 0 && in && ferror(in)) rc = -1;
    free(line);
    free(ob.data);
    if (in) fclose(in);
    hmap_free_values(stash, stash_free);
    return rc;
}

/* Makes the rename durable: without it a power loss could bring back the old name's entry. */
static int sync_dir(void)
{
    char dir[sizeof path];
    util_strlcpy(dir, path, sizeof dir);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -1;
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

/* Replaces the log with its live records. The old file is never written: until the rename the
 * log is the old one, whole; the new one is complete and synced before the rename makes it the
 * log (rename(2) is atomic), so a crash at any point leaves one of the two. The new file is
 * locked before it is renamed, so the lock on the path never lapses. Returns 0, or -1 with
 * the old log still in place and open. */
static int compact_now(void)
{
    int out = open(tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0 || flock(out, LOCK_EX | LOCK_NB) < 0 || write_live(out) < 0 || fsync(out) < 0 ||
        rename(tmp_path, path) < 0) {
        log_msg(LOG_ERROR, "store: compaction failed, the log is kept as it was", "{ss,ss}", "file",
                tmp_path, "error", strerror(errno));
        unlink(tmp_path);
        if (out >= 0) close(out);
        return -1;
    }
    if (sync_dir() < 0)
        log_msg(LOG_WARN, "store: cannot sync the data directory after compacting", "{ss,ss}",
                "file", path, "error", strerror(errno));
    close(fd); /* its lock goes with it: out holds the one on the path now */
    fd = out;
    return 0;
}

/* Frees the indexes built from the log. */
static void indexes_free(void)
{
    hmap_free_values(by_game, free_offsets);
    hmap_free_values(by_version, free_offsets);
    hmap_free_values(game_status, free_status);
    by_game = by_version = game_status = NULL;
}

/* Empties the indexes built from the log (before reading a compacted one again). */
static void indexes_reset(void)
{
    indexes_free();
    by_game = hmap_new();
    by_version = hmap_new();
    game_status = hmap_new();
    records = 0;
}

/* Compacts the log just replayed when cfg says it is due, then indexes the new file (the loaders
 * already have its rows: compaction keeps each key's final state, which is what they ended with).
 * Returns 0 (also when the compaction failed and the old log stays), or -1 when the new file cannot
 * be read back. */
static int compact_if_due(const struct config *cfg)
{
    long long before = (long long)file_end;
    size_t lines = records;
    if (!trk.on || !compact_due(trk.dead, trk.dead_bytes, before, cfg->compact_dead_records,
                                cfg->compact_dead_percent))
        return 0;
    double t0 = loop_wall_ms();
    long dead = trk.dead;
    int rc = compact_now();
    track_reset();
    if (rc < 0) return 0;
    indexes_reset();
    if (replay_file(0, 0) < 0) return -1;
    log_msg(LOG_INFO, "store log compacted", "{ss,sI,sI,sI,sI,sI,sf}", "file", path, "bytes_before",
            (json_int_t)before, "bytes_after", (json_int_t)file_end, "records_before",
            (json_int_t)lines, "records_after", (json_int_t)records, "dropped", (json_int_t)dead,
            "ms", loop_wall_ms() - t0);
    return 0;
}

/* Opens and locks the log. The lock is taken on the file the path names now: a compaction
 * by the previous holder may have renamed a new file over the one this process opened. A
 * leftover .compact file is an interrupted compaction (the rename never happened, so the log
 * is the old one, whole): it is removed. */
static int open_locked(const struct config *cfg, int ro)
{
    snprintf(path, sizeof path, "%s/monkeytown.log", cfg->data_dir);
    snprintf(tmp_path, sizeof tmp_path, "%s.compact", path);
    for (int tries = 0; tries < 8; tries++) {
        fd = open(path, (ro ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0600);
        if (fd < 0) {
            log_msg(LOG_ERROR, "cannot open the store log", "{ss,ss}", "file", path, "error",
                    strerror(errno));
            return -1;
        }
        if (ro) return 0;
        /* One writer per log: a second server on the same --data-dir would interleave records. */
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            log_msg(LOG_ERROR, "the store log is in use by another process", "{ss}", "file", path);
            close(fd);
            fd = -1;
            return -1;
        }
        struct stat held, named;
        if (fstat(fd, &held) == 0 && stat(path, &named) == 0 && held.st_ino == named.st_ino &&
            held.st_dev == named.st_dev)
            break;
        close(fd); /* locked a file that has just been replaced: take the new one */
        fd = -1;
    }
    if (fd < 0) return -1;
    if (unlink(tmp_path) == 0)
        log_msg(LOG_WARN, "store: removed an interrupted compaction", "{ss}", "file", tmp_path);
    return 0;
}

static int log_open(const struct config *cfg)
{
    int ro = store_readonly();
    if (open_locked(cfg, ro) < 0) return -1;
    by_game = hmap_new();
    by_version = hmap_new();
    game_status = hmap_new();
    trk.on = !ro && (trk.last = hmap_new()) != NULL;
    int rc = replay_file(ro, 1);
    if (rc == 0) rc = compact_if_due(cfg);
    track_reset();
    if (rc < 0) return -1;
    if (ro) return 0;
    if (log_writer_start(fd) < 0) return -1;
    int unfinished = 0;
    hmap_each(game_status, name_unfinished, &unfinished);
    log_msg(LOG_INFO, "store log replayed", "{ss,sI,si}", "file", path, "records",
            (json_int_t)records, "unfinished_games", unfinished);
    return 0;
}

static void log_close(void)
{
    if (fd < 0) return;
    log_writer_stop(); /* every record written and synced */
    close(fd);
    fd = -1;
    records = 0;
    file_end = 0;
    indexes_free();
}

const struct store_backend store_log_backend = {
    .name = "embedded",
    .open = log_open,
    .put = log_put,
    .put_json = log_put_json,
    .flush = log_writer_flush,
    .barrier = log_barrier,
    .load_game = log_load_game,
    .healthy = log_healthy,
    .accepting = log_accepting,
    .close = log_close,
};

int store_compact_command(const struct config *cfg)
{
    if (open_locked(cfg, 0) < 0) return 1;
    by_game = hmap_new();
    by_version = hmap_new();
    game_status = hmap_new();
    trk.on = (trk.last = hmap_new()) != NULL;
    long long before = 0;
    size_t lines = 0;
    int rc = replay_file(0, 0);
    if (rc == 0 && trk.dead) {
        before = (long long)file_end;
        lines = records;
        rc = compact_now();
        if (rc == 0) { /* count what is left */
            indexes_reset();
            rc = replay_file(0, 0);
        }
    } else if (rc == 0) {
        before = (long long)file_end;
        lines = records;
    }
    track_reset();
    if (rc == 0)
        printf("compacted %s: %lld -> %lld bytes, %zu -> %zu records\n", path, before,
               (long long)file_end, lines, records);
    log_close();
    return rc == 0 ? 0 : 1;
}
