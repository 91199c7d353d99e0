#include "session.h"

#include "hmap.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#include <event2/event.h>
#include <stdint.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct outmsg {
    struct wsbuf *buf;
    struct outmsg *next;
};

/* The keepalive lists. Both are ordered by heard_ms: a session heard from goes to the tail of
 * `fresh`; the timer moves fresh sessions silent for ping_after_ms to the tail of `pinged`
 * (queuing a ping), and hangs up pinged ones silent for hangup_after_ms. */
enum { KA_FRESH = 1, KA_PINGED, KA_GONE };
struct ka_list {
    struct session *head, *tail;
};

static struct hmap *by_player;    /* player id -> first session of that player */
static struct hmap *remote_by_id; /* remote sessions by session_id, for session_find */
static struct ka_list fresh, pinged;
static struct event *ka_timer;
static uint64_t ping_after_ms, hangup_after_ms, ka_last_round_ms;
static size_t n_sessions;
static size_t queue_cap;
static uint64_t next_id = 1;
static struct metric *m_ws_connections, *m_players_online, *m_send_queue_drops,
    *m_keepalive_hangups;

static void ka_unlink(struct session *s)
{
    struct ka_list *l = s->ka_state == KA_FRESH    ? &fresh
                        : s->ka_state == KA_PINGED ? &pinged
                                                   : NULL;
    if (!l) return;
    if (s->ka_prev)
        s->ka_prev->ka_next = s->ka_next;
    else
        l->head = s->ka_next;
    if (s->ka_next)
        s->ka_next->ka_prev = s->ka_prev;
    else
        l->tail = s->ka_prev;
    s->ka_prev = s->ka_next = NULL;
    s->ka_state = 0;
}

static void ka_append(struct session *s, int state)
{
    struct ka_list *l = state == KA_FRESH ? &fresh : &pinged;
    s->ka_prev = l->tail;
    s->ka_next = NULL;
    if (l->tail)
        l->tail->ka_next = s;
    else
        l->head = s;
    l->tail = s;
    s->ka_state = (uint8_t)state;
}

/* Arms the keepalive timer for the earliest deadline, unless it is armed already (deadlines
 * only move later: a session heard from goes to the tail). Rounds are at least a second
 * apart, so pings to sessions whose deadlines are close together go out in one batch. */
static void ka_arm(void)
{
    if (evtimer_pending(ka_timer, NULL)) return;
    uint64_t due = UINT64_MAX;
    if (fresh.head) due = fresh.head->heard_ms + ping_after_ms;
    if (pinged.head && pinged.head->heard_ms + hangup_after_ms < due)
        due = pinged.head->heard_ms + hangup_after_ms;
    if (due == UINT64_MAX) return; /* no sessions: no wake-ups */
    if (due < ka_last_round_ms + 1000) due = ka_last_round_ms + 1000;
    uint64_t now = loop_now_ms(), delay = due > now ? due - now : 0;
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000};
    evtimer_add(ka_timer, &tv);
}

static void hang_up(struct session *s)
{
    ka_unlink(s);
    s->ka_state = KA_GONE;
    log_msg(LOG_INFO, "keepalive: no pong, hanging up", "{ss,ss}", "conn", s->session_id, "player",
            s->who.player_id);
    metric_add(m_keepalive_hangups, NULL, 1);
    if (s->wsi) lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

static void ka_round(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    uint64_t now = loop_now_ms();
    ka_last_round_ms = now;
    while (pinged.head && pinged.head->heard_ms + hangup_after_ms <= now)
        hang_up(pinged.head);
    while (fresh.head && fresh.head->heard_ms + ping_after_ms <= now) {
        struct session *s = fresh.head;
        ka_unlink(s);
        ka_append(s, KA_PINGED);
        s->ping_due = 1;
        if (s->wsi) lws_callback_on_writable(s->wsi);
    }
    loop_pump_soon();
    ka_arm();
}

int session_init(size_t send_queue_cap, int ping_interval_s, int ping_timeout_s)
{
    queue_cap = send_queue_cap;
    ping_after_ms = (uint64_t)ping_interval_s * 1000;
    hangup_after_ms = (uint64_t)ping_timeout_s * 1000;
    m_ws_connections = metrics_gauge("ws_connections", "Open WebSocket connections", NULL);
    m_players_online =
        metrics_gauge("players_online", "Distinct players with an open socket", NULL);
    m_send_queue_drops =
        metrics_counter("ws_slow_client_disconnects_total",
                        "Sockets closed because their send queue exceeded its cap", NULL);
    m_keepalive_hangups = metrics_counter(
        "ws_keepalive_hangups_total", "Sockets closed because they did not answer a ping", NULL);
    by_player = hmap_new();
    remote_by_id = hmap_new();
    ka_timer = evtimer_new(loop_base(), ka_round, NULL);
    return by_player && remote_by_id && ka_timer && m_ws_connections && m_players_online &&
                   m_send_queue_drops && m_keepalive_hangups
               ? 0
               : -1;
}

void session_shutdown(void)
{
    hmap_free(by_player);
    by_player = NULL;
    hmap_free(remote_by_id);
    remote_by_id = NULL;
    if (ka_timer) event_free(ka_timer);
    ka_timer = NULL;
}

void session_heard(struct session *s)
{
    if (s->ka_state == KA_GONE) return;
    s->heard_ms = loop_now_ms();
    if (s->ka_state == KA_FRESH && !s->ka_next) return; /* already last */
    ka_unlink(s);
    ka_append(s, KA_FRESH);
}

static void update_gauges(void)
{
    metric_set(m_ws_connections, NULL, (double)n_sessions);
    metric_set(m_players_online, NULL, (double)hmap_size(by_player));
}

struct session *session_new(struct lws *wsi, const struct identity *who, const char *peer)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->id = next_id++;
    snprintf(s->session_id, sizeof s->session_id, "s%llu", (unsigned long long)s->id);
    s->wsi = wsi;
    s->who = *who;
    util_strlcpy(s->peer, peer, sizeof s->peer);
    struct session *first = hmap_get(by_player, who->player_id);
    if (first) {
        s->next_of_player = first->next_of_player;
        first->next_of_player = s;
    } else if (hmap_put(by_player, who->player_id, s) < 0) {
        free(s);
        return NULL;
    }
    session_heard(s);
    ka_arm();
    n_sessions++;
    update_gauges();
    return s;
}

struct session *session_new_remote(const struct identity *who, const char *peer,
                                   const struct session_transport *t, void *arg)
{
    struct session *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->id = next_id++;
    snprintf(s->session_id, sizeof s->session_id, "r%llu", (unsigned long long)s->id);
    s->who = *who;
    util_strlcpy(s->peer, peer, sizeof s->peer);
    s->remote = t;
    s->remote_arg = arg;
    if (hmap_put(remote_by_id, s->session_id, s) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void unlink_player(struct session *s)
{
    struct session *first = hmap_get(by_player, s->who.player_id);
    if (first == s) {
        if (s->next_of_player)
            hmap_put(by_player, s->who.player_id, s->next_of_player);
        else
            hmap_del(by_player, s->who.player_id);
        return;
    }
    for (struct session *p = first; p; p = p->next_of_player)
        if (p->next_of_player == s) {
            p->next_of_player = s->next_of_player;
            return;
        }
}

static void drop_queue(struct session *s)
{
    struct outmsg *m = s->head;
    while (m) {
        struct outmsg *next = m->next;
        wsbuf_unref(m->buf);
        free(m);
        m = next;
    }
    s->head = s->tail = NULL;
    s->queued_bytes = 0;
}

void session_free(struct session *s)
{
    if (s->remote) {
        hmap_del(remote_by_id, s->session_id);
        free(s);
        return;
    }
    ka_unlink(s);
    n_sessions--;
    unlink_player(s);
    drop_queue(s);
    free(s->rx);
    free(s);
    update_gauges();
}

static void set_close(struct session *s, int code, const char *reason)
{
    s->close_code = code;
    util_strlcpy(s->close_reason, reason ? reason : "", sizeof s->close_reason);
}

void session_close(struct session *s, int code, const char *reason)
{
    if (s->close_code) return;
    set_close(s, code, reason);
    if (s->remote) {
        s->remote->close(s, code, reason);
        return;
    }
    if (s->wsi) lws_callback_on_writable(s->wsi);
    loop_pump_soon();
}

/* Has lws drop the socket after secs seconds (LWS_TO_KILL_ASYNC: at once) unless it has closed
 * by then: without a close frame, and without flushing what lws holds, which is what a peer
 * that does not read needs. The drop runs from lws's timer list, and lws re-arms its timer only
 * after an event of its own, so lws_cancel_service gives it one (this may run outside lws). */
static void release_within(struct session *s, int secs)
{
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, secs);
    lws_cancel_service(lws_get_context(s->wsi));
    loop_pump_soon();
}

void session_fail(struct session *s, int code, const char *reason)
{
    if (!s->wsi || s->close_sent || s->input_closed) return;
    set_close(s, code, reason);
    s->input_closed = 1;
    lws_callback_on_writable(s->wsi);
    release_within(s, CLOSE_GRACE_S);
}

/* The queue is past its cap. Waiting for it to drain before the close frame would keep the
 * socket (and the queue) as long as the peer does not read, so the queue goes at once. When
 * the socket cannot take the close frame now, the peer is not reading and would not get it:
 * the socket is dropped at once. */
static void overflow(struct session *s)
{
    metric_add(m_send_queue_drops, NULL, 1);
    log_msg(LOG_WARN, "send queue full: disconnecting slow client", "{ss,ss,sI}", "conn",
            s->session_id, "player", s->who.player_id, "queued", (json_int_t)s->queued_bytes);
    drop_queue(s);
    set_close(s, 1008, "send queue overflow");
    s->input_closed = 1;
    if (lws_send_pipe_choked(s->wsi)) {
        release_within(s, LWS_TO_KILL_ASYNC);
        return;
    }
    lws_callback_on_writable(s->wsi);
    release_within(s, CLOSE_GRACE_S);
}

int session_send(struct session *s, struct wsbuf *b)
{
    if (s->remote) return s->close_code ? -1 : s->remote->send(s, b);
    if (s->render) return s->close_code ? -1 : s->render(s, b);
    return session_queue(s, b);
}

int session_queue(struct session *s, struct wsbuf *b)
{
    if (!s->wsi || s->close_code) return -1;
    if (s->queued_bytes + b->len > queue_cap) {
        overflow(s);
        return -1;
    }
    struct outmsg *m = malloc(sizeof *m);
    if (!m) return -1;
    wsbuf_ref(b);
    m->buf = b;
    m->next = NULL;
    if (s->tail)
        s->tail->next = m;
    else
        s->head = m;
    s->tail = m;
    s->queued_bytes += b->len;
    lws_callback_on_writable(s->wsi);
    loop_pump_soon();
    return 0;
}

/* Writes the close frame by hand: with the libuv event library, lws 4.1 kills the connection
 * on a -1 return before the frame lws_close_reason() prepared is sent. A frame the kernel does
 * not take whole stays with lws, which sends the rest before it closes the socket. */
static void write_close_frame(struct session *s)
{
    unsigned char frame[LWS_PRE + 4 + sizeof s->close_reason];
    unsigned char *p = frame + LWS_PRE;
    size_t rlen = strlen(s->close_reason); /* < 64: fits a one-byte frame length */
    p[0] = 0x88;                           /* FIN + opcode close */
    p[1] = (unsigned char)(2 + rlen);
    p[2] = (unsigned char)(s->close_code >> 8);
    p[3] = (unsigned char)(s->close_code & 0xff);
    memcpy(p + 4, s->close_reason, rlen);
    lws_write(s->wsi, p, 4 + rlen, LWS_WRITE_RAW);
    s->close_sent = 1;
}

void session_close_now(struct session *s, int code, const char *reason)
{
    if (!s->wsi || s->close_sent) return;
    drop_queue(s);
    set_close(s, code, reason);
    s->input_closed = 1;
    write_close_frame(s);
}

static void pop_head(struct session *s)
{
    struct outmsg *m = s->head;
    s->head = m->next;
    if (!s->head) s->tail = NULL;
    s->queued_bytes -= m->buf->len;
    wsbuf_unref(m->buf);
    free(m);
}

/* A server-to-client text frame's header for len bytes (unmasked, RFC 6455 5.2); its size. */
static size_t text_header(unsigned char *h, size_t len)
{
    h[0] = 0x81; /* FIN + text */
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

#define GATHER_MAX (64 * 1024) /* bytes of frames written by one gathered send */

/* Whether the two messages at the head fit one gathered send. */
static int gatherable(const struct session *s)
{
    return s->head->next && s->head->buf->len + s->head->next->buf->len + 20 <= GATHER_MAX;
}

/* Writes the queued messages at the head together, as one send of whole frames built here
 * (at most GATHER_MAX bytes; gatherable() said the first two fit): a move's events and state,
 * or a tick's state and events, leave in one system call instead of one each. lws takes the
 * frames as raw bytes, as it does the close frame, and keeps what the kernel does not take for
 * later. Loop thread only (one static buffer). */
static int write_gathered(struct session *s)
{
    static unsigned char buf[LWS_PRE + GATHER_MAX];
    size_t len = 0;
    int k = 0;
    for (struct outmsg *m = s->head; m && len + 10 + m->buf->len <= GATHER_MAX; m = m->next) {
        len += text_header(buf + LWS_PRE + len, m->buf->len);
        memcpy(buf + LWS_PRE + len, m->buf->data, m->buf->len);
        len += m->buf->len;
        k++;
    }
    if (lws_write(s->wsi, buf + LWS_PRE, len, LWS_WRITE_RAW) < (int)len) return -1;
    while (k--)
        pop_head(s);
    return 0;
}

static void (*before_write)(void);

void session_set_before_write(void (*fn)(void))
{
    before_write = fn;
}

int session_write_some(struct session *s)
{
    if (s->close_sent) return -1;
    if (s->head && before_write) before_write();
    if (s->ping_due && !s->close_code) {
        /* A payload, because lws 4.1 reports no RECEIVE_PONG for an empty pong. */
        unsigned char ping[LWS_PRE + 2] = {[LWS_PRE] = 'm', 't'};
        s->ping_due = 0;
        if (lws_write(s->wsi, ping + LWS_PRE, 2, LWS_WRITE_PING) < 0) return -1;
        if ((s->head || s->close_code) && lws_send_pipe_choked(s->wsi)) {
            lws_callback_on_writable(s->wsi);
            return 0;
        }
    }
    if (!s->head && s->close_code) {
        /* In a callback of its own, after the last message has left; then lws drops the
         * socket. */
        write_close_frame(s);
        return -1;
    }
    /* Several frames per callback while the kernel takes them, but bounded so one busy
     * socket cannot starve the others in the same loop iteration. */
    for (int budget = 32; s->head && budget > 0; budget--) {
        if (gatherable(s)) {
            if (write_gathered(s) < 0) return -1;
        } else {
            struct outmsg *m = s->head;
            int n = lws_write(s->wsi, m->buf->data, m->buf->len, LWS_WRITE_TEXT);
            if (n < (int)m->buf->len) return -1; /* lws has already failed the socket */
            pop_head(s);
        }
        if (s->head && lws_send_pipe_choked(s->wsi)) break; /* a poll(): only when needed */
    }
    if (s->head || s->close_code) lws_callback_on_writable(s->wsi);
    return 0;
}

struct session *session_of_player(const char *player_id)
{
    return hmap_get(by_player, player_id);
}

struct session *session_find(const char *player_id, uint64_t id)
{
    struct session *s = session_of_player(player_id);
    while (s && s->id != id)
        s = s->next_of_player;
    if (s) return s;
    char key[24];
    snprintf(key, sizeof key, "r%llu", (unsigned long long)id);
    s = hmap_get(remote_by_id, key);
    return s && strcmp(s->who.player_id, player_id) == 0 ? s : NULL;
}

size_t session_count(void)
{
    return n_sessions;
}

size_t session_player_count(void)
{
    return hmap_size(by_player);
}

/* fn may close sessions, and a closing session is not moved between the lists before the
 * walk ends (only received frames and the keepalive timer move them). */
void session_each(void (*fn)(struct session *, void *), void *arg)
{
    struct session *heads[2] = {fresh.head, pinged.head};
    for (int i = 0; i < 2; i++)
        for (struct session *s = heads[i]; s;) {
            struct session *next = s->ka_next;
            fn(s, arg);
            s = next;
        }
}
