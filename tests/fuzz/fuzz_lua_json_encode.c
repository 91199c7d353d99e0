/* fuzz_lua_json_encode.c - json.encode of src/script/lua_json.c against lua-cjson's encoder, on
 * Lua values that JSON text cannot describe: NaN, infinities, -0, any double, sparse and
 * holed arrays, float and negative keys, nested and cyclic tables, functions and userdata.
 *
 * The fuzz input is a program for a small stack machine (below) that builds the value. Ours
 * must give cjson's (as lua/sandbox.lua configures it) text or error message byte for byte
 * (lua_json.h promises that), except for tables with an integer key of 2^31 or more, where
 * cjson itself is wrong (has_huge_key); when it encodes, the text must decode with ours and cjson
 * to the same value, be stable over another round, and be JSON that jansson accepts (unless a
 * string holds bytes that are not UTF-8, which both encoders pass through). */
#include "fuzz.h"
#include "fuzz_lua.h"

#include <jansson.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_lua_init();
    return 0;
}

#define MAX_STACK 64

struct prog {
    const uint8_t *p, *end;
};

static int byte(struct prog *g)
{
    return g->p < g->end ? *g->p++ : 0;
}

static void take(struct prog *g, void *out, size_t n)
{
    memset(out, 0, n);
    size_t have = (size_t)(g->end - g->p);
    memcpy(out, g->p, n < have ? n : have);
    g->p += n < have ? n : have;
}

/* Runs the program. Stack slots 1.. hold the values; the value encoded is slot 1. */
static void build(struct prog *g)
{
    static const double scale[] = {1, 10, 100, 1000, 10000, 100000};
    while (g->p < g->end) {
        int top = lua_gettop(L), op = byte(g) % 13;
        if (top >= MAX_STACK && op < 8) continue;
        switch (op) {
        case 0: { /* any double: NaN, infinities, -0, subnormals */
            double d;
            take(g, &d, sizeof d);
            lua_pushnumber(L, d);
            break;
        }
        case 1: /* a small integer */
            lua_pushnumber(L, (double)((int8_t)byte(g)));
            break;
        case 2: { /* k / 10^d: the encoder's fast path and its edges */
            int32_t k;
            take(g, &k, sizeof k);
            lua_pushnumber(L, (double)k / scale[byte(g) % 6]);
            break;
        }
        case 3: { /* a string of the next bytes */
            size_t n = (size_t)byte(g) % 24, have = (size_t)(g->end - g->p);
            if (n > have) n = have;
            lua_pushlstring(L, (const char *)g->p, n);
            g->p += n;
            break;
        }
        case 4:
            lua_pushboolean(L, byte(g) & 1);
            break;
        case 5: /* json.null */
            lua_pushlightuserdata(L, NULL);
            break;
        case 6:
            lua_newtable(L);
            break;
        case 7: /* what cannot be encoded */
            if (byte(g) & 1)
                lua_getglobal(L, "print");
            else
                lua_pushlightuserdata(L, L);
            break;
        case 8: /* a copy of a lower slot: shared and cyclic tables */
            if (top) lua_pushvalue(L, 1 + byte(g) % top);
            break;
        case 9: /* t[k] = v: v on top, k below it, t below k */
            if (top >= 3 && lua_istable(L, top - 2) && !lua_isnil(L, top - 1) &&
                !(lua_type(L, top - 1) == LUA_TNUMBER && isnan(lua_tonumber(L, top - 1))))
                lua_rawset(L, top - 2);
            else if (top)
                lua_pop(L, 1);
            break;
        case 10: /* t[#t + 1] = v */
            if (top >= 2 && lua_istable(L, top - 1))
                lua_rawseti(L, top - 1, (int)lua_objlen(L, top - 1) + 1);
            else if (top)
                lua_pop(L, 1);
            break;
        case 11: { /* t[i] = v for a small i, negative and zero included: holes, sparse arrays */
            int i = (int8_t)byte(g);
            if (top >= 2 && lua_istable(L, top - 1))
                lua_rawseti(L, top - 1, i);
            else if (top)
                lua_pop(L, 1);
            break;
        }
        default:
            if (top > 1) lua_pop(L, 1);
            break;
        }
    }
}

/* Whether a table reachable from idx has an integer key of 2^31 or more. lua-cjson keeps the
 * largest key of a table in an int (lua_array_length: "max = k"), so such a key is undefined
 * behaviour there (INT_MIN on x86-64), and its choice between array and object then depends on
 * the order of the keys: the byte-for-byte comparison does not hold for these tables. visited
 * (a table at slot seen) keeps shared and cyclic tables from being walked twice. */
static int has_huge_key(int idx, int seen)
{
    if (!lua_istable(L, idx)) return 0;
    lua_pushvalue(L, idx);
    lua_rawget(L, seen);
    int walked = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (walked) return 0;
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, seen);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int top = lua_gettop(L);
        double k = lua_type(L, top - 1) == LUA_TNUMBER ? lua_tonumber(L, top - 1) : 0;
        if ((k >= 2147483648.0 && floor(k) == k) || has_huge_key(top - 1, seen) ||
            has_huge_key(top, seen)) {
            lua_settop(L, top - 2);
            return 1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

static int valid_utf8_strings(const char *text, size_t len)
{
    json_error_t err;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    json_decref(v);
    if (v) return 1;
    CHECK(json_error_code(&err) == json_error_invalid_utf8 ||
              json_error_code(&err) == json_error_null_byte_in_key,
          "jansson refuses our output: %s: %s", err.text, text);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct prog g = {data, data + size};
    lua_settop(L, 0);
    build(&g);
    if (lua_gettop(L) == 0) return 0;
    lua_settop(L, 1);
    lua_newtable(L);
    int with_cjson = !has_huge_key(1, 2);
    lua_settop(L, 1);
    if (encode_both(1, with_cjson)) {
        int t = lua_gettop(L);
        size_t len;
        const char *text = lua_tolstring(L, t, &len);
        valid_utf8_strings(text, len);
        CHECK(decode_text(NULL, cjson_decode, text, len), "cjson cannot decode our output: %s",
              text); /* its decoder has no such bug */
        check_stable(t);
        CHECK(same(lua_gettop(L) - 1, lua_gettop(L), EXACT), "ours and cjson decode %s apart",
              text);
    } else {
        const char *why = lua_tostring(L, -1);
        CHECK(starts(why, "Cannot serialise"), "an unexpected error: %s", why);
    }
    lua_settop(L, 0);
    /* What this input allocated is freed now: libFuzzer takes an input that leaves more
     * allocations than it found for a leak, and scans the heap for it (most of the time). */
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
