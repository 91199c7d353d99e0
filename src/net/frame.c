#include "frame.h"

#include "json_text.h"
#include "util.h"

#include <string.h>

struct frame {
    struct json_text t;
    int failed;
};

/* The loop thread's frame: kept between messages so that building one allocates nothing. */
static struct frame kept;

#define KEEP_MAX (1u << 20) /* a rare huge message does not keep its buffer */

void frame_putn(struct frame *f, const char *text, size_t len)
{
    f->failed |= json_text_put(&f->t, text, len) < 0;
}

void frame_put(struct frame *f, const char *text)
{
    frame_putn(f, text, strlen(text));
}

void frame_int(struct frame *f, int64_t v)
{
    char digits[24];
    frame_putn(f, digits, (size_t)util_format_int(digits, v));
}

void frame_json(struct frame *f, const json_t *v)
{
    f->failed |= json_text_append(&f->t, v) < 0;
}

struct frame *frame_begin(const char *type)
{
    if (kept.t.cap > KEEP_MAX) json_text_free(&kept.t);
    kept.t.len = 0;
    kept.failed = 0;
    frame_put(&kept, "{\"type\":\"");
    frame_put(&kept, type);
    frame_put(&kept, "\"");
    return &kept;
}

void frame_game(struct frame *f, const char *game_id, uint64_t seq)
{
    frame_put(f, ",\"gameId\":\"");
    frame_put(f, game_id);
    frame_put(f, "\"");
    if (!seq) return;
    frame_put(f, ",\"seq\":");
    frame_int(f, (int64_t)seq);
}

void frame_key(struct frame *f, const char *key)
{
    frame_put(f, ",\"");
    frame_put(f, key);
    frame_put(f, "\":");
}

struct wsbuf *frame_end(struct frame *f, const json_t *re)
{
    if (re) {
        frame_key(f, "re");
        frame_json(f, re);
    }
    frame_put(f, "}");
    return f->failed ? NULL : wsbuf_new(f->t.data, f->t.len);
}

struct wsbuf *frame_message(const char *type, const json_t *payload, const json_t *re)
{
    struct frame *f = frame_begin(type);
    frame_key(f, "payload");
    if (payload)
        frame_json(f, payload);
    else
        frame_put(f, "{}");
    return frame_end(f, re);
}

int frame_send(struct session *s, const char *type, const json_t *payload, const json_t *re)
{
    if (!s) return -1;
    struct wsbuf *b = frame_message(type, payload, re);
    if (!b) return -1;
    int rc = session_send(s, b);
    wsbuf_unref(b);
    return rc;
}
