#include "uv_poll.h"

#include "log.h"

#include <dlfcn.h>
#include <poll.h>
#include <sys/epoll.h>
#include <uv.h>

typedef int (*poll_start_fn)(uv_poll_t *, int, uv_poll_cb);

static poll_start_fn libuv_poll_start;
static int fast_on;

/* libuv's own translation of UV_* interest into the events it registers (unix/poll.c). */
static unsigned epoll_events_of(int pevents)
{
    unsigned events = 0;
    if (pevents & UV_READABLE) events |= POLLIN;
    if (pevents & UV_PRIORITIZED) events |= POLLPRI;
    if (pevents & UV_WRITABLE) events |= POLLOUT;
    if (pevents & UV_DISCONNECT) events |= EPOLLRDHUP;
    return events;
}

/* Registered with epoll (events set by libuv's poll) and nothing queued to change: the
 * watcher's queue links point at themselves while it is off libuv's watcher queue. */
static int settled(const uv_poll_t *h, uv_poll_cb cb)
{
    const uv__io_t *w = &h->io_watcher;
    return uv_is_active((const uv_handle_t *)h) && h->poll_cb == cb && w->events != 0 &&
           w->events == w->pevents && w->watcher_queue[0] == (void *)&w->watcher_queue;
}

static int fast_start(uv_poll_t *h, int pevents, uv_poll_cb cb)
{
    if (!fast_on || pevents == 0 || !settled(h, cb)) return -1;
    uv__io_t *w = &h->io_watcher;
    unsigned events = epoll_events_of(pevents);
    if (events == w->events) return 0;
    struct epoll_event e = {.events = events, .data.fd = w->fd};
    if (epoll_ctl(uv_backend_fd(h->loop), EPOLL_CTL_MOD, w->fd, &e) != 0) return -1;
    w->pevents = w->events = events;
    return 0;
}

int uv_poll_start(uv_poll_t *h, int pevents, uv_poll_cb cb)
{
    if (fast_start(h, pevents, cb) == 0) return 0;
    if (!libuv_poll_start) libuv_poll_start = (poll_start_fn)dlsym(RTLD_NEXT, "uv_poll_start");
    return libuv_poll_start(h, pevents, cb);
}

int uv_poll_fast_init(void)
{
    libuv_poll_start = (poll_start_fn)dlsym(RTLD_NEXT, "uv_poll_start");
    const char *why = NULL;
    if (!libuv_poll_start)
        why = "libuv's uv_poll_start not found";
    else if (dlsym(RTLD_DEFAULT, "uv_poll_start") != (void *)uv_poll_start)
        why = "uv_poll_start is not interposed";
    else if ((uv_version() >> 16) != 1)
        why = "libuv is not version 1";
    fast_on = why == NULL;
    if (why)
        log_msg(LOG_WARN, "socket writability changes take libuv's path (two epoll_ctl each)",
                "{ss}", "reason", why);
    return fast_on;
}
