#!/usr/bin/python3
# RSS per waiting room: 2000 tic-tac-toe rooms nobody joins, made by 4 sockets with the waiting
# caps lifted. Run from the repository root after building: /usr/bin/python3 bench/waiting_rooms.py
import asyncio, sys
import os
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration", "lib"))
from mt import Client, Server, run
def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
async def main(srv):
    cs = [await Client.connect(srv) for _ in range(4)]
    await asyncio.sleep(1)
    before = rss(srv.proc.pid)
    N = 2000
    for i in range(N):
        m = await cs[i % 4].request("create_game", {"game": "tictactoe"})
        assert m["type"] == "game_created", m
    await asyncio.sleep(float(os.environ.get("SETTLE_S", "2")))
    after = rss(srv.proc.pid)
    print(f"{N} waiting rooms: RSS {before} -> {after} KiB, {(after-before)/N:.1f} KiB per waiting room")
with Server(*sys.argv[1:], "--waiting-rooms-per-player", "1000", "--waiting-rooms-per-address", "100000", "--rooms-rate", "1000000", "--guest-rate", "0") as srv:
    run(main(srv))
