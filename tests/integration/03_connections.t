#!/usr/bin/python3
# Connections: 1,000 concurrent sockets all answered, keepalive hang-up of a client that never
# answers pings, the max-connections limit (503 at upgrade), a slow reader disconnected.
import asyncio, base64, json, os, socket, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import websockets
from mt import Client, Server, Tap, http, run

t = Tap()


async def thousand(srv):
    n = 1000
    clients = []
    for i in range(0, n, 100):
        clients += await asyncio.gather(*[Client.connect(srv, open_timeout=20) for _ in range(100)])
    t.eq(len(clients), n, f"{n} sockets opened")
    answers = await asyncio.gather(*[c.request("heartbeat", {"timestamp": i}, id_=i, timeout=30)
                                     for i, c in enumerate(clients)])
    t.ok(all(a["payload"]["timestamp"] == i for i, a in enumerate(answers)),
         f"all {n} heartbeats answered correctly")
    st, h, text = http("GET", srv.url + "/metrics")
    t.ok(f"ws_connections {n}" in text, "ws_connections gauge counts them")
    await asyncio.gather(*[c.close() for c in clients])


def raw_upgrade(port):
    """A WebSocket client by hand that completes the handshake and then never reads or pongs."""
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = s.recv(4096)
    return s, head


async def keepalive(srv):
    s, head = raw_upgrade(srv.port)
    t.ok(head.startswith(b"HTTP/1.1 101"), "raw client upgraded")
    # ping after 1 s, hang up after 2 s of no pong: the socket must be closed by ~3 s.
    s.settimeout(8)
    closed_at = None
    start = time.monotonic()
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                closed_at = time.monotonic() - start
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        closed_at = time.monotonic() - start
    t.ok(closed_at is not None and closed_at < 7.5, f"silent client hung up (after {closed_at}s)")
    t.ok(b"\x89" in data, "server pinged before hanging up")
    s.close()

    # A client that answers pings (python websockets does) stays open past the hang-up time.
    c = await Client.connect(srv)
    await asyncio.sleep(3.5)
    ans = await c.request("heartbeat", {"timestamp": 1})
    t.eq(ans["type"], "heartbeat", "ponging client survives keepalive")
    await c.close()


async def limit(srv):
    clients = [await Client.connect(srv) for _ in range(3)]
    try:
        await websockets.connect(srv.ws_url)
        t.ok(False, "4th socket refused")
    except websockets.InvalidStatusCode as e:
        t.eq(e.status_code, 503, "above max-connections the upgrade gets 503")
    st, h, body = http("GET", srv.url + "/health/live")
    t.eq(st, 200, "HTTP still answers at the limit")
    await clients[0].close()
    await asyncio.sleep(0.3)
    c = await Client.connect(srv)
    t.ok(c.welcome["type"] == "welcome", "a freed slot is reusable")
    for x in clients[1:] + [c]:
        await x.close()


def masked_frame(text):
    data = text.encode()
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def slow_reader(srv):
    # A raw client that asks for many answers and reads none: once the kernel buffers are full
    # its server-side queue passes the cap and the server closes it; nobody else notices.
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:  # like any client, wait for 101 before sending frames
        head += s.recv(1)
    frame = masked_frame(json.dumps({"type": "heartbeat", "payload": {"timestamp": 1}}))
    batch = frame * 1000
    s.settimeout(0.2)
    sent = 0
    counted = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not counted:
        try:
            s.sendall(batch)
            sent += 1000
        except socket.timeout:
            pass  # our own send buffer is full: the server reads slower than we write
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server has closed us
        st, h, text = http("GET", srv.url + "/metrics")
        counted = "ws_slow_client_disconnects_total 1" in text
    t.ok(counted, f"slow reader disconnected and counted (after {sent} requests)")
    other = await Client.connect(srv)
    ans = await other.request("heartbeat", {"timestamp": 5})
    t.eq(ans["type"], "heartbeat", "others unaffected by the slow reader")
    await other.close()
    s.close()


with Server() as srv:
    run(thousand(srv))
with Server("--ping-interval", "1", "--ping-timeout", "2") as srv:
    run(keepalive(srv))
with Server("--max-connections", "3") as srv:
    run(limit(srv))
with Server("--send-queue-bytes", "65536") as srv:
    run(slow_reader(srv))
t.done()
