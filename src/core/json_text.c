#include "json_text.h"

#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 512

static int reserve(struct json_text *t, size_t more)
{
    size_t need = t->len + more + 1;
    if (need <= t->cap) return 0;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < need)
        cap *= 2;
    char *grown = realloc(t->data, cap);
    if (!grown) return -1;
    t->data = grown;
    t->cap = cap;
    return 0;
}

static int put(struct json_text *t, const char *s, size_t len)
{
    if (reserve(t, len) < 0) return -1;
    memcpy(t->data + t->len, s, len);
    t->len += len;
    return 0;
}

int json_text_put(struct json_text *t, const char *s, size_t len)
{
    if (put(t, s, len) < 0) return -1;
    t->data[t->len] = '\0';
    return 0;
}

/* jansson's jsonp_dtostr at precision 17: "%.17g", ".0" when there is neither '.' nor 'e',
 * and the exponent without '+' or leading zeros. */
static int format_real(char *out, double v)
{
    if (v == floor(v) && fabs(v) < 1e15 && !(v == 0 && signbit(v))) {
        int n = util_format_int(out, (int64_t)v);
        memcpy(out + n, ".0", 2);
        return n + 2;
    }
    int len = snprintf(out, 40, "%.17g", v);
    if (len < 0 || len >= 37) return -1;
    if (!strchr(out, '.') && !strchr(out, 'e')) {
        memcpy(out + len, ".0", 3);
        len += 2;
    }
    char *e = strchr(out, 'e');
    if (e) {
        char *start = e + 1, *end = start + 1;
        if (*start == '-') start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, (size_t)(out + len - end) + 1);
            len -= (int)(end - start);
        }
    }
    return len;
}

size_t json_text_escape(unsigned char c, int cjson, char out[6])
{
    static const char from[] = "\"\\/\b\f\n\r\t", to[] = "\"\\/bfnrt";
    if (c >= 0x20 && c != '"' && c != '\\' && (!cjson || (c != '/' && c != 127))) return 0;
    out[0] = '\\';
    const char *at = c ? memchr(from, c, sizeof from - 1) : NULL;
    if (at) {
        out[1] = to[at - from];
        return 2;
    }
    const char *hex = cjson ? "0123456789abcdef" : "0123456789ABCDEF";
    memcpy(out + 1, "u00", 3);
    out[4] = hex[c >> 4];
    out[5] = hex[c & 15];
    return 6;
}

static int put_string(struct json_text *t, const char *s, size_t len)
{
    if (reserve(t, len + 2) < 0) return -1;
    t->data[t->len++] = '"';
    size_t run = 0; /* bytes copied as they are, written in one go */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue; /* most bytes: no call */
        char esc[6];
        size_t n = json_text_escape(c, 0, esc);
        if (put(t, s + run, i - run) < 0 || put(t, esc, n) < 0) return -1;
        run = i + 1;
    }
    if (put(t, s + run, len - run) < 0 || put(t, "\"", 1) < 0) return -1;
    return 0;
}

static int put_value(struct json_text *t, const json_t *v, int depth);

static int put_object(struct json_text *t, const json_t *v, int depth)
{
    if (put(t, "{", 1) < 0) return -1;
    int first = 1;
    for (void *it = json_object_iter((json_t *)v); it;
         it = json_object_iter_next((json_t *)v, it)) {
        if (!first && put(t, ",", 1) < 0) return -1;
        first = 0;
        const char *key = json_object_iter_key(it);
        if (put_string(t, key, json_object_iter_key_len(it)) < 0 || put(t, ":", 1) < 0 ||
            put_value(t, json_object_iter_value(it), depth + 1) < 0)
            return -1;
    }
    return put(t, "}", 1);
}

static int put_array(struct json_text *t, const json_t *v, int depth)
{
    if (put(t, "[", 1) < 0) return -1;
    for (size_t i = 0, n = json_array_size(v); i < n; i++)
        if ((i && put(t, ",", 1) < 0) || put_value(t, json_array_get(v, i), depth + 1) < 0)
            return -1;
    return put(t, "]", 1);
}

static int put_value(struct json_text *t, const json_t *v, int depth)
{
    char num[48];
    int n;
    if (!v || depth > MAX_DEPTH) return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return put_object(t, v, depth);
    case JSON_ARRAY:
        return put_array(t, v, depth);
    case JSON_STRING:
        return put_string(t, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        n = util_format_int(num, (int64_t)json_integer_value(v));
        return put(t, num, (size_t)n);
    case JSON_REAL:
        n = format_real(num, json_real_value(v));
        return n < 0 ? -1 : put(t, num, (size_t)n);
    case JSON_TRUE:
        return put(t, "true", 4);
    case JSON_FALSE:
        return put(t, "false", 5);
    case JSON_NULL:
        return put(t, "null", 4);
    }
    return -1;
}

int json_text_append(struct json_text *t, const json_t *v)
{
    size_t start = t->len;
    if (put_value(t, v, 0) < 0 || reserve(t, 0) < 0) {
        t->len = start;
        if (t->data) t->data[start] = 0;
        return -1;
    }
    t->data[t->len] = 0;
    return 0;
}

int json_text_depth(const json_t *v, int limit)
{
    if (!json_is_object(v) && !json_is_array(v)) return 0;
    if (limit <= 0) return 1; /* already past the limit: what is inside does not matter */
    int deepest = 0;
    if (json_is_array(v)) {
        for (size_t i = 0, n = json_array_size(v); i < n && deepest < limit; i++) {
            int d = json_text_depth(json_array_get(v, i), limit - 1);
            if (d > deepest) deepest = d;
        }
        return 1 + deepest;
    }
    const char *key;
    json_t *member;
    json_object_foreach((json_t *)v, key, member)
    {
        int d = json_text_depth(member, limit - 1);
        if (d > deepest) deepest = d;
        if (deepest >= limit) break;
    }
    return 1 + deepest;
}

char *json_text_dump(const json_t *v)
{
    struct json_text t = {0};
    if (json_text_append(&t, v) < 0) {
        json_text_free(&t);
        return NULL;
    }
    return t.data;
}

const char *json_text_scratch(const json_t *v, size_t *len)
{
    static __thread struct json_text scratch;
    if (scratch.cap > (1u << 20)) json_text_free(&scratch); /* do not keep a rare huge text */
    scratch.len = 0;
    if (json_text_append(&scratch, v) < 0) return NULL;
    *len = scratch.len;
    return scratch.data;
}

const char *json_text_scratch_with(const json_t *obj, const char *key, const char *raw, size_t *len)
{
    static __thread struct json_text scratch;
    if (scratch.cap > (1u << 20)) json_text_free(&scratch);
    scratch.len = 0;
    if (!json_is_object(obj) || json_text_append(&scratch, obj) < 0) return NULL;
    scratch.len--; /* the closing brace */
    int ok = (json_object_size(obj) == 0 || put(&scratch, ",", 1) == 0) &&
             put(&scratch, "\"", 1) == 0 && put(&scratch, key, strlen(key)) == 0 &&
             put(&scratch, "\":", 2) == 0 && put(&scratch, raw, strlen(raw)) == 0 &&
             put(&scratch, "}", 1) == 0;
    if (!ok) return NULL;
    scratch.data[scratch.len] = '\0';
    *len = scratch.len;
    return scratch.data;
}

void json_text_free(struct json_text *t)
{
    free(t->data);
    *t = (struct json_text){0};
}
