/* store_pg.h - what the PostgreSQL store offers beyond the backend interface of store.h. */
#ifndef MT_STORE_PG_H
#define MT_STORE_PG_H

#include <jansson.h>
#include <stddef.h>

/* Whether the PostgreSQL store is the one open (--database-url). */
int store_pg_active(void);

/* The answer to a call: rows (borrowed; NULL unless it ran) holds the first column of each
 * row of the result, parsed as JSON (a column of another type: its text as a JSON value, when
 * it is one, else null); sqlstate is "" when it ran, the SQLSTATE when PostgreSQL refused it
 * ("23505": a unique constraint), or NULL when the database could not be asked (down, not
 * connected yet, the connection lost on the way: whether it ran is then unknown). */
typedef void (*store_pg_reply)(json_t *rows, const char *sqlstate, void *arg);

/* Runs one statement (sql: static text, with $1..$n; at most 4 params, copied; a NULL param
 * is SQL NULL) once every row put before it is written, and calls done on the loop thread
 * with its answer - at once, from inside this call, when the database is not available. A
 * statement that fails for a transient reason (the connection, a deadlock) is not retried:
 * done hears NULL. Loop thread. */
void store_pg_call(const char *sql, int n, const char *const *params, store_pg_reply done,
                   void *arg);

/* --cluster: this process as "<instance id> <lease token>", written as games.owner with each
 * fence this process takes (sql/008): the copy of the directory's owner that lets a Redis that
 * lost its data tell a dead owner's rooms from a live one's (directory_adopt). */
void store_pg_set_owner(const char *instance_and_token);

/* Reads one players row (the format of store.h, as the start-up load delivers it) by id
 * (by_name 0: key is a UUID) or by username, case-insensitively: done hears rows [row] or
 * [] (no such player). As store_pg_call. */
void store_pg_find_player(const char *key, int by_name, store_pg_reply done, void *arg);

/* Applies the migrations of sql_dir (NNN_name.sql, in version order, each in its own
 * transaction, recorded in schema_migrations) that the database at url has not applied yet.
 * Blocking: for `monkeytown migrate`, not for the loop. Needs no event loop. Returns 0, or -1
 * with the reason in err (size errlen). Logs one line per applied migration. */
int store_pg_migrate(const char *url, const char *sql_dir, char *err, size_t errlen);

#endif
