#include "directory.h"

#include "bus.h"
#include "hmap.h"
#include "log.h"
#include "loop.h"
#include "members.h"
#include "metrics.h"
#include "room.h"
#include "store.h"
#include "store_pg.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether the entry in `cur` ("<instance> <token> <fence>") names a live owner (shared by the
 * scripts below; "<instance> <token> " asks the same of an owner alone): the owner's lease key
 * must hold the entry's token. */
#define LIVE_OWNER_LUA                                                                             \
    "local function live(cur)\n"                                                                   \
    "  if not cur then return nil end\n"                                                           \
    "  local inst, tok = string.match(cur, '^(%S+) (%S+) ')\n"                                     \
    "  if not inst then return nil end\n"                                                          \
    "  local v = redis.call('GET', 'mt:instance:' .. inst)\n"                                      \
    "  if not v then return nil end\n"                                                             \
    "  local ok, d = pcall(cjson.decode, v)\n"                                                     \
    "  if ok and type(d) == 'table' and d.token == tok then return inst, tok end\n"                \
    "  return nil\n"                                                                               \
    "end\n"

/* Gives room to me ("<instance> <token>") with a raised fence, and appends room and fence to
 * out: the last step of a takeover and of an adoption. */
#define GRANT_LUA                                                                                  \
    "local function grant(me, room, out)\n"                                                        \
    "  local fence = redis.call('INCR', 'mt:fence:' .. room)\n"                                    \
    "  redis.call('SET', 'mt:room:' .. room, me .. ' ' .. fence)\n"                                \
    "  redis.call('SADD', 'mt:owned:' .. me, room)\n"                                              \
    "  redis.call('SADD', 'mt:owners', me)\n"                                                      \
    "  out[#out + 1] = room\n"                                                                     \
    "  out[#out + 1] = fence\n"                                                                    \
    "end\n"

/* ARGV: room, instance, token, the fence held here for the room (0: none). {1, fence} when
 * the room is ours (it was, or had no live owner and now is, with a raised fence), {0, owner}
 * when another live process owns it. The counter is first raised to the fence held here: a
 * Redis that lost its data (restarted without persistence) would otherwise count again from
 * 1, below the fence the database holds, and a later owner could write with the same fence as
 * an earlier one. */
static const char CLAIM_LUA[] =
    LIVE_OWNER_LUA "local key = 'mt:room:' .. ARGV[1]\n"
                   "local cur = redis.call('GET', key)\n"
                   "local inst, tok = live(cur)\n"
                   "if inst == ARGV[2] and tok == ARGV[3] then\n"
                   "  return {1, tonumber(string.match(cur, ' (%d+)$'))}\n"
                   "end\n"
                   "if inst then return {0, inst} end\n"
                   "local held = tonumber(ARGV[4]) or 0\n"
                   "if (tonumber(redis.call('GET', 'mt:fence:' .. ARGV[1])) or 0) < held then\n"
                   "  redis.call('SET', 'mt:fence:' .. ARGV[1], held)\n"
                   "end\n"
                   "local fence = redis.call('INCR', 'mt:fence:' .. ARGV[1])\n"
                   "local me = ARGV[2] .. ' ' .. ARGV[3]\n"
                   "redis.call('SET', key, me .. ' ' .. fence)\n"
                   "redis.call('SADD', 'mt:owned:' .. me, ARGV[1])\n"
                   "redis.call('SADD', 'mt:owners', me)\n"
                   "return {1, fence}\n";

/* ARGV: room. The live owner's id; 0 when the entry names a dead process (the room is being
 * taken over); false without an entry. */
static const char LOOKUP_LUA[] =
    LIVE_OWNER_LUA "local cur = redis.call('GET', 'mt:room:' .. ARGV[1])\n"
                   "if not cur then return false end\n"
                   "return live(cur) or 0\n";

/* ARGV: room, instance, token. Deletes the entry if it is ours. */
static const char RELEASE_LUA[] = "local key = 'mt:room:' .. ARGV[1]\n"
                                  "local cur = redis.call('GET', key)\n"
                                  "local mine = ARGV[2] .. ' ' .. ARGV[3] .. ' '\n"
                                  "redis.call('SREM', 'mt:owned:' .. ARGV[2] .. ' ' .. ARGV[3], "
                                  "ARGV[1])\n"
                                  "if cur and string.sub(cur, 1, #mine) == mine then\n"
                                  "  redis.call('DEL', key)\n"
                                  "  return 1\n"
                                  "end\n"
                                  "return 0\n";

/* ARGV: instance, token, max. Takes over, for this process, up to max rooms whose owner's
 * process is gone: every process that ever owned a room is in mt:owners as "<id> <token>",
 * its rooms in mt:owned:<id> <token>; a process whose lease key no longer holds its token is
 * dead, and each of its rooms whose entry still names it gets a raised fence and this process
 * as owner. Rooms that moved or were released meanwhile are only dropped from the dead
 * process's set; an empty set is dropped from mt:owners. A script is atomic: however many
 * instances run it at once, each room goes to one of them. Returns {room, fence, ...}. */
static const char TAKEOVER_LUA[] = LIVE_OWNER_LUA GRANT_LUA
    "local me, max, out = ARGV[1] .. ' ' .. ARGV[2], tonumber(ARGV[3]), {}\n"
    "for _, owner in ipairs(redis.call('SMEMBERS', 'mt:owners')) do\n"
    "  if not live(owner .. ' ') and owner ~= me then\n"
    "    local set = 'mt:owned:' .. owner\n"
    "    for _, room in ipairs(redis.call('SMEMBERS', set)) do\n"
    "      if #out >= 2 * max then return out end\n"
    "      redis.call('SREM', set, room)\n"
    "      local cur = redis.call('GET', 'mt:room:' .. room)\n"
    "      if cur and string.sub(cur, 1, #owner + 1) == owner .. ' ' then\n"
    "        grant(me, room, out)\n"
    "      end\n"
    "    end\n"
    "    if redis.call('SCARD', set) == 0 then redis.call('SREM', 'mt:owners', owner) end\n"
    "  end\n"
    "end\n"
    "return out\n";

/* ARGV: instance, token, then room, fence, owner triples. Adopts, for this process, each room
 * that has no entry at all and whose owner (games.owner, "<instance> <token>") holds no lease:
 * a Redis that lost its data lost the entries and the owners' sets of the rooms whose owner died
 * before claiming them again, which TAKEOVER_LUA can then never find. A room whose owner's
 * lease is live is left alone, entry or not (its owner claims it again, or serves it as it did).
 * The fence is the one the database holds for the room (games.fence): the counter is raised to
 * it first, as CLAIM_LUA does, so the new owner's writes are not refused as stale. Returns
 * {room, fence, ...} like TAKEOVER_LUA. */
static const char ADOPT_LUA[] = LIVE_OWNER_LUA GRANT_LUA
    "local me, out = ARGV[1] .. ' ' .. ARGV[2], {}\n"
    "for i = 3, #ARGV - 2, 3 do\n"
    "  local room, held, owner = ARGV[i], tonumber(ARGV[i + 1]) or 0, ARGV[i + 2]\n"
    "  if owner ~= me and redis.call('EXISTS', 'mt:room:' .. room) == 0 and\n"
    "     not live(owner .. ' ') then\n"
    "    if (tonumber(redis.call('GET', 'mt:fence:' .. room)) or 0) < held then\n"
    "      redis.call('SET', 'mt:fence:' .. room, held)\n"
    "    end\n"
    "    grant(me, room, out)\n"
    "  end\n"
    "end\n"
    "return out\n";

static struct hmap *fences; /* room id -> uint64_t *, for the rooms held here */
static struct metric *m_ops;

/* A claim of a room held here. One that gets no answer (Redis away, or slow past the bus's 2 s)
 * is sent again every CLAIM_RETRY_MS for as long as the room is held here: a room opened during
 * a blip gets its entry, and so its fence and games.owner, once Redis is back, instead of
 * staying unreachable from the other instances until this instance's lease next lapses. */
#define CLAIM_RETRY_MS 1000
struct claim {
    char room[64];
    int tries;
    struct event *retry;
};
static struct hmap *retrying; /* room id -> struct claim waiting to be sent again */

static void claim_send(struct claim *c);

static void on_claim_retry(evutil_socket_t fd, short what, void *arg)
{
    struct claim *c = arg;
    hmap_del(retrying, c->room);
    event_free(c->retry);
    c->retry = NULL;
    claim_send(c);
}

static void claim_later(struct claim *c)
{
    struct timeval tv = {CLAIM_RETRY_MS / 1000, (CLAIM_RETRY_MS % 1000) * 1000};
    if (!retrying || !fences || !hmap_get(fences, c->room) || hmap_get(retrying, c->room) ||
        !(c->retry = evtimer_new(loop_base(), on_claim_retry, c)) ||
        hmap_put(retrying, c->room, c) < 0) {
        if (c->retry) event_free(c->retry);
        free(c);
        return;
    }
    event_add(c->retry, &tv);
}

static void on_claim(struct redisReply *r, void *arg)
{
    struct claim *c = arg;
    uint64_t *fence = fences ? hmap_get(fences, c->room) : NULL;
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             r->element[0]->type == REDIS_REPLY_INTEGER;
    if (!ok) {
        metric_add(m_ops, "claim_failed", 1);
        if (!c->tries++)
            log_msg(LOG_WARN, "cluster: room claim failed: tried again while the room is here",
                    "{ss,ss}", "game", c->room, "error",
                    r && r->type == REDIS_REPLY_ERROR ? r->str : "no answer");
        claim_later(c);
        return;
    }
    if (r->element[0]->integer == 1 && r->element[1]->type == REDIS_REPLY_INTEGER) {
        metric_add(m_ops, "claim", 1);
        if (fence) { /* still held here: the room's writes carry it from now on */
            *fence = (uint64_t)r->element[1]->integer;
            store_set_fence(c->room, *fence);
        }
    } else {
        metric_add(m_ops, "claim_refused", 1);
        log_msg(LOG_ERROR, "cluster: room owned by another live instance", "{ss,ss}", "game",
                c->room, "owner",
                r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "?");
    }
    free(c);
}

/* Sends c's claim with the fence held here (0 until a claim is answered), or frees c when the
 * room is no longer held here. */
static void claim_send(struct claim *c)
{
    uint64_t *fence = fences ? hmap_get(fences, c->room) : NULL;
    if (!fence) {
        free(c);
        return;
    }
    if (bus_command(on_claim, c, "EVAL %s 0 %s %s %s %llu", CLAIM_LUA, c->room, members_self(),
                    members_token(), (unsigned long long)*fence) < 0) {
        metric_add(m_ops, "claim_failed", 1);
        claim_later(c);
    }
}

static void on_release(struct redisReply *r, void *arg)
{
    metric_add(m_ops, r && r->type == REDIS_REPLY_INTEGER ? "release" : "release_failed", 1);
}

static void owner_hook(const char *room_id, int held)
{
    if (!fences) return;
    if (!held) {
        free(hmap_del(fences, room_id));
        store_set_fence(room_id, 0);
        if (bus_command(on_release, NULL, "EVAL %s 0 %s %s %s", RELEASE_LUA, room_id,
                        members_self(), members_token()) < 0)
            metric_add(m_ops, "release_failed", 1);
        return;
    }
    /* A room taken over already has its fence (directory_takeover): the claim confirms it. */
    uint64_t *fence = hmap_get(fences, room_id), *fresh = NULL;
    if (!fence && (fence = fresh = calloc(1, sizeof *fence)) &&
        hmap_put(fences, room_id, fence) < 0) {
        free(fresh);
        fence = NULL;
    }
    struct claim *c = fence ? calloc(1, sizeof *c) : NULL;
    if (!c) return;
    snprintf(c->room, sizeof c->room, "%s", room_id);
    claim_send(c);
}

struct lookup {
    directory_fn fn;
    void *arg;
};

static void on_lookup(struct redisReply *r, void *arg)
{
    struct lookup *l = arg;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        metric_add(m_ops, "lookup_failed", 1);
        l->fn(NULL, DIRECTORY_FAILED, l->arg);
    } else {
        metric_add(m_ops, "lookup", 1);
        if (r->type == REDIS_REPLY_INTEGER)
            l->fn(NULL, DIRECTORY_MOVING, l->arg);
        else
            l->fn(r->type == REDIS_REPLY_STRING ? r->str : NULL, 0, l->arg);
    }
    free(l);
}

void directory_lookup(const char *room_id, directory_fn fn, void *arg)
{
    struct lookup *l = malloc(sizeof *l);
    if (!l) {
        fn(NULL, DIRECTORY_FAILED, arg);
        return;
    }
    l->fn = fn;
    l->arg = arg;
    if (bus_command(on_lookup, l, "EVAL %s 0 %s", LOOKUP_LUA, room_id) < 0) {
        metric_add(m_ops, "lookup_failed", 1);
        free(l);
        fn(NULL, DIRECTORY_FAILED, arg);
    }
}

struct takeover {
    directory_takeover_fn fn;
    directory_takeover_done_fn done;
    void *arg;
    const char *op; /* the ops metric's label: "takeover" or "adopt" */
};

static void on_takeover(struct redisReply *r, void *arg)
{
    struct takeover *t = arg;
    int ok = r && r->type == REDIS_REPLY_ARRAY;
    char failed[32];
    snprintf(failed, sizeof failed, "%s_failed", t->op);
    metric_add(m_ops, ok ? t->op : failed, 1);
    for (size_t i = 0; ok && i + 1 < r->elements; i += 2) {
        const redisReply *room = r->element[i], *fence = r->element[i + 1];
        if (room->type != REDIS_REPLY_STRING || fence->type != REDIS_REPLY_INTEGER) continue;
        uint64_t *held = fences ? hmap_get(fences, room->str) : NULL, *fresh = NULL;
        if (!held && fences && (held = fresh = calloc(1, sizeof *held)) &&
            hmap_put(fences, room->str, held) < 0) {
            free(fresh);
            held = NULL;
        }
        if (held) *held = (uint64_t)fence->integer;
        /* The rebuilt room's writes carry the raised fence, which refuses the dead owner's. */
        store_set_fence(room->str, (uint64_t)fence->integer);
        metric_add(m_ops, "taken_over", 1);
        t->fn(room->str, (uint64_t)fence->integer, t->arg);
    }
    t->done(ok ? (int)(r->elements / 2) : -1, t->arg);
    free(t);
}

int directory_takeover(int max, directory_takeover_fn fn, directory_takeover_done_fn done,
                       void *arg)
{
    struct takeover *t = fences ? malloc(sizeof *t) : NULL;
    if (!t) return -1;
    *t = (struct takeover){fn, done, arg, "takeover"};
    char n[16];
    snprintf(n, sizeof n, "%d", max);
    if (bus_command(on_takeover, t, "EVAL %s 0 %s %s %s", TAKEOVER_LUA, members_self(),
                    members_token(), n) < 0) {
        free(t);
        return -1;
    }
    return 0;
}

int directory_adopt(const char *const *rooms, const uint64_t *held, const char *const *owners,
                    int n, directory_takeover_fn fn, directory_takeover_done_fn done, void *arg)
{
    if (n <= 0 || n > DIRECTORY_ADOPT_MAX) return -1;
    struct takeover *t = fences ? malloc(sizeof *t) : NULL;
    char(*num)[24] = t ? calloc((size_t)n, sizeof *num) : NULL;
    const char **argv = num ? calloc((size_t)(5 + 3 * n), sizeof *argv) : NULL;
    int rc = -1;
    if (argv) {
        int k = 0;
        argv[k++] = "EVAL", argv[k++] = ADOPT_LUA, argv[k++] = "0";
        argv[k++] = members_self(), argv[k++] = members_token();
        for (int i = 0; i < n; i++) {
            snprintf(num[i], sizeof num[i], "%llu", (unsigned long long)held[i]);
            argv[k++] = rooms[i], argv[k++] = num[i], argv[k++] = owners[i];
        }
        *t = (struct takeover){fn, done, arg, "adopt"};
        rc = bus_command_argv(on_takeover, t, k, argv);
    }
    if (rc < 0) free(t);
    free(num);
    free(argv);
    return rc;
}

struct reclaim {
    directory_reclaim_fn fn;
    void *arg;
    char room[64];
};

static void on_reclaim(struct redisReply *r, void *arg)
{
    struct reclaim *c = arg;
    int answered = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                   r->element[0]->type == REDIS_REPLY_INTEGER;
    int ours = !answered || r->element[0]->integer == 1; /* no answer: nothing learnt */
    metric_add(m_ops, !answered ? "reclaim_failed" : ours ? "reclaim" : "reclaim_lost", 1);
    uint64_t *held = answered && ours && r->element[1]->type == REDIS_REPLY_INTEGER && fences
                         ? hmap_get(fences, c->room)
                         : NULL;
    if (held) { /* a room whose first claim got no answer gets its fence (and games.owner) now */
        *held = (uint64_t)r->element[1]->integer;
        store_set_fence(c->room, *held);
    }
    c->fn(c->room, ours, c->arg);
    free(c);
}

int directory_reclaim(const char *room_id, directory_reclaim_fn fn, void *arg)
{
    struct reclaim *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->fn = fn;
    c->arg = arg;
    snprintf(c->room, sizeof c->room, "%s", room_id);
    if (bus_command(on_reclaim, c, "EVAL %s 0 %s %s %s %llu", CLAIM_LUA, room_id, members_self(),
                    members_token(), (unsigned long long)directory_fence(room_id)) < 0) {
        free(c);
        return -1;
    }
    return 0;
}

uint64_t directory_fence(const char *room_id)
{
    uint64_t *fence = fences ? hmap_get(fences, room_id) : NULL;
    return fence ? *fence : 0;
}

int directory_init(const struct config *cfg)
{
    if (!cfg->cluster) return 0;
    fences = hmap_new();
    retrying = hmap_new();
    if (!fences || !retrying) return -1;
    char me[112];
    snprintf(me, sizeof me, "%s %s", members_self(), members_token());
    store_pg_set_owner(me); /* games.owner, written with each fence taken here */
    m_ops = metrics_counter("cluster_directory_ops_total",
                            "Room directory operations in Redis by kind and outcome", "op");
    rooms_set_owner_hook(owner_hook);
    return 0;
}

static void free_fence(const char *key, void *value, void *arg)
{
    free(value);
}

static void free_claim(const char *key, void *value, void *arg)
{
    struct claim *c = value;
    event_free(c->retry);
    free(c);
}

void directory_shutdown(void)
{
    if (!fences) return;
    rooms_set_owner_hook(NULL);
    hmap_free_values(fences, free_fence);
    fences = NULL;
    hmap_free_values(retrying, free_claim);
    retrying = NULL;
}
