/* Unit tests for uv_poll.c: a registered socket's interest in writability changes in place
 * (one EPOLL_CTL_MOD: the descriptor never leaves the epoll set, which is what libuv's own
 * stop-then-start does), the events libuv delivers follow the change, and a first start and a
 * stop still go through libuv; with writability assumed, the event comes without epoll, and
 * epoll is asked again when the socket may be full. The epoll set is read from
 * /proc/self/fdinfo. */
#include "tap.h"
#include "uv_poll.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

static int seen;

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)h;
    if (status == 0) seen |= events;
}

/* The read and write events epoll holds for fd (the kernel adds POLLERR and POLLHUP to every
 * entry), or -1 when fd is not in the set. */
static long epoll_events(uv_loop_t *loop, int fd)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", uv_backend_fd(loop));
    FILE *f = fopen(path, "r");
    long events = -1;
    int tfd;
    unsigned long ev;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "tfd: %d events: %lx", &tfd, &ev) == 2 && tfd == fd)
            events = (long)(ev & (POLLIN | POLLOUT));
    if (f) fclose(f);
    return events;
}

static int wakes, calls, ask_again;

static void on_wake(void)
{
    wakes++;
}

/* Counts writable events; with ask_again set, asks for writability again from inside the
 * event, as lws does when its write fell short. */
static void on_poll_again(uv_poll_t *h, int status, int events)
{
    if (status != 0 || !(events & UV_WRITABLE)) return;
    calls++;
    if (ask_again) uv_poll_start(h, UV_READABLE | UV_WRITABLE, on_poll_again);
}

/* Writability assumed (uv_poll_writes_attach): a handle asking for POLLOUT is not changed in
 * epoll; its event comes from the check phase of the next uv_run. h is registered for reading
 * on sv[0]. */
static void assumed(uv_loop_t *loop, uv_poll_t *h, int sv[2])
{
    uv_poll_start(h, UV_READABLE, on_poll_again);
    uv_run(loop, UV_RUN_NOWAIT);
    is_int(uv_poll_writes_attach(loop, on_wake), 1, "writability assumed from now on");
    calls = wakes = 0;
    uv_poll_start(h, UV_READABLE | UV_WRITABLE, on_poll_again);
    is_int(epoll_events(loop, sv[0]), POLLIN, "asking for writability changes nothing in epoll");
    is_int(wakes, 1, "the loop's owner is asked for a uv_run");
    uv_poll_start(h, UV_READABLE | UV_WRITABLE, on_poll_again);
    is_int(wakes, 1, "asking twice queues once");
    uv_run(loop, UV_RUN_NOWAIT);
    is_int(calls, 1, "the writable event comes in the next uv_run, once");
    uv_run(loop, UV_RUN_NOWAIT);
    is_int(calls, 1, "and not again");

    uv_poll_start(h, UV_READABLE | UV_WRITABLE, on_poll_again);
    uv_poll_start(h, UV_READABLE, on_poll_again);
    uv_run(loop, UV_RUN_NOWAIT);
    is_int(calls, 1, "dropped before the uv_run: no event");

    uv_poll_start(h, UV_READABLE | UV_WRITABLE, on_poll_again);
    ask_again = 1;
    uv_run(loop, UV_RUN_NOWAIT);
    is_int(calls, 2, "an event whose handler asks again");
    is_int(epoll_events(loop, sv[0]), POLLIN | POLLOUT,
           "gets epoll's POLLOUT: the socket may be full");
    ask_again = 0;
    uv_run(loop, UV_RUN_NOWAIT);
    is_int(calls, 3, "and epoll delivers it");
    uv_poll_start(h, UV_READABLE, on_poll_again);
    is_int(epoll_events(loop, sv[0]), POLLIN, "dropped in place");

    uv_poll_start(h, UV_WRITABLE, on_poll_again);
    is_int(epoll_events(loop, sv[0]), POLLOUT, "writability alone is asked of epoll");
    uv_poll_start(h, UV_READABLE, on_poll_again);

    uv_poll_start(h, UV_READABLE | UV_WRITABLE, on_poll_again);
    uv_poll_stop(h);
    uv_run(loop, UV_RUN_NOWAIT);
    is_int(calls, 3, "a handle stopped before the uv_run gets nothing");
    uv_poll_start(h, UV_READABLE, on_poll_again);
    uv_run(loop, UV_RUN_NOWAIT);
    uv_poll_start(h, UV_READABLE | UV_WRITABLE, on_poll_again);
    uv_poll_writes_detach();
}

int main(void)
{
    uv_loop_t loop;
    uv_poll_t h;
    int sv[2];
    if (uv_loop_init(&loop) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
    is_int(uv_poll_fast_init(), 1, "the fast path is on (uv_poll_start interposed, libuv 1.x)");

    uv_poll_init(&loop, &h, sv[0]);
    is_int(uv_poll_start(&h, UV_READABLE, on_poll), 0, "first start: libuv's path");
    is_int(epoll_events(&loop, sv[0]), -1, "not in the epoll set before libuv's next poll");
    uv_run(&loop, UV_RUN_NOWAIT);
    is_int(epoll_events(&loop, sv[0]), POLLIN, "registered for reading");

    is_int(uv_poll_start(&h, UV_READABLE | UV_WRITABLE, on_poll), 0, "ask for writability");
    is_int(epoll_events(&loop, sv[0]), POLLIN | POLLOUT, "changed in place, at once");
    seen = 0;
    uv_run(&loop, UV_RUN_NOWAIT);
    ok(seen & UV_WRITABLE, "libuv delivers the writable event");

    is_int(uv_poll_start(&h, UV_READABLE, on_poll), 0, "drop writability");
    is_int(epoll_events(&loop, sv[0]), POLLIN, "changed back in place");
    if (write(sv[1], "x", 1) != 1) return 1;
    seen = 0;
    uv_run(&loop, UV_RUN_NOWAIT);
    is_int(seen, UV_READABLE, "then only readable events arrive");

    is_int(uv_poll_start(&h, UV_READABLE, on_poll), 0, "the same events again");
    is_int(epoll_events(&loop, sv[0]), POLLIN, "nothing changes");

    uv_poll_stop(&h);
    is_int(epoll_events(&loop, sv[0]), -1, "a stop leaves the set (libuv's path)");
    is_int(uv_poll_start(&h, UV_WRITABLE, on_poll), 0, "a start after a stop");
    uv_run(&loop, UV_RUN_NOWAIT);
    is_int(epoll_events(&loop, sv[0]), POLLOUT, "registered again by libuv");

    assumed(&loop, &h, sv);

    uv_close((uv_handle_t *)&h, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    close(sv[0]);
    close(sv[1]);
    return done_testing();
}
