#!/usr/bin/env bash
# Dump, load and analysis benchmarks on the shared workload:
#   bench/run.sh [N ...]      (default 1000000 5000000 10000000)  Ratios are against a baseline measured in the
# same process on the same heap, so machine noise cancels out.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/heapdig ] || scripts/build.sh build
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 5000000 10000000)
for n in "${sizes[@]}"; do
  PYTHONPATH=build/python python3 bench/bench_dump.py "$n" build/bench "$PWD/build/heapdig"
done
