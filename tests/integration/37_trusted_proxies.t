#!/usr/bin/python3
# The client address behind a proxy: X-Forwarded-For is believed only from peers listed in
# --trusted-proxies, and then every per-address limit (here the new-guest throttle, over HTTP
# and over the WebSocket upgrade) counts the forwarded address. From anyone else the header is
# ignored: a client cannot escape a limit by writing its own.
import asyncio, os, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import websockets
from mt import BIN, Server, Tap, http, run

t = Tap()


def guest(srv, xff=None):
    headers = {"X-Forwarded-For": xff} if xff is not None else {}
    st, _, _ = http("POST", srv.url + "/api/auth/guest", {}, headers=headers)
    return st


async def upgrade(srv, xff):
    """The HTTP status of an anonymous upgrade (101 when it became a socket)."""
    try:
        ws = await websockets.connect(srv.ws_url, extra_headers={"X-Forwarded-For": xff})
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code
    await ws.close()
    return 101


with Server("--trusted-proxies", "127.0.0.1/32, ::1", "--guest-rate", "2") as srv:
    t.eq([guest(srv, "203.0.113.5"), guest(srv, "203.0.113.5")], [200, 200],
         "two guests from one forwarded address")
    t.eq(guest(srv, "203.0.113.5"), 429, "the third from that address is throttled")
    t.eq(guest(srv, "203.0.113.6"), 200, "another forwarded address has its own allowance")
    t.eq(guest(srv, "198.51.100.1, 203.0.113.5"), 429,
         "an address the client wrote on the left is not believed: the proxy's entry counts")
    t.eq(guest(srv, "203.0.113.7, 127.0.0.1"), 200,
         "a trusted proxy's own entry on the right is skipped")
    t.eq([guest(srv, "203.0.113.7"), guest(srv, "203.0.113.7")], [200, 429],
         "and the address before it was the one counted")
    t.eq(run(upgrade(srv, "203.0.113.6")), 101, "an anonymous upgrade counts the forwarded address too")
    t.eq(run(upgrade(srv, "203.0.113.6")), 429, "its third guest is refused at the upgrade")
    t.eq(run(upgrade(srv, "203.0.113.9")), 101, "while another address still gets a socket")
    t.eq([guest(srv), guest(srv)], [200, 200], "without the header the proxy itself is the client")
    t.eq(guest(srv, "not-an-address"), 429, "a malformed header: the peer is the client")

with Server("--guest-rate", "2") as srv:
    t.eq([guest(srv, "203.0.113.5"), guest(srv, "203.0.113.6")], [200, 200],
         "no trusted proxies: two guests")
    t.eq(guest(srv, "203.0.113.7"), 429,
         "a forged X-Forwarded-For does not escape the limit: the peer is counted")

for bad in ("10.0.0.0/33", "proxy.example", "1.2.3.4/8, ::1/200"):
    p = subprocess.run([BIN, "--trusted-proxies", bad, "--port", "0", "--data-dir", "/nonexistent"],
                       capture_output=True, text=True, timeout=20)
    t.ok(p.returncode == 2 and "trusted-proxies" in p.stdout + p.stderr,
         f"--trusted-proxies {bad!r} refused at start-up (exit {p.returncode})")
t.done()
