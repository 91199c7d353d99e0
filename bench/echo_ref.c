/*
 * mt-echo-ref: a minimal WebSocket "heartbeat" server, used only as a reference point for
 * mt-loadgen. It measures what the machine, the kernel's loopback and the generator cost by
 * themselves, so that a Monkeytown RTT can be split into "platform" and "server".
 *
 * One thread, level-triggered epoll, no libraries. It answers the upgrade (101), sends
 * {"type":"welcome","payload":{}}, then echoes every text message back unmasked: mt-loadgen's
 * heartbeat {"type":"heartbeat","payload":{"timestamp":T}} comes back as a valid heartbeat
 * reply. Ping gets pong, close gets close. It is not a general server: a peer whose output
 * does not fit the socket at once is dropped, and inputs larger than 8 KiB are refused.
 *
 * usage: mt-echo-ref [--port P]   (127.0.0.1, default 8090; prints "listening PORT")
 *        bench/run_conn.sh build/bench/mt-echo-ref 10000   (same run as against monkeytown)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wsproto.h"

#define IBUF 8192

struct peer {
    uint32_t len;
    uint8_t ws; /* 0: reading the HTTP request, 1: WebSocket */
    uint8_t buf[IBUF];
};

static struct peer **peers; /* by fd */
static int maxfd;
static int ep;

static void drop(int fd)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(peers[fd]);
    peers[fd] = NULL;
}

/* all or nothing: a reference server has no output queue */
static int out(int fd, const void *p, size_t n)
{
    ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
    if (r != (ssize_t)n) {
        drop(fd);
        return -1;
    }
    return 0;
}

static int frame(int fd, int op, const uint8_t *p, size_t n)
{
    uint8_t f[4 + IBUF];
    size_t h = 0;
    f[h++] = (uint8_t)(0x80 | op);
    if (n < 126)
        f[h++] = (uint8_t)n;
    else {
        f[h++] = 126;
        f[h++] = (uint8_t)(n >> 8);
        f[h++] = (uint8_t)n;
    }
    memcpy(f + h, p, n);
    return out(fd, f, h + n);
}

static int handshake(int fd, struct peer *c)
{
    c->buf[c->len] = 0;
    char *end = strstr((char *)c->buf, "\r\n\r\n");
    if (!end) return c->len >= IBUF - 1 ? (drop(fd), -1) : 0;
    char *k = strcasestr((char *)c->buf, "\nsec-websocket-key:");
    if (!k) return drop(fd), -1;
    k += 19;
    while (*k == ' ')
        k++;
    size_t kl = strcspn(k, "\r\n ");
    if (kl > 64) return drop(fd), -1;
    char acc[32], resp[256];
    wsp_accept(k, kl, acc);
    int n =
        snprintf(resp, sizeof resp,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n\r\n",
                 acc);
    if (out(fd, resp, (size_t)n) < 0) return -1;
    static const char w[] = "{\"type\":\"welcome\",\"payload\":{}}";
    if (frame(fd, 1, (const uint8_t *)w, sizeof w - 1) < 0) return -1;
    size_t used = (size_t)(end + 4 - (char *)c->buf);
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= (uint32_t)used;
    c->ws = 1;
    return 0;
}

static int frames(int fd, struct peer *c)
{
    size_t off = 0;
    while (c->len - off >= 2) {
        uint8_t *f = c->buf + off;
        size_t avail = c->len - off, h = 2;
        int op = f[0] & 15;
        uint64_t n = f[1] & 127;
        if (n == 126) {
            if (avail < 4) break;
            n = (uint64_t)f[2] << 8 | f[3];
            h = 4;
        } else if (n == 127) {
            return drop(fd), -1;
        }
        if (!(f[1] & 0x80)) return drop(fd), -1; /* clients must mask */
        uint8_t *mk = f + h;
        h += 4;
        if (h + n > IBUF) return drop(fd), -1;
        if (avail < h + n) break;
        uint8_t *p = f + h;
        for (uint64_t i = 0; i < n; i++)
            p[i] ^= mk[i & 3];
        off += h + n;
        if (op == 1 || op == 2) {
            if (frame(fd, op, p, n) < 0) return -1;
        } else if (op == 9) {
            if (frame(fd, 10, p, n) < 0) return -1;
        } else if (op == 8) {
            frame(fd, 8, p, n < 2 ? n : 2);
            if (peers[fd]) drop(fd);
            return -1;
        }
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= (uint32_t)off;
    return 0;
}

int main(int argc, char **argv)
{
    int port = 8090;
    /* --port P; other "--name value" pairs (monkeytown's flags, as bench/run_conn.sh passes
     * them) are accepted and ignored, so the script can start either server */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (strncmp(argv[i], "--", 2) == 0 && i + 1 < argc)
            i++;
        else {
            fprintf(stderr, "usage: mt-echo-ref [--port P]\n");
            return 2;
        }
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    maxfd = rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
    peers = calloc((size_t)maxfd, sizeof *peers);
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!peers || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) {
        perror("mt-echo-ref");
        return 1;
    }
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    printf("listening %d\n", ntohs(a.sin_port));
    fflush(stdout);
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    if (c >= maxfd || !(peers[c] = calloc(1, sizeof(struct peer)))) {
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
                }
                continue;
            }
            struct peer *c = peers[fd];
            if (!c) continue;
            ssize_t r = recv(fd, c->buf + c->len, IBUF - 1 - c->len, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                drop(fd);
                continue;
            }
            if (r < 0) continue;
            c->len += (uint32_t)r;
            if (!c->ws && handshake(fd, c) < 0) continue;
            if (c->ws) frames(fd, c);
        }
    }
}
