/*
 * mt-loadgen: WebSocket heartbeat load generator for the Monkeytown server.
 *
 * Single-threaded, libevent based, with its own minimal RFC 6455 client:
 * non-blocking sockets driven by one `struct event` per connection, one shared
 * read buffer, per-connection buffers allocated only while a partial frame or
 * unsent output is pending, and one global timer that drives both the ramp and
 * the heartbeat send schedule (round-robin over the open connections).
 *
 * Wire contract: docs/contract/PROTOCOL.md (v1). Each heartbeat sent is
 *   {"type":"heartbeat","payload":{"timestamp":<monotonic ms, µs precision>}}
 * and the server answers heartbeat {timestamp, serverTime}; RTT = now - timestamp.
 * The first message on every socket is "welcome": it marks the connection as
 * established.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <jansson.h>

#include "wsproto.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define GBUF_SIZE (256 * 1024) /* shared read buffer */
#define READ_CHUNK (64 * 1024) /* max bytes per recv() */
#define MAX_HTTP_HEADER 16384  /* upgrade response header limit */
#define MAX_FRAME (64u << 20)  /* refuse frames/messages larger than this */
#define MAX_WBUF (1u << 20)    /* pending output cap per connection */
#define TICK_US 1000           /* global timer period */
#define RAMP_TIMEOUT_S 10.0    /* extra time allowed for the ramp */
#define DRAIN_US 1000000       /* max wait for in-flight replies after measuring */

/* ---------------------------------------------------------------- options */

static struct {
    const char *host;
    int port;
    const char *path;
    uint32_t connections;
    double rate;
    double duration;
    double ramp_rate;
    long server_pid;
    int json;
    unsigned local_ip_range;
    unsigned max_handshakes;
} opt = {"127.0.0.1", 8080, "/ws", 1000, 0.0, 10.0, 2000.0, 0, 0, 0, 256};

/* ------------------------------------------------------------ connections */

enum { ST_IDLE = 0, ST_CONNECTING, ST_HTTP, ST_WAIT_WELCOME, ST_OPEN, ST_DONE };
enum { F_EV_READ = 1, F_EV_WRITE = 2, F_IN_FRAG = 4, F_FRAG_TEXT = 8 };
enum { R_CONNECT, R_HTTP, R_CLOSED, R_TIMEOUT, R_PROTO, R_LOCAL };

struct conn {
    struct event ev; /* the one event of this connection */
    uint8_t *rbuf;   /* partial input (NULL when none) */
    uint8_t *wbuf;   /* unsent output (NULL when none) */
    uint8_t *mbuf;   /* fragmented message being reassembled (rare) */
    uint32_t rlen, rcap;
    uint32_t wlen, wcap;
    uint32_t mlen;
    uint32_t open_idx; /* position in g.open while ST_OPEN */
    uint32_t t_start;  /* µs since ramp start, for handshake latency */
    int fd;
    uint8_t state;
    uint8_t flags;
};

/* ------------------------------------------------------- small count tables */

#define KT_MAX 16
struct ktab {
    struct {
        long key;
        uint64_t n;
    } e[KT_MAX];
    unsigned n;
    uint64_t other;
};

static void kt_add(struct ktab *t, long key)
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

#define ST_MAX 8
struct stab {
    struct {
        char s[32];
        uint64_t n;
    } e[ST_MAX];
    unsigned n;
    uint64_t other;
};

static void st_add(struct stab *t, const char *s)
{
    for (unsigned i = 0; i < t->n; i++)
        if (strcmp(t->e[i].s, s) == 0) {
            t->e[i].n++;
            return;
        }
    if (t->n < ST_MAX) {
        snprintf(t->e[t->n].s, sizeof t->e[t->n].s, "%s", s);
        t->e[t->n].n = 1;
        t->n++;
    } else
        t->other++;
}

/* ------------------------------------------------------------ global state */

enum { PH_RAMP, PH_MEASURE, PH_DRAIN, PH_DONE };

static struct {
    struct event_base *base;
    struct event *timer, *sigint, *sigterm;
    struct sockaddr_storage dst;
    socklen_t dstlen;
    char hosthdr[300];
    uint64_t seed;
    uint32_t rng;

    struct conn *conns;
    uint32_t *open; /* indices of ST_OPEN connections */
    uint32_t nopen;
    uint32_t cursor; /* heartbeat round-robin position in open[] */

    int phase;
    uint64_t t_ramp0, t_ramp_end, t_ramp_deadline;
    uint64_t t_meas0, t_meas_end, t_drain_deadline;
    uint64_t sched_base; /* schedule slots skipped because we fell behind */

    uint32_t started, inflight, established, held_at_end;
    uint64_t fail_connect, fail_http, fail_closed, fail_timeout, fail_proto;
    uint64_t dropped; /* closed by server/network after welcome */
    struct ktab connect_errno, http_status, close_codes;

    uint64_t hb_sent, hb_skipped, hb_replies, hb_bad;
    uint64_t srv_errors, other_msgs, bad_json, pings;
    struct stab error_codes;
    struct wsp_hist rtt, handshake;

    long rss_before, rss_after, self_rss_before, self_rss_after;
    int rss_after_taken;
    /* CPU seconds (user + system) at the start and the end of the measuring window */
    double srv_cpu0, srv_cpu1, self_cpu0, self_cpu1;
    int cpu0_taken;
    int interrupted;
    int finished;
} g;

static uint8_t gbuf[GBUF_SIZE];

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint32_t xrand(void)
{
    uint32_t x = g.rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return g.rng = x;
}

static long read_rss_kib(long pid)
{
    char path[64], line[256];
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%ld/status", pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* user + system CPU seconds of a process (pid > 0, from /proc/PID/stat) or of this one */
static double read_cpu_s(long pid)
{
    if (pid <= 0) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) != 0) return -1.0;
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1.0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    if (!p) return -1.0;
    unsigned long long ut = 0, st = 0;
    /* after ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime(15) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1.0;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

/* -------------------------------------------------------- connection core */

static void conn_cb(evutil_socket_t fd, short what, void *arg);

static uint32_t cidx(const struct conn *c)
{
    return (uint32_t)(c - g.conns);
}

static void conn_events(struct conn *c, uint8_t want)
{
    if ((c->flags & (F_EV_READ | F_EV_WRITE)) == want) return;
    event_del(&c->ev);
    short ev = EV_PERSIST;
    if (want & F_EV_READ) ev |= EV_READ;
    if (want & F_EV_WRITE) ev |= EV_WRITE;
    event_assign(&c->ev, g.base, c->fd, ev, conn_cb, c);
    event_add(&c->ev, NULL);
    c->flags = (uint8_t)((c->flags & ~(F_EV_READ | F_EV_WRITE)) | want);
}

static void open_add(struct conn *c)
{
    c->open_idx = g.nopen;
    g.open[g.nopen++] = cidx(c);
}

static void open_remove(struct conn *c)
{
    uint32_t last = g.open[--g.nopen];
    g.open[c->open_idx] = last;
    g.conns[last].open_idx = c->open_idx;
}

/* Close the socket and account for why. Safe to call once per connection. */
static void conn_close(struct conn *c, int reason, long detail)
{
    if (c->state == ST_IDLE || c->state == ST_DONE) return;
    if (c->state == ST_OPEN) {
        open_remove(c);
        if (reason != R_LOCAL) g.dropped++;
    } else {
        g.inflight--;
        switch (reason) {
        case R_CONNECT:
            g.fail_connect++;
            kt_add(&g.connect_errno, detail);
            break;
        case R_HTTP:
            g.fail_http++;
            kt_add(&g.http_status, detail);
            break;
        case R_CLOSED:
            g.fail_closed++;
            break;
        case R_TIMEOUT:
            g.fail_timeout++;
            break;
        case R_PROTO:
            g.fail_proto++;
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
static int conn_write(struct conn *c, const uint8_t *p, size_t n)
{
    if (c->wlen == 0) {
        ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
        if (r == (ssize_t)n) return 0;
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                conn_close(c, R_CLOSED, errno);
                return -1;
            }
            r = 0;
        }
        p += r;
        n -= (size_t)r;
    }
    if (c->wlen + n > MAX_WBUF) {
        conn_close(c, R_PROTO, 0);
        return -1;
    }
    if (c->wlen + n > c->wcap) {
        uint32_t cap = c->wcap ? c->wcap : 256;
        while (cap < c->wlen + n)
            cap *= 2;
        uint8_t *nb = realloc(c->wbuf, cap);
        if (!nb) {
            conn_close(c, R_PROTO, 0);
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

static int conn_flush(struct conn *c)
{
    while (c->wlen > 0) {
        ssize_t r = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            conn_close(c, R_CLOSED, errno);
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
static int ws_send(struct conn *c, int opcode, const void *payload, size_t n)
{
    uint8_t f[WSP_CLIENT_HDR_MAX + 4096];
    if (n > 4096) return 0;
    return conn_write(c, f, wsp_client_frame(f, opcode, payload, n, xrand()));
}

/* ------------------------------------------------------- message handling */

static void on_welcome(struct conn *c)
{
    if (c->state != ST_WAIT_WELCOME) return;
    c->state = ST_OPEN;
    g.inflight--;
    g.established++;
    open_add(c);
    uint32_t t = (uint32_t)(wsp_now_us() - g.t_ramp0);
    wsp_hist_add(&g.handshake, (uint64_t)(uint32_t)(t - c->t_start));
}

static void handle_message(struct conn *c, const uint8_t *p, size_t n)
{
    json_error_t err;
    json_t *root = json_loadb((const char *)p, n, 0, &err);
    if (!root || !json_is_object(root)) {
        g.bad_json++;
        json_decref(root);
        return;
    }
    const char *type = json_string_value(json_object_get(root, "type"));
    json_t *payload = json_object_get(root, "payload");
    if (!type) {
        g.other_msgs++;
    } else if (strcmp(type, "welcome") == 0) {
        if (c->state == ST_WAIT_WELCOME)
            on_welcome(c);
        else
            g.other_msgs++;
    } else if (strcmp(type, "heartbeat") == 0) {
        json_t *ts = json_object_get(payload, "timestamp");
        if (json_is_number(ts)) {
            double rtt_ms = now_ms() - json_number_value(ts);
            g.hb_replies++;
            wsp_hist_add(&g.rtt, rtt_ms > 0 ? (uint64_t)llround(rtt_ms * 1000.0) : 0);
        } else {
            g.hb_bad++;
        }
    } else if (strcmp(type, "error") == 0) {
        const char *code = json_string_value(json_object_get(payload, "code"));
        g.srv_errors++;
        st_add(&g.error_codes, code ? code : "?");
    } else {
        g.other_msgs++;
    }
    json_decref(root);
}

static int check_upgrade(struct conn *c, const uint8_t *buf, size_t hlen, long *status)
{
    *status = 0;
    if (hlen < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ') return 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9') return 0;
        *status = *status * 10 + (buf[i] - '0');
    }
    if (*status != 101) return 0;
    char key[25], expect[29];
    wsp_client_key(g.seed, cidx(c), key);
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

/* Parse buffered input. Returns bytes consumed, or -1 if the connection closed. */
static ssize_t process_input(struct conn *c, uint8_t *buf, size_t len)
{
    size_t off = 0;
    if (c->state == ST_HTTP) {
        const uint8_t *e = memmem(buf, len, "\r\n\r\n", 4);
        if (!e) {
            if (len > MAX_HTTP_HEADER) {
                conn_close(c, R_PROTO, 0);
                return -1;
            }
            return 0;
        }
        size_t hlen = (size_t)(e - buf) + 4;
        long status;
        int ok = check_upgrade(c, buf, hlen, &status);
        if (status != 101) {
            conn_close(c, R_HTTP, status);
            return -1;
        }
        if (ok != 1) {
            conn_close(c, R_PROTO, 0);
            return -1;
        }
        c->state = ST_WAIT_WELCOME;
        off = hlen;
    }
    while (len - off >= 2) {
        struct wsp_frame fr;
        if (!wsp_frame_header(buf + off, len - off, &fr)) break;
        int fin = fr.fin, op = fr.opcode;
        uint64_t plen = fr.len;
        if (plen > MAX_FRAME) {
            conn_close(c, R_PROTO, 0);
            return -1;
        }
        if (len - off < fr.hdr + plen) break;
        uint8_t *p = buf + off + fr.hdr;
        if (fr.mask) wsp_unmask(p, plen, fr.mask);
        off += fr.hdr + (size_t)plen;

        switch (op) {
        case 0x1: /* text */
        case 0x2: /* binary (ignored) */
            if (c->flags & F_IN_FRAG) {
                conn_close(c, R_PROTO, 0);
                return -1;
            }
            if (fin) {
                if (op == 0x1) handle_message(c, p, (size_t)plen);
            } else {
                c->flags |= F_IN_FRAG | (op == 0x1 ? F_FRAG_TEXT : 0);
                c->mbuf = malloc(plen ? plen : 1);
                if (!c->mbuf) {
                    conn_close(c, R_PROTO, 0);
                    return -1;
                }
                memcpy(c->mbuf, p, (size_t)plen);
                c->mlen = (uint32_t)plen;
            }
            break;
        case 0x0: { /* continuation */
            if (!(c->flags & F_IN_FRAG) || (uint64_t)c->mlen + plen > MAX_FRAME) {
                conn_close(c, R_PROTO, 0);
                return -1;
            }
            uint8_t *nb = realloc(c->mbuf, c->mlen + plen + 1);
            if (!nb) {
                conn_close(c, R_PROTO, 0);
                return -1;
            }
            c->mbuf = nb;
            memcpy(c->mbuf + c->mlen, p, (size_t)plen);
            c->mlen += (uint32_t)plen;
            if (fin) {
                if (c->flags & F_FRAG_TEXT) handle_message(c, c->mbuf, c->mlen);
                free(c->mbuf);
                c->mbuf = NULL;
                c->mlen = 0;
                c->flags &= (uint8_t) ~(F_IN_FRAG | F_FRAG_TEXT);
            }
            break;
        }
        case 0x8: { /* close: echo the status code, then drop the socket */
            long code = plen >= 2 ? (long)(p[0] << 8 | p[1]) : 1005;
            kt_add(&g.close_codes, code);
            ws_send(c, 0x8, p, plen >= 2 ? 2 : 0);
            if (c->state != ST_DONE) conn_close(c, R_CLOSED, code);
            return -1;
        }
        case 0x9: /* ping -> pong */
            g.pings++;
            if (plen > 125 || ws_send(c, 0xA, p, (size_t)plen) < 0) {
                if (c->state != ST_DONE) conn_close(c, R_PROTO, 0);
                return -1;
            }
            break;
        case 0xA: /* pong */
            break;
        default:
            conn_close(c, R_PROTO, 0);
            return -1;
        }
        if (c->state == ST_DONE) return -1;
    }
    return (ssize_t)off;
}

static void conn_read(struct conn *c)
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
                conn_close(c, R_PROTO, 0);
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
        conn_close(c, R_CLOSED, 0);
        return;
    }
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        conn_close(c, R_CLOSED, errno);
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
                conn_close(c, R_PROTO, 0);
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

static void on_connected(struct conn *c)
{
    char key[25], req[1024];
    wsp_client_key(g.seed, cidx(c), key);
    int n = snprintf(
        req, sizeof req,
        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nUser-Agent: mt-loadgen\r\n\r\n",
        opt.path, g.hosthdr, key);
    if (n < 0 || (size_t)n >= sizeof req) {
        conn_close(c, R_PROTO, 0);
        return;
    }
    c->state = ST_HTTP;
    conn_events(c, F_EV_READ);
    conn_write(c, (const uint8_t *)req, (size_t)n);
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) err = errno;
        if (err) {
            conn_close(c, R_CONNECT, err);
            return;
        }
        on_connected(c);
        return;
    }
    if ((what & EV_WRITE) && conn_flush(c) < 0) return;
    if ((what & EV_READ) && c->state != ST_DONE) conn_read(c);
}

static void conn_start(struct conn *c)
{
    uint32_t idx = cidx(c);
    g.started++;
    g.inflight++;
    c->state = ST_CONNECTING;
    c->fd = -1;
    c->t_start = (uint32_t)(wsp_now_us() - g.t_ramp0);
    int fd = socket(g.dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        conn_close(c, R_CONNECT, errno);
        return;
    }
    c->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.local_ip_range > 0 && g.dst.ss_family == AF_INET) {
        struct sockaddr_in src = {0};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000001u + idx % opt.local_ip_range);
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            /* the close path needs a registered event; keep it simple */
            int e = errno;
            close(fd);
            c->fd = -1;
            conn_close(c, R_CONNECT, e);
            return;
        }
    }
    int r = connect(fd, (struct sockaddr *)&g.dst, g.dstlen);
    if (r < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        c->fd = -1;
        conn_close(c, R_CONNECT, e);
        return;
    }
    event_assign(&c->ev, g.base, fd, EV_WRITE | EV_PERSIST, conn_cb, c);
    event_add(&c->ev, NULL);
    c->flags = F_EV_WRITE;
    if (r == 0) on_connected(c);
}

/* --------------------------------------------------------------- reporting */

static const char *errname(long e)
{
    switch (e) {
    case ECONNREFUSED:
        return "ECONNREFUSED";
    case ECONNRESET:
        return "ECONNRESET";
    case ETIMEDOUT:
        return "ETIMEDOUT";
    case EADDRNOTAVAIL:
        return "EADDRNOTAVAIL";
    case EADDRINUSE:
        return "EADDRINUSE";
    case EMFILE:
        return "EMFILE";
    case ENFILE:
        return "ENFILE";
    case ENETUNREACH:
        return "ENETUNREACH";
    case EHOSTUNREACH:
        return "EHOSTUNREACH";
    case ENOBUFS:
        return "ENOBUFS";
    case ENOMEM:
        return "ENOMEM";
    default:
        return NULL;
    }
}

static double meas_secs(void)
{
    if (!g.t_meas0) return 0.0;
    uint64_t end = g.t_meas_end ? g.t_meas_end : wsp_now_us();
    return (double)(end - g.t_meas0) / 1e6;
}

static double ramp_secs(void)
{
    if (!g.t_ramp0) return 0.0;
    uint64_t end = g.t_ramp_end ? g.t_ramp_end : wsp_now_us();
    return (double)(end - g.t_ramp0) / 1e6;
}

static json_t *jnum_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *hist_json(const struct wsp_hist *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "samples", json_integer((json_int_t)h->count));
    json_object_set_new(o, "p50", jnum_or_null(wsp_hist_pct(h, 50) / 1000.0));
    json_object_set_new(o, "p95", jnum_or_null(wsp_hist_pct(h, 95) / 1000.0));
    json_object_set_new(o, "p99", jnum_or_null(wsp_hist_pct(h, 99) / 1000.0));
    json_object_set_new(o, "max", h->count ? json_real((double)h->max / 1000.0) : json_null());
    json_object_set_new(o, "min", h->count ? json_real((double)h->min / 1000.0) : json_null());
    json_object_set_new(o, "mean",
                        h->count ? json_real(h->sum / (double)h->count / 1000.0) : json_null());
    return o;
}

static const char *fmt_num(char buf[32], double v, int prec)
{
    if (isnan(v)) return "-";
    snprintf(buf, 32, "%.*f", prec, v);
    return buf;
}

static void print_hist(const char *label, const struct wsp_hist *h)
{
    char a[32], b[32], c[32], d[32], e[32];
    printf("%s: p50 %s, p95 %s, p99 %s, max %s, mean %s (n=%llu)\n", label,
           fmt_num(a, wsp_hist_pct(h, 50) / 1e3, 3), fmt_num(b, wsp_hist_pct(h, 95) / 1e3, 3),
           fmt_num(c, wsp_hist_pct(h, 99) / 1e3, 3),
           fmt_num(d, h->count ? (double)h->max / 1e3 : NAN, 3),
           fmt_num(e, h->count ? h->sum / (double)h->count / 1e3 : NAN, 3),
           (unsigned long long)h->count);
}

static void print_report(void)
{
    double ms = meas_secs();
    double achieved = ms > 0 ? (double)g.hb_sent / ms : 0.0;
    double reply_rate = ms > 0 ? (double)g.hb_replies / ms : 0.0;
    uint64_t failed = g.fail_connect + g.fail_http + g.fail_closed + g.fail_timeout + g.fail_proto;
    long rss_delta = (g.rss_before >= 0 && g.rss_after >= 0) ? g.rss_after - g.rss_before : 0;
    double per_conn = g.held_at_end ? (double)rss_delta / g.held_at_end : NAN;
    long self_delta = g.self_rss_after - g.self_rss_before;
    double self_per_conn = g.held_at_end ? (double)self_delta * 1024.0 / g.held_at_end : NAN;
    /* CPU over the measuring window, in % of one core (NAN when not known) */
    double srv_cpu_pct = NAN, self_cpu_pct = NAN;
    if (g.cpu0_taken && g.rss_after_taken && ms > 0) {
        if (opt.server_pid > 0 && g.srv_cpu0 >= 0 && g.srv_cpu1 >= 0)
            srv_cpu_pct = (g.srv_cpu1 - g.srv_cpu0) * 100.0 / ms;
        if (g.self_cpu0 >= 0 && g.self_cpu1 >= 0)
            self_cpu_pct = (g.self_cpu1 - g.self_cpu0) * 100.0 / ms;
    }

    if (opt.json) {
        json_t *o = json_object();
        json_object_set_new(o, "target", json_sprintf("ws://%s%s", g.hosthdr, opt.path));
        json_object_set_new(o, "interrupted", json_boolean(g.interrupted));
        json_t *cn = json_object();
        json_object_set_new(cn, "requested", json_integer(opt.connections));
        json_object_set_new(cn, "attempted", json_integer(g.started));
        json_object_set_new(cn, "established", json_integer(g.established));
        json_object_set_new(cn, "failed", json_integer((json_int_t)failed));
        json_object_set_new(cn, "held", json_integer(g.held_at_end));
        json_object_set_new(cn, "dropped_after_established", json_integer((json_int_t)g.dropped));
        json_object_set_new(o, "connections", cn);
        json_t *fl = json_object();
        json_object_set_new(fl, "connect_error", json_integer((json_int_t)g.fail_connect));
        json_object_set_new(fl, "http_status", json_integer((json_int_t)g.fail_http));
        json_object_set_new(fl, "closed", json_integer((json_int_t)g.fail_closed));
        json_object_set_new(fl, "timeout", json_integer((json_int_t)g.fail_timeout));
        json_object_set_new(fl, "protocol", json_integer((json_int_t)g.fail_proto));
        json_t *hs = json_object();
        for (unsigned i = 0; i < g.http_status.n; i++) {
            char k[16];
            snprintf(k, sizeof k, "%ld", g.http_status.e[i].key);
            json_object_set_new(hs, k, json_integer((json_int_t)g.http_status.e[i].n));
        }
        json_object_set_new(fl, "http_statuses", hs);
        json_t *ce = json_object();
        for (unsigned i = 0; i < g.connect_errno.n; i++) {
            const char *n = errname(g.connect_errno.e[i].key);
            char k[24];
            if (!n) {
                snprintf(k, sizeof k, "errno_%ld", g.connect_errno.e[i].key);
                n = k;
            }
            json_object_set_new(ce, n, json_integer((json_int_t)g.connect_errno.e[i].n));
        }
        json_object_set_new(fl, "connect_errnos", ce);
        json_t *cc = json_object();
        for (unsigned i = 0; i < g.close_codes.n; i++) {
            char k[16];
            snprintf(k, sizeof k, "%ld", g.close_codes.e[i].key);
            json_object_set_new(cc, k, json_integer((json_int_t)g.close_codes.e[i].n));
        }
        json_object_set_new(fl, "server_close_codes", cc);
        json_object_set_new(o, "failures", fl);
        json_object_set_new(o, "handshake_ms", hist_json(&g.handshake));
        json_object_set_new(o, "ramp_s", json_real(ramp_secs()));
        json_object_set_new(o, "measure_s", json_real(ms));
        json_t *m = json_object();
        json_object_set_new(m, "sent", json_integer((json_int_t)g.hb_sent));
        json_object_set_new(m, "replies", json_integer((json_int_t)g.hb_replies));
        json_object_set_new(m, "skipped_backpressure", json_integer((json_int_t)g.hb_skipped));
        json_object_set_new(m, "target_rate", json_real(opt.rate));
        json_object_set_new(m, "send_rate", json_real(achieved));
        json_object_set_new(m, "reply_rate", json_real(reply_rate));
        json_object_set_new(m, "bad_replies", json_integer((json_int_t)g.hb_bad));
        json_object_set_new(m, "server_errors", json_integer((json_int_t)g.srv_errors));
        json_t *ec = json_object();
        for (unsigned i = 0; i < g.error_codes.n; i++)
            json_object_set_new(ec, g.error_codes.e[i].s,
                                json_integer((json_int_t)g.error_codes.e[i].n));
        json_object_set_new(m, "server_error_codes", ec);
        json_object_set_new(m, "other_messages", json_integer((json_int_t)g.other_msgs));
        json_object_set_new(m, "bad_json", json_integer((json_int_t)g.bad_json));
        json_object_set_new(m, "pings", json_integer((json_int_t)g.pings));
        json_object_set_new(o, "messages", m);
        json_object_set_new(o, "rtt_ms", hist_json(&g.rtt));
        /* the RTT histogram itself, so that several processes' reports can be merged:
         * [bucket value in µs, count] for every non-empty bucket */
        json_t *hb = json_array();
        for (unsigned i = 0; i < WSP_HIST_BUCKETS; i++)
            if (g.rtt.b[i])
                json_array_append_new(
                    hb, json_pack("[f,I]", wsp_hist_value(i), (json_int_t)g.rtt.b[i]));
        json_object_set_new(o, "rtt_hist_us", hb);
        if (opt.server_pid > 0) {
            json_t *r = json_object();
            json_object_set_new(r, "pid", json_integer(opt.server_pid));
            json_object_set_new(r, "before_kib",
                                g.rss_before >= 0 ? json_integer(g.rss_before) : json_null());
            json_object_set_new(r, "after_kib",
                                g.rss_after >= 0 ? json_integer(g.rss_after) : json_null());
            json_object_set_new(r, "delta_kib", json_integer(rss_delta));
            json_object_set_new(r, "per_held_conn_kib", jnum_or_null(per_conn));
            json_object_set_new(o, "server_rss", r);
        } else {
            json_object_set_new(o, "server_rss", json_null());
        }
        json_object_set_new(o, "server_cpu_pct", jnum_or_null(srv_cpu_pct));
        json_t *lg = json_object();
        json_object_set_new(lg, "rss_before_kib", json_integer(g.self_rss_before));
        json_object_set_new(lg, "rss_after_kib", json_integer(g.self_rss_after));
        json_object_set_new(lg, "per_held_conn_bytes", jnum_or_null(self_per_conn));
        json_object_set_new(lg, "conn_struct_bytes", json_integer((json_int_t)sizeof(struct conn)));
        json_object_set_new(lg, "cpu_pct", jnum_or_null(self_cpu_pct));
        json_object_set_new(o, "loadgen", lg);
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
        if (s) {
            puts(s);
            free(s);
        }
        json_decref(o);
        fflush(stdout);
        return;
    }

    printf("mt-loadgen report: ws://%s%s%s\n", g.hosthdr, opt.path,
           g.interrupted ? "  (interrupted)" : "");
    printf("connections: requested %u, attempted %u, established %u, failed %llu, held at end %u, "
           "dropped after established %llu\n",
           opt.connections, g.started, g.established, (unsigned long long)failed, g.held_at_end,
           (unsigned long long)g.dropped);
    printf("failures: connect error %llu, http status %llu, closed %llu, timeout %llu, protocol "
           "%llu\n",
           (unsigned long long)g.fail_connect, (unsigned long long)g.fail_http,
           (unsigned long long)g.fail_closed, (unsigned long long)g.fail_timeout,
           (unsigned long long)g.fail_proto);
    if (g.http_status.n) {
        printf("  http statuses:");
        for (unsigned i = 0; i < g.http_status.n; i++)
            printf(" %ld x%llu", g.http_status.e[i].key, (unsigned long long)g.http_status.e[i].n);
        printf("\n");
    }
    if (g.connect_errno.n) {
        printf("  connect errors:");
        for (unsigned i = 0; i < g.connect_errno.n; i++) {
            const char *n = errname(g.connect_errno.e[i].key);
            if (n)
                printf(" %s x%llu", n, (unsigned long long)g.connect_errno.e[i].n);
            else
                printf(" errno %ld x%llu", g.connect_errno.e[i].key,
                       (unsigned long long)g.connect_errno.e[i].n);
        }
        printf("\n");
    }
    if (g.close_codes.n) {
        printf("  server close codes:");
        for (unsigned i = 0; i < g.close_codes.n; i++)
            printf(" %ld x%llu", g.close_codes.e[i].key, (unsigned long long)g.close_codes.e[i].n);
        printf("\n");
    }
    print_hist("handshake (connect->welcome) ms", &g.handshake);
    printf("ramp %.2f s, measured %.2f s\n", ramp_secs(), ms);
    printf("messages: sent %llu, replies %llu, target rate %.1f/s, achieved send rate %.1f/s, "
           "reply rate %.1f/s, skipped (backpressure) %llu, server pings %llu\n",
           (unsigned long long)g.hb_sent, (unsigned long long)g.hb_replies, opt.rate, achieved,
           reply_rate, (unsigned long long)g.hb_skipped, (unsigned long long)g.pings);
    if (g.srv_errors || g.other_msgs || g.bad_json || g.hb_bad) {
        printf("  server errors %llu", (unsigned long long)g.srv_errors);
        for (unsigned i = 0; i < g.error_codes.n; i++)
            printf(" %s x%llu", g.error_codes.e[i].s, (unsigned long long)g.error_codes.e[i].n);
        printf(", other messages %llu, bad json %llu, bad heartbeat replies %llu\n",
               (unsigned long long)g.other_msgs, (unsigned long long)g.bad_json,
               (unsigned long long)g.hb_bad);
    }
    print_hist("rtt ms", &g.rtt);
    char a[32], b[32];
    if (opt.server_pid > 0)
        printf("server rss (pid %ld): before %ld KiB, after %ld KiB, delta %ld KiB, per held "
               "connection %s KiB\n",
               opt.server_pid, g.rss_before, g.rss_after, rss_delta, fmt_num(a, per_conn, 2));
    printf("loadgen rss: before %ld KiB, after %ld KiB, %s B per held connection (conn struct %zu "
           "B)\n",
           g.self_rss_before, g.self_rss_after, fmt_num(b, self_per_conn, 0), sizeof(struct conn));
    char c1[32], c2[32];
    printf("cpu over the measuring window (%% of one core): server %s, loadgen %s\n",
           fmt_num(c1, srv_cpu_pct, 1), fmt_num(c2, self_cpu_pct, 1));
    fflush(stdout);
}

/* ------------------------------------------------------------- run phases */

static void take_after_snapshot(void)
{
    if (g.rss_after_taken) return;
    g.rss_after_taken = 1;
    g.held_at_end = g.nopen;
    if (opt.server_pid > 0) g.rss_after = read_rss_kib(opt.server_pid);
    g.self_rss_after = read_rss_kib(0);
    if (opt.server_pid > 0) g.srv_cpu1 = read_cpu_s(opt.server_pid);
    g.self_cpu1 = read_cpu_s(0);
}

static void finish(void)
{
    if (g.finished) return;
    g.finished = 1;
    g.phase = PH_DONE;
    take_after_snapshot();
    if (!g.t_meas_end && g.t_meas0) g.t_meas_end = wsp_now_us();
    if (!g.t_ramp_end && g.t_ramp0) g.t_ramp_end = wsp_now_us();
    print_report();
    /* say goodbye: a close frame to every open socket, then close them all */
    static const uint8_t bye[2] = {0x03, 0xE8}; /* 1000 */
    for (uint32_t i = 0; i < g.started; i++) {
        struct conn *c = &g.conns[i];
        if (c->state == ST_OPEN || c->state == ST_WAIT_WELCOME) {
            c->wlen = 0; /* drop whatever is pending; best effort */
            ws_send(c, 0x8, bye, 2);
        }
        conn_close(c, R_LOCAL, 0);
    }
    event_base_loopbreak(g.base);
}

static void begin_measure(uint64_t now)
{
    g.t_ramp_end = now;
    g.t_meas0 = now;
    g.sched_base = 0;
    if (opt.server_pid > 0) g.srv_cpu0 = read_cpu_s(opt.server_pid);
    g.self_cpu0 = read_cpu_s(0);
    g.cpu0_taken = 1;
    g.cursor = 0;
    if (g.nopen == 0) { /* nothing to measure */
        g.t_meas_end = now;
        finish();
        return;
    }
    g.phase = PH_MEASURE;
}

static void send_heartbeats(uint64_t now)
{
    if (opt.rate <= 0 || g.nopen == 0) return;
    uint64_t target = (uint64_t)((double)(now - g.t_meas0) * opt.rate / 1e6);
    uint64_t done = g.hb_sent + g.hb_skipped + g.sched_base;
    if (target <= done) return;
    uint64_t due = target - done;
    /* never burst more than 50 ms worth: if we fell behind, forget the deficit
     * (it shows up as achieved rate < target) */
    uint64_t cap = (uint64_t)(opt.rate * 0.05) + 1;
    if (due > cap) {
        g.sched_base += due - cap;
        due = cap;
    }
    char msg[128];
    while (due > 0 && g.nopen > 0) {
        int n = snprintf(msg, sizeof msg,
                         "{\"type\":\"heartbeat\",\"payload\":{\"timestamp\":%.3f}}", now_ms());
        struct conn *c = NULL;
        for (uint32_t tries = 0; tries < g.nopen; tries++) {
            if (g.cursor >= g.nopen) g.cursor = 0;
            struct conn *cand = &g.conns[g.open[g.cursor++]];
            if (cand->wlen == 0) {
                c = cand;
                break;
            }
        }
        if (!c) {
            g.hb_skipped += due;
            break;
        } /* every socket is backed up */
        due--;
        if (ws_send(c, 0x1, msg, (size_t)n) == 0) g.hb_sent++;
    }
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    uint64_t now = wsp_now_us();
    switch (g.phase) {
    case PH_RAMP: {
        if (g.started < opt.connections) {
            double allowed_d = (double)(now - g.t_ramp0) * opt.ramp_rate / 1e6 + 1.0;
            uint64_t allowed =
                allowed_d > (double)opt.connections ? opt.connections : (uint64_t)allowed_d;
            while (g.started < allowed && g.inflight < opt.max_handshakes)
                conn_start(&g.conns[g.started]);
        }
        if (g.started >= opt.connections && g.inflight == 0) {
            begin_measure(now);
        } else if (now >= g.t_ramp_deadline) {
            for (uint32_t i = 0; i < g.started; i++) {
                struct conn *c = &g.conns[i];
                if (c->state >= ST_CONNECTING && c->state < ST_OPEN) conn_close(c, R_TIMEOUT, 0);
            }
            begin_measure(now);
        }
        break;
    }
    case PH_MEASURE:
        if (now >= g.t_meas0 + (uint64_t)(opt.duration * 1e6)) {
            g.t_meas_end = now;
            take_after_snapshot();
            g.phase = PH_DRAIN;
            g.t_drain_deadline = now + DRAIN_US;
        } else {
            send_heartbeats(now);
        }
        break;
    case PH_DRAIN:
        if (g.hb_replies >= g.hb_sent || g.nopen == 0 || now >= g.t_drain_deadline) finish();
        break;
    default:
        break;
    }
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    g.interrupted = 1;
    finish();
}

/* -------------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mt-loadgen [options]\n"
            "  --host H              server address (default 127.0.0.1)\n"
            "  --port P              server port (default 8080)\n"
            "  --path P              upgrade path, may carry ?token=... (default /ws)\n"
            "  --connections N       connections to open (default 1000)\n"
            "  --ramp-rate R         new connections per second (default 2000)\n"
            "  --max-handshakes K    handshakes in flight at most (default 256)\n"
            "  --rate R              heartbeats per second across all connections (0 = idle hold)\n"
            "  --duration S          measuring time after the ramp, seconds (default 10)\n"
            "  --server-pid PID      report the server's VmRSS before/after\n"
            "  --json                one JSON object instead of text lines\n"
            "  --local-ip-range N    bind sources to 127.0.0.1..127.0.0.N (loopback targets)\n"
            "  --help\n");
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    enum {
        O_HOST = 1000,
        O_PORT,
        O_PATH,
        O_CONN,
        O_RAMP,
        O_MAXHS,
        O_RATE,
        O_DUR,
        O_PID,
        O_JSON,
        O_LIP,
        O_HELP
    };
    static const struct option lo[] = {
        {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},
        {"path", required_argument, 0, O_PATH},
        {"connections", required_argument, 0, O_CONN},
        {"ramp-rate", required_argument, 0, O_RAMP},
        {"max-handshakes", required_argument, 0, O_MAXHS},
        {"rate", required_argument, 0, O_RATE},
        {"duration", required_argument, 0, O_DUR},
        {"server-pid", required_argument, 0, O_PID},
        {"json", no_argument, 0, O_JSON},
        {"local-ip-range", required_argument, 0, O_LIP},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0},
    };
    int ch;
    double v;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case O_HOST:
            opt.host = optarg;
            break;
        case O_PORT:
            if (parse_num(optarg, 1, 65535, &v)) goto bad;
            opt.port = (int)v;
            break;
        case O_PATH:
            if (optarg[0] != '/' || strlen(optarg) > 700) goto bad;
            opt.path = optarg;
            break;
        case O_CONN:
            if (parse_num(optarg, 1, 10000000, &v)) goto bad;
            opt.connections = (uint32_t)v;
            break;
        case O_RAMP:
            if (parse_num(optarg, 0.001, 1e9, &v)) goto bad;
            opt.ramp_rate = v;
            break;
        case O_MAXHS:
            if (parse_num(optarg, 1, 1e6, &v)) goto bad;
            opt.max_handshakes = (unsigned)v;
            break;
        case O_RATE:
            if (parse_num(optarg, 0, 1e9, &v)) goto bad;
            opt.rate = v;
            break;
        case O_DUR:
            if (parse_num(optarg, 0, 1e7, &v)) goto bad;
            opt.duration = v;
            break;
        case O_PID:
            if (parse_num(optarg, 1, 1e10, &v)) goto bad;
            opt.server_pid = (long)v;
            break;
        case O_JSON:
            opt.json = 1;
            break;
        case O_LIP:
            if (parse_num(optarg, 1, 16777214, &v)) goto bad;
            opt.local_ip_range = (unsigned)v;
            break;
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
        continue;
    bad:
        if (ch != '?' && optarg) fprintf(stderr, "mt-loadgen: bad value '%s'\n", optarg);
        usage(stderr);
        return 2;
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }

    /* fds: soft limit up to the hard limit */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0) perror("mt-loadgen: setrlimit(RLIMIT_NOFILE)");
        }
        if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)opt.connections + 32 > rl.rlim_cur)
            fprintf(stderr,
                    "mt-loadgen: warning: %u connections exceed the fd limit %llu; the excess will "
                    "fail with "
                    "EMFILE (split across processes)\n",
                    opt.connections, (unsigned long long)rl.rlim_cur);
    }
    signal(SIGPIPE, SIG_IGN);

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", opt.port);
    int gai = getaddrinfo(opt.host, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        fprintf(stderr, "mt-loadgen: cannot resolve %s: %s\n", opt.host, gai_strerror(gai));
        return 2;
    }
    memcpy(&g.dst, ai->ai_addr, ai->ai_addrlen);
    g.dstlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    if (g.dst.ss_family == AF_INET6)
        snprintf(g.hosthdr, sizeof g.hosthdr, "[%s]:%d", opt.host, opt.port);
    else
        snprintf(g.hosthdr, sizeof g.hosthdr, "%s:%d", opt.host, opt.port);
    if (opt.local_ip_range && g.dst.ss_family != AF_INET)
        fprintf(stderr, "mt-loadgen: --local-ip-range ignored for a non-IPv4 target\n");

    g.conns = calloc(opt.connections, sizeof *g.conns);
    g.open = calloc(opt.connections, sizeof *g.open);
    if (!g.conns || !g.open) {
        fprintf(stderr, "mt-loadgen: out of memory\n");
        return 1;
    }
    g.seed = wsp_splitmix64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ wsp_now_us());
    g.rng = (uint32_t)(g.seed | 1);
    g.rss_before = g.rss_after = -1;

    struct event_config *cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    /* Without this libevent times timers with CLOCK_MONOTONIC_COARSE, one jiffy (4 ms at
     * HZ=250): the 1 ms tick then fires every 4 ms and heartbeats leave in bursts of 4 ms'
     * worth, which inflates the server's queueing and so the RTT. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    g.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!g.base) {
        fprintf(stderr, "mt-loadgen: event_base_new failed\n");
        return 1;
    }

    g.timer = event_new(g.base, -1, EV_PERSIST, tick_cb, NULL);
    g.sigint = evsignal_new(g.base, SIGINT, signal_cb, NULL);
    g.sigterm = evsignal_new(g.base, SIGTERM, signal_cb, NULL);
    evsignal_add(g.sigint, NULL);
    evsignal_add(g.sigterm, NULL);

    if (opt.server_pid > 0) {
        g.rss_before = read_rss_kib(opt.server_pid);
        if (g.rss_before < 0)
            fprintf(stderr, "mt-loadgen: cannot read /proc/%ld/status\n", opt.server_pid);
    }
    g.self_rss_before = read_rss_kib(0);

    g.phase = PH_RAMP;
    g.t_ramp0 = wsp_now_us();
    g.t_ramp_deadline =
        g.t_ramp0 + (uint64_t)(((double)opt.connections / opt.ramp_rate + RAMP_TIMEOUT_S) * 1e6);
    struct timeval tv = {0, TICK_US};
    evtimer_add(g.timer, &tv);
    tick_cb(-1, 0, NULL);

    event_base_dispatch(g.base);

    event_free(g.timer);
    event_free(g.sigint);
    event_free(g.sigterm);
    event_base_free(g.base);
    free(g.conns);
    free(g.open);
    return g.established > 0 ? 0 : 1;
}
