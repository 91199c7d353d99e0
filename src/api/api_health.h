/* api_health.h - GET /health/live, GET /health/ready and GET /metrics.
 *
 * Readiness is the AND of the required named checks that other modules register for what is
 * configured (storage, database, scripts). An optional check (a dependency the server plays
 * without, such as the Redis fan-out) that fails leaves the server ready, with the check
 * marked degraded: a load balancer must not take a server out of service that plays normally.
 * Each check fills its own object with details; the server adds "healthy": true|false,
 * "status": "ok" | "degraded" (optional, failing) | "failed" (required, failing), and
 * "optional": true for optional checks. The body is {status: "ready" | "not_ready", checks,
 * degraded?: [names of failing optional checks]}, 200 when ready, else 503. */
#ifndef MT_API_HEALTH_H
#define MT_API_HEALTH_H

#include <jansson.h>

/* A readiness check: fills out (an empty object) and returns 1 when healthy, else 0. */
typedef int (*api_health_check_fn)(json_t *out, void *arg);

/* Registers the routes. Returns 0, or -1 when the route table is full. */
int api_health_init(void);

/* Adds a required readiness check named name (static string). Returns 0, or -1 when full. */
int api_health_add_check(const char *name, api_health_check_fn fn, void *arg);

/* Adds an optional check: its failure is reported (degraded) but the server stays ready.
 * Returns 0, or -1 when full. */
int api_health_add_optional_check(const char *name, api_health_check_fn fn, void *arg);

#endif
