#include "api_gamefiles.h"

#include "api_static.h"
#include "http.h"
#include "scripts.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char games_root[PATH_MAX];

/* A game name or file name as the routes accept them: a letter, digit, '_' or '-' first, then
 * those and (for files) '.'; short. No '/', so a segment never names another directory. */
static int valid_segment(const char *s, int dots)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 63 || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || (dots && s[i] == '.')))
            return 0;
    return 1;
}

/* Serves rel from games/<name>/<sub> (sub "" for the folder itself) when name is a game the
 * catalog holds, else 404. */
static void send_game_file(struct http_exchange *x, const char *sub, const char *file)
{
    const char *name = http_param(x, "name");
    char dir[PATH_MAX + 200], real[PATH_MAX], rel[80];
    if (!*games_root || !valid_segment(name, 0) || !scripts_game(name)) {
        http_respond_error(x, 404, "NOT_FOUND", "no such game");
        return;
    }
    snprintf(dir, sizeof dir, "%s/%s%s", games_root, name, sub);
    snprintf(rel, sizeof rel, "/%s", file ? file : "");
    if (!valid_segment(file, 1) || !realpath(dir, real) ||
        api_static_send(x, real, rel, API_GAMEFILES_MAX) < 0)
        http_respond_error(x, 404, "NOT_FOUND", "this game has no such file");
}

static void get_web_file(struct http_exchange *x)
{
    send_game_file(x, "/web", http_param(x, "file"));
}

static void get_rules(struct http_exchange *x)
{
    send_game_file(x, "", "rules.md");
}

int api_gamefiles_init(const char *games_dir)
{
    if (!realpath(games_dir, games_root)) games_root[0] = '\0';
    return http_route(HTTP_GET, "/games/:name/web/:file", get_web_file) |
           http_route(HTTP_GET, "/games/:name/rules.md", get_rules);
}
