#include "api_admin.h"

#include "accounts.h"
#include "auth.h"
#include "http.h"
#include "log.h"
#include "room.h"
#include "scripts.h"
#include "session.h"

#include <stdlib.h>
#include <string.h>

/* The admin's identity, or NULL after answering 401/403. */
static const struct identity *admin(struct http_exchange *x, struct identity *who)
{
    char why[128];
    if (auth_bearer(x->authorization, who, why, sizeof why) < 0) {
        http_respond_error(x, 401, "UNAUTHORIZED", why);
        return NULL;
    }
    if (strcmp(who->role, "admin") != 0) {
        http_respond_error(x, 403, "FORBIDDEN", "admin role required");
        return NULL;
    }
    return who;
}

static void get_rooms(struct http_exchange *x)
{
    struct identity who;
    if (!admin(x, &who)) return;
    http_respond_json(x, 200,
                      json_pack("{so,sI,sI,sI}", "rooms", rooms_all_json(), "open",
                                (json_int_t)rooms_count(), "connections",
                                (json_int_t)session_count(), "players",
                                (json_int_t)session_player_count()));
}

static void end_room(struct http_exchange *x)
{
    struct identity who;
    if (!admin(x, &who)) return;
    struct room *r = room_find(http_param(x, "id"));
    if (!r) {
        http_respond_error(x, 404, "NOT_FOUND", "no such game");
        return;
    }
    log_msg(LOG_WARN, "admin ended a room", "{sb,ss,ss,ss}", "audit", 1, "admin", who.player_id,
            "game", room_id(r), "script", room_game(r));
    room_end(r, "{\"reason\":\"aborted\"}");
    http_respond_json(x, 200, json_pack("{sb}", "success", 1));
}

static void reload(struct http_exchange *x)
{
    struct identity who;
    if (!admin(x, &who)) return;
    log_msg(LOG_WARN, "admin forced a script reload", "{sb,ss}", "audit", 1, "admin",
            who.player_id);
    scripts_rescan();
    http_respond_json(x, 202, json_pack("{sb}", "success", 1));
}

/* An external agent's name: 1 to 32 of [A-Za-z0-9_-] (a Lua agent's characters; short enough
 * to be a player's name). */
static int agent_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 32 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* POST /api/admin/agents {name}: a token for an external agent. The token is self-contained (a
 * JWT with role "agent", sub the agent's player id, name the agent's name, the usual exp):
 * nothing is stored, so it survives restarts as any token does and is revoked only by
 * changing the secret. A Lua agent's name is refused (409): a room asks for an agent by name. */
static void issue_agent(struct http_exchange *x)
{
    struct identity who;
    if (!admin(x, &who)) return;
    json_t *body = http_body_object(x);
    if (!body) return;
    json_t *name = json_object_get(body, "name");
    if (!json_is_string(name) || !agent_name_ok(json_string_value(name))) {
        http_respond_error(x, 400, "BAD_MESSAGE", "want {name: 1 to 32 of A-Z a-z 0-9 _ -}");
        json_decref(body);
        return;
    }
    struct identity agent = {.role = "agent"};
    util_strlcpy(agent.name, json_string_value(name), sizeof agent.name);
    json_decref(body);
    if (scripts_agent(agent.name)) {
        http_respond_error(x, 409, "CONFLICT", "a Lua agent has that name");
        return;
    }
    accounts_agent_id(agent.name, agent.player_id);
    char *token = auth_issue(&agent, 0);
    if (!token) {
        http_respond_error(x, 500, "INTERNAL", "the token could not be signed");
        return;
    }
    log_msg(LOG_WARN, "admin issued an external agent token", "{sb,ss,ss}", "audit", 1, "admin",
            who.player_id, "agent", agent.name);
    http_respond_json(
        x, 201,
        json_pack("{ss,ss,ss}", "name", agent.name, "playerId", agent.player_id, "token", token));
    free(token);
}

int api_admin_init(void)
{
    return http_route(HTTP_GET, "/api/admin/rooms", get_rooms) |
           http_route(HTTP_POST, "/api/admin/rooms/:id/end", end_room) |
           http_route(HTTP_POST, "/api/admin/reload", reload) |
           http_route(HTTP_POST, "/api/admin/agents", issue_agent);
}
