#!/usr/bin/env luajit
-- The agents in agents/, playing the games in games/, all loaded in the script sandbox and
-- driven the way the referee drives them. TAP output.
-- Run from the repository root: luajit tests/lua/test_agents.lua
-- The timing checks are meant for the JIT-less interpreter: prove -e 'luajit -joff' ...
package.path = ((arg[0]:match("^(.*)[/\\]") or ".") .. "/?.lua;") .. package.path
local H = require("harness")

local BUDGET = 0.200 -- seconds: the server's default CPU budget for one choose

local ttt = H.load("games/tictactoe/game.lua")
local c4 = H.load("games/connect4/game.lua")
local agents = {
  random = H.load("agents/random.lua"),
  heuristic = H.load("agents/heuristic.lua"),
  minimax = H.load("agents/minimax.lua"),
}
local random, heuristic, minimax = agents.random, agents.heuristic, agents.minimax

-- A state after `moves` (cells for tic-tac-toe, a digit string of columns for Connect Four).
local function position(game, moves)
  local ctx = H.ctx()
  local s = game.setup(ctx, {})
  if game == ttt then
    for _, cell in ipairs(moves) do ttt.apply(s, ttt.to_move(s), { cell = cell }, ctx) end
  else
    for c in moves:gmatch("%d") do c4.apply(s, c4.to_move(s), { column = tonumber(c) }, ctx) end
  end
  return s
end

-- Asks `agent` for a move in `state`; checks it was legal and returns action and reasoning.
local function pick(game, agent, state, seed, seat_known)
  local action, why, _, err = H.agent_turn(game, agent, state, seed or 1, seat_known)
  if err then H.diag(err) end
  return action or {}, why or ""
end

-- Plays n games with the agents swapping seats each game; returns the tally for `a`
-- ({ win, draw, loss }), plus the first error any turn raised.
local function match(game, a, b, n, first_seed)
  local tally = { win = 0, draw = 0, loss = 0 }
  for i = 1, n do
    local seed = (first_seed or 1) + i - 1
    local a_seat = (i % 2 == 1) and 1 or 2
    local seats = a_seat == 1 and { a, b } or { b, a }
    local _, result, record = H.play(game, seats, seed)
    if record.error then return tally, record.error end
    if result.draw then
      tally.draw = tally.draw + 1
    elseif result.winner == a_seat then
      tally.win = tally.win + 1
    else
      tally.loss = tally.loss + 1
    end
  end
  return tally
end

local function tally_text(t) return t.win .. " won, " .. t.draw .. " drawn, " .. t.loss .. " lost" end

------------------------------------------------------------------------------------------------
-- Catalogue fields

for _, name in ipairs({ "random", "heuristic", "minimax" }) do
  local agent = agents[name]
  H.ok(agent.name == name and type(agent.title) == "string" and #agent.title > 0
    and type(agent.personality) == "string" and #agent.personality > 0
    and type(agent.games) == "table" and type(agent.choose) == "function",
    name .. ": name, title, personality, games and choose")
end
H.is_deep(random.games, { "*" }, "random plays any game")
H.is_deep(heuristic.games, { "tictactoe", "connect4" }, "heuristic names its games")
H.is_deep(minimax.games, { "tictactoe", "connect4" }, "minimax names its games")

------------------------------------------------------------------------------------------------
-- Chaos Monkey

for _, game in ipairs({ ttt, c4 }) do
  local tally, err = match(game, random, random, 30)
  H.ok(err == nil and tally.win + tally.draw + tally.loss == 30,
    "random: always legal over 30 games of " .. game.name)
  if err then H.diag(err) end
end

local reasons, picks = {}, {}
local opening = position(c4, "")
for seed = 1, 60 do
  local action, why = pick(c4, random, opening, seed)
  reasons[why] = true
  picks[action.column or 0] = (picks[action.column or 0] or 0) + 1
end
local distinct = 0
for _ in pairs(reasons) do distinct = distinct + 1 end
H.ok(distinct >= 10, "random: reasoning varies (" .. distinct .. " different texts in 60 moves)")
local spread = true
for column = 1, 7 do spread = spread and (picks[column] or 0) > 0 end
H.ok(spread, "random: every column gets picked from the opening")

local action, why = random.choose({}, { { x = 2, y = 7 } }, H.agent_ctx(c4))
H.ok(action.x == 2 and why:find("x 2, y 7", 1, true) ~= nil,
  "random: picks and describes actions of any shape: " .. why)
H.ok(random.act({}, H.agent_ctx(c4)) == nil, "random: sits still in real-time games")

------------------------------------------------------------------------------------------------
-- Sensible Sam

-- X: 1 2, O: 4 5, X to move: X wins at 3 (and O threatens 6).
action, why = pick(ttt, heuristic, position(ttt, { 1, 4, 2, 5 }))
H.ok(action.cell == 3 and why == "I can win by taking cell 3.", "heuristic: wins before blocking: " .. why)
-- X: 1 2, O: 5, O to move: X threatens 3.
action, why = pick(ttt, heuristic, position(ttt, { 1, 5, 2 }))
H.ok(action.cell == 3 and why:find("Blocking") == 1, "heuristic: blocks a row: " .. why)
action, why = pick(ttt, heuristic, position(ttt, {}))
H.ok(action.cell == 5 and why:find("centre") ~= nil, "heuristic: opens in the centre: " .. why)
action, why = pick(ttt, heuristic, position(ttt, { 5 }))
H.ok(action.cell ~= nil and why:find("Nothing urgent") == 1, "heuristic: otherwise any cell: " .. why)

action, why = pick(c4, heuristic, position(c4, "112233"))
H.ok(action.column == 4 and why == "I can win by taking column 4.", "heuristic: completes a row: " .. why)
action, why = pick(c4, heuristic, position(c4, "12121"))
H.ok(action.column == 1 and why == "Blocking your four in column 1.", "heuristic: blocks a column: " .. why)
action, why = pick(c4, heuristic, position(c4, "12121"), 1, true)
H.ok(action.column == 1, "heuristic: same block when the host also gives ctx.seat: " .. why)
action, why = pick(c4, heuristic, position(c4, ""))
H.ok(action.column == 4, "heuristic: opens in column 4: " .. why)
action, why = pick(c4, heuristic, position(c4, "444444"))
H.ok((action.column == 3 or action.column == 5) and why:find("Column 4 is full") == 1,
  "heuristic: column 4 full, goes next to it: " .. why)

for _, game in ipairs({ ttt, c4 }) do
  local tally, err = match(game, heuristic, random, 20)
  H.ok(err == nil and tally.win > tally.loss,
    "heuristic: legal and ahead of random at " .. game.name .. ": " .. tally_text(tally))
  if err then H.diag(err) end
end

------------------------------------------------------------------------------------------------
-- Professor Minimax, tic-tac-toe

local tally, err = match(ttt, minimax, random, 200)
H.ok(err == nil and tally.loss == 0, "minimax: never loses to random in 200 games: " .. tally_text(tally))
if err then H.diag(err) end
tally, err = match(ttt, minimax, minimax, 20)
H.ok(err == nil and tally.draw == 20, "minimax: 20 games against itself, all drawn: " .. tally_text(tally))
tally, err = match(ttt, minimax, heuristic, 20)
H.ok(err == nil and tally.loss == 0, "minimax: never loses to heuristic: " .. tally_text(tally))

action, why = pick(ttt, minimax, position(ttt, { 1, 4, 2, 5 }))
H.ok(action.cell == 3 and why == "Three in a row with cell 3.", "minimax: wins at once: " .. why)
-- X: 1 5, O: 2 9, X to move: 4 or 7 makes two threats at once.
action, why = pick(ttt, minimax, position(ttt, { 1, 2, 5, 9 }))
H.ok((action.cell == 4 or action.cell == 7) and why:find("forced win in 2") ~= nil,
  "minimax: finds the fork: " .. why)
-- X: 1 2, O: 5, O to move: every move but 3 loses.
action, why = pick(ttt, minimax, position(ttt, { 1, 5, 2 }))
H.ok(action.cell == 3, "minimax: blocks: " .. why)

------------------------------------------------------------------------------------------------
-- Professor Minimax, Connect Four

tally, err = match(c4, minimax, random, 20)
H.ok(err == nil and tally.win >= 15, "minimax: beats random at connect4: " .. tally_text(tally))
if err then H.diag(err) end
tally, err = match(c4, minimax, heuristic, 10)
H.ok(err == nil and tally.win > tally.loss, "minimax: ahead of heuristic at connect4: " .. tally_text(tally))

action, why = pick(c4, minimax, position(c4, "112233"))
H.ok(action.column == 4 and why == "Four in a row with column 4.", "minimax: wins at once: " .. why)
action, why = pick(c4, minimax, position(c4, "12121"))
H.ok(action.column == 1, "minimax: blocks: " .. why)
-- Seat 1 on 3 and 4 of the bottom row, both ends open: 2 or 5 makes an unstoppable pair.
action, why = pick(c4, minimax, position(c4, "3344"))
H.ok((action.column == 2 or action.column == 5) and why:find("forced win in 2") ~= nil,
  "minimax: sees the double threat: " .. why)
action, why = pick(c4, minimax, position(c4, ""))
H.ok(action.column == 4 and why:find("evaluates") ~= nil, "minimax: explains its evaluation: " .. why)

------------------------------------------------------------------------------------------------
-- Time per choose, against the server's default budget

H.diag("JIT " .. (jit.status() and "on" or "off") .. "; budget " .. BUDGET * 1000 .. " ms per choose")
local timed = {
  { c4, "opening", position(c4, "") },
  { c4, "midgame", position(c4, "544454457") }, -- slowest of 400 sampled positions
  { c4, "late midgame", position(c4, "4453345223") },
  { ttt, "opening", position(ttt, {}) },
}
for _, name in ipairs({ "random", "heuristic", "minimax" }) do
  for _, case in ipairs(timed) do
    local slowest = 0
    for seed = 1, 3 do
      local _, _, seconds, turn_err = H.agent_turn(case[1], agents[name], case[3], seed)
      if turn_err then H.diag(turn_err) end
      slowest = math.max(slowest, seconds)
    end
    H.ok(slowest < BUDGET, string.format("%s: %s %s in %.1f ms", name, case[1].name, case[2],
      slowest * 1000))
  end
end

H.done()
