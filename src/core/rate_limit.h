/* rate_limit.h - one token bucket, for a limit per connection (inputs, chat, rooms created).
 *
 * The bucket holds at most per_min tokens and refills continuously at per_min tokens a minute;
 * a bucket not used before starts full. It is a plain struct embedded in its owner (zeroed
 * means never used), with no allocation. throttle.h holds buckets per key instead (a client
 * address, an account), for limits that must outlive a connection. Time is given by the caller
 * (a monotonic clock in ms). One owner thread per bucket. */
#ifndef MT_RATE_LIMIT_H
#define MT_RATE_LIMIT_H

#include <stdint.h>

struct rate_limit {
    double tokens;
    uint64_t last_ms;
};

/* Takes one token when the bucket has one (returns 1), else returns 0. per_min is the
 * capacity and the refill per minute. */
int rate_limit_take(struct rate_limit *rl, int per_min, uint64_t now_ms);

#endif
