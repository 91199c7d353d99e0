#!/usr/bin/env bash
# What the server does when its process runs out of file descriptors.
#
# 1. Start the server (its --max-connections defaults to more than the fd limit, so the server
#    lowers it to the open-file limit minus its reserve of 64).
# 2. Fill it with CONNECTIONS idle WebSocket connections (mt-loadgen --rate 0).
# 3. Open RAW plain TCP connections that never send a request. The server accepts them (they
#    are not WebSocket sessions yet, so the max-connections check does not see them) until
#    accept() fails with EMFILE.
# 4. For WINDOW seconds, while those sockets are open: the server's CPU, how many log lines it
#    writes, and whether GET /health/live answers. Then close the raw sockets and check again.
#
# usage: bench/fd_exhaust.sh [SERVER_BIN [CONNECTIONS]]   # defaults: build/monkeytown, hard limit - 64
# environment: RAW=100, WINDOW=5, MAX_CONN= (the server's --max-connections; default 1000000),
#              PER_PROC=9000, LOADGEN=, PORT=, SERVER_ARGS=
# The server runs with --ping-interval 3600 so that no keepalive round (which costs seconds of
# CPU with ~20k connections) falls into the windows; SERVER_ARGS can override it.
set -u

CALLER=$PWD
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
. "$ROOT/bench/lib.sh" || exit 1
BIN=${1:-build/monkeytown}
HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] && HARD=1048576
ulimit -n "$HARD" 2>/dev/null
N=${2:-$((HARD - 64))}
RAW=${RAW:-100}
WINDOW=${WINDOW:-5}
MAX_CONN=${MAX_CONN:-1000000}

die() { echo "fd_exhaust: $*" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || die "needs curl"
setup_hold

OUT=$(mktemp -d /tmp/mt-fd-exhaust.XXXXXX)
SERVER_PID=
RAW_PID=
LG_PIDS=()
cleanup() {
    [ -n "$RAW_PID" ] && kill "$RAW_PID" 2>/dev/null
    stop_loadgens
    stop_pid "$SERVER_PID"
    SERVER_PID=
    [ -n "$OUT" ] && rm -rf "$OUT" # the server log can reach hundreds of MB
    OUT=''
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086
"$BIN" --host 127.0.0.1 --port "$PORT" --max-connections "$MAX_CONN" --log-level warn --data-dir "$OUT/data" \
    --ping-interval 3600 --ping-timeout 7200 --guest-rate 0 $SERVER_ARGS \
    >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
wait_listening "$SERVER_PID" "$PORT" || { tail -n 20 "$OUT/server.log" >&2; die "server did not start"; }
HZ=$(getconf CLK_TCK)
loglines() { wc -l <"$OUT/server.log"; }
live() { curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:$PORT/health/live"; }
gauge() { curl -s -m 3 "http://127.0.0.1:$PORT/metrics" | awk '$1 == "ws_connections" {print $2}'; }
# observe LABEL: CPU and log lines over WINDOW seconds, then one health probe
observe() {
    local t0 t1 l0 l1
    t0=$(server_cpu_ticks)
    l0=$(loglines)
    sleep "$WINDOW"
    t1=$(server_cpu_ticks)
    l1=$(loglines)
    awk -v l="$1" -v s="$WINDOW" -v d=$((t1 - t0)) -v hz="$HZ" -v ll=$((l1 - l0)) -v f="$(server_fds)" 'BEGIN {
        printf "%-28s server cpu %5.1f%% of one core, %d log lines/s, %d fds open", l, 100 * d / hz / s, ll / s, f }'
    echo ", GET /health/live: $(live)"
}

echo "fd_exhaust: server pid $SERVER_PID on 127.0.0.1:$PORT, open-file limit $HARD;" \
    "$(grep -m1 'lowering' "$OUT/server.log" | sed 's/.*"limit":\([0-9]*\).*/max-connections lowered to \1/')"
hold_idle "$N" "$OUT/lg" 1500
prev=-1
for _ in $(seq 1 $((N / 1000 + 60))); do
    sleep 2
    cur=$(server_fds)
    [ "$cur" = "$prev" ] && break
    prev=$cur
done
echo "fd_exhaust: $(gauge) WebSocket sessions, $(server_fds) server fds"
observe "before the raw sockets"

# RAW plain TCP connections that never send anything, held by one bash process
(
    for _ in $(seq 1 "$RAW"); do exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || break; done
    exec sleep 100000
) 2>/dev/null &
RAW_PID=$!
sleep 1
echo "fd_exhaust: $RAW raw TCP connections opened"
observe "with the raw sockets"
observe "with the raw sockets"
echo "fd_exhaust: 'accept' errors in the server log so far: $(grep -c 'accept: errno' "$OUT/server.log")," \
    "log size $(($(wc -c <"$OUT/server.log") / 1024)) KiB"
grep -m1 'accept: errno' "$OUT/server.log" | sed 's/^/  first: /'
kill "$RAW_PID" 2>/dev/null
wait "$RAW_PID" 2>/dev/null
RAW_PID=
sleep 1
observe "after closing them"
observe "after closing them"
