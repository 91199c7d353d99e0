#!/usr/bin/python3
# Abuse: last-seen times are written at most once per --last-seen-interval (a row per socket
# made the embedded log grow with every connection), and the held-back time is written at
# shutdown.
import asyncio, json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import Client, Server, Tap, http, run

t = Tap()


def player_rows(srv, pid):
    """The players rows of pid in the embedded log, in order."""
    rows = []
    with open(os.path.join(srv.data_dir, "monkeytown.log"), "rb") as f:
        for line in f:
            rec = json.loads(line.split(b" ", 1)[1])
            if rec["t"] == "players" and rec["r"]["id"] == pid:
                rows.append(rec["r"])
    return rows


async def sockets(srv, token, n):
    for _ in range(n):
        c = await Client.connect(srv, token=token)
        await c.close()


def last_seen(interval, sockets_opened, want_rows, why):
    srv = Server("--last-seen-interval", str(interval)).start()
    st, _, reg = http("POST", srv.url + "/api/auth/register", {"username": "seen_user", "password": "seen pass 1"})
    t.eq(st, 201, f"interval {interval}: registered")
    run(sockets(srv, reg["token"], sockets_opened))
    t.eq(srv.stop(), 0, f"interval {interval}: stopped cleanly")
    rows = player_rows(srv, reg["playerId"])
    t.eq(len(rows), want_rows, f"interval {interval}: {sockets_opened} sockets -> {want_rows} player rows ({why})")
    return rows


rows = last_seen(3600, 5, 2, "the registration, then the last-seen time once, at shutdown")
t.ok(rows[-1]["last_seen_at"] > rows[0]["last_seen_at"], "the row written at shutdown has the later time")
last_seen(0, 3, 4, "interval 0: the registration and a row per socket")
t.done()
