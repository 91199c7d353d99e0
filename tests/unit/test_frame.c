/* Unit tests for frame.c, the one builder of outgoing messages: the field order and text
 * protocol.md shows, "re" only when given, a kept buffer that does not leak one message into
 * the next, and the same bytes jansson would write for the same object. */
#include "frame.h"
#include "tap.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int same_text(struct wsbuf *b, const char *want)
{
    int ok = b && b->len == strlen(want) && memcmp(b->data, want, b->len) == 0;
    if (!ok)
        printf("#   got  %.*s\n#   want %s\n", b ? (int)b->len : 0, b ? (char *)b->data : "", want);
    wsbuf_unref(b);
    return ok;
}

int main(void)
{
    json_t *payload = json_pack("{ss,si}", "code", "BAD_MESSAGE", "n", 3);
    json_t *re = json_string("req-1");
    ok(same_text(
           frame_message("error", payload, re),
           "{\"type\":\"error\",\"payload\":{\"code\":\"BAD_MESSAGE\",\"n\":3},\"re\":\"req-1\"}"),
       "type, payload, re");
    ok(same_text(frame_message("welcome", NULL, NULL), "{\"type\":\"welcome\",\"payload\":{}}"),
       "no payload: {}; no re: none");

    json_t *msg = json_pack("{ss,sO,sO}", "type", "error", "payload", payload, "re", re);
    char *dumped = json_dumps(msg, JSON_COMPACT);
    ok(same_text(frame_message("error", payload, re), dumped), "the bytes jansson writes");
    free(dumped);
    json_decref(msg);

    struct frame *f = frame_begin("game_event");
    frame_game(f, "g-1", 42);
    frame_key(f, "payload");
    frame_put(f, "{\"event\":{\"kind\":\"move\"}}");
    json_t *num = json_integer(7);
    ok(same_text(frame_end(f, num), "{\"type\":\"game_event\",\"gameId\":\"g-1\",\"seq\":42,"
                                    "\"payload\":{\"event\":{\"kind\":\"move\"}},\"re\":7}"),
       "a log message: gameId, seq, payload as written, a numeric re");
    json_decref(num);

    f = frame_begin("left");
    frame_game(f, "g-2", 0);
    frame_key(f, "n");
    frame_int(f, -12345678901LL);
    ok(same_text(frame_end(f, NULL), "{\"type\":\"left\",\"gameId\":\"g-2\",\"n\":-12345678901}"),
       "seq 0 is left out; integers; the kept buffer starts afresh");

    /* A big message, then a small one: the kept buffer is dropped above 1 MiB, and reused. */
    char *big = malloc(2u << 20);
    memset(big, 'x', (2u << 20) - 1);
    big[(2u << 20) - 1] = '\0';
    f = frame_begin("big");
    frame_key(f, "s");
    frame_put(f, "\"");
    frame_put(f, big);
    frame_put(f, "\"");
    struct wsbuf *b = frame_end(f, NULL);
    ok(b && b->len == (2u << 20) - 1 + strlen("{\"type\":\"big\",\"s\":\"\"}"), "a 2 MiB message");
    wsbuf_unref(b);
    free(big);
    ok(same_text(frame_message("small", NULL, NULL), "{\"type\":\"small\",\"payload\":{}}"),
       "then a small one");
    json_decref(payload);
    json_decref(re);
    return done_testing();
}
