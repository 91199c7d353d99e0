#!/usr/bin/python3
# Redis loses its data and a room's owner dies before it can claim the room again (--cluster,
# real redis-server and PostgreSQL on loopback): the room has no directory entry and is in no
# dead owner's set, so no takeover would ever find it. The surviving instance finds its own
# lease gone when Redis is back, sweeps the unfinished games PostgreSQL holds two leases later,
# and adopts the one with no entry (docs/architecture.md, "Redis away"): it rebuilds the game
# with a fence above the dead owner's, both players resume on it, and the game plays to its end
# with one contiguous stored log.
#
# alpha owns a tic-tac-toe game between a socket on alpha and one on beta; three moves are
# played and stored. First, with alpha alive and the game's entry deleted, a sweep of beta's
# (beta paused past its lease) must leave the game alone. Then Redis stops, alpha is killed, and
# Redis comes back empty. Every wait polls with a deadline.
import asyncio, os, signal, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Tap, run, wait_for
from cluster import Cluster, available, join, listed, metric

if not available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
cl = Cluster("redis-orphans-secret-0123456789abcdef012345")
NAMES = ["alpha", "beta"]
ADOPTS = 'cluster_directory_ops_total{op="adopt"}'
TAKEN = 'rooms_taken_over_total{outcome="rebuilt"}'


def redis_cli(*args):
    subprocess.run(["redis-cli", "-p", str(cl.redis.port), *args], capture_output=True, timeout=10)


def fence_of(gid):
    rows = cl.db.query("monkeytown", f"SELECT fence, status FROM games WHERE id = '{gid}'")
    return (int(rows[0][0]), rows[0][1]) if rows else (None, None)


async def move(c, gid, cell):
    ans = await c.request("player_input", {"gameId": gid, "action": {"cell": cell}}, timeout=10)
    return ans["payload"].get("code") if ans["type"] == "error" else "applied"


async def scenario():
    a, b = (cl.instance(n, "--guest-rate", "0", "--seat-hold", "300") for n in NAMES)
    t.ok(wait_for(lambda: all(listed(s) == NAMES for s in (a, b))), "two instances")
    p1, p2 = await Client.connect(a), await Client.connect(b)
    tokens = p1.welcome["payload"]["token"], p2.welcome["payload"]["token"]
    gid = (await p1.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    j = await join(p2, gid)
    t.eq(j["type"], "game_state", "the player on beta joins alpha's game")
    # Whoever moves first plays cells 1, 2, 3 (the top row); the other 4, 5.
    state1 = await p1.expect("game_state", where=lambda m: m.get("gameId") == gid and
                             m["payload"].get("status") == "active")
    first, second = (p1, p2) if state1["payload"]["toMove"] == state1["payload"]["you"] else (p2, p1)
    played = [await move(first, gid, 1), await move(second, gid, 4), await move(first, gid, 2)]
    t.eq(played, ["applied"] * 3, "three moves played on alpha's room")
    t.ok(wait_for(lambda: metric(a, "store_queue_rows") == 0 and fence_of(gid)[1] == "active"),
         "and stored in PostgreSQL")
    old_fence = fence_of(gid)[0]
    await p1.close()
    await p2.close()

    # First the guard: a room whose entry is missing but whose owner is alive is not adopted.
    # alpha's entry is deleted (as a failed claim would leave it); beta is paused past its lease,
    # finds its lease gone on waking, and sweeps: it reads alpha's game and leaves it to alpha.
    adopts = metric(b, ADOPTS)
    redis_cli("DEL", f"mt:room:{gid}")
    b.proc.send_signal(signal.SIGSTOP)
    try:
        t.ok(wait_for(lambda: listed(a) == ["alpha"], timeout=30), "beta paused past its lease")
    finally:
        b.proc.send_signal(signal.SIGCONT)
    t.ok(wait_for(lambda: metric(b, ADOPTS) > adopts, timeout=60), "beta wakes and sweeps")
    t.eq((cl.owner(gid)[0], metric(b, TAKEN)), (None, 0),
         "alpha's game without an entry is not adopted: alpha's lease is live")

    cl.redis.stop()
    a.proc.send_signal(signal.SIGKILL)
    a.proc.wait()
    cl.redis.start()  # empty: the test's Redis keeps nothing
    t.ok(wait_for(lambda: listed(b) == ["beta"], timeout=30), "Redis back, empty: beta alone")
    t.ok(wait_for(lambda: cl.owner(gid)[0] == "beta", timeout=30),
         "beta adopts the room nobody owned any more")
    t.ok(wait_for(lambda: metric(b, TAKEN) >= 1, timeout=30),
         "and rebuilds it")

    c1, c2 = await Client.connect(b, token=tokens[0]), await Client.connect(b, token=tokens[1])
    r1 = await c1.request("resume", {"gameId": gid, "lastSeq": 0}, timeout=10)
    r2 = await c2.request("resume", {"gameId": gid, "lastSeq": 0}, timeout=10)
    t.eq((r1["type"], r2["type"]), ("replay", "replay"), "both players resume on beta")
    seqs = [e["seq"] for e in r1["payload"]["events"]]
    t.ok(seqs == list(range(1, len(seqs) + 1)), "from one contiguous log", r1)
    c_first, c_second = (c1, c2) if first is p1 else (c2, c1)
    played = [await move(c_second, gid, 5), await move(c_first, gid, 3)]
    t.eq(played, ["applied", "applied"], "the game goes on")
    over = await c_second.expect("game_over", where=lambda m: m.get("gameId") == gid, timeout=10)
    t.eq(over["payload"].get("result", {}).get("reason"), "win", "to its end")
    t.ok(wait_for(lambda: fence_of(gid)[1] == "completed", timeout=30),
         "stored as completed: the adopter's writes are not refused as stale")
    t.ok(fence_of(gid)[0] > old_fence, f"its fence is above the dead owner's ({old_fence})")
    await c1.close()
    await c2.close()


try:
    run(scenario())
finally:
    cl.cleanup()
t.done()
