-- act.lua: what the dungeon's actions do. Every action is a plain table { op = ..., ... }; OPS
-- holds, for each op, its validate (no ctx: checks only) and its apply (rolls with ctx.random,
-- emits events, saves sheets). Creatures are heroes (kind "hero", one per hero seat, made from
-- the player's sheet) and monsters (kind "monster", each played by a controller seat).

local D = require("data")
local R = require("rules")
local S = require("sheets")
local T = require("text")
local dice = require("mt.dice")

local A = {}
local floor, max, min = math.floor, math.max, math.min
local LOG_LINES, KEPT_ROLLS, MAX_CREATURES = 30, 30, 32

------------------------------------------------------------------------------------------------
-- Finding creatures

function A.find(state, id)
  for i, c in ipairs(state.creatures) do
    if c.id == id then return c, i end
  end
  return nil
end

function A.hero_of(state, seat)
  local c = A.find(state, "p" .. tostring(seat))
  return c
end

function A.current(state)
  if state.phase ~= "combat" then return nil end
  return A.find(state, state.order[state.turn])
end

function A.controller(state, c)
  if c.kind == "hero" then return c.seat end
  return c.controller or state.dm
end

-- Whether seat may act for creature c now: its controller, or the DM for any monster.
function A.may_act_for(state, seat, c)
  return A.controller(state, c) == seat or (seat == state.dm and c.kind == "monster")
end

local function has(c, cond) return c.conditions ~= nil and c.conditions[cond] == true end

local function present(c) return not c.dead and not c.fled and not c.pending end

function A.enemies(state, c)
  local out = {}
  for _, o in ipairs(state.creatures) do
    if o.kind ~= c.kind and present(o) then out[#out + 1] = o end
  end
  return out
end

-- The creature a seat acts as: in a fight, the one whose turn it is (when the seat plays it);
-- outside, the seat's hero.
function A.actor(state, seat)
  if state.phase == "combat" then
    local c = A.current(state)
    if c and A.may_act_for(state, seat, c) then return c end
    return nil
  end
  return A.hero_of(state, seat)
end

local function ac_of(c) return c.ac + (has(c, "shielded") and 2 or 0) end

local function signed(n) return (n >= 0 and "+" or "") .. n end

------------------------------------------------------------------------------------------------
-- Events, rolls and sheets

local function emit(state, ctx, event, seat)
  ctx.emit(event, seat)
  if seat then return end
  local line = T.line(event)
  if line then
    state.log[#state.log + 1] = line
    if #state.log > LOG_LINES then table.remove(state.log, 1) end
  end
end
A.emit = emit

-- Records a roll made with ctx.random: an event with its id, dice and total; the last rolls are
-- kept so that the DM may override one. extra: { target, amount } for a damage roll.
local function record(state, ctx, who, what, roll, extra)
  state.roll_seq = state.roll_seq + 1
  local id = state.roll_seq
  emit(state, ctx, { kind = "roll", id = id, who = who.name, by = who.id, what = what,
                     text = roll.text, total = roll.total, crit = roll.crit or nil })
  local kept = { id = id, what = what, total = roll.total }
  if extra then kept.target, kept.amount = extra.target, extra.amount end
  state.rolls[#state.rolls + 1] = kept
  if #state.rolls > KEPT_ROLLS then table.remove(state.rolls, 1) end
  return id
end

local function roll(state, ctx, who, what, expr, extra)
  local r = assert(dice.roll(expr, ctx.random))
  record(state, ctx, who, what, r, extra)
  return r
end

-- A change to a hero's sheet, saved at the end of the action (after the fight in a fight).
local function mark(h, note)
  if h.kind ~= "hero" then return end
  h.dirty = ((h.dirty and (h.dirty .. "; ")) or "") .. note
end

function A.flush(state, ctx)
  for _, c in ipairs(state.creatures) do
    if c.kind == "hero" and c.dirty then
      ctx.save_doc(c.seat, S.sheet(c), c.dirty:sub(1, 200))
      c.dirty = nil
    end
  end
end

-- A DM's edit of a hero: saved at once with the DM as its author, and told to everyone.
local function gm_save(state, ctx, h, field, value, note)
  if h.kind == "hero" then
    ctx.save_doc(h.seat, S.sheet(h), ("DM: " .. note .. (h.dirty and ("; " .. h.dirty) or "")):sub(1, 200), state.dm)
    h.dirty = nil
  end
  emit(state, ctx, { kind = "gm_edit", target = h.name, target_id = h.id, field = field,
                     value = value, note = note, by = "gm" })
end

-- The heroes' sheets, read from the players' documents at the first action of the game (ctx.doc
-- is nil in setup). A player without a sheet gets a new character of a class by seat.
function A.load_sheets(state, ctx)
  if state.loaded then return end
  state.loaded = true
  for i, c in ipairs(state.creatures) do
    if c.pending then
      local doc = ctx.doc(c.seat)
      if S.valid(doc) then
        state.creatures[i] = S.hero(c.seat, doc)
      else
        local class = D.CLASS_NAMES[(c.seat - 2) % #D.CLASS_NAMES + 1]
        local h = S.hero(c.seat, S.new(class))
        h.dirty = "new " .. class
        state.creatures[i] = h
        emit(state, ctx, { kind = "new_character", who = h.name, class = class, seat = c.seat })
      end
    end
  end
end

------------------------------------------------------------------------------------------------
-- Damage and healing

local function hurt(state, ctx, target, amount, crit)
  local result = R.damage(target, amount, crit)
  if target.kind == "monster" and result == "hurt" and has(target, "unconscious") then
    target.conditions.unconscious = nil -- magical sleep ends on damage
  end
  mark(target, "hp " .. target.hp)
  return result
end

local function heal(target, amount)
  R.heal(target, amount)
  if target.kind == "hero" then target.stable = nil end
  mark(target, "hp " .. target.hp)
end

------------------------------------------------------------------------------------------------
-- Combat: initiative, turns, the end of a fight

local function living_monsters(state)
  for _, c in ipairs(state.creatures) do
    if c.kind == "monster" and present(c) then return true end
  end
  return false
end

local function heroes_up(state)
  for _, c in ipairs(state.creatures) do
    if c.kind == "hero" and present(c) and c.hp > 0 then return true end
  end
  return false
end

local function award_xp(state, ctx, xp)
  local heroes = {}
  for _, c in ipairs(state.creatures) do
    if c.kind == "hero" and not c.dead and not c.pending then heroes[#heroes + 1] = c end
  end
  local each = #heroes > 0 and floor(xp / #heroes) or 0
  for _, h in ipairs(heroes) do
    if each > 0 then
      h.xp, h.session_xp = h.xp + each, (h.session_xp or 0) + each
      emit(state, ctx, { kind = "xp", who = h.name, xp = each, total = h.xp })
      mark(h, "+" .. each .. " XP")
      for _, level in ipairs(S.level_up(h)) do
        emit(state, ctx, { kind = "level_up", who = h.name, level = level, hp_max = h.hp_max })
        mark(h, "level " .. level)
      end
    end
  end
  return each
end

local function end_combat(state, ctx, result)
  local xp, kept = 0, {}
  for _, c in ipairs(state.creatures) do
    if c.kind == "monster" and c.dead then xp = xp + c.xp end
    if c.kind == "hero" or present(c) then kept[#kept + 1] = c end
    c.marked = nil
    if c.conditions then c.conditions.shielded, c.conditions.dodging = nil, nil end
    if c.kind == "hero" and c.hp <= 0 and not c.dead then c.stable, c.death = true, nil end
  end
  state.creatures, state.order, state.turn, state.phase, state.initiative = kept, {}, 0, "explore", nil
  local each = award_xp(state, ctx, xp)
  emit(state, ctx, { kind = "combat_end", result = result, xp = each })
  local alive = false
  for _, c in ipairs(state.creatures) do
    if c.kind == "hero" and not c.dead then alive = true end
    if c.kind == "hero" then mark(c, "after the fight (" .. result .. ")") end
  end
  if not alive then state.over, state.result = true, { winner = state.dm } end
end

-- Ends the fight when one side is gone. Returns true when it did.
local function check_end(state, ctx)
  if state.phase ~= "combat" then return true end
  if not living_monsters(state) then end_combat(state, ctx, "victory") return true end
  if not heroes_up(state) then end_combat(state, ctx, "defeat") return true end
  return false
end
A.check_end = check_end

-- What happens as a creature's turn comes: a dying hero's death save; true when it may act.
local function start_turn(state, ctx, c)
  if c.dead or c.fled then return false end
  if c.kind == "hero" and c.hp <= 0 then
    if c.stable then return false end
    local r, outcome = R.death_save(c, ctx.random)
    record(state, ctx, c, "death save", r)
    emit(state, ctx, { kind = "death_save", who = c.name, total = r.total, result = outcome,
                       successes = c.death and c.death.successes or 0, failures = c.death and c.death.failures or 0 })
    mark(c, "death save " .. outcome)
    return outcome == "revived"
  end
  if has(c, "unconscious") then return false end
  c.conditions.dodging = nil
  if has(c, "prone") then
    c.conditions.prone = nil
    emit(state, ctx, { kind = "stand", who = c.name })
  end
  return true
end

-- Passes the turn to the next creature that can act (skipping the dead, the fled, the sleeping
-- and the dying, who make their death saves), or ends the fight.
function A.next_turn(state, ctx)
  for _ = 1, 3 * #state.order + 3 do
    if check_end(state, ctx) then return end
    state.turn = state.turn + 1
    if state.turn > #state.order then state.turn, state.round = 1, state.round + 1 end
    local c = A.current(state)
    if c and start_turn(state, ctx, c) then
      if check_end(state, ctx) then return end
      emit(state, ctx, { kind = "turn", who = c.name, id = c.id, round = state.round })
      return
    end
  end
  end_combat(state, ctx, "nobody can act")
end

local function join_initiative(state, ctx, c)
  local r = R.initiative({ { id = c.id, creature = c } }, ctx.random)[1]
  record(state, ctx, c, "initiative", r.roll)
  state.initiative[c.id] = r.total
  state.order[#state.order + 1] = c.id
  emit(state, ctx, { kind = "joins", who = c.name, total = r.total })
end

local function start_combat(state, ctx)
  local list = {}
  for _, c in ipairs(state.creatures) do
    if present(c) then list[#list + 1] = { id = c.id, creature = c } end
  end
  local order = R.initiative(list, ctx.random)
  state.order, state.initiative, state.phase, state.round, state.turn = {}, {}, "combat", 1, 0
  local names = {}
  for _, e in ipairs(order) do
    local c = A.find(state, e.id)
    record(state, ctx, c, "initiative", e.roll)
    state.order[#state.order + 1], state.initiative[e.id] = e.id, e.total
    names[#names + 1] = c.name .. " " .. e.total
  end
  emit(state, ctx, { kind = "combat_start", names = names, order = state.order })
  A.next_turn(state, ctx)
end

------------------------------------------------------------------------------------------------
-- Attacks and spells

local function weapon_of(c, name)
  for _, w in ipairs(c.weapons) do
    if name == nil or w.name == name then return w end
  end
  return nil
end

-- Advantage and disadvantage an attack of actor on target gets beyond rules.attack_mode.
local function attack_opts(actor, target)
  local opts = { adv = actor.next_adv or target.marked or nil,
                 dis = has(actor, "frightened") or has(target, "dodging") or nil }
  actor.next_adv, target.marked = nil, nil
  return opts
end

local function knock_prone(state, ctx, target, dc)
  local save = R.save(target, "str", dc, {}, ctx.random)
  if save.roll then record(state, ctx, target, "Str save (DC " .. dc .. ")", save.roll) end
  if not save.success then
    target.conditions.prone = true
    emit(state, ctx, { kind = "condition", target = target.name, condition = "prone", on = true })
  end
end

local function weapon_attack(state, ctx, actor, target, weapon)
  local tv = { ac = ac_of(target), conditions = target.conditions }
  local out = R.attack(actor, weapon, tv, attack_opts(actor, target), ctx.random)
  record(state, ctx, actor, weapon.name .. " attack on " .. target.name, out.attack)
  local event = { kind = "attack", who = actor.name, by = actor.id, target = target.name,
                  target_id = target.id, with = weapon.name, hit = out.hit, crit = out.crit or nil }
  if out.hit then
    record(state, ctx, actor, weapon.name .. " damage to " .. target.name, out.damage,
           { target = target.id, amount = out.amount })
    event.damage, event.result = out.amount, hurt(state, ctx, target, out.amount, out.crit)
  end
  emit(state, ctx, event)
  if out.hit and weapon.prone_dc and event.result == "hurt" then knock_prone(state, ctx, target, weapon.prone_dc) end
end

local function spell_numbers(c)
  local mod = R.modifier(c.abilities[c.spell_ability or "int"])
  local prof = c.monster and (c.proficiency or 2) or R.proficiency(c.level)
  return prof + mod, 8 + prof + mod, mod
end

local function spell_damage(state, ctx, actor, target, spell, expr, factor)
  local r = roll(state, ctx, actor, spell .. " damage to " .. target.name, expr, nil)
  local amount = floor(max(0, r.total) * factor)
  state.rolls[#state.rolls].target, state.rolls[#state.rolls].amount = target.id, amount
  local result = hurt(state, ctx, target, amount, false)
  emit(state, ctx, { kind = "effect", target = target.name, text = amount .. " damage (" .. result .. ")" })
  return result
end

local function spell_attack(state, ctx, actor, target, name, spell)
  local bonus = spell_numbers(actor)
  local opts = attack_opts(actor, target)
  local adv, dis = R.attack_mode(actor, target, { ranged = spell.ranged }, opts)
  local r = roll(state, ctx, actor, name .. " attack on " .. target.name, "d20" .. signed(bonus) .. R.mode(adv, dis))
  local natural = r.terms[1].kept[1]
  if natural == 1 or (natural ~= 20 and r.total < ac_of(target)) then
    emit(state, ctx, { kind = "effect", target = target.name, text = "the spell misses" })
    return
  end
  spell_damage(state, ctx, actor, target, name, natural == 20 and dice.critical(spell.damage) or spell.damage, 1)
  if spell.mark then target.marked = true end
end

-- The target and the next enemies in the creature list, up to n.
local function area(state, actor, target, n)
  local out = { target }
  for _, o in ipairs(A.enemies(state, actor)) do
    if #out >= n then break end
    if o ~= target and o.hp > 0 then out[#out + 1] = o end
  end
  return out
end

local function spell_save(state, ctx, actor, target, name, spell)
  local _, dc = spell_numbers(actor)
  for _, t in ipairs(area(state, actor, target, spell.area or 1)) do
    local save = R.save(t, spell.save, dc, {}, ctx.random)
    if save.roll then record(state, ctx, t, spell.save .. " save against " .. name .. " (DC " .. dc .. ")", save.roll) end
    local factor = save.success and (spell.half and 0.5 or 0) or 1
    if factor > 0 then spell_damage(state, ctx, actor, t, name, spell.damage, factor) end
    if not save.success and spell.prone and not t.dead then
      t.conditions.prone = true
      emit(state, ctx, { kind = "condition", target = t.name, condition = "prone", on = true })
    end
  end
end

local function spell_sleep(state, ctx, actor, spell)
  local pool = roll(state, ctx, actor, "sleep", spell.dice).total
  local list = {}
  for _, o in ipairs(A.enemies(state, actor)) do
    if o.hp > 0 and not has(o, "unconscious") then list[#list + 1] = o end
  end
  table.sort(list, function(a, b) if a.hp ~= b.hp then return a.hp < b.hp end return a.id < b.id end)
  for _, o in ipairs(list) do
    if o.hp > pool then break end
    pool = pool - o.hp
    o.conditions.unconscious = true
    emit(state, ctx, { kind = "condition", target = o.name, condition = "unconscious", on = true })
  end
end

local SPELL_KIND = {
  attack = spell_attack,
  save = spell_save,
  auto = function(state, ctx, actor, target, name, spell) spell_damage(state, ctx, actor, target, name, spell.damage, 1) end,
  heal = function(state, ctx, actor, target, name, spell)
    local _, _, mod = spell_numbers(actor)
    local r = roll(state, ctx, actor, name .. " on " .. target.name, spell.heal .. signed(mod))
    heal(target, max(0, r.total))
    emit(state, ctx, { kind = "effect", target = target.name, text = "healed to " .. target.hp .. " hp" })
  end,
  buff = function(state, ctx, actor, target, name, spell)
    target.conditions[spell.condition] = true
    emit(state, ctx, { kind = "condition", target = target.name, condition = spell.condition, on = true })
  end,
  sleep = function(state, ctx, actor, target, name, spell) spell_sleep(state, ctx, actor, spell) end,
}

local function cast(state, ctx, actor, action)
  local spell = D.SPELLS[action.spell]
  local slot
  if spell.level > 0 then slot = assert(R.spend_slot(actor, spell.level)) mark(actor, action.spell .. ": a level " .. slot .. " slot") end
  local target = action.target and A.find(state, action.target) or (spell.friendly and actor) or nil
  emit(state, ctx, { kind = "spell", who = actor.name, spell = action.spell, target = target and target.name,
                     says = spell.says, slot = slot })
  SPELL_KIND[spell.kind](state, ctx, actor, target, action.spell, spell)
end

------------------------------------------------------------------------------------------------
-- Validation helpers

local function str(v, n) return type(v) == "string" and #v >= 1 and #v <= n end
local function int(v, lo, hi) return type(v) == "number" and v == floor(v) and v >= lo and v <= hi end

local function need_actor(state, seat)
  local c = A.actor(state, seat)
  if not c then
    if state.phase == "combat" then return nil, "it is not your creature's turn" end
    return nil, "you have no character here (the DM uses /roll, or acts for a monster in a fight)"
  end
  return c -- a pending hero's sheet is loaded by apply, before the action
end

local function need_target(state, id, pred, what)
  if not str(id, 64) then return nil, "name a target" end
  local c = A.find(state, id)
  if not c or not present(c) then return nil, "no " .. (what or "creature") .. " " .. id:sub(1, 32) .. " here" end
  if pred and not pred(c) then return nil, (what or "creature") .. " " .. id .. " cannot be targeted" end
  return c
end

local function validate_cast(state, seat, a)
  local spell = str(a.spell, 32) and D.SPELLS[a.spell]
  if not spell then return false, "no such spell (" .. table.concat(D.SPELL_NAMES, ", ") .. ")" end
  local c, why = need_actor(state, seat)
  if not c then return false, why end
  if c.pending then return false, "your sheet is not loaded yet: send /sheet first" end
  local known = false
  for _, s in ipairs(c.spells or {}) do known = known or s == a.spell end
  if not known then return false, c.name .. " does not know " .. a.spell end
  if c.hp <= 0 then return false, c.name .. " is down" end
  if state.phase ~= "combat" and not spell.friendly then return false, "there is no fight: the DM starts one with /combat start" end
  if spell.level > 0 then
    local free = false
    for l = spell.level, #(c.slots or {}) do free = free or c.slots[l].used < c.slots[l].max end
    if not free then return false, "no spell slot of level " .. spell.level .. " or higher left" end
  end
  if spell.friendly then
    if a.target == nil then return true end
    local t, e = need_target(state, a.target, function(t) return t.kind == c.kind end, "ally")
    return t ~= nil, e
  end
  if spell.kind == "sleep" then return true end
  local t, e = need_target(state, a.target, function(t) return t.kind ~= c.kind end, "enemy")
  return t ~= nil, e
end

local function validate_attack(state, seat, a)
  if state.phase ~= "combat" then return false, "there is no fight: the DM starts one with /combat start" end
  local c, why = need_actor(state, seat)
  if not c then return false, why end
  if a.weapon ~= nil and not (str(a.weapon, 32) and weapon_of(c, a.weapon)) then
    return false, c.name .. " has no weapon " .. tostring(a.weapon):sub(1, 32)
  end
  local t, e = need_target(state, a.target, function(t) return t.kind ~= c.kind end, "enemy")
  return t ~= nil, e
end

local function in_combat_actor(state, seat)
  if state.phase ~= "combat" then return false, "only in a fight" end
  local c, why = need_actor(state, seat)
  return c ~= nil, why
end

local SET_FIELDS = {
  name = function(v) return str(v, 32) end, level = function(v) return int(v, 1, D.MAX_LEVEL) end,
  xp = function(v) return int(v, 0, 1000000) end, hp = function(v) return int(v, 0, 1000) end,
  hp_max = function(v) return int(v, 1, 1000) end, ac = function(v) return int(v, 1, 40) end,
  item = function(v) return str(v, 40) end, drop = function(v) return str(v, 40) end,
}
for _, ab in ipairs(R.ABILITIES) do SET_FIELDS[ab] = function(v) return int(v, 1, 30) end end

local function set_field(h, field, value)
  if field == "item" then
    if #h.items < 40 then h.items[#h.items + 1] = value end
  elseif field == "drop" then
    for i, it in ipairs(h.items) do if it == value then table.remove(h.items, i) break end end
  elseif h.abilities[field] then
    h.abilities[field] = value
  else
    h[field] = value
    if field == "hp_max" or field == "hp" then h.hp = min(h.hp, h.hp_max) end
    if field == "hp" and value > 0 then heal(h, 0) end
    if field == "xp" then S.level_up(h) end
  end
end

local function remove_creature(state, ctx, c, index)
  table.remove(state.creatures, index)
  if state.phase ~= "combat" then return end
  for i, id in ipairs(state.order) do
    if id == c.id then
      table.remove(state.order, i)
      if i < state.turn then
        state.turn = state.turn - 1
      elseif i == state.turn then
        state.turn = state.turn - 1
        A.next_turn(state, ctx)
      end
      break
    end
  end
  check_end(state, ctx)
end

local function spawn(state, ctx, kind)
  local m = D.MONSTERS[kind]
  state.counters[kind] = (state.counters[kind] or 0) + 1
  local n = state.counters[kind]
  local controller = state.dm
  if #state.controllers > 0 then
    controller = state.controllers[(state.next_ctl - 1) % #state.controllers + 1]
    state.next_ctl = state.next_ctl + 1
  end
  local c = { id = kind:gsub(" ", "-") .. "-" .. n, name = kind .. " " .. n, kind = "monster", type = kind,
              monster = true, hp = m.hp, hp_max = m.hp, ac = m.ac, xp = m.xp, tactic = m.tactic,
              abilities = S.copy(m.abilities), weapons = S.copy(m.attacks), proficient = {},
              proficiency = 2, conditions = {}, controller = controller }
  state.creatures[#state.creatures + 1] = c
  return c
end

local function finish(state, ctx)
  if state.phase == "combat" then A.next_turn(state, ctx) end
end

------------------------------------------------------------------------------------------------
-- The actions

local OPS = {}
A.OPS = OPS

OPS.roll = {
  validate = function(state, seat, a)
    if not str(a.expr, 64) then return false, "roll what? (like 2d6+1d4+3)" end
    local ok, err = dice.parse(a.expr)
    return ok ~= nil, err
  end,
  apply = function(state, seat, a, ctx)
    local who = A.actor(state, seat) or A.hero_of(state, seat) or { name = seat == state.dm and "The DM" or ("seat " .. seat), id = "seat" .. seat }
    roll(state, ctx, who, a.expr, a.expr)
  end,
}

local function d20_mode(a)
  return a.mode == "adv", a.mode == "dis"
end

-- The rest of a check's or a save's validation: its mode, and a creature to roll for.
local function d20_request(state, seat, a)
  if a.mode ~= nil and a.mode ~= "adv" and a.mode ~= "dis" then return false, "mode is adv or dis" end
  local c, why = need_actor(state, seat)
  return c ~= nil, why
end

OPS.check = {
  validate = function(state, seat, a)
    if not (str(a.what, 32) and (R.SKILLS[a.what] or D.CLASSES.fighter.abilities[a.what])) then
      return false, "check a skill or ability (str, dex, ..., stealth, perception, ...)"
    end
    return d20_request(state, seat, a)
  end,
  apply = function(state, seat, a, ctx)
    local c = A.actor(state, seat)
    local adv, dis = d20_mode(a)
    local r = R.check(c, a.what, { adv = adv or c.next_adv, dis = dis }, ctx.random)
    c.next_adv = nil
    record(state, ctx, c, a.what .. " check", r.roll)
  end,
}

OPS.save = {
  validate = function(state, seat, a)
    if not (str(a.ability, 3) and D.CLASSES.fighter.abilities[a.ability]) then
      return false, "save with an ability: str, dex, con, int, wis or cha"
    end
    return d20_request(state, seat, a)
  end,
  apply = function(state, seat, a, ctx)
    local c = A.actor(state, seat)
    local adv, dis = d20_mode(a)
    local r = R.save(c, a.ability, nil, { adv = adv or c.next_adv, dis = dis }, ctx.random)
    c.next_adv = nil
    if r.roll then
      record(state, ctx, c, a.ability .. " save", r.roll)
    else
      emit(state, ctx, { kind = "check", who = c.name, what = a.ability .. " save (automatic failure)", total = 0 })
    end
  end,
}

OPS.attack = {
  validate = validate_attack,
  apply = function(state, seat, a, ctx)
    local c = A.actor(state, seat)
    weapon_attack(state, ctx, c, A.find(state, a.target), weapon_of(c, a.weapon))
    finish(state, ctx)
  end,
}

OPS.cast = {
  validate = validate_cast,
  apply = function(state, seat, a, ctx)
    cast(state, ctx, A.actor(state, seat), a)
    finish(state, ctx)
  end,
}

OPS["end"] = {
  validate = in_combat_actor,
  apply = function(state, seat, a, ctx)
    emit(state, ctx, { kind = "end_turn", who = A.actor(state, seat).name })
    A.next_turn(state, ctx)
  end,
}

OPS.dodge = {
  validate = in_combat_actor,
  apply = function(state, seat, a, ctx)
    local c = A.actor(state, seat)
    c.conditions.dodging = true
    emit(state, ctx, { kind = "dodge", who = c.name })
    A.next_turn(state, ctx)
  end,
}

OPS.flee = {
  validate = function(state, seat, a)
    local ok, why = in_combat_actor(state, seat)
    if not ok then return false, why end
    if A.actor(state, seat).kind ~= "monster" then return false, "heroes do not flee (end your turn with /end)" end
    return true
  end,
  apply = function(state, seat, a, ctx)
    local c = A.actor(state, seat)
    c.fled = true
    emit(state, ctx, { kind = "flee", who = c.name })
    A.next_turn(state, ctx)
  end,
}

OPS.wait = {
  validate = function() return true end,
  apply = function(state, seat, a, ctx)
    local c = A.hero_of(state, seat)
    emit(state, ctx, { kind = "wait", who = c and c.name or (seat == state.dm and "The DM" or ("seat " .. seat)) })
  end,
}

OPS.rest = {
  validate = function(state, seat, a)
    if a.kind ~= "short" and a.kind ~= "long" then return false, "rest short or long" end
    if state.phase == "combat" then return false, "no rest in a fight" end
    local c, why = need_actor(state, seat)
    if not c then return false, why end
    if c.dead then return false, c.name .. " is dead" end
    return true
  end,
  apply = function(state, seat, a, ctx)
    local c = A.hero_of(state, seat)
    if a.kind == "long" then
      R.long_rest(c)
      for _, name in ipairs(D.CONDITION_NAMES) do c.conditions[name] = nil end
    else
      while c.hp > 0 and c.hp < c.hp_max and c.hit_dice > 0 do
        local r = roll(state, ctx, c, "hit die", "1d" .. c.hit_die)
        c.hit_dice = c.hit_dice - 1
        R.heal(c, max(0, r.total + R.modifier(c.abilities.con)))
      end
    end
    emit(state, ctx, { kind = "rest", who = c.name, rest = a.kind, hp = c.hp, hp_max = c.hp_max })
    mark(c, a.kind .. " rest: " .. c.hp .. " hp")
  end,
}

OPS.sheet = {
  validate = function(state, seat, a)
    if not A.hero_of(state, seat) then return false, "you have no character sheet here" end
    return true
  end,
  apply = function(state, seat, a, ctx)
    emit(state, ctx, { kind = "sheet", text = S.summary(A.hero_of(state, seat)) }, seat)
  end,
}

OPS.new_character = {
  validate = function(state, seat, a)
    if not (str(a.class, 16) and D.CLASSES[a.class]) then return false, "a class: fighter, rogue, wizard or cleric" end
    if a.name ~= nil and not (str(a.name, 32) and not a.name:find("[%c]")) then return false, "a name of 1 to 32 characters" end
    if state.phase == "combat" then return false, "not in a fight" end
    if not A.hero_of(state, seat) then return false, "you have no hero seat" end
    return true
  end,
  apply = function(state, seat, a, ctx)
    local _, i = A.find(state, "p" .. seat)
    local h = S.hero(seat, S.new(a.class, a.name))
    state.creatures[i] = h
    ctx.save_doc(seat, S.sheet(h), "new " .. a.class .. " " .. h.name, seat)
    emit(state, ctx, { kind = "new_character", who = h.name, class = a.class, seat = seat })
  end,
}

-- The DM's actions.

OPS.spawn = {
  dm = true,
  validate = function(state, seat, a)
    if not (str(a.monster, 32) and D.MONSTERS[a.monster]) then
      return false, "no such monster (" .. table.concat(D.MONSTER_NAMES, ", ") .. ")"
    end
    if a.n ~= nil and not int(a.n, 1, 8) then return false, "n is 1 to 8" end
    if #state.creatures + (a.n or 1) > MAX_CREATURES then return false, "at most " .. MAX_CREATURES .. " creatures" end
    return true
  end,
  apply = function(state, seat, a, ctx)
    local names = {}
    for _ = 1, a.n or 1 do
      local c = spawn(state, ctx, a.monster)
      names[#names + 1] = c.name .. " (" .. c.id .. ", seat " .. c.controller .. ")"
      if state.phase == "combat" then join_initiative(state, ctx, c) end
    end
    emit(state, ctx, { kind = "spawn", names = names })
  end,
}

OPS.remove = {
  dm = true,
  validate = function(state, seat, a)
    local c = str(a.target, 64) and A.find(state, a.target)
    if not c or c.kind ~= "monster" then return false, "no monster " .. tostring(a.target):sub(1, 32) end
    return true
  end,
  apply = function(state, seat, a, ctx)
    local c, i = A.find(state, a.target)
    emit(state, ctx, { kind = "remove", who = c.name })
    remove_creature(state, ctx, c, i)
  end,
}

OPS.hp = {
  dm = true,
  validate = function(state, seat, a)
    if not int(a.delta, -1000, 1000) or a.delta == 0 then return false, "a change of hp: +n or -n" end
    local c, e = need_target(state, a.target)
    return c ~= nil, e
  end,
  apply = function(state, seat, a, ctx)
    local c = A.find(state, a.target)
    if a.delta < 0 then hurt(state, ctx, c, -a.delta, false) else heal(c, a.delta) end
    gm_save(state, ctx, c, "hp", c.hp, "hp " .. signed(a.delta))
    if state.phase == "combat" and not check_end(state, ctx) then
      local cur = A.current(state)
      if cur and (cur.dead or cur.hp <= 0) then A.next_turn(state, ctx) end
    end
  end,
}

OPS.set = {
  dm = true,
  validate = function(state, seat, a)
    local c = str(a.target, 64) and A.find(state, a.target)
    if not c or c.kind ~= "hero" or c.pending then return false, "no hero " .. tostring(a.target):sub(1, 32) end
    local f = str(a.field, 16) and SET_FIELDS[a.field]
    if not f then return false, "fields: name, level, xp, hp, hp_max, ac, str..cha, item, drop" end
    if not f(a.value) then return false, "a bad value for " .. a.field end
    return true
  end,
  apply = function(state, seat, a, ctx)
    local c = A.find(state, a.target)
    set_field(c, a.field, a.value)
    gm_save(state, ctx, c, a.field, a.value, a.field .. " " .. tostring(a.value))
  end,
}

OPS.adv = {
  dm = true,
  validate = function(state, seat, a)
    local c, e = need_target(state, a.target)
    return c ~= nil, e
  end,
  apply = function(state, seat, a, ctx)
    local c = A.find(state, a.target)
    c.next_adv = true
    emit(state, ctx, { kind = "advantage", target = c.name, target_id = c.id })
  end,
}

local function kept_roll(state, id)
  for _, r in ipairs(state.rolls) do
    if r.id == id then return r end
  end
  return nil
end

OPS.override = {
  dm = true,
  validate = function(state, seat, a)
    if not (int(a.roll, 1, 1e9) and kept_roll(state, a.roll)) then return false, "no recent roll " .. tostring(a.roll) end
    if not int(a.total, -1000, 1000) then return false, "a total from -1000 to 1000" end
    return true
  end,
  apply = function(state, seat, a, ctx)
    local r = kept_roll(state, a.roll)
    emit(state, ctx, { kind = "override", roll = r.id, what = r.what, was = r.total, total = a.total, by = "gm" })
    local target = r.target and A.find(state, r.target)
    if target and r.amount then
      local amount = max(0, a.total)
      if amount > r.amount then hurt(state, ctx, target, amount - r.amount, false) else heal(target, r.amount - amount) end
      r.amount = amount
      gm_save(state, ctx, target, "hp", target.hp, "roll " .. r.id .. " overridden to " .. a.total)
      if state.phase == "combat" then check_end(state, ctx) end
    end
    r.total = a.total
  end,
}

OPS.combat = {
  dm = true,
  validate = function(state, seat, a)
    if a.on == true then
      if state.phase == "combat" then return false, "the fight is on already" end
      if not living_monsters(state) then return false, "no monsters: /spawn some first" end
      if state.loaded and not heroes_up(state) then return false, "no hero can fight" end
      return true
    end
    if a.on == false then
      if state.phase ~= "combat" then return false, "there is no fight" end
      return true
    end
    return false, "combat on (true) or off (false)"
  end,
  apply = function(state, seat, a, ctx)
    if a.on then start_combat(state, ctx) else end_combat(state, ctx, "ended by the DM") end
  end,
}

OPS.give = {
  dm = true,
  validate = function(state, seat, a)
    local c = str(a.target, 64) and A.find(state, a.target)
    if not c or c.kind ~= "monster" then return false, "no monster " .. tostring(a.target):sub(1, 32) end
    if a.seat == state.dm then return true end
    for _, s in ipairs(state.controllers) do
      if a.seat == s then return true end
    end
    return false, "a monster goes to the DM (seat " .. state.dm .. ") or a monster seat (" .. table.concat(state.controllers, ", ") .. ")"
  end,
  apply = function(state, seat, a, ctx)
    local c = A.find(state, a.target)
    c.controller = a.seat
    emit(state, ctx, { kind = "give", who = c.name, seat = a.seat })
  end,
}

OPS.cond = {
  dm = true,
  validate = function(state, seat, a)
    if not (str(a.condition, 16) and D.CONDITIONS[a.condition]) then
      return false, "conditions: " .. table.concat(D.CONDITION_NAMES, ", ")
    end
    if type(a.on) ~= "boolean" then return false, "on is true or false" end
    local c, e = need_target(state, a.target)
    return c ~= nil, e
  end,
  apply = function(state, seat, a, ctx)
    local c = A.find(state, a.target)
    c.conditions[a.condition] = a.on or nil
    emit(state, ctx, { kind = "condition", target = c.name, condition = a.condition, on = a.on })
  end,
}

OPS.endsession = {
  dm = true,
  validate = function() return true end,
  apply = function(state, seat, a, ctx)
    if state.phase == "combat" then end_combat(state, ctx, "the session ends") end
    local scores = {}
    for s = 1, state.seats do
      local h = A.hero_of(state, s)
      scores[s] = h and h.session_xp or 0
      if h and h.kind == "hero" and not h.pending then mark(h, "end of session") end
    end
    emit(state, ctx, { kind = "session_end" })
    state.over = true
    state.result = state.result or { draw = true, scores = scores, reason = "draw" }
  end,
}

------------------------------------------------------------------------------------------------
-- Views

local function cond_list(c)
  local out = {}
  for _, name in ipairs(D.CONDITION_NAMES) do
    if has(c, name) then out[#out + 1] = name end
  end
  return out
end

local function health(c)
  if c.dead then return "dead" end
  if c.fled then return "fled" end
  if c.hp >= c.hp_max then return "unhurt" end
  if c.hp * 2 > c.hp_max then return "hurt" end
  if c.hp > 0 then return "bloodied" end
  return "down"
end

local function party_entry(c)
  if c.pending then return { id = c.id, seat = c.seat, name = c.name, pending = true } end
  return { id = c.id, seat = c.seat, name = c.name, class = c.class, level = c.level, hp = c.hp,
           hp_max = c.hp_max, conditions = cond_list(c), dead = c.dead, stable = c.stable,
           dying = (c.hp <= 0 and not c.dead and not c.stable) or nil }
end

local function monster_entry(state, c, seat)
  local e = { id = c.id, name = c.name, type = c.type, health = health(c), conditions = cond_list(c),
              controller = c.controller }
  if c.controller == seat and seat ~= nil then
    e.hp, e.hp_max, e.ac, e.tactic = c.hp, c.hp_max, c.ac, c.tactic
    e.attacks = {}
    for _, w in ipairs(c.weapons) do e.attacks[#e.attacks + 1] = w.name .. " " .. w.damage end
  end
  return e
end

function A.view(state, seat)
  local v = { phase = state.phase, round = state.round, dm = state.dm, you = seat, log = state.log,
              heroes = state.heroes, controllers = state.controllers, over = state.over, party = {},
              monsters = {}, order = {} }
  for _, c in ipairs(state.creatures) do
    if c.kind == "hero" then v.party[#v.party + 1] = party_entry(c) else v.monsters[#v.monsters + 1] = monster_entry(state, c, seat) end
  end
  for i, id in ipairs(state.order) do
    local c = A.find(state, id)
    if c then v.order[#v.order + 1] = { id = id, name = c.name, init = state.initiative[id], current = (i == state.turn) or nil } end
  end
  local cur = A.current(state)
  if cur then v.turn = cur.id end
  local me = seat and A.hero_of(state, seat)
  if me and not me.pending then
    v.me = S.sheet(me)
    v.me.id, v.me.conditions = me.id, cond_list(me)
  end
  if cur and seat and A.controller(state, cur) == seat then
    v.actor = { id = cur.id, name = cur.name, kind = cur.kind, hp = cur.hp, hp_max = cur.hp_max, tactic = cur.tactic }
  end
  return v
end

return A
