-- command.lua: the dungeon's text commands (game.command). A line becomes an action (checked
-- and applied like any action) or an answer for the sender alone. A command sees a copy of the
-- state and has no dice: /sheet and /init answer from the state; everything that rolls is an
-- action.

local D = require("data")
local S = require("sheets")
local A = require("act")

local C = {}

local HELP = {
  "/roll 2d6+1d4+3 (any dice: NdM, kh/kl, adv/dis)",
  "/check <skill|ability> [adv|dis]", "/save <ability> [adv|dis]",
  "/attack <target> [with <weapon>]", "/cast <spell> [at <target>]",
  "/rest short|long", "/sheet (yours) | /sheet new <class> [name]", "/init (the order)",
  "/end (end your turn)", "/dodge", "/flee (monsters)",
}
local DM_HELP = {
  "/spawn <monster> [n]", "/remove <id>", "/hp <target> <+n|-n>", "/adv <target>",
  "/override <rollId> <total>", "/combat start|end", "/give <monster> <seat>",
  "/cond <target> <condition> [off]", "/sheet set <hero> <field> <value>", "/endsession",
}

local function words(text)
  local out = {}
  for w in text:gmatch("%S+") do out[#out + 1] = w end
  return out
end

-- A creature by id, by name (any case), or by a unique prefix of either.
local function resolve(state, text)
  if not text or text == "" then return nil end
  local want = text:lower()
  local found
  for _, c in ipairs(state.creatures) do
    if c.id == text or c.name:lower() == want then return c.id end
  end
  for _, c in ipairs(state.creatures) do
    if c.id:sub(1, #want) == want or c.name:lower():sub(1, #want) == want then
      if found then return nil end
      found = c.id
    end
  end
  return found
end

local function targets_line(state)
  local out = {}
  for _, c in ipairs(state.creatures) do
    if not c.dead and not c.fled then out[#out + 1] = c.id .. " (" .. c.name .. ")" end
  end
  return "targets: " .. table.concat(out, ", ")
end

local function init_line(state)
  if state.phase ~= "combat" then return "No fight now (the DM starts one with /combat start)." end
  local out = {}
  for i, id in ipairs(state.order) do
    local c = A.find(state, id)
    if c then out[#out + 1] = (i == state.turn and "> " or "") .. c.name .. " " .. (state.initiative[id] or "?") end
  end
  return "Round " .. state.round .. ": " .. table.concat(out, ", ")
end

local function with_target(state, text, make)
  local id = resolve(state, text)
  if not id then return nil, "Who is " .. (text ~= "" and text or "that") .. "? " .. targets_line(state) end
  return make(id)
end

-- Splits "a <sep> b" at the first " sep " (plain search: the sandbox bounds patterns' cost).
local function split(rest, sep)
  local i, j = rest:find(" " .. sep .. " ", 1, true)
  if not i then return nil end
  return rest:sub(1, i - 1), rest:sub(j + 1)
end

local function join(w, from, to)
  return table.concat(w, " ", from, to or #w)
end

local function attack(state, rest)
  local who, weapon = split(rest, "with")
  who = who or rest
  if who == "" then return nil, "Usage: /attack <target> [with <weapon>]; " .. targets_line(state) end
  return with_target(state, who, function(id) return { op = "attack", target = id, weapon = weapon } end)
end

local function cast(state, rest)
  local spell, target = split(rest, "at")
  if not spell then spell, target = split(rest, "on") end
  spell = (spell or rest):lower()
  if not D.SPELLS[spell] then return nil, "Spells: " .. table.concat(D.SPELL_NAMES, ", ") end
  if not target then return { op = "cast", spell = spell } end
  return with_target(state, target, function(id) return { op = "cast", spell = spell, target = id } end)
end

local function sheet(state, seat, w, rest)
  if w[2] == "new" then
    if not D.CLASSES[w[3] or ""] then return nil, "Usage: /sheet new fighter|rogue|wizard|cleric [name]" end
    local name = w[4] and join(w, 4) or nil
    return { op = "new_character", class = w[3], name = name }
  end
  if w[2] == "set" then
    local field, value = w[4], w[5] and join(w, 5)
    if not field or not value then return nil, "Usage: /sheet set <hero> <field> <value>" end
    return with_target(state, w[3], function(id)
      return { op = "set", target = id, field = field, value = tonumber(value) or value }
    end)
  end
  local h = A.hero_of(state, seat)
  if not h then return nil, "You have no character sheet in this game." end
  if h.pending then return { op = "sheet" } end
  return nil, S.summary(h)
end

local function spawn(w)
  local n = tonumber(w[#w])
  local kind = join(w, 2, n and #w - 1 or #w):lower()
  if not D.MONSTERS[kind] then return nil, "Monsters: " .. table.concat(D.MONSTER_NAMES, ", ") end
  return { op = "spawn", monster = kind, n = tonumber(n) }
end

local function help(is_dm)
  local text = "Commands: " .. table.concat(HELP, "; ")
  if is_dm then text = text .. ". DM: " .. table.concat(DM_HELP, "; ") end
  return text .. "."
end

local HANDLERS = {
  help = function(state, seat, w, rest, ctx) return nil, help(ctx.is_gm(seat)) end,
  roll = function(state, seat, w, rest)
    if rest == "" then return nil, "Usage: /roll 2d6+1d4+3" end
    return { op = "roll", expr = rest }
  end,
  check = function(state, seat, w) return { op = "check", what = (w[2] or ""):lower(), mode = w[3] } end,
  save = function(state, seat, w) return { op = "save", ability = (w[2] or ""):lower():sub(1, 3), mode = w[3] } end,
  attack = function(state, seat, w, rest) return attack(state, rest) end,
  cast = function(state, seat, w, rest) return cast(state, rest) end,
  rest = function(state, seat, w) return { op = "rest", kind = w[2] } end,
  sheet = sheet,
  init = function(state) return nil, init_line(state) end,
  ["end"] = function() return { op = "end" } end,
  dodge = function() return { op = "dodge" } end,
  flee = function() return { op = "flee" } end,
  wait = function() return { op = "wait" } end,
  spawn = function(state, seat, w) return spawn(w) end,
  remove = function(state, seat, w, rest)
    return with_target(state, rest, function(id) return { op = "remove", target = id } end)
  end,
  hp = function(state, seat, w)
    local delta = tonumber(w[3] or "")
    if not delta then return nil, "Usage: /hp <target> <+n|-n>" end
    return with_target(state, w[2] or "", function(id) return { op = "hp", target = id, delta = delta } end)
  end,
  adv = function(state, seat, w, rest)
    return with_target(state, rest, function(id) return { op = "adv", target = id } end)
  end,
  override = function(state, seat, w)
    local id, total = tonumber(w[2] or ""), tonumber(w[3] or "")
    if not id or not total then return nil, "Usage: /override <rollId> <total> (the roll id is in [roll N])" end
    return { op = "override", roll = id, total = total }
  end,
  combat = function(state, seat, w)
    if w[2] == "start" then return { op = "combat", on = true } end
    if w[2] == "end" then return { op = "combat", on = false } end
    return nil, "Usage: /combat start|end"
  end,
  give = function(state, seat, w)
    local to = tonumber(w[3] or "")
    if not to then return nil, "Usage: /give <monster> <seat>" end
    return with_target(state, w[2] or "", function(id) return { op = "give", target = id, seat = to } end)
  end,
  cond = function(state, seat, w)
    if not w[3] then return nil, "Usage: /cond <target> <condition> [off]" end
    return with_target(state, w[2], function(id)
      return { op = "cond", target = id, condition = w[3]:lower(), on = w[4] ~= "off" }
    end)
  end,
  endsession = function() return { op = "endsession" } end,
}

function C.command(state, seat, text, ctx)
  if #text > 300 then return nil, "That line is too long (300 bytes at most)." end
  local w = words(text)
  local verb = w[1] and w[1]:match("^/?(%a+)$")
  local rest = join(w, 2)
  local handler = verb and HANDLERS[verb:lower()]
  if not handler then
    local what = verb and ("/" .. verb:sub(1, 20)) or "that"
    return nil, "Unknown command: " .. what .. ". " .. help(ctx.is_gm(seat))
  end
  w[1] = verb
  return handler(state, seat, w, rest, ctx)
end

return C
