#!/usr/bin/python3
# Hidden information across a cluster (--cluster, real redis-server and PostgreSQL on loopback):
# in the fixture game "secret" each draw is told only to the seat that drew it. Seat 1 plays on
# alpha (the room's owner), seat 2 on beta and a spectator watches from gamma, so every event
# to beta and gamma crosses the relay: each socket gets its own view under the same seq, the
# other seat's draws arrive as {"kind":"hidden"}, and the numbers a seat drew never reach
# another instance's socket that may not see them. Every wait polls with a deadline.
import asyncio, json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Tap, run, wait_for
from cluster import Cluster, available, join, listed

if not available():
    print("1..0 # SKIP needs root and PostgreSQL 15 (apt-get install postgresql)")
    sys.exit(0)

t = Tap()
cl = Cluster("cluster-hidden-secret-0123456789abcdef012345")
GAMES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "games")


async def draws(c, gid, seat, log):
    """Draws on c's turns until game_over; log gets every log event c received, by seq."""
    states = [m for m in c.seen if m.get("gameId") == gid and m["type"] == "game_state"]
    p = states[-1]["payload"] if states else {}
    if p.get("status") == "active" and p.get("toMove") == seat:
        await c.send("player_input", {"gameId": gid, "action": {"op": "draw"}})
    while True:
        m = await c.recv(20)
        if m.get("gameId") != gid:
            continue
        if m["type"] in ("game_event", "game_over"):
            log[m["seq"]] = m
        if m["type"] == "game_over":
            return
        p = m.get("payload", {})
        if m["type"] == "game_state" and p.get("status") == "active" and p.get("toMove") == seat:
            await c.send("player_input", {"gameId": gid, "action": {"op": "draw"}})


async def watch(c, gid, log):
    while True:
        m = await c.recv(20)
        if m.get("gameId") == gid and m["type"] in ("game_event", "game_over"):
            log[m["seq"]] = m
            if m["type"] == "game_over":
                return


async def scenario(a, b, g):
    p1, p2, sp = await Client.connect(a), await Client.connect(b), await Client.connect(g)
    gid = (await p1.request("create_game", {"game": "secret"}))["payload"]["gameId"]
    j = await join(p2, gid)  # the claim is asynchronous
    t.eq((j["type"], j["payload"].get("you")), ("game_state", 2), "beta's socket takes seat 2 of alpha's room")
    w = await sp.request("join_game", {"gameId": gid, "as": "spectator"})
    t.eq(w["type"], "game_state", "gamma's socket watches")
    l1, l2, l3 = {}, {}, {}
    await asyncio.gather(draws(p1, gid, 1, l1), draws(p2, gid, 2, l2), watch(sp, gid, l3))
    drew = lambda log, seat: [m["payload"]["event"].get("number") for _, m in sorted(log.items())
                              if m["type"] == "game_event" and m["payload"]["event"].get("seat") == seat]
    hidden = lambda log: [s for s, m in sorted(log.items())
                          if m["type"] == "game_event" and m["payload"]["event"] == {"kind": "hidden"}]
    events = lambda log: [s for s, m in log.items() if m["type"] == "game_event"]
    t.ok(sorted(events(l1)) == sorted(events(l2)) == sorted(events(l3)) and len(events(l1)) == 4,
         f"four draws, under the same seqs for every socket ({sorted(events(l1))})")
    mine1, mine2 = drew(l1, 1), drew(l2, 2)
    t.ok(len(mine1) == len(mine2) == 2 and all(isinstance(n, int) for n in mine1 + mine2),
         f"each seat is told its own draws (alpha {mine1}, beta {mine2})")
    t.eq((hidden(l1), hidden(l2)), (sorted(s for s in events(l2) if s not in hidden(l2)),
                                    sorted(s for s in events(l1) if s not in hidden(l1))),
         "and gets the other's as {\"kind\":\"hidden\"} under the same seqs")
    t.eq(sorted(hidden(l3)), sorted(events(l3)), "the spectator on gamma gets every draw hidden")
    states2 = [m["payload"]["state"] for m in p2.seen if m.get("gameId") == gid and m["type"] == "game_state"]
    states3 = [m["payload"]["state"] for m in sp.seen if m.get("gameId") == gid and m["type"] == "game_state"]
    t.ok(states2 and all(set(s["mine"]) <= set(mine2) for s in states2) and states2[-1]["mine"] == mine2,
         "beta's states show seat 2's draws only")
    t.ok(states3 and all(not s["mine"] for s in states3), "gamma's states show none")
    leaked = [n for n in mine1 if any(str(n) in json.dumps(m) for m in p2.seen + sp.seen)]
    t.eq(leaked, [], "none of alpha's numbers reached beta's or gamma's socket")
    for c in (p1, p2, sp):
        await c.close()


try:
    a, b, g = (cl.instance(n, "--games", GAMES) for n in ("alpha", "beta", "gamma"))
    t.ok(wait_for(lambda: all(listed(s) == ["alpha", "beta", "gamma"] for s in (a, b, g))), "three instances")
    run(scenario(a, b, g))
finally:
    cl.cleanup()
t.done()
