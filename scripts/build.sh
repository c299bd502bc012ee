#!/usr/bin/env bash
# Configures and builds heapdig into build/ (or $1) for the python3 on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHD_WERROR=$werror \
      -DPython3_EXECUTABLE="$(command -v python3)" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
