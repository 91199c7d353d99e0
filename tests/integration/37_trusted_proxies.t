#!/usr/bin/python3
# The client address behind a proxy: X-Forwarded-For is believed only from peers listed in
# --trusted-proxies, and then every per-address limit (here the new-guest throttle, over HTTP
# and over the WebSocket upgrade) counts the forwarded address. From anyone else the header is
# ignored: a client cannot escape a limit by writing its own.
import asyncio, http.client as httpclient, os, subprocess, sys, urllib.parse
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import websockets
from mt import BIN, Server, Tap, http, run

t = Tap()


def guest(srv, xff=None):
    headers = {"X-Forwarded-For": xff} if xff is not None else {}
    st, _, _ = http("POST", srv.url + "/api/auth/guest", {}, headers=headers)
    return st


def guest_two_lines(srv, first, second):
    """A guest request carrying X-Forwarded-For on two header lines (a chain of proxies may
    add its own line instead of appending): they count as one list, first line first."""
    u = urllib.parse.urlsplit(srv.url)
    conn = httpclient.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("POST", "/api/auth/guest")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", "2")
    conn.putheader("X-Forwarded-For", first)
    conn.putheader("X-Forwarded-For", second)
    conn.endheaders(b"{}")
    st = conn.getresponse().status
    conn.close()
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
    t.eq([guest(srv, "2001:db8::5"), guest(srv, "2001:DB8:0::5")], [200, 200],
         "two spellings of one IPv6 client")
    t.eq(guest(srv, "[2001:0db8::0005]:443"), 429, "are one client: a third spelling is throttled")
    t.eq([guest(srv, "192.0.2.1"), guest(srv, "::ffff:192.0.2.1")], [200, 200],
         "an IPv4 client and its IPv4-mapped spelling")
    t.eq(guest(srv, "::FFFF:c000:0201"), 429, "are one client too")
    t.eq([guest_two_lines(srv, "198.51.100.30", "192.0.2.50"),
          guest_two_lines(srv, "198.51.100.31", "192.0.2.50")], [200, 200],
         "X-Forwarded-For on two lines: the right-most entry of the last line counts")
    t.eq(guest(srv, "192.0.2.50"), 429, "so those two were one client, whatever the first line said")

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
