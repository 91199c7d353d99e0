-- agent_host.lua: runs one agent for one seat of one room. Trusted.
--
-- Each agent seat has its own Lua state (src/game/agent.c), so an agent sees nothing but its
-- seat's view and legal actions: it cannot reach the referee, the room's real state, other
-- rooms or the process. The game's own rules are loaded here too, in a sandbox of their own,
-- to back ctx.model (search on copies).

local sandbox = ...
local type, pairs, ipairs, pcall, tostring, select = type, pairs, ipairs, pcall, tostring, select
local deep_copy = sandbox.deep_copy
local json = sandbox.new_json()

local H = {}
local agent, game, seat, seats, rng, model, config

local function load(files, helpers, prefix, main, random)
  local env = sandbox.new_env({ files = files, helpers = helpers, prefix = prefix, random = random })
  local fn, err = sandbox.load_text(files[main], prefix .. main, env, sandbox.compiled(files, main))
  if not fn then error(err, 0) end
  return fn()
end

local function check_agent(a)
  if type(a) ~= "table" then error("an agent must return a table", 0) end
  if type(a.name) ~= "string" then error("agent.name must be a string", 0) end
  if a.choose == nil and a.act == nil then error("an agent needs choose or act", 0) end
  if a.choose ~= nil and type(a.choose) ~= "function" then error("agent.choose must be a function", 0) end
  if a.act ~= nil and type(a.act) ~= "function" then error("agent.act must be a function", 0) end
  if type(a.games) ~= "table" then error("agent.games must be a list of game names or { \"*\" }", 0) end
end

local function meta_of(a)
  local games = {}
  for _, g in pairs(a.games) do
    if type(g) == "string" then games[#games + 1] = g end
  end
  return {
    name = a.name,
    title = type(a.title) == "string" and a.title or a.name,
    personality = type(a.personality) == "string" and a.personality or "",
    games = games,
    choose = a.choose ~= nil,
    act = a.act ~= nil,
  }
end

-- Validates an agent version on its own: loads it and checks its shape. Returns the meta as
-- JSON.
function H.validate(agent_files, helpers, main)
  local a = load(agent_files, helpers, "agents/", main, sandbox.new_random(1))
  check_agent(a)
  if type(a.tests) == "function" then
    local failures = {}
    a.tests({
      ok = function(c, name) if not c then failures[#failures + 1] = tostring(name) end end,
      eq = function(g, w, name)
        if not sandbox.deep_equal(g, w) then failures[#failures + 1] = tostring(name) end
      end,
    })
    if #failures > 0 then error("self-test failed: not ok: " .. failures[1], 0) end
  end
  return json.encode(meta_of(a))
end

-- The ctx.model an agent gets for game (its rules loaded in a sandbox of their own): searches
-- run on copies, and the game's calls get a ctx with the given generator, seat count and
-- config whose emit, log and save_doc go nowhere (doc gives nil). Also used by tests/lua/harness.lua.
function H.new_model(g, random, nseats, cfg)
  -- The model does not know who the game master is (an agent sees its own view only): nobody.
  local function no_gm() return false end
  local rules_ctx = { seats = nseats, is_gm = no_gm }
  local function model_ctx()
    return { random = random, now = 0, seats = nseats, emit = function() end,
             log = function() end, config = cfg, is_gm = no_gm,
             -- an agent sees no player's document, and its searches save none
             doc = function() return nil end, save_doc = function() return false end }
  end
  return {
    copy = function(s) return deep_copy(s) end,
    legal = function(s, who) return g.legal and g.legal(s, who, rules_ctx) or {} end,
    apply = function(s, who, action)
      local c = deep_copy(s)
      g.apply(c, who, action, model_ctx())
      return c
    end,
    to_move = function(s) return g.to_move and g.to_move(s) or nil end,
    outcome = function(s) return g.outcome and g.outcome(s) or nil end,
  }
end

-- ctx.model, made when an agent first uses it: the game's rules are loaded into this state then,
-- not at setup, so an agent that never searches (most pick from the legal list) never pays for
-- them. The game's own generator is its own (seed + 1), so when it loads changes no draw.
local game_source -- { files, helpers, prefix, seed } until the rules are loaded

local function get_model()
  if not model then
    local src = game_source
    game = load(src.files, src.helpers, src.prefix, "game.lua", sandbox.new_random(src.seed + 1))
    model = H.new_model(game, rng, seats, config)
  end
  return model
end

local lazy_model = { copy = function(s) return deep_copy(s) end }
for _, name in ipairs({ "legal", "apply", "to_move", "outcome" }) do
  lazy_model[name] = function(...)
    return get_model()[name](...)
  end
end

-- Sets up the agent for seat of a room playing the given game. config_json is the room's
-- config (nil: none): ctx.config for the agent and for the game's calls through ctx.model.
function H.setup(agent_files, game_files, helpers, agent_main, game_prefix, seat_, seats_, seed,
                 config_json)
  seat, seats = seat_, seats_
  config = config_json and json.decode(config_json) or {}
  if type(config) ~= "table" then config = {} end
  rng = sandbox.new_random(seed)
  game, model = nil, nil
  game_source = { files = game_files, helpers = helpers, prefix = game_prefix, seed = seed }
  agent = load(agent_files, helpers, "agents/", agent_main, rng)
  check_agent(agent)
  return json.encode(meta_of(agent))
end

local function ctx_for(now)
  return { random = rng, now = now, seat = seat, seats = seats, model = lazy_model, config = config,
           log = function() end }
end

-- Turn-based: returns action_json, reasoning (a string or nil).
function H.choose(view_json, legal_json, now)
  local view, legal = json.decode(view_json), json.decode(legal_json)
  local action, why = agent.choose(view, legal, ctx_for(now))
  if action == nil then error("choose returned no action", 0) end
  if type(why) ~= "string" then return json.encode(action), nil end
  if #why > 500 then
    -- Cut at 500 bytes, then drop a character the cut split, so the text stays valid UTF-8.
    why = why:sub(1, 500):gsub("[\192-\255][\128-\191]*$", "")
  end
  return json.encode(action), why
end

-- Real-time: returns action_json or nil.
function H.act(view_json, now)
  if not agent.act then return nil end
  local action = agent.act(json.decode(view_json), ctx_for(now))
  if action == nil then return nil end
  return json.encode(action)
end

return H
