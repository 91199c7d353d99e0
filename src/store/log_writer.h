/* log_writer.h - the writer thread of the embedded store's log (store_log.c).
 *
 * Records are appended to a buffer on the loop thread and written by one thread of their own,
 * so the loop never waits for the disk: the first record of a loop turn wakes the writer after
 * the turn's callbacks, so that a turn's records go out in one write(2); fdatasync follows at
 * most every 100 ms (at once after log_writer_flush). log_writer_barrier is what makes a
 * record survive kill -9 before anything is sent that depends on it. Not the server's log
 * (log.h): "log" here is the store's append-only file.
 *
 * Loop thread only, but for the writer thread this module runs itself. */
#ifndef MT_LOG_WRITER_H
#define MT_LOG_WRITER_H

#include <stddef.h>
#include <stdint.h>

/* A growing buffer of record lines (record.h). */
struct log_writer_buf {
    char *data;
    size_t len, cap;
};

/* Makes room for need more bytes in b (the writer's emptied buffer is reused when b has none).
 * Returns 0, or -1 on OOM. */
int log_writer_reserve(struct log_writer_buf *b, size_t need);

/* Appends one record line to b. Returns the line's length, or 0 on OOM. */
size_t log_writer_append_line(struct log_writer_buf *b, const char *table, const char *row,
                              size_t rowlen);

/* Starts the writer thread on fd (borrowed: the caller closes it after log_writer_stop).
 * Returns 0, or -1 when the thread or its wake-up event cannot be made. */
int log_writer_start(int fd);

/* Writes and syncs everything buffered, stops the thread, frees the buffers and resets the
 * counters, so that log_writer_start may be called again. Also when it never started. */
void log_writer_stop(void);

/* Buffers the record of row (its JSON text, len bytes, copied) for the writer. Returns the
 * bytes the line takes in the file, or 0 on OOM (the record is lost). */
size_t log_writer_append(const char *table, const char *text, size_t len);

/* Asks for everything buffered to be written and synced now (a game ended). Does not wait. */
void log_writer_flush(void);

/* Writes everything buffered now, on the calling thread (before reading records back). */
void log_writer_now(void);

/* Every record appended so far is in the kernel when this returns (kill -9 cannot lose it):
 * the buffered ones are written on the calling thread, and a chunk the writer has in flight
 * is waited for. One comparison when the writer is already done. */
void log_writer_barrier(void);

/* Whether a write to the log failed (the store then stops accepting). */
int log_writer_failed(void);

#endif
