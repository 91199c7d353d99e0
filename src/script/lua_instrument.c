#include "lua_instrument.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD "local __mt_chk, __mt_cpu = ... return function(...) "
#define TAIL "\nend"
#define CHECK " if __mt_chk()~=0 then __mt_cpu() end "

/* The output: the source copied span by span, checks inserted between the spans. */
struct out {
    char *buf;
    size_t len, cap;
    int failed;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->failed || n == 0) return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *grown = realloc(o->buf, cap);
        if (!grown) {
            o->failed = 1;
            return;
        }
        o->buf = grown;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* The lexer: just enough of LuaJIT's to find names outside strings and comments. */
struct lex {
    const char *s;
    size_t len, pos;
    int line;
};

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_name_start(unsigned char c)
{
    /* LuaJIT also takes bytes >= 0x80 in names. */
    return c == '_' || ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80;
}

static int is_name_char(unsigned char c)
{
    return is_name_start(c) || is_digit(c);
}

static int peek(const struct lex *x, size_t ahead)
{
    return x->pos + ahead < x->len ? (unsigned char)x->s[x->pos + ahead] : -1;
}

/* At '[': the level of a long bracket ("[==[" is 2), or -1 when this is not one. */
static int long_level(const struct lex *x)
{
    size_t i = 1;
    while (peek(x, i) == '=')
        i++;
    return peek(x, i) == '[' ? (int)i - 1 : -1;
}

/* Skips a long string or comment body from its opening bracket to past its closing one. */
static void skip_long(struct lex *x, int level)
{
    x->pos += (size_t)level + 2;
    while (x->pos < x->len) {
        char c = x->s[x->pos];
        if (c == '\n') x->line++;
        if (c == ']') {
            size_t i = 1;
            while (peek(x, i) == '=')
                i++;
            if (peek(x, i) == ']' && (int)i - 1 == level) {
                x->pos += i + 1;
                return;
            }
        }
        x->pos++;
    }
}

static void skip_quoted(struct lex *x)
{
    char q = x->s[x->pos++];
    while (x->pos < x->len && x->s[x->pos] != q) {
        if (x->s[x->pos] == '\\' && x->pos + 1 < x->len) x->pos++;
        if (x->s[x->pos] == '\n') x->line++;
        x->pos++;
    }
    x->pos++;
}

static void skip_number(struct lex *x)
{
    int hex = x->s[x->pos] == '0' && (peek(x, 1) | 32) == 'x';
    char e = hex ? 'p' : 'e';
    while (x->pos < x->len) {
        unsigned char c = (unsigned char)x->s[x->pos];
        if ((c | 32) == e && (peek(x, 1) == '+' || peek(x, 1) == '-'))
            x->pos += 2;
        else if (is_name_char(c) || c == '.')
            x->pos++;
        else
            break;
    }
}

/* At "--": skips the comment, short or long. */
static void skip_comment(struct lex *x)
{
    int level;
    x->pos += 2;
    if (peek(x, 0) == '[' && (level = long_level(x)) >= 0) {
        skip_long(x, level);
        return;
    }
    while (x->pos < x->len && x->s[x->pos] != '\n')
        x->pos++;
}

/* Moves to the next name. Returns 1 with [*start, pos) the name, 0 at the end. */
static int next_name(struct lex *x, size_t *start)
{
    while (x->pos < x->len) {
        unsigned char c = (unsigned char)x->s[x->pos];
        int level;
        if (c == '\n') {
            x->line++;
            x->pos++;
        } else if (c == '-' && peek(x, 1) == '-') {
            skip_comment(x);
        } else if (c == '[' && (level = long_level(x)) >= 0) {
            skip_long(x, level);
        } else if (c == '"' || c == '\'') {
            skip_quoted(x);
        } else if (is_digit(c) || (c == '.' && is_digit(peek(x, 1)))) {
            skip_number(x);
        } else if (is_name_start(c)) {
            *start = x->pos;
            while (x->pos < x->len && is_name_char((unsigned char)x->s[x->pos]))
                x->pos++;
            return 1;
        } else {
            x->pos++;
        }
    }
    return 0;
}

static int is_word(const struct lex *x, size_t start, const char *word)
{
    size_t n = strlen(word);
    return x->pos - start == n && memcmp(x->s + start, word, n) == 0;
}

/* After `function`: the position just past the ')' closing its parameters. They hold names,
 * commas and `...` only (the text parsed), so the first ')' outside a comment closes them. */
static size_t after_params(struct lex *x)
{
    while (x->pos < x->len && x->s[x->pos] != ')') {
        if (x->s[x->pos] == '-' && peek(x, 1) == '-') {
            skip_comment(x);
            continue;
        }
        if (x->s[x->pos] == '\n') x->line++;
        x->pos++;
    }
    if (x->pos < x->len) x->pos++;
    return x->pos;
}

char *lua_instrument(const char *src, size_t len, size_t *out_len, char *err, size_t errlen)
{
    struct out o = {0};
    struct lex x = {src, len, 0, 1};
    size_t copied = 0, start;
    put(&o, HEAD, sizeof HEAD - 1);
    while (next_name(&x, &start)) {
        size_t plen = sizeof LUA_INSTRUMENT_PREFIX - 1;
        if (x.pos - start >= plen && memcmp(src + start, LUA_INSTRUMENT_PREFIX, plen) == 0) {
            snprintf(err, errlen, "line %d: names beginning with %s are reserved", x.line,
                     LUA_INSTRUMENT_PREFIX);
            free(o.buf);
            return NULL;
        }
        size_t at; /* where the check goes */
        if (is_word(&x, start, "do") || is_word(&x, start, "repeat"))
            at = x.pos;
        else if (is_word(&x, start, "goto"))
            at = start;
        else if (is_word(&x, start, "function"))
            at = after_params(&x);
        else
            continue;
        put(&o, src + copied, at - copied);
        put(&o, CHECK, sizeof CHECK - 1);
        copied = at;
    }
    put(&o, src + copied, len - copied);
    put(&o, TAIL, sizeof TAIL - 1);
    if (o.failed) {
        snprintf(err, errlen, "out of memory");
        free(o.buf);
        return NULL;
    }
    *out_len = o.len;
    return o.buf;
}
