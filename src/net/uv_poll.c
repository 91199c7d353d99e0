#include "uv_poll.h"

#include "log.h"

#include <dlfcn.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

/* ---- writability assumed: the handles waiting for their synthetic event ---- */

struct pending {
    uv_poll_t *h;
    uv_poll_cb cb;
    int pevents; /* what the handle's owner asked for last */
};

static uv_check_t check;   /* dispatches the pending handles, once per uv_run */
static void (*wake)(void); /* asks the loop's owner for a uv_run soon */
static uv_poll_t *current; /* the handle whose synthetic event is being delivered */
static struct pending *pend;
static size_t npend, cappend;
static struct pending *batch; /* on_check's copy of pend, kept from one call to the next */
static size_t capbatch;
/* Index of pend by handle: open addressing, slots hold pend index + 1 (0: empty). */
static size_t *slots;
static size_t nslots; /* a power of two, at least twice cappend */

static size_t slot_of(const uv_poll_t *h)
{
    size_t i = ((uintptr_t)h >> 4) * 0x9E3779B97F4A7C15u;
    i &= nslots - 1;
    while (slots[i] && pend[slots[i] - 1].h != h)
        i = (i + 1) & (nslots - 1);
    return i;
}

static struct pending *find(const uv_poll_t *h)
{
    if (!npend) return NULL;
    size_t i = slot_of(h);
    return slots[i] ? &pend[slots[i] - 1] : NULL;
}

/* Room for one more entry; the index is rebuilt at twice the size when it grows. */
static int reserve_one(void)
{
    if (npend < cappend) return 0;
    size_t cap = cappend ? cappend * 2 : 256;
    struct pending *p = realloc(pend, cap * sizeof *p);
    size_t *sl = calloc(cap * 2, sizeof *sl);
    if (!p || !sl) {
        if (p) pend = p;
        free(sl);
        return -1;
    }
    pend = p;
    cappend = cap;
    free(slots);
    slots = sl;
    nslots = cap * 2;
    for (size_t k = 0; k < npend; k++)
        slots[slot_of(pend[k].h)] = k + 1;
    return 0;
}

/* Queues h's writable event instead of asking epoll for it. */
static int assume_writable(uv_poll_t *h, int pevents, uv_poll_cb cb)
{
    if (reserve_one() < 0) return -1;
    pend[npend] = (struct pending){h, cb, pevents};
    slots[slot_of(h)] = ++npend;
    if (wake) wake();
    return 0;
}

/* uv_check callback: each handle queued before this call gets its writable event, if its owner
 * still wants one and the handle is still polling (a closing handle's memory lasts until the
 * closing phase, which comes after this one in every uv_run). Handles queued while these run
 * wait for the next uv_run. */
static void on_check(uv_check_t *c)
{
    (void)c;
    size_t n = npend;
    if (!n) return;
    if (n > capbatch) {
        struct pending *b = realloc(batch, cappend * sizeof *b);
        if (!b) return; /* they stay queued for the next turn */
        batch = b;
        capbatch = cappend;
    }
    memcpy(batch, pend, n * sizeof *batch);
    memset(slots, 0, nslots * sizeof *slots); /* every entry leaves at once: no probe chains */
    npend = 0;
    for (size_t k = 0; k < n; k++) {
        uv_poll_t *h = batch[k].h;
        if (!(batch[k].pevents & UV_WRITABLE) || uv_is_closing((uv_handle_t *)h) ||
            !uv_is_active((uv_handle_t *)h) || h->poll_cb != batch[k].cb)
            continue;
        current = h;
        batch[k].cb(h, 0, UV_WRITABLE);
        current = NULL;
    }
}

/* Whether h's writability may be assumed rather than asked of epoll: the handle keeps another
 * interest (so it stays in the set), epoll is not watching POLLOUT for it already, and the
 * request does not come from inside its own synthetic event (then the write fell short, the
 * socket is full, and only epoll can say when it drains). */
static int may_assume(const uv_poll_t *h, int pevents)
{
    return wake && (pevents & UV_WRITABLE) && (pevents & ~UV_WRITABLE) &&
           !(h->io_watcher.events & POLLOUT) && h != current;
}

static int fast_start(uv_poll_t *h, int pevents, uv_poll_cb cb)
{
    if (!fast_on || pevents == 0 || !settled(h, cb)) return -1;
    uv__io_t *w = &h->io_watcher;
    struct pending *p = find(h);
    if (p) { /* queued already: what the owner wants at dispatch is what counts */
        p->pevents = pevents & ~UV_WRITABLE ? pevents : 0;
        if (p->pevents) pevents &= ~UV_WRITABLE;
    } else if (may_assume(h, pevents) && assume_writable(h, pevents, cb) == 0) {
        pevents &= ~UV_WRITABLE;
    }
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

int uv_poll_writes_attach(uv_loop_t *loop, void (*wake_fn)(void))
{
    if (!fast_on || uv_check_init(loop, &check) != 0) return 0;
    uv_check_start(&check, on_check);
    uv_unref((uv_handle_t *)&check); /* it keeps nobody's loop running */
    wake = wake_fn;
    return 1;
}

void uv_poll_writes_detach(void)
{
    if (!wake) return;
    wake = NULL;
    uv_close((uv_handle_t *)&check, NULL);
    free(pend);
    free(slots);
    free(batch);
    pend = batch = NULL;
    slots = NULL;
    npend = cappend = nslots = capbatch = 0;
}
