#include "bus.h"

#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "util.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND_TIMEOUT_MS 2000
#define MAX_IN_FLIGHT 10000 /* beyond this, Redis is too slow: drop rather than queue */

static char host[256];
static int port, db;
static redisAsyncContext *ctx;
static int connected, enabled, in_flight, backoff_ms = 100;
static uint64_t oldest_sent_ms; /* when the oldest unanswered command was sent */
static struct event *retry_ev, *watchdog_ev;
static struct metric *m_dropped, *m_breaker, *m_commands, *m_redis_latency;
static int connecting; /* a connection attempt is out: the breaker's half-open probe */
static char last_error[160];

static void connect_now(void);

/* redis://host[:port][/db] */
static int parse_url(const char *url)
{
    if (strncmp(url, "redis://", 8) != 0) return -1;
    const char *p = url + 8, *slash = strchr(p, '/'), *colon = strchr(p, ':');
    size_t hl = colon && (!slash || colon < slash) ? (size_t)(colon - p)
                : slash                            ? (size_t)(slash - p)
                                                   : strlen(p);
    if (hl == 0 || hl >= sizeof host) return -1;
    memcpy(host, p, hl);
    host[hl] = '\0';
    port = colon && (!slash || colon < slash) ? atoi(colon + 1) : 6379;
    db = slash ? atoi(slash + 1) : 0;
    return port > 0 && port < 65536 && db >= 0 ? 0 : -1;
}

/* The breaker's state for /metrics: closed (connected: commands go out), open (failing fast
 * until the next attempt), half-open (an attempt is out; its outcome closes or reopens it). */
static void report_breaker(void)
{
    if (m_breaker) metric_set(m_breaker, NULL, connected ? 0 : connecting ? 2 : 1);
}

/* Retries after the backoff with jitter (half to all of it), so instances that lost Redis
 * together do not all come back in the same millisecond. */
void bus_backoff(struct event *retry, int *delay_ms)
{
    unsigned r = 0;
    util_random_bytes(&r, sizeof r);
    int delay = *delay_ms / 2 + (int)(r % (unsigned)(*delay_ms / 2 + 1));
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    event_add(retry, &tv);
    *delay_ms = *delay_ms * 2 > 5000 ? 5000 : *delay_ms * 2;
}

static void schedule_retry(void)
{
    connecting = 0;
    report_breaker();
    bus_backoff(retry_ev, &backoff_ms);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    connect_now();
}

static void on_connect(const redisAsyncContext *c, int status)
{
    if (status != REDIS_OK) {
        util_strlcpy(last_error, c->errstr, sizeof last_error);
        ctx = NULL; /* hiredis frees the context after a failed connect */
        schedule_retry();
        return;
    }
    connected = 1;
    connecting = 0;
    report_breaker();
    backoff_ms = 100;
    last_error[0] = '\0';
    log_msg(LOG_INFO, "redis connected", "{ss,si}", "host", host, "port", port);
    if (db) redisAsyncCommand(ctx, NULL, NULL, "SELECT %d", db);
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
    if (connected)
        log_msg(LOG_WARN, "redis connection lost: publishing paused", "{ss}", "error", c->errstr);
    if (status != REDIS_OK) util_strlcpy(last_error, c->errstr, sizeof last_error);
    connected = 0;
    in_flight = 0;
    ctx = NULL;
    if (enabled) schedule_retry();
    report_breaker();
}

static void connect_now(void)
{
    ctx = redisAsyncConnect(host, port);
    if (!ctx || ctx->err) {
        util_strlcpy(last_error, ctx ? ctx->errstr : "out of memory", sizeof last_error);
        if (ctx) redisAsyncFree(ctx);
        ctx = NULL;
        schedule_retry();
        return;
    }
    connecting = 1;
    report_breaker();
    redisLibeventAttach(ctx, loop_base());
    redisAsyncSetConnectCallback(ctx, on_connect);
    redisAsyncSetDisconnectCallback(ctx, on_disconnect);
}

/* hiredis has no command timeout: while commands are out, check that the oldest is answered
 * within COMMAND_TIMEOUT_MS, and drop a stuck connection (on_disconnect then reconnects). With
 * redisAsyncFree, not redisAsyncDisconnect, which waits for the pending replies: a server that
 * hangs (stopped, or its host frozen) never sends them, and every command out would wait with
 * it. Free answers each of them with NULL at once (a callback that sends again meanwhile is
 * refused: the context is being freed), then calls on_disconnect. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    if (!in_flight || !ctx) return;
    if (loop_now_ms() - oldest_sent_ms > COMMAND_TIMEOUT_MS) {
        log_msg(LOG_WARN, "redis stopped answering: reconnecting", NULL);
        util_strlcpy(last_error, "command timeout", sizeof last_error);
        redisAsyncFree(ctx);
        return;
    }
    struct timeval tv = {0, 250000};
    event_add(watchdog_ev, &tv);
}

static void on_reply(redisAsyncContext *c, void *reply, void *privdata)
{
    uint64_t sent = (uint64_t)(uintptr_t)privdata;
    if (in_flight > 0) in_flight--;
    oldest_sent_ms = loop_now_ms(); /* replies come in order: the next oldest is newer */
    if (reply) metric_observe(m_redis_latency, NULL, (double)(loop_now_us() - sent) / 1000.0);
}

/* Counts a command sent: the watchdog watches the oldest one. */
static void sent_one(uint64_t now_us)
{
    if (!in_flight++) {
        oldest_sent_ms = now_us / 1000;
        struct timeval tv = {0, 250000};
        event_add(watchdog_ev, &tv);
    }
}

struct pending {
    bus_reply_fn fn;
    void *arg;
};

static void on_command_reply(redisAsyncContext *c, void *reply, void *privdata)
{
    struct pending *p = privdata;
    if (in_flight > 0) in_flight--;
    oldest_sent_ms = loop_now_ms();
    redisReply *r = reply;
    metric_add(m_commands, !r ? "failed" : r->type == REDIS_REPLY_ERROR ? "error" : "ok", 1);
    p->fn(r, p->arg);
    free(p);
}

/* A command about to go out: NULL (counted as refused) while the breaker is open. */
static struct pending *pending_new(bus_reply_fn fn, void *arg)
{
    struct pending *p =
        enabled && connected && ctx && in_flight < MAX_IN_FLIGHT ? malloc(sizeof *p) : NULL;
    if (!p) {
        if (m_commands) metric_add(m_commands, "refused", 1);
        return NULL;
    }
    p->fn = fn;
    p->arg = arg;
    return p;
}

/* rc is hiredis's answer to queueing p's command. */
static int pending_sent(struct pending *p, int rc)
{
    if (rc != REDIS_OK) {
        free(p);
        metric_add(m_commands, "refused", 1);
        return -1;
    }
    sent_one(loop_now_us());
    return 0;
}

int bus_command(bus_reply_fn fn, void *arg, const char *fmt, ...)
{
    struct pending *p = pending_new(fn, arg);
    if (!p) return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(ctx, on_command_reply, p, fmt, ap);
    va_end(ap);
    return pending_sent(p, rc);
}

int bus_command_argv(bus_reply_fn fn, void *arg, int argc, const char **argv)
{
    struct pending *p = pending_new(fn, arg);
    if (!p) return -1;
    return pending_sent(p, redisAsyncCommandArgv(ctx, on_command_reply, p, argc, argv, NULL));
}

int bus_connected(void)
{
    return connected;
}

void bus_url_parts(char *host_out, size_t len, int *port_out, int *db_out)
{
    util_strlcpy(host_out, host, len);
    *port_out = port;
    *db_out = db;
}

void bus_publish(const char *channel, const char *message, size_t len)
{
    if (!enabled) return;
    if (!connected || !ctx || in_flight >= MAX_IN_FLIGHT) {
        metric_add(m_dropped, NULL, 1);
        return;
    }
    uint64_t now_us = loop_now_us();
    if (redisAsyncCommand(ctx, on_reply, (void *)(uintptr_t)now_us, "PUBLISH %s %b", channel,
                          message, len) != REDIS_OK) {
        metric_add(m_dropped, NULL, 1);
        return;
    }
    sent_one(now_us);
}

int bus_health(json_t *out)
{
    json_object_set_new(out, "connected", json_boolean(connected));
    json_object_set_new(out, "breaker",
                        json_string(connected    ? "closed"
                                    : connecting ? "half-open"
                                                 : "open"));
    if (*last_error) json_object_set_new(out, "lastError", json_string(last_error));
    return connected;
}

int bus_init(const struct config *cfg)
{
    /* Shown without Redis too (its help says so): dashboards find the series either way. */
    static const double redis_ms[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100};
    m_redis_latency = metrics_histogram("redis_latency_ms",
                                        "Round trip of Redis commands, ms (when Redis is used)",
                                        NULL, redis_ms, 10);
    if (!m_redis_latency) return -1;
    if (!*cfg->redis_url) return 0;
    if (parse_url(cfg->redis_url) < 0) {
        log_msg(LOG_ERROR, "invalid value for redis-url: want redis://host[:port][/db]", NULL);
        return -1;
    }
    enabled = 1;
    m_dropped = metrics_counter("redis_publish_dropped_total",
                                "Messages not published while Redis was away", NULL);
    m_breaker = metrics_gauge("redis_breaker_state",
                              "Redis circuit breaker: 0 closed, 1 open, 2 half-open", NULL);
    m_commands = metrics_counter("redis_commands_total",
                                 "Redis request/response commands by outcome", "outcome");
    retry_ev = evtimer_new(loop_base(), on_retry, NULL);
    watchdog_ev = evtimer_new(loop_base(), on_watchdog, NULL);
    connect_now();
    return 0;
}

int bus_enabled(void)
{
    return enabled;
}

void bus_shutdown(void)
{
    enabled = 0;
    if (ctx) redisAsyncFree(ctx); /* calls on_disconnect, which no longer reschedules */
    ctx = NULL;
    if (retry_ev) event_free(retry_ev);
    if (watchdog_ev) event_free(watchdog_ev);
    retry_ev = watchdog_ev = NULL;
}
