-- Professor Minimax: exact game-tree search.
--   Tic-tac-toe: the whole tree, negamax with alpha-beta. Perfect play; among equal moves it
--   prefers the fastest win (or the slowest loss) and picks at random between true ties.
--   Connect Four: negamax with alpha-beta to a fixed depth (5 plies by default, ctx.config.depth
--   when the host supplies one), centre-first move ordering, immediate wins and forced blocks
--   found before recursing, and a positional evaluation at the horizon: discs in the centre
--   column and partly-filled open lines of four. About 3 ms a move in the LuaJIT interpreter,
--   rarely above 15 ms, against a 200 ms budget.
--
-- The search starts from ctx.model.copy(view), a private copy, and then makes and unmakes moves
-- on that copy's board in place instead of calling ctx.model.apply per node: apply copies the
-- whole state every time, which in the interpreter would multiply the cost of every node. That
-- ties the Professor to the two games' state layouts (board, heights, moves), which is why
-- `games` names them explicitly.

local INF = math.huge
local DEFAULT_DEPTH = 5

--------------------------------------------------------------------------------------------
-- Tic-tac-toe

local TTT_LINES = {
  { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 }, { 1, 4, 7 }, { 2, 5, 8 }, { 3, 6, 9 },
  { 1, 5, 9 }, { 3, 5, 7 },
}
local TTT_LINES_THROUGH = {}
for cell = 1, 9 do TTT_LINES_THROUGH[cell] = {} end
for _, line in ipairs(TTT_LINES) do
  for _, cell in ipairs(line) do
    local list = TTT_LINES_THROUGH[cell]
    list[#list + 1] = line
  end
end

-- Centre, corners, edges: the strong moves first, so alpha-beta cuts off early.
local TTT_ORDER = { 5, 1, 3, 7, 9, 2, 4, 6, 8 }

local function ttt_completes(board, cell, p)
  for _, line in ipairs(TTT_LINES_THROUGH[cell]) do
    if board[line[1]] == p and board[line[2]] == p and board[line[3]] == p then return true end
  end
  return false
end

-- Score for `p`, the side to move, with `ply` the number of the next move counted from the
-- root (the root move is ply 1): a win made at ply k scores 10 - k, so sooner is better; a draw
-- scores 0. Fail-soft: outside (alpha, beta) the result is a bound.
local function ttt_search(board, p, ply, alpha, beta)
  local best, moved = -INF, false
  for i = 1, 9 do
    local cell = TTT_ORDER[i]
    if board[cell] == 0 then
      moved = true
      board[cell] = p
      local score
      if ttt_completes(board, cell, p) then
        score = 10 - ply
      else
        score = -ttt_search(board, 3 - p, ply + 1, -beta, -alpha)
      end
      board[cell] = 0
      if score > best then
        best = score
        if score > alpha then alpha = score end
        if alpha >= beta then break end
      end
    end
  end
  if not moved then return 0 end
  return best
end

local function ttt_choose(s, me, legal, ctx)
  local board = s.board
  local best, ties = -INF, {}
  for _, action in ipairs(legal) do
    local cell = action.cell
    board[cell] = me
    local score
    if ttt_completes(board, cell, me) then
      score = 9
    else
      -- Window (best - 1, +inf): a move that ties or beats the best so far gets its exact
      -- score, and one that is worse fails low cheaply. Scores are integers, so ties are kept.
      score = -ttt_search(board, 3 - me, 2, -INF, 1 - best)
    end
    board[cell] = 0
    if score > best then
      best, ties = score, { action }
    elseif score == best then
      ties[#ties + 1] = action
    end
  end

  local action = ties[ctx.random(#ties)]
  local cell = "cell " .. action.cell
  if best > 0 then
    local mine = (10 - best + 1) / 2 -- my moves up to and including the winning one
    if mine == 1 then return action, "Three in a row with " .. cell .. "." end
    return action, "I see a forced win in " .. mine .. " moves, starting with " .. cell .. "."
  elseif best < 0 then
    local theirs = (10 + best) / 2
    return action, "With perfect play you win in " .. theirs .. " moves; " .. cell
      .. " makes you find them."
  end
  return action, "Perfect play from here is a draw; " .. cell .. " keeps it that way."
end

--------------------------------------------------------------------------------------------
-- Connect Four: board[(row - 1) * 7 + column], row 1 at the bottom; heights[column] discs.

local COLS, ROWS, CELLS = 7, 6, 42
local WIN = 1000000 -- a win made at ply k scores WIN - k; evaluations stay far below
local C4_ORDER = { 4, 3, 5, 2, 6, 1, 7 } -- centre first: central moves are usually best

-- Every line of four cells on the grid (69 of them), flattened: cells 4i-3 .. 4i.
local WINDOWS = {}
do
  local steps = { { 1, 0 }, { 0, 1 }, { 1, 1 }, { 1, -1 } }
  for _, d in ipairs(steps) do
    for col = 1, COLS do
      for row = 1, ROWS do
        local endc, endr = col + 3 * d[1], row + 3 * d[2]
        if endc >= 1 and endc <= COLS and endr >= 1 and endr <= ROWS then
          for k = 0, 3 do
            WINDOWS[#WINDOWS + 1] = (row + k * d[2] - 1) * COLS + col + k * d[1]
          end
        end
      end
    end
  end
end

-- The value of one line of four for seat 1, indexed by its contents as a base-3 number
-- (0 empty, 1 seat 1, 2 seat 2): an open three (three discs, one empty) is worth 5, an open
-- two 2; a line holding both colours can never be completed and is worth nothing.
local WINDOW_VALUE = {}
for key = 0, 80 do
  local ones, twos, k = 0, 0, key
  for _ = 1, 4 do
    local v = k % 3
    if v == 1 then ones = ones + 1 elseif v == 2 then twos = twos + 1 end
    k = (k - v) / 3
  end
  local value = 0
  if twos == 0 then
    value = (ones == 3 and 5) or (ones == 2 and 2) or 0
  elseif ones == 0 then
    value = (twos == 3 and -5) or (twos == 2 and -2) or 0
  end
  WINDOW_VALUE[key] = value
end

-- Static value of the position for seat 1 (negate it for seat 2): 3 per disc in the centre
-- column, plus the value of every line of four.
local function c4_evaluate(board)
  local score = 0
  for i = 4, CELLS, COLS do
    local v = board[i]
    if v == 1 then score = score + 3 elseif v == 2 then score = score - 3 end
  end
  for i = 1, #WINDOWS, 4 do
    score = score + WINDOW_VALUE[board[WINDOWS[i]] * 27 + board[WINDOWS[i + 1]] * 9
      + board[WINDOWS[i + 2]] * 3 + board[WINDOWS[i + 3]]]
  end
  return score
end

-- Whether the disc p just dropped at (col, row) makes four.
local DCOL, DROW = { 1, 1, 1 }, { 0, 1, -1 } -- horizontal and the two diagonals
local function c4_wins(board, col, row, p)
  local i = (row - 1) * COLS + col
  if row >= 4 and board[i - 7] == p and board[i - 14] == p and board[i - 21] == p then
    return true -- vertical: only discs below can exist
  end
  for d = 1, 3 do
    local dc, dr = DCOL[d], DROW[d]
    local n = 1
    local c, r = col + dc, row + dr
    while c <= COLS and r >= 1 and r <= ROWS and board[(r - 1) * COLS + c] == p do
      n, c, r = n + 1, c + dc, r + dr
    end
    c, r = col - dc, row - dr
    while c >= 1 and r >= 1 and r <= ROWS and board[(r - 1) * COLS + c] == p do
      n, c, r = n + 1, c - dc, r - dr
    end
    if n >= 4 then return true end
  end
  return false
end

-- The first column where p would connect four by dropping a disc now, or nil.
local function c4_winning_column(board, heights, p)
  for col = 1, COLS do
    local h = heights[col]
    if h < ROWS then
      local idx = h * COLS + col
      board[idx] = p
      local wins = c4_wins(board, col, h + 1, p)
      board[idx] = 0
      if wins then return col end
    end
  end
  return nil
end

-- Negamax score for p, the side to move, `depth` plies deep; `ply` numbers the next move from
-- the root (root move = 1) so that faster wins score higher. `moves` counts discs on the
-- board, and callers guarantee it is below 42. Fail-soft alpha-beta.
local function c4_search(board, heights, p, depth, ply, alpha, beta, moves)
  if depth == 0 then
    local score = c4_evaluate(board)
    if p == 2 then score = -score end
    return score
  end
  -- Looked for before any recursion, not in centre-first order: a win on the edge would
  -- otherwise be found only after searching every central move in full.
  if c4_winning_column(board, heights, p) then return WIN - ply end
  -- The last empty cell, and it does not win: the grid fills up drawn.
  if moves + 1 == CELLS then return 0 end
  -- If the opponent threatens to win, only the blocking move can avoid losing at once.
  local forced = c4_winning_column(board, heights, 3 - p)

  local best = -INF
  for i = 1, COLS do
    local col = C4_ORDER[i]
    local h = heights[col]
    if h < ROWS and (forced == nil or col == forced) then
      local idx = h * COLS + col
      board[idx] = p
      heights[col] = h + 1
      local score = -c4_search(board, heights, 3 - p, depth - 1, ply + 1, -beta, -alpha, moves + 1)
      board[idx] = 0
      heights[col] = h
      if score > best then
        best = score
        if score > alpha then alpha = score end
        if alpha >= beta then break end
      end
    end
  end
  return best
end

local function c4_choose(s, me, legal, ctx)
  local depth = math.max(1, math.floor(tonumber(ctx.config and ctx.config.depth) or DEFAULT_DEPTH))
  local board, heights, moves = s.board, s.heights, s.moves

  local by_column = {}
  for _, action in ipairs(legal) do by_column[action.column] = action end

  local best, choice = -INF, c4_winning_column(board, heights, me)
  if choice then
    best = WIN - 1
  elseif moves + 1 == CELLS then
    best, choice = 0, legal[1].column
  else
    for i = 1, COLS do
      local col = C4_ORDER[i]
      if by_column[col] then
        local h = heights[col]
        board[h * COLS + col] = me
        heights[col] = h + 1
        local score = -c4_search(board, heights, 3 - me, depth - 1, 2, -INF, -best, moves + 1)
        board[h * COLS + col] = 0
        heights[col] = h
        if score > best then best, choice = score, col end
      end
    end
  end

  local action = by_column[choice]
  local column = "column " .. choice
  if best >= WIN - CELLS then
    local mine = (WIN - best + 1) / 2 -- my moves up to and including the winning one
    if mine == 1 then return action, "Four in a row with " .. column .. "." end
    return action, "I see a forced win in " .. mine .. " moves, starting with " .. column .. "."
  elseif best <= -(WIN - CELLS) then
    local theirs = (WIN + best) / 2
    return action, "You can force a win in " .. theirs .. " moves; " .. column
      .. " holds out longest."
  end
  -- Spelled out by sign: the search can return -0, which would print as "-0".
  local value = (best > 0 and "+" .. best) or (best < 0 and tostring(best)) or "0"
  local plan = choice == 4 and "taking the centre" or (column .. " is my best move")
  return action, "Looking " .. depth .. " moves ahead, the position evaluates " .. value
    .. " for me; " .. plan .. "."
end

--------------------------------------------------------------------------------------------

return {
  name = "minimax",
  title = "Professor Minimax",
  personality = "Calm and exact. Reads the game tree, states the evaluation, and never loses "
    .. "at small games.",
  games = { "tictactoe", "connect4" },

  choose = function(view, legal, ctx)
    if #legal == 0 then return nil, "There is nothing left to calculate." end
    local s = ctx.model.copy(view)
    local me = ctx.seat or ctx.model.to_move(s)
    if legal[1].cell then return ttt_choose(s, me, legal, ctx) end
    if legal[1].column then return c4_choose(s, me, legal, ctx) end
    error("Professor Minimax plays only tictactoe and connect4")
  end,
}
