#!/usr/bin/env luajit
-- Rules of games/tictactoe/game.lua, loaded in the script sandbox. TAP output.
-- Run from the repository root: luajit tests/lua/test_tictactoe.lua
package.path = ((arg[0]:match("^(.*)[/\\]") or ".") .. "/?.lua;") .. package.path
local H = require("harness")

local game = H.load("games/tictactoe/game.lua")

-- A fresh game with `cells` played alternately; returns state and the ctx that saw the moves.
local function play(cells)
  local ctx = H.ctx()
  local state = game.setup(ctx, {})
  for _, cell in ipairs(cells) do game.apply(state, game.to_move(state), { cell = cell }, ctx) end
  return state, ctx
end

-- Catalogue fields the server reads.
H.is_deep({ game.name, game.title, game.players, game.tick_rate, game.turn_time_ms },
  { "tictactoe", "Tic-tac-toe", { min = 2, max = 2 }, 0, 30000 }, "catalogue fields")

H.self_test(game, "self-test")

local s = play({})
H.is_deep(s, { board = { 0, 0, 0, 0, 0, 0, 0, 0, 0 }, turn = 1, moves = 0 }, "initial state")
local cells = {}
for _, a in ipairs(game.legal(s, 1)) do cells[#cells + 1] = a.cell end
H.is_deep(cells, { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, "every cell legal at the start")

-- validate: every malformed action is refused with a reason.
local bad = {
  { nil, "nil action" }, { 5, "bare number" }, { "5", "string" }, { {}, "empty table" },
  { { cell = "5" }, "string cell" }, { { cell = 0 }, "cell 0" }, { { cell = 10 }, "cell 10" },
  { { cell = -1 }, "negative cell" }, { { cell = 2.5 }, "fractional cell" },
  { { cell = 0 / 0 }, "NaN cell" }, { { cell = math.huge }, "infinite cell" },
  { { column = 5 }, "wrong key" },
}
for _, case in ipairs(bad) do
  local ok, why = game.validate(s, 1, case[1])
  H.ok(ok == false and type(why) == "string" and #why > 0, "validate refuses " .. case[2])
end
H.ok(game.validate(s, 1, { cell = 5.0 }) == true, "validate accepts 5.0 (a JSON number)")
H.ok(not pcall(game.apply, H.deep_copy(s), 1, { cell = 2.5 }, H.ctx()),
  "apply raises on an invalid action instead of corrupting the board")

-- apply: marks, turn, last, events.
local ctx
s, ctx = play({ 5 })
H.is_deep(s, { board = { 0, 0, 0, 0, 1, 0, 0, 0, 0 }, turn = 2, moves = 1, last = 5 }, "X in the centre")
H.is_deep(ctx.events, { { event = { kind = "move", seat = 1, cell = 5 } } }, "one move event, to everyone")
local ok, why = game.validate(s, 2, { cell = 5 })
H.ok(not ok and why == "cell 5 is already taken", "occupied cell refused: " .. tostring(why))

-- Every line wins, for either seat. X takes the line; O plays the first cells off it. When O
-- is the winner, X starts elsewhere so that O completes the line on its third move.
local LINES = { { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 }, { 1, 4, 7 }, { 2, 5, 8 }, { 3, 6, 9 },
  { 1, 5, 9 }, { 3, 5, 7 } }
for _, line in ipairs(LINES) do
  local on = {}
  for _, c in ipairs(line) do on[c] = true end
  local off = {}
  for c = 1, 9 do if not on[c] then off[#off + 1] = c end end
  for winner = 1, 2 do
    -- Off-line cells for the loser, picked so that the loser never makes three itself.
    local loser = winner == 1 and { off[1], off[2] } or { off[1], off[2], off[4] }
    local seq = {}
    for i = 1, 3 do
      if winner == 1 then
        seq[#seq + 1] = line[i]
        if loser[i] then seq[#seq + 1] = loser[i] end
      else
        seq[#seq + 1] = loser[i]
        seq[#seq + 1] = line[i]
      end
    end
    local st = play(seq)
    H.is_deep({ game.outcome(st), st.line, game.to_move(st), #game.legal(st, 1) },
      { { winner = winner, reason = "win" }, line, nil, 0 },
      "seat " .. winner .. " wins with line " .. table.concat(line, "-"))
  end
end

s = play({ 1, 2, 3, 5, 4, 6, 8, 7, 9 })
H.is_deep(game.outcome(s), { draw = true, reason = "draw" }, "full board without a line draws")
H.ok(game.to_move(s) == nil and #game.legal(s, 1) == 0, "nothing to play after a draw")
ok, why = game.validate(s, 1, { cell = 1 })
H.ok(not ok and why == "the game is over", "moves refused after the end")

-- Views: identical for all, a valid state, JSON-safe.
s = play({ 5, 1, 9 })
local v1, v2, vs = game.view(s, 1), game.view(s, 2), game.view(s, nil)
H.ok(H.deep_eq(v1, v2) and H.deep_eq(v1, vs), "players and spectators see the same view")
H.is_deep(v1.marks, { "X", "O" }, "view names the marks")
v1.board[2] = 2
H.ok(s.board[2] == 0, "a view is a copy, not the live state")
local wired = H.wire(game.view(s, 1))
H.is_deep({ game.to_move(wired), game.legal(wired, 2) }, { game.to_move(s), game.legal(s, 2) },
  "a view that crossed the wire as JSON is a valid state")
local restored = H.wire(s)
game.apply(restored, 2, { cell = 3 }, H.ctx())
game.apply(s, 2, { cell = 3 }, H.ctx())
H.is_deep(restored, s, "play continues identically from a state restored from JSON")

-- describe: one line per event for a text-only client, from the event alone.
H.is_deep(game.describe({ kind = "move", seat = 1, cell = 5 }, 1, {}), "You (X) take cell 5 (centre).",
  "describe: my own move")
H.is_deep(game.describe({ kind = "move", seat = 2, cell = 1 }, 1, {}), "O takes cell 1 (top left).",
  "describe: the other seat's move")
H.is_deep(game.describe({ kind = "move", seat = 1, cell = 9 }, nil, {}), "X takes cell 9 (bottom right).",
  "describe: a spectator's line")
H.is_deep(game.describe({ kind = "start" }, 2, {}),
  "Tic-tac-toe starts: you are O, X moves first. Cells 1-9, row by row.", "describe: start")
H.is_deep(game.describe({ kind = "game_over", result = { winner = 2, reason = "win" } }, 2, {}),
  "Game over: you win (win).", "describe: a win, told to the winner")
H.is_deep(game.describe({ kind = "game_over", result = { winner = 2, reason = "forfeit" } }, 1, {}),
  "Game over: O wins (forfeit).", "describe: a win, told to the other seat")
H.is_deep(game.describe({ kind = "game_over", result = { draw = true, reason = "draw" } }, nil, {}),
  "Game over: a draw.", "describe: a draw")
H.is_deep(game.describe({ kind = "timeout", seat = 1 }, 1, {}), nil,
  "describe: an event it does not know is left to the server")
H.is_deep(game.describe({ kind = "move", seat = 1, cell = 12 }, 1, {}), nil,
  "describe: a malformed move is left to the server")
local longest = 0
for _, seat in ipairs({ 1, 2, false }) do
  for cell = 1, 9 do
    for mover = 1, 2 do
      local line = game.describe({ kind = "move", seat = mover, cell = cell }, seat or nil, {})
      longest = math.max(longest, #line)
    end
  end
end
H.ok(longest <= 200, "describe: every move line fits 200 bytes (longest " .. longest .. ")")

-- Through lua/referee.lua, as the room calls it: seat 0 is a spectator, nil means no line.
local referee = H.referee("games/tictactoe/game.lua", 1, 2)
H.is_deep(referee.describe(1, '{"kind":"move","seat":1,"cell":5}'), "You (X) take cell 5 (centre).",
  "R.describe: the seat's line")
H.is_deep(referee.describe(0, '{"kind":"move","seat":2,"cell":3}'), "O takes cell 3 (top right).",
  "R.describe: seat 0 is a spectator")
H.is_deep(referee.describe(1, '{"kind":"hidden"}'), nil, "R.describe: no line gives nil")

H.done()
