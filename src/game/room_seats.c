/* room_seats.c - seats and membership: humans joining and leaving, seat holds while a socket is
 * gone, spectators, agents filling seats, and the list of rooms each socket is attached to
 * (session->rooms, struct membership, owned here). */
#include "agent.h"
#include "json_text.h"
#include "frame.h"
#include "log.h"
#include "loop.h"
#include "room_internal.h"
#include "util.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Finished rooms a socket stays attached to (for their final state, chat and leave_game):
 * the most recent ones. A client playing game after game on one socket would otherwise stay
 * attached to every room of the last 10 minutes, and every lookup walks that list. */
#define FINISHED_ATTACHED_MAX 8

/* ---------- membership ---------- */

struct membership *room_membership(struct session *s, const struct room *r)
{
    for (struct membership *m = s->rooms; m; m = m->next)
        if (m->room == r) return m;
    return NULL;
}

const char *room_seated_active(const struct room *r, struct session *s, struct membership **m,
                               char *msg, size_t msglen)
{
    *m = room_membership(s, r);
    if (!*m || (*m)->seat == 0) {
        snprintf(msg, msglen, "you do not hold a seat in this game");
        return "NOT_IN_GAME";
    }
    if (r->status != ROOM_ACTIVE || !r->vm) {
        snprintf(msg, msglen,
                 r->status == ROOM_WAITING ? "the game has not started" : "the game is over");
        return "NOT_YOUR_TURN";
    }
    return NULL;
}

static void remove_spectator(struct room *r, struct session *s)
{
    for (size_t i = 0; i < r->nspect; i++)
        if (r->spectators[i] == s) {
            r->spectators[i] = r->spectators[--r->nspect];
            return;
        }
}

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
    struct membership *m = room_membership(s, r);
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

void room_seats_free(struct room *r)
{
    for (int i = 1; i <= r->nseats; i++) {
        struct seat *st = &r->seats[i];
        free(st->view);
        if (st->session) detach(st->session, r);
        if (st->hold_timer) event_free(st->hold_timer);
        agent_free(st->agent);
    }
    for (size_t i = 0; i < r->nspect; i++)
        detach(r->spectators[i], r);
    free(r->spectators);
}

/* ---------- leaving ---------- */

/* The player_joined / player_left payload of st (malloc'd). */
char *room_seats_payload(const struct seat *st)
{
    json_t *p = json_pack("{si,ss,ss,ss}", "seat", st->index, "playerId", st->player_id, "name",
                          st->name, "kind", st->kind == SEAT_AGENT ? "agent" : "human");
    char *text = json_text_dump(p);
    json_decref(p);
    return text;
}

/* The seat's player is gone for good (left, or the hold expired). A running turn-based game is
 * forfeited; a running real-time round goes on with the seat idle; a waiting room frees the
 * seat and closes when no human is left, so r may be freed: callers must not use it after. */
static void seat_abandoned(struct room *r, struct seat *st)
{
    if (r->status == ROOM_ACTIVE && r->realtime) {
        room_state_sync(r, NULL, NULL, NULL);
    } else if (r->status == ROOM_ACTIVE) {
        room_forfeit(r, st->index, "forfeit");
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
            room_state_sync(r, NULL, NULL, NULL);
    }
}

static void on_hold_expired(evutil_socket_t fd, short what, void *arg)
{
    struct seat *st = arg;
    struct room *r = st->room;
    if (st->session || st->kind != SEAT_HUMAN) return;
    log_msg(LOG_INFO, "seat hold expired", "{ss,si,ss}", "game", r->id, "seat", st->index, "player",
            st->player_id);
    room_log_event(r, "player_left", room_seats_payload(st), 0, NULL, NULL);
    seat_abandoned(r, st);
}

void room_seats_hold(struct seat *st)
{
    if (!st->hold_timer) st->hold_timer = evtimer_new(loop_base(), on_hold_expired, st);
    struct timeval tv = {room_cfg->seat_hold_s, 0};
    event_add(st->hold_timer, &tv);
}

const char *room_leave(struct room *r, struct session *s, json_t *re)
{
    struct membership *m = room_membership(s, r);
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
        room_send_once(s, frame_end(f, re));
        return NULL;
    }
    struct seat *st = &r->seats[seat];
    room_log_event(r, "player_left", room_seats_payload(st), 0, s, re);
    st->session = NULL;
    detach(s, r);
    seat_abandoned(r, st);
    return NULL;
}

void rooms_session_closed(struct session *s)
{
    room_lobby_unsubscribe(s);
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
                room_seats_hold(&r->seats[m->seat]);
                room_state_sync(r, NULL, NULL, NULL); /* connected: false for the others */
            }
        }
        free(m);
        m = next;
    }
}

/* ---------- joining ---------- */

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
    st->since_rebuild = 1;
    if (st->hold_timer) event_del(st->hold_timer);
    attach(s, r, seat);
}

/* The first empty seat of a waiting room, or 0. */
static int free_seat(const struct room *r)
{
    if (r->status != ROOM_WAITING) return 0;
    for (int i = 1; i <= r->nseats; i++)
        if (r->seats[i].kind == SEAT_EMPTY) return i;
    return 0;
}

int room_seat_player(struct room *r, const char *player_id, const char *name, struct session *s,
                     const char **code)
{
    int seat = room_seat_of(r, player_id);
    if (seat) {
        if (s) connect_seat(r, seat, s);
        return seat;
    }
    if (!(seat = free_seat(r))) {
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
        room_seats_hold(st);
    room_store_participant(r, seat, NULL);
    room_log_event(r, "player_joined", room_seats_payload(st), 0, NULL, NULL);
    return seat;
}

int room_seats_agent(struct room *r, struct seat *st, struct script_version *a, char *msg,
                     size_t msglen)
{
    char err[600];
    st->agent =
        agent_new(a, r->game, st->index, r->nseats, r->seed + (uint32_t)st->index * 7919u,
                  r->config_json, (size_t)room_cfg->lua_memory_mb * 1024 * 1024, err, sizeof err);
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

/* The Lua agent named agent (NULL: the game's default) for r, or NULL with *external set when
 * it is an external agent that can serve r, or NULL with NOT_FOUND in code and msg. */
static struct script_version *agent_for(struct room *r, const char *agent, int *external,
                                        const char **code, char *msg, size_t msglen)
{
    struct script_version *a = scripts_agent_for(r->game->name, agent);
    *external = !a && agent && room_external_available(r, agent);
    if (!a && !*external) {
        *code = "NOT_FOUND";
        snprintf(msg, msglen, agent ? "no agent named %s plays %s" : "no agent plays %s%s",
                 agent ? agent : "", r->game->name);
    }
    return a;
}

/* Puts the agent (a, else external agent name) in the free seat st, stored and announced. */
static int place_agent(struct room *r, struct seat *st, struct script_version *a, const char *name,
                       const char **code, char *msg, size_t msglen)
{
    if (!a)
        room_external_seat(st, name);
    else if (room_seats_agent(r, st, a, msg, msglen) < 0) {
        *code = "INTERNAL";
        return -1;
    }
    room_store_participant(r, st->index, NULL);
    room_log_event(r, "player_joined", room_seats_payload(st), 0, NULL, NULL);
    return 0;
}

int room_fill_with_agent(struct room *r, const char *agent, const char **code, char *msg,
                         size_t msglen)
{
    int external;
    struct script_version *a = agent_for(r, agent, &external, code, msg, msglen);
    if (!a && !external) return -1;
    for (int i = 1; i <= r->nseats; i++)
        if (r->seats[i].kind == SEAT_EMPTY &&
            place_agent(r, &r->seats[i], a, agent, code, msg, msglen) < 0)
            return -1;
    return 0;
}

int room_seat_agent(struct room *r, int seat, const char *agent, const char **code, char *msg,
                    size_t msglen)
{
    if (seat < 2 || seat > r->nseats || r->seats[seat].kind != SEAT_EMPTY) {
        *code = "BAD_MESSAGE";
        snprintf(msg, msglen, "payload.agents: no free seat %d in this game (it has %d)", seat,
                 r->nseats);
        return -1;
    }
    int external;
    struct script_version *a = agent_for(r, agent, &external, code, msg, msglen);
    if (!a && !external) return -1;
    return place_agent(r, &r->seats[seat], a, agent, code, msg, msglen);
}

int room_watch(struct room *r, struct session *s)
{
    int seat = room_seat_of(r, s->who.player_id);
    if (seat) {
        connect_seat(r, seat, s);
        return seat;
    }
    struct membership *m = room_membership(s, r);
    if (m && m->seat == 0) return 0;
    room_grow((void **)&r->spectators, &r->capspect, r->nspect, sizeof *r->spectators);
    if (r->nspect < r->capspect) r->spectators[r->nspect++] = s;
    attach(s, r, 0);
    return 0;
}
