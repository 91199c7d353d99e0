/* room_restore.c - a room rebuilt after a restart from its stored rows (restore.c hands them
 * over): the version it started with, its seats, its log and inputs, and its state by replaying
 * the inputs through the same code as `monkeytown replay` (replay.h). */
#include "json_text.h"
#include "log.h"
#include "loop.h"
#include "replay.h"
#include "room_internal.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The version a stored game started with: the catalog's when it is that one, else one made
 * from the stored files (its meta filled in by the setup). One reference, or NULL with why. */
static struct script_version *stored_version(json_t *game, char *why, size_t len)
{
    const char *name = json_string_value(json_object_get(game, "game"));
    const char *id = json_string_value(json_object_get(game, "version"));
    struct script_version *v = name ? scripts_game(name) : NULL;
    if (v && id && strcmp(v->id, id) == 0) {
        script_version_ref(v);
        return v;
    }
    json_t *files = json_object_get(json_object_get(game, "script_version"), "files");
    v = script_version_from_files(name ? name : "?", files);
    if (!v) snprintf(why, len, "its version %s has no stored files", id ? id : "?");
    return v;
}

static int cmp_key(const void *a, const void *b, const char *key)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, key));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, key));
    return x < y ? -1 : x > y;
}

static int cmp_seq(const void *a, const void *b)
{
    return cmp_key(a, b, "seq");
}

static int cmp_ord(const void *a, const void *b)
{
    return cmp_key(a, b, "ord");
}

/* The rows of arr sorted by cmp (malloc'd; NULL without memory). */
static json_t **sorted_rows(json_t *arr, int (*cmp)(const void *, const void *))
{
    size_t n = json_array_size(arr);
    json_t **out = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = json_array_get(arr, i);
    if (out) qsort(out, n, sizeof *out, cmp);
    return out;
}

/* The static name a stored type or source stands for (log entries point at these), or NULL. */
static const char *known_name(const char *s, const char *const *names)
{
    for (; s && *names; names++)
        if (strcmp(s, *names) == 0) return *names;
    return NULL;
}

static const char *const event_types[] = {
    "game_event", "player_joined", "player_left", "chat_message", "game_over", "gm_changed", NULL};
static const char *const input_sources[] = {"player",     "agent",         "external", "timeout",
                                            "checkpoint", REPLAY_HANDOVER, NULL};

/* Appends stored input in to the room's inputs (turn-based rooms keep them for their log). */
static int restore_input(struct room *r, json_t *in)
{
    const char *source =
        known_name(json_string_value(json_object_get(in, "source")), input_sources);
    char *action = json_text_dump(json_object_get(in, "action"));
    if (!source || !action) {
        free(action);
        return -1;
    }
    r->inputs[r->ninputs++] =
        (struct input_rec){(int)json_integer_value(json_object_get(in, "seat")), action, source,
                           (uint64_t)json_integer_value(json_object_get(in, "t")), ++r->order};
    return 0;
}

/* The room's log and inputs from the stored rows, in the order they happened (an input before
 * the events it caused); the game events' seats come from the replay. Returns 0, or -1 with
 * why. */
static int restore_log(struct room *r, json_t *game, const struct replay_trace *tr, char *why,
                       size_t len)
{
    json_t *events = json_object_get(game, "events"), *inputs = json_object_get(game, "inputs");
    size_t ne = json_array_size(events), ni = r->realtime ? 0 : json_array_size(inputs);
    json_t **ev = sorted_rows(events, cmp_seq), **in = sorted_rows(inputs, cmp_ord);
    r->caplog = ne + 16;
    r->capinputs = ni + 16;
    r->log = calloc(r->caplog, sizeof *r->log);
    r->inputs = calloc(r->capinputs, sizeof *r->inputs);
    int rc = ev && in && r->log && r->inputs ? 0 : -1;
    if (rc < 0) snprintf(why, len, "out of memory");
    size_t j = 0, k = 0;
    for (size_t i = 0; rc == 0 && i < ne; i++) {
        json_t *e = ev[i];
        uint64_t t = (uint64_t)json_integer_value(json_object_get(e, "t"));
        const char *type = known_name(json_string_value(json_object_get(e, "type")), event_types);
        char *payload = json_text_dump(json_object_get(e, "payload"));
        if ((json_int_t)(i + 1) != json_integer_value(json_object_get(e, "seq")) || !type ||
            !payload) {
            snprintf(why, len, "its stored event %zu is missing or unreadable", i + 1);
            free(payload);
            rc = -1;
            break;
        }
        for (; j < ni && (uint64_t)json_integer_value(json_object_get(in[j], "t")) <= t; j++)
            if ((rc = restore_input(r, in[j])) < 0) break;
        int only = replay_is_game_event(e) && k < tr->nevents ? tr->events[k++].seat : 0;
        r->log[r->nlog++] = (struct log_entry){i + 1, type, payload, only, t, ++r->order};
        r->seq = i + 1;
    }
    for (; rc == 0 && j < ni; j++)
        rc = restore_input(r, in[j]);
    if (rc < 0 && !*why) snprintf(why, len, "a stored input is unreadable");
    /* Rows keyed by ord continue after the stored ones, which real-time rooms did not keep. */
    size_t nall = json_array_size(inputs);
    if (in && nall) {
        uint64_t last = (uint64_t)json_integer_value(json_object_get(in[nall - 1], "ord"));
        if (last > r->order) r->order = last;
    }
    free(ev);
    free(in);
    return rc;
}

/* The stored result of a game whose game_over is in its log (it ended; the crash came before
 * its games row said so), or NULL. Borrowed. */
static json_t *logged_result(json_t *game)
{
    json_t *events = json_object_get(game, "events"), *e;
    size_t i;
    json_array_foreach(events, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "type")) ?: "", "game_over") == 0)
            return json_object_get(json_object_get(e, "payload"), "result");
    }
    return NULL;
}

/* The seats as stored: humans (held until they come back) and agents (set up again). */
static int restore_seats(struct room *r, json_t *game, char *why, size_t len)
{
    json_t *p;
    size_t i;
    json_array_foreach(json_object_get(game, "participants"), i, p)
    {
        json_int_t seat = json_integer_value(json_object_get(p, "seat"));
        if (seat < 1 || seat > r->nseats) continue;
        struct seat *st = &r->seats[seat];
        const char *agent = json_string_value(json_object_get(p, "agent"));
        const char *player = json_string_value(json_object_get(p, "player_id"));
        if (agent) {
            struct script_version *a = scripts_agent_for(r->game->name, agent);
            if (!a || strcmp(a->name, agent) != 0) {
                snprintf(why, len, "its agent %s no longer plays %s", agent, r->game->name);
                return -1;
            }
            if (room_seats_agent(r, st, a, why, len) < 0) return -1;
        } else if (player) {
            st->kind = SEAT_HUMAN;
            json_t *dv = json_object_get(p, "doc_version");
            st->doc_loaded = json_is_integer(dv);
            st->doc_version = (int)json_integer_value(dv);
            util_strlcpy(st->player_id, player, sizeof st->player_id);
            util_strlcpy(st->name, json_string_value(json_object_get(p, "name")) ?: "",
                         sizeof st->name);
        }
    }
    return 0;
}

/* Sets r (id, version, seats, seed and config from the stored row) up in a new Lua state and
 * replays its inputs. Returns 0, or -1 with why. */
static int restore_state(struct room *r, json_t *game, struct replay_trace *tr, char *why,
                         size_t len)
{
    char *meta = NULL;
    enum vm_status st =
        room_vm_setup(r, room_cfg->cpu_apply_ms * 10, r->game->meta ? NULL : &meta, why, len);
    if (st != VM_OK) return -1;
    if (!r->game->meta) r->game->meta = meta ? json_loads(meta, 0, NULL) : NULL;
    free(meta);
    if (!r->game->meta || room_configure(r) < 0) {
        snprintf(why, len, "its version reports no metadata");
        return -1;
    }
    int rc = replay_run(&r->ref, game, 1, tr, why, len);
    if (tr->gm) r->gm = tr->gm; /* a handover replayed: the room follows its referee */
    r->ref.budget_ms =
        room_cfg->cpu_apply_ms; /* the replay ran under the replay command's budget */
    return rc == 0 ? 0 : -1;
}

/* A stored game whose game_over is in its log ended (the crash came before its games row said
 * so): the row says so now. Returns 1 when it had ended, else 0. */
static int close_if_ended(json_t *game, const char *id)
{
    json_t *ended = logged_result(game);
    if (!ended) return 0;
    const char *reason = json_string_value(json_object_get(ended, "reason")) ?: "";
    int aborted = strcmp(reason, "aborted") == 0 || strcmp(reason, "expired") == 0;
    store_put("games",
              json_pack("{ss,ss,sO,sf}", "id", id, "status", aborted ? "aborted" : "completed",
                        "result", ended, "ended_at", loop_wall_ms()));
    return 1;
}

/* A room with the stored row's id, version, seats, seed and config, not yet registered and
 * without a Lua state; or NULL with why. */
static struct room *room_from_row(json_t *game, const char *id, int nseats, char *why, size_t len)
{
    struct room *r = calloc(1, sizeof *r);
    if (!r || !(r->game = stored_version(game, why, len))) {
        if (!*why) snprintf(why, len, "out of memory");
        free(r);
        return NULL;
    }
    util_strlcpy(r->id, id, sizeof r->id);
    r->nseats = nseats;
    r->seed = (uint32_t)json_integer_value(json_object_get(game, "seed"));
    r->is_private = json_is_true(json_object_get(game, "private"));
    json_t *config = json_object_get(game, "config");
    r->config_json = json_is_object(config) ? json_text_dump(config) : NULL;
    r->created_wall = json_number_value(json_object_get(game, "created_at"));
    r->started_wall = json_number_value(json_object_get(game, "started_at"));
    r->status = r->started_wall > 0 ? ROOM_ACTIVE : ROOM_WAITING;
    return r;
}

/* Logical time goes on from the last thing logged (or the wall time since the start, when that
 * is later: the clock did not stop while the server was down); ticks from the replay's. */
static void resume_clock(struct room *r, const struct replay_trace *tr)
{
    uint64_t last = r->nlog ? r->log[r->nlog - 1].t : 0;
    if (r->ninputs && r->inputs[r->ninputs - 1].t > last) last = r->inputs[r->ninputs - 1].t;
    double since = r->started_wall > 0 ? loop_wall_ms() - r->started_wall : 0;
    if (!r->realtime && since > (double)last) last = (uint64_t)since;
    r->started_mono = r->status == ROOM_ACTIVE ? loop_now_ms() - last : 0;
    r->tick_no = (uint64_t)tr->ticks;
}

/* The registered room takes up where it was: the events the crash cut off logged again, its
 * humans' seats held, then it ends (the replay reached its end), waits, ticks or takes turns.
 * Frees tr. */
static void carry_on(struct room *r, struct replay_trace *tr)
{
    for (size_t i = 0; i < tr->nevents; i++)
        if (tr->events[i].json) {
            struct referee_event e = {tr->events[i].json, strlen(tr->events[i].json),
                                      tr->events[i].seat};
            room_log_event(r, "game_event", room_log_event_payload(&e), e.seat, NULL, NULL);
        }
    for (int i = 1; i <= r->nseats; i++)
        if (r->seats[i].kind == SEAT_HUMAN) room_seats_hold(&r->seats[i]);
    log_msg(LOG_INFO, "room rebuilt", "{ss,ss,ss,sI,ss}", "game", r->id, "script", r->game->name,
            "version", r->game->id, "seq", (json_int_t)r->seq, "status",
            room_status_name(r->status));
    char *over = tr->outcome ? strdup(tr->outcome) : NULL;
    int to_move = tr->to_move;
    replay_trace_free(tr);
    if (over) { /* the replay ended it: the crash came between its last move and its end */
        room_finish(r, over, NULL);
        free(over);
    } else if (r->status == ROOM_WAITING) {
        room_waiting_start(r, NULL);
    } else if (r->realtime) {
        room_realtime_start(r);
    } else {
        room_turn_resume(r, to_move);
    }
}

int room_restore(json_t *game, char *why, size_t len)
{
    *why = '\0';
    const char *id = json_string_value(json_object_get(game, "id"));
    json_int_t nseats = json_integer_value(json_object_get(game, "seats"));
    const char *status = json_string_value(json_object_get(game, "status")) ?: "";
    if (id && (room_find(id) || (strcmp(status, "waiting") != 0 && strcmp(status, "active") != 0)))
        return 1; /* here already, or it ended after all (its rows were still queued) */
    if (!id || !util_is_uuid(id) || nseats < 1 || nseats > ROOM_MAX_SEATS) {
        snprintf(why, len, "its stored row is not a room this server can hold");
        return -1;
    }
    if (close_if_ended(game, id)) return 1;
    struct room *r = room_from_row(game, id, (int)nseats, why, len);
    if (!r) return -1;
    struct replay_trace tr = {0};
    if (restore_state(r, game, &tr, why, len) < 0 || restore_seats(r, game, why, len) < 0 ||
        restore_log(r, game, &tr, why, len) < 0 || room_register(r) < 0) {
        if (!*why) snprintf(why, len, "out of memory");
        replay_trace_free(&tr);
        r->status = ROOM_COMPLETED; /* room_free writes nothing for it: the caller closes it */
        room_free(r);
        return -1;
    }
    room_count_open(1);
    r->rebuilt = 1;
    r->rebuilt_seq = r->seq; /* before carry_on logs what the replay brought that was not stored */
    resume_clock(r, &tr);
    carry_on(r, &tr);
    return 0;
}
