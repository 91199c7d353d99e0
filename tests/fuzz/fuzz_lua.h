/* fuzz_lua.h - what the Lua JSON harnesses share: one Lua state on malloc (so ASan sees every
 * buffer the encoder and decoder write), lua-cjson configured as lua/sandbox.lua configures it,
 * and deep comparison of Lua values. Static functions: include from one harness file only. */
#ifndef MT_FUZZ_LUA_H
#define MT_FUZZ_LUA_H

#include "fuzz.h"
#include "lua_json.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <string.h>

extern int luaopen_cjson(lua_State *L);

static lua_State *L;
static int cjson_decode, cjson_encode; /* registry references */

/* malloc for every Lua object, so that ASan sees the encoder's and decoder's buffers. */
static inline void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

static inline void cjson_setting(const char *name, int arg)
{
    lua_getfield(L, -1, name);
    if (arg < 0)
        lua_pushboolean(L, 0);
    else if (arg == 1000)
        lua_pushboolean(L, 1);
    else
        lua_pushinteger(L, arg);
    lua_call(L, 1, 0);
}

/* Creates the state and the cjson instance. */
static inline void fuzz_lua_init(void)
{
    L = lua_newstate(l_alloc, NULL);
    if (!L) abort();
    luaL_openlibs(L);
    lua_pushcfunction(L, luaopen_cjson);
    lua_call(L, 0, 1);
    lua_getfield(L, -1, "new");
    lua_call(L, 0, 1);
    /* lua/sandbox.lua's new_json() */
    cjson_setting("encode_invalid_numbers", -1);
    cjson_setting("decode_invalid_numbers", -1);
    cjson_setting("encode_max_depth", 64);
    cjson_setting("decode_max_depth", 64);
    cjson_setting("encode_sparse_array", 1000);
    lua_getfield(L, -1, "decode");
    cjson_decode = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, "encode");
    cjson_encode = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, 0);
}

/* Calls fn(arg at idx) (a C function, or a registry reference when fn is NULL), leaving the
 * result or the error message on top. Returns 1 when it succeeded. */
static inline int call(lua_CFunction fn, int ref, int idx)
{
    if (fn)
        lua_pushcfunction(L, fn);
    else
        lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_pushvalue(L, idx);
    return lua_pcall(L, 1, 1, 0) == 0;
}

static inline int decode_text(lua_CFunction fn, int ref, const char *text, size_t len)
{
    lua_pushlstring(L, text, len);
    int ok = call(fn, ref, lua_gettop(L));
    lua_remove(L, -2);
    return ok;
}

enum { EXACT, DIGITS14 };

/* Compares the Lua values at a and b (absolute indexes). EXACT: numbers bit for bit (the sign
 * of zero included); DIGITS14: numbers equal as the encoder writes them. */
static inline int same(int a, int b, int mode)
{
    if (lua_type(L, a) != lua_type(L, b)) return 0;
    switch (lua_type(L, a)) {
    case LUA_TNUMBER: {
        double x = lua_tonumber(L, a), y = lua_tonumber(L, b);
        if (mode == EXACT || isinf(x) || isinf(y)) return memcmp(&x, &y, sizeof x) == 0;
        char fx[32], fy[32];
        lua_json_format_number(fx, x);
        lua_json_format_number(fy, y);
        return strcmp(fx, fy) == 0;
    }
    case LUA_TTABLE: {
        int n = 0, m = 0, ok = 1;
        lua_pushnil(L);
        while (ok && lua_next(L, a)) {
            n++;
            lua_pushvalue(L, -2);
            lua_rawget(L, b);
            ok = same(lua_gettop(L) - 1, lua_gettop(L), mode);
            lua_pop(L, 2);
        }
        if (!ok) {
            lua_pop(L, 1);
            return 0;
        }
        lua_pushnil(L);
        while (lua_next(L, b)) {
            m++;
            lua_pop(L, 1);
        }
        return n == m;
    }
    case LUA_TLIGHTUSERDATA:
        return lua_touserdata(L, a) == lua_touserdata(L, b);
    default:
        return lua_rawequal(L, a, b);
    }
}

static inline int starts(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Encodes the value at v with ours and (with_cjson) with cjson, which must give the same text
 * or the same error. Leaves ours' result on top; returns 1 when it encoded. */
static inline int encode_both(int v, int with_cjson)
{
    int ok = call(lua_json_encode, 0, v), t = lua_gettop(L);
    if (!with_cjson) return ok;
    int ok_cjson = call(NULL, cjson_encode, v);
    CHECK(ok == ok_cjson && lua_rawequal(L, t, t + 1), "encode: ours %d %s, cjson %d %s", ok,
          lua_tostring(L, t), ok_cjson, lua_tostring(L, t + 1));
    lua_pop(L, 1);
    return ok;
}

/* text (at t), our encoder's output, decodes; the value encodes and decodes again to exactly
 * the same value (numbers already have the encoder's 14 digits). Leaves the decoded value on
 * top. */
static inline void check_stable(int t)
{
    size_t len;
    const char *text = lua_tolstring(L, t, &len);
    CHECK(decode_text(lua_json_decode, 0, text, len), "our own output does not decode: %s: %s",
          text, lua_tostring(L, -1));
    int v = lua_gettop(L);
    CHECK(call(lua_json_encode, 0, v), "a decoded output does not encode: %s", text);
    text = lua_tolstring(L, -1, &len);
    CHECK(decode_text(lua_json_decode, 0, text, len), "second round does not decode: %s", text);
    CHECK(same(v, lua_gettop(L), EXACT), "the second round changed the value: %s", text);
    lua_settop(L, v);
}

/* The round trip of the decoded value at v (see fuzz_lua_json.c). */
static inline void round_trip(int v)
{
    int top = lua_gettop(L);
    int ok = encode_both(v, 1);
    if (!ok) {
        CHECK(strstr(lua_tostring(L, -1), "must not be NaN or Inf"),
              "a decoded value does not encode: %s", lua_tostring(L, -1));
    } else {
        check_stable(lua_gettop(L));
        CHECK(same(v, lua_gettop(L), DIGITS14), "decode(encode(v)) differs from v: %s",
              lua_tostring(L, top + 1));
    }
    lua_settop(L, top);
}

#endif
