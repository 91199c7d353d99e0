#!/usr/bin/python3
# Nothing a player was told is lost: PostgreSQL is frozen (SIGSTOP) while 30 players keep
# playing tic-tac-toe against agents, games finish during the freeze (their players get
# game_over), and the server is killed with SIGKILL before PostgreSQL comes back. The rows were
# in the local journal (pg-journal.* under --data-dir) before any of those messages left:
# after PostgreSQL's return and a restart, every game whose game_over was sent is stored as
# completed with every event its players saw, each once. /health/ready and /metrics show the
# journal's backlog during the freeze. Also: the embedded default keeps no journal.
import asyncio, json, os, random, signal, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Client, Server, Tap, http, run
import pg as pglib
import websockets

t = Tap()
SQL_DIR = os.path.join(ROOT, "sql")
PLAYERS = 30


def ready(srv):
    st, _, body = http("GET", srv.url + "/health/ready")
    return st, (body.get("checks", {}).get("store", {}) if isinstance(body, dict) else {})


def metric(srv, name):
    _, _, text = http("GET", srv.url + "/metrics")
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name + " "))


async def player(srv, token, finished, stop_at):
    """Plays games back to back until stop_at; finished gets {gameId: [(seq, type, payload)]}
    for every game whose game_over arrived."""
    try:
        c = await Client.connect(srv, token=token)
        while time.monotonic() < stop_at:
            gid = (await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"}))["payload"]["gameId"]
            seen = []
            while True:
                m = await c.recv(30)
                if m.get("gameId") != gid:
                    continue
                if m["type"] in ("game_event", "player_joined", "player_left", "game_over"):
                    seen.append((m["seq"], m["type"], m["payload"]))
                if m["type"] == "game_over":
                    finished[gid] = seen
                    break
                p = m.get("payload", {})
                if m["type"] == "game_state" and p.get("status") == "active" and p.get("toMove") == p.get("you"):
                    await asyncio.sleep(random.uniform(0.02, 0.1))
                    await c.send("player_input", {"gameId": gid, "action": random.choice(p["legal"])})
    except (websockets.ConnectionClosed, ConnectionError, asyncio.TimeoutError, OSError):
        pass


async def play_through_freeze(srv, db, tokens):
    finished_before, finished_during = {}, {}
    t0 = time.monotonic()
    tasks = [asyncio.create_task(player(srv, tok, finished_before, t0 + 1.5)) for tok in tokens]
    await asyncio.wait(tasks, timeout=30)
    db.freeze()
    frozen_at = time.monotonic()
    tasks = [asyncio.create_task(player(srv, tok, finished_during, frozen_at + 4)) for tok in tokens]
    await asyncio.sleep(3)
    st, store = ready(srv)
    journal = metric(srv, "store_journal_bytes")
    srv.proc.send_signal(signal.SIGKILL)  # mid-play, PostgreSQL still frozen
    srv.proc.wait()
    await asyncio.wait(tasks, timeout=30)
    return finished_before, finished_during, store, journal


db = pglib.Postgres().init().start()
try:
    db.createdb("monkeytown")
    args = ("--database-url", db.url("monkeytown"), "--sql-dir", SQL_DIR, "--jwt-secret",
            "freeze-secret-freeze-secret-freeze-0123", "--guest-rate", "0", "--input-rate", "100000")
    srv = Server(*args).start()
    tokens = [http("POST", srv.url + "/api/auth/guest")[2]["token"] for _ in range(PLAYERS)]
    before, during, store, journal = run(play_through_freeze(srv, db, tokens))
    t.ok(len(during) >= 10, f"games finished during the freeze, game_over sent ({len(during)}; {len(before)} before it)")
    t.ok(store.get("queued", 0) > 0 and store.get("journalBytes", 0) > 0,
         f"/health/ready showed the backlog during the freeze (queued {store.get('queued')}, journal {store.get('journalBytes')} bytes)")
    t.ok(journal > 0, f"and /metrics store_journal_bytes ({journal:.0f})")
    leftover = [f for f in os.listdir(srv.data_dir) if f.startswith("pg-journal.")]
    t.ok(leftover and sum(os.path.getsize(os.path.join(srv.data_dir, f)) for f in leftover) > 0,
         f"the killed server left its journal on disk ({leftover})")
    db.thaw()

    srv2 = Server(*args)
    srv2.data_dir = srv.data_dir
    srv2.args[srv2.args.index("--data-dir") + 1] = srv.data_dir
    srv2.start()
    deadline = time.time() + 60
    while time.time() < deadline and not (ready(srv2)[0] == 200 and ready(srv2)[1].get("queued") == 0):
        time.sleep(0.2)
    st, store2 = ready(srv2)
    t.eq((st, store2.get("queued")), (200, 0), "after the restart the journal drained into PostgreSQL")
    t.ok(any(l.get("msg") == "store: rows the last process had not written to PostgreSQL, queued again"
             for l in srv2.log_lines()), "the rows were read back from the journal")

    lost, differ = [], []
    for gid, seen in {**before, **during}.items():
        rows = db.query("monkeytown", f"SELECT status FROM games WHERE id = '{gid}'")
        events = db.query("monkeytown", f"SELECT seq, type, payload FROM game_events WHERE game_id = '{gid}' ORDER BY seq")
        if rows != [["completed"]]:
            lost.append((gid[:8], rows))
            continue
        stored = [(int(s), ty, json.loads(p)) for s, ty, p in events]
        if [s for s, _, _ in stored] != list(range(1, len(stored) + 1)):
            differ.append((gid[:8], "seqs", [s for s, _, _ in stored]))
        elif any(dict((s, (ty, p)) for s, ty, p in stored).get(s) != (ty, p) for s, ty, p in seen) or \
                stored[-1][0] != seen[-1][0]:
            differ.append((gid[:8], "events differ"))
    total = len(before) + len(during)
    t.eq(lost, [], f"every one of the {total} games whose game_over was sent is stored as completed")
    t.eq(differ, [], "with exactly the events its player saw, each once, contiguous from 1")
    dup = db.query("monkeytown", "SELECT count(*) FROM (SELECT game_id, seq FROM game_events GROUP BY 1, 2 HAVING count(*) > 1) d")
    t.eq(dup, [["0"]], "no event stored twice")
    srv2.stop()
    t.eq([f for f in os.listdir(srv.data_dir) if f.startswith("pg-journal.")], [],
         "a clean stop with everything written leaves no journal")
finally:
    db.thaw()
    db.remove()

srv = Server().start()
run(player(srv, http("POST", srv.url + "/api/auth/guest")[2]["token"], {}, time.monotonic() + 0.5))
t.eq([f for f in os.listdir(srv.data_dir) if f.startswith("pg-journal.")], [], "the embedded store keeps no journal")
srv.stop()
t.done()
