/* ws.h - the listening socket: libwebsockets on the nested libuv loop, HTTP and WebSocket on
 * one port.
 *
 * ws.c owns the lws context and its one protocol callback. It turns lws events into calls on
 * the modules above it: HTTP transactions go to http_dispatch(); a WebSocket upgrade is
 * authenticated here (token in ?token= or Authorization: Bearer; a guest when there is none and
 * guests are allowed and admit_guest agrees) and refused with 401, 404, 429 or 503 before any
 * socket opens; whole messages
 * go to the ws_handlers. Loop thread only. */
#ifndef MT_WS_H
#define MT_WS_H

#include "config.h"
#include "session.h"

#include <stddef.h>

/* What the layer above does with sockets. Every callback is optional. */
struct ws_handlers {
    /* A socket is open (send welcome here). guest_token: a token was just issued, or NULL. */
    void (*on_open)(struct session *s, const char *guest_token);
    /* One whole text message of len bytes (not NUL-terminated), within the size limit. */
    void (*on_message)(struct session *s, const char *data, size_t len);
    /* A message the layer below refused before parsing: code is "BAD_MESSAGE" (binary frame)
     * or "TOO_LARGE" (the socket then closes with 1009). */
    void (*on_refused)(struct session *s, const char *code);
    /* The socket is gone; s is freed after this returns. */
    void (*on_close)(struct session *s);
    /* An upgrade without a token is about to make a guest for a client at peer: returns 1 to
     * go on, or 0 with *retry_after_s set, and the upgrade is refused with 429. Asked once per
     * upgrade. */
    int (*admit_guest)(const char *peer, int *retry_after_s);
};

/* Creates the lws context on the loop and starts listening. Returns 0, or -1 with a log line.
 * handlers is copied. */
int ws_init(const struct config *cfg, const struct ws_handlers *handlers);

/* The port actually listened on (useful with --port 0). */
int ws_port(void);

/* Starts a graceful stop: new HTTP requests and upgrades get 503, every open socket is closed
 * with code and reason (1001 "server shutting down"; in a cluster 1012 "service restart": the
 * client reconnects and resumes elsewhere) after its queued writes. done() is called once
 * every socket is gone. reason is static. */
void ws_drain(int code, const char *reason, void (*done)(void));

/* Destroys the context, closing whatever is still open. */
void ws_free(void);

#endif
