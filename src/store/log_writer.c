/* log_writer.c - the embedded store's writer thread (store_log.c): records buffered on the
 * loop thread, written by one thread of their own, synced at most every 100 ms. */
#include "log_writer.h"

#include "loop.h"
#include "record.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int out_fd = -1;
/* Bytes of records put since the log was opened (loop thread), and of those the kernel has
 * (the writing thread adds, under write_lock): log_writer_barrier compares them. */
static uint64_t appended, written;
static pthread_t writer;
static pthread_mutex_t buf_lock = PTHREAD_MUTEX_INITIALIZER, write_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct log_writer_buf pending;
static struct log_writer_buf spare; /* an emptied buffer the writer gave back, for the next chunk */
static int stopping, urgent, write_failed, writer_started;
static struct event *kick_ev; /* wakes the writer once per loop turn that put records */
static int kick_armed;

/* Makes room for need more bytes in b. Returns 0, or -1 on OOM. */
int log_writer_reserve(struct log_writer_buf *b, size_t need)
{
    if (!b->data && spare.data) { /* reuse the buffer the writer finished with */
        *b = spare;
        spare = (struct log_writer_buf){0};
    }
    need += b->len;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < need)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) return -1;
    b->data = grown;
    b->cap = cap;
    return 0;
}

/* Appends one record line (record.h). Returns the line's length, or 0 on OOM. */
size_t log_writer_append_line(struct log_writer_buf *b, const char *table, const char *row,
                              size_t rowlen)
{
    if (log_writer_reserve(b, record_size(table, rowlen)) < 0) return 0;
    size_t n = record_write(b->data + b->len, table, row, rowlen);
    b->len += n;
    return n;
}

/* Takes the buffered records and writes them. Called with buf_lock held; returns with it
 * released. write_lock is taken before buf_lock is let go, so chunks land in order. */
static void write_pending_locked(void)
{
    struct log_writer_buf chunk = pending;
    pending = (struct log_writer_buf){0};
    pthread_mutex_lock(&write_lock);
    pthread_mutex_unlock(&buf_lock);
    size_t off = 0;
    while (off < chunk.len) {
        ssize_t n = write(out_fd, chunk.data + off, chunk.len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            write_failed = 1;
            break;
        }
        off += (size_t)n;
    }
    __atomic_add_fetch(&written, (uint64_t)chunk.len, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&write_lock);
    /* Give the buffer back for reuse: a fresh one per chunk made the loop thread allocate
     * (and glibc consolidate) 64 KiB and more for every few records. */
    pthread_mutex_lock(&buf_lock);
    if (!spare.data && chunk.cap <= 4u << 20) {
        chunk.len = 0;
        spare = chunk;
        chunk.data = NULL;
    }
    pthread_mutex_unlock(&buf_lock);
    free(chunk.data);
}

static void *writer_main(void *arg)
{
    struct timespec last_sync;
    clock_gettime(CLOCK_MONOTONIC, &last_sync);
    int dirty = 0;
    pthread_mutex_lock(&buf_lock);
    for (;;) {
        if (!pending.len && !stopping && !urgent) {
            if (dirty) { /* written but not yet synced: wake for the sync at the latest */
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += 100 * 1000000L;
                if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
                pthread_cond_timedwait(&wake, &buf_lock, &until);
            } else { /* nothing to do: sleep until a record comes (an idle server never wakes) */
                pthread_cond_wait(&wake, &buf_lock);
            }
        }
        int sync_now = urgent || stopping;
        urgent = 0;
        if (pending.len) {
            write_pending_locked(); /* releases buf_lock */
            dirty = 1;
        } else {
            pthread_mutex_unlock(&buf_lock);
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms =
            (now.tv_sec - last_sync.tv_sec) * 1000 + (now.tv_nsec - last_sync.tv_nsec) / 1000000;
        if (dirty && (sync_now || ms >= 100)) {
            fdatasync(out_fd);
            dirty = 0;
            last_sync = now;
        }
        pthread_mutex_lock(&buf_lock);
        if (stopping && !pending.len) break;
    }
    pthread_mutex_unlock(&buf_lock);
    return NULL;
}

static void log_flush_soon(void)
{
    kick_armed = 0;
    pthread_mutex_lock(&buf_lock);
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&buf_lock);
}

static void on_kick(evutil_socket_t sock, short what, void *arg)
{
    (void)sock, (void)what, (void)arg;
    log_flush_soon();
}

void log_writer_flush(void)
{
    pthread_mutex_lock(&buf_lock);
    urgent = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&buf_lock);
}

/* Writes everything buffered now, on the calling thread (used before reading records back). */
void log_writer_now(void)
{
    pthread_mutex_lock(&buf_lock);
    if (pending.len)
        write_pending_locked();
    else
        pthread_mutex_unlock(&buf_lock);
}

/* Every record put so far is in the kernel when this returns (kill -9 cannot lose it): the
 * buffered ones are written on the calling thread, and a chunk the writer has in flight is
 * waited for. One comparison when the writer is already done, which is the common case
 * between two messages. Loop thread. */
void log_writer_barrier(void)
{
    if (!writer_started || __atomic_load_n(&written, __ATOMIC_ACQUIRE) >= appended) return;
    log_writer_now();
    pthread_mutex_lock(&write_lock); /* the writer's chunk, if one is still being written */
    pthread_mutex_unlock(&write_lock);
}

size_t log_writer_append(const char *table, const char *text, size_t len)
{
    pthread_mutex_lock(&buf_lock);
    int was_empty = pending.len == 0;
    size_t n = log_writer_append_line(&pending, table, text, len);
    appended += n;
    pthread_mutex_unlock(&buf_lock);
    /* The writer sleeps only when nothing is pending, so only the first record wakes it, and
     * not at once: after the loop's current callbacks, so that the records of one turn go out
     * in one write (a wake-up per record cost a futex call each). */
    if (was_empty && !kick_armed) {
        kick_armed = 1;
        if (kick_ev)
            event_active(kick_ev, 0, 0);
        else
            log_flush_soon();
    }
    return n;
}

int log_writer_failed(void)
{
    return write_failed;
}

int log_writer_start(int fd)
{
    out_fd = fd;
    kick_ev = event_new(loop_base(), -1, 0, on_kick, NULL);
    if (!kick_ev || pthread_create(&writer, NULL, writer_main, NULL) != 0) return -1;
    writer_started = 1;
    return 0;
}

void log_writer_stop(void)
{
    if (writer_started) {
        pthread_mutex_lock(&buf_lock);
        stopping = 1;
        pthread_cond_signal(&wake);
        pthread_mutex_unlock(&buf_lock);
        pthread_join(writer, NULL);
        fdatasync(out_fd);
        writer_started = 0;
    }
    out_fd = -1;
    if (kick_ev) event_free(kick_ev);
    kick_ev = NULL;
    kick_armed = 0;
    free(pending.data);
    free(spare.data);
    pending = spare = (struct log_writer_buf){0};
    /* Back to the state before log_writer_start, so that the store can be opened again: a
     * writer started with `stopping` still set exited at once, and the records put after it
     * (the aborted games) were freed unwritten at the next close. */
    stopping = urgent = write_failed = 0;
    appended = written = 0;
}
