#!/usr/bin/python3
# Frames a hostile client sends, by hand over raw sockets (a WebSocket library refuses to build
# them): unmasked frames, invalid close frames, oversized control frames and lengths, huge
# messages sent in one go, and a client that never reads. Each must end with the close code
# RFC 6455 asks for, delivered before the TCP connection ends, and nobody else may notice.
import asyncio, base64, json, os, socket, struct, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, http, run

t = Tap()

UPGRADE = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def frame(opcode, payload=b"", masked=True, fin=True, length=None, ext=None):
    """One client frame. length/ext force the length field: ext 2 or 8 picks the 16- or 64-bit
    form whatever the payload, and length is the value written there."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    if ext is None:
        ext = 0 if n < 126 else 2 if n < 65536 else 8
    head = bytes([(0x80 if fin else 0) | opcode])
    mbit = 0x80 if masked else 0
    if ext == 0:
        head += bytes([mbit | n])
    elif ext == 2:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def heartbeat(id_):
    return json.dumps({"type": "heartbeat", "id": id_, "payload": {"timestamp": 1}})


class Raw:
    """A WebSocket client by hand: the upgrade, then frames in and out as bytes."""

    def __init__(self, srv, first=b"", rcvbuf=None):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.connect(("127.0.0.1", srv.port))
        self.s.settimeout(10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(UPGRADE.format(key=key).encode() + first)
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise RuntimeError("closed during the upgrade")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = head.split(b"\r\n")[0]
        self.ending = None  # how the stream ended: "eof", "reset" or "timeout"

    def send(self, data):
        self.s.sendall(data)

    def next_frame(self, timeout=10):
        """(opcode, payload) of the next server frame, or None once the stream has ended."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2:
                n, off = self.buf[1] & 0x7F, 2
                if n == 126 and len(self.buf) >= 4:
                    n, off = struct.unpack(">H", self.buf[2:4])[0], 4
                elif n == 127 and len(self.buf) >= 10:
                    n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
                if (self.buf[1] & 0x7F) < 126 or off > 2:
                    if len(self.buf) >= off + n:
                        op, payload = self.buf[0] & 0x0F, self.buf[off:off + n]
                        self.buf = self.buf[off + n:]
                        return op, payload
            left = deadline - time.monotonic()
            if left <= 0:
                self.ending = "timeout"
                return None
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                self.ending = "timeout"
                return None
            except ConnectionResetError:
                self.ending = "reset"
                return None
            if not chunk:
                self.ending = "eof"
                return None
            self.buf += chunk

    def messages_until_close(self, timeout=10, reply=False):
        """Reads to the close frame: (text messages before it, close code or None, reason),
        then reads on to the end of the TCP stream, after answering with a close frame when
        reply is set (as a client that had not sent one must)."""
        texts = []
        while True:
            f = self.next_frame(timeout)
            if f is None:
                return texts, None, self.ending
            op, payload = f
            if op == TEXT:
                texts.append(json.loads(payload))
            elif op == CLOSE:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                if reply:
                    self.send(frame(CLOSE, payload[:2]))
                after = self.next_frame(timeout)
                self.after_close = after  # nothing may follow a close frame
                return texts, code, payload[2:]

    def close(self):
        self.s.close()


def welcomed(srv, **kw):
    r = Raw(srv, **kw)
    f = r.next_frame()
    if not (f and f[0] == TEXT and json.loads(f[1])["type"] == "welcome"):
        raise RuntimeError(f"no welcome: {f!r}")
    return r


def expect_close(srv, name, data, want, first=b"", answered=(), reply=False):
    """Sends data after the welcome (or first with the upgrade request itself) and expects
    close `want` as the last frame, then the end of the stream without a reset."""
    r = Raw(srv, first=first) if first else welcomed(srv)
    if data:
        r.send(data)
    texts, code, reason = r.messages_until_close(reply=reply)
    t.eq(code, want, f"{name}: close {want}" + (f" ({reason!r})" if code else f" (stream: {reason})"))
    if code is not None:
        t.ok(r.after_close is None and r.ending == "eof",
             f"{name}: the stream ends after the close frame ({r.ending}, {r.after_close!r})")
    got = [m.get("re") for m in texts if m["type"] == "heartbeat"]
    t.eq(got, list(answered), f"{name}: answers before the close")
    r.close()
    return texts


def still_serving(srv, name):
    r = welcomed(srv)
    r.send(frame(TEXT, heartbeat("alive")))
    f = r.next_frame()
    ok = f is not None and f[0] == TEXT and json.loads(f[1]).get("re") == "alive"
    t.ok(ok, f"after {name}: a new socket is served", f)
    r.close()


def unmasked(srv):
    # 1. Unmasked client frames (RFC 6455 5.1): close 1002, never processed, wherever they
    # come: alone, after a good frame, in the upgrade request's packet, split byte by byte.
    expect_close(srv, "unmasked text frame", frame(TEXT, heartbeat("u1"), masked=False), 1002)
    expect_close(srv, "unmasked frame after a masked one",
                 frame(TEXT, heartbeat("m1")) + frame(TEXT, heartbeat("u2"), masked=False), 1002,
                 answered=["m1"])
    expect_close(srv, "unmasked ping", frame(PING, b"hi", masked=False), 1002)
    expect_close(srv, "unmasked empty frame", frame(TEXT, b"", masked=False), 1002)
    expect_close(srv, "unmasked frame in the upgrade request's packet", None, 1002,
                 first=frame(TEXT, heartbeat("m2")) + frame(TEXT, heartbeat("u3"), masked=False),
                 answered=["m2"])
    r = welcomed(srv)
    for b in frame(TEXT, heartbeat("m3")) + frame(TEXT, heartbeat("u4"), masked=False):
        r.send(bytes([b]))
    texts, code, _ = r.messages_until_close()
    t.eq(code, 1002, "unmasked frame sent byte by byte: close 1002")
    t.eq([m.get("re") for m in texts if m["type"] == "heartbeat"], ["m3"],
         "byte by byte: the masked frame before it is answered")
    r.close()
    still_serving(srv, "unmasked frames")


def close_frames(srv):
    # 2. Close frames: invalid codes and a 1-byte payload get 1002, a reason that is not UTF-8
    # gets 1007; valid ones are echoed.
    # 1012-1014 came after RFC 6455; libwebsockets refuses them.
    for code in (5000, 65535, 999, 0, 1004, 1005, 1006, 1012, 1014, 1015, 1016, 2999):
        expect_close(srv, f"close code {code}", frame(CLOSE, struct.pack(">H", code)), 1002)
    expect_close(srv, "1-byte close payload", frame(CLOSE, b"\x03"), 1002)
    expect_close(srv, "close reason not UTF-8",
                 frame(CLOSE, struct.pack(">H", 1000) + b"ok\xff\xfe"), 1007)
    expect_close(srv, "close reason with a surrogate",
                 frame(CLOSE, struct.pack(">H", 4000) + b"\xed\xa0\x80"), 1007)
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999):
        expect_close(srv, f"close code {code} echoed",
                     frame(CLOSE, struct.pack(">H", code) + "déjà".encode()), code)
    r = welcomed(srv)
    r.send(frame(CLOSE, b""))
    f = r.next_frame()
    t.ok(f is not None and f[0] == CLOSE and len(f[1]) in (0, 2),
         f"empty close payload answered with a close frame ({f!r})")
    r.close()
    still_serving(srv, "close frames")


def control_frames(srv):
    # 3. Control frames over 125 bytes, and a 64-bit length with its top bit set: 1002.
    expect_close(srv, "ping of 126 bytes", frame(PING, b"p" * 126), 1002)
    expect_close(srv, "close of 126 bytes", frame(CLOSE, struct.pack(">H", 1000) + b"r" * 124),
                 1002)
    expect_close(srv, "ping with a 64-bit length", frame(PING, b"p" * 4, ext=8), 1002)
    expect_close(srv, "64-bit length with the top bit set",
                 frame(TEXT, b"", length=1 << 63, ext=8)[:14], 1002)
    r = welcomed(srv)
    r.send(frame(PING, b"q" * 125))
    f = r.next_frame()
    t.eq(f, (PONG, b"q" * 125), "a ping of 125 bytes is answered by its pong")
    r.send(frame(TEXT, heartbeat("after-ping")))
    f = r.next_frame()
    t.ok(f and json.loads(f[1]).get("re") == "after-ping", "and the socket stays open")
    r.close()
    # What libwebsockets refuses itself, with 1002 too. It then waits for the client's close
    # frame (up to 5 s) before it ends the stream, so the client answers like a real one.
    rsv1 = bytearray(frame(TEXT, b""))  # empty: lws goes on parsing the rest as a frame
    rsv1[0] |= 0x40
    for name, data in (("reserved opcode 3", frame(3, b"x")),
                       ("reserved opcode 0xB", frame(0xB, b"x")),
                       ("RSV1 without an extension", bytes(rsv1)),
                       ("fragmented ping", frame(PING, b"x", fin=False)),
                       ("continuation without a start", frame(0, b"x")),
                       ("text frame inside a fragmented message",
                        frame(TEXT, b"{", fin=False) + frame(TEXT, b"}"))):
        expect_close(srv, name, data, 1002, reply=True)
    still_serving(srv, "control frames")


def oversized(srv):
    # 4. A message far over --max-message-bytes sent in one go: the client can finish sending
    # and still reads TOO_LARGE and the 1009 close, never a reset.
    for name, size in (("100 KB text", 100_000), ("1 MiB text", 1 << 20)):
        r = welcomed(srv)
        body = json.dumps({"type": "heartbeat", "payload": {"pad": "x" * size}})
        try:
            r.send(frame(TEXT, body))
            sent = "sent"
        except (ConnectionResetError, BrokenPipeError) as e:
            sent = repr(e)
        t.eq(sent, "sent", f"{name}: the whole message could be sent")
        texts, code, reason = r.messages_until_close()
        t.eq([m["payload"]["code"] for m in texts if m["type"] == "error"], ["TOO_LARGE"],
             f"{name}: error TOO_LARGE")
        t.eq(code, 1009, f"{name}: then close 1009 (stream: {r.ending})")
        r.close()
    still_serving(srv, "oversized messages")


def server_holds(srv, sock):
    """Whether the server process still holds its end of sock's connection: the kernel lists
    the server side (local = the server's port, remote = sock's port) with the inode of an open
    socket; a socket no process holds any more shows inode 0 or is gone."""
    port = sock.getsockname()[1]
    want_local = f"0100007F:{srv.port:04X}"
    want_remote = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1] == want_local and cols[2] == want_remote:
                inode = cols[9]
                if inode == "0":
                    return False
                fds = os.listdir(f"/proc/{srv.proc.pid}/fd")
                for fd in fds:
                    try:
                        if os.readlink(f"/proc/{srv.proc.pid}/fd/{fd}") == f"socket:[{inode}]":
                            return True
                    except OSError:
                        pass
                return False
    return False


async def never_reads(srv):
    # 5. A client that asks for answers and never reads them: once the kernel's buffers are
    # full its queue grows, and when it passes --send-queue-bytes the server drops the queue
    # and releases the socket at once, even though the close frame cannot reach the client.
    # Small batches, so that the queue grows only once the socket takes nothing more. A
    # well-behaved client is served all along.
    r = welcomed(srv, rcvbuf=4096)
    good = await Client.connect(srv)
    batch = frame(TEXT, heartbeat("flood")) * 20
    r.s.settimeout(0.2)
    decided = None
    served = 0
    start = time.monotonic()
    while time.monotonic() - start < 60 and decided is None:
        for _ in range(10):
            try:
                r.s.sendall(batch)
            except socket.timeout:
                pass
            except (BrokenPipeError, ConnectionResetError):
                pass
        ans = await good.request("heartbeat", {"timestamp": served}, timeout=10)
        served += ans["type"] == "heartbeat"
        st, h, text = http("GET", srv.url + "/metrics")
        if "ws_slow_client_disconnects_total 1" in text:
            decided = time.monotonic()
    t.ok(decided is not None, f"the non-reader's queue overflowed (after {served} good heartbeats)")
    released = None
    while decided and time.monotonic() - decided < 5:
        if not server_holds(srv, r.s):
            released = time.monotonic() - decided
            break
        await asyncio.sleep(0.05)
    t.ok(released is not None, f"the server released the socket within 5 s ({released})")
    t.ok(served > 0, f"the well-behaved client was served meanwhile ({served} heartbeats)")
    ans = await good.request("heartbeat", {"timestamp": 9})
    t.eq(ans["type"], "heartbeat", "and is served after")
    await good.close()
    r.close()


with Server("--max-message-bytes", "16384") as srv:
    unmasked(srv)
    close_frames(srv)
    control_frames(srv)
    oversized(srv)
    t.ok("\"level\":\"error\"" not in srv.logs(), "no error lines in the server log")
with Server("--send-queue-bytes", "65536") as srv:
    run(never_reads(srv))
t.done()
