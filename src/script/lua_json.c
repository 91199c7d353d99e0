#include "lua_json.h"

#include "util.h"

#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* lua/sandbox.lua's cjson settings, which this encoder reproduces. */
#define MAX_DEPTH 64
#define SPARSE_RATIO 2
#define SPARSE_SAFE 10

/* The output buffer: a userdata at stack slot `slot`, replaced by a bigger one as it grows, so
 * the memory is the state's own (capped, and collected if an error unwinds the call). */
struct out {
    lua_State *L;
    int slot;
    char *data;
    size_t len, cap;
};

static void reserve(struct out *o, size_t more)
{
    if (o->len + more <= o->cap) return;
    size_t cap = o->cap * 2;
    while (cap < o->len + more)
        cap *= 2;
    char *grown = lua_newuserdata(o->L, cap); /* raises a memory error past the cap */
    memcpy(grown, o->data, o->len);
    lua_replace(o->L, o->slot);
    o->data = grown;
    o->cap = cap;
}

static void put(struct out *o, const char *s, size_t n)
{
    reserve(o, n);
    memcpy(o->data + o->len, s, n);
    o->len += n;
}

/* k / 10^decimals in fixed notation, without trailing zeros. */
static int write_fixed(char *out, int64_t k, int decimals, uint64_t scale)
{
    char *p = out;
    uint64_t u = k < 0 ? (uint64_t)0 - (uint64_t)k : (uint64_t)k;
    if (k < 0) *p++ = '-';
    p += util_format_int(p, (int64_t)(u / scale)); /* below 1e14 */
    uint64_t frac = u % scale;
    if (decimals && frac) {
        char digits[8];
        for (int i = decimals - 1; i >= 0; i--, frac /= 10)
            digits[i] = (char)('0' + frac % 10);
        int n = decimals;
        while (n > 0 && digits[n - 1] == '0')
            n--;
        *p++ = '.';
        memcpy(p, digits, (size_t)n);
        p += n;
    }
    *p = '\0';
    return (int)(p - out);
}

/* "%.14g" without snprintf for the numbers games send most: integers and values with up to four
 * decimals. When k = round(num * 10^d) gives back num exactly (k / 10^d == num), num is the double
 * nearest to the decimal k / 10^d, which has at most 14 significant digits (|k| < 1e14), so
 * rounding num to 14 digits gives that decimal: what snprintf would print. 1e-4 <= |num| keeps
 * "%g" in fixed notation. Anything else goes to snprintf. */
int lua_json_format_number(char *out, double num)
{
    static const double scales[] = {1, 10, 100, 1000, 10000};
    if (num == 0) {
        int neg = signbit(num) != 0;
        memcpy(out, neg ? "-0" : "0", (size_t)neg + 2);
        return neg + 1;
    }
    double mag = fabs(num);
    if (mag >= 1e-4 && mag < 1e14) {
        for (int d = 0; d < 5; d++) {
            double scaled = num * scales[d];
            if (fabs(scaled) >= 1e14) break;
            int64_t k = llround(scaled);
            if ((double)k / scales[d] == num) return write_fixed(out, k, d, (uint64_t)scales[d]);
        }
    }
    return snprintf(out, 32, "%.14g", num);
}

static int fail(lua_State *L, int idx, const char *reason)
{
    return luaL_error(L, "Cannot serialise %s: %s", luaL_typename(L, idx), reason);
}

static void put_number(struct out *o, int idx)
{
    double num = lua_tonumber(o->L, idx);
    if (isnan(num) || isinf(num)) fail(o->L, idx, "must not be NaN or Inf");
    reserve(o, 32);
    o->len += (size_t)lua_json_format_number(o->data + o->len, num);
}

static void put_string(struct out *o, int idx)
{
    static const char hex[] = "0123456789abcdef";
    size_t n;
    const char *s = lua_tolstring(o->L, idx, &n);
    reserve(o, n + 2);
    o->data[o->len++] = '"';
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 32 && c != '"' && c != '\\' && c != '/' && c != 127) continue;
        put(o, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0};
        size_t len = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '/':
            esc[1] = '/';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            len = 6;
        }
        put(o, esc, len);
    }
    put(o, s + run, n - run);
    put(o, "\"", 1);
}

/* The table at idx as an array: its length, or -1 when it must be written as an object (a key
 * that is not a positive integer, or an excessively sparse array). Empty tables are objects. */
static long array_length(lua_State *L, int idx)
{
    double max = 0;
    long items = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        double k;
        if (lua_type(L, -2) == LUA_TNUMBER && (k = lua_tonumber(L, -2)) != 0 && floor(k) == k &&
            k >= 1) {
            if (k > max) max = k;
            items++;
            lua_pop(L, 1);
            continue;
        }
        lua_pop(L, 2);
        return -1;
    }
    if (max > (double)items * SPARSE_RATIO && max > SPARSE_SAFE) return -1;
    return (long)max;
}

static void put_value(struct out *o, int idx, int depth);

static void put_table(struct out *o, int idx, int depth)
{
    lua_State *L = o->L;
    if (++depth > MAX_DEPTH || !lua_checkstack(L, 3))
        luaL_error(L, "Cannot serialise, excessive nesting (%d)", depth);
    long n = array_length(L, idx);
    if (n > 0) {
        put(o, "[", 1);
        for (long i = 1; i <= n; i++) {
            if (i > 1) put(o, ",", 1);
            lua_rawgeti(L, idx, (int)i);
            put_value(o, lua_gettop(L), depth);
            lua_pop(L, 1);
        }
        put(o, "]", 1);
        return;
    }
    put(o, "{", 1);
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int key = lua_gettop(L) - 1;
        if (!first) put(o, ",", 1);
        first = 0;
        if (lua_type(L, key) == LUA_TNUMBER) {
            put(o, "\"", 1);
            put_number(o, key);
            put(o, "\":", 2);
        } else if (lua_type(L, key) == LUA_TSTRING) {
            put_string(o, key);
            put(o, ":", 1);
        } else {
            fail(L, key, "table key must be a number or string");
        }
        put_value(o, key + 1, depth);
        lua_pop(L, 1);
    }
    put(o, "}", 1);
}

static void put_value(struct out *o, int idx, int depth)
{
    lua_State *L = o->L;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        put_string(o, idx);
        return;
    case LUA_TNUMBER:
        put_number(o, idx);
        return;
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            put(o, "true", 4);
        else
            put(o, "false", 5);
        return;
    case LUA_TNIL:
        put(o, "null", 4);
        return;
    case LUA_TTABLE:
        put_table(o, idx, depth);
        return;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) { /* json.null */
            put(o, "null", 4);
            return;
        }
        /* fall through */
    default:
        fail(L, idx, "type not supported");
    }
}

int lua_json_encode(lua_State *L)
{
    luaL_argcheck(L, lua_gettop(L) == 1, 1, "expected 1 argument");
    struct out o = {L, 2, NULL, 0, 256};
    o.data = lua_newuserdata(L, o.cap);
    put_value(&o, 1, 0);
    lua_pushlstring(L, o.data, o.len);
    return 1;
}
