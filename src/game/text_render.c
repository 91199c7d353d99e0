/* text_render.c - the messages a /text socket is sent, as lines (text_bridge.h). */
#include "room.h"
#include "text_bridge.h"
#include "text_bridge_internal.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LEGAL_LISTED = 12 };

static const char *str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static int seat_of(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

static const char *name_of(const struct tb *t, int seat)
{
    return seat >= 1 && seat <= TB_MAX_SEATS && t->names[seat][0] ? t->names[seat] : "someone";
}

/* Appends v compactly to buf: a string as it is, anything else as compact JSON. */
static void put_value(char *buf, size_t cap, const json_t *v)
{
    size_t used = strlen(buf);
    if (used + 1 >= cap) return;
    if (json_is_string(v)) {
        snprintf(buf + used, cap - used, "%s", json_string_value(v));
        return;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text) snprintf(buf + used, cap - used, "%s", text);
    free(text);
}

/* The fields of an object as "k=v" joined by sep, skipping skip (may be NULL); a value that is
 * not an object as itself. */
static void put_fields(char *buf, size_t cap, const json_t *o, const char *sep, const char *skip)
{
    if (!json_is_object(o)) {
        put_value(buf, cap, o);
        return;
    }
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach((json_t *)o, k, v)
    {
        if (skip && strcmp(k, skip) == 0) continue;
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, "%s%s=", first ? "" : sep, k);
        put_value(buf, cap, v);
        first = 0;
    }
}

/* The game's describe of event for this socket's seat. Returns 1 when it gave a line (said). */
static int described(struct tb *t, const json_t *event)
{
    struct room *r = room_find(t->game_id);
    char *ev = r ? json_dumps(event, JSON_COMPACT) : NULL;
    char *line = NULL;
    if (ev) room_describe(r, t->seat, ev, &line);
    free(ev);
    if (line) tb_say(t, line);
    free(line);
    return line != NULL;
}

/* described() of an event made here, which it takes. */
static int described_own(struct tb *t, json_t *event)
{
    int said = event && described(t, event);
    json_decref(event);
    return said;
}

static void set_game(struct tb *t, const char *id, const char *game)
{
    if (strcmp(t->game_id, id) != 0) {
        memset(t->names, 0, sizeof t->names);
        t->status[0] = '\0';
        t->prompted_seq = 0;
    }
    util_strlcpy(t->game_id, id, sizeof t->game_id);
    util_strlcpy(t->game, game, sizeof t->game);
}

static void render_welcome(struct tb *t, const json_t *m, const json_t *p)
{
    tb_sayf(t, "Welcome, %s%s. Send /help for the commands.", str(p, "name"),
            strcmp(str(p, "role"), "agent") == 0 ? " (an agent)" : "");
}

static void render_error(struct tb *t, const json_t *m, const json_t *p)
{
    tb_sayf(t, "! %s %s", str(p, "code"), str(p, "message"));
}

static void render_created(struct tb *t, const json_t *m, const json_t *p)
{
    char id8[9];
    set_game(t, str(p, "gameId"), str(p, "game"));
    t->seat = 1;
    tb_sayf(t, "Created %s game %s. Others join with /join %s", t->game, tb_short(t->game_id, id8),
            id8);
}

static void players_line(struct tb *t, const json_t *p, char *buf, size_t cap)
{
    size_t i;
    json_t *pl;
    json_array_foreach(json_object_get(p, "players"), i, pl)
    {
        int seat = seat_of(pl, "seat");
        if (seat >= 1 && seat <= TB_MAX_SEATS)
            util_strlcpy(t->names[seat], str(pl, "name"), sizeof t->names[seat]);
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, "%s%s (%d)", i ? ", " : "", str(pl, "name"), seat);
    }
}

/* "Your turn" with a short list of the legal actions, once per state asking it. */
static void prompt(struct tb *t, const json_t *m, const json_t *p)
{
    json_t *legal = json_object_get(p, "legal");
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(m, "seq")) + 1;
    if (!t->seat || (seat_of(p, "toMove") != t->seat && !legal) || seq == t->prompted_seq) return;
    t->prompted_seq = seq;
    char list[1500] = "";
    size_t i;
    json_t *a;
    json_array_foreach(legal, i, a)
    {
        if (i == LEGAL_LISTED) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, " (+%zu more)", json_array_size(legal) - i);
            break;
        }
        if (i) strncat(list, " ", sizeof list - strlen(list) - 1);
        if (json_is_object(a) && json_object_size(a) == 1)
            put_value(list, sizeof list, json_object_iter_value(json_object_iter(a)));
        else
            put_fields(list, sizeof list, a, ",", NULL);
    }
    char id8[9];
    tb_sayf(t, "Your turn in %s.%s%s", tb_short(t->game_id, id8), *list ? " Legal: " : "", list);
}

static void render_state(struct tb *t, const json_t *m, const json_t *p)
{
    const char *re = str(m, "re");
    int answer = strncmp(re, "tb:", 3) == 0 && strcmp(re, "tb:cmd") != 0;
    if (answer) set_game(t, str(m, "gameId"), str(p, "game"));
    if (strcmp(str(m, "gameId"), t->game_id) != 0) return;
    t->seat = seat_of(p, "you");
    char players[800] = "", old[12], id8[9];
    players_line(t, p, players, sizeof players);
    util_strlcpy(old, t->status, sizeof old);
    util_strlcpy(t->status, str(p, "status"), sizeof t->status);
    if (answer && t->seat)
        tb_sayf(t, "You are seat %d in %s %s (%s). Players: %s", t->seat, t->game,
                tb_short(t->game_id, id8), t->status, players);
    else if (answer)
        tb_sayf(t, "Watching %s %s (%s). Players: %s", t->game, tb_short(t->game_id, id8),
                t->status, players);
    if (strcmp(old, "waiting") == 0 && strcmp(t->status, "active") == 0 &&
        !described_own(t, json_pack("{ss}", "kind", "start")))
        tb_sayf(t, "%s %s started. Players: %s", t->game, tb_short(t->game_id, id8), players);
    if (strcmp(t->status, "active") == 0) prompt(t, m, p);
}

/* An event nobody described: its kind and its fields, "move: cell=5 seat=1". */
static void render_event(struct tb *t, const json_t *m, const json_t *p)
{
    json_t *ev = json_object_get(p, "event");
    if (described(t, ev)) return;
    const char *kind = str(ev, "kind");
    if (strcmp(kind, "hidden") == 0) return; /* nothing to tell */
    if (strcmp(kind, "agent_reasoning") == 0) {
        tb_sayf(t, "%s thinks: %s", name_of(t, seat_of(ev, "seat")), str(ev, "text"));
        return;
    }
    char line[4000] = "";
    snprintf(line, sizeof line, "%s: ", *kind ? kind : "event");
    put_fields(line, sizeof line, ev, " ", "kind");
    tb_say(t, line);
}

static void render_joined(struct tb *t, const json_t *m, const json_t *p)
{
    int seat = seat_of(p, "seat");
    if (seat >= 1 && seat <= TB_MAX_SEATS)
        util_strlcpy(t->names[seat], str(p, "name"), sizeof t->names[seat]);
    tb_sayf(t, "%s joined as seat %d.", str(p, "name"), seat);
}

static void forget_game(struct tb *t, const char *what)
{
    char id8[9];
    tb_sayf(t, "You %s %s %s.", what, t->game, tb_short(t->game_id, id8));
    t->game_id[0] = '\0';
    t->seat = 0;
}

static void render_left(struct tb *t, const json_t *m, const json_t *p)
{
    if (strcmp(str(p, "playerId"), t->s->who.player_id) == 0 && json_object_get(m, "re"))
        forget_game(t, "left");
    else
        tb_sayf(t, "%s left (seat %d).", str(p, "name"), seat_of(p, "seat"));
}

static void render_unwatched(struct tb *t, const json_t *m, const json_t *p)
{
    forget_game(t, "stopped watching");
}

static void render_chat(struct tb *t, const json_t *m, const json_t *p)
{
    tb_sayf(t, "<%s> %s", str(json_object_get(p, "from"), "name"), str(p, "text"));
}

static void render_over(struct tb *t, const json_t *m, const json_t *p)
{
    json_t *result = json_object_get(p, "result");
    if (described_own(t, json_pack("{ss,sO}", "kind", "game_over", "result", result))) return;
    int winner = seat_of(result, "winner");
    const char *reason = str(result, "reason");
    if (winner)
        tb_sayf(t, "Game over: %s (seat %d) wins (%s).", name_of(t, winner), winner, reason);
    else if (json_is_true(json_object_get(result, "draw")))
        tb_say(t, "Game over: a draw.");
    else
        tb_sayf(t, "Game over (%s).", reason);
}

static void render_answer(struct tb *t, const json_t *m, const json_t *p)
{
    tb_say(t, str(p, "text"));
}

static void render_generic(struct tb *t, const json_t *m, const json_t *p)
{
    char line[4000] = "";
    snprintf(line, sizeof line, "%s: ", str(m, "type"));
    put_fields(line, sizeof line, p, " ", NULL);
    tb_say(t, line);
}

static void render_nothing(struct tb *t, const json_t *m, const json_t *p) {}

/* own: only for the game the socket follows (other rooms it is still attached to are quiet). */
static const struct {
    const char *type;
    void (*fn)(struct tb *t, const json_t *m, const json_t *p);
    int own;
} renderers[] = {
    {"welcome", render_welcome, 0},       {"error", render_error, 0},
    {"game_created", render_created, 0},  {"game_state", render_state, 0},
    {"game_event", render_event, 1},      {"player_joined", render_joined, 1},
    {"player_left", render_left, 1},      {"left", render_unwatched, 1},
    {"chat_message", render_chat, 1},     {"game_over", render_over, 1},
    {"command_answer", render_answer, 0}, {"heartbeat", render_nothing, 0},
    {"input_ack", render_nothing, 0},     {"replay", render_nothing, 0},
    {"subscribed", render_nothing, 0},    {"lobby", render_nothing, 0},
    {"lobby_update", render_nothing, 0},  {"agent_evolved", render_nothing, 0},
};

void tb_render(struct tb *t, const json_t *msg)
{
    const char *type = str(msg, "type");
    json_t *p = json_object_get(msg, "payload");
    for (size_t i = 0; i < sizeof renderers / sizeof renderers[0]; i++) {
        if (strcmp(type, renderers[i].type) != 0) continue;
        if (renderers[i].own && strcmp(str(msg, "gameId"), t->game_id) != 0) return;
        renderers[i].fn(t, msg, p);
        return;
    }
    render_generic(t, msg, p);
}
