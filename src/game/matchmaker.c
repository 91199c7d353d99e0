#include "matchmaker.h"

#include "log.h"
#include "proto.h"
#include "loop.h"
#include "proto.h"
#include "room.h"
#include "util.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct waiter {
    struct session *s;
    json_t *re;
    char game[64];
    char agent[64];
    int wants_agent;
    struct event *timer;
    struct waiter *next;
};

static struct waiter *queue; /* all games; short in practice, kept in arrival order */

static void waiter_free(struct waiter *w)
{
    if (w->timer) event_free(w->timer);
    json_decref(w->re);
    free(w);
}

static void unlink_waiter(struct waiter *w)
{
    for (struct waiter **pp = &queue; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            return;
        }
}

static int room_size(const char *game)
{
    struct script_version *v = scripts_game(game);
    if (!v) return 2;
    json_t *fill = json_object_get(v->meta, "quick_fill");
    int max = (int)json_integer_value(json_object_get(v->meta, "max"));
    int min = (int)json_integer_value(json_object_get(v->meta, "min"));
    int n = json_is_integer(fill) ? (int)json_integer_value(fill) : max;
    return n < min ? min : n > max ? max : n;
}

/* Seats up to n waiters of game (in order) in a new room; agents fill the rest when agent is
 * not NULL. The waiters are dequeued and answered. */
static void start_room(const char *game, int n, const char *agent)
{
    struct waiter *picked[ROOM_MAX_SEATS];
    int k = 0;
    for (struct waiter *w = queue; w && k < n; w = w->next)
        if (strcmp(w->game, game) == 0 && (!agent || w->wants_agent)) picked[k++] = w;
    for (int i = 0; i < k; i++)
        unlink_waiter(picked[i]);

    const char *code = NULL;
    char msg[300] = "";
    json_t *config = json_pack("{si}", "seats", n);
    struct room *r = room_create(game, config, 0, NULL, &code, msg, sizeof msg);
    json_decref(config);
    if (r) {
        for (int i = 0; i < k && !code; i++) {
            struct session *s = picked[i]->s;
            if (!room_seat_player(r, s->who.player_id, s->who.name, s, &code)) {
                snprintf(msg, sizeof msg, "no free seat in this game");
                break;
            }
        }
        if (!code && k < n && agent)
            room_fill_with_agent(r, *agent ? agent : NULL, &code, msg, sizeof msg);
    }
    for (int i = 0; i < k; i++) {
        struct waiter *w = picked[i];
        if (code) {
            proto_error_to(w->s, w->re, code, msg);
        } else {
            room_send_state(r, w->s, w->re);
        }
        waiter_free(w);
    }
    if (r)
        log_msg(LOG_INFO, "quick match", "{ss,ss,si,si}", "game", room_id(r), "script", game,
                "humans", k, "seats", n);
}

static void on_wait_over(evutil_socket_t fd, short what, void *arg)
{
    struct waiter *w = arg;
    if (!w->wants_agent) return; /* humans only: keep waiting */
    if (!scripts_agent_for(w->game, *w->agent ? w->agent : NULL))
        return; /* no agent plays it: wait on */
    char game[64], agent[64];
    util_strlcpy(game, w->game, sizeof game);
    util_strlcpy(agent, w->agent, sizeof agent);
    /* Everyone waiting for this game joins now (up to a room), in arrival order. */
    start_room(game, room_size(game), agent);
}

const char *matchmaker_request(struct session *s, const char *game, const char *agent, int wait_ms,
                               json_t *re, char *msg, size_t msglen)
{
    if (!scripts_game(game)) {
        snprintf(msg, msglen, "no game named %s", game);
        return "NOT_FOUND";
    }
    if (agent && *agent && !scripts_agent_for(game, agent)) {
        snprintf(msg, msglen, "no agent %s plays %s", agent, game);
        return "NOT_FOUND";
    }
    /* A new request replaces an older wait of the same socket for the same game. */
    for (struct waiter *w = queue; w; w = w->next)
        if (w->s == s && strcmp(w->game, game) == 0) {
            unlink_waiter(w);
            waiter_free(w);
            break;
        }
    struct waiter *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(msg, msglen, "out of memory");
        return "SERVER_BUSY";
    }
    w->s = s;
    w->re = re ? json_incref(re) : NULL;
    util_strlcpy(w->game, game, sizeof w->game);
    util_strlcpy(w->agent, agent ? agent : "", sizeof w->agent);
    w->wants_agent = agent != NULL;
    struct waiter **tail = &queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = w;

    int waiting = 0, size = room_size(game);
    for (struct waiter *x = queue; x; x = x->next) {
        /* The same player on two sockets never plays against itself. */
        if (strcmp(x->game, game) == 0 &&
            (x == w || strcmp(x->s->who.player_id, s->who.player_id) != 0))
            waiting++;
    }
    if (waiting >= size) {
        start_room(game, size, NULL); /* a full room of humans: no agent needed */
        return NULL;
    }
    w->timer = evtimer_new(loop_base(), on_wait_over, w);
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    event_add(w->timer, &tv);
    return NULL;
}

void matchmaker_session_closed(struct session *s)
{
    struct waiter **pp = &queue;
    while (*pp) {
        struct waiter *w = *pp;
        if (w->s == s) {
            *pp = w->next;
            waiter_free(w);
        } else {
            pp = &w->next;
        }
    }
}

int matchmaker_init(const struct config *cfg)
{
    (void)cfg;
    return 0;
}

void matchmaker_shutdown(void)
{
    while (queue) {
        struct waiter *w = queue;
        queue = w->next;
        waiter_free(w);
    }
}
