/* Unit tests for lua_instrument.c and lua_compile.c: where the CPU check goes (and where it does
 * not: strings, comments), that lines keep their numbers, that the reserved prefix is refused
 * with its line, and that with the JIT on a compiled runaway loop is stopped by the check. */
#include "lua_compile.h"
#include "lua_instrument.h"
#include "tap.h"
#include "vm.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static char *rewrite(const char *src, char *err)
{
    size_t n;
    return lua_instrument(src, strlen(src), &n, err, 200);
}

static void placement(void)
{
    char err[200];
    char *out = rewrite("while x do y() end\n"
                        "for i = 1, 3 do end\n"
                        "repeat z() until a\n"
                        "goto done\n"
                        "local function f(a, -- ) in a comment\n b) return a end\n"
                        "::done::\n",
                        err);
    ok(out != NULL, "a plain script is rewritten");
    is_int(count(out, "__mt_chk()"), 5, "checks: two do blocks, repeat, goto, one function");
    ok(strstr(out, "b) if __mt_chk()") != NULL, "the function's check follows its parameters");
    ok(strstr(out, " if __mt_chk()~=0 then __mt_cpu() end goto done") != NULL,
       "the goto's check goes before it");
    is_int(count(out, "\n"), 8, "one line more than the source: the closing end's own");
    free(out);

    out = rewrite("local s = \"while do function\" -- repeat do\n"
                  "local t = [==[ goto do ]] ]==] --[[ function() ]]\n"
                  "local n = 0x1p4 + 1e+5 + .5\n",
                  err);
    ok(out && count(out, "__mt_chk()") == 0, "no check in strings, long strings, comments");
    free(out);
}

static void reserved(void)
{
    char err[200];
    char *out = rewrite("local a = 1\n\nlocal __mt_chk = 2\n", err);
    ok(out == NULL, "a name with the reserved prefix is refused");
    is_str(err, "line 3: names beginning with __mt_ are reserved", "with its line");
    out = rewrite("local s = '__mt_chk' return s.__mt_x", err);
    ok(out == NULL, "a field name with the prefix too");
    out = rewrite("return '__mt_ in a string is only text'", err);
    ok(out != NULL, "a string may contain the prefix");
    free(out);
}

/* Loads bc the way lua/sandbox.lua's load_text does and calls the script's main function. */
static enum vm_status run(struct vm *vm, const char *bc, size_t len, char *err, size_t errlen)
{
    lua_State *L = vm_state(vm);
    if (luaL_loadbuffer(L, bc, len, "=test") != 0) return VM_ERROR;
    lua_getfield(L, LUA_REGISTRYINDEX, "mt.cpu_check");
    luaL_dostring(L, "return function() error('CPU limit exceeded', 2) end");
    if (vm_call(vm, 2, 1, 1000, err, errlen) != VM_OK) return VM_ERROR;
    return vm_call(vm, 0, 1, 50, err, errlen);
}

static void stops_compiled_loops(void)
{
    static const char *const loops[] = {
        "local x = 0 while true do x = x + 1 end",
        "local x = 0 for i = 1, 1e15 do x = x + i end return x",
        "local x = 0 ::top:: x = x + 1 goto top",
        "local function f(n) return f(n + 1) end return f(1)",
        "local x = 0 while true do pcall(function() while true do x = x + 1 end end) end",
    };
    struct vm *vm = vm_new(32u << 20);
    for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++) {
        char *bc, err[300];
        size_t len;
        int rc =
            lua_compile_script(loops[i], strlen(loops[i]), "@loop.lua", &bc, &len, err, sizeof err);
        ok(rc == 0, "compiled: %s", loops[i]);
        if (rc != 0) continue;
        enum vm_status st = run(vm, bc, len, err, sizeof err);
        is_int(st, VM_CPU, "stopped by the CPU limit: %s", loops[i]);
        ok(strstr(err, "loop.lua:1:") != NULL, "the error names the script's line (%s)", err);
        free(bc);
    }
    vm_free(vm);
}

static void refusal_chunk(void)
{
    char *bc, err[300];
    size_t len;
    const char *src = "local ok = 1\nlocal __mt_cpu = nil\n";
    ok(lua_compile_script(src, strlen(src), "@games/x/game.lua", &bc, &len, err, sizeof err) == 0,
       "a script with the reserved prefix compiles to its refusal");
    struct vm *vm = vm_new(1u << 20);
    lua_State *L = vm_state(vm);
    luaL_loadbuffer(L, bc, len, "=test");
    ok(vm_call(vm, 0, 0, 100, err, sizeof err) == VM_ERROR, "which raises when it is run");
    ok(strstr(err, "games/x/game.lua:2: names beginning with __mt_ are reserved") != NULL,
       "naming the file and line: %s", err);
    free(bc);
    vm_free(vm);
    ok(lua_compile_script("x = = 1", 7, "@bad.lua", &bc, &len, err, sizeof err) == -1,
       "a syntax error is returned as written");
    ok(strstr(err, "bad.lua:1:") != NULL, "with its line: %s", err);
}

int main(void)
{
    vm_global_init();
    placement();
    reserved();
    stops_compiled_loops();
    refusal_chunk();
    return done_testing();
}
