"""`heapdig tree`: the grouped dominator tree, and its folded stacks.

    python test_tree.py HEAPDIG_CLI OUTDIR

Folded stacks must add up to the heap exactly (every byte is in one line),
be well formed for flamegraph.pl (frames joined by ';', the weight after
the last space, no ';' inside a frame even when a key holds one), and group
what a person would: the 20,000 cached requests are one frame.  The table
shows the same groups with their counts; `tree DB OBJ` is one subtree.
"""
import os
import re
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402

APP = r'''
import gc, sys, heapdig
class Request:
    def __init__(self, i):
        self.body = bytearray(300 + i % 7)
        self.headers = {"id": str(i)}
_CACHE = {"/a;b/%d" % i: Request(i) for i in range(5000)}
class Node:
    pass
def garbage():
    for i in range(200):
        a, b = Node(), Node()
        a.other, b.other = b, a
gc.disable()
garbage()
heapdig.dump(sys.argv[1])
'''


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    dump = os.path.join(outdir, "tree.hdig")
    for f in (dump, dump + ".db"):
        if os.path.exists(f):
            os.unlink(f)
    app = os.path.join(outdir, "tree_app.py")
    with open(app, "w") as f:
        f.write(APP)
    subprocess.check_call([sys.executable, app, dump])
    rc, out, err = run(cli, "load", "-q", dump)
    check("loads", rc == 0, err)
    db = dump + ".db"
    con = sqlite3.connect(db)
    total = con.execute("SELECT value FROM meta WHERE key = 'total_size'"
                        ).fetchone()[0]

    rc, out, err = run(cli, "tree", db, "--format", "folded")
    lines = out.splitlines()
    check("folded: runs", rc == 0 and lines, err)
    bad = [l for l in lines if not re.fullmatch(r"[^\n]+ [1-9][0-9]*", l)]
    check("folded: every line is 'frames WEIGHT'", not bad, repr(bad[:3]))
    weights = sum(int(l.rsplit(" ", 1)[1]) for l in lines if l not in bad)
    check("folded: the lines add up to the heap, byte for byte",
          weights == total, "%d vs %d" % (weights, total))
    stacks = {l.rsplit(" ", 1)[0]: int(l.rsplit(" ", 1)[1]) for l in lines}
    req = [s for s in stacks if s.endswith(";dict ['_CACHE'];Request [*]")]
    check("folded: the 5,000 requests are one frame under the cache",
          len(req) == 1, repr(req))
    shallow = con.execute("SELECT sum(o.size) FROM objects o JOIN types t ON "
                          "t.id = o.type WHERE t.name = 'Request'"
                          ).fetchone()[0]
    if req:
        check("folded: that frame's own weight is the requests' own size",
              stacks[req[0]] == shallow, "%d vs %d" % (stacks[req[0]],
                                                      shallow))
        body = req[0] + ";bytearray .body"
        bodies = con.execute("SELECT sum(o.size) FROM objects o JOIN types t"
                             " ON t.id = o.type WHERE t.name = 'bytearray' "
                             "AND o.size > 300").fetchone()[0]
        check("folded: below it, their bodies, all 5,000 in one frame",
              stacks.get(body) == bodies, "%r vs %d" % (stacks.get(body),
                                                        bodies))
    check("folded: a key with ';' does not split a frame",
          not any("['/a" in s for s in stacks), "")
    garbage = con.execute("SELECT sum(size) FROM objects WHERE reachable = 0"
                          ).fetchone()[0]
    check("folded: garbage is a frame of its own",
          stacks.get("garbage (unreachable)") == garbage,
          "%r vs %r" % (stacks.get("garbage (unreachable)"), garbage))

    rc, out, err = run(cli, "tree", db, "-n", "5")
    row = [l for l in out.splitlines() if "5,000 × Request [*]" in l]
    check("table: the requests are one row with their count", len(row) == 1,
          out[:600])
    cache_ret = con.execute("SELECT retained FROM objects WHERE id = (SELECT "
                            "dst FROM refs WHERE label = '[''_CACHE'']')"
                            ).fetchone()[0]
    cache_row = [l for l in out.splitlines() if "dict ['_CACHE']" in l]
    check("table: the cache row shows its retained share",
          cache_row and ("%.1f%%" % (100.0 * cache_ret / total)) in
          cache_row[0], repr(cache_row))

    cache = con.execute("SELECT dst FROM refs WHERE label = '[''_CACHE'']'"
                        ).fetchone()[0]
    rc, out, err = run(cli, "tree", db, "#%d" % cache, "--format", "folded")
    sub = sum(int(l.rsplit(" ", 1)[1]) for l in out.splitlines())
    check("tree DB OBJ: one subtree, adding up to what it retains",
          rc == 0 and sub == cache_ret and
          all(l.startswith("dict") for l in out.splitlines()),
          "%d vs %d" % (sub, cache_ret))
    rc, out, err = run(cli, "tree", db, "--format", "json")
    check("an unknown format is a usage error", rc == 2, err)
    kept_walks(cli, outdir, db, total)
    return finish()


def copy_of(db, path, *sql):
    """A copy of the database with sql run on it."""
    if os.path.exists(path):
        os.unlink(path)
    src, dst = sqlite3.connect(db), sqlite3.connect(path)
    src.backup(dst)
    for q in sql:
        dst.execute(q)
    dst.commit()
    src.close()
    dst.close()
    return path


def kept_walks(cli, outdir, db, total):
    """The load keeps the walks of tree's two default thresholds; tree
    answers from them exactly as a walk over the database would."""
    con = sqlite3.connect(db)
    kept = dict(con.execute("SELECT threshold, count(*) FROM tree GROUP BY 1"))
    con.close()
    want = sorted(max(1, int(total * pct / 100.0)) for pct in (0.5, 0.01))
    check("the load keeps the walks of 0.5% and 0.01% of the heap",
          sorted(kept) == want and all(n > 1 for n in kept.values()),
          repr((kept, want)))
    walked = copy_of(db, os.path.join(outdir, "walked.db"),
                     "DELETE FROM tree")
    for args in ([], ["-n", "1"], ["--depth", "1"], ["-n", "2", "--depth",
                 "9"], ["--threshold", "0.5"], ["--format", "folded"],
                 ["--threshold", "0.01", "--format", "folded"]):
        a = run(cli, "tree", db, *args)
        b = run(cli, "tree", walked, *args)
        check("tree %s: the kept walk is the walk over the database"
              % " ".join(args), a[0] == 0 and a == b and a[1].strip(),
              "%r\n%r" % (a[1][:600], b[1][:600]))
    con = sqlite3.connect(db)
    cache = "#%d" % con.execute("SELECT dst FROM refs WHERE label = "
                                "'[''_CACHE'']'").fetchone()[0]
    con.close()
    for args in ([cache], [cache, "-n", "1"], [cache, "--depth", "1"],
                 [cache, "--format", "folded"]):
        a = run(cli, "tree", db, *args)
        b = run(cli, "tree", walked, *args)
        check("tree %s: below a kept row, the kept rows are the walk's"
              % " ".join(args), a[0] == 0 and a == b and a[1].strip(),
              "%r\n%r" % (a[1][:600], b[1][:600]))
    below = copy_of(db, os.path.join(outdir, "below.db"),
                    "UPDATE tree SET label = '.MARKED' WHERE parent IN "
                    "(SELECT id FROM tree t WHERE t.label = '[''_CACHE'']' "
                    "AND t.threshold = tree.threshold)")
    rc, out, err = run(cli, "tree", below, cache)
    check("tree DB OBJ reads the kept rows below OBJ's", rc == 0 and
          ".MARKED" in out, out)
    marked = copy_of(db, os.path.join(outdir, "marked.db"),
                     "UPDATE tree SET label = '[''MARKED'']' WHERE label = "
                     "'[''_CACHE'']'")
    rc, out, err = run(cli, "tree", marked)
    check("tree reads the kept walk (a row changed in it shows)",
          rc == 0 and "['MARKED']" in out and "['_CACHE']" not in out, out)
    rc, out, err = run(cli, "tree", marked, "--threshold", "0.3")
    check("... and walks the database for a threshold not kept",
          rc == 0 and "['_CACHE']" in out and "MARKED" not in out, out)
    looped = copy_of(db, os.path.join(outdir, "looped.db"),
                     "UPDATE tree SET parent = id WHERE id = 2")
    rc, out, err = run(cli, "tree", looped)
    check("a kept row under itself is a clear error", rc == 1 and
          "inconsistent" in err and "load the dump again" in err, err)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
