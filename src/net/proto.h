/* proto.h - the v1 wire envelope and the dispatch table from message type to handler.
 *
 * Each whole text message is checked in the order docs/contract/PROTOCOL.md fixes: JSON (BAD_JSON),
 * envelope shape and nesting depth (BAD_MESSAGE), type known (UNKNOWN_TYPE); then the handler
 * registered for the type checks its payload fields (BAD_MESSAGE) and does its work. Modules
 * add their message types with proto_register() at start-up, so this file never learns about
 * games or rooms.
 *
 * Every direct answer to a request goes through proto_reply() or proto_error(), which add
 * "re" when the request carried an "id". Loop thread only. */
#ifndef MT_PROTO_H
#define MT_PROTO_H

#include "json_text.h"
#include "session.h"

#include <jansson.h>
#include <stdint.h>

struct proto_request {
    struct session *s;
    const char *type;
    json_t *id;      /* borrowed; NULL when the client sent none */
    json_t *payload; /* borrowed; always an object */
    uint64_t start_us;
};

typedef void (*proto_handler)(struct proto_request *r);

/* A message that nests arrays and objects deeper than this (the envelope object is level 1)
 * gets BAD_MESSAGE, with re when its id is readable, and reaches no handler. */
#define PROTO_MAX_NESTING JSON_TEXT_MAX_NESTING

/* Sets up the table and registers the core types (heartbeat). Returns 0, or -1 on OOM. */
int proto_init(void);
void proto_free(void);

/* Adds a handler for type (a static string). Returns 0, or -1 on OOM or a duplicate. */
int proto_register(const char *type, proto_handler fn);

/* The ws_handlers that connect the socket layer to the table. */
void proto_on_open(struct session *s, const char *guest_token);
void proto_on_message(struct session *s, const char *data, size_t len);
void proto_on_refused(struct session *s, const char *code);

/* The envelope fields of a message, as proto_check_envelope found them: borrowed from it. */
struct proto_envelope {
    json_t *id;       /* NULL when absent, or when the message is not an object or id is bad */
    const char *type; /* NULL unless the whole envelope is valid */
    json_t *payload;  /* NULL unless the whole envelope is valid */
};

/* Step 2 of the check order (docs/protocol.md): parses one text message. Returns a new
 * reference, or NULL when it is not JSON (BAD_JSON): any value at the top level, duplicate keys
 * and numbers out of range refused, text UTF-8. With NULL, *nested_too_deep (may be NULL) says
 * whether jansson gave up on its own nesting limit (BAD_MESSAGE, not BAD_JSON). Touches no session
 * and no metric. */
json_t *proto_parse(const char *data, size_t len, int *nested_too_deep);

/* Step 3: the envelope of a parsed message. Checks, in this order: msg is an object; "id" is
 * absent, a number or a string of at most 128 bytes; arrays and objects nest at most
 * PROTO_MAX_NESTING levels; "type" is a string; "payload" is an
 * object. Returns NULL when all hold, with env filled. Otherwise returns the BAD_MESSAGE text
 * of the first check that failed, with env->id the id the error carries as "re" (NULL for the
 * first two checks). Pure: reads msg only; does not look up the type. */
const char *proto_check_envelope(const json_t *msg, struct proto_envelope *env);

/* Sends {type, payload, re?} to the requester. Takes ownership of payload (NULL: {}). */
void proto_reply(struct proto_request *r, const char *type, json_t *payload);

/* Sends error {code, message} (with re) to the requester and counts it. Every error carries a
 * code (NULL becomes INTERNAL) and a message: an empty one gets a generic text, and bytes that
 * are not UTF-8 become '?'. */
void proto_error(struct proto_request *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends error {code, message} to s, with re when re is not NULL, and counts it: for answers
 * given later than the handler (a quick match made when another player arrives). */
void proto_error_to(struct session *s, json_t *re, const char *code, const char *message);

/* Payload field readers. Each returns 0 with *out set (NULL / unchanged when the field is
 * absent and optional), or -1 after answering BAD_MESSAGE naming the field. */
int proto_string(struct proto_request *r, const char *key, int required, size_t max_len,
                 const char **out);
int proto_integer(struct proto_request *r, const char *key, int required, long min, long max,
                  long *out);

#endif
