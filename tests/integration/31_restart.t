#!/usr/bin/python3
# A restart loses no game in progress, with either store: 50 players in live games against
# agents (tic-tac-toe and connect four), the server killed with SIGKILL in the middle of play
# and started again on the same store. Every player reconnects and resumes with its lastSeq:
# it gets exactly the events it missed (none twice, no gap, the same seq numbers): with either
# store, what a player was sent was on disk first (the embedded log, or PostgreSQL's journal).
# Every game then plays to its end; every game's stored events are
# contiguous from 1 and `monkeytown replay` finds it identical. Also: a turn clock whose
# deadline passed while the server was down times out at once after the restart; a game whose
# version is gone from the store's files is closed as aborted with the reason logged; and when
# the journal itself is lost (deleted here after a crash during a PostgreSQL outage), a player
# ahead of the rebuilt room gets the documented rewind and the game still plays to its end.
import asyncio, json, os, signal, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import BIN, ROOT, Client, Server, Tap, http, run
from players import Player, play
import pg as pglib

t = Tap()
SECRET = "restart-secret-restart-secret-0123456"
GAMES = 50
SQL_DIR = os.path.join(ROOT, "sql")


async def first_half(srv):
    players = []
    for i in range(GAMES):
        st, _, g = http("POST", srv.url + "/api/auth/guest")
        kind, agent = (("tictactoe", "random"), ("connect4", "heuristic"))[i % 2]
        players.append(Player(g["token"], kind, agent))
    clients = []
    for p in players:
        c = await Client.connect(srv, token=p.token)
        created = await c.request("create_game", {"game": p.kind, "vsAgent": p.agent})
        p.game = created["payload"]["gameId"]
        clients.append(c)
    # Play until the kill: SIGKILL lands while moves are in flight.
    tasks = [asyncio.create_task(play(p, c, think=(0.05, 0.6))) for p, c in zip(players, clients)]
    await asyncio.sleep(1.2)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    await asyncio.wait(tasks, timeout=10)
    return players


async def second_half(srv, players, rewinds_allowed):
    async def one(p):
        c = await Client.connect(srv, token=p.token)
        ans = await c.request("resume", {"gameId": p.game, "lastSeq": p.last_seq}, timeout=10)
        if ans["type"] == "error":
            p.faults.append(f"resume answered {ans['payload']}")
            return
        p.see(ans)
        await play(p, c, time.monotonic() + 240)  # a cap for a stall, not a speed bound
        await c.close()

    await asyncio.gather(*(one(p) for p in players))
    faults = {p.game[:8]: p.faults for p in players if p.faults}
    t.eq(faults, {}, "every player got each seq exactly once, in order, across the restart")
    t.eq([p.game[:8] for p in players if p.over is None], [], f"all {len(players)} games finished")
    rewound = [p.rewound for p in players if p.rewound]
    if rewinds_allowed:
        t.diag(f"{len(rewound)} players were rewound (sent but not committed before the kill): {rewound}")
    else:
        t.eq(rewound, [], "no rewind: what a player was sent had reached the log before the kill")
    return players


def check_stored(srv, players, replay_args):
    bad = []
    for p in players:
        st, _, log = http("GET", f"{srv.url}/api/games/{p.game}/events")
        seqs = [e["seq"] for e in log.get("events", []) if "seq" in e]
        if st != 200 or seqs != list(range(1, len(seqs) + 1)) or len(seqs) != p.last_seq:
            bad.append((p.game[:8], st, len(seqs), p.last_seq))
            continue
        stored = {e["seq"]: (e["type"], e["payload"]) for e in log["events"] if "seq" in e}
        if stored != p.events:
            bad.append((p.game[:8], "the stored events differ from those the player saw"))
    t.eq(bad, [], "every game's stored events are contiguous from 1 and are the ones its player saw")
    failed = []
    for p in players[:: max(1, GAMES // 10)]:
        r = subprocess.run([BIN, "replay", p.game, *replay_args, "--log-level", "warn"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or "identical" not in r.stdout:
            failed.append(r.stdout + r.stderr)
    t.eq(failed, [], "monkeytown replay finds the games played across the restart identical")


def restarted(srv, *args):
    again = Server(*args)
    again.data_dir = srv.data_dir
    again.args[again.args.index("--data-dir") + 1] = srv.data_dir
    return again.start()


def metric(srv, name):
    _, _, text = http("GET", srv.url + "/metrics")
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name))


COMMON = ("--jwt-secret", SECRET, "--guest-rate", "0", "--input-rate", "100000", "--seat-hold", "120")


# ---- 1. the embedded store ----

srv = Server(*COMMON).start()
players = run(first_half(srv))
played = sum(len(p.events) for p in players)
t.ok(played > GAMES * 4, f"the kill came during play ({played} events received before it)")
srv2 = restarted(srv, *COMMON)
back = metric(srv2, 'rooms_restored_total{outcome="rebuilt"}') + metric(srv2, 'rooms_restored_total{outcome="ended"}')
open_at_kill = sum(1 for p in players if p.over is None)
t.ok(open_at_kill > 0 and open_at_kill <= back <= GAMES and metric(srv2, "rooms_restored_total") == back,
     f"every game not over at the kill came back ({open_at_kill} open for its player, {back:.0f} restored, none aborted)")
run(second_half(srv2, players, rewinds_allowed=False))
check_stored(srv2, players, ["--data-dir", srv.data_dir])
srv2.stop()


# ---- 2. a turn clock that ran out while the server was down ----

async def clock_game(srv):
    st, _, g = http("POST", srv.url + "/api/auth/guest")
    c = await Client.connect(srv, token=g["token"])
    gid = (await c.request("create_game", {"game": "timed", "vsAgent": "random"}))["payload"]["gameId"]
    state = await c.expect("game_state", where=lambda m: m["payload"].get("toMove") == m["payload"].get("you"))
    srv.proc.send_signal(signal.SIGKILL)  # before the 1.5 s turn clock runs out
    srv.proc.wait()
    return g, gid, state


# "timed": tic-tac-toe with a 1.5 s turn clock and the forfeit policy, made from the real one.
games_dir = tempfile.mkdtemp(prefix="mt-timed-")
os.makedirs(os.path.join(games_dir, "timed"))
with open(os.path.join(ROOT, "games", "tictactoe", "game.lua")) as f:
    source = f.read()
timed = source.replace('name = "tictactoe"', 'name = "timed"').replace(
    "turn_time_ms = 30000,", 'turn_time_ms = 1500,\n  on_timeout = "forfeit",')
with open(os.path.join(games_dir, "timed", "game.lua"), "w") as f:
    f.write(timed)
if timed != source:
    clock_args = (*COMMON, "--games", games_dir)
    srv = Server(*clock_args).start()
    g, gid, state = run(clock_game(srv))
    deadline = state["payload"].get("deadline")
    t.ok(deadline is not None, "the timed game's turn has a deadline")
    t.eq([l.get("msg") for l in srv.log_lines() if l.get("msg") == "turn clock expired"], [],
         "the server was killed before the deadline")
    time.sleep(max(0.0, deadline / 1000 - time.time()) + 0.3)
    srv2 = restarted(srv, *clock_args)

    async def after(srv):
        c = await Client.connect(srv, token=g["token"])
        ans = await c.request("resume", {"gameId": gid, "lastSeq": state["seq"]})
        events = ans["payload"].get("events", [])
        if not any(e["type"] == "game_over" for e in events):
            over = await c.expect("game_over", where=lambda m: m["gameId"] == gid)
            events.append({"type": "game_over", "payload": over["payload"]})
        await c.close()
        kinds = [e["payload"].get("event", {}).get("kind") for e in events if e["type"] == "game_event"]
        return kinds, events[-1]["payload"]["result"]

    kinds, result = run(after(srv2))
    t.eq(kinds, ["timeout"], "the deadline that passed during the downtime timed the turn out at once")
    t.eq(result.get("reason"), "timeout", "and the game ended by the timeout policy (forfeit)")
    t.ok(any(l.get("msg") == "turn clock expired" and l.get("game") == gid for l in srv2.log_lines()),
         "by the restarted server's turn clock")
    srv2.stop()
else:
    t.ok(False, "games/tictactoe/game.lua no longer has the lines the timed copy changes")


# ---- 2b. a real-time arena round ----

async def arena_first(srv):
    st, _, g = http("POST", srv.url + "/api/auth/guest")
    p = Player(g["token"], "arena", "brawler")
    c = await Client.connect(srv, token=p.token)
    created = await c.request("create_game", {"game": "arena", "vsAgent": "brawler",
                                              "config": {"seats": 3, "round_ms": 5000}})
    p.game = created["payload"]["gameId"]
    tick0 = None
    stop = time.monotonic() + 1.5
    while time.monotonic() < stop:
        m = await c.recv(10)
        p.see(m)
        if m.get("gameId") == p.game and m["type"] == "game_state" and m["payload"]["status"] == "active":
            tick0 = m["payload"]["state"].get("t", tick0)
    srv.proc.send_signal(signal.SIGKILL)  # here: closing the socket first would take a while
    srv.proc.wait()
    return p, tick0


async def arena_second(srv, p):
    c = await Client.connect(srv, token=p.token)
    ans = await c.request("resume", {"gameId": p.game, "lastSeq": p.last_seq})
    p.see(ans)
    first_t = None
    while p.over is None:
        m = await c.recv(10)
        p.see(m)
        if m.get("gameId") == p.game and m["type"] == "game_state" and first_t is None:
            first_t = m["payload"]["state"].get("t")
    await c.close()
    return first_t


ARENA = (*COMMON, "--realtime-input-rate", "100000", "--cpu-apply-ms", "200")
srv = Server(*ARENA).start()
p, t_before = run(arena_first(srv))
srv2 = restarted(srv, *ARENA)
t_after = run(arena_second(srv2, p))
t.eq(p.faults, [], "the arena player got each seq exactly once across the restart")
t.ok(p.over is not None and p.over["result"].get("reason") in ("win", "draw"),
     f"the round ran to its end after the restart: {p.over and p.over['result']}")
t.ok(t_before is not None and t_after is not None and t_before - 1000 <= t_after <= t_before + 200,
     f"its clock went on from the last durable tick (game time {t_before} ms before the kill, {t_after} after)")
check_stored(srv2, [p], ["--data-dir", srv.data_dir])
srv2.stop()


# ---- 3. a game that cannot be rebuilt is closed as aborted, with the reason logged ----

srv = Server(*COMMON).start()
st, _, g = http("POST", srv.url + "/api/auth/guest")


async def one_move(srv):
    c = await Client.connect(srv, token=g["token"])
    gid = (await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"}))["payload"]["gameId"]
    mine = lambda m: m.get("gameId") == gid and m["payload"].get("toMove") == m["payload"].get("you")
    first = await c.expect("game_state", where=mine)
    await c.send("player_input", {"gameId": gid, "action": first["payload"]["legal"][0]})
    await c.expect("game_state", where=lambda m: mine(m) and m["seq"] > first["seq"])
    await c.close()
    return gid


gid = run(one_move(srv))
srv.proc.send_signal(signal.SIGKILL)
srv.proc.wait()
# Tamper with the first move's stored event: the replay of the moves no longer matches the log.
path = os.path.join(srv.data_dir, "monkeytown.log")
import zlib
out, done = [], False
for line in open(path, "rb").read().split(b"\n"):
    if not done and line and gid.encode() in line and b'"t":"game_events"' in line and b'"kind":"move"' in line:
        rec = json.loads(line[9:])
        rec["r"]["payload"]["event"]["cell"] = 10 - rec["r"]["payload"]["event"]["cell"] + 0.5
        body = json.dumps(rec, separators=(",", ":")).encode()
        line = b"%08x " % (zlib.crc32(body) & 0xffffffff) + body
        done = True
    out.append(line)
open(path, "wb").write(b"\n".join(out))
t.ok(done, "the first move's event was altered in the log")
srv2 = restarted(srv, *COMMON)
st, _, summary = http("GET", f"{srv2.url}/api/games/{gid}")
t.eq((st, summary.get("status")), (200, "aborted"),
     "a game whose replay no longer matches its log is closed as aborted, not left active")
t.ok(any(l.get("msg") == "game could not be rebuilt: closed as aborted" and l.get("game") == gid
         for l in srv2.log_lines()), "with the reason in the log")
srv2.stop()


# ---- 4. PostgreSQL ----

if pglib.available():
    db = pglib.Postgres().init().start()
    try:
        db.createdb("monkeytown")
        pg_args = (*COMMON, "--database-url", db.url("monkeytown"), "--sql-dir", SQL_DIR)
        srv = Server(*pg_args).start()
        players = run(first_half(srv))
        srv2 = restarted(srv, *pg_args)  # the same data dir: its journal
        run(second_half(srv2, players, rewinds_allowed=False))
        check_stored(srv2, players, ["--database-url", db.url("monkeytown"), "--sql-dir", SQL_DIR])
        left = db.query("monkeytown", "SELECT count(*) FROM games WHERE status IN ('waiting', 'active')")
        t.eq(left, [["0"]], "no game is left active in PostgreSQL")
        srv2.stop()

        # The journal lost too: the rewind.
        srv = Server(*pg_args).start()

        async def ahead(srv):
            st, _, g = http("POST", srv.url + "/api/auth/guest")
            p = Player(g["token"], "connect4", "random")
            c = await Client.connect(srv, token=p.token)
            p.game = (await c.request("create_game", {"game": "connect4", "vsAgent": "random"}))["payload"]["gameId"]
            moves = 0
            while True:
                m = await c.recv(10)
                p.see(m)
                pl = m.get("payload", {})
                if m["type"] == "game_state" and m.get("gameId") == p.game and pl.get("toMove") == pl.get("you"):
                    if moves == 2:  # the reply to the move made during the freeze has come
                        break
                    if moves == 1:
                        await asyncio.sleep(0.3)  # everything so far is in PostgreSQL
                        db.stop()  # what follows stays in the server's queue (and journal)
                    await c.send("player_input", {"gameId": p.game, "action": pl["legal"][moves]})
                    moves += 1
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            return p

        p = run(ahead(srv))
        for f in os.listdir(srv.data_dir):
            if f.startswith("pg-journal."):
                os.unlink(os.path.join(srv.data_dir, f))
        db.start()
        srv2 = restarted(srv, *pg_args)
        seen_before = p.last_seq
        run(second_half(srv2, [p], rewinds_allowed=True))
        t.ok(p.rewound is not None and p.rewound[0] < seen_before,
             f"without the journal the player was ahead of the rebuilt room and was rewound ({p.rewound})")
        srv2.stop()
    finally:
        db.remove()
else:
    t.diag("PostgreSQL 15 is not available here: its half is skipped")
t.done()
