#!/usr/bin/env bash
# Real-time rooms benchmark (issue 5): R arena rooms of P players at 60 Hz. For every R in
# --rooms (and --runs times each) it starts a fresh server on a free loopback port with a
# temporary --data-dir, runs `mt-gamegen --mode rooms` (one client per room creates it, the
# others join, every player sends move inputs at --input-rate per second), stops the server, and
# prints a table of medians: server tick lateness and tick duration (from /metrics histogram
# deltas), ticks dropped, server CPU and RSS, client-side state jitter and input-to-update
# latency.
#
# usage: bench/run_rooms.sh [options]
#   --rooms LIST       rooms, comma-separated (default 100)
#   --players P        players per room (default 4)
#   --input-rate N     move inputs per second per player (default 10)
#   --state-period MS  the game_state period the clients expect, against which jitter is measured
#                      (default 16.67: the arena sends 60 updates a second, its send_rate)
#   --runs N           runs per room count (default 1)
#   --duration S       measuring window, seconds (default 10)
#   --warmup S         time after every room is active before the window (default 3)
#   --server BIN       server binary (default build/monkeytown)
#   --perf DIR         record `perf record -g` of the server over each window into DIR
#                      (PERF_CALLGRAPH='--call-graph dwarf' for stacks through code without frame pointers)
#   --text             mt-gamegen's text report instead of JSON lines
# environment:
#   SERVER_ARGS=       extra server arguments (e.g. --realtime-input-rate, which is per connection
#                      and defaults to 3600/min = 60/s, enough for --input-rate up to 60)
#   LOG_LEVEL=warn     the server's --log-level
#   GAMEGEN=           mt-gamegen binary (default build/bench/mt-gamegen, else built in /tmp)
#   SERVER_CPUS= GAMEGEN_CPUS=   taskset -c lists to pin the server / the generator
# R x P connections need R x P + 64 descriptors in the server and as many in mt-gamegen: both
# raise their soft limit to the hard limit (20000 here), and the server gets
# --max-connections R x P + 1024.
set -u

CALLER=$PWD
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
. "$ROOT/bench/lib.sh" || exit 1
die() { echo "run_rooms: $*" >&2; exit 1; }

ROOMS=100 PLAYERS=4 IRATE=10 PERIOD=16.67 RUNS=1 DURATION=10 WARMUP=3 BIN=build/monkeytown PERF_DIR='' TEXT=0
while [ $# -gt 0 ]; do
    case "$1" in
    --rooms) ROOMS=$2; shift ;;
    --players) PLAYERS=$2; shift ;;
    --input-rate) IRATE=$2; shift ;;
    --state-period) PERIOD=$2; shift ;;
    *) run_option "$@" || die "unknown option $1 (try --help)"; shift $((TOOK - 1)) ;;
    esac
    shift
done
setup_run run_rooms

SERVER_PID='' PERF_PID=''
cleanup() {
    stop_server
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STAT0=$(host_cpu_stat)
IFS=, read -r -a RLIST <<<"$ROOMS"
RESULTS=$TMP/results.jsonl
: >"$RESULTS"
n=0
for r in "${RLIST[@]}"; do
    for run in $(seq 1 "$RUNS"); do
        n=$((n + 1))
        conns=$((r * PLAYERS))
        [ "$HARD" = unlimited ] || [ $((conns + 128)) -le "$HARD" ] ||
            echo "run_rooms: warning: $conns connections need more than the fd limit $HARD" >&2
        PORT=$(free_port)
        DATA=$TMP/data.$n
        # shellcheck disable=SC2086
        start_server "$TMP/server.$n.log" --data-dir "$DATA" --max-connections $((conns + 1024)) \
            --guest-rate 0 $SERVER_ARGS
        echo "run_rooms: [$n] rooms=$r players=$PLAYERS input-rate=$IRATE run=$run (server pid $SERVER_PID, port $PORT)" >&2
        args=(--mode rooms --port "$PORT" --rooms "$r" --players "$PLAYERS" --input-rate "$IRATE" --state-period "$PERIOD"
            --duration "$DURATION" --warmup "$WARMUP" --server-pid "$SERVER_PID"
            --server-url "http://127.0.0.1:$PORT")
        if [ -n "$PERF_DIR" ]; then
            # the window opens after the ramp, the room setup and the warmup: wait for the
            # rooms to be active (active_game_sessions), then for the warmup
            (for _ in $(seq 1 600); do
                a=$(curl -s -m 1 "http://127.0.0.1:$PORT/metrics" | awk '$1 == "active_game_sessions" {print $2}')
                [ "${a%.*}" -ge "$r" ] 2>/dev/null && break
                sleep 0.1
            done
            sleep "$WARMUP"
            exec perf record -q -e cpu-clock $PERF_CALLGRAPH -F 499 -p "$SERVER_PID" -o "$PERF_DIR/perf.rooms.r$r.p$PLAYERS.r$run.data" \
                -- sleep "$DURATION") >/dev/null 2>&1 &
            # shellcheck disable=SC2034 # read by stop_server (lib.sh)
            PERF_PID=$!
        fi
        if [ "$TEXT" = 1 ]; then
            "${GAMEGEN_PIN[@]}" "$GAMEGEN" "${args[@]}"
        else
            "${GAMEGEN_PIN[@]}" "$GAMEGEN" "${args[@]}" --json >"$TMP/report.$n" ||
                echo "run_rooms: mt-gamegen exited with an error" >&2
            python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
r.update(run=int(sys.argv[2]))
print(json.dumps(r))' "$TMP/report.$n" "$run" | tee -a "$RESULTS"
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "run_rooms: the server died; log tail:" >&2
            tail -n 20 "$TMP/server.$n.log" >&2
        elif grep -q '"level":"\(error\|warn\)"' "$TMP/server.$n.log"; then
            echo "run_rooms: server warnings/errors logged (count, message):" >&2
            grep '"level":"\(error\|warn\)"' "$TMP/server.$n.log" | sed 's/.*"msg":"\([^"]*\)".*/\1/' |
                sort | uniq -c | sort -rn | head -5 >&2
        fi
        stop_server
        rm -rf "$DATA"
    done
done
summarize run_rooms <<'EOF'
import math, statistics, sys
from summary import grouped, errors_text
groups = grouped(sys.argv[1], lambda r: (r["rooms"]["rooms"], r["rooms"]["players_per_room"]))
def num(x):
    if x == "+Inf":
        return math.inf
    return x if isinstance(x, (int, float)) else None
def med(xs):
    xs = [num(x) for x in xs]
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")
def f(v, p=2):
    return ">50" if v == math.inf else ("-" if v != v else f"{v:.{p}f}")
print()
print("| rooms x players | runs | rooms active | tick lateness p50 / p99 ms | ticks <= 2 ms late % | tick duration p50 / p99 µs | ticks <= 50 µs % | Lua per tick p50 / p99 µs | Lua <= 50 µs % | Lua per state sent p50 / p99 µs | ticks dropped | server CPU % (loop thread) | server RSS MiB | states/s (expected) | jitter p50 / p99 / max ms | input->update p50 / p99 ms | msgs/s | gamegen CPU % | errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for (rooms, p), rs in sorted(groups.items()):
    S = lambda *k: [(lambda d: [d := (d or {}).get(x) for x in k][-1])(r.get("server")) for r in rs]
    R = lambda *k: [(lambda d: [d := (d or {}).get(x) for x in k][-1])(r.get("rooms")) for r in rs]
    print(f"| {rooms} x {p} | {len(rs)} | {med(R('rooms_active')):.0f} "
          f"| {f(med(S('tick_lateness_ms', 'p50')), 3)} / {f(med(S('tick_lateness_ms', 'p99')), 2)} "
          f"| {f(100 * med(S('tick_lateness_ms', 'frac_le_2ms')), 2)} "
          f"| {f(1000 * med(S('tick_duration_ms', 'p50')), 1)} / {f(1000 * med(S('tick_duration_ms', 'p99')), 1)} "
          f"| {f(100 * med(S('tick_duration_ms', 'frac_le_0.05ms')), 2)} "
          f"| {f(1000 * med(S('tick_lua_ms', 'p50')), 1)} / {f(1000 * med(S('tick_lua_ms', 'p99')), 1)} "
          f"| {f(100 * med(S('tick_lua_ms', 'frac_le_0.05ms')), 2)} "
          f"| {f(1000 * med(S('state_lua_ms', 'p50')), 1)} / {f(1000 * med(S('state_lua_ms', 'p99')), 1)} "
          f"| {f(med(S('ticks_dropped')), 0)} "
          f"| {f(med(S('cpu_pct')), 0)} ({f(med(S('loop_thread_cpu_pct')), 0)}) "
          f"| {f(med(S('rss_kib_end')) / 1024, 0)} "
          f"| {f(med(R('states_per_s')), 0)} ({f(med(R('states_expected_per_s')), 0)}) "
          f"| {f(med(R('jitter_ms', 'p50')))} / {f(med(R('jitter_ms', 'p99')))} / {f(med(R('jitter_ms', 'max')), 1)} "
          f"| {f(med(R('input_to_update_ms', 'p50')), 1)} / {f(med(R('input_to_update_ms', 'p99')), 1)} "
          f"| {f(med([r['messages_per_s'] for r in rs]), 0)} "
          f"| {f(med([r['gamegen']['cpu_pct'] for r in rs]), 0)} "
          f"| {errors_text(rs)} |")
EOF
