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

#include "cli.h"
#include "procstat.h"
#include "report.h"
#include "wsclient.h"
#include "wsproto.h"

#define TICK_US 1000        /* global timer period */
#define RAMP_TIMEOUT_S 10.0 /* extra time allowed for the ramp */
#define DRAIN_US 1000000    /* max wait for in-flight replies after measuring */

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

struct conn {
    struct wsc_conn wc; /* the socket (wsclient.h) */
    uint32_t open_idx;  /* position in g.open while ST_OPEN */
};

/* ------------------------------------------------------------ global state */

enum { PH_RAMP, PH_MEASURE, PH_DRAIN, PH_DONE };

static struct {

    struct conn *conns;
    uint32_t *open; /* indices of ST_OPEN connections */
    uint32_t nopen;
    uint32_t cursor; /* heartbeat round-robin position in open[] */

    int phase;
    uint64_t t_ramp0, t_ramp_end, t_ramp_deadline;
    uint64_t t_meas0, t_meas_end, t_drain_deadline;
    uint64_t sched_base; /* schedule slots skipped because we fell behind */

    uint32_t held_at_end; /* the connection counts are wsc's */

    uint64_t hb_sent, hb_skipped, hb_replies, hb_bad;
    uint64_t srv_errors, other_msgs, bad_json;
    struct stab error_codes;
    struct wsp_hist rtt;

    long rss_before, rss_after, self_rss_before, self_rss_after;
    int rss_after_taken;
    /* CPU seconds (user + system) at the start and the end of the measuring window */
    double srv_cpu0, srv_cpu1, self_cpu0, self_cpu1;
    int cpu0_taken;
    int finished;
} g;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------- message handling */

static void open_add(struct conn *c)
{
    c->open_idx = g.nopen;
    g.open[g.nopen++] = (uint32_t)(c - g.conns);
}

static void open_remove(struct conn *c)
{
    uint32_t last = g.open[--g.nopen];
    g.open[c->open_idx] = last;
    g.conns[last].open_idx = c->open_idx;
}

/* wsc.on_close: an open connection leaves the heartbeat round-robin */
static void on_close(struct wsc_conn *wc, int reason)
{
    (void)reason;
    if (wc->state == ST_OPEN) open_remove((struct conn *)wc);
}

static void on_welcome(struct conn *c)
{
    if (wsc_established(&c->wc, wsp_now_us())) open_add(c);
}

/* wsc.on_message */
static void handle_message(struct wsc_conn *wc, const uint8_t *p, size_t n)
{
    struct conn *c = (struct conn *)wc;
    const char *type;
    json_t *root = wsc_parse(p, n, &type);
    if (!root) {
        g.bad_json++;
        return;
    }
    json_t *payload = json_object_get(root, "payload");
    if (!type) {
        g.other_msgs++;
    } else if (strcmp(type, "welcome") == 0) {
        if (c->wc.state == ST_WAIT_WELCOME)
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

/* --------------------------------------------------------------- reporting */

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

/* the figures both forms of the report show */
struct figs {
    double ms;
    double achieved;
    double reply_rate;
    uint64_t failed;
    long rss_delta;
    double per_conn;
    double self_per_conn;
    double srv_cpu_pct;
    double self_cpu_pct;
};

static void report_figures(struct figs *f)
{
    double ms = meas_secs();
    double achieved = ms > 0 ? (double)g.hb_sent / ms : 0.0;
    double reply_rate = ms > 0 ? (double)g.hb_replies / ms : 0.0;
    uint64_t failed =
        wsc.fail_connect + wsc.fail_http + wsc.fail_closed + wsc.fail_timeout + wsc.fail_proto;
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
    f->ms = ms;
    f->achieved = achieved;
    f->reply_rate = reply_rate;
    f->failed = failed;
    f->rss_delta = rss_delta;
    f->per_conn = per_conn;
    f->self_per_conn = self_per_conn;
    f->srv_cpu_pct = srv_cpu_pct;
    f->self_cpu_pct = self_cpu_pct;
}

static void report_json(const struct figs *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "target", json_sprintf("ws://%s%s", wsc.hosthdr, opt.path));
    json_object_set_new(o, "interrupted", json_boolean(wsc.interrupted));
    json_t *cn = json_object();
    json_object_set_new(cn, "requested", json_integer(opt.connections));
    json_object_set_new(cn, "attempted", json_integer(wsc.started));
    json_object_set_new(cn, "established", json_integer(wsc.established));
    json_object_set_new(cn, "failed", json_integer((json_int_t)f->failed));
    json_object_set_new(cn, "held", json_integer(g.held_at_end));
    json_object_set_new(cn, "dropped_after_established", json_integer((json_int_t)wsc.dropped));
    json_object_set_new(o, "connections", cn);
    json_t *fl = json_object();
    json_object_set_new(fl, "connect_error", json_integer((json_int_t)wsc.fail_connect));
    json_object_set_new(fl, "http_status", json_integer((json_int_t)wsc.fail_http));
    json_object_set_new(fl, "closed", json_integer((json_int_t)wsc.fail_closed));
    json_object_set_new(fl, "timeout", json_integer((json_int_t)wsc.fail_timeout));
    json_object_set_new(fl, "protocol", json_integer((json_int_t)wsc.fail_proto));
    json_object_set_new(fl, "http_statuses", rep_ktab_json(&wsc.http_status));
    json_object_set_new(fl, "connect_errnos", rep_errnos_json());
    json_object_set_new(fl, "server_close_codes", rep_ktab_json(&wsc.close_codes));
    json_object_set_new(o, "failures", fl);
    json_object_set_new(o, "handshake_ms", rep_hist_json(&wsc.handshake, 95, 1));
    json_object_set_new(o, "ramp_s", json_real(ramp_secs()));
    json_object_set_new(o, "measure_s", json_real(f->ms));
    json_t *m = json_object();
    json_object_set_new(m, "sent", json_integer((json_int_t)g.hb_sent));
    json_object_set_new(m, "replies", json_integer((json_int_t)g.hb_replies));
    json_object_set_new(m, "skipped_backpressure", json_integer((json_int_t)g.hb_skipped));
    json_object_set_new(m, "target_rate", json_real(opt.rate));
    json_object_set_new(m, "send_rate", json_real(f->achieved));
    json_object_set_new(m, "reply_rate", json_real(f->reply_rate));
    json_object_set_new(m, "bad_replies", json_integer((json_int_t)g.hb_bad));
    json_object_set_new(m, "server_errors", json_integer((json_int_t)g.srv_errors));
    json_t *ec = json_object();
    for (unsigned i = 0; i < g.error_codes.n; i++)
        json_object_set_new(ec, g.error_codes.e[i].s,
                            json_integer((json_int_t)g.error_codes.e[i].n));
    json_object_set_new(m, "server_error_codes", ec);
    json_object_set_new(m, "other_messages", json_integer((json_int_t)g.other_msgs));
    json_object_set_new(m, "bad_json", json_integer((json_int_t)g.bad_json));
    json_object_set_new(m, "pings", json_integer((json_int_t)wsc.pings));
    json_object_set_new(o, "messages", m);
    json_object_set_new(o, "rtt_ms", rep_hist_json(&g.rtt, 95, 1));
    /* the RTT histogram itself, so that several processes' reports can be merged:
     * [bucket value in µs, count] for every non-empty bucket */
    json_t *hb = json_array();
    for (unsigned i = 0; i < WSP_HIST_BUCKETS; i++)
        if (g.rtt.b[i])
            json_array_append_new(hb,
                                  json_pack("[f,I]", wsp_hist_value(i), (json_int_t)g.rtt.b[i]));
    json_object_set_new(o, "rtt_hist_us", hb);
    if (opt.server_pid > 0) {
        json_t *r = json_object();
        json_object_set_new(r, "pid", json_integer(opt.server_pid));
        json_object_set_new(r, "before_kib",
                            g.rss_before >= 0 ? json_integer(g.rss_before) : json_null());
        json_object_set_new(r, "after_kib",
                            g.rss_after >= 0 ? json_integer(g.rss_after) : json_null());
        json_object_set_new(r, "delta_kib", json_integer(f->rss_delta));
        json_object_set_new(r, "per_held_conn_kib", rep_jnum(f->per_conn));
        json_object_set_new(o, "server_rss", r);
    } else {
        json_object_set_new(o, "server_rss", json_null());
    }
    json_object_set_new(o, "server_cpu_pct", rep_jnum(f->srv_cpu_pct));
    json_t *lg = json_object();
    json_object_set_new(lg, "rss_before_kib", json_integer(g.self_rss_before));
    json_object_set_new(lg, "rss_after_kib", json_integer(g.self_rss_after));
    json_object_set_new(lg, "per_held_conn_bytes", rep_jnum(f->self_per_conn));
    json_object_set_new(lg, "conn_struct_bytes", json_integer((json_int_t)sizeof(struct conn)));
    json_object_set_new(lg, "cpu_pct", rep_jnum(f->self_cpu_pct));
    json_object_set_new(o, "loadgen", lg);
    rep_print_json(o);
}

static void report_text(const struct figs *f)
{
    printf("mt-loadgen report: ws://%s%s%s\n", wsc.hosthdr, opt.path,
           wsc.interrupted ? "  (interrupted)" : "");
    printf("connections: requested %u, attempted %u, established %u, failed %llu, held at end %u, "
           "dropped after established %llu\n",
           opt.connections, wsc.started, wsc.established, (unsigned long long)f->failed,
           g.held_at_end, (unsigned long long)wsc.dropped);
    printf("failures: connect error %llu, http status %llu, closed %llu, timeout %llu, protocol "
           "%llu\n",
           (unsigned long long)wsc.fail_connect, (unsigned long long)wsc.fail_http,
           (unsigned long long)wsc.fail_closed, (unsigned long long)wsc.fail_timeout,
           (unsigned long long)wsc.fail_proto);
    rep_print_failures();
    rep_print_hist("handshake (connect->welcome) ms", &wsc.handshake, 95);
    printf("ramp %.2f s, measured %.2f s\n", ramp_secs(), f->ms);
    printf("messages: sent %llu, replies %llu, target rate %.1f/s, achieved send rate %.1f/s, "
           "reply rate %.1f/s, skipped (backpressure) %llu, server pings %llu\n",
           (unsigned long long)g.hb_sent, (unsigned long long)g.hb_replies, opt.rate, f->achieved,
           f->reply_rate, (unsigned long long)g.hb_skipped, (unsigned long long)wsc.pings);
    if (g.srv_errors || g.other_msgs || g.bad_json || g.hb_bad) {
        printf("  server errors %llu", (unsigned long long)g.srv_errors);
        for (unsigned i = 0; i < g.error_codes.n; i++)
            printf(" %s x%llu", g.error_codes.e[i].s, (unsigned long long)g.error_codes.e[i].n);
        printf(", other messages %llu, bad json %llu, bad heartbeat replies %llu\n",
               (unsigned long long)g.other_msgs, (unsigned long long)g.bad_json,
               (unsigned long long)g.hb_bad);
    }
    rep_print_hist("rtt ms", &g.rtt, 95);
    char a[32], b[32];
    if (opt.server_pid > 0)
        printf("server rss (pid %ld): before %ld KiB, after %ld KiB, delta %ld KiB, per held "
               "connection %s KiB\n",
               opt.server_pid, g.rss_before, g.rss_after, f->rss_delta, rep_fmt(a, f->per_conn, 2));
    printf("loadgen rss: before %ld KiB, after %ld KiB, %s B per held connection (conn struct %zu "
           "B)\n",
           g.self_rss_before, g.self_rss_after, rep_fmt(b, f->self_per_conn, 0),
           sizeof(struct conn));
    char c1[32], c2[32];
    printf("cpu over the measuring window (%% of one core): server %s, loadgen %s\n",
           rep_fmt(c1, f->srv_cpu_pct, 1), rep_fmt(c2, f->self_cpu_pct, 1));
    fflush(stdout);
}

/* ------------------------------------------------------------- run phases */

static void take_after_snapshot(void)
{
    if (g.rss_after_taken) return;
    g.rss_after_taken = 1;
    g.held_at_end = g.nopen;
    if (opt.server_pid > 0) g.rss_after = ps_status_kib(opt.server_pid, "VmRSS:");
    g.self_rss_after = ps_status_kib(0, "VmRSS:");
    if (opt.server_pid > 0) g.srv_cpu1 = ps_cpu_s(opt.server_pid);
    g.self_cpu1 = ps_cpu_s(0);
}

static void finish(void)
{
    if (g.finished) return;
    g.finished = 1;
    g.phase = PH_DONE;
    take_after_snapshot();
    if (!g.t_meas_end && g.t_meas0) g.t_meas_end = wsp_now_us();
    if (!g.t_ramp_end && g.t_ramp0) g.t_ramp_end = wsp_now_us();
    struct figs f;
    report_figures(&f);
    (opt.json ? report_json : report_text)(&f);
    wsc_close_all();
}

static void begin_measure(uint64_t now)
{
    g.t_ramp_end = now;
    g.t_meas0 = now;
    g.sched_base = 0;
    if (opt.server_pid > 0) g.srv_cpu0 = ps_cpu_s(opt.server_pid);
    g.self_cpu0 = ps_cpu_s(0);
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
            if (cand->wc.wlen == 0) {
                c = cand;
                break;
            }
        }
        if (!c) {
            g.hb_skipped += due;
            break;
        } /* every socket is backed up */
        due--;
        if (wsc_send(&c->wc, 0x1, msg, (size_t)n) == 0) g.hb_sent++;
    }
}

/* wsc_run's tick */
static void tick(uint64_t now)
{
    switch (g.phase) {
    case PH_RAMP: {
        wsc_ramp(now, g.t_ramp0, opt.connections, opt.ramp_rate, opt.max_handshakes);
        if (wsc.started >= opt.connections && wsc.inflight == 0) {
            begin_measure(now);
        } else if (now >= g.t_ramp_deadline) {
            wsc_timeout_handshakes();
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

/* Parses the command line into opt. Returns -1 to run, else the exit status (0 after --help, 2
 * for a usage error). */
static int parse_args(int argc, char **argv)
{
    const struct cli_opt opts[] = {
        {"host", CLI_STR, &opt.host, 0, 0, NULL},
        {"port", CLI_INT, &opt.port, 1, 65535, NULL},
        {"path", CLI_PATH, &opt.path, 0, 0, NULL},
        {"connections", CLI_U32, &opt.connections, 1, 10000000, NULL},
        {"ramp-rate", CLI_DBL, &opt.ramp_rate, 0.001, 1e9, NULL},
        {"max-handshakes", CLI_UINT, &opt.max_handshakes, 1, 1e6, NULL},
        {"rate", CLI_DBL, &opt.rate, 0, 1e9, NULL},
        {"duration", CLI_DBL, &opt.duration, 0, 1e7, NULL},
        {"server-pid", CLI_LONG, &opt.server_pid, 1, 1e10, NULL},
        {"json", CLI_FLAG, &opt.json, 0, 0, NULL},
        {"local-ip-range", CLI_UINT, &opt.local_ip_range, 1, 16777214, NULL},
        {NULL, 0, NULL, 0, 0, NULL},
    };
    return cli_parse("mt-loadgen", argc, argv, opts, usage);
}

int main(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc >= 0) return rc;

    wsc_raise_nofile("mt-loadgen", opt.connections,
                     "; the excess will fail with EMFILE (split across processes)");

    if (wsc_resolve("mt-loadgen", opt.host, opt.port) < 0) return 2;
    if (opt.local_ip_range && wsc.dst.ss_family != AF_INET)
        fprintf(stderr, "mt-loadgen: --local-ip-range ignored for a non-IPv4 target\n");

    g.conns = calloc(opt.connections, sizeof *g.conns);
    g.open = calloc(opt.connections, sizeof *g.open);
    if (!g.conns || !g.open) {
        fprintf(stderr, "mt-loadgen: out of memory\n");
        return 1;
    }
    wsc_setup("mt-loadgen", opt.path, g.conns, sizeof *g.conns, handle_message, on_close);
    wsc.local_ip_range = opt.local_ip_range;
    wsc.all_close_codes = 1;
    g.error_codes.cap = 8;
    g.rss_before = g.rss_after = -1;

    if (wsc_base_new("mt-loadgen") < 0) return 1;

    if (opt.server_pid > 0) {
        g.rss_before = ps_status_kib(opt.server_pid, "VmRSS:");
        if (g.rss_before < 0)
            fprintf(stderr, "mt-loadgen: cannot read /proc/%ld/status\n", opt.server_pid);
    }
    g.self_rss_before = ps_status_kib(0, "VmRSS:");

    g.phase = PH_RAMP;
    g.t_ramp0 = wsc.t0 = wsp_now_us();
    g.t_ramp_deadline =
        g.t_ramp0 + (uint64_t)(((double)opt.connections / opt.ramp_rate + RAMP_TIMEOUT_S) * 1e6);
    wsc_run(tick, finish, TICK_US);

    free(g.conns);
    free(g.open);
    return wsc.established > 0 ? 0 : 1;
}
