/* fuzz_proto.c - the v1 envelope (src/net/proto.c): one fuzz input is one WebSocket text
 * message.
 *
 * The message goes through the real proto_on_message, with frame_send (net/frame.h) replaced by a
 * recorder (this file defines it, so session.c is not linked), and the one answer it sends is
 * checked against a model of docs/protocol.md's check order written here: BAD_JSON, then the
 * envelope (object, id, type, payload) with "re" exactly when the id was valid, then
 * UNKNOWN_TYPE, then the handler. Two handlers are registered: the core "heartbeat", and
 * "probe", which reads payload fields with proto_string and proto_integer, so their checks are
 * fuzzed too. The pure proto_check_envelope must agree with what was sent. */
#include "fuzz.h"
#include "json_text.h"
#include "proto.h"

#include "frame.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

/* ---- the recorder that stands in for session.c ---- */

static json_t *sent; /* array of the messages proto sent for the current input */

int frame_send(struct session *s, const char *type, const json_t *payload, const json_t *re)
{
    json_t *msg =
        json_pack("{ss,sO}", "type", type, "payload", payload ? (json_t *)payload : json_object());
    if (re) json_object_set_new(msg, "re", json_deep_copy(re));
    json_array_append_new(sent, msg);
    return 0;
}

/* ---- a handler for the payload readers ---- */

/* "probe": name required, n optional; "probe_n": both required. */
static void probe(struct proto_request *r, int n_required)
{
    const char *name = NULL;
    long n = -7;
    if (proto_string(r, "name", 1, 16, &name) < 0 ||
        proto_integer(r, "n", n_required, -1000, 1000, &n) < 0)
        return;
    proto_reply(r, "probe", json_pack("{ss,sI}", "name", name, "n", (json_int_t)n));
}

static void on_probe(struct proto_request *r)
{
    probe(r, 0);
}

static void on_probe_n(struct proto_request *r)
{
    probe(r, 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (proto_init() < 0 || proto_register("probe", on_probe) < 0 ||
        proto_register("probe_n", on_probe_n) < 0)
        abort();
    return 0;
}

/* ---- the model ---- */

static const char *str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The one message sent must be an error with this code (and message, unless NULL), carrying
 * re == id when id is not NULL and no re otherwise. */
static void expect_error(const json_t *out, const char *code, const char *message, json_t *id)
{
    const json_t *p = json_object_get(out, "payload");
    CHECK(str(out, "type") && strcmp(str(out, "type"), "error") == 0, "want an error");
    CHECK(str(p, "code") && strcmp(str(p, "code"), code) == 0, "want %s, got %s", code,
          str(p, "code"));
    CHECK(!message || strcmp(str(p, "message"), message) == 0, "want \"%s\", got \"%s\"", message,
          str(p, "message"));
    json_t *re = json_object_get(out, "re");
    CHECK(id ? re && json_equal(re, id) : !re, "re is wrong for code %s", code);
}

/* What the probe handler must have answered for payload p. */
static void expect_probe(const json_t *out, const json_t *p, json_t *id, int n_required)
{
    json_t *name = json_object_get(p, "name"), *n = json_object_get(p, "n");
    double d = json_is_integer(n) ? (double)json_integer_value(n)
               : json_is_real(n)  ? json_real_value(n)
                                  : NAN;
    if (!json_is_string(name)) {
        expect_error(out, "BAD_MESSAGE", "payload.name must be a string", id);
    } else if (json_string_length(name) > 16) {
        expect_error(out, "BAD_MESSAGE", "payload.name is longer than 16", id);
    } else if ((n || n_required) && !(d >= -1000 && d <= 1000 && d == floor(d))) {
        expect_error(out, "BAD_MESSAGE", "payload.n must be an integer from -1000 to 1000", id);
    } else {
        const json_t *q = json_object_get(out, "payload");
        CHECK(strcmp(str(out, "type"), "probe") == 0, "want the probe's answer");
        CHECK(json_equal(json_object_get(q, "name"), name), "name echoed");
        CHECK(json_integer_value(json_object_get(q, "n")) == (n ? (json_int_t)d : -7), "n echoed");
        json_t *re = json_object_get(out, "re");
        CHECK(id ? re && json_equal(re, id) : !re, "re of the probe answer");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct session s;
    memset(&s, 0, sizeof s);
    sent = json_array();
    proto_on_message(&s, (const char *)data, size);
    CHECK(json_array_size(sent) == 1, "one message in, %zu answers out", json_array_size(sent));
    const json_t *out = json_array_get(sent, 0);

    int deep;
    json_t *msg = proto_parse((const char *)data, size, &deep);
    if (!msg) {
        expect_error(out, deep ? "BAD_MESSAGE" : "BAD_JSON",
                     deep ? NULL : "message is not valid JSON", NULL);
        json_decref(sent);
        return 0;
    }
    /* The model of step 3, and the pure check beside it. */
    json_t *id = json_object_get(msg, "id"), *type = json_object_get(msg, "type"),
           *payload = json_object_get(msg, "payload");
    int id_ok = !id || json_is_number(id) || (json_is_string(id) && json_string_length(id) <= 128);
    struct proto_envelope env;
    const char *bad = proto_check_envelope(msg, &env);
    if (!json_is_object(msg)) {
        expect_error(out, "BAD_MESSAGE", "a message must be a JSON object", NULL);
        CHECK(bad && !env.id, "pure check: not an object");
    } else if (!id_ok) {
        expect_error(out, "BAD_MESSAGE", "id must be a string (at most 128 bytes) or a number",
                     NULL);
        CHECK(bad && !env.id, "pure check: bad id");
    } else if (json_text_depth(msg, PROTO_MAX_NESTING) > PROTO_MAX_NESTING) {
        expect_error(out, "BAD_MESSAGE", NULL, id);
        CHECK(bad && env.id == id, "pure check: nested too deep");
    } else if (!json_is_string(type)) {
        expect_error(out, "BAD_MESSAGE", "type must be a string", id);
        CHECK(bad && env.id == id, "pure check: bad type");
    } else if (!json_is_object(payload)) {
        expect_error(out, "BAD_MESSAGE", "payload must be an object", id);
        CHECK(bad && env.id == id, "pure check: bad payload");
    } else {
        CHECK(!bad && env.id == id && env.payload == payload, "pure check: valid envelope");
        CHECK(strlen(env.type) == json_string_length(type), "a type with a NUL got through");
        if (strcmp(env.type, "heartbeat") == 0) {
            json_t *ts = json_object_get(payload, "timestamp");
            if (!json_is_number(ts)) {
                expect_error(out, "BAD_MESSAGE", "payload.timestamp must be a number", id);
            } else {
                const json_t *q = json_object_get(out, "payload");
                CHECK(strcmp(str(out, "type"), "heartbeat") == 0, "heartbeat answered");
                CHECK(json_equal(json_object_get(q, "timestamp"), ts), "timestamp echoed");
                CHECK(json_is_integer(json_object_get(q, "serverTime")), "serverTime");
                json_t *re = json_object_get(out, "re");
                CHECK(id ? re && json_equal(re, id) : !re, "re of the heartbeat");
            }
        } else if (strcmp(env.type, "probe") == 0 || strcmp(env.type, "probe_n") == 0) {
            expect_probe(out, payload, id, env.type[5] == '_');
        } else {
            expect_error(out, "UNKNOWN_TYPE", "unknown message type", id);
        }
    }
    json_decref(msg);
    json_decref(sent);
    return 0;
}
