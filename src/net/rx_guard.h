/* rx_guard.h - every byte libwebsockets reads from a WebSocket passes ws_frame_scan first.
 *
 * lws 4.1 reads a connection with recv(fd, buf, len, 0) and parses the frames itself; no option
 * or callback comes between the read and its parser (see ws_frame.h for the frames it mishandles).
 * Checking only the first frame, or peeking at the socket before lws reads, would let a later
 * frame, or bytes arriving between the peek and the read, through. So this module defines
 * recv() itself: the executable's definition takes precedence over libc's for every library
 * (ELF symbol interposition; lws's recv is an ordinary dynamic import), and calls for
 * descriptors not attached here go straight to the kernel. For an attached connection:
 *
 * - before the upgrade, a read is cut after the first empty line (ws_frame_head_cut, one
 *   MSG_PEEK more per HTTP read), so the read that completes an upgrade request never holds
 *   frames too: lws would parse them from its own buffer, unseen;
 * - after it (rx_guard_upgraded, at LWS_CALLBACK_ESTABLISHED, which lws calls while it parses
 *   that read), every read is scanned. At a refused frame, lws gets only the bytes before it;
 *   what follows is read and discarded (reported to lws as "nothing yet"), and on_refused is
 *   called. It runs inside lws's read, so it must not call lws: it records the refusal for
 *   the loop to act on after lws returns.
 *
 * rx_guard_init checks that the interposition is in effect and logs a warning when it is not
 * (the frames are then parsed by lws unchecked). Attach, upgrade and detach run on the loop
 * thread; recv() may be called by any thread and only reads the registry. */
#ifndef MT_RX_GUARD_H
#define MT_RX_GUARD_H

#include "ws_frame.h"

#include <stdint.h>

enum { RX_GUARD_HTTP = 1, RX_GUARD_WS, RX_GUARD_REFUSED };

/* One connection's guard. */
struct rx_guard {
    int fd;
    uint8_t phase; /* RX_GUARD_* */
    struct ws_frame_head head;
    struct ws_frame_scan scan;
    const char *why; /* after a refusal: ws_frame_scan's reason */
    void *owner;     /* the caller's, for on_refused */
};

/* Sets up the registry (once per process) for descriptors below max_fds. on_refused(g) is called
 * inside recv() when g refuses a frame (see above). Returns 0, or -1 on OOM. */
int rx_guard_init(int max_fds, void (*on_refused)(struct rx_guard *g));

/* Watches fd, a connection lws has just accepted and not read yet, from its HTTP phase.
 * Returns the new guard, or NULL on OOM (fd is then read unchecked). */
struct rx_guard *rx_guard_attach(int fd);

/* The next byte read from g's connection is the first of a WebSocket stream. */
void rx_guard_upgraded(struct rx_guard *g);

/* Stops watching and frees g. Call before the descriptor can be reused. */
void rx_guard_detach(struct rx_guard *g);

#endif
