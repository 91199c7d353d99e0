#include "room.h"

#include "agent.h"
#include "hmap.h"
#include "json_text.h"
#include "log.h"
#include "loop.h"
#include "lua_vm.h"
#include "frame.h"
#include "referee.h"
#include "replay.h"
#include "metrics.h"
#include "accounts.h"
#include "store.h"
#include "bus_redis.h"
#include "tick.h"
#include "trusted.h"
#include "util.h"

#include <event2/event.h>
#include <lauxlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINGER_S 600          /* a finished room stays readable this long */
#define MAX_SCRIPT_FAILURES 3 /* consecutive failures before the game ends with script_error */
#define INPUT_QUEUE_MAX 128   /* real-time inputs waiting for the next tick, per room */
#define CHECKPOINT_S 1        /* real-time: a state hash is recorded every second */

enum seat_kind { SEAT_EMPTY, SEAT_HUMAN, SEAT_AGENT };

struct seat {
    struct room *room;
    int index;
    enum seat_kind kind;
    char player_id[80]; /* a player's UUID, or "agent:<name>" */
    char name[40];
    struct session *session; /* NULL while disconnected */
    struct event *hold_timer;
    struct agent *agent;
    char *view; /* real-time agent: its latest view, for act */
};

struct queued_input {
    int seat;
    char *action;
    const char *source;
};

struct log_entry {
    uint64_t seq;
    const char *type;
    char *payload;
    int only_seat;
    uint64_t t;
    uint64_t order;
};

struct input_rec {
    int seat;
    char *action;
    const char *source;
    uint64_t t;
    uint64_t order;
};

struct room {
    char id[UUID_LEN + 1];
    struct script_version *game;
    struct vm *vm;
    struct referee ref; /* the game in vm (referee.h) */
    uint64_t lua_us;    /* wall time in Lua calls, summed per real-time tick (tick_lua_ms) and
                           per state sent (state_lua_ms) */
    enum room_status status;
    int is_private;
    int nseats, realtime, turn_time_ms, timeout_random;
    struct seat seats[ROOM_MAX_SEATS + 1]; /* 1-based */
    struct session **spectators;
    size_t nspect, capspect;
    uint32_t seed;
    char *config_json;
    uint64_t seq, order;
    struct log_entry *log;
    size_t nlog, caplog;
    struct input_rec *inputs;
    size_t ninputs, capinputs;
    uint64_t started_mono;
    double created_wall, started_wall, ended_wall;
    int to_move;
    double deadline_wall;
    struct event *turn_timer, *linger_timer;
    char *result_json;
    int script_failures;
    char *agent_view, *agent_legal; /* the view and legal list of the agent to move */
    /* While a player's input is applied: the first message that socket gets because of it
     * carries the request's re (its acknowledgement). */
    /* Real-time rooms: the scheduler entry, and inputs validated on arrival that wait for the
     * next tick, in arrival order. */
    struct tick_entry *ticker;
    int rate, send_every;
    uint64_t tick_no;
    struct queued_input *queue; /* INPUT_QUEUE_MAX entries, real-time rooms only */
    int nqueue;
    /* A finished room lets go of its Lua states soon after the end (reap_ev) and answers
     * from the final views it kept: seat 0 is the spectators'. */
    char *final_views[ROOM_MAX_SEATS + 1];
    struct event *reap_ev;
    /* The players array of game_state, rebuilt only when a seat changes (who, kind,
     * connected): a real-time room sends states 20 times a second. */
    char *players_cache;
    char players_sig[ROOM_MAX_SEATS * 10 + 1];
    /* Who the room was created for, while its waiting counts against them (waiting_*). */
    char owner_key[80], owner_addr_key[60];
    struct event *expire_timer; /* --waiting-room-ttl: closes a room that never started */
    struct event *idle_timer;   /* --waiting-room-idle: the waiting room drops its Lua state */
};

static const struct config *cfg;
static struct hmap *rooms;
static size_t n_open;
/* Rooms waiting for players, counted per owner ("p:" player id) and per owner's address
 * ("a:" address): an anonymous client cannot hold thousands of empty rooms open. The value is
 * the count itself. */
static struct hmap *waiting;

static const char *const status_names[] = {"waiting", "active", "completed"};

/* ---------- small helpers ---------- */

static long waiting_count(const char *key)
{
    return *key ? (long)(intptr_t)hmap_get(waiting, key) : 0;
}

static void waiting_add(const char *key, long delta)
{
    if (!*key) return;
    long n = waiting_count(key) + delta;
    if (n > 0)
        hmap_put(waiting, key, (void *)(intptr_t)n);
    else
        hmap_del(waiting, key);
}

/* The room no longer waits (it started or closed): its owner may open another. */
static void waiting_done(struct room *r)
{
    waiting_add(r->owner_key, -1);
    waiting_add(r->owner_addr_key, -1);
    r->owner_key[0] = r->owner_addr_key[0] = '\0';
    if (r->expire_timer) event_del(r->expire_timer);
    if (r->idle_timer) event_del(r->idle_timer);
}

/* Whether owner may have one more room waiting; msg says why not. */
static int waiting_allowed(const struct room_owner *owner, char *msg, size_t msglen)
{
    char key[80];
    snprintf(key, sizeof key, "p:%s", owner->player_id);
    if (waiting_count(key) >= cfg->waiting_rooms_per_player) {
        snprintf(msg, msglen, "you already have %d rooms waiting for players",
                 cfg->waiting_rooms_per_player);
        return 0;
    }
    snprintf(key, sizeof key, "a:%s", owner->address ? owner->address : "");
    if (owner->address && *owner->address && waiting_count(key) >= cfg->waiting_rooms_per_address) {
        snprintf(msg, msglen, "%d rooms from your address are waiting for players",
                 cfg->waiting_rooms_per_address);
        return 0;
    }
    return 1;
}

static uint64_t logical_now(const struct room *r)
{
    return r->started_mono ? loop_now_ms() - r->started_mono : 0;
}

/* ---------- persistence ---------- */

static void store_game(const struct room *r)
{
    json_t *row =
        json_pack("{ss,ss,ss,ss,sI,si,sf}", "id", r->id, "game", r->game->name, "version",
                  r->game->id, "status",
                  r->status == ROOM_WAITING  ? "waiting"
                  : r->status == ROOM_ACTIVE ? "active"
                                             : "completed",
                  "seed", (json_int_t)r->seed, "seats", r->nseats, "created_at", r->created_wall);
    json_object_set_new(row, "config",
                        r->config_json ? json_loads(r->config_json, 0, NULL) : json_null());
    json_object_set_new(row, "result",
                        r->result_json ? json_loads(r->result_json, 0, NULL) : json_null());
    json_object_set_new(row, "started_at",
                        r->started_wall > 0 ? json_real(r->started_wall) : json_null());
    json_object_set_new(row, "ended_at",
                        r->ended_wall > 0 ? json_real(r->ended_wall) : json_null());
    json_object_set_new(row, "tick_rate", json_integer(r->rate));
    json_object_set_new(row, "private", json_boolean(r->is_private));
    json_object_set_new(row, "ticks",
                        r->realtime ? json_integer((json_int_t)r->tick_no) : json_null());
    store_put("games", row);
}

static void store_participant(const struct room *r, int seat, json_t *score)
{
    const struct seat *st = &r->seats[seat];
    int agent = st->kind == SEAT_AGENT;
    json_t *row = json_pack("{ss,si,ss}", "game_id", r->id, "seat", seat, "name", st->name);
    json_object_set_new(row, "player_id", agent ? json_null() : json_string(st->player_id));
    json_object_set_new(row, "agent", agent ? json_string(st->player_id + 6) : json_null());
    json_object_set_new(row, "score", score ? json_incref(score) : json_null());
    store_put("game_participants", row);
}

/* FNV-1a 64 of the referee's state in canonical form: the replay check compares it input by
 * input (lua/sandbox.lua, canonical_hash). */

static void update_gauge(void)
{
    metric_set(m_active_games, NULL, (double)n_open);
}

static struct membership *membership_of(struct session *s, const struct room *r)
{
    for (struct membership *m = s->rooms; m; m = m->next)
        if (m->room == r) return m;
    return NULL;
}

/* Finished rooms a socket stays attached to (for their final state, chat and leave_game):
 * the most recent ones. A client playing game after game on one socket would otherwise stay
 * attached to every room of the last 10 minutes, and every lookup walks that list. */
#define FINISHED_ATTACHED_MAX 8

static void remove_spectator(struct room *r, struct session *s);

/* Detaches s from the finished rooms after the first FINISHED_ATTACHED_MAX on its list (the
 * list is newest first), on the room's side too. */
static void trim_finished(struct session *s)
{
    int kept = 0;
    for (struct membership **pp = &s->rooms; *pp;) {
        struct membership *m = *pp;
        if (m->room->status != ROOM_COMPLETED || ++kept <= FINISHED_ATTACHED_MAX) {
            pp = &m->next;
            continue;
        }
        if (m->seat > 0 && m->room->seats[m->seat].session == s)
            m->room->seats[m->seat].session = NULL;
        else
            remove_spectator(m->room, s);
        *pp = m->next;
        free(m);
    }
}

static void attach(struct session *s, struct room *r, int seat)
{
    struct membership *m = membership_of(s, r);
    if (!m) {
        trim_finished(s);
        m = calloc(1, sizeof *m);
        if (!m) return;
        m->room = r;
        m->next = s->rooms;
        s->rooms = m;
    }
    m->seat = seat;
}

static void detach(struct session *s, const struct room *r)
{
    for (struct membership **pp = &s->rooms; *pp; pp = &(*pp)->next)
        if ((*pp)->room == r) {
            struct membership *m = *pp;
            *pp = m->next;
            free(m);
            return;
        }
}

static void remove_spectator(struct room *r, struct session *s)
{
    for (size_t i = 0; i < r->nspect; i++)
        if (r->spectators[i] == s) {
            r->spectators[i] = r->spectators[--r->nspect];
            return;
        }
}

/* Builds {"type":T,"gameId":ID,"seq":N,"payload":P[,"re":RE]} into a wsbuf. */
/* {"type":type,"gameId":...,"seq":seq,"payload":payload,"re":re}: a message of the room's log. */
static struct wsbuf *game_msg(const struct room *r, const char *type, uint64_t seq,
                              const char *payload, json_t *re)
{
    struct frame *f = frame_begin(type);
    frame_game(f, r->id, seq);
    frame_key(f, "payload");
    frame_put(f, payload);
    return frame_end(f, re);
}

static void send_buf(struct session *s, struct wsbuf *b)
{
    if (s && b) session_send(s, b);
}

/* send_buf of a buffer made for s alone, which is let go of after. */
static void send_once(struct session *s, struct wsbuf *b)
{
    send_buf(s, b);
    if (b) wsbuf_unref(b);
}

/* ---------- script calls ---------- */

static void script_failed(struct room *r, enum vm_status st, const char *what, const char *err);
struct reply;
static void finish(struct room *r, const char *result_json, struct reply *rp);

/* A call's failure: counted, logged, and after MAX_SCRIPT_FAILURES in a row the game ends. */
static int referee_failed(struct room *r, const char *what, enum vm_status st, const char *err)
{
    if (st == VM_OK) {
        r->script_failures = 0;
        return 0;
    }
    script_failed(r, st, what, err);
    return -1;
}

/* The ctx.log lines a call returned go to the server log with the room's ids. */
static void log_script_lines(const struct room *r, const struct referee_result *res)
{
    for (int i = 0; i < res->nlogs; i++)
        log_msg(LOG_INFO, "script log", "{ss,ss,ss}", "game", r->id, "script", r->game->name,
                "text", res->logs[i]);
}

/* Wall time in Lua, summed per real-time tick (tick_lua_ms) and per state sent. */
#define TIMED(r, call)                                                                             \
    do {                                                                                           \
        uint64_t t0_ = loop_now_us();                                                              \
        call;                                                                                      \
        (r)->lua_us += loop_now_us() - t0_;                                                        \
    } while (0)

/* ---------- the log ---------- */

/* The answer to a request that a move's first message carries ("re"): whichever message goes
 * out first to the requester (its first event, else the game_state) takes it, once. */
struct reply {
    struct session *to;
    json_t *re;
};

/* The requester and its re for the next message, then nothing more. */
static struct session *reply_take(struct reply *rp, json_t **re)
{
    struct session *to = rp ? rp->to : NULL;
    *re = to ? rp->re : NULL;
    if (rp) rp->to = NULL;
    return to;
}

static void grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * size);
    if (!p) return;
    *arr = p;
    *cap = nc;
}

static const char hidden_payload[] = "{\"event\":{\"kind\":\"hidden\"}}";

/* Sends event e to session s attached at seat (0: spectator). */
static void send_event(const struct room *r, const struct log_entry *e, struct session *s, int seat,
                       json_t *re)
{
    const char *payload = e->only_seat && e->only_seat != seat ? hidden_payload : e->payload;
    struct wsbuf *b = game_msg(r, e->type, e->seq, payload, re);
    send_once(s, b);
}

/* {"event":<the event's JSON>}, malloc'd (NULL without memory): the payload log_event takes. */
static char *event_payload(const struct referee_event *e)
{
    char *p = malloc(e->len + 11);
    if (!p) return NULL;
    memcpy(p, "{\"event\":", 9);
    memcpy(p + 9, e->json, e->len);
    memcpy(p + 9 + e->len, "}", 2);
    return p;
}

/* Appends an event (takes payload) and sends it to everyone attached; reply_to gets re. */
static void log_event(struct room *r, const char *type, char *payload, int only_seat,
                      struct session *reply_to, json_t *re)
{
    grow((void **)&r->log, &r->caplog, r->nlog, sizeof *r->log);
    if (r->nlog == r->caplog || !payload) {
        free(payload);
        return;
    }
    struct log_entry *e = &r->log[r->nlog++];
    *e = (struct log_entry){++r->seq, type, payload, only_seat, logical_now(r), ++r->order};
    store_put_json("game_events",
                   json_pack("{ss,sI,ss,sI}", "game_id", r->id, "seq", (json_int_t)e->seq, "type",
                             type, "t", (json_int_t)e->t),
                   "payload", payload);
    /* Build each distinct frame once: the full one, and the hidden one for a seat-only event. */
    struct wsbuf *full = game_msg(r, type, e->seq, payload, NULL);
    if (full && bus_enabled()) {
        char channel[64];
        snprintf(channel, sizeof channel, "game:%s:events", r->id);
        bus_publish(channel, (const char *)full->data, full->len);
    }
    struct wsbuf *hidden = only_seat ? game_msg(r, type, e->seq, hidden_payload, NULL) : NULL;
    for (int i = 1; i <= r->nseats; i++) {
        struct session *s = r->seats[i].session;
        if (!s) continue;
        if (s == reply_to)
            send_event(r, e, s, i, re);
        else
            send_buf(s, only_seat && only_seat != i ? hidden : full);
    }
    for (size_t i = 0; i < r->nspect; i++) {
        struct session *s = r->spectators[i];
        if (s == reply_to)
            send_event(r, e, s, 0, re);
        else
            send_buf(s, only_seat ? hidden : full);
    }
    wsbuf_unref(full);
    wsbuf_unref(hidden);
}

static void record_input(struct room *r, int seat, const char *action, const char *source,
                         const char *hash)
{
    grow((void **)&r->inputs, &r->capinputs, r->ninputs, sizeof *r->inputs);
    if (r->ninputs == r->capinputs) return;
    struct input_rec *in = &r->inputs[r->ninputs++];
    *in = (struct input_rec){seat, strdup(action), source, logical_now(r), ++r->order};
    store_put_json("game_inputs",
                   json_pack("{ss,sI,si,ss,sI,ss}", "game_id", r->id, "ord", (json_int_t)in->order,
                             "seat", seat, "source", source, "t", (json_int_t)in->t, "state_hash",
                             hash),
                   "action", action);
}

static char *seat_payload(const struct seat *st)
{
    json_t *p = json_pack("{si,ss,ss,ss}", "seat", st->index, "playerId", st->player_id, "name",
                          st->name, "kind", st->kind == SEAT_AGENT ? "agent" : "human");
    char *text = json_text_dump(p);
    json_decref(p);
    return text;
}

/* ---------- game_state ---------- */

static char *players_json(const struct room *r)
{
    json_t *arr = json_array();
    for (int i = 1; i <= r->nseats; i++) {
        const struct seat *st = &r->seats[i];
        if (st->kind == SEAT_EMPTY) continue;
        json_array_append_new(
            arr, json_pack("{si,ss,ss,ss,sb}", "seat", i, "playerId", st->player_id, "name",
                           st->name, "kind", st->kind == SEAT_AGENT ? "agent" : "human",
                           "connected", st->kind == SEAT_AGENT || st->session != NULL));
    }
    char *text = json_text_dump(arr);
    json_decref(arr);
    return text;
}

/* players_json, cached until the seats change. The string belongs to the room. */
static const char *room_players(struct room *r)
{
    char sig[sizeof r->players_sig];
    size_t n = 0;
    for (int i = 1; i <= r->nseats; i++) {
        const struct seat *st = &r->seats[i];
        n += (size_t)snprintf(sig + n, sizeof sig - n, "%d%d%.8s", st->kind, st->session != NULL,
                              st->player_id);
    }
    if (!r->players_cache || strcmp(sig, r->players_sig) != 0) {
        free(r->players_cache);
        r->players_cache = players_json(r);
        util_strlcpy(r->players_sig, sig, sizeof r->players_sig);
    }
    return r->players_cache ? r->players_cache : "[]";
}

static struct wsbuf *state_msg(const struct room *r, const char *players, int seat,
                               const char *view, const char *legal, json_t *re)
{
    struct frame *f = frame_begin("game_state");
    frame_game(f, r->id, r->seq);
    frame_put(f, ",\"payload\":{\"game\":\"");
    frame_put(f, r->game->name);
    frame_put(f, "\",\"status\":\"");
    frame_put(f, status_names[r->status]);
    frame_put(f, "\"");
    frame_key(f, "players");
    frame_put(f, players);
    if (seat) {
        frame_key(f, "you");
        frame_int(f, seat);
    }
    if (r->status == ROOM_ACTIVE && r->to_move) {
        frame_key(f, "toMove");
        frame_int(f, r->to_move);
        if (r->deadline_wall > 0) {
            frame_key(f, "deadline");
            frame_int(f, (int64_t)rint(r->deadline_wall)); /* as "%.0f" */
        }
    }
    if (legal && r->status == ROOM_ACTIVE) {
        frame_key(f, "legal");
        frame_put(f, legal);
    }
    frame_key(f, "state");
    frame_put(f, view);
    if (r->result_json) {
        frame_key(f, "result");
        frame_put(f, r->result_json);
    }
    frame_put(f, "}");
    return frame_end(f, re);
}

/* sync_state for a finished room whose Lua state is gone: the final views it kept. */
static void sync_final(struct room *r, struct session *only, struct session *reply_to, json_t *re)
{
    const char *players = room_players(r);
    for (int seat = 0; seat <= r->nseats; seat++) {
        const char *view = r->final_views[seat] ? r->final_views[seat] : "{}";
        if (seat == 0) {
            for (size_t i = 0; i < r->nspect; i++) {
                struct session *s = r->spectators[i];
                if (only && s != only) continue;
                struct wsbuf *b = state_msg(r, players ? players : "[]", 0, view, NULL,
                                            s == reply_to ? re : NULL);
                send_once(s, b);
            }
        } else if (r->seats[seat].session && (!only || r->seats[seat].session == only)) {
            struct session *s = r->seats[seat].session;
            struct wsbuf *b =
                state_msg(r, players ? players : "[]", seat, view, NULL, s == reply_to ? re : NULL);
            send_once(s, b);
        }
    }
}

/* Sends a fresh game_state: to only (when non-NULL) or to everyone attached. reply_to gets re.
 * Keeps the view of an agent to move for its next decision. */
/* The seats whose view sync_state needs, as a mask of 1 << seat (0: the spectators'): a seat
 * with nobody to send it to costs a view and its encoding for nothing. A finished room keeps
 * every view; an agent needs its own when it is to move, or every tick in real time. */
static unsigned views_wanted(const struct room *r, const struct session *only)
{
    unsigned mask = r->nspect > 0 || r->status == ROOM_COMPLETED ? 1u : 0u;
    for (int seat = 1; seat <= r->nseats; seat++) {
        const struct seat *st = &r->seats[seat];
        int want = r->status == ROOM_COMPLETED ||
                   (st->kind == SEAT_AGENT && (r->realtime || seat == r->to_move)) ||
                   (st->kind != SEAT_AGENT && st->session && (!only || st->session == only));
        if (want) mask |= 1u << seat;
    }
    return mask;
}

static void sync_state(struct room *r, struct session *only, struct session *reply_to, json_t *re)
{
    if (r->final_views[0]) {
        sync_final(r, only, reply_to, re);
        return;
    }
    unsigned wanted = views_wanted(r, only);
    struct referee_view views[ROOM_MAX_SEATS + 1];
    char err[600];
    enum vm_status st;
    TIMED(r, st = referee_views(&r->ref, r->to_move, wanted, views, err, sizeof err));
    int ok = referee_failed(r, "view", st, err) == 0;
    const char *players = room_players(r);

    struct wsbuf *spect = NULL;
    for (int seat = 0; seat <= r->nseats; seat++) {
        if (!(wanted & (1u << seat))) continue;
        const char *view = ok && views[seat].json ? views[seat].json : "{}";
        const char *legal = ok ? views[seat].legal : NULL;
        if (r->status == ROOM_COMPLETED) {
            free(r->final_views[seat]);
            r->final_views[seat] = strdup(view);
        }
        if (seat > 0 && r->seats[seat].kind == SEAT_AGENT && r->realtime) {
            free(r->seats[seat].view);
            r->seats[seat].view = strdup(view);
        } else if (seat > 0 && r->seats[seat].kind == SEAT_AGENT && seat == r->to_move) {
            free(r->agent_view);
            free(r->agent_legal);
            r->agent_view = strdup(view);
            r->agent_legal = legal ? strdup(legal) : NULL;
        }
        if (seat == 0) {
            if (r->nspect) spect = state_msg(r, players, 0, view, NULL, NULL);
            for (size_t i = 0; i < r->nspect; i++) {
                struct session *s = r->spectators[i];
                if (only && s != only) continue;
                if (s == reply_to) {
                    struct wsbuf *b = state_msg(r, players, 0, view, NULL, re);
                    send_once(s, b);
                } else {
                    send_buf(s, spect);
                }
            }
        } else {
            struct session *s = r->seats[seat].session;
            if (s && (!only || s == only)) {
                struct wsbuf *b =
                    state_msg(r, players, seat, view, legal, s == reply_to ? re : NULL);
                send_once(s, b);
            }
        }
    }
    wsbuf_unref(spect);
}

/* ---------- turns, agents, the clock ---------- */

static void on_agent_done(const char *room_id, int seat, const struct agent_result *res);
static const char *apply_action(struct room *r, int seat, const char *action, const char *source,
                                struct reply *rp, char *msg, size_t msglen);

static void forfeit_result(const struct room *r, int seat, const char *reason, char *out,
                           size_t len);

static void on_turn_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct room *r = arg;
    int seat = r->to_move;
    if (r->status != ROOM_ACTIVE || !seat) return;
    log_msg(LOG_INFO, "turn clock expired", "{ss,si,ss}", "game", r->id, "seat", seat, "policy",
            r->timeout_random ? "random" : "forfeit");
    char *ev = NULL;
    if (asprintf(&ev, "{\"event\":{\"kind\":\"timeout\",\"seat\":%d}}", seat) < 0) ev = NULL;
    log_event(r, "game_event", ev, 0, NULL, NULL);
    char *action = NULL, err[600];
    if (r->timeout_random &&
        referee_failed(r, "legal", referee_random_legal(&r->ref, seat, &action, err, sizeof err),
                       err) == 0) {
        char msg[200];
        if (action && !apply_action(r, seat, action, "timeout", NULL, msg, sizeof msg)) {
            free(action);
            return;
        }
    }
    free(action);
    char result[120];
    forfeit_result(r, seat, "timeout", result, sizeof result);
    finish(r, result, NULL);
}

/* After anything that may change whose turn it is: deadline, game_state to all, then either
 * the agent to move starts thinking or the turn clock starts. */
static void advance(struct room *r, struct reply *rp)
{
    if (r->turn_timer) event_del(r->turn_timer);
    r->deadline_wall = 0;
    const struct seat *st = r->to_move ? &r->seats[r->to_move] : NULL;
    if (st && st->kind == SEAT_HUMAN && r->turn_time_ms > 0)
        r->deadline_wall = loop_wall_ms() + r->turn_time_ms;
    json_t *re;
    struct session *to = reply_take(rp, &re);
    sync_state(r, NULL, to, re);
    if (r->status != ROOM_ACTIVE || !st) return;
    if (st->kind == SEAT_AGENT && st->agent && r->agent_view) {
        if (agent_choose(st->agent, r->id, r->agent_view, r->agent_legal ? r->agent_legal : "[]",
                         logical_now(r), cfg->cpu_choose_ms, on_agent_done) < 0)
            log_msg(LOG_WARN, "agent busy or not queued", "{ss,si}", "game", r->id, "seat",
                    r->to_move);
    } else if (r->deadline_wall > 0) {
        struct timeval tv = {r->turn_time_ms / 1000, (r->turn_time_ms % 1000) * 1000};
        if (!r->turn_timer) r->turn_timer = evtimer_new(loop_base(), on_turn_timeout, r);
        event_add(r->turn_timer, &tv);
    }
}

static void on_agent_done(const char *room_id, int seat, const struct agent_result *res)
{
    struct room *r = room_find(room_id);
    if (!r || r->status != ROOM_ACTIVE || r->to_move != seat || r->seats[seat].kind != SEAT_AGENT)
        return;
    char msg[300];
    if (res->status != VM_OK) {
        metric_add(m_script_failures, vm_status_name(res->status), 1);
        log_msg(LOG_WARN, "agent failed: playing a random legal move", "{ss,ss,si,ss,ss}", "game",
                r->id, "agent", agent_version(r->seats[seat].agent)->name, "seat", seat, "kind",
                vm_status_name(res->status), "error", res->error);
    }
    if (res->reasoning && *res->reasoning) {
        json_t *ev = json_pack("{s{ss,si,ss}}", "event", "kind", "agent_reasoning", "seat", seat,
                               "text", res->reasoning);
        log_event(r, "game_event", json_text_dump(ev), 0, NULL, NULL);
        json_decref(ev);
    }
    if (res->action_json &&
        !apply_action(r, seat, res->action_json, "agent", NULL, msg, sizeof msg))
        return;
    if (res->action_json)
        log_msg(LOG_WARN, "agent chose an illegal move: playing a random legal move", "{ss,si,ss}",
                "game", r->id, "seat", seat, "reason", msg);
    char *action = NULL, err[600];
    if (referee_failed(r, "legal", referee_random_legal(&r->ref, seat, &action, err, sizeof err),
                       err) < 0)
        return;
    if (!action || apply_action(r, seat, action, "agent", NULL, msg, sizeof msg)) {
        char result[120];
        snprintf(result, sizeof result, "{\"reason\":\"script_error\"}");
        finish(r, result, NULL);
    }
    free(action);
}

/* Applies a turn-based action: one referee call checks it, applies it and says what follows.
 * rp (may be NULL) is the requester's answer, carried by the first message it gets. Returns
 * NULL when applied, else the error code with msg (the caller answers it). */
static const char *apply_action(struct room *r, int seat, const char *action, const char *source,
                                struct reply *rp, char *msg, size_t msglen)
{
    static struct referee_result res; /* large; the loop thread's alone */
    TIMED(r, referee_apply(&r->ref, seat, action, strlen(action), (double)logical_now(r), &res));
    log_script_lines(r, &res);
    if (res.verdict == REFEREE_FAILED) {
        referee_failed(r, "apply", res.status, res.err);
        snprintf(msg, msglen, "the game script failed (%s)", vm_status_name(res.status));
        return "INTERNAL";
    }
    r->script_failures = 0;
    if (res.verdict == REFEREE_NOT_YOUR_TURN) {
        snprintf(msg, msglen, "it is not your turn");
        return "NOT_YOUR_TURN";
    }
    if (res.verdict == REFEREE_ILLEGAL) {
        snprintf(msg, msglen, "%s", res.reason ? res.reason : "illegal action");
        return "ILLEGAL_MOVE";
    }
    record_input(r, seat, action, source, res.hash);
    for (int i = 0; i < res.nevents; i++) {
        json_t *re;
        struct session *to = reply_take(rp, &re);
        log_event(r, "game_event", event_payload(&res.events[i]), res.events[i].seat, to, re);
    }
    r->to_move = res.to_move;
    if (res.outcome) {
        char *over = strdup(res.outcome);
        finish(r, over, rp);
        free(over);
    } else {
        advance(r, rp);
    }
    return NULL;
}

static void script_failed(struct room *r, enum vm_status st, const char *what, const char *err)
{
    metric_add(m_script_failures, vm_status_name(st), 1);
    log_msg(LOG_WARN, "game script failed", "{ss,ss,ss,ss,ss,ss}", "game", r->id, "script",
            r->game->name, "version", r->game->id, "call", what, "kind", vm_status_name(st),
            "error", err);
    if (++r->script_failures >= MAX_SCRIPT_FAILURES && r->status != ROOM_COMPLETED) {
        r->script_failures = 0;
        finish(r, "{\"reason\":\"script_error\"}", NULL);
    }
}

/* ---------- lifecycle ---------- */

static void room_free(struct room *r);

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
    room_free(arg);
}

/* Writes the final rows and updates the players' statistics and ratings. */
static void settle(struct room *r)
{
    json_t *result = json_loads(r->result_json, 0, NULL);
    json_t *scores = json_object_get(result, "scores");
    const char *ids[ROOM_MAX_SEATS], *names[ROOM_MAX_SEATS];
    int filled = 1;
    for (int i = 1; i <= r->nseats; i++) {
        store_participant(r, i,
                          json_is_array(scores) ? json_array_get(scores, (size_t)i - 1) : NULL);
        ids[i - 1] = r->seats[i].player_id;
        names[i - 1] = r->seats[i].name;
        filled &= r->seats[i].kind != SEAT_EMPTY;
    }
    const char *reason = json_string_value(json_object_get(result, "reason"));
    int rated = filled && r->started_mono && reason && strcmp(reason, "script_error") != 0 &&
                strcmp(reason, "aborted") != 0;
    if (rated)
        accounts_record_result(r->id, ids, names, r->nseats,
                               (int)json_integer_value(json_object_get(result, "winner")),
                               json_is_true(json_object_get(result, "draw")));
    json_decref(result);
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
}

static void finish(struct room *r, const char *result_json, struct reply *rp)
{
    if (r->status == ROOM_COMPLETED) return;
    r->status = ROOM_COMPLETED;
    r->ended_wall = loop_wall_ms();
    tick_remove(r->ticker);
    r->ticker = NULL;
    r->to_move = 0;
    r->deadline_wall = 0;
    if (r->turn_timer) event_del(r->turn_timer);
    free(r->result_json);
    r->result_json = strdup(result_json);
    n_open--;
    update_gauge();
    log_msg(LOG_INFO, "game over", "{ss,ss,ss}", "game", r->id, "script", r->game->name, "result",
            result_json);
    settle(r);
    json_t *re;
    struct session *to = reply_take(rp, &re);
    sync_state(r, NULL, to, re);
    char *payload = NULL;
    if (asprintf(&payload, "{\"result\":%s}", result_json) < 0) payload = NULL;
    log_event(r, "game_over", payload, 0, NULL, NULL);
    store_game(r);
    store_flush(); /* an ended game is on its way to the disk before anyone can ask for it */
    for (int i = 1; i <= r->nseats; i++)
        if (r->seats[i].hold_timer) event_del(r->seats[i].hold_timer);
    rooms_lobby_broadcast("closed", r);
    /* Let go of the Lua states once the current call stack has unwound (finish can run from
     * inside a referee call that failed). */
    r->reap_ev = evtimer_new(loop_base(), on_reap, r);
    struct timeval now = {0, 0};
    event_add(r->reap_ev, &now);
    struct timeval tv = {LINGER_S, 0};
    r->linger_timer = evtimer_new(loop_base(), on_linger, r);
    event_add(r->linger_timer, &tv);
}

/* ---------- real time ---------- */

/* Queues a validated input for the next tick. When the queue is full the sender's oldest
 * queued input makes room (or, when it has none there, this one is dropped); both count. */
static void enqueue(struct room *r, int seat, const char *action, const char *source)
{
    if (r->nqueue == INPUT_QUEUE_MAX) {
        int victim = -1;
        for (int i = 0; i < r->nqueue && victim < 0; i++)
            if (r->queue[i].seat == seat) victim = i;
        metric_add(m_inputs_dropped, r->game->name, 1);
        if (victim < 0) return;
        free(r->queue[victim].action);
        memmove(&r->queue[victim], &r->queue[victim + 1],
                sizeof r->queue[0] * (size_t)(r->nqueue - victim - 1));
        r->nqueue--;
    }
    r->queue[r->nqueue++] = (struct queued_input){seat, strdup(action), source};
}

/* Checks an input with the game's validate as it arrives. NULL or ILLEGAL_MOVE/INTERNAL. */
static const char *validate_now(struct room *r, int seat, const char *action, char *msg,
                                size_t msglen)
{
    static struct referee_result res;
    referee_check(&r->ref, seat, action, strlen(action), 0, 0, &res);
    if (referee_failed(r, "validate", res.status, res.err) < 0) {
        snprintf(msg, msglen, "the game script failed");
        return "INTERNAL";
    }
    if (res.verdict == REFEREE_APPLIED) return NULL;
    snprintf(msg, msglen, "%s", res.reason ? res.reason : "illegal action");
    return "ILLEGAL_MOVE";
}

static void record_tick_input(struct room *r, const struct queued_input *in, uint64_t tick,
                              const char *hash)
{
    json_t *row =
        json_pack("{ss,sI,si,ss,sI,sI}", "game_id", r->id, "ord", (json_int_t)++r->order, "seat",
                  in->seat, "source", in->source, "t",
                  (json_int_t)(tick * 1000u / (uint64_t)r->rate), "tick", (json_int_t)tick);
    json_object_set_new(row, "state_hash", hash ? json_string(hash) : json_null());
    /* The action as the text it was validated in: never parsed again to be stored. */
    store_put_json("game_inputs", row, "action", in->action ? in->action : "null");
}

/* Agents act on their latest view; what they return is validated like a player's input. */
static void agents_act(struct room *r, uint64_t now)
{
    for (int i = 1; i <= r->nseats; i++) {
        struct seat *st = &r->seats[i];
        if (st->kind != SEAT_AGENT || !st->agent || !st->view) continue;
        enum vm_status status;
        char err[300], msg[200];
        uint64_t t0 = loop_now_us();
        char *action =
            agent_act(st->agent, st->view, now, cfg->cpu_apply_ms, &status, err, sizeof err);
        r->lua_us += loop_now_us() - t0;
        if (status != VM_OK) {
            metric_add(m_script_failures, vm_status_name(status), 1);
            log_msg(LOG_WARN, "agent act failed", "{ss,si,ss}", "game", r->id, "seat", i, "error",
                    err);
        }
        if (action && !validate_now(r, i, action, msg, sizeof msg)) enqueue(r, i, action, "agent");
        free(action);
    }
}

/* The scheduler's idle task for a real-time room: the Lua garbage collection its ticks and
 * states put off (vm_defer_gc), so that the collector's steps do not land in ticks. */
static int room_collect(void *arg)
{
    struct room *r = arg;
    uint64_t t0 = loop_now_us();
    if (!vm_gc_step(r->vm)) return 0;
    metric_add(m_idle_gc, r->game->name, (double)(loop_now_us() - t0) / 1000.0);
    return 1;
}

/* One tick: agents act, the queued inputs go to the game's tick, events go out, a state goes
 * out every send_every ticks. Returns -1 when the game ended. */
static int room_tick(void *arg, uint64_t scheduled)
{
    struct room *r = arg;
    /* The game counts the ticks it ran, not the scheduler's grid: after skipped ticks its
     * clock lags the wall clock, and the log replays tick for tick. */
    uint64_t n = ++r->tick_no;
    uint64_t now = n * 1000u / (uint64_t)r->rate;
    (void)scheduled;
    r->lua_us = 0;
    agents_act(r, now);
    struct referee_input inputs[INPUT_QUEUE_MAX];
    for (int i = 0; i < r->nqueue; i++)
        inputs[i] = (struct referee_input){r->queue[i].seat, r->queue[i].action,
                                           strlen(r->queue[i].action)};
    int checkpoint = n % (uint64_t)(r->rate * CHECKPOINT_S) == 0;
    static struct referee_result res;
    TIMED(r, referee_tick(&r->ref, inputs, r->nqueue, (double)now, checkpoint, &res));
    int ok = referee_failed(r, "tick", res.status, res.err) == 0;
    if (ok) {
        for (int i = 0; i < r->nqueue; i++)
            record_tick_input(r, &r->queue[i], n, NULL);
        for (int i = 0; i < res.nevents; i++)
            log_event(r, "game_event", event_payload(&res.events[i]), res.events[i].seat, NULL,
                      NULL);
        log_script_lines(r, &res);
    }
    for (int i = 0; i < r->nqueue; i++)
        free(r->queue[i].action);
    r->nqueue = 0;
    char *over = ok && res.outcome ? strdup(res.outcome) : NULL;
    if (ok && checkpoint) {
        struct queued_input mark = {0, NULL, "checkpoint"};
        record_tick_input(r, &mark, n, res.hash[0] ? res.hash : NULL);
    }
    if (over) {
        finish(r, over, NULL);
        free(over);
        return -1;
    }
    if (r->status != ROOM_ACTIVE) return -1; /* a script failure ended it */
    metric_observe(m_tick_lua, r->game->name, (double)r->lua_us / 1000.0);
    if (n % (uint64_t)r->send_every == 0) {
        r->lua_us = 0;
        sync_state(r, NULL, NULL, NULL);
        metric_observe(m_state_lua, r->game->name, (double)r->lua_us / 1000.0);
    }
    return 0;
}

/* A real-time room joins the tick scheduler (its ticks continue from r->tick_no) and sends
 * its first state. */
static void start_ticker(struct room *r)
{
    r->ticker = tick_add(r, r->rate, room_tick, r->game->name);
    if (r->ticker) {
        vm_defer_gc(r->vm);
        tick_set_idle(r->ticker, room_collect);
    }
    sync_state(r, NULL, NULL, NULL);
}

static int target_seats(const struct room *r, json_t *config)
{
    int min = (int)json_integer_value(json_object_get(r->game->meta, "min"));
    int max = (int)json_integer_value(json_object_get(r->game->meta, "max"));
    json_t *want = json_object_get(config, "seats");
    if (json_is_integer(want) && json_integer_value(want) >= min && json_integer_value(want) <= max)
        return (int)json_integer_value(want);
    return max > ROOM_MAX_SEATS ? ROOM_MAX_SEATS : max;
}

static int wake_waiting(struct room *r);

static void start_if_full(struct room *r)
{
    if (r->status != ROOM_WAITING) return;
    for (int i = 1; i <= r->nseats; i++)
        if (r->seats[i].kind == SEAT_EMPTY) return;
    if (wake_waiting(r) < 0) {
        waiting_done(r);
        finish(r, "{\"reason\":\"script_error\"}", NULL);
        return;
    }
    r->status = ROOM_ACTIVE;
    waiting_done(r);
    r->started_mono = loop_now_ms();
    r->started_wall = loop_wall_ms();
    log_msg(LOG_INFO, "game started", "{ss,ss,ss}", "game", r->id, "script", r->game->name,
            "version", r->game->id);
    rooms_lobby_broadcast("changed", r);
    store_game(r);
    if (r->realtime) {
        start_ticker(r);
    } else {
        char err[600];
        if (referee_failed(r, "to_move", referee_to_move(&r->ref, &r->to_move, err, sizeof err),
                           err) < 0 ||
            r->status != ROOM_ACTIVE)
            return; /* a script failure may have ended it */
        advance(r, NULL);
    }
}

/* --waiting-room-ttl passed and the room never started: its players are told, and it closes
 * (stored as aborted, like any room that never started). */
static void on_waiting_expired(evutil_socket_t fd, short what, void *arg)
{
    struct room *r = arg;
    if (r->status != ROOM_WAITING) return;
    log_msg(LOG_INFO, "waiting room expired", "{ss,ss}", "game", r->id, "script", r->game->name);
    log_event(r, "game_over", strdup("{\"result\":{\"reason\":\"expired\"}}"), 0, NULL, NULL);
    room_free(r);
}

/* --waiting-room-idle passed and the room still waits: it lets go of its Lua state (most of a
 * waiting room's memory: 123 KiB of 125), keeping the views its players are sent in
 * final_views, which sync_state then sends as it does a finished room's. wake_waiting sets the
 * game up again when the room starts: the same version, seed, config and seats give the same
 * state. */
static void on_waiting_idle(evutil_socket_t fd, short what, void *arg)
{
    struct room *r = arg;
    if (r->status != ROOM_WAITING || !r->vm) return;
    struct referee_view views[ROOM_MAX_SEATS + 1];
    char err[600];
    unsigned all = (2u << r->nseats) - 1;
    if (referee_views(&r->ref, 0, all, views, err, sizeof err) != VM_OK) return; /* keep it */
    for (int seat = 0; seat <= r->nseats; seat++) {
        free(r->final_views[seat]);
        r->final_views[seat] = strdup(views[seat].json ? views[seat].json : "{}");
    }
    vm_free_later(r->vm);
    r->vm = NULL;
    log_msg(LOG_INFO, "waiting room idle: Lua state released", "{ss}", "game", r->id);
}

/* A room that let go of its Lua state gets it back as it starts. Returns 0, or -1 when the game
 * cannot be set up again (its views stay, so the room can still be finished and shown). */
static int wake_waiting(struct room *r)
{
    if (r->vm) return 0;
    char err[600] = "cannot create a Lua state";
    r->vm = trusted_new("referee", (size_t)cfg->lua_memory_mb * 1024 * 1024, err, sizeof err);
    enum vm_status st =
        r->vm ? referee_setup(&r->ref, r->vm, r->game, r->config_json, r->seed, r->nseats,
                              cfg->cpu_load_ms, cfg->cpu_apply_ms, NULL, err, sizeof err)
              : VM_MEMORY;
    if (st != VM_OK) {
        metric_add(m_script_failures, vm_status_name(st), 1);
        log_msg(LOG_WARN, "room setup failed at start", "{ss,ss}", "game", r->id, "error", err);
        vm_free_later(r->vm);
        r->vm = NULL;
        return -1;
    }
    for (int seat = 0; seat <= r->nseats; seat++) {
        free(r->final_views[seat]);
        r->final_views[seat] = NULL;
    }
    return 0;
}

/* Counts the new room against its owner and arms its expiry. */
static void waiting_start(struct room *r, const struct room_owner *owner)
{
    if (owner) {
        snprintf(r->owner_key, sizeof r->owner_key, "p:%s", owner->player_id);
        waiting_add(r->owner_key, 1);
        if (owner->address && *owner->address) {
            snprintf(r->owner_addr_key, sizeof r->owner_addr_key, "a:%s", owner->address);
            waiting_add(r->owner_addr_key, 1);
        }
    }
    if (cfg->waiting_room_idle_s > 0 &&
        (r->idle_timer = evtimer_new(loop_base(), on_waiting_idle, r))) {
        struct timeval idle = {cfg->waiting_room_idle_s, 0};
        event_add(r->idle_timer, &idle);
    }
    if (cfg->waiting_room_ttl_s <= 0) return;
    r->expire_timer = evtimer_new(loop_base(), on_waiting_expired, r);
    struct timeval tv = {cfg->waiting_room_ttl_s, 0};
    if (r->expire_timer) event_add(r->expire_timer, &tv);
}

/* What the room takes from its version's meta (tick rate, send rate, turn clock), and its
 * empty seats (r->nseats set). Returns 0, or -1 without memory. */
static int room_configure(struct room *r)
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
    for (int i = 1; i <= r->nseats; i++)
        r->seats[i] = (struct seat){.room = r, .index = i};
    return 0;
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
    if (n_open >= (size_t)cfg->max_rooms || !store_accepting()) {
        *code = "SERVER_BUSY";
        snprintf(msg, msglen,
                 n_open >= (size_t)cfg->max_rooms ? "too many rooms are open"
                                                  : "storage is behind: try again shortly");
        return NULL;
    }
    if (owner && !waiting_allowed(owner, msg, msglen)) {
        *code = "RATE_LIMIT_EXCEEDED";
        return NULL;
    }
    struct room *r = calloc(1, sizeof *r);
    if (!r) goto oom;
    util_uuid(r->id);
    script_version_ref(v);
    r->game = v;
    r->is_private = is_private;
    r->created_wall = loop_wall_ms();
    util_random_bytes(&r->seed, sizeof r->seed);
    r->seed &= 0x7fffffff;
    r->nseats = target_seats(r, config);
    if (room_configure(r) < 0) {
        script_version_unref(v);
        free(r);
        goto oom;
    }
    r->config_json = config ? json_text_dump(config) : NULL;

    char err[600] = "cannot create a Lua state";
    r->vm = trusted_new("referee", (size_t)cfg->lua_memory_mb * 1024 * 1024, err, sizeof err);
    if (!r->vm) goto fail;
    enum vm_status st = referee_setup(&r->ref, r->vm, v, r->config_json, r->seed, r->nseats,
                                      cfg->cpu_load_ms, cfg->cpu_apply_ms, NULL, err, sizeof err);
    if (st != VM_OK) {
        metric_add(m_script_failures, vm_status_name(st), 1);
        goto fail;
    }
    if (hmap_put(rooms, r->id, r) < 0) goto fail;
    waiting_start(r, owner);
    script_version_store(v);
    store_game(r);
    n_open++;
    update_gauge();
    log_msg(LOG_INFO, "room created", "{ss,ss,ss,si}", "game", r->id, "script", v->name, "version",
            v->id, "seats", r->nseats);
    rooms_lobby_broadcast("opened", r);
    return r;
fail:
    log_msg(LOG_WARN, "room setup failed", "{ss,ss}", "script", game, "error", err);
    *code = "INTERNAL";
    snprintf(msg, msglen, "the game failed to start: %s", err);
    if (r) {
        vm_free(r->vm);
        script_version_unref(r->game);
        free(r->config_json);
        free(r->queue);
        free(r);
    }
    return NULL;
oom:
    *code = "SERVER_BUSY";
    snprintf(msg, msglen, "out of memory");
    return NULL;
}

/* Set by rooms_shutdown: a room freed because the server stops is left as the store has it
 * (waiting or active), and the next start rebuilds it (room_restore). */
static int stopping;

static void room_free(struct room *r)
{
    hmap_del(rooms, r->id);
    if (r->status != ROOM_COMPLETED && !stopping) {
        store_put("games", json_pack("{ss,ss,s{ss},sf}", "id", r->id, "status", "aborted", "result",
                                     "reason", "aborted", "ended_at", loop_wall_ms()));
        n_open--;
        update_gauge();
        rooms_lobby_broadcast("closed", r);
    }
    tick_remove(r->ticker);
    for (int i = 0; i < r->nqueue; i++)
        free(r->queue[i].action);
    for (int i = 1; i <= r->nseats; i++) {
        struct seat *st = &r->seats[i];
        free(st->view);
        if (st->session) detach(st->session, r);
        if (st->hold_timer) event_free(st->hold_timer);
        agent_free(st->agent);
    }
    for (size_t i = 0; i < r->nspect; i++)
        detach(r->spectators[i], r);
    if (r->turn_timer) event_free(r->turn_timer);
    if (r->linger_timer) event_free(r->linger_timer);
    waiting_done(r);
    if (r->expire_timer) event_free(r->expire_timer);
    if (r->idle_timer) event_free(r->idle_timer);
    if (r->reap_ev) event_free(r->reap_ev);
    for (int i = 0; i <= r->nseats; i++)
        free(r->final_views[i]);
    for (size_t i = 0; i < r->nlog; i++)
        free(r->log[i].payload);
    for (size_t i = 0; i < r->ninputs; i++)
        free(r->inputs[i].action);
    free(r->log);
    free(r->inputs);
    free(r->queue);
    free(r->spectators);
    free(r->config_json);
    free(r->result_json);
    free(r->agent_view);
    free(r->agent_legal);
    free(r->players_cache);
    vm_free_later(r->vm);
    script_version_unref(r->game);
    free(r);
}

/* ---------- seats ---------- */

/* The result of seat giving up (forfeit or timeout): in a two-seat game the other seat wins. */
static void forfeit_result(const struct room *r, int seat, const char *reason, char *out,
                           size_t len)
{
    if (r->nseats == 2)
        snprintf(out, len, "{\"winner\":%d,\"reason\":\"%s\"}", 3 - seat, reason);
    else
        snprintf(out, len, "{\"reason\":\"%s\"}", reason);
}

/* The seat's player is gone for good (left, or the hold expired). A running turn-based game is
 * forfeited; a running real-time round goes on with the seat idle; a waiting room frees the
 * seat and closes when no human is left, so r may be freed: callers must not use it after. */
static void seat_abandoned(struct room *r, struct seat *st)
{
    if (r->status == ROOM_ACTIVE && r->realtime) {
        sync_state(r, NULL, NULL, NULL);
    } else if (r->status == ROOM_ACTIVE) {
        char result[120];
        forfeit_result(r, st->index, "forfeit", result, sizeof result);
        finish(r, result, NULL);
    } else if (r->status == ROOM_WAITING) {
        st->kind = SEAT_EMPTY;
        st->player_id[0] = st->name[0] = '\0';
        if (st->hold_timer) event_del(st->hold_timer);
        int humans = 0;
        for (int i = 1; i <= r->nseats; i++)
            humans += r->seats[i].kind == SEAT_HUMAN;
        if (!humans)
            room_free(r);
        else
            sync_state(r, NULL, NULL, NULL);
    }
}

static void on_hold_expired(evutil_socket_t fd, short what, void *arg)
{
    struct seat *st = arg;
    struct room *r = st->room;
    if (st->session || st->kind != SEAT_HUMAN) return;
    log_msg(LOG_INFO, "seat hold expired", "{ss,si,ss}", "game", r->id, "seat", st->index, "player",
            st->player_id);
    log_event(r, "player_left", seat_payload(st), 0, NULL, NULL);
    seat_abandoned(r, st);
}

static void hold_seat(struct seat *st)
{
    if (!st->hold_timer) st->hold_timer = evtimer_new(loop_base(), on_hold_expired, st);
    struct timeval tv = {cfg->seat_hold_s, 0};
    event_add(st->hold_timer, &tv);
}

int room_is_realtime(const struct room *r)
{
    return r->realtime;
}

int room_seat_of(const struct room *r, const char *player_id)
{
    for (int i = 1; i <= r->nseats; i++)
        if (r->seats[i].kind == SEAT_HUMAN && strcmp(r->seats[i].player_id, player_id) == 0)
            return i;
    return 0;
}

/* Puts s in seat (replacing an older socket of the same player). */
static void connect_seat(struct room *r, int seat, struct session *s)
{
    struct seat *st = &r->seats[seat];
    if (st->session && st->session != s) detach(st->session, r);
    remove_spectator(r, s);
    st->session = s;
    if (st->hold_timer) event_del(st->hold_timer);
    attach(s, r, seat);
}

int room_seat_player(struct room *r, const char *player_id, const char *name, struct session *s,
                     const char **code)
{
    int seat = room_seat_of(r, player_id);
    if (!seat) {
        if (r->status != ROOM_WAITING) {
            *code = "GAME_FULL";
            return 0;
        }
        for (int i = 1; i <= r->nseats && !seat; i++)
            if (r->seats[i].kind == SEAT_EMPTY) seat = i;
        if (!seat) {
            *code = "GAME_FULL";
            return 0;
        }
        struct seat *st = &r->seats[seat];
        st->kind = SEAT_HUMAN;
        util_strlcpy(st->player_id, player_id, sizeof st->player_id);
        util_strlcpy(st->name, name, sizeof st->name);
        if (s)
            connect_seat(r, seat, s);
        else
            hold_seat(st);
        store_participant(r, seat, NULL);
        log_event(r, "player_joined", seat_payload(st), 0, NULL, NULL);
        return seat;
    }
    if (s) connect_seat(r, seat, s);
    return seat;
}

/* Seats agent a in st (its own Lua state). Returns 0, or -1 with msg. */
static int seat_agent(struct room *r, struct seat *st, struct script_version *a, char *msg,
                      size_t msglen)
{
    char err[600];
    st->agent =
        agent_new(a, r->game, st->index, r->nseats, r->seed + (uint32_t)st->index * 7919u,
                  r->config_json, (size_t)cfg->lua_memory_mb * 1024 * 1024, err, sizeof err);
    if (!st->agent) {
        snprintf(msg, msglen, "the agent failed to start: %s", err);
        log_msg(LOG_WARN, "agent setup failed", "{ss,ss,ss}", "game", r->id, "agent", a->name,
                "error", err);
        return -1;
    }
    st->kind = SEAT_AGENT;
    snprintf(st->player_id, sizeof st->player_id, "agent:%s", a->name);
    json_t *title = json_object_get(a->meta, "title");
    util_strlcpy(st->name, json_string_value(title) ? json_string_value(title) : a->name,
                 sizeof st->name);
    return 0;
}

int room_fill_with_agent(struct room *r, const char *agent, const char **code, char *msg,
                         size_t msglen)
{
    struct script_version *a = scripts_agent_for(r->game->name, agent);
    if (!a) {
        *code = "NOT_FOUND";
        snprintf(msg, msglen, agent ? "no agent named %s plays %s" : "no agent plays %s%s",
                 agent ? agent : "", r->game->name);
        return -1;
    }
    for (int i = 1; i <= r->nseats; i++) {
        struct seat *st = &r->seats[i];
        if (st->kind != SEAT_EMPTY) continue;
        if (seat_agent(r, st, a, msg, msglen) < 0) {
            *code = "INTERNAL";
            return -1;
        }
        store_participant(r, i, NULL);
        log_event(r, "player_joined", seat_payload(st), 0, NULL, NULL);
    }
    return 0;
}

int room_watch(struct room *r, struct session *s)
{
    int seat = room_seat_of(r, s->who.player_id);
    if (seat) {
        connect_seat(r, seat, s);
        return seat;
    }
    struct membership *m = membership_of(s, r);
    if (m && m->seat == 0) return 0;
    grow((void **)&r->spectators, &r->capspect, r->nspect, sizeof *r->spectators);
    if (r->nspect < r->capspect) r->spectators[r->nspect++] = s;
    attach(s, r, 0);
    return 0;
}

void room_send_state(struct room *r, struct session *s, json_t *re)
{
    if (r->status == ROOM_WAITING) {
        int full = 1;
        for (int i = 1; i <= r->nseats; i++)
            full &= r->seats[i].kind != SEAT_EMPTY;
        if (full) {
            sync_state(r, s, s, re); /* the answer first, then the start for everyone */
            start_if_full(r);
            return;
        }
        sync_state(r, NULL, s, re); /* the player list changed: everyone gets it */
        return;
    }
    sync_state(r, s, s, re);
}

/* ---------- player actions ---------- */

const char *room_input(struct room *r, struct session *s, json_t *action, json_t *re, char *msg,
                       size_t msglen)
{
    struct membership *m = membership_of(s, r);
    if (!m || m->seat == 0) {
        snprintf(msg, msglen, "you do not hold a seat in this game");
        return "NOT_IN_GAME";
    }
    if (r->status != ROOM_ACTIVE) {
        snprintf(msg, msglen,
                 r->status == ROOM_WAITING ? "the game has not started" : "the game is over");
        return "NOT_YOUR_TURN";
    }
    char *text = json_text_dump(action);
    if (!text) return "INTERNAL";
    if (r->realtime) {
        const char *code = validate_now(r, m->seat, text, msg, msglen);
        if (!code) enqueue(r, m->seat, text, "player");
        free(text);
        if (!code && re) { /* an accepted real-time input is acknowledged with the tick it joins */
            struct frame *f = frame_begin("input_ack");
            frame_game(f, r->id, 0);
            frame_put(f, ",\"payload\":{\"gameId\":\"");
            frame_put(f, r->id);
            frame_put(f, "\",\"tick\":");
            frame_int(f, (int64_t)r->tick_no + 1);
            frame_put(f, "}");
            send_once(s, frame_end(f, re));
        }
        return code;
    }
    struct reply rp = {s, re};
    const char *code = apply_action(r, m->seat, text, "player", &rp, msg, msglen);
    free(text);
    return code;
}

const char *room_chat(struct room *r, struct session *s, const char *text, json_t *re)
{
    if (!membership_of(s, r)) return "NOT_IN_GAME";
    json_t *p = json_pack("{s{ss,ss},ss,sI}", "from", "playerId", s->who.player_id, "name",
                          s->who.name, "text", text, "ts", (json_int_t)loop_wall_ms());
    log_event(r, "chat_message", json_text_dump(p), 0, s, re);
    json_decref(p);
    return NULL;
}

const char *room_leave(struct room *r, struct session *s, json_t *re)
{
    struct membership *m = membership_of(s, r);
    if (!m) return "NOT_IN_GAME";
    int seat = m->seat;
    if (seat == 0) {
        remove_spectator(r, s);
        detach(s, r);
        struct frame *f = frame_begin("left");
        frame_game(f, r->id, 0);
        frame_put(f, ",\"payload\":{\"gameId\":\"");
        frame_put(f, r->id);
        frame_put(f, "\"}");
        send_once(s, frame_end(f, re));
        return NULL;
    }
    struct seat *st = &r->seats[seat];
    log_event(r, "player_left", seat_payload(st), 0, s, re);
    st->session = NULL;
    detach(s, r);
    seat_abandoned(r, st);
    return NULL;
}

void room_resume(struct room *r, struct session *s, uint64_t last_seq, json_t *re)
{
    int seat = room_watch(r, s);
    int was_disconnected = seat && r->status != ROOM_COMPLETED;
    if (last_seq + (uint64_t)cfg->replay_buffer >= r->seq) {
        /* The events as the log holds them: their payloads are JSON text already. */
        struct frame *f = frame_begin("replay");
        frame_game(f, r->id, r->seq);
        frame_put(f, ",\"payload\":{\"events\":[");
        int first = 1;
        for (size_t i = 0; i < r->nlog; i++) {
            const struct log_entry *e = &r->log[i];
            if (e->seq <= last_seq) continue;
            frame_put(f, first ? "{\"seq\":" : ",{\"seq\":");
            first = 0;
            frame_int(f, (int64_t)e->seq);
            frame_put(f, ",\"type\":\"");
            frame_put(f, e->type);
            frame_put(f, "\",\"payload\":");
            frame_put(f, e->only_seat && e->only_seat != seat ? hidden_payload : e->payload);
            frame_put(f, "}");
        }
        frame_put(f, "]}");
        send_once(s, frame_end(f, re));
    }
    /* The others see the player connected again; the resumer gets its answer with re. */
    if (was_disconnected)
        sync_state(r, NULL, s, re);
    else
        sync_state(r, s, s, re);
}

static void lobby_unsubscribe(struct session *s);

void rooms_session_closed(struct session *s)
{
    lobby_unsubscribe(s);
    struct membership *m = s->rooms;
    s->rooms = NULL;
    while (m) {
        struct membership *next = m->next;
        struct room *r = m->room;
        if (m->seat == 0) {
            remove_spectator(r, s);
        } else if (r->seats[m->seat].session == s) {
            r->seats[m->seat].session = NULL;
            if (r->status != ROOM_COMPLETED) {
                hold_seat(&r->seats[m->seat]);
                sync_state(r, NULL, NULL, NULL); /* connected: false for the others */
            }
        }
        free(m);
        m = next;
    }
}

/* ---------- rebuilt after a restart ---------- */

/* The version a stored game started with: the catalog's when it is that one, else one made
 * from the stored files (its meta filled in by the setup). One reference, or NULL with why. */
static struct script_version *stored_version(json_t *game, char *why, size_t len)
{
    const char *name = json_string_value(json_object_get(game, "game"));
    const char *id = json_string_value(json_object_get(game, "version"));
    struct script_version *v = name ? scripts_game(name) : NULL;
    if (v && id && strcmp(v->id, id) == 0) {
        script_version_ref(v);
        return v;
    }
    json_t *files = json_object_get(json_object_get(game, "script_version"), "files");
    v = script_version_from_files(name ? name : "?", files);
    if (!v) snprintf(why, len, "its version %s has no stored files", id ? id : "?");
    return v;
}

static int cmp_key(const void *a, const void *b, const char *key)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, key));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, key));
    return x < y ? -1 : x > y;
}

static int cmp_seq(const void *a, const void *b)
{
    return cmp_key(a, b, "seq");
}

static int cmp_ord(const void *a, const void *b)
{
    return cmp_key(a, b, "ord");
}

/* The rows of arr sorted by cmp (malloc'd; NULL without memory). */
static json_t **sorted_rows(json_t *arr, int (*cmp)(const void *, const void *))
{
    size_t n = json_array_size(arr);
    json_t **out = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = json_array_get(arr, i);
    if (out) qsort(out, n, sizeof *out, cmp);
    return out;
}

/* The static name a stored type or source stands for (log entries point at these), or NULL. */
static const char *known_name(const char *s, const char *const *names)
{
    for (; s && *names; names++)
        if (strcmp(s, *names) == 0) return *names;
    return NULL;
}

static const char *const event_types[] = {"game_event",   "player_joined", "player_left",
                                          "chat_message", "game_over",     NULL};
static const char *const input_sources[] = {"player", "agent", "timeout", "checkpoint", NULL};

/* Appends stored input in to the room's inputs (turn-based rooms keep them for their log). */
static int restore_input(struct room *r, json_t *in)
{
    const char *source =
        known_name(json_string_value(json_object_get(in, "source")), input_sources);
    char *action = json_text_dump(json_object_get(in, "action"));
    if (!source || !action) {
        free(action);
        return -1;
    }
    r->inputs[r->ninputs++] =
        (struct input_rec){(int)json_integer_value(json_object_get(in, "seat")), action, source,
                           (uint64_t)json_integer_value(json_object_get(in, "t")), ++r->order};
    return 0;
}

/* The room's log and inputs from the stored rows, in the order they happened (an input before
 * the events it caused); the game events' seats come from the replay. Returns 0, or -1 with
 * why. */
static int restore_log(struct room *r, json_t *game, const struct replay_trace *tr, char *why,
                       size_t len)
{
    json_t *events = json_object_get(game, "events"), *inputs = json_object_get(game, "inputs");
    size_t ne = json_array_size(events), ni = r->realtime ? 0 : json_array_size(inputs);
    json_t **ev = sorted_rows(events, cmp_seq), **in = sorted_rows(inputs, cmp_ord);
    r->caplog = ne + 16;
    r->capinputs = ni + 16;
    r->log = calloc(r->caplog, sizeof *r->log);
    r->inputs = calloc(r->capinputs, sizeof *r->inputs);
    int rc = ev && in && r->log && r->inputs ? 0 : -1;
    if (rc < 0) snprintf(why, len, "out of memory");
    size_t j = 0, k = 0;
    for (size_t i = 0; rc == 0 && i < ne; i++) {
        json_t *e = ev[i];
        uint64_t t = (uint64_t)json_integer_value(json_object_get(e, "t"));
        const char *type = known_name(json_string_value(json_object_get(e, "type")), event_types);
        char *payload = json_text_dump(json_object_get(e, "payload"));
        if ((json_int_t)(i + 1) != json_integer_value(json_object_get(e, "seq")) || !type ||
            !payload) {
            snprintf(why, len, "its stored event %zu is missing or unreadable", i + 1);
            free(payload);
            rc = -1;
            break;
        }
        for (; j < ni && (uint64_t)json_integer_value(json_object_get(in[j], "t")) <= t; j++)
            if ((rc = restore_input(r, in[j])) < 0) break;
        int only = replay_is_game_event(e) && k < tr->nevents ? tr->events[k++].seat : 0;
        r->log[r->nlog++] = (struct log_entry){i + 1, type, payload, only, t, ++r->order};
        r->seq = i + 1;
    }
    for (; rc == 0 && j < ni; j++)
        rc = restore_input(r, in[j]);
    if (rc < 0 && !*why) snprintf(why, len, "a stored input is unreadable");
    /* Rows keyed by ord continue after the stored ones, which real-time rooms did not keep. */
    size_t nall = json_array_size(inputs);
    if (in && nall) {
        uint64_t last = (uint64_t)json_integer_value(json_object_get(in[nall - 1], "ord"));
        if (last > r->order) r->order = last;
    }
    free(ev);
    free(in);
    return rc;
}

/* The stored result of a game whose game_over is in its log (it ended; the crash came before
 * its games row said so), or NULL. Borrowed. */
static json_t *logged_result(json_t *game)
{
    json_t *events = json_object_get(game, "events"), *e;
    size_t i;
    json_array_foreach(events, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "type")) ?: "", "game_over") == 0)
            return json_object_get(json_object_get(e, "payload"), "result");
    }
    return NULL;
}

/* The seats as stored: humans (held until they come back) and agents (set up again). */
static int restore_seats(struct room *r, json_t *game, char *why, size_t len)
{
    json_t *p;
    size_t i;
    json_array_foreach(json_object_get(game, "participants"), i, p)
    {
        json_int_t seat = json_integer_value(json_object_get(p, "seat"));
        if (seat < 1 || seat > r->nseats) continue;
        struct seat *st = &r->seats[seat];
        const char *agent = json_string_value(json_object_get(p, "agent"));
        const char *player = json_string_value(json_object_get(p, "player_id"));
        if (agent) {
            struct script_version *a = scripts_agent_for(r->game->name, agent);
            if (!a || strcmp(a->name, agent) != 0) {
                snprintf(why, len, "its agent %s no longer plays %s", agent, r->game->name);
                return -1;
            }
            if (seat_agent(r, st, a, why, len) < 0) return -1;
        } else if (player) {
            st->kind = SEAT_HUMAN;
            util_strlcpy(st->player_id, player, sizeof st->player_id);
            util_strlcpy(st->name, json_string_value(json_object_get(p, "name")) ?: "",
                         sizeof st->name);
        }
    }
    return 0;
}

/* A turn-based room carries on: the seat to move, and its turn clock with the deadline it had
 * (the turn began at the last input); a deadline that passed while the server was down runs
 * the timeout policy now. */
static void restore_turn(struct room *r, int to_move)
{
    char err[600];
    if (to_move >= 0)
        r->to_move = to_move;
    else if (referee_failed(r, "to_move", referee_to_move(&r->ref, &r->to_move, err, sizeof err),
                            err) < 0)
        return;
    uint64_t began = r->ninputs ? r->inputs[r->ninputs - 1].t : 0;
    double deadline = r->started_wall + (double)began + r->turn_time_ms;
    advance(r, NULL); /* a new deadline, the agent to move asked, views kept */
    if (r->status != ROOM_ACTIVE || r->deadline_wall <= 0) return;
    r->deadline_wall = deadline;
    double left = deadline - loop_wall_ms();
    struct timeval tv = {0, 0};
    if (left > 0)
        tv = (struct timeval){(time_t)(left / 1000), (suseconds_t)fmod(left, 1000) * 1000};
    event_add(r->turn_timer, &tv);
}

/* Sets r (id, version, seats, seed and config from the stored row) up in a new Lua state and
 * replays its inputs. Returns 0, or -1 with why. */
static int restore_state(struct room *r, json_t *game, struct replay_trace *tr, char *why,
                         size_t len)
{
    char *meta = NULL;
    r->vm = trusted_new("referee", (size_t)cfg->lua_memory_mb * 1024 * 1024, why, len);
    enum vm_status st = r->vm ? referee_setup(&r->ref, r->vm, r->game, r->config_json, r->seed,
                                              r->nseats, cfg->cpu_load_ms, cfg->cpu_apply_ms * 10,
                                              r->game->meta ? NULL : &meta, why, len)
                              : VM_MEMORY;
    if (st != VM_OK) return -1;
    if (!r->game->meta) r->game->meta = meta ? json_loads(meta, 0, NULL) : NULL;
    free(meta);
    if (!r->game->meta || room_configure(r) < 0) {
        snprintf(why, len, "its version reports no metadata");
        return -1;
    }
    int rc = replay_run(&r->ref, game, 1, tr, why, len);
    r->ref.budget_ms = cfg->cpu_apply_ms; /* the replay ran under the replay command's budget */
    return rc == 0 ? 0 : -1;
}

int room_restore(json_t *game, char *why, size_t len)
{
    *why = '\0';
    const char *id = json_string_value(json_object_get(game, "id"));
    json_int_t nseats = json_integer_value(json_object_get(game, "seats"));
    const char *status = json_string_value(json_object_get(game, "status")) ?: "";
    if (id && (room_find(id) || (strcmp(status, "waiting") != 0 && strcmp(status, "active") != 0)))
        return 1; /* here already, or it ended after all (its rows were still queued) */
    if (!id || !util_is_uuid(id) || nseats < 1 || nseats > ROOM_MAX_SEATS) {
        snprintf(why, len, "its stored row is not a room this server can hold");
        return -1;
    }
    json_t *ended = logged_result(game);
    if (ended) { /* it ended: the games row says so now */
        const char *reason = json_string_value(json_object_get(ended, "reason")) ?: "";
        int aborted = strcmp(reason, "aborted") == 0 || strcmp(reason, "expired") == 0;
        store_put("games",
                  json_pack("{ss,ss,sO,sf}", "id", id, "status", aborted ? "aborted" : "completed",
                            "result", ended, "ended_at", loop_wall_ms()));
        return 1;
    }
    struct room *r = calloc(1, sizeof *r);
    struct replay_trace tr = {0};
    if (!r || !(r->game = stored_version(game, why, len))) {
        if (!*why) snprintf(why, len, "out of memory");
        free(r);
        return -1;
    }
    util_strlcpy(r->id, id, sizeof r->id);
    r->nseats = (int)nseats;
    r->seed = (uint32_t)json_integer_value(json_object_get(game, "seed"));
    r->is_private = json_is_true(json_object_get(game, "private"));
    json_t *config = json_object_get(game, "config");
    r->config_json = json_is_object(config) ? json_text_dump(config) : NULL;
    r->created_wall = json_number_value(json_object_get(game, "created_at"));
    r->started_wall = json_number_value(json_object_get(game, "started_at"));
    r->status = r->started_wall > 0 ? ROOM_ACTIVE : ROOM_WAITING;
    if (restore_state(r, game, &tr, why, len) < 0 || restore_seats(r, game, why, len) < 0 ||
        restore_log(r, game, &tr, why, len) < 0 || hmap_put(rooms, r->id, r) < 0) {
        if (!*why) snprintf(why, len, "out of memory");
        replay_trace_free(&tr);
        r->status = ROOM_COMPLETED; /* room_free writes nothing for it: the caller closes it */
        room_free(r);
        return -1;
    }
    n_open++;
    update_gauge();
    /* Logical time goes on from the last thing logged (or the wall time since the start, when
     * that is later: the clock did not stop while the server was down). */
    uint64_t last = r->nlog ? r->log[r->nlog - 1].t : 0;
    if (r->ninputs && r->inputs[r->ninputs - 1].t > last) last = r->inputs[r->ninputs - 1].t;
    double since = r->started_wall > 0 ? loop_wall_ms() - r->started_wall : 0;
    if (!r->realtime && since > (double)last) last = (uint64_t)since;
    r->started_mono = r->status == ROOM_ACTIVE ? loop_now_ms() - last : 0;
    r->tick_no = (uint64_t)tr.ticks;
    for (size_t i = 0; i < tr.nevents; i++) /* the tail the crash cut off, logged again */
        if (tr.events[i].json) {
            struct referee_event e = {tr.events[i].json, strlen(tr.events[i].json),
                                      tr.events[i].seat};
            log_event(r, "game_event", event_payload(&e), e.seat, NULL, NULL);
        }
    for (int i = 1; i <= r->nseats; i++)
        if (r->seats[i].kind == SEAT_HUMAN) hold_seat(&r->seats[i]);
    log_msg(LOG_INFO, "room rebuilt", "{ss,ss,ss,sI,ss}", "game", r->id, "script", r->game->name,
            "version", r->game->id, "seq", (json_int_t)r->seq, "status", status_names[r->status]);
    char *over = tr.outcome ? strdup(tr.outcome) : NULL;
    int to_move = tr.to_move;
    replay_trace_free(&tr);
    if (over) { /* the replay ended it: the crash came between its last move and its end */
        finish(r, over, NULL);
        free(over);
    } else if (r->status == ROOM_WAITING) {
        waiting_start(r, NULL);
    } else if (r->realtime) {
        start_ticker(r);
    } else {
        restore_turn(r, to_move);
    }
    return 0;
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

size_t rooms_count(void)
{
    return n_open;
}

json_t *room_summary_json(const struct room *r)
{
    char *players = players_json(r);
    json_t *o = json_pack("{ss,ss,ss,ss,so,si,sb,sf}", "gameId", r->id, "game", r->game->name,
                          "version", r->game->id, "status", status_names[r->status], "players",
                          players ? json_loads(players, 0, NULL) : json_array(), "seats", r->nseats,
                          "private", r->is_private, "createdAt", r->created_wall);
    free(players);
    if (r->result_json) json_object_set_new(o, "result", json_loads(r->result_json, 0, NULL));
    if (r->to_move && r->status == ROOM_ACTIVE)
        json_object_set_new(o, "toMove", json_integer(r->to_move));
    return o;
}

static void add_open(const char *key, void *value, void *arg)
{
    const struct room *r = value;
    if (!r->is_private && r->status != ROOM_COMPLETED)
        json_array_append_new(arg, room_summary_json(r));
}

static void add_any(const char *key, void *value, void *arg)
{
    json_array_append_new(arg, room_summary_json(value));
}

json_t *rooms_all_json(void)
{
    json_t *arr = json_array();
    hmap_each(rooms, add_any, arr);
    return arr;
}

void room_end(struct room *r, const char *result_json)
{
    finish(r, result_json, NULL);
}

json_t *rooms_lobby_json(void)
{
    json_t *arr = json_array();
    hmap_each(rooms, add_open, arr);
    return arr;
}

json_t *room_log_json(const struct room *r)
{
    json_t *events = json_array();
    size_t i = 0, j = 0;
    while (i < r->nlog || j < r->ninputs) {
        if (j >= r->ninputs || (i < r->nlog && r->log[i].order < r->inputs[j].order)) {
            const struct log_entry *e = &r->log[i++];
            json_array_append_new(events,
                                  json_pack("{sI,ss,so,sI}", "seq", (json_int_t)e->seq, "type",
                                            e->type, "payload", json_loads(e->payload, 0, NULL),
                                            "t", (json_int_t)e->t));
            if (e->only_seat)
                json_object_set_new(json_array_get(events, json_array_size(events) - 1), "seat",
                                    json_integer(e->only_seat));
        } else {
            const struct input_rec *in = &r->inputs[j++];
            json_array_append_new(events, json_pack("{ss,s{si,so,ss},sI}", "type", "input",
                                                    "payload", "seat", in->seat, "action",
                                                    json_loads(in->action, JSON_DECODE_ANY, NULL),
                                                    "source", in->source, "t", (json_int_t)in->t));
        }
    }
    json_t *o =
        json_pack("{ss,ss,ss,sI,si,so}", "gameId", r->id, "game", r->game->name, "version",
                  r->game->id, "seed", (json_int_t)r->seed, "seats", r->nseats, "events", events);
    if (r->config_json) json_object_set_new(o, "config", json_loads(r->config_json, 0, NULL));
    return o;
}

/* Sockets subscribed to the lobby, kept apart so a room opening costs one frame per
 * subscriber, not a walk over every socket. */
static struct session **lobby_subs;
static size_t n_lobby_subs, cap_lobby_subs;

void rooms_lobby_subscribe(struct session *s)
{
    if (s->sub_lobby) return;
    grow((void **)&lobby_subs, &cap_lobby_subs, n_lobby_subs, sizeof *lobby_subs);
    if (n_lobby_subs == cap_lobby_subs) return;
    lobby_subs[n_lobby_subs++] = s;
    s->sub_lobby = 1;
}

static void lobby_unsubscribe(struct session *s)
{
    for (size_t i = 0; s->sub_lobby && i < n_lobby_subs; i++)
        if (lobby_subs[i] == s) {
            lobby_subs[i] = lobby_subs[--n_lobby_subs];
            s->sub_lobby = 0;
        }
}

static rooms_lobby_hook lobby_hook;

void rooms_set_lobby_hook(rooms_lobby_hook fn)
{
    lobby_hook = fn;
}

void rooms_lobby_broadcast(const char *event, const struct room *r)
{
    if (r->is_private || (!n_lobby_subs && !bus_enabled() && !lobby_hook)) return;
    json_t *summary = room_summary_json(r);
    if (lobby_hook) lobby_hook(event, r->id, summary);
    json_t *p = json_pack("{ss,so}", "event", event, "room", summary);
    struct wsbuf *buf = frame_message("lobby_update", p, NULL);
    json_decref(p);
    for (size_t i = 0; buf && i < n_lobby_subs; i++)
        session_send(lobby_subs[i], buf);
    if (buf) bus_publish("lobby", (const char *)buf->data, buf->len);
    wsbuf_unref(buf);
}

int rooms_init(const struct config *config)
{
    cfg = config;
    rooms = hmap_new();
    waiting = hmap_new();
    return rooms && waiting ? 0 : -1;
}

void rooms_shutdown(void)
{
    void *vals[4096];
    size_t n;
    /* A stop leaves its games to the next start, except in a cluster, where the next start does
     * not rebuild them (restore.h): they end as aborted rather than stay active forever. */
    stopping = !(cfg && cfg->cluster);
    while (rooms && (n = hmap_values(rooms, vals, 4096)) > 0)
        for (size_t i = 0; i < n; i++)
            room_free(vals[i]);
    hmap_free(rooms);
    rooms = NULL;
    hmap_free(waiting);
    waiting = NULL;
    free(lobby_subs);
    lobby_subs = NULL;
    n_lobby_subs = cap_lobby_subs = 0;
    stopping = 0;
}
