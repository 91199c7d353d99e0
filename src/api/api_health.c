#include "api_health.h"

#include "http.h"
#include "loop.h"
#include "metrics.h"

#include <stdlib.h>

#define MAX_CHECKS 16
static struct {
    const char *name;
    api_health_check_fn fn;
    void *arg;
    int optional; /* failing degrades the server but leaves it ready */
} checks[MAX_CHECKS];
static int n_checks;
static uint64_t started_ms;

static int add_check(const char *name, api_health_check_fn fn, void *arg, int optional)
{
    if (n_checks == MAX_CHECKS) return -1;
    checks[n_checks].name = name;
    checks[n_checks].fn = fn;
    checks[n_checks].arg = arg;
    checks[n_checks].optional = optional;
    n_checks++;
    return 0;
}

int api_health_add_check(const char *name, api_health_check_fn fn, void *arg)
{
    return add_check(name, fn, arg, 0);
}

int api_health_add_optional_check(const char *name, api_health_check_fn fn, void *arg)
{
    return add_check(name, fn, arg, 1);
}

static void get_live(struct http_exchange *x)
{
    double uptime = (double)(loop_now_ms() - started_ms) / 1000.0;
    http_respond_json(x, 200, json_pack("{ss,sf}", "status", "alive", "uptime", uptime));
}

/* Runs check i into a new object of all. Returns 1 when it passed. */
static int run_check(int i, json_t *all)
{
    json_t *c = json_object();
    int healthy = checks[i].fn(c, checks[i].arg);
    json_object_set_new(c, "healthy", json_boolean(healthy));
    json_object_set_new(c, "status",
                        json_string(healthy              ? "ok"
                                    : checks[i].optional ? "degraded"
                                                         : "failed"));
    if (checks[i].optional) json_object_set_new(c, "optional", json_true());
    json_object_set_new(all, checks[i].name, c);
    return healthy;
}

static void get_ready(struct http_exchange *x)
{
    json_t *all = json_object(), *degraded = json_array();
    int ready = 1;
    for (int i = 0; i < n_checks; i++) {
        int healthy = run_check(i, all);
        if (!checks[i].optional)
            ready &= healthy;
        else if (!healthy)
            json_array_append_new(degraded, json_string(checks[i].name));
    }
    json_t *body = json_pack("{ss,so}", "status", ready ? "ready" : "not_ready", "checks", all);
    if (body && json_array_size(degraded)) json_object_set(body, "degraded", degraded);
    json_decref(degraded);
    http_respond_json(x, ready ? 200 : 503, body);
}

static void get_metrics(struct http_exchange *x)
{
    size_t len;
    char *text = metrics_render(&len);
    if (!text) {
        http_respond_error(x, 503, "SERVER_BUSY", "out of memory");
        return;
    }
    http_respond(x, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

/* The loop answers: a server whose loop is stuck would not get this far. */
static int loop_check(json_t *out, void *arg)
{
    return 1;
}

int api_health_init(void)
{
    started_ms = loop_now_ms();
    if (http_route(HTTP_GET, "/health/live", get_live) < 0 ||
        http_route(HTTP_GET, "/health/ready", get_ready) < 0 ||
        http_route(HTTP_GET, "/metrics", get_metrics) < 0)
        return -1;
    return api_health_add_check("loop", loop_check, NULL);
}
