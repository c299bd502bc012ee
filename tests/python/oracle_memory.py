"""The process's memory beside its objects (run once per interpreter).

    python oracle_memory.py HEAPDIG_CLI OUTDIR

A process holds 300 MiB of native memory (libc malloc through ctypes,
every page touched) next to about 120 MiB of Python objects.  The dump's
rss must match /proc/self/status around the dump, `objects` the objects'
total, and `unaccounted` (what no object and no allocator's free space
explains) must cover the native part, most of it known to malloc.  Then
the same with PYTHONMALLOC=malloc (no pymalloc figures), with tracemalloc
tracing, and for a background dump (the parent's figures at the fork).
"""
import json
import os
import subprocess
import sys

import heapdig
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hdtest import check, finish, run  # noqa: E402
import hdformat  # noqa: E402

MiB = 1 << 20
NATIVE = 300 * MiB

CHILD = r'''
import ctypes, json, sys, time, tracemalloc
import heapdig
path, native, trace, background = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
if trace:
    tracemalloc.start()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
block = libc.malloc(native)
ctypes.memset(block, 1, native)           # resident, not just reserved
objects = [bytearray(1000) for _ in range(120000)]  # ~120 MiB of objects
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
before = rss()
if background:
    h = heapdig.dump(path, background=True)
    h.wait()
else:
    heapdig.dump(path)
after = rss()
print(json.dumps({"before": before, "after": after,
                  "traced": tracemalloc.get_traced_memory()[0] if trace else 0}))
'''


def dump(outdir, name, env=None, native=NATIVE, trace=False,
         background=False):
    path = os.path.join(outdir, name + ".hdig")
    for p in (path, path + ".db"):
        if os.path.exists(p):
            os.unlink(p)
    r = subprocess.run([sys.executable, "-c", CHILD, path, str(native),
                        "1" if trace else "0", "1" if background else "0"],
                       capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})))
    if r.returncode != 0:
        check("%s: the program ran" % name, False, r.stderr[-2000:])
        return None, None, None
    return path, json.loads(r.stdout.strip().splitlines()[-1]), \
        hdformat.Dump(path)


def memory_of(cli, path):
    rc, out, err = run(cli, "load", path)
    if rc != 0:
        check("load " + path, False, err)
        return {}, {}
    rc, out, err = run(cli, "summary", path + ".db", "--format", "json")
    s = json.loads(out)
    return {r["part"]: r["bytes"] for r in s["memory"]}, s


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    ver = "%d.%d" % sys.version_info[:2]

    path, seen, d = dump(outdir, "native")
    if path is None:
        return finish()
    check("the dump carries a MEMORY record (format 1.3)",
          d.minor >= 3 and "rss" in d.memory, repr(d.memory))
    m, s = memory_of(cli, path)
    check("rss is what /proc/self/status said around the dump",
          seen["before"] - 4 * MiB <= m.get("rss", -1) <= seen["after"],
          "%r <= %r <= %r" % (seen["before"], m.get("rss"), seen["after"]))
    check("objects is the objects' total",
          m.get("objects") == int(s["dump"]["total_size"]) > 120 * MiB,
          repr((m.get("objects"), s["dump"]["total_size"])))
    un = m.get("unaccounted", -1)
    # beside the native block: libraries, the interpreter's own tables and
    # thread stacks, a few tens of MiB at most
    check("unaccounted covers the 300 MiB of native memory, little more",
          NATIVE <= un <= NATIVE + m.get("rss_file", 0) + 48 * MiB,
          "%.1f MiB" % (un / MiB))
    ua = m.get("unaccounted_allocated", -1)
    check("and says that malloc handed most of it out",
          NATIVE <= ua <= un, "%.1f MiB of %.1f" % (ua / MiB, un / MiB))
    check("the parts add up: objects + free + unaccounted = rss",
          m["objects"] + m.get("python_free", 0) + m.get("malloc_free", 0) +
          un == m["rss"], repr(m))
    if ver not in ("3.13", "3.14", "3.15") or "pymalloc_used" in m:
        check("pymalloc's figures are there",
              m.get("pymalloc_used", 0) > 0 and "python_free" in m, repr(m))
    if "pymalloc_used" in m:
        classes = {k: v for k, v in d.memory.items()
                   if k.startswith("pymalloc_class_") and k.endswith("_used")}
        check("pymalloc per size class: the classes in use add up to its "
              "blocks in use", classes and sum(classes.values()) ==
              d.memory["pymalloc_used"],
              "%d classes, %r vs %r" % (len(classes), sum(classes.values()),
                                        d.memory.get("pymalloc_used")))
    check("malloc's figures are there", m.get("malloc_used", 0) >= NATIVE,
          repr(m.get("malloc_used")))
    rc, out, err = run(cli, "summary", path + ".db")
    check("summary starts with the reconciliation and says where to look",
          out.find("Memory: RSS") < out.find("objects ") and
          "not explained by any object" in out and
          "memray run --native" in out, out[:900])
    small_path, _, _ = dump(outdir, "small", native=0)
    if small_path:
        sm, _ = memory_of(cli, small_path)
        rc, out, err = run(cli, "summary", small_path + ".db")
        check("without native memory, no native advice",
              sm.get("unaccounted", 0) < sm.get("objects", 0) and
              "memray run --native" not in out, out[:700])

    path, seen, d = dump(outdir, "malloc", env={"PYTHONMALLOC": "malloc"})
    if path:
        m, _ = memory_of(cli, path)
        check("PYTHONMALLOC=malloc: no pymalloc figures, and still reconciled",
              "pymalloc_used" not in m and "python_free" not in m and
              NATIVE <= m.get("unaccounted", -1), repr(m))

    path, seen, d = dump(outdir, "traced", trace=True)
    if path:
        t = d.memory.get("tracemalloc_traced", -1)
        check("tracemalloc's traced total when it traces",
              120 * MiB < t and abs(t - seen["traced"]) < 8 * MiB,
              "%r vs %r" % (t, seen["traced"]))
    path, seen, d = dump(outdir, "background", background=True)
    if path:
        rss = d.memory.get("rss", -1)
        check("a background dump records the parent's memory at the fork",
              seen["before"] - 4 * MiB <= rss <= seen["after"] + 4 * MiB and
              d.memory.get("malloc_used", 0) >= NATIVE,
              "%r <= %r <= %r" % (seen["before"], rss, seen["after"]))
    return finish()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
