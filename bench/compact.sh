#!/usr/bin/env bash
# Compaction of the embedded log: writes a synthetic log of GAMES finished games
# (bench/compact_gen.py: the record format, without playing), then reports the server's start-up
# time (to its "listening" line) and the log's size: without compaction, with the start-up
# compaction, and after it; then `monkeytown compact` on a fresh copy of the log.
# Usage: bench/compact.sh [GAMES] (default 1000000; needs about 3x the log's size in /tmp or
# $BENCH_DIR). Run from the repository root after building (build/monkeytown).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CALLER=$PWD
. "$ROOT/bench/lib.sh"
GAMES=${1:-1000000}
BIN=${MT_BIN:-$ROOT/build/monkeytown}
DIR=$(mktemp -d "${BENCH_DIR:-/tmp}/mt-compact.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
mkdir -p "$DIR/data" "$DIR/fresh"

now() { date +%s.%N; }
size() { stat -c %s "$DIR/data/monkeytown.log"; }

# start_time ARGS...: starts the server on the log in $DIR/data, prints the seconds until it
# listens and its peak RSS then, and stops it.
start_time() {
    local out="$DIR/server.out" t0 t1 pid rss
    rm -f "$out" # else the last run's "listening" line would be found at once
    t0=$(now)
    (cd "$ROOT" && exec "$BIN" --data-dir "$DIR/data" --port 0 --log-level info "$@") >"$out" 2>&1 &
    pid=$!
    until grep -qs '"monkeytown listening' "$out"; do
        kill -0 "$pid" 2>/dev/null || { cat "$out" >&2; return 1; }
        sleep 0.05
    done
    t1=$(now)
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    stop_pid "$pid"
    grep -h '"store log compacted"' "$out" >&2 || true
    printf '%.2f s, peak RSS %d MiB' "$(echo "$t1 - $t0" | bc)" $((rss / 1024))
}

t0=$(now)
/usr/bin/python3 "$ROOT/bench/compact_gen.py" "$DIR/data/monkeytown.log" "$GAMES"
echo "generated $GAMES games in $(printf %.0f "$(echo "$(now) - $t0" | bc)") s: $(size) bytes, $(wc -l <"$DIR/data/monkeytown.log") records"
cp "$DIR/data/monkeytown.log" "$DIR/fresh/monkeytown.log"

echo "start-up, no compaction:        $(start_time --compact-dead-records 0 --compact-dead-percent 0); $(size) bytes"
echo "start-up, compacting (defaults): $(start_time); $(size) bytes"
echo "start-up, after compaction:      $(start_time); $(size) bytes"

t0=$(now)
/usr/bin/time -f '%M' -o "$DIR/rss" "$BIN" compact --data-dir "$DIR/fresh" --log-level warn
echo "monkeytown compact: $(printf %.2f "$(echo "$(now) - $t0" | bc)") s, peak RSS $(($(cat "$DIR/rss") / 1024)) MiB"
