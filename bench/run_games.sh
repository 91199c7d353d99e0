#!/usr/bin/env bash
# Games benchmark (issue 4): complete tic-tac-toe games per second against an agent, end to end
# through WebSockets with persistence on. For every combination of --workers and --clients, and
# --runs times each, it starts a fresh server on a free loopback port with a temporary
# --data-dir (the embedded store), or with a throwaway PostgreSQL 15 (--pg), runs
# `mt-gamegen --mode games`, stops the server, and at the end prints a table of medians.
#
# usage: bench/run_games.sh [options]
#   --pg               PostgreSQL 15 on loopback instead of the embedded store (needs root: the
#                      cluster runs as the postgres user, as tests/integration/lib/pg.py does)
#   --clients LIST     concurrent clients, comma-separated (default 200)
#   --workers LIST     server --workers values, comma-separated (default 2)
#   --runs N           runs of each combination (default 1)
#   --duration S       measuring window per run, seconds (default 10)
#   --warmup S         games played before the window opens (default 2)
#   --agent NAME       the agent playing seat 2 (default random)
#   --game NAME        default tictactoe
#   --server BIN       server binary (default build/monkeytown)
#   --perf DIR         record `perf record -g` of the server over each window into DIR
#                      (PERF_CALLGRAPH='--call-graph dwarf' for stacks through code without frame pointers)
#   --text             mt-gamegen's text report instead of JSON lines
# environment:
#   SERVER_ARGS=       extra server arguments
#   INPUT_RATE=1000000 the server's --input-rate (per connection per minute). The default 30
#                      would cap each client at 0.5 moves/s (about 0.1 games/s), which is a
#                      policy limit, not the server's capacity: it is lifted here on purpose.
#   MAX_ROOMS=1000000  the server's --max-rooms: finished rooms stay in memory for 600 s and
#                      count against the limit (default 20000)
#   LOG_LEVEL=warn     the server's --log-level (info logs three lines per game)
#   GAMEGEN=           mt-gamegen binary (default build/bench/mt-gamegen, else built in /tmp)
#   SERVER_CPUS= GAMEGEN_CPUS=   taskset -c lists to pin the server / the generator
# Output: one JSON line per run (the mt-gamegen report plus store, workers, clients, run), then
# a summary table (needs python3).
set -u

CALLER=$PWD
ROOT=$(cd "$(dirname "$0")/.." && pwd) || exit 1
. "$ROOT/bench/lib.sh" || exit 1
die() { echo "run_games: $*" >&2; exit 1; }

PG=0 CLIENTS=200 WORKERS=2 RUNS=1 DURATION=10 WARMUP=2 AGENT=random GAME=tictactoe
BIN=build/monkeytown PERF_DIR='' TEXT=0
while [ $# -gt 0 ]; do
    case "$1" in
    --pg) PG=1 ;;
    --clients) CLIENTS=$2; shift ;;
    --workers) WORKERS=$2; shift ;;
    --agent) AGENT=$2; shift ;;
    --game) GAME=$2; shift ;;
    *) run_option "$@" || die "unknown option $1 (try --help)"; shift $((TOOK - 1)) ;;
    esac
    shift
done
setup_run run_games
INPUT_RATE=${INPUT_RATE:-1000000}
MAX_ROOMS=${MAX_ROOMS:-1000000}

SERVER_PID='' PERF_PID='' PG_DATA='' PG_PORT=''
PG_BIN=/usr/lib/postgresql/15/bin
cleanup() {
    stop_server
    if [ -n "$PG_DATA" ]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null 2>&1
        PG_DATA=
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$PG" = 1 ]; then
    [ "$(id -u)" = 0 ] || die "--pg needs root (the cluster runs as the postgres user)"
    if [ ! -x "$PG_BIN/initdb" ]; then
        echo "run_games: installing postgresql" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1; }
    fi
    [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 is not installed"
    PG_PORT=$(free_port)
    mkdir -p "$TMP/pg" && chown postgres:postgres "$TMP/pg" && chmod 755 "$TMP"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$TMP/pg/data" -A trust -U postgres --no-sync -E UTF8 --locale C \
        >"$TMP/initdb.log" 2>&1 || { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
    PG_DATA=$TMP/pg/data
    # fsync stays on (unlike the tests): the benchmark measures persistence as deployed
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$TMP/pg/postgres.log" \
        -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200" -w -t 30 start \
        >/dev/null 2>&1 || { tail -20 "$TMP/pg/postgres.log" >&2; die "PostgreSQL did not start"; }
fi

# utime + stime of every process of the postgres user, in clock ticks
pg_ticks() {
    local total=0 pid f
    for pid in $(pgrep -u postgres); do
        f=$(cut -d' ' -f14,15 "/proc/$pid/stat" 2>/dev/null) || continue
        total=$((total + ${f% *} + ${f#* }))
    done
    echo "$total"
}

STAT0=$(host_cpu_stat)
IFS=, read -r -a WLIST <<<"$WORKERS"
IFS=, read -r -a CLIST <<<"$CLIENTS"
RESULTS=$TMP/results.jsonl
: >"$RESULTS"
n=0
for w in "${WLIST[@]}"; do
    for c in "${CLIST[@]}"; do
        for run in $(seq 1 "$RUNS"); do
            n=$((n + 1))
            PORT=$(free_port)
            DATA=$TMP/data.$n
            STORE_ARGS=(--data-dir "$DATA")
            STORE=embedded
            if [ "$PG" = 1 ]; then
                psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAtc "CREATE DATABASE mt_$n" postgres >/dev/null ||
                    die "createdb failed"
                STORE_ARGS+=(--database-url "postgres://postgres@127.0.0.1:$PG_PORT/mt_$n" --sql-dir "$ROOT/sql")
                STORE=postgres
            fi
            # shellcheck disable=SC2086
            start_server "$TMP/server.$n.log" "${STORE_ARGS[@]}" --workers "$w" --input-rate "$INPUT_RATE" \
                --max-rooms "$MAX_ROOMS" --max-connections $((c + 1024)) --guest-rate 0 $SERVER_ARGS
            echo "run_games: [$n] store=$STORE workers=$w clients=$c run=$run (server pid $SERVER_PID, port $PORT)" >&2
            if [ -n "$PERF_DIR" ]; then
                (sleep "$WARMUP" && exec perf record -q -e cpu-clock $PERF_CALLGRAPH -F 499 -p "$SERVER_PID" \
                    -o "$PERF_DIR/perf.$STORE.w$w.c$c.r$run.data" -- sleep "$DURATION") >/dev/null 2>&1 &
                # shellcheck disable=SC2034 # read by stop_server (lib.sh)
                PERF_PID=$!
            fi
            if [ "$PG" = 1 ]; then # PostgreSQL's CPU (all its processes) over the measuring window
                (sleep "$WARMUP"; a=$(pg_ticks); sleep "$DURATION"; b=$(pg_ticks)
                    echo "run_games: PostgreSQL CPU $(((b - a) * 100 / $(getconf CLK_TCK) / DURATION)) % of a core" >&2) &
            fi
            args=(--mode games --port "$PORT" --clients "$c" --duration "$DURATION" --warmup "$WARMUP"
                --agent "$AGENT" --game "$GAME" --server-pid "$SERVER_PID" --server-url "http://127.0.0.1:$PORT")
            if [ "$TEXT" = 1 ]; then
                "${GAMEGEN_PIN[@]}" "$GAMEGEN" "${args[@]}"
            else
                "${GAMEGEN_PIN[@]}" "$GAMEGEN" "${args[@]}" --json >"$TMP/report.$n" ||
                    echo "run_games: mt-gamegen exited with an error" >&2
            fi
            if ! kill -0 "$SERVER_PID" 2>/dev/null; then
                echo "run_games: the server died; log tail:" >&2
                tail -n 20 "$TMP/server.$n.log" >&2
            elif grep -q '"level":"error"' "$TMP/server.$n.log"; then
                echo "run_games: server errors logged:" >&2
                grep '"level":"error"' "$TMP/server.$n.log" | sort | uniq -c | sort -rn | head -5 >&2
            fi
            stop_server # flushes the store
            # evidence that persistence was on: completed games in the store after the stop
            if [ "$PG" = 1 ]; then
                STORED=$(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAtc \
                    "SELECT count(*) FROM games WHERE status = 'completed'" "mt_$n" 2>/dev/null)
                # rows written per table (inserts + updates), per completed game
                psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAtc "SELECT string_agg(relname || ' ' ||
                    round((n_tup_ins + n_tup_upd)::numeric / greatest(${STORED:-0}, 1), 2), ', ' ORDER BY relname)
                    FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd > 0" "mt_$n" 2>/dev/null |
                    sed 's/^/run_games: rows per completed game: /' >&2
            else
                STORED=$(cat "$DATA"/* 2>/dev/null | grep '"t":"games"' | grep -c '"status":"completed"')
            fi
            if [ "$TEXT" = 1 ]; then
                echo "run_games: completed games in the store: ${STORED:-?}" >&2
            else
                python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
r.update(store=sys.argv[2], workers=int(sys.argv[3]), clients=int(sys.argv[4]), run=int(sys.argv[5]),
         stored_completed_games=int(sys.argv[6]) if sys.argv[6].isdigit() else None)
print(json.dumps(r))' "$TMP/report.$n" "$STORE" "$w" "$c" "$run" "${STORED:-}" | tee -a "$RESULTS"
            fi
            rm -rf "$DATA"
            [ "$PG" = 1 ] && psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAtc "DROP DATABASE mt_$n" postgres >/dev/null 2>&1
        done
    done
done
summarize run_games <<'EOF'
import statistics, sys
from summary import grouped, errors_text
groups = grouped(sys.argv[1], lambda r: (r["store"], r["workers"], r["clients"]))
def med(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return statistics.median(xs) if xs else float("nan")
print()
print("| store | workers | clients | runs | games/s (median of runs) | 1 s windows median | latency p50 ms | p99 ms | server CPU % | loop thread % | other threads % | server RSS end MiB | gamegen CPU % | completed games stored / played (whole run) | errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for (store, w, c), rs in sorted(groups.items()):
    s = lambda k: med([r.get("server", {}).get(k) for r in rs])
    print(f"| {store} | {w} | {c} | {len(rs)} | {med([r['games']['per_s'] for r in rs]):.0f} "
          f"({', '.join('%.0f' % r['games']['per_s'] for r in rs)}) "
          f"| {med([r['games']['per_s_window_median'] for r in rs]):.0f} "
          f"| {med([r['games']['latency_ms']['p50'] for r in rs]):.1f} "
          f"| {med([r['games']['latency_ms']['p99'] for r in rs]):.1f} "
          f"| {s('cpu_pct'):.0f} | {s('loop_thread_cpu_pct'):.0f} | {s('other_threads_cpu_pct'):.0f} "
          f"| {s('rss_kib_end') / 1024:.0f} "
          f"| {med([r['gamegen']['cpu_pct'] for r in rs]):.0f} "
          f"| {sum(r.get('stored_completed_games') or 0 for r in rs)} / {sum(r['games']['completed_total'] for r in rs)} "
          f"| {errors_text(rs)} |")
EOF
