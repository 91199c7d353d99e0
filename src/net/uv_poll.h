/* uv_poll.h - a socket's interest in writability changes with one epoll_ctl, not two.
 *
 * libwebsockets (its libuv event library) asks for POLLOUT before every write and drops it after,
 * each time through uv_poll_start(). libuv 1.x implements uv_poll_start as a stop, which removes
 * the descriptor from epoll (EPOLL_CTL_DEL), then a start, which adds it again (EPOLL_CTL_ADD) at
 * the next poll: four system calls around every message a socket sends, 10 % of the loop
 * thread's time when many small games run (docs/benchmarks.md, issue 12).
 *
 * This module defines uv_poll_start() itself (ELF interposition, as rx_guard does for recv; the
 * executable's definition is found first by every library) and, for a handle that is already
 * registered with epoll and has no change pending, changes its events with one EPOLL_CTL_MOD and
 * records them where libuv keeps them (uv__io_t's pevents and events, fields of the public
 * uv_poll_t). Everything else (a first start, a stop, a pending change, a failed call) goes to
 * libuv's own uv_poll_start, found with dlsym(RTLD_NEXT).
 *
 * It relies on libuv 1.x keeping a registered watcher's epoll events in io_watcher.events and
 * the wanted ones in io_watcher.pevents, and on its epoll backend (uv_backend_fd) holding each
 * descriptor with data.fd set to it; uv_poll_fast_init checks the major version and that the
 * interposition is in effect, and turns the fast path off otherwise. Loop thread only (libuv's
 * rule for its handles). */
#ifndef MT_UV_POLL_H
#define MT_UV_POLL_H

#include <uv.h>

/* Turns the fast path on after checking the conditions above; logs why when it stays off.
 * Returns 1 when it is on, else 0 (every call then goes to libuv unchanged). */
int uv_poll_fast_init(void);

/* Writability assumed (on top of the fast path). A socket that asks for POLLOUT is nearly
 * always writable: its kernel buffer has room. Asking epoll anyway costs a change of interest
 * before the write, another after it, and a loop turn between (three system calls and a wake-up
 * for every message; the Node peer's libuv writes at once and asks epoll only when a write
 * falls short). So a registered handle that keeps another interest and asks for writability
 * is not changed in epoll: it is queued, and a uv_check handle on loop delivers its
 * UV_WRITABLE event itself in the same uv_run (lws then writes in its writeable callback as
 * always). wake_fn is called when a handle is queued, so that the loop's owner runs uv_run
 * soon (loop_pump_soon) when the request came from outside it. If the owner asks again from
 * inside that event (its write fell short: the socket is full) or asks for writability alone,
 * epoll is asked as before, so a full socket waits for epoll and nothing spins. A queued handle
 * whose owner drops writability, stops polling or closes before the check phase gets nothing.
 * Returns 1 when on (the fast path is), else 0. Loop thread only. */
int uv_poll_writes_attach(uv_loop_t *loop, void (*wake_fn)(void));

/* Turns it off and drops what is queued (shutdown, before the handles' owner closes them). */
void uv_poll_writes_detach(void);

#endif
