#!/usr/bin/env bash
# Dump, load and analysis benchmarks on the shared workload:
#   bench/run.sh [N ...]              (default 1000000 5000000 10000000)
#   bench/run.sh --sid 3.14 [N ...]   the same with sid's CPython 3.14 or 3.15,
#                                     inside the root of scripts/sid-root.sh
#   bench/run.sh --sid 3.14 --attach [N ...]   heapdig attach: wall time and
#                                     the target's pause against a bare fork
# Ratios are against a baseline measured in the same process on the same
# heap, so machine noise cancels out.
set -euo pipefail
cd "$(dirname "$0")/.."
sid=""
bench=bench_dump.py
if [ "${1:-}" = "--sid" ]; then
  sid=$2
  shift 2
fi
if [ "${1:-}" = "--attach" ]; then
  bench=bench_attach.py
  shift
fi
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 5000000 10000000)
if [ -n "$sid" ]; then
  scripts/sid-root.sh build >/dev/null
  root=$(scripts/sid-root.sh make)
  # bench_dump.py finds the workload at ../shared/bench beside the checkout.
  mkdir -p "$root/work/shared/bench"
  cp ../shared/bench/workload.py "$root/work/shared/bench/"
  for n in "${sizes[@]}"; do
    scripts/sid-root.sh run sh -c "cd /work/src && \
      PYTHONPATH=/work/build/py/_usr_bin_python${sid/./_} python$sid \
      bench/$bench $n /work/build/bench /work/build/heapdig"
  done
  exit 0
fi
[ -x build/heapdig ] || scripts/build.sh build
for n in "${sizes[@]}"; do
  PYTHONPATH=build/python python3 "bench/$bench" "$n" build/bench "$PWD/build/heapdig"
done
