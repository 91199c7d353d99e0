#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang 14, ASan + UBSan) in build-fuzz and runs
# each over its seed corpus for a while (docs/fuzzing.md). Exits non-zero when a harness fails:
# the input that failed is in build-fuzz/fuzz-out/<name>/ (crash-*, leak-*, timeout-*, oom-*),
# and the tail of the harness's log is printed.
#   scripts/fuzz.sh                    every harness for 10 s (what CI runs)
#   scripts/fuzz.sh 300                every harness for 300 s
#   scripts/fuzz.sh 60 config http     only these harnesses (fuzz_config, fuzz_http)
# New inputs that add coverage collect in build-fuzz/fuzz-out/<name>/corpus, never in the
# committed seeds; docs/fuzzing.md says how to fold a useful one into tests/fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh fuzz

seconds=${1:-10}
[ $# -gt 0 ] && shift
case "$seconds" in '' | *[!0-9]*) echo "usage: $0 [seconds] [harness...]" >&2; exit 2 ;; esac
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do
    n=$(basename "$f" .c)
    names+=("${n#fuzz_}")
  done
fi

build=build-fuzz
# A cache made with another compiler: CMake would drop it and the options with it.
if [ -f "$build/CMakeCache.txt" ] && ! grep -q '^CMAKE_C_COMPILER:[A-Z]*=.*clang-14$' "$build/CMakeCache.txt"; then
  rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"
fi
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang-14 -DMT_FUZZ=ON -DMT_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

# The harnesses write their scratch files (a web directory, config files, store logs) under
# TMPDIR: tmpfs when there is one, which the store harness's fdatasync calls need to be fast.
scratch_root=/dev/shm
[ -d "$scratch_root" ] && [ -w "$scratch_root" ] || scratch_root=$PWD/$build
scratch=$(mktemp -d "$scratch_root/mt-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR=$scratch
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
if [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi

status=0
for n in "${names[@]}"; do
  out=$build/fuzz-out/$n
  mkdir -p "$out/corpus"
  opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$out/")
  case "$n" in
    # A Lua state's collector frees one input's garbage during later ones, which libFuzzer's
    # per-input leak check takes for a leak and scans the heap for (ten times slower);
    # LeakSanitizer still checks the whole run at exit.
    lua_json) opts+=(-dict=tests/fuzz/json.dict -detect_leaks=0) ;;
    lua_json_encode) opts+=(-detect_leaks=0) ;;
    json_text | proto) opts+=(-dict=tests/fuzz/json.dict) ;;
    config) opts+=(-dict=tests/fuzz/config.dict -max_len=8192) ;;
    store_log) opts+=(-max_len=16384) ;;
  esac
  log=$out/log.txt
  start=$(date +%s)
  if "$build/fuzz/fuzz_$n" "${opts[@]}" "$out/corpus" "tests/fuzz/corpus/$n" >"$log" 2>&1; then
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz_$n: ok, ${runs:-?} runs in $(($(date +%s) - start)) s; ${done_line#*DONE }"
  else
    status=1
    echo "fuzz_$n: FAILED (log: $log; input: $(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* \
      "$out"/oom-* 2>/dev/null | head -1))"
    grep -v -E '^#[0-9]+ ' "$log" | tail -40
  fi
done
exit $status
