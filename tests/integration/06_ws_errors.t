#!/usr/bin/python3
# Every error carries a code from the contract. Nesting: a message may nest arrays and objects
# at most 64 levels deep (the envelope is level 1); deeper ones get BAD_MESSAGE wherever the
# depth is (top level, payload, player_input.action), with re when the id is readable, and a
# message just under the limit goes through to its handler and the game. Messages a game gives
# that are not clean text (cut mid-character, stray bytes, empty) still come with their code.
import asyncio, json, os, shutil, sys, tempfile
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import ROOT, Client, Server, Tap, http, run

t = Tap()
LIMIT = 64
FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
games = tempfile.mkdtemp(prefix="mt-games-")
shutil.copytree(os.path.join(ROOT, "games", "tictactoe"), os.path.join(games, "tictactoe"))
shutil.copytree(os.path.join(FIX, "games", "reasons"), os.path.join(games, "reasons"))


def arrays(depth):
    return "[" * depth + "]" * depth


def objects(depth):
    return '{"a":' * depth + "1" + "}" * depth


def has_code(msg):
    p = msg.get("payload", {})
    return msg.get("type") == "error" and isinstance(p.get("code"), str) and \
        isinstance(p.get("message"), str) and p["message"] != ""


async def answer(c, raw):
    """Sends raw text and returns the first error or answer (game_state pushes skipped)."""
    await c.ws.send(raw)
    while True:
        msg = await c.recv()
        if msg["type"] not in ("game_state", "game_event", "player_joined"):
            return msg


async def nesting(srv):
    c = await Client.connect(srv)
    created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"})
    gid = created["payload"]["gameId"]
    await c.expect("game_state", where=lambda m: m["payload"]["status"] == "active")
    envelope = {
        "payload": lambda v: '{"type":"heartbeat","id":"d","payload":{"timestamp":1,"x":%s}}' % v,
        "action": lambda v: '{"type":"player_input","id":"d","payload":{"gameId":"%s","action":%s}}'
                            % (gid, v),
    }
    # level of the nested value's outermost bracket: payload.x and payload.action are at 3
    for where, wrap in envelope.items():
        for kind, nest in (("arrays", arrays), ("objects", objects)):
            msg = await answer(c, wrap(nest(LIMIT - 1)))
            t.eq((msg["payload"].get("code"), msg.get("re")), ("BAD_MESSAGE", "d"),
                 f"{where}: {kind} one level past the limit -> BAD_MESSAGE with re")
            t.ok("64 levels" in msg["payload"].get("message", ""), f"{where}: {kind}: the message "
                 "names the limit", msg)
            msg = await answer(c, wrap(nest(1000)))  # once deep enough to lose its code
            t.eq((msg["payload"].get("code"), msg.get("re")), ("BAD_MESSAGE", "d"),
                 f"{where}: {kind} 1000 deep -> BAD_MESSAGE with re")
            msg = await answer(c, wrap(nest(5000)))
            t.eq(msg["payload"].get("code"), "BAD_MESSAGE", f"{where}: {kind} 5000 deep -> BAD_MESSAGE")
            t.ok(has_code(msg), f"{where}: {kind} 5000 deep: code and message", msg)
            msg = await answer(c, wrap(nest(LIMIT - 2)))
            if where == "payload":
                t.eq((msg["type"], msg.get("re")), ("heartbeat", "d"),
                     f"payload: {kind} at the limit -> answered")
            else:
                # the game's own reason: the action reached validate whole
                t.eq((msg["payload"].get("code"), msg["payload"].get("message"), msg.get("re")),
                     ("ILLEGAL_MOVE", "cell must be a number from 1 to 9", "d"),
                     f"action: {kind} at the limit reaches the game")
    for kind, nest in (("arrays", arrays), ("objects", objects)):
        msg = await answer(c, nest(5000))
        t.eq(msg["payload"].get("code"), "BAD_MESSAGE", f"top level: {kind} 5000 deep -> BAD_MESSAGE")
        t.ok(has_code(msg) and "re" not in msg, f"top level: {kind} 5000 deep: code, no re", msg)
    msg = await answer(c, objects(LIMIT + 1))
    t.eq(msg["payload"].get("code"), "BAD_MESSAGE", "top level: objects past the limit -> BAD_MESSAGE")
    msg = await answer(c, arrays(LIMIT - 1))
    t.eq(msg["payload"], {"code": "BAD_MESSAGE", "message": "a message must be a JSON object"},
         "top level: arrays under the limit are still not an object")
    ans = await c.request("player_input", {"gameId": gid, "action": {"cell": 5}}, id_="ok")
    t.eq((ans["type"], ans.get("re")), ("game_event", "ok"), "the socket and the game go on")

    st, _, body = http("POST", srv.url + "/api/auth/guest")
    auth = {"Authorization": "Bearer " + body["token"]}
    for depth, name in ((LIMIT, "past the limit"), (5000, "5000 deep")):
        raw = '{"game":"tictactoe","config":{"x":%s}}' % arrays(depth)
        st, _, body = http("POST", srv.url + "/api/games/create", raw.encode(), auth)
        t.eq((st, body["error"]["code"]), (400, "BAD_MESSAGE"), f"HTTP body nested {name} -> 400")
    raw = '{"game":"tictactoe","config":{"x":%s}}' % arrays(LIMIT - 2)
    st, _, body = http("POST", srv.url + "/api/games/create", raw.encode(), auth)
    t.eq(st, 200, "HTTP body nested to the limit -> created")
    await c.close()


async def reasons(srv):
    c = await Client.connect(srv)
    created = await c.request("create_game", {"game": "reasons", "config": {"seats": 1}})
    gid = created["payload"]["gameId"]
    await c.expect("game_state", where=lambda m: m["payload"]["status"] == "active")
    for say in ("long", "bytes", "empty"):
        msg = await c.request("player_input", {"gameId": gid, "action": {"say": say}}, id_=say)
        t.ok(has_code(msg) and msg["payload"]["code"] == "ILLEGAL_MOVE",
             f"a game's {say} reason comes with its code and a message", msg)
    t.ok(msg["payload"]["message"] != "", "an empty reason gets a message of its own")
    await c.close()


srv = Server("--games", games, "--input-rate", "100000", "--max-message-bytes", "65536")
with srv:
    run(nesting(srv))
    run(reasons(srv))
    st, _, text = http("GET", srv.url + "/metrics")
    t.ok('errors_total{code="BAD_MESSAGE"}' in text, "the nesting errors are counted")
    t.ok("\"level\":\"error\"" not in srv.logs(), "no error lines in the server log")
shutil.rmtree(games, ignore_errors=True)
t.done()
