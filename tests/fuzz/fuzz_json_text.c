/* fuzz_json_text.c - src/core/json_text.c, the writer of every stored record and outgoing
 * WebSocket message, against jansson's own json_dumps. One fuzz input is one JSON text; what
 * jansson reads from it (strings with NULs included) is written by both.
 *
 * json_text_dump, json_text_scratch and json_text_append must give json_dumps(JSON_COMPACT |
 * JSON_ENCODE_ANY)'s bytes exactly (json_text.h promises that), and fail only for values nested
 * deeper than 512; the text must read back to an equal value (reals included: "%.17g");
 * json_text_scratch_with must give the text of the object with one more member. */
#include "fuzz.h"
#include "json_text.h"

#include <jansson.h>
#include <string.h>

static int depth(const json_t *v)
{
    int d = 0, sub;
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_array(v)) json_array_foreach(v, i, x) if ((sub = depth(x)) > d) d = sub;
    if (json_is_object(v)) json_object_foreach((json_t *)v, k, x) if ((sub = depth(x)) > d) d = sub;
    return d + (json_is_array(v) || json_is_object(v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!v) return 0;
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t want_len = want ? strlen(want) : 0;
    char *got = json_text_dump(v);
    if (!got) {
        /* json_text refuses a value 513 levels below the top: inside 513 containers */
        CHECK(depth(v) > 512, "json_text_dump failed at depth %d", depth(v));
        json_decref(v);
        free(want);
        return 0;
    }
    CHECK(want && strcmp(got, want) == 0, "json_text_dump differs from json_dumps:\n  %s\n  %s",
          got, want);

    size_t len = 0;
    const char *scratch = json_text_scratch(v, &len);
    CHECK(scratch && len == want_len && memcmp(scratch, want, len) == 0, "json_text_scratch");

    struct json_text t = {0};
    CHECK(json_text_put(&t, "[", 1) == 0 && json_text_append(&t, v) == 0 &&
              json_text_put(&t, "]", 1) == 0,
          "json_text_append");
    CHECK(t.len == want_len + 2 && memcmp(t.data + 1, want, want_len) == 0 && t.data[t.len] == '\0',
          "json_text_append after other text");
    json_text_free(&t);

    json_t *back = json_loadb(got, strlen(got), JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    CHECK(back && json_equal(back, v), "the text does not read back equal: %s", got);
    json_decref(back);

    /* One more member whose value is given as text: the text of the object plus the member. */
    if (json_is_object(v) && !json_object_get(v, "zz")) {
        json_t *plus = json_copy(v);
        json_object_set(plus, "zz", v);
        char *want_plus = json_dumps(plus, JSON_COMPACT);
        const char *with = json_text_scratch_with(v, "zz", got, &len);
        CHECK(with && want_plus && len == strlen(want_plus) && strcmp(with, want_plus) == 0,
              "json_text_scratch_with:\n  %s\n  %s", with, want_plus);
        free(want_plus);
        json_decref(plus);
    }
    free(got);
    free(want);
    json_decref(v);
    return 0;
}
