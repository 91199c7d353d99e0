#!/usr/bin/env bash
# Connection benchmark: start a Monkeytown server on a free loopback port, hold
# CONNECTIONS WebSocket connections against it with one or more mt-loadgen
# processes, print each report (plus a combined summary), stop the server.
#
# usage: bench/run_conn.sh [SERVER_BIN [CONNECTIONS]]
#   SERVER_BIN   default build/monkeytown
#   CONNECTIONS  default 10000
# environment (all optional):
#   RATE=1000        heartbeats/s across all connections (0 = idle hold)
#   DURATION=10      measuring seconds after the ramp
#   RAMP_RATE=2000   new connections/s, total over all processes
#   PER_PROC=9000    connections per mt-loadgen process (kept below its fd limit)
#   LOCAL_IPS=auto   --local-ip-range for each process (auto: 16 when CONNECTIONS > 25000)
#   PORT=            fixed port instead of a free one
#   LOADGEN=         mt-loadgen binary (default: next to the server, build/bench, or built on the fly)
#   MAX_CONN=        the server's --max-connections (default CONNECTIONS+1024; the server lowers
#                    it to its open-file limit minus 64 by itself)
#   MAX_HANDSHAKES=  --max-handshakes for each mt-loadgen process (default: mt-loadgen's, 256)
#   SERVER_ARGS=     extra server arguments (after the script's own, so they win; the server gets
#                    a fresh --data-dir in a temporary directory, removed at the end)
#   SERVER_CPUS=     pin the server to these CPUs (taskset -c list, e.g. 1)
#   LOADGEN_CPUS=    pin the mt-loadgen processes to these CPUs (e.g. 0)
#   TEXT=1           human-readable reports instead of JSON (no combined summary)
set -u

CALLER=$PWD
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
# abspath (relative paths: from the caller's directory if they exist there, else from the
# repository root), free_port, port_busy, wait_listening, stop_pid
. "$ROOT/bench/lib.sh" || exit 1
BIN=$(abspath "${1:-build/monkeytown}")
cd "$ROOT" || exit 1 # the server may look for games/, lua/ ... relative to the repository
N=${2:-10000}
RATE=${RATE:-1000}
DURATION=${DURATION:-10}
RAMP_RATE=${RAMP_RATE:-2000}
PER_PROC=${PER_PROC:-9000}
LOCAL_IPS=${LOCAL_IPS:-auto}
SERVER_ARGS=${SERVER_ARGS:-}
TEXT=${TEXT:-0}
MAX_CONN=${MAX_CONN:-$((N + 1024))}
MAX_HANDSHAKES=${MAX_HANDSHAKES:-}
SERVER_CPUS=${SERVER_CPUS:-}
LOADGEN_CPUS=${LOADGEN_CPUS:-}
SERVER_PIN=()
LOADGEN_PIN=()
if [ -n "$SERVER_CPUS$LOADGEN_CPUS" ]; then
    command -v taskset >/dev/null 2>&1 || die "SERVER_CPUS/LOADGEN_CPUS need taskset (util-linux)"
    [ -n "$SERVER_CPUS" ] && SERVER_PIN=(taskset -c "$SERVER_CPUS")
    [ -n "$LOADGEN_CPUS" ] && LOADGEN_PIN=(taskset -c "$LOADGEN_CPUS")
fi

die() { echo "run_conn: $*" >&2; exit 1; }

[ -x "$BIN" ] || die "server binary '$BIN' not found or not executable"
case "$N" in '' | *[!0-9]*) die "connection count must be a number" ;; esac
[ "$N" -ge 1 ] || die "connection count must be >= 1"

# fds: soft limit up to the hard limit, for the server and the generators
HARD=$(ulimit -Hn)
ulimit -n "$HARD" 2>/dev/null || echo "run_conn: warning: could not raise ulimit -n to $HARD" >&2
if [ "$HARD" != unlimited ]; then
    [ $((N + 64)) -le "$HARD" ] ||
        echo "run_conn: note: the server caps --max-connections at the open-file limit minus 64" \
            "($((HARD - 64))); connections beyond its limit should be refused with 503" >&2
    [ "$PER_PROC" -le $((HARD - 128)) ] || PER_PROC=$((HARD - 128))
fi
[ "$PER_PROC" -ge 1 ] || die "fd limit too low"

# load generator binary
LGBUILD=
OUT=
find_tool LOADGEN mt-loadgen
if [ -z "$LOADGEN" ]; then
    LGBUILD=$(mktemp -d /tmp/mt-loadgen-build.XXXXXX)
    echo "run_conn: building mt-loadgen in $LGBUILD" >&2
    if ! { cmake -S bench -B "$LGBUILD" >/dev/null && cmake --build "$LGBUILD" >/dev/null; }; then
        die "mt-loadgen build failed"
    fi
    LOADGEN=$LGBUILD/mt-loadgen
fi
[ -x "$LOADGEN" ] || die "mt-loadgen '$LOADGEN' not executable"

# a free loopback port
PORT=${PORT:-}
if [ -z "$PORT" ]; then
    if command -v python3 >/dev/null 2>&1; then
        PORT=$(free_port)
    fi
    if [ -z "$PORT" ]; then
        for _ in $(seq 1 50); do
            p=$((20000 + RANDOM % 12000))
            port_busy "$p" || { PORT=$p; break; }
        done
    fi
    [ -n "$PORT" ] || die "no free port found"
fi

OUT=$(mktemp -d /tmp/mt-run-conn.XXXXXX)
SERVER_PID=
LG_PIDS=()
cleanup() {
    for p in "${LG_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
    stop_pid "$SERVER_PID"
    SERVER_PID=
    [ -n "$OUT" ] && rm -rf "$OUT"
    [ -n "$LGBUILD" ] && rm -rf "$LGBUILD"
    OUT=''
    LGBUILD=''
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086
"${SERVER_PIN[@]}" "$BIN" --host 127.0.0.1 --port "$PORT" --max-connections "$MAX_CONN" --log-level warn --data-dir "$OUT/data" --guest-rate 0 $SERVER_ARGS \
    >"$OUT/server.log" 2>&1 &
SERVER_PID=$!

if ! wait_listening "$SERVER_PID" "$PORT"; then
    echo "run_conn: server did not start listening on 127.0.0.1:$PORT; log:" >&2
    tail -n 30 "$OUT/server.log" >&2
    exit 1
fi
RSS0=$(awk '/^VmRSS:/{print $2}' "/proc/$SERVER_PID/status" 2>/dev/null)

P=$(((N + PER_PROC - 1) / PER_PROC))
if [ "$LOCAL_IPS" = auto ]; then
    if [ "$N" -gt 25000 ]; then LOCAL_IPS=16; else LOCAL_IPS=0; fi
fi
echo "run_conn: server $BIN pid $SERVER_PID on 127.0.0.1:$PORT (rss ${RSS0:-?} KiB);" \
    "$N connections over $P process(es), rate $RATE/s, duration ${DURATION}s, ramp $RAMP_RATE/s" >&2

# the host's CPU counters (user nice system idle iowait irq softirq steal), to report how busy
# the machine was and how much time the hypervisor took away (steal) while the generators ran
STAT0=$(host_cpu_stat)

# equal shares, so every process ramps at the same pace and measures at the same time
left=$N
for i in $(seq 1 "$P"); do
    n=$((left / (P - i + 1)))
    left=$((left - n))
    args=(--host 127.0.0.1 --port "$PORT" --connections "$n" --duration "$DURATION"
        --server-pid "$SERVER_PID"
        --rate "$(awk -v r="$RATE" -v n="$n" -v t="$N" 'BEGIN{printf "%.3f", r*n/t}')"
        --ramp-rate "$(awk -v r="$RAMP_RATE" -v n="$n" -v t="$N" 'BEGIN{printf "%.3f", r*n/t}')")
    [ "$LOCAL_IPS" -gt 0 ] && args+=(--local-ip-range "$LOCAL_IPS")
    [ -n "$MAX_HANDSHAKES" ] && args+=(--max-handshakes "$MAX_HANDSHAKES")
    [ "$TEXT" = 1 ] || args+=(--json)
    "${LOADGEN_PIN[@]}" "$LOADGEN" "${args[@]}" >"$OUT/report.$i" 2>"$OUT/stderr.$i" &
    LG_PIDS+=($!)
done
rc=0
for p in "${LG_PIDS[@]}"; do wait "$p" || rc=1; done
LG_PIDS=()
HOSTCPU=$(host_cpu_busy "$STAT0" "$(host_cpu_stat)")
[ -n "$HOSTCPU" ] && HOSTCPU="$HOSTCPU (of all CPUs, whole run)"

HWM=$(awk '/^VmHWM:/{print $2}' "/proc/$SERVER_PID/status" 2>/dev/null)
alive=1
kill -0 "$SERVER_PID" 2>/dev/null || alive=0
# does the server still answer HTTP? (status code of GET /health/live, 000 if no answer in 5 s)
LIVE=000
if [ "$alive" = 1 ] && command -v curl >/dev/null 2>&1; then
    LIVE=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$PORT/health/live")
fi

for i in $(seq 1 "$P"); do
    echo "== mt-loadgen $i/$P"
    cat "$OUT/report.$i"
    [ -s "$OUT/stderr.$i" ] && sed 's/^/   stderr: /' "$OUT/stderr.$i"
done

if [ "$TEXT" != 1 ] && command -v python3 >/dev/null 2>&1; then
    python3 - "$OUT" "$P" "${RSS0:-}" "${HWM:-}" "$alive" "$LIVE" <<'EOF'
import json, math, sys
out, p, rss0, hwm, alive = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "1"
live = sys.argv[6]
reps = []
for i in range(1, p + 1):
    try:
        reps.append(json.load(open(f"{out}/report.{i}")))
    except Exception:
        pass
if not reps:
    sys.exit(0)
s = lambda f: sum(f(r) for r in reps)
c = lambda k: s(lambda r: r["connections"][k])
held = c("held")
sent = s(lambda r: r["messages"]["sent"]); replies = s(lambda r: r["messages"]["replies"])
meas = max(r["measure_s"] for r in reps) or 1
print("== combined")
print(f"connections: attempted {c('attempted')}, established {c('established')}, failed {c('failed')}, "
      f"held {held}, dropped {c('dropped_after_established')}")
fl = {k: s(lambda r: r['failures'][k]) for k in ("connect_error", "http_status", "closed", "timeout", "protocol")}
print("failures: " + ", ".join(f"{k} {v}" for k, v in fl.items()))
print(f"messages: sent {sent}, replies {replies}, send rate {sent / meas:.1f}/s")
fl_http = {}
for r in reps:
    for k, v in r["failures"].get("http_statuses", {}).items():
        fl_http[k] = fl_http.get(k, 0) + v
if fl_http:
    print("http statuses: " + ", ".join(f"{k} x{v}" for k, v in sorted(fl_http.items())))
# merged RTT histogram: same buckets and rank rule as mt-loadgen, clamped to the exact min/max
hist = {}
for r in reps:
    for v, n in r.get("rtt_hist_us", []):
        hist[v] = hist.get(v, 0) + n
total = sum(hist.values())
if total:
    mn = min(r["rtt_ms"]["min"] for r in reps if r["rtt_ms"]["min"] is not None)
    mx = max(r["rtt_ms"]["max"] for r in reps if r["rtt_ms"]["max"] is not None)
    mean = sum(r["rtt_ms"]["mean"] * r["rtt_ms"]["samples"] for r in reps if r["rtt_ms"]["samples"]) / total
    def pct(q):
        rank = max(1, math.ceil(q / 100.0 * total))
        cum = 0
        for v in sorted(hist):
            cum += hist[v]
            if cum >= rank:
                return min(max(v / 1000.0, mn), mx)
        return mx
    print(f"rtt ms (all processes merged): p50 {pct(50):.3f}, p95 {pct(95):.3f}, p99 {pct(99):.3f}, "
          f"max {mx:.3f}, mean {mean:.3f} (n={total})")
cpu = [r.get("server_cpu_pct") for r in reps if r.get("server_cpu_pct") is not None]
lcpu = [r["loadgen"].get("cpu_pct") for r in reps if r["loadgen"].get("cpu_pct") is not None]
if cpu:
    print(f"cpu over the measuring window (% of one core): server {sum(cpu) / len(cpu):.1f}, "
          f"mt-loadgen processes {sum(lcpu):.1f} in total")
rs = [r["server_rss"] for r in reps if r.get("server_rss") and r["server_rss"]["after_kib"] is not None]
before = int(rss0) if rss0 else min((x["before_kib"] for x in rs if x["before_kib"] is not None), default=None)
if rs and before is not None and held:
    after = max(x["after_kib"] for x in rs)
    print(f"server rss: before {before} KiB, after {after} KiB (all held), "
          f"per held connection {(after - before) / held:.2f} KiB")
    if hwm:
        print(f"server peak rss (VmHWM) {hwm} KiB, {(int(hwm) - before) / held:.2f} KiB per held connection")
print(f"server alive at end: {'yes' if alive else 'NO'}; GET /health/live: {live}")
EOF
fi
[ "$alive" = 1 ] || { echo "run_conn: the server died during the run; log:" >&2; tail -n 30 "$OUT/server.log" >&2; rc=1; }
[ "$TEXT" = 1 ] && echo "server alive at end: $([ "$alive" = 1 ] && echo yes || echo NO); GET /health/live: $LIVE"
[ -n "$HOSTCPU" ] && echo "host cpu: $HOSTCPU"
if [ -s "$OUT/server.log" ]; then
    echo "== server log (warnings and errors, first 20 lines, indented)"
    head -n 20 "$OUT/server.log" | sed 's/^/  /'
fi
cleanup
exit $rc
