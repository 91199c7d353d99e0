#!/usr/bin/python3
# Abuse: registrations and new guests are throttled per client address (429 with Retry-After,
# on HTTP and at the WebSocket upgrade); guests that never played are not stored and leave
# memory when idle; last-seen times are written at most once per --last-seen-interval (a row per
# socket made the embedded log grow with every connection), the held-back time at shutdown.
import asyncio, json, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import websockets
from mt import Client, Server, Tap, http, play_until_over, run

t = Tap()


def player_rows(srv, pid):
    """The players rows of pid in the embedded log, in order."""
    rows = []
    with open(os.path.join(srv.data_dir, "monkeytown.log"), "rb") as f:
        for line in f:
            rec = json.loads(line.split(b" ", 1)[1])
            if rec["t"] == "players" and rec["r"]["id"] == pid:
                rows.append(rec["r"])
    return rows


async def sockets(srv, token, n):
    for _ in range(n):
        c = await Client.connect(srv, token=token)
        await c.close()


def last_seen(interval, sockets_opened, want_rows, why):
    srv = Server("--last-seen-interval", str(interval)).start()
    st, _, reg = http("POST", srv.url + "/api/auth/register", {"username": "seen_user", "password": "seen pass 1"})
    t.eq(st, 201, f"interval {interval}: registered")
    run(sockets(srv, reg["token"], sockets_opened))
    t.eq(srv.stop(), 0, f"interval {interval}: stopped cleanly")
    rows = player_rows(srv, reg["playerId"])
    t.eq(len(rows), want_rows, f"interval {interval}: {sockets_opened} sockets -> {want_rows} player rows ({why})")
    return rows


def wait_for(fn, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    return fn()


def retry_after(h):
    return int(h.get("Retry-After") or h.get("retry-after") or 0)


def registrations():
    with Server("--register-rate", "2") as srv:
        reg = lambda u: http("POST", srv.url + "/api/auth/register", {"username": u, "password": "a password"})
        st, _, _ = http("POST", srv.url + "/api/auth/register", {"username": "x", "password": "a password"})
        t.eq(st, 400, "a refused body spends nothing")
        t.eq([reg("reg_a")[0], reg("reg_b")[0], reg("reg_a")[0]], [201, 201, 409],
             "two registrations a minute from one address; a taken name spends nothing")
        st, h, body = reg("reg_c")
        t.eq((st, body["error"]["code"]), (429, "RATE_LIMIT_EXCEEDED"), "the third -> 429 before any hashing")
        t.ok(1 <= retry_after(h) <= 30, f"with Retry-After ({retry_after(h)} s: a token every 30 s)")
        st, _, _ = http("POST", srv.url + "/api/auth/login", {"username": "reg_a", "password": "a password"})
        t.eq(st, 200, "logging in is not a registration")


async def guests(srv):
    made = [http("POST", srv.url + "/api/auth/guest")[0] for _ in range(2)]
    c = await Client.connect(srv)
    t.eq(made + [c.welcome["payload"].get("token") is not None], [200, 200, True],
         "three guests a minute from one address: two by HTTP, one by socket")
    try:
        await websockets.connect(srv.ws_url)
        t.ok(False, "a fourth guest socket is refused")
    except websockets.InvalidStatusCode as e:
        t.eq(e.status_code, 429, "a fourth guest socket -> 429 at the upgrade")
        t.ok(1 <= retry_after(e.headers) <= 20, f"with Retry-After ({retry_after(e.headers)} s)")
    st, h, body = http("POST", srv.url + "/api/auth/guest")
    t.eq((st, body["error"]["code"]), (429, "RATE_LIMIT_EXCEEDED"), "and POST /api/auth/guest -> 429")
    t.ok(retry_after(h) >= 1, "with Retry-After")
    again = await Client.connect(srv, token=c.welcome["payload"]["token"])
    t.eq(again.welcome["payload"]["playerId"], c.welcome["payload"]["playerId"],
         "a socket with a token is no new guest: still welcome")
    await again.close()
    await c.close()


def status(srv, pid):
    return http("GET", f"{srv.url}/api/players/{pid}")[0]


async def idle_guests(srv):
    st, _, g1 = http("POST", srv.url + "/api/auth/guest")
    t.eq(status(srv, g1["playerId"]), 200, "a new guest is known")
    held = await Client.connect(srv)
    g2 = held.welcome["payload"]["playerId"]
    player = await Client.connect(srv)
    g3 = player.welcome["payload"]["playerId"]
    gid = (await player.request("create_game", {"game": "tictactoe", "vsAgent": "random"}))["payload"]["gameId"]
    await play_until_over(player, gid)
    await player.close()
    t.ok(wait_for(lambda: status(srv, g1["playerId"]) == 404),
         "a guest with no socket is forgotten after --guest-idle-timeout")
    time.sleep(2.5)  # over a second past its timeout, whatever its last activity was
    t.eq(status(srv, g2), 200, "a guest with a socket open is not")
    await held.close()
    t.ok(wait_for(lambda: status(srv, g2) == 404), "once its socket closes, it is forgotten too")
    t.eq(status(srv, g3), 200, "a guest that played is kept (it has statistics)")
    back = await Client.connect(srv, token=g1["token"])
    t.eq(back.welcome["payload"]["playerId"], g1["playerId"], "a forgotten guest's token still works")
    t.eq(status(srv, g1["playerId"]), 200, "and makes the guest again")
    await back.close()
    return g1["playerId"], g2, g3


registrations()
with Server("--guest-rate", "3") as srv:
    run(guests(srv))
srv = Server("--guest-idle-timeout", "1").start()
g1, g2, g3 = run(idle_guests(srv))
srv.stop()
t.eq((len(player_rows(srv, g1)), len(player_rows(srv, g2))), (0, 0), "guests that never played are not stored")
t.ok(len(player_rows(srv, g3)) >= 1, "the guest that played is")

rows = last_seen(3600, 5, 2, "the registration, then the last-seen time once, at shutdown")
t.ok(rows[-1]["last_seen_at"] > rows[0]["last_seen_at"], "the row written at shutdown has the later time")
last_seen(0, 3, 4, "interval 0: the registration and a row per socket")
t.done()
