#!/usr/bin/env python3
# heapdig — MIT licence.
"""The analyzer's folders are stages whose arrows point one way:

    base <- heap <- read
            heap <- analyze <- store <- pipeline.c (read, analyze, store)
    base <- tree <- store, query          (the dominator tree grouped, from any source)
    base <- query                         (a database read back, never the model)
    cli  -> query, pipeline (through heapdig/heapdig.h), base

A folder may include only its own headers and those of the folders it is
allowed to depend on; a header of another stage, a .c file, or any circle
fails.  Usage: check_layers.py ANALYZER_DIR (the ctest passes analyzer/).
"""
import os
import re
import sys

ALLOWED = {
    "base": set(),
    "heap": {"base"},
    "read": {"heap", "base"},
    "analyze": {"heap", "base"},
    "tree": {"base"},
    "store": {"analyze", "tree", "heap", "base"},
    "pipeline": {"read", "analyze", "store", "heap", "base"},
    "query": {"tree", "base"},
    "cli": {"query", "base"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(rel):
    """analyzer/X/... -> X; analyzer/pipeline.c -> pipeline."""
    parts = rel.split(os.sep)
    return parts[0] if len(parts) > 1 else os.path.splitext(parts[0])[0]


def main(root):
    problems, edges, seen = [], {}, 0
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            mod = module_of(rel)
            if mod not in ALLOWED:
                problems.append(f"{rel}: in no known stage (add it to ALLOWED)")
                continue
            seen += 1
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for inc in INCLUDE.findall(text):
                if inc.startswith("heapdig/"):
                    continue  # include/heapdig: the public API and format
                if inc.endswith(".c"):
                    problems.append(f"{rel}: includes a .c file ({inc})")
                    continue
                if "/" not in inc:
                    # a header beside the file (cli.h, attach.h)
                    if not os.path.exists(os.path.join(dirpath, inc)):
                        problems.append(f"{rel}: includes {inc}, not beside it")
                    continue
                target = inc.split("/")[0]
                if target == mod:
                    continue
                edges.setdefault(mod, set()).add(target)
                if target not in ALLOWED.get(mod, set()):
                    problems.append(f"{rel}: {mod}/ may not include {inc}")
    # a circle among the stages, whatever ALLOWED says
    state = {}

    def visit(m, stack):
        state[m] = 1
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                problems.append("include circle: " + " -> ".join(stack + [m, t]))
            elif t not in state:
                visit(t, stack + [m])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [])
    if seen < 20:
        problems.append(f"only {seen} files found under {root}: wrong folder?")
    for p in problems:
        print("FAIL", p)
    print(f"{seen} files, stage includes: " +
          "; ".join(f"{m} -> {', '.join(sorted(t))}" for m, t in sorted(edges.items())))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
