/* room_docs.c - per-player documents (documents.h) in a room: each human seat's newest document
 * for the game goes to the referee as the game starts, and the version it starts from is
 * recorded in the seat's game_participants row (doc_version), so a replay and a rebuild
 * (replay.c) hand the game the same documents. What a call saves becomes a new version. */
#include "documents.h"
#include "log.h"
#include "room_internal.h"

#include <stdlib.h>
#include <string.h>

int room_docs_start(struct room *r)
{
    const char *players[ROOM_MAX_SEATS + 1] = {0};
    int versions[ROOM_MAX_SEATS + 1] = {0};
    for (int i = 1; i <= r->nseats; i++) {
        struct seat *st = &r->seats[i];
        if (st->kind != SEAT_HUMAN) continue;
        const char *doc;
        st->doc_version = documents_latest(st->player_id, r->game->name, &doc);
        st->doc_loaded = 1;
        players[i] = st->player_id;
        versions[i] = st->doc_version;
        room_store_participant(r, i, NULL);
    }
    int missing;
    char *docs = documents_start_json(r->game->name, r->nseats, players, versions, &missing);
    char err[600] = "out of memory";
    enum vm_status st = docs ? referee_set_docs(&r->ref, docs, err, sizeof err) : VM_MEMORY;
    free(docs);
    return room_referee_failed(r, "set_docs", st, err);
}

void room_docs_saved(struct room *r, const struct referee_result *res)
{
    for (int i = 0; i < res->nsaves; i++) {
        const struct referee_save *sv = &res->saves[i];
        if (sv->seat < 1 || sv->seat > r->nseats || r->seats[sv->seat].kind != SEAT_HUMAN) continue;
        const char *author = "rules", *author_id = NULL;
        if (sv->by >= 1 && sv->by <= r->nseats && r->seats[sv->by].kind == SEAT_HUMAN) {
            author = sv->by == sv->seat ? "player" : "gm";
            author_id = r->seats[sv->by].player_id;
        }
        int version = documents_save(r->seats[sv->seat].player_id, r->game->name, sv->json, sv->len,
                                     sv->note, author, author_id, r->id);
        if (version > 0)
            log_msg(LOG_DEBUG, "document saved", "{ss,ss,si,si,ss}", "game", r->id, "player",
                    r->seats[sv->seat].player_id, "seat", sv->seat, "version", version, "author",
                    author);
    }
}
