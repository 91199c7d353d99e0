/* lua_json.h - json.encode and json.decode for every Lua state the server runs.
 *
 * The output is lua-cjson's, as lua/sandbox.lua configures it (precision 14, no NaN or
 * infinities, nesting up to 64 tables, excessively sparse arrays written as objects, '/'
 * escaped), byte for byte, and so are its error messages: tests/unit/test_lua_json.c compares the
 * two on many random values. It differs in where the time and memory go:
 *   - numbers that are integers or have at most four decimals (positions, scores, times) are
 *     written without snprintf, which was most of what encoding a game's view cost;
 *   - the output is built in a buffer owned by the Lua state (a userdata), so it counts against
 *     the state's memory cap and is collected if an error unwinds the call; cjson's buffers
 *     were plain malloc, outside the cap.
 *
 * json.decode reads strict RFC 8259 JSON (what the server itself writes: views, actions and
 * configurations all pass through jansson or the encoder above) into the same Lua values as
 * lua-cjson: objects and arrays as tables (arrays from 1), null as json.null (a NULL light
 * userdata), numbers as doubles; nesting is limited to 64, a number to 399 characters (cjson
 * and jansson take longer ones; tests/fuzz/fuzz_lua_json.c). Where cjson is lax it is strict:
 * no "1.", no raw control characters in strings. tests/unit/test_lua_json.c compares the two.
 * With both in C, no state loads lua-cjson, and a state holds nothing outside its own memory
 * (which is what lets vm_free release it in one pass). */
#ifndef MT_LUA_JSON_H
#define MT_LUA_JSON_H

#include <lua.h>

/* json.encode(value): one argument, returns the JSON text or raises an error. */
int lua_json_encode(lua_State *L);

/* json.decode(text): one string argument, returns its value or raises an error. */
int lua_json_decode(lua_State *L);

/* Writes num as "%.14g" would into out (at least 32 bytes). Returns the length. num must be
 * finite. Exposed for the unit test. */
int lua_json_format_number(char *out, double num);

#endif
