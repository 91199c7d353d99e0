/* identity.h - who is behind a socket or a request: a player id, a display name and a role.
 *
 * A plain value that every layer may hold (sessions in src/net, rooms, accounts); it is made
 * and checked by src/account (auth.h: tokens, guests), which is why it lives below both. */
#ifndef MT_IDENTITY_H
#define MT_IDENTITY_H

#include "util.h"

struct identity {
    char player_id[UUID_LEN + 1];
    char name[40];
    char role[12]; /* "player", "admin" or "agent" (an external agent's connection) */
};

#endif
