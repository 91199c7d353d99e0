/* pg_migrate.c - the PostgreSQL schema's migrations (see pg_migrate.h). */
#include "pg_migrate.h"

#include "log.h"
#include "pg_conn.h"
#include "pg_sql.h"

#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATION_LOCK "7262001" /* pg_advisory_lock key: one process migrates at a time */

struct migration {
    int version;
    char name[64];
    char *sql;
    int applied; /* according to schema_migrations on this connection */
};

/* The migrations of the store's connection, and the next to look at. */
static struct {
    struct migration *migs;
    int n, next;
    void (*done)(void);
} m;

/* The lock makes a second server (or `monkeytown migrate`) starting at the same time wait,
 * then find the migrations applied. It is a session lock: a lost connection releases it. */
static const char begin_sql[] =
    "SELECT pg_advisory_lock(" MIGRATION_LOCK ");"
    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text,"
    " applied_at timestamptz DEFAULT now());"
    "SELECT version FROM schema_migrations";
static const char unlock_sql[] = "SELECT pg_advisory_unlock(" MIGRATION_LOCK ")";

/* ---- the files ---- */

/* NNN_name.sql with a name of letters, digits, '_' and '-' (so it needs no quoting in SQL). */
static int parse_name(const char *file, struct migration *mig)
{
    char *end;
    long v = strtol(file, &end, 10);
    if (end == file || *end != '_' || v <= 0 || v > 1000000) return -1;
    const char *name = end + 1;
    size_t n = strlen(name);
    if (n <= 4 || n - 4 >= sizeof mig->name || strcmp(name + n - 4, ".sql") != 0) return -1;
    for (size_t i = 0; i < n - 4; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", name[i]))
            return -1;
    mig->version = (int)v;
    memcpy(mig->name, name, n - 4);
    mig->name[n - 4] = '\0';
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct pg_sb b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        pg_sb_put(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad || !b.s) {
        free(b.s);
        return bad ? NULL : strdup("");
    }
    return pg_sb_take(&b);
}

static int by_version(const void *a, const void *b)
{
    return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

static void free_migrations(struct migration *migs, int n)
{
    for (int i = 0; i < n; i++)
        free(migs[i].sql);
    free(migs);
}

/* Appends mig to *migs (*n of them) with the text of its file. Returns 0, or -1. */
static int add_migration(struct migration **migs, int *n, struct migration mig, const char *path)
{
    struct migration *grown = realloc(*migs, sizeof **migs * (size_t)(*n + 1));
    if (!grown) return -1;
    *migs = grown;
    if (!(mig.sql = read_file(path))) return -1;
    grown[(*n)++] = mig;
    return 0;
}

/* Sorts the n migrations by version; two of one version are an error (in err). */
static void sort_migrations(struct migration *migs, int n, const char *dir, char *err,
                            size_t errlen)
{
    if (n > 1) qsort(migs, (size_t)n, sizeof *migs, by_version);
    for (int i = 1; i < n && !*err; i++)
        if (migs[i].version == migs[i - 1].version)
            snprintf(err, errlen, "two migrations have version %d in %s", migs[i].version, dir);
}

/* Reads every migration of dir into *out (sorted by version; the caller frees it with
 * free_migrations). Returns their number, or -1 with the reason in err. */
static int read_migrations(const char *dir, struct migration **out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot open the migrations directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct migration *migs = NULL, mig;
    int n = 0;
    struct dirent *e;
    char path[4096];
    *err = '\0';
    while (!*err && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 4, ".sql") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (parse_name(e->d_name, &mig) < 0) /* never skip a migration silently */
            snprintf(err, errlen, "%s: a migration is named NNN_name.sql", path);
        else if (add_migration(&migs, &n, mig, path) < 0)
            snprintf(err, errlen, "cannot read %s", path);
    }
    closedir(d);
    sort_migrations(migs, n, dir, err, errlen);
    if (*err) {
        free_migrations(migs, n);
        return -1;
    }
    *out = migs;
    return n;
}

/* The file and its record in schema_migrations, as one implicit transaction. The newlines
 * keep a last line that is a comment from swallowing the INSERT. */
static char *migration_sql(const struct migration *mig)
{
    struct pg_sb b = {0};
    pg_sb_add(&b, "%s\n;\nINSERT INTO schema_migrations (version, name) VALUES (%d, '%s')",
              mig->sql, mig->version, mig->name);
    return pg_sb_take(&b);
}

/* Marks the migrations whose version is a row of res (SELECT version FROM schema_migrations). */
static void mark_applied(struct migration *migs, int n, PGresult *res)
{
    for (int i = 0; i < n; i++)
        migs[i].applied = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        int v = atoi(PQgetvalue(res, r, 0));
        for (int i = 0; i < n; i++)
            if (migs[i].version == v) migs[i].applied = 1;
    }
}

static void log_applied(const struct migration *mig)
{
    log_msg(LOG_INFO, "migration applied", "{si,ss}", "version", mig->version, "name", mig->name);
}

/* "migration NNN_name failed" in what (size n). */
static void failed_what(const struct migration *mig, char *what, size_t n)
{
    snprintf(what, n, "migration %03d_%s failed", mig->version, mig->name);
}

/* ---- on the store's connection ---- */

int pg_migrate_load(const char *sql_dir, char *err, size_t errlen)
{
    memset(&m, 0, sizeof m);
    m.n = read_migrations(sql_dir, &m.migs, err, errlen);
    if (m.n >= 0) return 0;
    m.n = 0;
    return -1;
}

void pg_migrate_free(void)
{
    free_migrations(m.migs, m.n);
    memset(&m, 0, sizeof m);
}

static void unlocked(PGresult *res, void *arg)
{
    if (res) m.done();
}

static void applied_one(PGresult *res, void *arg);

/* Applies the next migration this database lacks, or releases the lock when none is left. */
static void apply_next(void)
{
    while (m.next < m.n && m.migs[m.next].applied)
        m.next++;
    if (m.next == m.n) {
        pg_conn_send_params(unlock_sql, 0, NULL, unlocked, NULL);
        return;
    }
    char *sql = migration_sql(&m.migs[m.next]);
    if (!sql) {
        pg_conn_give_up("out of memory");
        return;
    }
    pg_conn_send_script(sql, applied_one, NULL);
    free(sql);
}

static void applied_one(PGresult *res, void *arg)
{
    if (!res) return;
    struct migration *mig = &m.migs[m.next];
    if (pg_failed(res)) {
        char what[128];
        failed_what(mig, what, sizeof what);
        pg_conn_setup_failed(what, res);
        return;
    }
    log_applied(mig);
    mig->applied = 1;
    apply_next();
}

static void got_versions(PGresult *res, void *arg)
{
    if (!res) return;
    if (pg_failed(res)) {
        pg_conn_setup_failed("cannot read schema_migrations", res);
        return;
    }
    mark_applied(m.migs, m.n, res);
    m.next = 0;
    apply_next();
}

void pg_migrate_start(void (*done)(void))
{
    m.done = done;
    pg_conn_send_script(begin_sql, got_versions, NULL);
}

/* ---- `monkeytown migrate` ---- */

static int exec_ok(PGconn *conn, const char *sql, const char *what, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    int ok = res && !pg_failed(res);
    if (!ok) snprintf(err, errlen, "%s: %s", what, res ? pg_error_text(res) : PQerrorMessage(conn));
    PQclear(res);
    return ok;
}

static int migrate_on(PGconn *conn, struct migration *migs, int n, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, begin_sql);
    if (!res || pg_failed(res)) {
        snprintf(err, errlen, "cannot read schema_migrations: %s",
                 res ? pg_error_text(res) : PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    mark_applied(migs, n, res);
    PQclear(res);
    for (int i = 0; i < n; i++) {
        if (migs[i].applied) continue;
        char what[128], *sql = migration_sql(&migs[i]);
        failed_what(&migs[i], what, sizeof what);
        int ok = sql && exec_ok(conn, sql, what, err, errlen);
        free(sql);
        if (!ok) return -1;
        log_applied(&migs[i]);
    }
    return exec_ok(conn, unlock_sql, "unlock", err, errlen) ? 0 : -1;
}

int pg_migrate_run(const char *url, const char *sql_dir, char *err, size_t errlen)
{
    struct migration *migs = NULL;
    int n = read_migrations(sql_dir, &migs, err, errlen);
    if (n < 0) return -1;
    static const char *const keys[] = {"application_name", "client_encoding", "connect_timeout",
                                       "dbname", NULL};
    const char *vals[] = {"monkeytown-migrate", "UTF8", "10", url, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    int rc = -1;
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect: %s", conn ? PQerrorMessage(conn) : "out of memory");
    } else {
        PQsetNoticeProcessor(conn, pg_conn_on_notice, NULL);
        rc = migrate_on(conn, migs, n, err, errlen);
    }
    size_t len = strlen(err);
    while (len > 0 && err[len - 1] == '\n')
        err[--len] = '\0';
    PQfinish(conn);
    free_migrations(migs, n);
    return rc;
}
