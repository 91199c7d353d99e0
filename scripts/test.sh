#!/usr/bin/env bash
# Builds Monkeytown and runs every test: C unit tests, Lua rule tests, integration tests against
# the real binary. Installs what it needs first (scripts/deps.sh). Exits non-zero on any failure.
#   scripts/test.sh            normal build (warnings are errors) and the whole suite
#   MT_SANITIZE=1 scripts/test.sh   the same under AddressSanitizer + UndefinedBehaviorSanitizer
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh all

build=build
flags=(-DMT_WERROR=ON)
if [ "${MT_SANITIZE:-0}" = 1 ]; then
  build=build-asan
  flags+=(-DMT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # LuaJIT's allocator walks memory ASan cannot see; leaks are reported for our code only.
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
fi
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
export MT_BIN="$PWD/$build/monkeytown"

status=0
prove --exec '' "$build"/tests/unit/test_* || status=1
prove -e 'luajit -joff' tests/lua/test_*.lua || status=1
prove tests/integration/*.t || status=1
prove tests/e2e/*.t || status=1
exit $status
