#!/usr/bin/python3
# Waiting rooms: a player may have --waiting-rooms-per-player created rooms waiting for players,
# the players of one address --waiting-rooms-per-address (over WebSocket and HTTP alike); a room
# that starts or closes frees its place; a room nobody joins closes after --waiting-room-ttl,
# telling its players (game_over, reason "expired") and storing the game as aborted.
import asyncio, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, http, run

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


with Server("--rooms-rate", "1000") as srv:
    run(per_player(srv))
with Server("--waiting-rooms-per-address", "5", "--guest-rate", "0") as srv:
    run(per_address(srv))
with Server("--waiting-room-ttl", "1") as srv:
    run(expiry(srv))
t.done()
