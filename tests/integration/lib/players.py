"""A player's view of one game's log, as the restart and failover tests check it: every log
event it received by seq, the gaps and duplicates it saw, and the documented rewind (a `replay`
whose seq is below what the player holds: the server lost what it had sent after it)."""
import asyncio, random, time
import websockets
from mt import Client, http, wait_for

LOG_TYPES = {"game_event", "player_joined", "player_left", "chat_message", "game_over"}


class Player:
    """One guest playing one game: every log event it received, by seq."""

    def __init__(self, token, kind, agent=None):
        self.token, self.kind, self.agent = token, kind, agent
        self.game = None
        self.events = {}  # seq -> (type, payload)
        self.last_seq = 0
        self.faults = []  # gaps or duplicates seen
        self.over = None
        self.rewound = None

    def take(self, seq, type_, payload):
        if seq <= self.last_seq:
            if self.events.get(seq) != (type_, payload):
                self.faults.append(f"seq {seq} delivered twice, differently")
            else:
                self.faults.append(f"seq {seq} delivered twice")
            return
        if seq != self.last_seq + 1:
            self.faults.append(f"gap: seq {seq} after {self.last_seq}")
        self.events[seq] = (type_, payload)
        self.last_seq = seq
        if type_ == "game_over":
            self.over = payload

    def see(self, msg):
        if msg.get("gameId") != self.game:
            return
        if msg["type"] in LOG_TYPES:
            self.take(msg["seq"], msg["type"], msg["payload"])
        elif msg["type"] == "replay":
            # The server lost what it had sent after payload.rewind (docs/protocol.md, "Rewind"):
            # a replay whose seq is below lastSeq always names it.
            back = msg["payload"].get("rewind")
            if msg["seq"] < self.last_seq and back != msg["seq"]:
                self.faults.append(f"replay seq {msg['seq']} below {self.last_seq} without rewind")
            if back is not None:
                self.rewound = (back, self.last_seq)
                for s in [s for s in self.events if s > back]:
                    del self.events[s]
                self.last_seq = min(self.last_seq, back)
                self.over = None
            for ev in msg["payload"]["events"]:
                self.take(ev["seq"], ev["type"], ev["payload"])

    def adopt(self, msgs):
        """What the player's socket received before its Player was made (a joiner starts
        mid-log: its first log event is wherever the log stood)."""
        for m in msgs:
            if m.get("gameId") == self.game and m["type"] in LOG_TYPES and not self.last_seq:
                self.last_seq = m["seq"] - 1
            self.see(m)


async def play(p, c, stop_at=None, think=(0.05, 0.06)):
    """Plays p's game on c (a random legal move, after a think drawn from the range) until it
    ends, the socket dies or stop_at passes. Returns the close code when the socket closed."""
    try:
        while p.over is None and (stop_at is None or time.monotonic() < stop_at):
            try:
                msg = await c.recv(10)
            except asyncio.TimeoutError:
                if stop_at is None:
                    raise
                # Quiet for 10 s after the kill: a move sent just before it may be lost,
                # leaving this player to move without a state saying so. Ask again.
                await c.send("resume", {"gameId": p.game, "lastSeq": p.last_seq})
                continue
            p.see(msg)
            pl = msg.get("payload", {})
            if msg["type"] == "game_state" and msg.get("gameId") == p.game and \
                    pl.get("status") == "active" and pl.get("toMove") == pl.get("you") and pl.get("legal"):
                await asyncio.sleep(random.uniform(*think))
                await c.send("player_input", {"gameId": p.game, "action": random.choice(pl["legal"])})
    except websockets.ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else None
    except (ConnectionError, asyncio.TimeoutError, OSError):
        pass
    return None


def guest(srv):
    """A new guest's token on srv."""
    st, _, g = http("POST", srv.url + "/api/auth/guest")
    assert st == 200, g
    return g["token"]


async def resume(srv, p):
    """A new socket on srv, and resume asked until a live instance holds p's room (an answer
    that never comes, or any other error, is one of p's faults)."""
    c = await Client.connect(srv, token=p.token)
    for _ in range(300):
        try:
            ans = await c.request("resume", {"gameId": p.game, "lastSeq": p.last_seq}, timeout=10)
        except asyncio.TimeoutError:  # a request must be answered, at worst with SERVER_BUSY
            p.faults.append("resume unanswered for 10 s")
            continue
        if ans["type"] != "error":
            p.see(ans)
            return c
        if ans["payload"]["code"] not in ("SERVER_BUSY", "NOT_FOUND"):
            p.faults.append(f"resume answered {ans['payload']}")
            return c
        await asyncio.sleep(0.2)
    p.faults.append("resume never answered")
    return c


def stored(srv, gid):
    """The stored log of an ended game (GET /api/games/:id/events) by seq, or None."""
    st, _, log = http("GET", f"{srv.url}/api/games/{gid}/events")
    return {e["seq"]: (e["type"], e["payload"]) for e in log.get("events", []) if "seq" in e} \
        if st == 200 else None


def stored_mismatches(srv, players):
    """The players whose game's stored log (read from srv once it holds game_over) is not
    contiguous from 1, or differs from the events the player holds: (game, stored, held)."""
    bad = []
    for p in players:
        log = wait_for(lambda: (lambda s: s if s and "game_over" in [v[0] for v in s.values()] else None)(
            stored(srv, p.game)), timeout=30) or stored(srv, p.game) or {}
        mine = {s: e for s, e in log.items() if s >= min(p.events, default=1)}
        if sorted(log) != list(range(1, len(log) + 1)) or mine != p.events:
            bad.append((p.game[:8], len(log), p.last_seq))
    return bad
