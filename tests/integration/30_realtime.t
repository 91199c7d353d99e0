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
    # Drift-free: each state's arrival minus its tick's due time (ticks / 50 Hz) only grows by
    # delays (the network, a busy machine), so the least of it in the first second and in the
    # last second of five moves only if the server's clock drifts.
    # A tick the scheduler skipped on a starved machine keeps its slot on the grid but not in
    # the game's count, so the skipped ones are added back.
    samples, t0 = [], time.monotonic()
    skipped0 = metric(srv, 'ticks_dropped_total{game="ticker"}')
    while time.monotonic() - t0 < 5.0:
        last = await c.expect("game_state")
        samples.append((time.monotonic(), last["payload"]["state"]["ticks"]))
    skipped = metric(srv, 'ticks_dropped_total{game="ticker"}') - skipped0
    n1 = last["payload"]["state"]["ticks"]
    early = min(ta - n / 50 for ta, n in samples if ta - t0 < 1.0)
    late = min(ta - n / 50 for ta, n in samples if ta - t0 > 4.0) - skipped / 50
    rate = 50 * (1 - (late - early) / 4.0)
    t.ok(abs(rate - 50) / 50 < 0.01, f"50 Hz held over 5 s: measured {rate:.2f} Hz "
         f"({len(samples)} states, drift {(late - early) * 1000:.1f} ms, {skipped:.0f} skipped)")
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


def lateness(srv):
    """The ticker's tick_lateness_ms buckets: le -> count."""
    st, _, text = http("GET", srv.url + "/metrics")
    buckets = {}
    for line in text.splitlines():
        if line.startswith('tick_lateness_ms_bucket{game="ticker",le="'):
            buckets[line.split('le="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return buckets


def metric_sum(srv, series):
    """The sum of the /metrics lines that start with series."""
    st, _, text = http("GET", srv.url + "/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(series))


def histogram(srv, name, game):
    """(sum, count) of a per-game histogram."""
    st, _, text = http("GET", srv.url + "/metrics")
    got = {}
    for suffix in ("_sum", "_count"):
        prefix = f'{name}{suffix}{{game="{game}"}}'
        got[suffix] = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(prefix))
    return got["_sum"], got["_count"]


async def slow_tick_ms(srv, window=0.5):
    """The slowtick room's mean tick duration over the next window, as the server measured it."""
    s0, n0 = histogram(srv, "tick_duration_ms", "slowtick")
    await asyncio.sleep(window)
    s1, n1 = histogram(srv, "tick_duration_ms", "slowtick")
    return (s1 - s0) / max(n1 - n0, 1), n1 - n0


async def overrun(srv, s, gid):
    """Sets the slow room's loop count so its ticks last 1.4 to 2.2 of its 60 Hz periods (23 to
    37 ms: over its own period, under the ticker's catch-up bound of 60 ms), measured on this
    server as it runs: a count calibrated beforehand fell short when the machine got busier in
    between. Returns the last measured tick (ms) and the count."""
    period, iters, ms = 1000 / 60, 200000, 0.0
    for _ in range(10):
        ms, n = await slow_tick_ms(srv)
        if n > 0 and 1.4 * period <= ms <= 2.2 * period:
            break
        iters = max(1000, int(iters * min(8.0, 1.8 * period / max(ms, 0.01))))
        await s.send("player_input", {"gameId": gid, "action": {"iters": iters}})
        await asyncio.sleep(0.1)
    return ms, iters


async def slow_room(srv):
    s = await Client.connect(srv)
    created = await s.request("create_game", {"game": "slowtick", "config": {"iters": 200000}})
    sid = created["payload"]["gameId"]
    await s.expect("game_state", where=lambda m: m["payload"]["status"] == "active")
    c = await Client.connect(srv)
    await ticker_room(srv, c)
    period = 1000 / 60
    # The premise, a slow room whose ticks last 1 to 3 of its periods, is tuned on the running
    # server; a machine that gets busier (or idler) in the 3 s window breaks it, and then the
    # window says nothing about the scheduler: tune again and measure again (at most 4 times).
    for attempt in range(4):
        probe_ms, iters = await overrun(srv, s, sid)
        t.diag(f"slowtick: {iters} steps a tick, {probe_ms:.2f} ms")
        before_sum, before_n = histogram(srv, "tick_duration_ms", "slowtick")
        dropped0 = metric_sum(srv, 'ticks_dropped_total{game="ticker"}')
        late0 = lateness(srv)
        await asyncio.sleep(0.3)
        await drain(c)
        first = await c.expect("game_state")
        t0, n0, prev, worst = time.monotonic(), first["payload"]["state"]["ticks"], time.monotonic(), 0
        while time.monotonic() - t0 < 3.0:
            m = await c.expect("game_state")
            now = time.monotonic()
            worst = max(worst, now - prev)
            prev = now
            n1 = m["payload"]["state"]["ticks"] - n0
        dropped = metric_sum(srv, 'ticks_dropped_total{game="ticker"}') - dropped0
        window_sum, window_n = histogram(srv, "tick_duration_ms", "slowtick")
        window_ms = (window_sum - before_sum) / max(window_n - before_n, 1)
        if period < window_ms < 3 * period:
            break
        t.diag(f"the slow room's ticks lasted {window_ms:.1f} ms in the window: measured again")
    t.ok(dropped <= 0.25 * (n1 + dropped),
         f"beside a slow room the ticker ran its ticks: {dropped:.0f} of {n1 + dropped:.0f} dropped")
    # Server-side: how late the ticker's ticks started in the window (its histogram's buckets).
    buckets = {le: n - late0.get(le, 0) for le, n in lateness(srv).items()}
    # The documented tolerance is the longest concurrent tick: the slow room's, as measured.
    slow_ms = window_ms
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
