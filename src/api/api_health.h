/* api_health.h - GET /health/live, GET /health/ready and GET /metrics.
 *
 * Readiness is the AND of named checks that other modules register for what is configured
 * (storage, database, Redis, scripts). Each check fills its own object with at least
 * "healthy": true|false and may add details. */
#ifndef MT_API_HEALTH_H
#define MT_API_HEALTH_H

#include <jansson.h>

/* A readiness check: fills out (an empty object) and returns 1 when healthy, else 0. */
typedef int (*health_check_fn)(json_t *out, void *arg);

/* Registers the routes. Returns 0, or -1 when the route table is full. */
int api_health_init(void);

/* Adds a readiness check named name (static string). Returns 0, or -1 when full. */
int health_add_check(const char *name, health_check_fn fn, void *arg);

#endif
