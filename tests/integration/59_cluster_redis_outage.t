#!/usr/bin/python3
# Redis stopped for 10 s under play (--cluster, real redis-server and PostgreSQL on loopback, two
# instances), the behaviour docs/architecture.md ("Redis away") documents: the owner's rooms
# keep playing for its own sockets (four connect four games against agents go on moving), a socket on the
# other instance gets SERVER_BUSY at once for the shared room, never a hang; Redis comes back
# empty (the test's Redis keeps nothing), and then the instances list each other again, the
# owner holds its rooms in the directory again, the other player resumes with its lastSeq and
# every game plays to its end. Nothing lost or duplicated: every player saw each seq once, in
# order, and each stored log is contiguous from 1 and is the one its players hold. The outage
# lasts 10 s by the clock (that is the scenario); every other wait polls with a deadline.
import asyncio, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Tap, http, run, wait_for
from cluster import Cluster, available, join, listed, metric, ready
from players import Player, guest, play, resume, stored_mismatches

if not available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
cl = Cluster("redis-outage-secret-0123456789abcdef0123456")
ARGS = ("--guest-rate", "0", "--input-rate", "100000", "--chat-rate", "100000",
        "--seat-hold", "300", "--waiting-rooms-per-address", "1000", "--log-level", "warn")
OUTAGE_S = 10
# A move every 1.5 s: the games against agents are still moving when the outage ends.
THINK = (1.5, 1.6)


async def scenario(a, b):
    solo = []
    for _ in range(4):
        p = Player(guest(a), "connect4", "random")
        c = await Client.connect(a, token=p.token)
        p.game = (await c.request("create_game", {"game": "connect4", "vsAgent": "random"}))["payload"]["gameId"]
        p.adopt(c.seen)
        solo.append((p, c))
    p1, p2 = Player(guest(a), "tictactoe"), Player(guest(b), "tictactoe")
    c1, c2 = await Client.connect(a, token=p1.token), await Client.connect(b, token=p2.token)
    p1.game = p2.game = (await c1.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    j = await join(c2, p1.game)  # asked again while the room's claim is out
    t.eq(j["type"], "game_state", "a socket on beta joins alpha's room")
    p1.adopt(c1.seen)
    p2.adopt(c2.seen)
    t.ok(wait_for(lambda: metric(a, "store_queue_rows") == 0, timeout=30), "the games are stored")

    end = time.monotonic() + OUTAGE_S + 1
    solo_tasks = [asyncio.create_task(play(p, c, end, think=THINK)) for p, c in solo]
    before = [p.last_seq for p, _ in solo]
    cl.redis.stop()
    busy, slowest, n = [], 0.0, 0
    while time.monotonic() < end - 1:
        n += 1
        t0 = time.monotonic()
        ans = await c2.request("chat_message", {"gameId": p2.game, "text": f"anyone? {n}"}, timeout=10)
        slowest = max(slowest, time.monotonic() - t0)
        busy.append(ans["payload"].get("code") if ans["type"] == "error" else ans["type"])
        await asyncio.sleep(0.5)
    t.eq(sorted(set(busy)), ["SERVER_BUSY"], f"Redis away: beta's socket gets SERVER_BUSY for the shared room ({n} tries)")
    t.ok(slowest < 5, f"at once, never a hang (slowest {slowest:.2f} s)")
    await asyncio.gather(*solo_tasks)
    moved = [p.last_seq - s for (p, _), s in zip(solo, before)]
    t.ok(all(m > 0 for m in moved), f"alpha's own sockets kept playing their games ({moved} events each)")
    t.diag(f"{sum(1 for p, _ in solo if p.over)} of them ended during the outage")
    cl.redis.start()

    t.ok(wait_for(lambda: ready(a) and ready(b), timeout=60), "Redis back: both ready")
    t.ok(wait_for(lambda: listed(a) == listed(b) == ["alpha", "beta"], timeout=30), "they list each other again")
    gids = [p.game for p, _ in solo] + [p1.game]
    t.ok(wait_for(lambda: all(cl.owner(g)[0] == "alpha" for g in gids), timeout=30),
         "alpha holds its five rooms in the directory again (Redis came back empty)")
    await c2.close()
    c2 = await resume(b, p2)
    t.ok(p2.last_seq > 0 and not p2.faults, "beta's player resumes through the relay")
    await asyncio.gather(play(p1, c1, time.monotonic() + 240, think=(0.01, 0.03)),
                         play(p2, c2, time.monotonic() + 240, think=(0.01, 0.03)),
                         *(play(p, c, time.monotonic() + 240, think=(0.01, 0.03)) for p, c in solo))
    seats = solo + [(p1, c1), (p2, c2)]
    for _, c in seats:
        await c.close()
    return seats


try:
    a, b = (cl.instance(n, *ARGS) for n in ("alpha", "beta"))
    t.ok(wait_for(lambda: listed(a) == listed(b) == ["alpha", "beta"]), "two instances")
    t.ok(wait_for(lambda: ready(a) and ready(b)), "ready")
    seats = run(scenario(a, b))
    t.eq({p.game[:8]: p.faults for p, _ in seats if p.faults}, {},
         "every player saw each seq exactly once, in order")
    t.eq([p.game[:8] for p, _ in seats if p.over is None], [], "every game played to its end")
    t.eq(stored_mismatches(b, [p for p, _ in seats]), [],
         "each stored log is contiguous from 1 and is the one its players hold: nothing lost or duplicated")
    t.eq(sum(metric(s, "store_fenced_writes_total") for s in (a, b)), 0,
         "no write of the owner was refused as stale after Redis came back")
    t.eq([s.stop() for s in (a, b)], [0, 0], "both stop cleanly")
finally:
    cl.cleanup()
t.done()
