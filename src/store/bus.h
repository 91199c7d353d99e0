/* bus.h - fan-out of game traffic to Redis pub/sub (--redis-url), for consumers outside
 * the process: analytics, moderation, other instances, a replay service.
 *
 * Channels (each message is the JSON the server sent to its own sockets, or the lobby update):
 *   game:<gameId>:events   every event of a game's log (omniscient payloads), in seq order
 *   lobby                  lobby_update {event, room} as rooms open, change and close
 *   agents:evolved         agent_evolved {agent, version, commit?, summary?}
 *
 * hiredis runs asynchronously on the libevent loop. It has no timeouts and does not reconnect,
 * so this module does both: a command unanswered for 2 s drops the connection, and a lost
 * connection is retried with backoff (100 ms doubling to 5 s). Publishing is fire-and-forget:
 * while Redis is away, messages are dropped and counted (redis_publish_dropped_total), the
 * game never waits, and /health/ready reports the state as an optional check: "degraded"
 * while Redis is away, and the server stays ready. Loop thread only. */
#ifndef MT_BUS_H
#define MT_BUS_H

#include "config.h"

#include <jansson.h>
#include <stddef.h>

/* Connects when cfg->redis_url is set (else does nothing). Returns 0, or -1 for a malformed
 * URL (start-up stops with a message naming redis-url). */
int bus_init(const struct config *cfg);
void bus_shutdown(void);

/* Whether Redis is configured at all. */
int bus_enabled(void);

/* A command's answer: reply is hiredis's (borrowed for the call), or NULL when the command
 * failed without one (the connection was lost or stopped answering). */
struct redisReply;
typedef void (*bus_reply_fn)(struct redisReply *reply, void *arg);

/* Sends a command (hiredis format) whose answer goes to fn. Fails fast, returning -1 without
 * calling fn, while Redis is not connected (the circuit breaker is open: each reconnection
 * attempt, after a backoff of 100 ms doubling to 5 s with jitter, is its half-open probe).
 * Otherwise fn is called exactly once, within the 2 s command timeout. */
int bus_command(bus_reply_fn fn, void *arg, const char *fmt, ...);

/* The same with the command's words as strings (a variable number of them). */
int bus_command_argv(bus_reply_fn fn, void *arg, int argc, const char **argv);

/* Whether the connection is up (the breaker closed). */
int bus_connected(void);

/* The connection's state for /health/ready: fills out (borrowed) with connected, breaker
 * ("closed", "half-open" or "open") and lastError when there was one. Returns bus_connected().
 * Whoever registers the readiness check decides whether it is required (api_health.h). */
int bus_health(json_t *out);

/* The parts of --redis-url, for a blocking connection at start-up and shutdown. */
void bus_url_parts(char *host, size_t len, int *port, int *db);

/* Arms retry after *delay_ms with jitter (half to all of it, so instances that lost Redis
 * together do not come back in the same millisecond), then doubles *delay_ms up to 5 s.
 * Every Redis connection of the process backs off so. */
struct event;
void bus_backoff(struct event *retry, int *delay_ms);

/* Publishes message (len bytes, not NUL-terminated) on channel. */
void bus_publish(const char *channel, const char *message, size_t len);

#endif
