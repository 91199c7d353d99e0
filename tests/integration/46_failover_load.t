#!/usr/bin/python3
# Failover under load (--cluster, real redis-server and PostgreSQL on loopback, three instances):
# alpha owns 50 live games: 15 tic-tac-toe and 5 connect four against agents, 10 tic-tac-toe and
# 10 connect four between two humans (the second on beta or gamma, its moves relayed), and 10
# arena rounds (real time) against the brawler. While moves are in flight alpha is killed with
# SIGKILL. beta and gamma take every room over (each to one of them, none aborted), every player
# reconnects to a survivor and resumes with its lastSeq, and every game plays to its end. Each
# player saw each seq once, in order: an event alpha sent but had not written to PostgreSQL may
# be withdrawn by the documented rewind (docs/protocol.md), and what the player holds at the end
# is exactly the stored log. Stored events are contiguous from 1, the arena clocks went on from
# their last durable tick, and `monkeytown replay` finds every game identical. The think times
# keep every game live at the kill on any machine (a slow one only plays slower); every other
# wait is a deadline poll.
import asyncio, os, signal, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import BIN, ROOT, Client, Tap, http, run, wait_for
from cluster import Cluster, available, join, listed, metric
from players import Player, guest, play, resume, stored

if not available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
cl = Cluster("failover-load-secret-0123456789abcdef0123456")
ARGS = ("--guest-rate", "0", "--input-rate", "100000", "--realtime-input-rate", "100000",
        "--seat-hold", "300", "--waiting-rooms-per-address", "1000", "--cpu-apply-ms", "200",
        "--log-level", "warn")
# Before the kill a human moves at most every 0.45 s: a tic-tac-toe game needs three moves of
# one side (connect four four), so none can end within KILL_AFTER of the start of play.
THINK_BEFORE, KILL_AFTER, THINK_AFTER = (0.45, 0.7), 1.2, (0.02, 0.08)
ROUND_MS = 12000



async def against_agent(a, kind, agent):
    p = Player(guest(a), kind, agent)
    c = await Client.connect(a, token=p.token)
    config = {"seats": 2, "round_ms": ROUND_MS} if kind == "arena" else None
    ans = await c.request("create_game", {"game": kind, "vsAgent": agent,
                                          **({"config": config} if config else {})})
    p.game = ans["payload"]["gameId"]
    p.adopt(c.seen)
    return [(p, c)]


async def two_humans(a, other, kind):
    p1, p2 = Player(guest(a), kind), Player(guest(a), kind)
    c1, c2 = await Client.connect(a, token=p1.token), await Client.connect(other, token=p2.token)
    ans = await c1.request("create_game", {"game": kind})
    p1.game = p2.game = ans["payload"]["gameId"]
    j = await join(c2, p1.game)  # asked again while the room's claim is out
    assert j["type"] == "game_state", j
    p1.adopt(c1.seen)
    p2.adopt(c2.seen)
    return [(p1, c1), (p2, c2)]


async def idle(p, c):
    """An arena player that only watches: reads until its round ends or its socket dies."""
    try:
        while p.over is None:
            m = await c.recv(30)
            p.see(m)
            if m.get("gameId") == p.game and m["type"] == "game_state":
                p.clock = m["payload"].get("state", {}).get("t", getattr(p, "clock", None))
    except Exception:
        pass


async def first_half(a, b, g):
    seats = []
    for i in range(15):
        seats += await against_agent(a, "tictactoe", "random")
    for i in range(5):
        seats += await against_agent(a, "connect4", "heuristic")
    for i in range(20):
        seats += await two_humans(a, (b, g)[i % 2], ("tictactoe", "connect4")[i % 2])
    for i in range(10):
        seats += await against_agent(a, "arena", "brawler")
    tasks = [asyncio.create_task(idle(p, c) if p.kind == "arena" else play(p, c, think=THINK_BEFORE))
             for p, c in seats]
    await asyncio.sleep(KILL_AFTER)
    live = len({p.game for p, _ in seats if p.over is None})
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    # The sockets on alpha die now; those on beta and gamma are closed with 1012 once alpha's
    # lease lapses. Either way each player's first half ends.
    await asyncio.wait(tasks, timeout=120)
    codes = {p.game: task.result() for (p, c), task in zip(seats, tasks)
             if task.done() and c.ws.remote_address[1] != a.port}
    return seats, live, codes


async def second_half(seats, b, g):
    async def one(i, p):
        c = await resume((b, g)[i % 2], p)
        if p.kind == "arena":
            before = getattr(p, "clock", None)
            p.clock = None
            end = time.monotonic() + 240  # a cap for a stall, not a speed bound
            while p.over is None and time.monotonic() < end:
                m = await c.recv(30)
                p.see(m)
                if m.get("gameId") == p.game and m["type"] == "game_state" and p.clock is None:
                    p.clock = m["payload"].get("state", {}).get("t")
            p.clocks = (before, p.clock)
        else:
            await play(p, c, time.monotonic() + 240, think=THINK_AFTER)
        await c.close()

    await asyncio.gather(*(one(i, p) for i, (p, _) in enumerate(seats)))


try:
    a, b, g = (cl.instance(n, *ARGS) for n in ("alpha", "beta", "gamma"))
    t.ok(wait_for(lambda: all(listed(s) == ["alpha", "beta", "gamma"] for s in (a, b, g))),
         "three instances")
    seats, live, codes = run(first_half(a, b, g))
    games = sorted({p.game for p, _ in seats})
    t.eq((len(games), live), (50, 50), "50 games, all live when alpha was killed")
    t.ok(len(codes) == 20 and all(c == 1012 for c in codes.values()),
         f"the 20 players on beta and gamma are told to reconnect (1012): {sorted(set(codes.values()))}")
    taken = lambda o: metric(b, f'rooms_taken_over_total{{outcome="{o}"}}') + \
        metric(g, f'rooms_taken_over_total{{outcome="{o}"}}')
    t.ok(wait_for(lambda: taken("rebuilt") + taken("ended") == 50, timeout=120),
         f"beta and gamma take all 50 rooms over ({taken('rebuilt'):.0f} rebuilt, "
         f"{taken('ended'):.0f} ended by the replay)")
    t.eq((taken("aborted"), taken("missing")), (0, 0), "none aborted or missing")
    t.ok(metric(b, "room_takeover_events_total") + metric(g, "room_takeover_events_total") > 50 * 2,
         "the events replayed are counted")
    run(second_half(seats, b, g))
    faults = {p.game[:8]: p.faults for p, _ in seats if p.faults}
    t.eq(faults, {}, "every player saw each seq exactly once, in order (a rewind withdraws what it names)")
    t.eq([p.game[:8] for p, _ in seats if p.over is None], [], "every game played to its end")
    t.eq(sorted({p.over["result"].get("reason", "") for p, _ in seats if p.over} - {"win", "draw"}),
         [], "every game ended by its rules (none aborted)")
    rewound = [p.rewound for p, _ in seats if p.rewound]
    t.diag(f"{len(rewound)} players rewound (sent but not yet in PostgreSQL at the kill): {rewound}")

    bad = []
    for gid in games:
        log = wait_for(lambda: (lambda s: s if s and "game_over" in [v[0] for v in s.values()] else None)(
            stored(b, gid)), timeout=30) or stored(b, gid) or {}
        if sorted(log) != list(range(1, len(log) + 1)):
            bad.append((gid[:8], "not contiguous", sorted(log)[:3], len(log)))
        for p, _ in seats:
            mine = {s: e for s, e in log.items() if s >= min(p.events, default=1)}
            if p.game == gid and mine != p.events:
                diff = sorted(s for s in set(mine) | set(p.events) if mine.get(s) != p.events.get(s))
                bad.append((gid[:8], p.kind, "a player's events differ from the stored ones, at seq",
                            [(s, p.events.get(s), mine.get(s)) for s in diff[:2]], p.rewound))
    t.eq(bad, [], "every game's stored events are contiguous from 1 and are the ones its players hold")
    arena = [p.clocks for p, _ in seats if p.kind == "arena"]
    t.ok(all(x is not None and y is not None and x - 1500 <= y <= x + 1000 for x, y in arena),
         f"the arena clocks went on from the last durable tick (game ms before, after): {arena}")
    failed = []
    for gid in games:
        r = subprocess.run([BIN, "replay", gid, "--database-url", cl.db.url("monkeytown"),
                            "--games", os.path.join(ROOT, "games"), "--log-level", "warn"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0 or "identical" not in r.stdout:
            failed.append((gid[:8], (r.stdout + r.stderr).strip()[:200]))
    t.eq(failed, [], "monkeytown replay finds all 50 games identical")
finally:
    cl.cleanup()
t.done()
