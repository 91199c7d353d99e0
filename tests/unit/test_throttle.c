/* Unit tests for throttle.c: token buckets per key, expiry of idle keys, eviction of the least
 * recently used key when the table is full (throttling goes on), retry-after. Time is passed
 * in, so nothing waits. */
#include "tap.h"
#include "throttle.h"

#include <stdio.h>

static int take(struct throttle *t, const char *key, int per_min, uint64_t now)
{
    return throttle_take(t, key, per_min, now, NULL);
}

static void buckets(void)
{
    struct throttle *t = throttle_new(100);
    uint64_t now = 1000;
    int n = 0;
    while (n < 10 && take(t, "a", 5, now))
        n++;
    is_int(n, 5, "a bucket of 5 a minute lets 5 through at once");
    int retry = 0;
    ok(!throttle_take(t, "a", 5, now, &retry), "the 6th is refused");
    is_int(retry, 12, "retry-after: a token comes back every 12 s");
    ok(!throttle_allowed(t, "a", 5, now + 11000, &retry), "still empty after 11 s");
    is_int(retry, 1, "retry-after counts down");
    ok(throttle_allowed(t, "a", 5, now + 12000, NULL), "one token back after 12 s");
    ok(throttle_allowed(t, "b", 5, now, NULL), "another key has its own bucket");
    is_int(throttle_size(t), 1, "a check alone records nothing");
    ok(take(t, "a", 0, now), "per_min 0: no limit");
    ok(take(t, "a", 5, now + 12000) && !take(t, "a", 5, now + 12000), "the refill is spent once");
    throttle_free(t);
}

static void expiry(void)
{
    struct throttle *t = throttle_new(1000);
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "10.0.0.%d", i);
        take(t, key, 5, 1000 + (uint64_t)i);
    }
    is_int(throttle_size(t), 100, "100 keys recorded");
    take(t, "late", 5, 1000 + 59999);
    is_int(throttle_size(t), 101, "none has expired before its minute is over");
    /* A minute after their last use the first keys' buckets are full: they are dropped, oldest
     * first, a bounded number per call. */
    for (int i = 0; i < 10; i++)
        throttle_allowed(t, "x", 5, 1000 + 60000 + 99, NULL);
    is_int(throttle_size(t), 1, "a minute later the idle keys are gone; the recent one stays");
    ok(throttle_allowed(t, "late", 5, 1000 + 60000 + 99, NULL), "and it still has tokens");
    throttle_free(t);
}

static void full_table(void)
{
    struct throttle *t = throttle_new(3);
    uint64_t now = 5000;
    take(t, "old", 1, now); /* empties "old" */
    take(t, "k1", 1, now + 1);
    take(t, "k2", 1, now + 2);
    ok(!take(t, "k2", 1, now + 3), "k2 is throttled");
    ok(!take(t, "k1", 1, now + 4), "k1 is throttled");
    is_int(throttle_size(t), 3, "the table is full");
    /* A new key when full: the least recently used ("old") makes room, and throttling goes
     * on for the keys in use (the table used to stop recording at its limit). */
    ok(take(t, "new", 1, now + 5), "a new key is recorded when the table is full");
    is_int(throttle_size(t), 3, "the table stays at its limit");
    ok(!take(t, "new", 1, now + 6), "and it is throttled like any other");
    ok(!take(t, "k1", 1, now + 7) && !take(t, "k2", 1, now + 8), "the others still are");
    ok(take(t, "old", 1, now + 9), "the evicted key starts afresh");
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "flood-%d", i);
        take(t, key, 1, now + 10);
    }
    is_int(throttle_size(t), 3, "a flood of keys never grows the table past its limit");
    throttle_free(t);
}

int main(void)
{
    buckets();
    expiry();
    full_table();
    return done_testing();
}
