#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_type { COUNTER, GAUGE, HISTOGRAM };

struct series {
    char *label_value;
    double value;          /* counter or gauge */
    double sum;            /* histogram */
    unsigned long *counts; /* histogram: one per bound plus +Inf, not cumulative */
    struct series *next;
};

struct metric {
    const char *name, *help, *label;
    enum metric_type type;
    double *bounds;
    int nbounds;
    struct series *series;
    struct metric *next;
};

static struct metric *registry_head, *registry_tail;

static struct metric *register_metric(const char *name, const char *help, const char *label,
                                      enum metric_type type)
{
    struct metric *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->name = name;
    m->help = help;
    m->label = label;
    m->type = type;
    if (registry_tail)
        registry_tail->next = m;
    else
        registry_head = m;
    registry_tail = m;
    return m;
}

struct metric *metrics_counter(const char *name, const char *help, const char *label)
{
    return register_metric(name, help, label, COUNTER);
}

struct metric *metrics_gauge(const char *name, const char *help, const char *label)
{
    return register_metric(name, help, label, GAUGE);
}

struct metric *metrics_histogram(const char *name, const char *help, const char *label,
                                 const double *bounds, int nbounds)
{
    struct metric *m = register_metric(name, help, label, HISTOGRAM);
    if (!m) return NULL;
    m->bounds = malloc(sizeof(double) * (size_t)nbounds);
    if (!m->bounds) return NULL;
    memcpy(m->bounds, bounds, sizeof(double) * (size_t)nbounds);
    m->nbounds = nbounds;
    return m;
}

static struct series *find_series(struct metric *m, const char *label_value, int create)
{
    for (struct series *s = m->series; s; s = s->next) {
        if (!label_value || !s->label_value) return s; /* an unlabelled metric has one series */
        if (strcmp(s->label_value, label_value) == 0) return s;
    }
    if (!create) return NULL;
    struct series *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (label_value && !(s->label_value = strdup(label_value))) {
        free(s);
        return NULL;
    }
    if (m->type == HISTOGRAM && !(s->counts = calloc((size_t)m->nbounds + 1, sizeof *s->counts))) {
        free(s->label_value);
        free(s);
        return NULL;
    }
    s->next = m->series;
    m->series = s;
    return s;
}

void metric_add(struct metric *m, const char *label_value, double delta)
{
    struct series *s = m ? find_series(m, label_value, 1) : NULL;
    if (s) s->value += delta;
}

void metric_set(struct metric *m, const char *label_value, double value)
{
    struct series *s = m ? find_series(m, label_value, 1) : NULL;
    if (s) s->value = value;
}

double metric_value(struct metric *m, const char *label_value)
{
    struct series *s = m ? find_series(m, label_value, 0) : NULL;
    return s ? s->value : 0;
}

void metric_observe(struct metric *m, const char *label_value, double value)
{
    struct series *s = m ? find_series(m, label_value, 1) : NULL;
    if (!s) return;
    int i = 0;
    while (i < m->nbounds && value > m->bounds[i])
        i++;
    s->counts[i]++;
    s->sum += value;
}

struct text {
    char *buf;
    size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    if (!t->buf) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        char *grown = realloc(t->buf, t->cap * 2 + (size_t)n);
        if (!grown) {
            free(t->buf);
            t->buf = NULL;
            return;
        }
        t->buf = grown;
        t->cap = t->cap * 2 + (size_t)n;
    }
}

static void put_number(struct text *t, double v)
{
    if (isinf(v))
        put(t, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        put(t, "%.0f", v);
    else
        put(t, "%.17g", v);
}

/* Writes {label="value"} (plus an extra le pair for buckets), or nothing for no labels. */
static void put_labels(struct text *t, const struct metric *m, const struct series *s,
                       const char *le)
{
    int has_label = m->label && s->label_value;
    if (!has_label && !le) return;
    put(t, "{");
    if (has_label) put(t, "%s=\"%s\"", m->label, s->label_value);
    if (le) put(t, "%sle=\"%s\"", has_label ? "," : "", le);
    put(t, "}");
}

static void render_histogram(struct text *t, const struct metric *m, const struct series *s)
{
    unsigned long cumulative = 0;
    char le[32];
    for (int i = 0; i <= m->nbounds; i++) {
        cumulative += s->counts[i];
        if (i < m->nbounds)
            snprintf(le, sizeof le, "%g", m->bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        put(t, "%s_bucket", m->name);
        put_labels(t, m, s, le);
        put(t, " %lu\n", cumulative);
    }
    put(t, "%s_sum", m->name);
    put_labels(t, m, s, NULL);
    put(t, " ");
    put_number(t, s->sum);
    put(t, "\n%s_count", m->name);
    put_labels(t, m, s, NULL);
    put(t, " %lu\n", cumulative);
}

char *metrics_render(size_t *len)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    struct text t = {malloc(8192), 0, 8192};
    for (const struct metric *m = registry_head; m; m = m->next) {
        put(&t, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, type_names[m->type]);
        /* An unlabelled counter or gauge always shows a sample, 0 before its first update. */
        if (!m->series && !m->label && m->type != HISTOGRAM) put(&t, "%s 0\n", m->name);
        for (const struct series *s = m->series; s; s = s->next) {
            if (m->type == HISTOGRAM) {
                render_histogram(&t, m, s);
                continue;
            }
            put(&t, "%s", m->name);
            put_labels(&t, m, s, NULL);
            put(&t, " ");
            put_number(&t, s->value);
            put(&t, "\n");
        }
    }
    if (len) *len = t.len;
    return t.buf;
}

void metrics_free(void)
{
    struct metric *m = registry_head;
    while (m) {
        struct metric *next = m->next;
        struct series *s = m->series;
        while (s) {
            struct series *sn = s->next;
            free(s->label_value);
            free(s->counts);
            free(s);
            s = sn;
        }
        free(m->bounds);
        free(m);
        m = next;
    }
    registry_head = registry_tail = NULL;
}

struct metric *m_ws_connections, *m_ws_events, *m_ws_latency, *m_active_games, *m_players_online,
    *m_errors, *m_http_requests, *m_send_queue_drops, *m_script_failures, *m_tick_duration,
    *m_tick_lateness, *m_ticks_dropped, *m_inputs_dropped, *m_reloads, *m_redis_latency,
    *m_keepalive_hangups, *m_tick_lua, *m_state_lua, *m_idle_gc, *m_pool_misses;

int metrics_init_server(void)
{
    static const double latency_ms[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 50, 100, 200, 500};
    static const double tick_ms[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50};
    m_ws_connections = metrics_gauge("ws_connections", "Open WebSocket connections", NULL);
    m_ws_events =
        metrics_counter("ws_events_total", "WebSocket messages received, by message type", "type");
    m_ws_latency = metrics_histogram("ws_event_latency_ms",
                                     "Time from a message's arrival to its answer being queued, ms",
                                     NULL, latency_ms, 12);
    m_active_games = metrics_gauge("active_game_sessions", "Rooms open (waiting or active)", NULL);
    m_players_online =
        metrics_gauge("players_online", "Distinct players with an open socket", NULL);
    m_errors = metrics_counter("errors_total", "Error answers sent, by code", "code");
    m_http_requests = metrics_counter("http_requests_total", "HTTP requests, by status", "status");
    m_send_queue_drops =
        metrics_counter("ws_slow_client_disconnects_total",
                        "Sockets closed because their send queue exceeded its cap", NULL);
    m_keepalive_hangups = metrics_counter(
        "ws_keepalive_hangups_total", "Sockets closed because they did not answer a ping", NULL);
    m_script_failures = metrics_counter(
        "script_failures_total", "Script calls that failed, by kind (error, cpu, memory)", "kind");
    m_tick_duration =
        metrics_histogram("tick_duration_ms", "Time one room tick takes, ms", "game", tick_ms, 12);
    m_pool_misses = metrics_counter("lua_pool_misses_total",
                                    "Lua states built on the loop thread because the pool of "
                                    "ready ones was empty, by module",
                                    "module");
    m_tick_lua = metrics_histogram(
        "tick_lua_ms", "Time one room tick spends in Lua (agents acting and the game's tick), ms",
        "game", tick_ms, 12);
    m_idle_gc = metrics_counter("tick_idle_gc_ms_total",
                                "Lua garbage collection of real-time rooms run in the tick "
                                "scheduler's idle time instead of in their ticks, ms",
                                "game");
    m_state_lua = metrics_histogram(
        "state_lua_ms",
        "Time one state sent by a real-time room spends in Lua (views and their encoding), ms",
        "game", tick_ms, 12);
    m_tick_lateness = metrics_histogram("tick_lateness_ms",
                                        "How late a room tick started against its deadline, ms",
                                        "game", tick_ms, 12);
    m_ticks_dropped =
        metrics_counter("ticks_dropped_total", "Ticks skipped after an overrun, by game", "game");
    m_inputs_dropped = metrics_counter("inputs_dropped_total",
                                       "Inputs dropped from full room queues, by game", "game");
    m_reloads =
        metrics_counter("script_reloads_total", "Script versions loaded, by outcome", "outcome");
    static const double redis_ms[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100};
    m_redis_latency = metrics_histogram("redis_latency_ms",
                                        "Round trip of Redis commands, ms (when Redis is used)",
                                        NULL, redis_ms, 10);
    return m_redis_latency && m_ws_connections && m_ws_events && m_ws_latency && m_active_games &&
                   m_players_online && m_errors && m_http_requests && m_send_queue_drops &&
                   m_script_failures && m_tick_duration && m_tick_lateness && m_ticks_dropped &&
                   m_inputs_dropped && m_reloads && m_keepalive_hangups && m_tick_lua &&
                   m_state_lua && m_idle_gc && m_pool_misses
               ? 0
               : -1;
}
