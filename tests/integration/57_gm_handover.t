#!/usr/bin/python3
# The game master's seat handed over (docs/protocol.md, hand_gm), with the fixture game Council
# (tests/integration/fixtures/roles/council): seat 1, the creator, hands it to seat 2. Everyone
# gets gm_changed under a seq; the omniscient view, the game master's legal actions and
# `gameMaster` (game_state, GET /api/games/:id) move to seat 2; seat 2 acts out of its turn and
# seat 1 no longer may. Only the game master may hand over, to a seat with a human player, in a
# running game that has a game master (each refusal with its code and message). The
# server is killed with SIGKILL and started again: the rebuilt room has seat 2 as its game
# master, which judges to the end, and `monkeytown replay` finds the game identical. With the
# embedded store, then with PostgreSQL when it can be started here.
import os, shutil, signal, subprocess, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import BIN, ROOT, Client, Server, Tap, http, run
import pg as pglib

tap = Tap()


class Labeled:
    """The checks of one scenario, named after its store."""
    label = ""

    def ok(self, cond, name, diag=None):
        tap.ok(cond, f"{self.label}: {name}", diag)

    def eq(self, got, want, name):
        tap.eq(got, want, f"{self.label}: {name}")


t = Labeled()
SECRET = "handover-secret-handover-secret-012345"
games = tempfile.mkdtemp(prefix="mt-gm-")
shutil.copytree(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "roles", "council"),
                os.path.join(games, "council"))
shutil.copytree(os.path.join(ROOT, "games", "tictactoe"), os.path.join(games, "tictactoe"))
ARGS = ("--games", games, "--jwt-secret", SECRET, "--guest-rate", "0", "--seat-hold", "120",
        "--log-level", "warn")


def guest(srv):
    return http("POST", srv.url + "/api/auth/guest")[2]["token"]


def states(c, gid):
    return [m["payload"] for m in c.seen if m.get("gameId") == gid and m["type"] == "game_state"]


def for_game(gid, cond=None):
    return lambda m: m.get("gameId") == gid and (cond is None or cond(m))


async def first_half(srv, tokens):
    c1, c2, c3 = [await Client.connect(srv, token=tok) for tok in tokens]
    gid = (await c1.request("create_game", {"game": "council"}))["payload"]["gameId"]
    await c2.request("join_game", {"gameId": gid})
    await c3.request("join_game", {"gameId": gid})
    for c in (c1, c2, c3):
        await c.expect("game_state", where=for_game(gid, lambda m: m["payload"]["status"] == "active"))
    t.eq([states(c, gid)[-1].get("gameMaster") for c in (c1, c2, c3)], [1, 1, 1],
         "game_state names seat 1, the creator, as the game master")

    ans = await c2.request("hand_gm", {"gameId": gid, "seat": 3})
    t.eq((ans["payload"].get("code"), ans["payload"].get("message")),
         ("FORBIDDEN", "only the game master (seat 1) may hand it over"), "a player may not hand it over")
    for seat, code, msg in ((1, "BAD_MESSAGE", "seat 1 is the game master already"),
                            (4, "NOT_FOUND", "no seat 4 in this game"),
                            (17, "BAD_MESSAGE", None)):
        ans = await c1.request("hand_gm", {"gameId": gid, "seat": seat})
        t.ok(ans["payload"].get("code") == code and (msg is None or ans["payload"]["message"] == msg),
             f"hand_gm to seat {seat}: {code} ({ans['payload']})")

    ans = await c1.request("hand_gm", {"gameId": gid, "seat": 2})
    t.eq((ans["type"], ans["payload"]), ("gm_changed", {"from": 1, "to": 2}),
         "the game master hands the seat to seat 2: its answer is the gm_changed event")
    seq = ans["seq"]
    for c in (c2, c3):
        m = await c.expect("gm_changed", where=for_game(gid))
        t.eq((m["seq"], m["payload"]), (seq, {"from": 1, "to": 2}), "every player sees gm_changed under the same seq")
    for c in (c1, c2, c3):
        await c.expect("game_state", where=for_game(gid, lambda m: m["seq"] == seq))
    s1, s2, s3 = (states(c, gid)[-1] for c in (c1, c2, c3))
    t.ok("secret" in s2["state"] and "secret" not in s1["state"] and "secret" not in s3["state"],
         "the omniscient view moved from seat 1 to seat 2")
    t.eq([s.get("gameMaster") for s in (s1, s2, s3)], [2, 2, 2], "game_state names seat 2")
    t.eq((s1.get("legal"), s2.get("legal")), (None, [{"hint": "think"}, {"vote": "a"}, {"vote": "b"}]),
         "the game master's legal actions moved with it (legal(state, seat, ctx) sees ctx.is_gm)")
    summary = http("GET", srv.url + f"/api/games/{gid}")[2]
    t.eq(summary.get("gameMaster"), 2, "GET /api/games/:id names seat 2")

    ans = await c1.request("hand_gm", {"gameId": gid, "seat": 3})
    t.eq(ans["payload"].get("code"), "FORBIDDEN", "the old game master may not hand it over again")
    ans = await c1.request("player_input", {"gameId": gid, "action": {"hint": "odd"}})
    t.eq(ans["payload"].get("code"), "NOT_YOUR_TURN", "the old game master may no longer act out of turn")

    ans = await c2.request("player_input", {"gameId": gid, "action": {"vote": "a"}})
    t.eq(ans["type"], "game_event", "seat 2 votes")
    ans = await c2.request("player_input", {"gameId": gid, "action": {"hint": "the secret is odd"}})
    t.eq((ans["type"], ans["payload"]["event"]), ("game_event", {"kind": "hint", "text": "the secret is odd", "seat": 2}),
         "the new game master acts when it is not its turn")
    await c2.expect("game_state", where=for_game(gid, lambda m: m["payload"]["state"].get("hints") == 1))
    for c in (c1, c2, c3):
        await c.close()
    return gid, seq


async def refusals(srv):
    """hand_gm where it cannot be: before the start, from a spectator, in a game without a game
    master, to an agent's seat."""
    c, w = await Client.connect(srv), await Client.connect(srv)
    gid = (await c.request("create_game", {"game": "council"}))["payload"]["gameId"]
    ans = await c.request("hand_gm", {"gameId": gid, "seat": 2})
    t.eq((ans["payload"].get("code"), ans["payload"].get("message")), ("NOT_YOUR_TURN", "the game has not started"),
         "hand_gm before the game starts")
    await w.request("join_game", {"gameId": gid, "as": "spectator"})
    ans = await w.request("hand_gm", {"gameId": gid, "seat": 1})
    t.eq(ans["payload"].get("code"), "NOT_IN_GAME", "hand_gm from a spectator")
    gid = (await c.request("create_game", {"game": "council", "vsAgent": "random"}))["payload"]["gameId"]
    await c.expect("game_state", where=for_game(gid, lambda m: m["payload"]["status"] == "active"))
    ans = await c.request("hand_gm", {"gameId": gid, "seat": 2})
    t.eq((ans["payload"].get("code"), ans["payload"].get("message")), ("BAD_MESSAGE", "seat 2 is not held by a human player"),
         "hand_gm to an agent's seat")
    gid = (await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"}))["payload"]["gameId"]
    await c.expect("game_state", where=for_game(gid, lambda m: m["payload"]["status"] == "active"))
    ans = await c.request("hand_gm", {"gameId": gid, "seat": 2})
    t.eq((ans["payload"].get("code"), ans["payload"].get("message")), ("BAD_MESSAGE", "this game has no game master"),
         "hand_gm in a game without a game master")
    t.ok("gameMaster" not in states(c, gid)[-1], "its game_state names no game master")
    for x in (c, w):
        await x.close()


async def second_half(srv, tokens, gid):
    c1, c2, c3 = [await Client.connect(srv, token=tok) for tok in tokens]
    for c in (c1, c2, c3):
        await c.request("resume", {"gameId": gid, "lastSeq": 0}, timeout=10)
        if not states(c, gid):
            await c.expect("game_state", where=for_game(gid))
    s1, s2 = states(c1, gid)[-1], states(c2, gid)[-1]
    t.ok("secret" in s2["state"] and "secret" not in s1["state"] and s2.get("gameMaster") == 2,
         "after the restart seat 2 still gets the omniscient view")
    replayed = [e for m in c3.seen if m["type"] == "replay" for e in m["payload"]["events"]]
    t.eq([e["payload"] for e in replayed if e["type"] == "gm_changed"], [{"from": 1, "to": 2}],
         "the resumed log holds the gm_changed event")
    ans = await c3.request("player_input", {"gameId": gid, "action": {"vote": "b"}})
    t.eq(ans["type"], "game_event", "seat 3 votes")
    await c1.expect("game_state", where=for_game(gid, lambda m: m["payload"]["state"].get("phase") == "judge"))
    ans = await c1.request("player_input", {"gameId": gid, "action": {"judge": "a"}})
    t.eq((ans["payload"].get("code"), ans["payload"].get("message")),
         ("ILLEGAL_MOVE", "only the game master hints or judges"),
         "seat 1, to move in the judge phase, is no longer the game master (ctx.is_gm in validate)")
    await c2.send("player_input", {"gameId": gid, "action": {"judge": "a"}})
    over = await c3.expect("game_over", where=for_game(gid))
    t.eq(over["payload"]["result"], {"winner": 2, "reason": "win"}, "seat 2, the game master now, judges")
    for c in (c1, c2, c3):
        await c.close()


def scenario(label, args, store_args):
    t.label = label
    srv = Server(*args).start()
    try:
        listed = {g["name"]: (g.get("gameMaster"), g.get("commands")) for g in http("GET", srv.url + "/api/games")[2]}
        t.eq(listed, {"council": (True, True), "tictactoe": (None, True)},
             "GET /api/games: Council has a game master; both games take commands")
        run(refusals(srv))
        tokens = [guest(srv) for _ in range(3)]
        gid, seq = run(first_half(srv, tokens))
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        again = Server(*args)
        again.args[again.args.index("--data-dir") + 1] = again.data_dir = srv.data_dir
        srv = again.start()
        t.eq(http("GET", srv.url + f"/api/games/{gid}")[2].get("gameMaster"), 2,
             "the room rebuilt after SIGKILL has seat 2 as its game master")
        run(second_half(srv, tokens, gid))
        srv.stop()
        r = subprocess.run([BIN, "replay", gid, *store_args(srv), "--games", games, "--log-level", "warn"],
                           capture_output=True, text=True, timeout=60)
        t.ok(r.returncode == 0 and "identical" in r.stdout,
             f"monkeytown replay of the game with its handover: {r.stdout.strip() or r.stderr.strip()}")
    finally:
        srv.stop()


try:
    scenario("embedded", ARGS, lambda srv: ["--data-dir", srv.data_dir])
    if not pglib.available():
        tap.diag("PostgreSQL is not available: its half is skipped")
    else:
        db = pglib.Postgres().init().start()
        try:
            db.createdb("monkeytown")
            pg_store = ("--database-url", db.url("monkeytown"), "--sql-dir", os.path.join(ROOT, "sql"))
            scenario("PostgreSQL", (*ARGS, *pg_store), lambda srv: list(pg_store))
            rows = db.query("monkeytown", "SELECT seat, action, source FROM game_inputs WHERE source = 'handover'")
            tap.eq(rows, [["1", '{"gm": 2}', "handover"]], "PostgreSQL holds the handover input")
        finally:
            db.stop()
            db.remove()
finally:
    shutil.rmtree(games, ignore_errors=True)
tap.done()
