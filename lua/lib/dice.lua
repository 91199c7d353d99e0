-- mt.dice: tabletop dice expressions, for any game (require("mt.dice")).
--
--   dice.roll(expr, random) -> result, or nil and a message saying what is wrong
--   dice.parse(expr)        -> the parsed expression, or nil and the message
--   dice.critical(expr)     -> the expression with every term's dice doubled (critical damage)
--
-- random is the game's generator (ctx.random, or math.random, which the server binds to it), so
-- a replay rolls the very same dice. The grammar, case-insensitive, spaces ignored:
--
--   expr  := ["-"] term { ("+" | "-") term } [ "adv" | "dis" ]
--   term  := [count] "d" sides [ ("kh" | "kl") [n] ] | number
--
-- `2d6+1d4+3`, `4d6kh3` (keep the 3 highest), `2d20kl` (keep the lowest one), `d20+5 adv`
-- (advantage: the first d20 of the expression is rolled twice and the higher kept; `dis` keeps
-- the lower). A kept natural 20 on that first d20 is a critical (`crit`), a kept natural 1 a
-- fumble. Limits (an error past them, never a long loop): 64 characters, 10 terms, 100 dice a
-- term, 1000 sides, numbers up to 10000.
--
-- A result: { total = n, crit = bool, fumble = bool, text = "...", terms = { ... } }, each
-- term { sign = 1 | -1, count, sides, keep = "kh" | "kl" | nil, n, rolls = {...},
-- kept = {...}, value } or { sign, value } for a number. text shows every die, dropped ones in
-- parentheses: "2d20kh1 [17, (4)] + 3 = 20".

local type, tonumber, tostring, error = type, tonumber, tostring, error
local sort, concat = table.sort, table.concat
local lower, gsub, find, sub = string.lower, string.gsub, string.find, string.sub

local D = {}

local MAX_LEN, MAX_TERMS, MAX_DICE, MAX_SIDES, MAX_NUMBER = 64, 10, 100, 1000, 10000

-- The digits at position i of s: the number (nil when none) and the next position. One
-- quantifier a pattern: the sandbox refuses patterns that could backtrack for long.
local function digits(s, i)
  local _, e = find(s, "^%d+", i)
  if not e then return nil, i end
  return tonumber(sub(s, i, e)), e + 1
end

-- One term at position i of s: returns the term and the next position, or nil and a message.
local function parse_term(s, i)
  local count, j = digits(s, i)
  if sub(s, j, j) ~= "d" then
    if not count then return nil, "expected dice (like 2d6) or a number at \"" .. sub(s, i, i + 7) .. "\"" end
    if count > MAX_NUMBER then return nil, "numbers go up to " .. MAX_NUMBER end
    return { value = count }, j
  end
  local sides
  sides, j = digits(s, j + 1)
  if not sides then return nil, "dice need a number of sides, like 2d6" end
  count = count or 1
  if count < 1 or count > MAX_DICE then return nil, "from 1 to " .. MAX_DICE .. " dice a term" end
  if sides < 2 or sides > MAX_SIDES then return nil, "dice have 2 to " .. MAX_SIDES .. " sides" end
  local term = { count = count, sides = sides }
  local keep = sub(s, j, j + 1)
  if sub(keep, 1, 1) == "k" then
    if keep ~= "kh" and keep ~= "kl" then return nil, "after the dice: kh or kl" end
    local n
    n, j = digits(s, j + 2)
    term.keep, term.n = keep, n or 1
    if term.n < 1 or term.n > count then
      return nil, "cannot keep " .. term.n .. " of " .. count .. " dice"
    end
  end
  return term, j
end

function D.parse(expr)
  if type(expr) ~= "string" then return nil, "a dice expression is text" end
  if #expr > MAX_LEN then return nil, "a dice expression has at most " .. MAX_LEN .. " characters" end
  if find(expr, "%d%s+%d") then return nil, "unexpected number after a space" end
  local s = lower((gsub(expr, "%s+", "")))
  local mode
  if sub(s, -3) == "adv" then mode, s = "adv", sub(s, 1, -4)
  elseif sub(s, -3) == "dis" then mode, s = "dis", sub(s, 1, -4) end
  if s == "" then return nil, "an empty dice expression" end
  local terms, i, sign = {}, 1, 1
  if sub(s, 1, 1) == "-" then i, sign = 2, -1 end
  while true do
    if #terms >= MAX_TERMS then return nil, "at most " .. MAX_TERMS .. " terms" end
    local term, nxt = parse_term(s, i)
    if not term then return nil, nxt end
    term.sign = sign
    terms[#terms + 1] = term
    i = nxt
    if i > #s then break end
    local c = sub(s, i, i)
    if c == "+" then sign = 1 elseif c == "-" then sign = -1
    elseif find(c, "^%d") then return nil, "unexpected number at \"" .. sub(s, i, i + 7) .. "\""
    else return nil, "expected + or - at \"" .. sub(s, i, i + 7) .. "\"" end
    i = i + 1
  end
  local parsed = { terms = terms, mode = mode }
  if mode then
    local d20
    for _, t in ipairs(terms) do
      if t.sides == 20 and t.count == 1 and not t.keep then d20 = t break end
    end
    if not d20 then return nil, mode .. " needs a single d20 in the expression" end
    d20.count, d20.keep, d20.n = 2, mode == "adv" and "kh" or "kl", 1
  end
  return parsed
end

local function term_text(t)
  if not t.count then return tostring(t.value) end
  local text = t.count .. "d" .. t.sides
  if t.keep then text = text .. t.keep .. t.n end
  return text
end

-- Rolls a dice term: every die, then the kept ones (the n highest or lowest, ties by order).
local function roll_term(t, random)
  local rolls, order = {}, {}
  for k = 1, t.count do
    rolls[k] = random(1, t.sides)
    order[k] = k
  end
  local keep = {}
  if t.keep then
    local hi = t.keep == "kh"
    sort(order, function(a, b)
      if rolls[a] ~= rolls[b] then
        if hi then return rolls[a] > rolls[b] end
        return rolls[a] < rolls[b]
      end
      return a < b
    end)
    for k = 1, t.n do keep[order[k]] = true end
  else
    for k = 1, t.count do keep[k] = true end
  end
  local kept, shown, value = {}, {}, 0
  for k = 1, t.count do
    if keep[k] then
      kept[#kept + 1] = rolls[k]
      value = value + rolls[k]
      shown[k] = tostring(rolls[k])
    else
      shown[k] = "(" .. rolls[k] .. ")"
    end
  end
  return { sign = t.sign, count = t.count, sides = t.sides, keep = t.keep, n = t.n, rolls = rolls,
           kept = kept, value = value }, term_text(t) .. " [" .. concat(shown, ", ") .. "]"
end

function D.roll(expr, random)
  if type(random) ~= "function" then error("dice.roll: pass the game's generator (ctx.random)", 2) end
  local parsed, err = D.parse(expr)
  if not parsed then return nil, err end
  local result = { total = 0, crit = false, fumble = false, terms = {} }
  local parts, first_d20 = {}, nil
  for k, t in ipairs(parsed.terms) do
    local rolled, text
    if t.count then
      rolled, text = roll_term(t, random)
      if t.sides == 20 and not first_d20 then first_d20 = rolled end
    else
      rolled, text = { sign = t.sign, value = t.value }, tostring(t.value)
    end
    result.terms[k] = rolled
    result.total = result.total + t.sign * rolled.value
    parts[#parts + 1] = (k == 1 and (t.sign < 0 and "-" or "") or (t.sign < 0 and " - " or " + ")) .. text
  end
  if first_d20 and #first_d20.kept == 1 then
    result.crit = first_d20.kept[1] == 20
    result.fumble = first_d20.kept[1] == 1
  end
  result.text = concat(parts) .. " = " .. result.total
  return result
end

-- Critical damage: the same expression with twice the dice in every dice term (numbers stay).
function D.critical(expr)
  local parsed, err = D.parse(expr)
  if not parsed then return nil, err end
  local parts = {}
  for k, t in ipairs(parsed.terms) do
    local text = t.count and ((t.count * 2) .. "d" .. t.sides .. (t.keep and (t.keep .. t.n) or ""))
      or tostring(t.value)
    parts[k] = (k == 1 and (t.sign < 0 and "-" or "") or (t.sign < 0 and "-" or "+")) .. text
  end
  return concat(parts)
end

return D
