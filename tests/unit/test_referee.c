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
    trusted_free();
    return done_testing();
}
