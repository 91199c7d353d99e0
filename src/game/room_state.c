/* room_state.c - game_state: the players array (cached until a seat changes), the views of the
 * seats that need one (one referee call), and one frame per seat plus one shared by every
 * spectator. A finished room, or a waiting room that let go of its Lua state, sends the views
 * it kept. */
#include "frame.h"
#include "json_text.h"
#include "room_internal.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *room_state_players_json(const struct room *r)
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

/* room_state_players_json, cached until the seats change. The string belongs to the room. */
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
        r->players_cache = room_state_players_json(r);
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
    frame_put(f, room_status_name(r->status));
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
    if (r->gm) {
        frame_key(f, "gameMaster");
        frame_int(f, r->gm);
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

/* Sends the spectators' state (view): one frame shared by all, reply_to's own with re. */
static void send_spectators(const struct room *r, const char *players, const char *view,
                            struct session *only, struct session *reply_to, json_t *re)
{
    struct wsbuf *spect = r->nspect ? state_msg(r, players, 0, view, NULL, NULL) : NULL;
    for (size_t i = 0; i < r->nspect; i++) {
        struct session *s = r->spectators[i];
        if (only && s != only) continue;
        if (s == reply_to)
            room_send_once(s, state_msg(r, players, 0, view, NULL, re));
        else
            room_send(s, spect);
    }
    wsbuf_unref(spect);
}

/* Sends seat's state to its socket, when it has one (and it is only, when only is non-NULL). */
static void send_seat(const struct room *r, const char *players, int seat, const char *view,
                      const char *legal, struct session *only, struct session *reply_to, json_t *re)
{
    struct session *s = r->seats[seat].session;
    if (s && (!only || s == only))
        room_send_once(s, state_msg(r, players, seat, view, legal, s == reply_to ? re : NULL));
}

/* room_state_sync for a room whose Lua state is gone: the final views it kept. */
static void sync_final(struct room *r, struct session *only, struct session *reply_to, json_t *re)
{
    const char *players = room_players(r);
    for (int seat = 0; seat <= r->nseats; seat++) {
        const char *view = r->final_views[seat] ? r->final_views[seat] : "{}";
        if (seat == 0)
            send_spectators(r, players, view, only, reply_to, re);
        else
            send_seat(r, players, seat, view, NULL, only, reply_to, re);
    }
}

/* The seats whose view room_state_sync needs, as a mask of 1 << seat (0: the spectators'): a
 * seat with nobody to send it to costs a view and its encoding for nothing. A finished room
 * keeps every view; an agent needs its own when it is to move, or every tick in real time. */
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

/* Keeps what the room needs of seat's view after this state: a finished room's final view, a
 * real-time agent's latest view, the view and legal list of the agent to move. */
static void keep_view(struct room *r, int seat, const char *view, const char *legal)
{
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
}

void room_state_sync(struct room *r, struct session *only, struct session *reply_to, json_t *re)
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
    int ok = room_referee_failed(r, "view", st, err) == 0;
    const char *players = room_players(r);
    for (int seat = 0; seat <= r->nseats; seat++) {
        if (!(wanted & (1u << seat))) continue;
        const char *view = ok && views[seat].json ? views[seat].json : "{}";
        const char *legal = ok ? views[seat].legal : NULL;
        keep_view(r, seat, view, legal);
        if (seat == 0)
            send_spectators(r, players, view, only, reply_to, re);
        else
            send_seat(r, players, seat, view, legal, only, reply_to, re);
    }
}

void room_send_state(struct room *r, struct session *s, json_t *re)
{
    if (r->status == ROOM_WAITING) {
        int full = 1;
        for (int i = 1; i <= r->nseats; i++)
            full &= r->seats[i].kind != SEAT_EMPTY;
        if (full) {
            room_state_sync(r, s, s, re); /* the answer first, then the start for everyone */
            room_start_if_full(r);
            return;
        }
        room_state_sync(r, NULL, s, re); /* the player list changed: everyone gets it */
        return;
    }
    room_state_sync(r, s, s, re);
}
