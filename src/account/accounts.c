#include "accounts.h"

#include "accounts_internal.h"
#include "hmap.h"
#include "log.h"
#include "loop.h"
#include "session.h"
#include "store.h"
#include "store_pg.h"
#include "throttle.h"
#include "util.h"

#include <ctype.h>
#include <event2/event.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ELO_K 32.0
#define LOGIN_FAILS_PER_ACCOUNT 5 /* a minute */
#define LOGIN_FAILS_PER_ADDRESS 20
/* Keys each throttle table remembers at most; past that the least recently used are evicted. */
#define THROTTLE_KEYS 100000
/* Guests expired per run of the timer at most, so that one run stays short. */
#define GUESTS_EXPIRED_PER_RUN 4096

static const struct config *cfg;
static struct hmap *by_id, *by_username;
static struct throttle *fails_account, *fails_address, *registrations, *guests;
static struct {
    struct player *head, *tail;
} idle;
static struct event *idle_timer;

/* ---- the index ---- */

void accounts_lower(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

static void agent_uuid(const char *agent, char out[UUID_LEN + 1])
{
    unsigned char md[32];
    unsigned int len;
    char name[96];
    snprintf(name, sizeof name, "monkeytown-agent:%s", agent);
    EVP_Digest(name, strlen(name), md, &len, EVP_sha256(), NULL);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50); /* version 5 style: name-based */
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    snprintf(out, UUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0], md[1],
             md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12], md[13],
             md[14], md[15]);
}

void accounts_agent_id(const char *agent, char out[UUID_LEN + 1])
{
    agent_uuid(agent, out);
}

/* The player id the store knows: agents ("agent:<name>") map to a name-based UUID. */
const char *accounts_store_id(const char *id, char buf[UUID_LEN + 1])
{
    if (strncmp(id, "agent:", 6) == 0) {
        agent_uuid(id + 6, buf);
        return buf;
    }
    return id;
}

struct player *accounts_find(const char *id)
{
    char buf[UUID_LEN + 1];
    return hmap_get(by_id, accounts_store_id(id, buf));
}

struct player *accounts_find_username(const char *username)
{
    char key[33];
    accounts_lower(key, username, sizeof key);
    return hmap_get(by_username, key);
}

void accounts_index_username(struct player *p)
{
    char key[33];
    accounts_lower(key, p->username, sizeof key);
    hmap_put(by_username, key, p);
}

struct player *accounts_create(const char *id, const char *name, const char *role)
{
    struct player *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    util_strlcpy(p->id, id, sizeof p->id);
    util_strlcpy(p->name, name, sizeof p->name);
    util_strlcpy(p->role, role, sizeof p->role);
    p->rating = 1200;
    p->created = loop_wall_ms();
    if (hmap_put(by_id, p->id, p) < 0) {
        free(p);
        return NULL;
    }
    return p;
}

/* A guest that has not played: it has no name to log in with and nothing worth keeping, so it
 * is not written to the store, and it leaves memory after --guest-idle-timeout without a
 * socket (its token still works: the next socket makes it again). */
static int fresh_guest(const struct player *p)
{
    return !*p->username && p->games == 0 && strcmp(p->role, "agent") != 0;
}

/* Whether accounts live in PostgreSQL, shared with every server on the database: then the
 * database, not this index, is the truth (see the header). */
int accounts_shared(void)
{
    return store_pg_active();
}

/* The row of p the store is given. Shared, it never carries stats and rating (the database
 * computes them from game_results), nor username and password hash (written once, by the
 * registration itself), and role and creation time only for a row this server creates (or a
 * role it changed): a whole row from memory would undo what other servers wrote meanwhile. */
static json_t *player_row(const struct player *p)
{
    if (accounts_shared()) {
        json_t *row =
            json_pack("{ss,ss,sf}", "id", p->id, "name", p->name, "last_seen_at", p->last_seen);
        if (row && (!p->stored || p->role_dirty))
            json_object_set_new(row, "role", json_string(p->role));
        if (row && !p->stored) json_object_set_new(row, "created_at", json_real(p->created));
        return row;
    }
    json_t *row =
        json_pack("{ss,ss,ss,s{sI,sI,sI,sI},sf,sf,sf}", "id", p->id, "name", p->name, "role",
                  p->role, "stats", "games", (json_int_t)p->games, "wins", (json_int_t)p->wins,
                  "losses", (json_int_t)p->losses, "draws", (json_int_t)p->draws, "rating",
                  p->rating, "created_at", p->created, "last_seen_at", p->last_seen);
    json_object_set_new(row, "username", *p->username ? json_string(p->username) : json_null());
    json_object_set_new(row, "password_hash", *p->hash ? json_string(p->hash) : json_null());
    return row;
}

void accounts_persist(struct player *p)
{
    store_put("players", player_row(p));
    p->role_dirty = 0;
    p->stored = 1;
    p->written_here = 1;
    p->seen_dirty = 0;
    p->written_ms = loop_now_ms();
}

/* A row of a guest that never played (older versions stored one per guest). */
static int fresh_guest_row(json_t *row)
{
    const char *role = json_string_value(json_object_get(row, "role"));
    json_t *games = json_object_get(json_object_get(row, "stats"), "games");
    return !json_string_value(json_object_get(row, "username")) && role &&
           strcmp(role, "player") == 0 && json_integer_value(games) == 0;
}

static void load_row(json_t *row)
{
    const char *id = json_string_value(json_object_get(row, "id"));
    if (!id) return;
    struct player *p = hmap_get(by_id, id);
    if (!p && fresh_guest_row(row)) return; /* made again if its token comes back */
    if (!p && !(p = accounts_create(id, "", "player"))) return;
    const char *s;
    if ((s = json_string_value(json_object_get(row, "name"))))
        util_strlcpy(p->name, s, sizeof p->name);
    if ((s = json_string_value(json_object_get(row, "role"))))
        util_strlcpy(p->role, s, sizeof p->role);
    if ((s = json_string_value(json_object_get(row, "password_hash"))))
        util_strlcpy(p->hash, s, sizeof p->hash);
    if ((s = json_string_value(json_object_get(row, "username"))) && !*p->username) {
        util_strlcpy(p->username, s, sizeof p->username);
        char key[33];
        accounts_lower(key, s, sizeof key);
        hmap_put(by_username, key, p);
    }
    json_t *st = json_object_get(row, "stats"); /* absent from a shared row put by this server */
    if (json_is_object(st)) {
        p->games = (long)json_integer_value(json_object_get(st, "games"));
        p->wins = (long)json_integer_value(json_object_get(st, "wins"));
        p->losses = (long)json_integer_value(json_object_get(st, "losses"));
        p->draws = (long)json_integer_value(json_object_get(st, "draws"));
    }
    if (json_is_number(json_object_get(row, "rating")))
        p->rating = json_number_value(json_object_get(row, "rating"));
    if (json_is_number(json_object_get(row, "created_at")))
        p->created = json_number_value(json_object_get(row, "created_at"));
    p->stored = 1;
}

/* The players row PostgreSQL holds now refreshes this server's copy (other servers' results
 * and accounts). rows is NULL when the database could not be asked. */
void accounts_refresh(json_t *rows)
{
    json_t *row = json_array_get(rows, 0);
    if (json_is_object(row)) load_row(row);
}

void accounts_preinit(void)
{
    by_id = hmap_new();
    by_username = hmap_new();
    fails_account = throttle_new(THROTTLE_KEYS);
    fails_address = throttle_new(THROTTLE_KEYS);
    registrations = throttle_new(THROTTLE_KEYS);
    guests = throttle_new(THROTTLE_KEYS);
    store_on_load("players", load_row);
}

/* ---- guests that never played: not stored, and forgotten when idle ---- */

static void idle_unlink(struct player *p)
{
    if (!p->idle_listed) return;
    if (p->idle_prev)
        p->idle_prev->idle_next = p->idle_next;
    else
        idle.head = p->idle_next;
    if (p->idle_next)
        p->idle_next->idle_prev = p->idle_prev;
    else
        idle.tail = p->idle_prev;
    p->idle_prev = p->idle_next = NULL;
    p->idle_listed = 0;
}

/* Arms the timer for the least recently active guest's deadline, at most once a second, and
 * not at all without guests: an idle server does not wake up for nothing. */
static void idle_arm(void)
{
    if (!idle_timer || !idle.head || cfg->guest_idle_timeout_s <= 0) {
        if (idle_timer) evtimer_del(idle_timer);
        return;
    }
    uint64_t now = loop_now_ms();
    uint64_t due = idle.head->active_ms + (uint64_t)cfg->guest_idle_timeout_s * 1000;
    uint64_t wait = due > now + 1000 ? due - now : 1000;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(idle_timer, &tv);
}

/* p did something (a socket opened or closed, a guest token was issued): it goes to the end of
 * the idle list. Players that are not fresh guests leave the list. */
static void touch(struct player *p)
{
    int was_empty = !idle.head;
    idle_unlink(p);
    if (!fresh_guest(p)) return;
    p->active_ms = loop_now_ms();
    p->idle_prev = idle.tail;
    if (idle.tail)
        idle.tail->idle_next = p;
    else
        idle.head = p;
    idle.tail = p;
    p->idle_listed = 1;
    if (was_empty) idle_arm();
}

static void forget(struct player *p)
{
    idle_unlink(p);
    hmap_del(by_id, p->id);
    free(p);
}

static void on_idle_timer(evutil_socket_t fd, short what, void *arg)
{
    uint64_t now = loop_now_ms(), ttl = (uint64_t)cfg->guest_idle_timeout_s * 1000;
    size_t forgotten = 0;
    while (idle.head && ttl && idle.head->active_ms + ttl <= now &&
           forgotten < GUESTS_EXPIRED_PER_RUN) {
        struct player *p = idle.head;
        if (!fresh_guest(p)) { /* a late store load named it (PostgreSQL came up after us) */
            idle_unlink(p);
            continue;
        }
        if (session_of_player(p->id)) { /* connected all along: active, not idle */
            touch(p);
            continue;
        }
        forget(p);
        forgotten++;
    }
    if (forgotten)
        log_msg(LOG_DEBUG, "idle guests forgotten", "{sI,sI}", "count", (json_int_t)forgotten,
                "players", (json_int_t)hmap_size(by_id));
    idle_arm();
}

/* ---- the throttles, shared across a cluster ---- */

static const char *const spend_names[SPENDS] = {"guest", "register", "fail_account",
                                                "fail_address"};
static void (*spend_hook)(const char *table, const char *key);

static struct throttle *spend_throttle(enum spend_table t)
{
    struct throttle *all[SPENDS] = {guests, registrations, fails_account, fails_address};
    return all[t];
}

static int spend_rate(enum spend_table t)
{
    int all[SPENDS] = {cfg->guest_rate_per_min, cfg->register_rate_per_min, LOGIN_FAILS_PER_ACCOUNT,
                       LOGIN_FAILS_PER_ADDRESS};
    return all[t];
}

/* Takes a token of key in table t; a token taken is also told to the hook (the other
 * instances take it too). Returns what throttle_take returns. */
int accounts_spend(enum spend_table t, const char *key, int *retry_after_s)
{
    int ok = throttle_take(spend_throttle(t), key, spend_rate(t), loop_now_ms(), retry_after_s);
    if (ok && spend_hook) spend_hook(spend_names[t], key);
    return ok;
}

int accounts_spend_allowed(enum spend_table t, const char *key, uint64_t now_ms, int *retry_after_s)
{
    return throttle_allowed(spend_throttle(t), key, spend_rate(t), now_ms, retry_after_s);
}

void accounts_set_spend_hook(void (*fn)(const char *table, const char *key))
{
    spend_hook = fn;
}

void accounts_apply_spend(const char *table, const char *key)
{
    for (int t = 0; t < SPENDS; t++)
        if (strcmp(table, spend_names[t]) == 0) {
            throttle_take(spend_throttle(t), key, spend_rate(t), loop_now_ms(), NULL);
            return;
        }
}

int accounts_admit_guest(const char *peer, int *retry_after_s)
{
    return accounts_spend(SPEND_GUEST, peer, retry_after_s);
}

void accounts_left(const struct identity *who)
{
    struct player *p = accounts_find(who->player_id);
    if (p) touch(p);
}

void accounts_reconfigured(void)
{
    idle_arm();
}

/* Whether p's last-seen time is due to be written: a row per socket opened made the embedded
 * log grow with every connection, so the time is written at most every --last-seen-interval. */
static int seen_due(const struct player *p)
{
    if (!p->stored || !p->written_here) return 1;
    return loop_now_ms() - p->written_ms >= (uint64_t)cfg->last_seen_interval_s * 1000;
}

static void seen_found(json_t *rows, const char *sqlstate, void *arg)
{
    accounts_refresh(rows);
}

void accounts_seen(const struct identity *who)
{
    struct player *p = accounts_find(who->player_id);
    if (!p) {
        /* An external agent's connection (its token's role) is the agent's player. */
        const char *role = strcmp(who->role, "agent") == 0 ? "agent" : "player";
        if (!(p = accounts_create(who->player_id, who->name, role))) return;
        /* Shared: it may be another server's player (its token is good here too). */
        if (accounts_shared()) store_pg_find_player(p->id, 0, seen_found, NULL);
    }
    p->last_seen = loop_wall_ms();
    touch(p);
    if (fresh_guest(p)) return;
    p->seen_dirty = 1;
    if (seen_due(p)) accounts_persist(p);
}

static void write_seen(const char *key, void *value, void *arg)
{
    struct player *p = value;
    if (p->seen_dirty && !fresh_guest(p)) accounts_persist(p);
}

void accounts_flush_seen(void)
{
    if (by_id) hmap_each(by_id, write_seen, NULL);
}

/* ---- results ---- */

static void elo(struct player *a, struct player *b, double score_a, double k)
{
    double expect = 1.0 / (1.0 + pow(10.0, (b->rating - a->rating) / 400.0));
    a->rating += k * (score_a - expect);
    b->rating -= k * (score_a - expect);
}

/* Shared: the result as a game_results row, which the database applies to the players' stats
 * and ratings itself (sql/005_shared_accounts.sql). The players' rows were put before it. Its
 * own id makes a row sent again after an outage count once. */
static void put_result(const char *game_id, struct player *const *ps, int seats, int winner,
                       int draw)
{
    json_t *players = json_array();
    for (int i = 0; i < seats; i++)
        json_array_append_new(players, json_string(ps[i]->id));
    store_put("game_results",
              json_pack("{ss,so,si,sb,sf}", "id", game_id, "players", players, "winner", winner,
                        "draw", draw, "created_at", loop_wall_ms()));
}

void accounts_record_result(const char *game_id, const char *const *ids, const char *const *names,
                            int seats, int winner, int draw)
{
    struct player *ps[16];
    if (seats > 16) seats = 16;
    for (int i = 0; i < seats; i++) {
        ps[i] = accounts_find(ids[i]);
        if (!ps[i]) {
            char buf[UUID_LEN + 1];
            int agent = strncmp(ids[i], "agent:", 6) == 0;
            ps[i] = accounts_create(accounts_store_id(ids[i], buf), names[i],
                                    agent ? "agent" : "player");
        }
        if (!ps[i]) return;
        ps[i]->games++;
        if (draw)
            ps[i]->draws++;
        else if (winner == i + 1)
            ps[i]->wins++;
        else if (winner)
            ps[i]->losses++;
    }
    if (draw || winner) {
        double k = seats > 2 ? ELO_K / (seats - 1) : ELO_K;
        for (int i = 0; i < seats; i++)
            for (int j = i + 1; j < seats; j++) {
                if (ps[i] == ps[j]) continue; /* one player in two seats is not rated */
                if (draw)
                    elo(ps[i], ps[j], 0.5, k);
                else if (winner == i + 1)
                    elo(ps[i], ps[j], 1.0, k);
                else if (winner == j + 1)
                    elo(ps[i], ps[j], 0.0, k);
            }
    }
    for (int i = 0; i < seats; i++) {
        idle_unlink(ps[i]); /* it has played: kept, and stored */
        if (!accounts_shared() || !ps[i]->stored) accounts_persist(ps[i]);
    }
    if (accounts_shared()) put_result(game_id, ps, seats, winner, draw);
}

json_t *accounts_player_json(const char *id)
{
    struct player *p = accounts_find(id);
    if (!p) return NULL;
    return json_pack(
        "{ss,ss,s{sI,sI,sI,sI,sf}}", "playerId", strncmp(id, "agent:", 6) == 0 ? id : p->id, "name",
        p->name, "stats", "games", (json_int_t)p->games, "wins", (json_int_t)p->wins, "losses",
        (json_int_t)p->losses, "draws", (json_int_t)p->draws, "rating", round(p->rating * 10) / 10);
}

double accounts_agent_rating(const char *agent)
{
    char id[80];
    snprintf(id, sizeof id, "agent:%s", agent);
    struct player *p = accounts_find(id);
    return p && p->games ? round(p->rating * 10) / 10 : -1;
}

int accounts_init(const struct config *config)
{
    cfg = config;
    idle_timer = evtimer_new(loop_base(), on_idle_timer, NULL);
    if (!idle_timer) return -1;
    idle_arm(); /* guests made before (none today, but the order of start-up may change) */
    return accounts_http_init(config);
}

static void free_value(const char *key, void *v, void *arg)
{
    free(v);
}

void accounts_shutdown(void)
{
    hmap_free_values(by_id, free_value);
    hmap_free(by_username);
    throttle_free(fails_account);
    throttle_free(fails_address);
    throttle_free(registrations);
    throttle_free(guests);
    if (idle_timer) event_free(idle_timer);
    idle_timer = NULL;
    idle.head = idle.tail = NULL;
    by_id = by_username = NULL;
    fails_account = fails_address = registrations = guests = NULL;
}
