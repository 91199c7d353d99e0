#!/usr/bin/python3
"""Restart benchmark: start-up time of a server that rebuilds N games in progress.

Starts the real server, opens N tic-tac-toe games against the random agent (C clients: a few
sockets, each with many games), plays MOVES moves in each, kills the server with SIGKILL and
starts it again on the same store. Reports the time from the restart to /health/live, the
server's own count of the rebuild ("unfinished games restored" ms), and the rebuild cost per
game (room_rebuild_ms: the replay, not the load). Then checks that one rebuilt game answers a
resume and plays on.

    /usr/bin/python3 bench/restart.py [--games 1000] [--moves 2] [--database-url URL]

With --database-url the PostgreSQL store is used (a database you made; it is written to).
The server binary is $MT_BIN or build/monkeytown. See docs/benchmarks.md, "Restart"."""
import argparse, asyncio, json, os, signal, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration", "lib"))
from mt import ROOT, Client, Server, http  # noqa: E402

SECRET = "bench-restart-secret-bench-restart-0123"
SOCKETS = 20


async def open_games(srv, games, moves):
    """SOCKETS guests, each with games/SOCKETS games; every game gets `moves` moves of ours."""
    ids = []

    async def one_socket(n):
        st, _, g = http("POST", srv.url + "/api/auth/guest")
        c = await Client.connect(srv, token=g["token"])
        mine = {}
        for _ in range(n):
            created = await c.request("create_game", {"game": "tictactoe", "vsAgent": "random"}, timeout=30)
            mine[created["payload"]["gameId"]] = 0
        waiting = set(mine)
        while waiting:
            msg = await c.recv(30)
            gid, p = msg.get("gameId"), msg.get("payload", {})
            if gid not in waiting or msg["type"] != "game_state":
                continue
            if p.get("status") != "active":
                waiting.discard(gid)
                continue
            if p.get("toMove") == p.get("you"):
                if mine[gid] >= moves:
                    waiting.discard(gid)
                    continue
                mine[gid] += 1
                await c.send("player_input", {"gameId": gid, "action": p["legal"][0]})
        ids.extend((g["token"], gid) for gid in mine)
        return c

    per = [games // SOCKETS + (1 if i < games % SOCKETS else 0) for i in range(SOCKETS)]
    clients = await asyncio.gather(*(one_socket(n) for n in per if n))
    return ids, clients


def metric(srv, name):
    _, _, text = http("GET", srv.url + "/metrics")
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name + " ") or l.startswith(name + "{"))


async def resume_one(srv, token, gid):
    c = await Client.connect(srv, token=token)
    ans = await c.request("resume", {"gameId": gid, "lastSeq": 0}, timeout=10)
    state = await c.expect("game_state", where=lambda m: m["gameId"] == gid)
    await c.close()
    return ans["type"], state["payload"]["status"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--games", type=int, default=1000)
    ap.add_argument("--moves", type=int, default=2)
    ap.add_argument("--database-url", default="")
    a = ap.parse_args()
    args = ["--jwt-secret", SECRET, "--guest-rate", "0", "--input-rate", "1000000",
            "--rooms-rate", "1000000", "--log-level", "info"]
    if a.database_url:
        args += ["--database-url", a.database_url, "--sql-dir", os.path.join(ROOT, "sql")]
    srv = Server(*args).start()
    t0 = time.time()
    ids, clients = asyncio.run(open_games(srv, a.games, a.moves))
    print(f"opened {len(ids)} games with {a.moves} moves each in {time.time() - t0:.1f} s")
    time.sleep(0.5)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()

    again = Server(*args)
    again.data_dir = srv.data_dir
    again.args[again.args.index("--data-dir") + 1] = srv.data_dir
    t0 = time.time()
    again.start()
    live = time.time() - t0
    restored = [l for l in again.log_lines() if l.get("msg") == "unfinished games restored"]
    rebuilt = metric(again, 'rooms_restored_total{outcome="rebuilt"}')
    total = metric(again, "rooms_restored_total")
    cost_sum, cost_n = metric(again, "room_rebuild_ms_sum"), metric(again, "room_rebuild_ms_count")
    kind, status = asyncio.run(resume_one(again, *ids[len(ids) // 2]))
    rss = 0
    with open(f"/proc/{again.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
    again.stop()
    result = {
        "store": "postgres" if a.database_url else "embedded",
        "games": len(ids), "moves_each": a.moves,
        "restart_to_live_s": round(live, 3),
        "rebuild_ms_server": restored[0].get("ms") if restored else None,
        "rebuilt": int(rebuilt), "restored_total": int(total),
        "rebuild_ms_per_game": round(cost_sum / cost_n, 3) if cost_n else None,
        "rss_mib_after": rss,
        "resume_answer": kind, "resumed_status": status,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
