-- The Distributed Dungeon game (games/dungeon/game.lua) and its monster agents: setup, text
-- commands to actions, sheets loaded and saved through ctx.doc/ctx.save_doc, DM commands
-- (audited edits), initiative, a fight to its end with agents/dungeon_brute.lua and
-- agents/dungeon_pack.lua playing the monster seats, death saves, rests, the game's self-test.
local script_dir = (arg and arg[0] or ""):match("^(.*)[/\\][^/\\]*$") or "."
package.path = script_dir .. "/?.lua;" .. package.path
local H = require("harness")

local game = H.load("games/dungeon/game.lua")
local brute = H.load("agents/dungeon_brute.lua")
local pack = H.load("agents/dungeon_pack.lua")
H.self_test(game, "self-test")

local gm = function(s) return s == 1 end
local function cmd(state, seat, text)
  return game.command(H.deep_copy(state), seat, text, { seat = seat, seats = state.seats, is_gm = gm })
end

-- Applies action for seat after validate, as the referee does; returns false and why if refused.
local function act(state, seat, action, ctx)
  local ok, why = game.validate(state, seat, action)
  if not ok then return false, why end
  game.apply(state, seat, action, ctx)
  return true
end

local function kinds(ctx, kind)
  local out = {}
  for _, e in ipairs(ctx.events) do
    if e.event.kind == kind then out[#out + 1] = e.event end
  end
  return out
end

-- A saved sheet from an earlier session for seat 2; seat 3 has none.
local saved = { name = "Kara", class = "rogue", level = 2, xp = 350, hp = 10, hp_max = 14, ac = 14,
  abilities = { str = 10, dex = 16, con = 12, int = 12, wis = 12, cha = 14 }, proficient = { stealth = true },
  weapons = { { name = "rapier", damage = "1d8", ability = "finesse", proficient = true } },
  spells = {}, items = { "rope" }, hit_die = 8, hit_dice = 2 }
local ctx = H.ctx({ seed = 7, seats = 5, docs = { [1] = false, [2] = saved, [3] = false } })
local s = game.setup(ctx, { seats = 5 })
H.is_deep(game.to_move(s), { 2, 3, 1 }, "exploration: both heroes and the DM may act")

-- Commands.
H.is_deep(cmd(s, 2, "/roll 2d6+1d4+3"), { op = "roll", expr = "2d6+1d4+3" }, "/roll becomes a roll action")
H.is_deep(cmd(s, 2, "/check stealth adv"), { op = "check", what = "stealth", mode = "adv" }, "/check with advantage")
local _, unknown = cmd(s, 2, "/dance wildly")
H.ok(unknown:find("Unknown command: /dance", 1, true) and unknown:find("/attack", 1, true), "an unknown command answers with the commands")
local _, dm_help = cmd(s, 1, "/help")
H.ok(dm_help:find("/spawn", 1, true), "the DM's /help lists the DM commands")
local _, p_help = cmd(s, 2, "/help")
H.ok(not p_help:find("/spawn", 1, true), "a player's does not")
H.is_deep(cmd(s, 1, "/spawn giant rat 2"), { op = "spawn", monster = "giant rat", n = 2 }, "/spawn a two-word monster with a count")

-- The first action loads the sheets: seat 2's document, a new character for seat 3.
H.ok(act(s, 2, cmd(s, 2, "/roll 2d6+1d4+3"), ctx), "a player rolls")
local rolls = kinds(ctx, "roll")
H.ok(#rolls == 1 and rolls[1].text:find("2d6", 1, true) and rolls[1].id == 1, "the roll is an event with its dice, total and id")
H.is_deep({ s.creatures[1].name, s.creatures[1].xp }, { "Kara", 350 }, "seat 2 plays the sheet from its document")
H.is_deep({ s.creatures[2].class, ctx.saves[1].seat, ctx.saves[1].note }, { "rogue", 3, "new rogue" },
  "seat 3 gets a new character, saved as its document")
local _, sheet = cmd(s, 2, "/sheet")
H.ok(sheet:find("Kara, level 2 rogue", 1, true), "/sheet answers with the sheet")
local v = game.view(s, 3)
H.ok(v.me and v.me.name == s.creatures[2].name and v.party[1].hp == 10 and v.party[1].abilities == nil,
  "a player sees its own sheet, and the party's names and hp only")

-- DM commands.
H.ok(not act(s, 2, { op = "spawn", monster = "orc" }, ctx), "a player may not spawn")
H.ok(act(s, 1, cmd(s, 1, "/spawn orc"), ctx) and act(s, 1, cmd(s, 1, "/spawn wolf 2"), ctx), "the DM spawns an orc and two wolves")
H.is_deep({ s.creatures[3].controller, s.creatures[4].controller, s.creatures[5].controller }, { 4, 5, 4 },
  "monsters are dealt to the monster seats in turn")
H.ok(act(s, 1, cmd(s, 1, "/give wolf-2 5"), ctx) and s.creatures[5].controller == 5, "/give hands a monster to another seat")
local pv = game.view(s, 2)
H.ok(pv.monsters[1].hp == nil and pv.monsters[1].health == "unhurt", "players see a monster's coarse health, not its hp")
H.ok(game.view(s, 4).monsters[1].hp == 15, "its controller sees its hp")
H.ok(game.view(s, "gm").creatures ~= nil, "the DM sees the whole state")
local n = #ctx.saves
H.ok(act(s, 1, cmd(s, 1, "/hp Kara -3"), ctx), "the DM takes 3 hp from Kara")
local edit = ctx.saves[n + 1]
H.is_deep({ edit.seat, edit.by, edit.doc.hp, edit.note:sub(1, 9) }, { 2, 1, 7, "DM: hp -3" }, "saved at once with the DM as author")
H.ok(#kinds(ctx, "gm_edit") == 1, "and told to everyone as a gm_edit event")
H.ok(act(s, 1, cmd(s, 1, "/sheet set Kara item lantern"), ctx) and ctx.saves[#ctx.saves].doc.items[2] == "lantern",
  "/sheet set adds an item, saved by the DM")

-- Rest.
H.ok(act(s, 2, cmd(s, 2, "/rest short"), ctx), "a short rest")
H.ok(s.creatures[1].hp > 7 and s.creatures[1].hit_dice < 2, "spends hit dice and heals")
H.ok(ctx.saves[#ctx.saves].note:find("short rest", 1, true) and ctx.saves[#ctx.saves].by == nil, "saved by the rules")

-- The fight: initiative, then the agents play seats 4 and 5, the heroes attack the first target.
H.ok(act(s, 1, cmd(s, 1, "/combat start"), ctx), "the DM starts the fight")
H.ok(#kinds(ctx, "combat_start") == 1 and #s.order == 5, "everyone rolled initiative")
local inits = {}
for _, id in ipairs(s.order) do inits[#inits + 1] = s.initiative[id] end
local sorted = true
for i = 2, #inits do sorted = sorted and inits[i - 1] >= inits[i] end
H.ok(sorted, "the order runs from the highest initiative down")
local agents, reasons, turns = { [4] = brute, [5] = pack }, {}, 0
while s.phase == "combat" and turns < 300 do
  turns = turns + 1
  local seat = game.to_move(s)
  local action, why
  if agents[seat] then
    local err
    action, why, _, err = H.agent_turn(game, agents[seat], s, turns, true)
    if err then H.ok(false, "agent turn: " .. err) break end
    reasons[#reasons + 1] = why
  else
    action = game.legal(s, seat)[1]
  end
  local ok, refused = act(s, seat, action, ctx)
  if not ok then H.ok(false, "refused: " .. tostring(refused)) break end
end
H.ok(s.phase == "explore", "the fight ends (" .. turns .. " turns)")
H.ok(#kinds(ctx, "combat_end") == 1, "with a combat_end event")
local brute_said, pack_said = false, false
for _, r in ipairs(reasons) do
  brute_said = brute_said or r:find("charges", 1, true) or r:find("swings", 1, true)
  pack_said = pack_said or r:find("weakest", 1, true) or r:find("slips away", 1, true) or r:find("distance", 1, true)
end
H.ok(brute_said and pack_said, "both agents gave their reasoning")
H.ok(#kinds(ctx, "attack") > 0 and #kinds(ctx, "turn") > 0, "attacks and turns were events")

-- Death saves: a dying hero's turn rolls one.
local ctx2 = H.ctx({ seed = 3, seats = 3, docs = { [1] = false, [2] = false, [3] = false } })
local s2 = game.setup(ctx2, { seats = 3 })
act(s2, 1, { op = "spawn", monster = "ogre" }, ctx2)
act(s2, 1, { op = "combat", on = true }, ctx2)
H.is_deep(s2.controllers, {}, "three seats: no monster seat, the DM plays the ogre")
local hero = s2.creatures[1]
act(s2, 1, { op = "hp", target = hero.id, delta = -(hero.hp) }, ctx2)
H.ok(hero.hp == 0 and hero.conditions.unconscious and not hero.dead, "a hero at 0 hp is dying")
for _ = 1, 10 do
  local seat = game.to_move(s2)
  if s2.phase ~= "combat" then break end
  act(s2, seat, { op = "end" }, ctx2)
end
H.ok(#kinds(ctx2, "death_save") >= 1, "a dying hero makes death saves on its turns")
H.ok(act(s2, 1, { op = "endsession" }, ctx2) and game.outcome(s2) ~= nil, "the DM ends the session: the game is over")
H.ok(game.to_move(s2) == nil, "nobody moves after the end")

-- The game master's seat handed to seat 2 (hand_gm): validate and legal follow ctx.is_gm, and
-- the next action records the new DM in the state.
do
  local hctx = H.ctx({ seed = 9, seats = 3 })
  local hs = game.setup(hctx, { seats = 3 })
  local moved = { seats = 3, is_gm = function(seat) return seat == 2 end }
  H.ok(not game.validate(hs, 2, { op = "spawn", monster = "goblin" }),
    "before the handover only seat 1 may spawn")
  H.ok(game.validate(hs, 2, { op = "spawn", monster = "goblin" }, moved),
    "after it, seat 2 may")
  H.ok(not game.validate(hs, 1, { op = "spawn", monster = "goblin" }, moved), "and seat 1 may not")
  H.ok(hs.dm == 1, "validate changes nothing")
  hctx.is_gm = moved.is_gm
  game.apply(hs, 2, { op = "spawn", monster = "goblin" }, hctx)
  H.ok(hs.dm == 2, "the next action records the DM's new seat")
end

-- Describe.
H.ok(game.describe({ kind = "roll", who = "Kara", what = "d20", text = "d20 [12] = 12", total = 12, id = 3 }, 2, {})
  :find("Kara rolls d20", 1, true), "describe tells a roll in one line")
H.done()
