/* pg_read.c - the PostgreSQL store's reads (see pg_read.h). */
#include "pg_read.h"

#include "log.h"
#include "pg_conn.h"
#include "pg_queue.h"
#include "pg_schema.h"
#include "pg_sql.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_PARAMS 4

/* A read or a call: one statement that runs once the rows put before it are written.
 * on_result hears its result, or NULL when the database could not be asked. */
struct load {
    struct load *next;
    uint64_t after;  /* the seq of the last row put before it */
    const char *sql; /* static, or one of r's */
    int nparams;
    char *params[CALL_PARAMS];
    pg_query_done on_result;
    void (*done)(json_t *game, void *arg); /* load_games: done(game, args[i]) for each id */
    int ngames;
    void **args;
    store_pg_reply reply; /* calls */
    void *arg;
};

static struct {
    struct load *head, *tail;
    void (*wake)(void);
    char *game_sql, *player_by_id_sql, *player_by_name_sql;
} r;

int pg_read_open(void (*wake)(void))
{
    memset(&r, 0, sizeof r);
    r.wake = wake;
    r.game_sql = pg_sql_load_games();
    r.player_by_id_sql = pg_sql_players("p.id = $1::uuid");
    r.player_by_name_sql = pg_sql_players("lower(p.username) = lower($1)");
    return r.game_sql && r.player_by_id_sql && r.player_by_name_sql ? 0 : -1;
}

void pg_read_close(void)
{
    pg_read_fail_all();
    free(r.game_sql);
    free(r.player_by_id_sql);
    free(r.player_by_name_sql);
    memset(&r, 0, sizeof r);
}

static void load_free(struct load *l)
{
    for (int i = 0; i < l->nparams; i++)
        free(l->params[i]);
    free(l->args);
    free(l);
}

void pg_read_fail_all(void)
{
    while (r.head) {
        struct load *l = r.head;
        r.head = l->next;
        l->on_result(NULL, l);
    }
    r.tail = NULL;
}

int pg_read_send_due(void)
{
    const struct pg_row *first = pg_queue_head();
    struct load *l = r.head;
    if (!l || (first && first->seq <= l->after)) return 0;
    r.head = l->next;
    if (!r.head) r.tail = NULL;
    pg_conn_send_params(l->sql, l->nparams, (const char *const *)l->params, l->on_result, l);
    return 1;
}

/* A load of sql with the n params (copied), or NULL when the database cannot be asked now
 * (not READY, or out of memory). */
static struct load *load_new(const char *sql, int n, const char *const *params, pg_query_done cb)
{
    struct load *l = pg_conn_state() == PG_READY && n <= CALL_PARAMS ? calloc(1, sizeof *l) : NULL;
    if (!l) return NULL;
    l->after = pg_queue_last_seq();
    l->sql = sql;
    l->on_result = cb;
    for (int i = 0; i < n; i++) {
        l->params[l->nparams] = params[i] ? strdup(params[i]) : NULL;
        if (params[i] && !l->params[l->nparams]) {
            load_free(l);
            return NULL;
        }
        l->nparams++;
    }
    return l;
}

static void load_queue(struct load *l)
{
    if (r.tail)
        r.tail->next = l;
    else
        r.head = l;
    r.tail = l;
    r.wake();
}

/* ---- a game ---- */

static json_t *column_json(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : json_loads(PQgetvalue(res, row, col), 0, NULL);
}

/* Row n's game row with participants, events, inputs and script_version added: the shape
 * store_log.c gives, so readers need not know the backend. NULL for an unknown game. */
static json_t *assemble_game(PGresult *res, int n)
{
    json_t *game = n < PQntuples(res) ? column_json(res, n, 0) : NULL;
    if (!game) return NULL;
    static const char *const lists[] = {"participants", "events", "inputs"};
    static const char *const from[] = {"game_participants", "game_events", "game_inputs"};
    for (int i = 0; i < 3; i++) {
        json_t *rows = column_json(res, n, i + 1), *row;
        size_t at;
        json_array_foreach(rows, at, row) pg_schema_normalize(pg_schema_table(from[i]), row);
        json_object_set_new(game, lists[i], rows ? rows : json_array());
    }
    pg_schema_normalize(pg_schema_table("games"), game);
    json_t *version = column_json(res, n, 4);
    if (version) {
        pg_schema_normalize(pg_schema_table("script_versions"), version);
        json_object_set_new(game, "script_version", version);
    }
    return game;
}

/* Each id's game goes to its own done: the rows come in the ids' order (WITH ORDINALITY). */
static void loaded_games(PGresult *res, void *arg)
{
    struct load *l = arg;
    int ok = res && !pg_failed(res);
    if (res && !ok) {
        char first[37]; /* the first id of the array literal "{id,...}" */
        snprintf(first, sizeof first, "%s", l->params[0] + 1);
        log_msg(LOG_WARN, "store: cannot load games", "{si,ss,ss}", "games", l->ngames, "first",
                first, "error", pg_error_text(res));
    }
    for (int i = 0; i < l->ngames; i++) {
        json_t *game = ok ? assemble_game(res, i) : NULL;
        l->done(game, l->args[i]);
        json_decref(game);
    }
    load_free(l);
}

/* The ids as one array literal "{id,id,...}" (UUIDs need no quoting), or NULL. */
static char *id_array(const char *const *ids, int n)
{
    char *out = malloc((size_t)n * 37 + 3), *p = out;
    if (!out) return NULL;
    *p++ = '{';
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", ids[i]);
    memcpy(p, "}", 2);
    return out;
}

void pg_read_games(const char *const *ids, int n, void (*done)(json_t *game, void *arg),
                   void *const *args)
{
    int valid = n > 0 && n <= PG_READ_MAX_GAMES;
    for (int i = 0; valid && i < n; i++)
        valid = util_is_uuid(ids[i]);
    char *array = valid ? id_array(ids, n) : NULL;
    struct load *l =
        array ? load_new(r.game_sql, 1, (const char *const *)&array, loaded_games) : NULL;
    void **copy = l ? malloc((size_t)n * sizeof *copy) : NULL;
    free(array);
    if (!copy) {
        if (l) load_free(l);
        for (int i = 0; i < n; i++)
            done(NULL, args[i]);
        return;
    }
    memcpy(copy, args, (size_t)n * sizeof *copy);
    l->done = done;
    l->ngames = n;
    l->args = copy;
    load_queue(l);
}

void pg_read_game(const char *game_id, void (*done)(json_t *game, void *arg), void *arg)
{
    pg_read_games(&game_id, 1, done, &arg);
}

/* ---- calls ---- */

/* A call's rows: the first column of each, parsed as JSON (normalized as players rows when
 * they are: the reads of pg_read_find_player). */
static json_t *call_rows(PGresult *res, int players)
{
    json_t *rows = json_array();
    for (int i = 0; rows && i < PQntuples(res) && PQnfields(res) > 0; i++) {
        json_t *v = PQgetisnull(res, i, 0)
                        ? json_null()
                        : json_loads(PQgetvalue(res, i, 0), JSON_DECODE_ANY, NULL);
        if (v && players && json_is_object(v)) pg_schema_normalize(pg_schema_table("players"), v);
        json_array_append_new(rows, v ? v : json_null());
    }
    return rows;
}

static void called(PGresult *res, void *arg)
{
    struct load *l = arg;
    json_t *rows = NULL;
    const char *code = NULL;
    if (res && pg_failed(res)) {
        code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        log_msg(LOG_DEBUG, "store: call refused", "{ss,ss}", "error", pg_error_text(res),
                "sqlstate", code ? code : "");
        code = code ? code : "XX000";
    } else if (res) {
        rows = call_rows(res, l->sql == r.player_by_id_sql || l->sql == r.player_by_name_sql);
        code = rows ? "" : NULL; /* out of memory: as if the database could not be asked */
    }
    l->reply(rows, code, l->arg);
    json_decref(rows);
    load_free(l);
}

void pg_read_call(const char *sql, int n, const char *const *params, store_pg_reply done, void *arg)
{
    struct load *l = load_new(sql, n, params, called);
    if (!l) {
        done(NULL, NULL, arg);
        return;
    }
    l->reply = done;
    l->arg = arg;
    load_queue(l);
}

void pg_read_find_player(const char *key, int by_name, store_pg_reply done, void *arg)
{
    if (!by_name && !util_is_uuid(key)) { /* no such player: PostgreSQL need not say so */
        json_t *none = json_array();
        done(none, none ? "" : NULL, arg);
        json_decref(none);
        return;
    }
    pg_read_call(by_name ? r.player_by_name_sql : r.player_by_id_sql, 1, &key, done, arg);
}
