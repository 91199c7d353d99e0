-- Distributed Dungeon: a tabletop role-playing game in the manner of the 5e SRD, run by a
-- dungeon master (seat 1, the game master) for heroes whose character sheets are their players'
-- documents, against monsters played by agents (the last seats) or by the DM.
--
-- Seats: 1 is the DM; then config.heroes hero seats (default: every seat not a monster seat);
-- then config.monster_seats monster-controller seats (default 2 with 5 seats or more, 1 with 4,
-- none with fewer: the DM plays the monsters). rules.md tells the players; docs/scripting.md
-- the platform features it uses.
--
-- Actions are tables { op = ..., ... } (see OPS below); command.lua turns text into them.
-- Modules: rules.lua (the SRD rules), data.lua (classes, spells, monsters), sheets.lua
-- (characters), text.lua (a line for each event), command.lua (text commands), act.lua (what
-- the actions do).

local D = require("data")
local R = require("rules")
local S = require("sheets")
local T = require("text")
local A = require("act")
local C = require("command")

local game = {
  name = "dungeon",
  title = "Distributed Dungeon",
  players = { min = 2, max = 8 },
  tick_rate = 0,
  turn_time_ms = 120000,
  on_timeout = "random",
  quick_fill = 5,
  game_master = true,
}

-- The DM's seat: state.dm, unless the game master's seat was handed over (the hand_gm message):
-- ctx.is_gm says where it is now. apply records the move in the state.
local function dm_of(state, ctx)
  if not (ctx and ctx.is_gm) or ctx.is_gm(state.dm) then return state.dm end
  for seat = 1, ctx.seats or state.seats do
    if ctx.is_gm(seat) then return seat end
  end
  return state.dm
end

-- The state as validate and legal must see it: with the DM's seat where it is now (a view of
-- the state, which those calls may not change).
local function as_now(state, ctx)
  local dm = dm_of(state, ctx)
  if dm == state.dm then return state end
  return setmetatable({ dm = dm }, { __index = state })
end

local function int_in(v, lo, hi)
  return type(v) == "number" and v == math.floor(v) and v >= lo and v <= hi
end

function game.setup(ctx, config)
  -- The room's size (t.new in self-tests gives players.max seats; config.seats picks fewer).
  local seats = int_in(config.seats, game.players.min, ctx.seats) and config.seats or ctx.seats
  local default_monster = seats >= 5 and 2 or (seats == 4 and 1 or 0)
  local monster = int_in(config.monster_seats, 0, seats - 2) and config.monster_seats or default_monster
  local state = {
    dm = 1, heroes = {}, controllers = {}, phase = "explore", round = 0, turn = 0, order = {},
    creatures = {}, counters = {}, rolls = {}, roll_seq = 0, log = {}, next_ctl = 1, loaded = false,
    seats = seats,
  }
  for seat = 2, seats - monster do
    state.heroes[#state.heroes + 1] = seat
    state.creatures[#state.creatures + 1] = { id = "p" .. seat, seat = seat, kind = "hero",
                                               name = "seat " .. seat, pending = true }
  end
  for seat = seats - monster + 1, seats do state.controllers[#state.controllers + 1] = seat end
  return state
end

function game.to_move(state)
  if state.over then return nil end
  if state.phase == "combat" then
    local c = A.current(state)
    if c then return A.controller(state, c) end
    return state.dm
  end
  local list = {}
  for _, seat in ipairs(state.heroes) do list[#list + 1] = seat end
  list[#list + 1] = state.dm
  return list
end

function game.legal(state, seat, ctx)
  state = as_now(state, ctx)
  if state.over then return {} end
  if state.phase ~= "combat" then
    if seat == state.dm or A.hero_of(state, seat) then return { { op = "wait" } } end
    return {}
  end
  local c = A.current(state)
  if not c or not A.may_act_for(state, seat, c) then return {} end
  local list = {}
  for _, target in ipairs(A.enemies(state, c)) do
    if target.hp > 0 then list[#list + 1] = { op = "attack", target = target.id } end
  end
  if c.kind == "monster" then
    list[#list + 1] = { op = "dodge" }
    list[#list + 1] = { op = "flee" }
  end
  list[#list + 1] = { op = "end" }
  return list
end

function game.validate(state, seat, action, ctx)
  state = as_now(state, ctx)
  if type(action) ~= "table" or type(action.op) ~= "string" then
    return false, "an action is a table with op (try the command /help)"
  end
  local check = A.OPS[action.op]
  if not check then return false, "unknown op " .. action.op:sub(1, 32) .. " (try the command /help)" end
  if check.dm and seat ~= state.dm then return false, "only the DM may " .. action.op end
  return check.validate(state, seat, action)
end

function game.apply(state, seat, action, ctx)
  state.dm = dm_of(state, ctx)
  A.load_sheets(state, ctx)
  A.OPS[action.op].apply(state, seat, action, ctx)
  if state.phase ~= "combat" then A.flush(state, ctx) end
end

-- What a seat sees: its own sheet in full; the party's names and hp; the monsters' names and
-- a coarse health (no AC, no hp), except the monsters the seat plays; the DM sees everything.
function game.view(state, seat)
  if seat == "gm" then return state end
  return A.view(state, seat)
end

function game.outcome(state)
  return state.result
end

game.command = C.command

function game.describe(event, seat, ctx)
  return T.line(event)
end

function game.tests(t)
  local s, ctx = t.new({ seats = 5 }, 3)
  -- A self-test has no players: no documents to read, none saved.
  ctx.doc, ctx.save_doc = function() return nil end, function() return false end
  t.eq(s.heroes, { 2, 3 }, "five seats: two heroes")
  t.eq(s.controllers, { 4, 5 }, "and two monster seats")
  t.eq(game.to_move(s), { 2, 3, 1 }, "exploration: the heroes and the DM may act")
  t.ok(not game.validate(s, 2, { op = "spawn", monster = "goblin" }), "only the DM spawns")
  game.apply(s, 1, { op = "spawn", monster = "goblin", n = 2 }, ctx)
  t.eq(#s.creatures, 4, "two goblins join the two heroes")
  t.eq(s.creatures[3].controller, 4, "the first goblin is played by seat 4")
  t.eq(s.creatures[4].controller, 5, "the second by seat 5")
  t.eq(s.creatures[1].class, "fighter", "a hero without a sheet gets a new character")
  game.apply(s, 1, { op = "combat", on = true }, ctx)
  t.eq(s.phase, "combat", "the DM starts the fight")
  t.eq(#s.order, 4, "everyone rolled initiative")
  local c = A.current(s)
  t.eq(game.to_move(s), A.controller(s, c), "the creature whose turn it is moves")
  t.ok(#game.legal(s, game.to_move(s)) >= 2, "with attacks and end turn as legal actions")
  t.eq(game.command(s, 2, "/roll 2d6+1d4+3", { seat = 2, is_gm = function() return false end }),
       { op = "roll", expr = "2d6+1d4+3" }, "/roll is an action")
  t.eq(R.modifier(16), 3, "the rules load")
  t.eq(#D.SPELL_NAMES, 12, "a dozen spells")
  t.eq(#D.MONSTER_NAMES, 12, "a dozen monsters")
  t.eq(S.valid(S.new("wizard")), true, "a new sheet is valid")
end

return game
