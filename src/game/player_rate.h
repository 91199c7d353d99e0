/* player_rate.h - the protocol's rate limits per player, across the cluster.
 *
 * Inputs, chat lines and new rooms are limited per player (docs/protocol.md, "Rate limits"):
 * every socket of one player, on this instance or (with --cluster) any other, draws from the
 * same bucket. Each kind is a throttle.h table keyed by the player's id, so the buckets of
 * players idle for a minute are forgotten. A token taken here is handed to the spread hook
 * (relay.c batches them to every other instance, which applies them with player_rate_spent);
 * a token taken elsewhere costs the bucket here the same. So a player with sockets on two
 * instances gets the limit once, not twice, give or take what the relay has not carried yet
 * (a fraction of a second's worth). Loop thread only. */
#ifndef MT_PLAYER_RATE_H
#define MT_PLAYER_RATE_H

enum player_rate_kind {
    PLAYER_RATE_INPUT, /* player_input, command, hand_gm, agent_move */
    PLAYER_RATE_CHAT,  /* chat_message */
    PLAYER_RATE_ROOMS, /* create_game */
    PLAYER_RATE_KINDS
};

/* Tables for at most max_players players each. Returns 0, or -1 without memory. */
int player_rate_init(int max_players);
void player_rate_free(void);

/* Takes one token of player's bucket of kind, per_min its size and refill a minute (<= 0: no
 * limit). Returns 1 when there was one (and hands the take to the spread hook), else 0. */
int player_rate_take(enum player_rate_kind kind, const char *player, int per_min);

/* A token another instance took for player: taken here too, if the bucket has one. */
void player_rate_spent(enum player_rate_kind kind, const char *player, int per_min);

/* Who hears of each token taken here (NULL: nobody). */
void player_rate_set_spread(void (*fn)(enum player_rate_kind kind, const char *player,
                                       int per_min));

#endif
