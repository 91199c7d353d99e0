-- Bruno the Brawler: an Arena regular. Each time a new view arrives he looks at it once and
-- follows the first rule that applies:
--   hurt (hp < 30):
--     1. shield if he was just hit and the shield is ready;
--     2. finish off an enemy in reach that one hit would kill;
--     3. run from healthier enemies within 250 units: dash away if one is almost on him, else
--        walk away (sideways along a wall rather than into it);
--     4. otherwise go after the nearest enemy no healthier than he is (two wrecks do not run
--        from each other forever: they settle it), else rest;
--   healthy:
--     1. shield if he was just hit and is below half health;
--     2. hit the nearest living enemy when within reach and the attack is ready;
--     3. dash onto it when it is 100..200 units away (the dash lands within reach);
--     4. walk toward it.
-- He re-aims a walk at most every 100 ms, and only when the point has moved, and he ignores a
-- view he has already seen (views come 20 times a second while act runs every tick), so on most
-- ticks he returns nil. He remembers a little per seat (hp last seen, when he last did what),
-- which resets when the game clock goes back (a new game). Chance comes only from ctx.random.

local floor, sqrt, cos, sin = math.floor, math.sqrt, math.cos, math.sin

local REACH = 54        -- attack only this close: the game allows 60, views may be a tick old
local FLEE_HP = 30
local THREAT = 250      -- run from enemies closer than this when hurt
local DASH_AWAY = 90    -- dash away when one is closer than this
local DASH_MIN, DASH_MAX = 100, 200
local REAIM_MS = 100    -- at most 10 walk orders a second
local HIT_MEMORY = 400  -- "just hit" means within this many ms
local AGAIN_MS = 150    -- never the same ability twice within this (a view may be stale)

local TURNS = { 0, 0.785, -0.785, 1.571, -1.571 } -- radians: straight, 45 and 90 degrees off

local memory = {}       -- [seat] = what this brawler remembers

local function recall(seat, t)
  local m = memory[seat]
  if m == nil or t < m.t then
    m = { t = -1, hp = -1, hit_at = -1e9, move_at = -1e9, mx = -1, my = -1,
          attack_at = -1e9, dash_at = -1e9, shield_at = -1e9 }
    memory[seat] = m
  end
  return m
end

local function clamp(v, lo, hi)
  if v < lo then return lo end
  if v > hi then return hi end
  return v
end

local function point(x, y, w, h)
  return floor(clamp(x, 0, w) + 0.5), floor(clamp(y, 0, h) + 0.5)
end

-- A walk order, unless it would repeat the last one too soon or to the same spot.
local function walk(m, now, x, y)
  if now - m.move_at < REAIM_MS then return nil end
  local dx, dy = x - m.mx, y - m.my
  if dx * dx + dy * dy < 16 then return nil end
  m.move_at, m.mx, m.my = now, x, y
  return { action = "move", x = x, y = y }
end

-- Where to run: away from every healthier enemy within THREAT (the closer, the stronger the
-- push). If a wall cuts that short, turn 45 then 90 degrees, trying a random side first.
local function escape(me, players, w, h, ctx)
  local ax, ay = 0, 0
  for _, q in ipairs(players) do
    if q.alive and q.seat ~= me.seat and q.hp > me.hp then
      local dx, dy = me.x - q.x, me.y - q.y
      local d = sqrt(dx * dx + dy * dy)
      if d < THREAT then
        if d < 1 then dx, dy, d = 1, 0, 1 end
        local push = (THREAT - d) / d
        ax, ay = ax + dx * push, ay + dy * push
      end
    end
  end
  local len = sqrt(ax * ax + ay * ay)
  if len < 1e-6 then ax, ay, len = w / 2 - me.x, h / 2 - me.y, 1 end
  if len < 1e-6 then ax, ay, len = 1, 0, 1 end
  ax, ay = ax / len, ay / len
  local side = ctx.random(2) == 1 and 1 or -1
  local bx, by, best = me.x, me.y, -1
  for i = 1, #TURNS do
    local a = TURNS[i] * side
    local c, s = cos(a), sin(a)
    local dx, dy = ax * c - ay * s, ax * s + ay * c
    local x, y = point(me.x + dx * 200, me.y + dy * 200, w, h)
    local gx, gy = x - me.x, y - me.y
    local gain = gx * gx + gy * gy
    if gain >= 120 * 120 then return x, y end
    if gain > best then bx, by, best = x, y, gain end
  end
  return bx, by
end

local function act(view, ctx)
  if type(view) ~= "table" or type(view.players) ~= "table" then return nil end
  local seat = view.you or ctx.seat
  local players = view.players
  local me
  for _, p in ipairs(players) do
    if p.seat == seat then me = p end
  end
  if me == nil or type(view.t) ~= "number" then return nil end

  local m = recall(seat, view.t)
  if view.t == m.t then return nil end -- nothing new since the last look
  m.t = view.t
  local now = ctx.now or view.t
  if me.hp < m.hp then m.hit_at = now end -- (m.hp is -1 until the first look)
  m.hp = me.hp
  if not me.alive or view.over or (view.left or 1) <= 0 then
    m.mx, m.my = -1, -1
    return nil
  end
  local w, h = view.w or 1000, view.h or 1000
  local cd = me.cd or {}
  local hit = now - m.hit_at < HIT_MEMORY

  -- The nearest living enemy, the nearest one no healthier than Bruno, the nearest healthier.
  local foe, fd, weak, wd, threat = nil, 1e9, nil, 1e9, 1e9
  for _, q in ipairs(players) do
    if q.alive and q.seat ~= seat then
      local dx, dy = q.x - me.x, q.y - me.y
      local d = sqrt(dx * dx + dy * dy)
      if d < fd then foe, fd = q, d end
      if q.hp <= me.hp then
        if d < wd then weak, wd = q, d end
      elseif d < threat then
        threat = d
      end
    end
  end

  local shield_ready = cd.shield == 0 and not me.shield and now - m.shield_at >= AGAIN_MS
  local attack_ready = cd.attack == 0 and now - m.attack_at >= AGAIN_MS
  local dash_ready = cd.dash == 0 and now - m.dash_at >= AGAIN_MS

  if me.hp < FLEE_HP then
    if hit and shield_ready then
      m.shield_at = now
      return { action = "ability", kind = "shield" }
    end
    if foe and fd <= REACH and attack_ready and foe.hp <= (foe.shield and 5 or 10) then
      m.attack_at = now
      return { action = "attack", target = foe.seat }
    end
    if threat < THREAT then
      local x, y = escape(me, players, w, h, ctx)
      if threat < DASH_AWAY and dash_ready then
        m.dash_at, m.move_at, m.mx, m.my = now, now, x, y
        return { action = "ability", kind = "dash", x = x, y = y }
      end
      return walk(m, now, x, y)
    end
    foe, fd = weak, wd
    if foe == nil then return nil end
  elseif hit and me.hp < 50 and shield_ready then
    m.shield_at = now
    return { action = "ability", kind = "shield" }
  end

  if foe == nil then return nil end
  if fd <= REACH and attack_ready then
    m.attack_at = now
    return { action = "attack", target = foe.seat }
  end
  local x, y = point(foe.x, foe.y, w, h)
  if fd >= DASH_MIN and fd <= DASH_MAX and dash_ready then
    m.dash_at, m.move_at, m.mx, m.my = now, now, x, y
    return { action = "ability", kind = "dash", x = x, y = y }
  end
  if fd <= 20 then return nil end -- close enough: stay on top of it
  return walk(m, now, x, y)
end

return {
  name = "brawler",
  title = "Bruno the Brawler",
  personality = "Loud, fearless and not very patient. Goes straight for whoever is closest, "
    .. "jumps the last few steps, swings the moment he can, and only backs off when he is "
    .. "nearly out of health, shield up, looking for someone weaker to pick on.",
  games = { "arena" },
  choose = nil, -- real-time only
  act = act,
}
