/* Unit tests for rate_limit.c: a bucket starts full, refills continuously at per_min a minute,
 * never holds more than per_min. Time is passed in, so nothing waits. */
#include "rate_limit.h"
#include "tap.h"

int main(void)
{
    struct rate_limit rl = {0};
    uint64_t now = 5000;
    int n = 0;
    while (n < 20 && rate_limit_take(&rl, 6, now))
        n++;
    is_int(n, 6, "a fresh bucket of 6 a minute lets 6 through at once");
    ok(!rate_limit_take(&rl, 6, now + 9999), "empty: nothing back before 10 s");
    ok(rate_limit_take(&rl, 6, now + 10000), "one token back after 10 s");
    ok(!rate_limit_take(&rl, 6, now + 10000), "and only one");

    now += 10u * 60000; /* ten minutes idle: the bucket is full, not 60 tokens deep */
    n = 0;
    while (n < 20 && rate_limit_take(&rl, 6, now))
        n++;
    is_int(n, 6, "refill stops at per_min");
    return done_testing();
}
