-- referee.lua: the rules around a game, for one room. Trusted.
--
-- Loaded into the room's Lua state by the C core (src/game/room.c), which passes the sandbox
-- module. The referee owns the game's state table; the game script only sees it through its
-- own functions, called with the arguments docs/contract/GAME_API.md fixes. The C side owns everything
-- about sockets, seats, sequence numbers and time: it calls the functions below and gets
-- plain values and JSON strings back.
--
-- An applied action runs on a copy of the state: if the script fails (error, CPU or memory
-- limit), the copy is dropped and the state is exactly what it was before.

local sandbox = ...
local type, pairs, ipairs, error, pcall, tostring, select =
  type, pairs, ipairs, error, pcall, tostring, select
local deep_copy, floor = sandbox.deep_copy, math.floor
local band, lshift = bit.band, bit.lshift
local json = sandbox.new_json()

local R = {}
local game, state, rng, referee_rng, seats, config
local gm -- the game master's seat (game_master = true: the creator's, seat 1, until handed over), or nil
local log_lines = {}
-- to_move's answer for the state table known_for: the state changes only to a new table (apply)
-- or in tick, which forgets it, so may_act asks the game once per state, not once per action.
local known_for, known_seat

-- Per-player documents (docs/scripting.md, "Documents"): docs[seat] is the seated player's
-- document as the room gave it at the start (R.set_docs), then as this game last saved it;
-- false when the player has none yet; nil for a seat without a player (an agent), or before the
-- game started. A call's saves wait in `saves` and reach docs only when the call succeeds.
local DOC_MAX_BYTES, DOC_NOTE_MAX, DOC_SAVES_PER_CALL = 65536, 200, 16
local docs = {}

local function check_game(g)
  if type(g) ~= "table" then error("game.lua must return a table", 0) end
  if type(g.name) ~= "string" then error("game.name must be a string", 0) end
  if type(g.setup) ~= "function" then error("game.setup must be a function", 0) end
  if type(g.players) ~= "table" or type(g.players.min) ~= "number" or
     type(g.players.max) ~= "number" or g.players.min < 1 or g.players.max < g.players.min or
     g.players.max > 16 then
    error("game.players must be { min = 1.., max = min..16 }", 0)
  end
  local rate = g.tick_rate or 0
  if type(rate) ~= "number" or rate < 0 or rate > 60 or rate ~= floor(rate) then
    error("game.tick_rate must be a whole number from 0 to 60", 0)
  end
  if rate == 0 and type(g.apply) ~= "function" then error("a turn-based game needs apply", 0) end
  if rate == 0 and type(g.to_move) ~= "function" then error("a turn-based game needs to_move", 0) end
  if rate > 0 and type(g.tick) ~= "function" then error("a real-time game needs tick", 0) end
  for _, f in ipairs({ "legal", "validate", "apply", "tick", "view", "outcome", "tests", "to_move",
                       "command", "describe" }) do
    if g[f] ~= nil and type(g[f]) ~= "function" then error("game." .. f .. " must be a function", 0) end
  end
end

-- Loads the game's files into a fresh sandbox and returns the game table.
local function load_game(files, helpers, prefix, random)
  local env = sandbox.new_env({ files = files, helpers = helpers, prefix = prefix, random = random })
  local fn, err = sandbox.load_text(files["game.lua"], prefix .. "game.lua", env,
    sandbox.compiled(files, "game.lua"))
  if not fn then error(err, 0) end
  local g = fn()
  check_game(g)
  return g
end

local function meta_of(g)
  return {
    name = g.name, title = type(g.title) == "string" and g.title or g.name,
    min = g.players.min, max = g.players.max, tick_rate = g.tick_rate or 0,
    send_rate = type(g.send_rate) == "number" and g.send_rate or nil,
    turn_time_ms = type(g.turn_time_ms) == "number" and g.turn_time_ms or nil,
    on_timeout = g.on_timeout == "forfeit" and "forfeit" or (g.legal and "random" or "forfeit"),
    quick_fill = type(g.quick_fill) == "number" and g.quick_fill or nil,
    has_legal = g.legal ~= nil,
    game_master = g.game_master == true or nil,
    commands = g.command ~= nil or nil,
  }
end

local function is_gm(seat)
  return seat ~= nil and seat == gm
end

-- What validate and legal get beside the state and the seat (they run often: one table, made
-- at setup): whether a seat is the game master, which a handover changes mid-game.
local rules_ctx = { is_gm = is_gm }

local function pending_doc(saves, seat)
  for i = #saves, 1, -1 do
    if saves[i].seat == seat then return saves[i].doc end
  end
  return docs[seat]
end

-- The functions every ctx holds are made once per state, not per call: they act on the
-- running call's lists (cur_events, cur_saves), which new_ctx sets. A ctx kept past its call
-- therefore emits into the call running then, which is as harmless as emitting into a list
-- nobody reads, and saves nothing outside apply and tick.
local cur_events, cur_saves

local function ctx_doc(seat)
  if type(seat) ~= "number" or seat < 1 or seat > seats then
    error("ctx.doc: seat must be 1.." .. seats, 2)
  end
  local d = cur_saves and pending_doc(cur_saves, seat) or docs[seat]
  if not d then return nil end
  return deep_copy(d)
end

local function ctx_save_doc(seat, doc, note, by)
  local saves = cur_saves
  if not saves then error("ctx.save_doc: not available here (only in apply and tick)", 2) end
  if type(seat) ~= "number" or seat < 1 or seat > seats then
    error("ctx.save_doc: seat must be 1.." .. seats, 2)
  end
  if type(doc) ~= "table" then error("ctx.save_doc: doc must be a table", 2) end
  if note ~= nil and type(note) ~= "string" then error("ctx.save_doc: note must be a string", 2) end
  note = note or ""
  if #note > DOC_NOTE_MAX then
    error("ctx.save_doc: note longer than " .. DOC_NOTE_MAX .. " bytes", 2)
  end
  if by ~= nil and (type(by) ~= "number" or by < 1 or by > seats or docs[by] == nil) then
    error("ctx.save_doc: by must be a seat with a player", 2)
  end
  if docs[seat] == nil then return false end -- no player in this seat (an agent): nothing saved
  if #saves >= DOC_SAVES_PER_CALL then
    error("ctx.save_doc: more than " .. DOC_SAVES_PER_CALL .. " saves in one call", 2)
  end
  local ok, text = pcall(json.encode, doc)
  if not ok then error("ctx.save_doc: the document is not plain data: " .. tostring(text), 2) end
  if #text > DOC_MAX_BYTES then
    error("ctx.save_doc: the document is " .. #text .. " bytes as JSON, more than " ..
      DOC_MAX_BYTES, 2)
  end
  -- What later calls see is what was stored: the JSON text decoded again.
  saves[#saves + 1] = { seat = seat, doc = json.decode(text), text = text, note = note, by = by }
  return true
end

-- The call succeeded: its saves become the documents later calls see. Returns them for the C
-- side as an array of { seat, doc_json, note, by_or_nil }, or nil when there were none.
local function commit_saves(saves)
  if #saves == 0 then return nil end
  local out = {}
  for i, sv in ipairs(saves) do
    docs[sv.seat] = sv.doc
    out[i] = { sv.seat, sv.text, sv.note, sv.by }
  end
  return out
end

local function ctx_emit(event, seat)
  if type(event) ~= "table" then error("ctx.emit: event must be a table", 2) end
  if seat ~= nil and (type(seat) ~= "number" or seat < 1 or seat > seats) then
    error("ctx.emit: seat must be 1.." .. seats, 2)
  end
  local events = cur_events
  if #events >= 256 then error("ctx.emit: more than 256 events in one call", 2) end
  events[#events + 1] = { json.encode(event), seat }
end

local function ctx_log(...)
  if #log_lines >= 20 then return end
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  log_lines[#log_lines + 1] = table.concat(parts, " "):sub(1, 1000)
end

-- A call's ctx: events collects what it emits; saves its document saves (nil: none allowed).
local function new_ctx(now, events, saves)
  cur_events, cur_saves = events, saves
  return { random = rng, now = now, seats = seats, config = config, is_gm = is_gm,
           emit = ctx_emit, log = ctx_log, doc = ctx_doc, save_doc = ctx_save_doc }
end

-- Validates a version: loads it, checks its shape, runs its self-test. Returns the meta table
-- (as JSON) or raises the first failure.
function R.validate(files, helpers, prefix)
  local random = sandbox.new_random(1)
  local g = load_game(files, helpers, prefix, random)
  if g.tests then
    local failures = {}
    local t = {}
    t.ok = function(cond, name)
      if not cond then failures[#failures + 1] = "not ok: " .. tostring(name) end
    end
    t.eq = function(got, want, name)
      if not sandbox.deep_equal(got, want) then
        failures[#failures + 1] = "not ok: " .. tostring(name) .. " (got " ..
          json.encode({ got }) .. ", want " .. json.encode({ want }) .. ")"
      end
    end
    t.new = function(cfg, seed)
      rng = sandbox.new_random(seed or 1)
      seats = g.players.max
      config = cfg or {}
      local events = {}
      local ctx = new_ctx(0, events)
      local s = g.setup(ctx, config)
      return s, ctx
    end
    g.tests(t)
    if #failures > 0 then error("self-test failed: " .. failures[1], 0) end
  end
  return json.encode(meta_of(g))
end

-- The game's generator, refused while a command runs: a command is not an input, so drawing
-- from the generator there would shift every later draw in the game and not in its replay.
local in_command = false
local function guarded(gen)
  return function(m, n)
    if in_command then error("random numbers are not available in command (it is not an input)", 2) end
    return gen(m, n)
  end
end

-- What the game's own code gets as math.random: whatever generator rng is now, so a game loaded
-- before its room's seed is known (R.load) draws from the room's generator once R.start sets it.
-- A tail call: an error the generator raises at level 2 names the game's line, not this one.
local function draw(m, n)
  return rng(m, n)
end

local function seed_generators(seed)
  rng = guarded(sandbox.new_random(seed))
  referee_rng = sandbox.new_random(seed * 7 + 3)
end

-- The game, loaded, starts: seats, config (JSON or nil), the state from game.setup. Returns the
-- meta table as JSON.
local function start(config_json, seat_count)
  seats = seat_count
  gm = game.game_master == true and 1 or nil
  rules_ctx.seats = seat_count
  docs = {}
  config = config_json and json.decode(config_json) or {}
  if type(config) ~= "table" then config = {} end
  local events = {}
  state = game.setup(new_ctx(0, events), config)
  known_for = nil
  if type(state) ~= "table" then error("setup must return a table", 0) end
  return json.encode(meta_of(game))
end

-- Starts the room's game. config_json may be nil. Returns the meta table as JSON.
function R.setup(files, helpers, prefix, config_json, seed, seat_count)
  seed_generators(seed)
  game = load_game(files, helpers, prefix, draw)
  return start(config_json, seat_count)
end

-- Loads the game ahead of its room (a pool of ready states, built on a worker): R.start then
-- does the rest of R.setup. Returns false when the game's own code drew random numbers while it
-- loaded: those must come from the room's generator, so such a game is set up by R.setup.
function R.load(files, helpers, prefix)
  local drew = false
  rng = function(m, n) -- any value in range: the state is thrown away
    drew = true
    if m == nil then return 0.5 end
    return n and m or 1
  end
  game = load_game(files, helpers, prefix, draw)
  return not drew
end

function R.start(config_json, seed, seat_count)
  seed_generators(seed)
  return start(config_json, seat_count)
end

-- The players' documents as the game starts (or as a replay or a rebuild starts it again):
-- docs_json is {"<seat>": {"doc": <the document>} or {}} for every seat with a player, {} when
-- that player has none yet. Seats it does not name have no player (ctx.save_doc ignores them).
function R.set_docs(docs_json)
  docs = {}
  local d = json.decode(docs_json)
  if type(d) ~= "table" then return end
  for k, v in pairs(d) do
    local seat = tonumber(k)
    if seat and seat >= 1 and seat <= seats and type(v) == "table" then
      docs[seat] = type(v.doc) == "table" and v.doc or false
    end
  end
end

-- The seat the room's turn clock, `toMove` and agents follow: to_move's seat, or the first of
-- its list (every listed seat may act: may_act).
local movers -- the seats of to_move's last list (a set), or nil: who gets legal in R.views
-- to_move's answer for the state table known_for (declared at the top: setup forgets it).

local function to_move_of(s)
  if not game.to_move then return nil end
  local seat = game.to_move(s)
  movers = nil
  if type(seat) == "table" then
    movers = {}
    for _, m in ipairs(seat) do movers[m] = true end
    seat = seat[1]
  end
  if type(seat) ~= "number" then seat = nil end
  known_for, known_seat = s, seat
  return seat
end

function R.to_move()
  return to_move_of(state)
end

local function outcome_json(s)
  if not game.outcome then return nil end
  local o = game.outcome(s)
  if o == nil then return nil end
  if type(o) ~= "table" then error("outcome must return a table or nil", 0) end
  local r = {}
  if type(o.winner) == "number" then r.winner = o.winner end
  if o.draw == true then r.draw = true end
  if type(o.scores) == "table" then r.scores = o.scores end
  r.reason = type(o.reason) == "string" and o.reason or (r.draw and "draw" or "win")
  return json.encode(r)
end

-- The ctx.log lines made since the last call, or nil: every call hands them over.
local function take_logs()
  if #log_lines == 0 then return nil end
  local out = log_lines
  log_lines = {}
  return out
end

-- Checks one action for seat: "ok", or "not_your_turn", or "illegal" and the reason. The
-- game master may act at any time, and a seat to_move lists may act now.
local function may_act(seat)
  if seat == gm then return true end
  if not game.to_move then return false end
  if known_for ~= state then to_move_of(state) end
  return seat == known_seat or (movers ~= nil and movers[seat] == true)
end

local function check(seat, action, turn_based)
  if turn_based and not may_act(seat) then return "not_your_turn" end
  if game.validate then
    local valid, reason = game.validate(state, seat, action, rules_ctx)
    if not valid then return "illegal", type(reason) == "string" and reason or "illegal action" end
  end
  return "ok"
end

-- Checks an action without applying it (a real-time input on arrival).
function R.check(seat, action_json, turn_based)
  local ok, action = pcall(json.decode, action_json)
  if not ok then return "illegal", "action is not valid JSON" end
  return check(seat, action, turn_based)
end

-- Checks and applies one turn-based action for seat, on a copy of the state. Returns
--   verdict ("ok", "not_your_turn", "illegal"), events or the reason, outcome_json_or_nil,
--   the seat to move next, the state's hash, the ctx.log lines (or nil), the documents saved
--   (or nil: see commit_saves)
-- where events is an array of { event_json, seat_or_nil }. One call does all of a move.
function R.apply(seat, action_json, now)
  local ok, action = pcall(json.decode, action_json)
  if not ok then return "illegal", "action is not valid JSON", nil, nil, nil, take_logs() end
  local verdict, reason = check(seat, action, true)
  if verdict ~= "ok" then return verdict, reason, nil, nil, nil, take_logs() end
  local events, saves = {}, {}
  local next_state = deep_copy(state)
  game.apply(next_state, seat, action, new_ctx(now, events, saves))
  local over = outcome_json(next_state)
  local to_move = not over and to_move_of(next_state) or nil
  local hash = sandbox.canonical_hash(next_state)
  state = next_state -- only now: a failure above left the state (and the documents) as they were
  return "ok", events, over, to_move, hash, take_logs(), commit_saves(saves)
end

-- Advances a real-time game by one tick. inputs: array of { seat, action_json }.
-- Returns events, outcome_json_or_nil, the state's hash when want_hash, the ctx.log lines, the
-- documents saved (or nil).
function R.tick(inputs, now, want_hash)
  local list = {}
  for i, input in ipairs(inputs) do
    local ok, action = pcall(json.decode, input[2])
    if ok then list[#list + 1] = { seat = input[1], action = action, input[1], action } end
  end
  local events, saves = {}, {}
  known_for = nil -- tick changes the state in place
  game.tick(state, new_ctx(now, events, saves), list)
  local over = outcome_json(state)
  return events, over, want_hash and sandbox.canonical_hash(state) or nil,
    take_logs(), commit_saves(saves)
end

-- A legal action for seat picked by the referee's own generator (never the game's, so
-- replaying the recorded action reproduces the game's random stream). nil when the game has
-- no legal function or no legal action.
function R.random_legal(seat)
  if not game.legal then return nil end
  local l = game.legal(state, seat, rules_ctx)
  if type(l) ~= "table" or #l == 0 then return nil end
  return json.encode(l[referee_rng(#l)])
end

-- The game master's seat passes to seat (the `hand_gm` message, or its input replayed): the
-- state is untouched, so the hash returned is the state's as it was. The room checked that seat
-- holds a player; a game without a game master has none to hand over.
function R.set_gm(seat)
  if not gm then error("this game has no game master", 0) end
  if type(seat) ~= "number" or seat < 1 or seat > seats then error("no seat " .. tostring(seat), 0) end
  gm = seat
  return sandbox.canonical_hash(state)
end

-- A line of text from seat (the `command` message): the game's command turns it into an action,
-- or answers the seat with text. It sees a copy of the state and a ctx without random or emit:
-- a command is not an input (only the action it makes is, when applied), so nothing it does may
-- change the game. Returns "action", action_json, or "text", the answer (at most 2000 bytes).
local COMMAND_TEXT_MAX = 2000

-- text cut to at most max bytes at a character's start, never inside one.
local function utf8_cut(text, max)
  if #text <= max then return text end
  local cut = max
  while cut > 0 and band(text:byte(cut + 1), 0xc0) == 0x80 do cut = cut - 1 end
  return text:sub(1, cut)
end

function R.command(seat, text)
  if not game.command then
    return "text", "This game takes no text commands: send its actions as player_input."
  end
  in_command = true
  local ok, action, answer = pcall(game.command, deep_copy(state), seat, text,
    { seat = seat, seats = seats, config = deep_copy(config), is_gm = is_gm })
  in_command = false
  if not ok then error(action, 0) end
  if action ~= nil then
    if type(action) ~= "table" then error("command must return an action table, or nil and a text", 0) end
    return "action", json.encode(action)
  end
  if type(answer) ~= "string" or answer == "" then
    answer = "Unknown command: " .. utf8_cut(text, 60) .. " (try /help)"
  end
  return "text", utf8_cut(answer, COMMAND_TEXT_MAX)
end

-- One event as one line of text for a text-only client (the text bridge): the game's describe
-- renders event_json (the event as seat sees it; seat 0 is a spectator) or nil when it has none,
-- returns nothing, or fails (the caller then writes its own line). Like a command it sees no
-- state and may not draw random numbers: it changes nothing and a replay never runs it.
local DESCRIBE_TEXT_MAX = 4000

function R.describe(seat, event_json)
  if not game.describe then return nil end
  local event = json.decode(event_json)
  local who = seat > 0 and seat or nil
  in_command = true
  local ok, line = pcall(game.describe, event, who,
    { seat = who, seats = seats, config = deep_copy(config), is_gm = is_gm })
  in_command = false
  if not ok then error(line, 0) end
  if type(line) ~= "string" or line == "" then return nil end
  return utf8_cut(line, DESCRIBE_TEXT_MAX)
end

-- Every recipient's view at once: out[seat] = { view_json, legal_json_or_nil } for seats
-- 1..n, and out[0] for spectators. wanted, when given, is a mask of 1 << seat: only the
-- seats it names are viewed (a seat with nobody to send its view to is skipped).
function R.views(n, to_move, wanted)
  local out = {}
  -- A game without view, or one that declares view_shared (every seat and spectators see the
  -- same thing; game_state carries `you` itself), is viewed and encoded once per state.
  local shared
  if not game.view then shared = json.encode(state)
  elseif game.view_shared == true then shared = json.encode(game.view(state, nil)) end
  for seat = 0, n do
    if not wanted or band(wanted, lshift(1, seat)) ~= 0 then
      local who = seat > 0 and seat or nil
      local legal
      if who and game.legal and ((to_move and (who == to_move or (movers and movers[who])))
                                 or who == gm) then
        local l = game.legal(state, who, rules_ctx)
        if type(l) == "table" and #l > 0 then legal = json.encode(l) end
      end
      local view
      if who and who == gm then -- the game master sees everything
        view = game.view and json.encode(game.view(state, "gm")) or json.encode(state)
      end
      out[seat] = { view or shared or json.encode(game.view(state, who)), legal }
    end
  end
  return out
end

return R
