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
from players import Player
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


async def rewind_past_new_events(d, g):
    """The events delta sent while PostgreSQL was frozen die with it (its journal is its own).
    The rebuilt room logs other events under the same seqs (here two chat lines) before Bob
    resumes, so his lastSeq is not past the room's seq: he still gets the rewind, and ends up
    holding exactly the stored log (docs/protocol.md, "Rewind")."""
    tok1, tok2 = (http("POST", d.url + "/api/auth/guest")[2]["token"] for _ in range(2))
    c1, c2 = await Client.connect(d, token=tok1), await Client.connect(g, token=tok2)
    p1, p2 = Player(tok1, "tictactoe"), Player(tok2, "tictactoe")
    p1.game = p2.game = (await c1.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    await join(c2, p1.game)
    mine = lambda m: m.get("gameId") == p1.game
    active = await c1.expect("game_state", timeout=20, where=lambda m: mine(m) and m["payload"].get("toMove") == 1)
    base = active["seq"]  # the players' joins
    t.ok(wait_for(lambda: metric(d, "store_queue_rows") == 0, timeout=30), f"the started game is stored ({base} events)")
    db.freeze()
    try:
        await c1.send("player_input", {"gameId": p1.game, "action": {"cell": 1}})
        await c2.expect("game_state", timeout=20, where=lambda m: mine(m) and m["payload"].get("toMove") == 2)
        await c2.send("player_input", {"gameId": p1.game, "action": {"cell": 5}})
        for c in (c1, c2):
            await c.expect("game_state", timeout=20, where=lambda m: mine(m) and m["seq"] >= base + 2)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
    finally:
        db.thaw()
    for c, p in ((c1, p1), (c2, p2)):
        try:
            while True:
                await c.recv(30)
        except (websockets.ConnectionClosed, asyncio.TimeoutError):
            pass
        p.adopt(c.seen)
    t.ok(p1.last_seq >= base + 2 and p2.last_seq >= base + 2,
         f"both were sent both moves before the kill ({base} stored, {p1.last_seq} and {p2.last_seq} sent)")
    held_before = p1.last_seq
    c1 = await Client.connect(g, token=tok1)
    for _ in range(150):  # SERVER_BUSY or NOT_FOUND until a survivor has rebuilt the room
        ans = await c1.request("resume", {"gameId": p1.game, "lastSeq": p1.last_seq}, timeout=10)
        if ans["type"] != "error" or ans["payload"]["code"] not in ("SERVER_BUSY", "NOT_FOUND"):
            break
        await asyncio.sleep(0.2)
    back = ans["payload"].get("rewind")
    # What delta had sent PostgreSQL before the freeze may still commit after it (statements
    # waiting in the frozen backend's socket): the rebuilt log ends at base or a little later.
    t.ok(ans["type"] == "replay" and back is not None and base <= back < held_before,
         f"Alice (at seq {held_before}) is rewound to the rebuilt log's end ({back}; {base} stored before the freeze)")
    p1.see(ans)
    n = len(c1.seen)
    for text in ("did", "we lose something?"):
        await c1.request("chat_message", {"gameId": p1.game, "text": text})
    for m in c1.seen[n:]:  # the chat events come before their answers
        p1.see(m)
    t.ok(p1.last_seq >= p2.last_seq, f"the rebuilt room logged two chat lines under seqs Bob holds ({p1.last_seq})")
    c2 = await Client.connect(g, token=tok2)
    ans = await c2.request("resume", {"gameId": p2.game, "lastSeq": p2.last_seq}, timeout=10)
    t.eq((ans["type"], ans["payload"].get("rewind")), ("replay", back),
         f"Bob, at seq {p2.last_seq}, not past the room's seq, is rewound to {back} all the same")
    p2.see(ans)

    # A live game's log is not served (GET /api/games/:id/events is for ended games): the two
    # players' views of the same log must agree, the chat lines where the lost moves were.
    alice = {s: e for s, e in p1.events.items() if s >= min(p2.events, default=1)}
    chats = [e[0] for s, e in sorted(p2.events.items()) if s > back]
    t.ok(p2.events == alice and chats == ["chat_message"] * 2 and not p1.faults + p2.faults,
         f"Bob now holds what Alice holds: the chat lines, not the lost move {p1.faults + p2.faults}")
    for c in (c1, c2):
        await c.close()


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
    d = instance("delta")
    t.ok(wait_for(lambda: "delta" in (listed(g) or []), timeout=30), "delta joins")
    run(rewind_past_new_events(d, g))
finally:
    cl.cleanup()
t.done()
