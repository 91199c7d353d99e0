#!/usr/bin/python3
# The v1 envelope over a real WebSocket: welcome first, heartbeat echo, id/re correlation and
# every envelope error code, in the order docs/contract/PROTOCOL.md fixes.
import asyncio, json, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import websockets
from mt import Client, Server, Tap, http, run

t = Tap()


async def main(srv):
    c = await Client.connect(srv)
    w = c.welcome["payload"]
    t.eq(c.welcome["type"], "welcome", "first message is welcome")
    for key in ("playerId", "name", "role", "sessionId", "serverTime", "token"):
        t.ok(key in w, f"welcome has {key}", w)
    t.eq(w["role"], "player", "guest role is player")

    ans = await c.request("heartbeat", {"timestamp": 1234.5}, id_=7)
    t.eq(ans["type"], "heartbeat", "heartbeat answered with heartbeat")
    t.eq(ans["re"], 7, "numeric id comes back as re")
    t.eq(ans["payload"]["timestamp"], 1234.5, "timestamp echoed")
    t.ok(isinstance(ans["payload"]["serverTime"], (int, float)), "serverTime present")
    ans = await c.request("heartbeat", {"timestamp": 1}, id_="abc")
    t.eq(ans["re"], "abc", "string id comes back as re")

    async def error_for(raw):
        await c.ws.send(raw)
        msg = await c.expect("error")
        return msg

    cases = [
        ("not json", "{nope", "BAD_JSON"),
        ("array", "[1,2]", "BAD_MESSAGE"),
        ("number", "5", "BAD_MESSAGE"),
        ("string", '"hello"', "BAD_MESSAGE"),
        ("type missing", '{"payload":{}}', "BAD_MESSAGE"),
        ("type not a string", '{"type":5,"payload":{}}', "BAD_MESSAGE"),
        ("payload missing", '{"type":"heartbeat"}', "BAD_MESSAGE"),
        ("payload not an object", '{"type":"heartbeat","payload":"x"}', "BAD_MESSAGE"),
        ("unknown type", '{"type":"fly","payload":{}}', "UNKNOWN_TYPE"),
        ("bad field type", '{"type":"heartbeat","payload":{"timestamp":"now"}}', "BAD_MESSAGE"),
        ("JSON before envelope: bad JSON wins", '{"type":5,', "BAD_JSON"),
        ("envelope before type: unknown type with bad payload",
         '{"type":"fly","payload":[]}', "BAD_MESSAGE"),
    ]
    for name, raw, code in cases:
        msg = await error_for(raw)
        t.eq(msg["payload"]["code"], code, f"{name} -> {code}")
        t.ok(isinstance(msg["payload"].get("message"), str), f"{name}: error has a message")

    await c.ws.send(json.dumps({"type": "fly", "id": "q1", "payload": {}}))
    msg = await c.expect("error")
    t.eq(msg.get("re"), "q1", "errors carry re")

    await c.ws.send(b"\x00\x01binary")
    msg = await c.expect("error")
    t.eq(msg["payload"]["code"], "BAD_MESSAGE", "binary frame -> BAD_MESSAGE")

    ans = await c.request("heartbeat", {"timestamp": 2})
    t.eq(ans["type"], "heartbeat", "socket still works after every error")

    # Oversized message: TOO_LARGE first, then close 1009. A fragmented message counts whole.
    big = json.dumps({"type": "heartbeat", "payload": {"timestamp": 1, "pad": "x" * 20000}})
    await c.ws.send(big)
    msg = await c.expect("error")
    t.eq(msg["payload"]["code"], "TOO_LARGE", "oversized message -> TOO_LARGE")
    try:
        await asyncio.wait_for(c.ws.recv(), 5)
        t.ok(False, "socket closed after TOO_LARGE")
    except websockets.ConnectionClosed as e:
        t.eq(e.code, 1009, "closed with 1009")

    c2 = await Client.connect(srv)
    await c2.ws.send(iter(["{\"type\":\"heartbeat\",\"payload\":{\"pad\":\"", "y" * 9000,
                           "y" * 9000, "\"}}"]))
    msg = await c2.expect("error")
    t.eq(msg["payload"]["code"], "TOO_LARGE", "fragmented oversized message -> TOO_LARGE")
    try:
        await asyncio.wait_for(c2.ws.recv(), 5)
    except websockets.ConnectionClosed as e:
        t.eq(e.code, 1009, "fragmented: closed with 1009")

    # A guest's token reconnects as the same player; a bad token gets 401.
    tok = w["token"]
    c3 = await Client.connect(srv, token=tok)
    t.eq(c3.welcome["payload"]["playerId"], w["playerId"], "token reconnects the same player")
    t.ok("token" not in c3.welcome["payload"], "no new token for a known player")
    try:
        await websockets.connect(srv.ws_url + "?token=" + tok[:-2] + "xx")
        t.ok(False, "tampered token refused")
    except websockets.InvalidStatusCode as e:
        t.eq(e.status_code, 401, "tampered token -> 401 at upgrade")
    try:
        await websockets.connect(srv.ws_url,
                                 extra_headers={"Authorization": "Bearer " + tok})
        t.ok(True, "Authorization: Bearer accepted")
    except Exception as e:
        t.ok(False, "Authorization: Bearer accepted", e)
    try:
        await websockets.connect(srv.ws_url + "?token=" + "a" * 3000)
        t.ok(False, "oversized token refused")
    except websockets.InvalidStatusCode as e:
        t.eq(e.status_code, 401, "oversized token -> 401, not a guest")
    try:
        await websockets.connect(f"ws://127.0.0.1:{srv.port}/elsewhere")
        t.ok(False, "upgrade elsewhere refused")
    except websockets.InvalidStatusCode as e:
        t.eq(e.status_code, 404, "upgrade outside /ws -> 404")
    await c3.close()

    st, h, text = http("GET", srv.url + "/metrics")
    t.ok('errors_total{code="BAD_JSON"}' in text, "errors counted by code in /metrics")
    t.ok('ws_events_total{type="heartbeat"}' in text, "events counted by type in /metrics")


def early_frames_and_bad_utf8(srv):
    """A raw client sends its first frames in the same packet as the upgrade request, one of
    them not valid UTF-8: the good one is answered, the bad one gets BAD_JSON, nothing closes."""
    import base64, socket
    def frame(data):
        mask = os.urandom(4)
        return bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    hello = json.dumps({"type": "heartbeat", "id": "early", "payload": {"timestamp": 1}}).encode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
              + frame(hello) + frame(b'{"type":"\xff\xfe"}') + frame(hello))
    data, deadline = b"", time.time() + 5
    while time.time() < deadline and data.count(b'"re":"early"') < 2:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    t.eq(data.count(b'"re":"early"'), 2, "frames sent with the upgrade request are all answered")
    t.ok(b'"BAD_JSON"' in data, "invalid UTF-8 in a text frame -> BAD_JSON, and the socket stays open")


srv = Server("--max-message-bytes", "16384")
with srv:
    run(main(srv))
    early_frames_and_bad_utf8(srv)
    t.ok("\"level\":\"error\"" not in srv.logs(), "no error lines in the server log")
t.done()
