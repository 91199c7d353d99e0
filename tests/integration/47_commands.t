#!/usr/bin/python3
# Text commands (docs/protocol.md, `command`): a seated player's line of text goes through the
# game's command(), which makes it an action (checked and applied like player_input: the same
# answers and errors) or answers that seat alone with `command_answer`. A game without command()
# answers with a hint, not an error. Checked over WebSocket against the running server:
# tic-tac-toe's /play, bare numbers, /board and help; the turn and legality checks; spectators;
# the text limits; the log stores the action the command made, and replay finds it identical.
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, http, replay, run

t = Tap()


async def main(srv):
    a, b, w = await Client.connect(srv), await Client.connect(srv), await Client.connect(srv)
    gid = (await a.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    await b.request("join_game", {"gameId": gid})
    await w.request("join_game", {"gameId": gid, "as": "spectator"})
    await a.expect("game_state", where=lambda m: m["payload"]["status"] == "active")

    ans = await a.request("command", {"gameId": gid, "text": "/help"})
    t.eq((ans["type"], ans.get("gameId")), ("command_answer", gid), "/help is answered to the sender")
    t.ok("/play N" in ans["payload"]["text"], f"with the game's help: {ans['payload']['text']!r}")

    ans = await a.request("command", {"gameId": gid, "text": "/play 5"})
    t.eq((ans["type"], ans["payload"].get("event")), ("game_event", {"kind": "move", "seat": 1, "cell": 5}),
         "/play 5 is applied as the move { cell = 5 }, answered like player_input")
    seen = await b.expect("game_event", where=lambda m: m.get("gameId") == gid)
    t.eq(seen["payload"]["event"]["cell"], 5, "the opponent sees the move")

    ans = await b.request("command", {"gameId": gid, "text": "/board"})
    t.eq(ans["payload"].get("text"), "... / .X. / ... (you are O)", "/board draws the board for seat 2")
    ans = await b.request("command", {"gameId": gid, "text": "5"})
    t.eq((ans["type"], ans["payload"].get("code")), ("error", "ILLEGAL_MOVE"),
         "a command's action is validated: cell 5 is taken")
    ans = await a.request("command", {"gameId": gid, "text": "1"})
    t.eq(ans["payload"].get("code"), "NOT_YOUR_TURN", "and the turn is checked")
    ans = await w.request("command", {"gameId": gid, "text": "/board"})
    t.eq(ans["payload"].get("code"), "NOT_IN_GAME", "a spectator holds no seat to command")

    for text, why in (("", "empty"), ("x" * 501, "over 500 characters")):
        ans = await a.request("command", {"gameId": gid, "text": text})
        t.eq(ans["payload"].get("code"), "BAD_MESSAGE", f"a text {why} is refused")
    ans = await a.request("command", {"gameId": gid})
    t.eq(ans["payload"].get("code"), "BAD_MESSAGE", "text is required")
    ans = await a.request("command", {"gameId": "0b0e4b8e-9a34-4b6e-8d3b-2f1c1e5a9d11", "text": "1"})
    t.eq(ans["payload"].get("code"), "NOT_FOUND", "an unknown game is NOT_FOUND")

    # Play it out by commands alone: X 5, O 1, X 9, O 3, X 2, O 7, X 8 (X wins the column 2-5-8).
    for who, cell in ((b, 1), (a, 9), (b, 3), (a, 2), (b, 7), (a, 8)):
        ans = await who.request("command", {"gameId": gid, "text": f"/play {cell}"})
        t.ok(ans["type"] == "game_event", f"/play {cell}: {ans['type']} {ans['payload'].get('code', '')}")
    over = await a.expect("game_over", where=lambda m: m.get("gameId") == gid)
    t.eq(over["payload"]["result"], {"winner": 1, "reason": "win"}, "the game played by commands ends")
    for i in range(3):  # the ended room lets its Lua state go: a command must not reach it
        ans = await b.request("command", {"gameId": gid, "text": "/board"})
        t.eq((ans["payload"].get("code"), ans["payload"].get("message")), ("NOT_YOUR_TURN", "the game is over"),
             f"a command to the ended game ({i + 1}) is refused")

    c4 = (await a.request("create_game", {"game": "connect4", "vsAgent": "random"}))["payload"]["gameId"]
    ans = await a.request("command", {"gameId": c4, "text": "/help"})
    t.ok(ans["type"] == "command_answer" and "no text commands" in ans["payload"]["text"],
         f"a game without command() answers with a hint: {ans['payload']}")
    for c in (a, b, w):
        await c.close()
    return gid


srv = Server("--log-level", "warn").start()
try:
    gid = run(main(srv))
    st, _, log = http("GET", f"{srv.url}/api/games/{gid}/events")
    inputs = [e["payload"]["action"] for e in log.get("events", []) if e["type"] == "input"]
    t.eq(inputs[:2], [{"cell": 5}, {"cell": 1}], "the log holds the actions the commands made")
    ok, said = replay(srv, gid)
    t.ok(ok, f"monkeytown replay: {said}")
finally:
    srv.stop()
t.done()
