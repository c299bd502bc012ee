"""The analysis against CPython's collector (run once per interpreter).

    python oracle_garbage.py HEAPDIG_CLI OUTDIR

Builds cyclic garbage (with and without __del__, self-referencing dicts,
garbage hanging off garbage) next to live data, dumps without collecting,
then lets gc.collect() with DEBUG_SAVEALL say what it would free.  The
unreachable gc-tracked objects in the database must be exactly gc.garbage;
garbage cycles with finalisers must be flagged; live objects reachable.
"""
import gc
import os
import sqlite3
import subprocess
import sys

import heapdig
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402



class Node(object):
    def __init__(self, name):
        self.name = name
        self.peer = None
        self.payload = [name] * 3


class Finalized(object):
    def __init__(self):
        self.me = self

    def __del__(self):
        pass


class Slotted(object):
    __slots__ = ("other",)


LIVE = []


def make_garbage():
    # a plain ring of instances
    ring = [Node("ring-%d" % i) for i in range(5)]
    for i, n in enumerate(ring):
        n.peer = ring[(i + 1) % len(ring)]
    # a self-referencing dict, with a list hanging off it
    d = {"name": "selfref"}
    d["self"] = d
    d["tail"] = [1, 2, ["nested"]]
    # finalisers inside a cycle
    f = Finalized()
    a, b = Finalized(), Node("with-finalizer")
    a.other, b.peer = b, a
    # __slots__ cycle
    s1, s2 = Slotted(), Slotted()
    s1.other, s2.other = s2, s1
    # a closure cycle: function -> cell -> function
    def outer():
        def inner():
            return inner
        return inner
    fn = outer()
    # live data that must stay reachable
    keep = Node("live")
    keep.peer = keep
    LIVE.append(keep)
    return [id(ring[0]), id(d), id(f), id(a), id(s1), id(fn)]


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "garbage-%d.%d.hdig" % sys.version_info[:2])
    gc.collect()
    gc.disable()
    garbage_ids = make_garbage()
    heapdig.dump(path)
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    collected = set(map(id, gc.garbage))
    finalizer_objs = set(id(o) for o in gc.garbage if type(o) is Finalized)
    gc.set_debug(0)
    del gc.garbage[:]
    gc.enable()

    r = subprocess.run([cli, "load", "-q", path], capture_output=True,
                       text=True)
    check("load", r.returncode == 0, r.stderr)
    con = sqlite3.connect(path + ".db")
    q = lambda sql, *a: con.execute(sql, a).fetchall()  # noqa: E731
    unreachable = set(a for (a,) in q(
        "SELECT address FROM objects WHERE reachable = 0 AND flags & 1"))
    check("garbage found", all(g in unreachable for g in garbage_ids),
          repr([g for g in garbage_ids if g not in unreachable]))
    check("unreachable tracked objects == gc.garbage",
          unreachable == collected,
          "%d only in dump, %d only in gc.garbage" % (
              len(unreachable - collected), len(collected - unreachable)))
    check("live cycle is reachable",
          q("SELECT reachable, scc IS NOT NULL FROM objects WHERE address=?",
            id(LIVE[0])) == [(1, 1)])
    fin = q("SELECT c.reachable, c.finalizers, c.members FROM cycles c JOIN "
            "objects o ON o.scc = c.id WHERE o.address = ?", id(LIVE[0]))
    check("live cycle in cycles table", fin and fin[0][0] == 1, repr(fin))
    rows = q("SELECT DISTINCT c.reachable, c.finalizers FROM cycles c JOIN "
             "objects o ON o.scc = c.id WHERE o.address IN (%s)" %
             ",".join("?" * len(finalizer_objs)), *finalizer_objs)
    check("finaliser cycles flagged", rows and all(
        r[0] == 0 and r[1] >= 1 for r in rows), repr(rows))
    ring = q("SELECT c.members, c.reachable, c.size, c.retained FROM cycles c"
             " JOIN objects o ON o.scc = c.id WHERE o.address = ?",
             garbage_ids[0])
    check("garbage ring: 5+ members, unreachable, retains its payload",
          ring and ring[0][0] >= 5 and ring[0][1] == 0 and
          ring[0][3] > ring[0][2], repr(ring))
    # the self-referencing dict retains its tail list
    d = q("SELECT retained, (SELECT sum(size) FROM objects) FROM objects "
          "WHERE address = ?", garbage_ids[1])
    tail = q("SELECT d.size FROM refs r JOIN objects s ON s.id = r.src "
             "JOIN objects d ON d.id = r.dst WHERE s.address = ? AND "
             "r.label = \"['tail']\"", garbage_ids[1])
    check("garbage dict retains what hangs off it",
          d and tail and d[0][0] > tail[0][0], repr((d, tail)))
    neg = q("SELECT value FROM meta WHERE key = 'negative_external'")[0][0]
    check("external counts consistent", neg == 0 or sys.version_info[:2] ==
          (3, 11), "%d objects with negative external" % neg)
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
