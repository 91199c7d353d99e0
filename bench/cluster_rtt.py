#!/usr/bin/python3
"""Cross-instance cost of the cluster relay: round trips of a socket on the room's owner against
a socket on another instance, in one run on one machine.

Starts redis-server and PostgreSQL on loopback (the test suite's helpers; needs root, like the
cluster tests) and two instances, alpha and beta. An arena room (real time, 60 Hz) is created
on alpha by a socket there and joined by a socket on beta; each socket then sends N
`player_input`s with an id, one at a time, and times the answer that carries it (the input's
acknowledgement). `heartbeat` is answered by the instance the socket is on, so it is timed too:
it is the floor. Prints one line per measurement with p50 and p99 in ms.

    sudo MT_BIN=build/monkeytown python3 bench/cluster_rtt.py [N]
"""
import asyncio, os, statistics, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration", "lib"))
from mt import ROOT, Client, Server, run, wait_for, http
from redis_server import Redis
import pg as pglib

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


async def timed(c, kind, payload):
    out, answers = [], set()
    for i in range(N):
        t0 = time.perf_counter()
        m = await c.request(kind, payload(i), id_=f"b{i}", timeout=10)
        out.append((time.perf_counter() - t0) * 1000)
        answers.add(m["type"] if m["type"] != "error" else m["payload"]["code"])
    if answers - {"heartbeat", "input_ack", "game_event", "game_state"}:
        sys.exit(f"{kind}: unexpected answers {answers}")
    return out, answers


async def bench(a, b):
    owner, remote = await Client.connect(a), await Client.connect(b)
    made = await owner.request("create_game", {"game": "arena", "config": {"seats": 2, "round_ms": 600000}})
    gid = made["payload"]["gameId"]
    for _ in range(100):
        j = await remote.request("join_game", {"gameId": gid})
        if j["type"] != "error":
            break
        await asyncio.sleep(0.1)
    move = lambda i: {"gameId": gid, "action": {"action": "move", "x": 100 + i % 50, "y": 100}}
    beat = lambda i: {"timestamp": i}
    rows = []
    for name, c, kind, payload in (("heartbeat, socket on the owner", owner, "heartbeat", beat),
                                   ("heartbeat, socket on the other instance", remote, "heartbeat", beat),
                                   ("player_input, socket on the owner", owner, "player_input", move),
                                   ("player_input, socket on the other instance", remote, "player_input", move)):
        xs, answers = await timed(c, kind, payload)
        rows.append((f"{name} ({'/'.join(sorted(answers))})", statistics.median(xs), pct(xs, 99)))
    await owner.close()
    await remote.close()
    return rows


if not pglib.available():
    sys.exit("needs root and PostgreSQL 15")
redis, db = Redis().start(), pglib.Postgres().init().start()
servers = []
try:
    db.createdb("monkeytown")
    for name in ("alpha", "beta"):
        s = Server("--cluster", "--instance-id", name, "--redis-url", redis.url,
                   "--database-url", db.url("monkeytown"), "--sql-dir", os.path.join(ROOT, "sql"),
                   "--jwt-secret", "bench-secret-0123456789abcdef0123456789abcdef",
                   "--realtime-input-rate", "1000000", "--log-level", "warn")
        s.start()
        servers.append(s)
    wait_for(lambda: all(len(http("GET", s.url + "/api/cluster")[2]["instances"]) == 2 for s in servers))
    print(f"{N} round trips each, one at a time")
    for name, p50, p99 in run(bench(*servers)):
        print(f"{name:60s} p50 {p50:6.3f} ms  p99 {p99:6.3f} ms")
finally:
    for s in servers:
        s.stop()
    redis.cleanup()
    db.remove()
