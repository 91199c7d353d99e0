#include "rate_limit.h"

int rate_limit_take(struct rate_limit *rl, int per_min, uint64_t now_ms)
{
    if (rl->last_ms == 0) {
        rl->tokens = per_min;
        rl->last_ms = now_ms;
    }
    rl->tokens += (double)(now_ms - rl->last_ms) * per_min / 60000.0;
    if (rl->tokens > per_min) rl->tokens = per_min;
    rl->last_ms = now_ms;
    if (rl->tokens < 1.0) return 0;
    rl->tokens -= 1.0;
    return 1;
}
