#!/usr/bin/env luajit
-- games/dungeon/rules.lua, loaded in the script sandbox: modifiers and proficiency, checks and
-- saves with advantage, attacks with criticals and conditions, damage, dying and death saves,
-- initiative order, rests and spell slots. Dice are scripted, so every case is exact. TAP.
package.path = ((arg[0]:match("^(.*)[/\\]") or ".") .. "/?.lua;") .. package.path
local H = require("harness")

local R = H.load("games/dungeon/rules.lua")

-- A generator returning the scripted faces in order.
local function faces(...)
  local list, i = { ... }, 0
  return function(m, n)
    i = i + 1
    return assert(list[i], "more dice rolled than scripted")
  end
end

local function fighter()
  return { name = "Brienne", level = 5, hp = 44, hp_max = 44, ac = 18, hit_dice = 5, hit_die = 10,
    abilities = { str = 16, dex = 12, con = 14, int = 10, wis = 12, cha = 8 },
    proficient = { athletics = true, str_save = true, con_save = true }, conditions = {} }
end

local function goblin()
  return { name = "goblin", monster = true, proficiency = 2, hp = 7, hp_max = 7, ac = 15,
    abilities = { str = 8, dex = 14, con = 10, int = 10, wis = 8, cha = 8 },
    proficient = { stealth = true }, conditions = {} }
end

H.is_deep({ R.modifier(1), R.modifier(9), R.modifier(10), R.modifier(11), R.modifier(16), R.modifier(30) },
  { -5, -1, 0, 0, 3, 10 }, "ability modifiers")
H.is_deep({ R.proficiency(1), R.proficiency(4), R.proficiency(5), R.proficiency(9), R.proficiency(17), R.proficiency(20) },
  { 2, 2, 3, 4, 6, 6 }, "proficiency by level")

local f, g = fighter(), goblin()
local r = R.check(f, "athletics", { dc = 15 }, faces(9))
H.is_deep({ r.total, r.success }, { 15, true }, "athletics: d20 9 + Str 3 + proficiency 3 meets DC 15")
r = R.check(f, "stealth", { dc = 12 }, faces(10))
H.is_deep({ r.total, r.success }, { 11, false }, "stealth, not proficient: 10 + Dex 1 misses DC 12")
r = R.check(f, "wis", nil, faces(7))
H.ok(r.total == 8 and r.success, "a bare ability check, no DC")
r = R.check(g, "stealth", { adv = true }, faces(4, 17))
H.ok(r.total == 21 and r.roll.text:find("%(4%)"), "advantage keeps the higher die: " .. r.roll.text)
r = R.check(g, "stealth", { adv = true, dis = true }, faces(4))
H.ok(r.total == 8, "advantage and disadvantage cancel: one die")
g.conditions.poisoned = true
r = R.check(g, "stealth", nil, faces(17, 4))
H.ok(r.total == 8, "a poisoned creature checks at disadvantage")
g.conditions.poisoned = nil
H.ok(R.check(f, "flying", nil, faces()) == nil, "an unknown skill is refused")

r = R.save(f, "con", 14, nil, faces(9))
H.is_deep({ r.total, r.success }, { 14, true }, "a proficient Con save: 9 + 2 + 3")
f.conditions.restrained = true
r = R.save(f, "dex", 10, nil, faces(15, 6))
H.ok(r.total == 7 and not r.success, "restrained: Dex saves at disadvantage")
f.conditions.restrained = nil
f.conditions.paralyzed = true
r = R.save(f, "str", 1, nil, faces())
H.ok(r.automatic and not r.success, "paralyzed: Str and Dex saves fail without a roll")
f.conditions.paralyzed = nil

local longsword = { name = "longsword", damage = "1d8", proficient = true }
local a = R.attack(f, longsword, g, nil, faces(9, 5))
H.ok(a.hit and not a.crit and a.amount == 8 and a.attack.total == 15,
  "a hit: 9 + 3 + 3 = 15 against AC 15, damage 1d8 5 + 3")
a = R.attack(f, longsword, g, nil, faces(8))
H.ok(not a.hit and a.damage == nil, "14 misses AC 15, no damage rolled")
a = R.attack(f, longsword, { ac = 30, hp = 10, hp_max = 10, abilities = {} }, nil, faces(20, 4, 6))
H.ok(a.hit and a.crit and a.amount == 13 and a.damage.text:find("^2d8"),
  "a natural 20 hits any AC and doubles the damage dice: " .. a.damage.text)
a = R.attack(f, longsword, { ac = 2, hp = 10, hp_max = 10, abilities = {} }, nil, faces(1))
H.ok(not a.hit and a.fumble, "a natural 1 misses any AC")
local rapier = { name = "rapier", damage = "1d8", ability = "finesse", proficient = true }
a = R.attack(g, rapier, f, nil, faces(14, 3))
H.ok(a.attack.total == 18 and a.amount == 5, "finesse uses the better of Str and Dex (goblin: Dex +2)")
g.conditions.prone = true
local bow = { name = "shortbow", damage = "1d6", ranged = true, proficient = true }
local adv, dis = R.attack_mode(f, g, longsword)
H.ok(adv and not dis, "melee against a prone target: advantage")
adv, dis = R.attack_mode(f, g, bow)
H.ok(dis and not adv, "ranged against a prone target: disadvantage")
g.conditions.prone = nil
local sleeper = goblin()
sleeper.conditions.unconscious = true
a = R.attack(f, longsword, sleeper, nil, faces(3, 12, 2, 2))
H.ok(a.hit and a.crit, "a melee hit on an unconscious target is a critical (advantage: 12 kept)")

g = goblin()
H.ok(R.damage(g, 3) == "hurt" and g.hp == 4, "damage below the hp")
H.ok(R.damage(g, 9) == "dead" and g.dead, "a monster at 0 hp dies")

f = fighter()
H.ok(R.damage(f, 50) == "down" and f.hp == 0 and f.conditions.unconscious, "a player at 0 hp drops, unconscious")
local roll, what = R.death_save(f, faces(12))
H.ok(what == "success" and f.death.successes == 1, "death save 12: a success")
roll, what = R.death_save(f, faces(1))
H.ok(what == "failure" and f.death.failures == 2, "a natural 1: two failures")
H.ok(R.damage(f, 1) == "dead" and f.dead, "damage while dying: the third failure, dead")

f = fighter()
R.damage(f, 44)
for _ = 1, 3 do roll, what = R.death_save(f, faces(10)) end
H.ok(what == "stable" and f.stable, "three successes: stable")
H.ok(R.death_save(f, faces()) == nil, "a stable creature makes no more death saves")
f = fighter()
R.damage(f, 44)
roll, what = R.death_save(f, faces(20))
H.ok(what == "revived" and f.hp == 1 and not f.conditions.unconscious, "a natural 20: back with 1 hp")
f = fighter()
H.ok(R.damage(f, 44 + 44) == "dead", "damage left over reaching the hp maximum kills outright")
f = fighter()
R.damage(f, 44)
R.heal(f, 7)
H.ok(f.hp == 7 and f.death == nil and not f.conditions.unconscious, "healing a dying player wakes it")
H.ok(R.heal(f, 100) == 44, "healing stops at the maximum")

local order = R.initiative({
  { id = "goblin-1", creature = goblin() }, { id = "brienne", creature = fighter() },
  { id = "goblin-2", creature = goblin() }, { id = "tie", creature = fighter() },
}, faces(10, 14, 11, 12))
local ids = {}
for i, e in ipairs(order) do ids[i] = e.id .. "=" .. e.total end
H.is_deep(ids, { "brienne=15", "goblin-2=13", "tie=13", "goblin-1=12" },
  "initiative: by total, then by Dex score (goblin 14 before fighter 12), then as given")

f = fighter()
f.hp = 20
f.hit_dice = 2
H.ok(R.short_rest(f, 3, faces(6, 1)) == 11 and f.hit_dice == 0,
  "a short rest spends the hit dice there are: 6+2 and 1+2")
f.slots = { [1] = { max = 2, used = 2 }, [2] = { max = 1, used = 0 } }
H.ok(R.spend_slot(f, 1) == 2, "no level-1 slot left: a level-2 slot is used")
H.ok(R.spend_slot(f, 1) == nil, "then none at all")
H.ok(R.long_rest(f) and f.hp == 44 and f.slots[1].used == 0 and f.slots[2].used == 0 and f.hit_dice == 2,
  "a long rest: full hp, every slot, half the hit dice back")

H.done()
