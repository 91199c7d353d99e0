/* room_gm.c - the game master's seat handed to another player (docs/protocol.md, hand_gm).
 *
 * The handover changes who the referee treats as the game master, so it is an input of the
 * game: recorded in the inputs (source REPLAY_HANDOVER, the giver's seat, {"gm": seat}) with the
 * state's hash, where a replay and a rebuilt room make it again at the same point. It is also
 * logged as a gm_changed event, so every client sees it under a seq. */
#include "json_text.h"
#include "replay.h"
#include "room_internal.h"

#include <stdio.h>

/* Why seat cannot receive the game master's seat of r held by from, or NULL: code and msg. */
static const char *refuse_target(const struct room *r, int from, int seat, char *msg, size_t msglen)
{
    if (seat < 1 || seat > r->nseats) {
        snprintf(msg, msglen, "no seat %d in this game", seat);
        return "NOT_FOUND";
    }
    if (seat == from) {
        snprintf(msg, msglen, "seat %d is the game master already", seat);
        return "BAD_MESSAGE";
    }
    if (r->seats[seat].kind != SEAT_HUMAN) {
        snprintf(msg, msglen, "seat %d is not held by a human player", seat);
        return "BAD_MESSAGE";
    }
    return NULL;
}

/* Why s may not hand r's game master's seat over now, or NULL: code and msg. */
static const char *refuse_sender(const struct room *r, struct session *s, char *msg, size_t msglen)
{
    struct membership *m;
    const char *refused = room_seated_active(r, s, &m, msg, msglen);
    if (refused) return refused;
    if (!r->gm || r->realtime) {
        snprintf(msg, msglen,
                 r->gm ? "a real-time game's game master cannot be handed over"
                       : "this game has no game master");
        return "BAD_MESSAGE";
    }
    if (m->seat != r->gm) {
        snprintf(msg, msglen, "only the game master (seat %d) may hand it over", r->gm);
        return "FORBIDDEN";
    }
    return NULL;
}

const char *room_hand_gm(struct room *r, struct session *s, int seat, json_t *re, char *msg,
                         size_t msglen)
{
    const char *code = refuse_sender(r, s, msg, msglen);
    if (!code) code = refuse_target(r, r->gm, seat, msg, msglen);
    if (code) return code;
    char hash[17], err[600], action[32];
    enum vm_status st;
    TIMED(r, st = referee_set_gm(&r->ref, seat, hash, err, sizeof err));
    if (st != VM_OK) {
        room_script_failure_report(r, st, "set_gm", err);
        snprintf(msg, msglen, "the handover failed (%s)", vm_status_name(st));
        return "INTERNAL";
    }
    int from = r->gm;
    r->gm = seat;
    snprintf(action, sizeof action, "{\"gm\":%d}", seat);
    room_log_input(r, from, action, REPLAY_HANDOVER, hash);
    json_t *p = json_pack("{si,si}", "from", from, "to", seat);
    room_log_event(r, "gm_changed", json_text_dump(p), 0, s, re);
    json_decref(p);
    room_state_sync(r, NULL, NULL, NULL); /* the omniscient view and legal lists move */
    return NULL;
}
