#include "bus_sub.h"

#include "bus.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

/* A probe is this one byte: relay messages never are (they start with a kind letter and a
 * newline). */
#define PROBE "~"

static char *channel;
static bus_sub_fn on_message;
static void (*on_up)(void);
static redisAsyncContext *ctx;
static int subscribed, backoff_ms = 100;
static uint64_t heard_ms; /* the last message or confirmation */
static struct event *retry_ev, *probe_ev;
static struct metric *m_resubscribed;

static void connect_now(void);

static void schedule_retry(void)
{
    bus_backoff(retry_ev, &backoff_ms);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    connect_now();
}

/* Every reply of the subscription: the confirmation ["subscribe", channel, n], then each
 * ["message", channel, data]. */
static void on_reply(redisAsyncContext *c, void *reply, void *privdata)
{
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    heard_ms = loop_now_ms();
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "subscribe") == 0) {
        subscribed = 1;
        backoff_ms = 100;
        log_msg(LOG_INFO, "redis subscription up", "{ss}", "channel", channel);
        metric_add(m_resubscribed, NULL, 1);
        if (on_up) on_up();
        return;
    }
    const redisReply *data = r->element[2];
    if (strcmp(kind, "message") != 0 || data->type != REDIS_REPLY_STRING) return;
    if (data->len == 1 && data->str[0] == PROBE[0]) return;
    on_message(data->str, data->len);
}

static void on_connect(const redisAsyncContext *c, int status)
{
    if (status != REDIS_OK) {
        ctx = NULL; /* hiredis frees the context after a failed connect */
        schedule_retry();
        return;
    }
    heard_ms = loop_now_ms();
    redisAsyncCommand(ctx, on_reply, NULL, "SUBSCRIBE %s", channel);
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
    if (subscribed)
        log_msg(LOG_WARN, "redis subscription lost", "{ss,ss}", "channel", channel, "error",
                c->errstr);
    subscribed = 0;
    ctx = NULL;
    if (channel) schedule_retry();
}

static void connect_now(void)
{
    char host[256];
    int port, db;
    bus_url_parts(host, sizeof host, &port, &db);
    ctx = redisAsyncConnect(host, port);
    if (!ctx || ctx->err) {
        if (ctx) redisAsyncFree(ctx);
        ctx = NULL;
        schedule_retry();
        return;
    }
    redisLibeventAttach(ctx, loop_base());
    redisAsyncSetConnectCallback(ctx, on_connect);
    redisAsyncSetDisconnectCallback(ctx, on_disconnect);
}

/* Once a second: publish a probe through the command connection, and drop a subscription
 * that heard nothing for BUS_SUB_SILENT_MS although the probes could go out. */
static void on_probe(evutil_socket_t fd, short what, void *arg)
{
    struct timeval tv = {1, 0};
    event_add(probe_ev, &tv);
    if (!bus_connected()) return;
    bus_publish(channel, PROBE, 1);
    if (ctx && loop_now_ms() - heard_ms > BUS_SUB_SILENT_MS) {
        log_msg(LOG_WARN, "redis subscription silent: reconnecting", "{ss}", "channel", channel);
        redisAsyncDisconnect(ctx);
    }
}

int bus_sub_init(const char *name, bus_sub_fn fn, void (*up)(void))
{
    if (!bus_enabled()) return -1;
    channel = strdup(name);
    on_message = fn;
    on_up = up;
    m_resubscribed = metrics_counter("redis_subscriptions_total",
                                     "Times the relay's Redis subscription was confirmed", NULL);
    retry_ev = evtimer_new(loop_base(), on_retry, NULL);
    probe_ev = evtimer_new(loop_base(), on_probe, NULL);
    if (!channel || !retry_ev || !probe_ev) return -1;
    struct timeval tv = {1, 0};
    event_add(probe_ev, &tv);
    connect_now();
    return 0;
}

int bus_sub_up(void)
{
    return ctx && subscribed && loop_now_ms() - heard_ms <= BUS_SUB_SILENT_MS;
}

void bus_sub_shutdown(void)
{
    char *name = channel;
    channel = NULL; /* on_disconnect no longer reschedules */
    subscribed = 0;
    if (ctx) redisAsyncFree(ctx);
    ctx = NULL;
    if (retry_ev) event_free(retry_ev);
    if (probe_ev) event_free(probe_ev);
    retry_ev = probe_ev = NULL;
    free(name);
}
