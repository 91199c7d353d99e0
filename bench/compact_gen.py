#!/usr/bin/python3
"""Writes a synthetic embedded log (monkeytown.log) of N finished games, in the store's record
format, without playing them (bench/compact.sh). Each game is what a tic-tac-toe game against an
agent writes: the games row at creation, start and end; both seats at seating and at the end;
9 events and 7 inputs; and the human player's row, rewritten at each game end (10,000 players,
so most players rows are superseded). Usage: compact_gen.py FILE [GAMES]"""
import json, sys, zlib

path, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
PLAYERS = 10000
VERSION = "v-" + "ab" * 16
stats = {}


def rec(table, row):
    body = json.dumps({"t": table, "r": row}, separators=(",", ":")).encode()
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def game(i):
    gid = "%08x-0000-4000-8000-%012x" % (i, i)
    pid = "%08x-1111-4000-8000-%012x" % (i % PLAYERS, i % PLAYERS)
    t0 = 1.7e12 + i * 1000.0
    row = {"id": gid, "game": "tictactoe", "version": VERSION, "status": "waiting", "seed": i,
           "seats": 2, "created_at": t0, "config": None, "result": None, "started_at": None,
           "ended_at": None, "tick_rate": 0, "ticks": None}
    out = [rec("games", dict(row))]
    seats = [{"game_id": gid, "seat": 0, "name": "player%d" % (i % PLAYERS), "player_id": pid,
              "agent": None, "score": None},
             {"game_id": gid, "seat": 1, "name": "Heuristic", "player_id": None,
              "agent": "heuristic", "score": None}]
    out += [rec("game_participants", s) for s in seats]
    row.update(status="active", started_at=t0 + 10)
    out.append(rec("games", dict(row)))
    moves = [5, 1, 9, 3, 2, 8, 7]
    out.append(rec("game_events", {"game_id": gid, "seq": 1, "type": "start",
                                   "payload": {"board": [0] * 9, "toMove": 0}, "t": t0 + 10}))
    for k, cell in enumerate(moves):
        out.append(rec("game_inputs", {"game_id": gid, "ord": k + 1, "seat": k % 2,
                                       "action": {"cell": cell}, "source": "player" if k % 2 == 0 else "agent",
                                       "t": t0 + 20 + k, "state_hash": "%016x" % (i * 7 + k), "tick": None}))
        out.append(rec("game_events", {"game_id": gid, "seq": k + 2, "type": "move",
                                       "payload": {"seat": k % 2, "cell": cell}, "t": t0 + 20 + k}))
    result = {"winner": 0, "reason": "line"}
    out.append(rec("game_events", {"game_id": gid, "seq": 9, "type": "end", "payload": result,
                                   "t": t0 + 30}))
    for s, score in zip(seats, (1, 0)):
        s["score"] = score
        out.append(rec("game_participants", s))
    row.update(status="completed", result=result, ended_at=t0 + 30)
    out.append(rec("games", row))
    g = stats.setdefault(pid, [0, 0])
    g[0] += 1
    g[1] += 1
    out.append(rec("players", {"id": pid, "name": "player%d" % (i % PLAYERS), "role": "player",
                               "stats": {"games": g[0], "wins": g[1], "losses": 0, "draws": 0},
                               "rating": 1200.0 + g[1], "created_at": 1.7e12,
                               "last_seen_at": t0 + 30,
                               "username": "player%d" % (i % PLAYERS), "password_hash": None}))
    return b"".join(out)


with open(path, "wb", buffering=1 << 22) as f:
    f.write(rec("script_versions", {"id": VERSION, "kind": "game", "name": "tictactoe",
                                    "files": {"game.lua": "-- synthetic\n" * 200},
                                    "created_at": 1.7e12, "commit": None}))
    for i in range(n):
        f.write(game(i))
