#!/usr/bin/python3
# The text bridge (docs/protocol.md, "Text bridge"): a WebSocket at /text where each frame is one
# line. Checked against the running server: the upgrade takes the same tokens as /ws and refuses
# the same way; a whole tic-tac-toe game against the random agent played by lines, every line
# received at most --text-max-bytes (200) bytes; a second bridge player joins by id prefix and a
# third watches; long answers are split on spaces and between UTF-8 characters; unknown lines and
# too-long lines get their documented answers; and examples/text_relay.py relays piped lines.
import asyncio, json, os, re, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import websockets
from mt import Server, Tap, http, make_jwt, run

t = Tap()
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIMIT = 200


class Line:
    """One /text socket: every line received is kept and checked against the limit."""

    def __init__(self, ws):
        self.ws, self.lines, self.over = ws, [], []

    @classmethod
    async def connect(cls, srv, token=None):
        url = f"ws://127.0.0.1:{srv.port}/text" + (f"?token={token}" if token else "")
        c = cls(await websockets.connect(url))
        c.welcome = await c.expect(lambda l: l.startswith("Welcome"))
        return c

    async def recv(self, timeout=10):
        line = await asyncio.wait_for(self.ws.recv(), timeout)
        if not isinstance(line, str):
            t.ok(False, f"a binary frame: {line!r}")
        self.lines.append(line)
        if len(line.encode()) > LIMIT:
            self.over.append(line)
        return line

    async def expect(self, pred, timeout=10):
        """The next line for which pred holds (lines before it are kept, not checked)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            line = await self.recv(max(0.1, end - loop.time()))
            if pred(line):
                return line

    async def say(self, text, pred, timeout=10):
        await self.ws.send(text)
        return await self.expect(pred, timeout)


async def auth(srv):
    st, _, guest = http("POST", f"{srv.url}/api/auth/guest", {})
    c = await Line.connect(srv, guest["token"])
    t.eq(c.welcome, f"Welcome, {guest['name']}. Send /help for the commands.",
         "a token from /api/auth/guest is that player on /text, as on /ws")
    await c.ws.close()
    bad = make_jwt("not-the-secret", {"sub": guest["playerId"], "role": "player", "exp": 4102444800})
    try:
        await Line.connect(srv, bad)
        t.ok(False, "a token with a bad signature is refused")
    except websockets.exceptions.InvalidStatusCode as e:
        t.eq(e.status_code, 401, "a token with a bad signature is refused with 401, as on /ws")
    try:
        await websockets.connect(f"ws://127.0.0.1:{srv.port}/texts")
        t.ok(False, "another path is refused")
    except websockets.exceptions.InvalidStatusCode as e:
        t.eq(e.status_code, 404, "an upgrade on another path is refused with 404")


async def whole_game(srv):
    """Tic-tac-toe against the random agent, played by lines until the end."""
    c = await Line.connect(srv)
    created = await c.say("/new tictactoe vs random", lambda l: l.startswith("Created") or l.startswith("!"))
    t.ok(created.startswith("Created tictactoe game "), f"/new creates the game: {created!r}")
    start = await c.expect(lambda l: "starts" in l)
    t.eq(start, "Tic-tac-toe starts: you are X, X moves first. Cells 1-9, row by row.",
         "the start is told through the game's describe")
    moves, over = 0, None
    while over is None and moves < 6:
        line = await c.expect(lambda l: l.startswith("Your turn") or l.startswith("Game over"))
        if line.startswith("Game over"):
            over = line
            break
        legal = re.search(r"Legal: ([\d ]+)$", line)
        if moves == 0:
            t.ok(legal is not None, f"the turn prompt lists the legal cells: {line!r}")
        cell = legal.group(1).split()[0]
        mine = await c.say(cell, lambda l: l.startswith("You (X) take") or l.startswith("!"))
        if moves == 0:
            t.eq(mine, f"You (X) take cell {cell} ({['top left', 'top', 'top right', 'left', 'centre', 'right', 'bottom left', 'bottom', 'bottom right'][int(cell) - 1]}).",
                 "a bare number goes to the game's command and the move comes back described")
        moves += 1
    if over is None:
        over = await c.expect(lambda l: l.startswith("Game over"))
    t.ok(re.match(r"Game over: (you win|O wins|a draw)", over), f"the end is told: {over!r}")
    t.ok(any(l.startswith("O takes cell") for l in c.lines), "the agent's moves are described")
    t.ok(any(l.startswith("Chaos Monkey thinks:") for l in c.lines), "the agent's reasoning is a line")
    t.eq(c.over, [], f"all {len(c.lines)} lines of the game are at most {LIMIT} bytes")
    await c.ws.close()


async def two_players(srv):
    a, b, w = await Line.connect(srv), await Line.connect(srv), await Line.connect(srv)
    created = await a.say("/new tictactoe", lambda l: l.startswith("Created"))
    short = created.split()[3].rstrip(".")
    games = await b.say("/games", lambda l: l.startswith("Open:"))
    t.ok(f"tictactoe {short} (waiting, 1/2)" in games, f"/games lists the open game: {games!r}")
    joined = await b.say(f"/join {short[:6]}", lambda l: l.startswith("You are seat") or l.startswith("!"))
    t.ok(joined.startswith(f"You are seat 2 in tictactoe {short}"), f"/join takes an id prefix: {joined!r}")
    yours = await b.say("/games", lambda l: l.startswith("Yours:"))
    t.ok(f"tictactoe {short} (active, 2/2)" in yours, f"/games lists the caller's own games: {yours!r}")
    watched = await w.say(f"/watch {short}", lambda l: l.startswith("Watching") or l.startswith("!"))
    t.ok(watched.startswith(f"Watching tictactoe {short} (active)"), f"/watch: {watched!r}")
    await a.expect(lambda l: l.startswith("Your turn"))
    not_yours = await b.say("/play 1", lambda l: l.startswith("!"))
    t.eq(not_yours, "! NOT_YOUR_TURN it is not your turn", "a refused move is one line: ! CODE message")
    await a.say("/play 5", lambda l: l == "You (X) take cell 5 (centre).")
    seen = await b.expect(lambda l: "cell 5" in l)
    t.eq(seen, "X takes cell 5 (centre).", "the opponent gets the move described for its seat")
    seen = await w.expect(lambda l: "cell 5" in l)
    t.eq(seen, "X takes cell 5 (centre).", "a spectator gets it too")
    prompt = await b.expect(lambda l: l.startswith("Your turn"))
    t.ok(prompt.endswith("Legal: 1 2 3 4 6 7 8 9"), f"then seat 2 is prompted: {prompt!r}")
    board = await b.say("/board", lambda l: "you are O" in l)
    t.eq(board, "... / .X. / ... (you are O)", "/board reaches the game's command")
    unknown = await b.say("/dance", lambda l: l.startswith("Commands:"))
    t.ok("/play N" in unknown, f"a line the game does not know gets its help: {unknown!r}")

    # Long answers: a chat of 450 characters comes back in several lines, cut at spaces; one
    # without spaces, in two-byte characters, is cut between characters.
    words = " ".join(f"word{i:03d}" for i in range(56))[:450]
    await a.ws.send(f"/say {words}")
    first = await b.expect(lambda l: l.startswith("<"))
    parts = [first]
    while sum(len(p) + 1 for p in parts) < len(words):
        parts.append(await b.recv())
    t.ok(len(parts) >= 3 and all(len(p.encode()) <= LIMIT for p in parts),
         f"a 450-byte chat is split into {len(parts)} lines of at most {LIMIT} bytes")
    name = a.welcome.split()[1].rstrip(".")
    t.eq(" ".join(parts), f"<{name}> {words}", "split at spaces, nothing lost")
    accents = "é" * 300
    await a.ws.send(f"/say {accents}")
    want = f"<{name}> {accents}"
    parts = [await b.expect(lambda l: l.startswith("<") and "é" in l)]
    while len("".join(parts)) < len(want):
        parts.append(await b.recv())
    t.ok(len(parts) == 4 and all(len(p.encode()) <= LIMIT for p in parts),
         f"a 613-byte chat without spaces is split into {len(parts)} lines within the limit")
    t.eq("".join(parts), want, "between characters, nothing lost")

    # Unknown and too-long lines.
    t.ok(not (await w.say("/leave", lambda l: l.startswith("You stopped watching"))).startswith("!"),
         "/leave stops watching")
    hint = await w.say("hello", lambda l: l.startswith("!"))
    t.eq(hint, "! UNKNOWN_COMMAND hello is not a bridge command, and you are in no game. Send /help for the commands.",
         "a line outside any game gets a hint")
    long = await w.say("x" * 2001, lambda l: l.startswith("!"))
    t.eq(long, "! TOO_LARGE a line is at most 2000 bytes", "a line over 2000 bytes gets TOO_LARGE")
    again = await w.say("/help", lambda l: l.startswith("Commands:"))
    t.ok("/games" in again, "and the socket stays open")
    binary = await w.ws.send(b"\x00\x01") or await w.expect(lambda l: l.startswith("!"))
    t.eq(binary, "! BAD_MESSAGE binary frames are not accepted: send lines of text", "a binary frame is refused")
    huge = await w.say("y" * 17000, lambda l: l.startswith("!"))
    t.eq(huge, "! TOO_LARGE a message is at most 16384 bytes: closing",
         "a frame over --max-message-bytes gets TOO_LARGE as a line")
    try:
        await asyncio.wait_for(w.ws.recv(), 10)
        t.ok(False, "then the socket closes")
    except websockets.exceptions.ConnectionClosed as e:
        t.eq(e.code, 1009, "then the socket closes with 1009, as on /ws")
    for c in (a, b, w):
        t.eq(c.over, [], f"every line {c.welcome.split()[1].rstrip('.')} got is at most {LIMIT} bytes")
        await c.ws.close()


def relay(srv):
    """examples/text_relay.py with lines piped in: the answers come out on stdout."""
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "text_relay.py"), "--url",
         f"ws://127.0.0.1:{srv.port}/text", "--guest", "--wait", "3"],
        input="/help\n/new tictactoe vs random\n/board\n", capture_output=True, text=True, timeout=60)
    out = r.stdout.splitlines()
    t.eq(r.returncode, 0, "the relay exits 0 at the end of its input")
    t.ok(out and out[0].startswith("Welcome, Guest-"), f"it prints the welcome: {out[:1]}")
    t.ok(any(l.startswith("Commands:") for l in out), "and the answer to /help")
    t.ok(any(l.startswith("Created tictactoe game") for l in out), "and to /new")
    t.ok("... / ... / ... (you are X)" in out, f"and the game's answer to /board: {out}")
    t.ok(r.stderr.startswith("guest Guest-"), "--guest logged in over HTTP first")
    t.ok(all(len(l.encode()) <= LIMIT for l in out), "every relayed line is at most 200 bytes")


async def main(srv):
    await auth(srv)
    await whole_game(srv)
    await two_players(srv)


srv = Server("--log-level", "warn").start()
try:
    run(main(srv))
    relay(srv)
finally:
    srv.stop()

closed = Server("--log-level", "warn", "--allow-guests", "false").start()
try:
    async def no_guest():
        try:
            await Line.connect(closed)
            t.ok(False, "without guests, /text needs a token")
        except websockets.exceptions.InvalidStatusCode as e:
            t.eq(e.status_code, 401, "without guests, /text needs a token (401)")
    run(no_guest())
finally:
    closed.stop()
t.done()
