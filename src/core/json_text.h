/* json_text.h - compact JSON text of a jansson value, faster than json_dumps.
 *
 * The output is json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)'s byte for byte (object keys in
 * insertion order, reals as "%.17g" with ".0" added to whole numbers, "\u00XX" for control
 * characters): tests/unit/test_json_text.c compares the two. jansson writes through a callback
 * per fragment, formats every integer with snprintf and checks UTF-8 on the way out; storing
 * each record of a game that way was about 10 % of the loop thread in the games benchmark
 * (docs/benchmarks.md, issue 4). Strings are written as they are: jansson validated them when
 * they were made. */
#ifndef MT_JSON_TEXT_H
#define MT_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>

/* A growable text buffer. Zero-initialise; data is NUL-terminated after a successful append. */
struct json_text {
    char *data;
    size_t len, cap;
};

/* The JSON escape of byte c in out and its length, or 0 when c goes out as it is. Control
 * characters, '"' and '\\' are escaped as json_dumps escapes them ("\u00XX" upper case);
 * with cjson set also '/' and DEL, and "\u00xx" in lower case, as lua-cjson does. */
size_t json_text_escape(unsigned char c, int cjson, char out[6]);

/* Appends the text of v to t. Returns 0, or -1 on OOM or a value nested deeper than 512 (a
 * cycle); t->len is then unchanged. */
int json_text_append(struct json_text *t, const json_t *v);

/* Appends len bytes of s as they are. Returns 0, or -1 on OOM (t unchanged). */
int json_text_put(struct json_text *t, const char *s, size_t len);

/* How deeply a client may nest arrays and objects in one message or request body, the outermost
 * value counting as level 1. Game scripts get actions and configs through the Lua JSON decoder,
 * which stops at 64 levels (lua/sandbox.lua's cjson setting): a WebSocket action sits at level
 * 3 of its message, so every action the envelope admits reaches the game whole. */
#define JSON_TEXT_MAX_NESTING 64

/* The nesting depth of v (0 for a scalar, 1 for an array or object of scalars, ...) when it is
 * at most limit (>= 0), else limit + 1. Looks no deeper than limit + 1 levels, so the recursion
 * is bounded by limit whatever v holds (a cycle included). */
int json_text_depth(const json_t *v, int limit);

/* The text of v in a new malloc'd string, like json_dumps: NULL on failure. The caller frees. */
char *json_text_dump(const json_t *v);

/* The text of v in this thread's scratch buffer, its length in *len: valid until the next call
 * on the same thread. NULL on failure. For text that is copied at once (a stored record, a
 * WebSocket frame), so that writing it allocates nothing. */
const char *json_text_scratch(const json_t *v, size_t *len);

/* Like json_text_scratch for an object, with one more member at the end: key (written as it
 * is: it needs no escaping) with raw, the JSON text of its value, copied verbatim (the caller
 * vouches for it: text this server wrote). For rows whose payload is already JSON text. */
const char *json_text_scratch_with(const json_t *obj, const char *key, const char *raw,
                                   size_t *len);

/* Frees t's buffer. t is empty again afterwards. */
void json_text_free(struct json_text *t);

#endif
