/* room_store.c - the rows a room writes to the store (store.h): games, game_participants,
 * game_events and game_inputs, and at the end the players' statistics and ratings
 * (accounts.h). A row is queued, never waited for. */
#include "accounts.h"
#include "loop.h"
#include "room_internal.h"
#include "store.h"

#include <string.h>

void room_store_game(const struct room *r)
{
    json_t *row = json_pack("{ss,ss,ss,ss,sI,si,sf}", "id", r->id, "game", r->game->name, "version",
                            r->game->id, "status", room_status_name(r->status), "seed",
                            (json_int_t)r->seed, "seats", r->nseats, "created_at", r->created_wall);
    json_object_set_new(row, "config",
                        r->config_json ? json_loads(r->config_json, 0, NULL) : json_null());
    json_object_set_new(row, "result",
                        r->result_json ? json_loads(r->result_json, 0, NULL) : json_null());
    json_object_set_new(row, "started_at",
                        r->started_wall > 0 ? json_real(r->started_wall) : json_null());
    json_object_set_new(row, "ended_at",
                        r->ended_wall > 0 ? json_real(r->ended_wall) : json_null());
    json_object_set_new(row, "tick_rate", json_integer(r->rate));
    json_object_set_new(row, "private", json_boolean(r->is_private));
    json_object_set_new(row, "ticks",
                        r->realtime ? json_integer((json_int_t)r->tick_no) : json_null());
    store_put("games", row);
}

void room_store_aborted(const struct room *r)
{
    store_put("games", json_pack("{ss,ss,s{ss},sf}", "id", r->id, "status", "aborted", "result",
                                 "reason", "aborted", "ended_at", loop_wall_ms()));
}

void room_store_participant(const struct room *r, int seat, json_t *score)
{
    const struct seat *st = &r->seats[seat];
    int agent = st->kind == SEAT_AGENT;
    json_t *row = json_pack("{ss,si,ss}", "game_id", r->id, "seat", seat, "name", st->name);
    json_object_set_new(row, "player_id", agent ? json_null() : json_string(st->player_id));
    json_object_set_new(row, "agent", agent ? json_string(st->player_id + 6) : json_null());
    json_object_set_new(row, "score", score ? json_incref(score) : json_null());
    json_object_set_new(row, "doc_version",
                        st->doc_loaded ? json_integer(st->doc_version) : json_null());
    store_put("game_participants", row);
}

void room_store_settle(struct room *r)
{
    json_t *result = json_loads(r->result_json, 0, NULL);
    json_t *scores = json_object_get(result, "scores");
    const char *ids[ROOM_MAX_SEATS], *names[ROOM_MAX_SEATS];
    int filled = 1;
    for (int i = 1; i <= r->nseats; i++) {
        room_store_participant(
            r, i, json_is_array(scores) ? json_array_get(scores, (size_t)i - 1) : NULL);
        ids[i - 1] = r->seats[i].player_id;
        names[i - 1] = r->seats[i].name;
        filled &= r->seats[i].kind != SEAT_EMPTY;
    }
    const char *reason = json_string_value(json_object_get(result, "reason"));
    int rated = filled && r->started_mono && reason && strcmp(reason, "script_error") != 0 &&
                strcmp(reason, "aborted") != 0;
    if (rated)
        accounts_record_result(r->id, ids, names, r->nseats,
                               (int)json_integer_value(json_object_get(result, "winner")),
                               json_is_true(json_object_get(result, "draw")));
    json_decref(result);
}

void room_store_event(const struct room *r, const struct log_entry *e)
{
    store_put_json("game_events",
                   json_pack("{ss,sI,ss,sI}", "game_id", r->id, "seq", (json_int_t)e->seq, "type",
                             e->type, "t", (json_int_t)e->t),
                   "payload", e->payload);
}

void room_store_input(const struct room *r, const struct input_rec *in, const char *action,
                      const char *hash)
{
    store_put_json("game_inputs",
                   json_pack("{ss,sI,si,ss,sI,ss}", "game_id", r->id, "ord", (json_int_t)in->order,
                             "seat", in->seat, "source", in->source, "t", (json_int_t)in->t,
                             "state_hash", hash),
                   "action", action);
}

void room_store_tick_input(struct room *r, const struct queued_input *in, uint64_t tick,
                           const char *hash)
{
    json_t *row =
        json_pack("{ss,sI,si,ss,sI,sI}", "game_id", r->id, "ord", (json_int_t)++r->order, "seat",
                  in->seat, "source", in->source, "t",
                  (json_int_t)(tick * 1000u / (uint64_t)r->rate), "tick", (json_int_t)tick);
    json_object_set_new(row, "state_hash", hash ? json_string(hash) : json_null());
    /* The action as the text it was validated in: never parsed again to be stored. */
    store_put_json("game_inputs", row, "action", in->action ? in->action : "null");
}
