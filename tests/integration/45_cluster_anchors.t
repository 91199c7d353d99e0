#!/usr/bin/python3
# Colyseus's cluster bugs, checked against this cluster (real redis-server and PostgreSQL on
# loopback). #968: rooms hidden from the listing after one missed health check. Here the lease
# is several heartbeats long (at least three): an instance paused for a bit more than one
# heartbeat (SIGSTOP) keeps its room listed by the others the whole time, and serves it after. #978: a duplicate
# room when a cross-instance call timed out: quick_match goes to the game's home instance; the
# home is paused past the caller's patience, the caller asks again, and when the home wakes the
# two requests of one socket made one wait (the newer replaced the older), not two rooms.
import asyncio, os, signal, sys, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Tap, http, run, wait_for
from cluster import Cluster, available, listed

if not available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
cl = Cluster("anchors-secret-0123456789abcdef0123456789abc")
servers = cl.servers


def instance(name):
    return cl.instance(name, lease_ms=10000, heartbeat_ms=2000)


def lobby(srv):
    st, _, body = http("GET", srv.url + "/api/rooms", timeout=5)
    return sorted(r["gameId"] for r in body) if st == 200 else []


def watch_listing(srv, room, seen, stop):
    while not stop.is_set():
        seen.append(room in lobby(srv))
        time.sleep(0.05)


async def missed_beat(a, b):
    c = await Client.connect(a)
    gid = (await c.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    t.ok(wait_for(lambda: gid in lobby(b)), "alpha's room is in beta's listing")
    seen, stop = [], threading.Event()
    watcher = threading.Thread(target=watch_listing, args=(b, gid, seen, stop))
    watcher.start()
    a.proc.send_signal(signal.SIGSTOP)
    time.sleep(2.5)  # a heartbeat and a bit more, well within the 10 s lease
    a.proc.send_signal(signal.SIGCONT)
    time.sleep(4.5)  # two more heartbeats of watching
    stop.set()
    watcher.join()
    t.ok(seen and all(seen), f"one missed heartbeat hides nothing: listed in all {len(seen)} looks")
    t.eq(listed(b), ["alpha", "beta"], "and alpha never left the cluster")
    chat = await c.request("chat_message", {"gameId": gid, "text": "still here"})
    t.eq(chat["type"], "chat_message", "alpha serves its room on")
    await c.close()


def home(instances, key):
    """members_home (src/cluster/members.c): rendezvous hashing, FNV-1a 64 of "id/key" mixed."""
    def rank(inst):
        h, prime, mask = 14695981039346656037, 1099511628211, (1 << 64) - 1
        for ch in (inst + "/" + key).encode():
            h = ((h ^ ch) * prime) & mask
        h ^= h >> 33
        h = (h * 0xff51afd7ed558ccd) & mask
        return h ^ (h >> 33)
    return max(sorted(instances), key=lambda i: (rank(i), [-ord(c) for c in i]))


async def no_duplicate(a, b):
    """quick_match for a game whose home is alpha, from a socket on beta, while alpha is paused."""
    st, _, games = http("GET", b.url + "/api/games")
    names = [g["name"] for g in games if g.get("available")]
    game = next((n for n in names if home(["alpha", "beta"], n) == "alpha"), None)
    q = await Client.connect(b)
    t.ok(game is not None, f"a game whose quick-match home is alpha: {game}")
    a.proc.send_signal(signal.SIGSTOP)
    await q.send("quick_match", {"game": game, "agent": False, "waitMs": 60000}, "first")
    await asyncio.sleep(0.5)  # the caller gives up on the first...
    await q.send("quick_match", {"game": game, "agent": False, "waitMs": 60000}, "second")
    await asyncio.sleep(0.2)
    a.proc.send_signal(signal.SIGCONT)
    r = await Client.connect(a)
    await r.send("quick_match", {"game": game, "agent": False, "waitMs": 60000}, "third")
    m = await r.expect_re("third", timeout=20)
    answers = []
    try:
        while True:
            x = await q.recv(3)
            if x.get("re") in ("first", "second"):
                answers.append(x)
    except asyncio.TimeoutError:
        pass
    rooms = {x.get("gameId") for x in answers if x["type"] == "game_state"}
    t.ok(m["type"] == "game_state" and rooms == {m["gameId"]} and
         [x.get("re") for x in answers] == ["second"],
         f"the two requests made one wait: one room, one answer ({[x.get('re') for x in answers]})")
    await q.close()
    await r.close()


try:
    a, b = instance("alpha"), instance("beta")
    t.ok(wait_for(lambda: listed(a) == listed(b) == ["alpha", "beta"]), "two instances")
    t.ok(wait_for(lambda: all(http("GET", s.url + "/health/ready")[0] == 200 for s in (a, b))), "ready")
    run(missed_beat(a, b))
    run(no_duplicate(a, b))
finally:
    cl.cleanup()
t.done()
