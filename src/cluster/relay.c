#include "relay.h"

#include "accounts.h"
#include "bus.h"
#include "bus_sub.h"
#include "directory.h"
#include "failover.h"
#include "hmap.h"
#include "log.h"
#include "loop.h"
#include "members.h"
#include "metrics.h"
#include "rate_share.h"
#include "room.h"
#include "scripts.h"
#include "util.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OWNER_CACHE_MS 5000   /* a room moves only when its owner dies: then it is unlisted */
#define OWNER_CACHE_MAX 10000 /* entries; the cache starts again when full */
#define OWNERS_PER_SOCKET 8   /* distinct owners one socket may play with at once */
#define BATCH_MAX (8u << 20)  /* bytes for one instance in one turn of the loop */
#define CONNS_MAX 2048        /* the recipients' list of one frame in a batch */
#define PROXY_GRACE_HEARTBEATS                                                                     \
    3 /* a proxy younger than this outlives a listing without its                                  \
       * instance: the listing may predate the instance */

static const struct config *cfg;
static void (*deliver)(struct session *, const char *, size_t);
static void (*closed_fn)(struct session *);
static void (*missing_fn)(struct proto_request *);
static struct metric *m_msgs, *m_latency, *m_refused;

/* An instance's relay channel, "mt:relay:<id>". */
#define CHANNEL_LEN 96
static char *channel_of(char channel[CHANNEL_LEN], const char *instance)
{
    snprintf(channel, CHANNEL_LEN, "mt:relay:%s", instance);
    return channel;
}

static void publish(const char *instance, const char *data, size_t len)
{
    char channel[CHANNEL_LEN];
    bus_publish(channel_of(channel, instance), data, len);
}

/* ---------- the socket's side ---------- */

struct local {
    struct session *s;
    int pending; /* lookups out: later requests wait behind them, keeping their order */
    int n;
    char owners[OWNERS_PER_SOCKET][65];
    /* reached[i]: a request got to owners[i] (PUBLISH counted a subscriber), so the socket
     * may be served there: only such an owner leaving the cluster closes the socket. */
    unsigned char reached[OWNERS_PER_SOCKET];
};
static struct hmap *locals; /* session_id -> struct local, sockets that forwarded */

struct cached_owner {
    char owner[65];
    uint64_t at_ms;
};
static struct hmap *owners; /* game id -> struct cached_owner */

struct lookup {
    char sid[24];
    char game[64];
    json_t *msg; /* {type, payload, id?} */
};

static void free_value(const char *key, void *value, void *arg)
{
    free(value);
}

static void refuse(struct session *s, json_t *re, const char *code, const char *message)
{
    metric_add(m_refused, code, 1);
    proto_error_to(s, re, code, message);
}

static struct local *local_of(struct session *s)
{
    struct local *l = hmap_get(locals, s->session_id);
    if (l) return l;
    l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->s = s;
    if (hmap_put(locals, s->session_id, l) < 0) {
        free(l);
        return NULL;
    }
    return l;
}

/* Remembers that l's socket reached owner. Returns 0, or -1 when it reaches too many. */
static int note_owner(struct local *l, const char *owner)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->owners[i], owner) == 0) return 0;
    if (l->n == OWNERS_PER_SOCKET) return -1;
    util_strlcpy(l->owners[l->n++], owner, sizeof l->owners[0]);
    return 0;
}

/* A request on its way to its owner's channel: PUBLISH answers how many subscribers got it. */
struct delivery {
    char sid[24];
    char game[64];
    char owner[65];
    json_t *re;
};

/* The request got to owner: the socket may be served there from now on. */
static void reached(struct local *l, const char *owner)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->owners[i], owner) == 0) l->reached[i] = 1;
}

/* Nobody got the request (the owner's subscription is down: it died, or is subscribing again),
 * or Redis went away with it: the socket is answered now instead of never, and the owner is
 * looked up again next time. */
static void on_delivered(struct redisReply *r, void *arg)
{
    struct delivery *d = arg;
    struct local *l = locals ? hmap_get(locals, d->sid) : NULL;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1) {
        if (l) reached(l, d->owner);
    } else {
        void *cached = owners && *d->game ? hmap_get(owners, d->game) : NULL;
        if (cached) {
            hmap_del(owners, d->game);
            free(cached);
        }
        if (l)
            refuse(l->s, d->re, "SERVER_BUSY",
                   "the game's instance did not get the request: try again shortly");
    }
    json_decref(d->re);
    free(d);
}

/* Publishes a request to owner's channel (0), or answers -1 when Redis cannot take it. */
static int publish_request(const char *owner, const char *game, struct local *l, json_t *re,
                           const char *data, size_t len)
{
    struct delivery *d = calloc(1, sizeof *d);
    if (!d) return -1;
    util_strlcpy(d->sid, l->s->session_id, sizeof d->sid);
    util_strlcpy(d->game, game, sizeof d->game);
    util_strlcpy(d->owner, owner, sizeof d->owner);
    d->re = json_incref(re);
    char channel[CHANNEL_LEN];
    if (bus_command(on_delivered, d, "PUBLISH %s %b", channel_of(channel, owner), data, len) < 0) {
        json_decref(d->re);
        free(d);
        return -1;
    }
    return 0;
}

static void send_request(struct local *l, const char *owner, const char *game, json_t *msg)
{
    if (note_owner(l, owner) < 0) {
        refuse(l->s, json_object_get(msg, "id"), "SERVER_BUSY",
               "this socket plays with too many instances at once");
        return;
    }
    char *text = json_dumps(msg, JSON_COMPACT);
    const struct identity *w = &l->s->who;
    json_t *req = text ? json_pack("{ss,ss,s{ss,ss,ss},ss,ss}", "f", members_self(), "c",
                                   l->s->session_id, "w", "i", w->player_id, "n", w->name, "r",
                                   w->role, "p", l->s->peer, "m", text)
                       : NULL;
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    size_t n = body ? strlen(body) : 0;
    char *out = body ? malloc(n + 2) : NULL;
    if (out) {
        out[0] = 'R', out[1] = '\n';
        memcpy(out + 2, body, n);
        if (publish_request(owner, game, l, json_object_get(msg, "id"), out, n + 2) == 0)
            metric_add(m_msgs, "request_out", 1);
        else
            refuse(l->s, json_object_get(msg, "id"), "SERVER_BUSY",
                   "the cluster's relay is unavailable: try again shortly");
    } else {
        refuse(l->s, json_object_get(msg, "id"), "INTERNAL", "out of memory");
    }
    free(out);
    free(body);
    json_decref(req);
    free(text);
}

/* Builds the request again for a handler of this process. */
static void answer_here(struct session *s, json_t *msg)
{
    struct proto_request r = {s, json_string_value(json_object_get(msg, "type")),
                              json_object_get(msg, "id"), json_object_get(msg, "payload"),
                              loop_now_us()};
    missing_fn(&r);
}

/* Remembers game's owner for OWNER_CACHE_MS (the cache starts again when full). */
static void cache_owner(const char *game, const char *owner)
{
    if (owners && hmap_size(owners) >= OWNER_CACHE_MAX) {
        hmap_free_values(owners, free_value);
        owners = hmap_new();
    }
    struct cached_owner *c = owners ? hmap_get(owners, game) : NULL;
    if (owners && !c && (c = calloc(1, sizeof *c)) && hmap_put(owners, game, c) < 0) {
        free(c);
        c = NULL;
    }
    if (c) {
        util_strlcpy(c->owner, owner, sizeof c->owner);
        c->at_ms = loop_now_ms();
    }
}

static void on_owner(const char *owner, int failed, void *arg)
{
    struct lookup *k = arg;
    /* After relay_shutdown, the bus answers what is still out with failures: nothing to do. */
    struct local *l = locals ? hmap_get(locals, k->sid) : NULL;
    if (l) l->pending--;
    json_t *re = json_object_get(k->msg, "id");
    if (!l) {
        /* the socket closed meanwhile */
    } else if (l->s->remote) {
        /* Relayed here for a room not held here: being taken over by this instance (the
         * takeover's answer not read yet; once rebuilt, meanwhile, the room answers), held by
         * another instance (the sender's answer was stale: this one was paused and lost it), or
         * gone. Only a room nobody holds is answered here: a live one elsewhere must not look
         * missing. */
        int mine = owner && strcmp(owner, members_self()) == 0;
        if (mine && !room_find(k->game))
            refuse(l->s, re, "SERVER_BUSY", "the game is being rebuilt: try again shortly");
        else if (owner && !mine)
            refuse(l->s, re, "SERVER_BUSY",
                   "the game is held by another instance now: try again shortly");
        else if (!owner && failed)
            refuse(l->s, re, "SERVER_BUSY",
                   failed == DIRECTORY_MOVING
                       ? "the game is moving to another instance: try again shortly"
                       : "the cluster's directory is unavailable: try again shortly");
        else
            answer_here(l->s, k->msg);
    } else if (failed == DIRECTORY_MOVING) {
        refuse(l->s, re, "SERVER_BUSY",
               "the game is moving to another instance: try again shortly");
    } else if (failed) {
        refuse(l->s, re, "SERVER_BUSY",
               "the cluster's directory is unavailable: try again shortly");
    } else if (owner && strcmp(owner, members_self()) == 0 && failover_rebuilding(k->game)) {
        refuse(l->s, re, "SERVER_BUSY", "the game is being rebuilt: try again shortly");
    } else if (!owner || strcmp(owner, members_self()) == 0) {
        answer_here(l->s, k->msg);
    } else {
        cache_owner(k->game, owner);
        send_request(l, owner, k->game, k->msg);
    }
    json_decref(k->msg);
    free(k);
}

/* The request as it goes on the wire, and the socket's record; NULL after answering. */
static json_t *outgoing(struct proto_request *r, struct local **l)
{
    *l = local_of(r->s);
    json_t *msg = json_pack("{ss,sO}", "type", r->type, "payload", r->payload);
    if (msg && r->id) json_object_set(msg, "id", r->id);
    if (*l && msg) return msg;
    json_decref(msg);
    refuse(r->s, r->id, "INTERNAL", "out of memory");
    return NULL;
}

int relay_forward(struct proto_request *r, const char *game_id)
{
    if (!cfg || !cfg->cluster) return 0;
    if (r->s->remote && failover_rebuilding(game_id)) {
        refuse(r->s, r->id, "SERVER_BUSY", "the game is being rebuilt: try again shortly");
        return 1;
    }
    if (!bus_connected() || !bus_sub_up()) {
        refuse(r->s, r->id, "SERVER_BUSY", "the cluster relay is unavailable: try again shortly");
        return 1;
    }
    struct local *l;
    json_t *msg = outgoing(r, &l);
    if (!msg) return 1;
    struct cached_owner *c = owners ? hmap_get(owners, game_id) : NULL;
    /* A request relayed here is never relayed on: the directory is asked only whether the room
     * was just taken over by this instance (its rebuild not started yet), see on_owner. */
    if (!r->s->remote && !l->pending && c && loop_now_ms() - c->at_ms < OWNER_CACHE_MS &&
        members_listed(c->owner)) {
        send_request(l, c->owner, game_id, msg);
        json_decref(msg);
        return 1;
    }
    struct lookup *k = calloc(1, sizeof *k);
    if (!k) {
        json_decref(msg);
        refuse(r->s, r->id, "INTERNAL", "out of memory");
        return 1;
    }
    util_strlcpy(k->sid, r->s->session_id, sizeof k->sid);
    util_strlcpy(k->game, game_id, sizeof k->game);
    k->msg = msg;
    l->pending++;
    directory_lookup(game_id, on_owner, k);
    return 1;
}

int relay_forward_match(struct proto_request *r, const char *game)
{
    if (!cfg || !cfg->cluster || r->s->remote || !bus_connected() || !bus_sub_up()) return 0;
    const char *home = members_home(game);
    if (strcmp(home, members_self()) == 0) return 0;
    char to[65];
    util_strlcpy(to, home, sizeof to); /* members_home's string lives until the next heartbeat */
    struct local *l;
    json_t *msg = outgoing(r, &l);
    if (!msg) return 1;
    send_request(l, to, "", msg); /* no room yet: nothing cached to forget */
    json_decref(msg);
    return 1;
}

void relay_session_closed(struct session *s)
{
    struct local *l = locals ? hmap_del(locals, s->session_id) : NULL;
    if (!l) return;
    for (int i = 0; i < l->n; i++) {
        char msg[128];
        int n = snprintf(msg, sizeof msg, "Q\n%s\n%s", members_self(), s->session_id);
        publish(l->owners[i], msg, (size_t)n);
        metric_add(m_msgs, "close_out", 1);
    }
    free(l);
}

/* "O\n" from "\n" wall-ms "\n" entries: frames for sockets here. */
static void on_frames(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return;
    p = nl + 1;
    char *after;
    double sent = strtod(p, &after);
    if (after >= end || *after != '\n') return;
    p = after + 1;
    double lag = loop_wall_ms() - sent;
    metric_observe(m_latency, NULL, lag < 0 ? 0 : lag);
    metric_add(m_msgs, "frames_in", 1);
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || nl - p > CONNS_MAX + 40) return;
        char line[CONNS_MAX + 48];
        memcpy(line, p, (size_t)(nl - p));
        line[nl - p] = '\0';
        p = nl + 1;
        if (line[0] == 'X') {
            char conn[24];
            int code;
            if (sscanf(line, "X %23s %d", conn, &code) != 2) return;
            struct local *l = hmap_get(locals, conn);
            if (l) session_close(l->s, code, "closed by the game's server");
            continue;
        }
        char *sp = strrchr(line, ' ');
        if (line[0] != 'M' || line[1] != ' ' || !sp) return;
        size_t len = strtoul(sp + 1, NULL, 10);
        if (len > (size_t)(end - p)) return;
        *sp = '\0';
        struct wsbuf *b = wsbuf_new(p, len);
        p += len;
        char *save = NULL;
        for (char *c = strtok_r(line + 2, ",", &save); b && c; c = strtok_r(NULL, ",", &save)) {
            struct local *l = hmap_get(locals, c);
            if (l) session_send(l->s, b);
        }
        wsbuf_unref(b);
    }
}

/* ---------- the owner's side ---------- */

struct proxy {
    struct session *s;
    char from[65];
    char conn[24];
    uint64_t created_ms;
};
static struct hmap *proxies; /* "from/conn" -> struct proxy */

struct batch {
    char to[65];
    char *data;
    size_t len, cap;
    struct wsbuf *last; /* the frame whose recipients are still being listed */
    char conns[CONNS_MAX];
};
static struct hmap *batches; /* instance -> struct batch */
static struct event *flush_ev;

static int append(struct batch *b, const void *data, size_t n)
{
    if (b->len + n > BATCH_MAX) return -1;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

/* Writes the pending frame with its recipients. */
static void seal(struct batch *b)
{
    if (!b->last) return;
    char head[CONNS_MAX + 40];
    int n = snprintf(head, sizeof head, "M %s %zu\n", b->conns, b->last->len);
    if (append(b, head, (size_t)n) < 0 || append(b, b->last->data, b->last->len) < 0)
        metric_add(m_msgs, "frames_dropped", 1);
    wsbuf_unref(b->last);
    b->last = NULL;
}

static struct batch *batch_for(const char *to)
{
    struct batch *b = hmap_get(batches, to);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) return NULL;
        util_strlcpy(b->to, to, sizeof b->to);
        if (hmap_put(batches, to, b) < 0) {
            free(b);
            return NULL;
        }
    }
    if (b->len == 0) {
        char head[128];
        int n = snprintf(head, sizeof head, "O\n%s\n%.0f\n", members_self(), loop_wall_ms());
        if (append(b, head, (size_t)n) < 0) return NULL;
    }
    event_active(flush_ev, EV_TIMEOUT, 0);
    return b;
}

static int proxy_send(struct session *s, struct wsbuf *buf)
{
    struct proxy *p = s->remote_arg;
    struct batch *b = batch_for(p->from);
    if (!b) return -1;
    size_t have = strlen(b->conns), add = strlen(p->conn);
    if (b->last == buf && have + add + 2 < sizeof b->conns) {
        b->conns[have] = ',';
        memcpy(b->conns + have + 1, p->conn, add + 1);
        return 0;
    }
    seal(b);
    wsbuf_ref(buf);
    b->last = buf;
    util_strlcpy(b->conns, p->conn, sizeof b->conns);
    return 0;
}

static void proxy_close(struct session *s, int code, const char *reason)
{
    struct proxy *p = s->remote_arg;
    struct batch *b = batch_for(p->from);
    if (!b) return;
    seal(b);
    char line[64];
    int n = snprintf(line, sizeof line, "X %s %d\n", p->conn, code);
    append(b, line, (size_t)n);
}

static const struct session_transport transport = {proxy_send, proxy_close};

static void flush_one(const char *key, void *value, void *arg)
{
    struct batch *b = value;
    seal(b);
    if (b->len == 0) return;
    publish(b->to, b->data, b->len);
    metric_add(m_msgs, "frames_out", 1);
    b->len = 0;
    if (b->cap > (256u << 10)) { /* a burst's buffer is not kept for good */
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    hmap_each(batches, flush_one, NULL);
}

static void proxy_free(struct proxy *p)
{
    relay_session_closed(p->s); /* its lookups' record, if it had one */
    closed_fn(p->s);
    session_free(p->s);
    free(p);
}

/* "R\n" {f, c, w: {i, n, r}, p, m}: a request from a socket elsewhere. */
static void on_request(const char *p, const char *end)
{
    json_t *req = json_loadb(p, (size_t)(end - p), 0, NULL);
    const char *from = json_string_value(json_object_get(req, "f"));
    const char *conn = json_string_value(json_object_get(req, "c"));
    const char *peer = json_string_value(json_object_get(req, "p"));
    json_t *m = json_object_get(req, "m"), *w = json_object_get(req, "w");
    const char *pid = json_string_value(json_object_get(w, "i"));
    const char *name = json_string_value(json_object_get(w, "n"));
    const char *role = json_string_value(json_object_get(w, "r"));
    char key[96];
    if (!from || !conn || !peer || !json_is_string(m) || !pid || !name || !role ||
        strlen(from) > 64 || strlen(conn) > 23 || strcmp(from, members_self()) == 0) {
        metric_add(m_msgs, "malformed_in", 1);
        json_decref(req);
        return;
    }
    metric_add(m_msgs, "request_in", 1);
    snprintf(key, sizeof key, "%s/%s", from, conn);
    struct proxy *x = hmap_get(proxies, key);
    if (!x && (x = calloc(1, sizeof *x))) {
        struct identity who = {0};
        util_strlcpy(who.player_id, pid, sizeof who.player_id);
        util_strlcpy(who.name, name, sizeof who.name);
        util_strlcpy(who.role, role, sizeof who.role);
        util_strlcpy(x->from, from, sizeof x->from);
        util_strlcpy(x->conn, conn, sizeof x->conn);
        x->created_ms = loop_now_ms();
        x->s = session_new_remote(&who, peer, &transport, x);
        if (!x->s || hmap_put(proxies, key, x) < 0) {
            if (x->s) session_free(x->s);
            free(x);
            x = NULL;
        }
    }
    if (x) deliver(x->s, json_string_value(m), json_string_length(m));
    json_decref(req);
}

/* "Q\n" from "\n" conn: that socket closed. */
static void on_quit(const char *p, const char *end)
{
    char key[96];
    size_t n = (size_t)(end - p);
    if (n == 0 || n >= sizeof key) return;
    memcpy(key, p, n);
    key[n] = '\0';
    char *nl = strchr(key, '\n');
    if (!nl) return;
    *nl = '/';
    struct proxy *x = hmap_del(proxies, key);
    metric_add(m_msgs, "close_in", 1);
    if (x) proxy_free(x);
}

/* Publishes kind "\n" body to every other live instance. */
void relay_broadcast(char kind, const char *body, size_t len, const char *metric_kind)
{
    json_t *view = members_json(), *v;
    char *msg = malloc(len + 2);
    size_t i;
    if (msg) {
        msg[0] = kind, msg[1] = '\n';
        memcpy(msg + 2, body, len);
    }
    json_array_foreach(json_object_get(view, "instances"), i, v)
    {
        const char *to = json_string_value(json_object_get(v, "id"));
        if (!msg || !to || strcmp(to, members_self()) == 0) continue;
        publish(to, msg, len + 2);
        metric_add(m_msgs, metric_kind, 1);
    }
    free(msg);
    json_decref(view);
}

/* A lobby_update of this instance goes to every other live instance's subscribers. */
static void lobby_out(const struct wsbuf *b)
{
    relay_broadcast('L', (const char *)b->data, b->len, "lobby_out");
}

/* A throttle token taken here ("T\n" table "\n" key) is taken by every other instance. */
static void spend_out(const char *table, const char *key)
{
    char body[160];
    int n = snprintf(body, sizeof body, "%s\n%s", table, key);
    if (n > 0 && (size_t)n < sizeof body) relay_broadcast('T', body, (size_t)n, "throttle_out");
}

/* A version refused here ("V\n" {kind, name, refusal + instance}) is reported everywhere. */
static void refusal_out(int is_agent, const char *name, const json_t *refusal)
{
    json_t *r = json_deep_copy(refusal);
    if (r) json_object_set_new(r, "instance", json_string(members_self()));
    json_t *m = r ? json_pack("{sb,ss,so}", "agent", is_agent, "name", name, "refusal", r) : NULL;
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    if (text) relay_broadcast('V', text, strlen(text), "refusal_out");
    free(text);
    json_decref(m);
}

static void on_refusal(const char *p, const char *end)
{
    json_t *m = json_loadb(p, (size_t)(end - p), 0, NULL);
    const char *name = json_string_value(json_object_get(m, "name"));
    json_t *refusal = json_object_get(m, "refusal");
    if (name && strlen(name) < 64 && json_is_object(refusal))
        scripts_refused_elsewhere(json_is_true(json_object_get(m, "agent")), name, refusal);
    metric_add(m_msgs, "refusal_in", 1);
    json_decref(m);
}

static void on_spend(const char *p, const char *end)
{
    char body[160];
    size_t n = (size_t)(end - p);
    if (n >= sizeof body) return;
    memcpy(body, p, n);
    body[n] = '\0';
    char *nl = strchr(body, '\n');
    if (!nl) return;
    *nl = '\0';
    accounts_apply_spend(body, nl + 1);
    metric_add(m_msgs, "throttle_in", 1);
}

static void on_message(const char *data, size_t len)
{
    if (len < 2 || data[1] != '\n') return;
    const char *p = data + 2, *end = data + len;
    switch (data[0]) {
    case 'R':
        on_request(p, end);
        break;
    case 'O':
        on_frames(p, end);
        break;
    case 'Q':
        on_quit(p, end);
        break;
    case 'L':
        rooms_lobby_deliver(p, (size_t)(end - p));
        break;
    case 'T':
        on_spend(p, end);
        break;
    case 'P':
        rate_share_deliver(p, (size_t)(end - p));
        metric_add(m_msgs, "rate_in", 1);
        break;
    case 'V':
        on_refusal(p, end);
        break;
    case 'B': {
        char who[65];
        size_t n = (size_t)(end - p);
        if (n == 0 || n >= sizeof who) break;
        memcpy(who, p, n);
        who[n] = '\0';
        metric_add(m_msgs, "goodbye_in", 1);
        if (strcmp(who, members_self()) != 0) members_forget(who);
        break;
    }
    default:
        metric_add(m_msgs, "malformed_in", 1);
    }
}

/* After each heartbeat: the proxies of instances no longer listed are closed like dropped
 * sockets (their seats get the disconnect grace, spectators leave). */
static void close_proxies(int all)
{
    size_t n = hmap_size(proxies);
    void **vals = n ? malloc(n * sizeof *vals) : NULL;
    if (!vals) return;
    n = hmap_values(proxies, vals, n);
    uint64_t now = loop_now_ms(),
             grace = (uint64_t)cfg->cluster_heartbeat_ms * PROXY_GRACE_HEARTBEATS;
    for (size_t i = 0; i < n; i++) {
        struct proxy *x = vals[i];
        if (!all && (members_listed(x->from) || now - x->created_ms < grace)) continue;
        char key[96];
        snprintf(key, sizeof key, "%s/%s", x->from, x->conn);
        hmap_del(proxies, key);
        proxy_free(x);
    }
    free(vals);
}

/* A socket here whose rooms' owner left the cluster is told to reconnect (1012, as in a
 * rolling restart): its rooms are being taken over elsewhere, and a resume finds them. An
 * owner none of its requests got to (they were refused SERVER_BUSY: it had died already)
 * holds nothing of it: the socket, maybe resumed with the new owner since, stays. */
static void restart_orphans(const char *key, void *value, void *arg)
{
    struct local *l = value;
    for (int i = 0; i < l->n; i++)
        if (l->reached[i] && !members_listed(l->owners[i])) {
            metric_add(m_msgs, "orphaned", 1);
            session_close(l->s, 1012, "service restart");
            return;
        }
}

/* A remembered owner that left the listing may come back under its id (a restart) holding none
 * of its rooms: what it was remembered for is asked of the directory again, not sent to the new
 * process (whose answer to a relayed resume of a game in play was none). */
static void forget_unlisted_owner(const char *key, void *value, void *arg)
{
    struct cached_owner *c = value;
    if (*c->owner && !members_listed(c->owner)) c->owner[0] = '\0';
}

static void on_listing(void)
{
    close_proxies(0);
    hmap_each(locals, restart_orphans, NULL);
    hmap_each(owners, forget_unlisted_owner, NULL);
}

int relay_health(json_t *out)
{
    int up = bus_sub_up();
    json_object_set_new(out, "subscribed", json_boolean(up));
    json_object_set_new(out, "proxies", json_integer((json_int_t)hmap_size(proxies)));
    return up;
}

int relay_init(const struct config *c, void (*on_msg)(struct session *, const char *, size_t),
               void (*on_closed)(struct session *), void (*missing)(struct proto_request *))
{
    if (!c->cluster) return 0;
    cfg = c;
    deliver = on_msg;
    closed_fn = on_closed;
    missing_fn = missing;
    locals = hmap_new();
    owners = hmap_new();
    proxies = hmap_new();
    batches = hmap_new();
    flush_ev = evtimer_new(loop_base(), on_flush, NULL);
    static const double bounds[] = {0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000};
    m_msgs = metrics_counter("cluster_relay_messages_total",
                             "Messages relayed between instances through Redis, by kind", "kind");
    m_latency = metrics_histogram("cluster_relay_latency_ms",
                                  "From a frame's batch to its arrival at the socket's instance",
                                  NULL, bounds, (int)(sizeof bounds / sizeof bounds[0]));
    m_refused = metrics_counter("cluster_relay_refused_total",
                                "Requests for remote rooms answered here, by error code", "code");
    if (!locals || !owners || !proxies || !batches || !flush_ev) return -1;
    if (members_on_listing(on_listing) < 0) return -1;
    rooms_set_lobby_frame_hook(lobby_out);
    accounts_set_spend_hook(spend_out);
    scripts_on_refusal(refusal_out);
    if (rate_share_init() < 0) return -1;
    char channel[CHANNEL_LEN];
    return bus_sub_init(channel_of(channel, members_self()), on_message, NULL);
}

static void free_batch(const char *key, void *value, void *arg)
{
    struct batch *b = value;
    wsbuf_unref(b->last);
    free(b->data);
    free(b);
}

void relay_shutdown(void)
{
    if (!cfg) return;
    rooms_set_lobby_frame_hook(NULL);
    accounts_set_spend_hook(NULL);
    scripts_on_refusal(NULL);
    rate_share_shutdown();
    members_off_listing(on_listing);
    close_proxies(1);
    bus_sub_shutdown();
    hmap_free_values(locals, free_value);
    hmap_free_values(owners, free_value);
    hmap_free_values(batches, free_batch);
    hmap_free(proxies);
    if (flush_ev) event_free(flush_ev);
    locals = owners = proxies = batches = NULL;
    flush_ev = NULL;
    cfg = NULL;
}
