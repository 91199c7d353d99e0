#!/usr/bin/env bash
# Installs every Debian package that building, running and testing Monkeytown needs.
# Idempotent: packages already present are skipped, and apt-get runs only when one is missing.
# Usage: scripts/deps.sh [build|test|fuzz|all]   (default: all; fuzz: build + the fuzz toolchain)
set -euo pipefail

build_pkgs=(
  build-essential cmake pkg-config
  libevent-dev libwebsockets-dev libwebsockets-evlib-uv libuv1-dev
  libluajit-5.1-dev luajit lua-cjson-dev lua-cjson
  libjwt-dev libjansson-dev libhiredis-dev libpq-dev libcrypt-dev libssl-dev zlib1g-dev
)
test_pkgs=(
  perl python3 python3-websockets curl git
  postgresql redis-server nginx docker-compose python3-yaml
  chromium fonts-dejavu-core
)
# The libFuzzer harnesses (scripts/fuzz.sh): clang 14 with its runtime (libFuzzer, the
# sanitizers), and llvm-symbolizer for readable stack traces.
fuzz_pkgs=(clang-14 libclang-rt-14-dev llvm-14)

want=("${build_pkgs[@]}")
case "${1:-all}" in
  build) ;;
  test) want+=("${test_pkgs[@]}") ;;
  fuzz) want+=("${fuzz_pkgs[@]}") ;;
  all) want+=("${test_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|fuzz|all]" >&2; exit 2 ;;
esac

# The browser tests need Node.js and npm; a machine may already have them from elsewhere.
if [ "${1:-all}" != build ] && [ "${1:-all}" != fuzz ] && ! command -v npm >/dev/null 2>&1; then
  want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
