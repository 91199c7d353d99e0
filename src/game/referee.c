#include "referee.h"

#include "trusted.h"
#include "util.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define REGISTRY_KEY "mt.referee"

/* Pushes referee.fn, ready for its arguments. */
static lua_State *push_fn(struct referee *ref, const char *fn)
{
    lua_State *L = vm_state(ref->vm);
    lua_getfield(L, LUA_REGISTRYINDEX, REGISTRY_KEY);
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    return L;
}

static void result_reset(struct referee_result *out)
{
    out->verdict = REFEREE_APPLIED;
    out->status = VM_OK;
    out->err[0] = '\0';
    out->reason = NULL;
    out->nevents = 0;
    out->outcome = NULL;
    out->to_move = 0;
    out->hash[0] = '\0';
    out->nlogs = 0;
    out->nsaves = 0;
}

/* Calls the function and its nargs arguments on the stack for nres results; a failure goes
 * into out. The results stay on the stack: the caller reads them, then settles the stack. */
static int call(struct referee *ref, int nargs, int nres, struct referee_result *out)
{
    out->status = vm_call(ref->vm, nargs, nres, ref->budget_ms, out->err, sizeof out->err);
    if (out->status == VM_OK) return 0;
    out->verdict = REFEREE_FAILED;
    return -1;
}

static void read_events(lua_State *L, int idx, struct referee_result *out)
{
    int n = lua_istable(L, idx) ? (int)lua_objlen(L, idx) : 0;
    for (int i = 1; i <= n && out->nevents < REFEREE_MAX_EVENTS; i++) {
        lua_rawgeti(L, idx, i);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        size_t len;
        const char *json = lua_tolstring(L, -2, &len);
        if (json)
            out->events[out->nevents++] = (struct referee_event){
                json, len, lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 0};
        /* The string stays referenced by the events table, which stays on the stack. */
        lua_pop(L, 3);
    }
}

static void read_logs(lua_State *L, int idx, struct referee_result *out)
{
    int n = lua_istable(L, idx) ? (int)lua_objlen(L, idx) : 0;
    for (int i = 1; i <= n && out->nlogs < REFEREE_MAX_LOGS; i++) {
        lua_rawgeti(L, idx, i);
        const char *line = lua_tostring(L, -1);
        if (line) out->logs[out->nlogs++] = line;
        lua_pop(L, 1);
    }
}

static void read_saves(lua_State *L, int idx, struct referee_result *out)
{
    int n = lua_istable(L, idx) ? (int)lua_objlen(L, idx) : 0;
    for (int i = 1; i <= n && out->nsaves < REFEREE_MAX_SAVES; i++) {
        lua_rawgeti(L, idx, i);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        lua_rawgeti(L, -3, 3);
        lua_rawgeti(L, -4, 4);
        size_t len;
        const char *json = lua_tolstring(L, -3, &len);
        if (json && lua_isnumber(L, -4))
            out->saves[out->nsaves++] = (struct referee_save){
                (int)lua_tointeger(L, -4), json, len, lua_tostring(L, -2) ?: "",
                lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 0};
        /* The strings stay referenced by the saves table, which stays on the stack. */
        lua_pop(L, 5);
    }
}

static void read_hash(lua_State *L, int idx, char out[17])
{
    const char *hex = lua_tostring(L, idx);
    if (hex && strlen(hex) == 16)
        memcpy(out, hex, 17);
    else
        out[0] = '\0';
}

static enum referee_verdict verdict_of(const char *v)
{
    if (v && strcmp(v, "ok") == 0) return REFEREE_APPLIED;
    if (v && strcmp(v, "not_your_turn") == 0) return REFEREE_NOT_YOUR_TURN;
    return REFEREE_ILLEGAL;
}

/* The results of a call are left on the stack until the next one (the strings the result
 * points at live there): each call starts by dropping the last one's. */
static void settle(struct referee *ref)
{
    lua_settop(vm_state(ref->vm), 0);
}

/* Pushes the arguments R.setup and R.load share: v's files, the lua/lib helpers, the prefix. */
static void push_game(lua_State *L, const struct script_version *v)
{
    char prefix[100];
    script_version_push_files(L, v);
    trusted_push_helpers(L);
    lua_pushstring(L, script_version_prefix(v, prefix, sizeof prefix));
}

/* Pushes what R.setup and R.start take after the game: config, seed, seats. */
static void push_start(lua_State *L, const char *config_json, double seed, int nseats)
{
    if (config_json)
        lua_pushstring(L, config_json);
    else
        lua_pushnil(L);
    lua_pushnumber(L, seed);
    lua_pushinteger(L, nseats);
}

/* After R.setup or R.start: the meta JSON copied out, the stack emptied. */
static enum vm_status started(lua_State *L, enum vm_status st, char **meta_json)
{
    if (st == VM_OK && meta_json)
        *meta_json = lua_tostring(L, -1) ? strdup(lua_tostring(L, -1)) : NULL;
    lua_settop(L, 0);
    return st;
}

enum vm_status referee_setup(struct referee *ref, struct vm *vm, const struct script_version *v,
                             const char *config_json, double seed, int nseats, int budget_ms,
                             int call_budget_ms, char **meta_json, char *err, size_t errlen)
{
    *ref = (struct referee){vm, call_budget_ms, nseats};
    lua_State *L = vm_state(vm);
    lua_setfield(L, LUA_REGISTRYINDEX, REGISTRY_KEY); /* trusted_open left the module here */
    push_fn(ref, "setup");
    push_game(L, v);
    push_start(L, config_json, seed, nseats);
    return started(L, vm_call(vm, 6, 1, budget_ms, err, errlen), meta_json);
}

enum vm_status referee_load(struct vm *vm, const struct script_version *v, int budget_ms,
                            int *poolable, char *err, size_t errlen)
{
    struct referee ref = {vm, 0, 0};
    lua_State *L = vm_state(vm);
    lua_setfield(L, LUA_REGISTRYINDEX, REGISTRY_KEY); /* trusted_open left the module here */
    push_fn(&ref, "load");
    push_game(L, v);
    enum vm_status st = vm_call(vm, 3, 1, budget_ms, err, errlen);
    *poolable = st == VM_OK && lua_toboolean(L, -1);
    lua_settop(L, 0);
    return st;
}

enum vm_status referee_start(struct referee *ref, struct vm *vm, const char *config_json,
                             double seed, int nseats, int budget_ms, int call_budget_ms,
                             char **meta_json, char *err, size_t errlen)
{
    *ref = (struct referee){vm, call_budget_ms, nseats};
    lua_State *L = push_fn(ref, "start");
    push_start(L, config_json, seed, nseats);
    return started(L, vm_call(vm, 3, 1, budget_ms, err, errlen), meta_json);
}

/* The start of a call about one player's action (check, apply): out reset, referee.fn pushed
 * with seat and the action's JSON; the caller pushes the third argument. */
static lua_State *push_action_call(struct referee *ref, const char *fn, int seat,
                                   const char *action, size_t len, struct referee_result *out)
{
    settle(ref);
    result_reset(out);
    lua_State *L = push_fn(ref, fn);
    lua_pushinteger(L, seat);
    lua_pushlstring(L, action, len);
    return L;
}

void referee_check(struct referee *ref, int seat, const char *action, size_t len, int turn_based,
                   double now, struct referee_result *out)
{
    (void)now;
    lua_State *L = push_action_call(ref, "check", seat, action, len, out);
    lua_pushboolean(L, turn_based);
    if (call(ref, 3, 2, out) < 0) return;
    out->verdict = verdict_of(lua_tostring(L, 1));
    out->reason = lua_tostring(L, 2);
}

void referee_apply(struct referee *ref, int seat, const char *action, size_t len, double now,
                   struct referee_result *out)
{
    lua_State *L = push_action_call(ref, "apply", seat, action, len, out);
    lua_pushnumber(L, now);
    if (call(ref, 3, 7, out) < 0) return;
    out->verdict = verdict_of(lua_tostring(L, 1));
    read_logs(L, 6, out);
    if (out->verdict != REFEREE_APPLIED) {
        out->reason = lua_tostring(L, 2);
        return;
    }
    read_events(L, 2, out);
    out->outcome = lua_tostring(L, 3);
    out->to_move = lua_isnumber(L, 4) ? (int)lua_tointeger(L, 4) : 0;
    if (out->to_move < 1 || out->to_move > ref->nseats) out->to_move = 0;
    read_hash(L, 5, out->hash);
    read_saves(L, 7, out);
}

void referee_tick(struct referee *ref, const struct referee_input *inputs, int n, double now,
                  int want_hash, struct referee_result *out)
{
    settle(ref);
    result_reset(out);
    lua_State *L = push_fn(ref, "tick");
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 2, 0);
        lua_pushinteger(L, inputs[i].seat);
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, inputs[i].action, inputs[i].len);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushnumber(L, now);
    lua_pushboolean(L, want_hash);
    if (call(ref, 3, 5, out) < 0) return;
    read_events(L, 1, out);
    out->outcome = lua_tostring(L, 2);
    read_hash(L, 3, out->hash);
    read_logs(L, 4, out);
    read_saves(L, 5, out);
}

enum vm_status referee_views(struct referee *ref, int to_move, unsigned wanted,
                             struct referee_view *out, char *err, size_t errlen)
{
    settle(ref);
    lua_State *L = push_fn(ref, "views");
    lua_pushinteger(L, ref->nseats);
    if (to_move)
        lua_pushinteger(L, to_move);
    else
        lua_pushnil(L);
    lua_pushnumber(L, wanted);
    enum vm_status st = vm_call(ref->vm, 3, 1, ref->budget_ms, err, errlen);
    if (st != VM_OK) return st;
    for (int seat = 0; seat <= ref->nseats; seat++) {
        out[seat] = (struct referee_view){NULL, NULL};
        if (!(wanted & (1u << seat))) continue;
        lua_rawgeti(L, 1, seat);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        /* Both strings stay referenced by the views table at stack index 1. */
        out[seat].json = lua_tostring(L, -2);
        out[seat].legal = lua_tostring(L, -1);
        lua_pop(L, 3);
    }
    return VM_OK;
}

enum vm_status referee_random_legal(struct referee *ref, int seat, char **action, char *err,
                                    size_t errlen)
{
    settle(ref);
    lua_State *L = push_fn(ref, "random_legal");
    lua_pushinteger(L, seat);
    *action = NULL;
    enum vm_status st = vm_call(ref->vm, 1, 1, ref->budget_ms, err, errlen);
    if (st == VM_OK && lua_tostring(L, -1)) *action = strdup(lua_tostring(L, -1));
    settle(ref);
    return st;
}

enum vm_status referee_command(struct referee *ref, int seat, const char *text, char **action,
                               char **answer, char *err, size_t errlen)
{
    settle(ref);
    lua_State *L = push_fn(ref, "command");
    lua_pushinteger(L, seat);
    lua_pushstring(L, text);
    *action = *answer = NULL;
    enum vm_status st = vm_call(ref->vm, 2, 2, ref->budget_ms, err, errlen);
    if (st == VM_OK && lua_tostring(L, -1)) {
        const char *kind = lua_tostring(L, -2);
        char *out = strdup(lua_tostring(L, -1));
        if (kind && strcmp(kind, "action") == 0)
            *action = out;
        else
            *answer = out;
    }
    settle(ref);
    return st;
}

enum vm_status referee_set_docs(struct referee *ref, const char *docs_json, char *err,
                                size_t errlen)
{
    settle(ref);
    lua_State *L = push_fn(ref, "set_docs");
    lua_pushstring(L, docs_json);
    enum vm_status st = vm_call(ref->vm, 1, 0, ref->budget_ms, err, errlen);
    settle(ref);
    return st;
}

enum vm_status referee_set_gm(struct referee *ref, int seat, char hash[17], char *err,
                              size_t errlen)
{
    settle(ref);
    lua_State *L = push_fn(ref, "set_gm");
    lua_pushinteger(L, seat);
    enum vm_status st = vm_call(ref->vm, 1, 1, ref->budget_ms, err, errlen);
    hash[0] = '\0';
    if (st == VM_OK) read_hash(L, -1, hash);
    settle(ref);
    return st;
}

enum vm_status referee_to_move(struct referee *ref, int *seat, char *err, size_t errlen)
{
    settle(ref);
    lua_State *L = push_fn(ref, "to_move");
    *seat = 0;
    enum vm_status st = vm_call(ref->vm, 0, 1, ref->budget_ms, err, errlen);
    if (st == VM_OK && lua_isnumber(L, -1)) {
        int s = (int)lua_tointeger(L, -1);
        if (s >= 1 && s <= ref->nseats) *seat = s;
    }
    settle(ref);
    return st;
}

enum vm_status referee_describe(struct referee *ref, int seat, const char *event_json, char **line,
                                char *err, size_t errlen)
{
    settle(ref);
    lua_State *L = push_fn(ref, "describe");
    lua_pushinteger(L, seat);
    lua_pushstring(L, event_json);
    *line = NULL;
    enum vm_status st = vm_call(ref->vm, 2, 1, ref->budget_ms, err, errlen);
    if (st == VM_OK && lua_type(L, -1) == LUA_TSTRING) *line = strdup(lua_tostring(L, -1));
    settle(ref);
    return st;
}
