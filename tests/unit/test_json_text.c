/* Unit tests for json_text.c: its output must be json_dumps(JSON_COMPACT | JSON_ENCODE_ANY)'s,
 * byte for byte. Edge cases first, then thousands of random values of every kind. */
#include "json_text.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mismatches;

static void compare(json_t *v, const char *what)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *got = json_text_dump(v);
    int same = want && got && strcmp(want, got) == 0;
    if (!same && mismatches++ < 5)
        printf("# %s: json_dumps %s, json_text %s\n", what, want ? want : "(null)",
               got ? got : "(null)");
    free(want);
    free(got);
}

static double random_real(void)
{
    switch (rand() % 6) {
    case 0:
        return (double)(rand() % 2000001 - 1000000) / 100;
    case 1:
        return ldexp((double)rand() / RAND_MAX, rand() % 200 - 100);
    case 2:
        return (double)(rand() % 100000);
    case 3:
        return -ldexp((double)rand(), rand() % 80);
    case 4:
        return 1.0 / (rand() % 97 + 1);
    default:
        return (double)rand() * 1e9 + 0.25;
    }
}

/* Valid UTF-8 (jansson refuses anything else), with quotes, backslashes and control bytes. */
static json_t *random_string(void)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "\"",
                                         "\\",
                                         "/",
                                         "\n",
                                         "\t",
                                         "\x01",
                                         "\x1f",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x90\x92",
                                         " ",
                                         "0",
                                         "\b",
                                         "\f",
                                         "\r"};
    char buf[128] = "";
    int n = rand() % 10;
    for (int i = 0; i < n; i++)
        strcat(buf, pieces[rand() % (sizeof pieces / sizeof *pieces)]);
    return json_string(buf);
}

static json_t *random_value(int depth)
{
    int kind = rand() % (depth > 3 ? 6 : 8);
    switch (kind) {
    case 0:
        return json_integer((json_int_t)rand() * (rand() % 2 ? 1 : -1) * (rand() % 1000));
    case 1:
        return json_real(random_real());
    case 2:
        return random_string();
    case 3:
        return json_true();
    case 4:
        return json_false();
    case 5:
        return json_null();
    case 6: {
        json_t *a = json_array();
        for (int i = rand() % 5; i > 0; i--)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = rand() % 5; i > 0; i--) {
            json_t *k = random_string();
            json_object_set_new(o, json_string_value(k), random_value(depth + 1));
            json_decref(k);
        }
        return o;
    }
    }
}

int main(void)
{
    static const double reals[] = {0.0,
                                   -0.0,
                                   1.0,
                                   -1.5,
                                   0.1,
                                   1e15,
                                   1e16,
                                   1e17,
                                   1e20,
                                   1e21,
                                   1e-5,
                                   1e-7,
                                   5e-324,
                                   1e308,
                                   -1e-300,
                                   123.456,
                                   2e15 + 1,
                                   1763786000123.456,
                                   0.30000000000000004};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++) {
        json_t *v = json_real(reals[i]);
        compare(v, "real");
        json_decref(v);
    }
    static const long long ints[] = {
        0, 1, -1, 9, 10, -10, 1234567890123LL, 9223372036854775807LL, -9223372036854775807LL - 1};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        json_t *v = json_integer(ints[i]);
        compare(v, "integer");
        json_decref(v);
    }
    json_t *row =
        json_pack("{ss,sI,si,s{ss},sf,so,s[]}", "game_id", "abc", "seq", (json_int_t)7, "seat", 2,
                  "result", "reason", "win", "t", 12.5, "none", json_null(), "empty");
    compare(row, "a store row");
    char *text = json_text_dump(row);
    ok(text && strcmp(text, "{\"game_id\":\"abc\",\"seq\":7,\"seat\":2,\"result\":{\"reason\":"
                            "\"win\"},\"t\":12.5,\"none\":null,\"empty\":[]}") == 0,
       "keys in insertion order: %s", text ? text : "(null)");
    free(text);
    json_decref(row);
    is_int(mismatches, 0, "edge cases match json_dumps");

    srand(777);
    for (int i = 0; i < 20000; i++) {
        json_t *v = random_value(0);
        compare(v, "random");
        json_decref(v);
    }
    is_int(mismatches, 0, "20,000 random values match json_dumps");

    json_t *cyclic = json_array(), *inner = json_array();
    json_array_append(cyclic, inner);
    json_array_append(inner, cyclic);
    struct json_text t = {0};
    json_t *kept = json_string("kept");
    json_text_append(&t, kept);
    json_decref(kept);
    is_int(json_text_append(&t, cyclic), -1, "a cycle is an error");
    ok(t.len == 6 && strcmp(t.data, "\"kept\"") == 0, "and leaves the text as it was");
    is_int(json_text_depth(cyclic, 10), 11, "depth: a cycle is measured only up to the limit");
    json_array_clear(inner);
    json_decref(inner);
    json_decref(cyclic);

    json_error_t err;
    json_t *shallow = json_loads("{\"a\":[1,{\"b\":[]}],\"c\":2}", 0, &err);
    is_int(json_text_depth(shallow, 64), 4, "depth: the deepest member counts");
    is_int(json_text_depth(shallow, 3), 4, "depth: one past the limit is enough to refuse");
    json_decref(shallow);
    kept = json_integer(5);
    is_int(json_text_depth(kept, 64), 0, "depth: a scalar is 0");
    json_decref(kept);
    json_t *deep = json_array();
    for (int i = 1; i < 100; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, deep);
        deep = outer;
    }
    is_int(json_text_depth(deep, 100), 100, "depth: 100 nested arrays");
    is_int(json_text_depth(deep, JSON_TEXT_MAX_NESTING), JSON_TEXT_MAX_NESTING + 1,
           "depth: past the limit gives limit + 1");
    json_decref(deep);
    json_text_free(&t);

    size_t len = 0;
    json_t *obj = json_pack("{ss,si}", "game_id", "g", "seq", 3), *empty = json_object();
    const char *with = json_text_scratch_with(obj, "payload", "{\"a\":[1,2]}", &len);
    ok(with && strcmp(with, "{\"game_id\":\"g\",\"seq\":3,\"payload\":{\"a\":[1,2]}}") == 0 &&
           len == strlen(with),
       "scratch_with: the raw member comes last, verbatim: %s", with ? with : "(null)");
    with = json_text_scratch_with(empty, "action", "null", &len);
    ok(with && strcmp(with, "{\"action\":null}") == 0, "scratch_with: of an empty object");
    ok(json_text_scratch_with(kept = json_string("x"), "k", "1", &len) == NULL,
       "scratch_with: only objects");
    json_decref(kept);
    json_decref(obj);
    json_decref(empty);
    return done_testing();
}
