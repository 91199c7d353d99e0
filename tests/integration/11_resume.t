#!/usr/bin/python3
# Reconnects: a dropped player keeps the seat; resume returns exactly the missed events, then a
# fresh game_state; a seat not reclaimed within seat-hold is forfeited.
import asyncio, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, run

t = Tap()


async def pair(srv):
    a, b = await Client.connect(srv), await Client.connect(srv)
    created = await a.request("create_game", {"game": "tictactoe"})
    gid = created["payload"]["gameId"]
    await a.expect("game_state")
    await b.request("join_game", {"gameId": gid})
    await a.expect("game_state", where=lambda m: m["payload"]["status"] == "active")
    return a, b, gid


async def resume(srv):
    a, b, gid = await pair(srv)
    await a.send("player_input", {"gameId": gid, "action": {"cell": 1}})
    st = await a.expect("game_state", where=lambda m: m["payload"].get("toMove") == 2)
    last_seq = st["seq"]
    token = a.welcome["payload"]["token"]
    await a.ws.close()
    drop = await b.expect("game_state", where=lambda m: not m["payload"]["players"][0]["connected"])
    t.ok(True, "the opponent sees the dropped player as disconnected")
    await b.send("player_input", {"gameId": gid, "action": {"cell": 5}})
    await b.expect("game_state", where=lambda m: m["payload"].get("toMove") == 1)
    await b.request("chat_message", {"gameId": gid, "text": "still there?"})
    missed = [m for m in b.seen if m.get("gameId") == gid and m.get("seq", 0) > last_seq
              and m["type"] != "game_state"]

    a2 = await Client.connect(srv, token=token)
    t.eq(a2.welcome["payload"]["playerId"], a.welcome["payload"]["playerId"], "same player again")
    rep = await a2.request("resume", {"gameId": gid, "lastSeq": last_seq}, id_="res")
    t.eq(rep["type"], "replay", "resume answers replay")
    got = [(e["seq"], e["type"]) for e in rep["payload"]["events"]]
    want = [(m["seq"], m["type"]) for m in missed]
    t.eq(got, want, "replay holds exactly the missed events, in order")
    t.eq([e["payload"] for e in rep["payload"]["events"]], [m["payload"] for m in missed],
         "replayed payloads match what the others saw")
    st = await a2.expect("game_state")
    t.eq(st["payload"]["you"], 1, "resumed into seat 1")
    t.eq(st["payload"]["toMove"], 1, "and it is our turn")
    t.ok(st["payload"]["players"][0]["connected"], "connected again")
    await a2.send("player_input", {"gameId": gid, "action": {"cell": 2}})
    moved = await b.expect("game_event")
    t.eq(moved["payload"]["event"].get("cell"), 2, "the resumed player plays on")

    rep = await a2.request("resume", {"gameId": gid, "lastSeq": 0})
    t.eq([e["seq"] for e in rep["payload"]["events"]], list(range(1, rep["seq"] + 1)),
         "resume from 0 replays the whole log with no gaps")
    e = await a2.request("resume", {"gameId": "nope", "lastSeq": 0})
    t.eq(e["payload"]["code"], "NOT_FOUND", "resume of an unknown game -> NOT_FOUND")
    e = await a2.request("resume", {"gameId": gid})
    t.eq(e["payload"]["code"], "BAD_MESSAGE", "resume without lastSeq -> BAD_MESSAGE")
    await a2.close()
    await b.close()


async def hold_expires(srv):
    a, b, gid = await pair(srv)
    await a.ws.close()
    over = await b.expect("game_over", timeout=10)
    t.eq(over["payload"]["result"], {"winner": 2, "reason": "forfeit"},
         "an unreclaimed seat is forfeited after seat-hold")
    await b.close()


async def leave(srv):
    a, b, gid = await pair(srv)
    left = await a.request("leave_game", {"gameId": gid}, id_="bye")
    t.eq(left["type"], "player_left", "leave_game answered by player_left")
    over = await b.expect("game_over")
    t.eq(over["payload"]["result"], {"winner": 2, "reason": "forfeit"}, "leaving forfeits")
    e = await a.request("leave_game", {"gameId": gid})
    t.eq(e["payload"]["code"], "NOT_IN_GAME", "leaving twice -> NOT_IN_GAME")
    await asyncio.sleep(0.2)  # the finished room lets go of its Lua state
    rep = await b.request("resume", {"gameId": gid, "lastSeq": 0})
    st = await b.expect("game_state")
    t.eq((st["payload"]["status"], st["payload"]["result"]["reason"]), ("completed", "forfeit"),
         "a finished room still answers with its final state")
    t.eq(st["payload"]["state"]["board"], [0] * 9, "from the final view it kept")
    await a.close()
    await b.close()


with Server() as srv:
    run(resume(srv))
    run(leave(srv))
with Server("--seat-hold", "1") as srv:
    run(hold_expires(srv))
t.done()
