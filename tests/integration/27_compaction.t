#!/usr/bin/python3
# Compaction of the embedded log: superseded rows (a game's earlier states, a player's earlier
# rows) are dropped at start-up or by `monkeytown compact`; finished games, accounts and
# statistics stay and still replay; a leftover .compact file (an interrupted compaction) is
# removed and the log it sat beside is used as it was.
import asyncio, json, os, signal, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from mt import BIN, Client, Server, Tap, http, play_until_over, run

t = Tap()
SECRET = "compact-secret-compact-secret-0123456"


async def play_some(srv, n):
    st, _, reg = http("POST", srv.url + "/api/auth/register", {"username": "dora", "password": "dora's pass"})
    t.eq(st, 201, "registered dora")
    finished = []
    c = await Client.connect(srv, token=reg["token"])
    for i in range(n):
        game, agent = [("tictactoe", "heuristic"), ("connect4", "random")][i % 2]
        gid = (await c.request("create_game", {"game": game, "vsAgent": agent}))["payload"]["gameId"]
        over, _ = await play_until_over(c, gid)
        finished.append((gid, over["payload"]["result"], over["seq"]))
    await c.close()
    return reg, finished


async def check(srv, reg, finished, what):
    good = 0
    for gid, result, last_seq in finished:
        st, _, summary = http("GET", f"{srv.url}/api/games/{gid}")
        st2, _, log = http("GET", f"{srv.url}/api/games/{gid}/events")
        seqs = [e["seq"] for e in log.get("events", []) if "seq" in e]
        good += (st, summary.get("status"), summary.get("result"), seqs) == \
            (200, "completed", result, list(range(1, last_seq + 1)))
    t.eq(good, len(finished), f"{what}: every finished game is there with its result and events")
    st, _, login = http("POST", srv.url + "/api/auth/login", {"username": "dora", "password": "dora's pass"})
    t.eq((st, login.get("playerId")), (200, reg["playerId"]), f"{what}: the account logs in")
    st, _, me = http("GET", f"{srv.url}/api/players/{reg['playerId']}")
    t.eq(me["stats"]["games"], len(finished), f"{what}: the statistics are kept")


def records(path):
    return [json.loads(l[9:]) for l in open(path, "rb").read().split(b"\n") if l]


def restart(data_dir, *args):
    srv = Server("--jwt-secret", SECRET, "--input-rate", "100000", *args)
    srv.args[srv.args.index("--data-dir") + 1] = data_dir
    srv.data_dir = data_dir
    srv.start()
    return srv


def replay_all(data_dir, finished, what):
    ok = 0
    for gid, _, _ in finished:
        r = subprocess.run([BIN, "replay", gid, "--data-dir", data_dir, "--log-level", "warn"],
                           capture_output=True, text=True, timeout=60)
        ok += r.returncode == 0 and "identical" in r.stdout
    t.eq(ok, len(finished), f"{what}: every finished game replays identical (exit 0)")


srv = Server("--jwt-secret", SECRET, "--input-rate", "100000", "--compact-dead-records", "0", "--compact-dead-percent", "0")
srv.start()
reg, finished = run(play_some(srv, 6))
srv.stop()
data = srv.data_dir
log_path = os.path.join(data, "monkeytown.log")
before = os.path.getsize(log_path)
recs_bytes = open(log_path, "rb").read()
recs = records(log_path)
games_rows = sum(r["t"] == "games" for r in recs)
t.ok(games_rows > len(finished), f"before: {games_rows} games rows for {len(finished)} games")

# An interrupted compaction: a half-written .compact beside the log must not be taken for it.
tmp = log_path + ".compact"
open(tmp, "wb").write(b'00000000 {"t":"games","r":{"id":"half')
srv2 = restart(data, "--compact-dead-records", "0", "--compact-dead-percent", "0")
t.ok(not os.path.exists(tmp), "a leftover .compact file is removed at start-up")
t.ok(any("interrupted compaction" in l.get("msg", "") for l in srv2.log_lines()), "and reported")
t.ok(open(log_path, "rb").read()[:before] == recs_bytes, "compaction off: the log is only appended to")
run(check(srv2, reg, finished, "after the leftover"))
srv2.stop()

# Start-up compaction by share of dead bytes.
size1 = os.path.getsize(log_path)
srv3 = restart(data, "--compact-dead-percent", "1")
lines = [l for l in srv3.log_lines() if l.get("msg") == "store log compacted"]
t.eq(len(lines), 1, "start-up compacts the log when dead records pass the share")
b0, b1 = lines[0]["bytes_before"], lines[0]["bytes_after"]
t.ok(b0 == size1 and b1 < b0 * 0.8, f"the file shrank: {b0} -> {b1} bytes")
recs = records(log_path)
t.eq(sum(r["t"] == "games" for r in recs), len(finished), "one games row per game is left")
ids = [r["r"]["id"] for r in recs if r["t"] == "players"]
t.eq(len(ids), len(set(ids)), "one players row per player is left")
t.ok(sum(r["t"] == "game_events" for r in recs) >= sum(s for _, _, s in finished),
     "every event is kept")
t.ok(not os.path.exists(tmp), "no .compact file is left behind")
run(check(srv3, reg, finished, "after start-up compaction"))
srv3.stop()
after = os.path.getsize(log_path)
replay_all(data, finished, "after start-up compaction")

# Offline: nothing to drop but the rows the last run added; a running server blocks it.
srv4 = restart(data)
r = subprocess.run([BIN, "compact", "--data-dir", data], capture_output=True, text=True, timeout=60)
t.ok(r.returncode != 0 and "in use" in r.stdout + r.stderr, "monkeytown compact refuses a log in use")
srv4.stop()
r = subprocess.run([BIN, "compact", "--data-dir", data], capture_output=True, text=True, timeout=60)
t.eq(r.returncode, 0, "monkeytown compact exits 0: " + r.stdout.strip())
t.ok(os.path.getsize(log_path) < after, f"and drops what the last runs added again: {after} -> {os.path.getsize(log_path)}")
replay_all(data, finished, "after offline compaction")
srv5 = restart(data)
run(check(srv5, reg, finished, "after offline compaction"))
srv5.stop()

# A crash at any moment of a compaction leaves the old log or the new one, whole: kill
# `monkeytown compact` at growing delays and compare the log with both.
import shutil, tempfile, time
work = tempfile.mkdtemp(prefix="mt-compact-crash-")
gen = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "compact_gen.py")
old_path = os.path.join(work, "old.log")
subprocess.run([sys.executable, gen, old_path, "3000"], check=True)
old = open(old_path, "rb").read()
ref_dir = os.path.join(work, "ref")
os.mkdir(ref_dir)
shutil.copy(old_path, os.path.join(ref_dir, "monkeytown.log"))
t0 = time.monotonic()
subprocess.run([BIN, "compact", "--data-dir", ref_dir], check=True, capture_output=True, timeout=120)
took = time.monotonic() - t0
new = open(os.path.join(ref_dir, "monkeytown.log"), "rb").read()
t.ok(len(new) < len(old), f"the reference compaction shrank {len(old)} -> {len(new)} bytes")
seen, whole = set(), 0
crash_dir = os.path.join(work, "crash")
os.mkdir(crash_dir)
for i in range(12):
    shutil.copy(old_path, os.path.join(crash_dir, "monkeytown.log"))
    p = subprocess.Popen([BIN, "compact", "--data-dir", crash_dir], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    time.sleep(took * (i + 1) / 6)  # from early in the copy to well after the rename
    p.kill()
    p.wait()
    got = open(os.path.join(crash_dir, "monkeytown.log"), "rb").read()
    whole += got in (old, new)
    seen.add("old" if got == old else "new" if got == new else "neither")
    r = subprocess.run([BIN, "compact", "--data-dir", crash_dir], capture_output=True, text=True, timeout=120)
    whole += r.returncode == 0 and open(os.path.join(crash_dir, "monkeytown.log"), "rb").read() == new
    whole += not os.path.exists(os.path.join(crash_dir, "monkeytown.log.compact"))
t.eq(whole, 36, f"12 kills mid-compaction: each left the old or the new log whole (seen: {sorted(seen)}), "
     "and the next compaction finished the job")
t.ok(seen == {"old", "new"}, "kills landed both before and after the rename")
shutil.rmtree(work)
t.done()
