/* throttle.h - token buckets per key (a client address, an account) that forget idle keys.
 *
 * Each key has a bucket of per_min tokens that refills at per_min tokens a minute, so a bucket
 * left alone for a minute is full again: no different from having no bucket. Such entries are
 * dropped, oldest first, on each later call, so the table holds only the keys used within the
 * last minute. When the table is full (max_keys), the key used least recently is evicted to
 * make room: a flood of new keys costs the oldest ones their history, but throttling never
 * stops for the keys being used. per_min may change from one call to the next (a reloaded
 * setting); per_min <= 0 means no limit.
 *
 * Time is given by the caller (a monotonic clock in ms), so tests need no waiting. One owner
 * thread per table. */
#ifndef MT_THROTTLE_H
#define MT_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

struct throttle;

/* An empty table for at most max_keys keys (at least 1). NULL on OOM. */
struct throttle *throttle_new(size_t max_keys);
void throttle_free(struct throttle *t);

/* Returns 1 when key could spend a token now, without spending it; else 0, with
 * *retry_after_s (when not NULL) set to the whole seconds until it could (at least 1). */
int throttle_allowed(struct throttle *t, const char *key, int per_min, uint64_t now_ms,
                     int *retry_after_s);

/* Spends one token of key's bucket and returns 1; returns 0 when the bucket is empty, with
 * *retry_after_s set as throttle_allowed does. A key not in the table starts full. Under OOM
 * the attempt is allowed (returns 1) and not recorded. */
int throttle_take(struct throttle *t, const char *key, int per_min, uint64_t now_ms,
                  int *retry_after_s);

/* How many keys the table holds. */
size_t throttle_size(const struct throttle *t);

#endif
