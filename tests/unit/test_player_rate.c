/* Unit tests for player_rate.c: buckets per player and kind, every take handed to the spread
 * hook, tokens spent elsewhere taken here. */
#include "player_rate.h"
#include "tap.h"

#include <string.h>

static int spread_calls;
static char spread_player[80];

static void on_spread(enum player_rate_kind kind, const char *player, int per_min)
{
    spread_calls++;
    snprintf(spread_player, sizeof spread_player, "%d %d %s", (int)kind, per_min, player);
}

int main(void)
{
    ok(player_rate_init(16) == 0, "tables made");
    player_rate_set_spread(on_spread);
    int took = 0;
    for (int i = 0; i < 5; i++)
        took += player_rate_take(PLAYER_RATE_CHAT, "p1", 3);
    is_int(took, 3, "a bucket of 3 gives 3 tokens");
    is_int(spread_calls, 3, "each token taken is spread");
    is_str(spread_player, "1 3 p1", "with its kind, size and player");
    ok(player_rate_take(PLAYER_RATE_INPUT, "p1", 3), "another kind has a bucket of its own");
    ok(player_rate_take(PLAYER_RATE_CHAT, "p2", 3), "so has another player");
    ok(player_rate_take(PLAYER_RATE_ROOMS, "p1", 0), "no limit when the size is 0");

    spread_calls = 0;
    for (int i = 0; i < 3; i++)
        player_rate_spent(PLAYER_RATE_CHAT, "p3", 3);
    ok(!player_rate_take(PLAYER_RATE_CHAT, "p3", 3), "tokens spent elsewhere are gone here");
    is_int(spread_calls, 0, "and are not spread again");
    player_rate_spent((enum player_rate_kind)7, "p4", 3); /* an unknown kind is ignored */
    ok(player_rate_take(PLAYER_RATE_CHAT, "p4", 3), "an unknown kind spends nothing");
    player_rate_free();
    return done_testing();
}
