-- The server's own script host in plain LuaJIT, so game rules and agents can be tested offline:
--   * scripts load into the environment the server builds (lua/sandbox.lua itself), with
--     `require` of the script's own folder and of the mt.* helpers in lua/lib, and math.random
--     bound to the sandbox's generator seeded per load;
--   * agents get ctx.model from lua/agent_host.lua itself;
--   * H.play drives whole games through lua/referee.lua and lua/agent_host.lua, as a room does:
--     views and legal lists cross as JSON, every move is checked and applied by the referee;
--   * H.ctx is a game ctx for calling a game's functions directly (it records what is emitted).
-- What the server adds in C (the CPU check compiled into scripts, the memory cap, the C JSON
-- and state hasher) is not here: lua-cjson stands in for the JSON, and the state hash is the
-- FNV-1a 64 of sandbox.canonical's text, which is what the C hasher computes.
-- It also emits TAP, so every tests/lua/test_*.lua runs under `prove -e 'luajit -joff'`.
-- This file is trusted test code: unlike the scripts it loads, it may use os, io and ffi.

local H = {}

-- Test scripts live in tests/lua/, two levels below the repository root.
local script_dir = (arg and arg[0] or ""):match("^(.*)[/\\][^/\\]*$") or "."
H.root = script_dir .. "/../.."

local cjson = require("cjson")

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

-- The sandbox's deep copy (mt.tables.copy), once the sandbox is loaded below.
function H.deep_copy(v)
  return H.sandbox_module.deep_copy(v)
end

-- What a value looks like after crossing the wire as JSON (the server sends views that way).
function H.wire(v)
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

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

-- A folder's files as sandbox.new_env wants them ({ ["name.lua"] = text }), read when first
-- asked for and kept. Only plain relative .lua names are looked up (new_env also asks for the
-- server's bytecode table, which plain LuaJIT has none of).
local folders = {}
local function folder(dir)
  if folders[dir] then return folders[dir] end
  local files = setmetatable({}, { __index = function(t, name)
    if type(name) ~= "string" or not name:match("^[%w_][%w_/%-]*%.lua$") or name:find("%.%.") then
      return nil
    end
    local text = read(dir .. "/" .. name)
    rawset(t, name, text or false)
    return text
  end })
  folders[dir] = files
  return files
end

-- FNV-1a 64 of the canonical text: the server's state hash (src/script/lua_canonical.c).
local ffi = require("ffi")
local S
local function canonical_hash(v)
  local h = ffi.new("uint64_t", 0xcbf29ce484222325ULL)
  local text = S.canonical(v)
  for i = 1, #text do
    h = bit.bxor(h, text:byte(i)) * 0x100000001b3ULL
  end
  return bit.tohex(h, 16)
end

H.helpers = folder(H.root .. "/lua/lib")
S = assert(loadfile(H.root .. "/lua/sandbox.lua"))(cjson, canonical_hash, nil, H.helpers)
H.sandbox_module = S

-- The environment the server gives a script of folder dir (relative to the root).
function H.sandbox(dir, seed)
  return S.new_env({ files = folder(H.root .. "/" .. dir), prefix = dir .. "/",
                     helpers = H.helpers, random = S.new_random(seed or 1) })
end

local loaded_from = setmetatable({}, { __mode = "k" }) -- module table -> its file

-- Loads a game or agent script (path relative to the repository root) in a fresh sandbox.
function H.load(relpath, seed)
  local dir, file = relpath:match("^(.*)/([^/]*)$")
  local env = H.sandbox(dir, seed)
  local fn, err = S.load_text(folder(H.root .. "/" .. dir)[file], relpath, env)
  if not fn then error(err, 0) end
  local module = fn()
  if type(module) == "table" then loaded_from[module] = relpath end
  return module
end

------------------------------------------------------------------------------------------------
-- ctx and model

-- A game ctx. Emitted events are collected in ctx.events ({event, seat} each) for inspection.
function H.ctx(opts)
  opts = opts or {}
  local ctx = { random = H.rng(opts.seed or 1), now = 0, seats = opts.seats or 2, events = {} }
  ctx.emit = function(event, seat) ctx.events[#ctx.events + 1] = { event = event, seat = seat } end
  ctx.log = function() end
  -- Documents (docs/scripting.md, "Documents"): opts.docs[seat] is the seat's document (false:
  -- a player without one); saves go to ctx.saves and are seen by later ctx.doc calls.
  local docs = opts.docs or {}
  ctx.saves = {}
  ctx.doc = function(seat) return docs[seat] and H.deep_copy(docs[seat]) or nil end
  ctx.save_doc = function(seat, doc, note, by)
    if docs[seat] == nil then return false end
    docs[seat] = H.deep_copy(doc)
    ctx.saves[#ctx.saves + 1] = { seat = seat, doc = H.deep_copy(doc), note = note, by = by }
    return true
  end
  return ctx
end

local function new_host()
  return assert(loadfile(H.root .. "/lua/agent_host.lua"))(S)
end
local model_host = new_host()

-- ctx.model for an agent: the agent host's own (lua/agent_host.lua), wrapping game.
function H.model(game, seed)
  return model_host.new_model(game, S.new_random(seed or 1), game.players.max, {})
end

-- An agent's ctx. opts.seat is optional: the contract does not promise ctx.seat, so agents
-- must also work from model.to_move(view).
function H.agent_ctx(game, opts)
  opts = opts or {}
  return {
    random = H.rng(opts.seed or 1), now = 0, seats = game.players.max, seat = opts.seat,
    model = H.model(game, opts.seed), log = function() end, config = {},
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

-- lua/referee.lua itself, set up with the game at relpath (its folder's files), seed and
-- seats, as a room does: the referee table, its calls taking and giving JSON text.
function H.referee(relpath, seed, seats)
  local dir = relpath:match("^(.*)/")
  local referee = assert(loadfile(H.root .. "/lua/referee.lua"))(S)
  referee.setup(folder(H.root .. "/" .. dir), H.helpers, dir .. "/", nil, seed or 1, seats)
  return referee
end

-- Plays one game between agents (agents[seat], as H.load returned them) to the end, the way a
-- room does: lua/referee.lua holds the game and checks and applies every move, each agent runs
-- in its own lua/agent_host.lua, views and legal lists cross as JSON. Returns nil (the state
-- stays inside the referee), the outcome, and a record: { max_seconds = slowest choose,
-- error = the first refused or failed turn, reasons }.
function H.play(game, agents, seed)
  local game_path = assert(loaded_from[game], "H.play: load the game with H.load")
  local dir = game_path:match("^(.*)/")
  local files, seats = folder(H.root .. "/" .. dir), game.players.max
  local referee = assert(loadfile(H.root .. "/lua/referee.lua"))(S)
  referee.setup(files, H.helpers, dir .. "/", nil, seed, seats)
  local hosts = {}
  for seat = 1, seats do
    local agent_path = assert(loaded_from[agents[seat]], "H.play: load the agents with H.load")
    local agent_dir, main = agent_path:match("^(.*)/([^/]*)$")
    hosts[seat] = new_host()
    hosts[seat].setup(folder(H.root .. "/" .. agent_dir), files, H.helpers, main, dir .. "/", seat,
      seats, seed * 1000 + seat)
  end
  local record = { max_seconds = 0, reasons = {} }
  local seat, turn, over = referee.to_move(), 0, nil
  while seat and not over do
    turn = turn + 1
    local view = referee.views(seats, seat, bit.lshift(1, seat))[seat]
    local t0 = os.clock()
    local ok, action, why = pcall(hosts[seat].choose, view[1], view[2] or "[]", turn)
    record.max_seconds = math.max(record.max_seconds, os.clock() - t0)
    if not ok then
      record.error = "seat " .. seat .. ", turn " .. turn .. ": choose raised: " .. tostring(action)
      return nil, nil, record
    end
    record.reasons[#record.reasons + 1] = why
    local verdict, events_or_reason, outcome, to_move = referee.apply(seat, action, turn)
    if verdict ~= "ok" then
      record.error = "seat " .. seat .. ", turn " .. turn .. ": " .. verdict .. " " ..
        tostring(events_or_reason) .. " for " .. action
      return nil, nil, record
    end
    over, seat = outcome, to_move
  end
  return nil, over and cjson.decode(over), record
end

return H
