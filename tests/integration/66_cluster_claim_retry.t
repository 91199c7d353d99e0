#!/usr/bin/python3
# A room opened while Redis does not answer gets its directory entry once Redis is back
# (--cluster, real redis-server and PostgreSQL on loopback; docs/architecture.md, "The room
# directory"). Its claim got no answer: it is sent again while the room is held, so a player on
# another instance can join the room afterwards (before, the room stayed without an entry, out of
# reach of the other instances, and without its fence, until its owner's lease next lapsed).
#
# Redis is paused (SIGSTOP) for longer than the bus's 2-s command timeout but much less than the
# instances' 30-s lease, so no lease lapses and no reclaim hides a missing retry. Every wait
# polls with a deadline.
import asyncio, os, signal, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Tap, run, wait_for
from cluster import Cluster, available, join, listed, metric, ready

if not available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
cl = Cluster("claim-retry-secret-0123456789abcdef0123456789")
NAMES = ["alpha", "beta"]
FAILED = 'cluster_directory_ops_total{op="claim_failed"}'


async def scenario():
    a, b = (cl.instance(n, lease_ms=30000, heartbeat_ms=2000) for n in NAMES)
    t.ok(wait_for(lambda: all(listed(s) == NAMES for s in (a, b))), "two instances")
    p1 = await Client.connect(a)
    with open(os.path.join(cl.redis.dir, "redis.pid")) as f:
        redis_pid = int(f.read())
    os.kill(redis_pid, signal.SIGSTOP)
    try:
        made = await p1.request("create_game", {"game": "tictactoe"}, timeout=10)
        t.eq(made["type"], "game_created", "a room opens on alpha while Redis does not answer")
        gid = made["payload"]["gameId"]
        t.ok(wait_for(lambda: metric(a, FAILED) >= 1, timeout=30), "its claim gets no answer")
    finally:
        os.kill(redis_pid, signal.SIGCONT)
    t.ok(wait_for(lambda: cl.owner(gid)[0] == "alpha", timeout=30),
         "Redis answers again: the claim is sent again and the directory names alpha")
    # A command written before the connection was dropped may still run when Redis wakes, so the
    # entry alone does not tell: alpha must have heard its claim answered, which gives the game
    # its fence and recorded owner in PostgreSQL.
    def fenced():
        rows = cl.db.query("monkeytown", f"SELECT fence, owner FROM games WHERE id = '{gid}'")
        return rows and int(rows[0][0]) >= 1 and rows[0][1].startswith("alpha ")
    t.ok(wait_for(fenced, timeout=30), "and alpha holds the room's fence: its games row has it and alpha as owner")
    t.eq(metric(a, 'cluster_lease_renewals_total{outcome="taken_again"}'), 0,
         "with no lapse of alpha's lease in between (no reclaim did it)")
    t.ok(wait_for(lambda: ready(a) and ready(b), timeout=30),
         "both instances ready again (their relay subscriptions back)")
    p2 = await Client.connect(b)
    j = await join(p2, gid)
    t.eq(j["type"], "game_state", "a player on beta joins the room")
    await p1.close()
    await p2.close()


try:
    run(scenario())
finally:
    cl.cleanup()
t.done()
