/* pg_journal.h - the PostgreSQL store's write queue on local disk, so that no crash loses a row.
 *
 * Every row the PostgreSQL store queues is also appended to a journal under --data-dir
 * (pg-journal.<n>, record.h lines), and the journal is in the kernel before anything is sent to
 * a client (pg_journal_barrier, called through store_barrier): a row a player's message depended on
 * survives kill -9 of the server, whether PostgreSQL is up, slow or frozen. Rows leave the
 * journal when PostgreSQL has them: whole segments once every row in them is committed, and
 * the whole journal whenever the queue is empty. At the next start the journal is read back
 * into the queue, in order, before anything else; the store's key-based handling of a row
 * written twice makes that exactly-once. The journal is a suffix of the rows put, so replaying
 * a row PostgreSQL already has is harmless: every later row of its key is replayed after it.
 *
 * Bounded by --spill-max-mb: past it the store stops accepting new rooms (SERVER_BUSY), as it
 * does at the in-memory bound. Loop thread only. */
#ifndef MT_PG_JOURNAL_H
#define MT_PG_JOURNAL_H

#include <jansson.h>
#include <stdint.h>

/* Opens the journal in data_dir and hands every record a previous process left to
 * each(table, row, arg) (row borrowed), oldest first; the caller puts them again, which
 * journals them anew, and then calls pg_journal_replayed. Returns the number of records read, or -1
 * with a log line. */
long pg_journal_open(const char *data_dir, uint64_t max_bytes,
                     void (*each)(const char *table, json_t *row, void *arg), void *arg);

/* The rows read back are in the new journal: the old segments are synced away. */
void pg_journal_replayed(void);

/* Journals one queued row: seq is its place in the queue, text its record's JSON. */
void pg_journal_append(uint64_t seq, const char *table, const char *text, size_t len);

/* Every row up to seq has left the queue (committed, or dropped): their segments go. */
void pg_journal_released(uint64_t seq);

/* What was appended is in the kernel when this returns. Cheap when nothing is new. */
void pg_journal_barrier(void);

/* Bytes the journal holds (on disk and buffered), and whether they passed the bound. */
uint64_t pg_journal_bytes(void);
int pg_journal_full(void);

/* Writes what is buffered and closes; an empty queue (released == everything) leaves no file. */
void pg_journal_close(void);

#endif
