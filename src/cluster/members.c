#include "members.h"

#include "bus.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "room.h"
#include "session.h"
#include "util.h"
#include "ws.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SET_KEY "mt:instances" /* the ids ever registered; dead ones are pruned by the script */

/* KEYS: none. ARGV: id, token, value, lease ms. Renews the lease if the key holds our token
 * (or is gone: then it is taken again), then lists every instance whose key still exists and
 * forgets the others. Returns {status, values...}: 1 renewed, 2 taken again, 0 held by another
 * process (nothing written). */
static const char HEARTBEAT_LUA[] =
    "local key = 'mt:instance:' .. ARGV[1]\n"
    "local cur = redis.call('GET', key)\n"
    "local status = 2\n"
    "if cur then\n"
    "  local ok, v = pcall(cjson.decode, cur)\n"
    "  if ok and type(v) == 'table' and v.token == ARGV[2] then status = 1 else status = 0 end\n"
    "end\n"
    "if status ~= 0 then\n"
    "  redis.call('SET', key, ARGV[3], 'PX', ARGV[4])\n"
    "  redis.call('PEXPIRE', 'mt:rooms:' .. ARGV[1], ARGV[4])\n"
    "  redis.call('SADD', '" SET_KEY "', ARGV[1])\n"
    "end\n"
    "local out = { status }\n"
    "for _, id in ipairs(redis.call('SMEMBERS', '" SET_KEY "')) do\n"
    "  local v = redis.call('GET', 'mt:instance:' .. id)\n"
    "  if v then out[#out + 1] = v else redis.call('SREM', '" SET_KEY "', id) end\n"
    "end\n"
    "return out\n";

/* ARGV: the live instances' ids. Every public room they listed (summaries as JSON text). */
static const char ROOMS_LUA[] = "local out = {}\n"
                                "for _, id in ipairs(ARGV) do\n"
                                "  for _, v in ipairs(redis.call('HVALS', 'mt:rooms:' .. id)) do\n"
                                "    out[#out + 1] = v\n"
                                "  end\n"
                                "end\n"
                                "return out\n";

/* ARGV: id, token. Deletes the key only if it holds our token. */
static const char RELEASE_LUA[] = "local key = 'mt:instance:' .. ARGV[1]\n"
                                  "local cur = redis.call('GET', key)\n"
                                  "if not cur then return 0 end\n"
                                  "local ok, v = pcall(cjson.decode, cur)\n"
                                  "if ok and type(v) == 'table' and v.token == ARGV[2] then\n"
                                  "  redis.call('DEL', key)\n"
                                  "  redis.call('SREM', '" SET_KEY "', ARGV[1])\n"
                                  "  return 1\n"
                                  "end\n"
                                  "return 0\n";

static const struct config *cfg;
static char id[65], token[33];
static double started_at;
static struct event *beat_ev;
static json_t *listed; /* the instances the last heartbeat saw (array) */
static int beat_out;   /* a heartbeat is waiting for its answer */
static struct metric *m_renewals, *m_instances;
static uint64_t renewed_ms; /* the last renewal Redis confirmed (or the registration) */
static void (*lapse_hook)(void);
#define LISTING_HOOKS 4
static void (*on_listing[LISTING_HOOKS])(void);
static int lobby_dirty; /* a lobby write failed, or Redis lost our keys: write them all again */

static void resync_lobby(void);

/* This instance's value: what others list. */
static char *value_json(void)
{
    json_t *v = json_pack("{ss,ss,sf,sf,sI,sI}", "id", id, "token", token, "startedAt", started_at,
                          "lastSeen", loop_wall_ms(), "rooms", (json_int_t)rooms_count(),
                          "connections", (json_int_t)session_count());
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return text;
}

/* A blocking connection to --redis-url (start-up and shutdown only), or NULL with a log line. */
static redisContext *connect_blocking(void)
{
    char host[256];
    int port, db;
    bus_url_parts(host, sizeof host, &port, &db);
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        log_msg(LOG_ERROR, "cluster: cannot reach Redis", "{ss}", "error",
                c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (db) freeReplyObject(redisCommand(c, "SELECT %d", db));
    return c;
}

static void on_beat(evutil_socket_t fd, short what, void *arg);

static void arm_beat(void)
{
    struct timeval tv = {cfg->cluster_heartbeat_ms / 1000,
                         (cfg->cluster_heartbeat_ms % 1000) * 1000};
    event_add(beat_ev, &tv);
}

/* Keeps the instances listed in the answer; the first element is the lease's status. */
static void keep_listing(const redisReply *r)
{
    json_t *list = json_array();
    for (size_t i = 1; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING) continue;
        json_t *v = json_loadb(e->str, e->len, 0, NULL);
        if (!json_is_object(v)) {
            json_decref(v);
            continue;
        }
        json_object_del(v, "token"); /* another process's secret: never shown */
        json_array_append_new(list, v);
    }
    json_decref(listed);
    listed = list;
    metric_set(m_instances, NULL, (double)json_array_size(list));
    for (int k = 0; k < LISTING_HOOKS; k++)
        if (on_listing[k]) on_listing[k]();
}

const char *members_self(void)
{
    return id;
}

const char *members_token(void)
{
    return token;
}

void members_on_lapse(void (*fn)(void))
{
    lapse_hook = fn;
}

int members_lease_lapsed(void)
{
    return cfg && cfg->cluster && renewed_ms && bus_connected() &&
           loop_now_ms() - renewed_ms > (uint64_t)cfg->instance_lease_ms;
}

int members_on_listing(void (*fn)(void))
{
    for (int k = 0; k < LISTING_HOOKS; k++)
        if (!on_listing[k]) {
            on_listing[k] = fn;
            return 0;
        }
    return -1;
}

void members_off_listing(void (*fn)(void))
{
    for (int k = 0; k < LISTING_HOOKS; k++)
        if (on_listing[k] == fn) on_listing[k] = NULL;
}

/* FNV-1a of "instance/key" with a fixed basis: every process must rank alike. */
static uint64_t rank(const char *instance, const char *key)
{
    uint64_t h = 14695981039346656037ull;
    for (const char *p = instance; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ '/') * 1099511628211ull;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h ^= h >> 33; /* FNV's low bits mix poorly for short keys */
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

const char *members_home(const char *key)
{
    const char *best = id;
    uint64_t best_rank = rank(id, key);
    json_t *v;
    size_t i;
    json_array_foreach(listed, i, v)
    {
        const char *vid = json_string_value(json_object_get(v, "id"));
        uint64_t r = vid ? rank(vid, key) : 0;
        if (vid && (r > best_rank || (r == best_rank && strcmp(vid, best) < 0))) {
            best = vid;
            best_rank = r;
        }
    }
    return best;
}

int members_listed(const char *instance)
{
    json_t *v;
    size_t i;
    json_array_foreach(listed, i, v)
    {
        const char *vid = json_string_value(json_object_get(v, "id"));
        if (vid && strcmp(vid, instance) == 0) return 1;
    }
    return 0;
}

static void on_beat_reply(struct redisReply *r, void *arg)
{
    beat_out = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        metric_add(m_renewals, "failed", 1);
        log_msg(LOG_WARN, "cluster: lease not renewed", "{ss}", "error",
                r && r->type == REDIS_REPLY_ERROR ? r->str : "no answer");
        return;
    }
    long long status = r->element[0]->integer;
    if (status == 1 || status == 2) renewed_ms = loop_now_ms();
    keep_listing(r);
    if (status == 1) {
        metric_add(m_renewals, "renewed", 1);
        if (lobby_dirty) resync_lobby();
        return;
    }
    if (status == 2) {
        metric_add(m_renewals, "taken_again", 1);
        resync_lobby(); /* the lease lapsed: so may have the rooms' hash, or Redis restarted */
        log_msg(LOG_WARN, "cluster: the lease had lapsed (paused or cut off); taken again", "{ss}",
                "instance", id);
        if (lapse_hook) lapse_hook();
        return;
    }
    metric_add(m_renewals, "lost", 1);
    log_msg(LOG_ERROR,
            "cluster: another process holds this instance id: stopping (two instances under one "
            "id would both claim its rooms)",
            "{ss}", "instance", id);
    raise(SIGTERM);
}

static void on_beat(evutil_socket_t fd, short what, void *arg)
{
    arm_beat();
    if (beat_out) return; /* the last one is still out: its timeout will answer it */
    char *value = value_json();
    if (!value) return;
    char lease[24];
    snprintf(lease, sizeof lease, "%d", cfg->instance_lease_ms);
    if (bus_command(on_beat_reply, NULL, "EVAL %s 0 %s %s %s %s", HEARTBEAT_LUA, id, token, value,
                    lease) == 0)
        beat_out = 1;
    else
        metric_add(m_renewals, "failed", 1);
    free(value);
}

/* ---- the shared lobby: each instance keeps its public rooms in mt:rooms:<id> ---- */

static void on_lobby_write(struct redisReply *r, void *arg)
{
    if (!r || r->type == REDIS_REPLY_ERROR) lobby_dirty = 1;
}

static void put_room(const char *room_id, json_t *summary)
{
    char *text = json_dumps(summary, JSON_COMPACT);
    if (!text || bus_command(on_lobby_write, NULL, "HSET mt:rooms:%s %s %s", id, room_id, text) < 0)
        lobby_dirty = 1;
    free(text);
}

static void on_lobby_event(const char *event, const char *room_id, json_t *summary)
{
    if (strcmp(event, "closed") == 0) {
        if (bus_command(on_lobby_write, NULL, "HDEL mt:rooms:%s %s", id, room_id) < 0)
            lobby_dirty = 1;
    } else {
        put_room(room_id, summary);
    }
}

/* Writes this instance's public rooms again from scratch (commands on one connection keep
 * their order: the DEL lands before the HSETs). */
static void resync_lobby(void)
{
    if (bus_command(on_lobby_write, NULL, "DEL mt:rooms:%s", id) < 0) return;
    lobby_dirty = 0;
    json_t *rooms = rooms_lobby_json(), *room;
    size_t i;
    json_array_foreach(rooms, i, room)
    {
        put_room(json_string_value(json_object_get(room, "gameId")), room);
    }
    json_decref(rooms);
}

struct rooms_fetch {
    members_rooms_fn fn;
    void *arg;
};

static void on_rooms_reply(struct redisReply *r, void *arg)
{
    struct rooms_fetch *f = arg;
    json_t *list = NULL;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        list = json_array();
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            json_t *v = e->type == REDIS_REPLY_STRING ? json_loadb(e->str, e->len, 0, NULL) : NULL;
            if (json_is_object(v))
                json_array_append_new(list, v);
            else
                json_decref(v);
        }
    }
    f->fn(list, f->arg);
    json_decref(list);
    free(f);
}

int members_rooms_fetch(members_rooms_fn fn, void *arg)
{
    if (!cfg || !cfg->cluster || !listed) return -1;
    /* EVAL with one argument per live instance: the list is short (instances, not rooms). */
    size_t n = json_array_size(listed);
    const char **argv = calloc(n + 3, sizeof *argv);
    struct rooms_fetch *f = malloc(sizeof *f);
    if (!argv || !f) {
        free(argv);
        free(f);
        fn(NULL, arg);
        return 0;
    }
    f->fn = fn;
    f->arg = arg;
    argv[0] = "EVAL";
    argv[1] = ROOMS_LUA;
    argv[2] = "0";
    size_t k = 3;
    json_t *v;
    size_t i;
    json_array_foreach(listed, i, v)
    {
        const char *iid = json_string_value(json_object_get(v, "id"));
        if (iid) argv[k++] = iid;
    }
    if (bus_command_argv(on_rooms_reply, f, (int)k, argv) < 0) {
        free(f);
        fn(NULL, arg);
    }
    free(argv);
    return 0;
}

static void respond_rooms(json_t *list, void *arg)
{
    struct http_exchange *x = arg;
    if (list)
        http_respond_json(x, 200, json_incref(list));
    else
        http_respond_error(x, 503, "SERVER_BUSY", "the cluster's lobby is unavailable (Redis)");
}

int members_rooms(struct http_exchange *x)
{
    return members_rooms_fetch(respond_rooms, x);
}

/* SET NX: the id is ours, or held by a live instance (-2). */
static int register_id(void)
{
    redisContext *c = connect_blocking();
    if (!c) return -1;
    char *value = value_json();
    char key[96];
    snprintf(key, sizeof key, "mt:instance:%s", id);
    redisReply *r =
        value ? redisCommand(c, "SET %s %s NX PX %d", key, value, cfg->instance_lease_ms) : NULL;
    free(value);
    int rc = -1;
    if (!r)
        log_msg(LOG_ERROR, "cluster: Redis did not answer the registration", "{ss}", "error",
                c->errstr);
    else if (r->type == REDIS_REPLY_NIL)
        rc = -2;
    else if (r->type == REDIS_REPLY_STATUS)
        rc = 0;
    else
        log_msg(LOG_ERROR, "cluster: Redis refused the registration", "{ss}", "error",
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    if (r) freeReplyObject(r);
    if (rc == 0) freeReplyObject(redisCommand(c, "SADD " SET_KEY " %s", id));
    redisFree(c);
    return rc;
}

int members_init(const struct config *config)
{
    cfg = config;
    if (!cfg->cluster) return 0;
    if (*cfg->instance_id) {
        util_strlcpy(id, cfg->instance_id, sizeof id);
    } else { /* host:port, the machine's name when listening on every address */
        char name[64] = "";
        if (strcmp(cfg->host, "0.0.0.0") == 0 || strcmp(cfg->host, "::") == 0)
            gethostname(name, sizeof name - 1);
        snprintf(id, sizeof id, "%.50s:%d", *name ? name : cfg->host, ws_port());
    }
    unsigned char raw[16];
    if (util_random_bytes(raw, sizeof raw) < 0) return -1;
    for (int i = 0; i < 16; i++)
        snprintf(token + 2 * i, 3, "%02x", raw[i]);
    started_at = loop_wall_ms();
    m_renewals = metrics_counter("cluster_lease_renewals_total",
                                 "Heartbeats of this instance's lease by outcome", "outcome");
    m_instances = metrics_gauge("cluster_instances", "Live instances the last heartbeat saw", NULL);
    int rc = register_id();
    renewed_ms = loop_now_ms();
    if (rc == -2) {
        log_msg(LOG_ERROR, "cluster: a live instance already uses this instance id", "{ss}",
                "instance", id);
        return -2;
    }
    if (rc < 0) return -1;
    listed = json_array();
    rooms_set_lobby_hook(on_lobby_event);
    lobby_dirty = 1; /* the first heartbeat writes the rooms a restart rebuilt */
    beat_ev = evtimer_new(loop_base(), on_beat, NULL);
    on_beat(-1, 0, NULL);
    log_msg(LOG_INFO, "cluster: registered", "{ss,si}", "instance", id, "leaseMs",
            cfg->instance_lease_ms);
    return 0;
}

/* Tells every other live instance that this one is gone ("B\n<id>" on its relay channel),
 * so that they take its rooms over and send its rooms' sockets elsewhere now, not at their
 * next heartbeat after noticing the key is gone. */
static void say_goodbye(redisContext *c)
{
    json_t *v;
    size_t i;
    json_array_foreach(listed, i, v)
    {
        const char *other = json_string_value(json_object_get(v, "id"));
        if (!other || strcmp(other, id) == 0) continue;
        redisReply *r = redisCommand(c, "PUBLISH mt:relay:%s B\n%s", other, id);
        if (r) freeReplyObject(r);
    }
}

void members_forget(const char *instance)
{
    json_t *v;
    size_t i;
    json_array_foreach(listed, i, v)
    {
        const char *vid = json_string_value(json_object_get(v, "id"));
        if (vid && strcmp(vid, instance) == 0) {
            json_array_remove(listed, i);
            metric_set(m_instances, NULL, (double)json_array_size(listed));
            for (int k = 0; k < LISTING_HOOKS; k++)
                if (on_listing[k]) on_listing[k]();
            return;
        }
    }
}

void members_shutdown(void)
{
    if (!beat_ev) return;
    event_free(beat_ev);
    beat_ev = NULL;
    rooms_set_lobby_hook(NULL);
    redisContext *c = connect_blocking();
    if (c) {
        redisReply *r = redisCommand(c, "EVAL %s 0 %s %s", RELEASE_LUA, id, token);
        /* Only the process that still held the id says goodbye for it: one that lost it (paused
         * past its lease) would bid its successor's id farewell. */
        int held = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        if (r) freeReplyObject(r);
        if (held) {
            r = redisCommand(c, "DEL mt:rooms:%s", id); /* its rooms leave the lobby with it */
            if (r) freeReplyObject(r);
            say_goodbye(c);
        }
        redisFree(c);
    }
    json_decref(listed);
    listed = NULL;
}

json_t *members_json(void)
{
    if (!cfg || !cfg->cluster || !listed) return NULL;
    return json_pack("{ss,sO}", "self", id, "instances", listed);
}
