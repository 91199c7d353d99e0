#!/usr/bin/python3
"""Hostile-client benchmark: starts the real server on a free loopback port and runs one
misbehaving client after another (~DURATION s each) while a well-behaved bystander sends a
heartbeat every 50 ms (RTT p50/p99/max) and a tic-tac-toe game against the random agent
measures the agent's reply time. Then measures the RSS cost of a waiting room.

    /usr/bin/python3 bench/hostile.py [--duration 10] [--only NAME,...] [--rooms 2000] [--skip-rooms]

Needs python3-websockets (/usr/bin/python3 on Debian). The server binary is $MT_BIN or
build/monkeytown. See docs/benchmarks.md, "Hostile clients and waiting rooms"."""
import argparse, asyncio, base64, contextlib, json, os, socket, struct, sys, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration", "lib"))
from mt import Server, http  # noqa: E402
import websockets  # noqa: E402

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def frame(opcode, payload=b"", masked=True):
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    mbit = 0x80 if masked else 0
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    # fast XOR mask for big payloads
    m = (mask * (n // 4 + 1))[:n]
    return head + mask + (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


class Stats:
    def __init__(self):
        self.sent = self.answered = self.unanswered = self.resets = 0
        self.notes = {}
        self.lock = threading.Lock()

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                if hasattr(self, k) and k != "notes":
                    setattr(self, k, getattr(self, k) + v)
                else:
                    self.notes[k] = self.notes.get(k, 0) + v


class Raw:
    """A hand-made WebSocket client over a blocking socket."""

    def __init__(self, port, token=None, rcvbuf=None, timeout=5):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(timeout)
        self.s.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        path = "/ws" + (f"?token={token}" if token else "")
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            c = self.s.recv(4096)
            if not c:
                raise ConnectionError("closed during upgrade")
            self.buf += c
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ")[1])
        self.ending = None
        if self.status == 101:
            f = self.next_frame()
            if not f or json.loads(f[1]).get("type") != "welcome":
                raise ConnectionError("no welcome")
            self.welcome = json.loads(f[1])

    def send(self, data):
        self.s.sendall(data)

    def next_frame(self, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            b = self.buf
            if len(b) >= 2:
                n, off = b[1] & 0x7F, 2
                if n == 126:
                    n, off = (struct.unpack(">H", b[2:4])[0], 4) if len(b) >= 4 else (None, 0)
                elif n == 127:
                    n, off = (struct.unpack(">Q", b[2:10])[0], 10) if len(b) >= 10 else (None, 0)
                if n is not None and len(b) >= off + n:
                    self.buf = b[off + n:]
                    return b[0] & 0x0F, b[off:off + n]
            left = deadline - time.monotonic()
            if left <= 0:
                self.ending = "timeout"
                return None
            self.s.settimeout(left)
            try:
                c = self.s.recv(262144)
            except socket.timeout:
                self.ending = "timeout"
                return None
            except ConnectionResetError:
                self.ending = "reset"
                return None
            if not c:
                self.ending = "eof"
                return None
            self.buf += c

    def until_close(self, timeout=5):
        """(texts, close code or None); self.ending says how the stream ended otherwise."""
        texts = []
        while True:
            f = self.next_frame(timeout)
            if f is None:
                return texts, None
            op, p = f
            if op == TEXT:
                texts.append(json.loads(p))
            elif op == CLOSE:
                return texts, (struct.unpack(">H", p[:2])[0] if len(p) >= 2 else None)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def guest_token(srv):
    st, _, body = http("POST", srv.url + "/api/auth/guest", {})
    if st != 200:
        raise RuntimeError(f"guest: {st} {body}")
    return body["token"]


# ---------------------------------------------------------------- misbehaviours
# Each runs until `stop` is set and records into Stats. "answered" means the documented answer
# arrived (an error message or the documented close code).

def one_close_case(srv, tok, st, data, want_code, want_error=None):
    try:
        r = Raw(srv.port, tok)
    except ConnectionResetError:
        st.add(resets=1)
        return
    try:
        r.send(data)
        st.add(sent=1)
        texts, code = r.until_close()
        ok = code == want_code and (want_error is None or
                                    any(m.get("payload", {}).get("code") == want_error for m in texts))
        st.add(answered=1 if ok else 0, unanswered=0 if ok else 1)
        if not ok:
            st.add(**{f"got close {code} / {r.ending}": 1})
        if r.ending == "reset":
            st.add(resets=1)
    except (ConnectionResetError, BrokenPipeError):
        st.add(resets=1, unanswered=1)
    finally:
        r.close()


def case_loop(fn):
    def run(srv, tok, st, stop):
        while not stop.is_set():
            fn(srv, tok, st)
    return run


def nested(srv, tok, st, stop):
    r = Raw(srv.port, tok)
    depths = [63, 100, 2100, 8000]
    i = 0
    while not stop.is_set():
        d = depths[i % len(depths)]
        i += 1
        action = "[" * d + "1" + "]" * d
        msg = '{"type":"player_input","id":%d,"payload":{"gameId":"x","action":%s}}' % (i, action)
        try:
            r.send(frame(TEXT, msg))
            st.add(sent=1)
            f = r.next_frame()
        except (ConnectionResetError, BrokenPipeError):
            st.add(resets=1)
            return
        if f and f[0] == TEXT and json.loads(f[1]).get("type") == "error":
            st.add(answered=1, **{"error " + json.loads(f[1])["payload"]["code"]: 1})
        else:
            st.add(unanswered=1)
            return
    r.close()


def unmasked(srv, tok, st):
    one_close_case(srv, tok, st, frame(TEXT, '{"type":"heartbeat","payload":{"timestamp":1}}',
                                       masked=False), 1002)


def big(size):
    body = '{"type":"heartbeat","payload":{"timestamp":1,"pad":"' + "x" * size + '"}}'
    data = frame(TEXT, body)  # built once: masking 1 MiB in Python costs the client CPU

    def fn(srv, tok, st):
        one_close_case(srv, tok, st, data, 1009, "TOO_LARGE")
    return fn


BAD_CLOSES = [(struct.pack(">H", 5000), 1002), (struct.pack(">H", 65535), 1002),
              (b"\x03", 1002), (struct.pack(">H", 1000) + b"\xff\xfe", 1007)]


def bad_close(srv, tok, st):
    st.n = getattr(st, "n", 0) + 1
    payload, want = BAD_CLOSES[st.n % 4]
    one_close_case(srv, tok, st, frame(CLOSE, payload), want)


def big_control(srv, tok, st):
    st.n = getattr(st, "n", 0) + 1
    op = [PING, PONG, CLOSE][st.n % 3]
    payload = (struct.pack(">H", 1000) if op == CLOSE else b"") + b"p" * 200
    one_close_case(srv, tok, st, frame(op, payload), 1002)


def never_reads_lobby(srv, tok, st, stop):
    """Subscribes to the lobby and never reads; a helper opens public rooms against an agent at
    20/s so that lobby_update traffic flows."""
    r = Raw(srv.port, tok, rcvbuf=4096)
    r.send(frame(TEXT, '{"type":"subscribe","id":1,"payload":{"topic":"lobby"}}'))
    st.add(sent=1)
    h = Raw(srv.port, guest_token(srv))
    h.s.settimeout(0.05)
    i = 0
    end_seen = None
    while not stop.is_set():
        i += 1
        try:
            h.send(frame(TEXT, json.dumps({"type": "create_game", "id": i, "payload": {
                "game": "tictactoe", "vsAgent": "random"}})))
        except OSError:
            pass
        try:
            while h.s.recv(65536):
                pass
        except OSError:
            pass
        if end_seen is None:
            try:  # did the server drop the never-reader? (peek without reading data)
                r.s.setblocking(False)
                d = r.s.recv(1, socket.MSG_PEEK)
                if d == b"":
                    end_seen = "eof"
            except BlockingIOError:
                pass
            except ConnectionResetError:
                end_seen = "reset"
            finally:
                r.s.setblocking(True)
        time.sleep(0.05)
    st.add(notes_rooms_opened=i)
    st.add(**{f"never-reader end: {end_seen or 'still open'}": 1})
    r.close()
    h.close()


def never_reads_heartbeats(srv, tok, st, stop):
    r = Raw(srv.port, tok, rcvbuf=4096)
    hb = frame(TEXT, '{"type":"heartbeat","id":123456,"payload":{"timestamp":1.5}}')
    r.s.settimeout(1)
    t0 = time.monotonic()
    while not stop.is_set():
        try:
            r.send(hb * 50)
            st.add(sent=50)
        except socket.timeout:
            st.add(**{"send blocked (server stopped reading)": 1})
            time.sleep(0.1)
        except ConnectionResetError:
            st.add(resets=1, **{f"dropped after {time.monotonic() - t0:.1f} s": 1})
            break
        except BrokenPipeError:
            st.add(**{f"EPIPE after {time.monotonic() - t0:.1f} s": 1})
            break
    r.close()


def create_flood(srv, tok, st, stop):
    """18 guest sockets, each sending create_game (no agent) at the allowed 1200/min (20/s)."""
    socks = []
    for _ in range(18):
        r = Raw(srv.port)  # a new guest each (18 of the 60 a minute)
        r.s.settimeout(0.01)
        socks.append(r)
    msgs = {}

    def count_answers(r, wait):
        # every frame r has (each waited for up to wait s): the answers to create_game, by kind
        while True:
            f = r.next_frame(wait)
            if not f:
                break
            m = json.loads(f[1])
            if "re" in m and m["type"] in ("game_created", "error"):
                k = m["type"] if m["type"] == "game_created" else m["payload"]["code"]
                msgs[k] = msgs.get(k, 0) + 1

    i = 0
    interval = 1 / 20
    nxt = time.monotonic()
    while not stop.is_set():
        for r in socks:
            i += 1
            r.send(frame(TEXT, json.dumps({"type": "create_game", "id": i,
                                           "payload": {"game": "tictactoe"}})))
            st.add(sent=1)
        nxt += interval
        for r in socks:
            count_answers(r, 0.0)
        time.sleep(max(0, nxt - time.monotonic()))
    time.sleep(0.5)
    for r in socks:
        count_answers(r, 0.2)
        r.close()
    st.add(answered=sum(msgs.values()), **msgs)
    st.add(unanswered=st.sent - st.answered)


def conn_flood(srv, tok, st, stop):
    """Opens sockets as fast as one thread can (with a token: the guest limit would refuse
    them with 429 otherwise), 200 held at a time, closed oldest first."""
    held = []
    while not stop.is_set():
        try:
            r = Raw(srv.port, tok)
            st.add(sent=1)
            if r.status == 101:
                st.add(answered=1, established=1)
            else:
                st.add(answered=1, **{f"http {r.status}": 1})
            held.append(r)
        except ConnectionResetError:
            st.add(sent=1, resets=1, unanswered=1)
        except (ConnectionError, socket.timeout, OSError) as e:
            st.add(sent=1, unanswered=1, **{type(e).__name__: 1})
        if len(held) > 200:
            held.pop(0).close()
    for r in held:
        r.close()


CASES = [
    ("baseline (no hostile client)", None),
    ("nested JSON in action (63/100/2100/8000 deep)", nested),
    ("unmasked frames", case_loop(unmasked)),
    ("100 KB messages", case_loop(big(100 * 1024))),
    ("1 MiB messages", case_loop(big(1024 * 1024))),
    ("bad close frames (5000, 65535, 1 byte, non-UTF-8)", case_loop(bad_close)),
    ("control frames of 200 bytes", case_loop(big_control)),
    ("never reads, subscribed to lobby", never_reads_lobby),
    ("never reads, spams heartbeats", never_reads_heartbeats),
    ("connection flood (200 held)", conn_flood),
    # last: its 20 waiting rooms stay for --waiting-room-ttl (600 s) and, counted per address,
    # refuse every later create_game from 127.0.0.1 (the agent game's included)
    ("create_game flood, 18 guests at 20/s each", create_flood),
]


# ---------------------------------------------------------------- well-behaved clients

def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def bystander(url, stop, rtts, missed):
    ws = await websockets.connect(url, max_size=2 ** 22)
    await ws.recv()
    pending = {}

    async def reader():
        async for raw in ws:
            m = json.loads(raw)
            if m.get("type") == "heartbeat" and m.get("re") in pending:
                rtts.append((time.perf_counter() - pending.pop(m["re"])) * 1000)

    rt = asyncio.ensure_future(reader())
    i = 0
    nxt = time.perf_counter()
    while not stop.is_set():
        i += 1
        pending[i] = time.perf_counter()
        await ws.send(json.dumps({"type": "heartbeat", "id": i, "payload": {"timestamp": i}}))
        nxt += 0.05
        await asyncio.sleep(max(0, nxt - time.perf_counter()))
    await asyncio.sleep(0.5)
    missed.append(len(pending))
    rt.cancel()
    await ws.close()


async def agent_player(url, stop, replies, errors):
    """Plays tic-tac-toe against the random agent, one move every 300 ms (the input limit is 30
    a minute, a burst of 30): agent reply = our move sent -> the agent's move event."""
    ws = await websockets.connect(url, max_size=2 ** 22)
    await ws.recv()
    while not stop.is_set():
        await ws.send(json.dumps({"type": "create_game", "id": "c",
                                  "payload": {"game": "tictactoe", "vsAgent": "random"}}))
        gid, sent_at, over = None, None, False
        while not over and not stop.is_set():
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            except asyncio.TimeoutError:
                errors.append("timeout")
                break
            t = m.get("type")
            if t == "game_created":
                gid = m["payload"]["gameId"]
            elif t == "error":
                errors.append(m["payload"]["code"])
                await asyncio.sleep(0.5)
                break
            elif t == "game_over":
                over = True
            elif t == "game_event" and m["payload"]["event"].get("kind") == "move" \
                    and m["payload"]["event"].get("seat") == 2 and sent_at:
                replies.append((time.perf_counter() - sent_at) * 1000)
                sent_at = None
            elif t == "game_state" and m.get("gameId") == gid:
                p = m["payload"]
                if p.get("status") == "active" and p.get("toMove") == p.get("you") and p.get("legal"):
                    await asyncio.sleep(0.3)
                    sent_at = time.perf_counter()
                    await ws.send(json.dumps({"type": "player_input", "id": "m", "payload": {
                        "gameId": gid, "action": p["legal"][0]}}))
    await ws.close()


async def measure(srv, tok_by, seconds, hostile, hostile_tok):
    stop = threading.Event()
    astop = threading.Event()
    st = Stats()
    rtts, missed, replies, errors = [], [], [], []
    url = srv.ws_url + f"?token={tok_by}"
    th = None
    rss0 = rss_kib(srv.proc.pid)
    if hostile:
        def runner():
            try:
                hostile(srv, hostile_tok, st, stop)
            except Exception as e:  # noqa: BLE001
                st.add(**{f"client exception {type(e).__name__}: {e}"[:80]: 1})
        th = threading.Thread(target=runner, daemon=True)
        th.start()
    tasks = [asyncio.ensure_future(bystander(url, astop, rtts, missed)),
             asyncio.ensure_future(agent_player(url, astop, replies, errors))]
    await asyncio.sleep(seconds)
    stop.set()
    astop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    if th:
        await asyncio.get_event_loop().run_in_executor(None, th.join, 15)
    alive = srv.proc.poll() is None
    rss1 = rss_kib(srv.proc.pid) if alive else 0
    return dict(st=st, rtts=rtts, missed=sum(missed), replies=replies, errors=errors,
                alive=alive, rss0=rss0, rss1=rss1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--only", default="")
    ap.add_argument("--rooms", type=int, default=2000)
    ap.add_argument("--skip-rooms", action="store_true")
    ap.add_argument("--skip-hostile", action="store_true")
    a = ap.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  loadavg {open('/proc/loadavg').read().strip()}"
          f"  cpus {os.cpu_count()}", flush=True)
    if not a.skip_hostile:
        srv = Server("--log-level", "warn").start()
        try:
            tok_by, tok_h = guest_token(srv), guest_token(srv)
            rows = []
            for name, fn in CASES:
                if a.only and not any(s in name for s in a.only.split(",")):
                    continue
                res = asyncio.run(measure(srv, tok_by, a.duration, fn, tok_h))
                rows.append((name, res))
                st, r = res["st"], res["rtts"]
                print(f"| {name} | {st.sent} | {st.answered} | {st.unanswered} | {st.resets} | "
                      f"{'alive' if res['alive'] else 'DEAD'} | {res['rss0'] // 1024} → {res['rss1'] // 1024} | "
                      f"{pct(r, 50):.2f} / {pct(r, 99):.2f} / {max(r) if r else float('nan'):.2f} "
                      f"({len(r)}, {res['missed']} lost) | "
                      f"{pct(res['replies'], 50):.1f} / {max(res['replies']) if res['replies'] else float('nan'):.1f} "
                      f"({len(res['replies'])}) | {'met' if r and pct(r, 99) < 10 else 'NOT met'} |",
                      flush=True)
                notes = {k: v for k, v in st.notes.items()}
                if res["errors"]:
                    notes["agent-game errors"] = ",".join(sorted(set(res["errors"])))
                if notes:
                    print(f"#   {name}: {notes}", flush=True)
                if not res["alive"]:
                    print(srv.logs()[-3000:])
                    break
                time.sleep(1)
        finally:
            srv.stop()
    if not a.skip_rooms:
        rooms(a.rooms)


def create_games(r, count, timeout, answers):
    """Sends count create_game (tictactoe) on the Raw socket r and returns the messages that
    answer(m) says answer them, read until there are count (or no frame came in timeout s)."""
    for i in range(count):
        r.send(frame(TEXT, json.dumps({"type": "create_game", "id": i,
                                       "payload": {"game": "tictactoe"}})))
    got = []
    while len(got) < count:
        f = r.next_frame(timeout)
        if not f:
            break
        m = json.loads(f[1])
        if answers(m):
            got.append(m)
    return got


@contextlib.contextmanager
def raw_clients(nsocks, *server_args):
    """A fresh server (started with server_args) and nsocks Raw sockets to it, closed and
    stopped on the way out."""
    srv = Server(*server_args).start()
    socks = []
    try:
        socks.extend(Raw(srv.port) for _ in range(nsocks))
        yield srv, socks
    finally:
        for r in socks:
            r.close()
        srv.stop()


def rooms(n):
    with raw_clients(4, "--log-level", "warn", "--waiting-rooms-per-player", "1000",
                     "--waiting-rooms-per-address", "100000", "--rooms-rate", "1000000",
                     "--guest-rate", "0") as (srv, socks):
        time.sleep(1)
        r0 = rss_kib(srv.proc.pid)
        made = 0
        per = n // len(socks)
        for r in socks:
            got = create_games(r, per, 10, lambda m: m.get("type") in ("game_created", "error"))
            for m in got:
                if m.get("type") == "error":
                    print("# error", m)
            made += len(got)
        time.sleep(1)
        r1 = rss_kib(srv.proc.pid)
        print(f"waiting rooms: {made} created; RSS {r0} → {r1} KiB; "
              f"{(r1 - r0) / max(made, 1):.1f} KiB per waiting room", flush=True)
    with raw_clients(18, "--log-level", "warn") as (srv, socks):
        created, errs = 0, {}
        for r in socks:
            for m in create_games(r, 5, 5, lambda m: m.get("type") == "game_created" or
                                  (m.get("type") == "error" and "re" in m)):
                if m.get("type") == "game_created":
                    created += 1
                else:
                    msg = m["payload"]["message"]
                    errs[msg] = errs.get(msg, 0) + 1
        print(f"default limits, 18 guest sockets from one address, 5 create_game each: "
              f"{created} waiting rooms held; refusals: {errs}", flush=True)


if __name__ == "__main__":
    main()
