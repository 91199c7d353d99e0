/* lua_canonical.h - the replay's state hash, computed in C.
 *
 * Replays compare a hash of the game's state after every input: FNV-1a 64 over the state's
 * canonical text, as lua/sandbox.lua's canonical() writes it (arrays in order, object keys
 * sorted, numbers "%.17g", strings "%q"). Building that text in interpreted Lua, with a
 * string.format per number, was about 8 % of the loop thread in the games benchmark. This
 * walks the value in C and feeds the same bytes to the hash without building the text; where
 * the text needs Lua's own formatting (strings with characters %q escapes, non-integer
 * numbers, keys that are not strings) it calls the very functions canonical() calls, so the
 * hashes of games recorded before stay valid. tests/unit/test_lua_canonical.c compares the two. */
#ifndef MT_LUA_CANONICAL_H
#define MT_LUA_CANONICAL_H

#include <lua.h>

/* Pushes hash(value) as a C closure: it captures the state's string.format and tostring, so
 * call it before any script runs in the state. The function takes one value and returns 16
 * lowercase hex digits; a value nested deeper than 64 tables raises "state too deep to encode
 * (or cyclic)". Run it under vm_call: it may call metamethods. */
void lua_canonical_push_hasher(lua_State *L);

#endif
