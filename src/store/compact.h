/* compact.h - which records of the embedded log survive a compaction (pure: no I/O).
 *
 * The log (store_log.c) holds every row ever put. Rows of the insert-once tables (events,
 * inputs, script and agent versions) are facts and are all kept, except that a version
 * written again (each start stores the live versions, and a version row holds every source
 * file) is kept once, the first time, as both readers do (load_game reads a version's first
 * record; PostgreSQL inserts it once). Events and inputs are not deduplicated: that would
 * take a key per event in memory, and the server never writes one twice. Rows of the upsert tables
 * (players, games, game_participants) are states: only the newest state of each key is live,
 * and a compaction folds a key's rows into one record, in the same way the readers do (a
 * later games row updates an earlier one, load_game; a players row is full, the loader). */
#ifndef MT_COMPACT_H
#define MT_COMPACT_H

#include <jansson.h>

enum compact_kind {
    COMPACT_KEEP,    /* events, inputs, or a table this code does not know: every record is kept */
    COMPACT_FIRST,   /* insert once by key: the first record of a key is kept, later ones dropped */
    COMPACT_MERGE,   /* upsert by column: a later row's columns replace the earlier ones */
    COMPACT_REPLACE, /* upsert by row: a later row replaces the earlier one as a whole */
};

/* How records of table are compacted. */
enum compact_kind compact_kind(const char *table);

/* Writes the natural key of row (of a table that is not COMPACT_KEEP) into key, prefixed so that
 * keys of different tables never meet. Returns 0, or -1 when the row lacks its key or the key does
 * not fit: such a record must then be kept as it is. */
int compact_key(const char *table, json_t *row, char *key, size_t size);

/* Folds later, a newer row of the same key, into into (the state so far), as kind says. */
void compact_fold(enum compact_kind kind, json_t *into, json_t *later);

/* Whether a compaction at start-up is due: dead records (superseded or damaged) number at least
 * min_records (0: never by count), or make up at least min_percent of the file's bytes (0:
 * never by share). Nothing dead is never due. */
int compact_due(long dead_records, long long dead_bytes, long long total_bytes, long min_records,
                int min_percent);

#endif
