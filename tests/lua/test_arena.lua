#!/usr/bin/env luajit
-- Rules of games/arena/game.lua and the brawler agent (agents/brawler.lua), loaded in the
-- script sandbox and driven the way the server drives a real-time game. TAP output.
-- Run from the repository root: luajit -joff tests/lua/test_arena.lua
-- The timing diagnostics are meant for the JIT-less interpreter: prove -e 'luajit -joff' ...
package.path = ((arg[0]:match("^(.*)[/\\]") or ".") .. "/?.lua;") .. package.path
local H = require("harness")

local has_cjson, cjson = pcall(require, "cjson")

local game = H.load("games/arena/game.lua")
local EMPTY = {}

-- One input as tick receives it: positional and named fields both.
local function input(seat, action) return { seat, action, seat = seat, action = action } end

local function new(seats, config, seed)
  local ctx = H.ctx({ seed = seed or 1, seats = seats or 4 })
  return game.setup(ctx, config or {}), ctx
end

-- Stands `seat` still at (x, y).
local function put(s, seat, x, y)
  local p = s.players[seat]
  p.x, p.y, p.tx, p.ty, p.ox, p.oy, p.walk = x, y, x, y, x, y, 0
end

-- Runs `ticks` ticks; `inputs` (a list of input()) arrive before the first one.
local function run(s, ctx, ticks, inputs)
  for i = 1, ticks do
    ctx.now = s.t
    game.tick(s, ctx, i == 1 and inputs or EMPTY)
  end
end

local function events_of(ctx, kind)
  local out = {}
  for _, e in ipairs(ctx.events) do
    if kind == nil or e.event.kind == kind then out[#out + 1] = e.event end
  end
  return out
end

local function pos(s, seat) return { s.players[seat].x, s.players[seat].y } end

local function refused(s, seat, action, want, name)
  local ok, why = game.validate(s, seat, action)
  H.ok(ok == false and why == want, name .. (ok == false and why == want and "" or
    (": got " .. tostring(ok) .. ", " .. tostring(why))))
end

------------------------------------------------------------------------------------------------
-- Catalogue and self-test

H.is_deep({ game.name, game.title, game.players, game.tick_rate, game.send_rate, game.quick_fill },
  { "arena", "Arena", { min = 2, max = 8 }, 60, 60, 4 }, "catalogue fields")
H.ok(type(game.tick) == "function" and type(game.validate) == "function" and
  type(game.view) == "function" and type(game.outcome) == "function", "real-time functions")
H.self_test(game, "self-test")

------------------------------------------------------------------------------------------------
-- Setup

do
  local s = new(4, {}, 7)
  H.is_deep({ s.tick, s.t, s.round_ms, s.over, #s.players }, { 0, 0, 180000, false, 4 },
    "fresh round: clock at 0, three minutes, four players")
  local fine = true
  for _, p in ipairs(s.players) do
    fine = fine and p.alive and p.hp == 100 and p.score == 0 and p.x >= 50 and p.x <= 950 and
      p.y >= 50 and p.y <= 950 and p.tx == p.x and p.ty == p.y and p.attack_at == 0 and
      p.dash_at == 0 and p.shield_at == 0 and p.shield_until == 0
  end
  H.ok(fine, "everyone alive, full health, standing inside the field, nothing on cooldown")
  H.is_deep(new(4, {}, 7), s, "spawns are deterministic for a seed")
  H.ok(not H.deep_eq(new(4, {}, 8).players, s.players), "another seed spawns elsewhere")
  H.is_deep(#new(8).players, 8, "eight seats, eight players")

  local cases = { { 30000, 30000 }, { 2000, 2000 }, { 1000, 2000 }, { 1e9, 600000 },
    { 600000, 600000 }, { 30000.5, 30000 }, { "60000", 180000 }, { 0 / 0, 180000 } }
  local got, want = {}, {}
  for i, c in ipairs(cases) do
    got[i] = new(2, { round_ms = c[1] }).round_ms
    want[i] = c[2]
  end
  H.is_deep(got, want, "config.round_ms is clamped to 2000..600000, ignored unless a number")
end

------------------------------------------------------------------------------------------------
-- Movement

do
  local s, ctx = new(4)
  put(s, 1, 100, 500)
  run(s, ctx, 60, { input(1, { action = "move", x = 900, y = 500 }) })
  H.is_deep(pos(s, 1), { 300, 500 }, "walking: 200 units in 60 ticks (1 s)")
  run(s, ctx, 30)
  H.is_deep(pos(s, 1), { 400, 500 }, "and 100 more in the next 30 ticks")
  run(s, ctx, 200)
  H.is_deep(pos(s, 1), { 900, 500 }, "stops exactly at the target")

  put(s, 2, 100, 100)
  run(s, ctx, 30, { input(2, { action = "move", x = 700, y = 900 }) })
  H.is_deep(pos(s, 2), { 160, 180 }, "diagonal walk: 100 units along the line in 0.5 s")

  put(s, 3, 321.5, 654.25)
  run(s, ctx, 45, { input(3, { action = "move", x = 1000, y = 0 }) })
  local dx, dy = s.players[3].x - 321.5, s.players[3].y - 654.25
  H.ok(math.abs(math.sqrt(dx * dx + dy * dy) - 150) < 0.01,
    "any direction: 150 units in 0.75 s, to within rounding")
  local function grid(v) return math.floor(v * 100 + 0.5) / 100 == v end
  H.ok(grid(s.players[3].x) and grid(s.players[3].y), "positions kept on a 0.01 grid")
  run(s, ctx, 1, { input(3, { action = "move", x = 123.456789, y = 0.004 }) })
  H.is_deep({ s.players[3].tx, s.players[3].ty }, { 123.46, 0 }, "targets rounded to the grid too")

  put(s, 4, 500, 500)
  run(s, ctx, 30, { input(4, { action = "move", x = 900, y = 500 }) })
  run(s, ctx, 30, { input(4, { action = "move", x = 600, y = 900 }) })
  H.is_deep(pos(s, 4), { 600, 600 }, "a new move turns the walker at once")
end

------------------------------------------------------------------------------------------------
-- Attack

do
  local s, ctx = new(4)
  put(s, 1, 500, 500); put(s, 2, 560, 500); put(s, 3, 500, 560.01); put(s, 4, 100, 100)
  H.ok(game.validate(s, 1, { action = "attack", target = 2 }) == true, "attack at exactly 60 units")
  refused(s, 1, { action = "attack", target = 3 }, "seat 3 is out of range (60 units)",
    "attack at 60.01 units refused")
  run(s, ctx, 1, { input(1, { action = "attack", target = 2 }) })
  H.is_deep({ s.players[2].hp, s.players[1].attack_at }, { 90, 500 }, "10 damage, ready again at t = 500")
  H.is_deep(game.view(s, 1).players[1].cd, { attack = 484, dash = 0, shield = 0 },
    "the view counts the cooldown down (484 ms left one tick later)")
  refused(s, 1, { action = "attack", target = 2 }, "attack is on cooldown for another 484 ms",
    "attack on cooldown refused")
  run(s, ctx, 28)
  H.ok(not game.validate(s, 1, { action = "attack", target = 2 }), "still cooling down after 29 ticks")
  run(s, ctx, 1)
  H.ok(game.validate(s, 1, { action = "attack", target = 2 }) == true, "ready after 30 ticks (0.5 s)")

  -- Both validated on arrival, but only the first lands: the second is on cooldown by then.
  run(s, ctx, 1, { input(1, { action = "attack", target = 2 }), input(1, { action = "attack", target = 2 }) })
  H.is_deep(s.players[2].hp, 80, "two attacks in one tick: only the first lands")

  -- An attack that went out of range between arrival and tick is dropped.
  run(s, ctx, 29)
  H.ok(game.validate(s, 1, { action = "attack", target = 2 }) == true, "valid on arrival")
  put(s, 2, 700, 500)
  run(s, ctx, 1, { input(1, { action = "attack", target = 2 }) })
  H.is_deep({ s.players[2].hp, s.players[1].attack_at < s.t }, { 80, true },
    "dropped at tick time once the target is out of reach (no damage, no cooldown)")
end

------------------------------------------------------------------------------------------------
-- Shield

do
  local s, ctx = new(2)
  put(s, 1, 500, 500); put(s, 2, 530, 500)
  run(s, ctx, 1, { input(2, { action = "ability", kind = "shield" }) })
  H.is_deep({ s.players[2].shield_until, s.players[2].shield_at }, { 2000, 8000 },
    "shield: up until t = 2000, ready again at t = 8000")
  H.ok(game.view(s, 1).players[2].shield == true, "the view shows the shield")
  run(s, ctx, 1, { input(1, { action = "attack", target = 2 }) })
  H.is_deep(s.players[2].hp, 95, "a shielded hit does 5 damage")
  refused(s, 2, { action = "ability", kind = "shield" }, "shield is on cooldown for another 7967 ms",
    "shield on cooldown refused")
  run(s, ctx, 117) -- t = 1983: the shield is still up
  run(s, ctx, 1, { input(1, { action = "attack", target = 2 }) })
  H.is_deep(s.players[2].hp, 90, "still halved just before 2 s")
  run(s, ctx, 30) -- t = 2483: the attack is ready again
  run(s, ctx, 1, { input(1, { action = "attack", target = 2 }) })
  H.is_deep({ s.players[2].hp, game.view(s, 1).players[2].shield }, { 80, false },
    "after 2 s: full damage, no shield in the view")
  run(s, ctx, 479 - s.tick)
  H.ok(not game.validate(s, 2, { action = "ability", kind = "shield" }), "no shield before 8 s")
  run(s, ctx, 1)
  H.ok(game.validate(s, 2, { action = "ability", kind = "shield" }) == true, "shield ready after 8 s")
end

------------------------------------------------------------------------------------------------
-- Dash

do
  local s, ctx = new(4)
  put(s, 1, 500, 500)
  run(s, ctx, 1, { input(1, { action = "ability", kind = "dash", x = 900, y = 500 }) })
  H.is_deep(pos(s, 1), { 653.33, 500 }, "dash: 150 units at once, then walks on (3.33 in the tick)")
  H.is_deep({ s.players[1].tx, s.players[1].ty }, { 900, 500 }, "still heading for the dash point")
  refused(s, 1, { action = "ability", kind = "dash", x = 0, y = 0 },
    "dash is on cooldown for another 3984 ms", "dash on cooldown refused")
  run(s, ctx, 238)
  H.ok(not game.validate(s, 1, { action = "ability", kind = "dash", x = 0, y = 0 }), "no dash before 4 s")
  run(s, ctx, 1)
  H.ok(game.validate(s, 1, { action = "ability", kind = "dash", x = 0, y = 0 }) == true, "dash ready after 4 s")

  put(s, 2, 500, 500)
  run(s, ctx, 1, { input(2, { action = "ability", kind = "dash", x = 800, y = 900 }) })
  local dx, dy = s.players[2].x - 500, s.players[2].y - 500
  H.ok(math.abs(math.sqrt(dx * dx + dy * dy) - 150 - 200 / 60) < 0.01, "a diagonal dash covers 150 too")

  put(s, 3, 100, 100)
  run(s, ctx, 1, { input(3, { action = "ability", kind = "dash", x = 40, y = 20 }) })
  H.is_deep({ pos(s, 3), s.players[3].tx, s.players[3].walk }, { { 40, 20 }, 40, 0 },
    "a dash shorter than 150 lands on its point and stops")
end

------------------------------------------------------------------------------------------------
-- Death and respawn

do
  local s, ctx = new(4, {}, 3)
  put(s, 1, 500, 500); put(s, 2, 520, 500); put(s, 3, 480, 500)
  s.players[2].hp = 10
  -- Seat 1 and seat 3 both swing at seat 2 in the same tick: the first kills, the second
  -- finds a dead target and is dropped.
  run(s, ctx, 1, { input(1, { action = "attack", target = 2 }), input(3, { action = "attack", target = 2 }) })
  local v = s.players[2]
  H.is_deep({ v.alive, v.hp, v.respawn_at, s.players[1].score, s.players[3].score, s.players[3].attack_at },
    { false, 0, 3000, 1, 0, 0 }, "killed: dead at 0 hp, back at t = 3000, the killer scores")
  H.is_deep(events_of(ctx), { { kind = "kill", by = 1, victim = 2 } }, "one kill event")
  local pv = game.view(s, nil).players[2]
  H.is_deep({ pv.alive, pv.respawn, pv.shield }, { false, 2984, false }, "the view shows the respawn timer")
  refused(s, 2, { action = "move", x = 1, y = 1 }, "dead players cannot act", "the dead cannot move")
  refused(s, 2, { action = "attack", target = 1 }, "dead players cannot act", "the dead cannot attack")
  refused(s, 2, { action = "ability", kind = "shield" }, "dead players cannot act", "the dead cannot shield")
  refused(s, 1, { action = "attack", target = 2 }, "seat 2 is dead", "the dead cannot be attacked")
  local where = pos(s, 2)
  run(s, ctx, 1, { input(2, { action = "move", x = 1, y = 1 }) })
  H.is_deep(pos(s, 2), where, "a dead player's input is dropped at tick time too")
  run(s, ctx, 177)
  H.ok(not s.players[2].alive and s.t == 2983, "still dead 2983 ms after")
  run(s, ctx, 1)
  v = s.players[2]
  H.ok(v.alive and v.hp == 100 and s.t == 3000 and v.x >= 50 and v.x <= 950 and v.y >= 50 and v.y <= 950,
    "back at t = 3000, full health, inside the field")
  H.is_deep(events_of(ctx, "respawn"), { { kind = "respawn", seat = 2 } }, "one respawn event")
  H.ok(game.validate(s, 2, { action = "move", x = 1, y = 1 }) == true, "and can act again")
end

------------------------------------------------------------------------------------------------
-- validate: every malformed action refused with a reason

do
  local s, ctx = new(4)
  put(s, 1, 500, 500); put(s, 2, 530, 500)
  local TABLE = 'an action is a table like {action = "move", x = 500, y = 500}'
  local UNKNOWN = 'unknown action: use "move", "attack" or "ability"'
  local XY = "x and y must be numbers from 0 to 1000"
  local SEAT = "target must be a seat number"
  local ABILITY = 'unknown ability: use kind = "dash" or "shield"'
  local bad = {
    { nil, TABLE, "nil" }, { 5, TABLE, "a number" }, { "move", TABLE, "a string" },
    { true, TABLE, "a boolean" },
    { {}, UNKNOWN, "no action name" }, { { action = "jump" }, UNKNOWN, "unknown action" },
    { { action = 1 }, UNKNOWN, "numeric action name" }, { { action = "MOVE", x = 1, y = 1 }, UNKNOWN, "wrong case" },
    { { action = "move" }, XY, "move without coordinates" },
    { { action = "move", x = 10 }, XY, "move without y" },
    { { action = "move", x = "10", y = 10 }, XY, "string x" },
    { { action = "move", x = 10, y = {} }, XY, "table y" },
    { { action = "move", x = 0 / 0, y = 10 }, XY, "NaN x" },
    { { action = "move", x = 10, y = 0 / 0 }, XY, "NaN y" },
    { { action = "move", x = math.huge, y = 10 }, XY, "infinite x" },
    { { action = "move", x = 10, y = -math.huge }, XY, "-infinite y" },
    { { action = "move", x = -1, y = 10 }, XY, "negative x" },
    { { action = "move", x = 10, y = 1000.01 }, XY, "y beyond 1000" },
    { { action = "attack" }, SEAT, "attack without target" },
    { { action = "attack", target = "2" }, SEAT, "string target" },
    { { action = "attack", target = 2.5 }, SEAT, "fractional target" },
    { { action = "attack", target = 0 / 0 }, SEAT, "NaN target" },
    { { action = "attack", target = 1 }, "you cannot attack yourself", "attacking yourself" },
    { { action = "attack", target = 9 }, "there is no seat 9", "attacking seat 9 of 4" },
    { { action = "attack", target = 0 }, "there is no seat 0", "attacking seat 0" },
    { { action = "attack", target = -1 }, "there is no seat -1", "attacking seat -1" },
    { { action = "attack", target = 3 }, "seat 3 is out of range (60 units)", "attacking out of range" },
    { { action = "ability" }, ABILITY, "ability without kind" },
    { { action = "ability", kind = "fireball" }, ABILITY, "unknown ability" },
    { { action = "ability", kind = "dash" }, XY, "dash without a point" },
    { { action = "ability", kind = "dash", x = 10, y = 1e308 * 10 }, XY, "dash to infinity" },
    { { action = "ability", kind = "dash", x = -5, y = 10 }, XY, "dash off the field" },
  }
  for _, case in ipairs(bad) do refused(s, 1, case[1], case[2], "validate refuses " .. case[3]) end

  local good = {
    { action = "move", x = 0, y = 0 }, { action = "move", x = 1000, y = 1000 },
    { action = "move", x = 500.0, y = 0.25 }, { action = "attack", target = 2.0 },
    { action = "ability", kind = "dash", x = 1000, y = 0 }, { action = "ability", kind = "shield" },
    { action = "move", x = 1, y = 2, extra = "ignored" },
  }
  local all = true
  for _, a in ipairs(good) do all = all and game.validate(s, 1, a) == true end
  H.ok(all, "validate accepts the edges of the field, whole floats, dash, shield, extra fields")
  H.ok(game.validate(s, 1, H.wire({ action = "attack", target = 2 })) == true, "an action that crossed the wire")

  -- tick survives garbage that skipped validate (it re-checks everything).
  local before = H.deep_copy(s)
  local ok = pcall(game.tick, s, ctx, { input(1, "junk"), input(1, { action = "attack", target = {} }),
    input(9, { action = "move", x = 1, y = 1 }), input(2, { action = "ability", kind = "dash", x = 0 / 0, y = 1 }) })
  before.tick, before.t = 1, 16
  H.ok(ok and H.deep_eq(s, before), "tick drops invalid inputs without raising")
end

------------------------------------------------------------------------------------------------
-- Round end and winner

do
  local s, ctx = new(4, { round_ms = 2000 })
  put(s, 3, 500, 500); put(s, 4, 540, 500)
  s.players[4].hp = 10
  run(s, ctx, 1, { input(3, { action = "attack", target = 4 }) })
  run(s, ctx, 118)
  H.ok(game.outcome(s) == nil and not s.over, "running at t = " .. s.t)
  run(s, ctx, 1)
  H.is_deep({ s.t, s.over, game.outcome(s) },
    { 2000, true, { winner = 3, scores = { 0, 0, 1, 0 }, reason = "win" } },
    "the round ends at t = 2000; most kills wins, with every seat's score")
  H.is_deep(events_of(ctx, "round_over"), { { kind = "round_over", winner = 3 } }, "one round_over event")
  refused(s, 1, { action = "move", x = 1, y = 1 }, "the round is over", "no input after the end")
  local frozen = H.deep_copy(s)
  run(s, ctx, 10, { input(1, { action = "move", x = 1, y = 1 }) })
  H.is_deep(s, frozen, "ticks after the end change nothing")
  H.is_deep(#events_of(ctx, "round_over"), 1, "round_over is emitted once")

  s.players[1].score = 1
  H.is_deep(game.outcome(s), { draw = true, scores = { 1, 0, 1, 0 }, reason = "draw" }, "a tie for the lead draws")
  s, ctx = new(2, { round_ms = 2000 })
  run(s, ctx, 120)
  H.is_deep({ game.outcome(s), events_of(ctx, "round_over") },
    { { draw = true, scores = { 0, 0 }, reason = "draw" }, { { kind = "round_over", draw = true } } },
    "no kills at all: a draw")
  H.is_deep(game.view(s, 1).left, 0, "nothing left on the clock")
end

------------------------------------------------------------------------------------------------
-- View

do
  local s, ctx = new(4, { round_ms = 60000 })
  put(s, 1, 123.45, 678.9)
  run(s, ctx, 3, { input(1, { action = "ability", kind = "shield" }) })
  local v = game.view(s, 1)
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  H.is_deep(keys, { "h", "left", "players", "t", "w", "you" }, "view fields")
  H.is_deep({ v.w, v.h, v.t, v.left, v.you, #v.players }, { 1000, 1000, 50, 59950, 1, 4 }, "view values")
  H.is_deep(v.players[1], { seat = 1, x = 123.45, y = 678.9, hp = 100, alive = true, score = 0,
    shield = true, cd = { attack = 0, dash = 0, shield = 7950 } }, "a player in the view")
  local spectator = game.view(s, nil)
  H.ok(spectator.you == nil, "spectators get no `you`")
  spectator.you = 2
  H.is_deep(game.view(s, 2), spectator, "everyone sees the same thing")
  v.players[1].x = 0
  H.ok(s.players[1].x == 123.45, "a view is a copy")
  H.is_deep(H.wire(game.view(s, 3)), game.view(s, 3), "a view crosses the wire unchanged")
  if has_cjson then
    local bytes = #cjson.encode(game.view(new(8), 1))
    H.ok(bytes < 1100, "an 8-player view is small: " .. bytes .. " bytes of JSON")
  end
end

------------------------------------------------------------------------------------------------
-- The brawler, one decision at a time. Each check gets a fresh copy of the agent (it remembers
-- a little per seat between calls) and a view made by the game itself.

local function brawler(seed) return H.load("agents/brawler.lua", seed or 1) end

do
  local b = brawler()
  H.ok(b.name == "brawler" and type(b.title) == "string" and #b.title > 0 and
    type(b.personality) == "string" and #b.personality > 0 and type(b.act) == "function" and
    b.choose == nil, "brawler: name, title, personality, act and no choose")
  H.is_deep(b.games, { "arena" }, "brawler plays the arena")
end

-- A world for a decision: seat 1 at `me`, the others as listed ({x, y, hp}); unlisted seats
-- are dead. Returns state, ctx.
local function scene(me, others, seats)
  local s, ctx = new(seats or 3)
  put(s, 1, me[1], me[2])
  s.players[1].hp = me[3] or 100
  for seat = 2, #s.players do
    local o = others[seat - 1]
    if o then
      put(s, seat, o[1], o[2])
      s.players[seat].hp = o[3] or 100
    else
      s.players[seat].alive, s.players[seat].respawn_at = false, 1e9
    end
  end
  return s, ctx
end

local function decide(b, s, seat, actx)
  actx = actx or H.agent_ctx(game, { seat = seat or 1 })
  actx.now = s.t
  return b.act(H.wire(game.view(s, seat or 1)), actx), actx
end

do
  local b = brawler()
  local s, ctx = scene({ 100, 100 }, { { 400, 100 }, { 100, 800 } })
  local a, actx = decide(b, s)
  H.is_deep(a, { action = "move", x = 400, y = 100 }, "brawler walks at the nearest enemy")
  H.ok(decide(b, s, 1, actx) == nil, "the same view twice: nothing new to do")
  run(s, ctx, 1)
  H.ok(decide(b, s, 1, actx) == nil, "no new walk order within 100 ms")
  run(s, ctx, 6)
  H.ok(decide(b, s, 1, actx) == nil, "nor after 100 ms when the enemy has not moved")
  put(s, 2, 420, 130)
  run(s, ctx, 1)
  a = decide(b, s, 1, actx)
  H.is_deep(a, { action = "move", x = 420, y = 130 }, "re-aims once the enemy has moved")

  s = scene({ 500, 500 }, { { 540, 520, 100 }, { 300, 300 } })
  H.is_deep(decide(brawler(), s), { action = "attack", target = 2 }, "brawler hits an enemy in reach")
  s.players[1].attack_at = 400
  a = decide(brawler(), s)
  H.ok(a == nil or a.action ~= "attack", "and does not swing while the attack cools down")

  s = scene({ 500, 500 }, { { 650, 500 } })
  H.is_deep(decide(brawler(), s), { action = "ability", kind = "dash", x = 650, y = 500 },
    "brawler dashes onto an enemy 150 units away")
  s.players[1].dash_at = 3000
  H.is_deep(decide(brawler(), s), { action = "move", x = 650, y = 500 }, "or walks when the dash is not ready")

  s = scene({ 500, 500, 20 }, { { 600, 500 } })
  a = decide(brawler(), s)
  H.ok(a and a.action == "move" and a.x < 500 - 100, "hurt brawler runs away: " .. H.show(a))
  s = scene({ 500, 500, 20 }, { { 550, 500 } })
  a = decide(brawler(), s)
  H.ok(a and a.action == "ability" and a.kind == "dash" and a.x < 500 - 100,
    "and dashes away when one is on top of him: " .. H.show(a))
  s = scene({ 500, 500, 20 }, { { 550, 500, 10 } })
  H.is_deep(decide(brawler(), s), { action = "attack", target = 2 }, "but finishes off a one-hit enemy")
  s = scene({ 10, 10, 20 }, { { 100, 100 } })
  a = decide(brawler(), s)
  H.ok(a and a.action == "move" and (a.x - 10) ^ 2 + (a.y - 10) ^ 2 >= 100 ^ 2,
    "cornered, he runs along a wall instead of into it: " .. H.show(a))
  s = scene({ 500, 500, 20 }, { { 900, 900 } })
  H.ok(decide(brawler(), s) == nil, "hurt with nobody close, he rests")
  s = scene({ 500, 500, 20 }, { { 900, 900 }, { 800, 500, 10 } })
  H.is_deep(decide(brawler(), s), { action = "move", x = 800, y = 500 }, "or picks on someone weaker")

  b = brawler()
  s, ctx = scene({ 500, 500, 25 }, { { 700, 500 } })
  a, actx = decide(b, s)
  s.players[1].hp = 15
  run(s, ctx, 1)
  H.is_deep(decide(b, s, 1, actx), { action = "ability", kind = "shield" }, "brawler shields when hit at low health")

  s = scene({ 500, 500 }, { { 540, 500 } })
  s.players[1].alive, s.players[1].respawn_at = false, 3000
  H.ok(decide(brawler(), s) == nil, "the dead do nothing")
  s = scene({ 500, 500 }, {})
  H.ok(decide(brawler(), s) == nil, "alone on the field, nothing to do")
  s = scene({ 500, 500 }, { { 540, 500 } })
  local actx2 = H.agent_ctx(game, {}) -- no ctx.seat: view.you is enough
  actx2.now = 0
  H.is_deep(brawler().act(H.wire(game.view(s, 1)), actx2), { action = "attack", target = 2 },
    "works from view.you without ctx.seat")
end

------------------------------------------------------------------------------------------------
-- Full rounds with a brawler in every seat, driven the way the server drives them: each tick
-- every bot gets its view as JSON delivers it (a fresh one every `view_every` ticks, as with a
-- send rate), its action crosses the wire and is validated on arrival, and the valid ones reach
-- tick in arrival order. Returns the final state, the game ctx and a record.

local function play(seats, seed, config, opts)
  opts = opts or {}
  local ctx = H.ctx({ seed = seed, seats = seats })
  local s = game.setup(ctx, config)
  local record = { inputs = {}, actions = 0, rejected = 0, reasons = {}, kinds = {},
    act_seconds = 0, acts = 0 }
  local bots, actxs, views = {}, {}, {}
  for seat = 1, seats do
    bots[seat] = H.load("agents/brawler.lua", seed * 100 + seat)
    actxs[seat] = H.agent_ctx(game, { seed = seed * 100 + seat, seat = seat })
  end
  local every, limit = opts.view_every or 1, opts.ticks or math.huge
  while game.outcome(s) == nil and s.tick < limit do
    local inputs = {}
    for seat = 1, seats do
      if s.tick % every == 0 then views[seat] = H.wire(game.view(s, seat)) end
      local actx = actxs[seat]
      actx.now = s.t
      local t0 = os.clock()
      local ok, action = pcall(bots[seat].act, views[seat], actx)
      record.act_seconds = record.act_seconds + (os.clock() - t0)
      record.acts = record.acts + 1
      if not ok then
        record.error = record.error or ("seat " .. seat .. " act: " .. tostring(action))
      elseif action ~= nil then
        record.actions = record.actions + 1
        action = H.wire(action)
        local kind = tostring(action.action) .. (action.kind and (" " .. action.kind) or "")
        record.kinds[kind] = (record.kinds[kind] or 0) + 1
        local valid, why = game.validate(s, seat, action)
        if valid then
          inputs[#inputs + 1] = input(seat, action)
        else
          record.rejected = record.rejected + 1
          record.reasons[#record.reasons + 1] = tostring(why)
        end
      end
    end
    record.inputs[#record.inputs + 1] = #inputs > 0 and inputs or EMPTY
    ctx.now = s.t
    local ok, err = pcall(game.tick, s, ctx, inputs)
    if not ok then
      record.error = record.error or ("tick " .. s.tick .. ": " .. tostring(err))
      break
    end
  end
  return s, ctx, record
end

local function kinds_text(k)
  local names = {}
  for name in pairs(k) do names[#names + 1] = name end
  table.sort(names)
  for i, name in ipairs(names) do names[i] = name .. " " .. k[name] end
  return table.concat(names, ", ")
end

do
  local s, ctx, record = play(4, 1, { round_ms = 30000 })
  if record.error then H.diag(record.error) end
  H.ok(record.error == nil, "4 brawlers: a 30-second round without errors")
  local result = game.outcome(s)
  H.ok(result ~= nil and s.t == 30000 and s.tick == 1800, "the round ends after 1800 ticks (30 s)")
  local kills = events_of(ctx, "kill")
  local total = 0
  for _, p in ipairs(s.players) do total = total + p.score end
  H.ok(#kills >= 1 and total == #kills, "kills happen (" .. #kills .. ") and every kill is scored")
  local waiting = 0
  for _, p in ipairs(s.players) do if not p.alive then waiting = waiting + 1 end end
  H.is_deep(#events_of(ctx, "respawn"), #kills - waiting,
    "every victim respawns unless still waiting at the end")
  H.ok(record.rejected == 0, "no brawler input refused (" .. record.rejected .. ")" ..
    (record.rejected > 0 and ": " .. record.reasons[1] or ""))
  local per_second = record.actions / 4 / 30
  H.ok(per_second < 15, string.format("brawlers act on few ticks: %.1f inputs a second each", per_second))
  H.diag("4 brawlers, 30 s: " .. H.show(result.scores) .. ", " .. #kills .. " kills; inputs: " ..
    kinds_text(record.kinds))
  H.ok((record.kinds["ability dash"] or 0) > 0 and (record.kinds["ability shield"] or 0) > 0 and
    (record.kinds.attack or 0) > 0, "they walk, attack, dash and shield")

  -- Views refreshed at the send rate (every third tick) while act runs every tick.
  s, ctx, record = play(4, 2, { round_ms = 30000 }, { view_every = 3 })
  if record.error then H.diag(record.error) end
  H.ok(record.error == nil and game.outcome(s) ~= nil, "with views at 20 Hz: a full round, no errors")
  H.ok(#events_of(ctx, "kill") >= 1 and record.rejected <= record.actions / 20,
    "kills happen (" .. #events_of(ctx, "kill") .. "), few inputs refused (" .. record.rejected ..
    " of " .. record.actions .. ")")

  s, ctx, record = play(8, 3, { round_ms = 30000 })
  H.ok(record.error == nil and game.outcome(s) ~= nil and #events_of(ctx, "kill") >= 1,
    "8 brawlers: a full round with kills (" .. #events_of(ctx, "kill") .. ")")
end

------------------------------------------------------------------------------------------------
-- Determinism

do
  local s1, ctx1, r1 = play(4, 5, { round_ms = 20000 })
  local s2, ctx2, r2 = play(4, 5, { round_ms = 20000 })
  H.ok(H.deep_eq(s1, s2) and H.deep_eq(ctx1.events, ctx2.events) and H.deep_eq(r1.inputs, r2.inputs),
    "same seed, same bots: identical inputs, events and final state")
  H.ok(has_cjson == false or cjson.encode(s1) == cjson.encode(s2), "identical as JSON too")
  local s3 = play(4, 6, { round_ms = 20000 })
  H.ok(not H.deep_eq(s1, s3), "another seed plays another round")

  -- Replaying the recorded inputs reproduces the round; so does restoring a JSON snapshot
  -- halfway and carrying on (the generator continues where it was, as the server keeps it).
  local ctx = H.ctx({ seed = 5, seats = 4 })
  local s = game.setup(ctx, { round_ms = 20000 })
  for i = 1, #r1.inputs do
    ctx.now = s.t
    game.tick(s, ctx, r1.inputs[i])
    if i == 600 then s = H.wire(s) end
  end
  H.is_deep(s, s1, "replay with a JSON snapshot restored at tick 600 ends identically")
  H.ok(H.deep_eq(ctx.events, ctx1.events), "and emits the same events")

  -- A scripted stream of arbitrary inputs (most attacks miss, dashes everywhere).
  local function scripted(seed)
    local r = H.rng(seed)
    local per_tick = {}
    for i = 1, 900 do
      local list = {}
      for _ = 1, r(0, 2) do
        local seat, k = r(4), r(10)
        local a
        if k <= 5 then a = { action = "move", x = r(0, 1000), y = r(0, 1000) }
        elseif k <= 8 then a = { action = "attack", target = r(4) }
        elseif k == 9 then a = { action = "ability", kind = "dash", x = r(0, 1000), y = r(0, 1000) }
        else a = { action = "ability", kind = "shield" } end
        list[#list + 1] = input(seat, a)
      end
      per_tick[i] = list
    end
    return per_tick
  end
  local function replay(per_tick)
    local s, ctx = new(4, { round_ms = 15000 }, 9)
    for i = 1, #per_tick do
      for _, p in ipairs(s.players) do -- bunch them up so that attacks land
        if p.alive and i % 120 == 0 then p.tx, p.ty, p.ox, p.oy, p.walk = 500, 500, p.x, p.y, 0 end
      end
      ctx.now = s.t
      game.tick(s, ctx, per_tick[i])
    end
    return s, ctx
  end
  local a, actx = replay(scripted(11))
  local b, bctx = replay(scripted(11))
  H.ok(H.deep_eq(a, b) and H.deep_eq(actx.events, bctx.events) and a.tick == 900,
    "arbitrary inputs: same seed and inputs, same state and events after 900 ticks")
end

------------------------------------------------------------------------------------------------
-- Tick cost in the interpreter: 10,000 ticks of a game replaying inputs recorded from
-- brawlers (views at 20 Hz, as they would be served).

local function time_ticks(seats)
  local ticks = 10000
  local final, _, record = play(seats, 21, { round_ms = 600000 }, { ticks = ticks, view_every = 3 })
  local ctx = H.ctx({ seed = 21, seats = seats })
  local s = game.setup(ctx, { round_ms = 600000 })
  local inputs = record.inputs
  local count = 0
  for i = 1, #inputs do count = count + #inputs[i] end
  collectgarbage()
  collectgarbage("stop")
  local before = collectgarbage("count")
  local t0 = os.clock()
  for i = 1, ticks do
    ctx.now = s.t
    game.tick(s, ctx, inputs[i])
  end
  local elapsed = os.clock() - t0
  local garbage = collectgarbage("count") - before
  collectgarbage("restart")
  local us = elapsed / ticks * 1e6
  H.diag(string.format("%d players: %.2f us per tick over %d ticks (%d inputs, %d kills, " ..
    "%.0f bytes allocated per tick incl. events); brawler act %.2f us per call",
    seats, us, ticks, count, #events_of(ctx, "kill"), garbage * 1024 / ticks,
    record.act_seconds / record.acts * 1e6))
  H.ok(H.deep_eq(s, final), seats .. " players: the timed replay reproduced the recorded game")
  H.ok(us < 500, seats .. " players: a tick takes well under the budget (" ..
    string.format("%.2f", us) .. " us)")
end

-- A worst case: every player walking and every player sending a move and an attack each tick.
local function time_busy(seats)
  local ticks = 10000
  local s, ctx = new(seats, { round_ms = 600000 }, 22)
  local per_tick = {}
  local r = H.rng(23)
  for i = 1, 60 do
    local list = {}
    for seat = 1, seats do
      list[#list + 1] = input(seat, { action = "move", x = r(400, 600), y = r(400, 600) })
      list[#list + 1] = input(seat, { action = "attack", target = seat % seats + 1 })
    end
    per_tick[i] = list
  end
  collectgarbage()
  local t0 = os.clock()
  for i = 1, ticks do
    ctx.now = s.t
    game.tick(s, ctx, per_tick[i % 60 + 1])
  end
  local us = (os.clock() - t0) / ticks * 1e6
  local views = 2000
  t0 = os.clock()
  for i = 1, views do game.view(s, i % (seats + 1)) end
  local view_us = (os.clock() - t0) / views * 1e6
  H.diag(string.format("%d players, busy (%d inputs every tick, %d kills): %.2f us per tick; " ..
    "view %.2f us per call", seats, 2 * seats, #events_of(ctx, "kill"), us, view_us))
  H.ok(us < 500, seats .. " players, busy: still well under the budget")
end

H.diag("JIT " .. ((jit and jit.status()) and "on" or "off"))
time_ticks(4)
time_ticks(8)
time_busy(4)
time_busy(8)

H.done()
