/* Unit tests for lua_canonical.c: the C state hash must be FNV-1a 64 of the text
 * lua/sandbox.lua's canonical() writes, for every value, or replays of games recorded before
 * would no longer verify. The test loads the real sandbox.lua and compares the two on
 * hand-picked edge cases and thousands of random values. */
#include "tap.h"
#include "vm.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fnv(text): the reference hash of a canonical text, in 16 hex digits. */
static int fnv_hex(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    lua_pushstring(L, hex);
    return 1;
}

static const char *differential =
    "local S = ...\n"
    "math.randomseed(4242)\n"
    "local rnd = math.random\n"
    "local specials = { 0, 1 / (-math.huge), 1.5, -2.25, 1 / 3, 2 ^ 53, 2 ^ 53 + 2, -(2 ^ 60),\n"
    "  1e300, 5e-324, 0.1, 1e15, 123456789012345, math.huge, -math.huge, 0 / 0, 100, -7 }\n"
    "local chars = { '\"', '\\\\', '\\n', '\\r', '\\0', '\\1', '\\127', '\\200', '\\255', '9', 'a' "
    "}\n"
    "local function rnum()\n"
    "  local r = rnd(6)\n"
    "  if r == 1 then return rnd(-1000, 1000)\n"
    "  elseif r == 2 then return rnd(-100000, 100000) / 100\n"
    "  elseif r == 3 then return (rnd() - 0.5) * 10 ^ rnd(-20, 20)\n"
    "  elseif r == 4 then return 2 ^ rnd(0, 62) * (rnd(2) == 1 and 1 or -1)\n"
    "  else return specials[rnd(#specials)] end\n"
    "end\n"
    "local function rstr()\n"
    "  local t = {}\n"
    "  for i = 1, rnd(0, 8) do\n"
    "    local r = rnd(4)\n"
    "    t[i] = r == 1 and chars[rnd(#chars)] or r == 2 and string.char(rnd(0, 255))\n"
    "      or string.char(rnd(32, 126))\n"
    "  end\n"
    "  return table.concat(t)\n"
    "end\n"
    "local rvalue\n"
    "local function rtable(depth)\n"
    "  local t, kind, n = {}, rnd(6), rnd(0, 6)\n"
    "  if kind == 1 then for i = 1, n do t[i] = rvalue(depth + 1) end\n"
    "  elseif kind == 2 then for i = 1, n do t[rnd(1, 12)] = rvalue(depth + 1) end\n"
    "  elseif kind == 3 then for i = 1, n do t[rstr()] = rvalue(depth + 1) end\n"
    "  elseif kind == 4 then\n"
    "    for i = 1, n do local k = rnum(); if k == k then t[k] = rvalue(depth + 1) end end\n"
    "  elseif kind == 5 then t[1] = rvalue(depth + 1); t['1'] = rvalue(depth + 1); t[true] = 1\n"
    "  else for i = 1, n do t[i] = rvalue(depth + 1) end; t.x = rnum() end\n"
    "  return t\n"
    "end\n"
    "function rvalue(depth)\n"
    "  local r = rnd(depth > 3 and 4 or 6)\n"
    "  if r == 1 then return rnum() elseif r == 2 then return rstr()\n"
    "  elseif r == 3 then return rnd(2) == 1 elseif r == 4 then return rnd(1000)\n"
    "  else return rtable(depth) end\n"
    "end\n"
    "local fixed = { {}, { 1, 2, 3 }, { a = 1, b = { c = 'x\"y' } }, { [1] = 1, [3] = 3 },\n"
    "  { board = { 'X', '', 'O' }, toMove = 2 }, { [1.5] = 'half', [-0.0] = 'z' },\n"
    "  setmetatable({ a = 1 }, { __index = function() return 'meta' end }), 'plain', 12, -0.0 }\n"
    "local tried, bad, first = 0, 0, nil\n"
    "local function check(v)\n"
    "  tried = tried + 1\n"
    "  local want, got = fnv(S.canonical(v)), S.canonical_hash(v)\n"
    "  if want ~= got then\n"
    "    bad = bad + 1\n"
    "    first = first or (S.canonical(v) .. ' -> ' .. want .. ' vs ' .. got)\n"
    "  end\n"
    "end\n"
    "for _, v in ipairs(fixed) do check(v) end\n"
    "for _ = 1, 20000 do check(rvalue(0)) end\n"
    "local deep = {}\n"
    "local cur = deep\n"
    "for _ = 1, 70 do cur.next = {}; cur = cur.next end\n"
    "local ok, err = pcall(S.canonical_hash, deep)\n"
    "local cyclic = {}; cyclic.self = cyclic\n"
    "local ok2 = pcall(S.canonical_hash, cyclic)\n"
    "local victim = { a = 1 }\n"
    "victim[setmetatable({}, { __tostring = function()\n"
    "  for i = 1, 100 do victim['k' .. i] = i end\n"
    "  return 'evil'\n"
    "end })] = 2\n"
    "local ok3 = pcall(S.canonical_hash, victim)\n"
    "local odd = { x = 1, [setmetatable({}, { __tostring = function() return {} end })] = 1 }\n"
    "local ok4, err4 = pcall(S.canonical_hash, odd)\n"
    "return tried, bad, first or '', not ok and tostring(err) or 'no error', ok2, ok3,\n"
    "  not ok4 and tostring(err4) or 'no error'\n";

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        text = NULL;
    }
    fclose(f);
    if (text) text[n] = 0, *len = (size_t)n;
    return text;
}

int main(void)
{
    struct vm *vm = vm_new(256u << 20);
    ok(vm != NULL, "a state");
    lua_State *L = vm_state(vm);
    char err[600];
    size_t len = 0;
    char *sandbox = read_file(MT_SOURCE_DIR "/lua/sandbox.lua", &len);
    ok(sandbox != NULL, "lua/sandbox.lua read");
    if (!sandbox) return done_testing();
    ok(vm_load_trusted(vm, sandbox, len, "=lua/sandbox.lua", err, sizeof err) == 0,
       "sandbox.lua loads: %s", err);
    lua_getfield(L, LUA_REGISTRYINDEX, "mt.json");
    lua_getfield(L, LUA_REGISTRYINDEX, "mt.canonical_hash");
    lua_pushnil(L); /* no CPU check: the helpers below are text */
    size_t tlen = 0;
    char *tables = read_file(MT_SOURCE_DIR "/lua/lib/tables.lua", &tlen);
    lua_createtable(L, 0, 1);
    if (tables) lua_pushlstring(L, tables, tlen), lua_setfield(L, -2, "tables.lua");
    free(tables);
    is_int(vm_call(vm, 4, 1, 0, err, sizeof err), VM_OK, "sandbox.lua runs");
    lua_pushcfunction(L, fnv_hex);
    lua_setglobal(L, "fnv");
    ok(luaL_loadstring(L, differential) == 0, "the comparison loads");
    lua_insert(L, -2);
    enum vm_status st = vm_call(vm, 1, 7, 0, err, sizeof err);
    is_int(st, VM_OK, "the comparison runs: %s", st == VM_OK ? "" : err);
    if (st == VM_OK) {
        ok(lua_tointeger(L, 1) > 20000, "%d values compared", (int)lua_tointeger(L, 1));
        is_int(lua_tointeger(L, 2), 0, "the C hash is the hash of canonical()'s text");
        if (lua_tointeger(L, 2)) printf("#   first: %s\n", lua_tostring(L, 3));
        ok(strstr(lua_tostring(L, 4), "state too deep") != NULL, "too deep is an error: %s",
           lua_tostring(L, 4));
        ok(!lua_toboolean(L, 5), "a cyclic state is an error, not a hang");
        ok(lua_toboolean(L, 6), "a key's __tostring that adds keys to the table is harmless");
        ok(strstr(lua_tostring(L, 7), "tostring cannot name") != NULL,
           "a key whose __tostring gives no string is an error: %s", lua_tostring(L, 7));
    }
    free(sandbox);
    vm_free(vm);
    return done_testing();
}
