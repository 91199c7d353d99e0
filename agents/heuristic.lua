-- Sensible Sam: looks exactly one move ahead and follows four rules, the first that applies:
--   1. win now if some move wins;
--   2. otherwise block a move that would let an opponent win now;
--   3. otherwise take the centre (tic-tac-toe cell 5; Connect Four column 4, then 3 or 5);
--   4. otherwise anything legal, at random.
-- Sam sees the board only through ctx.model, so he never depends on how a game stores it; he
-- tells the games apart by the shape of their actions ({cell} or {column}), which is all he
-- needs to find the centre and to phrase his reasoning.

local function describe(action)
  if action.cell then return "cell " .. action.cell end
  if action.column then return "column " .. action.column end
  return "that move"
end

-- Whether `seat` would win at once by playing `action` from state `s`. The move is tried even
-- when it is not `seat`'s turn (that is how Sam spots threats), so a game that refuses such a
-- move only means "no win there".
local function wins_with(model, s, seat, action)
  local ok, after = pcall(model.apply, s, seat, action)
  if not ok then return false end
  local result = model.outcome(after)
  return result ~= nil and result.winner == seat
end

local function find(legal, key, value)
  for _, action in ipairs(legal) do
    if action[key] == value then return action end
  end
  return nil
end

-- Rule 3: the centre action for the games Sam knows, with his reason, or nil.
local function centre(legal, ctx)
  if legal[1].cell then
    local action = find(legal, "cell", 5)
    if action then return action, "The centre is on four lines; I'll take cell 5." end
  elseif legal[1].column then
    local action = find(legal, "column", 4)
    if action then
      return action, "Column 4 is the middle: more fours run through it than any other column."
    end
    local near = {}
    near[#near + 1] = find(legal, "column", 3)
    near[#near + 1] = find(legal, "column", 5)
    if #near > 0 then
      action = near[ctx.random(#near)]
      return action, "Column 4 is full, so " .. describe(action) .. " is the next best thing."
    end
  end
  return nil
end

return {
  name = "heuristic",
  title = "Sensible Sam",
  personality = "Steady and practical. Takes a win when he sees one, blocks yours, likes the "
    .. "middle of the board, and never looks further ahead than one move.",
  games = { "tictactoe", "connect4" },

  choose = function(view, legal, ctx)
    if #legal == 0 then return nil, "There is nothing for me to do." end
    local model = ctx.model
    local s = model.copy(view)
    local me = ctx.seat or model.to_move(s)

    for _, action in ipairs(legal) do
      if wins_with(model, s, me, action) then
        return action, "I can win by taking " .. describe(action) .. "."
      end
    end

    -- In these games a threat is blocked by playing the very move the opponent would win
    -- with, so each of Sam's own legal actions is tried on the opponents' behalf.
    for opponent = 1, ctx.seats or 2 do
      if opponent ~= me then
        for _, action in ipairs(legal) do
          if wins_with(model, s, opponent, action) then
            if action.column then
              return action, "Blocking your four in " .. describe(action) .. "."
            end
            return action, "Blocking your three in a row at " .. describe(action) .. "."
          end
        end
      end
    end

    local action, why = centre(legal, ctx)
    if action then return action, why end

    action = legal[ctx.random(#legal)]
    return action, "Nothing urgent on the board, so " .. describe(action) .. " will do."
  end,
}
