#!/usr/bin/env luajit
-- Rules of games/connect4/game.lua, loaded in the script sandbox. TAP output.
-- Run from the repository root: luajit tests/lua/test_connect4.lua
package.path = ((arg[0]:match("^(.*)[/\\]") or ".") .. "/?.lua;") .. package.path
local H = require("harness")

local game = H.load("games/connect4/game.lua")

-- A fresh game with a string of column digits played alternately.
local function play(columns)
  local ctx = H.ctx()
  local state = game.setup(ctx, {})
  for c in columns:gmatch("%d") do
    game.apply(state, game.to_move(state), { column = tonumber(c) }, ctx)
  end
  return state, ctx
end

local function cell(state, column, row) return state.board[(row - 1) * 7 + column] end

H.is_deep({ game.name, game.title, game.players, game.tick_rate, game.turn_time_ms },
  { "connect4", "Connect Four", { min = 2, max = 2 }, 0, 30000 }, "catalogue fields")

H.self_test(game, "self-test")

local s = play("")
H.ok(#s.board == 42 and s.moves == 0 and s.turn == 1, "42 empty cells, seat 1 to move")
H.is_deep(s.heights, { 0, 0, 0, 0, 0, 0, 0 }, "all columns empty")
H.is_deep(game.legal(s, 1), { { column = 1 }, { column = 2 }, { column = 3 }, { column = 4 },
  { column = 5 }, { column = 6 }, { column = 7 } }, "every column legal at the start")

local bad = {
  { nil, "nil action" }, { 4, "bare number" }, { {}, "empty table" },
  { { column = "4" }, "string column" }, { { column = 0 }, "column 0" },
  { { column = 8 }, "column 8" }, { { column = 3.5 }, "fractional column" },
  { { column = 0 / 0 }, "NaN column" }, { { column = -math.huge }, "infinite column" },
  { { cell = 4 }, "wrong key" },
}
for _, case in ipairs(bad) do
  local ok, why = game.validate(s, 1, case[1])
  H.ok(ok == false and type(why) == "string" and #why > 0, "validate refuses " .. case[2])
end
H.ok(game.validate(s, 1, { column = 4.0 }) == true, "validate accepts 4.0 (a JSON number)")
H.ok(not pcall(game.apply, H.deep_copy(s), 1, { column = 9 }, H.ctx()),
  "apply raises on an invalid action instead of corrupting the board")

-- Gravity, heights, last, events.
local ctx
s, ctx = play("443")
H.ok(cell(s, 4, 1) == 1 and cell(s, 4, 2) == 2 and cell(s, 3, 1) == 1, "discs fall to the lowest free row")
H.is_deep(s.heights, { 0, 0, 1, 2, 0, 0, 0 }, "heights follow the discs")
H.is_deep(s.last, { column = 3, row = 1, seat = 1 }, "last move recorded")
H.is_deep(ctx.events[2], { event = { kind = "move", seat = 2, column = 4, row = 2 } },
  "move event names column and row")
H.ok(#ctx.events == 3, "one event per move")

-- Wins in every direction, anywhere on the grid, including by the second seat.
local wins = {
  { "1212121", 1, "vertical in column 1" },
  { "17171727", 2, "vertical for seat 2 in column 7" },
  { "7766554", 1, "horizontal on the bottom row, right side" },
  { "1122334", 1, "horizontal on the bottom row, left side" },
  { "12234334644", 1, "rising diagonal" },
  { "76654554244", 1, "falling diagonal" },
  -- Found by random play; all end on the sequence's last disc.
  { "2661216333441343145412", 2, "rising diagonal above the bottom row" },
  { "53365724346354446264773", 1, "falling diagonal above the bottom row" },
  { "776666546567111314", 2, "horizontal above the bottom row" },
  { "21764665533515652635", 2, "vertical above the bottom row" },
  { "6722336362574", 1, "a run of five" },
}
for _, case in ipairs(wins) do
  local st = play(case[1])
  H.is_deep({ game.outcome(st), game.to_move(st), #game.legal(st, 1) },
    { { winner = case[2], reason = "win" }, nil, 0 }, "win: " .. case[3])
  H.ok(#st.line >= 4, "win: " .. case[3] .. " records its line")
end
H.ok(#play("6722336362574").line == 5, "a run of five records all five discs")
s = play("1112223")
H.ok(game.outcome(s) == nil, "three in a row plus a gap is not a win")
s = play("4455667")
H.is_deep(s.line, { { column = 4, row = 1 }, { column = 5, row = 1 }, { column = 6, row = 1 },
  { column = 7, row = 1 } }, "winning line lists its discs")

-- Full columns.
s = play("333333")
local ok, why = game.validate(s, 1, { column = 3 })
H.ok(not ok and why == "column 3 is full", "full column refused: " .. tostring(why))
local listed = false
for _, a in ipairs(game.legal(s, 1)) do listed = listed or a.column == 3 end
H.ok(not listed, "full column not in the legal list")

-- A full grid with no four is a draw.
s = play("353653244432253513447662277751147151172666")
H.is_deep(game.outcome(s), { draw = true, reason = "draw" }, "full grid without a four draws")
H.ok(s.moves == 42 and game.to_move(s) == nil and #game.legal(s, 1) == 0, "nothing left to play")

-- Views: identical for all, a valid state, JSON-safe.
s = play("4435")
local v = game.view(s, 1)
H.ok(H.deep_eq(v, game.view(s, 2)) and H.deep_eq(v, game.view(s, nil)),
  "players and spectators see the same view")
H.is_deep(v.last, s.last, "view includes the last move")
v.heights[1] = 6
H.ok(s.heights[1] == 0, "a view is a copy, not the live state")
local wired = H.wire(game.view(s, 2))
H.is_deep({ game.to_move(wired), game.legal(wired, 2) }, { game.to_move(s), game.legal(s, 2) },
  "a view that crossed the wire as JSON is a valid state")
local restored = H.wire(s)
game.apply(restored, 2, { column = 5 }, H.ctx())
game.apply(s, 2, { column = 5 }, H.ctx())
H.is_deep(restored, s, "play continues identically from a state restored from JSON")

-- describe: one line per event for a text-only client.
H.is_deep(game.describe({ kind = "move", seat = 1, column = 4, row = 1 }, 1, {}),
  "You (Red) drop in column 4 (row 1).", "describe: my own disc")
H.is_deep(game.describe({ kind = "move", seat = 2, column = 3, row = 2 }, nil, {}),
  "Yellow drops in column 3 (row 2).", "describe: a spectator's line")
H.is_deep(game.describe({ kind = "game_over", result = { winner = 1, reason = "win" } }, 2, {}),
  "Game over: Red wins (win).", "describe: the end")
H.is_deep(game.describe({ kind = "timeout", seat = 1 }, 1, {}), nil,
  "describe: an unknown event is left to the server")

H.done()
