/* restore.c - at start-up, the games the last process left unfinished come back as rooms.
 *
 * The store names them as it opens (the pseudo-table "unfinished_games": one {id} per game
 * still waiting or active, from the embedded log's index or from PostgreSQL). restore_run
 * loads each whole (store_load_game) and hands it to room_restore, which replays its inputs
 * through the version it started with; a game that cannot be rebuilt (its version gone, its
 * replay diverging, an agent that no longer exists) is closed as aborted with the reason
 * logged, never left active. restore_run returns when every load has answered, before the
 * server listens, so that no resume can arrive for a room not yet rebuilt. A PostgreSQL that
 * was down at start-up names its games when it connects: they are rebuilt then. */
#include "restore.h"

#include "hmap.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "room.h"
#include "store.h"
#include "util.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 120000 /* start-up waits at most this long for the store to hand games back */

static char **pending; /* ids named before restore_run */
static size_t npending, cappending;
static struct hmap *named; /* every id named, so that one named twice (the journal and
                              PostgreSQL both know it) is rebuilt once */
static int running, outstanding, waiting;
static struct metric *m_restored, *m_rebuild_ms;

void restore_close_aborted(const char *id, const char *why)
{
    json_t *row = json_pack("{ss,ss,s{ss,ss},sf}", "id", id, "status", "aborted", "result",
                            "reason", "aborted", "detail", why, "ended_at", loop_wall_ms());
    store_put("games", row);
}

static void on_loaded(json_t *game, void *arg)
{
    char *id = arg, why[400] = "";
    uint64_t t0 = loop_now_us();
    int rc = game ? room_restore(game, why, sizeof why) : -2;
    if (rc == -2) {
        /* The store could not hand it back (down, or no such row): leave it for the next
         * start rather than close a game that may be whole. */
        log_msg(LOG_WARN, "game not rebuilt: the store did not return it", "{ss}", "game", id);
    } else if (rc < 0) {
        log_msg(LOG_WARN, "game could not be rebuilt: closed as aborted", "{ss,ss}", "game", id,
                "reason", why);
        restore_close_aborted(id, why);
    }
    const char *outcome = rc == 0    ? "rebuilt"
                          : rc == 1  ? "ended"
                          : rc == -1 ? "aborted"
                                     : "missing";
    metric_add(m_restored, outcome, 1);
    if (rc == 0) metric_observe(m_rebuild_ms, NULL, (double)(loop_now_us() - t0) / 1000.0);
    free(id);
    if (--outstanding == 0 && waiting) loop_stop();
}

static void load(const char *id)
{
    char *copy = strdup(id);
    if (!copy) return;
    outstanding++;
    store_load_game(id, on_loaded, copy);
}

/* A row of "unfinished_games" from the store. */
static void on_unfinished(json_t *row)
{
    const char *id = json_string_value(json_object_get(row, "id"));
    if (!id || !util_is_uuid(id) || !named || hmap_get(named, id)) return;
    hmap_put(named, id, (void *)1);
    if (running) { /* PostgreSQL came back after start-up */
        load(id);
        return;
    }
    if (npending == cappending) {
        size_t cap = cappending ? cappending * 2 : 64;
        char **p = realloc(pending, cap * sizeof *p);
        if (!p) return;
        pending = p;
        cappending = cap;
    }
    if ((pending[npending] = strdup(id))) npending++;
}

int restore_preinit(const struct config *cfg)
{
    /* In a cluster the database's unfinished games belong to live instances too: rebuilding
     * every one of them here would give a room two owners. Taking rooms over is failover's
     * work (by lease and fencing token: failover.c), which rebuilds them with room_restore. */
    if (cfg->cluster) return 0;
    static const double bounds[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500};
    m_restored = metrics_counter("rooms_restored_total",
                                 "Games left unfinished by the last process, by what became of "
                                 "them at start-up (rebuilt, ended, aborted, missing)",
                                 "outcome");
    m_rebuild_ms = metrics_histogram("room_rebuild_ms",
                                     "Time to rebuild one room from the store (load not included)",
                                     NULL, bounds, (int)(sizeof bounds / sizeof bounds[0]));
    store_on_load("unfinished_games", on_unfinished);
    named = hmap_new();
    return m_restored && m_rebuild_ms && named ? 0 : -1;
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    log_msg(LOG_WARN, "start-up stopped waiting for games to rebuild", "{si}", "outstanding",
            outstanding);
    loop_stop();
}

void restore_run(void)
{
    running = 1;
    uint64_t t0 = loop_now_ms();
    size_t n = npending;
    /* In batches: with PostgreSQL each batch is one statement rather than one per game. */
    for (size_t i = 0; i < npending; i += STORE_LOAD_BATCH) {
        const char *ids[STORE_LOAD_BATCH];
        void *args[STORE_LOAD_BATCH];
        int k = 0;
        for (size_t j = i; j < npending && j < i + STORE_LOAD_BATCH; j++)
            if ((args[k] = strdup(pending[j]))) ids[k++] = pending[j];
        outstanding += k;
        store_load_games(ids, k, on_loaded, args);
    }
    for (size_t i = 0; i < npending; i++)
        free(pending[i]);
    free(pending);
    pending = NULL;
    npending = cappending = 0;
    if (outstanding > 0) { /* a backend that answers later (PostgreSQL) */
        struct event *timer = evtimer_new(loop_base(), on_wait_timeout, NULL);
        struct timeval tv = {WAIT_MS / 1000, 0};
        if (timer) event_add(timer, &tv);
        waiting = 1;
        loop_run();
        waiting = 0;
        if (timer) event_free(timer);
    }
    if (n)
        log_msg(LOG_INFO, "unfinished games restored", "{sI,sI}", "games", (json_int_t)n, "ms",
                (json_int_t)(loop_now_ms() - t0));
}
