-- mt.tables: plain-data helpers. Games and agents get them with require("mt.tables"); the
-- server's own Lua (lua/sandbox.lua, and through it the referee and the agent host) uses these
-- very functions, so a state copied by a game and by the referee is copied the same way.
--
-- Runs in a script's sandbox: it may use only what scripts may (docs/scripting.md).

local type, next, error, rawget, ipairs = type, next, error, rawget, ipairs

local T = {}

-- A deep copy of plain data: tables are copied at every level, keys and metatables are not
-- (keys are used as they are; a copy has no metatable). Deeper than 64 levels is an error, which
-- is also what a cyclic table gives.
function T.copy(v, depth)
  if type(v) ~= "table" then return v end
  depth = depth or 0
  if depth > 64 then error("table too deep to copy (or cyclic)", 2) end
  local out = {}
  for k, x in next, v do out[k] = T.copy(x, depth + 1) end
  return out
end

-- Structural equality of plain data: same keys, equal values at every level (metatables and
-- __eq are not consulted). Deeper than 64 levels counts as different.
function T.equal(a, b, depth)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  depth = depth or 0
  if depth > 64 then return false end
  for k, v in next, a do
    if not T.equal(v, rawget(b, k), depth + 1) then return false end
  end
  for k in next, b do
    if rawget(a, k) == nil then return false end
  end
  return true
end

-- A one-level copy: a new table with the same keys and values.
function T.shallow(t)
  local out = {}
  for k, v in next, t do out[k] = v end
  return out
end

-- The first element of the array list (nil: none) for which pred is true, or nil.
function T.find(list, pred)
  for _, x in ipairs(list or {}) do
    if pred(x) then return x end
  end
  return nil
end

return T
