#!/usr/bin/env luajit
-- Unit tests of the server's trusted sandbox module (lua/sandbox.lua), run in plain LuaJIT:
-- the environment scripts get, the bounded pattern functions, the deterministic generator,
-- canonical encoding and deep equality. TAP. Run from the repository root.
local H = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/harness.lua")
local S = H.sandbox_module -- lua/sandbox.lua, loaded once (it hides the string metatable)

-- The environment holds exactly what docs/contract/GAME_API.md lists.
local env = S.new_env({ files = {}, random = S.new_random(1) })
for _, name in ipairs({ "string", "table", "math", "bit", "pairs", "ipairs", "next", "select", "type",
  "tostring", "tonumber", "pcall", "error", "assert", "setmetatable", "getmetatable", "rawget",
  "rawset", "rawequal", "unpack", "require", "json" }) do
  H.ok(env[name] ~= nil, name .. " is available")
end
for _, name in ipairs({ "io", "os", "debug", "jit", "ffi", "load", "loadstring", "dofile", "loadfile",
  "setfenv", "getfenv", "package", "coroutine", "newproxy", "module", "xpcall" }) do
  H.ok(env[name] == nil, name .. " is absent")
end
H.ok(env.string.dump == nil, "string.dump is absent")
H.ok(env.math.randomseed == nil, "math.randomseed is absent")
H.ok(not pcall(env.collectgarbage, "collect"), 'collectgarbage("collect") fails')
H.ok(type(env.collectgarbage("count")) == "number", 'collectgarbage("count") works')

-- Bytecode is refused; text loads with the given environment.
local fn = S.load_text("return x", "t.lua", { x = 42 })
H.ok(fn and fn() == 42, "text chunks load with their environment")
local bin = string.dump(function() return 1 end)
local nofn, err = S.load_text(bin, "b.lua", {})
H.ok(nofn == nil and err:find("binary"), "binary chunks are refused")

-- require: own files, mt.* helpers, nothing else.
local env2 = S.new_env({ files = { ["util.lua"] = "return { v = 7 }" }, prefix = "games/g/",
  helpers = { ["grid.lua"] = "return { h = 1 }" }, random = S.new_random(1) })
H.ok(env2.require("util").v == 7, "require finds a file of the script's folder")
H.ok(env2.require("mt.grid").h == 1, "require finds an mt.* helper")
H.ok(not pcall(env2.require, "os"), "require of anything else fails")
H.ok(not pcall(env2.require, "../x"), "require of a path fails")

-- Pattern functions are bounded where a C call could run away.
local long = ("a"):rep(200000)
H.ok(not pcall(env.string.find, long, ".-.-.-.-b"), "a costly pattern on a long subject is refused")
H.ok(env.string.find(long, "b", 1, true) == nil, "a plain find on it is fine")
H.ok(env.string.match("key=value", "(%w+)=(%w+)") == "key", "ordinary patterns work")
H.ok(not pcall(env.string.rep, "x", 2 ^ 30), "string.rep over 16 MiB is refused")
H.ok(("abc"):upper() == "ABC", "string methods work")

-- The generator is deterministic and has math.random's interface.
local r1, r2 = S.new_random(99), S.new_random(99)
local same, in_range = true, true
for _ = 1, 1000 do
  local a, b = r1(1, 6), r2(1, 6)
  same = same and a == b
  in_range = in_range and a >= 1 and a <= 6 and a == math.floor(a)
end
H.ok(same, "same seed, same sequence")
H.ok(in_range, "random(m, n) stays in [m, n] and is whole")
local f = S.new_random(5)()
H.ok(f >= 0 and f < 1, "random() is in [0, 1)")
H.ok(not pcall(S.new_random(1), 5, 1), "an empty interval is an error")

-- Canonical text does not depend on insertion order; deep equality is structural.
local a, b = {}, {}
a.x, a.y, a.z = 1, { 2, 3 }, "s"
b.z, b.y, b.x = "s", { 2, 3 }, 1
H.ok(S.canonical(a) == S.canonical(b), "canonical text ignores key order: " .. S.canonical(a))
H.ok(S.deep_equal(a, b), "deep_equal compares structure")
b.y[2] = 4
H.ok(not S.deep_equal(a, b), "and sees a difference deep inside")
H.is_deep(S.deep_copy(a), a, "deep_copy copies")

-- mt.tables (lua/lib/tables.lua): what scripts require, and what the sandbox itself uses.
local lib_env = S.new_env({ files = {}, helpers = H.helpers, random = S.new_random(1) })
local tables = lib_env.require("mt.tables")
local nested = { 1, { 2, { k = "v" } } }
local copied = tables.copy(nested)
H.ok(copied ~= nested and copied[2] ~= nested[2] and tables.equal(copied, nested),
  "mt.tables.copy copies every level")
H.ok(lib_env.require("mt.tables") == tables, "a helper is loaded once per environment")
local cyclic = {}
cyclic.self = cyclic
H.ok(not pcall(tables.copy, cyclic), "copying a cyclic table is an error, not a hang")
H.ok(not tables.equal({ 1, 2 }, { 1, 2, 3 }), "mt.tables.equal sees an extra key")
local shallow = tables.shallow(nested)
H.ok(shallow ~= nested and shallow[2] == nested[2], "mt.tables.shallow copies one level")
H.ok(not pcall(lib_env.require, "mt.nothing"), "an unknown helper is not found")
H.ok(S.deep_equal(S.deep_copy(nested), nested), "the sandbox's own copy is mt.tables'")
H.done()
