/* record.h - the one line format of the store's files: the embedded log (store_log.c) and the
 * PostgreSQL journal (pg_journal.c).
 *
 *     <crc32 of the JSON, 8 hex digits> <space> {"t": table, "r": row} <newline>
 *
 * A line is the unit of crash safety: a torn or corrupted line fails its checksum and is not
 * read back. Pure functions, any thread. */
#ifndef MT_RECORD_H
#define MT_RECORD_H

#include <jansson.h>
#include <stddef.h>

/* The bytes record_write needs for table and a row of rowlen bytes of JSON text. */
size_t record_size(const char *table, size_t rowlen);

/* Writes the line of table and row (JSON text of an object) at out, which has record_size
 * bytes. Table names are the store's own identifiers (letters and underscores): no escaping.
 * Returns the line's length, newline included. */
size_t record_write(char *out, const char *table, const char *row, size_t rowlen);

/* Parses one line (without its newline): the record {"t", "r"} (new reference), or NULL when
 * the checksum, the JSON or the shape is wrong. */
json_t *record_parse(const char *line, size_t len);

#endif
