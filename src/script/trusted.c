#include "trusted.h"

#include "log.h"
#include "util.h"

#include <dirent.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct source {
    char name[64];
    char *text;
    size_t len;
};

#define MAX_HELPERS 32
static struct source sandbox_src, referee_src, agent_src, helpers[MAX_HELPERS];
static int n_helpers;

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

int trusted_init(const char *dir)
{
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
        if (read_file(file, &helpers[n_helpers]) == 0) n_helpers++;
    }
    if (d) closedir(d);
    return 0;
}

void trusted_free(void)
{
    free(sandbox_src.text);
    free(referee_src.text);
    free(agent_src.text);
    for (int i = 0; i < n_helpers; i++)
        free(helpers[i].text);
    n_helpers = 0;
    memset(&sandbox_src, 0, sizeof sandbox_src);
    memset(&referee_src, 0, sizeof referee_src);
    memset(&agent_src, 0, sizeof agent_src);
}

void trusted_push_helpers(lua_State *L)
{
    lua_createtable(L, 0, n_helpers);
    for (int i = 0; i < n_helpers; i++) {
        lua_pushlstring(L, helpers[i].text, helpers[i].len);
        lua_setfield(L, -2, helpers[i].name);
    }
}

int trusted_open(struct vm *vm, const char *module, char *err, size_t errlen)
{
    lua_State *L = vm_state(vm);
    const struct source *mod = strcmp(module, "referee") == 0 ? &referee_src : &agent_src;
    if (vm_load(vm, sandbox_src.text, sandbox_src.len, "=lua/sandbox.lua", err, errlen) < 0)
        return -1;
    lua_getfield(L, LUA_REGISTRYINDEX, "mt.cjson");
    if (vm_call(vm, 1, 1, 1000, err, errlen) != VM_OK) return -1;
    char chunk[80];
    snprintf(chunk, sizeof chunk, "=lua/%s", mod->name);
    if (vm_load(vm, mod->text, mod->len, chunk, err, errlen) < 0) {
        lua_pop(L, 1);
        return -1;
    }
    lua_insert(L, -2); /* module chunk, then the sandbox module as its argument */
    return vm_call(vm, 1, 1, 1000, err, errlen) == VM_OK ? 0 : -1;
}
