#include "http.h"

#include "json_text.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "util.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct route {
    enum http_method method;
    const char *pattern;
    http_handler fn;
};

#define MAX_ROUTES 64
static struct route routes[MAX_ROUTES];
static int n_routes;
static http_handler fallback;
static struct metric *m_http_requests;

#define STRINGIFY(x) #x
#define DECIMAL(x) STRINGIFY(x)

static const char *const method_names[] = {"GET",    "HEAD",  "POST",    "PUT",
                                           "DELETE", "PATCH", "OPTIONS", "OTHER"};

int http_init(void)
{
    m_http_requests = metrics_counter("http_requests_total", "HTTP requests, by status", "status");
    return m_http_requests ? 0 : -1;
}

void http_count_status(int status)
{
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    metric_add(m_http_requests, st, 1);
}

int http_route(enum http_method method, const char *pattern, http_handler fn)
{
    if (n_routes == MAX_ROUTES) return -1;
    routes[n_routes++] = (struct route){method, pattern, fn};
    return 0;
}

void http_set_fallback(http_handler fn)
{
    fallback = fn;
}

void http_free_routes(void)
{
    n_routes = 0;
    fallback = NULL;
}

/* Matches path against pattern segment by segment, capturing ":name" segments into x. */
static int match(const char *pattern, const char *path, struct http_exchange *x)
{
    x->nparams = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/') return 0;
        pattern++, path++;
        const char *pe = strchr(pattern, '/'), *se = strchr(path, '/');
        size_t pl = pe ? (size_t)(pe - pattern) : strlen(pattern);
        size_t sl = se ? (size_t)(se - path) : strlen(path);
        if (pattern[0] == ':') {
            if (sl == 0 || sl >= sizeof x->param_values[0] || x->nparams == HTTP_MAX_PARAMS)
                return 0;
            x->param_names[x->nparams] = pattern + 1;
            memcpy(x->param_values[x->nparams], path, sl);
            x->param_values[x->nparams][sl] = '\0';
            x->nparams++;
        } else if (pl != sl || strncmp(pattern, path, pl) != 0) {
            return 0;
        }
        pattern += pl, path += sl;
    }
    return *pattern == '\0' && *path == '\0';
}

const char *http_param(const struct http_exchange *x, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < x->nparams; i++)
        if (strncmp(x->param_names[i], name, n) == 0 &&
            (x->param_names[i][n] == '\0' || x->param_names[i][n] == '/'))
            return x->param_values[i];
    return NULL;
}

void http_dispatch(struct http_exchange *x)
{
    if (x->body_too_large) {
        http_respond_error(x, 413, "TOO_LARGE", "request body too large");
        return;
    }
    char allow[64] = "";
    for (int i = 0; i < n_routes; i++) {
        if (!match(routes[i].pattern, x->path, x)) continue;
        enum http_method m = x->method == HTTP_HEAD ? HTTP_GET : x->method;
        if (routes[i].method == m) {
            routes[i].fn(x);
            return;
        }
        size_t al = strlen(allow);
        snprintf(allow + al, sizeof allow - al, "%s%s", al ? ", " : "",
                 method_names[routes[i].method]);
    }
    if (*allow) {
        util_strlcpy(x->allow, allow, sizeof x->allow);
        http_respond_error(x, 405, "METHOD_NOT_ALLOWED", "method not allowed for this path");
        return;
    }
    if (fallback && (x->method == HTTP_GET || x->method == HTTP_HEAD)) {
        fallback(x);
        return;
    }
    http_respond_error(x, 404, "NOT_FOUND", "no such path");
}

struct http_exchange *http_exchange_new(struct lws *wsi)
{
    struct http_exchange *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->wsi = wsi;
    x->content_length = -1;
    return x;
}

static void exchange_free(struct http_exchange *x)
{
    free(x->body);
    free(x->resp_body ? x->resp_body - LWS_PRE : NULL);
    free(x);
}

void http_exchange_detach(struct http_exchange *x)
{
    if (x->responded || !x->wsi) {
        exchange_free(x);
        return;
    }
    x->wsi = NULL; /* an answer still to come frees it */
}

void http_respond(struct http_exchange *x, int status, const char *content_type, const char *body,
                  size_t len)
{
    if (x->responded) return;
    if (!x->wsi) { /* the client left while we were working */
        exchange_free(x);
        return;
    }
    char *buf = malloc(LWS_PRE + len + 1);
    if (!buf) {
        status = 503, body = "", len = 0;
        buf = malloc(LWS_PRE + 1);
        if (!buf) return; /* nothing more can be done; lws times the connection out */
    }
    x->resp_body = buf + LWS_PRE;
    memcpy(x->resp_body, body, len);
    x->resp_len = len;
    x->status = status;
    util_strlcpy(x->content_type, content_type ? content_type : "application/json",
                 sizeof x->content_type);
    x->responded = 1;
    http_count_status(status);
    lws_callback_on_writable(x->wsi);
    loop_pump_soon();
}

void http_respond_json(struct http_exchange *x, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(body);
    if (!text) {
        http_respond(x, 503, NULL,
                     "{\"error\":{\"code\":\"SERVER_BUSY\",\"message\":\"out of memory\"}}", 58);
        return;
    }
    http_respond(x, status, NULL, text, strlen(text));
    free(text);
}

void http_respond_error(struct http_exchange *x, int status, const char *code, const char *message)
{
    /* jansson refuses invalid UTF-8, and a game's setup error may hold any bytes: without this
     * the answer would be a 503 "out of memory". */
    char text[512];
    util_strlcpy(text, message, sizeof text);
    util_utf8_scrub(text);
    http_respond_json(x, status, json_pack("{s{ss,ss}}", "error", "code", code, "message", text));
}

static const char too_deep[] = "request body may nest arrays and objects at most " DECIMAL(
    JSON_TEXT_MAX_NESTING) " levels deep";

/* Why a parsed body is refused (400 BAD_MESSAGE), or NULL. */
static const char *body_shape_error(const json_t *v)
{
    if (!json_is_object(v)) return "request body must be a JSON object";
    if (json_text_depth(v, JSON_TEXT_MAX_NESTING) > JSON_TEXT_MAX_NESTING) return too_deep;
    return NULL;
}

void http_respond_rate_limited(struct http_exchange *x, int retry_after_s, const char *message)
{
    x->retry_after_s = retry_after_s > 0 ? retry_after_s : 1;
    http_respond_error(x, 429, "RATE_LIMIT_EXCEEDED", message);
}

json_t *http_body_object(struct http_exchange *x)
{
    if (!x->body_len) return json_object();
    json_error_t err;
    json_t *v = json_loadb(x->body, x->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!v && json_error_code(&err) == json_error_stack_overflow) { /* past jansson's 2048 */
        http_respond_error(x, 400, "BAD_MESSAGE", too_deep);
        return NULL;
    }
    if (!v) {
        http_respond_error(x, 400, "BAD_JSON", "request body is not valid JSON");
        return NULL;
    }
    const char *bad = body_shape_error(v);
    if (bad) {
        json_decref(v);
        http_respond_error(x, 400, "BAD_MESSAGE", bad);
        return NULL;
    }
    return v;
}

/* The Retry-After value for status, or NULL. */
static const char *retry_after(int status)
{
    return status == 429   ? DECIMAL(HTTP_RETRY_AFTER_429)
           : status == 503 ? DECIMAL(HTTP_RETRY_AFTER_503)
                           : NULL;
}

const char *http_retry_after_line(int status)
{
    return status == 429   ? "retry-after: " DECIMAL(HTTP_RETRY_AFTER_429) "\r\n"
           : status == 503 ? "retry-after: " DECIMAL(HTTP_RETRY_AFTER_503) "\r\n"
                           : "";
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

static const char page_csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

int http_exchange_write(struct http_exchange *x)
{
    struct lws *wsi = x->wsi;
    unsigned char hdr[LWS_PRE + 2048], *start = hdr + LWS_PRE, *p = start,
                                       *end = hdr + sizeof hdr - 1;
    int head_only = x->method == HTTP_HEAD || x->status == 304;
    int rc = lws_add_http_common_headers(
        wsi, (unsigned int)x->status, x->content_type,
        x->status == 304 ? LWS_ILLEGAL_HTTP_CONTENT_LEN : (lws_filepos_t)x->resp_len, &p, end);
    rc |= add_header(wsi, "x-content-type-options:", "nosniff", &p, end);
    rc |= add_header(wsi, "referrer-policy:", "no-referrer", &p, end);
    if (x->html) {
        rc |= add_header(wsi, "content-security-policy:", page_csp, &p, end);
        rc |= add_header(wsi, "x-frame-options:", "DENY", &p, end);
    }
    if (*x->etag) rc |= add_header(wsi, "etag:", x->etag, &p, end);
    if (*x->vary) rc |= add_header(wsi, "vary:", x->vary, &p, end);
    if (*x->content_encoding)
        rc |= add_header(wsi, "content-encoding:", x->content_encoding, &p, end);
    if (*x->allow) rc |= add_header(wsi, "allow:", x->allow, &p, end);
    if (x->retry_after_s > 0) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", x->retry_after_s);
        rc |= add_header(wsi, "retry-after:", secs, &p, end);
    } else if (retry_after(x->status)) {
        rc |= add_header(wsi, "retry-after:", retry_after(x->status), &p, end);
    }
    rc |= add_header(wsi, "cache-control:", *x->cache_control ? x->cache_control : "no-store", &p,
                     end);
    if (rc || lws_finalize_write_http_header(wsi, start, &p, end)) {
        http_exchange_detach(x);
        return -1;
    }
    if (!head_only && x->resp_len &&
        lws_write(wsi, (unsigned char *)x->resp_body, x->resp_len, LWS_WRITE_HTTP_FINAL) <
            (int)x->resp_len) {
        exchange_free(x);
        return -1;
    }
    exchange_free(x);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}
