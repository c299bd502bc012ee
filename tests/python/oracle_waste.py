"""`heapdig waste` against what CPython says (run once per interpreter).

    python oracle_waste.py HEAPDIG_CLI OUTDIR

A heap with 20,000 equal but distinct strings, 3,000 equal bytes, 4,000
equal strings too long for the dump to keep whole, 50,000 empty dicts in a
list, 10,000 instances whose __dict__ is a dict, and garbage duplicates
that must not count.  Each must come out as one row with the count and the
bytes sys.getsizeof gives, held where the program holds them.
"""
import csv
import gc
import io
import json
import os
import sys

import heapdig
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402


class Point(object):
    def __init__(self, i):
        self.x = i
        self.y = -i
        self.label = "p"


class Junk(object):
    pass


def build():
    g = globals()
    # equal, distinct (joined at run time, so never interned or shared)
    g["NAMES"] = ["".join(["user-", "name-", "42"]) for _ in range(20000)]
    g["BLOBS"] = [bytes(bytearray(b"\x00\x01\\" * 7)) for _ in range(3000)]
    g["LONG"] = ["".join(["x" * 100, "tail"]) for _ in range(4000)]
    g["EMPTIES"] = [{} for _ in range(50000)]
    g["POINTS"] = [Point(i) for i in range(10000)]
    for p in g["POINTS"]:
        vars(p)  # the __dict__ is a dict object on every version
    # garbage: a cycle holding 5,000 more equal strings, never collected
    j = Junk()
    j.me = j
    j.names = ["".join(["garbage-", "only"]) for _ in range(5000)]
    del j


def rows_of(out):
    return {r["what"]: r for r in out}


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    gc.disable()
    build()
    dump = os.path.join(outdir, "waste.hdig")
    for p in (dump, dump + ".db"):
        if os.path.exists(p):
            os.unlink(p)
    heapdig.dump(dump)
    gc.enable()
    rc, out, err = run(cli, "load", "-q", dump)
    check("load", rc == 0, err)
    db = dump + ".db"
    rc, out, err = run(cli, "waste", db, "-n", "50", "--format", "json")
    check("waste --format json runs", rc == 0, err)
    w = json.loads(out)

    dup = rows_of(w["duplicate"])
    name = NAMES[0]
    r = dup.get(repr(name))
    check("20,000 equal strings: one row, count and bytes a single copy saves",
          r is not None and r["count"] == 20000 and
          r["saved_size"] == 19999 * sys.getsizeof(name) and
          r["size"] == 20000 * sys.getsizeof(name), repr(r))
    check("... held where the program holds them",
          r is not None and r["held_at"].endswith("['NAMES'][*]"), repr(r))
    r = dup.get(repr(BLOBS[0]))
    check("3,000 equal bytes, shown as Python writes them",
          r is not None and r["count"] >= 3000 and r["type"] == "bytes",
          repr(sorted(dup)[:8]))
    longs = [v for k, v in dup.items() if k.endswith("(same length and prefix)")
             and v["count"] >= 4000 and v["held_at"].endswith("['LONG'][*]")]
    check("strings the dump cut match on length and prefix, and say so",
          len(longs) == 1 and longs[0]["count"] == 4000, repr(longs))
    check("garbage does not count (gc.collect() frees it)",
          repr("garbage-only") not in dup, repr(dup.get(repr("garbage-only"))))

    empty = [r for r in w["empty"] if r["type"] == "dict" and
             r["what"] == "empty" and r["held_at"].endswith("['EMPTIES'][*]")]
    check("50,000 empty dicts in a list: one row",
          len(empty) == 1 and empty[0]["count"] == 50000 and
          empty[0]["size"] == 50000 * sys.getsizeof({}), repr(empty))

    slots = [r for r in w["slots"] if r["type"] == "Point"]
    want = sum(sys.getsizeof(vars(p)) for p in POINTS)
    check("instances with a __dict__: one row per class, the dicts' bytes",
          len(slots) == 1 and slots[0]["count"] == 10000 and
          slots[0]["size"] == want and
          0 < slots[0]["saved_size"] <= want and
          slots[0]["held_at"].endswith("['POINTS'][*]"),
          repr((slots, want)))
    check("saved is the rows' savings added up",
          w["saved"] >= sum(r["saved_size"] for k in ("duplicate", "empty",
                                                       "slots")
                            for r in w[k]), repr(w["saved"]))

    rc, out, err = run(cli, "waste", db)
    check("the table names each kind and the total",
          rc == 0 and "The same value held as distinct" in out and
          "Empty and nearly empty" in out and "__slots__" in out and
          "In all, about" in out and "'user-name-42'" in out, out[:400])
    rc, out, err = run(cli, "waste", db, "--format", "csv")
    table = list(csv.reader(io.StringIO(out)))
    check("csv: one header, then the rows of every kind",
          rc == 0 and table[0][:2] == ["kind", "type"] and
          {r[0] for r in table[1:]} == {"duplicate", "empty", "slots"} and
          sum(1 for r in table if r[0] == "kind") == 1, repr(table[:3]))
    rc, out, err = run(cli, "waste", db, "--kind", "slots", "--format", "json")
    check("--kind shows one kind", rc == 0 and
          list(json.loads(out)) == ["slots"], out[:200])
    rc, out, err = run(cli, "waste", db, "--kind", "nope")
    check("an unknown --kind is a usage error", rc == 2 and "nope" in err, err)
    rc, out, err = run(cli, "summary", db, "-n", "1")
    check("summary mentions what waste found",
          rc == 0 and "waste " in out and "heapdig waste" in out, out[:900])
    return finish()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
