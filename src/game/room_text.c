/* room_text.c - a room's events as lines of text, for the text bridge (text_bridge.h): the
 * game's describe, run on the room's own Lua state. */
#include "room.h"
#include "room_internal.h"

#include <stdlib.h>

int room_describe(struct room *r, int seat, const char *event_json, char **line)
{
    *line = NULL;
    /* A room that has not started, or has ended and let its state go, has no Lua to ask. */
    if (!r->vm || seat < 0 || seat > r->nseats) return -1;
    char err[600];
    enum vm_status st;
    TIMED(r, st = referee_describe(&r->ref, seat, event_json, line, err, sizeof err));
    if (st == VM_OK) return 0;
    room_script_failure_report(r, st, "describe", err);
    return -1;
}
