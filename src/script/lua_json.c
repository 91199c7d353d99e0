#include "lua_json.h"

#include "json_text.h"
#include "util.h"

#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
    size_t n;
    const char *s = lua_tolstring(o->L, idx, &n);
    reserve(o, n + 2);
    o->data[o->len++] = '"';
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* lua-cjson's set: controls, '"', '\\', '/' and DEL; most bytes need no call. */
        if (c >= 0x20 && c != '"' && c != '\\' && c != '/' && c != 127) continue;
        char esc[6];
        size_t len = json_text_escape(c, 1, esc);
        put(o, s + run, i - run);
        put(o, esc, len);
        run = i + 1;
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

/* ---- decoding ---- */

/* The text being decoded. Every function below reads at p and leaves p after what it read;
 * errors are raised with luaL_error, which unwinds the tables built so far (they are the
 * state's own objects, collected like any other). */
struct in {
    lua_State *L;
    const char *start, *p, *end;
};

static void skip_space(struct in *in)
{
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
        in->p++;
}

static int decode_error(struct in *in, const char *expected)
{
    if (in->p >= in->end)
        return luaL_error(in->L, "Expected %s but found the end at character %d", expected,
                          (int)(in->p - in->start) + 1);
    return luaL_error(in->L, "Expected %s but found %s at character %d", expected,
                      (unsigned char)*in->p < 0x20 ? "a control character" : "invalid token",
                      (int)(in->p - in->start) + 1);
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t utf8_encode(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One \u escape at p (after the backslash and 'u'), a surrogate pair taking two. Returns the
 * code point, or raises. */
static unsigned decode_unicode(struct in *in)
{
    int hi = in->end - in->p >= 4 ? hex4(in->p) : -1;
    if (hi < 0) decode_error(in, "4 hex digits");
    in->p += 4;
    if (hi < 0xD800 || hi > 0xDFFF) return (unsigned)hi;
    int lo = -1;
    if (hi <= 0xDBFF && in->end - in->p >= 6 && in->p[0] == '\\' && in->p[1] == 'u')
        lo = hex4(in->p + 2);
    if (lo < 0xDC00 || lo > 0xDFFF)
        luaL_error(in->L, "Expected a valid surrogate pair at character %d",
                   (int)(in->p - in->start) + 1);
    in->p += 6;
    return 0x10000 + (((unsigned)hi - 0xD800) << 10) + ((unsigned)lo - 0xDC00);
}

/* A string at p (after its opening quote): pushed. Runs without escapes are copied at once;
 * with escapes the text is assembled in a luaL_Buffer (the state's memory). */
static void decode_string(struct in *in)
{
    const char *run = in->p;
    while (in->p < in->end && *in->p != '"' && *in->p != '\\' && (unsigned char)*in->p >= 0x20)
        in->p++;
    if (in->p < in->end && *in->p == '"') {
        lua_pushlstring(in->L, run, (size_t)(in->p - run));
        in->p++;
        return;
    }
    luaL_Buffer b;
    luaL_buffinit(in->L, &b);
    luaL_addlstring(&b, run, (size_t)(in->p - run));
    for (;;) {
        if (in->p >= in->end || (unsigned char)*in->p < 0x20) decode_error(in, "'\"'");
        char c = *in->p++;
        if (c == '"') break;
        if (c != '\\') {
            luaL_addchar(&b, c);
            continue;
        }
        if (in->p >= in->end) decode_error(in, "an escape");
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        char e = *in->p++, utf8[4];
        const char *at = e ? memchr(from, e, sizeof from - 1) : NULL;
        if (at) {
            luaL_addchar(&b, to[at - from]);
        } else if (e == 'u') {
            luaL_addlstring(&b, utf8, utf8_encode(utf8, decode_unicode(in)));
        } else {
            in->p--;
            decode_error(in, "a valid escape");
        }
    }
    luaL_pushresult(&b);
}

/* A number per RFC 8259 (no '+', no leading zeros, no hex, NaN or Infinity): pushed. Up to 15
 * digits without fraction or exponent are exact as an integer; the rest goes to strtod, which
 * rounds correctly. */
static void decode_number(struct in *in)
{
    const char *s = in->p, *p = s;
    int integer = 1;
    if (p < in->end && *p == '-') p++;
    if (p >= in->end || *p < '0' || *p > '9') decode_error(in, "a value");
    if (*p == '0')
        p++;
    else
        while (p < in->end && *p >= '0' && *p <= '9')
            p++;
    if (p < in->end && *p == '.') {
        integer = 0;
        if (++p >= in->end || *p < '0' || *p > '9') goto bad;
        while (p < in->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < in->end && (*p | 0x20) == 'e') {
        integer = 0;
        p++;
        if (p < in->end && (*p == '+' || *p == '-')) p++;
        if (p >= in->end || *p < '0' || *p > '9') goto bad;
        while (p < in->end && *p >= '0' && *p <= '9')
            p++;
    }
    in->p = p;
    if (integer && p - s <= 15 + (*s == '-')) {
        int64_t v = 0;
        for (const char *d = s + (*s == '-'); d < p; d++)
            v = v * 10 + (*d - '0');
        lua_pushnumber(in->L, *s == '-' ? (v ? -(double)v : -0.0) : (double)v);
        return;
    }
    char text[400];
    if ((size_t)(p - s) >= sizeof text) goto bad_len;
    memcpy(text, s, (size_t)(p - s));
    text[p - s] = '\0';
    lua_pushnumber(in->L, strtod(text, NULL));
    return;
bad:
    in->p = p;
    decode_error(in, "a digit");
bad_len:
    luaL_error(in->L, "Number too long at character %d", (int)(s - in->start) + 1);
}

static void decode_value(struct in *in, int depth);

static void check_depth(struct in *in, int depth)
{
    if (depth > MAX_DEPTH)
        luaL_error(in->L, "Found too many nested data structures (%d) at character %d", depth,
                   (int)(in->p - in->start));
    luaL_checkstack(in->L, 3, "JSON nesting");
}

/* An object at p (after '{'): pushed as a table; a repeated key keeps its last value. */
static void decode_object(struct in *in, int depth)
{
    check_depth(in, depth);
    lua_newtable(in->L);
    skip_space(in);
    if (in->p < in->end && *in->p == '}') {
        in->p++;
        return;
    }
    for (;;) {
        skip_space(in);
        if (in->p >= in->end || *in->p != '"') decode_error(in, "object key string");
        in->p++;
        decode_string(in);
        skip_space(in);
        if (in->p >= in->end || *in->p != ':') decode_error(in, "colon");
        in->p++;
        decode_value(in, depth);
        lua_rawset(in->L, -3);
        skip_space(in);
        if (in->p < in->end && *in->p == ',') {
            in->p++;
            continue;
        }
        if (in->p < in->end && *in->p == '}') {
            in->p++;
            return;
        }
        decode_error(in, "comma or object end");
    }
}

/* An array at p (after '['): pushed as a table with t[1..n]; null elements are json.null, so
 * the length stays n. */
static void decode_array(struct in *in, int depth)
{
    check_depth(in, depth);
    lua_newtable(in->L);
    skip_space(in);
    if (in->p < in->end && *in->p == ']') {
        in->p++;
        return;
    }
    for (int i = 1;; i++) {
        decode_value(in, depth);
        lua_rawseti(in->L, -2, i);
        skip_space(in);
        if (in->p < in->end && *in->p == ',') {
            in->p++;
            continue;
        }
        if (in->p < in->end && *in->p == ']') {
            in->p++;
            return;
        }
        decode_error(in, "comma or array end");
    }
}

static int literal(struct in *in, const char *word, size_t n)
{
    if ((size_t)(in->end - in->p) < n || memcmp(in->p, word, n) != 0) return 0;
    in->p += n;
    return 1;
}

static void decode_value(struct in *in, int depth)
{
    skip_space(in);
    if (in->p >= in->end) decode_error(in, "a value");
    switch (*in->p) {
    case '{':
        in->p++;
        decode_object(in, depth + 1);
        return;
    case '[':
        in->p++;
        decode_array(in, depth + 1);
        return;
    case '"':
        in->p++;
        decode_string(in);
        return;
    case 't':
        if (!literal(in, "true", 4)) break;
        lua_pushboolean(in->L, 1);
        return;
    case 'f':
        if (!literal(in, "false", 5)) break;
        lua_pushboolean(in->L, 0);
        return;
    case 'n':
        if (!literal(in, "null", 4)) break;
        lua_pushlightuserdata(in->L, NULL);
        return;
    default:
        decode_number(in);
        return;
    }
    decode_error(in, "a value");
}

int lua_json_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, lua_gettop(L) == 1, 1, "expected 1 argument");
    struct in in = {L, text, text, text + len};
    decode_value(&in, 0);
    skip_space(&in);
    if (in.p < in.end) decode_error(&in, "the end");
    return 1;
}
