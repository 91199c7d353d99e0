"""Helpers for Monkeytown integration tests: start the real server, speak TAP, and talk to it
with a WebSocket client that is not ours (python3-websockets) and plain HTTP (urllib).

Every test is a standalone .t script run by `prove`. The server binary is $MT_BIN, else
build/monkeytown under the repository root."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import websockets

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.environ.get("MT_BIN", os.path.join(ROOT, "build", "monkeytown"))


class Tap:
    """A TAP producer: ok/eq checks, a diagnostic on failure, the plan at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print(("ok" if cond else "not ok") + f" {self.n} - {name}", flush=True)
        if not cond:
            self.failed += 1
            # On stderr, as Test::More does: prove shows it without -v, so a CI log says why.
            print(f"#   Failed test {self.n} - {name}", file=sys.stderr, flush=True)
            if diag is not None:
                for line in str(diag).splitlines():
                    print(f"#   {line}", file=sys.stderr, flush=True)
        return cond

    def eq(self, got, want, name):
        return self.ok(got == want, name, f"got:  {got!r}\nwant: {want!r}")

    def diag(self, text):
        for line in str(text).splitlines():
            print(f"# {line}", flush=True)

    def done(self):
        print(f"1..{self.n}", flush=True)
        sys.exit(1 if self.failed else 0)


def wait_for(cond, timeout=30, step=0.1):
    """Polls cond() until it returns something true or timeout seconds pass; returns its last
    value. Tests wait for conditions this way, never for a fixed time."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(step)
    return cond()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The real monkeytown binary on a free loopback port with its own data directory."""

    def __init__(self, *args, env=None, games=None, agents=None, port=None):
        # "--games DIR" / "--agents DIR" in args override the repository's folders.
        args = list(args)
        for flag in ("--games", "--agents"):
            if flag in args:
                i = args.index(flag)
                if flag == "--games":
                    games = args[i + 1]
                else:
                    agents = args[i + 1]
                del args[i:i + 2]
        self.port = port or free_port()
        self.tmp = tempfile.mkdtemp(prefix="mt-test-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.args = [BIN, "--host", "127.0.0.1", "--port", str(self.port),
                     "--data-dir", self.data_dir,
                     "--games", games or os.path.join(ROOT, "games"),
                     "--agents", agents or os.path.join(ROOT, "agents"),
                     "--lua-dir", os.path.join(ROOT, "lua"),
                     "--web-dir", os.path.join(ROOT, "web"),
                     "--log-level", "debug", *args]
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env)
        if wait:
            self.wait_live()
        return self

    def wait_live(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                with urllib.request.urlopen(self.url + "/health/live", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not come up:\n" + self.logs())

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals the server and returns its exit status (None if it had to be killed)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_lines(self):
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def http(method, url, body=None, headers=None, timeout=10):
    """Returns (status, headers, parsed JSON or text) without raising on 4xx/5xx."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, rh, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, rh, raw = e.code, e.headers, e.read()
    text = raw.decode(errors="replace")
    if "json" in (rh.get("Content-Type") or ""):
        try:
            return status, rh, json.loads(text)
        except ValueError:
            pass
    return status, rh, text


class Client:
    """One WebSocket connection with a buffer of received messages."""

    def __init__(self, ws):
        self.ws = ws
        self.seen = []

    @classmethod
    async def connect(cls, server, token=None, **kw):
        url = server.ws_url + (f"?token={token}" if token else "")
        ws = await websockets.connect(url, max_size=2 ** 22, **kw)
        c = cls(ws)
        c.welcome = await c.expect("welcome")
        return c

    async def send(self, type_, payload=None, id_=None, **extra):
        msg = {"type": type_, "payload": payload if payload is not None else {}}
        if id_ is not None:
            msg["id"] = id_
        msg.update(extra)
        await self.ws.send(json.dumps(msg))

    async def recv(self, timeout=5):
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        msg = json.loads(raw)
        self.seen.append(msg)
        return msg

    async def expect(self, type_, timeout=5, where=None):
        """Reads until a message of type_ (and matching where(msg)) arrives; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError(f"no {type_} within {timeout}s")
            msg = await self.recv(left)
            if msg.get("type") == type_ and (where is None or where(msg)):
                return msg

    async def request(self, type_, payload=None, id_=None, timeout=5):
        """Sends with an id and returns the first message carrying re == id."""
        id_ = id_ if id_ is not None else f"r{time.monotonic_ns()}"
        await self.send(type_, payload, id_)
        return await self.expect_re(id_, timeout)

    async def expect_re(self, id_, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError(f"no answer to {id_}")
            msg = await self.recv(left)
            if msg.get("re") == id_:
                return msg

    async def close(self):
        await self.ws.close()


async def play_until_over(c, game_id, choose=None, timeout=30):
    """Plays seat c.you's turns (choose(state_payload) -> action, default the first legal action)
    until game_over; returns (game_over message, every message seen meanwhile)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        msg = await c.recv(max(0.1, deadline - time.monotonic()))
        seen.append(msg)
        if msg.get("gameId") != game_id:
            continue
        if msg["type"] == "game_over":
            return msg, seen
        p = msg.get("payload", {})
        if msg["type"] == "game_state" and p.get("status") == "active" and \
                p.get("toMove") is not None and p.get("toMove") == p.get("you"):
            action = choose(p) if choose else p["legal"][0]
            await c.send("player_input", {"gameId": game_id, "action": action})


def replay(srv, gid, *args):
    """`monkeytown replay gid` against srv's data directory (the server stopped first); returns
    (ok, what it said): ok when it exits 0 saying the game is identical."""
    srv.stop()
    r = subprocess.run([BIN, "replay", gid, "--data-dir", srv.data_dir, "--log-level", "warn", *args],
                       capture_output=True, text=True, timeout=60)
    return r.returncode == 0 and "identical" in r.stdout, r.stdout.strip() or r.stderr.strip()


def make_jwt(secret, claims, alg="HS256", header=None):
    """A token made by hand (for the 401 tests): HS256/HS512 signed with secret, or alg none."""
    import base64, hashlib, hmac
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    head = b64(json.dumps(header or {"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signing = f"{head}.{body}".encode()
    if alg == "none":
        return f"{head}.{body}."
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    return f"{head}.{body}." + b64(hmac.new(secret.encode(), signing, digest).digest())


def run(coro):
    return asyncio.run(coro)


async def fake_agent(c, answers, done):
    """Answers each agent_turn with answers[i](payload) -> (action, reasoning), or None to stay
    silent; returns [(turn payload, the answer's reply or None)] once done is set."""
    turns = []
    while not done.is_set():
        try:
            msg = await c.recv(0.2)
        except asyncio.TimeoutError:
            continue
        if msg["type"] != "agent_turn":
            continue
        p = msg["payload"]
        answer = answers[min(len(turns), len(answers) - 1)](p)
        reply = None
        if answer is not None:
            action, why = answer
            payload = {"gameId": p["gameId"], "action": action}
            if why is not None:
                payload["reasoning"] = why
            reply = await c.request("agent_move", payload)
        turns.append((p, reply))
    return turns
