#include "api_documents.h"

#include "auth.h"
#include "documents.h"
#include "http.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* The player id of the path when the caller may read that player's documents, else NULL after
 * answering (401, 403, 404). */
static const char *readable(struct http_exchange *x)
{
    struct identity who;
    char why[128];
    if (auth_bearer(x->authorization, &who, why, sizeof why) < 0) {
        http_respond_error(x, 401, "UNAUTHORIZED", why);
        return NULL;
    }
    const char *id = http_param(x, "id");
    if (!id || !util_is_uuid(id)) {
        http_respond_error(x, 404, "NOT_FOUND", "no such player");
        return NULL;
    }
    if (strcmp(who.player_id, id) != 0 && strcmp(who.role, "admin") != 0) {
        http_respond_error(x, 403, "FORBIDDEN",
                           "a player's documents are for that player and admins");
        return NULL;
    }
    return id;
}

static void get_list(struct http_exchange *x)
{
    const char *id = readable(x);
    if (id) http_respond_json(x, 200, documents_list_json(id, http_param(x, "game")));
}

static void get_version(struct http_exchange *x)
{
    const char *id = readable(x);
    if (!id) return;
    const char *text = http_param(x, "version"), *game = http_param(x, "game");
    char *end;
    long v = text ? strtol(text, &end, 10) : 0;
    json_t *o = text && *text && !*end && v >= 1 && v <= 1000000000
                    ? documents_version_json(id, game, (int)v)
                    : NULL;
    if (o)
        http_respond_json(x, 200, o);
    else
        http_respond_error(x, 404, "NOT_FOUND", "no such version of this document");
}

int api_documents_init(void)
{
    return http_route(HTTP_GET, "/api/players/:id/documents/:game", get_list) |
           http_route(HTTP_GET, "/api/players/:id/documents/:game/:version", get_version);
}
