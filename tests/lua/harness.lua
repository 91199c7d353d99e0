-- A tiny stand-in for the server's script host, so game rules and agents can be tested offline
-- with plain LuaJIT. It mirrors the scripting contract for games and agents:
--   * scripts load into a sandbox holding only the documented globals, with `require` limited
--     to the script's own folder (the server's lua/ helpers are not offered here) and
--     math.random bound to a generator seeded per load (the server binds it to ctx.random);
--   * ctx for games (random, now, seats, emit, log) and for agents (plus model);
--   * ctx.model wraps a game module the way the server does: copy is a deep copy, apply works
--     on a copy and returns it.
-- It also emits TAP, so every tests/lua/test_*.lua runs under `prove -e 'luajit -joff'`.
-- This file is trusted test code: unlike the scripts it loads, it may use os and io.

local H = {}

-- Test scripts live in tests/lua/, two levels below the repository root.
local script_dir = (arg and arg[0] or ""):match("^(.*)[/\\][^/\\]*$") or "."
H.root = script_dir .. "/../.."

local has_cjson, cjson = pcall(require, "cjson")

------------------------------------------------------------------------------------------------
-- TAP

local count, failed = 0, 0

function H.diag(msg)
  for line in (tostring(msg) .. "\n"):gmatch("([^\n]*)\n") do print("# " .. line) end
end

function H.ok(cond, name)
  count = count + 1
  -- A '#' in a description would start a TAP directive.
  name = tostring(name or ""):gsub("#", "no.")
  print((cond and "ok " or "not ok ") .. count .. " - " .. name)
  if not cond then failed = failed + 1 end
  return cond and true or false
end

-- Readable, stable rendering of a value for diagnostics.
local function show(v, depth)
  depth = depth or 0
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  if depth > 4 then return "{...}" end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  local parts = {}
  for _, k in ipairs(keys) do
    local key = (type(k) == "number" and k <= #v and k >= 1) and "" or (tostring(k) .. "=")
    parts[#parts + 1] = key .. show(v[k], depth + 1)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end
H.show = show

-- Deep equality; on a mismatch also returns the path where the values first differ.
local function deep_eq(a, b, path)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false, path end
  for k, v in pairs(a) do
    local same, where = deep_eq(v, b[k], path .. "." .. tostring(k))
    if not same then return false, where end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) end
  end
  return true
end
H.deep_eq = function(a, b) return (deep_eq(a, b, "")) end

function H.is_deep(got, want, name)
  local same, where = deep_eq(got, want, "")
  H.ok(same, name)
  if not same then
    H.diag("differs at " .. (where == "" and "top level" or where))
    H.diag("     got: " .. show(got))
    H.diag("expected: " .. show(want))
  end
  return same
end

-- Prints the plan and exits with a status prove understands.
function H.done()
  print("1.." .. count)
  os.exit(failed == 0 and 0 or 1)
end

------------------------------------------------------------------------------------------------
-- Values

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return out
end
H.deep_copy = deep_copy

-- What a value looks like after crossing the wire as JSON (the server sends views that way).
function H.wire(v)
  if not has_cjson then return deep_copy(v) end
  return cjson.decode(cjson.encode(v))
end

-- A deterministic generator with math.random's calling conventions: () -> [0,1),
-- (m) -> [1,m], (m, n) -> [m,n]. xorshift32, warmed up so that neighbouring seeds (tests use
-- 1, 2, 3, ...) give unrelated sequences from the first draw on.
function H.rng(seed)
  local x = bit.bxor(math.floor(tonumber(seed) or 1) % 4294967296, 0x2545F491)
  if x == 0 then x = 1 end
  local function step()
    x = bit.bxor(x, bit.lshift(x, 13))
    x = bit.bxor(x, bit.rshift(x, 17))
    x = bit.bxor(x, bit.lshift(x, 5))
    return (x % 4294967296) / 4294967296 -- bit ops yield signed 32-bit values
  end
  for _ = 1, 16 do step() end
  return function(m, n)
    local r = step()
    if m == nil then return r end
    if n == nil then m, n = 1, m end
    assert(m <= n, "random: interval is empty")
    return m + math.floor(r * (n - m + 1))
  end
end

------------------------------------------------------------------------------------------------
-- Sandbox and loading

local SAFE_GLOBALS = {
  "pairs", "ipairs", "next", "select", "type", "tostring", "tonumber", "pcall", "error",
  "assert", "setmetatable", "getmetatable", "rawget", "rawset", "rawequal", "unpack",
}

local function load_in(path, env)
  local chunk, err = loadfile(path, "t") -- text only: no precompiled bytecode
  if not chunk then error(err, 0) end
  setfenv(chunk, env)
  return chunk()
end

-- A fresh environment holding only what the contract allows. `require(name)` loads
-- <dir>/<name>.lua once, into the same environment.
function H.sandbox(dir, seed)
  local env = {}
  for _, k in ipairs(SAFE_GLOBALS) do env[k] = _G[k] end
  env.string = deep_copy(string)
  env.string.dump = nil
  env.table = deep_copy(table)
  env.bit = deep_copy(bit)
  env.math = deep_copy(math)
  env.math.random = H.rng(seed or 1)
  env.math.randomseed = nil
  if has_cjson then env.json = cjson end

  local loaded = {}
  env.require = function(name)
    if type(name) ~= "string" or not name:match("^[%w_]+$") then
      error("require: only modules beside the script may be loaded, not " .. tostring(name), 2)
    end
    if loaded[name] == nil then
      loaded[name] = load_in(dir .. "/" .. name .. ".lua", env)
      if loaded[name] == nil then loaded[name] = true end
    end
    return loaded[name]
  end
  return env
end

-- Loads a game or agent script (path relative to the repository root) in a fresh sandbox.
function H.load(relpath, seed)
  local path = H.root .. "/" .. relpath
  local dir = path:match("^(.*)/[^/]*$") or "."
  return load_in(path, H.sandbox(dir, seed))
end

------------------------------------------------------------------------------------------------
-- ctx and model

-- A game ctx. Emitted events are collected in ctx.events ({event, seat} each) for inspection.
function H.ctx(opts)
  opts = opts or {}
  local ctx = { random = H.rng(opts.seed or 1), now = 0, seats = opts.seats or 2, events = {} }
  ctx.emit = function(event, seat) ctx.events[#ctx.events + 1] = { event = event, seat = seat } end
  ctx.log = function() end
  return ctx
end

-- ctx.model for an agent, wrapping a game module as the server does.
function H.model(game)
  return {
    copy = deep_copy,
    legal = function(s, seat) return game.legal(s, seat) end,
    -- Hypothetical moves get a throwaway ctx: their events must go nowhere.
    apply = function(s, seat, action)
      local c = deep_copy(s)
      game.apply(c, seat, action, H.ctx())
      return c
    end,
    to_move = function(s) return game.to_move(s) end,
    outcome = function(s) return game.outcome(s) end,
  }
end

-- An agent's ctx. opts.seat is optional: the contract does not promise ctx.seat, so agents
-- must also work from model.to_move(view).
function H.agent_ctx(game, opts)
  opts = opts or {}
  return {
    random = H.rng(opts.seed or 1), now = 0, seats = game.players.max, seat = opts.seat,
    model = H.model(game), log = function() end,
  }
end

-- Runs a game's own tests(t), each check becoming a TAP line prefixed by `label`.
function H.self_test(game, label)
  local t = {
    ok = function(cond, name) return H.ok(cond, label .. ": " .. tostring(name)) end,
    eq = function(got, want, name) return H.is_deep(got, want, label .. ": " .. tostring(name)) end,
    new = function(config, seed)
      local ctx = H.ctx({ seed = seed, seats = game.players.max })
      return game.setup(ctx, config or {}), ctx
    end,
  }
  local ok, err = pcall(game.tests, t)
  H.ok(ok, label .. ": tests(t) ran to the end")
  if not ok then H.diag(err) end
end

-- One agent turn as the referee drives it: the agent gets its view and the legal list as they
-- would arrive over the wire, and its pick is matched against the legal list.
-- Returns action, reasoning, seconds spent in choose, and an error string if the pick was bad.
function H.agent_turn(game, agent, state, seed, seat_known)
  local seat = game.to_move(state)
  local view = H.wire(game.view(state, seat))
  local legal = H.wire(game.legal(state, seat))
  local ctx = H.agent_ctx(game, { seed = seed, seat = seat_known and seat or nil })
  local t0 = os.clock()
  local ok, action, why = pcall(agent.choose, view, legal, ctx)
  local elapsed = os.clock() - t0
  if not ok then return nil, nil, elapsed, "choose raised: " .. tostring(action) end
  for _, a in ipairs(game.legal(state, seat)) do
    if H.deep_eq(a, action) then return a, why, elapsed end
  end
  return nil, why, elapsed, "illegal action " .. show(action)
end

-- Plays one game between agents (agents[seat]) to the end. Returns the final state, its
-- outcome, and a record: { max_seconds = slowest choose, error = first bad turn, reasons }.
function H.play(game, agents, seed)
  local ctx = H.ctx({ seed = seed })
  local state = game.setup(ctx, {})
  local record = { max_seconds = 0, reasons = {} }
  local turn = 0
  while game.to_move(state) do
    turn = turn + 1
    local seat = game.to_move(state)
    local action, why, elapsed, err = H.agent_turn(game, agents[seat], state, seed * 1000 + turn)
    record.max_seconds = math.max(record.max_seconds, elapsed)
    if err then
      record.error = "seat " .. seat .. ", turn " .. turn .. ": " .. err
      return state, nil, record
    end
    record.reasons[#record.reasons + 1] = why
    game.apply(state, seat, action, ctx)
  end
  return state, game.outcome(state), record
end

return H
