#!/usr/bin/python3
# Redis pub/sub fan-out (--redis-url): every game event goes to game:<id>:events in seq order,
# lobby updates to lobby; Redis going away pauses publishing without touching the games, and
# the server reconnects by itself when it is back.
import asyncio, json, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, http, play_until_over, run
from redis_server import Redis, Subscriber

t = Tap()
redis = Redis().start()


def ready(srv):
    st, _, body = http("GET", srv.url + "/health/ready")
    return st, body["checks"].get("redis", {})


async def main(srv):
    sub = Subscriber(redis.port, channels=["lobby"], patterns=["game:*:events"])
    c = await Client.connect(srv)
    gid = (await c.request("create_game", {"game": "tictactoe", "vsAgent": "heuristic"}))["payload"]["gameId"]
    over, _ = await play_until_over(c, gid)
    seen = [m for m in c.seen if m.get("gameId") == gid and m["type"] != "game_state"]
    got, lobby = [], []
    deadline = time.time() + 10
    while len(got) < len(seen) and time.time() < deadline:
        channel, text = sub.message()
        if channel == f"game:{gid}:events":
            got.append(json.loads(text))
        elif channel == "lobby":
            lobby.append(json.loads(text))
    t.eq([m["seq"] for m in got], [m["seq"] for m in seen], "every event published, in seq order")
    t.eq([m["type"] for m in got], [m["type"] for m in seen], "with the same types")
    t.ok(lobby and lobby[0]["type"] == "lobby_update", "lobby updates published on lobby")
    st, check = ready(srv)
    t.eq((st, check.get("connected")), (200, True), "/health/ready reports redis connected")
    st, _, text = http("GET", srv.url + "/metrics")
    count = [l for l in text.splitlines() if l.startswith("redis_latency_ms_count")]
    t.ok(count and float(count[0].split()[-1]) > 0, "redis_latency_ms measures the publishes")

    redis.stop()
    await asyncio.sleep(0.5)
    gid = (await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"}))["payload"]["gameId"]
    over, _ = await play_until_over(c, gid)
    t.ok(over["type"] == "game_over", "with Redis down, games go on")
    st, check = ready(srv)
    t.eq((st, check.get("connected")), (503, False), "and /health/ready says not ready")
    redis.start()
    deadline = time.time() + 15
    while time.time() < deadline and ready(srv)[0] != 200:
        await asyncio.sleep(0.2)
    t.eq(ready(srv)[0], 200, "the server reconnects when Redis is back")
    sub = Subscriber(redis.port, patterns=["game:*:events"])
    gid = (await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"}))["payload"]["gameId"]
    channel, text = sub.message()
    t.eq(channel, f"game:{gid}:events", "and publishes again")
    st, _, text = http("GET", srv.url + "/metrics")
    t.ok("redis_publish_dropped_total" in text, "what could not be published was counted")
    await c.close()


try:
    with Server("--redis-url", redis.url) as srv:
        run(main(srv))
    r = Server("--redis-url", "http://nope")
    import subprocess
    p = subprocess.run(r.args, capture_output=True, text=True, timeout=10)
    t.eq(p.returncode, 2, "a malformed redis-url stops start-up with status 2")
    t.ok("redis-url" in p.stderr, "naming the key")
finally:
    redis.cleanup()
t.done()
