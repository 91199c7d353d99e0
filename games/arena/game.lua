-- Arena: a real-time free-for-all brawl. Every seat walks a 1000 x 1000 field, hits whoever is
-- within reach, dashes and shields; a kill scores a point and the victim comes back 3 s later
-- somewhere else. When the round clock runs out the most kills wins (a tie is a draw).
--
-- Time. tick() runs 60 times a second and advances exactly one tick. The game counts ticks
-- itself and derives t = floor(tick * 1000 / 60), the whole milliseconds of game time elapsed,
-- so it never depends on ctx.now. Every rule length (0.5 s, 2 s, 3 s, 4 s, 8 s) is a whole
-- number of ticks, so "ready at t + 500" becomes true exactly 30 ticks later. Cooldowns and
-- timers are stored as the t at which they run out, which lets validate() check them without
-- a clock of its own.
--
-- Positions (and the points actions name) are kept on a 0.01 grid. A number k / 100 prints and parses back to the very same
-- double, so a state survives a JSON round trip bit for bit and a game restored from a snapshot
-- continues exactly as the original. Walking is computed from where the current walk started
-- (ox, oy) and how many ticks it has lasted (walk), not step by step, so the rounding never
-- accumulates: after n ticks a walker is n * 200/60 units along its line, to within 0.005.
--
-- State (plain data):
--   tick     ticks simulated so far          t        ms of game time elapsed (see above)
--   round_ms length of the round (ms)        over     true once the round has ended
--   players  = { [seat] = {
--     x, y         position                  tx, ty   walk target (= x, y when standing still)
--     ox, oy, walk start of the current walk and the ticks walked since
--     hp           0..100                    alive    false while waiting to respawn
--     respawn_at   t at which a dead seat comes back (0 while alive)
--     score        kills this round
--     attack_at, dash_at, shield_at   t at which each is ready again (0: ready from the start)
--     shield_until t at which the running shield stops (damage is halved while t < it)
--   } }
--
-- Actions (validated as they arrive, and checked again when their tick applies them, since
-- the world may have moved in between):
--   { action = "move", x = 0..1000, y = 0..1000 }           walk there at 200 units/s
--   { action = "attack", target = seat }                    10 damage to a living seat within
--                                                           60 units; then 0.5 s cooldown
--   { action = "ability", kind = "dash", x = .., y = .. }   jump up to 150 units toward the
--                                                           point, then keep walking to it; 4 s
--   { action = "ability", kind = "shield" }                 halve damage taken for 2 s; 8 s
--
-- View (the same for every seat and for spectators: nothing is hidden):
--   { w = 1000, h = 1000, t = ms elapsed, left = ms remaining, you = seat (absent for
--     spectators), over = true (only once the round has ended),
--     players = { { seat, x, y, hp, alive, score, shield = bool,
--                   cd = { attack = ms, dash = ms, shield = ms }, respawn = ms (dead only) } } }
--
-- Events: { kind = "kill", by, victim }, { kind = "respawn", seat },
-- { kind = "round_over", winner = seat } or { kind = "round_over", draw = true }.

local floor, sqrt = math.floor, math.sqrt
local type = type

local W, H = 1000, 1000
local TICK_RATE = 60
local SPEED = 200                    -- units per second
local MAX_HP = 100
local ATTACK_RANGE, ATTACK_DAMAGE, ATTACK_CD = 60, 10, 500
local DASH_DISTANCE, DASH_CD = 150, 4000
local SHIELD_MS, SHIELD_CD = 2000, 8000
local RESPAWN_MS = 3000
local ROUND_MS, ROUND_MIN, ROUND_MAX = 180000, 2000, 600000
local SPAWN_MARGIN = 50
local SPAWN_TRIES = 3                -- a spawn is the candidate farthest from the living

local function round2(v) return floor(v * 100 + 0.5) / 100 end

-- A finite number within 0..limit (NaN fails both comparisons, infinities the range).
local function coordinate(v, limit)
  return type(v) == "number" and v >= 0 and v <= limit
end

-- Puts a player at (x, y), standing still.
local function place(p, x, y)
  p.x, p.y, p.tx, p.ty, p.ox, p.oy, p.walk = x, y, x, y, x, y, 0
end

-- Starts a walk from where p stands toward (x, y).
local function walk_to(p, x, y)
  p.tx, p.ty, p.ox, p.oy, p.walk = x, y, p.x, p.y, 0
end

-- A spawn point: of a few random candidates, the one farthest from every living player other
-- than `seat` (all draws come from ctx.random, so spawns replay exactly).
local function spawn_point(players, seat, ctx)
  local bx, by, best = 0, 0, -1
  for _ = 1, SPAWN_TRIES do
    local x = ctx.random(SPAWN_MARGIN, W - SPAWN_MARGIN)
    local y = ctx.random(SPAWN_MARGIN, H - SPAWN_MARGIN)
    local nearest = 4 * W * W
    for s = 1, #players do
      local q = players[s]
      if s ~= seat and q.alive then
        local dx, dy = q.x - x, q.y - y
        local d = dx * dx + dy * dy
        if d < nearest then nearest = d end
      end
    end
    if nearest > best then bx, by, best = x, y, nearest end
  end
  return bx, by
end

local function cooldown_reason(what, ready_at, t)
  return what .. " is on cooldown for another " .. (ready_at - t) .. " ms"
end

-- The one rule book for an action, used by validate (at arrival) and again by tick (when the
-- action takes effect). Returns true, or false and a reason players can read. Allocation-free
-- unless it refuses.
local function check(state, seat, action)
  if type(action) ~= "table" then
    return false, 'an action is a table like {action = "move", x = 500, y = 500}'
  end
  if state.over then return false, "the round is over" end
  local kind = action.action
  if kind ~= "move" and kind ~= "attack" and kind ~= "ability" then
    return false, 'unknown action: use "move", "attack" or "ability"'
  end
  local players = state.players
  local p = players[seat]
  if p == nil then return false, "no such seat" end
  if not p.alive then return false, "dead players cannot act" end
  local t = state.t

  if kind == "move" then
    if not (coordinate(action.x, W) and coordinate(action.y, H)) then
      return false, "x and y must be numbers from 0 to 1000"
    end
    return true
  end

  if kind == "attack" then
    local target = action.target
    if type(target) ~= "number" or target ~= floor(target) then
      return false, "target must be a seat number"
    end
    local q = players[target]
    if q == nil then return false, "there is no seat " .. target end
    if target == seat then return false, "you cannot attack yourself" end
    if not q.alive then return false, "seat " .. target .. " is dead" end
    if t < p.attack_at then return false, cooldown_reason("attack", p.attack_at, t) end
    local dx, dy = q.x - p.x, q.y - p.y
    if dx * dx + dy * dy > ATTACK_RANGE * ATTACK_RANGE then
      return false, "seat " .. target .. " is out of range (" .. ATTACK_RANGE .. " units)"
    end
    return true
  end

  local ability = action.kind
  if ability == "dash" then
    if not (coordinate(action.x, W) and coordinate(action.y, H)) then
      return false, "x and y must be numbers from 0 to 1000"
    end
    if t < p.dash_at then return false, cooldown_reason("dash", p.dash_at, t) end
    return true
  end
  if ability == "shield" then
    if t < p.shield_at then return false, cooldown_reason("shield", p.shield_at, t) end
    return true
  end
  return false, 'unknown ability: use kind = "dash" or "shield"'
end

local function apply(state, ctx, seat, action)
  local players, t = state.players, state.t
  local p = players[seat]
  local kind = action.action
  if kind == "move" then
    walk_to(p, round2(action.x), round2(action.y))
  elseif kind == "attack" then
    local victim = action.target
    local q = players[victim]
    p.attack_at = t + ATTACK_CD
    local damage = ATTACK_DAMAGE
    if t < q.shield_until then damage = ATTACK_DAMAGE / 2 end
    local hp = q.hp - damage
    if hp > 0 then
      q.hp = hp
    else
      q.hp, q.alive, q.respawn_at, q.shield_until = 0, false, t + RESPAWN_MS, 0
      place(q, q.x, q.y)
      p.score = p.score + 1
      ctx.emit({ kind = "kill", by = seat, victim = victim })
    end
  elseif action.kind == "dash" then
    p.dash_at = t + DASH_CD
    local x, y = round2(action.x), round2(action.y)
    local dx, dy = x - p.x, y - p.y
    local d = sqrt(dx * dx + dy * dy)
    if d > DASH_DISTANCE then
      local f = DASH_DISTANCE / d
      p.x, p.y = round2(p.x + dx * f), round2(p.y + dy * f)
      walk_to(p, x, y)
    else
      place(p, x, y)
    end
  else -- shield
    p.shield_at = t + SHIELD_CD
    p.shield_until = t + SHIELD_MS
  end
end

local game = {
  name = "arena",
  title = "Arena",
  players = { min = 2, max = 8 },
  tick_rate = TICK_RATE,
  send_rate = 60, -- real-time action games update 60 times a second
  -- Everyone sees the whole field, so the server builds one view per state for all seats
  -- (game_state says which seat is yours); view(state, seat) still works for any seat.
  view_shared = true,
  quick_fill = 4,
}

function game.setup(ctx, config)
  local round_ms = ROUND_MS
  if type(config) == "table" and type(config.round_ms) == "number" and
     config.round_ms == config.round_ms then
    round_ms = floor(math.min(ROUND_MAX, math.max(ROUND_MIN, config.round_ms)))
  end
  local players = {}
  local n = ctx.seats or game.players.max
  for seat = 1, n do
    -- Spawned one after the other: each seat keeps away from those already placed.
    players[seat] = {
      x = 0, y = 0, tx = 0, ty = 0, ox = 0, oy = 0, walk = 0,
      hp = MAX_HP, alive = false, respawn_at = 0, score = 0,
      attack_at = 0, dash_at = 0, shield_at = 0, shield_until = 0,
    }
    local p = players[seat]
    place(p, spawn_point(players, seat, ctx))
    p.alive = true
  end
  return { tick = 0, t = 0, round_ms = round_ms, over = false, players = players }
end

function game.validate(state, seat, action)
  return check(state, seat, action)
end

function game.tick(state, ctx, inputs)
  if state.over then return end
  local players = state.players
  local n = #players

  -- Inputs take effect in arrival order at the time the tick starts. One that has gone stale
  -- since it was validated (target walked off or died, a second attack in the same tick...)
  -- is dropped.
  for i = 1, #inputs do
    local input = inputs[i]
    local seat, action = input[1] or input.seat, input[2] or input.action
    if check(state, seat, action) then apply(state, ctx, seat, action) end
  end

  -- Walking.
  for seat = 1, n do
    local p = players[seat]
    if p.alive then
      local tx, ty = p.tx, p.ty
      if p.x ~= tx or p.y ~= ty then
        local walk = p.walk + 1
        p.walk = walk
        local ox, oy = p.ox, p.oy
        local dx, dy = tx - ox, ty - oy
        local length = sqrt(dx * dx + dy * dy)
        local d = walk * SPEED / TICK_RATE
        if d >= length then
          p.x, p.y = tx, ty
        else
          local f = d / length
          p.x, p.y = round2(ox + dx * f), round2(oy + dy * f)
        end
      end
    end
  end

  -- The clock, then whatever it brings: respawns and the end of the round.
  local tick = state.tick + 1
  state.tick = tick
  local t = floor(tick * 1000 / TICK_RATE)
  state.t = t
  for seat = 1, n do
    local p = players[seat]
    if not p.alive and t >= p.respawn_at then
      place(p, spawn_point(players, seat, ctx))
      p.hp, p.alive, p.respawn_at, p.shield_until = MAX_HP, true, 0, 0
      ctx.emit({ kind = "respawn", seat = seat })
    end
  end
  if t >= state.round_ms then
    state.over = true
    local result = game.outcome(state)
    ctx.emit({ kind = "round_over", winner = result.winner, draw = result.draw })
  end
end

local function remaining(ready_at, t)
  local left = ready_at - t
  if left > 0 then return left end
  return 0
end

function game.view(state, seat)
  local t = state.t
  local list = {}
  local players = state.players
  for s = 1, #players do
    local p = players[s]
    list[s] = {
      seat = s, x = p.x, y = p.y, hp = p.hp, alive = p.alive, score = p.score,
      shield = p.alive and t < p.shield_until,
      cd = { attack = remaining(p.attack_at, t), dash = remaining(p.dash_at, t),
             shield = remaining(p.shield_at, t) },
      respawn = (not p.alive) and remaining(p.respawn_at, t) or nil,
    }
  end
  return {
    w = W, h = H, t = t, left = remaining(state.round_ms, t), players = list, you = seat,
    over = state.over or nil,
  }
end

function game.outcome(state)
  if not state.over then return nil end
  local scores, best, leaders, leader = {}, -1, 0, nil
  local players = state.players
  for seat = 1, #players do
    local score = players[seat].score
    scores[seat] = score
    if score > best then
      best, leaders, leader = score, 1, seat
    elseif score == best then
      leaders = leaders + 1
    end
  end
  if leaders == 1 then return { winner = leader, scores = scores, reason = "win" } end
  return { draw = true, scores = scores, reason = "draw" }
end

function game.tests(t)
  local function put(s, seat, x, y) place(s.players[seat], x, y) end
  local function run(s, ctx, ticks, inputs)
    for i = 1, ticks do game.tick(s, ctx, i == 1 and inputs or {}) end
  end
  local function input(seat, action) return { seat, action, seat = seat, action = action } end

  local s, ctx = t.new({}, 1)
  t.eq(#s.players, ctx.seats, "one player per seat")
  t.eq(s.round_ms, ROUND_MS, "three-minute round by default")
  t.eq(game.outcome(s), nil, "no outcome at the start")
  local inside = true
  for _, p in ipairs(s.players) do
    inside = inside and p.alive and p.hp == MAX_HP and p.x >= 0 and p.x <= W and p.y >= 0 and p.y <= H
  end
  t.ok(inside, "everyone starts alive, at full health, on the field")

  -- Walking: 200 units in one second (60 ticks), then standing at the target.
  put(s, 1, 100, 500)
  run(s, ctx, 60, { input(1, { action = "move", x = 900, y = 500 }) })
  t.eq({ s.players[1].x, s.players[1].y }, { 300, 500 }, "200 units per second")
  run(s, ctx, 300, {})
  t.eq({ s.players[1].x, s.players[1].y }, { 900, 500 }, "stops at the target")

  -- Attack, range, cooldown, shield.
  s, ctx = t.new({}, 2)
  put(s, 1, 500, 500); put(s, 2, 550, 500); put(s, 3, 100, 100)
  t.ok(game.validate(s, 1, { action = "attack", target = 2 }), "attack within 60 units")
  local ok, why = game.validate(s, 1, { action = "attack", target = 3 })
  t.ok(not ok and why:find("out of range") ~= nil, "attack beyond 60 units refused")
  run(s, ctx, 1, { input(1, { action = "attack", target = 2 }) })
  t.eq(s.players[2].hp, 90, "a hit does 10 damage")
  ok, why = game.validate(s, 1, { action = "attack", target = 2 })
  t.ok(not ok and why:find("cooldown") ~= nil, "attack cooldown")
  run(s, ctx, 29, { input(2, { action = "ability", kind = "shield" }) })
  t.ok(game.validate(s, 1, { action = "attack", target = 2 }), "attack ready after 0.5 s")
  run(s, ctx, 1, { input(1, { action = "attack", target = 2 }) })
  t.eq(s.players[2].hp, 85, "the shield halves damage")

  -- Dash.
  put(s, 3, 100, 100)
  run(s, ctx, 1, { input(3, { action = "ability", kind = "dash", x = 100, y = 200 }) })
  t.eq({ s.players[3].x, s.players[3].y }, { 100, 200 }, "a short dash lands on its point")
  ok, why = game.validate(s, 3, { action = "ability", kind = "dash", x = 0, y = 0 })
  t.ok(not ok and why:find("cooldown") ~= nil, "dash cooldown")

  -- A kill, then the respawn 3 s later.
  s, ctx = t.new({}, 3)
  local events, emit = {}, ctx.emit
  ctx.emit = function(event, seat)
    events[#events + 1] = event
    return emit(event, seat)
  end
  put(s, 1, 500, 500); put(s, 2, 540, 500)
  s.players[2].hp = 10
  run(s, ctx, 1, { input(1, { action = "attack", target = 2 }) })
  t.ok(not s.players[2].alive and s.players[1].score == 1, "the last hit kills and scores")
  t.eq(events, { { kind = "kill", by = 1, victim = 2 } }, "a kill event")
  ok, why = game.validate(s, 2, { action = "move", x = 1, y = 1 })
  t.eq({ ok, why }, { false, "dead players cannot act" }, "the dead cannot act")
  run(s, ctx, 179, {})
  t.ok(s.players[2].alive and s.players[2].hp == MAX_HP, "back after 3 s at full health")
  t.eq(events[2], { kind = "respawn", seat = 2 }, "a respawn event")

  -- The round ends on the clock; most kills wins.
  s, ctx = t.new({ round_ms = 2000 }, 4)
  s.players[2].score = 2
  run(s, ctx, 119, {})
  t.eq(game.outcome(s), nil, "still running before the clock runs out")
  run(s, ctx, 1, {})
  local scores = {}
  for seat = 1, #s.players do scores[seat] = s.players[seat].score end
  t.eq(game.outcome(s), { winner = 2, scores = scores, reason = "win" }, "most kills wins")
  s.players[3].score = 2
  t.eq(game.outcome(s).draw, true, "a tie for the lead is a draw")

  t.ok(not game.validate(s, 1, "move"), "a string is not an action")
  t.ok(not game.validate(t.new({}, 5), 1, { action = "move", x = 0 / 0, y = 1 }), "NaN refused")
  t.eq(json.decode(json.encode(s)), s, "state survives a JSON round trip")
  t.eq(game.view(s, 1).you, 1, "a view names its seat")
end

return game
