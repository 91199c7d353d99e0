#!/usr/bin/python3
# Real-time rooms: the tick rate holds (drift-free), inputs reach the next tick in arrival
# order, the input queue is bounded, a slow room neither spirals nor stalls the others, and an
# arena round with humans and agents plays to its end and replays identically.
import asyncio, os, shutil, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import BIN, ROOT, Client, Server, Tap, http, run

t = Tap()
FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
tmp = tempfile.mkdtemp(prefix="mt-rt-")
games = os.path.join(tmp, "games")
shutil.copytree(os.path.join(ROOT, "games"), games)
for name in ("ticker", "slowtick"):
    shutil.copytree(os.path.join(FIX, "games", name), os.path.join(games, name))


def metric(srv, name):
    st, _, text = http("GET", srv.url + "/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(name + "{") or l.startswith(name + " "))


async def drain(c):
    """Drops what is already buffered, so the next message is fresh."""
    try:
        while True:
            await c.recv(0.01)
    except asyncio.TimeoutError:
        pass


async def ticker_room(srv, c):
    created = await c.request("create_game", {"game": "ticker", "config": {"seats": 1}})
    gid = created["payload"]["gameId"]
    await c.expect("game_state", where=lambda m: m["payload"]["status"] == "active")
    return gid


async def rate_held(srv):
    c = await Client.connect(srv)
    gid = await ticker_room(srv, c)
    await drain(c)
    first = await c.expect("game_state")
    t0, n0 = time.monotonic(), first["payload"]["state"]["ticks"]
    last = None
    while time.monotonic() - t0 < 5.0:
        last = await c.expect("game_state")
    t1, n1 = time.monotonic(), last["payload"]["state"]["ticks"]
    rate = (n1 - n0) / (t1 - t0)
    t.ok(abs(rate - 50) / 50 < 0.01, f"50 Hz held over 5 s: measured {rate:.2f} Hz ({n1 - n0} ticks)")
    t.eq(last["payload"]["state"]["now"], n1 * 1000 // 50, "ctx.now is the tick's logical time")

    # Inputs sent between ticks reach the next tick, in arrival order.
    for i in range(1, 6):
        await c.send("player_input", {"gameId": gid, "action": {"n": i}})
    sent_at = (await c.request("heartbeat", {"timestamp": 0}))  # a fence: all five are read
    seen = []
    while len(seen) < 5:
        st = await c.expect("game_state")
        seen = [s for s in st["payload"]["state"]["seen"] if 1 <= s["n"] <= 5]
    t.eq([s["n"] for s in seen], [1, 2, 3, 4, 5], "inputs applied in arrival order")
    ticks = [s["tick"] for s in seen]
    t.ok(ticks == sorted(ticks) and ticks[-1] - ticks[0] <= 2, f"at the next tick(s): {ticks}")
    e = await c.request("player_input", {"gameId": gid, "action": {"x": 1}})
    t.eq(e["payload"]["code"], "ILLEGAL_MOVE", "validate answers a bad input at once")
    t.eq(e["payload"]["message"], "want {n = number}", "with the game's reason")

    # Flood: far more inputs than one tick's queue holds.
    before = metric(srv, "inputs_dropped_total")
    for i in range(100, 1100):
        await c.send("player_input", {"gameId": gid, "action": {"n": i}})
    await asyncio.sleep(0.5)
    dropped = metric(srv, "inputs_dropped_total") - before
    t.ok(dropped > 0, f"a full input queue drops the sender's oldest inputs ({dropped:.0f} counted)")
    st = await c.expect("game_state")
    ns = [s["n"] for s in st["payload"]["state"]["seen"] if s["n"] >= 100]
    t.ok(ns == sorted(ns), "what got through kept its order")
    ans = await c.request("heartbeat", {"timestamp": 1})
    t.eq(ans["type"], "heartbeat", "the server still answers after the flood")
    await c.close()


def histogram(srv, name, game):
    """(sum, count) of a per-game histogram."""
    st, _, text = http("GET", srv.url + "/metrics")
    got = {}
    for suffix in ("_sum", "_count"):
        prefix = f'{name}{suffix}{{game="{game}"}}'
        got[suffix] = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(prefix))
    return got["_sum"], got["_count"]


async def calibrate_slowtick():
    """Loop steps that make one slowtick tick last two 60 Hz periods on this build and machine,
    measured here and now on a server of its own: a fixed count overran the period on one
    machine and not on a faster one."""
    probe_iters = 200000
    with Server("--games", games, "--cpu-apply-ms", "200") as cal:
        s = await Client.connect(cal)
        await s.request("create_game", {"game": "slowtick", "config": {"iters": probe_iters}})
        total, n = 0.0, 0
        while n < 30:
            await asyncio.sleep(0.2)
            total, n = histogram(cal, "tick_duration_ms", "slowtick")
        await s.close()
    per_step = total / n / probe_iters
    return max(probe_iters, int(2 * (1000 / 60) / per_step)), total / n


async def slow_room(srv):
    iters, probe_ms = await calibrate_slowtick()
    t.diag(f"slowtick: {iters} steps a tick (a 200000-step tick took {probe_ms:.2f} ms)")
    s = await Client.connect(srv)
    await s.request("create_game", {"game": "slowtick", "config": {"iters": iters}})
    await s.expect("game_state", where=lambda m: m["payload"]["status"] == "active")
    await asyncio.sleep(0.5)
    before_sum, before_n = histogram(srv, "tick_duration_ms", "slowtick")
    c = await Client.connect(srv)
    await ticker_room(srv, c)
    await asyncio.sleep(0.3)
    await drain(c)
    first = await c.expect("game_state")
    t0, n0, prev, worst = time.monotonic(), first["payload"]["state"]["ticks"], time.monotonic(), 0
    while time.monotonic() - t0 < 3.0:
        m = await c.expect("game_state")
        now = time.monotonic()
        worst = max(worst, now - prev)
        prev = now
        n1 = m["payload"]["state"]["ticks"]
    st, _, text = http("GET", srv.url + "/metrics")
    dropped = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                  if l.startswith('ticks_dropped_total{game="ticker"}'))
    t.ok(dropped <= 0.25 * n1, f"beside a slow room the ticker ran its ticks: {dropped:.0f} of {n1} dropped")
    # Server-side: how late the ticker's ticks started (histogram buckets for game="ticker").
    st, _, text = http("GET", srv.url + "/metrics")
    buckets = {}
    for line in text.splitlines():
        if line.startswith('tick_lateness_ms_bucket{game="ticker",le="'):
            le = line.split('le="')[1].split('"')[0]
            buckets[le] = float(line.rsplit(" ", 1)[1])
    # The documented tolerance is the longest concurrent tick: the slow room's, as measured.
    after_sum, after_n = histogram(srv, "tick_duration_ms", "slowtick")
    slow_ms = (after_sum - before_sum) / max(after_n - before_n, 1)
    les = sorted(float(le) for le in buckets if le != "+Inf")
    bound = next((le for le in les if le >= slow_ms + 10), None)
    key = "+Inf" if bound is None else f"{bound:g}"
    within = buckets.get(key, 0) / max(buckets.get("+Inf", 1), 1)
    t.ok(within >= 0.90, f"{within:.1%} of its ticks started within {key} ms of their deadline "
         f"(tolerance: the slow room's tick of {slow_ms:.1f} ms, plus 10; "
         f"client-side worst gap {worst * 1000:.0f} ms)")
    t.ok(slow_ms > 1000 / 60, f"the slow room's ticks overran its period ({slow_ms:.1f} ms)")
    st, _, text = http("GET", srv.url + "/metrics")
    slow_dropped = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                       if l.startswith('ticks_dropped_total{game="slowtick"}'))
    t.ok(slow_dropped > 0, f"the slow room drops its backlog instead of spiralling ({slow_dropped:.0f})")
    t0 = time.monotonic()
    await c.request("heartbeat", {"timestamp": 2})
    t.ok(time.monotonic() - t0 < 0.2, "sockets are still served promptly")
    st, _, text = http("GET", srv.url + "/metrics")
    t.ok('tick_lateness_ms_bucket{game="ticker"' in text and 'tick_duration_ms_bucket{game="slowtick"' in text,
         "tick duration and lateness histograms per game")
    await s.close()
    await c.close()


async def arena(srv):
    a, b = await Client.connect(srv), await Client.connect(srv)
    created = await a.request("create_game", {"game": "arena", "config": {"seats": 4, "round_ms": 4000}})
    gid = created["payload"]["gameId"]
    await b.request("join_game", {"gameId": gid})
    e = await a.request("player_input", {"gameId": gid, "action": {"action": "move", "x": 1, "y": 1}})
    t.eq(e["payload"]["code"], "NOT_YOUR_TURN", "inputs before the round starts are refused")
    await a.close()
    await b.close()
    c = await Client.connect(srv)
    created = await c.request("create_game", {"game": "arena", "vsAgent": "brawler",
                                              "config": {"seats": 4, "round_ms": 4000}})
    gid = created["payload"]["gameId"]
    states, kills, me = 0, 0, None
    e = await c.request("player_input", {"gameId": gid, "action": {"action": "move", "x": 2000, "y": 1}})
    t.eq(e["payload"]["code"], "ILLEGAL_MOVE", "coordinates outside 0..1000 are refused at once")
    while True:
        m = await c.recv(10)
        if m.get("gameId") != gid:
            continue
        if m["type"] == "game_state" and m["payload"]["status"] == "active":
            states += 1
            view = m["payload"]["state"]
            me = next(p for p in view["players"] if p["seat"] == m["payload"]["you"])
            others = [p for p in view["players"] if p["seat"] != me["seat"] and p["alive"]]
            if others and states % 15 == 0:
                target = min(others, key=lambda p: (p["x"] - me["x"]) ** 2 + (p["y"] - me["y"]) ** 2)
                await c.send("player_input", {"gameId": gid, "action": {"action": "move", "x": target["x"], "y": target["y"]}})
                if (target["x"] - me["x"]) ** 2 + (target["y"] - me["y"]) ** 2 < 55 ** 2:
                    await c.send("player_input", {"gameId": gid, "action": {"action": "attack", "target": target["seat"]}})
        if m["type"] == "game_event" and m["payload"]["event"].get("kind") == "kill":
            kills += 1
        if m["type"] == "game_over":
            over = m
            break
    t.ok(180 <= states <= 300, f"about 60 states a second over the 4 s round ({states})")
    t.ok(over["payload"]["result"]["reason"] in ("win", "draw"), f"the round ended: {over['payload']['result']}")
    t.ok(isinstance(over["payload"]["result"].get("scores"), list), "with scores")
    await c.close()
    return gid


srv = Server("--games", games, "--realtime-input-rate", "100000", "--cpu-apply-ms", "200")
with srv:
    run(rate_held(srv))
    run(slow_room(srv))
    gid = run(arena(srv))
    st, _, summary = http("GET", f"{srv.url}/api/games/{gid}")
    t.eq(summary["status"], "completed", "the arena game is recorded as completed")
r = subprocess.run([BIN, "replay", gid, "--data-dir", srv.data_dir, "--games", games, "--log-level", "warn"],
                   capture_output=True, text=True, timeout=120)
t.eq(r.returncode, 0, "the arena round replays identically")
t.ok("identical" in r.stdout, r.stdout.strip() or r.stderr.strip())
shutil.rmtree(tmp, ignore_errors=True)
t.done()
