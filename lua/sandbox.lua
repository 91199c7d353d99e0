-- sandbox.lua: builds the environment untrusted game and agent scripts run in.
--
-- Trusted. Loaded once into each Lua state (room, agent seat, validation) by the C core, which
-- passes its json module (encode and decode in C, src/script/lua_json.h) and its state hasher. It captures every library
-- function it needs as a local first, so nothing a script later does to a table it was given
-- can reach back in here.
--
-- A script gets exactly what docs/contract/GAME_API.md lists: string, table, math (random bound to the
-- game's generator), bit, the safe base functions, require (its own folder and the mt.*
-- helpers in lua/lib), json. Never io, os, debug, ffi, jit, load*, dofile, string.dump,
-- setfenv/getfenv, or collectgarbage other than "count".

local json_lib, canonical_hash, cpu_check, helpers = ...

local type, pairs, ipairs, next, select, tostring, tonumber, error, assert, pcall =
  type, pairs, ipairs, next, select, tostring, tonumber, error, assert, pcall
local setmetatable, getmetatable, rawget, rawset, rawequal, unpack =
  setmetatable, getmetatable, rawget, rawset, rawequal, unpack
local loadstring, setfenv, collectgarbage = loadstring, setfenv, collectgarbage
local string_lib, table_lib, math_lib, bit_lib = string, table, math, bit
local sfind, smatch, sgmatch, sgsub, sbyte, ssub = string.find, string.match, string.gmatch,
  string.gsub, string.byte, string.sub
local floor = math.floor

local M = {}

-- Limits on inputs to C functions that a CPU hook cannot interrupt. A Lua pattern with q
-- quantifiers can backtrack for about len^(q+1) steps; refuse calls whose bound is too high.
local MAX_SUBJECT, MAX_PATTERN, MAX_STEPS = 1024 * 1024, 512, 1e8

local function quantifiers(p)
  local q, i, n = 0, 1, #p
  while i <= n do
    local c = sbyte(p, i)
    if c == 37 then -- '%': skip the escaped character
      i = i + 2
    elseif c == 91 then -- '[': skip the set
      local j = i + 1
      if sbyte(p, j) == 94 then j = j + 1 end
      j = j + 1
      while j <= n and sbyte(p, j) ~= 93 do
        if sbyte(p, j) == 37 then j = j + 1 end
        j = j + 1
      end
      i = j + 1
    else
      if c == 42 or c == 43 or c == 45 or c == 63 then q = q + 1 end -- * + - ?
      i = i + 1
    end
  end
  return q
end

local function check_pattern(fname, s, p, plain)
  if type(s) ~= "string" or type(p) ~= "string" then return end -- the C function reports it
  if #s > MAX_SUBJECT then error(fname .. ": subject longer than " .. MAX_SUBJECT .. " bytes", 3) end
  if plain then return end
  if #p > MAX_PATTERN then error(fname .. ": pattern longer than " .. MAX_PATTERN .. " bytes", 3) end
  local q = quantifiers(p)
  if q > 0 and (#s + 1) ^ (q + 1) > MAX_STEPS then
    error(fname .. ": pattern with " .. q .. " quantifiers is too costly on a " .. #s ..
      "-byte subject", 3)
  end
end

local function bounded_string_lib()
  local s = {}
  for k, v in pairs(string_lib) do s[k] = v end
  s.dump = nil
  s.find = function(str, pat, init, plain)
    check_pattern("string.find", str, pat, plain)
    return sfind(str, pat, init, plain)
  end
  s.match = function(str, pat, init)
    check_pattern("string.match", str, pat)
    return smatch(str, pat, init)
  end
  s.gmatch = function(str, pat)
    check_pattern("string.gmatch", str, pat)
    return sgmatch(str, pat)
  end
  s.gsub = function(str, pat, repl, n)
    check_pattern("string.gsub", str, pat)
    return sgsub(str, pat, repl, n)
  end
  s.rep = function(str, n, sep)
    if type(n) == "number" and type(str) == "string" and #str * n > 16 * 1024 * 1024 then
      error("string.rep: result larger than 16 MiB", 2)
    end
    return string_lib.rep(str, n, sep)
  end
  return s
end

-- Method calls on strings ("x"):find(...) go through the state's one string metatable. Point
-- it at a bounded copy nobody else holds, and hide the metatable itself.
local method_lib = bounded_string_lib()
do
  local mt = getmetatable("")
  mt.__index = method_lib
  mt.__metatable = false
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

-- The JSON module scripts get. The server passes its own: encode and decode in C, byte for byte
-- and value for value what lua-cjson gives in the configuration below, but faster and inside the
-- state's memory cap. The Lua tests pass lua-cjson itself, configured here: no NaN/Infinity,
-- nesting up to 64, sparse arrays as objects.
local function new_json()
  if not json_lib.new then
    return { encode = json_lib.encode, decode = json_lib.decode, null = json_lib.null }
  end
  local j = json_lib.new()
  j.encode_invalid_numbers(false)
  j.decode_invalid_numbers(false)
  j.encode_max_depth(64)
  j.decode_max_depth(64)
  j.encode_sparse_array(true)
  return j
end
M.new_json = new_json

-- Loads a script's file as a function with environment env.
-- bc is the bytecode the server compiled from that very text (C: lua_compile_script, pushed by
-- script_version_push_files as files["\0bc"]). It is never script-supplied: scripts cannot
-- reach the files table, and a script's own text may not be bytecode. The compiled chunk takes
-- the CPU check (an FFI function pointer to the watchdog's flag, made by vm.c) and the
-- function that stops the call, and returns the script's main function: every loop, goto and
-- function entry in it calls the check (src/script/lua_instrument.h).
-- Without bc, src is text the server could not compile: it is compiled here only to report
-- its syntax error. With bc, src is only a marker (the server does not copy the text).
-- Outside the server (the module loaded with no CPU check, as tests/lua does), text loads as
-- it is.
local BC = "\0bc"

local function cpu_stop()
  error("CPU limit exceeded", 2)
end

function M.load_text(src, chunkname, env, bc)
  if type(src) ~= "string" then return nil, chunkname .. ": no source" end
  if sbyte(src, 1) == 27 then return nil, chunkname .. ": binary chunks are not accepted" end
  if type(bc) ~= "string" then
    local fn, err = loadstring(src, "@" .. chunkname)
    if fn and cpu_check == nil then return setfenv(fn, env) end
    return nil, fn and (chunkname .. ": not compiled by the server") or err
  end
  local chunk, err = load(bc, "@" .. chunkname, "b")
  if not chunk then return nil, err end
  setfenv(chunk, env)
  local ok, fn = pcall(chunk, cpu_check, cpu_stop)
  if not ok then return nil, fn end
  return fn
end

-- Builds a fresh environment.
--   opts.files    { ["game.lua"] = source, ... } the script's own folder
--   opts.prefix   chunk name prefix, e.g. "games/tictactoe/"
--   opts.helpers  { ["name.lua"] = bytecode } from lua/lib (compiled as scripts), required as "mt.name"
--   opts.random   the generator math.random and ctx.random share
function M.new_env(opts)
  local env = {}
  local json = new_json()
  local str = bounded_string_lib()
  local str_meta = { __index = str }
  local maths = copy(math_lib)
  maths.random = opts.random
  maths.randomseed = nil

  env.string, env.table, env.math, env.bit = str, copy(table_lib), maths, copy(bit_lib)
  env.pairs, env.ipairs, env.next, env.select, env.type = pairs, ipairs, next, select, type
  env.tostring, env.tonumber, env.pcall, env.error, env.assert =
    tostring, tonumber, pcall, error, assert
  env.setmetatable, env.rawget, env.rawset, env.rawequal, env.unpack =
    setmetatable, rawget, rawset, rawequal, unpack
  env.getmetatable = function(v)
    if type(v) == "string" then return str_meta end
    return getmetatable(v)
  end
  env.collectgarbage = function(opt)
    if opt == "count" then return collectgarbage("count") end
    error("collectgarbage: only \"count\" is available", 2)
  end
  env.json = { encode = json.encode, decode = json.decode, null = json.null }
  env._G = env
  env._VERSION = _VERSION

  local loaded = {}
  local loading = {}
  env.require = function(name)
    if type(name) ~= "string" or #name > 128 or sfind(name, "[^%w_%.]") then
      error("require: bad module name", 2)
    end
    if loaded[name] ~= nil then return loaded[name] end
    if loading[name] then error("require: loop while loading " .. name, 2) end
    local src, chunk, bc
    local helper = smatch(name, "^mt%.([%w_]+)$")
    if helper then
      src, chunk = opts.helpers and opts.helpers[helper .. ".lua"], "lua/lib/" .. helper .. ".lua"
      if cpu_check ~= nil then src, bc = src and "", src end -- the server passes bytecode
    else
      local file = sgsub(name, "%.", "/") .. ".lua"
      src, chunk = opts.files[file], (opts.prefix or "") .. file
      bc = opts.files[BC] and opts.files[BC][file]
    end
    if not src then error("require: module '" .. name .. "' not found", 2) end
    local fn, err = M.load_text(src, chunk, env, bc)
    if not fn then error(err, 2) end
    loading[name] = true
    local result = fn(name)
    loading[name] = nil
    if result == nil then result = true end
    loaded[name] = result
    return result
  end
  return env
end

-- A deterministic generator with math.random's interface: xorshift32 pairs, seeded per game.
function M.new_random(seed)
  local bxor, lshift, rshift = bit_lib.bxor, bit_lib.lshift, bit_lib.rshift
  local a = floor(seed or 1) % 4294967296
  if a == 0 then a = 0x9e3779b9 end
  local b = (a * 69069 + 1) % 4294967296
  if b == 0 then b = 0x6d2b79f5 end
  a, b = bit_lib.tobit(a), bit_lib.tobit(b)
  local function step()
    local t = bxor(a, lshift(a, 11))
    a = b
    b = bxor(bxor(b, rshift(b, 19)), bxor(t, rshift(t, 8)))
    return (b % 4294967296) / 4294967296
  end
  return function(m, n)
    local r = step()
    if m == nil then return r end
    if type(m) ~= "number" or (n ~= nil and type(n) ~= "number") then
      error("random: bad arguments", 2)
    end
    if n == nil then m, n = 1, m end
    m, n = floor(m), floor(n)
    if m > n then error("random: interval is empty", 2) end
    return m + floor(r * (n - m + 1))
  end
end

-- The server-compiled bytecode of a file of files, or nil.
function M.compiled(files, path)
  local bc = files[BC]
  return bc and bc[path]
end

-- JSON with object keys sorted: the same data always gives the same text, whatever order a
-- table's keys happen to be stored in (LuaJIT may randomise string hashing per state).
function M.canonical(v, out, depth)
  out = out or {}
  depth = depth or 0
  if depth > 64 then error("state too deep to encode (or cyclic)", 2) end
  local t = type(v)
  if t == "table" then
    local n = #v
    local keys, count = {}, 0
    for k in next, v do
      count = count + 1
      keys[count] = k
    end
    if count == n then -- an array
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        M.canonical(v[i], out, depth + 1)
      end
      out[#out + 1] = "]"
    else
      for i = 1, count do keys[i] = tostring(keys[i]) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i = 1, count do
        if i > 1 then out[#out + 1] = "," end
        local k = keys[i]
        out[#out + 1] = string.format("%q:", k)
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        M.canonical(val, out, depth + 1)
      end
      out[#out + 1] = "}"
    end
  elseif t == "number" then
    out[#out + 1] = string.format("%.17g", v)
  elseif t == "string" then
    out[#out + 1] = string.format("%q", v)
  else
    out[#out + 1] = tostring(v)
  end
  if depth == 0 then return table.concat(out) end
end

-- FNV-1a 64 of canonical(v), in 16 hex digits: what replays compare after every input. The
-- server computes it in C without building the text (src/script/lua_canonical.c); plain LuaJIT
-- (the Lua unit tests) has no hasher.
function M.canonical_hash(v)
  if not canonical_hash then error("canonical_hash needs the server's hasher", 2) end
  return canonical_hash(v)
end

-- The plain-data helpers scripts get as mt.tables (lua/lib/tables.lua) are the ones the
-- trusted modules use: loaded here once per state, in an environment of their own.
-- helpers is { ["name.lua"] = code }: bytecode compiled as a script in the server, text
-- outside it (tests/lua).
do
  local code = helpers and helpers["tables.lua"]
  if not code then error("lua/lib/tables.lua is missing", 0) end
  local env = { type = type, next = next, error = error, rawget = rawget }
  local src, bc = code, nil
  if cpu_check ~= nil then src, bc = "", code end
  local fn, err = M.load_text(src, "lua/lib/tables.lua", env, bc)
  if not fn then error(err, 0) end
  local tables = fn("mt.tables")
  M.deep_copy = tables.copy -- a deep copy of plain data (mt.tables.copy)
  M.deep_equal = tables.equal -- structural equality of plain data: what t.eq compares
end

return M
