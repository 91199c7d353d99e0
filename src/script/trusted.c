#include "trusted.h"

#include "log.h"
#include "lua_compile.h"
#include "metrics.h"
#include "util.h"
#include "workers.h"

#include <dirent.h>
#include <lauxlib.h>
#include <lualib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct source {
    char name[64];
    char *text;
    size_t len;
    char *bc; /* the compiled chunk (lua_dump), loaded by every new state instead of the text */
    size_t bclen;
};

#define MAX_HELPERS 32
static struct source sandbox_src, referee_src, agent_src, helpers[MAX_HELPERS];
static int n_helpers;
static struct metric *m_pool_misses;

static int read_file(const char *path, struct source *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    out->text = n >= 0 && n < 4 * 1024 * 1024 ? malloc((size_t)n + 1) : NULL;
    if (!out->text || fread(out->text, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(out->text);
        out->text = NULL;
        return -1;
    }
    out->text[n] = '\0';
    out->len = (size_t)n;
    fclose(f);
    return 0;
}

/* Compiles src once: the trusted modules as they are, the lua/lib helpers as scripts (they run
 * in a script's sandbox, so they carry the CPU check: lua_compile.h). Parsing the trusted Lua
 * took half the CPU of setting up a room. */
static int compile(struct source *src, int as_script)
{
    char chunk[80], err[256];
    snprintf(chunk, sizeof chunk, as_script ? "@lua/lib/%s" : "=lua/%s", src->name);
    int rc =
        as_script
            ? lua_compile_script(src->text, src->len, chunk, &src->bc, &src->bclen, err, sizeof err)
            : lua_compile(src->text, src->len, chunk, &src->bc, &src->bclen, err, sizeof err);
    if (rc < 0)
        log_msg(LOG_ERROR, "cannot compile trusted Lua", "{ss,ss}", "file", src->name, "error",
                err);
    return rc;
}

int trusted_init(const char *dir)
{
    m_pool_misses = metrics_counter("lua_pool_misses_total",
                                    "Lua states built on the loop thread because the pool of "
                                    "ready ones was empty, by module",
                                    "module");
    if (!m_pool_misses) return -1;
    char path[1024];
    struct {
        const char *file;
        struct source *src;
    } mods[] = {{"sandbox.lua", &sandbox_src},
                {"referee.lua", &referee_src},
                {"agent_host.lua", &agent_src}};
    for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, mods[i].file);
        util_strlcpy(mods[i].src->name, mods[i].file, sizeof mods[i].src->name);
        if (read_file(path, mods[i].src) < 0) {
            log_msg(LOG_ERROR, "cannot read trusted Lua", "{ss}", "path", path);
            return -1;
        }
        if (compile(mods[i].src, 0) < 0) return -1;
    }
    snprintf(path, sizeof path, "%s/lib", dir);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) && n_helpers < MAX_HELPERS) {
        size_t n = strlen(e->d_name);
        if (n < 5 || n >= sizeof helpers[0].name || strcmp(e->d_name + n - 4, ".lua") != 0)
            continue;
        char file[1400];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        util_strlcpy(helpers[n_helpers].name, e->d_name, sizeof helpers[0].name);
        if (read_file(file, &helpers[n_helpers]) < 0) continue;
        if (compile(&helpers[n_helpers], 1) < 0) {
            free(helpers[n_helpers].text);
            memset(&helpers[n_helpers], 0, sizeof helpers[0]);
            return -1;
        }
        n_helpers++;
    }
    if (d) closedir(d);
    return 0;
}

void trusted_free(void)
{
    free(sandbox_src.text);
    free(referee_src.text);
    free(agent_src.text);
    free(sandbox_src.bc);
    free(referee_src.bc);
    free(agent_src.bc);
    for (int i = 0; i < n_helpers; i++) {
        free(helpers[i].text);
        free(helpers[i].bc);
    }
    n_helpers = 0;
    memset(&sandbox_src, 0, sizeof sandbox_src);
    memset(&referee_src, 0, sizeof referee_src);
    memset(&agent_src, 0, sizeof agent_src);
}

void trusted_push_helpers(lua_State *L)
{
    lua_createtable(L, 0, n_helpers);
    for (int i = 0; i < n_helpers; i++) {
        lua_pushlstring(L, helpers[i].bc, helpers[i].bclen);
        lua_setfield(L, -2, helpers[i].name);
    }
}

int trusted_open(struct vm *vm, const char *module, char *err, size_t errlen)
{
    lua_State *L = vm_state(vm);
    const struct source *mod = strcmp(module, "referee") == 0 ? &referee_src : &agent_src;
    if (vm_load_trusted(vm, sandbox_src.bc, sandbox_src.bclen, "=lua/sandbox.lua", err, errlen) < 0)
        return -1;
    lua_getfield(L, LUA_REGISTRYINDEX, "mt.json");
    lua_getfield(L, LUA_REGISTRYINDEX, "mt.canonical_hash");
    lua_getfield(L, LUA_REGISTRYINDEX, "mt.cpu_check");
    trusted_push_helpers(L); /* sandbox.lua takes its data helpers from lua/lib/tables.lua */
    if (vm_call(vm, 4, 1, 1000, err, errlen) != VM_OK) return -1;
    char chunk[80];
    snprintf(chunk, sizeof chunk, "=lua/%s", mod->name);
    if (vm_load_trusted(vm, mod->bc, mod->bclen, chunk, err, errlen) < 0) {
        lua_pop(L, 1);
        return -1;
    }
    lua_insert(L, -2); /* module chunk, then the sandbox module as its argument */
    return vm_call(vm, 1, 1, 1000, err, errlen) == VM_OK ? 0 : -1;
}

/* ---- the pool of ready states ---- */

/* Worker threads build states ahead of demand and push them into the pool themselves, under
 * the pool's mutex; the loop thread pops. (Handing batches back through loop_post made every
 * refill wait for the end of a loop turn, tens of milliseconds under load, and the loop built
 * most states itself meanwhile.) The stock aims at `target`, which starts small, so an idle
 * server keeps few states, and doubles up to POOL_CAP whenever the loop finds the pool empty. */
#define POOL_CAP 64
#define POOL_TARGET_MIN 16

struct pool {
    const char *module;
    pthread_mutex_t lock;
    size_t mem_limit; /* of the states in ready[]; set by the first trusted_new */
    struct vm *ready[POOL_CAP];
    int n, target;
    int refilling; /* a refill job is queued or running */
    int closing;   /* trusted_pool_free ran: build nothing more */
};

static struct pool pools[2] = {
    {"referee", PTHREAD_MUTEX_INITIALIZER, 0, {0}, 0, POOL_TARGET_MIN, 0, 0},
    {"agent_host", PTHREAD_MUTEX_INITIALIZER, 0, {0}, 0, POOL_TARGET_MIN, 0, 0},
};

struct vm *trusted_build(const char *module, size_t mem_limit, char *err, size_t errlen)
{
    struct vm *vm = vm_new(mem_limit);
    if (!vm) {
        util_strlcpy(err, "cannot create a Lua state", errlen);
        return NULL;
    }
    if (trusted_open(vm, module, err, errlen) < 0) {
        vm_free(vm);
        return NULL;
    }
    return vm;
}

/* Worker thread: builds states until the stock reaches its target. */
static void refill_work(void *arg)
{
    struct pool *p = arg;
    char err[256];
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t limit = p->mem_limit;
        if (p->n >= p->target || p->closing) {
            p->refilling = 0;
            pthread_mutex_unlock(&p->lock);
            return;
        }
        pthread_mutex_unlock(&p->lock);
        struct vm *vm = trusted_build(p->module, limit, err, sizeof err);
        pthread_mutex_lock(&p->lock);
        if (vm && p->n < POOL_CAP && limit == p->mem_limit && !p->closing) {
            p->ready[p->n++] = vm;
            vm = NULL;
        }
        int give_up = vm != NULL || limit != p->mem_limit || p->closing;
        if (give_up) p->refilling = 0;
        pthread_mutex_unlock(&p->lock);
        if (vm) vm_free(vm);
        if (give_up) return;
    }
}

struct vm *trusted_new(const char *module, size_t mem_limit, char *err, size_t errlen)
{
    struct pool *p = strcmp(module, "referee") == 0 ? &pools[0] : &pools[1];
    struct vm *stale[POOL_CAP], *vm = NULL;
    int nstale = 0, submit = 0;
    pthread_mutex_lock(&p->lock);
    if (p->mem_limit != mem_limit) { /* the first call sets the pool's cap */
        memcpy(stale, p->ready, sizeof *stale * (size_t)p->n);
        nstale = p->n;
        p->n = 0;
        p->mem_limit = mem_limit;
    }
    if (p->n)
        vm = p->ready[--p->n];
    else if (p->target < POOL_CAP)
        p->target *= 2;
    if (!p->refilling && p->n < p->target / 2) submit = p->refilling = 1;
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < nstale; i++)
        vm_free(stale[i]);
    if (submit && workers_submit_first(refill_work, NULL, p) < 0) {
        pthread_mutex_lock(&p->lock);
        p->refilling = 0;
        pthread_mutex_unlock(&p->lock);
    }
    if (vm) return vm;
    metric_add(m_pool_misses, module, 1);
    return trusted_build(module, mem_limit, err, errlen);
}

void trusted_pool_missed(const char *what)
{
    metric_add(m_pool_misses, what, 1);
}

/* Frees the stock and stops refills: a refill still queued or running builds nothing more. */
void trusted_pool_free(void)
{
    for (int k = 0; k < 2; k++) {
        struct pool *p = &pools[k];
        pthread_mutex_lock(&p->lock);
        for (int i = 0; i < p->n; i++)
            vm_free(p->ready[i]);
        p->n = 0;
        p->closing = 1;
        pthread_mutex_unlock(&p->lock);
    }
}
