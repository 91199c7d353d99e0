/* auth.h - identities and their tokens (JWT, HS256 only).
 *
 * A token carries sub (the player id), name, role ("player", "admin" or "agent"), iat and exp.
 * An "agent" token (POST /api/admin/agents) names an external agent: sub is the agent's player
 * id (accounts_agent_id), name the agent's name. Tokens are verified here, never by trusting
 * libjwt alone: libjwt 1.10 accepts whatever algorithm the token names and does not look at exp,
 * so auth_verify pins HS256 and checks exp itself. */
#ifndef MT_AUTH_H
#define MT_AUTH_H

#include "config.h"
#include "identity.h"

#include <stddef.h>

/* Takes the secret from cfg, or makes a random one for this process (and says so in the log)
 * when none is configured. Returns 0, or -1 when no randomness is available. */
int auth_init(const struct config *cfg);

/* Signs a token for id that expires ttl seconds from now (ttl <= 0: the configured ttl).
 * Returns a malloc'd string the caller frees, or NULL on failure. */
char *auth_issue(const struct identity *id, long ttl);

/* Verifies token: signature, alg == HS256, exp in the future, sub a UUID. On success fills
 * *out and returns 0; otherwise returns -1 and writes the reason into why[whylen]. */
int auth_verify(const char *token, struct identity *out, char *why, size_t whylen);

/* Verifies an "Authorization: Bearer <token>" header value. Returns 0 with *out filled, or -1
 * with the reason in why. */
int auth_bearer(const char *authorization, struct identity *out, char *why, size_t whylen);

/* Makes a fresh guest identity: new player id, name "Guest-xxxx", role "player". */
void auth_new_guest(struct identity *out);

/* Releases the secret. */
void auth_free(void);

#endif
