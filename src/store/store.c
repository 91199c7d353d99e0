#include "store.h"

#include "log.h"
#include "util.h"

#include <string.h>

#define MAX_LOADERS 8

static const struct store_backend *backend;
static int readonly;

void store_set_readonly(int ro)
{
    readonly = ro;
}

int store_readonly(void)
{
    return readonly;
}
static struct {
    const char *table;
    void (*fn)(json_t *row);
} loaders[MAX_LOADERS];
static int n_loaders;

void store_on_load(const char *table, void (*fn)(json_t *row))
{
    if (n_loaders < MAX_LOADERS) {
        loaders[n_loaders].table = table;
        loaders[n_loaders].fn = fn;
        n_loaders++;
    }
}

void store_deliver_loaded(const char *table, json_t *row)
{
    for (int i = 0; i < n_loaders; i++)
        if (strcmp(loaders[i].table, table) == 0) loaders[i].fn(row);
}

int store_init(const struct config *cfg)
{
    backend = *cfg->database_url ? &store_pg_backend : &store_log_backend;
    if (backend->open(cfg) < 0) {
        log_msg(LOG_ERROR, "cannot open the store", "{ss}", "backend", backend->name);
        backend = NULL;
        return -1;
    }
    log_msg(LOG_INFO, "store open", "{ss}", "backend", backend->name);
    return 0;
}

void store_shutdown(void)
{
    if (backend) backend->close();
    backend = NULL;
}

void store_put(const char *table, json_t *row)
{
    if (backend)
        backend->put(table, row);
    else
        json_decref(row);
}

void store_put_json(const char *table, json_t *row, const char *column, const char *json)
{
    if (backend && !util_utf8_valid(json, strlen(json))) {
        /* JSON is UTF-8: neither backend could store or read this back (a script's string of
         * raw bytes, which json.encode passes through as lua-cjson does). */
        log_msg(LOG_ERROR, "store: row dropped", "{ss,ss,ss}", "table", table, "error",
                "not valid UTF-8", "column", column);
        json_decref(row);
        return;
    }
    if (backend)
        backend->put_json(table, row, column, json);
    else
        json_decref(row);
}

void store_flush(void)
{
    if (backend) backend->flush();
}

void store_barrier(void)
{
    if (backend && backend->barrier) backend->barrier();
}

void store_poll(void)
{
    if (backend && backend->poll) backend->poll();
}

void store_load_game(const char *game_id, void (*done)(json_t *game, void *arg), void *arg)
{
    if (backend)
        backend->load_game(game_id, done, arg);
    else
        done(NULL, arg);
}

void store_load_games(const char *const *ids, int n, void (*done)(json_t *game, void *arg),
                      void *const *args)
{
    for (int i = 0; i < n;) {
        int k = backend && backend->load_games ? n - i : 1;
        if (k > STORE_LOAD_BATCH) k = STORE_LOAD_BATCH;
        if (backend && backend->load_games)
            backend->load_games(ids + i, k, done, args + i);
        else
            store_load_game(ids[i], done, args[i]);
        i += k;
    }
}

int store_healthy(json_t *out)
{
    json_object_set_new(out, "backend", json_string(backend ? backend->name : "none"));
    return backend && backend->healthy(out);
}

void store_set_fence(const char *game_id, uint64_t fence)
{
    if (backend && backend->set_fence) backend->set_fence(game_id, fence);
}

int store_accepting(void)
{
    return backend && backend->accepting();
}
