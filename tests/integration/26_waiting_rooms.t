#!/usr/bin/python3
# Waiting rooms: a player may have --waiting-rooms-per-player created rooms waiting for players,
# the players of one address --waiting-rooms-per-address (over WebSocket and HTTP alike); a room
# that starts or closes frees its place; a room nobody joins closes after --waiting-room-ttl,
# telling its players (game_over, reason "expired") and storing the game as aborted.
import asyncio, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, http, play_until_over, run

t = Tap()


async def create(c):
    return await c.request("create_game", {"game": "tictactoe"})


async def per_player(srv):
    c = await Client.connect(srv)
    ids = []
    for _ in range(3):
        m = await create(c)
        t.eq(m["type"], "game_created", "a room waits for its second player")
        ids.append(m["payload"]["gameId"])
    m = await create(c)
    t.eq((m["type"], m["payload"].get("code")), ("error", "RATE_LIMIT_EXCEEDED"),
         "a fourth waiting room is refused")
    t.ok("3 rooms waiting" in m["payload"].get("message", ""), f"saying why: {m['payload'].get('message')}")
    other = await Client.connect(srv)
    j = await other.request("join_game", {"gameId": ids[0]})
    t.eq(j["type"], "game_state", "someone joins the first room, which starts")
    m = await create(c)
    t.eq(m["type"], "game_created", "a started room frees its owner's place")
    await c.request("leave_game", {"gameId": ids[1]})
    m = await create(c)
    t.eq(m["type"], "game_created", "so does a room its owner left (it closed)")
    m = await create(c)
    t.eq(m["payload"].get("code"), "RATE_LIMIT_EXCEEDED", "and the cap holds again")
    await c.close()
    await other.close()


async def per_address(srv):
    clients = [await Client.connect(srv) for _ in range(3)]
    made = 0
    codes = []
    for c in clients:
        for _ in range(2):
            m = await create(c)
            if m["type"] == "game_created":
                made += 1
            else:
                codes.append(m["payload"].get("code"))
    t.eq(made, 5, "five guests' rooms from one address wait at once (--waiting-rooms-per-address 5)")
    t.eq(codes, ["RATE_LIMIT_EXCEEDED"], "the sixth is refused")
    m = await clients[0].request("create_game", {"game": "tictactoe", "vsAgent": "random"})
    t.eq(m["type"], "game_created", "a game against an agent (it never waits) is still allowed")
    st, _, reg = http("POST", srv.url + "/api/auth/register", {"username": "waiter_1", "password": "waiting pass"})
    st, h, body = http("POST", srv.url + "/api/games/create", {"game": "tictactoe"},
                       headers={"Authorization": "Bearer " + reg["token"]})
    t.eq((st, body.get("error", {}).get("code")), (429, "RATE_LIMIT_EXCEEDED"),
         "HTTP creation from the same address is refused too (429)")
    for c in clients:
        await c.close()


async def expiry(srv):
    c = await Client.connect(srv)
    gid = (await create(c))["payload"]["gameId"]
    over = await c.expect("game_over", timeout=30)
    t.eq(over["payload"]["result"]["reason"], "expired", "a room nobody joins expires; its player is told")
    t.eq(over["gameId"], gid, "the right room")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st, _, g = http("GET", f"{srv.url}/api/games/{gid}")
        if st == 200 and g.get("status") == "aborted":
            break
        await asyncio.sleep(0.2)
    t.eq(g.get("status"), "aborted", "and the game is stored as aborted")
    st, _, rooms = http("GET", srv.url + "/api/rooms")
    t.ok(all(r.get("gameId") != gid for r in rooms), "it left the lobby")
    m = await create(c)
    t.eq(m["type"], "game_created", "its place is free again")
    await c.close()


async def idle(srv):
    """A room that has waited --waiting-room-idle lets go of its Lua state; joined later, it sets
    the game up again from the same seed and plays as any other."""
    c = await Client.connect(srv)
    created = await create(c)
    gid = created["payload"]["gameId"]
    first = await c.expect("game_state")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
            l.get("msg") == "waiting room idle: Lua state released" and l.get("game") == gid
            for l in srv.log_lines()):
        await asyncio.sleep(0.1)
    t.ok(time.monotonic() < deadline, "the waiting room released its Lua state")
    w = await Client.connect(srv)
    st = await w.request("join_game", {"gameId": gid, "as": "spectator"})
    t.eq(st["payload"]["state"], first["payload"]["state"], "a spectator still sees the waiting state")
    other = await Client.connect(srv)
    j = await other.request("join_game", {"gameId": gid})
    t.eq(j["type"], "game_state", "a second player joins")
    (over, seen), _ = await asyncio.gather(play_until_over(c, gid), play_until_over(other, gid))
    active = next(m for m in seen if m["type"] == "game_state" and m["payload"]["status"] == "active")
    t.eq(active["payload"]["state"], first["payload"]["state"], "the game starts from the same state")
    t.ok(over["payload"]["result"]["reason"] in ("win", "draw"), "and plays to its end")
    for x in (c, w, other):
        await x.close()


with Server("--rooms-rate", "1000") as srv:
    run(per_player(srv))
with Server("--waiting-rooms-per-address", "5", "--guest-rate", "0") as srv:
    run(per_address(srv))
with Server("--waiting-room-ttl", "1") as srv:
    run(expiry(srv))
with Server("--waiting-room-idle", "1", "--input-rate", "100000") as srv:
    run(idle(srv))
t.done()
