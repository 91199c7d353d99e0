#!/usr/bin/python3
# Every 429 and 503 says when to come back: on the failed-login throttle the seconds until it
# lets the client in again (at most 60), 5 on every 503. The header goes by status, in the two places answers are written: the HTTP layer
# (room limit, not ready here; also shutting down and out of memory) and the hand-written
# upgrade refusal (too many connections here; also shutting down). Other statuses carry none.
import base64, os, socket, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Server, Tap, http

t = Tap()


def raw(srv, request):
    """Sends request bytes and returns (status, headers dict with lower-case names)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, v in
                   (line.split(":", 1) for line in head[1:] if ":" in line))
    return int(head[0].split()[1]), headers


def upgrade_request():
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def held_socket(srv):
    """An upgraded socket: the one connection --max-connections 1 allows."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(upgrade_request())
    data = b""
    while b"welcome" not in data:  # the session is counted once welcome is on its way
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    assert data.startswith(b"HTTP/1.1 101"), data
    return s


with Server("--max-connections", "1", "--max-rooms", "1") as srv:
    st, h, body = http("GET", srv.url + "/health/ready")
    t.eq((st, h.get("Retry-After")), (200, None), "a 200 carries no Retry-After")
    st, h, body = http("GET", srv.url + "/nope")
    t.eq((st, h.get("Retry-After")), (404, None), "nor does a 404")

    # 429: the failed-login throttle (five failures a minute per account).
    http("POST", srv.url + "/api/auth/register", {"username": "retry_1", "password": "right horse"})
    for _ in range(5):
        http("POST", srv.url + "/api/auth/login", {"username": "retry_1", "password": "wrong horse"})
    st, h, body = http("POST", srv.url + "/api/auth/login", {"username": "retry_1", "password": "right horse"})
    wait = h.get("Retry-After") or ""
    t.ok(st == 429 and wait.isdigit() and 1 <= int(wait) <= 60,
         f"login throttle: 429 with Retry-After in seconds, at most a minute ({st}, {wait!r})")

    # 503: the room limit.
    st, _, guest = http("POST", srv.url + "/api/auth/guest")
    auth = {"Authorization": "Bearer " + guest["token"]}
    st, h, body = http("POST", srv.url + "/api/games/create", {"game": "tictactoe"}, auth)
    t.eq((st, h.get("Retry-After")), (200, None), "the first room is created")
    st, h, body = http("POST", srv.url + "/api/games/create", {"game": "tictactoe"}, auth)
    t.eq((st, body["error"]["code"], h.get("Retry-After")), (503, "SERVER_BUSY", "5"),
         "room limit: 503 with Retry-After: 5")

    # 503: not ready (the data directory is gone), then ready again.
    moved = srv.data_dir + ".away"
    os.rename(srv.data_dir, moved)
    st, h, body = http("GET", srv.url + "/health/ready")
    t.eq((st, h.get("Retry-After")), (503, "5"), "not ready: 503 with Retry-After: 5")
    os.rename(moved, srv.data_dir)
    st, h, body = http("GET", srv.url + "/health/ready")
    t.eq((st, h.get("Retry-After")), (200, None), "ready again: no Retry-After")

    # 503 at the upgrade (written by hand, not through the HTTP layer): too many connections.
    held = held_socket(srv)
    st, h = raw(srv, upgrade_request())
    t.eq((st, h.get("retry-after"), h.get("connection")), (503, "5", "close"),
         "upgrade over max-connections: 503 with Retry-After: 5")
    st, h = raw(srv, upgrade_request().replace(b"/ws", b"/elsewhere"))
    t.eq((st, h.get("retry-after")), (404, None), "an upgrade refused with 404 has none")

    held.close()
t.done()
