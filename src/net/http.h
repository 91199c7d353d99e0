/* http.h - HTTP requests on the shared port: routing, JSON answers, deferred answers.
 *
 * The socket layer (ws.c) turns an lws HTTP transaction into a struct http_exchange, with the
 * headers handlers may need copied out (lws frees its header table early), and hands it to
 * http_dispatch(). A handler answers at once or later (from another callback, for example when
 * a password hash finishes on a worker): either way by exactly one http_respond*() call. If the
 * client went away before the answer, the answer is dropped and the exchange freed then.
 *
 * Routes are a table of (method, pattern, handler). A pattern segment ":name" matches one path
 * segment, read back with http_param(). A path that matches no pattern answers 404; a path that
 * matches only with another method answers 405 with Allow. Loop thread only. */
#ifndef MT_HTTP_H
#define MT_HTTP_H

#include <jansson.h>
#include <stddef.h>

struct lws;

enum http_method {
    HTTP_GET,
    HTTP_HEAD,
    HTTP_POST,
    HTTP_PUT,
    HTTP_DELETE,
    HTTP_PATCH,
    HTTP_OPTIONS,
    HTTP_OTHER
};

#define HTTP_MAX_PARAMS 4

struct http_exchange {
    struct lws *wsi; /* NULL once the connection has closed */
    enum http_method method;
    char path[512];
    char query[1024];
    char authorization[1024];
    char accept_encoding[128];
    char if_none_match[80];
    char peer[48];
    long content_length; /* -1 when absent */
    char *body;
    size_t body_len;
    int body_too_large;

    const char *param_names[HTTP_MAX_PARAMS];
    char param_values[HTTP_MAX_PARAMS][128];
    int nparams;

    /* The answer, once given. */
    int responded;
    int status;
    char *resp_body; /* LWS_PRE bytes of headroom before it */
    size_t resp_len;
    char content_type[64];
    char etag[80];
    char vary[32];
    char content_encoding[16];
    char allow[64];
    char cache_control[64];
    int retry_after_s; /* > 0: a retry-after header (429) */
    int html;          /* add the page security headers (CSP) */
};

typedef void (*http_handler)(struct http_exchange *x);

/* Registers the HTTP metrics (http_requests_total); before any answer is counted. Returns 0, or
 * -1 on OOM. */
int http_init(void);

/* Counts one answer with this status in http_requests_total: every http_respond*(), and the
 * answers the socket layer writes itself (a refused WebSocket upgrade). */
void http_count_status(int status);

/* Adds a route. pattern is static ("/api/games/:id/join"). Returns 0, or -1 when full. */
int http_route(enum http_method method, const char *pattern, http_handler fn);

/* The fallback for GET/HEAD paths no route matched (static files), or NULL for 404. */
void http_set_fallback(http_handler fn);

/* Routes x to its handler (or answers 404/405/413 itself). */
void http_dispatch(struct http_exchange *x);

/* The value of a ":name" segment of the matched pattern, or NULL. */
const char *http_param(const struct http_exchange *x, const char *name);

/* Answers with a body (copied). content_type NULL means application/json. */
void http_respond(struct http_exchange *x, int status, const char *content_type, const char *body,
                  size_t len);

/* Answers with JSON; takes ownership of body. */
void http_respond_json(struct http_exchange *x, int status, json_t *body);

/* Answers {"error": {"code", "message"}} with status. Bytes of message that are not UTF-8
 * become '?'. */
void http_respond_error(struct http_exchange *x, int status, const char *code, const char *message);

/* Answers 429 RATE_LIMIT_EXCEEDED with message and a retry-after header of retry_after_s
 * seconds (at least 1). */
void http_respond_rate_limited(struct http_exchange *x, int retry_after_s, const char *message);

/* Parses the request body as a JSON object nested at most JSON_TEXT_MAX_NESTING levels deep.
 * On failure answers 400 BAD_JSON / BAD_MESSAGE (not an object, or nested too deeply) and
 * returns NULL; otherwise returns a new reference the caller releases. An empty body gives an
 * empty object. */
json_t *http_body_object(struct http_exchange *x);

/* Every 429 and 503 carries Retry-After, in seconds (RFC 9110 10.2.3), so that clients back off
 * by the server's measure:
 * - 429 (failed logins): a minute, as the message says; both failure buckets are full again by
 *   then, and a password guesser gains nothing by coming back sooner.
 * - 503 (shutting down, too many connections, room limit, store refusing writes, out of memory,
 *   not ready): 5 s, about what a restart or a freed slot takes, short enough that a client
 *   gives up little time when the server recovers sooner. */
#define HTTP_RETRY_AFTER_429 60
#define HTTP_RETRY_AFTER_503 5

/* The Retry-After header line for status, with its CRLF ("retry-after: 5\r\n"), or "" when
 * the status takes none. For answers written by hand (refused upgrades). */
const char *http_retry_after_line(int status);

/* --- for ws.c --- */

/* Allocates an exchange for wsi. NULL on OOM. */
struct http_exchange *http_exchange_new(struct lws *wsi);

/* The connection closed: frees x now, or marks it so the pending answer frees it. */
void http_exchange_detach(struct http_exchange *x);

/* Writes the answer from the WRITEABLE callback. Returns what the callback must return (0 to
 * keep the connection for the next request, -1 to close it). Frees x. */
int http_exchange_write(struct http_exchange *x);

/* Forgets every route and the fallback (routes hold no memory). At shutdown, after the last
 * request. */
void http_free_routes(void);

#endif
