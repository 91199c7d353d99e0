-- Tic-tac-toe: two seats take turns marking a 3x3 board; three in a row wins.
--
-- Cells are numbered 1..9 row by row from the top left:
--   1 2 3
--   4 5 6
--   7 8 9
--
-- State (plain data, survives a JSON round trip unchanged):
--   board  = { 9 numbers }   0 empty, 1 seat 1 (X), 2 seat 2 (O). Empty is 0 rather than nil
--                             so the board stays a dense array through JSON.
--   turn   = seat to move next
--   moves  = marks placed so far
--   last   = cell of the latest mark (absent before the first move)
--   winner = seat that completed a line (absent otherwise)
--   line   = { a, b, c } the winning cells (absent otherwise)
--   draw   = true once the board is full with no line (absent otherwise)
--
-- Action: { cell = 1..9 }.
--
-- View: the game has no hidden information, so every seat and spectator gets the same view: a
-- deep copy of the state plus `marks`. Because it is a superset of the state, a view is itself a
-- valid state for legal/apply/to_move/outcome, which is what lets agents search from
-- ctx.model.copy(view).

local LINES = {
  { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 }, -- rows
  { 1, 4, 7 }, { 2, 5, 8 }, { 3, 6, 9 }, -- columns
  { 1, 5, 9 }, { 3, 5, 7 },              -- diagonals
}

-- Only lines through the cell just marked can have been completed by it.
local LINES_THROUGH = {}
for cell = 1, 9 do LINES_THROUGH[cell] = {} end
for _, line in ipairs(LINES) do
  for _, cell in ipairs(line) do
    local list = LINES_THROUGH[cell]
    list[#list + 1] = line
  end
end

local deep_copy = require("mt.tables").copy

local function finished(state)
  return state.winner ~= nil or state.draw == true
end

-- Returns the cell an action names, or nil and a reason players can read. Actions usually come
-- from JSON, so anything may arrive: a string, a float such as 5.0 (fine, it equals 5), 2.5,
-- NaN or infinity (refused).
local function checked_cell(state, action)
  if type(action) ~= "table" then
    return nil, "an action is a table like {cell = 5}"
  end
  local cell = action.cell
  if type(cell) ~= "number" then
    return nil, "cell must be a number from 1 to 9"
  end
  if cell ~= math.floor(cell) or cell < 1 or cell > 9 then
    return nil, "cell must be a whole number from 1 to 9"
  end
  if finished(state) then
    return nil, "the game is over"
  end
  if state.board[cell] ~= 0 then
    return nil, "cell " .. cell .. " is already taken"
  end
  return cell
end

local game = {
  name = "tictactoe",
  title = "Tic-tac-toe",
  players = { min = 2, max = 2 },
  tick_rate = 0,
  turn_time_ms = 30000,
  -- Every seat and every spectator sees the whole board: the server views and encodes each
  -- state once for all of them.
  view_shared = true,
}

function game.setup(ctx, config)
  return { board = { 0, 0, 0, 0, 0, 0, 0, 0, 0 }, turn = 1, moves = 0 }
end

function game.to_move(state)
  if finished(state) then return nil end
  return state.turn
end

function game.legal(state, seat)
  local list = {}
  if finished(state) then return list end
  for cell = 1, 9 do
    if state.board[cell] == 0 then list[#list + 1] = { cell = cell } end
  end
  return list
end

function game.validate(state, seat, action)
  local cell, why = checked_cell(state, action)
  if not cell then return false, why end
  return true
end

-- The referee validates before applying, but agents reach apply through ctx.model without that
-- check, so a bad action raises an error here instead of corrupting the board.
function game.apply(state, seat, action, ctx)
  local cell, why = checked_cell(state, action)
  if not cell then error(why, 2) end

  local board = state.board
  board[cell] = seat
  state.moves = state.moves + 1
  state.last = cell
  for _, line in ipairs(LINES_THROUGH[cell]) do
    if board[line[1]] == seat and board[line[2]] == seat and board[line[3]] == seat then
      state.winner = seat
      state.line = { line[1], line[2], line[3] }
      break
    end
  end
  if not state.winner and state.moves == 9 then state.draw = true end
  state.turn = 3 - seat
  ctx.emit({ kind = "move", seat = seat, cell = cell })
end

-- Text commands (a chat bot, a terminal): "/play 5", "/5" or "5" marks a cell; "/board" draws
-- the board; anything else gets the help. Only an action changes the game: the referee checks
-- and applies it like any other.
local HELP = "Commands: /play N (or just N) marks cell N (1-9, row by row from the top left); " ..
  "/board shows the board."

function game.command(state, seat, text, ctx)
  local cell = text:match("^%s*/?play%s+(%d+)%s*$") or text:match("^%s*/?(%d+)%s*$")
  if cell then return { cell = tonumber(cell) } end
  if text:match("^%s*/board%s*$") then
    local rows, marks = {}, { [0] = ".", "X", "O" }
    for r = 0, 2 do
      local b = state.board
      rows[#rows + 1] = marks[b[r * 3 + 1]] .. marks[b[r * 3 + 2]] .. marks[b[r * 3 + 3]]
    end
    return nil, table.concat(rows, " / ") .. " (you are " .. marks[seat] .. ")"
  end
  return nil, HELP
end

-- One event as one line for a text-only client (the text bridge). It sees no state: the line
-- may be written after later moves, so everything it says comes from the event itself.
local CELL_NAMES = { "top left", "top", "top right", "left", "centre", "right",
  "bottom left", "bottom", "bottom right" }
local MARKS = { "X", "O" }

local function whose(mark_seat, seat)
  if mark_seat == seat then return "You (" .. MARKS[mark_seat] .. ")" end
  return MARKS[mark_seat] or "?"
end

function game.describe(event, seat, ctx)
  local kind = event.kind
  if kind == "move" and MARKS[event.seat] and CELL_NAMES[event.cell] then
    local verb = event.seat == seat and " take" or " takes"
    return whose(event.seat, seat) .. verb .. " cell " .. event.cell .. " (" .. CELL_NAMES[event.cell] .. ")."
  elseif kind == "start" then
    if seat then return "Tic-tac-toe starts: you are " .. MARKS[seat] .. ", X moves first. Cells 1-9, row by row." end
    return "Tic-tac-toe starts: X moves first."
  elseif kind == "game_over" and type(event.result) == "table" then
    local r = event.result
    if r.draw then return "Game over: a draw." end
    if MARKS[r.winner] then
      local who = r.winner == seat and "you win" or (MARKS[r.winner] .. " wins")
      return "Game over: " .. who .. " (" .. tostring(r.reason) .. ")."
    end
  end
  return nil
end

function game.view(state, seat)
  local v = deep_copy(state)
  v.marks = { "X", "O" }
  return v
end

function game.outcome(state)
  if state.winner then return { winner = state.winner, reason = "win" } end
  if state.draw then return { draw = true, reason = "draw" } end
  return nil
end

function game.tests(t)
  -- Plays cells alternately from a fresh game; returns the final state.
  local function play(cells)
    local state, ctx = t.new({}, 1)
    for _, cell in ipairs(cells) do
      game.apply(state, game.to_move(state), { cell = cell }, ctx)
    end
    return state
  end

  local s = t.new({}, 1)
  t.eq(game.to_move(s), 1, "seat 1 moves first")
  t.eq(#game.legal(s, 1), 9, "nine legal moves on an empty board")
  t.eq(game.outcome(s), nil, "no outcome at the start")

  t.ok(game.validate(s, 1, { cell = 5 }), "centre is legal")
  t.ok(game.validate(s, 1, { cell = 5.0 }), "5.0 from JSON counts as 5")
  t.ok(not game.validate(s, 1, { cell = 2.5 }), "fractional cell refused")
  t.ok(not game.validate(s, 1, { cell = 10 }), "cell 10 refused")
  t.ok(not game.validate(s, 1, { cell = "5" }), "string cell refused")
  t.ok(not game.validate(s, 1, 5), "bare number refused")

  s = play({ 5 })
  t.eq(s.board[5], 1, "X marks cell 5")
  t.eq(s.last, 5, "last move recorded")
  t.eq(game.to_move(s), 2, "then O moves")
  local ok, why = game.validate(s, 2, { cell = 5 })
  t.ok(not ok and why:find("taken") ~= nil, "occupied cell refused with a reason")

  s = play({ 1, 4, 2, 5, 3 })
  t.eq(game.outcome(s), { winner = 1, reason = "win" }, "X wins the top row")
  t.eq(s.line, { 1, 2, 3 }, "winning line recorded")
  t.eq(game.to_move(s), nil, "nobody moves after a win")
  t.eq(game.legal(s, 2), {}, "no legal moves after a win")
  ok, why = game.validate(s, 2, { cell = 9 })
  t.ok(not ok and why == "the game is over", "moves refused after a win")

  s = play({ 1, 3, 2, 5, 9, 7 })
  t.eq(game.outcome(s), { winner = 2, reason = "win" }, "O wins the anti-diagonal")

  s = play({ 1, 2, 3, 5, 4, 6, 8, 7, 9 })
  t.eq(game.outcome(s), { draw = true, reason = "draw" }, "full board without a line is a draw")

  local fresh = t.new({}, 1)
  t.eq(game.command(fresh, 1, "/play 5"), { cell = 5 }, "/play 5 is the action { cell = 5 }")
  t.eq(game.command(fresh, 1, " 7 "), { cell = 7 }, "a bare number is a cell too")
  local _, board = game.command(play({ 5 }), 2, "/board")
  t.eq(board, "... / .X. / ... (you are O)", "/board draws the board")
  local _, help = game.command(fresh, 1, "/dance")
  t.eq(help, HELP, "anything else gets the help")
  s = play({ 5, 1 })
  local v = game.view(s, 1)
  t.eq(v, game.view(s, 2), "both seats see the same view")
  t.eq(game.legal(v, 1), game.legal(s, 1), "a view is a valid state")
  t.eq(json.decode(json.encode(s)), s, "state survives a JSON round trip")
end

return game
