#!/usr/bin/env bash
# Instructions per game (issue 12): the server under valgrind's callgrind while mt-gamegen plays
# tic-tac-toe against the random agent, then the instructions the loop thread and the other
# threads executed per game started, and the loop's heaviest functions per game. Unlike games
# per second, instruction counts do not move with the machine's load, so two builds can be
# compared on a busy host. (The kernel's share, sends and epoll, is not counted: see perf.)
#
# usage: bench/callgrind_games.sh [--server BIN] [--clients C] [--duration S] [--top N] [--keep DIR]
#   defaults: build/monkeytown, 20 clients, 20 s (about 600 games under callgrind), top 25;
#   --keep copies the callgrind.out.* files (one per thread) into DIR for callgrind_annotate
# needs valgrind (apt-get install valgrind) and python3.
set -u
CALLER=$PWD
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
. "$ROOT/bench/lib.sh" || exit 1
die() { echo "callgrind_games: $*" >&2; exit 1; }

BIN=build/monkeytown CLIENTS=20 DURATION=20 TOP=25 KEEP=
while [ $# -gt 0 ]; do
    case "$1" in
    --server) BIN=$2; shift ;;
    --clients) CLIENTS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --top) TOP=$2; shift ;;
    --keep) KEEP=$2; shift ;;
    *) die "unknown option $1" ;;
    esac
    shift
done
BIN=$(abspath "$BIN")
command -v valgrind >/dev/null || die "valgrind is not installed"
find_tool GAMEGEN mt-gamegen
[ -x "$GAMEGEN" ] || die "mt-gamegen not found (build first)"

TMP=$(mktemp -d /tmp/mt-callgrind.XXXXXX)
PORT=$(free_port)
trap 'kill -INT "$VG" 2>/dev/null; rm -rf "$TMP"' EXIT
(cd "$TMP" && exec valgrind --tool=callgrind --separate-threads=yes --smc-check=all-non-file \
    "$BIN" --host 127.0.0.1 --port "$PORT" --data-dir "$TMP/data" --guest-rate 0 \
    --input-rate 1000000 --games "$ROOT/games" --agents "$ROOT/agents" --lua-dir "$ROOT/lua" \
    --log-level warn >"$TMP/server.log" 2>&1) &
VG=$!
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break; sleep 1; done
"$GAMEGEN" --mode games --port "$PORT" --clients "$CLIENTS" --duration "$DURATION" --warmup 2 \
    --json >"$TMP/gamegen.json" || die "mt-gamegen failed"
kill -INT "$VG"
wait "$VG" 2>/dev/null
[ -z "$KEEP" ] || { mkdir -p "$KEEP" && cp "$TMP"/callgrind.out.* "$KEEP"/; }
python3 - "$TMP" "$TOP" <<'PY'
import glob, json, re, subprocess, sys
tmp, top = sys.argv[1], int(sys.argv[2])
games = json.load(open(tmp + "/gamegen.json"))["games"]["started_total"]
files = sorted(glob.glob(tmp + "/callgrind.out.*-*"))
def total(f):
    for line in open(f):
        if line.startswith("summary:"): return int(line.split()[1])
    return 0
loop, others = files[0], files[1:]
print("games started: %d" % games)
print("loop thread, whole run: %.0f instructions per game (start-up included)" %
      (total(loop) / games))
print("other threads: %.0f instructions per game" % (sum(total(f) for f in others) / games))
out = subprocess.run(["callgrind_annotate", "--inclusive=yes", loop], capture_output=True,
                     text=True).stdout
rows = []
for line in out.splitlines():
    m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(\S+?) \[", line)
    if m and not m.group(2).startswith("???"):
        rows.append((int(m.group(1).replace(",", "")), m.group(2).split(":")[-1]))
run = dict((name, n) for n, name in rows)
print("loop thread, event loop only (loop_run): %.0f instructions per game" %
      (run.get("loop_run", 0) / games))
print("the loop's functions, inclusive, per game:")
for n, name in rows[:top]:
    print("  %10.0f  %s" % (n / games, name))
PY
