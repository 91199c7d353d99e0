/* room.c - the room registry and a room's lifecycle: create, start, finish, free, linger; the
 * count of script failures; the simple queries. The other concerns of a room live in the
 * room_*.c files listed in room_internal.h. */
#include "room.h"

#include "agent.h"
#include "hmap.h"
#include "json_text.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "referee_pool.h"
#include "room_internal.h"
#include "store.h"
#include "trusted.h"
#include "util.h"
#include "vm.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCRIPT_FAILURES 3 /* consecutive failures before the game ends with script_error */

const struct config *room_cfg;
static struct hmap *rooms;
static size_t n_open;
static struct metric *m_active_games, *m_script_failures;
/* Set by rooms_shutdown: a room freed because the server stops is left as the store has it
 * (waiting or active), and the next start rebuilds it (room_restore). */
static int stopping;

static const char *const status_names[] = {"waiting", "active", "completed"};

/* ---------- small helpers ---------- */

const char *room_status_name(enum room_status st)
{
    return status_names[st];
}

uint64_t room_logical_now(const struct room *r)
{
    return r->started_mono ? loop_now_ms() - r->started_mono : 0;
}

void room_grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * size);
    if (!p) return;
    *arr = p;
    *cap = nc;
}

struct session *room_reply_take(struct reply *rp, json_t **re)
{
    struct session *to = rp ? rp->to : NULL;
    *re = to ? rp->re : NULL;
    if (rp) rp->to = NULL;
    return to;
}

int (*room_output_gate)(void);
int room_output_held;

void rooms_set_output_gate(int (*held)(void))
{
    room_output_gate = held;
}

int rooms_output_held_back(void)
{
    int held = room_output_held;
    room_output_held = 0;
    return held;
}

void room_restart_sockets(struct room *r)
{
    for (int i = 1; i <= r->nseats; i++)
        if (r->seats[i].session) session_close(r->seats[i].session, 1012, "service restart");
    for (size_t i = 0; i < r->nspect; i++)
        session_close(r->spectators[i], 1012, "service restart");
}

void room_disown(struct room *r)
{
    room_restart_sockets(r);
    r->disowned = 1;
    room_free(r);
}

static rooms_owner_hook owner_hook;

void rooms_set_owner_hook(rooms_owner_hook fn)
{
    owner_hook = fn;
}

int room_register(struct room *r)
{
    if (hmap_put(rooms, r->id, r) < 0) return -1;
    if (owner_hook) owner_hook(r->id, 1);
    return 0;
}

void room_each(void (*fn)(const char *key, void *value, void *arg), void *arg)
{
    hmap_each(rooms, fn, arg);
}

void room_count_script_failure(enum vm_status st)
{
    metric_add(m_script_failures, vm_status_name(st), 1);
}

void room_count_open(int delta)
{
    n_open += (size_t)(ptrdiff_t)delta;
    metric_set(m_active_games, NULL, (double)n_open);
}

/* ---------- script calls ---------- */

void room_script_failure_report(const struct room *r, enum vm_status st, const char *what,
                                const char *err)
{
    room_count_script_failure(st);
    log_msg(LOG_WARN, "game script failed", "{ss,ss,ss,ss,ss,ss}", "game", r->id, "script",
            r->game->name, "version", r->game->id, "call", what, "kind", vm_status_name(st),
            "error", err);
}

static void script_failed(struct room *r, enum vm_status st, const char *what, const char *err)
{
    room_script_failure_report(r, st, what, err);
    if (++r->script_failures >= MAX_SCRIPT_FAILURES && r->status != ROOM_COMPLETED) {
        r->script_failures = 0;
        room_finish(r, "{\"reason\":\"script_error\"}", NULL);
    }
}

int room_referee_failed(struct room *r, const char *what, enum vm_status st, const char *err)
{
    if (st == VM_OK) {
        r->script_failures = 0;
        return 0;
    }
    script_failed(r, st, what, err);
    return -1;
}

void room_script_lines(const struct room *r, const struct referee_result *res)
{
    for (int i = 0; i < res->nlogs; i++)
        log_msg(LOG_INFO, "script log", "{ss,ss,ss}", "game", r->id, "script", r->game->name,
                "text", res->logs[i]);
}

enum vm_status room_vm_setup(struct room *r, int apply_ms, char **meta, char *err, size_t len)
{
    size_t cap = (size_t)room_cfg->lua_memory_mb * 1024 * 1024;
    r->vm = referee_pool_take(r->game, cap, room_cfg->cpu_load_ms);
    if (r->vm) /* the game is loaded already */
        return referee_start(&r->ref, r->vm, r->config_json, r->seed, r->nseats,
                             room_cfg->cpu_load_ms, apply_ms, meta, err, len);
    r->vm = trusted_new("referee", cap, err, len);
    if (!r->vm) return VM_MEMORY;
    return referee_setup(&r->ref, r->vm, r->game, r->config_json, r->seed, r->nseats,
                         room_cfg->cpu_load_ms, apply_ms, meta, err, len);
}

/* ---------- the end ---------- */

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    room_free(arg);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    struct room *r = arg;
    if (!r->final_views[0]) return; /* the final state was never built: keep the state */
    for (int i = 1; i <= r->nseats; i++) {
        agent_free(r->seats[i].agent);
        r->seats[i].agent = NULL;
    }
    vm_free_later(r->vm);
    r->vm = NULL;
    r->ref.vm = NULL; /* nothing may call the referee of a freed state */
}

/* The clocks stop and the result is set. */
static void mark_completed(struct room *r, const char *result_json)
{
    r->status = ROOM_COMPLETED;
    r->ended_wall = loop_wall_ms();
    room_realtime_stop(r);
    r->to_move = 0;
    r->deadline_wall = 0;
    if (r->turn_timer) event_del(r->turn_timer);
    for (int i = 1; i <= r->nseats; i++)
        if (r->seats[i].hold_timer) event_del(r->seats[i].hold_timer);
    free(r->result_json);
    r->result_json = strdup(result_json);
    room_count_open(-1);
}

void room_finish(struct room *r, const char *result_json, struct reply *rp)
{
    if (r->status == ROOM_COMPLETED) return;
    mark_completed(r, result_json);
    log_msg(LOG_INFO, "game over", "{ss,ss,ss}", "game", r->id, "script", r->game->name, "result",
            result_json);
    room_store_settle(r);
    json_t *re;
    struct session *to = room_reply_take(rp, &re);
    room_state_sync(r, NULL, to, re);
    char *payload = NULL;
    if (asprintf(&payload, "{\"result\":%s}", result_json) < 0) payload = NULL;
    room_log_event(r, "game_over", payload, 0, NULL, NULL);
    room_store_game(r);
    store_flush(); /* an ended game is on its way to the disk before anyone can ask for it */
    rooms_lobby_broadcast("closed", r);
    /* Let go of the Lua states once the current call stack has unwound (finish can run from
     * inside a referee call that failed). */
    r->reap_ev = evtimer_new(loop_base(), on_reap, r);
    struct timeval now = {0, 0};
    event_add(r->reap_ev, &now);
    struct timeval tv = {room_cfg->finished_room_ttl_s, 0}; /* then the store answers for it */
    r->linger_timer = evtimer_new(loop_base(), on_linger, r);
    event_add(r->linger_timer, &tv);
}

void room_forfeit(struct room *r, int seat, const char *reason)
{
    char result[120];
    if (r->nseats == 2)
        snprintf(result, sizeof result, "{\"winner\":%d,\"reason\":\"%s\"}", 3 - seat, reason);
    else
        snprintf(result, sizeof result, "{\"reason\":\"%s\"}", reason);
    room_finish(r, result, NULL);
}

void room_end(struct room *r, const char *result_json)
{
    room_finish(r, result_json, NULL);
}

/* ---------- the start ---------- */

void room_start_if_full(struct room *r)
{
    if (r->status != ROOM_WAITING) return;
    for (int i = 1; i <= r->nseats; i++)
        if (r->seats[i].kind == SEAT_EMPTY) return;
    if (room_waiting_wake(r) < 0) {
        room_waiting_done(r);
        room_finish(r, "{\"reason\":\"script_error\"}", NULL);
        return;
    }
    if (room_docs_start(r) < 0) {
        room_waiting_done(r);
        room_finish(r, "{\"reason\":\"script_error\"}", NULL);
        return;
    }
    r->status = ROOM_ACTIVE;
    room_waiting_done(r);
    r->started_mono = loop_now_ms();
    r->started_wall = loop_wall_ms();
    log_msg(LOG_INFO, "game started", "{ss,ss,ss}", "game", r->id, "script", r->game->name,
            "version", r->game->id);
    rooms_lobby_broadcast("changed", r);
    room_store_game(r);
    if (r->realtime)
        room_realtime_start(r);
    else
        room_turn_start(r);
}

/* ---------- creation ---------- */

int room_seats_for(const struct script_version *game, const json_t *config)
{
    int min = (int)json_integer_value(json_object_get(game->meta, "min"));
    int max = (int)json_integer_value(json_object_get(game->meta, "max"));
    json_t *want = json_object_get(config, "seats");
    if (json_is_integer(want) && json_integer_value(want) >= min && json_integer_value(want) <= max)
        return (int)json_integer_value(want);
    return max > ROOM_MAX_SEATS ? ROOM_MAX_SEATS : max;
}

int room_configure(struct room *r)
{
    const json_t *meta = r->game->meta;
    r->rate = (int)json_integer_value(json_object_get(meta, "tick_rate"));
    r->realtime = r->rate > 0;
    if (r->realtime && !(r->queue = calloc(INPUT_QUEUE_MAX, sizeof *r->queue))) return -1;
    int send_rate = (int)json_integer_value(json_object_get(meta, "send_rate"));
    r->send_every = r->realtime && send_rate > 0 && send_rate < r->rate ? r->rate / send_rate : 1;
    r->turn_time_ms = (int)json_integer_value(json_object_get(meta, "turn_time_ms"));
    r->timeout_random =
        strcmp(json_string_value(json_object_get(meta, "on_timeout")) ?: "", "random") == 0;
    r->gm = json_is_true(json_object_get(meta, "game_master")) ? 1 : 0; /* the creator's seat */
    for (int i = 1; i <= r->nseats; i++)
        r->seats[i] = (struct seat){.room = r, .index = i};
    return 0;
}

/* Whether a room may be created now; code and msg say why not. */
static int create_allowed(const struct room_owner *owner, const char **code, char *msg,
                          size_t msglen)
{
    if (n_open >= (size_t)room_cfg->max_rooms || !store_accepting()) {
        *code = "SERVER_BUSY";
        snprintf(msg, msglen,
                 n_open >= (size_t)room_cfg->max_rooms ? "too many rooms are open"
                                                       : "storage is behind: try again shortly");
        return 0;
    }
    if (owner && !room_waiting_allowed(owner, msg, msglen)) {
        *code = "RATE_LIMIT_EXCEEDED";
        return 0;
    }
    return 1;
}

/* A new room for version v (one reference taken), configured but without its Lua state, or
 * NULL without memory. */
static struct room *room_new(struct script_version *v, json_t *config, int is_private)
{
    struct room *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    util_uuid(r->id);
    script_version_ref(v);
    r->game = v;
    r->is_private = is_private;
    r->created_wall = loop_wall_ms();
    util_random_bytes(&r->seed, sizeof r->seed);
    r->seed &= 0x7fffffff;
    r->nseats = room_seats_for(r->game, config);
    if (room_configure(r) < 0) {
        script_version_unref(v);
        free(r);
        return NULL;
    }
    r->config_json = config ? json_text_dump(config) : NULL;
    return r;
}

struct room *room_create(const char *game, json_t *config, int is_private,
                         const struct room_owner *owner, const char **code, char *msg,
                         size_t msglen)
{
    struct script_version *v = scripts_game(game);
    if (!v) {
        *code = "NOT_FOUND";
        snprintf(msg, msglen, "no game named %s", game);
        return NULL;
    }
    if (!create_allowed(owner, code, msg, msglen)) return NULL;
    struct room *r = room_new(v, config, is_private);
    if (!r) {
        *code = "SERVER_BUSY";
        snprintf(msg, msglen, "out of memory");
        return NULL;
    }
    char err[600] = "cannot create a Lua state";
    enum vm_status st = room_vm_setup(r, room_cfg->cpu_apply_ms, NULL, err, sizeof err);
    if (st != VM_OK && r->vm) room_count_script_failure(st);
    if (st != VM_OK || room_register(r) < 0) {
        log_msg(LOG_WARN, "room setup failed", "{ss,ss}", "script", game, "error", err);
        *code = "INTERNAL";
        snprintf(msg, msglen, "the game failed to start: %s", err);
        vm_free(r->vm);
        script_version_unref(r->game);
        free(r->config_json);
        free(r->queue);
        free(r);
        return NULL;
    }
    room_waiting_start(r, owner);
    script_version_store(v);
    room_store_game(r);
    room_count_open(1);
    log_msg(LOG_INFO, "room created", "{ss,ss,ss,si}", "game", r->id, "script", v->name, "version",
            v->id, "seats", r->nseats);
    rooms_lobby_broadcast("opened", r);
    return r;
}

/* ---------- freeing ---------- */

void room_free(struct room *r)
{
    hmap_del(rooms, r->id);
    if (owner_hook) owner_hook(r->id, 0);
    if (r->status != ROOM_COMPLETED && !stopping) {
        if (!r->disowned) room_store_aborted(r);
        room_count_open(-1);
        rooms_lobby_broadcast("closed", r);
    }
    room_realtime_free(r);
    room_seats_free(r);
    if (r->turn_timer) event_free(r->turn_timer);
    if (r->linger_timer) event_free(r->linger_timer);
    room_waiting_done(r);
    if (r->expire_timer) event_free(r->expire_timer);
    if (r->idle_timer) event_free(r->idle_timer);
    if (r->reap_ev) event_free(r->reap_ev);
    for (int i = 0; i <= r->nseats; i++)
        free(r->final_views[i]);
    room_log_free(r);
    free(r->config_json);
    free(r->result_json);
    free(r->agent_view);
    free(r->agent_legal);
    free(r->players_cache);
    vm_free_later(r->vm);
    script_version_unref(r->game);
    free(r);
}

/* ---------- queries ---------- */

struct room *room_find(const char *id)
{
    return rooms ? hmap_get(rooms, id) : NULL;
}

const char *room_id(const struct room *r)
{
    return r->id;
}

const char *room_game(const struct room *r)
{
    return r->game->name;
}

enum room_status room_status(const struct room *r)
{
    return r->status;
}

int room_is_realtime(const struct room *r)
{
    return r->realtime;
}

size_t rooms_count(void)
{
    return n_open;
}

/* ---------- the registry ---------- */

int rooms_init(const struct config *config)
{
    room_cfg = config;
    m_active_games = metrics_gauge("active_game_sessions", "Rooms open (waiting or active)", NULL);
    m_script_failures = metrics_counter(
        "script_failures_total", "Script calls that failed, by kind (error, cpu, memory)", "kind");
    rooms = hmap_new();
    return rooms && m_active_games && m_script_failures && room_waiting_init() == 0 &&
                   room_realtime_init() == 0 && room_external_init() == 0
               ? 0
               : -1;
}

void rooms_shutdown(void)
{
    void *vals[4096];
    size_t n;
    /* A stop leaves its games as they are: to the next start, or in a cluster to the instance
     * that takes them over once this one's lease is gone (failover.h). */
    stopping = 1;
    while (rooms && (n = hmap_values(rooms, vals, 4096)) > 0)
        for (size_t i = 0; i < n; i++)
            room_free(vals[i]);
    hmap_free(rooms);
    rooms = NULL;
    room_waiting_shutdown();
    room_lobby_shutdown();
    stopping = 0;
}
