#include "text_bridge.h"

#include "loop.h"
#include "proto.h"
#include "rate_limit.h"
#include "room.h"
#include "text_bridge_internal.h"
#include "util.h"
#include "wsbuf.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t tb_max_bytes = 200;
static const struct config *cfg;
static struct event *flush_ev;
static struct tb *dirty; /* sockets with messages to render, in no order */

/* ---- lines out ---------------------------------------------------------------------------- */

size_t text_bridge_cut(const char *text, size_t len, size_t max)
{
    if (len <= max) return len;
    for (size_t i = max; i > max / 2; i--)
        if (text[i] == ' ') return i;
    size_t cut = max;
    while (cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80)
        cut--;
    return cut ? cut : max;
}

static void queue_line(struct tb *t, const char *line, size_t len)
{
    struct wsbuf *b = wsbuf_new(line, len);
    if (!b) return;
    session_queue(t->s, b);
    wsbuf_unref(b);
}

void tb_say(struct tb *t, const char *text)
{
    char *copy = strdup(text);
    if (!copy) return;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
    const char *p = copy;
    size_t left = strlen(copy);
    while (left > 0) {
        while (left > 0 && *p == ' ') { /* a piece never starts with the space it was cut at */
            p++;
            left--;
        }
        if (!left) break;
        size_t n = text_bridge_cut(p, left, tb_max_bytes);
        queue_line(t, p, n);
        p += n;
        left -= n;
    }
    free(copy);
}

void tb_sayf(struct tb *t, const char *fmt, ...)
{
    char text[4001];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    util_utf8_scrub(text); /* a cut at 4000 bytes may split a character */
    tb_say(t, text);
}

const char *tb_short(const char *game_id, char out[9])
{
    util_strlcpy(out, game_id, 9);
    return out;
}

/* ---- rendering after the sender is done --------------------------------------------------- */

static void render_pending(struct tb *t)
{
    while (t->head) {
        struct tb_pending *p = t->head;
        t->head = p->next;
        if (!t->head) t->tail = NULL;
        json_t *msg = json_loadb((const char *)p->b->data, p->b->len, 0, NULL);
        if (msg && !t->s->close_code) tb_render(t, msg);
        json_decref(msg);
        wsbuf_unref(p->b);
        free(p);
    }
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    while (dirty) {
        struct tb *t = dirty;
        dirty = t->next_dirty;
        t->dirty = 0;
        t->next_dirty = NULL;
        render_pending(t);
    }
}

/* session_send of a /text socket: the message waits for on_flush. */
static int render_later(struct session *s, struct wsbuf *b)
{
    struct tb *t = s->text_state;
    struct tb_pending *p = malloc(sizeof *p);
    if (!p) return -1;
    wsbuf_ref(b);
    *p = (struct tb_pending){b, NULL};
    if (t->tail)
        t->tail->next = p;
    else
        t->head = p;
    t->tail = p;
    if (!t->dirty) {
        t->dirty = 1;
        t->next_dirty = dirty;
        dirty = t;
        event_active(flush_ev, 0, 0);
    }
    return 0;
}

int text_bridge_init(const struct config *c)
{
    cfg = c;
    tb_max_bytes = (size_t)c->text_max_bytes;
    flush_ev = event_new(loop_base(), -1, 0, on_flush, NULL);
    return flush_ev ? 0 : -1;
}

void text_bridge_shutdown(void)
{
    if (flush_ev) event_free(flush_ev);
    flush_ev = NULL;
}

int text_bridge_open(struct session *s)
{
    struct tb *t = calloc(1, sizeof *t);
    if (!t) return -1;
    t->s = s;
    s->text_state = t;
    s->render = render_later;
    return 0;
}

void text_bridge_closed(struct session *s)
{
    struct tb *t = s->text_state;
    if (!t) return;
    for (struct tb **pp = &dirty; *pp; pp = &(*pp)->next_dirty)
        if (*pp == t) {
            *pp = t->next_dirty;
            break;
        }
    while (t->head) {
        struct tb_pending *p = t->head;
        t->head = p->next;
        wsbuf_unref(p->b);
        free(p);
    }
    s->text_state = NULL;
    s->render = NULL;
    free(t);
}

/* ---- lines in ----------------------------------------------------------------------------- */

static const char help_text[] =
    "Commands: /games (games to join, and yours) | /new <game> [vs <agent>] | /join <id> | "
    "/watch <id> | /leave | /say <text> (chat) | /help. Any other line goes to the game you "
    "joined, e.g. /board or a move.";

/* Sends the /ws message {type, id, payload} through the protocol's own handlers: the same
 * checks, limits and errors, and answers that come back through render_later. */
static void request(struct tb *t, const char *type, const char *id, json_t *payload)
{
    json_t *msg = json_pack("{ss,ss,so}", "type", type, "id", id, "payload", payload);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    if (text)
        proto_on_message(t->s, text, strlen(text));
    else
        tb_say(t, "! INTERNAL out of memory");
    free(text);
    json_decref(msg);
}

/* /games and /join by prefix walk the rooms: they take an input token, like a move. */
static int take_input(struct tb *t)
{
    if (rate_limit_take(&t->s->rl_input, cfg->input_rate_per_min, loop_now_ms())) return 1;
    tb_sayf(t, "! RATE_LIMIT_EXCEEDED at most %d inputs a minute", cfg->input_rate_per_min);
    return 0;
}

enum { GAMES_LISTED = 8 };

struct games_walk {
    const char *me;
    char open[1200], mine[1200];
    int nopen, nmine;
};

static void list_room(char *buf, size_t cap, int *n, const struct room *r)
{
    if (++*n > GAMES_LISTED) return;
    json_t *sum = room_summary_json(r);
    char id8[9];
    size_t used = strlen(buf);
    snprintf(buf + used, cap - used, "%s%s %s (%s, %zu/%d)", *n > 1 ? " | " : "", room_game(r),
             tb_short(room_id(r), id8), json_string_value(json_object_get(sum, "status")),
             json_array_size(json_object_get(sum, "players")),
             (int)json_integer_value(json_object_get(sum, "seats")));
    json_decref(sum);
}

static void games_each(const char *key, void *value, void *arg)
{
    struct games_walk *w = arg;
    struct room *r = value;
    enum room_status st = room_status(r);
    if (st == ROOM_COMPLETED) return;
    if (room_seat_of(r, w->me) > 0) {
        list_room(w->mine, sizeof w->mine, &w->nmine, r);
    } else if (st == ROOM_WAITING) {
        json_t *sum = room_summary_json(r);
        int open = sum && !json_is_true(json_object_get(sum, "private"));
        json_decref(sum);
        if (open) list_room(w->open, sizeof w->open, &w->nopen, r);
    }
}

static void cmd_games(struct tb *t)
{
    if (!take_input(t)) return;
    struct games_walk w = {.me = t->s->who.player_id};
    room_each(games_each, &w);
    tb_sayf(t, "Open: %s%s", w.nopen ? w.open : "none (/new <game> starts one)",
            w.nopen > GAMES_LISTED ? " | ..." : "");
    tb_sayf(t, "Yours: %s%s", w.nmine ? w.mine : "none", w.nmine > GAMES_LISTED ? " | ..." : "");
}

struct prefix_walk {
    const char *me, *prefix;
    size_t plen;
    char found[65];
    int n;
};

static void prefix_each(const char *key, void *value, void *arg)
{
    struct prefix_walk *w = arg;
    struct room *r = value;
    if (strncmp(room_id(r), w->prefix, w->plen) != 0) return;
    if (room_seat_of(r, w->me) <= 0) {
        json_t *sum = room_summary_json(r);
        int hidden = !sum || json_is_true(json_object_get(sum, "private"));
        json_decref(sum);
        if (hidden) return;
    }
    if (++w->n == 1) util_strlcpy(w->found, room_id(r), sizeof w->found);
}

/* The game id a /join or /watch names: a whole id as it is (the room may be on another
 * instance), or a prefix of at least 4 characters of one room here that is public or the
 * caller's. Returns 0 with id filled, or -1 after answering. */
static int resolve_game(struct tb *t, const char *arg, char id[65])
{
    size_t len = strlen(arg);
    if (len == 0 || len > 64 || strchr(arg, ' ')) {
        tb_say(t, "! BAD_MESSAGE name a game: its id, or its first characters from /games");
        return -1;
    }
    if (len < 4) {
        tb_say(t, "! BAD_MESSAGE a game id prefix needs at least 4 characters");
        return -1;
    }
    if (len == UUID_LEN) {
        memcpy(id, arg, len + 1);
        return 0;
    }
    if (!take_input(t)) return -1;
    struct prefix_walk w = {.me = t->s->who.player_id, .prefix = arg, .plen = len};
    room_each(prefix_each, &w);
    if (w.n == 1) {
        memcpy(id, w.found, sizeof w.found);
        return 0;
    }
    if (w.n)
        tb_sayf(t, "! NOT_FOUND %d games start with %s: give more of the id", w.n, arg);
    else
        tb_sayf(t, "! NOT_FOUND no game here starts with %s (see /games)", arg);
    return -1;
}

static int need_game(struct tb *t)
{
    if (t->game_id[0]) return 1;
    tb_say(t, "! NOT_IN_GAME join a game first: /games lists them, /join <id>, /new <game>");
    return 0;
}

/* /new <game> [vs <agent>] */
static void cmd_new(struct tb *t, char *arg)
{
    char *game = strtok(arg, " ");
    char *vs = game ? strtok(NULL, " ") : NULL;
    char *agent = vs ? strtok(NULL, " ") : NULL;
    if (!game || (vs && (strcmp(vs, "vs") != 0 || !agent || strtok(NULL, " ")))) {
        tb_say(t, "! BAD_MESSAGE usage: /new <game> [vs <agent>], e.g. /new tictactoe vs random");
        return;
    }
    json_t *p = json_pack("{ss}", "game", game);
    if (p && agent) json_object_set_new(p, "vsAgent", json_string(agent));
    request(t, "create_game", "tb:new", p);
}

static void cmd_join(struct tb *t, const char *arg, int watch)
{
    char id[65];
    if (resolve_game(t, arg, id) < 0) return;
    request(t, "join_game", watch ? "tb:watch" : "tb:join",
            json_pack("{ss,ss}", "gameId", id, "as", watch ? "spectator" : "player"));
}

static void to_game(struct tb *t, const char *type, const char *id, const char *text)
{
    if (need_game(t))
        request(t, type, id, json_pack("{ss,ss}", "gameId", t->game_id, "text", text));
}

/* A line split into its first word and the rest, both trimmed (line is changed). */
static void dispatch(struct tb *t, char *line)
{
    char *arg = line + strcspn(line, " ");
    if (*arg) *arg++ = '\0';
    arg += strspn(arg, " ");
    if (strcmp(line, "/help") == 0) {
        tb_say(t, help_text);
        if (t->game_id[0]) to_game(t, "command", "tb:cmd", "/help");
    } else if (strcmp(line, "/games") == 0) {
        cmd_games(t);
    } else if (strcmp(line, "/new") == 0) {
        cmd_new(t, arg);
    } else if (strcmp(line, "/join") == 0 || strcmp(line, "/watch") == 0) {
        cmd_join(t, arg, line[1] == 'w');
    } else if (strcmp(line, "/leave") == 0) {
        if (need_game(t))
            request(t, "leave_game", "tb:leave", json_pack("{ss}", "gameId", t->game_id));
    } else if (strcmp(line, "/say") == 0) {
        to_game(t, "chat_message", "tb:say", arg);
    } else {
        if (*arg) arg[-1] = ' '; /* the whole line goes to the game as it came */
        if (!t->game_id[0])
            tb_sayf(t,
                    "! UNKNOWN_COMMAND %s is not a bridge command, and you are in no game. "
                    "Send /help for the commands.",
                    line);
        else
            to_game(t, "command", "tb:cmd", line);
    }
}

void text_bridge_refused(struct session *s, const char *code)
{
    struct tb *t = s->text_state;
    if (!t) return;
    render_pending(t);
    if (strcmp(code, "TOO_LARGE") == 0)
        tb_sayf(t, "! TOO_LARGE a message is at most %d bytes: closing", cfg->max_message_bytes);
    else
        tb_sayf(t, "! %s binary frames are not accepted: send lines of text", code);
}

void text_bridge_line(struct session *s, const char *data, size_t len)
{
    struct tb *t = s->text_state;
    if (!t) return;
    render_pending(t); /* what the socket was sent before this line is told first */
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
        len--;
    while (len > 0 && *data == ' ') {
        data++;
        len--;
    }
    if (len > TEXT_LINE_MAX) {
        tb_sayf(t, "! TOO_LARGE a line is at most %d bytes", TEXT_LINE_MAX);
        return;
    }
    if (len == 0) return;
    if (memchr(data, '\n', len) || memchr(data, '\0', len) || !util_utf8_valid(data, len)) {
        tb_say(t, "! BAD_MESSAGE send one line of UTF-8 text per message");
        return;
    }
    char line[TEXT_LINE_MAX + 1];
    memcpy(line, data, len);
    line[len] = '\0';
    dispatch(t, line);
}
