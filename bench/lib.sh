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

# find_tool VAR NAME: sets VAR to the bench binary NAME (mt-loadgen, mt-gamegen): $VAR made
# absolute when set, else the one next to the server (BIN/../bench) or in build/bench, else "".
find_tool() {
    local found=${!1:-} c
    if [ -n "$found" ]; then
        found=$(abspath "$found")
    else
        for c in "$(dirname "$BIN")/bench/$2" "build/bench/$2"; do
            [ -x "$c" ] && { found=$c; break; }
        done
    fi
    printf -v "$1" '%s' "$found"
}

# host_cpu_stat: the host's CPU counters (user nice system idle iowait irq softirq steal) from
# /proc/stat, on one line: two readings give how busy the machine was and how much time the
# hypervisor gave to other guests (steal) in between.
host_cpu_stat() { awk '/^cpu /{print $2, $3, $4, $5, $6, $7, $8, $9; exit}' /proc/stat 2>/dev/null; }

# host_cpu_busy STAT0 STAT1: "busy X%, steal Y%" of all CPUs between two host_cpu_stat
# readings (busy: all but idle and iowait); nothing when a reading is missing.
host_cpu_busy() {
    echo "$1 $2" | awk 'NF == 16 {
    t = 0; for (i = 1; i <= 8; i++) { d[i] = $(i + 8) - $i; t += d[i] }
    if (t > 0) printf "busy %.1f%%, steal %.1f%%", 100 * (t - d[4] - d[5]) / t, 100 * d[8] / t }'
}

# host_cpu_note TAG STAT0: "TAG: host cpu busy X%, steal Y% (...)" on stderr, for the whole
# invocation since the host_cpu_stat reading STAT0; nothing when a reading is missing.
host_cpu_note() {
    local busy
    busy=$(host_cpu_busy "$2" "$(host_cpu_stat)")
    [ -n "$busy" ] && echo "$1: host cpu $busy (all CPUs, whole invocation)" >&2
    return 0
}

# pick_port: sets PORT, when the environment did not, to a free port (or a random one above
# 20000 when none is found).
pick_port() {
    PORT=${PORT:-}
    if [ -z "$PORT" ]; then
        PORT=$(free_port 2>/dev/null)
        [ -n "$PORT" ] || PORT=$((20000 + RANDOM % 12000))
    fi
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

# The server process SERVER_PID under measure (idle_cpu.sh, fd_exhaust.sh), from /proc.
# server_cpu_ticks: its user + system time, in clock ticks (getconf CLK_TCK a second).
server_cpu_ticks() { awk '{ i = index($0, ") "); split(substr($0, i + 2), f, " "); print f[12] + f[13] }' "/proc/$SERVER_PID/stat"; }
# server_fds: how many file descriptors it holds.
server_fds() { ls "/proc/$SERVER_PID/fd" 2>/dev/null | wc -l; }

# Idle connections held by mt-loadgen ($LOADGEN) processes of at most PER_PROC connections each
# (one process's fd limit), their pids in LG_PIDS (idle_cpu.sh, fd_exhaust.sh).
# setup_hold: what they do before starting the server: the server BIN made absolute and
# checked, the working directory ROOT, PER_PROC (default 9000) and SERVER_ARGS from the
# environment, LOADGEN found (find_tool), PORT picked; the caller's die says what is missing.
# shellcheck disable=SC2034 # the variables are the caller's
setup_hold() {
    BIN=$(abspath "$BIN")
    cd "$ROOT" || exit 1
    PER_PROC=${PER_PROC:-9000}
    SERVER_ARGS=${SERVER_ARGS:-}
    [ -x "$BIN" ] || die "server binary '$BIN' not found or not executable"
    find_tool LOADGEN mt-loadgen
    [ -x "$LOADGEN" ] || die "mt-loadgen not found (build the mt-loadgen target or set LOADGEN)"
    pick_port
}
# loadgen_procs N: how many processes hold N connections.
loadgen_procs() { echo $((($1 + PER_PROC - 1) / PER_PROC)); }

# hold_idle N OUT RAMP ARG...: starts the processes holding N idle connections (--rate 0) to
# 127.0.0.1:PORT, each opening RAMP a second and given ARG..., process i writing to OUT.i.
hold_idle() {
    local n=$1 out=$2 ramp=$3 procs i k
    shift 3
    procs=$(loadgen_procs "$n")
    for i in $(seq 1 "$procs"); do
        k=$((n / (procs - i + 1)))
        n=$((n - k))
        "$LOADGEN" --host 127.0.0.1 --port "$PORT" --connections "$k" --rate 0 --duration 100000 \
            --ramp-rate "$ramp" "$@" >"$out.$i" 2>&1 &
        LG_PIDS+=($!)
    done
}

# stop_loadgens: interrupts every process of LG_PIDS (each prints its report), then waits for
# them all.
stop_loadgens() {
    local p
    for p in "${LG_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
    for p in "${LG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    LG_PIDS=()
}

# The game benchmarks' (run_games.sh, run_rooms.sh) shared steps. They use the caller's die,
# BIN (the server), ROOT, TMP, LOG_LEVEL, PORT and the arrays SERVER_PIN, and set SERVER_PID,
# PERF_PID and GAMEGEN.

# find_gamegen TAG: sets GAMEGEN to the mt-gamegen binary (find_tool), else one built in
# $TMP/build (TAG prefixes the messages).
find_gamegen() {
    find_tool GAMEGEN mt-gamegen
    if [ -z "$GAMEGEN" ]; then
        echo "$1: building mt-gamegen in $TMP/build" >&2
        { cmake -S bench -B "$TMP/build" >/dev/null && cmake --build "$TMP/build" --target mt-gamegen >/dev/null; } ||
            die "mt-gamegen build failed"
        GAMEGEN=$TMP/build/mt-gamegen
    fi
}

# run_option ARG...: the options run_games.sh and run_rooms.sh share (--runs, --duration,
# --warmup, --server, --perf, --text, --help): sets the variable an option names and TOOK to the
# words it used; returns 1 (TOOK=0) when "$1" is not one of them.
# shellcheck disable=SC2034 # the variables are the caller's
run_option() {
    TOOK=2
    case "$1" in
    --runs) RUNS=$2 ;;
    --duration) DURATION=$2 ;;
    --warmup) WARMUP=$2 ;;
    --server) BIN=$2 ;;
    --perf) PERF_DIR=$2 ;;
    --text) TEXT=1; TOOK=1 ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//; /^set -u/d'; exit 0 ;;
    *) TOOK=0; return 1 ;;
    esac
}

# setup_run TAG: what run_games.sh and run_rooms.sh do once their options are read: BIN made
# absolute and checked, PERF_DIR created, the working directory ROOT, SERVER_ARGS, LOG_LEVEL,
# PERF_CALLGRAPH and the pins SERVER_PIN and GAMEGEN_PIN (SERVER_CPUS, GAMEGEN_CPUS) from the
# environment, the open-file limit raised to HARD, TMP made (/tmp/mt-TAG.*, _ as -) and GAMEGEN
# found.
# shellcheck disable=SC2034 # the variables are the caller's
setup_run() {
    BIN=$(abspath "$BIN")
    [ -n "$PERF_DIR" ] && { mkdir -p "$PERF_DIR" && PERF_DIR=$(cd "$PERF_DIR" && pwd) || die "cannot create $PERF_DIR"; }
    cd "$ROOT" || exit 1
    [ -x "$BIN" ] || die "server binary '$BIN' not found"
    SERVER_ARGS=${SERVER_ARGS:-}
    LOG_LEVEL=${LOG_LEVEL:-warn}
    PERF_CALLGRAPH=${PERF_CALLGRAPH:--g}
    SERVER_PIN=() GAMEGEN_PIN=()
    [ -n "${SERVER_CPUS:-}" ] && SERVER_PIN=(taskset -c "$SERVER_CPUS")
    [ -n "${GAMEGEN_CPUS:-}" ] && GAMEGEN_PIN=(taskset -c "$GAMEGEN_CPUS")

    HARD=$(ulimit -Hn)
    ulimit -n "$HARD" 2>/dev/null || echo "$1: warning: could not raise ulimit -n to $HARD" >&2

    TMP=$(mktemp -d "/tmp/mt-${1//_/-}.XXXXXX") || die "mktemp failed"
    find_gamegen "$1"
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

# summarize TAG: the end of run_games.sh and run_rooms.sh: the host's CPU since STAT0
# (host_cpu_note), then, unless TEXT=1, the summary table that the Python on stdin prints from
# RESULTS (sys.argv[1]), with bench/summary.py importable.
summarize() {
    host_cpu_note "$1" "$STAT0"
    [ "$TEXT" = 1 ] && exit 0
    PYTHONPATH="$ROOT/bench${PYTHONPATH:+:$PYTHONPATH}" python3 - "$RESULTS"
}

# stop_server: stops the perf recording (PERF_PID) and the server (SERVER_PID) if running.
stop_server() {
    if [ -n "${PERF_PID:-}" ]; then kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null; PERF_PID=; fi
    stop_pid "${SERVER_PID:-}"
    SERVER_PID=
}
