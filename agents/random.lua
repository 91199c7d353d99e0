-- Chaos Monkey: plays any game that lists its legal actions, picking one uniformly at random.
-- Useful as a sparring partner and as the baseline every other agent must beat.

-- "%s" is replaced by a short description of the chosen action.
local PHRASES = {
  "Eeny, meeny, miny... %s!",
  "No plan, no problem: %s.",
  "The bananas told me %s. Who am I to argue?",
  "Poor %s looked lonely, so I picked it!",
  "I threw a coconut at the board and it landed on %s.",
  "Strategy is overrated. Going with %s!",
  "Ooh, %s! Shiny!",
  "Wheee! %s!",
}

-- "cell 5", "column 3", or for other games "x 2, y 7"; keys sorted so the text is stable.
local function describe(action)
  if type(action) ~= "table" then return tostring(action) end
  local parts = {}
  for k, v in pairs(action) do parts[#parts + 1] = tostring(k) .. " " .. tostring(v) end
  if #parts == 0 then return "that one" end
  table.sort(parts)
  return table.concat(parts, ", ")
end

return {
  name = "random",
  title = "Chaos Monkey",
  personality = "Chaotic and cheerful. Never plans, never worries, always has fun: "
    .. "every legal move is equally exciting.",
  games = { "*" },

  choose = function(view, legal, ctx)
    if #legal == 0 then return nil, "Nothing to do? I'll just swing here, then." end
    local action = legal[ctx.random(#legal)]
    local phrase = PHRASES[ctx.random(#PHRASES)]
    local text = describe(action)
    -- A function replacement, so a '%' inside the description is not read as a pattern escape.
    return action, (phrase:gsub("%%s", function() return text end, 1))
  end,

  -- Real-time games have no list of legal inputs to pick from, so the monkey just watches.
  act = function(view, ctx)
    return nil
  end,
}
