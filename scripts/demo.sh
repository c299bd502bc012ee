#!/usr/bin/env bash
# The demo: set up, build, run a leaking sample program that dumps its own
# heap, load the dump and show what is using the memory.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
out=build/demo
mkdir -p "$out"
echo "== running samples/leaky_cache.py (it dumps its heap to $out/leaky_cache.hdig)"
PYTHONPATH=build/python python3 samples/leaky_cache.py "$out/leaky_cache.hdig"
echo "== heapdig load"
build/heapdig load "$out/leaky_cache.hdig"
db="$out/leaky_cache.hdig.db"
echo "== heapdig summary"
build/heapdig summary "$db" -n 8
echo "== heapdig suspects: what holds the memory, and why"
build/heapdig suspects "$db"
echo "== heapdig path: why one request is still alive"
req=$(build/heapdig top "$db" --type Request -n 1 --format csv | sed -n 2p | cut -d, -f1)
build/heapdig path "$db" "#$req"
echo "== heapdig graph: the picture of that chain, and of who holds the request"
build/heapdig graph "$db" "#$req" --path -o "$out/leak-path.png"
build/heapdig graph "$db" "#$req" -o "$out/leak-backrefs.svg"
echo "== heapdig report: the page to open in a browser (one file, no network)"
build/heapdig report "$out/leaky_cache.hdig"
echo "== heapdig tree: the dominator tree, grouped (--format folded for flame graphs)"
build/heapdig tree "$db" -n 3 --depth 3
