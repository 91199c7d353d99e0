#include "ws.h"

#include "auth.h" /* tokens are checked at the upgrade: the one use of src/account here */
#include "cidr.h"
#include "http.h"
#include "linger.h"
#include "log.h"
#include "loop.h"
#include "rx_guard.h"
#include "uv_poll.h"
#include "ws_frame.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

/* Per-connection state. lws zeroes it when the connection is accepted and keeps it across the
 * upgrade, because HTTP and WebSocket share our one protocol. */
struct conn {
    struct http_exchange *http;
    struct session *session;
    struct identity who;
    int guest; /* who was made up at upgrade: issue a token in welcome */
    int text;  /* upgraded on /text: a line-oriented socket (session.text) */
};

/* Descriptors kept out of lws's table for lingering closes (linger.h). */
enum { LINGER_RESERVE = 64 };

static struct lws_context *context;
static struct ws_handlers handlers;
static const struct config *cfg;
static int draining;
static void (*drained)(void);
/* Keepalive is ours (session.c): lws 4.1 keeps its validity timers in one sorted list and
 * re-inserts a connection's timer on every frame it receives, O(n) each, which stalled the
 * loop for seconds with 10,000 sockets. A policy of zeros switches lws's off. */
static const lws_retry_bo_t no_lws_keepalive = {.secs_since_valid_ping = 0,
                                                .secs_since_valid_hangup = 0};
/* Sessions whose frames the guard refused (linked by refused_next), failed by refusals_ev
 * once lws has returned from the read. */
static struct session *refused;
static struct event *refusals_ev;

static void copy_header(struct lws *wsi, enum lws_token_indexes h, char *dst, size_t len)
{
    dst[0] = '\0';
    int n = lws_hdr_total_length(wsi, h);
    if (n > 0 && (size_t)n < len) lws_hdr_copy(wsi, dst, (int)len, h);
}

/* The client's address (out[CIDR_ADDR_LEN]): the peer's, or behind a proxy listed in
 * --trusted-proxies what its X-Forwarded-For says (cidr.h). Every per-address limit and log
 * line uses this. */
static struct cidr_list trusted_proxies;
static void client_address(struct lws *wsi, char *out)
{
    char peer[CIDR_ADDR_LEN] = "", xff[CIDR_XFF_MAX + 1] = "";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    if (trusted_proxies.n) copy_header(wsi, WSI_TOKEN_X_FORWARDED_FOR, xff, sizeof xff);
    cidr_client_address(&trusted_proxies, peer, xff, out);
}

static enum http_method request_method(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        enum http_method m;
    } methods[] = {{WSI_TOKEN_GET_URI, HTTP_GET},        {WSI_TOKEN_POST_URI, HTTP_POST},
                   {WSI_TOKEN_HEAD_URI, HTTP_HEAD},      {WSI_TOKEN_PUT_URI, HTTP_PUT},
                   {WSI_TOKEN_DELETE_URI, HTTP_DELETE},  {WSI_TOKEN_PATCH_URI, HTTP_PATCH},
                   {WSI_TOKEN_OPTIONS_URI, HTTP_OPTIONS}};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (lws_hdr_total_length(wsi, methods[i].tok) > 0) return methods[i].m;
    return HTTP_OTHER;
}

/* Rejects an upgrade with a JSON error body (and retry-after for a 429). Returns the
 * CONFIRM_UPGRADE "handled" value.
 * The response is written whole by hand: lws's header helpers answer HTTP/1.0 at this stage,
 * which strict WebSocket clients refuse to parse. */
static int refuse_upgrade_after(struct lws *wsi, int status, const char *code, const char *message,
                                int retry_after_s)
{
    char body[256], resp[LWS_PRE + 512], retry[40] = "";
    int blen = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code,
                        message);
    const char *text = status == 401   ? "Unauthorized"
                       : status == 404 ? "Not Found"
                       : status == 429 ? "Too Many Requests"
                                       : "Service Unavailable";
    if (status == 429) snprintf(retry, sizeof retry, "retry-after: %d\r\n", retry_after_s);
    int n = snprintf(resp + LWS_PRE, sizeof resp - LWS_PRE,
                     "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                     "%sconnection: close\r\n\r\n%s",
                     status, text, blen, *retry ? retry : http_retry_after_line(status), body);
    http_count_status(status);
    lws_write(wsi, (unsigned char *)resp + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_FINAL);
    return 1;
}

static int refuse_upgrade(struct lws *wsi, int status, const char *code, const char *message)
{
    return refuse_upgrade_after(wsi, status, code, message, 0);
}

/* Finds the upgrade's token: ?token=... first, then Authorization: Bearer. Returns 1 with the
 * token copied, 0 when there is none, -1 when one is there but longer than any we issue. */
static int upgrade_token(struct lws *wsi, char *token, size_t len)
{
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    char arg[1100];
    if (n > 0) {
        const char *value = lws_get_urlarg_by_name(wsi, "token=", arg, (int)sizeof arg);
        if (value && *value) { /* arg holds "token=..."; value points past the name */
            util_strlcpy(token, value, len);
            return 1;
        }
        if (!value && n >= (int)sizeof arg - 8) return -1; /* a query too long to hold a token */
    }
    n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 0) return 0;
    if (n >= (int)sizeof arg) return -1;
    copy_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, arg, sizeof arg);
    if (strncasecmp(arg, "Bearer ", 7) != 0 || !arg[7]) return -1;
    util_strlcpy(token, arg + 7, len);
    return 1;
}

/* Decides who the upgrading client is: the token's player, or a new guest. Returns 0, or -1
 * with why filled (the client gets 401). */
static int identify(struct lws *wsi, struct identity *who, int *guest, char *why, size_t whylen)
{
    char token[1100];
    *guest = 0;
    int found = upgrade_token(wsi, token, sizeof token);
    if (found < 0) {
        util_strlcpy(why, "malformed or oversized token", whylen);
        return -1;
    }
    if (found) return auth_verify(token, who, why, whylen);
    if (!cfg->allow_guests) {
        util_strlcpy(why, "a token is required", whylen);
        return -1;
    }
    auth_new_guest(who);
    *guest = 1;
    return 0;
}

/* The first look at an upgrade, while an HTTP answer can still be given (lws has no
 * per-connection state for us yet: the identity is settled again at the protocol filter). */
static int on_confirm_upgrade(struct lws *wsi)
{
    char path[256];
    copy_header(wsi, WSI_TOKEN_GET_URI, path, sizeof path);
    if (strcmp(path, "/ws") != 0 && strcmp(path, "/text") != 0)
        return refuse_upgrade(wsi, 404, "NOT_FOUND", "WebSocket endpoints are /ws and /text");
    if (draining) return refuse_upgrade(wsi, 503, "SERVER_BUSY", "server is shutting down");
    if (session_count() >= (size_t)cfg->max_connections)
        return refuse_upgrade(wsi, 503, "SERVER_BUSY", "too many connections");
    struct identity who;
    int guest;
    char why[128];
    if (identify(wsi, &who, &guest, why, sizeof why) < 0) {
        log_msg(LOG_INFO, "upgrade refused", "{ss}", "reason", why);
        return refuse_upgrade(wsi, 401, "UNAUTHORIZED", why);
    }
    if (guest && handlers.admit_guest) { /* asked once: not again at the protocol filter */
        char peer[CIDR_ADDR_LEN];
        int retry_after_s = 0;
        client_address(wsi, peer);
        if (!handlers.admit_guest(peer, &retry_after_s))
            return refuse_upgrade_after(wsi, 429, "RATE_LIMIT_EXCEEDED",
                                        "too many new guests from this address", retry_after_s);
    }
    return 0;
}

/* From the next byte read, the connection is a WebSocket stream for the guard. */
static void on_upgraded(struct lws *wsi, struct conn *c)
{
    struct rx_guard *g = lws_get_opaque_user_data(wsi);
    if (!g) return;
    g->owner = c;
    rx_guard_upgraded(g);
}

static int on_established(struct lws *wsi, struct conn *c)
{
    char peer[CIDR_ADDR_LEN];
    client_address(wsi, peer);
    c->session = session_new(wsi, &c->who, peer);
    if (!c->session) return -1;
    c->session->text = (uint8_t)c->text;
    char *token = c->guest ? auth_issue(&c->who, 0) : NULL;
    log_msg(LOG_DEBUG, "socket opened", "{ss,ss,ss}", "conn", c->session->session_id, "player",
            c->who.player_id, "peer", peer);
    if (handlers.on_open) handlers.on_open(c->session, token);
    free(token);
    return 0;
}

/* Appends one received fragment. Whole messages go up; binary and oversized ones are refused.
 * An oversized message is answered at once and the socket closed with 1009 right after; what
 * the client still sends is read and discarded until then, and by the lingering close after
 * (linger.h), so that the client, still sending, does not get a reset instead of the error and
 * the close frame. */
static int on_receive(struct lws *wsi, struct session *s, const char *in, size_t len)
{
    int first = lws_is_first_fragment(wsi);
    int last = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
    session_heard(s);
    if (s->input_closed) return 0;
    if (first && last && !lws_frame_is_binary(wsi) && len <= (size_t)cfg->max_message_bytes) {
        /* A whole message in one piece, the usual case: no copy, no buffer kept. */
        s->rx_len = 0;
        s->rx_discard = 0;
        if (handlers.on_message) handlers.on_message(s, in, len);
        return 0;
    }
    if (first) {
        s->rx_len = 0;
        s->rx_discard = 0;
        if (lws_frame_is_binary(wsi)) {
            s->rx_discard = 1;
            if (handlers.on_refused) handlers.on_refused(s, "BAD_MESSAGE");
        }
    }
    if (s->rx_discard) return 0;
    if (s->rx_len + len > (size_t)cfg->max_message_bytes) {
        if (handlers.on_refused) handlers.on_refused(s, "TOO_LARGE");
        session_fail(s, 1009, "message too large");
        return 0;
    }
    if (s->rx_len + len > s->rx_cap) {
        size_t cap = s->rx_cap ? s->rx_cap : 1024;
        while (cap < s->rx_len + len)
            cap *= 2;
        char *grown = realloc(s->rx, cap);
        if (!grown) return -1;
        s->rx = grown;
        s->rx_cap = cap;
    }
    memcpy(s->rx + s->rx_len, in, len);
    s->rx_len += len;
    if (last) {
        size_t n = s->rx_len;
        s->rx_len = 0;
        if (handlers.on_message) handlers.on_message(s, s->rx, n);
        /* Fragmented messages are rare: give the buffer back rather than keep it per socket. */
        free(s->rx);
        s->rx = NULL;
        s->rx_cap = 0;
    }
    return 0;
}

static int on_http(struct lws *wsi, struct conn *c, const char *uri)
{
    if (c->http) http_exchange_detach(c->http); /* a pipelined request replaces an old one */
    struct http_exchange *x = c->http = http_exchange_new(wsi);
    if (!x) return -1;
    x->method = request_method(wsi);
    util_strlcpy(x->path, uri, sizeof x->path);
    copy_header(wsi, WSI_TOKEN_HTTP_URI_ARGS, x->query, sizeof x->query);
    copy_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, x->authorization, sizeof x->authorization);
    copy_header(wsi, WSI_TOKEN_HTTP_ACCEPT_ENCODING, x->accept_encoding, sizeof x->accept_encoding);
    copy_header(wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH, x->if_none_match, sizeof x->if_none_match);
    client_address(wsi, x->peer);
    char cl[24];
    copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof cl);
    if (*cl) x->content_length = strtol(cl, NULL, 10);
    if (draining) {
        http_respond_error(x, 503, "SERVER_BUSY", "server is shutting down");
        return 0;
    }
    if (x->content_length > cfg->max_body_bytes) {
        x->body_too_large = 1;
        http_dispatch(x);
        return 0;
    }
    if (x->content_length < 0 && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        /* lws does not decode chunked request bodies: ask for a Content-Length instead. */
        http_respond_error(x, 411, "LENGTH_REQUIRED", "send the body with a Content-Length");
        return 0;
    }
    if (x->content_length <= 0) http_dispatch(x);
    return 0; /* with a body: dispatch at LWS_CALLBACK_HTTP_BODY_COMPLETION */
}

static int on_http_body(struct conn *c, const char *in, size_t len)
{
    struct http_exchange *x = c->http;
    if (!x || x->responded || x->body_too_large) return 0;
    if (x->body_len + len > (size_t)cfg->max_body_bytes) {
        x->body_too_large = 1;
        return 0;
    }
    char *grown = realloc(x->body, x->body_len + len + 1);
    if (!grown) return -1;
    x->body = grown;
    memcpy(x->body + x->body_len, in, len);
    x->body_len += len;
    x->body[x->body_len] = '\0';
    return 0;
}

/* A client's close frame, before lws answers it with the same code. lws 4.1 answers any
 * payload: it turns most invalid codes into 1002 but echoes codes of 5000 and more, a 1-byte
 * payload and a reason that is not UTF-8. Those get our own close frame instead. */
static int on_peer_close(struct session *s, const unsigned char *in, size_t len)
{
    const char *why = NULL;
    int code = ws_frame_close_check(in, len, &why);
    if (!code) return 0;
    log_msg(LOG_INFO, "invalid close frame", "{ss,ss,si}", "conn", s->session_id, "reason", why,
            "close_code", code);
    session_close_now(s, code, why);
    return -1;
}

/* Called inside recv(), inside lws: only note the refusal (a guard refuses once); on_refusals
 * acts after. */
static void on_guard_refused(struct rx_guard *g)
{
    struct conn *c = g->owner;
    struct session *s = c ? c->session : NULL;
    if (!s || s->rx_refused) return;
    s->rx_refused = g->why;
    s->refused_next = refused;
    refused = s;
    event_active(refusals_ev, EV_TIMEOUT, 0);
}

static void on_refusals(evutil_socket_t fd, short what, void *arg)
{
    while (refused) {
        struct session *s = refused;
        refused = s->refused_next;
        s->refused_next = NULL;
        log_msg(LOG_INFO, "protocol error: closing", "{ss,ss,si}", "conn", s->session_id, "reason",
                s->rx_refused, "close_code", 1002);
        session_fail(s, 1002, s->rx_refused);
    }
}

/* A session closed before on_refusals ran leaves the list. */
static void forget_refusal(struct session *s)
{
    if (!s->rx_refused) return;
    for (struct session **p = &refused; *p; p = &(*p)->refused_next)
        if (*p == s) {
            *p = s->refused_next;
            return;
        }
}

static void on_closed(struct lws *wsi, struct conn *c)
{
    struct session *s = c->session;
    if (!s) return;
    c->session = NULL;
    log_msg(LOG_DEBUG, "socket closed", "{ss,ss}", "conn", s->session_id, "player",
            s->who.player_id);
    if (s->close_sent) linger_start(lws_get_socket_fd(wsi));
    forget_refusal(s);
    if (handlers.on_close) handlers.on_close(s);
    s->wsi = NULL;
    session_free(s);
    if (draining && session_count() == 0 && drained) {
        void (*done)(void) = drained;
        drained = NULL;
        done();
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(wsi, c, in);
    case LWS_CALLBACK_HTTP_BODY:
        return on_http_body(c, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (c->http && !c->http->responded) http_dispatch(c->http);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (c->http && c->http->responded) {
            struct http_exchange *x = c->http;
            c->http = NULL;
            return http_exchange_write(x);
        }
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c && c->http) {
            http_exchange_detach(c->http);
            c->http = NULL;
        }
        return 0;
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        /* The connection has no user space yet: its guard hangs on the wsi itself. */
        lws_set_opaque_user_data(wsi, rx_guard_attach(lws_get_socket_fd(wsi)));
        return 0;
    case LWS_CALLBACK_WSI_DESTROY: {
        struct rx_guard *g = lws_get_opaque_user_data(wsi);
        lws_set_opaque_user_data(wsi, NULL);
        if (g) rx_guard_detach(g); /* lws has just closed the descriptor */
        return 0;
    }
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return on_confirm_upgrade(wsi);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char why[128], path[16];
        copy_header(wsi, WSI_TOKEN_GET_URI, path, sizeof path);
        c->text = strcmp(path, "/text") == 0;
        return identify(wsi, &c->who, &c->guest, why, sizeof why) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_ESTABLISHED:
        on_upgraded(wsi, c);
        if (c->http) {
            http_exchange_detach(c->http);
            c->http = NULL;
        }
        return on_established(wsi, c);
    case LWS_CALLBACK_RECEIVE:
        return c->session ? on_receive(wsi, c->session, in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c->session) session_heard(c->session);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        return c->session ? on_peer_close(c->session, in, len) : 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c->session ? session_write_some(c->session) : -1;
    case LWS_CALLBACK_CLOSED:
        on_closed(wsi, c);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static struct lws_protocols protocols[] = {
    /* rx_buffer_size: lws allocates it per connection; 1 KiB keeps idle sockets cheap, and
     * larger messages simply arrive in more pieces (on_receive reassembles them).
     * tx_packet_size: without it lws would cut every send into rx_buffer_size pieces. */
    {"monkeytown", callback, sizeof(struct conn), 1024, 0, NULL, 1 << 20},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws's own error lines, at most LWS_LOG_BURST per ten seconds: when descriptors run out it
 * writes two lines for every connection it refuses, and a flood of clients must not become a
 * flood of logs. The count of lines left out is logged with the next line let through. */
enum { LWS_LOG_BURST = 20, LWS_LOG_WINDOW_MS = 10000 };

static void lws_log(int level, const char *line)
{
    static uint64_t window_start;
    static int in_window, suppressed;
    uint64_t now = loop_now_ms();
    if (now - window_start >= LWS_LOG_WINDOW_MS) {
        window_start = now;
        in_window = 0;
    }
    if (++in_window > LWS_LOG_BURST) {
        suppressed++;
        return;
    }
    char msg[256];
    util_strlcpy(msg, line, sizeof msg);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_msg(level == LLL_ERR ? LOG_ERROR : LOG_WARN, "libwebsockets", "{ss,si}", "detail", msg,
            "suppressed_before", suppressed);
    suppressed = 0;
}

/* The process may hold as many sockets as its hard open-file limit allows; lws sizes its fd
 * table from the soft limit, so raise that first. */
static unsigned int raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur > 1000000 ? 1000000 : (unsigned int)rl.rlim_cur;
}

/* Creates the lws context with a table of lws_fds descriptors. lws sizes its table from the
 * soft open-file limit, so that limit is lowered while the context is made and raised again
 * after. (info.fd_limit_per_thread would do the same on paper, but below the ulimit lws 4.1
 * finds a socket's connection by a linear scan of its table on every event: half the loop
 * thread's time at 10,000 sockets.) With the table smaller than the process limit, lws stops
 * accepting when its table is full instead of spinning on accept() failing with EMFILE. */
static struct lws_context *create_context(const struct lws_context_creation_info *info,
                                          unsigned int lws_fds)
{
    struct rlimit full, lowered;
    int lowered_ok = 0;
    if (getrlimit(RLIMIT_NOFILE, &full) == 0 && full.rlim_cur > lws_fds) {
        lowered = full;
        lowered.rlim_cur = lws_fds;
        lowered_ok = setrlimit(RLIMIT_NOFILE, &lowered) == 0;
    }
    struct lws_context *cx = lws_create_context(info);
    if (lowered_ok) setrlimit(RLIMIT_NOFILE, &full);
    return cx;
}

int ws_init(const struct config *config, const struct ws_handlers *h)
{
    cfg = config;
    handlers = *h;
    char err[160];
    if (cidr_list_parse(cfg->trusted_proxies, &trusted_proxies, err, sizeof err) < 0) return -1;
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);

    unsigned int fds = raise_fd_limit();
    /* Keep some descriptors for files, the database and the watcher, so that when sockets run
     * out the answer is a clean 503 from the max-connections check, not a failed accept. */
    /* Two reserves. The process keeps FILE_RESERVE descriptors for itself (the store, the
     * database, Redis, inotify, pipes, lingering closes): lws is told it may use only the
     * rest, and when its table is full it stops accepting instead of spinning on accept()
     * failing with EMFILE.
     * Of lws's share, HTTP_RESERVE stay free of WebSocket sessions, so a client beyond
     * max-connections is still accepted and gets its 503, and /health answers. */
    const unsigned int file_reserve = 32 + LINGER_RESERVE, http_reserve = 64;
    unsigned int lws_fds = fds > file_reserve + http_reserve + 2 ? fds - file_reserve : fds;
    unsigned int ws_max = lws_fds > http_reserve * 2 ? lws_fds - http_reserve : 1;
    if ((unsigned int)cfg->max_connections > ws_max) {
        log_msg(LOG_WARN, "max-connections exceeds the open-file limit: lowering it", "{si,si}",
                "max_connections", cfg->max_connections, "limit", (int)ws_max);
        ((struct config *)cfg)->max_connections = (int)ws_max;
    }

    refusals_ev = event_new(loop_base(), -1, 0, on_refusals, NULL);
    if (!refusals_ev || rx_guard_init((int)fds, on_guard_refused) < 0) {
        log_msg(LOG_ERROR, "out of memory", NULL);
        return -1;
    }
    linger_init(loop_base(), LINGER_RESERVE);
    uv_poll_fast_init();
    uv_poll_writes_attach(loop_uv(), loop_pump_soon);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *foreign[1] = {loop_uv()};
    info.port = cfg->port; /* 0: the kernel picks a free port */
    info.iface = cfg->host;
    info.protocols = protocols;
    info.options =
        /* No LWS_SERVER_OPTION_VALIDATE_UTF8: lws 4.1's validator misfires on frames that
         * arrive in the same read as the upgrade request (it closed such sockets with 1007).
         * Every message is parsed by jansson, which refuses invalid UTF-8 (BAD_JSON). */
        LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6;
    info.foreign_loops = foreign;
    info.count_threads = 1;
    info.retry_and_idle_policy = &no_lws_keepalive;
    info.timeout_secs = 20;      /* handshakes and HTTP transactions that stall */
    info.keepalive_timeout = 30; /* idle HTTP keep-alive */
    info.max_http_header_pool = 256;
    info.pt_serv_buf_size = 16384;
    context = create_context(&info, lws_fds);
    if (context && ws_port() <= 0) {
        /* lws 4.1 returns a context even when its listening vhost failed (address in use),
         * and that context then spins: treat it as the failure it is. It is left, not
         * destroyed: destroying this half-made context unloads lws's libuv plugin while its
         * handles are still open, and the next turn of the loop crashes. The process is on
         * its way out. */
        context = NULL;
    }
    if (!context) {
        log_msg(LOG_ERROR, "cannot listen", "{ss,si}", "host", cfg->host, "port", cfg->port);
        return -1;
    }
    return 0;
}

int ws_port(void)
{
    struct lws_vhost *vh = context ? lws_get_vhost_by_name(context, "default") : NULL;
    return vh ? lws_get_vhost_listen_port(vh) : -1;
}

static int drain_code = 1001;
static const char *drain_reason = "server shutting down";

static void close_going_away(struct session *s, void *arg)
{
    session_close(s, drain_code, drain_reason);
}

void ws_drain(int code, const char *reason, void (*done)(void))
{
    drain_code = code;
    drain_reason = reason;
    draining = 1;
    drained = done;
    if (session_count() == 0) {
        drained = NULL;
        done();
        return;
    }
    session_each(close_going_away, NULL);
    loop_pump();
}

void ws_free(void)
{
    uv_poll_writes_detach();
    if (context) lws_context_destroy(context);
    context = NULL;
    linger_shutdown();
    if (refusals_ev) event_free(refusals_ev);
    refusals_ev = NULL;
}
