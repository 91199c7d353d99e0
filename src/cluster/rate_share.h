/* rate_share.h - the per-player rate limits counted across the cluster (--cluster).
 *
 * Each token player_rate.h takes here for a player is written into a batch, "P\n" then lines
 * "<kind> <per_min> <player id>\n", that goes to every other live instance through the relay
 * at most RATE_SHARE_FLUSH_MS after its first line (or at once past 32 KiB), where each line
 * takes the same token from that player's bucket (player_rate_spent). A batch rather than a
 * message per token: a real-time player sends up to 60 inputs a second. Tokens taken while
 * Redis is away stay local (the publish is dropped and counted), as every limit is then an
 * instance's own. Loop thread only. */
#ifndef MT_RATE_SHARE_H
#define MT_RATE_SHARE_H

#include <stddef.h>

#define RATE_SHARE_FLUSH_MS 50

/* Hooks player_rate's spread. Returns 0, or -1 without memory. */
int rate_share_init(void);

/* Applies a batch another instance sent (the body after "P\n"). Lines that do not parse are
 * skipped. */
void rate_share_deliver(const char *body, size_t len);

/* Sends what is batched and unhooks. */
void rate_share_shutdown(void);

#endif
