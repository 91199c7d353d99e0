#include "proto.h"

#include "frame.h"
#include "hmap.h"
#include "json_text.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hmap *handlers;
static struct metric *m_ws_events, *m_ws_latency, *m_errors;

/* Every error carries a code and a message, whatever the caller had (docs/contract/PROTOCOL.md):
 * jansson refuses to build a string from invalid UTF-8, and a message cut mid-character by a
 * bounded copy, or a game's reason with stray bytes, used to leave the payload empty. */
static void send_error(struct session *s, json_t *id, const char *code, const char *message)
{
    char text[512];
    util_strlcpy(text, message && *message ? message : "the request failed", sizeof text);
    util_utf8_scrub(text);
    if (!code) code = "INTERNAL";
    json_t *p = json_pack("{ss,ss}", "code", code, "message", text);
    frame_send(s, "error", p, id);
    json_decref(p);
    metric_add(m_errors, code, 1);
}

void proto_error_to(struct session *s, json_t *re, const char *code, const char *message)
{
    send_error(s, re, code, message);
}

void proto_error(struct proto_request *r, const char *code, const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    send_error(r->s, r->id, code, message);
}

void proto_reply(struct proto_request *r, const char *type, json_t *payload)
{
    frame_send(r->s, type, payload, r->id);
    json_decref(payload);
}

int proto_string(struct proto_request *r, const char *key, int required, size_t max_len,
                 const char **out)
{
    json_t *v = json_object_get(r->payload, key);
    if (!v && !required) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v)) {
        proto_error(r, "BAD_MESSAGE", "payload.%s must be a string", key);
        return -1;
    }
    if (json_string_length(v) > max_len) {
        proto_error(r, "BAD_MESSAGE", "payload.%s is longer than %zu", key, max_len);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int proto_integer(struct proto_request *r, const char *key, int required, long min, long max,
                  long *out)
{
    json_t *v = json_object_get(r->payload, key);
    if (!v && !required) return 0;
    double d = json_is_integer(v) ? (double)json_integer_value(v)
               : json_is_real(v)  ? json_real_value(v)
                                  : NAN;
    /* The range before any cast: a double outside long's range does not convert (undefined). */
    if (!(d >= (double)min && d <= (double)max) || d != floor(d)) {
        proto_error(r, "BAD_MESSAGE", "payload.%s must be an integer from %ld to %ld", key, min,
                    max);
        return -1;
    }
    *out = (long)d;
    return 0;
}

static void on_heartbeat(struct proto_request *r)
{
    json_t *ts = json_object_get(r->payload, "timestamp");
    if (!json_is_number(ts)) {
        proto_error(r, "BAD_MESSAGE", "payload.timestamp must be a number");
        return;
    }
    proto_reply(r, "heartbeat",
                json_pack("{sO,sI}", "timestamp", ts, "serverTime", (json_int_t)loop_wall_ms()));
}

int proto_init(void)
{
    static const double latency_ms[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 50, 100, 200, 500};
    m_ws_events =
        metrics_counter("ws_events_total", "WebSocket messages received, by message type", "type");
    m_ws_latency = metrics_histogram("ws_event_latency_ms",
                                     "Time from a message's arrival to its answer being queued, ms",
                                     NULL, latency_ms, 12);
    m_errors = metrics_counter("errors_total", "Error answers sent, by code", "code");
    handlers = hmap_new();
    if (!handlers || !m_ws_events || !m_ws_latency || !m_errors) return -1;
    return proto_register("heartbeat", on_heartbeat);
}

static void free_cell(const char *key, void *cell, void *arg)
{
    free(cell);
}

void proto_free(void)
{
    if (handlers) hmap_each(handlers, free_cell, NULL);
    hmap_free(handlers);
    handlers = NULL;
}

int proto_register(const char *type, proto_handler fn)
{
    if (hmap_get(handlers, type)) return -1;
    /* hmap stores data pointers; a function pointer goes in a small static cell. */
    proto_handler *cell = malloc(sizeof *cell);
    if (!cell) return -1;
    *cell = fn;
    if (hmap_put(handlers, type, cell) < 0) {
        free(cell);
        return -1;
    }
    return 0;
}

void proto_on_open(struct session *s, const char *guest_token)
{
    json_t *p = json_pack("{ss,ss,ss,ss,sI}", "playerId", s->who.player_id, "name", s->who.name,
                          "role", s->who.role, "sessionId", s->session_id, "serverTime",
                          (json_int_t)loop_wall_ms());
    if (p && guest_token) json_object_set_new(p, "token", json_string(guest_token));
    frame_send(s, "welcome", p, NULL);
    json_decref(p);
}

void proto_on_refused(struct session *s, const char *code)
{
    send_error(s, NULL, code,
               strcmp(code, "TOO_LARGE") == 0 ? "message exceeds the size limit"
                                              : "binary frames are not accepted: send JSON text");
}

#define STRINGIFY(x) #x
#define DECIMAL(x) STRINGIFY(x)
static const char too_deep[] =
    "a message may nest arrays and objects at most " DECIMAL(PROTO_MAX_NESTING) " levels deep";

json_t *proto_parse(const char *data, size_t len, int *nested_too_deep)
{
    json_error_t err;
    json_t *msg = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (nested_too_deep)
        *nested_too_deep = !msg && json_error_code(&err) == json_error_stack_overflow;
    return msg;
}

const char *proto_check_envelope(const json_t *msg, struct proto_envelope *env)
{
    *env = (struct proto_envelope){0};
    if (!json_is_object(msg)) return "a message must be a JSON object";
    json_t *id = json_object_get(msg, "id");
    if (id && (json_is_string(id) ? json_string_length(id) > 128 : !json_is_number(id)))
        return "id must be a string (at most 128 bytes) or a number";
    env->id = id;
    if (json_text_depth(msg, PROTO_MAX_NESTING) > PROTO_MAX_NESTING) return too_deep;
    json_t *type = json_object_get(msg, "type");
    if (!json_is_string(type)) return "type must be a string";
    json_t *payload = json_object_get(msg, "payload");
    if (!json_is_object(payload)) return "payload must be an object";
    env->type = json_string_value(type);
    env->payload = payload;
    return NULL;
}

/* Checks the envelope. Returns the handler, or NULL after answering the error. */
static proto_handler check_envelope(struct session *s, json_t *msg, struct proto_request *r)
{
    struct proto_envelope env;
    const char *bad = proto_check_envelope(msg, &env);
    r->id = env.id;
    if (bad) {
        send_error(s, env.id, "BAD_MESSAGE", bad);
        return NULL;
    }
    r->type = env.type;
    r->payload = env.payload;
    proto_handler *fn = hmap_get(handlers, r->type);
    metric_add(m_ws_events, fn ? r->type : "unknown", 1);
    if (!fn) {
        send_error(s, env.id, "UNKNOWN_TYPE", "unknown message type");
        return NULL;
    }
    return *fn;
}

void proto_on_message(struct session *s, const char *data, size_t len)
{
    struct proto_request r = {.s = s, .start_us = loop_now_us()};
    int deep;
    json_t *msg = proto_parse(data, len, &deep);
    if (!msg) {
        /* jansson stops at its own depth (2048) before the text is even read whole: that is
         * the nesting limit too, not a syntax error. */
        metric_add(m_ws_events, "invalid", 1);
        send_error(s, NULL, deep ? "BAD_MESSAGE" : "BAD_JSON",
                   deep ? too_deep : "message is not valid JSON");
        return;
    }
    proto_handler fn = check_envelope(s, msg, &r);
    if (fn) fn(&r);
    json_decref(msg);
    metric_observe(m_ws_latency, NULL, (double)(loop_now_us() - r.start_us) / 1000.0);
}
