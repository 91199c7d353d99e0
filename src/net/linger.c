#include "linger.h"

#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct lingerer {
    int fd;
    struct event *ev;
    uint64_t deadline_ms;
    size_t discarded;
    struct lingerer *prev, *next;
};

static struct event_base *ev_base;
static struct lingerer *all;
static size_t count, cap;

static void finish(struct lingerer *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        all = l->next;
    if (l->next) l->next->prev = l->prev;
    event_free(l->ev);
    close(l->fd);
    free(l);
    count--;
}

/* Waits for more input until the deadline. */
static void rearm(struct lingerer *l)
{
    uint64_t now = loop_now_ms(), left = l->deadline_ms > now ? l->deadline_ms - now : 0;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
    event_add(l->ev, &tv);
}

/* Reads what is there. Returns 1 while the connection should go on lingering. */
static int discard_input(struct lingerer *l)
{
    static char scratch[65536];
    for (;;) {
        ssize_t n = recv(l->fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (n > 0) {
            l->discarded += (size_t)n;
            if (l->discarded > LINGER_BYTES) return 0;
            continue;
        }
        /* 0: the peer closed its side too, the clean end. */
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    struct lingerer *l = arg;
    if ((what & EV_TIMEOUT) || loop_now_ms() >= l->deadline_ms || !discard_input(l)) {
        finish(l);
        return;
    }
    rearm(l);
}

void linger_init(struct event_base *base, int max_sockets)
{
    ev_base = base;
    cap = (size_t)max_sockets;
}

int linger_start(int fd)
{
    if (!ev_base || count >= cap) return -1;
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return -1;
    struct lingerer *l = calloc(1, sizeof *l);
    if (!l || !(l->ev = event_new(ev_base, dup_fd, EV_READ, on_event, l))) {
        free(l);
        close(dup_fd);
        return -1;
    }
    /* The peer sees the end of the stream after what was written (lws does this on a normal
     * close, not when it kills a connection). */
    shutdown(dup_fd, SHUT_WR);
    l->fd = dup_fd;
    l->deadline_ms = loop_now_ms() + LINGER_MS;
    l->next = all;
    if (all) all->prev = l;
    all = l;
    count++;
    rearm(l);
    return 0;
}

size_t linger_count(void)
{
    return count;
}

void linger_shutdown(void)
{
    while (all)
        finish(all);
}
