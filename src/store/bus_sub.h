/* bus_sub.h - one Redis pub/sub subscription of this process (the cluster relay's inbox).
 *
 * Redis allows nothing but (un)subscribing on a subscribed connection, so the subscription has
 * a connection of its own beside bus.c's command connection, to the same --redis-url.
 * hiredis neither times out nor reconnects, and hiredis 0.14 drops the answer to a PING on a
 * subscribed connection, so liveness is checked end to end instead: every second the command
 * connection publishes a probe on the subscribed channel, and a subscription that has heard
 * nothing (no probe, no message) for BUS_SUB_SILENT_MS while the command connection is up is
 * dropped and made again. A lost connection is retried after a backoff of 100 ms doubling to
 * 5 s, with jitter. Messages published while the subscription is down are lost (Redis pub/sub
 * keeps nothing): bus_sub_up() says when that can be happening, and on_up tells the owner
 * that the subscription is back, so it can resynchronise. Loop thread only. */
#ifndef MT_BUS_SUB_H
#define MT_BUS_SUB_H

#include <stddef.h>

#define BUS_SUB_SILENT_MS 3000

/* A message published on the channel (data is len bytes, not NUL-terminated). */
typedef void (*bus_sub_fn)(const char *data, size_t len);

/* Subscribes to channel (copied) on a connection of its own, once the bus (bus.h) is configured.
 * on_message gets every message but the probes; on_up (may be NULL) runs each time the
 * subscription is confirmed, the first time included. Returns 0, or -1 without Redis or on
 * OOM. */
int bus_sub_init(const char *channel, bus_sub_fn on_message, void (*on_up)(void));

/* Whether the subscription is confirmed and has heard from Redis lately. */
int bus_sub_up(void);

/* Unsubscribes, closes the connection and frees the channel name; the callbacks are not called
 * again. Safe without bus_sub_init. Loop thread. */
void bus_sub_shutdown(void);

#endif
