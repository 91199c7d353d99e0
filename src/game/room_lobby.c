/* room_lobby.c - what the lobby and the catalog show of rooms: a room's summary, the lists of
 * rooms (public and open, or all for the admin), and lobby_update to the sockets subscribed to
 * the lobby (and to the Redis bus when it is on). */
#include "bus.h"
#include "frame.h"
#include "room_internal.h"

#include <stdlib.h>

/* Sockets subscribed to the lobby, kept apart so a room opening costs one frame per
 * subscriber, not a walk over every socket. */
static struct session **lobby_subs;
static size_t n_lobby_subs, cap_lobby_subs;

json_t *room_summary_json(const struct room *r)
{
    char *players = room_state_players_json(r);
    json_t *o = json_pack("{ss,ss,ss,ss,so,si,sb,sf}", "gameId", r->id, "game", r->game->name,
                          "version", r->game->id, "status", room_status_name(r->status), "players",
                          players ? json_loads(players, 0, NULL) : json_array(), "seats", r->nseats,
                          "private", r->is_private, "createdAt", r->created_wall);
    free(players);
    if (r->result_json) json_object_set_new(o, "result", json_loads(r->result_json, 0, NULL));
    if (r->to_move && r->status == ROOM_ACTIVE)
        json_object_set_new(o, "toMove", json_integer(r->to_move));
    if (r->gm) json_object_set_new(o, "gameMaster", json_integer(r->gm));
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
    room_each(add_any, arr);
    return arr;
}

json_t *rooms_lobby_json(void)
{
    json_t *arr = json_array();
    room_each(add_open, arr);
    return arr;
}

void rooms_lobby_subscribe(struct session *s)
{
    if (s->sub_lobby) return;
    room_grow((void **)&lobby_subs, &cap_lobby_subs, n_lobby_subs, sizeof *lobby_subs);
    if (n_lobby_subs == cap_lobby_subs) return;
    lobby_subs[n_lobby_subs++] = s;
    s->sub_lobby = 1;
}

void room_lobby_unsubscribe(struct session *s)
{
    for (size_t i = 0; s->sub_lobby && i < n_lobby_subs; i++)
        if (lobby_subs[i] == s) {
            lobby_subs[i] = lobby_subs[--n_lobby_subs];
            s->sub_lobby = 0;
        }
}

void room_lobby_shutdown(void)
{
    free(lobby_subs);
    lobby_subs = NULL;
    n_lobby_subs = cap_lobby_subs = 0;
}

static rooms_lobby_hook lobby_hook;
static void (*lobby_frame_hook)(const struct wsbuf *b);

void rooms_set_lobby_hook(rooms_lobby_hook fn)
{
    lobby_hook = fn;
}

void rooms_set_lobby_frame_hook(void (*fn)(const struct wsbuf *b))
{
    lobby_frame_hook = fn;
}

void rooms_lobby_deliver(const char *frame, size_t len)
{
    if (!n_lobby_subs) return;
    struct wsbuf *buf = wsbuf_new(frame, len);
    for (size_t i = 0; buf && i < n_lobby_subs; i++)
        session_send(lobby_subs[i], buf);
    wsbuf_unref(buf);
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
    if (buf && lobby_frame_hook) lobby_frame_hook(buf);
    wsbuf_unref(buf);
}
