#!/usr/bin/python3
# A rolling restart (--cluster, real redis-server and PostgreSQL on loopback): three instances
# are stopped with SIGTERM one after another and started again, while two games are played:
# two humans on different instances, and a human against an agent. Each stop closes its
# sockets with 1012; the games go on on a peer that takes them over once the stopped
# instance's lease is gone; the players reconnect and resume. At the end no game was aborted,
# every game finished, each player saw each seq once, and the stored logs are contiguous.
import asyncio, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Client, Server, Tap, http, run, wait_for
from redis_server import Redis
from cluster import join, listed
import pg as pglib
import websockets

if not pglib.available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
t = Tap()
redis, db = Redis().start(), pglib.Postgres().init().start()
servers = {}


def instance(name):
    s = Server("--cluster", "--instance-id", name, "--redis-url", redis.url,
               "--database-url", db.url("monkeytown"), "--sql-dir", os.path.join(ROOT, "sql"),
               "--jwt-secret", "rolling-secret-0123456789abcdef0123456789abc",
               "--instance-lease-ms", "1500", "--cluster-heartbeat-ms", "500")
    servers[name] = s
    s.start()
    return s


class Player:
    def __init__(self):
        self.c, self.token, self.gid, self.last, self.over = None, None, None, 0, None
        self.acted = -1  # the seq of the last state this player moved on
        self.faults = []

    def see(self, m):
        if m.get("gameId") != self.gid:
            return
        if m["type"] in ("game_event", "player_joined", "player_left", "chat_message", "game_over"):
            if self.last and m["seq"] != self.last + 1:
                self.faults.append(f"seq {m['seq']} after {self.last}")
            self.last = max(self.last, m["seq"])
            if m["type"] == "game_over":
                self.over = m
        elif m["type"] == "replay":
            for e in m["payload"]["events"]:
                self.see({"gameId": self.gid, "seq": e["seq"], "type": e["type"], "payload": e["payload"]})
        elif m["type"] == "game_state" and "seq" in m:
            self.last = max(self.last, m["seq"])

    async def connect(self, srv):
        self.c = await Client.connect(srv, token=self.token)
        self.token = self.token or self.c.welcome["payload"]["token"]

    async def resume(self, srv):
        """A fresh socket on srv and a resume, tried again while the game moves (SERVER_BUSY) or
        when the socket is told to reconnect (1012) meanwhile."""
        for _ in range(150):
            if self.c:
                try:
                    await self.c.close()
                except Exception:
                    pass
            try:
                await self.connect(srv)
                ans = await self.c.request("resume", {"gameId": self.gid, "lastSeq": self.last}, timeout=10)
            except (websockets.ConnectionClosed, OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.2)
                continue
            if ans["type"] != "error":
                self.see(ans)
                self.acted = -1  # a move sent before the restart may not have been applied
                return ans
            if ans["payload"]["code"] != "SERVER_BUSY":
                self.faults.append(f"resume: {ans['payload']}")
                return ans
            await asyncio.sleep(0.2)
        self.faults.append("resume never succeeded")

    async def move(self, live):
        """Waits for this player's turn and plays the first legal move (or sees the end); a
        socket told to reconnect resumes on live() first. A state is acted on once: the next
        move waits for a newer one."""
        states = [m for m in self.c.seen if m.get("gameId") == self.gid and m["type"] == "game_state"]
        st = states[-1] if states else None
        while self.over is None:
            try:
                p = st["payload"] if st else {}
                if st and st.get("seq", 0) > self.acted and p.get("status") == "active" \
                        and p.get("toMove") == p.get("you"):
                    self.acted = st.get("seq", 0)
                    await self.c.send("player_input", {"gameId": self.gid, "action": p["legal"][0]})
                    return
                m = await self.c.recv(30)
                # The move reached no owner (its instance was stopping): ask where the game
                # stands, then act again.
                lost = m["type"] == "error" and m["payload"]["code"] == "SERVER_BUSY"
            except (websockets.ConnectionClosed, asyncio.TimeoutError):
                # Closed (1012), or quiet for 30 s (a move sent to an instance as it stopped may
                # be lost, leaving this player to wait): the same.
                lost = True
            if lost:
                ans = await self.resume(live())
                st = ans if ans and ans["type"] == "game_state" else None
                continue
            self.see(m)
            if m.get("gameId") == self.gid and m["type"] == "game_state":
                st = m


async def until_closed(pl):
    try:
        while True:
            pl.see(await pl.c.recv(30))
    except websockets.ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else None


async def rolling():
    a, b = servers["alpha"], servers["beta"]
    p1, p2, p3 = Player(), Player(), Player()
    await p1.connect(a)
    await p2.connect(b)
    await p3.connect(a)
    p1.gid = (await p1.c.request("create_game", {"game": "connect4"}))["payload"]["gameId"]
    p2.gid = p1.gid
    j = await join(p2.c, p1.gid)  # the claim is asynchronous
    p3.gid = (await p3.c.request("create_game", {"game": "connect4", "vsAgent": "random"}))["payload"]["gameId"]
    for pl in (p1, p2, p3):
        for m in pl.c.seen:
            pl.see(m)
    players = (p1, p2, p3)
    live = lambda: next(s for s in servers.values() if s.proc and s.proc.poll() is None)
    await asyncio.gather(*(pl.move(live) for pl in players))
    for name in ("alpha", "beta", "gamma"):
        srv = servers[name]
        others = [s for n, s in servers.items() if n != name]
        srv.proc.send_signal(15)
        code = srv.proc.wait(timeout=60)
        t.eq(code, 0, f"{name} stops on SIGTERM (exit {code})")
        for pl in players:
            if pl.over is None:
                await pl.resume(others[0] if pl is not p2 else others[-1])
        srv.start()
        t.ok(wait_for(lambda: all(listed(s) == ["alpha", "beta", "gamma"] for s in servers.values()),
                      timeout=30), f"{name} is back")
        await asyncio.gather(*(pl.move(live) for pl in players if pl.over is None))
    # Play on to the end wherever the games are now.
    while any(pl.over is None for pl in players):
        await asyncio.gather(*(pl.move(live) for pl in players if pl.over is None))
    return players


try:
    db.createdb("monkeytown")
    for name in ("alpha", "beta", "gamma"):
        instance(name)
    t.ok(wait_for(lambda: all(listed(s) == ["alpha", "beta", "gamma"] for s in servers.values())),
         "three instances")
    players = run(rolling())
    p1, p2, p3 = players
    t.ok(p1.over and p2.over and p1.over["payload"]["result"] == p2.over["payload"]["result"],
         f"the human game ends for both players: {p1.over and p1.over['payload']['result']}")
    t.ok(p3.over is not None, f"the game against the agent ends: {p3.over and p3.over['payload']['result']}")
    t.eq([f for pl in players for f in pl.faults], [], "each player saw every seq once, in order")
    b = servers["beta"]
    for pl in (p1, p3):
        def status():
            return http("GET", f"{b.url}/api/games/{pl.gid}")[2].get("status")
        t.eq(wait_for(lambda: status() == "completed" and "completed", timeout=30), "completed",
             f"game {pl.gid[:8]} completed, not aborted")
        st, _, log = http("GET", f"{b.url}/api/games/{pl.gid}/events")
        seqs = [e["seq"] for e in log.get("events", []) if "seq" in e]
        t.eq(seqs, list(range(1, len(seqs) + 1)), f"its stored log is contiguous ({len(seqs)} events)")
finally:
    for s in servers.values():
        s.stop()
    redis.cleanup()
    db.remove()
t.done()
