-- Connect Four: two seats drop discs into a 7-column, 6-row grid; the disc falls to the lowest
-- free row. Four in a row horizontally, vertically or diagonally wins; a full grid is a draw.
--
-- State (plain data, survives a JSON round trip unchanged), laid out so that searching is cheap:
--   board   = { 42 numbers }  flat, board[(row - 1) * 7 + column]; row 1 is the bottom.
--                              0 empty, 1 seat 1, 2 seat 2 (0 rather than nil keeps the array
--                              dense through JSON).
--   heights = { 7 numbers }   discs in each column, so a drop is one lookup, not a scan.
--   turn    = seat to move next
--   moves   = discs dropped so far
--   last    = { column = c, row = r, seat = s } the latest disc (absent before the first move)
--   winner  = seat that connected four (absent otherwise)
--   line    = { {column = c, row = r}, ... } the winning run, 4 or more discs (absent otherwise)
--   draw    = true once the grid is full with no four (absent otherwise)
--
-- Action: { column = 1..7 }.
--
-- View: the game has no hidden information, so every seat and spectator gets the same view: a
-- deep copy of the state plus `marks`. Because it is a superset of the state, a view is itself a
-- valid state for legal/apply/to_move/outcome, which is what lets agents search from
-- ctx.model.copy(view).

local COLUMNS, ROWS = 7, 6
local CELLS = COLUMNS * ROWS

-- The four line directions as (column, row) steps; each is also walked backwards.
local DIRECTIONS = { { 1, 0 }, { 0, 1 }, { 1, 1 }, { 1, -1 } }

local deep_copy = require("mt.tables").copy

local function finished(state)
  return state.winner ~= nil or state.draw == true
end

local function at(board, column, row)
  if column < 1 or column > COLUMNS or row < 1 or row > ROWS then return nil end
  return board[(row - 1) * COLUMNS + column]
end

-- The run of `seat`'s discs through (column, row) along the longest direction, if it reaches
-- four; only runs through the disc just dropped can have been completed by it.
local function winning_run(board, column, row, seat)
  for _, d in ipairs(DIRECTIONS) do
    local dc, dr = d[1], d[2]
    local back = 0
    while at(board, column - (back + 1) * dc, row - (back + 1) * dr) == seat do back = back + 1 end
    local fwd = 0
    while at(board, column + (fwd + 1) * dc, row + (fwd + 1) * dr) == seat do fwd = fwd + 1 end
    if back + fwd + 1 >= 4 then
      local run = {}
      for i = -back, fwd do
        run[#run + 1] = { column = column + i * dc, row = row + i * dr }
      end
      return run
    end
  end
  return nil
end

-- Returns the column an action names, or nil and a reason players can read. Actions usually
-- come from JSON, so anything may arrive: a string, a float such as 4.0 (fine, it equals 4),
-- 3.5, NaN or infinity (refused).
local function checked_column(state, action)
  if type(action) ~= "table" then
    return nil, "an action is a table like {column = 4}"
  end
  local column = action.column
  if type(column) ~= "number" then
    return nil, "column must be a number from 1 to 7"
  end
  if column ~= math.floor(column) or column < 1 or column > COLUMNS then
    return nil, "column must be a whole number from 1 to 7"
  end
  if finished(state) then
    return nil, "the game is over"
  end
  if state.heights[column] >= ROWS then
    return nil, "column " .. column .. " is full"
  end
  return column
end

local game = {
  name = "connect4",
  title = "Connect Four",
  players = { min = 2, max = 2 },
  tick_rate = 0,
  turn_time_ms = 30000,
  -- Every seat and every spectator sees the whole board: the server views and encodes each
  -- state once for all of them.
  view_shared = true,
}

function game.setup(ctx, config)
  local board = {}
  for i = 1, CELLS do board[i] = 0 end
  return { board = board, heights = { 0, 0, 0, 0, 0, 0, 0 }, turn = 1, moves = 0 }
end

function game.to_move(state)
  if finished(state) then return nil end
  return state.turn
end

function game.legal(state, seat)
  local list = {}
  if finished(state) then return list end
  for column = 1, COLUMNS do
    if state.heights[column] < ROWS then list[#list + 1] = { column = column } end
  end
  return list
end

function game.validate(state, seat, action)
  local column, why = checked_column(state, action)
  if not column then return false, why end
  return true
end

-- The referee validates before applying, but agents reach apply through ctx.model without that
-- check, so a bad action raises an error here instead of corrupting the board.
function game.apply(state, seat, action, ctx)
  local column, why = checked_column(state, action)
  if not column then error(why, 2) end

  local row = state.heights[column] + 1
  state.heights[column] = row
  state.board[(row - 1) * COLUMNS + column] = seat
  state.moves = state.moves + 1
  state.last = { column = column, row = row, seat = seat }
  local run = winning_run(state.board, column, row, seat)
  if run then
    state.winner = seat
    state.line = run
  elseif state.moves == CELLS then
    state.draw = true
  end
  state.turn = 3 - seat
  ctx.emit({ kind = "move", seat = seat, column = column, row = row })
end

-- One event as one line for a text-only client (the text bridge): from the event alone.
local COLOURS = { "Red", "Yellow" }

function game.describe(event, seat, ctx)
  local kind = event.kind
  if kind == "move" and COLOURS[event.seat] then
    local who = event.seat == seat and "You (" .. COLOURS[seat] .. ") drop" or COLOURS[event.seat] .. " drops"
    return who .. " in column " .. tostring(event.column) .. " (row " .. tostring(event.row) .. ")."
  elseif kind == "start" then
    if seat then return "Connect Four starts: you are " .. COLOURS[seat] .. ", Red first. Columns 1-7." end
    return "Connect Four starts: Red first."
  elseif kind == "game_over" and type(event.result) == "table" then
    local r = event.result
    if r.draw then return "Game over: a draw, the board is full." end
    if COLOURS[r.winner] then
      local who = r.winner == seat and "you win" or (COLOURS[r.winner] .. " wins")
      return "Game over: " .. who .. " (" .. tostring(r.reason) .. ")."
    end
  end
  return nil
end

function game.view(state, seat)
  local v = deep_copy(state)
  v.marks = { "Red", "Yellow" }
  return v
end

function game.outcome(state)
  if state.winner then return { winner = state.winner, reason = "win" } end
  if state.draw then return { draw = true, reason = "draw" } end
  return nil
end

function game.tests(t)
  -- Plays a string of column digits alternately from a fresh game; returns the final state.
  local function play(columns)
    local state, ctx = t.new({}, 1)
    for c in columns:gmatch("%d") do
      game.apply(state, game.to_move(state), { column = tonumber(c) }, ctx)
    end
    return state
  end

  local s = t.new({}, 1)
  t.eq(game.to_move(s), 1, "seat 1 moves first")
  t.eq(#game.legal(s, 1), 7, "seven legal moves on an empty grid")
  t.ok(game.validate(s, 1, { column = 4.0 }), "4.0 from JSON counts as 4")
  t.ok(not game.validate(s, 1, { column = 3.5 }), "fractional column refused")
  t.ok(not game.validate(s, 1, { column = 8 }), "column 8 refused")
  t.ok(not game.validate(s, 1, { column = "4" }), "string column refused")

  s = play("44")
  t.eq(s.board[4], 1, "first disc lands on the bottom row")
  t.eq(s.board[7 + 4], 2, "second disc stacks on top of it")
  t.eq(s.last, { column = 4, row = 2, seat = 2 }, "last move recorded")

  s = play("121212")
  t.eq(game.outcome(s), nil, "three in a column is not yet a win")
  s = play("1212121")
  t.eq(game.outcome(s), { winner = 1, reason = "win" }, "vertical four wins")
  t.eq(game.to_move(s), nil, "nobody moves after a win")
  t.eq(game.legal(s, 2), {}, "no legal moves after a win")

  s = play("1122334")
  t.eq(game.outcome(s), { winner = 1, reason = "win" }, "horizontal four wins")
  t.eq(#s.line, 4, "winning line recorded")

  s = play("12234334644")
  t.eq(game.outcome(s), { winner = 1, reason = "win" }, "rising diagonal wins")
  s = play("76654554244")
  t.eq(game.outcome(s), { winner = 1, reason = "win" }, "falling diagonal wins")

  s = play("333333")
  local ok, why = game.validate(s, 1, { column = 3 })
  t.ok(not ok and why == "column 3 is full", "full column refused")
  t.eq(#game.legal(s, 1), 6, "full column not listed as legal")

  s = play("353653244432253513447662277751147151172666")
  t.eq(game.outcome(s), { draw = true, reason = "draw" }, "full grid without a four is a draw")

  s = play("5")
  t.eq(game.view(s, 1), game.view(s, 2), "both seats see the same view")
  t.eq(game.legal(game.view(s, 1), 1), game.legal(s, 1), "a view is a valid state")
  t.eq(json.decode(json.encode(s)), s, "state survives a JSON round trip")
end

return game
