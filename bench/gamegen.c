/*
 * mt-gamegen: game-level load generator for the Monkeytown server (docs/benchmarks.md).
 *
 * Single-threaded, libevent based. It uses mt-loadgen's WebSocket client (wsclient.h: RFC 6455,
 * non-blocking sockets, one `struct event` per connection, one shared read buffer) and speaks
 * the game messages of the v1 wire contract (docs/contract/PROTOCOL.md). Two modes:
 *
 *   --mode games   C clients, each looping: create_game {game, vsAgent} -> play the first legal
 *                  action whenever a game_state says toMove == you -> game_over -> next game.
 *                  Reports complete games/s (overall and the median of 1 s windows), the game
 *                  latency (create_game sent -> game_over received) and errors by code.
 *   --mode rooms   R rooms of P players of a real-time game (arena): one client per room
 *                  creates it, P-1 join; every player sends move inputs (with an id, answered
 *                  by input_ack) at --input-rate per second. Reports the inter-arrival jitter
 *                  of game_state (|gap - period|), the input-to-update latency (input sent ->
 *                  first game_state after its input_ack), messages/s, and from the server's
 *                  /metrics the tick lateness and duration histograms (bucket deltas).
 *
 * With --server-pid the server's CPU (whole process and per thread: the loop thread is the one
 * whose tid is the pid) and RSS are read from /proc over the measuring window.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <jansson.h>

#include "cli.h"
#include "procstat.h"
#include "report.h"
#include "wsclient.h"
#include "wsproto.h"

#define TICK_US 1000        /* global timer period */
#define RAMP_TIMEOUT_S 10.0 /* extra time allowed for the ramp */
#define RETRY_US 200000     /* wait before re-sending a refused create/input */
#define PEND 8              /* rooms mode: inputs in flight per connection */
#define MAX_WINDOWS 3600

/* ---------------------------------------------------------------- options */

enum { M_GAMES, M_ROOMS };

static struct {
    const char *host;
    int port;
    const char *path;
    int mode;
    uint32_t clients;  /* games mode */
    const char *game;  /* games: tictactoe; rooms: arena */
    const char *agent; /* games mode vsAgent ("" = none) */
    uint32_t rooms, players;
    double input_rate;      /* rooms: per player per second */
    double state_period_ms; /* rooms: expected game_state period */
    long round_ms;
    double duration, warmup, setup_timeout;
    double ramp_rate;
    unsigned max_handshakes;
    long server_pid;
    const char *server_url;
    int json;
} opt = {"127.0.0.1", 8080,   "/ws", M_GAMES, 200,  NULL,   "random", 100, 4,    10.0,
         50.0,        600000, 10.0,  2.0,     30.0, 2000.0, 256,      0,   NULL, 0};

/* ------------------------------------------------------------ connections */

/* game-level state of a connection */
enum { G_IDLE = 0, G_CREATING, G_PLAYING, G_JOINING, G_WAITING, G_ACTIVE };
enum { RT_NONE = 0, RT_CREATE, RT_INPUT };

struct pending_input {
    uint32_t id;
    uint8_t acked;
    uint64_t t_send; /* µs */
};

struct conn {
    struct wsc_conn wc;    /* the socket (wsclient.h) */
    uint32_t act_idx;      /* position in g.act while listed */
    uint32_t next_id;      /* message ids sent on this socket */
    uint32_t req_id;       /* id of the create_game / join_game in flight */
    uint32_t wait_re;      /* games: id of the input whose answer has not come yet */
    uint64_t t_game;       /* µs: create_game sent for a game */
    uint64_t t_last_state; /* rooms: arrival of the previous game_state */
    uint64_t retry_at;     /* µs, 0: nothing to retry */
    uint8_t gstate;
    uint8_t retry_kind;
    uint8_t listed;
    uint8_t seat;
    char gid[40];
    char act[28]; /* games: the last action sent (for a retry after RATE_LIMIT_EXCEEDED) */
    struct pending_input pend[PEND]; /* rooms mode: inputs waiting for ack and update */
};

/* ------------------------------------------------------------ global state */

enum { PH_RAMP, PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_DONE };

#define MAX_TASKS 256 /* server threads whose CPU time is read */

struct room_slot {
    char gid[40];
    uint8_t created;
    uint8_t active; /* members that saw status active */
};

static struct {
    struct event_base *base;
    struct sockaddr_storage dst;
    socklen_t dstlen;
    char hosthdr[300];
    uint64_t seed;
    uint32_t rng;

    struct conn *conns;
    uint32_t nconns;
    uint32_t *act; /* games: open connections; rooms: connections whose game is active */
    uint32_t nact;
    uint32_t cursor;
    struct room_slot *rooms;
    uint32_t rooms_active;
    uint32_t nretry;

    int phase;
    uint64_t t0, t_ramp_end, t_ramp_deadline, t_setup_end, t_setup_deadline;
    uint64_t t_warm0, t_meas0, t_meas_end, t_drain_end, t_hard_deadline, t_last_tick;
    uint64_t sched_base, sched_sent, sched_skipped;

    uint32_t started, inflight, established;
    uint64_t fail_connect, fail_http, fail_closed, fail_timeout, fail_proto, dropped;
    struct ktab connect_errno, http_status, close_codes;
    struct wsp_hist handshake;

    /* messages */
    uint64_t msgs_total, msgs_window, bytes_window, bad_json, pings;
    struct stab errors;        /* error codes over the whole run */
    struct stab errors_window; /* within the measuring window */

    /* games mode */
    uint64_t games_started, games_done, games_window, inputs_sent, inputs_window;
    uint32_t windows[MAX_WINDOWS];
    struct wsp_hist game_lat;
    struct ktab results; /* 1 = seat 1 won, 2 = seat 2, 0 = draw, -1 other */

    /* rooms mode */
    uint64_t states_window, acks, acks_window, lost_pending, rt_inputs_window;
    struct wsp_hist jitter, gap, input_lat, timer_late;

    /* server */
    long rss0, rss1, hwm1;
    double srv_cpu0, srv_cpu1, self_cpu0, self_cpu1;
    struct ps_task tasks0[MAX_TASKS];
    int ntasks0;
    double loop_cpu_pct, other_cpu_pct;
    char *metrics0, *metrics1;
    int finished;
} g;

static int in_window(uint64_t t)
{
    return g.t_meas0 && t >= g.t_meas0 && (!g.t_meas_end || t < g.t_meas_end);
}

/* ----------------------------------------------------- /metrics over HTTP */

/* GET url + "/metrics" (blocking, 3 s timeout). Returns the body (malloc'd) or NULL. */
static char *fetch_metrics(void)
{
    if (!opt.server_url) return NULL;
    const char *u = opt.server_url;
    if (strncmp(u, "http://", 7) == 0) u += 7;
    char host[256];
    int port = 80;
    const char *colon = strchr(u, ':'), *slash = strchr(u, '/');
    size_t hl = colon ? (size_t)(colon - u) : slash ? (size_t)(slash - u) : strlen(u);
    if (hl == 0 || hl >= sizeof host) return NULL;
    memcpy(host, u, hl);
    host[hl] = 0;
    if (colon) port = atoi(colon + 1);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai) return NULL;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return NULL;
    }
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        freeaddrinfo(ai);
        close(fd);
        return NULL;
    }
    freeaddrinfo(ai);
    char req[400];
    int n =
        snprintf(req, sizeof req,
                 "GET /metrics HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n", host, port);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    if (!buf) return NULL;
    buf[len] = 0;
    char *body = strstr(buf, "\r\n\r\n");
    if (!body || strncmp(buf, "HTTP/1.1 200", 12) != 0) {
        free(buf);
        return NULL;
    }
    char *out = strdup(body + 4);
    free(buf);
    return out;
}

/* Sum of every series of a counter (or one labelled series when label is non-NULL, e.g.
 * `game="arena"`). Returns NAN when absent. */
static double prom_value(const char *text, const char *name, const char *label)
{
    if (!text) return NAN;
    double sum = NAN;
    size_t nl = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, name, nl) != 0 || (l[nl] != ' ' && l[nl] != '{')) continue;
        const char *eol = strchr(l, '\n');
        if (!eol) eol = l + strlen(l);
        if (label && l[nl] == '{') {
            const char *close = memchr(l, '}', (size_t)(eol - l));
            if (!close || !memmem(l, (size_t)(close - l), label, strlen(label))) continue;
        } else if (label) {
            continue;
        }
        const char *sp = eol;
        while (sp > l && sp[-1] != ' ')
            sp--;
        double v = strtod(sp, NULL);
        sum = isnan(sum) ? v : sum + v;
    }
    return sum;
}

#define PH_MAXB 32
struct prom_hist {
    int n;
    double le[PH_MAXB]; /* INFINITY for +Inf */
    double cum[PH_MAXB];
};

/* Reads the cumulative buckets of a histogram series (label may be NULL for an unlabelled one). */
static void prom_hist_read(const char *text, const char *name, const char *label,
                           struct prom_hist *h)
{
    h->n = 0;
    if (!text) return;
    char bname[128];
    snprintf(bname, sizeof bname, "%s_bucket{", name);
    size_t bl = strlen(bname);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, bname, bl) != 0) continue;
        const char *eol = strchr(l, '\n');
        if (!eol) eol = l + strlen(l);
        const char *close = memchr(l, '}', (size_t)(eol - l));
        if (!close) continue;
        if (label && !memmem(l, (size_t)(close - l), label, strlen(label))) continue;
        const char *le = memmem(l, (size_t)(close - l), "le=\"", 4);
        if (!le || h->n >= PH_MAXB) continue;
        le += 4;
        double lev = strncmp(le, "+Inf", 4) == 0 ? INFINITY : strtod(le, NULL);
        h->le[h->n] = lev;
        h->cum[h->n] = strtod(close + 1, NULL);
        h->n++;
    }
}

struct prom_delta {
    double count;
    double p50, p99; /* linear interpolation inside the bucket; INFINITY: beyond the last bound */
    double frac_le;  /* fraction of observations <= the bound asked for (NAN when no such bucket) */
    double max_le;   /* smallest bucket bound that holds every observation */
};

static double prom_quantile(const struct prom_hist *a, const struct prom_hist *b, double q)
{
    double total = b->cum[b->n - 1] - (a->n == b->n ? a->cum[a->n - 1] : 0);
    if (total <= 0) return NAN;
    double rank = q * total, prev_cum = 0, prev_le = 0;
    for (int i = 0; i < b->n; i++) {
        double c = b->cum[i] - (a->n == b->n ? a->cum[i] : 0);
        if (c >= rank) {
            if (isinf(b->le[i])) return INFINITY;
            double in = c - prev_cum;
            return prev_le + (b->le[i] - prev_le) * (in > 0 ? (rank - prev_cum) / in : 1.0);
        }
        prev_cum = c;
        prev_le = b->le[i];
    }
    return INFINITY;
}

static int prom_delta(const char *t0, const char *t1, const char *name, const char *label,
                      double bound, struct prom_delta *out)
{
    struct prom_hist a, b;
    prom_hist_read(t0, name, label, &a);
    prom_hist_read(t1, name, label, &b);
    memset(out, 0, sizeof *out);
    out->p50 = out->p99 = out->frac_le = out->max_le = NAN;
    if (b.n == 0) return -1;
    if (a.n != b.n) a.n = 0; /* the series appeared during the run: it started from zero */
    out->count = b.cum[b.n - 1] - (a.n ? a.cum[a.n - 1] : 0);
    if (out->count <= 0) return 0;
    out->p50 = prom_quantile(&a, &b, 0.50);
    out->p99 = prom_quantile(&a, &b, 0.99);
    for (int i = 0; i < b.n; i++) {
        double c = b.cum[i] - (a.n ? a.cum[i] : 0);
        if (b.le[i] == bound) out->frac_le = c / out->count;
        if (isnan(out->max_le) && c >= out->count) out->max_le = b.le[i];
    }
    return 0;
}

/* -------------------------------------------------------- connection core */

static uint32_t cidx(const struct conn *c)
{
    return (uint32_t)(c - g.conns);
}

static void act_add(struct conn *c)
{
    if (c->listed) return;
    c->listed = 1;
    c->act_idx = g.nact;
    g.act[g.nact++] = cidx(c);
}

static void act_remove(struct conn *c)
{
    if (!c->listed) return;
    c->listed = 0;
    uint32_t last = g.act[--g.nact];
    g.act[c->act_idx] = last;
    g.conns[last].act_idx = c->act_idx;
}

/* wsc.on_close: the connection leaves the active list and the retry count */
static void on_close(struct wsc_conn *wc, int reason)
{
    struct conn *c = (struct conn *)wc;
    (void)reason;
    act_remove(c);
    if (c->retry_at) {
        c->retry_at = 0;
        g.nretry--;
    }
}

static int ws_text(struct conn *c, const char *s, int n)
{
    return wsc_text(&c->wc, s, n);
}

/* ------------------------------------------------------------ game logic */

static void schedule_retry(struct conn *c, int kind, uint64_t now)
{
    if (!c->retry_at) g.nretry++;
    c->retry_at = now + RETRY_US;
    c->retry_kind = (uint8_t)kind;
}

/* games mode: create the next game */
static void start_game(struct conn *c, uint64_t now)
{
    if (c->wc.state != ST_OPEN || g.phase >= PH_DRAIN) return;
    char msg[256];
    c->req_id = ++c->next_id;
    int n;
    if (opt.agent && *opt.agent)
        n = snprintf(
            msg, sizeof msg,
            "{\"type\":\"create_game\",\"id\":%u,\"payload\":{\"game\":\"%s\",\"vsAgent\":\"%s\"}}",
            c->req_id, opt.game, opt.agent);
    else
        n = snprintf(msg, sizeof msg,
                     "{\"type\":\"create_game\",\"id\":%u,\"payload\":{\"game\":\"%s\"}}",
                     c->req_id, opt.game);
    c->gstate = G_CREATING;
    c->gid[0] = 0;
    c->wait_re = 0;
    c->t_game = now;
    if (ws_text(c, msg, n) == 0) g.games_started++;
}

static void send_input(struct conn *c, const char *action)
{
    char msg[512];
    c->wait_re = ++c->next_id;
    int n = snprintf(
        msg, sizeof msg,
        "{\"type\":\"player_input\",\"id\":%u,\"payload\":{\"gameId\":\"%s\",\"action\":%s}}",
        c->wait_re, c->gid, action);
    if (n <= 0 || (size_t)n >= sizeof msg) return;
    if (ws_text(c, msg, n) == 0) {
        g.inputs_sent++;
        if (in_window(wsp_now_us())) g.inputs_window++;
    }
}

/* rooms mode: the creator of room r */
static struct conn *room_member(uint32_t room, uint32_t k)
{
    return &g.conns[room * opt.players + k];
}

static void rooms_create(struct conn *c)
{
    char msg[256];
    c->req_id = ++c->next_id;
    int n = snprintf(
        msg, sizeof msg,
        "{\"type\":\"create_game\",\"id\":%u,\"payload\":{\"game\":\"%s\",\"config\":{\"seats\":%u,"
        "\"round_ms\":%ld}}}",
        c->req_id, opt.game, opt.players, opt.round_ms);
    c->gstate = G_CREATING;
    ws_text(c, msg, n);
}

static void rooms_join(struct conn *c, const char *gid)
{
    char msg[256];
    c->req_id = ++c->next_id;
    int n = snprintf(msg, sizeof msg,
                     "{\"type\":\"join_game\",\"id\":%u,\"payload\":{\"gameId\":\"%s\"}}",
                     c->req_id, gid);
    c->gstate = G_JOINING;
    snprintf(c->gid, sizeof c->gid, "%s", gid);
    ws_text(c, msg, n);
}

static void rt_send_input(struct conn *c, uint64_t now)
{
    char msg[256];
    uint32_t id = ++c->next_id;
    double x = (double)(wsc_rand() % 100001) / 100.0, y = (double)(wsc_rand() % 100001) / 100.0;
    int n = snprintf(msg, sizeof msg,
                     "{\"type\":\"player_input\",\"id\":%u,\"payload\":{\"gameId\":\"%s\","
                     "\"action\":{\"action\":"
                     "\"move\",\"x\":%.2f,\"y\":%.2f}}}",
                     id, c->gid, x, y);
    /* a free slot, else the oldest entry is given up */
    int slot = -1;
    uint64_t oldest = UINT64_MAX;
    int old_i = 0;
    for (int i = 0; i < PEND; i++) {
        if (c->pend[i].id == 0) {
            slot = i;
            break;
        }
        if (c->pend[i].t_send < oldest) {
            oldest = c->pend[i].t_send;
            old_i = i;
        }
    }
    if (slot < 0) {
        slot = old_i;
        g.lost_pending++;
    }
    if (ws_text(c, msg, n) < 0) return;
    c->pend[slot].id = id;
    c->pend[slot].acked = 0;
    c->pend[slot].t_send = now;
    g.sched_sent++;
    if (in_window(now)) g.rt_inputs_window++;
}

static void rt_on_ack(struct conn *c, uint32_t re, uint64_t now)
{
    g.acks++;
    if (in_window(now)) g.acks_window++;
    for (int i = 0; i < PEND; i++)
        if (c->pend[i].id == re) {
            c->pend[i].acked = 1;
            return;
        }
}

static void rt_on_state(struct conn *c, uint64_t now)
{
    if (in_window(now)) {
        g.states_window++;
        if (c->t_last_state >= g.t_meas0 && c->t_last_state) {
            uint64_t gap = now - c->t_last_state;
            uint64_t per = (uint64_t)(opt.state_period_ms * 1000.0);
            wsp_hist_add(&g.gap, gap);
            wsp_hist_add(&g.jitter, gap > per ? gap - per : per - gap);
        }
    }
    c->t_last_state = now;
    for (int i = 0; i < PEND; i++)
        if (c->pend[i].id && c->pend[i].acked) {
            if (in_window(c->pend[i].t_send)) wsp_hist_add(&g.input_lat, now - c->pend[i].t_send);
            c->pend[i].id = 0;
        }
}

static void rt_activate(struct conn *c, uint64_t now)
{
    if (c->gstate == G_ACTIVE) return;
    c->gstate = G_ACTIVE;
    c->t_last_state = now;
    act_add(c);
    uint32_t room = cidx(c) / opt.players;
    if (++g.rooms[room].active == opt.players) g.rooms_active++;
}

static void count_error(const char *code, uint64_t now)
{
    st_add(&g.errors, code ? code : "?");
    if (in_window(now)) st_add(&g.errors_window, code ? code : "?");
}

static void on_welcome(struct conn *c, uint64_t now)
{
    if (!wsc_established(&c->wc, now)) return;
    if (opt.mode == M_GAMES) {
        act_add(c);
        if (g.phase >= PH_WARMUP && g.phase < PH_DRAIN) start_game(c, now);
    }
}

static uint32_t re_of(json_t *root)
{
    json_t *re = json_object_get(root, "re");
    return json_is_integer(re) ? (uint32_t)json_integer_value(re) : 0;
}

static void games_message(struct conn *c, const char *type, json_t *root, uint64_t now)
{
    uint32_t re = re_of(root);
    json_t *payload = json_object_get(root, "payload");
    if (re && re == c->wait_re && strcmp(type, "error") != 0) c->wait_re = 0;
    if (strcmp(type, "error") == 0) {
        const char *code = json_string_value(json_object_get(payload, "code"));
        count_error(code, now);
        if (re && re == c->req_id && c->gstate == G_CREATING) {
            schedule_retry(c, RT_CREATE, now);
        } else if (re && re == c->wait_re) {
            c->wait_re = 0;
            if (code && strcmp(code, "RATE_LIMIT_EXCEEDED") == 0 && c->act[0])
                schedule_retry(c, RT_INPUT, now);
        }
        return;
    }
    if (strcmp(type, "game_created") == 0) {
        if (re == c->req_id && c->gstate == G_CREATING) {
            const char *gid = json_string_value(json_object_get(payload, "gameId"));
            if (gid) snprintf(c->gid, sizeof c->gid, "%s", gid);
            c->gstate = G_PLAYING;
        }
        return;
    }
    const char *gid = json_string_value(json_object_get(root, "gameId"));
    if (!gid || c->gstate != G_PLAYING || strcmp(gid, c->gid) != 0) return;
    if (strcmp(type, "game_state") == 0) {
        if (c->wait_re) return; /* the answer to our move has not come yet */
        json_t *you = json_object_get(payload, "you"), *to = json_object_get(payload, "toMove");
        const char *status = json_string_value(json_object_get(payload, "status"));
        if (json_is_integer(you)) c->seat = (uint8_t)json_integer_value(you);
        if (!status || strcmp(status, "active") != 0 || !json_is_integer(you) ||
            !json_is_integer(to) || json_integer_value(you) != json_integer_value(to))
            return;
        json_t *legal = json_object_get(payload, "legal");
        json_t *first = json_array_get(legal, 0);
        if (!first) return;
        char *a = json_dumps(first, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!a) return;
        if (strlen(a) < sizeof c->act)
            memcpy(c->act, a, strlen(a) + 1);
        else
            c->act[0] = 0;
        send_input(c, a);
        free(a);
    } else if (strcmp(type, "game_over") == 0) {
        g.games_done++;
        if (in_window(now)) {
            g.games_window++;
            uint64_t w = (now - g.t_meas0) / 1000000u;
            if (w < MAX_WINDOWS) g.windows[w]++;
            wsp_hist_add(&g.game_lat, now - c->t_game);
            json_t *res = json_object_get(payload, "result");
            json_t *winner = json_object_get(res, "winner");
            if (json_is_true(json_object_get(res, "draw")))
                kt_add(&g.results, 0);
            else if (json_is_integer(winner))
                kt_add(&g.results, json_integer_value(winner) == c->seat ? 1 : 2);
            else
                kt_add(&g.results, -1);
        }
        c->gstate = G_IDLE;
        start_game(c, now);
    }
}

static void rooms_message(struct conn *c, const char *type, json_t *root, uint64_t now)
{
    uint32_t re = re_of(root);
    json_t *payload = json_object_get(root, "payload");
    if (strcmp(type, "error") == 0) {
        const char *code = json_string_value(json_object_get(payload, "code"));
        count_error(code, now);
        if (re && re == c->req_id && c->gstate == G_CREATING) schedule_retry(c, RT_CREATE, now);
        return;
    }
    if (strcmp(type, "input_ack") == 0) {
        rt_on_ack(c, re, now);
        return;
    }
    if (strcmp(type, "game_created") == 0) {
        if (re != c->req_id || c->gstate != G_CREATING) return;
        const char *gid = json_string_value(json_object_get(payload, "gameId"));
        if (!gid) return;
        uint32_t room = cidx(c) / opt.players;
        snprintf(g.rooms[room].gid, sizeof g.rooms[room].gid, "%s", gid);
        snprintf(c->gid, sizeof c->gid, "%s", gid);
        g.rooms[room].created = 1;
        c->gstate = G_WAITING;
        for (uint32_t k = 1; k < opt.players; k++) {
            struct conn *m = room_member(room, k);
            if (m->wc.state == ST_OPEN && m->gstate == G_IDLE) rooms_join(m, gid);
        }
        return;
    }
    if (strcmp(type, "game_state") == 0) {
        const char *gid = json_string_value(json_object_get(root, "gameId"));
        if (!gid || strcmp(gid, c->gid) != 0) return;
        if (c->gstate == G_JOINING && re == c->req_id) c->gstate = G_WAITING;
        const char *status = json_string_value(json_object_get(payload, "status"));
        if (status && strcmp(status, "active") == 0) {
            rt_activate(c, now);
            rt_on_state(c, now);
        }
        return;
    }
}

/* wsc.on_message */
static void handle_message(struct wsc_conn *wc, const uint8_t *p, size_t n)
{
    struct conn *c = (struct conn *)wc;
    uint64_t now = wsp_now_us();
    g.msgs_total++;
    if (in_window(now)) {
        g.msgs_window++;
        g.bytes_window += n;
    }
    /* rooms mode fast path: the steady stream is game_state and input_ack, whose envelope the
     * server writes with "type" first; the whole message need not be parsed */
    if (opt.mode == M_ROOMS && c->gstate == G_ACTIVE && n > 40 && p[0] == '{') {
        if (memcmp(p, "{\"type\":\"game_state\"", 20) == 0 &&
            memmem(p, n < 240 ? n : 240, "\"status\":\"active\"", 17)) {
            rt_on_state(c, now);
            return;
        }
        if (memcmp(p, "{\"type\":\"input_ack\"", 19) == 0) {
            const uint8_t *r = memmem(p, n, ",\"re\":", 6);
            if (r) {
                rt_on_ack(c, (uint32_t)strtoul((const char *)r + 6, NULL, 10), now);
                return;
            }
        }
    }
    const char *type;
    json_t *root = wsc_parse(p, n, &type);
    if (!root) {
        g.bad_json++;
        return;
    }
    if (!type) {
        /* nothing */
    } else if (strcmp(type, "welcome") == 0) {
        on_welcome(c, now);
    } else if (c->wc.state == ST_OPEN) {
        if (opt.mode == M_GAMES)
            games_message(c, type, root, now);
        else
            rooms_message(c, type, root, now);
    }
    json_decref(root);
}

/* --------------------------------------------------------------- reporting */

static double secs(uint64_t a, uint64_t b)
{
    return a && b > a ? (double)(b - a) / 1e6 : 0.0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static json_t *stab_json(const struct stab *t)
{
    json_t *o = json_object();
    for (unsigned i = 0; i < t->n; i++)
        json_object_set_new(o, t->e[i].s, json_integer((json_int_t)t->e[i].n));
    if (t->other) json_object_set_new(o, "other", json_integer((json_int_t)t->other));
    return o;
}

static json_t *prom_json(const struct prom_delta *d, const char *bound_name)
{
    json_t *o = json_object();
    json_object_set_new(o, "count", json_real(d->count));
    json_object_set_new(o, "p50", rep_jnum(d->p50));
    json_object_set_new(o, "p99", rep_jnum(d->p99));
    json_object_set_new(o, bound_name, rep_jnum(d->frac_le));
    json_object_set_new(o, "max_bucket", rep_jnum(d->max_le));
    return o;
}

/* the figures both forms of the report show */
struct figs {
    double ms;
    uint64_t failed;
    double srv_cpu;
    double self_cpu;
    uint32_t nw;
    double wmed;
    double wmin;
    double wmax;
    struct prom_delta lat;
    struct prom_delta dur;
    struct prom_delta lua;
    struct prom_delta slua;
    struct prom_delta evl;
    struct prom_delta stl;
    int have_lat;
    int have_dur;
    int have_lua;
    int have_slua;
    int have_evl;
    int have_stl;
    double dropped;
    double in_dropped;
    double players;
    double sq0;
    double sq1;
};

static void report_figures(struct figs *f)
{
    double ms = secs(g.t_meas0, g.t_meas_end);
    uint64_t failed =
        wsc.fail_connect + wsc.fail_http + wsc.fail_closed + wsc.fail_timeout + wsc.fail_proto;
    double srv_cpu = NAN, self_cpu = NAN;
    if (ms > 0) {
        if (opt.server_pid > 0 && g.srv_cpu0 >= 0 && g.srv_cpu1 >= 0)
            srv_cpu = (g.srv_cpu1 - g.srv_cpu0) * 100.0 / ms;
        if (g.self_cpu0 >= 0 && g.self_cpu1 >= 0)
            self_cpu = (g.self_cpu1 - g.self_cpu0) * 100.0 / ms;
    }
    /* games: per-second windows */
    uint32_t nw = (uint32_t)floor(ms + 1e-9);
    if (nw > MAX_WINDOWS) nw = MAX_WINDOWS;
    double wmed = NAN, wmin = NAN, wmax = NAN;
    if (nw > 0) {
        uint32_t *w = malloc(nw * sizeof *w);
        if (w) {
            memcpy(w, g.windows, nw * sizeof *w);
            qsort(w, nw, sizeof *w, cmp_u32);
            wmed = nw % 2 ? w[nw / 2] : (w[nw / 2 - 1] + w[nw / 2]) / 2.0;
            wmin = w[0];
            wmax = w[nw - 1];
            free(w);
        }
    }
    struct prom_delta lat = {0}, dur = {0}, lua = {0}, slua = {0};
    int have_lat =
        prom_delta(g.metrics0, g.metrics1, "tick_lateness_ms", "game=\"arena\"", 2.0, &lat) == 0;
    int have_dur =
        prom_delta(g.metrics0, g.metrics1, "tick_duration_ms", "game=\"arena\"", 0.05, &dur) == 0;
    int have_lua =
        prom_delta(g.metrics0, g.metrics1, "tick_lua_ms", "game=\"arena\"", 0.05, &lua) == 0;
    int have_slua =
        prom_delta(g.metrics0, g.metrics1, "state_lua_ms", "game=\"arena\"", 0.05, &slua) == 0;
    struct prom_delta evl = {0};
    int have_evl = prom_delta(g.metrics0, g.metrics1, "ws_event_latency_ms", NULL, 1.0, &evl) == 0;
    double dropped = prom_value(g.metrics1, "ticks_dropped_total", "game=\"arena\"");
    double dropped0 = prom_value(g.metrics0, "ticks_dropped_total", "game=\"arena\"");
    if (!isnan(dropped)) dropped -= isnan(dropped0) ? 0 : dropped0;
    double in_dropped = prom_value(g.metrics1, "inputs_dropped_total", "game=\"arena\"");
    double in_dropped0 = prom_value(g.metrics0, "inputs_dropped_total", "game=\"arena\"");
    if (!isnan(in_dropped)) in_dropped -= isnan(in_dropped0) ? 0 : in_dropped0;
    double players = (double)opt.rooms * opt.players;
    /* PostgreSQL store (absent with the embedded one): batches written, their latency, backlog */
    struct prom_delta stl = {0};
    int have_stl =
        prom_delta(g.metrics0, g.metrics1, "store_write_latency_ms", NULL, 10.0, &stl) == 0;
    double sq0 = prom_value(g.metrics0, "store_queue_rows", NULL),
           sq1 = prom_value(g.metrics1, "store_queue_rows", NULL);
    f->ms = ms;
    f->failed = failed;
    f->srv_cpu = srv_cpu;
    f->self_cpu = self_cpu;
    f->nw = nw;
    f->wmed = wmed;
    f->wmin = wmin;
    f->wmax = wmax;
    f->lat = lat;
    f->dur = dur;
    f->lua = lua;
    f->slua = slua;
    f->evl = evl;
    f->stl = stl;
    f->have_lat = have_lat;
    f->have_dur = have_dur;
    f->have_lua = have_lua;
    f->have_slua = have_slua;
    f->have_evl = have_evl;
    f->have_stl = have_stl;
    f->dropped = dropped;
    f->in_dropped = in_dropped;
    f->players = players;
    f->sq0 = sq0;
    f->sq1 = sq1;
}

/* count over the measuring window, per second (0 when nothing was measured) */
static json_t *json_per_s(const struct figs *f, double count)
{
    return json_real(f->ms > 0 ? count / f->ms : 0);
}

static json_t *json_connections(const struct figs *f)
{
    json_t *cn = json_object();
    json_object_set_new(cn, "requested", json_integer(g.nconns));
    json_object_set_new(cn, "established", json_integer(wsc.established));
    json_object_set_new(cn, "failed", json_integer((json_int_t)f->failed));
    json_object_set_new(cn, "dropped_after_established", json_integer((json_int_t)wsc.dropped));
    json_object_set_new(cn, "http_statuses", rep_ktab_json(&wsc.http_status));
    json_object_set_new(cn, "server_close_codes", rep_ktab_json(&wsc.close_codes));
    json_object_set_new(cn, "connect_errnos", rep_errnos_json());
    json_object_set_new(cn, "handshake_ms", rep_hist_json(&wsc.handshake, 90, 0));
    return cn;
}

static json_t *json_games(const struct figs *f)
{
    json_t *gm = json_object();
    json_object_set_new(gm, "clients", json_integer(opt.clients));
    json_object_set_new(gm, "game", json_string(opt.game));
    json_object_set_new(gm, "agent", json_string(opt.agent ? opt.agent : ""));
    json_object_set_new(gm, "completed", json_integer((json_int_t)g.games_window));
    json_object_set_new(gm, "per_s", json_per_s(f, (double)g.games_window));
    json_object_set_new(gm, "per_s_window_median", rep_jnum(f->wmed));
    json_object_set_new(gm, "per_s_window_min", rep_jnum(f->wmin));
    json_object_set_new(gm, "per_s_window_max", rep_jnum(f->wmax));
    json_t *wa = json_array();
    for (uint32_t i = 0; i < f->nw; i++)
        json_array_append_new(wa, json_integer(g.windows[i]));
    json_object_set_new(gm, "windows", wa);
    json_object_set_new(gm, "latency_ms", rep_hist_json(&g.game_lat, 90, 0));
    json_object_set_new(gm, "inputs_per_s", json_per_s(f, (double)g.inputs_window));
    json_object_set_new(gm, "started_total", json_integer((json_int_t)g.games_started));
    json_object_set_new(gm, "completed_total", json_integer((json_int_t)g.games_done));
    json_t *rs = json_object();
    for (unsigned i = 0; i < g.results.n; i++) {
        long k = g.results.e[i].key;
        json_object_set_new(rs,
                            k == 0   ? "draw"
                            : k == 1 ? "won"
                            : k == 2 ? "lost"
                                     : "other",
                            json_integer((json_int_t)g.results.e[i].n));
    }
    json_object_set_new(gm, "results", rs);
    return gm;
}

static json_t *json_rooms(const struct figs *f)
{
    json_t *rm = json_object();
    json_object_set_new(rm, "rooms", json_integer(opt.rooms));
    json_object_set_new(rm, "players_per_room", json_integer(opt.players));
    json_object_set_new(rm, "rooms_active", json_integer(g.rooms_active));
    json_object_set_new(rm, "players_active", json_integer(g.nact));
    json_object_set_new(rm, "setup_s", json_real(secs(g.t_ramp_end, g.t_setup_end)));
    json_object_set_new(rm, "input_rate_per_player", json_real(opt.input_rate));
    json_object_set_new(rm, "inputs_per_s", json_per_s(f, (double)g.rt_inputs_window));
    json_object_set_new(rm, "inputs_target_per_s", json_real(f->players * opt.input_rate));
    json_object_set_new(rm, "acks_per_s", json_per_s(f, (double)g.acks_window));
    json_object_set_new(rm, "states_per_s", json_per_s(f, (double)g.states_window));
    json_object_set_new(rm, "states_expected_per_s",
                        json_real(g.nact * 1000.0 / opt.state_period_ms));
    json_object_set_new(rm, "state_gap_ms", rep_hist_json(&g.gap, 90, 0));
    json_object_set_new(rm, "jitter_ms", rep_hist_json(&g.jitter, 90, 0));
    json_object_set_new(rm, "input_to_update_ms", rep_hist_json(&g.input_lat, 90, 0));
    json_object_set_new(rm, "inputs_given_up", json_integer((json_int_t)g.lost_pending));
    json_object_set_new(rm, "skipped_backpressure", json_integer((json_int_t)g.sched_skipped));
    return rm;
}

/* the server's side: /proc figures and, when /metrics was read, its tick and store histograms */
static json_t *json_server(const struct figs *f)
{
    json_t *s = json_object();
    json_object_set_new(s, "pid", json_integer(opt.server_pid));
    json_object_set_new(s, "cpu_pct", rep_jnum(f->srv_cpu));
    json_object_set_new(s, "loop_thread_cpu_pct", rep_jnum(g.loop_cpu_pct));
    json_object_set_new(s, "other_threads_cpu_pct", rep_jnum(g.other_cpu_pct));
    json_object_set_new(s, "rss_kib_start", json_integer(g.rss0));
    json_object_set_new(s, "rss_kib_end", json_integer(g.rss1));
    json_object_set_new(s, "hwm_kib", json_integer(g.hwm1));
    if (f->have_lat) json_object_set_new(s, "tick_lateness_ms", prom_json(&f->lat, "frac_le_2ms"));
    if (f->have_dur)
        json_object_set_new(s, "tick_duration_ms", prom_json(&f->dur, "frac_le_0.05ms"));
    if (f->have_lua) json_object_set_new(s, "tick_lua_ms", prom_json(&f->lua, "frac_le_0.05ms"));
    if (f->have_slua) json_object_set_new(s, "state_lua_ms", prom_json(&f->slua, "frac_le_0.05ms"));
    if (f->have_evl)
        json_object_set_new(s, "ws_event_latency_ms", prom_json(&f->evl, "frac_le_1ms"));
    json_object_set_new(s, "ticks_dropped", rep_jnum(f->dropped));
    json_object_set_new(s, "inputs_dropped", rep_jnum(f->in_dropped));
    if (f->have_stl) {
        json_t *st = prom_json(&f->stl, "frac_le_10ms");
        json_object_set_new(st, "batches_per_s", json_per_s(f, f->stl.count));
        json_object_set_new(st, "queue_rows_start", rep_jnum(f->sq0));
        json_object_set_new(st, "queue_rows_end", rep_jnum(f->sq1));
        json_object_set_new(s, "store_write_latency_ms", st);
    }
    json_object_set_new(s, "metrics_read", json_boolean(g.metrics0 && g.metrics1));
    return s;
}

static json_t *json_self(const struct figs *f)
{
    json_t *lg = json_object();
    json_object_set_new(lg, "cpu_pct", rep_jnum(f->self_cpu));
    json_object_set_new(lg, "rss_kib", json_integer(ps_status_kib(0, "VmRSS:")));
    json_object_set_new(lg, "conn_struct_bytes", json_integer((json_int_t)sizeof(struct conn)));
    json_object_set_new(lg, "timer_lateness_ms", rep_hist_json(&g.timer_late, 90, 0));
    return lg;
}

/* The report as one JSON object; the keys keep one order (jansson keeps insertion order). */
static void report_json(const struct figs *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "mode", json_string(opt.mode == M_GAMES ? "games" : "rooms"));
    json_object_set_new(o, "target", json_sprintf("ws://%s%s", wsc.hosthdr, opt.path));
    json_object_set_new(o, "interrupted", json_boolean(wsc.interrupted));
    json_object_set_new(o, "connections", json_connections(f));
    json_object_set_new(o, "ramp_s", json_real(secs(g.t0, g.t_ramp_end)));
    json_object_set_new(o, "warmup_s", json_real(opt.warmup));
    json_object_set_new(o, "measure_s", json_real(f->ms));
    json_object_set_new(o, "messages_per_s", json_per_s(f, (double)g.msgs_window));
    json_object_set_new(o, "bytes_per_s", json_per_s(f, (double)g.bytes_window));
    json_object_set_new(o, "errors", stab_json(&g.errors));
    json_object_set_new(o, "errors_in_window", stab_json(&g.errors_window));
    if (opt.mode == M_GAMES)
        json_object_set_new(o, "games", json_games(f));
    else
        json_object_set_new(o, "rooms", json_rooms(f));
    if (opt.server_pid > 0 || opt.server_url) json_object_set_new(o, "server", json_server(f));
    json_object_set_new(o, "gamegen", json_self(f));
    rep_print_json(o);
}

static void report_text(const struct figs *f)
{
    char a[32], b[32], c[32], d[32];
    printf("mt-gamegen report (%s mode): ws://%s%s%s\n", opt.mode == M_GAMES ? "games" : "rooms",
           wsc.hosthdr, opt.path, wsc.interrupted ? "  (interrupted)" : "");
    printf(
        "connections: requested %u, established %u, failed %llu, dropped after established %llu\n",
        g.nconns, wsc.established, (unsigned long long)f->failed, (unsigned long long)wsc.dropped);
    rep_print_failures();
    rep_print_hist("handshake ms", &wsc.handshake, 90);
    printf("ramp %.2f s, warmup %.1f s, measured %.2f s, messages received %.0f/s\n",
           secs(g.t0, g.t_ramp_end), opt.warmup, f->ms,
           f->ms > 0 ? (double)g.msgs_window / f->ms : 0.0);
    if (g.errors.n) {
        printf("errors (whole run):");
        for (unsigned i = 0; i < g.errors.n; i++)
            printf(" %s x%llu", g.errors.e[i].s, (unsigned long long)g.errors.e[i].n);
        printf("\n");
    }
    if (opt.mode == M_GAMES) {
        printf("games: %llu complete in the window = %s/s; 1 s windows median %s, min %s, max %s\n",
               (unsigned long long)g.games_window,
               rep_fmt(a, f->ms > 0 ? (double)g.games_window / f->ms : 0, 1),
               rep_fmt(b, f->wmed, 0), rep_fmt(c, f->wmin, 0), rep_fmt(d, f->wmax, 0));
        rep_print_hist("game latency (create_game -> game_over) ms", &g.game_lat, 90);
        printf("inputs sent %.1f/s\n", f->ms > 0 ? (double)g.inputs_window / f->ms : 0.0);
    } else {
        printf("rooms: %u x %u players, %u rooms active, %u players active, setup %.2f s\n",
               opt.rooms, opt.players, g.rooms_active, g.nact, secs(g.t_ramp_end, g.t_setup_end));
        printf("inputs %.0f/s (target %.0f/s), acks %.0f/s, game_state %.0f/s (expected %.0f/s)\n",
               f->ms > 0 ? (double)g.rt_inputs_window / f->ms : 0.0, f->players * opt.input_rate,
               f->ms > 0 ? (double)g.acks_window / f->ms : 0.0,
               f->ms > 0 ? (double)g.states_window / f->ms : 0.0,
               g.nact * 1000.0 / opt.state_period_ms);
        rep_print_hist("game_state gap ms", &g.gap, 90);
        rep_print_hist("game_state jitter |gap - period| ms", &g.jitter, 90);
        rep_print_hist("input -> first game_state after its ack ms", &g.input_lat, 90);
    }
    if (f->have_lat)
        printf("server tick lateness (arena): p50 %s ms, p99 %s ms, %.2f%% <= 2 ms (n=%.0f)\n",
               rep_fmt(a, f->lat.p50, 3), rep_fmt(b, f->lat.p99, 3), f->lat.frac_le * 100,
               f->lat.count);
    if (f->have_dur)
        printf("server tick duration (arena): p50 %s ms, p99 %s ms, %.2f%% <= 0.05 ms (n=%.0f)\n",
               rep_fmt(a, f->dur.p50, 4), rep_fmt(b, f->dur.p99, 4), f->dur.frac_le * 100,
               f->dur.count);
    if (f->have_lat || f->have_dur)
        printf("server ticks dropped %s, inputs dropped %s\n", rep_fmt(a, f->dropped, 0),
               rep_fmt(b, f->in_dropped, 0));
    if (f->have_evl)
        printf("server ws_event_latency: p50 %s ms, p99 %s ms (n=%.0f)\n",
               rep_fmt(a, f->evl.p50, 3), rep_fmt(b, f->evl.p99, 3), f->evl.count);
    if (f->have_stl)
        printf("server store (PostgreSQL): %.0f batches/s, write latency p50 %s ms, p99 %s ms, "
               "queue %s -> %s rows\n",
               f->ms > 0 ? f->stl.count / f->ms : 0, rep_fmt(a, f->stl.p50, 2),
               rep_fmt(b, f->stl.p99, 2), rep_fmt(c, f->sq0, 0), rep_fmt(d, f->sq1, 0));
    if (opt.server_pid > 0)
        printf("server cpu %s%% (loop thread %s%%, other threads %s%%), rss %ld -> %ld KiB (peak "
               "%ld)\n",
               rep_fmt(a, f->srv_cpu, 1), rep_fmt(b, g.loop_cpu_pct, 1),
               rep_fmt(c, g.other_cpu_pct, 1), g.rss0, g.rss1, g.hwm1);
    printf("gamegen cpu %s%%, ", rep_fmt(a, f->self_cpu, 1));
    rep_print_hist("timer lateness ms", &g.timer_late, 90);
    fflush(stdout);
}

/* ------------------------------------------------------------- run phases */

static void window_start(uint64_t now)
{
    (void)now;
    if (opt.server_url) g.metrics0 = fetch_metrics();
    if (opt.server_pid > 0) {
        g.srv_cpu0 = ps_cpu_s(opt.server_pid);
        g.rss0 = ps_status_kib(opt.server_pid, "VmRSS:");
        g.ntasks0 = ps_tasks(opt.server_pid, g.tasks0, MAX_TASKS);
    }
    g.self_cpu0 = ps_cpu_s(0);
    g.t_meas0 = wsp_now_us();
    g.phase = PH_MEASURE;
}

static void window_end(uint64_t now)
{
    g.t_meas_end = now;
    double ms = secs(g.t_meas0, g.t_meas_end);
    if (opt.server_pid > 0) {
        g.srv_cpu1 = ps_cpu_s(opt.server_pid);
        g.rss1 = ps_status_kib(opt.server_pid, "VmRSS:");
        g.hwm1 = ps_status_kib(opt.server_pid, "VmHWM:");
        struct ps_task t1[MAX_TASKS];
        int n1 = ps_tasks(opt.server_pid, t1, MAX_TASKS);
        double loop = 0, other = 0;
        for (int i = 0; i < n1; i++) {
            double c0 = 0;
            for (int j = 0; j < g.ntasks0; j++)
                if (g.tasks0[j].tid == t1[i].tid) c0 = g.tasks0[j].cpu;
            if (t1[i].tid == opt.server_pid)
                loop += t1[i].cpu - c0;
            else
                other += t1[i].cpu - c0;
        }
        if (ms > 0 && n1 > 0) {
            g.loop_cpu_pct = loop * 100.0 / ms;
            g.other_cpu_pct = other * 100.0 / ms;
        }
    }
    g.self_cpu1 = ps_cpu_s(0);
    if (opt.server_url) g.metrics1 = fetch_metrics();
}

static void finish(void)
{
    if (g.finished) return;
    g.finished = 1;
    uint64_t now = wsp_now_us();
    if (g.phase == PH_MEASURE) window_end(now);
    g.phase = PH_DONE;
    if (!g.t_ramp_end) g.t_ramp_end = now;
    struct figs f;
    report_figures(&f);
    (opt.json ? report_json : report_text)(&f);
    wsc_close_all();
}

static void begin_warmup(uint64_t now)
{
    g.phase = PH_WARMUP;
    g.t_setup_end = now;
    g.sched_base = g.sched_sent = g.sched_skipped = 0;
    g.t_meas0 = 0;
    if (opt.mode == M_GAMES)
        for (uint32_t i = 0; i < g.nact; i++)
            start_game(&g.conns[g.act[i]], now);
    g.t_warm0 = now;
}

static void rooms_setup_start(uint64_t now)
{
    g.phase = PH_SETUP;
    g.t_setup_deadline = now + (uint64_t)(opt.setup_timeout * 1e6);
    for (uint32_t r = 0; r < opt.rooms; r++) {
        struct conn *c = room_member(r, 0);
        if (c->wc.state == ST_OPEN) rooms_create(c);
    }
}

/* rooms mode: inputs at input_rate per active player, round-robin */
static void send_inputs(uint64_t now)
{
    if (opt.input_rate <= 0 || g.nact == 0) return;
    double rate = opt.input_rate * g.nact;
    uint64_t target = (uint64_t)((double)(now - g.t_warm0) * rate / 1e6);
    uint64_t done = g.sched_sent + g.sched_skipped + g.sched_base;
    if (target <= done) return;
    uint64_t due = target - done;
    uint64_t cap = (uint64_t)(rate * 0.05) + 1;
    if (due > cap) {
        g.sched_base += due - cap;
        due = cap;
    }
    while (due > 0 && g.nact > 0) {
        if (g.cursor >= g.nact) g.cursor = 0;
        struct conn *c = &g.conns[g.act[g.cursor++]];
        due--;
        if (c->wc.wlen > 0) {
            g.sched_skipped++;
            continue;
        }
        rt_send_input(c, now);
    }
}

static void run_retries(uint64_t now)
{
    if (!g.nretry) return;
    static uint64_t last;
    if (now - last < 10000) return;
    last = now;
    for (uint32_t i = 0; i < wsc.started && g.nretry; i++) {
        struct conn *c = &g.conns[i];
        if (!c->retry_at || c->retry_at > now) continue;
        c->retry_at = 0;
        g.nretry--;
        if (c->wc.state != ST_OPEN) continue;
        if (c->retry_kind == RT_CREATE) {
            if (opt.mode == M_GAMES)
                start_game(c, now);
            else
                rooms_create(c);
        } else if (c->retry_kind == RT_INPUT && c->gstate == G_PLAYING) {
            send_input(c, c->act);
        }
    }
}

/* tick of PH_RAMP: start connections at the ramp rate; when all are through (or the ramp's time
 * is up) go on to room setup or the warm-up */
static void ramp_step(uint64_t now)
{
    wsc_ramp(now, g.t0, g.nconns, opt.ramp_rate, opt.max_handshakes);
    int done = wsc.started >= g.nconns && wsc.inflight == 0;
    if (!done && now >= g.t_ramp_deadline) {
        wsc_timeout_handshakes();
        done = 1;
    }
    if (!done) return;
    g.t_ramp_end = now;
    if (wsc.established == 0)
        finish();
    else if (opt.mode == M_ROOMS)
        rooms_setup_start(now);
    else
        begin_warmup(now);
}

/* tick of PH_SETUP: warm up once every room whose members all connected is active, or the setup
 * time is up */
static void setup_step(uint64_t now)
{
    uint32_t possible = 0;
    for (uint32_t r = 0; r < opt.rooms; r++) {
        int all = 1;
        for (uint32_t k = 0; k < opt.players; k++)
            all &= room_member(r, k)->wc.state == ST_OPEN;
        possible += (uint32_t)all;
    }
    if (g.rooms_active < possible && now < g.t_setup_deadline) return;
    if (g.rooms_active == 0) {
        fprintf(stderr, "mt-gamegen: no room became active\n");
        finish();
        return;
    }
    begin_warmup(now);
}

/* wsc_run's tick */
static void tick(uint64_t now)
{
    if (g.t_last_tick && g.phase == PH_MEASURE) {
        uint64_t late = now - g.t_last_tick;
        wsp_hist_add(&g.timer_late, late > TICK_US ? late - TICK_US : 0);
    }
    g.t_last_tick = now;
    if (now >= g.t_hard_deadline && g.phase != PH_DONE) {
        wsc.interrupted = 1;
        finish();
        return;
    }
    run_retries(now);
    switch (g.phase) {
    case PH_RAMP:
        ramp_step(now);
        break;
    case PH_SETUP:
        setup_step(now);
        break;
    case PH_WARMUP:
        if (opt.mode == M_ROOMS) send_inputs(now);
        if (now >= g.t_warm0 + (uint64_t)(opt.warmup * 1e6)) window_start(now);
        break;
    case PH_MEASURE:
        if (now >= g.t_meas0 + (uint64_t)(opt.duration * 1e6)) {
            window_end(now);
            g.phase = PH_DRAIN;
            g.t_drain_end = now + 300000; /* late acks and states of inputs sent in the window */
        } else if (opt.mode == M_ROOMS) {
            send_inputs(now);
        }
        break;
    case PH_DRAIN:
        if (now >= g.t_drain_end) finish();
        break;
    default:
        break;
    }
}

/* -------------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(
        f, "usage: mt-gamegen --mode games|rooms [options]\n"
           "  --host H              server address (default 127.0.0.1)\n"
           "  --port P              server port (default 8080)\n"
           "  --path P              upgrade path (default /ws)\n"
           "  --duration S          measuring window, seconds (default 10)\n"
           "  --warmup S            play this long before measuring (default 2)\n"
           "  --ramp-rate R         new connections per second (default 2000)\n"
           "  --max-handshakes K    handshakes in flight at most (default 256)\n"
           "  --server-pid PID      server CPU (per thread) and RSS from /proc over the window\n"
           "  --server-url URL      http://host:port: /metrics read at the window's start and end\n"
           "  --json                print one JSON object\n"
           " games mode:\n"
           "  --clients C           concurrent clients (default 200)\n"
           "  --game NAME           game to create (default tictactoe)\n"
           "  --agent NAME          vsAgent (default random; \"\" for none)\n"
           " rooms mode:\n"
           "  --rooms R             rooms (default 100)\n"
           "  --players P           players per room (default 4)\n"
           "  --game NAME           real-time game (default arena)\n"
           "  --input-rate N        move inputs per second per player (default 10)\n"
           "  --state-period MS     expected game_state period (default 50: arena 60 Hz, send_rate "
           "20)\n"
           "  --round-ms MS         config.round_ms (default 600000)\n"
           "  --setup-timeout S     time allowed to create and fill the rooms (default 30)\n"
           "  --help\n");
}

static int set_mode(const char *arg)
{
    if (strcmp(arg, "games") == 0)
        opt.mode = M_GAMES;
    else if (strcmp(arg, "rooms") == 0)
        opt.mode = M_ROOMS;
    else
        return -1;
    return 0;
}

/* game and agent names go into JSON as they are: no quote or backslash, 63 bytes at most */
static int set_game(const char *arg)
{
    if (!*arg || strlen(arg) > 63 || strpbrk(arg, "\"\\")) return -1;
    opt.game = arg;
    return 0;
}

static int set_agent(const char *arg)
{
    if (strlen(arg) > 63 || strpbrk(arg, "\"\\")) return -1;
    opt.agent = arg;
    return 0;
}

/* Parses the command line into opt. Returns -1 to run, else the exit status (0 after --help, 2
 * for a usage error). */
static int parse_args(int argc, char **argv)
{
    const struct cli_opt opts[] = {
        {"host", CLI_STR, &opt.host, 0, 0, NULL},
        {"port", CLI_INT, &opt.port, 1, 65535, NULL},
        {"path", CLI_PATH, &opt.path, 0, 0, NULL},
        {"mode", CLI_FN, NULL, 0, 0, set_mode},
        {"clients", CLI_U32, &opt.clients, 1, 1000000, NULL},
        {"game", CLI_FN, NULL, 0, 0, set_game},
        {"agent", CLI_FN, NULL, 0, 0, set_agent},
        {"rooms", CLI_U32, &opt.rooms, 1, 1000000, NULL},
        {"players", CLI_U32, &opt.players, 1, 16, NULL},
        {"input-rate", CLI_DBL, &opt.input_rate, 0, 1000, NULL},
        {"state-period", CLI_DBL, &opt.state_period_ms, 1, 10000, NULL},
        {"round-ms", CLI_LONG, &opt.round_ms, 1, 1e9, NULL},
        {"duration", CLI_DBL, &opt.duration, 0.1, 3600, NULL},
        {"warmup", CLI_DBL, &opt.warmup, 0, 3600, NULL},
        {"setup-timeout", CLI_DBL, &opt.setup_timeout, 1, 3600, NULL},
        {"ramp-rate", CLI_DBL, &opt.ramp_rate, 0.001, 1e9, NULL},
        {"max-handshakes", CLI_UINT, &opt.max_handshakes, 1, 1e6, NULL},
        {"server-pid", CLI_LONG, &opt.server_pid, 1, 1e10, NULL},
        {"server-url", CLI_STR, &opt.server_url, 0, 0, NULL},
        {"json", CLI_FLAG, &opt.json, 0, 0, NULL},
        {NULL, 0, NULL, 0, 0, NULL},
    };
    int rc = cli_parse("mt-gamegen", argc, argv, opts, usage);
    if (rc >= 0) return rc;
    if (!opt.game) opt.game = opt.mode == M_GAMES ? "tictactoe" : "arena";
    g.nconns = opt.mode == M_GAMES ? opt.clients : opt.rooms * opt.players;
    return -1;
}

int main(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc >= 0) return rc;

    wsc_raise_nofile("mt-gamegen", g.nconns, "");

    if (wsc_resolve("mt-gamegen", opt.host, opt.port) < 0) return 2;

    g.conns = calloc(g.nconns, sizeof *g.conns);
    g.act = calloc(g.nconns, sizeof *g.act);
    if (opt.mode == M_ROOMS) g.rooms = calloc(opt.rooms, sizeof *g.rooms);
    if (!g.conns || !g.act || (opt.mode == M_ROOMS && !g.rooms)) {
        fprintf(stderr, "mt-gamegen: out of memory\n");
        return 1;
    }
    for (uint32_t i = 0; i < g.nconns; i++)
        g.conns[i].wc.fd = -1;
    wsc_setup("mt-gamegen", opt.path, g.conns, sizeof *g.conns, handle_message, on_close);
    g.rss0 = g.rss1 = g.hwm1 = -1;
    g.loop_cpu_pct = g.other_cpu_pct = NAN;
    g.srv_cpu0 = g.srv_cpu1 = g.self_cpu0 = g.self_cpu1 = -1;

    if (wsc_base_new("mt-gamegen") < 0) return 1;

    g.phase = PH_RAMP;
    g.t0 = wsc.t0 = wsp_now_us();
    double ramp_s = (double)g.nconns / opt.ramp_rate + RAMP_TIMEOUT_S;
    g.t_ramp_deadline = g.t0 + (uint64_t)(ramp_s * 1e6);
    /* bounded in time whatever happens: ramp + setup + warmup + window + drain + slack */
    g.t_hard_deadline = g.t0 + (uint64_t)((ramp_s + (opt.mode == M_ROOMS ? opt.setup_timeout : 0) +
                                           opt.warmup + opt.duration + 5.0) *
                                          1e6);
    wsc_run(tick, finish, TICK_US);

    free(g.conns);
    free(g.act);
    free(g.rooms);
    free(g.metrics0);
    free(g.metrics1);
    return wsc.established > 0 ? 0 : 1;
}
