"""A player's view of one game's log, as the restart and failover tests check it: every log
event it received by seq, the gaps and duplicates it saw, and the documented rewind (a `replay`
whose seq is below what the player holds: the server lost what it had sent after it)."""
import asyncio, random, time
import websockets

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
