#!/usr/bin/env bash
# Idle CPU of a Monkeytown server: with no connections, then with CONNECTIONS idle WebSocket
# connections held by mt-loadgen (--rate 0), then over one keepalive round.
#
# Every phase is measured twice, in two consecutive windows:
#   cpu     utime + stime of the server (/proc/PID/stat) over the window, without strace;
#   strace  `strace -f -ff -p PID` over the next window, per thread: wake-ups (returns from a
#           call that slept: epoll_wait or poll with a timeout other than 0, futex waits,
#           nanosleep, select), all epoll_wait calls (the non-blocking ones are libuv's poll
#           nested in libevent's), and the count of every syscall. Threads that made no syscall
#           in the window are not listed. strace slows each syscall, which is why CPU is
#           measured without it.
#
# usage: bench/idle_cpu.sh [SERVER_BIN [CONNECTIONS]]      # defaults: build/monkeytown 1000
# environment (all optional):
#   NOCONN_WINDOW=35   seconds per window with no connections (lws has a timer of about 30 s)
#   WINDOW=10          seconds per window with the idle connections
#   PING_INTERVAL=30   the server's --ping-interval (its default; --ping-timeout is set to twice
#                      that, also the default ratio); KEEPALIVE=0 skips the
#                      keepalive phase (it waits for the first two keepalive rounds: about
#                      2 x PING_INTERVAL after the connections open)
#   RAMP_RATE=5000     connections per second while opening (all must open within the first
#                      PING_INTERVAL - 2 x WINDOW - 5 seconds, or the windows overlap the pings)
#   PER_PROC=9000      connections per mt-loadgen process
#   STRACE=1           0: CPU only
#   LOADGEN=, PORT=, SERVER_ARGS=   as for bench/run_conn.sh
set -u

CALLER=$PWD
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
. "$ROOT/bench/lib.sh" || exit 1
BIN=${1:-build/monkeytown}
N=${2:-1000}
WINDOW=${WINDOW:-10}
NOCONN_WINDOW=${NOCONN_WINDOW:-35}
PING_INTERVAL=${PING_INTERVAL:-30}
KEEPALIVE=${KEEPALIVE:-1}
RAMP_RATE=${RAMP_RATE:-5000}
STRACE=${STRACE:-1}

die() { echo "idle_cpu: $*" >&2; exit 1; }
case "$N" in '' | *[!0-9]*) die "connection count must be a number" ;; esac
if [ "$STRACE" = 1 ] && ! command -v strace >/dev/null 2>&1; then
    echo "idle_cpu: strace not found: CPU only" >&2
    STRACE=0
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null
setup_hold

OUT=$(mktemp -d /tmp/mt-idle-cpu.XXXXXX)
SERVER_PID=
LG_PIDS=()
cleanup() {
    stop_loadgens
    stop_pid "$SERVER_PID"
    SERVER_PID=
    [ -n "$OUT" ] && rm -rf "$OUT"
    OUT=''
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086
"$BIN" --host 127.0.0.1 --port "$PORT" --max-connections $((N + 1024)) --log-level warn \
    --ping-interval "$PING_INTERVAL" --ping-timeout $((2 * PING_INTERVAL)) --data-dir "$OUT/data" --guest-rate 0 $SERVER_ARGS >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
wait_listening "$SERVER_PID" "$PORT" || { tail -n 20 "$OUT/server.log" >&2; die "server did not start"; }
HZ=$(getconf CLK_TCK)
rss() { awk '/^VmRSS:/{print $2}' "/proc/$SERVER_PID/status"; }

# measure_cpu LABEL SECONDS
measure_cpu() {
    local t0 t1
    t0=$(server_cpu_ticks)
    sleep "$2"
    t1=$(server_cpu_ticks)
    awk -v l="$1" -v s="$2" -v d=$((t1 - t0)) -v hz="$HZ" -v r="$(rss)" 'BEGIN {
        printf "%-36s cpu    %3ds: %6.2f s = %5.2f%% of one core (rss %d KiB)\n", l, s, d / hz, 100 * d / hz / s, r }'
}

# measure_strace LABEL SECONDS: `strace -ff` (one file per thread, so no call is split in two)
measure_strace() {
    [ "$STRACE" = 1 ] || return 0
    rm -f "$OUT"/trace.*
    timeout -s INT "$2" strace -f -ff -qq -o "$OUT/trace" -p "$SERVER_PID" 2>/dev/null
    local f tid comm quiet=0
    for f in "$OUT"/trace.*; do
        [ -e "$f" ] || continue
        tid=${f##*.}
        comm=$(cat "/proc/$SERVER_PID/task/$tid/comm" 2>/dev/null || echo '?')
        # wake-ups: returns of calls that slept until an event or a deadline: epoll_wait/poll with
        # a timeout other than 0, futex waits, nanosleeps, select
        awk -v l="$1" -v s="$2" -v t="$tid" -v c="$comm" '
            / = [-0-9]/ {
                name = $0; sub(/\(.*/, "", name); n[name]++; total++
                if (name ~ /^(epoll_p?wait|e?poll|ppoll)$/ && $0 ~ /, -?[1-9][0-9]*(, [^)]*)?\) += /) w++
                else if (name == "futex" && $0 ~ /FUTEX_WAIT/) w++
                else if (name ~ /nanosleep$|^p?select6?$/) w++
                if (name ~ /^epoll_p?wait$/) ew++
            }
            END {
                if (!total) exit
                printf "%-36s strace %3ds: thread %s (%s): wake-ups %d (%.2f/s), epoll_wait calls %d, syscalls %d\n", l, s, t, c, w, w / s, ew, total
                for (k in n) printf "SYS %d %s\n", n[k], k
            }' "$f" >"$OUT/sum"
        [ -s "$OUT/sum" ] || { quiet=$((quiet + 1)); continue; }
        grep -v '^SYS ' "$OUT/sum"
        grep '^SYS ' "$OUT/sum" | sort -k2,2nr | awk '{ printf "%s %s %d,", NR == 1 ? "    syscalls:" : "", $3, $2 } END { if (NR) printf "\n" }'
    done
    [ "$quiet" -gt 0 ] && printf "%-36s strace %3ds: %d other thread(s) made no syscall\n" "$1" "$2" "$quiet"
    return 0
}

echo "idle_cpu: server $BIN pid $SERVER_PID on 127.0.0.1:$PORT, ping interval ${PING_INTERVAL}s," \
    "threads $(ls /proc/$SERVER_PID/task | wc -l), CPU tick $((1000 / HZ)) ms"
sleep 2
measure_cpu "no connections" "$NOCONN_WINDOW"
measure_strace "no connections" "$NOCONN_WINDOW"
[ "$N" -gt 0 ] || exit 0

BASE=$(server_fds)
RSS0=$(rss)
T_START=$(date +%s)
hold_idle "$N" "$OUT/lg" "$(awk -v r="$RAMP_RATE" -v p="$(loadgen_procs "$N")" 'BEGIN{printf "%.3f", r / p}')" \
    --server-pid "$SERVER_PID"
t=0
while [ "$(server_fds)" -lt $((BASE + N)) ] && [ $t -lt $((N / 200 + 60)) ]; do sleep 1; t=$((t + 1)); done
R1=$(rss)
echo "idle_cpu: $(($(server_fds) - BASE)) connections open $(($(date +%s) - T_START))s after the start;" \
    "rss $RSS0 -> $R1 KiB ($(awk -v a="$RSS0" -v b="$R1" -v n="$N" 'BEGIN{printf "%.2f", (b - a) / n}') KiB per connection), $(server_fds) fds"
sleep 2
measure_cpu "$N idle connections" "$WINDOW"
measure_strace "$N idle connections" "$WINDOW"
if [ "$KEEPALIVE" = 1 ]; then
    # the first keepalive round starts PING_INTERVAL after each connection opened; measure one
    # round per window, each window starting 3 s before its round
    wait_s=$((T_START + PING_INTERVAL - 3 - $(date +%s)))
    if [ "$wait_s" -lt 0 ]; then
        echo "idle_cpu: the idle windows ran into the first keepalive round: use a larger PING_INTERVAL" >&2
    else
        sleep "$wait_s"
        measure_cpu "$N idle, one keepalive round" "$PING_INTERVAL"
        measure_strace "$N idle, one keepalive round" "$PING_INTERVAL"
    fi
fi
stop_loadgens
echo "idle_cpu: mt-loadgen report(s):"
cat "$OUT"/lg.* | grep -E '^(connections|messages)' | sed 's/^/  /'
