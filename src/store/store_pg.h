/* store_pg.h - what the PostgreSQL store offers beyond the backend interface of store.h. */
#ifndef MT_STORE_PG_H
#define MT_STORE_PG_H

#include <stddef.h>

/* Applies the migrations of sql_dir (NNN_name.sql, in version order, each in its own
 * transaction, recorded in schema_migrations) that the database at url has not applied yet.
 * Blocking: for `monkeytown migrate`, not for the loop. Needs no event loop. Returns 0, or -1
 * with the reason in err (size errlen). Logs one line per applied migration. */
int store_pg_migrate(const char *url, const char *sql_dir, char *err, size_t errlen);

#endif
