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
    st, h, text = http("GET", srv.url + "/metrics")
    t.ok("ws_keepalive_hangups_total 1" in text, "the hang-up is counted")

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


async def out_of_descriptors(srv):
    """With a 300-descriptor limit: WebSocket sessions stop with a clean 503 while descriptors
    remain; raw sockets that exhaust the rest are accepted and closed at once (no spinning, no
    log flood), and it serves again once they are gone."""
    def cpu_s():
        with open(f"/proc/{srv.proc.pid}/stat") as f:
            v = f.read().split()
        return (int(v[13]) + int(v[14])) / os.sysconf("SC_CLK_TCK")
    held, refused = [], None
    for _ in range(320):
        try:
            held.append(await websockets.connect(srv.ws_url))
        except websockets.InvalidStatusCode as e:
            refused = e.status_code
            break
    t.eq(refused, 503, f"sessions beyond what descriptors allow get 503 (after {len(held)})")
    st, _, _ = http("GET", srv.url + "/health/live")
    t.eq(st, 200, "HTTP still answers at that point")
    raws = []
    for _ in range(100):
        try:
            raws.append(socket.create_connection(("127.0.0.1", srv.port), timeout=2))
        except OSError:
            break
    lines0, c0 = len(srv.logs().splitlines()), cpu_s()
    time.sleep(2)
    t.ok(cpu_s() - c0 < 0.5, f"no spinning while descriptors are exhausted ({cpu_s() - c0:.2f} s CPU in 2 s)")
    t.ok(len(srv.logs().splitlines()) - lines0 < 50, "and no flood of log lines")
    for r in raws:
        r.close()
    deadline, st = time.time() + 10, 0
    while time.time() < deadline and st != 200:
        try:
            st = http("GET", srv.url + "/health/live", timeout=2)[0]
        except OSError:
            time.sleep(0.2)
    t.eq(st, 200, "it serves again once they are gone")
    for w in held:
        await w.close()


# --guest-rate 0: every socket here is a new guest from one address.
with Server("--guest-rate", "0") as srv:
    run(thousand(srv))
fd_srv = Server("--log-level", "warn", "--guest-rate", "0")
fd_srv.args = ["bash", "-c", "ulimit -n 300 && exec " + " ".join(fd_srv.args)]
with fd_srv:
    run(out_of_descriptors(fd_srv))
with Server("--ping-interval", "1", "--ping-timeout", "2") as srv:
    run(keepalive(srv))
with Server("--max-connections", "3") as srv:
    run(limit(srv))
with Server("--send-queue-bytes", "65536") as srv:
    run(slow_reader(srv))
t.done()
