-- The Brute: plays dungeon monsters that charge. It attacks the first hero still standing in
-- the party's marching order (the nearest, at the door), never flees and never dodges.
local find = require("mt.tables").find

return {
  name = "dungeon_brute",
  title = "The Brute",
  personality = "Swings at whoever stands in front. Never runs.",
  games = { "dungeon" },
  choose = function(view, legal, ctx)
    local me = view.actor and view.actor.name or "The monster"
    for _, hero in ipairs(view.party or {}) do
      local a = (hero.hp or 0) > 0 and find(legal, function(l) return l.op == "attack" and l.target == hero.id end)
      if a then return a, me .. " charges " .. hero.name .. ", the first one in its way. It never runs." end
    end
    local any = find(legal, function(l) return l.op == "attack" end)
    if any then return any, me .. " swings at the nearest foe." end
    return find(legal, function(l) return l.op == "end" end) or legal[1], me .. " sees nobody to hit and waits."
  end,
}
