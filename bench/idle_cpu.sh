#!/usr/bin/env bash
# Idle CPU of a Monkeytown server: with no connections, then with CONNECTIONS idle WebSocket
# connections held by mt-loadgen (--rate 0). For each phase it reports the server's CPU time
# (utime + stime from /proc/PID/stat) over WINDOW seconds and, when strace is available, how
# often the server woke up: returns from a blocking epoll_wait (a timeout other than 0), and all
# epoll_wait calls (the non-blocking ones are libuv's poll nested in libevent's).
#
# usage: bench/idle_cpu.sh [SERVER_BIN [CONNECTIONS]]      # defaults: build/monkeytown 1000
# environment (all optional):
#   WINDOW=10        seconds per measurement
#   PING_WINDOW=     also measure one window of this many seconds that contains the keepalive
#                    pings (default: ping interval + 5 s; 0 skips it)
#   PING_INTERVAL=30 the server's --ping-interval (its default)
#   STRACE=1         0: CPU time only (strace adds a little overhead to every syscall)
#   LOADGEN=, PORT=, SERVER_ARGS=   as for bench/run_conn.sh
set -u

CALLER=$PWD
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
abspath() {
    case "$1" in
    /*) echo "$1" ;;
    *) if [ -e "$CALLER/$1" ]; then echo "$CALLER/$1"; else echo "$ROOT/$1"; fi ;;
    esac
}
BIN=$(abspath "${1:-build/monkeytown}")
cd "$ROOT" || exit 1
N=${2:-1000}
WINDOW=${WINDOW:-10}
PING_INTERVAL=${PING_INTERVAL:-30}
PING_WINDOW=${PING_WINDOW:-$((PING_INTERVAL + 5))}
STRACE=${STRACE:-1}
SERVER_ARGS=${SERVER_ARGS:-}

die() { echo "idle_cpu: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "server binary '$BIN' not found or not executable"
case "$N" in '' | *[!0-9]*) die "connection count must be a number" ;; esac
if [ "$STRACE" = 1 ] && ! command -v strace >/dev/null 2>&1; then
    echo "idle_cpu: strace not found: CPU time only" >&2
    STRACE=0
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null

LOADGEN=${LOADGEN:-}
[ -n "$LOADGEN" ] && LOADGEN=$(abspath "$LOADGEN")
if [ -z "$LOADGEN" ]; then
    for c in "$(dirname "$BIN")/bench/mt-loadgen" build/bench/mt-loadgen; do
        [ -x "$c" ] && { LOADGEN=$c; break; }
    done
fi
[ -x "$LOADGEN" ] || die "mt-loadgen not found (build the mt-loadgen target or set LOADGEN)"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=${PORT:-}
if [ -z "$PORT" ]; then
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null)
    [ -n "$PORT" ] || PORT=$((20000 + RANDOM % 12000))
fi

OUT=$(mktemp -d /tmp/mt-idle-cpu.XXXXXX)
SERVER_PID=
LG_PID=
cleanup() {
    [ -n "$LG_PID" ] && kill -INT "$LG_PID" 2>/dev/null && wait "$LG_PID" 2>/dev/null
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=
    LG_PID=
    [ -n "$OUT" ] && rm -rf "$OUT"
    OUT=''
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086
"$BIN" --host 127.0.0.1 --port "$PORT" --max-connections $((N + 1024)) --log-level warn \
    --ping-interval "$PING_INTERVAL" $SERVER_ARGS >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 150); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    port_busy "$PORT" && break
    sleep 0.1
done
port_busy "$PORT" || { tail -n 20 "$OUT/server.log" >&2; die "server did not start"; }
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{ i = index($0, ") "); split(substr($0, i + 2), f, " "); print f[12] + f[13] }' "/proc/$SERVER_PID/stat"; }
nfds() { ls "/proc/$SERVER_PID/fd" 2>/dev/null | wc -l; }

# measure LABEL SECONDS: CPU over the window, plus epoll_wait returns and syscalls under strace
measure() {
    local label=$1 secs=$2 t0 t1 wakes=- calls=- rss
    t0=$(cpu_ticks)
    if [ "$STRACE" = 1 ]; then
        timeout -s INT "$secs" strace -f -qq -e trace=epoll_wait,epoll_pwait -o "$OUT/ew" -p "$SERVER_PID" 2>/dev/null
        # returns of calls with a timeout other than 0 (whole lines, or "<... resumed>" ends)
        wakes=$(grep -c -E ', -?[1-9][0-9]*\) += [0-9]+$' "$OUT/ew" 2>/dev/null)
        calls=$(grep -c -E '\) += [0-9]+$' "$OUT/ew" 2>/dev/null)
    else
        sleep "$secs"
    fi
    t1=$(cpu_ticks)
    rss=$(awk '/^VmRSS:/{print $2}' "/proc/$SERVER_PID/status")
    awk -v l="$label" -v s="$secs" -v d=$((t1 - t0)) -v hz="$HZ" -v w="$wakes" -v c="$calls" -v r="$rss" 'BEGIN {
        printf "%-34s %3ds  cpu %6.2f s = %5.2f%% of one core  rss %d KiB", l, s, d / hz, 100 * d / hz / s, r
        if (w != "-") printf "  wake-ups %d (%.2f/s), epoll_wait calls %d", w, w / s, c
        printf "\n" }'
}

echo "idle_cpu: server $BIN pid $SERVER_PID on 127.0.0.1:$PORT, ping interval ${PING_INTERVAL}s," \
    "threads $(ls /proc/$SERVER_PID/task | wc -l), CPU tick $((1000 / HZ)) ms"
sleep 2
measure "no connections" "$WINDOW"
if [ "$STRACE" = 1 ]; then
    # which syscalls, over one more window
    timeout -s INT "$WINDOW" strace -f -qq -c -o "$OUT/sc" -p "$SERVER_PID" 2>/dev/null
    echo "  syscalls with no connections over ${WINDOW}s:"
    sed 's/^/    /' "$OUT/sc"
fi

[ "$N" -gt 0 ] || exit 0
BASE=$(nfds)
"$LOADGEN" --host 127.0.0.1 --port "$PORT" --connections "$N" --rate 0 --duration 100000 \
    --server-pid "$SERVER_PID" >"$OUT/lg" 2>&1 &
LG_PID=$!
t=0
while [ "$(nfds)" -lt $((BASE + N)) ] && [ $t -lt $((N / 200 + 60)) ]; do sleep 1; t=$((t + 1)); done
echo "idle_cpu: $(($(nfds) - BASE)) connections open after ${t}s"
T_OPEN=$(date +%s)
sleep 2
measure "$N idle connections" "$WINDOW"
if [ "$STRACE" = 1 ]; then
    timeout -s INT "$WINDOW" strace -f -qq -c -o "$OUT/sc" -p "$SERVER_PID" 2>/dev/null
    echo "  syscalls with $N idle connections over ${WINDOW}s:"
    sed 's/^/    /' "$OUT/sc"
fi
if [ "$PING_WINDOW" -gt 0 ]; then
    # start the window a few seconds before the first keepalive round (ping interval after open)
    wait_s=$((T_OPEN + PING_INTERVAL - 3 - $(date +%s)))
    [ "$wait_s" -gt 0 ] && sleep "$wait_s"
    measure "$N idle, window with keepalive" "$PING_WINDOW"
fi
kill -INT "$LG_PID" 2>/dev/null
wait "$LG_PID" 2>/dev/null
LG_PID=
echo "idle_cpu: mt-loadgen report:"
grep -E '^(connections|messages|server rss|cpu)' "$OUT/lg" | sed 's/^/  /'
