/* room_log.c - the room's event log and its inputs. Every event gets the next seq and a logical
 * time, is stored, and goes to every attached socket in that socket's view: a seat-only event
 * is encoded twice, full and as {"kind":"hidden"}. resume replays from the log kept in memory
 * with the same rule; the inputs list shares the log's order counter, which is how the log as
 * JSON (GET /api/games/:id/events) interleaves the two. */
#include "bus.h"
#include "frame.h"
#include "json_text.h"
#include "loop.h"
#include "room_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char hidden_payload[] = "{\"event\":{\"kind\":\"hidden\"}}";

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

/* Sends event e to session s attached at seat (0: spectator). */
static void send_event(const struct room *r, const struct log_entry *e, struct session *s, int seat,
                       json_t *re)
{
    const char *payload = e->only_seat && e->only_seat != seat ? hidden_payload : e->payload;
    struct wsbuf *b = game_msg(r, e->type, e->seq, payload, re);
    room_send_once(s, b);
}

char *room_log_event_payload(const struct referee_event *e)
{
    char *p = malloc(e->len + 11);
    if (!p) return NULL;
    memcpy(p, "{\"event\":", 9);
    memcpy(p + 9, e->json, e->len);
    memcpy(p + 9 + e->len, "}", 2);
    return p;
}

/* Sends e to everyone attached, each distinct frame built once: the full one, and the hidden
 * one for a seat-only event. reply_to gets its own frame with re. */
static void broadcast_event(struct room *r, const struct log_entry *e, struct session *reply_to,
                            json_t *re)
{
    struct wsbuf *full = game_msg(r, e->type, e->seq, e->payload, NULL);
    if (full && bus_enabled()) {
        char channel[64];
        snprintf(channel, sizeof channel, "game:%s:events", r->id);
        bus_publish(channel, (const char *)full->data, full->len);
    }
    int only_seat = e->only_seat;
    struct wsbuf *hidden = only_seat ? game_msg(r, e->type, e->seq, hidden_payload, NULL) : NULL;
    for (int i = 1; i <= r->nseats; i++) {
        struct session *s = r->seats[i].session;
        if (!s) continue;
        if (s == reply_to)
            send_event(r, e, s, i, re);
        else
            room_send(s, only_seat && only_seat != i ? hidden : full);
    }
    for (size_t i = 0; i < r->nspect; i++) {
        struct session *s = r->spectators[i];
        if (s == reply_to)
            send_event(r, e, s, 0, re);
        else
            room_send(s, only_seat ? hidden : full);
    }
    wsbuf_unref(full);
    wsbuf_unref(hidden);
}

void room_log_event(struct room *r, const char *type, char *payload, int only_seat,
                    struct session *reply_to, json_t *re)
{
    room_grow((void **)&r->log, &r->caplog, r->nlog, sizeof *r->log);
    if (r->nlog == r->caplog || !payload) {
        free(payload);
        return;
    }
    struct log_entry *e = &r->log[r->nlog++];
    *e = (struct log_entry){++r->seq, type, payload, only_seat, room_logical_now(r), ++r->order};
    room_store_event(r, e);
    broadcast_event(r, e, reply_to, re);
}

void room_log_input(struct room *r, int seat, const char *action, const char *source,
                    const char *hash)
{
    room_grow((void **)&r->inputs, &r->capinputs, r->ninputs, sizeof *r->inputs);
    if (r->ninputs == r->capinputs) return;
    struct input_rec *in = &r->inputs[r->ninputs++];
    *in = (struct input_rec){seat, strdup(action), source, room_logical_now(r), ++r->order};
    room_store_input(r, in, action, hash);
}

void room_log_free(struct room *r)
{
    for (size_t i = 0; i < r->nlog; i++)
        free(r->log[i].payload);
    for (size_t i = 0; i < r->ninputs; i++)
        free(r->inputs[i].action);
    free(r->log);
    free(r->inputs);
}

const char *room_chat(struct room *r, struct session *s, const char *text, json_t *re)
{
    if (!room_membership(s, r)) return "NOT_IN_GAME";
    json_t *p = json_pack("{s{ss,ss},ss,sI}", "from", "playerId", s->who.player_id, "name",
                          s->who.name, "text", text, "ts", (json_int_t)loop_wall_ms());
    room_log_event(r, "chat_message", json_text_dump(p), 0, s, re);
    json_decref(p);
    return NULL;
}

/* The replay message of the events after last_seq, as seat sees them; rewind (>= 0: the
 * client first drops what it holds after that seq) leads it. The payloads are JSON text
 * already. */
static struct wsbuf *replay_msg(const struct room *r, uint64_t last_seq, int64_t rewind, int seat,
                                json_t *re)
{
    struct frame *f = frame_begin("replay");
    frame_game(f, r->id, r->seq);
    frame_put(f, ",\"payload\":{");
    if (rewind >= 0) {
        frame_put(f, "\"rewind\":");
        frame_int(f, rewind);
        frame_put(f, ",");
    }
    frame_put(f, "\"events\":[");
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
    return frame_end(f, re);
}

/* The seq after which the client resuming at last_seq holds only what this room logged. Past
 * the room's seq, or (in a rebuilt room) past its stored log for a seat not attached here since
 * the rebuild, the client holds events the last process sent and never stored: the room may have
 * logged other ones under those seqs since, so they are withdrawn (docs/protocol.md, "Rewind"). */
static uint64_t resume_from(const struct room *r, int seat, uint64_t last_seq)
{
    if (r->rebuilt && last_seq > r->rebuilt_seq && !(seat && r->seats[seat].since_rebuild))
        return r->rebuilt_seq;
    return last_seq > r->seq ? r->seq : last_seq;
}

void room_resume(struct room *r, struct session *s, uint64_t last_seq, json_t *re)
{
    uint64_t from = resume_from(r, room_seat_of(r, s->who.player_id), last_seq);
    int seat = room_watch(r, s);
    int was_disconnected = seat && r->status != ROOM_COMPLETED;
    int64_t rewind = from < last_seq ? (int64_t)from : -1;
    if (from + (uint64_t)room_cfg->replay_buffer >= r->seq)
        room_send_once(s, replay_msg(r, from, rewind, seat, re));
    else if (rewind >= 0) /* too far behind for the events: the game_state is the truth */
        room_send_once(s, replay_msg(r, r->seq, rewind, seat, re));
    /* The others see the player connected again; the resumer gets its answer with re. */
    if (was_disconnected)
        room_state_sync(r, NULL, s, re);
    else
        room_state_sync(r, s, s, re);
}

/* An event of the log as GET /api/games/:id/events shows it. */
static json_t *entry_json(const struct log_entry *e)
{
    json_t *o = json_pack("{sI,ss,so,sI}", "seq", (json_int_t)e->seq, "type", e->type, "payload",
                          json_loads(e->payload, 0, NULL), "t", (json_int_t)e->t);
    if (e->only_seat) json_object_set_new(o, "seat", json_integer(e->only_seat));
    return o;
}

/* An input as GET /api/games/:id/events shows it. */
static json_t *input_json(const struct input_rec *in)
{
    return json_pack("{ss,s{si,so,ss},sI}", "type", "input", "payload", "seat", in->seat, "action",
                     json_loads(in->action, JSON_DECODE_ANY, NULL), "source", in->source, "t",
                     (json_int_t)in->t);
}

json_t *room_log_json(const struct room *r)
{
    json_t *events = json_array();
    size_t i = 0, j = 0;
    while (i < r->nlog || j < r->ninputs) {
        if (j >= r->ninputs || (i < r->nlog && r->log[i].order < r->inputs[j].order))
            json_array_append_new(events, entry_json(&r->log[i++]));
        else
            json_array_append_new(events, input_json(&r->inputs[j++]));
    }
    json_t *o =
        json_pack("{ss,ss,ss,sI,si,so}", "gameId", r->id, "game", r->game->name, "version",
                  r->game->id, "seed", (json_int_t)r->seed, "seats", r->nseats, "events", events);
    if (r->config_json) json_object_set_new(o, "config", json_loads(r->config_json, 0, NULL));
    return o;
}
