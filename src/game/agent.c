#include "agent.h"

#include "log.h"
#include "trusted.h"
#include "util.h"
#include "workers.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

struct agent {
    struct script_version *agent, *game;
    struct vm *vm;
    int seat, seats;
    uint32_t seed;
    char *config_json; /* the room's config (NULL: none), for ctx.config and ctx.model */
    int busy;
    int orphaned; /* freed while busy: release when the job returns */
    /* The agent and the game's rules are loaded into the state by its first call, on the
     * worker that runs it (see agent_new). A failed set-up is kept and reported by every
     * call after it. */
    int ready;
    enum vm_status setup_status;
    char setup_error[300];
};

struct job {
    struct agent *a;
    char room_id[40];
    int seat;
    char *view, *legal;
    uint64_t now;
    int budget_ms;
    agent_done_fn done;
    struct agent_result res;
};

struct agent *agent_new(struct script_version *agent, struct script_version *game, int seat,
                        int seats, uint32_t seed, const char *config_json, size_t mem_limit,
                        char *err, size_t errlen)
{
    struct agent *a = calloc(1, sizeof *a);
    char *config = config_json ? strdup(config_json) : NULL;
    if (!a || (config_json && !config) ||
        !(a->vm = trusted_new("agent_host", mem_limit, err, errlen))) {
        if (!a || (config_json && !config)) util_strlcpy(err, "out of memory", errlen);
        free(config);
        free(a);
        return NULL;
    }
    a->config_json = config;
    lua_setfield(vm_state(a->vm), LUA_REGISTRYINDEX, "mt.host"); /* the module, for calls */
    script_version_ref(agent);
    script_version_ref(game);
    a->agent = agent;
    a->game = game;
    a->seat = seat;
    a->seats = seats;
    a->seed = seed;
    return a;
}

/* Loads the agent and the game's rules into the state (agent_host.setup), once. Runs on the
 * thread of the agent's first call: a worker for choose, so starting a game against an agent
 * costs the loop thread no script loading. Returns VM_OK, or the set-up's failure (kept). */
static enum vm_status ensure_setup(struct agent *a, char *err, size_t errlen)
{
    if (a->ready) {
        if (a->setup_status != VM_OK) util_strlcpy(err, a->setup_error, errlen);
        return a->setup_status;
    }
    lua_State *L = vm_state(a->vm);
    char prefix[100];
    lua_getfield(L, LUA_REGISTRYINDEX, "mt.host");
    lua_getfield(L, -1, "setup");
    lua_remove(L, -2);
    script_version_push_files(L, a->agent);
    script_version_push_files(L, a->game);
    trusted_push_helpers(L);
    lua_pushstring(L, a->agent->main);
    lua_pushstring(L, script_version_prefix(a->game, prefix, sizeof prefix));
    lua_pushinteger(L, a->seat);
    lua_pushinteger(L, a->seats);
    lua_pushnumber(L, a->seed);
    if (a->config_json)
        lua_pushstring(L, a->config_json);
    else
        lua_pushnil(L);
    a->setup_status = vm_call(a->vm, 9, 1, 1000, a->setup_error, sizeof a->setup_error);
    if (a->setup_status == VM_OK) lua_pop(L, 1); /* the meta JSON */
    a->ready = 1;
    if (a->setup_status != VM_OK) {
        size_t n = strlen(a->setup_error);
        util_strlcpy(a->setup_error + n, " (agent setup)", sizeof a->setup_error - n);
        util_strlcpy(err, a->setup_error, errlen);
    }
    return a->setup_status;
}

const struct script_version *agent_version(const struct agent *a)
{
    return a->agent;
}

int agent_busy(const struct agent *a)
{
    return a->busy;
}

static void release(struct agent *a)
{
    vm_free_later(a->vm);
    script_version_unref(a->agent);
    script_version_unref(a->game);
    free(a->config_json);
    free(a);
}

static void choose_work(void *arg)
{
    struct job *j = arg;
    j->res.status = ensure_setup(j->a, j->res.error, sizeof j->res.error);
    if (j->res.status != VM_OK) return;
    lua_State *L = vm_state(j->a->vm);
    lua_getfield(L, LUA_REGISTRYINDEX, "mt.host");
    lua_getfield(L, -1, "choose");
    lua_remove(L, -2);
    lua_pushstring(L, j->view);
    lua_pushstring(L, j->legal);
    lua_pushnumber(L, (lua_Number)j->now);
    j->res.status = vm_call(j->a->vm, 3, 2, j->budget_ms, j->res.error, sizeof j->res.error);
    if (j->res.status != VM_OK) return;
    const char *action = lua_tostring(L, -2), *why = lua_tostring(L, -1);
    j->res.action_json = action ? strdup(action) : NULL;
    j->res.reasoning = why ? strdup(why) : NULL;
    lua_pop(L, 2);
}

static void choose_done(void *arg)
{
    struct job *j = arg;
    struct agent *a = j->a;
    a->busy = 0;
    if (a->orphaned)
        release(a);
    else
        j->done(j->room_id, j->seat, &j->res);
    free(j->res.action_json);
    free(j->res.reasoning);
    free(j->view);
    free(j->legal);
    free(j);
}

int agent_choose(struct agent *a, const char *room_id, const char *view_json,
                 const char *legal_json, uint64_t now, int budget_ms, agent_done_fn done)
{
    if (a->busy) return -1;
    struct job *j = calloc(1, sizeof *j);
    if (!j) return -1;
    j->a = a;
    util_strlcpy(j->room_id, room_id, sizeof j->room_id);
    j->view = strdup(view_json);
    j->legal = strdup(legal_json);
    j->now = now;
    j->budget_ms = budget_ms;
    j->done = done;
    j->seat = a->seat;
    if (!j->view || !j->legal || workers_submit(choose_work, choose_done, j) < 0) {
        free(j->view);
        free(j->legal);
        free(j);
        return -1;
    }
    a->busy = 1;
    return 0;
}

char *agent_act(struct agent *a, const char *view_json, uint64_t now, int budget_ms,
                enum vm_status *status, char *err, size_t errlen)
{
    *status = ensure_setup(a, err, errlen);
    if (*status != VM_OK) return NULL;
    lua_State *L = vm_state(a->vm);
    lua_getfield(L, LUA_REGISTRYINDEX, "mt.host");
    lua_getfield(L, -1, "act");
    lua_remove(L, -2);
    lua_pushstring(L, view_json);
    lua_pushnumber(L, (lua_Number)now);
    *status = vm_call(a->vm, 2, 1, budget_ms, err, errlen);
    if (*status != VM_OK) return NULL;
    const char *action = lua_tostring(L, -1);
    char *out = action ? strdup(action) : NULL;
    lua_pop(L, 1);
    return out;
}

void agent_free(struct agent *a)
{
    if (!a) return;
    if (a->busy)
        a->orphaned = 1;
    else
        release(a);
}
