#!/usr/bin/python3
# The embedded store: games, players and accounts outlive the process; kill -9 at any moment
# loses no finished game and leaves no half-written one (a game in progress is rebuilt from its
# inputs and the player resumes it where it was);
# `monkeytown replay` re-runs a stored game and finds it identical, and finds a tampered log.
import asyncio, json, os, signal, subprocess, sys, zlib
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import BIN, Client, Server, Tap, http, play_until_over, run

t = Tap()
SECRET = "persist-secret-persist-secret-0123456"


async def play_some(srv):
    st, _, reg = http("POST", srv.url + "/api/auth/register", {"username": "carol", "password": "carol's pass"})
    t.eq(st, 201, "registered carol")
    finished = []
    c = await Client.connect(srv, token=reg["token"])
    for game, agent in [("tictactoe", "heuristic"), ("connect4", "random"), ("tictactoe", "minimax")]:
        gid = (await c.request("create_game", {"game": game, "vsAgent": agent}))["payload"]["gameId"]
        over, _ = await play_until_over(c, gid)
        finished.append((gid, over["payload"]["result"], over["seq"]))
    # One game left in the middle: the restart must bring it back as it was.
    pending = (await c.request("create_game", {"game": "connect4", "vsAgent": "heuristic"}))["payload"]["gameId"]
    await c.expect("game_state", where=lambda m: m["payload"].get("toMove") == 1)
    await c.send("player_input", {"gameId": pending, "action": {"column": 4}})
    before = await c.expect("game_state", where=lambda m: m["payload"].get("toMove") == 1 and m["seq"] > 3)
    return reg, finished, (pending, before)


async def after_restart(srv, reg, finished, pending_and_state):
    pending, before = pending_and_state
    for gid, result, last_seq in finished:
        st, _, summary = http("GET", f"{srv.url}/api/games/{gid}")
        t.eq((st, summary.get("status"), summary.get("result")), (200, "completed", result),
             f"finished game {gid[:8]} is there with its result")
        st, _, log = http("GET", f"{srv.url}/api/games/{gid}/events")
        seqs = [e["seq"] for e in log["events"] if "seq" in e]
        t.eq(seqs, list(range(1, last_seq + 1)), f"its events 1..{last_seq} are all there")
        t.ok(any(e["type"] == "input" for e in log["events"]), "with its inputs")
    st, _, summary = http("GET", f"{srv.url}/api/games/{pending}")
    t.eq((st, summary.get("status"), summary.get("toMove")), (200, "active", 1),
         "the game in progress at the crash is rebuilt, carol to move")
    st, _, login = http("POST", srv.url + "/api/auth/login", {"username": "carol", "password": "carol's pass"})
    t.eq((st, login.get("playerId")), (200, reg["playerId"]), "the account survives the restart")
    st, _, me = http("GET", f"{srv.url}/api/players/{reg['playerId']}")
    t.eq(me["stats"]["games"], 3, "so do the player's statistics")
    c = await Client.connect(srv, token=reg["token"])
    t.eq(c.welcome["payload"]["playerId"], reg["playerId"], "an old token still works (same secret)")
    gid0, result0, last0 = finished[0]
    rep = await c.request("resume", {"gameId": gid0, "lastSeq": last0 - 2})
    t.eq((rep["type"], rep["seq"], [e["seq"] for e in rep["payload"]["events"]]),
         ("replay", last0, [last0 - 1, last0]),
         "resume of a game that ended before the restart: its last events from the store")
    t.eq((rep["payload"]["events"][-1]["type"], rep["payload"]["events"][-1]["payload"]["result"]),
         ("game_over", result0), "game_over included")
    rep = await c.request("resume", {"gameId": "00000000-0000-4000-8000-000000000000", "lastSeq": 0})
    t.eq((rep["type"], rep["payload"].get("code")), ("error", "NOT_FOUND"), "an unknown game is NOT_FOUND")
    rep = await c.request("resume", {"gameId": pending, "lastSeq": before["seq"]})
    t.eq((rep["type"], rep["seq"], rep["payload"]["events"]), ("replay", before["seq"], []),
         "resume after the restart: nothing was missed, the same seq")
    state = await c.expect("game_state", where=lambda m: m["gameId"] == pending)
    t.eq(state["payload"]["state"], before["payload"]["state"], "the board is the one played before the crash")
    t.eq(state["payload"]["legal"], before["payload"]["legal"], "with the same legal moves")
    await c.send("player_input", {"gameId": pending, "action": state["payload"]["legal"][0]})
    over, _ = await play_until_over(c, pending)
    t.ok("result" in over["payload"], "and the rebuilt game plays to its end")
    st, _, log = http("GET", f"{srv.url}/api/games/{pending}/events")
    seqs = [e["seq"] for e in log["events"] if "seq" in e]
    t.eq(seqs, list(range(1, over["seq"] + 1)), "its events are contiguous across the restart")
    await c.close()
    st, _, me = http("GET", f"{srv.url}/api/players/{reg['playerId']}")
    t.eq(me["stats"]["games"], 4, "and count in the player's statistics")


def replay(data_dir, gid):
    return subprocess.run([BIN, "replay", gid, "--data-dir", data_dir, "--log-level", "warn"],
                          capture_output=True, text=True, timeout=60)


srv = Server("--jwt-secret", SECRET)
srv.start()
reg, finished, pending = run(play_some(srv))
srv.proc.send_signal(signal.SIGKILL)
srv.proc.wait()
t.ok(True, "server killed with SIGKILL")

# The crash may also have torn the last line: simulate that too.
log_path = os.path.join(srv.data_dir, "monkeytown.log")
with open(log_path, "ab") as f:
    f.write(b'0badc0de {"t":"game_events","r":{"game_id":')
srv2 = Server("--jwt-secret", SECRET)
srv2.data_dir = srv.data_dir
srv2.args[srv2.args.index("--data-dir") + 1] = srv.data_dir
srv2.start()
run(after_restart(srv2, reg, finished, pending))
t.ok(any("torn tail" in l.get("msg", "") for l in srv2.log_lines()), "the torn last line was cut off")
r = replay(srv.data_dir, finished[0][0])
t.eq(r.returncode, 0, "replay reads the store of a running server without disturbing it")
st, _, summary = http("GET", f"{srv2.url}/api/games/{finished[0][0]}")
t.eq(summary.get("status"), "completed", "which still serves the game")
srv3 = Server("--jwt-secret", SECRET)
srv3.args[srv3.args.index("--data-dir") + 1] = srv.data_dir
p3 = subprocess.run(srv3.args, capture_output=True, text=True, timeout=20)
t.ok(p3.returncode != 0 and "in use" in p3.stdout + p3.stderr, "a second server on the same data dir refuses to start")
srv2.stop()

for gid, result, _ in finished:
    r = replay(srv.data_dir, gid)
    t.eq(r.returncode, 0, f"replay {gid[:8]} exits 0")
    t.ok("identical" in r.stdout, "and says identical: " + r.stdout.strip())

# Tamper with one recorded input of the first game (with a valid checksum): replay must notice.
gid = finished[0][0]
lines = open(log_path, "rb").read().split(b"\n")
for i, line in enumerate(lines):
    if not line:
        continue
    rec = json.loads(line[9:])
    if rec["t"] == "game_inputs" and rec["r"]["game_id"] == gid and rec["r"]["seat"] == 1:
        cell = rec["r"]["action"]["cell"]
        rec["r"]["action"]["cell"] = cell % 9 + 1
        body = json.dumps(rec, separators=(",", ":")).encode()
        lines[i] = b"%08x " % zlib.crc32(body) + body
        break
open(log_path, "wb").write(b"\n".join(lines))
r = replay(srv.data_dir, gid)
t.eq(r.returncode, 1, "a tampered log fails the replay")
t.ok("input 1" in r.stdout or "input" in r.stdout, "and the first divergence is shown: " + r.stdout.strip())
r = replay(srv.data_dir, "00000000-0000-4000-8000-000000000000")
t.eq(r.returncode, 2, "replay of an unknown game exits 2")
# Without --jwt-secret the secret is kept as text in the data directory: a token survives a
# restart, and a damaged file stops the start rather than silently changing the secret.
kept = Server()
kept.start()
st, _, reg = http("POST", kept.url + "/api/auth/register", {"username": "dana", "password": "dana's pass"})
kept.stop()
secret_path = os.path.join(kept.data_dir, "jwt.secret")
text = open(secret_path, "rb").read()
t.ok(len(text) == 65 and text.endswith(b"\n") and all(c in b"0123456789abcdef" for c in text[:64]),
     "the kept secret is 64 hex digits and a newline")
t.eq(os.stat(secret_path).st_mode & 0o777, 0o600, "readable by the server's user only")
kept2 = Server()
kept2.args[kept2.args.index("--data-dir") + 1] = kept.data_dir
kept2.start()


async def welcome_of(srv, token):
    c = await Client.connect(srv, token=token)
    await c.close()
    return c.welcome["payload"]


w = run(welcome_of(kept2, reg["token"]))
t.eq(w.get("playerId"), reg["playerId"], "a token issued before the restart is accepted after it")
kept2.stop()
open(secret_path, "wb").write(b"short\n")
p4 = subprocess.run(kept2.args, capture_output=True, text=True, timeout=20)
t.ok(p4.returncode != 0 and "damaged" in p4.stdout + p4.stderr, "a damaged kept secret stops the start")
t.done()
