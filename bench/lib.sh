# Shell helpers shared by the bench scripts (run_conn.sh, run_games.sh, run_rooms.sh,
# idle_cpu.sh, fd_exhaust.sh). Sourced, not run: `. "$(dirname "$0")/lib.sh"`.
# abspath needs CALLER (the caller's directory) and ROOT (the repository root) to be set.

# abspath PATH: PATH made absolute; a relative one from the caller's directory if it exists
# there, else from the repository root.
abspath() {
    case "$1" in
    /*) echo "$1" ;;
    *) if [ -e "$CALLER/$1" ]; then echo "$CALLER/$1"; else echo "$ROOT/$1"; fi ;;
    esac
}

# port_busy PORT: succeeds when something accepts TCP connections on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: prints a loopback port that was free a moment ago (needs python3).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_listening PID PORT: waits up to 15 s for process PID to accept connections on PORT;
# fails when it did not (or exited first).
wait_listening() {
    for _ in $(seq 1 150); do
        kill -0 "$1" 2>/dev/null || break
        port_busy "$2" && break
        sleep 0.1
    done
    port_busy "$2"
}

# wait_ready PID PORT: waits up to about 30 s (300 probes) for process PID to answer 200 on
# http://127.0.0.1:PORT/health/ready; fails when it did not (or exited first).
wait_ready() {
    for _ in $(seq 1 300); do
        kill -0 "$1" 2>/dev/null || return 1
        if [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$2/health/ready")" = 200 ]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# stop_pid PID: stops the child process PID (SIGTERM, then SIGKILL after 5 s) and reaps it.
# Does nothing for an empty PID.
stop_pid() {
    [ -n "$1" ] || return 0
    if kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$1" 2>/dev/null
    fi
    wait "$1" 2>/dev/null
    return 0
}

# The game benchmarks' (run_games.sh, run_rooms.sh) shared steps. They use the caller's die,
# BIN (the server), ROOT, TMP, LOG_LEVEL, PORT and the arrays SERVER_PIN, and set SERVER_PID,
# PERF_PID and GAMEGEN.

# find_gamegen TAG: sets GAMEGEN to the mt-gamegen binary: $GAMEGEN if set, else the one next to
# the server (BIN/../bench) or in build/bench, else one built in $TMP/build (TAG prefixes the
# messages).
find_gamegen() {
    GAMEGEN=${GAMEGEN:-}
    [ -n "$GAMEGEN" ] && GAMEGEN=$(abspath "$GAMEGEN")
    if [ -z "$GAMEGEN" ]; then
        for c in "$(dirname "$BIN")/bench/mt-gamegen" build/bench/mt-gamegen; do
            [ -x "$c" ] && { GAMEGEN=$c; break; }
        done
    fi
    if [ -z "$GAMEGEN" ]; then
        echo "$1: building mt-gamegen in $TMP/build" >&2
        { cmake -S bench -B "$TMP/build" >/dev/null && cmake --build "$TMP/build" --target mt-gamegen >/dev/null; } ||
            die "mt-gamegen build failed"
        GAMEGEN=$TMP/build/mt-gamegen
    fi
}

# start_server LOG ARG...: starts the server (pinned by SERVER_PIN) on 127.0.0.1:PORT with the
# repository's games, agents, Lua and web directories, --log-level LOG_LEVEL and ARG..., its
# output in LOG; sets SERVER_PID and waits until it is ready, or shows the log's tail and dies.
start_server() {
    local log=$1
    shift
    "${SERVER_PIN[@]}" "$BIN" --host 127.0.0.1 --port "$PORT" \
        --games "$ROOT/games" --agents "$ROOT/agents" --lua-dir "$ROOT/lua" --web-dir "$ROOT/web" \
        --log-level "$LOG_LEVEL" "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    if ! wait_ready "$SERVER_PID" "$PORT"; then
        tail -n 30 "$log" >&2
        die "server did not become ready on port $PORT"
    fi
}

# stop_server: stops the perf recording (PERF_PID) and the server (SERVER_PID) if running.
stop_server() {
    if [ -n "${PERF_PID:-}" ]; then kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null; PERF_PID=; fi
    stop_pid "${SERVER_PID:-}"
    SERVER_PID=
}
