-- rules.lua: the core of the 5e System Reference Document's rules, in our own words, for the
-- Distributed Dungeon game (games/dungeon). Pure functions over plain tables: every roll takes
-- the game's generator (ctx.random), so a replay rolls the same dice.
--
-- A creature (a player's sheet or a monster):
--   { name, level (players), hp, hp_max, ac, abilities = { str, dex, con, int, wis, cha },
--     proficient = { skills and saves by name = true }, conditions = { name = true },
--     death = { successes, failures } (players at 0 hp), dead, stable, hit_dice (players),
--     hit_die (sides, e.g. 10), slots = { [level] = { max, used } } (casters), monster (bool) }
-- A weapon: { name, damage = "1d8", ability = "str" | "dex" | "finesse", proficient = bool,
--   ranged = bool, bonus = 0 }

local dice = require("mt.dice")
local floor, max, min = math.floor, math.max, math.min

local R = {}

R.ABILITIES = { "str", "dex", "con", "int", "wis", "cha" }
R.SKILLS = {
  athletics = "str", acrobatics = "dex", sleight_of_hand = "dex", stealth = "dex",
  arcana = "int", history = "int", investigation = "int", nature = "int", religion = "int",
  animal_handling = "wis", insight = "wis", medicine = "wis", perception = "wis", survival = "wis",
  deception = "cha", intimidation = "cha", performance = "cha", persuasion = "cha",
}

-- An ability score's modifier: 10-11 give 0, each two points more or less one more or less.
function R.modifier(score)
  return floor(((score or 10) - 10) / 2)
end

-- The proficiency bonus by level: +2 at levels 1-4, one more every four levels, +6 at 17-20.
function R.proficiency(level)
  return 2 + floor((max(1, min(20, level or 1)) - 1) / 4)
end

-- Advantage and disadvantage cancel out, however many sources each has.
local function mode(adv, dis)
  if adv and not dis then return " adv" end
  if dis and not adv then return " dis" end
  return ""
end
R.mode = mode

local function ability_mod(c, ability)
  return R.modifier(c.abilities and c.abilities[ability])
end

local function prof_bonus(c, name)
  if not (c.proficient and c.proficient[name]) then return 0 end
  return c.monster and (c.proficiency or 2) or R.proficiency(c.level)
end

local function has(c, condition)
  return c.conditions ~= nil and c.conditions[condition] == true
end

-- n as a term of an expression: "+3", "-1", "+0".
local function signed(n)
  return (n >= 0 and "+" or "") .. n
end

-- A d20 test: the roll of "d20+bonus" with advantage/disadvantage, against dc when given.
local function d20_test(bonus, adv, dis, dc, random)
  local expr = "d20" .. signed(bonus) .. mode(adv, dis)
  local roll = assert(dice.roll(expr, random))
  return { total = roll.total, roll = roll, success = dc == nil or roll.total >= dc }
end

-- An ability check, with a skill ("stealth") or a bare ability ("str"). opts: adv, dis, dc.
-- Poisoned creatures check at disadvantage.
function R.check(c, what, opts, random)
  opts = opts or {}
  local ability = R.SKILLS[what] or what
  if not c.abilities or c.abilities[ability] == nil then return nil, "no such skill or ability: " .. tostring(what) end
  local bonus = ability_mod(c, ability) + (R.SKILLS[what] and prof_bonus(c, what) or 0)
  return d20_test(bonus, opts.adv, opts.dis or has(c, "poisoned"), opts.dc, random)
end

-- A saving throw (ability's name) against dc. opts: adv, dis. Restrained creatures save Dex
-- at disadvantage; paralyzed and unconscious ones fail Str and Dex saves.
function R.save(c, ability, dc, opts, random)
  opts = opts or {}
  if (has(c, "paralyzed") or has(c, "unconscious")) and (ability == "str" or ability == "dex") then
    return { total = 0, success = false, automatic = true }
  end
  local bonus = ability_mod(c, ability) + prof_bonus(c, ability .. "_save")
  local dis = opts.dis or (ability == "dex" and has(c, "restrained"))
  return d20_test(bonus, opts.adv, dis, dc, random)
end

-- The ability a weapon attacks with: finesse takes the better of Str and Dex.
local function weapon_ability(c, w)
  if w.ability == "finesse" then
    return ability_mod(c, "str") >= ability_mod(c, "dex") and "str" or "dex"
  end
  return w.ability or (w.ranged and "dex" or "str")
end

-- Whether an attack has advantage and disadvantage, from the two creatures' conditions.
function R.attack_mode(attacker, target, weapon, opts)
  opts = opts or {}
  local adv = opts.adv or has(attacker, "invisible") or has(target, "blinded") or
    has(target, "restrained") or has(target, "paralyzed") or has(target, "unconscious") or
    (has(target, "prone") and not weapon.ranged)
  local dis = opts.dis or has(attacker, "poisoned") or has(attacker, "blinded") or
    has(attacker, "prone") or has(attacker, "restrained") or has(target, "invisible") or
    (has(target, "prone") and weapon.ranged == true)
  return adv, dis
end

-- An attack roll against the target's AC, then damage on a hit. A natural 20 always hits and
-- is a critical (the damage dice rolled twice); a natural 1 always misses. A melee hit on a
-- paralyzed or unconscious target is a critical too.
function R.attack(attacker, weapon, target, opts, random)
  local ability = weapon_ability(attacker, weapon)
  local bonus = ability_mod(attacker, ability) + (weapon.bonus or 0)
  if weapon.proficient then
    bonus = bonus + (attacker.monster and (attacker.proficiency or 2) or R.proficiency(attacker.level))
  end
  local adv, dis = R.attack_mode(attacker, target, weapon, opts)
  local test = d20_test(bonus, adv, dis, nil, random)
  local natural = test.roll.terms[1].kept[1]
  local out = { attack = test.roll, natural = natural, fumble = natural == 1 }
  out.crit = natural == 20 or
    (natural ~= 1 and not weapon.ranged and (has(target, "paralyzed") or has(target, "unconscious")) and
      test.total >= (target.ac or 10))
  out.hit = natural == 20 or (natural ~= 1 and test.total >= (target.ac or 10))
  if out.hit then
    local expr = out.crit and dice.critical(weapon.damage) or weapon.damage
    local dmg_mod = ability_mod(attacker, ability) + (weapon.bonus or 0)
    local roll = assert(dice.roll(expr .. signed(dmg_mod), random))
    out.damage = roll
    out.amount = max(0, roll.total)
  end
  return out
end

-- Damage to a creature. A monster at 0 hp dies. A player drops to 0 and is dying (unconscious,
-- making death saves), unless the damage left over reaches its hp maximum: then it dies at
-- once. Damage while already at 0 is a failed death save (two on a critical). Returns what
-- happened: "hurt", "down", "dead" or "failure".
function R.damage(c, amount, crit)
  amount = max(0, floor(amount))
  if c.dead then return "dead" end
  if c.hp <= 0 and not c.monster then
    c.stable = false
    c.death = c.death or { successes = 0, failures = 0 }
    c.death.failures = c.death.failures + (crit and 2 or 1)
    if amount >= c.hp_max or c.death.failures >= 3 then c.dead = true return "dead" end
    return "failure"
  end
  local left = amount - c.hp
  c.hp = max(0, c.hp - amount)
  if c.hp > 0 then return "hurt" end
  if c.monster or left >= c.hp_max then
    c.dead = true
    return "dead"
  end
  c.conditions = c.conditions or {}
  c.conditions.unconscious = true
  c.death = { successes = 0, failures = 0 }
  return "down"
end

-- Healing: up to the maximum; a dying creature wakes with the healed hp.
function R.heal(c, amount)
  if c.dead then return c.hp end
  c.hp = min(c.hp_max, c.hp + max(0, floor(amount)))
  if c.hp > 0 then
    c.death, c.stable = nil, nil
    if c.conditions then c.conditions.unconscious = nil end
  end
  return c.hp
end

-- A death saving throw of a dying player: 10 or more succeeds, a natural 20 brings it back
-- with 1 hp, a natural 1 is two failures; three successes make it stable, three failures dead.
-- Returns the roll and the outcome: "success", "failure", "stable", "dead" or "revived".
function R.death_save(c, random)
  if c.dead or c.hp > 0 or c.stable then return nil, "not dying" end
  local roll = assert(dice.roll("d20", random))
  local n = roll.total
  c.death = c.death or { successes = 0, failures = 0 }
  if n == 20 then
    R.heal(c, 1)
    return roll, "revived"
  end
  if n >= 10 then
    c.death.successes = c.death.successes + 1
    if c.death.successes >= 3 then
      c.stable = true
      return roll, "stable"
    end
    return roll, "success"
  end
  c.death.failures = c.death.failures + (n == 1 and 2 or 1)
  if c.death.failures >= 3 then
    c.dead = true
    return roll, "dead"
  end
  return roll, "failure"
end

-- Initiative: each creature rolls d20 + its Dex modifier; the order is by that total, then
-- by Dex score, then by the order given (a stable order for ties). creatures: a list of
-- { id = ..., creature = c }. Returns the list of { id, total, roll } from first to last.
function R.initiative(creatures, random)
  local out = {}
  for i, e in ipairs(creatures) do
    local roll = assert(dice.roll("d20" .. signed(ability_mod(e.creature, "dex")), random))
    out[i] = { id = e.id, total = roll.total, roll = roll, dex = e.creature.abilities.dex or 10, i = i }
  end
  table.sort(out, function(a, b)
    if a.total ~= b.total then return a.total > b.total end
    if a.dex ~= b.dex then return a.dex > b.dex end
    return a.i < b.i
  end)
  for _, e in ipairs(out) do e.i, e.dex = nil, nil end
  return out
end

-- A short rest: spend up to n hit dice, each healing its roll plus the Con modifier (at least
-- 0 a die). Returns the hp regained.
function R.short_rest(c, n, random)
  local before = c.hp
  if c.dead or c.hp <= 0 then return 0 end
  for _ = 1, min(n or 0, c.hit_dice or 0) do
    local roll = assert(dice.roll("1d" .. (c.hit_die or 8), random))
    c.hit_dice = c.hit_dice - 1
    R.heal(c, max(0, roll.total + ability_mod(c, "con")))
  end
  return c.hp - before
end

-- A long rest: hp to the maximum, every spell slot back, half the hit dice (at least one)
-- regained up to the level. A dead creature does not rest.
function R.long_rest(c)
  if c.dead then return false end
  c.hp, c.death, c.stable = c.hp_max, nil, nil
  if c.conditions then c.conditions.unconscious = nil end
  for _, slot in pairs(c.slots or {}) do slot.used = 0 end
  if c.level then c.hit_dice = min(c.level, (c.hit_dice or 0) + max(1, floor(c.level / 2))) end
  return true
end

-- Spends a spell slot of the level (or the lowest higher one free). Returns the level used,
-- or nil and why.
function R.spend_slot(c, level)
  for l = level, 9 do
    local s = c.slots and c.slots[l]
    if s and s.used < s.max then
      s.used = s.used + 1
      return l
    end
  end
  return nil, "no spell slot of level " .. level .. " or higher left"
end

return R
