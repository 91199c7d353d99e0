/* room_external.c - external agents: seats served by a process outside the server over its own
 * WebSocket (a connection authenticated with an agent token, POST /api/admin/agents). The seat
 * to move is asked with agent_turn {gameId, seat, view, legal?, deadline}; the connection
 * answers agent_move {gameId, action, reasoning?}. An answer that is late (or never comes, or
 * no connection of the agent is open), or illegal, gives way to a random legal move, as a
 * failing Lua agent does. Turn-based rooms only. */
#include "accounts.h"
#include "frame.h"
#include "json_text.h"
#include "log.h"
#include "metrics.h"
#include "room_internal.h"
#include "scripts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASONING_MAX_BYTES 500 /* as lua/agent_host.lua cuts a Lua agent's */

static struct metric *m_fallbacks, *m_moves;

int room_external_init(void)
{
    m_fallbacks = metrics_counter("external_agent_fallbacks_total",
                                  "External agents' turns played by a random legal move, by "
                                  "reason (late, offline, illegal)",
                                  "reason");
    m_moves = metrics_counter("external_agent_moves_total",
                              "Moves external agents answered in time and legally", NULL);
    return m_fallbacks && m_moves ? 0 : -1;
}

/* The open connection of agent name that is asked next (the most recent one), or NULL. */
static struct session *agent_connection(const char *name)
{
    char id[UUID_LEN + 1];
    accounts_agent_id(name, id);
    for (struct session *s = session_of_player(id); s; s = s->next_of_player)
        if (strcmp(s->who.role, "agent") == 0 && strcmp(s->who.name, name) == 0) return s;
    return NULL;
}

int rooms_agent_available(const char *game, const char *agent)
{
    if (scripts_agent_for(game, agent)) return 1;
    struct script_version *g = scripts_game(game);
    return agent && g && json_integer_value(json_object_get(g->meta, "tick_rate")) <= 0 &&
           agent_connection(agent);
}

int room_external_available(const struct room *r, const char *name)
{
    return !r->realtime && agent_connection(name) != NULL;
}

void room_external_seat(struct seat *st, const char *name)
{
    st->kind = SEAT_AGENT;
    st->external = 1;
    snprintf(st->player_id, sizeof st->player_id, "agent:%s", name);
    util_strlcpy(st->name, name, sizeof st->name);
}

/* agent_turn to s: the seat's view and legal list as the last state kept them. */
static int send_turn(struct room *r, struct session *s, int seat)
{
    struct frame *f = frame_begin("agent_turn");
    frame_key(f, "payload");
    json_t *id = json_string(r->id);
    frame_put(f, "{\"gameId\":");
    frame_json(f, id);
    json_decref(id);
    frame_put(f, ",\"seat\":");
    frame_int(f, seat);
    frame_put(f, ",\"view\":");
    frame_put(f, r->agent_view ? r->agent_view : "{}");
    if (r->agent_legal) {
        frame_put(f, ",\"legal\":");
        frame_put(f, r->agent_legal);
    }
    frame_put(f, ",\"deadline\":");
    frame_int(f, (int64_t)r->deadline_wall);
    frame_put(f, "}");
    struct wsbuf *b = frame_end(f, NULL);
    if (!b) return -1;
    room_send_once(s, b);
    return 0;
}

void room_external_ask(struct room *r, const struct seat *st)
{
    struct session *s = agent_connection(st->player_id + 6);
    r->ext_asked = 0;
    if (s && send_turn(r, s, st->index) == 0) {
        r->ext_asked = s->id;
        room_turn_arm(r, room_cfg->agent_turn_ms);
    } else {
        room_turn_arm(r, 0); /* nobody to ask: the fallback, from the loop (not recursively) */
    }
}

/* A random legal move for seat instead of its agent's (reason: late, offline, illegal). */
static void fall_back(struct room *r, int seat, const char *reason)
{
    metric_add(m_fallbacks, reason, 1);
    if (r->status != ROOM_ACTIVE) return;       /* a failing script ended it */
    if (room_turn_random(r, seat, "agent") > 0) /* no move, or one that failed */
        room_finish(r, "{\"reason\":\"script_error\"}", NULL);
}

void room_external_timeout(struct room *r, int seat)
{
    const char *reason = r->ext_asked ? "late" : "offline";
    log_msg(LOG_INFO, "external agent did not answer: playing a random legal move", "{ss,si,ss,ss}",
            "game", r->id, "seat", seat, "agent", r->seats[seat].player_id + 6, "reason", reason);
    r->ext_asked = 0;
    if (strcmp(reason, "late") == 0) {
        char *ev = NULL;
        if (asprintf(&ev, "{\"event\":{\"kind\":\"timeout\",\"seat\":%d}}", seat) < 0) ev = NULL;
        room_log_event(r, "game_event", ev, 0, NULL, NULL);
    }
    fall_back(r, seat, reason);
}

/* text cut to REASONING_MAX_BYTES without splitting a UTF-8 character (malloc'd). */
static char *cut_reasoning(const char *text)
{
    size_t n = strlen(text);
    if (n > REASONING_MAX_BYTES) {
        n = REASONING_MAX_BYTES;
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
            n--;
    }
    return strndup(text, n);
}

const char *room_agent_move(struct room *r, struct session *s, json_t *action,
                            const char *reasoning, json_t *re, char *msg, size_t msglen)
{
    int seat = 0, named = 0;
    for (int i = 1; i <= r->nseats; i++) {
        const struct seat *st = &r->seats[i];
        if (!st->external || strcmp(st->player_id + 6, s->who.name) != 0) continue;
        named = 1;
        if (i == r->to_move) seat = i;
    }
    if (!named) {
        snprintf(msg, msglen, "agent %s holds no seat in this game", s->who.name);
        return "NOT_IN_GAME";
    }
    if (r->status != ROOM_ACTIVE || !seat || r->ext_asked != s->id) {
        snprintf(msg, msglen,
                 "no turn of this game is asked of this connection (late answers "
                 "get a random legal move)");
        return "NOT_YOUR_TURN";
    }
    char *text = json_text_dump(action);
    if (!text) return "INTERNAL";
    if (r->turn_timer) event_del(r->turn_timer);
    r->ext_asked = 0;
    if (reasoning && *reasoning) {
        char *why = cut_reasoning(reasoning);
        json_t *ev = why ? json_pack("{s{ss,si,ss}}", "event", "kind", "agent_reasoning", "seat",
                                     seat, "text", why)
                         : NULL;
        room_log_event(r, "game_event", ev ? json_text_dump(ev) : NULL, 0, NULL, NULL);
        json_decref(ev);
        free(why);
    }
    const char *code = room_turn_apply(r, seat, text, "external", NULL, msg, msglen);
    free(text);
    if (!code) {
        metric_add(m_moves, NULL, 1);
        json_t *p = json_pack("{ss,si}", "gameId", r->id, "seat", seat);
        frame_send(s, "agent_move_ack", p, re);
        json_decref(p);
        return NULL;
    }
    log_msg(LOG_WARN, "external agent's move refused: playing a random legal move",
            "{ss,si,ss,ss,ss}", "game", r->id, "seat", seat, "agent", s->who.name, "code", code,
            "reason", msg);
    size_t n = strlen(msg);
    snprintf(msg + n, msglen - n, ": a random legal move was played instead");
    fall_back(r, seat, "illegal");
    return code;
}
