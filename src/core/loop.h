/* loop.h - the one event loop: a libevent event_base that owns every fd and timer.
 *
 * libwebsockets (Debian's build) can only run on its libuv plugin, so the loop also owns a
 * uv_loop_t that lws is handed as a "foreign loop". The libuv loop is nested in libevent:
 * libevent watches uv_backend_fd() and, when it is readable or libuv's next timer is due, runs
 * uv_run(UV_RUN_NOWAIT) and re-arms one timer from uv_backend_timeout(). Nothing polls: an
 * idle server sleeps in epoll_wait until a socket or a real deadline wakes it.
 *
 * Everything here runs on the loop thread. Other threads hand work back with loop_post(). */
#ifndef MT_LOOP_H
#define MT_LOOP_H

#include <event2/event.h>
#include <stdint.h>
#include <uv.h>

/* Creates the event base and the nested libuv loop. Returns 0, or -1 with a log line. */
int loop_init(void);

/* The libevent base and the libuv loop lws runs on. Valid between loop_init and loop_free. */
struct event_base *loop_base(void);
uv_loop_t *loop_uv(void);

/* Runs libuv's due work now and re-arms the nested watcher. Call after anything that may have
 * scheduled libuv work from outside a libuv callback (for example lws_callback_on_writable
 * from a libevent timer), so the new work is noticed without waiting for the next wake-up. */
void loop_pump(void);

/* Arranges one loop_pump() at the end of the current loop iteration; cheap and coalescing.
 * Call whenever libuv watchers may have changed outside a libuv callback (lws asked to write
 * from a libevent timer, say): libuv applies watcher changes only inside uv_run. */
void loop_pump_soon(void);

/* Runs until loop_stop(). Returns 0 after a clean stop. */
int loop_run(void);

/* Makes loop_run return after the current iteration. Safe from the loop thread only. */
void loop_stop(void);

/* Queues fn(arg) to run on the loop thread. Safe from any thread; returns 0, or -1 when the
 * loop is shutting down (fn is then not called and arg stays the caller's). */
typedef void (*loop_fn)(void *arg);
int loop_post(loop_fn fn, void *arg);

/* Sets a function the loop calls after each posted callback (and that others may call after
 * their own units of work): a cheap check that keeps a latency-sensitive module (the database
 * connection) from waiting for the end of a long loop turn. NULL clears it. */
void loop_set_between(void (*fn)(void));
void loop_between(void);

/* Runs, now, what other threads have posted and the loop has not run yet. For shutdown, after
 * the worker threads are joined and before the modules the callbacks use are freed. */
void loop_drain_posted(void);

/* Monotonic milliseconds and microseconds since an arbitrary start; wall-clock ms since epoch. */
uint64_t loop_now_ms(void);
uint64_t loop_now_us(void);
double loop_wall_ms(void);

/* Releases the loop. Every event must have been freed by its owner first. */
void loop_free(void);

#endif
