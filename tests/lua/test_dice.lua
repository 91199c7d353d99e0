#!/usr/bin/env luajit
-- mt.dice (lua/lib/dice.lua), loaded as a script loads it: the grammar, keep/drop, advantage,
-- criticals, limits and the rendering. TAP. Run from the repository root.
package.path = ((arg[0]:match("^(.*)[/\\]") or ".") .. "/?.lua;") .. package.path
local H = require("harness")
local S = H.sandbox_module

local env = S.new_env({ files = {}, helpers = H.helpers, random = S.new_random(1) })
local dice = env.require("mt.dice")

-- A generator that returns the given faces in order (and checks the range it was asked for).
local function faces(list)
  local i = 0
  return function(m, n)
    i = i + 1
    local v = assert(list[i], "more dice rolled than scripted")
    assert(m == 1 and v >= 1 and v <= n, "face " .. v .. " outside 1.." .. tostring(n))
    return v
  end
end

local r = dice.roll("2d6+1d4+3", faces({ 5, 2, 4 }))
H.is_deep({ r.total, r.text }, { 14, "2d6 [5, 2] + 1d4 [4] + 3 = 14" }, "several terms and a number")
r = dice.roll("4d6kh3", faces({ 3, 6, 1, 5 }))
H.is_deep({ r.total, r.terms[1].kept, r.text }, { 14, { 3, 6, 5 }, "4d6kh3 [3, 6, (1), 5] = 14" },
  "kh3 keeps the three highest, the dropped die shown in parentheses")
r = dice.roll("2d20kl", faces({ 12, 7 }))
H.is_deep({ r.total, r.text }, { 7, "2d20kl1 [(12), 7] = 7" }, "kl keeps the lowest one")
r = dice.roll("3d6kh1", faces({ 4, 4, 2 }))
H.is_deep(r.terms[1].kept, { 4 }, "a tie keeps one die, the first rolled")
r = dice.roll("d20 + 5 adv", faces({ 8, 17 }))
H.is_deep({ r.total, r.text, r.crit }, { 22, "2d20kh1 [(8), 17] + 5 = 22", false },
  "advantage rolls the d20 twice and keeps the higher")
r = dice.roll("1d20-1 DIS", faces({ 8, 17 }))
H.is_deep({ r.total, r.text }, { 7, "2d20kl1 [8, (17)] - 1 = 7" }, "disadvantage keeps the lower")
r = dice.roll("d20+2", faces({ 20 }))
H.ok(r.crit and not r.fumble and r.total == 22, "a natural 20 is a critical")
r = dice.roll("d20adv", faces({ 20, 1 }))
H.ok(r.crit and not r.fumble, "with advantage the kept die decides: 20 kept, 1 dropped")
r = dice.roll("d20dis", faces({ 20, 1 }))
H.ok(r.fumble and not r.crit, "with disadvantage the 1 is kept: a fumble")
r = dice.roll("-1d4+10", faces({ 3 }))
H.is_deep({ r.total, r.text }, { 7, "-1d4 [3] + 10 = 7" }, "a leading minus")
H.is_deep({ dice.critical("2d6+1d8+3"), dice.critical("1d20kh1-2") }, { "4d6+2d8+3", "2d20kh1-2" },
  "critical damage doubles the dice, not the numbers")

-- Errors say what is wrong; nothing is rolled.
local never = function() error("rolled on a refused expression") end
local bad = {
  { "", "empty" }, { "2d", "number of sides" }, { "x", "expected dice" }, { "d1", "2 to 1000 sides" }, { "d1001", "sides" },
  { "101d6", "1 to 100 dice" }, { "0d6", "1 to 100 dice" }, { "4d6kh5", "cannot keep 5 of 4" },
  { "4d6k3", "kh or kl" }, { "2d6 * 3", "expected + or -" }, { "2d6 adv", "needs a single d20" },
  { "10001", "up to 10000" }, { ("1+"):rep(10) .. "1", "at most 10 terms" },
  { ("d6+"):rep(30) .. "1", "at most 64 characters" }, { "1d6 3", "unexpected number" },
}
for _, case in ipairs(bad) do
  local res, err = dice.roll(case[1], never)
  H.ok(res == nil and type(err) == "string" and err:find(case[2], 1, true),
    "refused: " .. case[1]:sub(1, 20) .. " -> " .. tostring(err))
end
H.ok(select(2, dice.parse(42)) == "a dice expression is text", "a number is not an expression")
H.ok(not pcall(dice.roll, "1d6"), "rolling without the game's generator is an error")

-- With the sandbox's generator: every face of a d6 comes up, nothing outside 1..6, and the same
-- seed rolls the same dice (what makes a replay exact).
local seen, ok_range = {}, true
local random = S.new_random(7)
for _ = 1, 600 do
  local v = dice.roll("1d6", random).total
  ok_range = ok_range and v >= 1 and v <= 6
  seen[v] = true
end
H.ok(ok_range and #seen == 6, "1d6 gives 1..6, each face seen in 600 rolls")
local a, b = S.new_random(99), S.new_random(99)
H.ok(dice.roll("8d12kh3+2d4", a).text == dice.roll("8d12kh3+2d4", b).text,
  "one seed, one roll")

H.done()
