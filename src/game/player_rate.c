#include "player_rate.h"

#include "loop.h"
#include "throttle.h"

#include <stddef.h>

static struct throttle *tables[PLAYER_RATE_KINDS];
static void (*spread)(enum player_rate_kind, const char *, int);

int player_rate_init(int max_players)
{
    for (int k = 0; k < PLAYER_RATE_KINDS; k++)
        if (!(tables[k] = throttle_new((size_t)(max_players > 0 ? max_players : 1)))) return -1;
    return 0;
}

void player_rate_free(void)
{
    for (int k = 0; k < PLAYER_RATE_KINDS; k++) {
        throttle_free(tables[k]);
        tables[k] = NULL;
    }
    spread = NULL;
}

int player_rate_take(enum player_rate_kind kind, const char *player, int per_min)
{
    if (per_min <= 0) return 1;
    if (!throttle_take(tables[kind], player, per_min, loop_now_ms(), NULL)) return 0;
    if (spread) spread(kind, player, per_min);
    return 1;
}

void player_rate_spent(enum player_rate_kind kind, const char *player, int per_min)
{
    if ((unsigned)kind < PLAYER_RATE_KINDS && per_min > 0)
        throttle_take(tables[kind], player, per_min, loop_now_ms(), NULL);
}

void player_rate_set_spread(void (*fn)(enum player_rate_kind, const char *, int))
{
    spread = fn;
}
