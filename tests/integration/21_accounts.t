#!/usr/bin/python3
# Accounts and auth: guest, register, login, throttling, every 401 case (tampered, expired, alg
# none, HS512 with the same key) on the WebSocket upgrade and on authenticated HTTP, admin role,
# statistics and Elo ratings after games.
import asyncio, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import websockets
from mt import Client, Server, Tap, http, make_jwt, play_until_over, run

t = Tap()
SECRET = "test-secret-test-secret-test-secret-0123"


async def main(srv):
    st, _, g = http("POST", srv.url + "/api/auth/guest")
    t.eq(st, 200, "guest -> 200")
    t.ok(g["token"] and g["playerId"] and g["name"], "guest has token, playerId and name")
    c = await Client.connect(srv, token=g["token"])
    t.eq(c.welcome["payload"]["playerId"], g["playerId"], "the guest token opens a socket as that player")
    await c.close()

    st, _, reg = http("POST", srv.url + "/api/auth/register", {"username": "Alice_1", "password": "correct horse"})
    t.eq(st, 201, "register -> 201")
    t.ok(reg.get("token") and reg.get("playerId"), "register answers token and playerId")
    st, _, body = http("POST", srv.url + "/api/auth/register", {"username": "alice_1", "password": "another pass"})
    t.eq(st, 409, "a taken name (any case) -> 409")
    for user, pw, why in [("ab", "longenough", "short name"), ("bad name", "longenough", "space"),
                          ("x" * 33, "longenough", "long name"), ("bob", "short", "short password")]:
        st, _, body = http("POST", srv.url + "/api/auth/register", {"username": user, "password": pw})
        t.eq((st, body["error"]["code"]), (400, "BAD_MESSAGE"), f"register with a {why} -> 400")
    st, _, body = http("POST", srv.url + "/api/auth/register", b"{not json")
    t.eq((st, body["error"]["code"]), (400, "BAD_JSON"), "register with bad JSON -> 400 BAD_JSON")

    st, _, login = http("POST", srv.url + "/api/auth/login", {"username": "alice_1", "password": "correct horse"})
    t.eq(st, 200, "login -> 200")
    t.eq(login["playerId"], reg["playerId"], "login finds the same player")
    c = await Client.connect(srv, token=login["token"])
    t.eq(c.welcome["payload"]["name"], "Alice_1", "the socket carries the account's name")
    await c.close()
    st, _, body = http("POST", srv.url + "/api/auth/login", {"username": "alice_1", "password": "wrong horse"})
    t.eq(st, 401, "wrong password -> 401")
    st, _, body = http("POST", srv.url + "/api/auth/login", {"username": "nobody", "password": "whatever1"})
    t.eq(st, 401, "unknown user -> 401")

    # Five failures a minute per account, then 429 even with the right password.
    for _ in range(5):
        http("POST", srv.url + "/api/auth/login", {"username": "alice_1", "password": "nope nope"})
    st, h, body = http("POST", srv.url + "/api/auth/login", {"username": "alice_1", "password": "correct horse"})
    t.eq((st, body["error"]["code"]), (429, "RATE_LIMIT_EXCEEDED"), "repeated failures throttle the account")
    t.ok(1 <= int(h.get("Retry-After") or 0) <= 60, f"the 429 says when to retry (Retry-After {h.get('Retry-After')})")

    now = int(time.time())
    pid = reg["playerId"]
    good = {"sub": pid, "name": "x", "role": "player", "exp": now + 600, "iat": now}
    bad_tokens = {
        "tampered": make_jwt(SECRET, good)[:-3] + "AAA",
        "expired": make_jwt(SECRET, {**good, "exp": now - 5}),
        "alg none": make_jwt(SECRET, good, alg="none"),
        "HS512 with the same key": make_jwt(SECRET, good, alg="HS512"),
        "another key": make_jwt("some-other-secret-some-other-secret", good),
        "no exp": make_jwt(SECRET, {k: v for k, v in good.items() if k != "exp"}),
    }
    t.eq((await Client.connect(srv, token=make_jwt(SECRET, good))).welcome["payload"]["playerId"], pid,
         "a token made with the configured secret is accepted")
    for name, tok in bad_tokens.items():
        try:
            await websockets.connect(srv.ws_url + "?token=" + tok)
            t.ok(False, f"{name} token refused at upgrade")
        except websockets.InvalidStatusCode as e:
            t.eq(e.status_code, 401, f"{name} token -> 401 at upgrade")
        st, _, body = http("POST", srv.url + "/api/games/create", {"game": "tictactoe"},
                           headers={"Authorization": "Bearer " + tok})
        t.eq(st, 401, f"{name} token -> 401 on HTTP")

    # Statistics and ratings after a game against an agent.
    c = await Client.connect(srv, token=login["token"])
    gid = (await c.request("create_game", {"game": "tictactoe", "vsAgent": "minimax"}))["payload"]["gameId"]
    over, _ = await play_until_over(c, gid)
    await asyncio.sleep(0.2)
    st, _, me = http("GET", f"{srv.url}/api/players/{pid}")
    t.eq(st, 200, "GET /api/players/:id")
    s = me["stats"]
    t.eq(s["games"], 1, "one game counted")
    t.eq(s["wins"] + s["losses"] + s["draws"], 1, "as a win, loss or draw")
    t.ok(s["rating"] != 1200 or s["draws"] == 1, f"rating moved from 1200 (now {s['rating']})")
    st, _, agent = http("GET", f"{srv.url}/api/players/agent:minimax")
    t.eq((st, agent["stats"]["games"]), (200, 1), "the agent has stats too")
    st, _, agents = http("GET", srv.url + "/api/agents")
    mm = next(a for a in agents if a["name"] == "minimax")
    t.ok(isinstance(mm.get("rating"), (int, float)), "the agent's rating is in /api/agents")
    st, _, body = http("GET", f"{srv.url}/api/players/nope")
    t.eq(st, 404, "unknown player -> 404")
    await c.close()

    # The admin role comes from --admins; admins may read the log of a running game.
    st, _, adm = http("POST", srv.url + "/api/auth/register", {"username": "root_admin", "password": "admin pass 1"})
    a = await Client.connect(srv, token=adm["token"])
    t.eq(a.welcome["payload"]["role"], "admin", "a configured admin gets the admin role")
    gid = (await a.request("create_game", {"game": "tictactoe"}))["payload"]["gameId"]
    st, _, body = http("GET", f"{srv.url}/api/games/{gid}/events", headers={"Authorization": "Bearer " + adm["token"]})
    t.eq(st, 200, "an admin reads a running game's log")
    st, _, body = http("GET", f"{srv.url}/api/games/{gid}/events", headers={"Authorization": "Bearer " + login["token"]})
    t.eq(st, 403, "a player may not")

    admin_h = {"Authorization": "Bearer " + adm["token"]}
    st, _, rooms = http("GET", srv.url + "/api/admin/rooms", headers=admin_h)
    t.ok(st == 200 and any(r["gameId"] == gid for r in rooms["rooms"]), "admin lists every room")
    st, _, _ = http("GET", srv.url + "/api/admin/rooms", headers={"Authorization": "Bearer " + login["token"]})
    t.eq(st, 403, "a player may not list rooms (403)")
    st, _, _ = http("GET", srv.url + "/api/admin/rooms")
    t.eq(st, 401, "no token -> 401")
    st, _, _ = http("POST", f"{srv.url}/api/admin/rooms/{gid}/end", headers=admin_h)
    t.eq(st, 200, "admin ends a room")
    over = await a.expect("game_over")
    t.eq(over["payload"]["result"]["reason"], "aborted", "its players get game_over (aborted)")
    st, _, _ = http("POST", srv.url + "/api/admin/reload", headers=admin_h)
    t.eq(st, 202, "admin forces a script reload")
    audits = [l for l in srv.log_lines() if l.get("audit")]
    t.ok(len(audits) >= 2 and all(l.get("admin") == adm["playerId"] for l in audits),
         "admin actions are audited in the log with the admin's id")
    await a.close()


with Server("--jwt-secret", SECRET, "--admins", "root_admin") as srv:
    run(main(srv))
with Server("--allow-guests", "false") as srv:
    async def no_guests():
        try:
            await websockets.connect(srv.ws_url)
            t.ok(False, "no token refused when guests are off")
        except websockets.InvalidStatusCode as e:
            t.eq(e.status_code, 401, "no token -> 401 when guests are not allowed")
    run(no_guests())
t.done()
