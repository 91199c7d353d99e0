/* linger.h - a lingering close: after the server's close frame, what the peer still sends is
 * read and discarded for a bounded time before the connection is released.
 *
 * Closing a TCP socket that has unread input makes the kernel answer with a reset, and a reset
 * makes the peer drop what it has not read yet: the close frame and the error before it (a
 * client still sending an oversized message lost both). lws closes its descriptor as soon as a
 * connection ends, so linger_start takes a duplicate of it: the connection then lives on
 * without lws, its sending side shut down so the peer sees the end of the stream after the
 * close frame, until the peer closes too, LINGER_MS pass or LINGER_BYTES arrive. Then it is
 * closed (with a reset if the peer is still sending, which it no longer needs to read).
 *
 * At most max_sockets linger at once; the caller keeps that many descriptors spare. Loop
 * thread only. */
#ifndef MT_LINGER_H
#define MT_LINGER_H

#include <event2/event.h>
#include <stddef.h>

enum { LINGER_MS = 2000, LINGER_BYTES = 8 << 20 };

/* Lingering sockets are watched on base. */
void linger_init(struct event_base *base, int max_sockets);

/* Takes over the connection of fd (lws still closes fd itself). Returns 0, or -1 when it does
 * not (at the cap, or no descriptor left): the connection then ends when fd is closed. */
int linger_start(int fd);

/* How many connections linger now. */
size_t linger_count(void);

/* Closes every lingering connection at once. */
void linger_shutdown(void);

#endif
