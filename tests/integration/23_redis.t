#!/usr/bin/python3
# Redis pub/sub fan-out (--redis-url): every game event goes to game:<id>:events in seq order,
# lobby updates to lobby; Redis going away pauses publishing without touching the games (the
# server stays ready, with the redis check degraded), and the server reconnects by itself when
# it is back.
import asyncio, json, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, http, play_until_over, run
from redis_server import Redis, Subscriber

t = Tap()
redis = Redis().start()


def ready(srv):
    st, _, body = http("GET", srv.url + "/health/ready")
    return st, body["checks"].get("redis", {})


def ready_body(srv):
    st, h, body = http("GET", srv.url + "/health/ready")
    return st, h, body


async def until(cond, timeout=15):
    """Polls cond() until it is true or timeout seconds pass (the reconnect backoff is 5 s)."""
    deadline = time.time() + timeout
    while time.time() < deadline and not cond():
        await asyncio.sleep(0.1)


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
    st, _, body = ready_body(srv)
    check = body["checks"]["redis"]
    t.eq((st, body["status"], check.get("connected"), check.get("status"), check.get("optional")),
         (200, "ready", True, "ok", True), "/health/ready reports redis connected: an optional check, ok")
    t.ok("degraded" not in body, "and nothing degraded", body)
    st, _, text = http("GET", srv.url + "/metrics")
    count = [l for l in text.splitlines() if l.startswith("redis_latency_ms_count")]
    t.ok(count and float(count[0].split()[-1]) > 0, "redis_latency_ms measures the publishes")

    redis.stop()
    await until(lambda: ready(srv)[1].get("connected") is False)
    t.eq(ready(srv)[1].get("connected"), False, "the server sees Redis go")
    gid = (await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"}))["payload"]["gameId"]
    over, _ = await play_until_over(c, gid)
    t.ok(over["type"] == "game_over", "with Redis down, games go on")
    st, h, body = ready_body(srv)
    check = body["checks"]["redis"]
    t.eq((st, body["status"], h.get("Retry-After")), (200, "ready", None),
         "and /health/ready stays 200 ready: Redis is optional")
    t.eq((check.get("status"), check.get("healthy"), check.get("connected"), body.get("degraded")),
         ("degraded", False, False, ["redis"]), "with the redis check marked degraded")
    t.ok(all(v["status"] == "ok" for n, v in body["checks"].items() if n != "redis"),
         "and every other check ok", body)
    redis.start()
    await until(lambda: ready(srv)[1].get("status") == "ok")
    t.eq(ready(srv)[1].get("connected"), True, "the server reconnects when Redis is back")
    st, _, body = ready_body(srv)
    t.eq((st, body["checks"]["redis"]["status"], "degraded" in body), (200, "ok", False),
         "and the redis check is ok again")
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
