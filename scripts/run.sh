#!/usr/bin/env bash
# Installs the build dependencies, builds the server and runs it with the embedded default
# storage. Extra arguments go to monkeytown (see monkeytown --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)"
exec build/monkeytown "$@"
