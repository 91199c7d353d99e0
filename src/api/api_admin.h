/* api_admin.h - operator endpoints, for tokens with role "admin" (--admins names them).
 *
 *   GET  /api/admin/rooms             every room, private ones too, with counts
 *   POST /api/admin/rooms/:id/end     ends a room now (result reason "aborted")
 *   POST /api/admin/reload            rescans games/ and agents/ at once
 *   POST /api/admin/agents            issues a token for an external agent {name} (room_external.c)
 *
 * A missing or bad token answers 401, a valid non-admin token 403. Every call that changes
 * something is written to the log with the admin's player id ("audit": true). */
#ifndef MT_API_ADMIN_H
#define MT_API_ADMIN_H

/* Registers the routes above. Returns 0, or non-zero when the route table is full. */
int api_admin_init(void);

#endif
