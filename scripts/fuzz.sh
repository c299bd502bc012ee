#!/usr/bin/env bash
# The fuzzers (libFuzzer, ASan + UBSan) over the reader and the load:
#   scripts/fuzz.sh            a short run of each (HD_FUZZ_SECONDS, 45 s): CI
#   scripts/fuzz.sh 3600       an hour each
# Findings (crash-*, timeout-*, leak-*) are written to build-fuzz/; feed one
# back with build-fuzz/tests/fuzz/fuzz_reader FILE to see it again.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-45}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHD_FUZZ=ON \
  -DHD_FUZZ_SECONDS="$seconds" -DPython3_EXECUTABLE="$(command -v python3)" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_reader fuzz_load
cd build-fuzz && ctest --output-on-failure -j2 -L fuzz
