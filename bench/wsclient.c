/* wsclient: the WebSocket client of the bench generators (wsclient.h). */
#define _GNU_SOURCE
#include "wsclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define GBUF_SIZE (256 * 1024) /* shared read buffer */
#define READ_CHUNK (64 * 1024) /* max bytes per recv() */
#define MAX_HTTP_HEADER 16384  /* upgrade response header limit */
#define MAX_FRAME (64u << 20)  /* refuse frames/messages larger than this */
#define MAX_WBUF (1u << 20)    /* pending output cap per connection */

enum { F_EV_READ = 1, F_EV_WRITE = 2, F_IN_FRAG = 4, F_FRAG_TEXT = 8 };

struct wsc wsc;
static uint8_t gbuf[GBUF_SIZE];

/* ------------------------------------------------------- small count tables */

void kt_add(struct ktab *t, long key)
{
    for (unsigned i = 0; i < t->n; i++)
        if (t->e[i].key == key) {
            t->e[i].n++;
            return;
        }
    if (t->n < KT_MAX) {
        t->e[t->n].key = key;
        t->e[t->n].n = 1;
        t->n++;
    } else
        t->other++;
}

void st_add(struct stab *t, const char *s)
{
    for (unsigned i = 0; i < t->n; i++)
        if (strcmp(t->e[i].s, s) == 0) {
            t->e[i].n++;
            return;
        }
    if (t->n < (t->cap && t->cap < STAB_MAX ? t->cap : STAB_MAX)) {
        snprintf(t->e[t->n].s, sizeof t->e[t->n].s, "%s", s);
        t->e[t->n].n = 1;
        t->n++;
    } else
        t->other++;
}

/* ------------------------------------------------------------------- set-up */

int wsc_resolve(const char *prog, const char *host, int port)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        fprintf(stderr, "%s: cannot resolve %s: %s\n", prog, host, gai_strerror(gai));
        return -1;
    }
    memcpy(&wsc.dst, ai->ai_addr, ai->ai_addrlen);
    wsc.dstlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    snprintf(wsc.hosthdr, sizeof wsc.hosthdr, wsc.dst.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
             host, port);
    return 0;
}

void wsc_seed(void)
{
    wsc.seed = wsp_splitmix64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ wsp_now_us());
    wsc.rng = (uint32_t)(wsc.seed | 1);
}

void wsc_setup(const char *prog, const char *path, void *conns, size_t stride,
               void (*on_message)(struct wsc_conn *c, const uint8_t *p, size_t n),
               void (*on_close)(struct wsc_conn *c, int reason))
{
    wsc_seed();
    wsc.path = path;
    wsc.user_agent = prog;
    wsc.conns = conns;
    wsc.stride = stride;
    wsc.on_message = on_message;
    wsc.on_close = on_close;
}

json_t *wsc_parse(const uint8_t *p, size_t n, const char **type)
{
    json_error_t err;
    json_t *root = json_loadb((const char *)p, n, 0, &err);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    *type = json_string_value(json_object_get(root, "type"));
    return root;
}

uint32_t wsc_rand(void)
{
    uint32_t x = wsc.rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return wsc.rng = x;
}

/* -------------------------------------------------------- connection core */

static void conn_cb(evutil_socket_t fd, short what, void *arg);

uint32_t wsc_idx(const struct wsc_conn *c)
{
    return (uint32_t)(((const char *)c - (const char *)wsc.conns) / wsc.stride);
}

/* element i of the tool's array, whose first member is its struct wsc_conn */
static struct wsc_conn *wsc_at(uint32_t i)
{
    return (struct wsc_conn *)((char *)wsc.conns + (size_t)i * wsc.stride);
}

static void conn_events(struct wsc_conn *c, uint8_t want)
{
    if ((c->flags & (F_EV_READ | F_EV_WRITE)) == want) return;
    event_del(&c->ev);
    short ev = EV_PERSIST;
    if (want & F_EV_READ) ev |= EV_READ;
    if (want & F_EV_WRITE) ev |= EV_WRITE;
    event_assign(&c->ev, wsc.base, c->fd, ev, conn_cb, c);
    event_add(&c->ev, NULL);
    c->flags = (uint8_t)((c->flags & ~(F_EV_READ | F_EV_WRITE)) | want);
}

void wsc_close(struct wsc_conn *c, int reason, long detail)
{
    if (c->state == ST_IDLE || c->state == ST_DONE) return;
    if (wsc.on_close) wsc.on_close(c, reason);
    if (c->state == ST_OPEN) {
        if (reason != R_LOCAL) wsc.dropped++;
    } else {
        wsc.inflight--;
        switch (reason) {
        case R_CONNECT:
            wsc.fail_connect++;
            kt_add(&wsc.connect_errno, detail);
            break;
        case R_HTTP:
            wsc.fail_http++;
            kt_add(&wsc.http_status, detail);
            break;
        case R_CLOSED:
            wsc.fail_closed++;
            break;
        case R_TIMEOUT:
            wsc.fail_timeout++;
            break;
        case R_PROTO:
            wsc.fail_proto++;
            break;
        default:
            break;
        }
    }
    if (c->fd >= 0) {
        event_del(&c->ev);
        close(c->fd);
    }
    free(c->rbuf);
    free(c->wbuf);
    free(c->mbuf);
    c->rbuf = c->wbuf = c->mbuf = NULL;
    c->rlen = c->rcap = c->wlen = c->wcap = c->mlen = 0;
    c->fd = -1;
    c->flags = 0;
    c->state = ST_DONE;
}

/* Write or queue bytes. Returns -1 if the connection was closed. */
static int conn_write(struct wsc_conn *c, const uint8_t *p, size_t n)
{
    if (c->wlen == 0) {
        ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
        if (r == (ssize_t)n) return 0;
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                wsc_close(c, R_CLOSED, 0);
                return -1;
            }
            r = 0;
        }
        p += r;
        n -= (size_t)r;
    }
    if (c->wlen + n > MAX_WBUF) {
        wsc_close(c, R_PROTO, 0);
        return -1;
    }
    if (c->wlen + n > c->wcap) {
        uint32_t cap = c->wcap ? c->wcap : 256;
        while (cap < c->wlen + n)
            cap *= 2;
        uint8_t *nb = realloc(c->wbuf, cap);
        if (!nb) {
            wsc_close(c, R_PROTO, 0);
            return -1;
        }
        c->wbuf = nb;
        c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += (uint32_t)n;
    conn_events(c, (uint8_t)((c->flags & F_EV_READ) | F_EV_WRITE));
    return 0;
}

static int conn_flush(struct wsc_conn *c)
{
    while (c->wlen > 0) {
        ssize_t r = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            wsc_close(c, R_CLOSED, 0);
            return -1;
        }
        memmove(c->wbuf, c->wbuf + r, c->wlen - (size_t)r);
        c->wlen -= (uint32_t)r;
    }
    free(c->wbuf);
    c->wbuf = NULL;
    c->wcap = 0;
    conn_events(c, F_EV_READ);
    return 0;
}

/* Send one masked client frame (payload <= 4 KiB). */
int wsc_send(struct wsc_conn *c, int opcode, const void *payload, size_t n)
{
    uint8_t f[WSP_CLIENT_HDR_MAX + 4096];
    if (n > 4096 || c->state == ST_DONE) return -1;
    return conn_write(c, f, wsp_client_frame(f, opcode, payload, n, wsc_rand()));
}

int wsc_text(struct wsc_conn *c, const char *s, int n)
{
    if (n <= 0) return -1;
    return wsc_send(c, 0x1, s, (size_t)n);
}

int wsc_established(struct wsc_conn *c, uint64_t now)
{
    if (c->state != ST_WAIT_WELCOME) return 0;
    c->state = ST_OPEN;
    wsc.inflight--;
    wsc.established++;
    uint32_t t = (uint32_t)(now - wsc.t0);
    wsp_hist_add(&wsc.handshake, (uint64_t)(uint32_t)(t - c->t_start));
    return 1;
}

/* ---------------------------------------------------- frames and sockets */

static int check_upgrade(struct wsc_conn *c, const uint8_t *buf, size_t hlen, long *status)
{
    *status = 0;
    if (hlen < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ') return 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9') return 0;
        *status = *status * 10 + (buf[i] - '0');
    }
    if (*status != 101) return 0;
    char key[25], expect[29];
    wsp_client_key(wsc.seed, wsc_idx(c), key);
    wsp_accept(key, 24, expect);
    const uint8_t *line = memmem(buf, hlen, "\r\n", 2);
    const uint8_t *end = buf + hlen;
    while (line && line + 2 < end) {
        line += 2;
        const uint8_t *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (!eol) break;
        size_t ll = (size_t)(eol - line);
        if (ll > 21 && strncasecmp((const char *)line, "sec-websocket-accept:", 21) == 0) {
            const uint8_t *v = line + 21, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            return (size_t)(ve - v) == 28 && memcmp(v, expect, 28) == 0 ? 1 : -1;
        }
        line = eol;
    }
    return -1; /* 101 without a (valid) accept header */
}

/* The server's HTTP answer to the upgrade at the start of buf. Returns the bytes of its header
 * (c now waits for welcome), 0 while it is incomplete, or -1 when c was closed over it. */
static ssize_t read_upgrade(struct wsc_conn *c, const uint8_t *buf, size_t len)
{
    const uint8_t *e = memmem(buf, len, "\r\n\r\n", 4);
    if (!e) {
        if (len > MAX_HTTP_HEADER) {
            wsc_close(c, R_PROTO, 0);
            return -1;
        }
        return 0;
    }
    size_t hlen = (size_t)(e - buf) + 4;
    long status;
    int ok = check_upgrade(c, buf, hlen, &status);
    if (status != 101) {
        wsc_close(c, R_HTTP, status);
        return -1;
    }
    if (ok != 1) {
        wsc_close(c, R_PROTO, 0);
        return -1;
    }
    c->state = ST_WAIT_WELCOME;
    return (ssize_t)hlen;
}

/* A text or binary frame (op): a whole text message goes to wsc.on_message; a first fragment
 * starts c->mbuf. Returns 0, or -1 when c was closed. */
static int on_data_frame(struct wsc_conn *c, int op, int fin, const uint8_t *p, uint64_t plen)
{
    if (c->flags & F_IN_FRAG) {
        wsc_close(c, R_PROTO, 0);
        return -1;
    }
    if (fin) {
        if (op == 0x1) wsc.on_message(c, p, (size_t)plen);
        return 0;
    }
    c->flags |= F_IN_FRAG | (op == 0x1 ? F_FRAG_TEXT : 0);
    c->mbuf = malloc(plen ? plen : 1);
    if (!c->mbuf) {
        wsc_close(c, R_PROTO, 0);
        return -1;
    }
    memcpy(c->mbuf, p, (size_t)plen);
    c->mlen = (uint32_t)plen;
    return 0;
}

/* A continuation frame: appended to c->mbuf, which the last one hands over (text only) and frees.
 * Returns 0, or -1 when c was closed. */
static int on_continuation(struct wsc_conn *c, int fin, const uint8_t *p, uint64_t plen)
{
    if (!(c->flags & F_IN_FRAG) || (uint64_t)c->mlen + plen > MAX_FRAME) {
        wsc_close(c, R_PROTO, 0);
        return -1;
    }
    uint8_t *nb = realloc(c->mbuf, c->mlen + plen + 1);
    if (!nb) {
        wsc_close(c, R_PROTO, 0);
        return -1;
    }
    c->mbuf = nb;
    memcpy(c->mbuf + c->mlen, p, (size_t)plen);
    c->mlen += (uint32_t)plen;
    if (fin) {
        if (c->flags & F_FRAG_TEXT) wsc.on_message(c, c->mbuf, c->mlen);
        free(c->mbuf);
        c->mbuf = NULL;
        c->mlen = 0;
        c->flags &= (uint8_t) ~(F_IN_FRAG | F_FRAG_TEXT);
    }
    return 0;
}

/* One unmasked frame of opcode op. Returns 0, or -1 when c was closed (or is closing). */
static int on_frame(struct wsc_conn *c, int op, int fin, const uint8_t *p, uint64_t plen)
{
    switch (op) {
    case 0x1: /* text */
    case 0x2: /* binary (ignored) */
        return on_data_frame(c, op, fin, p, plen);
    case 0x0: /* continuation */
        return on_continuation(c, fin, p, plen);
    case 0x8: { /* close: echo the status code, then drop the socket */
        long code = plen >= 2 ? (long)(p[0] << 8 | p[1]) : 1005;
        if (c->state == ST_OPEN || wsc.all_close_codes) kt_add(&wsc.close_codes, code);
        wsc_send(c, 0x8, p, plen >= 2 ? 2 : 0);
        if (c->state != ST_DONE) wsc_close(c, R_CLOSED, code);
        return -1;
    }
    case 0x9: /* ping -> pong */
        wsc.pings++;
        if (plen > 125 || wsc_send(c, 0xA, p, (size_t)plen) < 0) {
            if (c->state != ST_DONE) wsc_close(c, R_PROTO, 0);
            return -1;
        }
        return 0;
    case 0xA: /* pong */
        return 0;
    default:
        wsc_close(c, R_PROTO, 0);
        return -1;
    }
}

/* Parse buffered input. Returns bytes consumed, or -1 if the connection closed. */
static ssize_t process_input(struct wsc_conn *c, uint8_t *buf, size_t len)
{
    size_t off = 0;
    if (c->state == ST_HTTP) {
        ssize_t hlen = read_upgrade(c, buf, len);
        if (hlen <= 0) return hlen;
        off = (size_t)hlen;
    }
    while (len - off >= 2) {
        struct wsp_frame fr;
        if (!wsp_frame_header(buf + off, len - off, &fr)) break;
        uint64_t plen = fr.len;
        if (plen > MAX_FRAME) {
            wsc_close(c, R_PROTO, 0);
            return -1;
        }
        if (len - off < fr.hdr + plen) break;
        uint8_t *p = buf + off + fr.hdr;
        if (fr.mask) wsp_unmask(p, plen, fr.mask);
        off += fr.hdr + (size_t)plen;
        if (on_frame(c, fr.opcode, fr.fin, p, plen) < 0) return -1;
        if (c->state == ST_DONE) return -1;
    }
    return (ssize_t)off;
}

static void conn_read(struct wsc_conn *c)
{
    uint8_t *buf;
    size_t have = c->rlen, cap;
    if (have + READ_CHUNK <= GBUF_SIZE) {
        if (have) memcpy(gbuf, c->rbuf, have);
        buf = gbuf;
        cap = have + READ_CHUNK;
    } else {
        if (c->rcap < have + READ_CHUNK) {
            uint8_t *nb = realloc(c->rbuf, have + READ_CHUNK);
            if (!nb) {
                wsc_close(c, R_PROTO, 0);
                return;
            }
            c->rbuf = nb;
            c->rcap = (uint32_t)(have + READ_CHUNK);
        }
        buf = c->rbuf;
        cap = c->rcap;
    }
    ssize_t r = recv(c->fd, buf + have, cap - have, 0);
    if (r == 0) {
        wsc_close(c, R_CLOSED, 0);
        return;
    }
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        wsc_close(c, R_CLOSED, 0);
        return;
    }
    have += (size_t)r;
    ssize_t used = process_input(c, buf, have);
    if (used < 0) return; /* closed; buffers already freed */
    size_t left = have - (size_t)used;
    if (left == 0) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rlen = c->rcap = 0;
        return;
    }
    if (buf == gbuf) {
        if (c->rcap < left) {
            uint8_t *nb = realloc(c->rbuf, left);
            if (!nb) {
                wsc_close(c, R_PROTO, 0);
                return;
            }
            c->rbuf = nb;
            c->rcap = (uint32_t)left;
        }
        memcpy(c->rbuf, gbuf + used, left);
    } else if (used > 0) {
        memmove(c->rbuf, c->rbuf + used, left);
    }
    c->rlen = (uint32_t)left;
}

static void on_connected(struct wsc_conn *c)
{
    char key[25], req[1024];
    wsp_client_key(wsc.seed, wsc_idx(c), key);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: %s\r\n\r\n",
                     wsc.path, wsc.hosthdr, key, wsc.user_agent);
    if (n < 0 || (size_t)n >= sizeof req) {
        wsc_close(c, R_PROTO, 0);
        return;
    }
    c->state = ST_HTTP;
    conn_events(c, F_EV_READ);
    conn_write(c, (const uint8_t *)req, (size_t)n);
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wsc_conn *c = arg;
    (void)fd;
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
        if (err) {
            wsc_close(c, R_CONNECT, err);
            return;
        }
        on_connected(c);
        return;
    }
    if ((what & EV_WRITE) && conn_flush(c) < 0) return;
    if ((what & EV_READ) && c->state != ST_DONE) conn_read(c);
}

void wsc_start(struct wsc_conn *c)
{
    uint32_t idx = wsc_idx(c);
    wsc.started++;
    wsc.inflight++;
    c->state = ST_CONNECTING;
    c->fd = -1;
    c->t_start = (uint32_t)(wsp_now_us() - wsc.t0);
    int fd = socket(wsc.dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        wsc_close(c, R_CONNECT, errno);
        return;
    }
    c->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (wsc.local_ip_range > 0 && wsc.dst.ss_family == AF_INET) {
        struct sockaddr_in src = {0};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000001u + idx % wsc.local_ip_range);
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            /* the close path needs a registered event; keep it simple */
            int e = errno;
            close(fd);
            c->fd = -1;
            wsc_close(c, R_CONNECT, e);
            return;
        }
    }
    int r = connect(fd, (struct sockaddr *)&wsc.dst, wsc.dstlen);
    if (r < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        c->fd = -1;
        wsc_close(c, R_CONNECT, e);
        return;
    }
    event_assign(&c->ev, wsc.base, fd, EV_WRITE | EV_PERSIST, conn_cb, c);
    event_add(&c->ev, NULL);
    c->flags = F_EV_WRITE;
    if (r == 0) on_connected(c);
}

/* --------------------------------------------------------------- reporting */

/* ------------------------------------------------------------ process set-up */

void wsc_raise_nofile(const char *prog, uint32_t nconns, const char *note)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
                char what[64];
                snprintf(what, sizeof what, "%s: setrlimit(RLIMIT_NOFILE)", prog);
                perror(what);
            }
        }
        if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)nconns + 32 > rl.rlim_cur)
            fprintf(stderr, "%s: warning: %u connections exceed the fd limit %llu%s\n", prog,
                    nconns, (unsigned long long)rl.rlim_cur, note);
    }
    signal(SIGPIPE, SIG_IGN);
}

int wsc_base_new(const char *prog)
{
    struct event_config *cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    /* Without this libevent times timers with CLOCK_MONOTONIC_COARSE, one jiffy (4 ms at
     * HZ=250): a 1 ms tick then fires every 4 ms and whatever it schedules (heartbeats, inputs)
     * leaves in bursts of 4 ms' worth, which inflates the server's queueing and so the RTT. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    wsc.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!wsc.base) {
        fprintf(stderr, "%s: event_base_new failed\n", prog);
        return -1;
    }
    return 0;
}

/* wsc_run's callbacks, for the libevent trampolines below */
static void (*run_tick)(uint64_t now);
static void (*run_finish)(void);

static void tick_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    run_tick(wsp_now_us());
}

static void signal_event(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    wsc.interrupted = 1;
    run_finish();
}

void wsc_run(void (*tick)(uint64_t now), void (*finish)(void), long tick_us)
{
    run_tick = tick;
    run_finish = finish;
    struct event *timer = event_new(wsc.base, -1, EV_PERSIST, tick_event, NULL);
    struct event *sigint = evsignal_new(wsc.base, SIGINT, signal_event, NULL);
    struct event *sigterm = evsignal_new(wsc.base, SIGTERM, signal_event, NULL);
    evsignal_add(sigint, NULL);
    evsignal_add(sigterm, NULL);
    struct timeval tv = {0, tick_us};
    evtimer_add(timer, &tv);
    tick_event(-1, 0, NULL);

    event_base_dispatch(wsc.base);

    event_free(timer);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(wsc.base);
    wsc.base = NULL;
}

void wsc_ramp(uint64_t now, uint64_t t0, uint32_t total, double rate, unsigned max_inflight)
{
    if (wsc.started >= total) return;
    double allowed_d = (double)(now - t0) * rate / 1e6 + 1.0;
    uint64_t allowed = allowed_d > (double)total ? total : (uint64_t)allowed_d;
    while (wsc.started < allowed && wsc.inflight < max_inflight)
        wsc_start(wsc_at(wsc.started));
}

void wsc_timeout_handshakes(void)
{
    for (uint32_t i = 0; i < wsc.started; i++) {
        struct wsc_conn *c = wsc_at(i);
        if (c->state >= ST_CONNECTING && c->state < ST_OPEN) wsc_close(c, R_TIMEOUT, 0);
    }
}

void wsc_close_all(void)
{
    static const uint8_t bye[2] = {0x03, 0xE8}; /* 1000 */
    for (uint32_t i = 0; i < wsc.started; i++) {
        struct wsc_conn *c = wsc_at(i);
        if (c->state == ST_OPEN || c->state == ST_WAIT_WELCOME) {
            c->wlen = 0; /* drop whatever is pending; best effort */
            wsc_send(c, 0x8, bye, 2);
        }
        wsc_close(c, R_LOCAL, 0);
    }
    event_base_loopbreak(wsc.base);
}
