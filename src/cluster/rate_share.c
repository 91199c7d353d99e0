#include "rate_share.h"

#include "loop.h"
#include "player_rate.h"
#include "relay.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX (32 * 1024)
#define PLAYER_ID_MAX 64

static char batch[BATCH_MAX + 128];
static size_t batch_len;
static struct event *flush_ev;

static void flush(void)
{
    if (batch_len) relay_broadcast('P', batch, batch_len, "rate_out");
    batch_len = 0;
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    flush();
}

static void spent_here(enum player_rate_kind kind, const char *player, int per_min)
{
    size_t n = strlen(player);
    if (n == 0 || n > PLAYER_ID_MAX) return;
    if (batch_len == 0) {
        struct timeval tv = {0, RATE_SHARE_FLUSH_MS * 1000};
        evtimer_add(flush_ev, &tv);
    }
    batch_len += (size_t)snprintf(batch + batch_len, sizeof batch - batch_len, "%d %d %s\n",
                                  (int)kind, per_min, player);
    if (batch_len >= BATCH_MAX) {
        evtimer_del(flush_ev);
        flush();
    }
}

void rate_share_deliver(const char *body, size_t len)
{
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        char line[PLAYER_ID_MAX + 32], player[PLAYER_ID_MAX + 1];
        size_t n = (size_t)(nl - p);
        int kind, per_min;
        if (n < sizeof line) {
            memcpy(line, p, n);
            line[n] = '\0';
            if (sscanf(line, "%d %d %64s", &kind, &per_min, player) == 3 && kind >= 0 &&
                kind < PLAYER_RATE_KINDS)
                player_rate_spent((enum player_rate_kind)kind, player, per_min);
        }
        p = nl + 1;
    }
}

int rate_share_init(void)
{
    flush_ev = evtimer_new(loop_base(), on_flush, NULL);
    if (!flush_ev) return -1;
    player_rate_set_spread(spent_here);
    return 0;
}

void rate_share_shutdown(void)
{
    if (!flush_ev) return;
    player_rate_set_spread(NULL);
    flush();
    event_free(flush_ev);
    flush_ev = NULL;
}
