#include "pg_journal.h"

#include "log.h"
#include "record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEGMENT_BYTES (8u << 20) /* a segment goes once every row in it is committed */
#define WRITE_AT (1u << 20)      /* buffered bytes written even without a barrier */
#define EMPTY_AT (1u << 20)      /* a released journal is emptied once it holds this much */
#define PREFIX "pg-journal."

struct segment {
    unsigned n;
    uint64_t last_seq, bytes;
};

static struct {
    char dir[1024];
    int fd; /* the segment being written, O_APPEND */
    struct segment cur;
    struct segment *closed; /* oldest first */
    size_t nclosed, capclosed;
    unsigned *old; /* segments of the previous process, until pg_journal_replayed */
    size_t nold;
    char *buf; /* appended, not yet written */
    size_t len, cap;
    uint64_t bytes, max_bytes, last_seq, released;
    int failed;
} j = {.fd = -1};

static void seg_path(char *out, size_t len, unsigned n)
{
    snprintf(out, len, "%s/" PREFIX "%u", j.dir, n);
}

static void write_buffered(void)
{
    size_t off = 0;
    while (off < j.len) {
        ssize_t n = write(j.fd, j.buf + off, j.len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (!j.failed)
                log_msg(LOG_ERROR, "store: cannot write the PostgreSQL journal", "{ss,ss}", "dir",
                        j.dir, "error", strerror(errno));
            j.failed = 1;
            break;
        }
        off += (size_t)n;
    }
    j.len = 0;
}

static int open_segment(unsigned n)
{
    char path[1100];
    seg_path(path, sizeof path, n);
    j.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    j.cur = (struct segment){n, 0, 0};
    if (j.fd < 0)
        log_msg(LOG_ERROR, "store: cannot open the PostgreSQL journal", "{ss,ss}", "file", path,
                "error", strerror(errno));
    return j.fd < 0 ? -1 : 0;
}

static void rotate(void)
{
    write_buffered();
    if (j.nclosed == j.capclosed) {
        size_t cap = j.capclosed ? j.capclosed * 2 : 8;
        struct segment *p = realloc(j.closed, cap * sizeof *p);
        if (!p) return; /* keep writing the current one */
        j.closed = p;
        j.capclosed = cap;
    }
    j.closed[j.nclosed++] = j.cur;
    close(j.fd);
    open_segment(j.cur.n + 1);
}

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

/* The numbers of the segments in the directory, sorted (malloc'd). */
static unsigned *list_segments(size_t *n)
{
    DIR *d = opendir(j.dir);
    unsigned *out = NULL;
    size_t cap = 0;
    *n = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) != 0) continue;
        unsigned long v = strtoul(e->d_name + strlen(PREFIX), &end, 10);
        if (*end || v > 1000000000ul) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            unsigned *p = realloc(out, cap * sizeof *p);
            if (!p) break;
            out = p;
        }
        out[(*n)++] = (unsigned)v;
    }
    if (d) closedir(d);
    if (*n) qsort(out, *n, sizeof *out, cmp_unsigned);
    return out;
}

/* Hands each whole record of segment n to each; a torn last line (a crash mid-write) is
 * skipped. Returns the records read. */
static long read_segment(unsigned n, void (*each)(const char *, json_t *, void *), void *arg)
{
    char path[1100];
    seg_path(path, sizeof path, n);
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long count = 0, bad = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_t *rec = line[len - 1] == '\n' ? record_parse(line, (size_t)len - 1) : NULL;
        if (!rec) {
            bad++;
            continue;
        }
        each(json_string_value(json_object_get(rec, "t")), json_object_get(rec, "r"), arg);
        json_decref(rec);
        count++;
    }
    free(line);
    fclose(f);
    if (bad)
        log_msg(LOG_WARN, "store: skipped damaged lines of the PostgreSQL journal", "{ss,si}",
                "file", path, "lines", (int)bad);
    return count;
}

long pg_journal_open(const char *data_dir, uint64_t max_bytes,
                     void (*each)(const char *table, json_t *row, void *arg), void *arg)
{
    snprintf(j.dir, sizeof j.dir, "%s", data_dir);
    j.max_bytes = max_bytes;
    j.old = list_segments(&j.nold);
    unsigned next = j.nold ? j.old[j.nold - 1] + 1 : 1;
    if (open_segment(next) < 0) return -1;
    long count = 0;
    for (size_t i = 0; i < j.nold; i++)
        count += read_segment(j.old[i], each, arg);
    if (count)
        log_msg(LOG_WARN,
                "store: rows the last process had not written to PostgreSQL, queued again",
                "{si,si}", "rows", (int)count, "segments", (int)j.nold);
    return count;
}

void pg_journal_replayed(void)
{
    write_buffered();
    if (j.fd >= 0) fsync(j.fd);
    for (size_t i = 0; i < j.nold; i++) {
        char path[1100];
        seg_path(path, sizeof path, j.old[i]);
        unlink(path);
    }
    free(j.old);
    j.old = NULL;
    j.nold = 0;
}

void pg_journal_append(uint64_t seq, const char *table, const char *text, size_t len)
{
    if (j.fd < 0 || !text) return;
    size_t need = record_size(table, len);
    if (j.len + need > j.cap) {
        size_t cap = j.cap ? j.cap : 65536;
        while (cap < j.len + need)
            cap *= 2;
        char *p = realloc(j.buf, cap);
        if (!p) return;
        j.buf = p;
        j.cap = cap;
    }
    size_t n = record_write(j.buf + j.len, table, text, len);
    j.len += n;
    j.cur.bytes += n;
    j.bytes += n;
    if (seq > j.cur.last_seq) j.cur.last_seq = seq;
    if (seq > j.last_seq) j.last_seq = seq;
    if (j.cur.bytes >= SEGMENT_BYTES)
        rotate();
    else if (j.len >= WRITE_AT)
        write_buffered();
}

void pg_journal_released(uint64_t seq)
{
    j.released = seq;
    size_t keep = 0;
    for (size_t i = 0; i < j.nclosed; i++) {
        if (j.closed[i].last_seq <= seq) {
            char path[1100];
            seg_path(path, sizeof path, j.closed[i].n);
            unlink(path);
            j.bytes -= j.closed[i].bytes;
        } else {
            j.closed[keep++] = j.closed[i];
        }
    }
    j.nclosed = keep;
    /* Everything is committed: start the current segment over, once it is worth a syscall
     * (the rows it still holds are all in PostgreSQL, and replaying them is harmless). */
    if (seq >= j.last_seq && j.cur.bytes >= EMPTY_AT && j.fd >= 0 && ftruncate(j.fd, 0) == 0) {
        j.bytes -= j.cur.bytes;
        j.cur.bytes = 0;
        j.len = 0;
    }
}

void pg_journal_barrier(void)
{
    if (j.len && j.fd >= 0) write_buffered();
}

uint64_t pg_journal_bytes(void)
{
    return j.bytes;
}

int pg_journal_full(void)
{
    return j.max_bytes && j.bytes >= j.max_bytes;
}

void pg_journal_close(void)
{
    if (j.fd >= 0) {
        write_buffered();
        fsync(j.fd);
        close(j.fd);
        if (j.released >= j.last_seq) { /* PostgreSQL has every row: nothing to read back */
            char path[1100];
            for (size_t i = 0; i < j.nclosed; i++) {
                seg_path(path, sizeof path, j.closed[i].n);
                unlink(path);
            }
            seg_path(path, sizeof path, j.cur.n);
            unlink(path);
        }
    }
    free(j.closed);
    free(j.old);
    free(j.buf);
    j = (typeof(j)){.fd = -1};
}
