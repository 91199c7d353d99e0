#include "throttle.h"

#include "hmap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A bucket refills completely within a minute whatever its rate (its capacity is a minute's
 * worth), so an entry untouched that long carries nothing a fresh one would not. */
#define WINDOW_MS 60000
/* Expired entries dropped per call at most, so one call never pays for a minute of them. */
#define EXPIRE_PER_CALL 64

struct bucket {
    char *key;
    double tokens;
    uint64_t last_ms;
    struct bucket *prev, *next; /* the table's list, least recently used first */
};

struct throttle {
    struct hmap *keys;
    struct bucket *head, *tail;
    size_t max_keys;
};

struct throttle *throttle_new(size_t max_keys)
{
    struct throttle *t = calloc(1, sizeof *t);
    if (!t || !(t->keys = hmap_new())) {
        free(t);
        return NULL;
    }
    t->max_keys = max_keys ? max_keys : 1;
    return t;
}

static void unlink_bucket(struct throttle *t, struct bucket *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        t->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        t->tail = b->prev;
    b->prev = b->next = NULL;
}

static void append_bucket(struct throttle *t, struct bucket *b)
{
    b->prev = t->tail;
    b->next = NULL;
    if (t->tail)
        t->tail->next = b;
    else
        t->head = b;
    t->tail = b;
}

static void drop(struct throttle *t, struct bucket *b)
{
    unlink_bucket(t, b);
    hmap_del(t->keys, b->key);
    free(b->key);
    free(b);
}

void throttle_free(struct throttle *t)
{
    if (!t) return;
    while (t->head)
        drop(t, t->head);
    hmap_free(t->keys);
    free(t);
}

size_t throttle_size(const struct throttle *t)
{
    return hmap_size(t->keys);
}

static void expire(struct throttle *t, uint64_t now_ms)
{
    for (int n = 0; n < EXPIRE_PER_CALL && t->head; n++) {
        if (now_ms < t->head->last_ms || now_ms - t->head->last_ms < WINDOW_MS) return;
        drop(t, t->head);
    }
}

/* The tokens b holds at now_ms: what it had plus the refill since, capped at per_min. */
static double tokens_at(const struct bucket *b, int per_min, uint64_t now_ms)
{
    uint64_t elapsed = now_ms > b->last_ms ? now_ms - b->last_ms : 0;
    double tokens = b->tokens + (double)elapsed * per_min / WINDOW_MS;
    return tokens > per_min ? per_min : tokens;
}

static int refuse(double tokens, int per_min, int *retry_after_s)
{
    if (retry_after_s) {
        double ms = (1.0 - tokens) * WINDOW_MS / per_min;
        int secs = (int)ceil(ms / 1000.0 - 1e-9); /* 1000.0000001 ms is a second, not two */
        *retry_after_s = secs > 0 ? secs : 1;
    }
    return 0;
}

int throttle_allowed(struct throttle *t, const char *key, int per_min, uint64_t now_ms,
                     int *retry_after_s)
{
    if (per_min <= 0) return 1;
    expire(t, now_ms);
    struct bucket *b = hmap_get(t->keys, key);
    double tokens = b ? tokens_at(b, per_min, now_ms) : per_min;
    return tokens >= 1.0 ? 1 : refuse(tokens, per_min, retry_after_s);
}

/* A new full bucket for key, evicting the least recently used one when the table is full. */
static struct bucket *add(struct throttle *t, const char *key, int per_min, uint64_t now_ms)
{
    if (hmap_size(t->keys) >= t->max_keys && t->head) drop(t, t->head);
    struct bucket *b = calloc(1, sizeof *b);
    if (!b || !(b->key = strdup(key)) || hmap_put(t->keys, key, b) < 0) {
        if (b) free(b->key);
        free(b);
        return NULL;
    }
    b->tokens = per_min;
    b->last_ms = now_ms;
    append_bucket(t, b);
    return b;
}

int throttle_take(struct throttle *t, const char *key, int per_min, uint64_t now_ms,
                  int *retry_after_s)
{
    if (per_min <= 0) return 1;
    expire(t, now_ms);
    struct bucket *b = hmap_get(t->keys, key);
    if (!b) {
        b = add(t, key, per_min, now_ms);
        if (!b) return 1;
    } else {
        b->tokens = tokens_at(b, per_min, now_ms);
        if (now_ms > b->last_ms) b->last_ms = now_ms;
        unlink_bucket(t, b);
        append_bucket(t, b);
    }
    if (b->tokens < 1.0) return refuse(b->tokens, per_min, retry_after_s);
    b->tokens -= 1.0;
    return 1;
}
