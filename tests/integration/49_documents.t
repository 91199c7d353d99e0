#!/usr/bin/python3
# Per-player documents that outlive a game (docs/scripting.md "Documents", docs/protocol.md):
# the fixture game `sheet` keeps a count of games in its player's document. A player plays it
# twice: the second game sees what the first saved; GET /api/players/:id/documents/:game lists
# both versions (newest first, author and note) and each can be read; saves past the limits
# fail the script call; another player may not read them; they survive a restart, and a game
# rebuilt after kill -9 starts from the same document; `monkeytown replay` of a game that saved
# one finds it identical. The same with PostgreSQL (skipped without it).
import asyncio, os, signal, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import BIN, ROOT, Client, Server, Tap, http, run, wait_for
import pg as pglib

t = Tap()
FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
SQL_DIR = os.path.join(ROOT, "sql")
SECRET = "documents-secret-documents-secret-0123"
COMMON = ("--games", os.path.join(FIX, "games"), "--jwt-secret", SECRET, "--guest-rate", "0",
          "--seat-hold", "120")


def guest(srv):
    st, _, g = http("POST", srv.url + "/api/auth/guest")
    return g["token"], g.get("playerId") or g.get("player", {}).get("id")


def get(srv, path, token=None):
    return http("GET", srv.url + path, headers={"Authorization": f"Bearer {token}"} if token else {})


async def game_events(c, gid, until):
    """Reads game_events of gid until until(events) holds; returns them."""
    got = []
    while not until(got):
        m = await c.recv(10)
        if m.get("gameId") == gid and m["type"] == "game_event":
            got.append(m["payload"]["event"])
        if m.get("gameId") == gid and m["type"] == "game_over":
            got.append({"kind": "over"})
    return got


async def play_once(srv, token, action, peek=False):
    """One game of sheet: optionally a peek, then action. Returns (game id, events seen)."""
    c = await Client.connect(srv, token=token)
    gid = (await c.request("create_game", {"game": "sheet"}))["payload"]["gameId"]
    await c.expect("game_state", where=lambda m: m["payload"].get("status") == "active")
    events = []
    if peek:
        await c.send("player_input", {"gameId": gid, "action": {"op": "peek"}})
        events += await game_events(c, gid, lambda e: any(x["kind"] == "sheet" for x in e))
    await c.send("player_input", {"gameId": gid, "action": action})
    events += await game_events(c, gid, lambda e: any(x["kind"] == "over" for x in e))
    await c.close()
    return gid, events


def replay(gid, store_args):
    r = subprocess.run([BIN, "replay", gid, *store_args, "--lua-dir", os.path.join(ROOT, "lua"),
                        "--log-level", "warn"], capture_output=True, text=True, timeout=60)
    return r.returncode == 0 and "identical" in r.stdout, r.stdout + r.stderr


def restarted(srv, *args):
    again = Server(*args)
    again.data_dir = srv.data_dir
    again.args[again.args.index("--data-dir") + 1] = srv.data_dir
    return again.start()


def scenario(label, args, store_args):
    srv = Server(*args).start()
    try:
        token, pid = guest(srv)
        _, _, me = get(srv, "/api/me", token)
        pid = pid or me.get("id") or me.get("playerId")
        base = f"/api/players/{pid}/documents/sheet"

        st, _, body = get(srv, base, token)
        t.eq((st, body), (200, []), f"{label}: no versions before the first game")

        gid1, ev1 = run(play_once(srv, token, {"op": "play", "name": "Ada"}, peek=True))
        t.eq(ev1[0], {"kind": "sheet", "games": 0, "name": "nobody"}, f"{label}: the first game starts without a document")
        t.eq(ev1[1], {"kind": "saved", "games": 1, "saved": True}, f"{label}: ctx.doc sees the save in the same call")
        gid2, ev2 = run(play_once(srv, token, {"op": "play", "edit": True}, peek=True))
        t.eq(ev2[0], {"kind": "sheet", "games": 1, "name": "Ada"}, f"{label}: the second game sees the first game's document")

        st, _, body = get(srv, base, token)
        t.eq(st, 200, f"{label}: the list answers 200")
        t.eq([(v["version"], v["author"], v["note"], v["gameId"]) for v in body],
             [(2, "player", "game 2", gid2), (1, "rules", "game 1", gid1)],
             f"{label}: both versions, newest first, with author, note and game")
        t.eq(body[0].get("authorId"), pid, f"{label}: a player's edit names its author")
        t.ok(all(isinstance(v.get("createdAt"), (int, float)) for v in body), f"{label}: with createdAt")
        st, _, v1 = get(srv, base + "/1", token)
        t.eq((st, v1.get("doc"), v1.get("version")), (200, {"games": 1, "name": "Ada"}, 1), f"{label}: version 1 can be read")
        st, _, v2 = get(srv, base + "/2", token)
        t.eq(v2.get("doc"), {"games": 2, "name": "Ada"}, f"{label}: version 2 can be read")
        for path in ("/3", "/0", "/x"):
            st, _, e = get(srv, base + path, token)
            t.eq((st, e.get("error", {}).get("code")), (404, "NOT_FOUND"), f"{label}: version {path[1:]} is 404")

        other, _ = guest(srv)
        st, _, e = get(srv, base, other)
        t.eq((st, e.get("error", {}).get("code")), (403, "FORBIDDEN"), f"{label}: another player may not list them")
        st, _, e = get(srv, base + "/1", other)
        t.eq(st, 403, f"{label}: nor read one")
        st, _, e = get(srv, base)
        t.eq(st, 401, f"{label}: without a token: 401")

        # Limits: the call fails, nothing is saved.
        async def refused():
            c = await Client.connect(srv, token=token)
            gid = (await c.request("create_game", {"game": "sheet"}))["payload"]["gameId"]
            await c.expect("game_state", where=lambda m: m["payload"].get("status") == "active")
            out = []
            for op in ("big", "longnote"):
                ans = await c.request("player_input", {"gameId": gid, "action": {"op": op}})
                out.append((ans["type"], ans["payload"].get("code")))
            await c.request("leave_game", {"gameId": gid})
            await c.close()
            return out
        t.eq(run(refused()), [("error", "INTERNAL")] * 2, f"{label}: an oversize document and a long note fail the call")
        logs = srv.logs()
        t.ok("more than 65536" in logs and "note longer than 200 bytes" in logs,
             f"{label}: with the limit in the script failure's message")
        st, _, body = get(srv, base, token)
        t.eq(len(body), 2, f"{label}: nothing saved by the refused calls")

        ok, out = replay(gid2, store_args(srv))
        t.ok(ok, f"{label}: monkeytown replay of a game that saved a document finds it identical", out)

        # A clean restart keeps them; a game rebuilt after kill -9 starts from the same document.
        srv.stop()
        srv = restarted(srv, *args)
        st, _, body = get(srv, base, token)
        t.eq([v["version"] for v in body], [2, 1], f"{label}: the versions survive a restart")

        async def crash_half():
            c = await Client.connect(srv, token=token)
            gid = (await c.request("create_game", {"game": "sheet"}))["payload"]["gameId"]
            await c.expect("game_state", where=lambda m: m["payload"].get("status") == "active")
            await c.send("player_input", {"gameId": gid, "action": {"op": "peek"}})
            ev = await game_events(c, gid, lambda e: any(x["kind"] == "sheet" for x in e))
            await c.close()
            return gid, ev
        gid3, ev3 = run(crash_half())
        t.eq(ev3[0]["games"], 2, f"{label}: a third game starts from version 2")
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        srv = restarted(srv, *args)

        async def second_half():
            c = await Client.connect(srv, token=token)
            ans = await c.request("resume", {"gameId": gid3, "lastSeq": 0}, timeout=10)
            await c.send("player_input", {"gameId": gid3, "action": {"op": "play"}})
            ev = await game_events(c, gid3, lambda e: any(x["kind"] == "over" for x in e))
            await c.close()
            return ans["type"], ev
        kind, ev = run(second_half())
        t.eq((kind, ev[0]), ("replay", {"kind": "saved", "games": 3, "saved": True}),
             f"{label}: the rebuilt game goes on from the document it started with")
        st, _, body = get(srv, base, token)
        t.eq([(v["version"], v["gameId"]) for v in body][:1], [(3, gid3)], f"{label}: its save is version 3")
        ok, out = replay(gid3, store_args(srv))
        t.ok(ok, f"{label}: the rebuilt game replays identical", out)
        errors = [l for l in srv.log_lines() if l.get("level") == "error"]
        t.eq(errors, [], f"{label}: no error in the log after the restart")
    finally:
        srv.stop()


scenario("embedded", COMMON, lambda srv: ["--data-dir", srv.data_dir])

if not pglib.available():
    t.diag("PostgreSQL is not available: its half is skipped")
else:
    db = pglib.Postgres().init().start()
    try:
        db.createdb("monkeytown")
        pg_store = ("--database-url", db.url("monkeytown"), "--sql-dir", SQL_DIR)
        scenario("PostgreSQL", (*COMMON, *pg_store), lambda srv: list(pg_store))
        rows = db.query("monkeytown", "SELECT version, author FROM player_documents ORDER BY version")
        t.eq(rows, [["1", "rules"], ["2", "player"], ["3", "rules"]], "PostgreSQL holds the three versions")
    finally:
        db.stop()
        db.remove()

t.done()
