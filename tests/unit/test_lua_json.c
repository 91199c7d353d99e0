/* Unit tests for lua_json.c: its output and its errors must be lua-cjson's, as lua/sandbox.lua
 * configures it. The test runs both encoders on the same values (hand-picked edge cases, then
 * thousands of random numbers, strings and tables) and compares them byte for byte. */
#include "lua_json.h"
#include "tap.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int luaopen_cjson(lua_State *L);

/* Runs against `cjson` (configured as the sandbox does) and `fast` (ours). Returns the number
 * of values tried and of mismatches, and a description of the first mismatch. */
static const char *differential =
    "local cjson, fast = ...\n"
    "local j = cjson.new()\n"
    "j.encode_invalid_numbers(false); j.encode_max_depth(64); j.encode_sparse_array(true)\n"
    "math.randomseed(12345)\n"
    "local rnd = math.random\n"
    "local negzero = 1 / (-math.huge)\n"
    "local specials = { 0, negzero, 1e14, -1e14, 1e14 - 1, 99999999999999.5, 0.0001, 0.00009999,\n"
    "  1e-5, 123456789012.3456, 1 / 3, 2 ^ 53, 2 ^ 63, 1e300, 5e-324, 0.1, 0.2 + 0.1, 1e13 + 0.5,\n"
    "  -0.5, -1234.5678, 4503599627370496.5, 0.30000000000000004, 100, 1e15, 12345678901234,\n"
    "  123456789012345, 0.1234, 0.12345, 9.99995, 99999.99995, 1e-4 * 3 }\n"
    "local function rnum()\n"
    "  local r = rnd(10)\n"
    "  if r == 1 then return rnd(-1000, 1000)\n"
    "  elseif r == 2 then return rnd(-100000, 100000) / 100\n"
    "  elseif r == 3 then return rnd() * 1000\n"
    "  elseif r == 4 then return (rnd() - 0.5) * 10 ^ rnd(-20, 20)\n"
    "  elseif r == 5 then return rnd(-1000000, 1000000) / 10000\n"
    "  elseif r == 6 then return 2 ^ rnd(0, 62) * (rnd(2) == 1 and 1 or -1)\n"
    "  elseif r == 7 then return rnd(0, 99999) / 1000 + math.floor(rnd() * 1e10)\n"
    "  elseif r == 8 then return rnd(-99999, 99999) / 1000\n"
    "  elseif r == 9 then return math.floor(rnd() * 1e6) / 64\n"
    "  else return specials[rnd(#specials)] end\n"
    "end\n"
    "local function rstr()\n"
    "  local t = {}\n"
    "  for i = 1, rnd(0, 12) do\n"
    "    t[i] = rnd(3) == 1 and string.char(rnd(0, 255)) or string.char(rnd(32, 126))\n"
    "  end\n"
    "  return table.concat(t)\n"
    "end\n"
    "local rvalue\n"
    "local function rtable(depth)\n"
    "  local t, kind = {}, rnd(5)\n"
    "  local n = rnd(0, 6)\n"
    "  if kind == 1 then for i = 1, n do t[i] = rvalue(depth + 1) end\n"
    "  elseif kind == 2 then for i = 1, n do t[rnd(1, 30)] = rvalue(depth + 1) end\n"
    "  elseif kind == 3 then for i = 1, n do t[rstr()] = rvalue(depth + 1) end\n"
    "  elseif kind == 4 then for i = 1, n do t[rnum()] = rvalue(depth + 1) end\n"
    "  else for i = 1, n do t[i] = rvalue(depth + 1) end; t.x = rnum() end\n"
    "  return t\n"
    "end\n"
    "function rvalue(depth)\n"
    "  local r = rnd(depth > 4 and 5 or 7)\n"
    "  if r <= 2 then return rnum() elseif r == 3 then return rstr()\n"
    "  elseif r == 4 then return rnd(2) == 1 elseif r == 5 then return j.null\n"
    "  else return rtable(depth) end\n"
    "end\n"
    "local function nest(n) local t = {} local c = t for i = 2, n do c[1] = {} c = c[1] end return "
    "t end\n"
    "local cases = { 0 / 0, math.huge, -math.huge, print, { [true] = 1 }, { [0 / 0 == 0 / 0] = 1 "
    "},\n"
    "  { [math.huge] = 1 }, { 1, 2, nil, 4 }, { [20] = 1 }, { [11] = 1, [10] = 2 },\n"
    "  { [1] = 1, [2] = 2, [3] = 3, [12] = 4 }, {}, { {} }, nest(64), nest(65), { x = print },\n"
    "  { [1.5] = 1 }, { [0] = 1 }, { [-1] = 1 }, '\\0\\1\\31\\127\\128\\255\"\\\\/', "
    "coroutine.create(print) }\n"
    "for i = 0, 255 do cases[#cases + 1] = string.char(i) end\n"
    "for i = 1, 20000 do cases[#cases + 1] = rnum() end\n"
    "for i = 1, 3000 do cases[#cases + 1] = rvalue(0) end\n"
    "local bad, first = 0, nil\n"
    "for i = 1, #cases do\n"
    "  local v = cases[i]\n"
    "  local ok1, a = pcall(j.encode, v)\n"
    "  local ok2, b = pcall(fast, v)\n"
    "  if ok1 ~= ok2 or a ~= b then\n"
    "    bad = bad + 1\n"
    "    first = first or string.format('case %d: cjson %s %q, ours %s %q', i, tostring(ok1),\n"
    "      tostring(a), tostring(ok2), tostring(b))\n"
    "  end\n"
    "end\n"
    "local ok3, e3 = pcall(fast)\n"
    "local ok4, e4 = pcall(fast, 1, 2)\n"
    "return #cases, bad, first or '', (not ok3 and not ok4) and 'refused' or 'accepted'\n";

/* Decoding: ours (`fast`) against cjson on texts cjson wrote (random values), hand-written
 * texts (whitespace, escapes, surrogates, number forms, nesting), and invalid texts, which
 * both must refuse; where cjson is lax (a number like "1.", a raw control character in a
 * string) ours must refuse. Values are compared deeply, -0 by its sign. */
static const char *decode_differential =
    "local cjson, fast = ...\n"
    "local j = cjson.new()\n"
    "j.decode_invalid_numbers(false); j.decode_max_depth(64); j.encode_sparse_array(true)\n"
    "j.encode_invalid_numbers(false); j.encode_max_depth(64)\n"
    "math.randomseed(4242)\n"
    "local rnd = math.random\n"
    "local function same(a, b)\n"
    "  if type(a) ~= type(b) then return false end\n"
    "  if type(a) == 'number' then return a == b and (a ~= 0 or 1 / a == 1 / b) end\n"
    "  if type(a) ~= 'table' then return a == b end\n"
    "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "local function rnum()\n"
    "  local r = rnd(6)\n"
    "  if r == 1 then return rnd(-1000, 1000) elseif r == 2 then return rnd() * 10 ^ rnd(-30, 30)\n"
    "  elseif r == 3 then return -rnd() * 10 ^ rnd(-300, 300) elseif r == 4 then return 2 ^ rnd(0, "
    "70)\n"
    "  elseif r == 5 then return rnd(-99999, 99999) / 100 else return 0 end\n"
    "end\n"
    "local function rstr()\n"
    "  local t = {}\n"
    "  for i = 1, rnd(0, 10) do t[i] = string.char(rnd(1, 255)) end\n"
    "  return table.concat(t)\n"
    "end\n"
    "local rvalue\n"
    "local function rtable(d)\n"
    "  local t = {}\n"
    "  if rnd(2) == 1 then for i = 1, rnd(0, 6) do t[i] = rvalue(d + 1) end\n"
    "  else for i = 1, rnd(0, 6) do t[rstr()] = rvalue(d + 1) end end\n"
    "  return t\n"
    "end\n"
    "function rvalue(d)\n"
    "  local r = rnd(d > 4 and 5 or 7)\n"
    "  if r <= 2 then return rnum() elseif r == 3 then return rstr()\n"
    "  elseif r == 4 then return rnd(2) == 1 elseif r == 5 then return j.null\n"
    "  else return rtable(d) end\n"
    "end\n"
    "local texts = { '0', '-0', '1e5', '1E+5', '-1.25e-7', '123456789012345', '1234567890123456',\n"
    "  '12345678901234567890', '9007199254740993', '0.1', '2.5e308', '4.9e-324', '1e-400',\n"
    "  ' \\t\\r\\n[ 1 , 2 ] \\n', '{\"a\":1,\"a\":2}', '[null,null]', '[]', '{}', '\"\"',\n"
    "  "
    "'\"\\\\u0041\\\\u00e9\\\\u20AC\\\\ud83d\\\\ude00\\\\/"
    "\\\\b\\\\f\\\\n\\\\r\\\\t\\\\\"\\\\\\\\\"',\n"
    "  '\"\\\\u0000x\"', '{\"k\":{\"k\":[true,false,null]}}', string.rep('[', 64) .. "
    "string.rep(']', 64) }\n"
    "local invalid = { '', ' ', '[', ']', '{', '[1,]', '{\"a\"}', '{\"a\":}', '{1:2}', '[1 2]', "
    "'tru',\n"
    "  'nul', 'True', '+1', '01', '-01', '0x10', 'NaN', 'Infinity', '-Infinity', '.5', '1e', "
    "'1e+',\n"
    "  '-', '\"abc', '\"\\\\x\"', '\"\\\\u12\"', '\"\\\\ud800\"', '\"\\\\ud800\\\\u0041\"', "
    "'[1]x',\n"
    "  '{\"a\":1,}', string.rep('[', 65) .. string.rep(']', 65), '\"\\\\', '1 2' }\n"
    "local lax = { '1.', '1.e5', '\"a\\tb\"', '\"\\1\"' }\n"
    "for i = 1, 4000 do texts[#texts + 1] = j.encode(rvalue(0)) end\n"
    "local bad, first, n = 0, nil, 0\n"
    "local function note(msg) bad = bad + 1; first = first or msg end\n"
    "for _, text in ipairs(texts) do\n"
    "  n = n + 1\n"
    "  local ok1, a = pcall(j.decode, text)\n"
    "  local ok2, b = pcall(fast, text)\n"
    "  if not ok1 or not ok2 or not same(a, b) then\n"
    "    note(string.format('%q: cjson %s %s, ours %s %s', text, tostring(ok1), tostring(a), "
    "tostring(ok2), tostring(b)))\n"
    "  end\n"
    "end\n"
    "for _, text in ipairs(invalid) do\n"
    "  n = n + 1\n"
    "  local ok1 = pcall(j.decode, text)\n"
    "  local ok2, b = pcall(fast, text)\n"
    "  if ok1 or ok2 then note(string.format('%q: cjson %s, ours %s %s', text, tostring(ok1), "
    "tostring(ok2), tostring(b))) end\n"
    "end\n"
    "for _, text in ipairs(lax) do\n"
    "  n = n + 1\n"
    "  if pcall(fast, text) then note(string.format('%q accepted', text)) end\n"
    "end\n"
    "local _, msg = pcall(fast, '[1,]')\n"
    "return n, bad, first or '', msg\n";

static void test_numbers(void)
{
    /* The formatter alone, against snprintf("%.14g") on doubles of every kind. */
    srand(7);
    int bad = 0;
    char want[64], got[64];
    for (int i = 0; i < 200000; i++) {
        double d;
        switch (i % 5) {
        case 0:
            d = (rand() % 2000001 - 1000000) / 100.0;
            break;
        case 1:
            d = (rand() % 2000001 - 1000000) / 10000.0;
            break;
        case 2:
            d = ldexp((double)rand() / RAND_MAX, rand() % 120 - 60);
            break;
        case 3:
            d = (double)rand() * rand() / 7.0;
            break;
        default:
            d = (rand() % 100000) / 1000.0 + rand() % 1000000;
            break;
        }
        if (i % 7 == 0) d = -d;
        snprintf(want, sizeof want, "%.14g", d);
        lua_json_format_number(got, d);
        if (strcmp(want, got) != 0 && bad++ < 3) printf("# %.17g: want %s, got %s\n", d, want, got);
    }
    is_int(bad, 0, "numbers are formatted as %%.14g (200,000 doubles)");
}

/* Runs script(cjson, ours), which returns 4 values, leaving them on the stack. */
static int run_against_cjson(lua_State *L, const char *script, lua_CFunction ours, const char *what)
{
    ok(luaL_loadstring(L, script) == 0, "%s script compiles", what);
    lua_pushcfunction(L, luaopen_cjson);
    lua_call(L, 0, 1);
    lua_pushcfunction(L, ours);
    int rc = lua_pcall(L, 2, 4, 0);
    ok(rc == 0, "%s script runs%s%s", what, rc ? ": " : "", rc ? lua_tostring(L, -1) : "");
    return rc == 0;
}

int main(void)
{
    test_numbers();

    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (run_against_cjson(L, differential, lua_json_encode, "encode")) {
        long n = (long)lua_tointeger(L, 1), bad = (long)lua_tointeger(L, 2);
        ok(n > 20000, "compared %ld values", n);
        is_int(bad, 0, "same output and same errors as lua-cjson");
        if (bad) printf("# first mismatch: %s\n", lua_tostring(L, 3));
        is_str(lua_tostring(L, 4), "refused", "encode wants exactly one argument");
    }
    lua_settop(L, 0);
    if (run_against_cjson(L, decode_differential, lua_json_decode, "decode")) {
        long n = (long)lua_tointeger(L, 1), bad = (long)lua_tointeger(L, 2);
        ok(n > 4000, "decoded %ld texts", n);
        is_int(bad, 0, "decode: the same values as lua-cjson, and invalid JSON refused");
        if (bad) printf("# first mismatch: %s\n", lua_tostring(L, 3));
        is_str(lua_tostring(L, 4), "Expected a value but found invalid token at character 4",
               "decode: the error says what was expected and where");
    }
    lua_close(L);
    return done_testing();
}
