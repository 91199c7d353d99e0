/* accounts_internal.h - private to the accounts files (src/account/accounts*.c): the player
 * record and what the HTTP routes ask of the index. Nothing outside them includes it; the
 * module's contract with the rest of the server is accounts.h.
 *
 * The accounts are one module in two files, one concern each:
 *   accounts.c       the index of players (loaded from the store, written back), guests that
 *                    never played, the throttles shared across a cluster, results and ratings;
 *   accounts_http.c  the HTTP routes: guests, registration and login (yescrypt on the
 *                    workers), GET /api/players/:id and /api/me.
 * Loop thread only. */
#ifndef MT_ACCOUNTS_INTERNAL_H
#define MT_ACCOUNTS_INTERNAL_H

#include "config.h"
#include "identity.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

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

/* The throttle tables of accounts_spend, by what they count. */
enum spend_table { SPEND_GUEST, SPEND_REGISTER, SPEND_FAIL_ACCOUNT, SPEND_FAIL_ADDRESS, SPENDS };

/* dst = src in lower case, cut to n - 1 bytes: usernames are compared without case. */
void accounts_lower(char *dst, const char *src, size_t n);

/* The player id the store knows: agents ("agent:<name>") map to a name-based UUID, written
 * into buf; other ids are returned as they are. */
const char *accounts_store_id(const char *id, char buf[UUID_LEN + 1]);

/* The player with this id (an agent's "agent:<name>" too), or NULL. The index owns it. */
struct player *accounts_find(const char *id);

/* The account registered under username, in any case, or NULL. The index owns it. */
struct player *accounts_find_username(const char *username);

/* A new player in the index, owned by it (rating 1200, created now). NULL on OOM. */
struct player *accounts_create(const char *id, const char *name, const char *role);

/* Makes p (its username set) found by accounts_find_username. */
void accounts_index_username(struct player *p);

/* Writes p's row to the store (what a shared row may carry: see player_row). */
void accounts_persist(struct player *p);

/* Whether accounts live in PostgreSQL, shared with every server on the database. */
int accounts_shared(void);

/* The players row PostgreSQL returned (rows may be NULL: the database could not be asked)
 * refreshes this server's copy. */
void accounts_refresh(json_t *rows);

/* Takes a token of key in table t, told to the other instances too (accounts_set_spend_hook).
 * Returns 1, or 0 with *retry_after_s (when not NULL) set, as throttle_take. */
int accounts_spend(enum spend_table t, const char *key, int *retry_after_s);

/* Whether key could take a token of table t now, without taking it (throttle_allowed). */
int accounts_spend_allowed(enum spend_table t, const char *key, uint64_t now_ms,
                           int *retry_after_s);

/* Registers the HTTP routes (accounts_init). Returns 0, or -1 when the route table is full. */
int accounts_http_init(const struct config *cfg);

#endif
