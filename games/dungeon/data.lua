-- data.lua: the Distributed Dungeon's classes, spells, monsters and conditions as plain data.
-- Facts from the 5e System Reference Document, in our own words and numbers. Nothing here
-- rolls or changes state; game.lua and rules.lua do that.

local D = {}

-- Experience needed for each level (index = level); level 5 is the cap of this game.
D.XP_LEVELS = { 0, 300, 900, 2700, 6500 }
D.MAX_LEVEL = #D.XP_LEVELS

-- Spell slots by caster level: { first-level slots, second-level slots, ... }.
D.CASTER_SLOTS = { { 2 }, { 3 }, { 4, 2 }, { 4, 3 }, { 4, 3, 2 } }

-- The four classes a new character may take. A weapon: { name, damage, ability ("str",
-- "dex" or "finesse"), proficient, ranged }. spell_ability is the casting ability.
D.CLASSES = {
  fighter = {
    hit_die = 10, ac = 16, hp = 10,
    abilities = { str = 16, dex = 12, con = 14, int = 10, wis = 12, cha = 10 },
    proficient = { "athletics", "perception", "intimidation", "str_save", "con_save" },
    weapons = {
      { name = "longsword", damage = "1d8", ability = "str", proficient = true },
      { name = "crossbow", damage = "1d8", ability = "dex", proficient = true, ranged = true },
    },
    items = { "chain mail", "shield", "explorer's pack" },
  },
  rogue = {
    hit_die = 8, ac = 14, hp = 8,
    abilities = { str = 10, dex = 16, con = 12, int = 12, wis = 12, cha = 14 },
    proficient = { "stealth", "acrobatics", "sleight_of_hand", "perception", "deception",
                   "dex_save", "int_save" },
    weapons = {
      { name = "rapier", damage = "1d8", ability = "finesse", proficient = true },
      { name = "shortbow", damage = "1d6", ability = "dex", proficient = true, ranged = true },
    },
    items = { "leather armor", "thieves' tools", "burglar's pack" },
  },
  wizard = {
    hit_die = 6, ac = 12, hp = 6, spell_ability = "int",
    abilities = { str = 8, dex = 14, con = 12, int = 16, wis = 12, cha = 10 },
    proficient = { "arcana", "history", "investigation", "int_save", "wis_save" },
    weapons = { { name = "quarterstaff", damage = "1d6", ability = "str", proficient = true } },
    spells = { "fire bolt", "ray of frost", "magic missile", "burning hands", "sleep", "thunderwave" },
    items = { "spellbook", "component pouch", "scholar's pack" },
  },
  cleric = {
    hit_die = 8, ac = 18, hp = 8, spell_ability = "wis",
    abilities = { str = 14, dex = 10, con = 14, int = 10, wis = 16, cha = 12 },
    proficient = { "medicine", "religion", "insight", "wis_save", "cha_save" },
    weapons = { { name = "mace", damage = "1d6", ability = "str", proficient = true } },
    spells = { "sacred flame", "guiding bolt", "cure wounds", "healing word", "shield of faith",
               "inflict wounds" },
    items = { "chain mail", "shield", "holy symbol", "priest's pack" },
  },
}
D.CLASS_NAMES = { "fighter", "rogue", "wizard", "cleric" }

-- Spells. kind: "attack" (a spell attack roll against AC), "save" (the target saves against the
-- caster's spell DC; half damage on a success when half = true), "auto" (always hits), "heal",
-- "buff" (a condition on the target), "sleep". level 0 is a cantrip (no slot). area = how many
-- enemies at most (the target and the next ones in the initiative order).
D.SPELLS = {
  ["fire bolt"] = { level = 0, kind = "attack", damage = "1d10", ranged = true, says = "a mote of fire" },
  ["ray of frost"] = { level = 0, kind = "attack", damage = "1d8", ranged = true, says = "a frigid beam" },
  ["sacred flame"] = { level = 0, kind = "save", save = "dex", damage = "1d8", says = "radiant flame" },
  ["magic missile"] = { level = 1, kind = "auto", damage = "3d4+3", says = "three glowing darts" },
  ["burning hands"] = { level = 1, kind = "save", save = "dex", damage = "3d6", half = true, area = 3,
                        says = "a sheet of flame" },
  ["thunderwave"] = { level = 1, kind = "save", save = "con", damage = "2d8", half = true, area = 3,
                      prone = true, says = "a wave of thunder" },
  ["guiding bolt"] = { level = 1, kind = "attack", damage = "4d6", ranged = true, mark = true,
                       says = "a flash of light" },
  ["inflict wounds"] = { level = 1, kind = "attack", damage = "3d10", says = "a necrotic touch" },
  ["sleep"] = { level = 1, kind = "sleep", dice = "5d8", says = "a magical slumber" },
  ["cure wounds"] = { level = 1, kind = "heal", heal = "1d8", friendly = true, says = "a healing touch" },
  ["healing word"] = { level = 1, kind = "heal", heal = "1d4", friendly = true, says = "a word of healing" },
  ["shield of faith"] = { level = 1, kind = "buff", condition = "shielded", friendly = true,
                          says = "a shimmering field (+2 AC)" },
}
D.SPELL_NAMES = { "burning hands", "cure wounds", "fire bolt", "guiding bolt", "healing word",
                  "inflict wounds", "magic missile", "ray of frost", "sacred flame",
                  "shield of faith", "sleep", "thunderwave" }

-- Monsters. tactic is a hint for the agents that play them ("brute" or "pack"). An attack is a
-- weapon as above; prone_dc knocks the target prone on a failed Str save.
local function m(t) return t end
D.MONSTERS = {
  goblin = m { hp = 7, ac = 15, xp = 50, tactic = "pack",
    abilities = { str = 8, dex = 14, con = 10, int = 10, wis = 8, cha = 8 },
    attacks = { { name = "scimitar", damage = "1d6", ability = "dex", proficient = true } } },
  kobold = m { hp = 5, ac = 12, xp = 25, tactic = "pack",
    abilities = { str = 7, dex = 15, con = 9, int = 8, wis = 7, cha = 8 },
    attacks = { { name = "dagger", damage = "1d4", ability = "dex", proficient = true } } },
  ["giant rat"] = m { hp = 7, ac = 12, xp = 25, tactic = "pack",
    abilities = { str = 7, dex = 15, con = 11, int = 2, wis = 10, cha = 4 },
    attacks = { { name = "bite", damage = "1d4", ability = "dex", proficient = true } } },
  wolf = m { hp = 11, ac = 13, xp = 50, tactic = "pack",
    abilities = { str = 12, dex = 15, con = 12, int = 3, wis = 12, cha = 6 },
    attacks = { { name = "bite", damage = "2d4", ability = "dex", proficient = true, prone_dc = 11 } } },
  gnoll = m { hp = 22, ac = 15, xp = 100, tactic = "pack",
    abilities = { str = 14, dex = 12, con = 11, int = 6, wis = 10, cha = 7 },
    attacks = { { name = "spear", damage = "1d6", ability = "str", proficient = true } } },
  skeleton = m { hp = 13, ac = 13, xp = 50, tactic = "brute",
    abilities = { str = 10, dex = 14, con = 15, int = 6, wis = 8, cha = 5 },
    attacks = { { name = "shortsword", damage = "1d6", ability = "dex", proficient = true } } },
  zombie = m { hp = 22, ac = 8, xp = 50, tactic = "brute",
    abilities = { str = 13, dex = 6, con = 16, int = 3, wis = 6, cha = 5 },
    attacks = { { name = "slam", damage = "1d6", ability = "str", proficient = true } } },
  orc = m { hp = 15, ac = 13, xp = 100, tactic = "brute",
    abilities = { str = 16, dex = 12, con = 16, int = 7, wis = 11, cha = 10 },
    attacks = { { name = "greataxe", damage = "1d12", ability = "str", proficient = true } } },
  bandit = m { hp = 11, ac = 12, xp = 25, tactic = "brute",
    abilities = { str = 11, dex = 12, con = 12, int = 10, wis = 10, cha = 10 },
    attacks = { { name = "scimitar", damage = "1d6", ability = "finesse", proficient = true } } },
  hobgoblin = m { hp = 11, ac = 18, xp = 100, tactic = "brute",
    abilities = { str = 13, dex = 12, con = 12, int = 10, wis = 10, cha = 9 },
    attacks = { { name = "longsword", damage = "1d8", ability = "str", proficient = true } } },
  bugbear = m { hp = 27, ac = 16, xp = 200, tactic = "brute",
    abilities = { str = 15, dex = 14, con = 13, int = 8, wis = 11, cha = 9 },
    attacks = { { name = "morningstar", damage = "2d8", ability = "str", proficient = true } } },
  ogre = m { hp = 59, ac = 11, xp = 450, tactic = "brute",
    abilities = { str = 19, dex = 8, con = 16, int = 5, wis = 7, cha = 7 },
    attacks = { { name = "greatclub", damage = "2d8", ability = "str", proficient = true } } },
}
D.MONSTER_NAMES = { "bandit", "bugbear", "giant rat", "gnoll", "goblin", "hobgoblin", "kobold",
                    "ogre", "orc", "skeleton", "wolf", "zombie" }

-- The conditions the game tracks, and what each does here.
D.CONDITIONS = {
  prone = "attacks against it in melee have advantage, ranged ones disadvantage; its own attacks have disadvantage; it stands up at the start of its turn",
  poisoned = "disadvantage on its attack rolls and ability checks",
  frightened = "disadvantage on its attack rolls",
  unconscious = "cannot act; attacks against it have advantage, and a melee hit is a critical",
  blinded = "disadvantage on its attacks; attacks against it have advantage",
  restrained = "disadvantage on its attacks and Dex saves; attacks against it have advantage",
  dodging = "attacks against it have disadvantage until its next turn",
  shielded = "+2 AC until the fight ends (shield of faith)",
}
D.CONDITION_NAMES = { "blinded", "dodging", "frightened", "poisoned", "prone", "restrained",
                      "shielded", "unconscious" }

return D
