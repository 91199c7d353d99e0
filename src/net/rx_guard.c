/* This file defines recv() itself; glibc's fortified inline recv would clash with it. */
#undef _FORTIFY_SOURCE

#include "rx_guard.h"

#include "log.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>

/* fd -> guard. Written on the loop thread only; recv() on any thread reads it, with atomics so
 * a read racing a write of another descriptor's slot is defined. It lives as long as the
 * process: a recv() on another thread may be looking at it until exit. */
static struct rx_guard **table;
static int table_len;
static void (*refused_cb)(struct rx_guard *g);

static struct rx_guard *guard_of(int fd)
{
    struct rx_guard **t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (!t || fd < 0 || fd >= table_len) return NULL;
    return __atomic_load_n(&t[fd], __ATOMIC_RELAXED);
}

static void set_slot(int fd, struct rx_guard *g)
{
    if (table && fd >= 0 && fd < table_len) __atomic_store_n(&table[fd], g, __ATOMIC_RELAXED);
}

/* The kernel's recv. recv(2) is recvfrom(2) without an address; calling libc's recvfrom (which
 * nothing here interposes) avoids looking the next recv up with dlsym. */
static ssize_t kernel_recv(int fd, void *buf, size_t len, int flags)
{
    return recvfrom(fd, buf, len, flags, NULL, NULL);
}

/* Before the upgrade: hand lws at most one header block's end per read. */
static ssize_t head_recv(struct rx_guard *g, void *buf, size_t len)
{
    ssize_t n = kernel_recv(g->fd, buf, len, MSG_PEEK);
    if (n <= 0) return n;
    size_t cut = ws_frame_head_cut(&g->head, buf, (size_t)n);
    ssize_t m = kernel_recv(g->fd, buf, cut, 0);
    if (m > 0) ws_frame_head_feed(&g->head, buf, (size_t)m);
    return m;
}

/* Reports "nothing to read yet": lws then waits for the next readable event. */
static ssize_t nothing_yet(void)
{
    errno = EAGAIN;
    return -1;
}

/* After the upgrade: lws gets the bytes before a refused frame, then nothing more. */
static ssize_t frame_recv(struct rx_guard *g, void *buf, size_t len)
{
    ssize_t n = kernel_recv(g->fd, buf, len, 0);
    if (n <= 0) return n;
    if (g->phase == RX_GUARD_REFUSED) return nothing_yet(); /* discarded */
    const char *why = NULL;
    size_t ok = ws_frame_scan(&g->scan, buf, (size_t)n, &why);
    if (ok == (size_t)n) return n;
    g->phase = RX_GUARD_REFUSED;
    g->why = why;
    if (refused_cb) refused_cb(g);
    return ok ? (ssize_t)ok : nothing_yet();
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    struct rx_guard *g = flags ? NULL : guard_of(fd);
    if (!g) return kernel_recv(fd, buf, len, flags);
    return g->phase == RX_GUARD_HTTP ? head_recv(g, buf, len) : frame_recv(g, buf, len);
}

int rx_guard_init(int max_fds, void (*on_refused)(struct rx_guard *g))
{
    refused_cb = on_refused;
    struct rx_guard **t = calloc((size_t)max_fds, sizeof *t);
    if (!t) return -1;
    table_len = max_fds;
    __atomic_store_n(&table, t, __ATOMIC_RELEASE);
    /* lws binds recv by the same global lookup as this one. */
    if (dlsym(RTLD_DEFAULT, "recv") != (void *)recv)
        log_msg(LOG_WARN,
                "recv() is not interposed: frames are not checked before libwebsockets parses "
                "them (unmasked frames are accepted)",
                NULL);
    return 0;
}

struct rx_guard *rx_guard_attach(int fd)
{
    struct rx_guard *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->fd = fd;
    g->phase = RX_GUARD_HTTP;
    ws_frame_head_init(&g->head);
    set_slot(fd, g);
    return g;
}

void rx_guard_upgraded(struct rx_guard *g)
{
    if (g->phase == RX_GUARD_HTTP) g->phase = RX_GUARD_WS;
}

void rx_guard_detach(struct rx_guard *g)
{
    if (guard_of(g->fd) == g) set_slot(g->fd, NULL);
    free(g);
}
