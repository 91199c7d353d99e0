/*
 * wsclient: the non-blocking RFC 6455 client of the bench generators (mt-loadgen, mt-gamegen).
 * Single-threaded, libevent based: one `struct event` per connection, one shared read buffer,
 * per-connection buffers only while a partial frame or unsent output is pending. It connects,
 * upgrades, reassembles text messages, answers pings and close frames, and counts how each
 * connection ended. What a message means is the tool's: every complete text message goes to
 * wsc.on_message, and the tool calls wsc_established() when it sees `welcome`.
 *
 * A tool's connection struct starts with a `struct wsc_conn` (member `wc`); the connections are
 * one array (wsc.conns, of wsc.stride bytes each), so that a connection's index is its position.
 * There is one client per process: the global `wsc`.
 */
#ifndef MT_BENCH_WSCLIENT_H
#define MT_BENCH_WSCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <jansson.h>

#include "wsproto.h"

/* ------------------------------------------------------- small count tables */

/* Counts per integer key (errno, HTTP status, close code): the first KT_MAX keys, then other. */
#define KT_MAX 16
struct ktab {
    struct {
        long key;
        uint64_t n;
    } e[KT_MAX];
    unsigned n;
    uint64_t other;
};
void kt_add(struct ktab *t, long key);

/* Counts per short string (error codes): the first `cap` (at most STAB_MAX) strings, then
 * other. Zero-initialised with cap 0 it keeps STAB_MAX. */
#define STAB_MAX 16
struct stab {
    struct {
        char s[32];
        uint64_t n;
    } e[STAB_MAX];
    unsigned n, cap;
    uint64_t other;
};
void st_add(struct stab *t, const char *s);

/* ------------------------------------------------------------- connections */

enum { ST_IDLE = 0, ST_CONNECTING, ST_HTTP, ST_WAIT_WELCOME, ST_OPEN, ST_DONE };
/* why a connection ended */
enum { R_CONNECT, R_HTTP, R_CLOSED, R_TIMEOUT, R_PROTO, R_LOCAL };

struct wsc_conn {
    struct event ev; /* the one event of this connection */
    uint8_t *rbuf;   /* partial input (NULL when none) */
    uint8_t *wbuf;   /* unsent output (NULL when none) */
    uint8_t *mbuf;   /* fragmented message being reassembled (rare) */
    uint32_t rlen, rcap;
    uint32_t wlen, wcap;
    uint32_t mlen;
    uint32_t t_start; /* µs since wsc.t0 at connect(), for the handshake latency */
    int fd;
    uint8_t state; /* ST_* */
    uint8_t flags;
};

struct wsc {
    /* set by the tool before the first wsc_start */
    struct event_base *base;
    struct sockaddr_storage dst;
    socklen_t dstlen;
    char hosthdr[300]; /* Host header: host:port ([v6]:port) */
    const char *path;
    const char *user_agent;
    unsigned local_ip_range; /* > 0: source addresses 127.0.0.1 ... 127.0.0.N (IPv4) */
    int all_close_codes;     /* count close codes received before welcome too */
    void *conns;             /* the tool's connection array */
    size_t stride;           /* sizeof one element of it */
    uint64_t t0;             /* µs, origin of wsc_conn.t_start */
    /* a complete text message */
    void (*on_message)(struct wsc_conn *c, const uint8_t *p, size_t n);
    /* called when c is about to be closed (state still the old one), or NULL */
    void (*on_close)(struct wsc_conn *c, int reason);
    uint64_t seed;   /* Sec-WebSocket-Key seed and mask/random generator */
    int interrupted; /* the run was cut short: SIGINT or SIGTERM (wsc_run), or by the tool */
    uint32_t rng;

    /* counts */
    uint32_t started, inflight, established;
    uint64_t fail_connect, fail_http, fail_closed, fail_timeout, fail_proto;
    uint64_t dropped; /* closed by the server or the network after welcome */
    uint64_t pings;
    struct ktab connect_errno, http_status, close_codes;
    struct wsp_hist handshake; /* µs from connect() to welcome */
};
extern struct wsc wsc;

/* Resolves host:port into wsc.dst and wsc.hosthdr. Returns 0, or -1 with a message on stderr
 * prefixed by prog. */
int wsc_resolve(const char *prog, const char *host, int port);

/* Seeds wsc.seed and wsc.rng from the time, the pid and the clock. */
void wsc_seed(void);

/* What every tool sets before its first connection: the seed (wsc_seed), prog as the
 * User-Agent, the upgrade path, the tool's connection array (elements of stride bytes) and the
 * two callbacks. */
void wsc_setup(const char *prog, const char *path, void *conns, size_t stride,
               void (*on_message)(struct wsc_conn *c, const uint8_t *p, size_t n),
               void (*on_close)(struct wsc_conn *c, int reason));

/* The JSON object of a message (the caller releases it) with *type its "type" (NULL when absent
 * or not a string); NULL when the n bytes at p are not a JSON object. */
json_t *wsc_parse(const uint8_t *p, size_t n, const char **type);

/* The next value of the xorshift32 generator that also makes the frame masks. */
uint32_t wsc_rand(void);

/* The index of c in wsc.conns. */
uint32_t wsc_idx(const struct wsc_conn *c);

/* Starts connecting c (counts it as started and in flight). */
void wsc_start(struct wsc_conn *c);

/* Marks c as established when it waits for welcome: ST_OPEN, counted, handshake latency
 * recorded (now in µs). Returns 1 when it did, 0 when c was not waiting. */
int wsc_established(struct wsc_conn *c, uint64_t now);

/* The ramp: starts the elements of wsc.conns in order, at rate a second since t0 (µs; the first
 * at once), up to total, while fewer than max_inflight handshakes are in flight. Call it on every
 * tick of the ramp. */
void wsc_ramp(uint64_t now, uint64_t t0, uint32_t total, double rate, unsigned max_inflight);

/* The ramp's deadline: closes (R_TIMEOUT) every started connection still connecting or waiting
 * for its upgrade or welcome. */
void wsc_timeout_handshakes(void);

/* Closes the socket and accounts for why. Does nothing on an idle or closed connection. */
void wsc_close(struct wsc_conn *c, int reason, long detail);

/* Sends one masked client frame (payload <= 4 KiB). Returns -1 when the connection closed (or
 * was closed already, or the payload is too large). */
int wsc_send(struct wsc_conn *c, int opcode, const void *payload, size_t n);

/* Sends a text frame of the n > 0 bytes at s; -1 as wsc_send, or when n <= 0. */
int wsc_text(struct wsc_conn *c, const char *s, int n);

/* ------------------------------------------------------------ process set-up */

/* Raises the soft RLIMIT_NOFILE to the hard limit, warns (prefixed by prog, followed by note)
 * when nconns connections will not fit, and ignores SIGPIPE. */
void wsc_raise_nofile(const char *prog, uint32_t nconns, const char *note);

/* Creates wsc.base (no locking, precise timers). Returns 0, or -1 with a message on stderr. */
int wsc_base_new(const char *prog);

/* Runs the event loop: tick(now in µs) every tick_us µs (and once now); on SIGINT and SIGTERM
 * wsc.interrupted set and finish() (the tool's end of the run: its report, wsc_close_all);
 * until event_base_loopbreak; then frees the events and wsc.base. */
void wsc_run(void (*tick)(uint64_t now), void (*finish)(void), long tick_us);

/* The goodbye at the end of a run: a close frame (1000) to every connection that is open or
 * waiting for welcome, dropping whatever output is pending; closes every started connection
 * (R_LOCAL) and breaks the event loop. */
void wsc_close_all(void);

#endif
