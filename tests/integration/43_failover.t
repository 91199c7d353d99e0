#!/usr/bin/python3
# Failover (--cluster, real redis-server and PostgreSQL on loopback): the instance that owns a
# game is killed with SIGKILL mid-game; a live instance takes the room over (one winner, fence
# raised), rebuilds it from PostgreSQL, the player whose socket was on another instance is told
# to reconnect (close 1012), both players resume on surviving instances and play to the end; the
# stored log is contiguous from 1 and `monkeytown replay` finds the game identical. Every wait
# polls with a generous deadline: nothing depends on speed.
import asyncio, os, signal, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import BIN, ROOT, Client, Tap, http, run, wait_for
from cluster import Cluster, available, join, listed, metric
import websockets

if not available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
cl = Cluster("failover-secret-0123456789abcdef0123456789ab")
db, servers, instance = cl.db, cl.servers, cl.instance


class Seat:
    """One player's view of the log: each log event's seq must follow the last one it knew (a
    game_state or a replay tells it where the log stands)."""

    def __init__(self):
        self.last = 0

    def see(self, m, faults):
        if m["type"] in ("game_event", "player_joined", "player_left", "chat_message", "game_over"):
            if self.last == 0:
                pass  # the first seq this socket sees: a joiner starts mid-log
            elif m["seq"] <= self.last:
                faults.append(f"seq {m['seq']} again (had {self.last})")
            elif m["seq"] != self.last + 1:
                faults.append(f"seq {m['seq']} after {self.last}")
            self.last = max(self.last, m["seq"])
        elif m["type"] == "replay":
            for e in m["payload"]["events"]:
                self.see({"seq": e["seq"], "type": e["type"]}, faults)
        elif m["type"] == "game_state" and "seq" in m:
            self.last = max(self.last, m["seq"])


async def moves(c, gid, seat, faults, count=None):
    """Plays c's turns until game_over (or count moves); returns the game_over or None."""
    made = 0
    states = [m for m in c.seen if m.get("gameId") == gid and m["type"] == "game_state"]
    p = states[-1]["payload"] if states else {}
    if p.get("status") == "active" and p.get("toMove") == p.get("you") and count != 0:
        await c.send("player_input", {"gameId": gid, "action": p["legal"][0]})
        made += 1
    while True:
        if count is not None and made >= count:
            return None
        m = await c.recv(20)
        if m.get("gameId") != gid:
            continue
        seat.see(m, faults)
        if m["type"] == "game_over":
            return m
        p = m.get("payload", {})
        if m["type"] == "game_state" and p.get("status") == "active" and p.get("toMove") == p.get("you"):
            await c.send("player_input", {"gameId": gid, "action": p["legal"][0]})
            made += 1


async def resume(srv, token, gid, seat, faults):
    c = await Client.connect(srv, token=token)
    for _ in range(150):
        ans = await c.request("resume", {"gameId": gid, "lastSeq": seat.last}, timeout=10)
        if ans["type"] != "error":
            seat.see(ans, faults)
            return c, ans
        if ans["payload"]["code"] not in ("SERVER_BUSY", "NOT_FOUND"):
            return c, ans
        await asyncio.sleep(0.2)
    return c, ans


async def scenario(a, b, g):
    p1, p2 = await Client.connect(a), await Client.connect(b)
    tok1, tok2 = p1.welcome["payload"]["token"], p2.welcome["payload"]["token"]
    gid = (await p1.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    j = await join(p2, gid)  # the claim is asynchronous
    s1, s2, faults = Seat(), Seat(), []
    for c, s in ((p1, s1), (p2, s2)):
        for m in c.seen:
            if m.get("gameId") == gid:
                s.see(m, faults)
    # Two moves each; alpha's writes reach PostgreSQL before the kill (its queue is empty).
    await asyncio.gather(moves(p1, gid, s1, faults, 2), moves(p2, gid, s2, faults, 2))
    t.ok(wait_for(lambda: metric(a, "store_queue_rows") == 0, timeout=30),
         "four moves played and written")
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    code = None
    for c, s in ((p1, s1), (p2, s2)):  # what was sent before the kill still counts
        try:
            while True:
                m = await c.recv(30)
                if m.get("gameId") == gid:
                    s.see(m, faults)
        except websockets.ConnectionClosed as e:
            if c is p2:
                code = e.rcvd.code if e.rcvd else None
    t.eq(code, 1012, "the player on beta is told to reconnect (1012 service restart)")
    t.ok(wait_for(lambda: metric(b, 'rooms_taken_over_total{outcome="rebuilt"}') +
                  metric(g, 'rooms_taken_over_total{outcome="rebuilt"}') == 1, timeout=30),
         "exactly one live instance takes the room over and rebuilds it")
    c1, r1 = await resume(g, tok1, gid, s1, faults)
    c2, r2 = await resume(b, tok2, gid, s2, faults)
    t.ok(r1["type"] in ("replay", "game_state") and r2["type"] in ("replay", "game_state"),
         f"both players resume on surviving instances ({r1['type']}, {r2['type']})")
    o1, o2 = await asyncio.gather(moves(c1, gid, s1, faults), moves(c2, gid, s2, faults))
    t.ok(o1 and o2 and o1["payload"]["result"] == o2["payload"]["result"],
         f"the game plays to its end: {o1 and o1['payload']['result']}")
    t.eq(faults, [], "each player saw every seq exactly once, in order")
    await c1.close()
    await c2.close()
    return gid, s1.last


async def closed_with(c, gid, seat, faults):
    """Reads c until its socket closes; returns the close code."""
    try:
        while True:
            m = await c.recv(30)
            if m.get("gameId") == gid:
                seat.see(m, faults)
    except websockets.ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else None


async def stale_owner(b, g):
    """beta owns a game and is paused (SIGSTOP) past its lease: gamma takes the room over.
    Woken (SIGCONT), beta finds its lease had lapsed, holds its rooms' output, claims each room
    again, drops the one gamma took and tells its socket to reconnect: the players resume on
    gamma and finish, and nobody ever sees a second history."""
    p3, p4 = await Client.connect(b), await Client.connect(g)
    tok3, tok4 = p3.welcome["payload"]["token"], p4.welcome["payload"]["token"]
    gid = (await p3.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    j = await join(p4, gid)  # the claim is asynchronous
    s3, s4, faults = Seat(), Seat(), []
    for c, s in ((p3, s3), (p4, s4)):
        for m in c.seen:
            if m.get("gameId") == gid:
                s.see(m, faults)
    await asyncio.gather(moves(p3, gid, s3, faults, 1), moves(p4, gid, s4, faults, 1))
    t.ok(wait_for(lambda: metric(b, "store_queue_rows") == 0, timeout=30), "two moves written")
    b.proc.send_signal(signal.SIGSTOP)
    code4 = await closed_with(p4, gid, s4, faults)
    t.eq(code4, 1012, "beta unlisted: gamma tells its socket in beta's room to reconnect")
    t.ok(wait_for(lambda: metric(g, 'rooms_taken_over_total{outcome="rebuilt"}') >= 1, timeout=30),
         "gamma takes the paused owner's room over")
    b.proc.send_signal(signal.SIGCONT)
    code3 = await closed_with(p3, gid, s3, faults)
    t.eq(code3, 1012, "woken, beta drops the room it lost and tells its socket to reconnect")
    dropped = lambda: [l for l in b.log_lines() if l.get("msg", "").startswith("failover: room taken over while")
                       and l.get("game") == gid]
    t.ok(wait_for(lambda: dropped() and metric(b, 'rooms_taken_over_total{outcome="disowned"}') >= 1,
                  timeout=30), "beta logs and counts the room it gave up")
    c3, r3 = await resume(g, tok3, gid, s3, faults)
    c4, r4 = await resume(g, tok4, gid, s4, faults)
    o3, o4 = await asyncio.gather(moves(c3, gid, s3, faults), moves(c4, gid, s4, faults))
    t.ok(o3 and o4 and o3["payload"]["result"] == o4["payload"]["result"],
         f"the game plays to its end on gamma: {o3 and o3['payload']['result']}")
    t.eq(faults, [], "no seq seen twice or skipped: one history")
    await c3.close()
    await c4.close()


try:
    a, b, g = instance("alpha"), instance("beta"), instance("gamma")
    t.ok(wait_for(lambda: all(listed(s) == ["alpha", "beta", "gamma"] for s in (a, b, g))),
         "three instances")
    t.ok(wait_for(lambda: all(http("GET", s.url + "/health/ready")[0] == 200 for s in (a, b, g))), "ready")
    gid, last = run(scenario(a, b, g))
    def stored():
        st, _, log = http("GET", f"{b.url}/api/games/{gid}/events")
        return [e["seq"] for e in log.get("events", []) if "seq" in e] if st == 200 else []
    seqs = wait_for(lambda: stored() == list(range(1, last + 1)) and stored(), timeout=30) or stored()
    t.eq(seqs, list(range(1, last + 1)), f"the stored log is contiguous from 1 to {last}")
    r = subprocess.run([BIN, "replay", gid, "--database-url", db.url("monkeytown"),
                        "--games", os.path.join(ROOT, "games"), "--log-level", "warn"],
                       capture_output=True, text=True, timeout=60)
    t.ok(r.returncode == 0 and "identical" in r.stdout, f"monkeytown replay: {r.stdout.strip() or r.stderr.strip()}")
    run(stale_owner(b, g))
finally:
    cl.cleanup()
t.done()
