#include "replay.h"

#include "documents.h"
#include "log.h"
#include "loop.h"
#include "referee.h"
#include "scripts.h"
#include "store.h"
#include "trusted.h"
#include "util.h"
#include "vm.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The game-emitted events of the log, in order (the server's own turn-clock and agent
 * reasoning events are not the game's and are skipped). */
static json_t *game_events(json_t *game)
{
    json_t *out = json_array(), *e;
    size_t i;
    json_array_foreach(json_object_get(game, "events"), i, e)
    {
        if (replay_is_game_event(e))
            json_array_append(out, json_object_get(json_object_get(e, "payload"), "event"));
    }
    return out;
}

static int cmp_ord(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "ord"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "ord"));
    return x < y ? -1 : x > y;
}

/* Keeps what a replayed event says beyond the log: who it was for (0: everyone), and its text
 * when the log lacks it (a live game's tail the crash cut off). */
static void trace_event(struct replay_trace *t, const struct referee_event *e, int beyond)
{
    if (!t) return;
    if (t->nevents == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct replay_event *p = realloc(t->events, cap * sizeof *p);
        if (!p) return;
        t->events = p;
        t->cap = cap;
    }
    t->events[t->nevents++] =
        (struct replay_event){e->seat, beyond ? strndup(e->json, e->len) : NULL};
}

/* Compares the events a referee call returned with the log's, from *next on, and keeps them in
 * trace. live: a replayed event past the log's end is the tail a crash cut off, kept, not a
 * divergence. where names the step. Returns 0, or 1 with the divergence in report. */
static int compare_events(const struct referee_result *res, json_t *want_events, size_t *next,
                          struct replay_trace *trace, int live, const char *where, char *report,
                          size_t len)
{
    for (int k = 0; k < res->nevents; k++) {
        const struct referee_event *e = &res->events[k];
        int beyond = *next >= json_array_size(want_events);
        trace_event(trace, e, live && beyond);
        if (live && beyond) {
            (*next)++;
            continue;
        }
        json_t *got = json_loadb(e->json, e->len, JSON_DECODE_ANY, NULL);
        json_t *want = json_array_get(want_events, (*next)++);
        int same = json_equal(got, want);
        if (!same) {
            char *w = want ? json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            snprintf(report, len, "%s: event %zu differs: replay emitted %.*s, the log has %s",
                     where, *next, (int)e->len, e->json, w ? w : "(nothing)");
            free(w);
        }
        json_decref(got);
        if (!same) return 1;
    }
    return 0;
}

/* The players' documents of the game being replayed (replay_run): who sits where, and how many
 * saves each seat's replay has made. Loop thread; replay_run is not re-entered. */
static struct {
    const char *players[REFEREE_MAX_SEATS + 1];
    int saves[REFEREE_MAX_SEATS + 1];
    const char *game, *id;
    int nseats;
} docs_of;

/* Hands the referee the documents the game started from: each seat's doc_version of
 * game_participants (set as the game started; absent for agents and for games from before
 * documents, which start with none). Returns 0, or 2 with the report. */
static int set_docs(struct referee *ref, json_t *game, char *report, size_t len)
{
    int versions[REFEREE_MAX_SEATS + 1] = {0}, any = 0;
    memset(&docs_of, 0, sizeof docs_of);
    docs_of.game = json_string_value(json_object_get(game, "game"));
    docs_of.id = json_string_value(json_object_get(game, "id"));
    docs_of.nseats = (int)json_integer_value(json_object_get(game, "seats"));
    if (docs_of.nseats > REFEREE_MAX_SEATS) docs_of.nseats = REFEREE_MAX_SEATS;
    json_t *p;
    size_t i;
    json_array_foreach(json_object_get(game, "participants"), i, p)
    {
        json_int_t seat = json_integer_value(json_object_get(p, "seat"));
        json_t *dv = json_object_get(p, "doc_version");
        const char *player = json_string_value(json_object_get(p, "player_id"));
        if (seat < 1 || seat > docs_of.nseats || !player || !json_is_integer(dv)) continue;
        docs_of.players[seat] = player;
        versions[seat] = (int)json_integer_value(dv);
        any = 1;
    }
    if (!any || !docs_of.game) return 0;
    int missing;
    char *text =
        documents_start_json(docs_of.game, docs_of.nseats, docs_of.players, versions, &missing);
    if (!text) {
        if (missing)
            snprintf(report, len, "seat %d's document version %d is no longer kept", missing,
                     versions[missing]);
        else
            snprintf(report, len, "out of memory");
        return 2;
    }
    char err[600];
    enum vm_status st = referee_set_docs(ref, text, err, sizeof err);
    free(text);
    if (st == VM_OK) return 0;
    snprintf(report, len, "the documents could not be set: %s", err);
    return 2;
}

/* Compares the documents a replayed call saved with the versions the game stored, in order per
 * seat. Not live (a rebuild's saves were stored by the run that made them, and are not written
 * again). A save the store no longer keeps (pruned) is not compared. Returns 0, or 1 with the
 * report. */
static int compare_saves(const struct referee_result *res, int live, const char *where,
                         char *report, size_t len)
{
    for (int k = 0; k < res->nsaves && !live; k++) {
        const struct referee_save *sv = &res->saves[k];
        if (sv->seat < 1 || sv->seat > docs_of.nseats || !docs_of.players[sv->seat]) continue;
        const char *stored =
            documents_saved_by_game(docs_of.players[sv->seat], docs_of.game,
                                    docs_of.id ? docs_of.id : "", docs_of.saves[sv->seat]++);
        if (!stored) continue;
        json_t *got = json_loadb(sv->json, sv->len, 0, NULL), *want = json_loads(stored, 0, NULL);
        int same = json_equal(got, want);
        json_decref(got);
        json_decref(want);
        if (!same) {
            snprintf(report, len,
                     "%s: seat %d's saved document differs: replay saved %.*s, the "
                     "store has %.300s",
                     where, sv->seat, sv->len > 300 ? 300 : (int)sv->len, sv->json, stored);
            return 1;
        }
    }
    return 0;
}

/* What one replayed step must match: its events, then the hash the log recorded with it (when
 * it recorded one); the outcome is kept in the trace. Returns 0, or 1 with the divergence. */
static int check_step(const struct referee_result *res, json_t *want_events, size_t *next_event,
                      const char *want_hash, struct replay_trace *trace, int live,
                      const char *where, char *report, size_t len)
{
    if (compare_events(res, want_events, next_event, trace, live, where, report, len)) return 1;
    if (compare_saves(res, live, where, report, len)) return 1;
    if (res->outcome) {
        free(trace->outcome);
        trace->outcome = strdup(res->outcome);
    }
    if (want_hash && strcmp(res->hash, want_hash) != 0) {
        snprintf(report, len, "%s: the state differs after it (hash %s, the log has %s)", where,
                 res->hash, want_hash);
        return 1;
    }
    return 0;
}

/* Whether the replay emitted as many game events as the log holds (live: at least as many):
 * 0, or 1 with the report. */
static int check_count(size_t emitted, json_t *want_events, int live, char *report, size_t len)
{
    if (emitted == json_array_size(want_events) || (live && emitted > json_array_size(want_events)))
        return 0;
    snprintf(report, len, "the replay emitted %zu game events, the log has %zu", emitted,
             json_array_size(want_events));
    return 1;
}

/* An input's action as the JSON text the referee takes (malloc'd). */
static char *action_text(json_t *in)
{
    char *a = json_dumps(json_object_get(in, "action"), JSON_COMPACT | JSON_ENCODE_ANY);
    return a ? a : strdup("null");
}

/* A live real-time game is replayed until its inputs and logged events are used up; a log
 * whose events do not come back within this many seconds of ticks after them diverged. */
#define LIVE_TAIL_S 600

/* A real-time game: every tick from 1 to the recorded count (live: to the last durable one),
 * with the inputs recorded for it, checked against the log's events and the state hash at every
 * checkpoint. */
static int replay_ticks(struct referee *ref, json_t *game, json_t **inputs, size_t n,
                        json_t *want_events, struct replay_trace *trace, int live, char *report,
                        size_t len)
{
    static struct referee_result res;
    struct referee_input batch[256];
    char *texts[256];
    int rate = (int)json_integer_value(json_object_get(game, "tick_rate"));
    json_int_t ticks = json_integer_value(json_object_get(game, "ticks"));
    json_int_t last = n ? json_integer_value(json_object_get(inputs[n - 1], "tick")) : 0;
    size_t next_input = 0, next_event = 0, want = json_array_size(want_events);
    char where[64];
    json_int_t tick = 1;
    for (; live ? tick <= last || next_event < want : tick <= ticks; tick++) {
        if (live && tick > last + (json_int_t)rate * LIVE_TAIL_S) {
            snprintf(report, len, "the log's %zu game events do not come back by tick %lld", want,
                     (long long)tick);
            return 1;
        }
        snprintf(where, sizeof where, "tick %lld", (long long)tick);
        int k = 0;
        json_t *checkpoint = NULL;
        for (; next_input < n &&
               json_integer_value(json_object_get(inputs[next_input], "tick")) == tick;
             next_input++) {
            json_t *in = inputs[next_input];
            if (strcmp(json_string_value(json_object_get(in, "source")) ?: "", "checkpoint") == 0) {
                checkpoint = in;
                continue;
            }
            if (k == 256) continue; /* more than a tick's queue ever held: diverges below */
            texts[k] = action_text(in);
            batch[k] = (struct referee_input){(int)json_integer_value(json_object_get(in, "seat")),
                                              texts[k], strlen(texts[k])};
            k++;
        }
        const char *want_hash = json_string_value(json_object_get(checkpoint, "state_hash"));
        referee_tick(ref, batch, k, (double)((uint64_t)tick * 1000u / (uint64_t)rate),
                     want_hash != NULL, &res);
        for (int i = 0; i < k; i++)
            free(texts[i]);
        if (res.verdict == REFEREE_FAILED) {
            snprintf(report, len, "%s: the script failed: %s", where, res.err);
            return 2;
        }
        if (check_step(&res, want_events, &next_event, want_hash, trace, live, where, report, len))
            return 1;
        if (live && res.outcome) { /* it ended at this tick; the crash came before the end */
            tick++;
            break;
        }
    }
    trace->ticks = (long long)tick - 1;
    if (check_count(next_event, want_events, live, report, len)) return 1;
    snprintf(
        report, len,
        "identical: %lld ticks, %zu inputs, %zu game events, every checkpoint and the result match",
        (long long)trace->ticks, n, next_event);
    return 0;
}

/* A recorded handover of the game master's seat (source REPLAY_HANDOVER, action {"gm": seat}):
 * the referee's game master changes as it did live; the state does not, and its hash is checked
 * all the same. Returns 0, 1 with the divergence, or 2 when the referee refused it. */
static int replay_handover(struct referee *ref, json_t *in, struct replay_trace *trace,
                           const char *where, char *report, size_t len)
{
    int to = (int)json_integer_value(json_object_get(json_object_get(in, "action"), "gm"));
    char hash[17], err[600];
    if (referee_set_gm(ref, to, hash, err, sizeof err) != VM_OK) {
        snprintf(report, len, "%s: the handover to seat %d failed: %s", where, to, err);
        return 2;
    }
    const char *want = json_string_value(json_object_get(in, "state_hash"));
    if (want && strcmp(hash, want) != 0) {
        snprintf(report, len, "%s: the state differs at the handover (hash %s, the log has %s)",
                 where, hash, want);
        return 1;
    }
    trace->gm = to;
    return 0;
}

static int is_handover(json_t *in)
{
    return strcmp(json_string_value(json_object_get(in, "source")) ?: "", REPLAY_HANDOVER) == 0;
}

/* A turn-based game: every input in order, each checked against the log's events and the
 * state hash recorded with it. */
static int replay_inputs(struct referee *ref, json_t **inputs, size_t n, json_t *want_events,
                         struct replay_trace *trace, int live, char *report, size_t len)
{
    static struct referee_result res;
    size_t next_event = 0;
    char where[64];
    for (size_t i = 0; i < n; i++) {
        json_t *in = inputs[i];
        snprintf(where, sizeof where, "input %zu", i + 1);
        if (is_handover(in)) {
            int rc = replay_handover(ref, in, trace, where, report, len);
            if (rc) return rc;
            continue;
        }
        char *action = action_text(in);
        json_int_t seat = json_integer_value(json_object_get(in, "seat"));
        referee_apply(ref, (int)seat, action, strlen(action),
                      (double)json_integer_value(json_object_get(in, "t")), &res);
        free(action);
        if (res.verdict == REFEREE_FAILED) {
            snprintf(report, len, "%s: the script failed: %s", where, res.err);
            return 2;
        }
        if (res.verdict != REFEREE_APPLIED) {
            snprintf(report, len, "%s (seat %lld): recorded as applied, but now %s: %s", where,
                     (long long)seat,
                     res.verdict == REFEREE_NOT_YOUR_TURN ? "not_your_turn" : "illegal",
                     res.reason ? res.reason : "");
            return 1;
        }
        const char *want_hash = json_string_value(json_object_get(in, "state_hash"));
        if (check_step(&res, want_events, &next_event, want_hash, trace, live, where, report, len))
            return 1;
        trace->to_move = res.to_move;
    }
    if (check_count(next_event, want_events, live, report, len)) return 1;
    snprintf(report, len,
             "identical: %zu inputs, %zu game events, every state hash and the result match", n,
             next_event);
    return 0;
}

int replay_run(struct referee *ref, json_t *game, int live, struct replay_trace *trace,
               char *report, size_t len)
{
    *trace = (struct replay_trace){.to_move = -1};
    int docs_rc = set_docs(ref, game, report, len);
    if (docs_rc) return docs_rc;
    json_t *want_events = game_events(game), *inputs = json_object_get(game, "inputs");
    size_t n = json_array_size(inputs);
    json_t **sorted = calloc(n ? n : 1, sizeof *sorted);
    if (!sorted) {
        json_decref(want_events);
        snprintf(report, len, "out of memory");
        return 2;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = json_array_get(inputs, i);
    qsort(sorted, n, sizeof *sorted, cmp_ord);
    int realtime = json_integer_value(json_object_get(game, "tick_rate")) > 0;
    int rc = realtime ? replay_ticks(ref, game, sorted, n, want_events, trace, live, report, len)
                      : replay_inputs(ref, sorted, n, want_events, trace, live, report, len);
    free(sorted);
    json_decref(want_events);
    return rc;
}

void replay_trace_free(struct replay_trace *t)
{
    for (size_t i = 0; i < t->nevents; i++)
        free(t->events[i].json);
    free(t->events);
    free(t->outcome);
    *t = (struct replay_trace){0};
}

int replay_is_game_event(json_t *logged)
{
    if (strcmp(json_string_value(json_object_get(logged, "type")) ?: "", "game_event") != 0)
        return 0;
    json_t *ev = json_object_get(json_object_get(logged, "payload"), "event");
    const char *kind = json_string_value(json_object_get(ev, "kind"));
    return !(kind && (strcmp(kind, "agent_reasoning") == 0 || strcmp(kind, "timeout") == 0));
}

int replay_game(const struct config *cfg, json_t *game, char *report, size_t len)
{
    json_t *version = json_object_get(game, "script_version");
    const char *name = json_string_value(json_object_get(game, "game"));
    struct script_version *v =
        script_version_from_files(name ? name : "?", json_object_get(version, "files"));
    if (!v) {
        snprintf(report, len, "the game's version %s has no stored files",
                 json_string_value(json_object_get(game, "version")));
        return 2;
    }
    struct vm *vm = vm_new((size_t)cfg->lua_memory_mb * 1024 * 1024);
    char err[600];
    if (!vm || trusted_open(vm, "referee", err, sizeof err) < 0) {
        snprintf(report, len, "cannot start the referee: %s", vm ? err : "no memory");
        vm_free(vm);
        script_version_unref(v);
        return 2;
    }
    char *config = json_is_object(json_object_get(game, "config"))
                       ? json_dumps(json_object_get(game, "config"), JSON_COMPACT)
                       : NULL;
    struct referee ref;
    enum vm_status st = referee_setup(
        &ref, vm, v, config, (double)json_integer_value(json_object_get(game, "seed")),
        (int)json_integer_value(json_object_get(game, "seats")), cfg->cpu_load_ms,
        cfg->cpu_apply_ms * 10, NULL, err, sizeof err);
    free(config);
    script_version_unref(v);
    if (st != VM_OK) {
        snprintf(report, len, "setup failed: %s", err);
        vm_free(vm);
        return 2;
    }
    struct replay_trace trace;
    int rc = replay_run(&ref, game, 0, &trace, report, len);
    const char *over = trace.outcome;
    json_t *result = json_object_get(game, "result");
    const char *reason = json_string_value(json_object_get(result, "reason"));
    if (rc == 0 && reason && (strcmp(reason, "win") == 0 || strcmp(reason, "draw") == 0)) {
        json_t *got = over ? json_loads(over, 0, NULL) : NULL;
        if (!json_equal(got, result)) {
            char *w = json_dumps(result, JSON_COMPACT);
            snprintf(report, len, "the result differs: replay gives %s, the log has %s",
                     over ? over : "no result", w ? w : "?");
            free(w);
            rc = 1;
        }
        json_decref(got);
    }
    replay_trace_free(&trace);
    vm_free(vm);
    return rc;
}

struct replay_ctx {
    const struct config *cfg;
    int status, done;
};

static void on_loaded(json_t *game, void *arg)
{
    struct replay_ctx *ctx = arg;
    char report[1200];
    if (!game) {
        fprintf(stderr, "monkeytown replay: no stored game with that id\n");
        ctx->status = 2;
    } else {
        ctx->status = replay_game(ctx->cfg, game, report, sizeof report);
        printf("%s %s: %s\n", json_string_value(json_object_get(game, "game")),
               json_string_value(json_object_get(game, "id")), report);
    }
    ctx->done = 1;
    loop_stop();
}

int replay_command(const struct config *cfg, const char *game_id)
{
    struct replay_ctx ctx = {cfg, 2, 0};
    store_set_readonly(1); /* never write to (or lock) a store a live server may be using */
    if (vm_global_init() < 0 || loop_init() < 0 || trusted_init(cfg->lua_dir) < 0 ||
        documents_preinit() < 0 || store_init(cfg) < 0)
        return 2;
    store_load_game(game_id, on_loaded, &ctx);
    if (!ctx.done) loop_run(); /* a backend that answers later (PostgreSQL) */
    store_shutdown();
    documents_shutdown();
    trusted_free();
    loop_free();
    return ctx.status;
}
