#include "session.h"

#include "hmap.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct outmsg {
    struct wsbuf *buf;
    struct outmsg *next;
};

struct node {
    struct session *s;
    struct node *prev, *next;
};

static struct hmap *by_player; /* player id -> first session of that player */
static struct hmap *nodes;     /* session_id -> node in the all-sessions list */
static struct node *all_head;
static size_t n_sessions;
static size_t queue_cap;
static uint64_t next_id = 1;

struct wsbuf *wsbuf_new(const char *text, size_t len)
{
    struct wsbuf *b = malloc(sizeof *b + LWS_PRE + len);
    if (!b) return NULL;
    b->refs = 1;
    b->len = len;
    b->data = (unsigned char *)(b + 1) + LWS_PRE;
    memcpy(b->data, text, len);
    return b;
}

struct wsbuf *wsbuf_from_json(const json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (!text) return NULL;
    struct wsbuf *b = wsbuf_new(text, strlen(text));
    free(text);
    return b;
}

void wsbuf_ref(struct wsbuf *b)
{
    b->refs++;
}

void wsbuf_unref(struct wsbuf *b)
{
    if (b && --b->refs == 0) free(b);
}

int rate_limit_take(struct rate_limit *rl, int per_min, uint64_t now_ms)
{
    if (rl->last_ms == 0) {
        rl->tokens = per_min;
        rl->last_ms = now_ms;
    }
    rl->tokens += (double)(now_ms - rl->last_ms) * per_min / 60000.0;
    if (rl->tokens > per_min) rl->tokens = per_min;
    rl->last_ms = now_ms;
    if (rl->tokens < 1.0) return 0;
    rl->tokens -= 1.0;
    return 1;
}

int session_init(size_t send_queue_cap)
{
    queue_cap = send_queue_cap;
    by_player = hmap_new();
    nodes = hmap_new();
    return by_player && nodes ? 0 : -1;
}

void session_shutdown(void)
{
    hmap_free(by_player);
    hmap_free(nodes);
    by_player = nodes = NULL;
}

static void update_gauges(void)
{
    metric_set(m_ws_connections, NULL, (double)n_sessions);
    metric_set(m_players_online, NULL, (double)hmap_size(by_player));
}

struct session *session_new(struct lws *wsi, const struct identity *who, const char *peer)
{
    struct session *s = calloc(1, sizeof *s);
    struct node *n = calloc(1, sizeof *n);
    if (!s || !n) goto oom;
    s->id = next_id++;
    snprintf(s->session_id, sizeof s->session_id, "s%llu", (unsigned long long)s->id);
    s->wsi = wsi;
    s->who = *who;
    util_strlcpy(s->peer, peer, sizeof s->peer);
    n->s = s;
    if (hmap_put(nodes, s->session_id, n) < 0) goto oom;
    struct session *first = hmap_get(by_player, who->player_id);
    if (first) {
        s->next_of_player = first->next_of_player;
        first->next_of_player = s;
    } else if (hmap_put(by_player, who->player_id, s) < 0) {
        hmap_del(nodes, s->session_id);
        goto oom;
    }
    n->next = all_head;
    if (all_head) all_head->prev = n;
    all_head = n;
    n_sessions++;
    update_gauges();
    return s;
oom:
    free(s);
    free(n);
    return NULL;
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

void session_free(struct session *s)
{
    struct node *n = hmap_del(nodes, s->session_id);
    if (n) {
        if (n->prev)
            n->prev->next = n->next;
        else
            all_head = n->next;
        if (n->next) n->next->prev = n->prev;
        free(n);
        n_sessions--;
    }
    unlink_player(s);
    struct outmsg *m = s->head;
    while (m) {
        struct outmsg *next = m->next;
        wsbuf_unref(m->buf);
        free(m);
        m = next;
    }
    free(s->rx);
    free(s);
    update_gauges();
}

void session_close(struct session *s, int code, const char *reason)
{
    if (s->close_code) return;
    s->close_code = code;
    util_strlcpy(s->close_reason, reason ? reason : "", sizeof s->close_reason);
    if (s->wsi) lws_callback_on_writable(s->wsi);
    loop_pump_soon();
}

int session_send(struct session *s, struct wsbuf *b)
{
    if (!s->wsi || s->close_code) return -1;
    if (s->queued_bytes + b->len > queue_cap) {
        metric_add(m_send_queue_drops, NULL, 1);
        log_msg(LOG_WARN, "send queue full: disconnecting slow client", "{ss,ss,sI}", "conn",
                s->session_id, "player", s->who.player_id, "queued", (json_int_t)s->queued_bytes);
        session_close(s, 1008, "send queue overflow");
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

int session_send_json(struct session *s, const json_t *msg)
{
    struct wsbuf *b = wsbuf_from_json(msg);
    if (!b) return -1;
    int rc = session_send(s, b);
    wsbuf_unref(b);
    return rc;
}

/* Sends the close frame in a callback of its own, after the last message has left, then asks
 * lws to drop the socket. The frame is written by hand: with the libuv event library, lws 4.1
 * kills the connection on a -1 return before the frame lws_close_reason() prepared is sent. */
static int write_close_frame(struct session *s)
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
    return -1;
}

int session_write_some(struct session *s)
{
    if (!s->head && s->close_code) return write_close_frame(s);
    /* Several frames per callback while the kernel takes them, but bounded so one busy
     * socket cannot starve the others in the same loop iteration. */
    for (int budget = 32; s->head && budget > 0; budget--) {
        struct outmsg *m = s->head;
        int n = lws_write(s->wsi, m->buf->data, m->buf->len, LWS_WRITE_TEXT);
        if (n < (int)m->buf->len) return -1; /* lws has already failed the socket */
        s->head = m->next;
        if (!s->head) s->tail = NULL;
        s->queued_bytes -= m->buf->len;
        wsbuf_unref(m->buf);
        free(m);
        if (lws_send_pipe_choked(s->wsi)) break;
    }
    if (s->head || s->close_code) lws_callback_on_writable(s->wsi);
    return 0;
}

struct session *session_of_player(const char *player_id)
{
    return hmap_get(by_player, player_id);
}

size_t session_count(void)
{
    return n_sessions;
}

size_t session_player_count(void)
{
    return hmap_size(by_player);
}

void session_each(void (*fn)(struct session *, void *), void *arg)
{
    for (struct node *n = all_head; n;) {
        struct node *next = n->next;
        fn(n->s, arg);
        n = next;
    }
}
