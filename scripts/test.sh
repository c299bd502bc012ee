#!/usr/bin/env bash
# Every test: set up, build, run ctest; then the C tests and the CLI's
# corrupt-input tests again under AddressSanitizer + UBSan; then a short run
# of each fuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
(cd build && ctest --output-on-failure -j2)
scripts/build.sh build-asan -DHD_SANITIZE=ON
(cd build-asan && ctest --output-on-failure -j2 -L sanitized)
scripts/fuzz.sh 45  # libFuzzer over the reader and the load, 45 s each
