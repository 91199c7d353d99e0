/* wsbuf.h - an encoded message shared by the sockets it goes to.
 *
 * One encoded frame (a view, an event) is often queued to many sockets: the buffer is
 * reference-counted so that each queue holds a reference instead of a copy, and it keeps
 * LWS_PRE bytes of headroom before the payload, where lws writes the WebSocket frame header,
 * so the payload is never moved to send it. The count is not atomic: loop thread only. */
#ifndef MT_WSBUF_H
#define MT_WSBUF_H

#include <stddef.h>

struct wsbuf {
    int refs;
    size_t len;
    unsigned char *data; /* len bytes of payload, LWS_PRE bytes of headroom before it */
};

/* Copies len bytes into a new buffer with one reference, owned by the caller. Returns NULL on
 * OOM. */
struct wsbuf *wsbuf_new(const char *text, size_t len);

/* Adds a reference: whoever keeps b beyond the call that lent it to them. */
void wsbuf_ref(struct wsbuf *b);

/* Drops a reference; the last one frees b. NULL does nothing. */
void wsbuf_unref(struct wsbuf *b);

#endif
