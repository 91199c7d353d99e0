#include "api_games.h"

#include "accounts.h"
#include "auth.h"
#include "directory.h"
#include "members.h"
#include "http.h"
#include "room.h"
#include "scripts.h"
#include "store.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* The caller's identity from Authorization: Bearer, or NULL after answering 401 (403 for an
 * external agent's token: it plays only through agent_move). */
static const struct identity *caller(struct http_exchange *x, struct identity *who)
{
    char why[128];
    if (auth_bearer(x->authorization, who, why, sizeof why) < 0) {
        http_respond_error(x, 401, "UNAUTHORIZED", why);
        return NULL;
    }
    if (strcmp(who->role, "agent") == 0) {
        http_respond_error(x, 403, "FORBIDDEN", "an agent token plays only through agent_move");
        return NULL;
    }
    return who;
}

static int status_of(const char *code)
{
    if (strcmp(code, "NOT_FOUND") == 0) return 404;
    if (strcmp(code, "GAME_FULL") == 0) return 409;
    if (strcmp(code, "SERVER_BUSY") == 0) return 503;
    if (strcmp(code, "BAD_MESSAGE") == 0) return 400;
    if (strcmp(code, "RATE_LIMIT_EXCEEDED") == 0) return 429;
    return 500;
}

static void get_games(struct http_exchange *x)
{
    http_respond_json(x, 200, scripts_games_json());
}

static void get_agents(struct http_exchange *x)
{
    json_t *agents = scripts_agents_json(), *a;
    size_t i;
    json_array_foreach(agents, i, a)
    {
        double rating = accounts_agent_rating(json_string_value(json_object_get(a, "name")));
        if (rating >= 0) json_object_set_new(a, "rating", json_real(rating));
    }
    http_respond_json(x, 200, agents);
}

static void get_rooms(struct http_exchange *x)
{
    if (members_rooms(x) == 0) return; /* cluster mode: every instance's rooms, from Redis */
    http_respond_json(x, 200, rooms_lobby_json());
}

static void post_create(struct http_exchange *x)
{
    struct identity who;
    if (!caller(x, &who)) return;
    json_t *body = http_body_object(x);
    if (!body) return;
    json_t *game = json_object_get(body, "game"), *config = json_object_get(body, "config");
    json_t *agent = json_object_get(body, "vsAgent"), *priv = json_object_get(body, "private");
    if (!json_is_string(game) || (config && !json_is_object(config)) ||
        (agent && !json_is_string(agent)) || (priv && !json_is_boolean(priv))) {
        http_respond_error(
            x, 400, "BAD_MESSAGE",
            "want {game: string, config?: object, vsAgent?: string, private?: boolean}");
        json_decref(body);
        return;
    }
    const char *agent_name = agent ? json_string_value(agent) : NULL;
    if (agent_name && !rooms_agent_available(json_string_value(game), agent_name)) {
        http_respond_error(x, 404, "NOT_FOUND", "no such agent for this game");
        json_decref(body);
        return;
    }
    const char *code = NULL;
    char msg[300];
    struct room_owner owner = {who.player_id, x->peer};
    /* A room filled by an agent starts at once: it never waits, so it counts against nobody. */
    struct room *r = room_create(json_string_value(game), config, json_is_true(priv),
                                 agent_name ? NULL : &owner, &code, msg, sizeof msg);
    if (r) {
        room_seat_player(r, who.player_id, who.name, NULL, &code);
        if (agent_name) room_fill_with_agent(r, agent_name, &code, msg, sizeof msg);
    }
    if (r)
        http_respond_json(x, 200, json_pack("{ss}", "gameId", room_id(r)));
    else
        http_respond_error(x, status_of(code), code, msg);
    json_decref(body);
}

static void post_join(struct http_exchange *x)
{
    struct identity who;
    if (!caller(x, &who)) return;
    struct room *r = room_find(http_param(x, "id"));
    if (!r) {
        http_respond_error(x, 404, "NOT_FOUND", "no such game");
        return;
    }
    const char *code = NULL;
    if (!room_seat_player(r, who.player_id, who.name, NULL, &code)) {
        http_respond_error(x, status_of(code), code, "no free seat in this game");
        return;
    }
    http_respond_json(x, 200, json_pack("{sb}", "success", 1));
}

/* ---- games no longer in memory come from the store ---- */

static json_t *stored_summary(json_t *g)
{
    json_t *players = json_array(), *p;
    size_t i;
    json_array_foreach(json_object_get(g, "participants"), i, p)
    {
        int agent = json_is_string(json_object_get(p, "agent"));
        char id[80];
        snprintf(id, sizeof id, "agent:%s",
                 agent ? json_string_value(json_object_get(p, "agent")) : "");
        const char *pid = agent ? id : json_string_value(json_object_get(p, "player_id"));
        json_array_append_new(
            players, json_pack("{sO,ss,sO,ss,sb}", "seat", json_object_get(p, "seat"), "playerId",
                               pid ? pid : "", "name", json_object_get(p, "name"), "kind",
                               agent ? "agent" : "human", "connected", 0));
    }
    json_t *o = json_pack("{sO,sO,sO,sO,so,sO,sb,sO}", "gameId", json_object_get(g, "id"), "game",
                          json_object_get(g, "game"), "version", json_object_get(g, "version"),
                          "status", json_object_get(g, "status"), "players", players, "seats",
                          json_object_get(g, "seats"), "private", 0, "createdAt",
                          json_object_get(g, "created_at"));
    if (json_is_object(json_object_get(g, "result")))
        json_object_set(o, "result", json_object_get(g, "result"));
    return o;
}

/* One timeline of events and inputs: by logical time, an input before the events it caused,
 * events by seq and inputs by their order. */
static int cmp_timeline(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t tx = json_integer_value(json_object_get(x, "t")),
               ty = json_integer_value(json_object_get(y, "t"));
    if (tx != ty) return tx < ty ? -1 : 1;
    int ix = json_object_get(x, "seq") == NULL, iy = json_object_get(y, "seq") == NULL;
    if (ix != iy) return ix ? -1 : 1;
    const char *key = ix ? "ord" : "seq";
    json_int_t kx = json_integer_value(json_object_get(x, key)),
               ky = json_integer_value(json_object_get(y, key));
    return kx < ky ? -1 : kx > ky;
}

static json_t *stored_log(json_t *g)
{
    json_t *events = json_object_get(g, "events"), *inputs = json_object_get(g, "inputs"), *e;
    size_t n = json_array_size(events) + json_array_size(inputs), k = 0, i;
    json_t **items = calloc(n ? n : 1, sizeof *items);
    json_array_foreach(events, i, e) items[k++] = json_pack(
        "{sO,sO,sO,sO}", "seq", json_object_get(e, "seq"), "type", json_object_get(e, "type"),
        "payload", json_object_get(e, "payload"), "t", json_object_get(e, "t"));
    json_array_foreach(inputs, i, e)
    {
        if (!json_is_string(json_object_get(e, "source")) ||
            strcmp(json_string_value(json_object_get(e, "source")), "checkpoint") == 0)
            continue; /* replay checkpoints are not inputs */
        json_t *item = json_pack("{ss,s{sO,sO,sO},sO,sO}", "type", "input", "payload", "seat",
                                 json_object_get(e, "seat"), "action", json_object_get(e, "action"),
                                 "source", json_object_get(e, "source"), "t",
                                 json_object_get(e, "t"), "ord", json_object_get(e, "ord"));
        if (json_is_integer(json_object_get(e, "tick")))
            json_object_set(item, "tick", json_object_get(e, "tick"));
        items[k++] = item;
    }
    qsort(items, k, sizeof *items, cmp_timeline);
    json_t *timeline = json_array();
    for (i = 0; i < k; i++)
        json_array_append_new(timeline, items[i]);
    free(items);
    json_t *o = json_pack("{sO,sO,sO,sO,sO,so,sO}", "gameId", json_object_get(g, "id"), "game",
                          json_object_get(g, "game"), "version", json_object_get(g, "version"),
                          "seed", json_object_get(g, "seed"), "seats", json_object_get(g, "seats"),
                          "events", timeline, "status", json_object_get(g, "status"));
    if (json_is_object(json_object_get(g, "config")))
        json_object_set(o, "config", json_object_get(g, "config"));
    if (json_is_object(json_object_get(g, "result")))
        json_object_set(o, "result", json_object_get(g, "result"));
    return o;
}

/* A cluster's summary names the room's owner: "instance" (null when no live instance holds it:
 * ended, or its owner died and a survivor is taking it over). */
struct owned_summary {
    struct http_exchange *x;
    json_t *summary;
};

static void answer_with_owner(const char *owner, int failed, void *arg)
{
    struct owned_summary *o = arg;
    json_object_set_new(o->summary, "instance",
                        owner && !failed ? json_string(owner) : json_null());
    http_respond_json(o->x, 200, o->summary);
    free(o);
}

static void answer_stored_summary(json_t *g, void *arg)
{
    struct http_exchange *x = arg;
    if (!g) {
        http_respond_error(x, 404, "NOT_FOUND", "no such game");
        return;
    }
    json_t *summary = stored_summary(g);
    const char *status = json_string_value(json_object_get(g, "status"));
    int live = status && (strcmp(status, "active") == 0 || strcmp(status, "waiting") == 0);
    struct owned_summary *o = live && *members_self() ? malloc(sizeof *o) : NULL;
    if (!o) {
        if (*members_self()) json_object_set_new(summary, "instance", json_null());
        http_respond_json(x, 200, summary);
        return;
    }
    *o = (struct owned_summary){x, summary};
    directory_lookup(json_string_value(json_object_get(g, "id")), answer_with_owner, o);
}

static void answer_stored_log(json_t *g, void *arg)
{
    const char *status = g ? json_string_value(json_object_get(g, "status")) : NULL;
    if (!g)
        http_respond_error(arg, 404, "NOT_FOUND", "no such game");
    else if (status && strcmp(status, "active") == 0)
        http_respond_error(arg, 403, "FORBIDDEN", "the full log of a running game is for admins");
    else
        http_respond_json(arg, 200, stored_log(g));
}

static int valid_id(struct http_exchange *x, const char *id)
{
    if (util_is_uuid(id)) return 1;
    http_respond_error(x, 404, "NOT_FOUND", "no such game");
    return 0;
}

static void get_game(struct http_exchange *x)
{
    const char *id = http_param(x, "id");
    struct room *r = room_find(id);
    if (r) {
        json_t *summary = room_summary_json(r);
        if (*members_self()) json_object_set_new(summary, "instance", json_string(members_self()));
        http_respond_json(x, 200, summary);
    } else if (valid_id(x, id))
        store_load_game(id, answer_stored_summary, x);
}

static void get_events(struct http_exchange *x)
{
    const char *id = http_param(x, "id");
    struct room *r = room_find(id);
    if (!r || room_status(r) == ROOM_COMPLETED) {
        /* A finished game's log comes from the store: the same form whether or not the room
         * is still in memory, and complete for real-time games too. */
        if (valid_id(x, id)) store_load_game(id, answer_stored_log, x);
        return;
    }
    if (room_status(r) != ROOM_COMPLETED) {
        struct identity who;
        char why[128];
        if (auth_bearer(x->authorization, &who, why, sizeof why) < 0 ||
            strcmp(who.role, "admin") != 0) {
            http_respond_error(
                x, 403, "FORBIDDEN",
                "the full log of a running game is for admins: it shows hidden information");
            return;
        }
    }
    http_respond_json(x, 200, room_log_json(r));
}

int api_games_init(void)
{
    return http_route(HTTP_GET, "/api/games", get_games) |
           http_route(HTTP_GET, "/api/agents", get_agents) |
           http_route(HTTP_GET, "/api/rooms", get_rooms) |
           http_route(HTTP_POST, "/api/games/create", post_create) |
           http_route(HTTP_POST, "/api/games/:id/join", post_join) |
           http_route(HTTP_GET, "/api/games/:id", get_game) |
           http_route(HTTP_GET, "/api/games/:id/events", get_events);
}
