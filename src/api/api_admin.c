#include "api_admin.h"

#include "auth.h"
#include "http.h"
#include "log.h"
#include "room.h"
#include "scripts.h"
#include "session.h"

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

int api_admin_init(void)
{
    return http_route(HTTP_GET, "/api/admin/rooms", get_rooms) |
           http_route(HTTP_POST, "/api/admin/rooms/:id/end", end_room) |
           http_route(HTTP_POST, "/api/admin/reload", reload);
}
