#include "replay.h"

#include "log.h"
#include "loop.h"
#include "lua_vm.h"
#include "store.h"
#include "trusted.h"
#include "util.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pushes {path = source} from the stored script_versions row. */
static int push_files(lua_State *L, json_t *version)
{
    json_t *files = json_object_get(version, "files");
    if (!json_is_object(files) || !json_object_get(files, "game.lua")) return -1;
    lua_newtable(L);
    const char *path;
    json_t *src;
    json_object_foreach(files, path, src)
    {
        lua_pushstring(L, json_string_value(src) ? json_string_value(src) : "");
        lua_setfield(L, -2, path);
    }
    return 0;
}

/* The game-emitted events of the log, in order (the server's own turn-clock and agent
 * reasoning events are not the game's and are skipped). */
static json_t *game_events(json_t *game)
{
    json_t *out = json_array(), *e;
    size_t i;
    json_array_foreach(json_object_get(game, "events"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "type")) ?: "", "game_event") != 0)
            continue;
        json_t *ev = json_object_get(json_object_get(e, "payload"), "event");
        const char *kind = json_string_value(json_object_get(ev, "kind"));
        if (kind && (strcmp(kind, "agent_reasoning") == 0 || strcmp(kind, "timeout") == 0))
            continue;
        json_array_append(out, ev);
    }
    return out;
}

static int cmp_ord(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "ord"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "ord"));
    return x < y ? -1 : x > y;
}

/* Compares the events the referee returned at stack index idx with the log's, from *next on.
 * Returns 0, or 1 with the divergence in report. */
static int compare_events(lua_State *L, int idx, json_t *want_events, size_t *next,
                          const char *where, char *report, size_t len)
{
    int ne = (int)lua_objlen(L, idx);
    for (int k = 1; k <= ne; k++) {
        lua_rawgeti(L, idx, k);
        lua_rawgeti(L, -1, 1);
        const char *text = lua_tostring(L, -1);
        json_t *got = json_loads(text ? text : "null", JSON_DECODE_ANY, NULL);
        json_t *want = json_array_get(want_events, (*next)++);
        int same = json_equal(got, want);
        if (!same) {
            char *w = want ? json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            snprintf(report, len, "%s: event %zu differs: replay emitted %s, the log has %s", where,
                     *next, text ? text : "?", w ? w : "(nothing)");
            free(w);
        }
        json_decref(got);
        lua_pop(L, 2);
        if (!same) return 1;
    }
    return 0;
}

/* Hashes the referee's canonical state (referee.state_hash); out gets 16 hex digits. */
static int hash_state(struct vm *vm, int module, int budget_ms, char out[17])
{
    lua_State *L = vm_state(vm);
    char err[300];
    lua_getfield(L, module, "state_hash");
    if (vm_call(vm, 0, 1, budget_ms, err, sizeof err) != VM_OK) return -1;
    const char *hex = lua_tostring(L, -1);
    int ok = hex && strlen(hex) == 16;
    if (ok) memcpy(out, hex, 17);
    lua_pop(L, 1);
    return ok ? 0 : -1;
}

/* A real-time game: every tick from 1 to the recorded count, with the inputs recorded for
 * it, checked against the log's events and the state hash at every checkpoint. */
static int replay_ticks(const struct config *cfg, struct vm *vm, json_t *game, json_t **inputs,
                        size_t n, json_t *want_events, char **over, char *report, size_t len)
{
    lua_State *L = vm_state(vm);
    int rate = (int)json_integer_value(json_object_get(game, "tick_rate"));
    json_int_t ticks = json_integer_value(json_object_get(game, "ticks"));
    size_t next_input = 0, next_event = 0;
    char err[600], where[64];
    for (json_int_t tick = 1; tick <= ticks; tick++) {
        snprintf(where, sizeof where, "tick %lld", (long long)tick);
        lua_getfield(L, 1, "tick");
        lua_newtable(L);
        int k = 0;
        json_t *checkpoint = NULL;
        for (; next_input < n &&
               json_integer_value(json_object_get(inputs[next_input], "tick")) == tick;
             next_input++) {
            json_t *in = inputs[next_input];
            if (strcmp(json_string_value(json_object_get(in, "source")) ?: "", "checkpoint") == 0) {
                checkpoint = in;
                continue;
            }
            char *action =
                json_dumps(json_object_get(in, "action"), JSON_COMPACT | JSON_ENCODE_ANY);
            lua_createtable(L, 2, 0);
            lua_pushinteger(L, (lua_Integer)json_integer_value(json_object_get(in, "seat")));
            lua_rawseti(L, -2, 1);
            lua_pushstring(L, action ? action : "null");
            lua_rawseti(L, -2, 2);
            lua_rawseti(L, -2, ++k);
            free(action);
        }
        lua_pushnumber(L, (lua_Number)((uint64_t)tick * 1000u / (uint64_t)rate));
        if (vm_call(vm, 2, 2, cfg->cpu_apply_ms * 10, err, sizeof err) != VM_OK) {
            snprintf(report, len, "%s: the script failed: %s", where, err);
            return 2;
        }
        if (compare_events(L, 2, want_events, &next_event, where, report, len)) return 1;
        if (lua_tostring(L, 3)) *over = strdup(lua_tostring(L, 3));
        lua_settop(L, 1);
        const char *want_hash = json_string_value(json_object_get(checkpoint, "state_hash"));
        char got_hash[17];
        if (want_hash && hash_state(vm, 1, cfg->cpu_apply_ms * 10, got_hash) == 0 &&
            strcmp(got_hash, want_hash) != 0) {
            snprintf(report, len, "%s: the state differs (hash %s, the log has %s)", where,
                     got_hash, want_hash);
            return 1;
        }
    }
    if (next_event != json_array_size(want_events)) {
        snprintf(report, len, "the replay emitted %zu game events, the log has %zu", next_event,
                 json_array_size(want_events));
        return 1;
    }
    snprintf(
        report, len,
        "identical: %lld ticks, %zu inputs, %zu game events, every checkpoint and the result match",
        (long long)ticks, n, next_event);
    return 0;
}

int replay_game(const struct config *cfg, json_t *game, char *report, size_t len)
{
    json_t *version = json_object_get(game, "script_version");
    struct vm *vm = vm_new((size_t)cfg->lua_memory_mb * 1024 * 1024);
    char err[600], prefix[100];
    int rc = 2;
    if (!vm || trusted_open(vm, "referee", err, sizeof err) < 0) {
        snprintf(report, len, "cannot start the referee: %s", vm ? err : "no memory");
        vm_free(vm);
        return 2;
    }
    lua_State *L = vm_state(vm);
    lua_setfield(L, LUA_REGISTRYINDEX, "mt.referee");
    lua_getfield(L, LUA_REGISTRYINDEX, "mt.referee");
    lua_getfield(L, -1, "setup");
    if (push_files(L, version) < 0) {
        snprintf(report, len, "the game's version %s has no stored files",
                 json_string_value(json_object_get(game, "version")));
        vm_free(vm);
        return 2;
    }
    trusted_push_helpers(L);
    snprintf(prefix, sizeof prefix, "games/%s/", json_string_value(json_object_get(game, "game")));
    lua_pushstring(L, prefix);
    char *config = json_is_object(json_object_get(game, "config"))
                       ? json_dumps(json_object_get(game, "config"), JSON_COMPACT)
                       : NULL;
    if (config)
        lua_pushstring(L, config);
    else
        lua_pushnil(L);
    free(config);
    lua_pushnumber(L, (lua_Number)json_integer_value(json_object_get(game, "seed")));
    lua_pushinteger(L, (lua_Integer)json_integer_value(json_object_get(game, "seats")));
    if (vm_call(vm, 6, 1, cfg->cpu_load_ms, err, sizeof err) != VM_OK) {
        snprintf(report, len, "setup failed: %s", err);
        vm_free(vm);
        return 2;
    }
    lua_settop(L, 1);

    json_t *want_events = game_events(game), *inputs = json_object_get(game, "inputs");
    size_t n = json_array_size(inputs), next_event = 0, got_events = 0;
    json_t **sorted = calloc(n ? n : 1, sizeof *sorted);
    for (size_t i = 0; i < n; i++)
        sorted[i] = json_array_get(inputs, i);
    qsort(sorted, n, sizeof *sorted, cmp_ord);
    char *over = NULL;
    rc = 0;
    int realtime = json_integer_value(json_object_get(game, "tick_rate")) > 0;
    if (realtime) rc = replay_ticks(cfg, vm, game, sorted, n, want_events, &over, report, len);
    for (size_t i = 0; !realtime && i < n && rc == 0; i++) {
        json_t *in = sorted[i];
        char *action = json_dumps(json_object_get(in, "action"), JSON_COMPACT | JSON_ENCODE_ANY);
        lua_getfield(L, 1, "input");
        lua_pushinteger(L, (lua_Integer)json_integer_value(json_object_get(in, "seat")));
        lua_pushstring(L, action ? action : "null");
        lua_pushnumber(L, (lua_Number)json_integer_value(json_object_get(in, "t")));
        lua_pushboolean(L, 1);
        free(action);
        if (vm_call(vm, 4, 3, cfg->cpu_apply_ms * 10, err, sizeof err) != VM_OK) {
            snprintf(report, len, "input %zu: the script failed: %s", i + 1, err);
            rc = 2;
            break;
        }
        const char *verdict = lua_tostring(L, 2);
        if (!verdict || strcmp(verdict, "ok") != 0) {
            snprintf(report, len, "input %zu (seat %lld): recorded as applied, but now %s: %s",
                     i + 1, (long long)json_integer_value(json_object_get(in, "seat")),
                     verdict ? verdict : "?", lua_tostring(L, 3) ? lua_tostring(L, 3) : "");
            rc = 1;
            break;
        }
        int ne = (int)lua_objlen(L, 3);
        for (int k = 1; k <= ne && rc == 0; k++, got_events++) {
            lua_rawgeti(L, 3, k);
            lua_rawgeti(L, -1, 1);
            json_t *got = json_loads(lua_tostring(L, -1) ?: "null", JSON_DECODE_ANY, NULL);
            json_t *want = json_array_get(want_events, next_event++);
            if (!json_equal(got, want)) {
                char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY),
                     *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
                snprintf(report, len,
                         "input %zu: event %zu differs: replay emitted %s, the log has %s", i + 1,
                         next_event, g ? g : "?", w ? w : "(nothing)");
                free(g);
                free(w);
                rc = 1;
            }
            json_decref(got);
            lua_pop(L, 2);
        }
        if (lua_tostring(L, 4)) {
            free(over);
            over = strdup(lua_tostring(L, 4));
        }
        lua_settop(L, 1);
        const char *want_hash = json_string_value(json_object_get(in, "state_hash"));
        if (rc == 0 && want_hash) {
            char got_hash[17];
            if (hash_state(vm, 1, cfg->cpu_apply_ms * 10, got_hash) == 0) {
                if (strcmp(got_hash, want_hash) != 0) {
                    snprintf(report, len,
                             "input %zu: the state differs after it (hash %s, the log has %s)",
                             i + 1, got_hash, want_hash);
                    rc = 1;
                }
            }
            lua_settop(L, 1);
        }
    }
    if (rc == 0 && !realtime && next_event != json_array_size(want_events)) {
        snprintf(report, len, "the replay emitted %zu game events, the log has %zu", next_event,
                 json_array_size(want_events));
        rc = 1;
    }
    json_t *result = json_object_get(game, "result");
    const char *reason = json_string_value(json_object_get(result, "reason"));
    if (rc == 0 && reason && (strcmp(reason, "win") == 0 || strcmp(reason, "draw") == 0)) {
        json_t *got = over ? json_loads(over, 0, NULL) : NULL;
        if (!json_equal(got, result)) {
            char *w = json_dumps(result, JSON_COMPACT);
            snprintf(report, len, "the result differs: replay gives %s, the log has %s",
                     over ? over : "no result", w ? w : "?");
            free(w);
            rc = 1;
        }
        json_decref(got);
    }
    if (rc == 0 && !realtime)
        snprintf(report, len,
                 "identical: %zu inputs, %zu game events, every state hash and the result match", n,
                 got_events);
    free(over);
    free(sorted);
    json_decref(want_events);
    vm_free(vm);
    return rc;
}

struct replay_ctx {
    const struct config *cfg;
    int status, done;
};

static void on_loaded(json_t *game, void *arg)
{
    struct replay_ctx *ctx = arg;
    char report[1200];
    if (!game) {
        fprintf(stderr, "monkeytown replay: no stored game with that id\n");
        ctx->status = 2;
    } else {
        ctx->status = replay_game(ctx->cfg, game, report, sizeof report);
        printf("%s %s: %s\n", json_string_value(json_object_get(game, "game")),
               json_string_value(json_object_get(game, "id")), report);
    }
    ctx->done = 1;
    loop_stop();
}

int replay_command(const struct config *cfg, const char *game_id)
{
    struct replay_ctx ctx = {cfg, 2, 0};
    store_set_readonly(1); /* never write to (or lock) a store a live server may be using */
    if (vm_global_init() < 0 || loop_init() < 0 || trusted_init(cfg->lua_dir) < 0 ||
        store_init(cfg) < 0)
        return 2;
    store_load_game(game_id, on_loaded, &ctx);
    if (!ctx.done) loop_run(); /* a backend that answers later (PostgreSQL) */
    store_shutdown();
    trusted_free();
    loop_free();
    return ctx.status;
}
