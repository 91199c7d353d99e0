/* Unit tests for referee.c, the C binding of lua/referee.lua: one call applies a move and says
 * everything that follows from it (events, outcome, next seat, hash, log lines); a refused or
 * failed move leaves the state as it was; views, random legal actions and ticks. Run from the
 * repository root (it reads lua/). */
#include "referee.h"
#include "scripts.h"
#include "tap.h"
#include "trusted.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Two seats take turns adding action.n to a total; 3 moves end it. "boom" fails in apply. */
static const char *const counter_game =
    "return {\n"
    "  name = 'counter', players = { min = 2, max = 2 },\n"
    "  setup = function(ctx, config) return { total = 0, moves = 0, turn = 1 } end,\n"
    "  to_move = function(s) return s.turn end,\n"
    "  legal = function(s, seat) return { { n = 1 }, { n = 2 } } end,\n"
    "  validate = function(s, seat, a)\n"
    "    if type(a.n) ~= 'number' then return false, 'n must be a number' end\n"
    "    return true\n"
    "  end,\n"
    "  apply = function(s, seat, a, ctx)\n"
    "    if a.boom then s.total = -1; error('boom') end\n"
    "    s.total = s.total + a.n; s.moves = s.moves + 1; s.turn = 3 - seat\n"
    "    ctx.emit({ kind = 'add', n = a.n })\n"
    "    ctx.emit({ kind = 'secret' }, seat)\n"
    "    ctx.log('added', a.n)\n"
    "  end,\n"
    "  view = function(s, seat) return { total = s.total, you = seat } end,\n"
    "  outcome = function(s) if s.moves >= 3 then return { winner = 1 } end end,\n"
    "}\n";

static const char *const ticker_game =
    "return {\n"
    "  name = 'tk', players = { min = 1, max = 1 }, tick_rate = 10,\n"
    "  setup = function() return { n = 0 } end,\n"
    "  tick = function(s, ctx, inputs)\n"
    "    s.n = s.n + #inputs\n"
    "    if #inputs > 0 then ctx.emit({ got = #inputs }) end\n"
    "  end,\n"
    "  outcome = function(s) if s.n >= 3 then return { draw = true } end end,\n"
    "}\n";

/* Seat 1 has a player with a document, seat 2 an agent. "save" saves n into the sheet, "fail"
 * saves then fails, "big" saves past the limit. */
static const char *const sheet_game =
    "return {\n"
    "  name = 'sheet', players = { min = 2, max = 2 },\n"
    "  setup = function(ctx) return { setup_doc = ctx.doc(1) == nil } end,\n"
    "  to_move = function(s) return 1 end,\n"
    "  apply = function(s, seat, a, ctx)\n"
    "    local d = ctx.doc(1)\n"
    "    s.seen = d and d.n or 0\n"
    "    s.agent = ctx.doc(2) == nil and ctx.save_doc(2, {}) == false\n"
    "    if a.op == 'save' then d.n = a.n; ctx.save_doc(1, d, 'set ' .. a.n, a.by) end\n"
    "    if a.op == 'fail' then ctx.save_doc(1, { n = 99 }); error('after the save') end\n"
    "    if a.op == 'big' then ctx.save_doc(1, { s = string.rep('x', 65536) }) end\n"
    "    ctx.emit({ seen = s.seen, now = ctx.doc(1).n })\n"
    "  end,\n"
    "}\n";

/* Seat 1 is the game master until handed over; validate and legal see ctx.is_gm. Seat 2 is the
 * seat to move; "gm" acts succeed for the game master only. */
static const char *const gm_game =
    "return {\n"
    "  name = 'gm', players = { min = 3, max = 3 }, game_master = true,\n"
    "  setup = function() return { secret = 7, acts = 0 } end,\n"
    "  to_move = function(s) return 2 end,\n"
    "  legal = function(s, seat, ctx) return ctx.is_gm(seat) and { { gm = 1 } } or {} end,\n"
    "  validate = function(s, seat, a, ctx)\n"
    "    return ctx.is_gm(seat) and ctx.seats == 3, 'not the game master'\n"
    "  end,\n"
    "  apply = function(s, seat, a, ctx) s.acts = s.acts + 1 end,\n"
    "  view = function(s, seat) return seat == 'gm' and s or { acts = s.acts } end,\n"
    "}\n";

/* Draws at load time and in setup: its start state depends on the room's seed. */
static const char *const dice_game =
    "local first = math.random(1, 1000000)\n"
    "return {\n"
    "  name = 'dice', players = { min = 2, max = 2 },\n"
    "  setup = function(ctx) return { first = first, roll = ctx.random(1, 1000000) } end,\n"
    "  to_move = function(s) return 1 end,\n"
    "  apply = function(s, seat, a, ctx) s.roll = ctx.random(1, 1000000) end,\n"
    "}\n";

/* Leaves what it can in the state it runs in: a module-level count of its rooms, a global, a
 * count in the ctx validate and legal share, a log line, a handed-over game master. */
static const char *const leaky_game =
    "local rooms = 0\n"
    "return {\n"
    "  name = 'leaky', players = { min = 2, max = 2 }, game_master = true,\n"
    "  setup = function(ctx)\n"
    "    rooms = rooms + 1; left = (left or 0) + 1\n"
    "    return { rooms = rooms, left = left, n = 0 }\n"
    "  end,\n"
    "  to_move = function(s) return { 2 } end,\n"
    "  legal = function(s, seat, ctx)\n"
    "    ctx.marks = (ctx.marks or 0) + 1\n"
    "    return { { marks = ctx.marks } }\n"
    "  end,\n"
    "  apply = function(s, seat, a, ctx) s.n = s.n + 1; ctx.log('moved') end,\n"
    "  view = function(s) return s end,\n"
    "}\n";

static struct vm *open_game(struct referee *ref, const char *text, int seats)
{
    json_t *files = json_pack("{ss}", "game.lua", text);
    struct script_version *v = script_version_from_files("counter", files);
    json_decref(files);
    struct vm *vm = vm_new(8u << 20);
    char err[600];
    if (!v || !vm || trusted_open(vm, "referee", err, sizeof err) < 0) return NULL;
    char *meta = NULL;
    enum vm_status st =
        referee_setup(ref, vm, v, NULL, 42, seats, 1000, 200, &meta, err, sizeof err);
    ok(st == VM_OK && meta != NULL, "setup: %s", st == VM_OK ? meta : err);
    free(meta);
    script_version_unref(v);
    return vm;
}

static void turns(void)
{
    static struct referee_result res;
    struct referee ref;
    struct vm *vm = open_game(&ref, counter_game, 2);
    int seat = 0;
    char err[600], before[17];
    ok(referee_to_move(&ref, &seat, err, sizeof err) == VM_OK && seat == 1, "seat 1 moves first");

    referee_apply(&ref, 2, "{\"n\":1}", 7, 0, &res);
    is_int(res.verdict, REFEREE_NOT_YOUR_TURN, "seat 2 out of turn");
    referee_apply(&ref, 1, "{\"n\":\"x\"}", 9, 0, &res);
    is_int(res.verdict, REFEREE_ILLEGAL, "the game's validate refuses");
    is_str(res.reason, "n must be a number", "with its reason");
    referee_apply(&ref, 1, "{\"n\":", 5, 0, &res);
    is_int(res.verdict, REFEREE_ILLEGAL, "text that is not JSON is illegal");

    referee_apply(&ref, 1, "{\"n\":2}", 7, 1000, &res);
    is_int(res.verdict, REFEREE_APPLIED, "a legal move is applied");
    is_int(res.nevents, 2, "with its two events");
    ok(res.nevents == 2 && strstr(res.events[0].json, "\"kind\":\"add\"") &&
           res.events[0].seat == 0 && res.events[1].seat == 1,
       "the public one and the one for seat 1");
    is_int(res.to_move, 2, "seat 2 moves next, in the same call");
    is_int(strlen(res.hash), 16, "the state's hash, in the same call");
    ok(res.nlogs == 1 && strcmp(res.logs[0], "added 2") == 0, "and the ctx.log line");
    ok(res.outcome == NULL, "no outcome yet");
    memcpy(before, res.hash, 17);

    referee_apply(&ref, 2, "{\"n\":1,\"boom\":true}", 19, 0, &res);
    is_int(res.verdict, REFEREE_FAILED, "a script error fails the call");
    ok(strstr(res.err, "boom") != NULL, "with the script's message: %s", res.err);
    ok(referee_to_move(&ref, &seat, err, sizeof err) == VM_OK && seat == 2,
       "the failed move changed nothing: still seat 2's turn");
    referee_apply(&ref, 2, "{\"n\":0}", 7, 0, &res);
    ok(res.verdict == REFEREE_APPLIED && strcmp(res.hash, before) != 0, "seat 2 moves");
    struct referee_view views[3];
    ok(referee_views(&ref, 1, 1u << 1 | 1u, views, err, sizeof err) == VM_OK, "views");
    ok(views[0].json && strstr(views[0].json, "\"total\":2"), "the spectators' view");
    ok(views[1].json && views[1].legal && strstr(views[1].legal, "\"n\":1"),
       "the seat to move gets its legal actions");
    ok(views[2].json == NULL, "a seat not asked for is not viewed");

    char *action = NULL;
    ok(referee_random_legal(&ref, 1, &action, err, sizeof err) == VM_OK && action &&
           strstr(action, "\"n\":"),
       "a random legal action: %s", action ? action : "none");
    free(action);

    referee_apply(&ref, 1, "{\"n\":1}", 7, 0, &res);
    ok(res.outcome && strstr(res.outcome, "\"winner\":1"), "the third move ends it: %s",
       res.outcome ? res.outcome : "no outcome");
    is_int(res.to_move, 0, "and nobody is to move");
    vm_free(vm);
}

static void ticks(void)
{
    static struct referee_result res;
    struct referee ref;
    struct vm *vm = open_game(&ref, ticker_game, 1);
    struct referee_input in[2] = {{1, "{}", 2}, {1, "{\"a\":1}", 7}};
    referee_tick(&ref, in, 0, 100, 0, &res);
    ok(res.verdict == REFEREE_APPLIED && res.nevents == 0 && !res.hash[0], "an empty tick");
    referee_tick(&ref, in, 2, 200, 1, &res);
    ok(res.nevents == 1 && strcmp(res.events[0].json, "{\"got\":2}") == 0, "a tick's inputs");
    is_int(strlen(res.hash), 16, "a checkpoint's hash when asked for");
    referee_tick(&ref, in, 1, 300, 0, &res);
    ok(res.outcome && strstr(res.outcome, "draw"), "the outcome after a tick");
    vm_free(vm);
}

static void apply_text(struct referee *ref, const char *action, struct referee_result *res)
{
    referee_apply(ref, 1, action, strlen(action), 0, res);
}

static void docs(void)
{
    static struct referee_result res;
    struct referee ref;
    struct vm *vm = open_game(&ref, sheet_game, 2);
    char err[600];
    ok(referee_set_docs(&ref, "{\"1\":{\"doc\":{\"n\":5}}}", err, sizeof err) == VM_OK, "set_docs");
    apply_text(&ref, "{\"op\":\"save\",\"n\":7,\"by\":1}", &res);
    ok(res.verdict == REFEREE_APPLIED && res.nevents == 1 && res.nsaves == 1, "a save: %s",
       res.err);
    ok(res.nevents == 1 && strstr(res.events[0].json, "\"seen\":5") &&
           strstr(res.events[0].json, "\"now\":7"),
       "ctx.doc gave the starting document, then the save in the same call");
    ok(res.nsaves == 1 && res.saves[0].seat == 1 && res.saves[0].by == 1 &&
           strcmp(res.saves[0].note, "set 7") == 0 &&
           strncmp(res.saves[0].json, "{\"n\":7}", res.saves[0].len) == 0,
       "the save's seat, by, note and JSON");
    apply_text(&ref, "{\"op\":\"fail\"}", &res);
    ok(res.verdict == REFEREE_FAILED && res.nsaves == 0, "a failed call saves nothing");
    apply_text(&ref, "{\"op\":\"big\"}", &res);
    ok(res.verdict == REFEREE_FAILED && strstr(res.err, "more than 65536"),
       "an oversize document fails the call");
    apply_text(&ref, "{\"op\":\"look\"}", &res);
    ok(res.verdict == REFEREE_APPLIED && res.nsaves == 0 && res.nevents == 1 &&
           strstr(res.events[0].json, "\"seen\":7"),
       "a later call sees the last successful save");
    vm_free(vm);
}

static void handover(void)
{
    static struct referee_result res;
    struct referee ref;
    struct vm *vm = open_game(&ref, gm_game, 3);
    char err[600], hash[17], before[17];
    referee_apply(&ref, 1, "{}", 2, 0, &res);
    ok(res.verdict == REFEREE_APPLIED, "the game master acts out of turn");
    memcpy(before, res.hash, 17);
    ok(referee_set_gm(&ref, 3, hash, err, sizeof err) == VM_OK && strcmp(hash, before) == 0,
       "the seat is handed to seat 3, and the state's hash is unchanged");
    referee_apply(&ref, 1, "{}", 2, 0, &res);
    is_int(res.verdict, REFEREE_NOT_YOUR_TURN, "seat 1 no longer acts out of turn");
    referee_apply(&ref, 2, "{}", 2, 0, &res);
    ok(res.verdict == REFEREE_ILLEGAL && res.reason && !strcmp(res.reason, "not the game master"),
       "validate sees ctx.is_gm: seat 2, to move, is not the game master");
    referee_apply(&ref, 3, "{}", 2, 0, &res);
    ok(res.verdict == REFEREE_APPLIED, "seat 3 acts out of turn");
    struct referee_view views[4];
    ok(referee_views(&ref, 2, 0xf, views, err, sizeof err) == VM_OK, "views");
    ok(views[3].json && strstr(views[3].json, "secret") && views[3].legal && views[1].json &&
           !strstr(views[1].json, "secret") && !views[1].legal,
       "the omniscient view and the legal actions moved to seat 3");
    ok(referee_set_gm(&ref, 4, hash, err, sizeof err) != VM_OK && strstr(err, "no seat 4"),
       "a seat the game does not have is refused: %s", err);
    vm_free(vm);
    vm = open_game(&ref, counter_game, 2);
    ok(referee_set_gm(&ref, 2, hash, err, sizeof err) != VM_OK && strstr(err, "no game master"),
       "a game without a game master has none to hand over: %s", err);
    vm_free(vm);
}

/* The hash after one move: the whole state as the game made it. */
static void hash_after_move(struct referee *ref, char out[17])
{
    static struct referee_result res;
    referee_apply(ref, 1, "{\"n\":1}", 7, 1, &res);
    memcpy(out, res.verdict == REFEREE_APPLIED ? res.hash : "", 17);
}

/* referee_load then referee_start (a state prepared ahead of its room) against referee_setup:
 * the same game, seed and moves give the same states; a game that draws while it loads is
 * reported unpoolable. */
static void load_then_start(void)
{
    const char *games[] = {counter_game, dice_game};
    for (int g = 0; g < 2; g++) {
        json_t *files = json_pack("{ss}", "game.lua", games[g]);
        struct script_version *v = script_version_from_files("counter", files);
        json_decref(files);
        struct referee a, b;
        char err[600], ha[17] = "", hb[17] = "";
        int poolable = -1;
        struct vm *va = vm_new(8u << 20), *vb = vm_new(8u << 20);
        trusted_open(va, "referee", err, sizeof err);
        trusted_open(vb, "referee", err, sizeof err);
        enum vm_status sa = referee_setup(&a, va, v, NULL, 42, 2, 1000, 200, NULL, err, sizeof err);
        enum vm_status sl = referee_load(vb, v, 1000, &poolable, err, sizeof err);
        is_int(poolable, g == 0, "%s: poolable when it draws nothing while it loads",
               g ? "dice" : "counter");
        if (g == 0) {
            enum vm_status sb =
                referee_start(&b, vb, NULL, 42, 2, 1000, 200, NULL, err, sizeof err);
            ok(sa == VM_OK && sl == VM_OK && sb == VM_OK, "setup, load and start");
            hash_after_move(&a, ha);
            hash_after_move(&b, hb);
            ok(ha[0] && strcmp(ha, hb) == 0, "the same state after a move (%s, %s)", ha, hb);
        }
        vm_free(va);
        vm_free(vb);
        script_version_unref(v);
    }
}

/* One room's first views and first move in a state: the view and legal JSON of seat 2, the
 * state's hash after seat 2 moves. */
static void first_room_moves(struct vm *vm, char view[200], char legal[200], char hash[17])
{
    static struct referee_result res;
    struct referee ref;
    struct referee_view views[3];
    char err[600];
    view[0] = legal[0] = hash[0] = '\0';
    if (referee_start(&ref, vm, NULL, 42, 2, 1000, 200, NULL, err, sizeof err) != VM_OK) return;
    if (referee_views(&ref, 2, 7, views, err, sizeof err) != VM_OK) return;
    snprintf(view, 200, "%s", views[2].json ? views[2].json : "");
    snprintf(legal, 200, "%s", views[2].legal ? views[2].legal : "");
    referee_views(&ref, 2, 7, views, err, sizeof err); /* legal runs again: it marks the ctx */
    referee_apply(&ref, 2, "{}", 2, 1, &res);
    if (res.verdict == REFEREE_APPLIED) memcpy(hash, res.hash, 17);
    char h[17];
    referee_set_gm(&ref, 2, h, err, sizeof err); /* the next room must start with seat 1's */
}

/* A state recycled for another room of its version (referee_reload, vm_recycle) shows that room
 * exactly what a new state would: nothing the last room's game left is reachable. */
static void reload_forgets(void)
{
    json_t *files = json_pack("{ss}", "game.lua", leaky_game);
    struct script_version *v = script_version_from_files("leaky", files);
    json_decref(files);
    char err[600], view[2][200], legal[2][200], hash[2][17];
    int poolable = 0;
    struct vm *vm = vm_new(8u << 20);
    trusted_open(vm, "referee", err, sizeof err);
    ok(referee_load(vm, v, 1000, &poolable, err, sizeof err) == VM_OK && poolable, "loaded");
    first_room_moves(vm, view[0], legal[0], hash[0]);
    ok(strstr(view[0], "\"rooms\":1") && strstr(view[0], "\"left\":1"), "first room: %s", view[0]);
    is_str(legal[0], "[{\"marks\":2}]", "the game master's legal, then seat 2's, mark the ctx");
    for (int use = 2; use <= 3; use++) {
        ok(referee_reload(vm, v, 1000, &poolable, err, sizeof err) == VM_OK && poolable &&
               vm_recycle(vm) == 0,
           "use %d: the game loaded again and the state collected", use);
        first_room_moves(vm, view[1], legal[1], hash[1]);
        is_str(view[1], view[0], "use %d: the game's own counts start again", use);
        is_str(legal[1], legal[0], "use %d: the ctx the last room marked is gone", use);
        ok(hash[0][0] && strcmp(hash[0], hash[1]) == 0, "use %d: the same state after a move", use);
    }
    static struct referee_result res;
    struct referee ref;
    referee_start(&ref, vm, NULL, 42, 2, 1000, 200, NULL, err, sizeof err);
    referee_apply(&ref, 2, "{}", 2, 1, &res);
    is_int(res.nlogs, 1, "a room gets its own log lines only");
    referee_apply(&ref, 2, "{\"x\":", 6, 1, &res);
    ok(vm_recycle(vm) == 0, "a refused move is not a failure");
    vm_call(vm, 0, 0, 1000, err, sizeof err); /* nothing to call: a failed call */
    ok(vm_failed(vm) && vm_recycle(vm) < 0, "a state a call failed on is not recycled");
    vm_free(vm);
    script_version_unref(v);
}

int main(void)
{
    vm_global_init();
    if (trusted_init("lua") < 0) {
        printf("Bail out! cannot read lua/ (run from the repository root)\n");
        return 1;
    }
    turns();
    ticks();
    docs();
    handover();
    load_then_start();
    reload_forgets();
    trusted_free();
    return done_testing();
}
