-- The Pack Hunter: plays dungeon monsters that hunt in packs. It goes for the weakest hero it
-- can see (the lowest hp still standing), and flees when it is below a third of its own hp
-- (it dodges when it may not flee).
local find = require("mt.tables").find

return {
  name = "dungeon_pack",
  title = "The Pack Hunter",
  personality = "Circles the weakest. Slips away when bloodied.",
  games = { "dungeon" },
  choose = function(view, legal, ctx)
    local me = view.actor or { name = "The monster", hp = 1, hp_max = 1 }
    if me.hp and me.hp_max and me.hp * 3 < me.hp_max then
      local out = find(legal, function(l) return l.op == "flee" end) or find(legal, function(l) return l.op == "dodge" end)
      if out then
        return out, me.name .. " is down to " .. me.hp .. " of " .. me.hp_max .. " hp and " ..
          (out.op == "flee" and "slips away." or "keeps its distance.")
      end
    end
    local best, best_hero
    for _, hero in ipairs(view.party or {}) do
      local a = (hero.hp or 0) > 0 and find(legal, function(l) return l.op == "attack" and l.target == hero.id end)
      if a and (not best_hero or hero.hp < best_hero.hp) then best, best_hero = a, hero end
    end
    if best then
      return best, me.name .. " goes for " .. best_hero.name .. ", the weakest (" .. best_hero.hp .. " hp)."
    end
    return find(legal, function(l) return l.op == "end" end) or legal[1], me.name .. " finds no prey and waits."
  end,
}
