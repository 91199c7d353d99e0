-- sheets.lua: player characters. A character sheet is the player's document for this game
-- (ctx.doc / ctx.save_doc): made from a class when the player has none, read back as the hero
-- of the next session, saved as a new version with a note whenever it changes.

local R = require("rules")
local D = require("data")

local S = {}

-- The fields of a hero that make its sheet (everything else is the fight's, not the sheet's).
S.FIELDS = { "name", "class", "level", "xp", "hp", "hp_max", "ac", "abilities", "proficient",
             "weapons", "spells", "slots", "spell_ability", "hit_die", "hit_dice", "items",
             "dead", "stable", "death" }

local DEFAULT_NAMES = { fighter = "Brann", rogue = "Vex", wizard = "Ilsa", cleric = "Odo" }

local function copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end
S.copy = copy

local function slots_for(class, level)
  if not D.CLASSES[class].spell_ability then return nil end
  local out = {}
  for l, n in ipairs(D.CASTER_SLOTS[level]) do out[l] = { max = n, used = 0 } end
  return out
end

-- A level-1 character of class (one of D.CLASS_NAMES), named name (or the class's default).
function S.new(class, name)
  local c = D.CLASSES[class]
  local abilities = copy(c.abilities)
  local hp = c.hp + R.modifier(abilities.con)
  local proficient = {}
  for _, p in ipairs(c.proficient) do proficient[p] = true end
  return {
    name = name or DEFAULT_NAMES[class], class = class, level = 1, xp = 0, hp = hp, hp_max = hp,
    ac = c.ac, abilities = abilities, proficient = proficient, weapons = copy(c.weapons),
    spells = copy(c.spells or {}), slots = slots_for(class, 1), spell_ability = c.spell_ability,
    hit_die = c.hit_die, hit_dice = 1, items = copy(c.items),
  }
end

local function whole(v, lo, hi)
  return type(v) == "number" and v == math.floor(v) and v >= lo and v <= hi
end

-- Whether a stored document is a sheet this game can play (an older or foreign shape is not).
function S.valid(doc)
  if type(doc) ~= "table" or type(doc.name) ~= "string" or not D.CLASSES[doc.class] then return false end
  if not (whole(doc.level, 1, D.MAX_LEVEL) and whole(doc.hp_max, 1, 1000) and whole(doc.hp, 0, 1000)
          and whole(doc.ac, 1, 40) and whole(doc.xp, 0, 10 ^ 7)) then
    return false
  end
  if type(doc.abilities) ~= "table" or type(doc.weapons) ~= "table" or #doc.weapons == 0 then return false end
  for _, a in ipairs(R.ABILITIES) do
    if not whole(doc.abilities[a], 1, 30) then return false end
  end
  return true
end

-- The hero of seat: its sheet plus what the fight needs.
function S.hero(seat, sheet)
  local h = copy(sheet)
  h.id, h.seat, h.kind = "p" .. seat, seat, "hero"
  h.conditions = {}
  h.proficient = h.proficient or {}
  h.spells = h.spells or {}
  h.items = h.items or {}
  h.hit_die = h.hit_die or D.CLASSES[h.class].hit_die
  h.hit_dice = h.hit_dice or h.level
  return h
end

-- The sheet of a hero, to save.
function S.sheet(h)
  local out = {}
  for _, f in ipairs(S.FIELDS) do out[f] = copy(h[f]) end
  return out
end

-- Raises the hero's level while its XP allows. Returns the list of levels reached.
function S.level_up(h)
  local reached = {}
  while h.level < D.MAX_LEVEL and h.xp >= D.XP_LEVELS[h.level + 1] do
    h.level = h.level + 1
    local gain = math.max(1, math.floor(h.hit_die / 2) + 1 + R.modifier(h.abilities.con))
    h.hp_max, h.hp = h.hp_max + gain, (h.hp > 0 and h.hp + gain or h.hp)
    h.hit_dice = math.min(h.level, (h.hit_dice or 0) + 1)
    local fresh = slots_for(h.class, h.level)
    if fresh then
      for l, slot in ipairs(fresh) do
        local old = h.slots and h.slots[l]
        slot.used = old and math.min(old.used, slot.max) or 0
      end
      h.slots = fresh
    end
    reached[#reached + 1] = h.level
  end
  return reached
end

-- One line that sums a sheet up, for /sheet.
function S.summary(h)
  local a = h.abilities
  local parts = {
    string.format("%s, level %d %s: %d/%d hp, AC %d, %d XP.", h.name, h.level, h.class, h.hp, h.hp_max, h.ac, h.xp),
    string.format("STR %d DEX %d CON %d INT %d WIS %d CHA %d.", a.str, a.dex, a.con, a.int, a.wis, a.cha),
  }
  local weapons = {}
  for _, w in ipairs(h.weapons) do weapons[#weapons + 1] = w.name .. " (" .. w.damage .. ")" end
  parts[#parts + 1] = "Weapons: " .. table.concat(weapons, ", ") .. "."
  if #h.spells > 0 then
    local slots = {}
    for l, s in ipairs(h.slots or {}) do slots[#slots + 1] = "level " .. l .. ": " .. (s.max - s.used) .. "/" .. s.max end
    parts[#parts + 1] = "Spells: " .. table.concat(h.spells, ", ") .. ". Slots " .. table.concat(slots, ", ") .. "."
  end
  parts[#parts + 1] = "Hit dice: " .. (h.hit_dice or 0) .. "d" .. h.hit_die .. ". Items: " .. table.concat(h.items, ", ") .. "."
  return table.concat(parts, " ")
end

return S
