#include "accounts.h"

#include "hmap.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "session.h"
#include "store.h"
#include "store_pg.h"
#include "throttle.h"
#include "util.h"
#include "workers.h"

#include <crypt.h>
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

struct player {
    char id[UUID_LEN + 1];
    char username[33];
    char name[64];
    char hash[160];
    char role[12];
    long games, wins, losses, draws;
    double rating;
    double created, last_seen;
    int stored;       /* written to the store at least once */
    int written_here; /* written by this process: written_ms is set */
    int seen_dirty;   /* last_seen changed since the last write */
    int role_dirty;   /* shared: role changed here (an admin named by --admins logged in) */
    uint64_t written_ms;
    /* A fresh guest (see fresh_guest) sits in the idle list, least recently active first. */
    uint64_t active_ms;
    struct player *idle_prev, *idle_next;
    int idle_listed;
};

static const struct config *cfg;
static struct hmap *by_id, *by_username;
static struct throttle *fails_account, *fails_address, *registrations, *guests;
static struct {
    struct player *head, *tail;
} idle;
static struct event *idle_timer;
static char dummy_hash[160]; /* compared against when a login names no account */

/* ---- the index ---- */

static void lower(char *dst, const char *src, size_t n)
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

/* The player id the store knows: agents ("agent:<name>") map to a name-based UUID. */
static const char *store_id(const char *id, char buf[UUID_LEN + 1])
{
    if (strncmp(id, "agent:", 6) == 0) {
        agent_uuid(id + 6, buf);
        return buf;
    }
    return id;
}

static struct player *find(const char *id)
{
    char buf[UUID_LEN + 1];
    return hmap_get(by_id, store_id(id, buf));
}

static struct player *create(const char *id, const char *name, const char *role)
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
static int shared(void)
{
    return store_pg_active();
}

/* The row of p the store is given. Shared, it never carries stats and rating (the database
 * computes them from game_results), nor username and password hash (written once, by the
 * registration itself), and role and creation time only for a row this server creates (or a
 * role it changed): a whole row from memory would undo what other servers wrote meanwhile. */
static json_t *player_row(const struct player *p)
{
    if (shared()) {
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

static void persist(struct player *p)
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
    if (!p && !(p = create(id, "", "player"))) return;
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
        lower(key, s, sizeof key);
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
static void refresh(json_t *rows)
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

enum spend_table { SPEND_GUEST, SPEND_REGISTER, SPEND_FAIL_ACCOUNT, SPEND_FAIL_ADDRESS, SPENDS };
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
static int spend(enum spend_table t, const char *key, int *retry_after_s)
{
    int ok = throttle_take(spend_throttle(t), key, spend_rate(t), loop_now_ms(), retry_after_s);
    if (ok && spend_hook) spend_hook(spend_names[t], key);
    return ok;
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
    return spend(SPEND_GUEST, peer, retry_after_s);
}

void accounts_left(const struct identity *who)
{
    struct player *p = find(who->player_id);
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
    refresh(rows);
}

void accounts_seen(const struct identity *who)
{
    struct player *p = find(who->player_id);
    if (!p) {
        if (!(p = create(who->player_id, who->name, "player"))) return;
        /* Shared: it may be another server's player (its token is good here too). */
        if (shared()) store_pg_find_player(p->id, 0, seen_found, NULL);
    }
    p->last_seen = loop_wall_ms();
    touch(p);
    if (fresh_guest(p)) return;
    p->seen_dirty = 1;
    if (seen_due(p)) persist(p);
}

static void write_seen(const char *key, void *value, void *arg)
{
    struct player *p = value;
    if (p->seen_dirty && !fresh_guest(p)) persist(p);
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
        ps[i] = find(ids[i]);
        if (!ps[i]) {
            char buf[UUID_LEN + 1];
            int agent = strncmp(ids[i], "agent:", 6) == 0;
            ps[i] = create(store_id(ids[i], buf), names[i], agent ? "agent" : "player");
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
        if (!shared() || !ps[i]->stored) persist(ps[i]);
    }
    if (shared()) put_result(game_id, ps, seats, winner, draw);
}

json_t *accounts_player_json(const char *id)
{
    struct player *p = find(id);
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
    struct player *p = find(id);
    return p && p->games ? round(p->rating * 10) / 10 : -1;
}

/* ---- HTTP ---- */

static int is_admin(const char *username)
{
    char list[512], want[33];
    lower(want, username, sizeof want);
    lower(list, cfg->admins, sizeof list);
    for (char *tok = strtok(list, ", "); tok; tok = strtok(NULL, ", "))
        if (strcmp(tok, want) == 0) return 1;
    return 0;
}

static void answer_token(struct http_exchange *x, int status, const struct player *p)
{
    struct identity who;
    util_strlcpy(who.player_id, p->id, sizeof who.player_id);
    util_strlcpy(who.name, p->name, sizeof who.name);
    util_strlcpy(who.role, p->role, sizeof who.role);
    char *token = auth_issue(&who, 0);
    if (!token) {
        http_respond_error(x, 503, "SERVER_BUSY", "cannot issue a token");
        return;
    }
    http_respond_json(x, status,
                      json_pack("{ss,ss,ss}", "token", token, "playerId", p->id, "name", p->name));
    free(token);
}

static void post_guest(struct http_exchange *x)
{
    if (!cfg->allow_guests) {
        http_respond_error(x, 403, "FORBIDDEN", "guest accounts are disabled: register or log in");
        return;
    }
    int retry = 0;
    if (!accounts_admit_guest(x->peer, &retry)) {
        http_respond_rate_limited(x, retry, "too many new guests from this address: wait a minute");
        return;
    }
    struct identity who;
    auth_new_guest(&who);
    accounts_seen(&who);
    struct player *p = find(who.player_id);
    if (p)
        answer_token(x, 200, p);
    else
        http_respond_error(x, 503, "SERVER_BUSY", "out of memory");
}

/* Username 3-32 of [A-Za-z0-9_-]; password 8-128 bytes. Returns NULL or what is wrong. */
static const char *check_credentials(json_t *body, const char **user, const char **pass)
{
    *user = json_string_value(json_object_get(body, "username"));
    *pass = json_string_value(json_object_get(body, "password"));
    if (!*user || !*pass) return "want {username: string, password: string}";
    size_t n = strlen(*user);
    if (n < 3 || n > 32) return "username must be 3 to 32 characters";
    for (size_t i = 0; i < n; i++) {
        char c = (*user)[i];
        if (!isalnum((unsigned char)c) && c != '_' && c != '-')
            return "username may hold letters, digits, _ and -";
    }
    size_t pl = strlen(*pass);
    if (pl < 8 || pl > 128) return "password must be 8 to 128 characters";
    return NULL;
}

static const char *user_or_empty(json_t *body)
{
    const char *u = json_string_value(json_object_get(body, "username"));
    return u ? u : "";
}

static const char *pass_or_empty(json_t *body)
{
    const char *p = json_string_value(json_object_get(body, "password"));
    return p ? p : "";
}

struct hash_job {
    struct http_exchange *x;
    char username[33];
    char password[129];
    char stored[160]; /* login: the hash to check against */
    char result[160]; /* register: the new hash; login: "ok" when it matched */
    int login;
    char player_id[UUID_LEN + 1];
};

static void hash_work(void *arg)
{
    struct hash_job *j = arg;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd) return;
    if (j->login) {
        const char *h = crypt_r(j->password, j->stored, cd);
        size_t n = strlen(j->stored);
        /* Constant-time comparison: timing must not reveal how much of the hash matched. */
        int diff = !h || strlen(h) != n;
        for (size_t i = 0; h && i < n && i < strlen(h); i++)
            diff |= h[i] ^ j->stored[i];
        if (!diff) util_strlcpy(j->result, "ok", sizeof j->result);
    } else {
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof salt)) {
            const char *h = crypt_r(j->password, salt, cd);
            if (h && h[0] == '$') util_strlcpy(j->result, h, sizeof j->result);
        }
    }
    explicit_bzero(j->password, sizeof j->password);
    free(cd);
}

/* The account of j (its hash computed, its id chosen) enters the index and is answered 201.
 * Embedded, its row is put here; shared, PostgreSQL has it already. */
static void register_answer(struct hash_job *j)
{
    char key[33];
    lower(key, j->username, sizeof key);
    struct player *p =
        create(j->player_id, j->username, is_admin(j->username) ? "admin" : "player");
    if (!p) {
        http_respond_error(j->x, 503, "SERVER_BUSY", "out of memory");
        return;
    }
    util_strlcpy(p->username, j->username, sizeof p->username);
    util_strlcpy(p->hash, j->result, sizeof p->hash);
    hmap_put(by_username, key, p);
    if (shared())
        p->stored = 1;
    else
        persist(p);
    log_msg(LOG_INFO, "account registered", "{ss,ss,ss}", "player", p->id, "username", p->username,
            "role", p->role);
    answer_token(j->x, 201, p);
}

static void registered(json_t *rows, const char *sqlstate, void *arg)
{
    struct hash_job *j = arg;
    char key[33];
    lower(key, j->username, sizeof key);
    if (sqlstate && strcmp(sqlstate, "23505") == 0) /* the name's unique index: taken */
        http_respond_error(j->x, 409, "CONFLICT", "that username is taken");
    else if (!sqlstate || *sqlstate)
        http_respond_error(j->x, 503, "SERVER_BUSY", "the database is unavailable");
    else if (hmap_get(by_username, key)) /* a login here read the new row first */
        answer_token(j->x, 201, hmap_get(by_username, key));
    else
        register_answer(j);
    free(j);
}

/* Shared: the insert decides. The unique index on lower(username) refuses a name taken on
 * any server, and nothing is answered before PostgreSQL has committed the row. */
static const char insert_account_sql[] =
    "INSERT INTO players (id, username, name, password_hash, role, created_at, last_seen_at)"
    " VALUES ($1::uuid, $2, $2, $3, $4, now(), now())";

static void register_done(void *arg)
{
    struct hash_job *j = arg;
    char key[33];
    lower(key, j->username, sizeof key);
    util_uuid(j->player_id);
    if (!*j->result) {
        http_respond_error(j->x, 503, "SERVER_BUSY", "cannot hash the password");
    } else if (hmap_get(by_username, key)) { /* taken while we were hashing */
        http_respond_error(j->x, 409, "CONFLICT", "that username is taken");
    } else if (shared()) {
        const char *params[] = {j->player_id, j->username, j->result,
                                is_admin(j->username) ? "admin" : "player"};
        store_pg_call(insert_account_sql, 4, params, registered, j);
        return;
    } else {
        register_answer(j);
    }
    free(j);
}

static struct hash_job *start_job(struct http_exchange *x, int login)
{
    json_t *body = http_body_object(x);
    if (!body) return NULL;
    const char *user, *pass;
    const char *bad = check_credentials(body, &user, &pass);
    /* A login is judged by the stored hash alone: a malformed name or password is just wrong. */
    if (login && *user_or_empty(body) && *pass_or_empty(body) &&
        strlen(pass_or_empty(body)) <= 128 && strlen(user_or_empty(body)) <= 32) {
        bad = NULL;
        user = user_or_empty(body);
        pass = pass_or_empty(body);
    }
    if (bad) {
        http_respond_error(x, 400, "BAD_MESSAGE", bad);
        json_decref(body);
        return NULL;
    }
    struct hash_job *j = calloc(1, sizeof *j);
    if (!j) {
        http_respond_error(x, 503, "SERVER_BUSY", "out of memory");
        json_decref(body);
        return NULL;
    }
    j->x = x;
    j->login = login;
    util_strlcpy(j->username, user, sizeof j->username);
    util_strlcpy(j->password, pass, sizeof j->password);
    json_decref(body);
    return j;
}

static void submit(struct hash_job *j, void (*done)(void *))
{
    if (workers_submit(hash_work, done, j) < 0) {
        http_respond_error(j->x, 503, "SERVER_BUSY", "server is shutting down");
        explicit_bzero(j->password, sizeof j->password);
        free(j);
    }
}

static void post_register(struct http_exchange *x)
{
    struct hash_job *j = start_job(x, 0);
    if (!j) return;
    char key[33];
    lower(key, j->username, sizeof key);
    if (hmap_get(by_username, key)) {
        http_respond_error(x, 409, "CONFLICT", "that username is taken");
        explicit_bzero(j->password, sizeof j->password);
        free(j);
        return;
    }
    /* Each registration costs a yescrypt hash on the workers the agents think on, and an
     * account kept for good: a token per attempt that gets that far. */
    int retry = 0;
    if (!spend(SPEND_REGISTER, x->peer, &retry)) {
        http_respond_rate_limited(x, retry, "too many registrations from this address");
        explicit_bzero(j->password, sizeof j->password);
        free(j);
        return;
    }
    submit(j, register_done);
}

static void login_done(void *arg)
{
    struct hash_job *j = arg;
    char key[33];
    lower(key, j->username, sizeof key);
    struct player *p = hmap_get(by_username, key);
    if (p && strcmp(j->result, "ok") == 0) {
        if (is_admin(p->username) && strcmp(p->role, "admin") != 0) {
            util_strlcpy(p->role, "admin", sizeof p->role);
            p->role_dirty = 1;
        }
        p->last_seen = loop_wall_ms();
        persist(p);
        answer_token(j->x, 200, p);
    } else {
        /* Each failed login spends a token of the account's and of the address's bucket. */
        spend(SPEND_FAIL_ACCOUNT, key, NULL);
        spend(SPEND_FAIL_ADDRESS, j->x->peer, NULL);
        log_msg(LOG_INFO, "login failed", "{ss,ss}", "username", j->username, "peer", j->x->peer);
        http_respond_error(j->x, 401, "UNAUTHORIZED", "wrong username or password");
    }
    free(j);
}

/* Checks j's password against the account the index holds for its name. */
static void check_password(struct hash_job *j)
{
    char key[33];
    lower(key, j->username, sizeof key);
    struct player *p = hmap_get(by_username, key);
    /* An unknown name is checked against a dummy hash, so timing does not say which exist. */
    util_strlcpy(j->stored, p && *p->hash ? p->hash : dummy_hash, sizeof j->stored);
    submit(j, login_done);
}

/* Shared: every login reads the account from PostgreSQL (registered on another server, or
 * changed there since this server read it), so the index is never trusted for credentials
 * while the database answers. Down, a name the index knows is checked against it; another
 * cannot be judged. */
static void login_found(json_t *rows, const char *sqlstate, void *arg)
{
    struct hash_job *j = arg;
    char key[33];
    lower(key, j->username, sizeof key);
    refresh(rows);
    if ((!sqlstate || *sqlstate) && !hmap_get(by_username, key)) {
        http_respond_error(j->x, 503, "SERVER_BUSY", "the database is unavailable");
        explicit_bzero(j->password, sizeof j->password);
        free(j);
        return;
    }
    check_password(j);
}

static void post_login(struct http_exchange *x)
{
    struct hash_job *j = start_job(x, 1);
    if (!j) return;
    char key[33];
    lower(key, j->username, sizeof key);
    uint64_t now = loop_now_ms();
    int wait_account = 0, wait_address = 0;
    /* Both tables are asked, so that each reports its own wait. */
    int account_ok =
        throttle_allowed(fails_account, key, LOGIN_FAILS_PER_ACCOUNT, now, &wait_account);
    int address_ok =
        throttle_allowed(fails_address, x->peer, LOGIN_FAILS_PER_ADDRESS, now, &wait_address);
    if (!account_ok || !address_ok) {
        http_respond_rate_limited(x, wait_account > wait_address ? wait_account : wait_address,
                                  "too many failed logins: wait a minute");
        explicit_bzero(j->password, sizeof j->password);
        free(j);
        return;
    }
    if (shared()) {
        store_pg_find_player(j->username, 1, login_found, j);
        return;
    }
    check_password(j);
}

/* A GET of one player: /api/players/:id, or /api/me (who is set). */
struct player_read {
    struct http_exchange *x;
    char id[80];
    int me;
    struct identity who;
};

static void answer_player(struct player_read *r)
{
    json_t *p = accounts_player_json(r->id);
    if (r->me && !p)
        p = json_pack("{ss,ss,s{}}", "playerId", r->who.player_id, "name", r->who.name, "stats");
    if (r->me) json_object_set_new(p, "role", json_string(r->who.role));
    if (p)
        http_respond_json(r->x, 200, p);
    else
        http_respond_error(r->x, 404, "NOT_FOUND", "no such player");
}

static void player_read_done(json_t *rows, const char *sqlstate, void *arg)
{
    struct player_read *r = arg;
    refresh(rows);
    if (!rows && !find(r->id) && !r->me)
        http_respond_error(r->x, 503, "SERVER_BUSY", "the database is unavailable");
    else
        answer_player(r);
    free(r);
}

/* Shared, the answer waits for PostgreSQL's row (after this server's own queued writes): the
 * stats every server wrote. From this server's copy when the database cannot be asked. */
static void read_player(struct http_exchange *x, const char *id, const struct identity *me)
{
    struct player_read *r = calloc(1, sizeof *r);
    if (!r) {
        http_respond_error(x, 503, "SERVER_BUSY", "out of memory");
        return;
    }
    r->x = x;
    util_strlcpy(r->id, id, sizeof r->id);
    if (me) {
        r->me = 1;
        r->who = *me;
    }
    if (!shared() || strlen(id) >= sizeof r->id) {
        answer_player(r);
        free(r);
        return;
    }
    char buf[UUID_LEN + 1];
    store_pg_find_player(store_id(r->id, buf), 0, player_read_done, r);
}

static void get_me(struct http_exchange *x)
{
    struct identity who;
    char why[128];
    if (auth_bearer(x->authorization, &who, why, sizeof why) < 0) {
        http_respond_error(x, 401, "UNAUTHORIZED", why);
        return;
    }
    read_player(x, who.player_id, &who);
}

static void get_player(struct http_exchange *x)
{
    read_player(x, http_param(x, "id"), NULL);
}

int accounts_init(const struct config *config)
{
    cfg = config;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (cd && crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof salt)) {
        const char *h = crypt_r("not a real password", salt, cd);
        if (h) util_strlcpy(dummy_hash, h, sizeof dummy_hash);
    }
    free(cd);
    idle_timer = evtimer_new(loop_base(), on_idle_timer, NULL);
    if (!idle_timer) return -1;
    idle_arm(); /* guests made before (none today, but the order of start-up may change) */
    return http_route(HTTP_POST, "/api/auth/guest", post_guest) |
           http_route(HTTP_POST, "/api/auth/register", post_register) |
           http_route(HTTP_POST, "/api/auth/login", post_login) |
           http_route(HTTP_GET, "/api/players/:id", get_player) |
           http_route(HTTP_GET, "/api/me", get_me);
}

static void free_value(const char *key, void *v, void *arg)
{
    free(v);
}

void accounts_shutdown(void)
{
    if (by_id) hmap_each(by_id, free_value, NULL);
    hmap_free(by_id);
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
