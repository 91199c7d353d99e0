/* fuzz_lua_json.c - json.decode of src/script/lua_json.c against lua-cjson and jansson, and the
 * round trip through json.encode. One fuzz input is one JSON text.
 *
 * The rules (lua_json.h, docs/scripting.md#json, docs/fuzzing.md):
 *   - what ours accepts, lua-cjson (configured as lua/sandbox.lua does) accepts, with the same
 *     value (numbers bit for bit, -0 included);
 *   - what ours accepts, jansson accepts with the same value, unless jansson refuses for one of
 *     its own limits: invalid UTF-8 (ours, like cjson, passes bytes through), a number outside
 *     its range (an integer beyond 64 bits, a real that overflows: ours gives a double, or
 *     inf), a NUL byte in a key;
 *   - what ours refuses, jansson (strict RFC 8259) refuses too, unless ours refused for one of
 *     its own limits: nesting deeper than 64, a number of 400 characters or more (or the text
 *     holds a NUL byte: jansson takes "1\0" for 1);
 *   - where ours refuses and cjson accepts, that is cjson's laxness ("1.", raw control
 *     characters), so jansson must refuse too (the rule above);
 *   - a decoded value encodes (ours and cjson's encoder give the same bytes), unless it holds
 *     an infinity; it decodes back to the same value up to the encoder's 14 significant digits,
 *     and a second round changes nothing at all. */
#include "fuzz.h"
#include "fuzz_lua.h"

#include <jansson.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_lua_init();
    return 0;
}

/* Compares the Lua value at idx with jansson's value. */
static int same_as_jansson(int idx, const json_t *v)
{
    size_t len;
    const char *s;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (!lua_istable(L, idx)) return 0;
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            n++;
            lua_pop(L, 1);
        }
        if (n != json_object_size(v)) return 0;
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it)) {
            lua_pushlstring(L, json_object_iter_key(it), json_object_iter_key_len(it));
            lua_rawget(L, idx);
            int ok = same_as_jansson(lua_gettop(L), json_object_iter_value(it));
            lua_pop(L, 1);
            if (!ok) return 0;
        }
        return 1;
    }
    case JSON_ARRAY: {
        if (!lua_istable(L, idx)) return 0;
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            n++;
            lua_pop(L, 1);
        }
        if (n != json_array_size(v)) return 0;
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, idx, (int)i + 1);
            int ok = same_as_jansson(lua_gettop(L), json_array_get(v, i));
            lua_pop(L, 1);
            if (!ok) return 0;
        }
        return 1;
    }
    case JSON_STRING:
        if (lua_type(L, idx) != LUA_TSTRING) return 0;
        s = lua_tolstring(L, idx, &len);
        return len == json_string_length(v) && memcmp(s, json_string_value(v), len) == 0;
    case JSON_INTEGER:
        return lua_type(L, idx) == LUA_TNUMBER &&
               lua_tonumber(L, idx) == (double)json_integer_value(v);
    case JSON_REAL:
        return lua_type(L, idx) == LUA_TNUMBER && lua_tonumber(L, idx) == json_real_value(v);
    case JSON_TRUE:
        return lua_type(L, idx) == LUA_TBOOLEAN && lua_toboolean(L, idx);
    case JSON_FALSE:
        return lua_type(L, idx) == LUA_TBOOLEAN && !lua_toboolean(L, idx);
    case JSON_NULL:
        return lua_type(L, idx) == LUA_TLIGHTUSERDATA && !lua_touserdata(L, idx);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    lua_settop(L, 0);
    int ours = decode_text(lua_json_decode, 0, text, size);
    int cjson = decode_text(NULL, cjson_decode, text, size);
    json_error_t err;
    json_t *jv = json_loadb(text, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    const char *why = ours ? NULL : lua_tostring(L, 1);
    int own_limit =
        starts(why, "Found too many nested data structures") || starts(why, "Number too long");

    if (ours) {
        CHECK(cjson, "ours accepts, cjson refuses: %s", lua_tostring(L, 2));
        CHECK(same(1, 2, EXACT), "ours and cjson decode to different values");
        enum json_error_code code = jv ? json_error_unknown : json_error_code(&err);
        CHECK(jv || code == json_error_invalid_utf8 || code == json_error_numeric_overflow ||
                  code == json_error_null_byte_in_key,
              "ours accepts, jansson refuses: %s", err.text);
        CHECK(!jv || same_as_jansson(1, jv), "ours and jansson decode to different values");
        round_trip(1);
    } else {
        /* jansson accepts a top-level number followed by one NUL byte ("1\0"): its lexer
         * stops the number at the NUL. No JSON text holds a raw NUL. */
        CHECK(!jv || own_limit || memchr(text, 0, size), "ours refuses (%s), jansson accepts", why);
        CHECK(starts(why, "Expected ") || starts(why, "Found too many") ||
                  starts(why, "Number too long") || starts(why, "Expected a valid surrogate pair"),
              "an unexpected error: %s", why);
    }
    json_decref(jv);
    lua_settop(L, 0);
    /* What this input allocated is freed now: libFuzzer takes an input that leaves more
     * allocations than it found for a leak, and scans the heap for it (most of the time). */
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
