-- text.lua: one line of text for each event of the dungeon (the game's log, `describe` for
-- text-only clients). A pure function of the event: it sees no state.

local T = {}

local function s(v) return tostring(v == nil and "?" or v) end

local LINES = {
  roll = function(e)
    return s(e.who) .. " rolls " .. s(e.what) .. ": " .. s(e.text) ..
      (e.crit and " (critical!)" or "") .. " [roll " .. s(e.id) .. "]"
  end,
  attack = function(e)
    if not e.hit then return s(e.who) .. " attacks " .. s(e.target) .. " with " .. s(e.with) .. " and misses." end
    return s(e.who) .. (e.crit and " critically hits " or " hits ") .. s(e.target) .. " with " ..
      s(e.with) .. " for " .. s(e.damage) .. " damage (" .. s(e.result) .. ")."
  end,
  spell = function(e)
    return s(e.who) .. " casts " .. s(e.spell) .. (e.target and (" at " .. s(e.target)) or "") ..
      ": " .. s(e.says) .. (e.slot and (" (level " .. e.slot .. " slot)") or "") .. "."
  end,
  effect = function(e) return s(e.target) .. ": " .. s(e.text) .. "." end,
  check = function(e)
    return s(e.who) .. " " .. s(e.what) .. ": " .. s(e.total) ..
      (e.dc and (e.success and " succeeds" or " fails") or "") .. "."
  end,
  death_save = function(e)
    return s(e.who) .. " makes a death save: " .. s(e.total) .. " (" .. s(e.result) .. ", " ..
      s(e.successes) .. " successes, " .. s(e.failures) .. " failures)."
  end,
  turn = function(e) return "Round " .. s(e.round) .. ": " .. s(e.who) .. "'s turn." end,
  combat_start = function(e) return "Roll for initiative! Order: " .. table.concat(e.names or {}, ", ") .. "." end,
  combat_end = function(e)
    return "The fight is over (" .. s(e.result) .. ")." .. ((e.xp or 0) > 0 and (" Each hero still standing earns " .. e.xp .. " XP.") or "")
  end,
  joins = function(e) return s(e.who) .. " joins the fight (initiative " .. s(e.total) .. ")." end,
  spawn = function(e) return "The DM brings in " .. table.concat(e.names or {}, ", ") .. "." end,
  remove = function(e) return s(e.who) .. " is removed from the scene." end,
  gm_edit = function(e)
    return "DM edit: " .. s(e.target) .. " " .. s(e.field) .. " " .. s(e.value) .. (e.note and (" (" .. e.note .. ")") or "") .. "."
  end,
  override = function(e)
    return "DM overrides roll " .. s(e.roll) .. " (" .. s(e.what) .. "): " .. s(e.was) .. " becomes " .. s(e.total) .. "."
  end,
  advantage = function(e) return "The DM grants " .. s(e.target) .. " advantage on the next roll." end,
  condition = function(e)
    return s(e.target) .. (e.on and " is now " or " is no longer ") .. s(e.condition) .. "."
  end,
  give = function(e) return s(e.who) .. " is now played by seat " .. s(e.seat) .. "." end,
  dodge = function(e) return s(e.who) .. " takes the Dodge action." end,
  flee = function(e) return s(e.who) .. " flees the fight!" end,
  end_turn = function(e) return s(e.who) .. " ends the turn." end,
  wait = function(e) return s(e.who) .. " waits." end,
  rest = function(e)
    return s(e.who) .. " takes a " .. s(e.rest) .. " rest: " .. s(e.hp) .. "/" .. s(e.hp_max) .. " hp."
  end,
  level_up = function(e) return s(e.who) .. " reaches level " .. s(e.level) .. " (" .. s(e.hp_max) .. " hp)!" end,
  xp = function(e) return s(e.who) .. " gains " .. s(e.xp) .. " XP (" .. s(e.total) .. " in all)." end,
  new_character = function(e) return s(e.who) .. " the " .. s(e.class) .. " joins the party (seat " .. s(e.seat) .. ")." end,
  sheet = function(e) return s(e.text) end,
  stand = function(e) return s(e.who) .. " stands up." end,
  session_end = function() return "The DM ends the session. Sheets are saved." end,
  refused = function(e) return s(e.text) end,
  -- Events of the server and of the text bridge.
  agent_reasoning = function(e) return "(seat " .. s(e.seat) .. " thinks) " .. s(e.text) end,
  timeout = function(e) return "Seat " .. s(e.seat) .. " ran out of time." end,
  start = function() return "The session begins. Type /help for the commands." end,
  game_over = function() return "The session is over." end,
  hidden = function() return nil end,
}

-- The line for an event, or nil when there is nothing to say.
function T.line(event)
  if type(event) ~= "table" then return nil end
  local f = LINES[event.kind]
  if not f then return nil end
  return f(event)
end

return T
