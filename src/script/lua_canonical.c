#include "lua_canonical.h"

#include "util.h"

#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64 /* sandbox.canonical's limit */
#define FORMAT_UPVALUE lua_upvalueindex(1)
#define TOSTRING_UPVALUE lua_upvalueindex(2)

struct canon {
    lua_State *L;
    uint64_t hash;
};

static void feed(struct canon *c, const char *s, size_t len)
{
    uint64_t h = c->hash;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    c->hash = h;
}

/* Feeds the string on top of the stack and pops it. */
static void feed_top(struct canon *c)
{
    size_t len;
    const char *s = lua_tolstring(c->L, -1, &len);
    feed(c, s, len);
    lua_pop(c->L, 1);
}

/* string.format(fmt, value at idx), fed and popped: the text canonical() would write. */
static void feed_formatted(struct canon *c, const char *fmt, int idx)
{
    if (idx < 0) idx = lua_gettop(c->L) + idx + 1;
    lua_pushvalue(c->L, FORMAT_UPVALUE);
    lua_pushstring(c->L, fmt);
    lua_pushvalue(c->L, idx);
    lua_call(c->L, 2, 1);
    feed_top(c);
}

/* Pushes tostring(value at idx), through the state's own tostring for anything but a string. */
static void push_tostring(lua_State *L, int idx)
{
    if (idx < 0) idx = lua_gettop(L) + idx + 1;
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx);
        return;
    }
    lua_pushvalue(L, TOSTRING_UPVALUE);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
}

/* %q leaves a string without '"', '\\' and control characters as it is, between quotes. */
static int needs_quoting(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 32 || ch == 127 || ch == '"' || ch == '\\') return 1;
    }
    return 0;
}

static void feed_quoted(struct canon *c, int idx)
{
    size_t len;
    const char *s = lua_tolstring(c->L, idx, &len);
    if (needs_quoting(s, len)) {
        feed_formatted(c, "%q", idx);
        return;
    }
    feed(c, "\"", 1);
    feed(c, s, len);
    feed(c, "\"", 1);
}

/* "%.17g" of an integer below 2^53 is its digits; anything else is left to string.format. */
static void feed_number(struct canon *c, int idx)
{
    double v = lua_tonumber(c->L, idx);
    if (v == floor(v) && fabs(v) < 9007199254740992.0 && !(v == 0 && signbit(v))) {
        char digits[24];
        feed(c, digits, (size_t)util_format_int(digits, (int64_t)v));
        return;
    }
    feed_formatted(c, "%.17g", idx);
}

static void feed_value(struct canon *c, int idx, int depth);

static void feed_array(struct canon *c, int t, size_t n, int depth)
{
    feed(c, "[", 1);
    for (size_t i = 1; i <= n; i++) {
        if (i > 1) feed(c, ",", 1);
        lua_pushinteger(c->L, (lua_Integer)i);
        lua_gettable(c->L, t);
        feed_value(c, lua_gettop(c->L), depth + 1);
        lua_pop(c->L, 1);
    }
    feed(c, "]", 1);
}

struct key {
    const char *s;
    size_t len;
};

/* table.sort's order on strings: bytes compared unsigned, then the shorter first. */
static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    int d = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    if (d) return d;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Pushes t[key], or t[tonumber(key)] when that is nil, as canonical() looks a key up. */
static void push_field(lua_State *L, int t, const struct key *k)
{
    lua_pushlstring(L, k->s, k->len);
    lua_gettable(L, t);
    if (!lua_isnil(L, -1)) return;
    lua_pop(L, 1);
    lua_pushlstring(L, k->s, k->len);
    if (lua_isnumber(L, -1)) {
        lua_Number num = lua_tonumber(L, -1);
        lua_pop(L, 1);
        lua_pushnumber(L, num);
        lua_gettable(L, t);
    } else {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

/* Replaces every key in the array names[1..count] by tostring(key) and points keys[] at the
 * strings, which names anchors. tostring may run a script's __tostring: the table being hashed
 * is no longer being traversed by then, so nothing it does can change count. */
static void name_keys(lua_State *L, int names, struct key *keys, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        lua_rawgeti(L, names, (int)i + 1);
        push_tostring(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "state has a key tostring cannot name");
        keys[i].s = lua_tolstring(L, -1, &keys[i].len);
        lua_rawseti(L, names, (int)i + 1);
        lua_pop(L, 1);
    }
}

static void feed_object(struct canon *c, int t, size_t count, int depth)
{
    lua_State *L = c->L;
    /* The keys first, as they are (a traversal runs no Lua code, so count holds), then their
     * names; the names are anchored in a table while the array (a userdata, so inside the
     * state's memory cap) points into them. */
    lua_createtable(L, (int)count, 0);
    int names = lua_gettop(L);
    size_t i = 0;
    lua_pushnil(L);
    while (i < count && lua_next(L, t)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, names, (int)++i);
    }
    if (i == count) lua_pop(L, 1); /* stopped after count keys: the last one is still here */
    count = i;
    struct key *keys = lua_newuserdata(L, count * sizeof *keys);
    name_keys(L, names, keys, count);
    qsort(keys, count, sizeof *keys, key_cmp);
    feed(c, "{", 1);
    for (i = 0; i < count; i++) {
        if (i > 0) feed(c, ",", 1);
        lua_pushlstring(L, keys[i].s, keys[i].len);
        feed_quoted(c, -1);
        lua_pop(L, 1);
        feed(c, ":", 1);
        push_field(L, t, &keys[i]);
        feed_value(c, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
    }
    feed(c, "}", 1);
    lua_pop(L, 2);
}

static void feed_table(struct canon *c, int t, int depth)
{
    size_t n = lua_objlen(c->L, t), count = 0;
    lua_pushnil(c->L);
    while (lua_next(c->L, t)) {
        count++;
        lua_pop(c->L, 1);
    }
    if (count == n)
        feed_array(c, t, n, depth);
    else
        feed_object(c, t, count, depth);
}

static void feed_value(struct canon *c, int idx, int depth)
{
    if (depth > MAX_DEPTH) luaL_error(c->L, "state too deep to encode (or cyclic)");
    luaL_checkstack(c->L, 8, "state too deep to encode");
    switch (lua_type(c->L, idx)) {
    case LUA_TTABLE:
        feed_table(c, idx, depth);
        break;
    case LUA_TNUMBER:
        feed_number(c, idx);
        break;
    case LUA_TSTRING:
        feed_quoted(c, idx);
        break;
    case LUA_TBOOLEAN:
        if (lua_toboolean(c->L, idx))
            feed(c, "true", 4);
        else
            feed(c, "false", 5);
        break;
    case LUA_TNIL:
        feed(c, "nil", 3);
        break;
    default:
        push_tostring(c->L, idx);
        feed_top(c);
    }
}

static int canonical_hash(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    struct canon c = {L, 14695981039346656037ull};
    feed_value(&c, 1, 0);
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)c.hash);
    lua_pushlstring(L, hex, 16);
    return 1;
}

void lua_canonical_push_hasher(lua_State *L)
{
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "format");
    lua_remove(L, -2);
    lua_getglobal(L, "tostring");
    lua_pushcclosure(L, canonical_hash, 2);
}
