/* restore.h - games in progress survive a restart: rebuilt at start-up from the store.
 *
 * restore_preinit registers for the store's list of unfinished games (call it before
 * store_init); restore_run rebuilds them (room_restore) once the catalog and the rooms module
 * are up and before the server listens, waiting for a backend that answers later. Loop
 * thread. */
#ifndef MT_RESTORE_H
#define MT_RESTORE_H

#include "config.h"

/* Does nothing in cluster mode (--cluster): another live instance may own those games. */
int restore_preinit(const struct config *cfg);
void restore_run(void);

/* Writes game id's row as ended: aborted, with why (a game that could not be rebuilt, here or
 * by a cluster's takeover). */
void restore_close_aborted(const char *id, const char *why);

#endif
