#include "failover.h"

#include "directory.h"
#include "hmap.h"
#include "log.h"
#include "loop.h"
#include "members.h"
#include "metrics.h"
#include "room.h"
#include "restore.h"
#include "store.h"
#include "store_pg.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Rooms taken per Redis call. A full batch is followed by the next one as soon as its rooms are
 * rebuilt, not a heartbeat later: 500 rooms of a dead instance are all taken within a second or
 * so, and the survivors share them by how fast each rebuilds (one that is busy asks less often). */
#define TAKEOVER_BATCH 64
#define LOAD_RETRIES 30 /* a store that does not hand the game back: tries, 1 s apart */

struct rebuild {
    char id[64];
    int tries;
    uint64_t taken_us;
    struct event *retry;
};

static const struct config *cfg;
static struct hmap *rebuilding; /* room id -> struct rebuild */
static struct event *poll_ev;   /* takeover asked four times a heartbeat, see failover_init */
static struct metric *m_taken, *m_rebuild_ms, *m_replayed;
static int asking; /* a takeover call is out */
static int more;   /* the last call came back full: more rooms may be waiting */

static void load(struct rebuild *b);
static void take(void);

static void done(struct rebuild *b, const char *outcome)
{
    metric_add(m_taken, outcome, 1);
    hmap_del(rebuilding, b->id);
    if (b->retry) event_free(b->retry);
    free(b);
    if (more && hmap_size(rebuilding) == 0) take();
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    load(arg);
}

static void on_loaded(json_t *game, void *arg)
{
    char *id = arg;
    struct rebuild *b = rebuilding ? hmap_get(rebuilding, id) : NULL;
    free(id);
    if (!b) return; /* shut down meanwhile */
    if (!game) {
        if (++b->tries >= LOAD_RETRIES) {
            log_msg(LOG_ERROR, "failover: the store never returned the game", "{ss}", "game",
                    b->id);
            done(b, "missing");
            return;
        }
        struct timeval tv = {1, 0};
        if (!b->retry) b->retry = evtimer_new(loop_base(), on_retry, b);
        if (b->retry) event_add(b->retry, &tv);
        return;
    }
    char why[400] = "";
    metric_add(m_replayed, NULL, (double)json_array_size(json_object_get(game, "events")));
    int rc = room_restore(game, why, sizeof why);
    if (rc < 0) {
        log_msg(LOG_WARN, "failover: game could not be rebuilt: closed as aborted", "{ss,ss}",
                "game", b->id, "reason", why);
        restore_close_aborted(b->id, why);
    } else {
        /* A rebuilt room joins this instance's lobby (a restart's lobby starts empty, a cluster's
         * is shared: the room would vanish from it). */
        struct room *r = room_find(b->id);
        if (r) rooms_lobby_broadcast("opened", r);
        metric_observe(m_rebuild_ms, NULL, (double)(loop_now_us() - b->taken_us) / 1000.0);
        log_msg(LOG_INFO, "failover: game taken over", "{ss,ss}", "game", b->id, "outcome",
                rc == 0 ? "rebuilt" : "ended");
    }
    done(b, rc == 0 ? "rebuilt" : rc == 1 ? "ended" : "aborted");
}

/* The store's answer finds the rebuild by id: it may come after failover_shutdown. */
static void load(struct rebuild *b)
{
    char *id = strdup(b->id);
    if (id) store_load_game(b->id, on_loaded, id);
}

/* The rooms a takeover call won, loaded together once it is answered: one statement for the
 * batch instead of a round trip per room on the store's connection. */
static struct rebuild *won[TAKEOVER_BATCH];
static int nwon;

static void load_won(void)
{
    const char *ids[TAKEOVER_BATCH];
    void *args[TAKEOVER_BATCH];
    int n = 0;
    for (int i = 0; i < nwon; i++)
        if ((args[n] = strdup(won[i]->id)))
            ids[n++] = won[i]->id;
        else
            done(won[i], "missing"); /* out of memory: not left waiting for a load */
    nwon = 0;
    store_load_games(ids, n, on_loaded, args);
}

static void on_taken(const char *room_id, uint64_t fence, void *arg)
{
    if (!cfg) return; /* answered after failover_shutdown */
    if (room_find(room_id) || hmap_get(rebuilding, room_id)) return;
    struct rebuild *b = calloc(1, sizeof *b);
    if (!b) return;
    snprintf(b->id, sizeof b->id, "%s", room_id);
    b->taken_us = loop_now_us();
    if (hmap_put(rebuilding, b->id, b) < 0) {
        free(b);
        return;
    }
    log_msg(LOG_INFO, "failover: room taken over from a dead instance", "{ss,sI}", "game", room_id,
            "fence", (json_int_t)fence);
    if (nwon < TAKEOVER_BATCH)
        won[nwon++] = b;
    else
        load(b);
}

static void on_batch(int taken, void *arg)
{
    asking = 0;
    if (!cfg) return; /* answered after failover_shutdown */
    load_won();
    more = taken == TAKEOVER_BATCH;
    if (more && hmap_size(rebuilding) == 0) take(); /* every room of it was here already */
}

/* Asks Redis for a batch of dead processes' rooms (one call out at a time). */
static void take(void)
{
    more = 0;
    if (!asking && directory_takeover(TAKEOVER_BATCH, on_taken, on_batch, NULL) == 0) asking = 1;
}

/* ---- a stale owner: this instance's lease lapsed (paused, cut off) ---- */

static int reclaiming; /* reclaims out: the rooms' output is held until they are answered */

static int output_held(void)
{
    static int was;
    int held = reclaiming > 0 || members_lease_lapsed();
    if (held && !was)
        log_msg(LOG_WARN, "failover: rooms' output held (lease lapsed, or rooms being reclaimed)",
                "{si}", "reclaiming", reclaiming);
    was = held;
    return held;
}

static void on_reclaimed(const char *room_id, int ours, void *arg)
{
    reclaiming--;
    struct room *r = ours ? NULL : room_find(room_id);
    if (!r) return;
    log_msg(LOG_WARN, "failover: room taken over while this instance was away: dropped", "{ss}",
            "game", room_id);
    metric_add(m_taken, "disowned", 1);
    room_disown(r);
}

static void reclaim_one(const char *key, void *value, void *arg)
{
    if (directory_reclaim(key, on_reclaimed, NULL) == 0) reclaiming++;
}

static void schedule_sweep(void);

/* The lease had lapsed: each room is claimed again, and one that another instance took meanwhile
 * is dropped, its sockets told to reconnect: this instance never sends a second history. Then
 * the rooms nobody owns any more are looked for (below). */
static void on_lapse(void)
{
    room_each(reclaim_one, NULL);
    schedule_sweep();
}

/* ---- rooms without an owner: Redis lost its data ---- */

/* A Redis that lost its data (restarted without persistence) lost every room's entry and every
 * owner's set. Each live owner finds its lease gone at its next heartbeat and claims its rooms
 * again (on_lapse), but the rooms of an owner that died meanwhile are in no set TAKEOVER_LUA
 * reads: nobody would take them over. So an instance that finds its own lease gone also sweeps,
 * a lease, a heartbeat and the bus's longest reconnect backoff (5 s) later, by when every live
 * owner has its lease back (schedule_sweep): it reads from PostgreSQL, a page at a time, the
 * unfinished games with a recorded owner (games.owner, sql/008) that are older than two leases,
 * and adopts those with no directory entry whose owner's lease is gone (directory_adopt: the
 * takeover's test of liveness, in one atomic script, so each goes to one instance). A lapse of
 * its own (a pause) costs the same read and adopts nothing. A sweep the database or Redis could
 * not serve is tried again SWEEP_RETRY_MS later. */
#define SWEEP_PAGE 2000
#define SWEEP_RETRY_MS 5000
static struct event *sweep_ev;
static const char ORPHANS_SQL[] =
    "SELECT json_build_array(id::text, fence, owner) FROM games WHERE status IN ('waiting', "
    "'active') AND owner IS NOT NULL AND created_at < now() - $1::int * interval '1 millisecond' "
    "AND id > $2::uuid ORDER BY id LIMIT 2000"; /* SWEEP_PAGE */

static void sweep_in(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (sweep_ev) event_add(sweep_ev, &tv); /* a later lapse moves the sweep later */
}

static void schedule_sweep(void)
{
    sweep_in(cfg->instance_lease_ms + cfg->cluster_heartbeat_ms + SWEEP_RETRY_MS + 1000);
}

static void on_adopted(int taken, void *arg)
{
    if (!cfg) return;
    load_won();
    if (taken < 0) sweep_in(SWEEP_RETRY_MS);
    if (taken > 0)
        log_msg(LOG_WARN, "failover: rooms whose owner died while Redis had lost them adopted",
                "{si}", "rooms", taken);
}

static void sweep_page(const char *after);

static void adopt(const char **ids, uint64_t *held, const char **owners, int k)
{
    if (k && directory_adopt(ids, held, owners, k, on_taken, on_adopted, NULL) < 0)
        sweep_in(SWEEP_RETRY_MS);
}

static void on_orphans(json_t *rows, const char *sqlstate, void *arg)
{
    if (!cfg) return; /* shut down meanwhile */
    if (!rows) {      /* the database could not be asked */
        sweep_in(SWEEP_RETRY_MS);
        return;
    }
    const char *ids[DIRECTORY_ADOPT_MAX], *owners[DIRECTORY_ADOPT_MAX];
    uint64_t held[DIRECTORY_ADOPT_MAX];
    size_t n = json_array_size(rows);
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array_get(rows, i);
        const char *id = json_string_value(json_array_get(row, 0));
        const char *owner = json_string_value(json_array_get(row, 2));
        if (!id || !owner || room_find(id) || hmap_get(rebuilding, id)) continue;
        ids[k] = id, owners[k] = owner;
        held[k++] = (uint64_t)json_integer_value(json_array_get(row, 1));
        if (k == DIRECTORY_ADOPT_MAX) {
            adopt(ids, held, owners, k);
            k = 0;
        }
    }
    adopt(ids, held, owners, k);
    const char *last = json_string_value(json_array_get(json_array_get(rows, n - 1), 0));
    if (n == SWEEP_PAGE && last) sweep_page(last);
}

static void sweep_page(const char *after)
{
    char age[16];
    snprintf(age, sizeof age, "%d", 2 * cfg->instance_lease_ms);
    const char *params[2] = {age, after};
    store_pg_call(ORPHANS_SQL, 2, params, on_orphans, NULL);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    if (cfg && store_pg_active()) sweep_page("00000000-0000-0000-0000-000000000000");
}

static void restart_one(const char *key, void *value, void *arg)
{
    room_restart_sockets(value);
}

/* After each heartbeat: sockets that missed output while it was held reconnect and resume;
 * then the rooms of dead processes are taken over (Redis holds who is alive; a failure, Redis
 * away, is tried again at the next heartbeat). */
static void on_listing(void)
{
    if (!cfg) return;
    if (!reclaiming && rooms_output_held_back()) room_each(restart_one, NULL);
    take();
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    if (!members_lease_lapsed() && !reclaiming) take(); /* a stale owner first finds out */
}

int failover_rebuilding(const char *room_id)
{
    return rebuilding && room_id && hmap_get(rebuilding, room_id) != NULL;
}

int failover_init(const struct config *c)
{
    if (!c->cluster) return 0;
    cfg = c;
    static const double bounds[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
    m_taken = metrics_counter("rooms_taken_over_total",
                              "Rooms of dead instances taken over here, by outcome", "outcome");
    m_replayed =
        metrics_counter("room_takeover_events_total",
                        "Stored events of rooms taken over here, replayed into their logs", NULL);
    m_rebuild_ms = metrics_histogram("room_takeover_ms",
                                     "From winning a room to its rebuilt state (load included)",
                                     NULL, bounds, (int)(sizeof bounds / sizeof bounds[0]));
    rebuilding = hmap_new();
    if (!m_taken || !m_rebuild_ms || !m_replayed || !rebuilding) return -1;
    rooms_set_output_gate(output_held);
    members_on_lapse(on_lapse);
    /* A dead owner's lease lapses at no particular heartbeat: asking only after each one would
     * add up to a heartbeat to every takeover. Asking four times as often costs one small
     * script call (a GET per owner process) and brings that wait down to a quarter. */
    int every_ms = c->cluster_heartbeat_ms / 4 > 50 ? c->cluster_heartbeat_ms / 4 : 50;
    struct timeval tv = {every_ms / 1000, (every_ms % 1000) * 1000};
    poll_ev = event_new(loop_base(), -1, EV_PERSIST, on_poll, NULL);
    sweep_ev = evtimer_new(loop_base(), on_sweep, NULL);
    if (!poll_ev || !sweep_ev || event_add(poll_ev, &tv) < 0) return -1;
    return members_on_listing(on_listing);
}

static void free_rebuild(const char *key, void *value, void *arg)
{
    struct rebuild *b = value;
    if (b->retry) event_free(b->retry);
    free(b);
}

void failover_shutdown(void)
{
    if (!cfg) return;
    members_off_listing(on_listing);
    members_on_lapse(NULL);
    if (poll_ev) event_free(poll_ev);
    poll_ev = NULL;
    if (sweep_ev) event_free(sweep_ev);
    sweep_ev = NULL;
    rooms_set_output_gate(NULL);
    hmap_free_values(rebuilding, free_rebuild);
    rebuilding = NULL;
    cfg = NULL;
    asking = more = nwon = 0;
}
