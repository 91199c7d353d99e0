/* pg_migrate.h - the PostgreSQL schema's migrations: the files sql/NNN_name.sql (--sql-dir),
 * applied in version order, each with its row in schema_migrations as one implicit
 * transaction, under pg_advisory_lock(7262001) so that servers (and `monkeytown migrate`)
 * starting together apply each file once.
 *
 * Two ways to run them: on the store's connection during its SETUP (pg_migrate_start, loop
 * thread, non-blocking), or on a blocking connection of their own (pg_migrate_run, for
 * `monkeytown migrate`, no event loop). Both log one line per applied migration. */
#ifndef MT_PG_MIGRATE_H
#define MT_PG_MIGRATE_H

#include <stddef.h>

/* Reads every migration of sql_dir for pg_migrate_start. A badly named .sql file or a
 * duplicate version is an error: a migration is never skipped silently. Returns 0, or -1 with
 * the reason in err (size errlen). */
int pg_migrate_load(const char *sql_dir, char *err, size_t errlen);

/* On the store's connection (in SETUP, idle): applies the migrations this database lacks and
 * unlocks, then calls done. A failure gives the connection up (pg_conn_setup_failed); a lost
 * connection ends the sequence without done: it starts again on the next connection. */
void pg_migrate_start(void (*done)(void));

/* Frees what pg_migrate_load read. */
void pg_migrate_free(void);

/* Blocking: connects to url, applies the migrations of sql_dir that it lacks, disconnects.
 * Returns 0, or -1 with the reason (one line) in err (size errlen). */
int pg_migrate_run(const char *url, const char *sql_dir, char *err, size_t errlen);

#endif
