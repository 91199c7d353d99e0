#!/usr/bin/env luajit
-- Per-player documents through lua/referee.lua itself (ctx.doc, ctx.save_doc, R.set_docs), with
-- the fixture game tests/integration/fixtures/games/sheet, and the harness's ctx. TAP output.
-- Run from the repository root: luajit tests/lua/test_documents.lua
package.path = ((arg[0]:match("^(.*)[/\\]") or ".") .. "/?.lua;") .. package.path
local H = require("harness")
local cjson = require("cjson")

local path = "tests/integration/fixtures/games/sheet/game.lua"
local game = H.load(path)

-- The game's rules with the harness's ctx.
local ctx = H.ctx({ seats = 1, docs = { [1] = { games = 4, name = "Ada" } } })
local s = game.setup(ctx, {})
game.apply(s, 1, { op = "peek" }, ctx)
H.is_deep(ctx.events[1].event, { kind = "sheet", games = 4, name = "Ada" }, "peek shows the sheet")
game.apply(s, 1, { op = "play" }, ctx)
H.is_deep(ctx.saves, { { seat = 1, doc = { games = 5, name = "Ada" }, note = "game 5" } },
  "play saves the sheet with a note")
H.is_deep(game.outcome(s), { winner = 1 }, "and ends the game")

-- The referee: documents given at the start, saves returned, a failed call saves nothing.
local R = H.referee(path, 1, 1)
R.set_docs(cjson.encode({ ["1"] = { doc = { games = 1, name = "Bo" } } }))
local verdict, events = R.apply(1, '{"op":"peek"}', 0)
H.is_deep({ verdict, cjson.decode(events[1][1]) }, { "ok", { kind = "sheet", games = 1, name = "Bo" } },
  "ctx.doc gives the document set at the start")
H.ok(not pcall(R.apply, 1, '{"op":"big"}', 0), "an oversize save fails the call")
H.ok(not pcall(R.apply, 1, '{"op":"longnote"}', 0), "so does a long note")
local v, ev, over, _, _, _, saves = R.apply(1, '{"op":"play","edit":true}', 0)
H.is_deep({ v, cjson.decode(ev[1][1]), over ~= nil }, { "ok", { kind = "saved", games = 2, saved = true }, true },
  "play saves and ends")
H.is_deep({ #saves, saves[1][1], cjson.decode(saves[1][2]), saves[1][3], saves[1][4] },
  { 1, 1, { games = 2, name = "Bo" }, "game 2", 1 }, "the save: seat, document, note, by")

-- A seat without a player (an agent's): nothing to read, nothing saved.
R = H.referee(path, 1, 1)
R.set_docs("{}")
v, ev, over, _, _, _, saves = R.apply(1, '{"op":"play"}', 0)
H.is_deep({ v, cjson.decode(ev[1][1]).saved, saves }, { "ok", false, nil }, "no player: save_doc returns false")

H.done()
