#!/usr/bin/python3
# The protocol's rate limits are per player, not per socket (docs/protocol.md, "Rate limits"):
# two sockets of one player share the chat, input and room buckets on one server, and with
# --cluster on every instance (real redis-server and PostgreSQL on loopback): tokens a player
# spends on alpha are spent on beta too, once the relay has carried them.
import asyncio, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, http, run, wait_for
from cluster import Cluster, available, listed, ready
from players import guest

t = Tap()


async def chat(c, text="hi"):
    """The code of the answer to a chat line for a game nobody plays (the token is spent
    before the room is looked up)."""
    m = await c.request("chat_message", {"gameId": "00000000-0000-4000-8000-000000000000",
                                         "text": text}, timeout=15)
    return m["payload"].get("code") if m["type"] == "error" else m["type"]


async def one_server():
    srv = Server("--chat-rate", "3", "--rooms-rate", "2").start()
    try:
        token = guest(srv)
        c1 = await Client.connect(srv, token=token)
        c2 = await Client.connect(srv, token=token)
        other = await Client.connect(srv)
        codes = [await chat(c1), await chat(c2), await chat(c1)]
        t.ok("RATE_LIMIT_EXCEEDED" not in codes, f"three lines over two sockets: {codes}")
        t.eq(await chat(c2), "RATE_LIMIT_EXCEEDED", "the fourth, on either socket, is refused")
        t.ok(await chat(other) != "RATE_LIMIT_EXCEEDED", "another player has a bucket of their own")
        for c in (c1, c2):
            m = await c.request("create_game", {"game": "tictactoe"})
            t.eq(m["type"], "game_created", "a room from each socket")
        m = await c1.request("create_game", {"game": "tictactoe"})
        t.eq(m["payload"].get("code"), "RATE_LIMIT_EXCEEDED", "the player's third room is refused")
        for c in (c1, c2, other):
            await c.close()
    finally:
        srv.stop()


def rate_in(srv):
    st, _, text = http("GET", srv.url + "/metrics")
    for line in text.splitlines():
        if line.startswith('cluster_relay_messages_total{kind="rate_in"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0


async def cluster():
    cl = Cluster("limits-secret-0123456789abcdef0123456789abcd")
    try:
        a = cl.instance("alpha", "--chat-rate", "3")
        b = cl.instance("beta", "--chat-rate", "3")
        # Tokens go to the instances alpha lists, over beta's subscription: both up first.
        t.ok(wait_for(lambda: all(listed(s) == ["alpha", "beta"] and ready(s) for s in (a, b)),
                      timeout=60), "alpha and beta list each other and are ready")
        token = guest(a)
        ca = await Client.connect(a, token=token)
        cb = await Client.connect(b, token=token)
        other = await Client.connect(b)
        before = rate_in(b)
        codes = [await chat(ca) for _ in range(3)]
        t.ok("RATE_LIMIT_EXCEEDED" not in codes, f"three lines on alpha: {codes}")
        t.ok(wait_for(lambda: rate_in(b) > before), "the relay carried alpha's tokens to beta")
        t.eq(await chat(cb), "RATE_LIMIT_EXCEEDED", "the same player's fourth line, on beta, is refused")
        t.ok(await chat(other) != "RATE_LIMIT_EXCEEDED", "beta's other player is not")
        for c in (ca, cb, other):
            await c.close()
        for s in (a, b):
            t.eq(s.stop(), 0, f"{s.args[s.args.index('--instance-id') + 1]} stops cleanly")
    finally:
        cl.cleanup()


run(one_server())
if available():
    run(cluster())
else:
    t.ok(True, "the cluster part # SKIP needs root and PostgreSQL 15")
t.done()
