#!/usr/bin/env luajit
-- lua/agent_host.lua across agents: the server hands a state that ran one agent to the next
-- agent seat after H.reset (src/game/agent.c, trusted_recycle), so nothing the first agent left
-- (its module's locals, its globals, what it wrote into ctx.model) may reach the next. TAP.
-- Run from the repository root.
package.path = ((arg[0]:match("^(.*)[/\\]") or ".") .. "/?.lua;") .. package.path
local H = require("harness")
local S = H.sandbox_module

local function read(path)
  local f = assert(io.open(H.root .. "/" .. path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local agent_files = { ["leaky.lua"] = [[
local picks = 0
return {
  name = "leaky", games = { "*" },
  choose = function(view, legal, ctx)
    picks = picks + 1
    kept = (kept or 0) + 1
    ctx.model.marks = (ctx.model.marks or 0) + 1
    return legal[1], picks .. " " .. kept .. " " .. ctx.model.marks
  end,
}
]] }
local game_files = { ["game.lua"] = read("games/tictactoe/game.lua") }
local view = '{"board":[0,0,0,0,0,0,0,0,0]}'
local legal = '[{"cell":1},{"cell":2}]'

local host = assert(loadfile(H.root .. "/lua/agent_host.lua"))(S)
local function setup()
  host.setup(agent_files, game_files, H.helpers, "leaky.lua", "games/tictactoe/", 2, 2, 7, nil)
end

setup()
host.choose(view, legal, 0)
local action, why = host.choose(view, legal, 0)
H.is_deep(action, '{"cell":1}', "the agent picks")
H.is_deep(why, "2 2 2", "within one seat the agent keeps what it made")

host.reset()
local ok = pcall(host.choose, view, legal, 0)
H.ok(not ok, "after reset no agent is left to call")

setup()
action, why = host.choose(view, legal, 0)
H.is_deep(why, "1 1 1", "the next agent set up in the state starts from nothing")

H.done()
