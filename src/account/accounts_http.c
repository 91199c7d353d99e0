/* accounts_http.c - the accounts' HTTP routes: POST /api/auth/guest, /api/auth/register,
 * /api/auth/login (the password hashed on the workers), GET /api/players/:id and /api/me.
 * The index they read and change is accounts.c's (accounts_internal.h). */
#include "accounts.h"

#include "accounts_internal.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "store_pg.h"
#include "util.h"
#include "workers.h"

#include <crypt.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct config *cfg;
static char dummy_hash[160]; /* compared against when a login names no account */

static int is_admin(const char *username)
{
    char list[512], want[33];
    accounts_lower(want, username, sizeof want);
    accounts_lower(list, cfg->admins, sizeof list);
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
    struct player *p = accounts_find(who.player_id);
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
    accounts_lower(key, j->username, sizeof key);
    struct player *p =
        accounts_create(j->player_id, j->username, is_admin(j->username) ? "admin" : "player");
    if (!p) {
        http_respond_error(j->x, 503, "SERVER_BUSY", "out of memory");
        return;
    }
    util_strlcpy(p->username, j->username, sizeof p->username);
    util_strlcpy(p->hash, j->result, sizeof p->hash);
    accounts_index_username(p);
    if (accounts_shared())
        p->stored = 1;
    else
        accounts_persist(p);
    log_msg(LOG_INFO, "account registered", "{ss,ss,ss}", "player", p->id, "username", p->username,
            "role", p->role);
    answer_token(j->x, 201, p);
}

static void registered(json_t *rows, const char *sqlstate, void *arg)
{
    struct hash_job *j = arg;
    char key[33];
    accounts_lower(key, j->username, sizeof key);
    if (sqlstate && strcmp(sqlstate, "23505") == 0) /* the name's unique index: taken */
        http_respond_error(j->x, 409, "CONFLICT", "that username is taken");
    else if (!sqlstate || *sqlstate)
        http_respond_error(j->x, 503, "SERVER_BUSY", "the database is unavailable");
    else if (accounts_find_username(key)) /* a login here read the new row first */
        answer_token(j->x, 201, accounts_find_username(key));
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
    accounts_lower(key, j->username, sizeof key);
    util_uuid(j->player_id);
    if (!*j->result) {
        http_respond_error(j->x, 503, "SERVER_BUSY", "cannot hash the password");
    } else if (accounts_find_username(key)) { /* taken while we were hashing */
        http_respond_error(j->x, 409, "CONFLICT", "that username is taken");
    } else if (accounts_shared()) {
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
    accounts_lower(key, j->username, sizeof key);
    if (accounts_find_username(key)) {
        http_respond_error(x, 409, "CONFLICT", "that username is taken");
        explicit_bzero(j->password, sizeof j->password);
        free(j);
        return;
    }
    /* Each registration costs a yescrypt hash on the workers the agents think on, and an
     * account kept for good: a token per attempt that gets that far. */
    int retry = 0;
    if (!accounts_spend(SPEND_REGISTER, x->peer, &retry)) {
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
    accounts_lower(key, j->username, sizeof key);
    struct player *p = accounts_find_username(key);
    if (p && strcmp(j->result, "ok") == 0) {
        if (is_admin(p->username) && strcmp(p->role, "admin") != 0) {
            util_strlcpy(p->role, "admin", sizeof p->role);
            p->role_dirty = 1;
        }
        p->last_seen = loop_wall_ms();
        accounts_persist(p);
        answer_token(j->x, 200, p);
    } else {
        /* Each failed login spends a token of the account's and of the address's bucket. */
        accounts_spend(SPEND_FAIL_ACCOUNT, key, NULL);
        accounts_spend(SPEND_FAIL_ADDRESS, j->x->peer, NULL);
        log_msg(LOG_INFO, "login failed", "{ss,ss}", "username", j->username, "peer", j->x->peer);
        http_respond_error(j->x, 401, "UNAUTHORIZED", "wrong username or password");
    }
    free(j);
}

/* Checks j's password against the account the index holds for its name. */
static void check_password(struct hash_job *j)
{
    char key[33];
    accounts_lower(key, j->username, sizeof key);
    struct player *p = accounts_find_username(key);
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
    accounts_lower(key, j->username, sizeof key);
    accounts_refresh(rows);
    if ((!sqlstate || *sqlstate) && !accounts_find_username(key)) {
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
    accounts_lower(key, j->username, sizeof key);
    uint64_t now = loop_now_ms();
    int wait_account = 0, wait_address = 0;
    /* Both tables are asked, so that each reports its own wait. */
    int account_ok = accounts_spend_allowed(SPEND_FAIL_ACCOUNT, key, now, &wait_account);
    int address_ok = accounts_spend_allowed(SPEND_FAIL_ADDRESS, x->peer, now, &wait_address);
    if (!account_ok || !address_ok) {
        http_respond_rate_limited(x, wait_account > wait_address ? wait_account : wait_address,
                                  "too many failed logins: wait a minute");
        explicit_bzero(j->password, sizeof j->password);
        free(j);
        return;
    }
    if (accounts_shared()) {
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
    accounts_refresh(rows);
    if (!rows && !accounts_find(r->id) && !r->me)
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
    if (!accounts_shared() || strlen(id) >= sizeof r->id) {
        answer_player(r);
        free(r);
        return;
    }
    char buf[UUID_LEN + 1];
    store_pg_find_player(accounts_store_id(r->id, buf), 0, player_read_done, r);
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

int accounts_http_init(const struct config *config)
{
    cfg = config;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (cd && crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof salt)) {
        const char *h = crypt_r("not a real password", salt, cd);
        if (h) util_strlcpy(dummy_hash, h, sizeof dummy_hash);
    }
    free(cd);
    return http_route(HTTP_POST, "/api/auth/guest", post_guest) |
           http_route(HTTP_POST, "/api/auth/register", post_register) |
           http_route(HTTP_POST, "/api/auth/login", post_login) |
           http_route(HTTP_GET, "/api/players/:id", get_player) |
           http_route(HTTP_GET, "/api/me", get_me);
}
