#!/usr/bin/python3
# Roles beyond seats (docs/scripting.md, game_master and to_move lists), over WebSocket with a
# fixture game, Council (tests/integration/fixtures/roles/council): seat 1, the creator, is the
# game master: it gets view(state, "gm") (the secret and every vote) while the players get
# their own view; it may act at any time, and a hint between turns keeps the turn where it was;
# seats 2 and 3 vote in either order (to_move lists both), each with its legal actions; then
# the game master judges. A seat not listed is NOT_YOUR_TURN. The game replays identically.
import os, shutil, subprocess, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import BIN, ROOT, Client, Server, Tap, http, run

t = Tap()
games = tempfile.mkdtemp(prefix="mt-roles-")
shutil.copytree(os.path.join(ROOT, "games", "tictactoe"), os.path.join(games, "tictactoe"))
shutil.copytree(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "roles", "council"),
                os.path.join(games, "council"))


def latest(c, gid):
    return [m for m in c.seen if m.get("gameId") == gid and m["type"] == "game_state"][-1]["payload"]


async def main(srv):
    gm, p2, p3 = await Client.connect(srv), await Client.connect(srv), await Client.connect(srv)
    gid = (await gm.request("create_game", {"game": "council"}))["payload"]["gameId"]
    await p2.request("join_game", {"gameId": gid})
    await p3.request("join_game", {"gameId": gid})
    active = lambda m: m.get("gameId") == gid and m["payload"].get("status") == "active"
    for c in (gm, p2, p3):
        await c.expect("game_state", where=active)
    g, s2, s3 = latest(gm, gid), latest(p2, gid), latest(p3, gid)
    t.ok("secret" in g["state"] and "secret" not in s2["state"],
         "the game master sees view(state, \"gm\"); a player sees its own view")
    t.eq((g["toMove"], s2.get("legal"), s3.get("legal")), (2, [{"vote": "a"}, {"vote": "b"}], [{"vote": "a"}, {"vote": "b"}]),
         "to_move lists seats 2 and 3: the first is toMove, both get their legal actions")
    t.eq(g.get("legal"), [{"hint": "think"}], "the game master gets its legal actions too")
    deadline = s2.get("deadline")

    ans = await p3.request("player_input", {"gameId": gid, "action": {"vote": "b"}})
    t.eq(ans["type"], "game_event", "seat 3 votes before seat 2: a listed seat may act now")
    ans = await gm.request("player_input", {"gameId": gid, "action": {"hint": "the secret is odd"}})
    t.eq((ans["type"], ans["payload"].get("event", {}).get("kind")), ("game_event", "hint"),
         "the game master acts while it is not its turn")
    st = await p2.expect("game_state", where=lambda m: m.get("gameId") == gid and m["payload"]["state"].get("hints") == 1)
    t.eq((st["payload"].get("toMove"), st["payload"].get("deadline")), (2, deadline),
         "the hint leaves the turn, and seat 2's deadline, where they were")
    ans = await p3.request("player_input", {"gameId": gid, "action": {"vote": "a"}})
    t.eq(ans["payload"].get("code"), "NOT_YOUR_TURN", "seat 3, no longer listed, may not vote again")
    ans = await p2.request("command", {"gameId": gid, "text": "/roll"})
    t.ok(ans["payload"].get("code") == "INTERNAL" and "command failed" in ans["payload"]["message"],
         f"a command may not draw from the game's generator: {ans['payload']}")
    ans = await p2.request("command", {"gameId": gid, "text": "\u00e9" * 40})
    t.ok(ans["type"] == "command_answer" and ans["payload"]["text"].startswith("Unknown command: " + "\u00e9" * 30),
         "an unknown command gets the server's answer, its text cut between characters")
    ans = await p2.request("player_input", {"gameId": gid, "action": {"vote": "a"}})
    t.eq(ans["type"], "game_event", "seat 2 votes")
    st = await gm.expect("game_state", where=lambda m: m.get("gameId") == gid and m["payload"].get("toMove") == 1)
    t.eq(st["payload"]["state"]["votes"], {"2": "a", "3": "b"}, "the game master sees both votes")
    ans = await p2.request("player_input", {"gameId": gid, "action": {"judge": "a"}})
    t.eq(ans["payload"].get("code"), "NOT_YOUR_TURN", "only the game master judges")
    await gm.send("player_input", {"gameId": gid, "action": {"judge": "a"}})
    over = await p2.expect("game_over", where=lambda m: m.get("gameId") == gid)
    t.eq(over["payload"]["result"], {"winner": 2, "reason": "win"}, "the judge's rule picks the winner")
    for c in (gm, p2, p3):
        await c.close()
    return gid


srv = Server("--games", games, "--log-level", "warn").start()
try:
    listed = {g["name"]: g.get("gameMaster") for g in http("GET", srv.url + "/api/games")[2]}
    t.eq(listed, {"council": True, "tictactoe": None}, "GET /api/games marks the game with a game master")
    gid = run(main(srv))
    srv.stop()
    r = subprocess.run([BIN, "replay", gid, "--data-dir", srv.data_dir, "--games", games,
                        "--log-level", "warn"], capture_output=True, text=True, timeout=60)
    t.ok(r.returncode == 0 and "identical" in r.stdout, f"monkeytown replay: {r.stdout.strip() or r.stderr.strip()}")
finally:
    srv.stop()
    shutil.rmtree(games, ignore_errors=True)
t.done()
