"""Dumps and databases that are well-formed but hostile: heapdig takes them
without a crash, undefined behaviour or a hang.

    python test_hostile_dumps.py HEAPDIG_CLI OUTDIR

What a fuzzer found: a traceback with no frames, a refcount of 2^63,
addresses chosen to share one slot of the address map (a small dump that
held `load` for minutes), and a database whose parent links loop.  Run
under the ASan/UBSan build, undefined behaviour fails the run too.
"""
import gzip
import os
import shutil
import sqlite3
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "corrupt"))
from hdtest import check, finish, run  # noqa: E402
from make_corpus import HEADER, STRINGS, TYPE, end, memory, obj, prelude, rec, v, zz  # noqa: E402


def write(outdir, name, body, counts):
    raw = body + end(body, counts=counts)
    path = os.path.join(outdir, name + ".hdig")
    with open(path, "wb") as f:
        f.write(gzip.compress(raw, mtime=0))
    return path


def load(cli, path, *extra):
    db = path + ".db"
    if os.path.exists(db):
        os.unlink(db)
    try:
        r = subprocess.run([cli, "load", path, "-o", db] + list(extra),
                           capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "", "timed out"
    return r.returncode, r.stdout, r.stderr


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)

    body = prelude() + HEADER + STRINGS + TYPE + rec(7, v(0)) + obj(0x2000)
    rc, out, err = load(cli, write(outdir, "empty-traceback", body,
                                   [2, 1, 1, 0, 0, 1]))
    check("a traceback of no frames loads", rc == 0, err)

    huge = rec(4, v(zz(0x2000)) + v(1) + v(16) + v(1 << 63) + v(0) + b"\x00")
    body = prelude() + HEADER + STRINGS + TYPE + huge
    rc, out, err = load(cli, write(outdir, "refcount-2-63", body,
                                   [2, 1, 1, 0, 0, 0]))
    check("a refcount of 2^63 loads (no overflow)", rc == 0, err)

    # numbers past 32 bits, which the heap model keeps aside (hd_col):
    # sizes, refcounts, lengths and int keys; a dangling edge with a wide
    # key before kept ones (the reader's compaction) and SIZE records that
    # make a wide size small and a small one wide, in the middle of the list
    w32 = (1 << 32) - 1  # the marker value itself
    HL = 0x80  # HAS_LENGTH
    a = rec(4, v(zz(0x2000)) + v(1) + v(5 << 32) + v(1 << 40) + v(HL) +
            v(1 << 33) + v(4) +
            v(zz(0x7000)) + v(3 << 1) + v(zz(1 << 45)) +       # dangling
            v(zz(0x1000)) + v(3 << 1) + v(zz(-(1 << 40))) +    # -> b
            v(zz(0x1000)) + v(6 << 1) + v(7) +                 # -> b
            v(zz(0x2000)) + v(3 << 1) + v(zz((1 << 35) + 1)))  # -> c
    b = rec(4, v(zz(0x1000)) + v(1) + v(16) + v(w32) + v(HL) + v(0) + v(0))
    c = rec(4, v(zz(0x1000)) + v(1) + v(w32) + v(w32 + 1) + v(HL) + v(w32) +
            v(0))
    sizes = rec(8, v(0x2000) + v(24) + v(0)) + rec(8, v(0x3000) + v(1 << 36) +
                                                   v(0))
    body = prelude(minor=1) + HEADER + STRINGS + TYPE + a + b + c + sizes
    path = write(outdir, "wide-numbers", body, [2, 1, 3, 4, 0, 0])
    rc, out, err = load(cli, path)
    check("numbers past 32 bits load", rc == 0, err)
    if rc == 0:
        db = sqlite3.connect(path + ".db")
        rows = db.execute("SELECT address, size, refcount, length FROM objects "
                          "ORDER BY id").fetchall()
        check("... and keep every bit (sizes, refcounts, lengths)",
              rows == [(0x2000, 24, 1 << 40, 1 << 33),
                       (0x3000, 1 << 36, w32, 0),
                       (0x4000, w32, w32 + 1, w32)], rows)
        # each is held from outside (refcounts past its references), so
        # each retains itself: the dominators' sums carry the wide sizes
        kept = db.execute("SELECT retained, size, external FROM objects "
                          "ORDER BY id").fetchall()
        check("... and the analysis reads them whole (retained, external)",
              kept == [(24, 24, 1 << 40), (1 << 36, 1 << 36, w32 - 2),
                       (w32, w32, w32)], kept)
        labels = db.execute("SELECT label FROM refs ORDER BY seq").fetchall()
        check("... int keys past 32 bits label their references",
              labels == [("[-1099511627776]",), ("[7]",),
                         ("[%d]" % ((1 << 35) + 1),)], labels)
        db.close()

    # SIZE records that make sizes wide in descending order of address:
    # one at a time, each went to the front of the wide list and moved all
    # of it (400,000 of them: terabytes of copying, a hang)
    n = 400000
    objs = obj(0x2000) + b"".join(obj(16) for _ in range(n - 1))
    sizes = b"".join(rec(8, v(0x2000 + 16 * i) + v((1 << 33) + i) + v(0))
                     for i in reversed(range(n)))
    body = prelude(minor=1) + HEADER + STRINGS + TYPE + objs + sizes
    path = write(outdir, "wide-sizes-descending", body, [2, 1, n, 0, 0, 0])
    rc, out, err = load(cli, path)
    check("SIZE records in descending order load without a hang", rc == 0,
          err)
    if rc == 0:
        db = sqlite3.connect(path + ".db")
        got = db.execute("SELECT count(*), min(size - id), max(size - id) "
                         "FROM objects").fetchone()
        check("... each object has its own size", got == (n, 1 << 33,
                                                          1 << 33), got)
        db.close()

    # two objects of 2^63 - 1 bytes held from outside: one group of tree's
    # (the load walks them) whose bytes add up past 2^63
    big = b"".join(rec(4, v(zz(a)) + v(1) + v((1 << 63) - 1) + v(1) + v(0) +
                          b"\x00") for a in (0x2000, 0x3000))
    body = prelude() + HEADER + STRINGS + TYPE + big
    path = write(outdir, "sizes-2-63", body, [2, 1, 2, 0, 0, 0])
    rc, out, err = load(cli, path)
    check("objects of 2^63 - 1 bytes load (the tree's sums do not overflow)",
          rc == 0, err)
    r = subprocess.run([cli, "tree", path + ".db"], capture_output=True,
                       text=True, timeout=60)
    check("... and tree reads them (SQLite's sum() stops at 2^63)",
          r.returncode == 0 and not r.stderr, r.stdout + r.stderr)

    # memory figures near 2^64: the reconciliation adds and multiplies them
    # (signed overflow under UBSan before they were bounded)
    top = (1 << 64) - 1
    body = prelude(minor=3) + HEADER + memory(
        (b"rss", top), (b"pymalloc_used", top), (b"pymalloc_free", top),
        (b"malloc_used", top), (b"malloc_free", top)) + STRINGS + TYPE + \
        obj(0x2000)
    path = write(outdir, "memory-2-64", body, [2, 1, 1, 0, 0, 0])
    rc, out, err = load(cli, path)
    check("memory figures of 2^64 - 1 load", rc == 0, err)
    r = subprocess.run([cli, "summary", path + ".db"], capture_output=True,
                       text=True, timeout=60)
    check("and summary reads them", r.returncode == 0 and
          "16.0 EiB" not in r.stdout, r.stdout + r.stderr)
    # unbounded, rss read as -1 (no figures at all) or wrapped negative
    check("... bounded at 2^56 bytes (64 PiB), not dropped or wrapped",
          "RSS 65536.0 TiB" in r.stdout, r.stdout[:400])

    # 8,191 objects whose addresses (i << 50) all fell in one slot of the
    # address map's former hash: each insert probed past all the others
    n = 8191
    objs = obj(1 << 50) + b"".join(obj(1 << 50) for _ in range(n - 1))
    body = prelude() + HEADER + STRINGS + TYPE + objs
    rc, out, err = load(cli, write(outdir, "colliding-addresses", body,
                                   [2, 1, n, 0, 0, 0]), "-v")
    probe = None
    for line in out.splitlines():
        if "longest probe" in line:
            probe = int(line.split("longest probe")[1].split()[0])
    check("addresses chosen to collide do not make the address map "
          "quadratic (longest probe %s of %d objects)" % (probe, n),
          rc == 0 and probe is not None and probe <= 64, out + err)

    # a real database whose parent links loop
    good = os.path.join(outdir, "real.hdig")
    code = ("import sys, heapdig\n"
            "class A: pass\n"
            "a = A(); a.b = A(); a.b.c = A()\n"
            "heapdig.dump(sys.argv[1])\n")
    subprocess.check_call([sys.executable, "-c", code, good])
    rc, out, err = load(cli, good)
    looped = os.path.join(outdir, "looped.db")
    shutil.copy(good + ".db", looped)
    c = sqlite3.connect(looped)
    deep, parent = c.execute("SELECT id, parent FROM objects WHERE depth = "
                             "(SELECT max(depth) FROM objects)").fetchone()
    c.execute("UPDATE objects SET parent = ?1 WHERE id = ?2", (deep, parent))
    c.commit()
    c.close()
    for args in (["path", looped, "#%d" % deep],
                 ["graph", looped, "#%d" % deep, "--path", "-o",
                  os.path.join(outdir, "loop.dot")]):
        try:
            r = subprocess.run([cli] + args, capture_output=True, text=True,
                               timeout=60)
            check("%s over looping parent links: an error, not a hang"
                  % args[0], r.returncode == 1 and "inconsistent" in r.stderr,
                  r.stderr)
        except subprocess.TimeoutExpired:
            check("%s over looping parent links: an error, not a hang"
                  % args[0], False, "hung")
    # a parent that is the object itself, or an object the database lacks
    for name, sql, says in (
            ("self-parent", "UPDATE objects SET parent = id WHERE id = ?1",
             "is its own parent"),
            ("lost-parent", "UPDATE objects SET parent = 999999 WHERE id = "
             "?1", "which it does not hold")):
        bad = os.path.join(outdir, name + ".db")
        shutil.copy(good + ".db", bad)
        c = sqlite3.connect(bad)
        c.execute(sql, (deep,))
        c.commit()
        c.close()
        r = subprocess.run([cli, "path", bad, "#%d" % deep],
                           capture_output=True, text=True, timeout=60)
        check("path over a %s: says the database is inconsistent, exit 1"
              % name, r.returncode == 1 and "inconsistent" in r.stderr and
              says in r.stderr, r.stderr)
    # a suspect whose chain cannot be walked: an error, not a chain that
    # reads as the error's text with exit 0
    bad = os.path.join(outdir, "lost-suspect.db")
    shutil.copy(good + ".db", bad)
    c = sqlite3.connect(bad)
    top = c.execute("SELECT id FROM objects WHERE reachable AND idom IS NULL "
                    "AND parent IS NOT NULL ORDER BY retained DESC "
                    "LIMIT 1").fetchone()[0]
    c.execute("UPDATE objects SET parent = 999999 WHERE id = ?1", (top,))
    c.commit()
    c.close()
    for fmt in ("table", "json"):
        r = subprocess.run([cli, "suspects", bad, "--threshold", "0.1", "--format",
                            fmt], capture_output=True, text=True, timeout=60)
        check("suspects (%s) whose chain is broken: exit 1, said on stderr"
              % fmt, r.returncode == 1 and "inconsistent" in r.stderr and
              "inconsistent" not in r.stdout, r.stdout[-300:] + r.stderr)
    # idoms that loop: what the loop holds is out of every walk down the
    # dominator tree, and would silently be missing from tree, top and
    # suspects
    bad = os.path.join(outdir, "idom-self.db")
    shutil.copy(good + ".db", bad)
    c = sqlite3.connect(bad)
    big = c.execute("SELECT id FROM objects WHERE idom IS NULL AND reachable "
                    "ORDER BY retained DESC LIMIT 1").fetchone()[0]
    c.execute("UPDATE objects SET idom = id WHERE id = ?1", (big,))
    c.commit()
    c.close()
    for args in (["tree"], ["top"], ["suspects"], ["report", "-o", "-"]):
        r = subprocess.run([cli, args[0], bad] + args[1:],
                           capture_output=True, text=True, timeout=60)
        check("%s over an object that is its own dominator: exit 1, "
              "inconsistent" % args[0], r.returncode == 1 and
              "inconsistent" in r.stderr, r.stderr)
    bad = os.path.join(outdir, "idom-loop.db")
    shutil.copy(good + ".db", bad)
    c = sqlite3.connect(bad)
    a, b = c.execute("SELECT k.idom, k.id FROM objects k JOIN objects a ON "
                     "a.id = k.idom WHERE a.idom IS NOT NULL AND a.reachable "
                     "ORDER BY k.retained DESC LIMIT 1").fetchone()
    c.execute("UPDATE objects SET idom = ?1 WHERE id = ?2", (b, a))
    c.commit()
    c.close()
    r = subprocess.run([cli, "tree", bad, "--threshold", "0.001", "--depth", "100"],
                       capture_output=True, text=True, timeout=60)
    check("tree over two objects that dominate each other: exit 1, names "
          "the row", r.returncode == 1 and "inconsistent" in r.stderr and
          "dominates" in r.stderr, r.stderr)
    r = subprocess.run([cli, "tree", good + ".db", "--threshold", "0.001", "--depth",
                        "100"], capture_output=True, text=True, timeout=60)
    check("... and the database it was made from walks whole", r.returncode
          == 0 and r.stdout, r.stderr)
    # a table or view of the schema missing: said when the database opens
    for what, drop in (("table waste", "DROP TABLE waste"),
                       ("view refs", "DROP VIEW refs")):
        bad = os.path.join(outdir, "no-%s.db" % what.split()[1])
        shutil.copy(good + ".db", bad)
        c = sqlite3.connect(bad)
        c.execute(drop)
        c.commit()
        c.close()
        for cmd in ("summary", "waste", "top"):
            r = subprocess.run([cli, cmd, bad], capture_output=True,
                               text=True, timeout=60)
            check("%s of a database without its %s: exit 1, names it"
                  % (cmd, what), r.returncode == 1 and ("has no %s" % what)
                  in r.stderr and "SQLite" not in r.stderr, r.stderr)
    # a database whose signature tree loops: its texts end, with an error
    looped = os.path.join(outdir, "looped-paths.db")
    shutil.copy(good + ".db", looped)
    c = sqlite3.connect(looped)
    pid = c.execute("SELECT max(id) FROM path_steps").fetchone()[0]
    c.execute("UPDATE path_steps SET parent = id WHERE id = ?1", (pid,))
    c.execute("UPDATE waste SET path = ?1", (pid,))
    c.commit()
    n_waste = c.execute("SELECT count(*) FROM waste").fetchone()[0]
    c.close()
    try:
        r = subprocess.run([cli, "waste", looped], capture_output=True,
                           text=True, timeout=60)
        check("held_text over a looping signature tree: an error, not a "
              "hang", n_waste == 0 or (r.returncode == 1 and "inconsistent"
                                       in r.stderr), r.stderr)
    except subprocess.TimeoutExpired:
        check("held_text over a looping signature tree: an error, not a "
              "hang", False, "hung")
    code = ("import sqlite3, sys\n"
            "print(sqlite3.connect(sys.argv[1]).execute("
            "'SELECT count(*) FROM paths').fetchone()[0])\n")
    try:
        r = subprocess.run([sys.executable, "-c", code, looped],
                           capture_output=True, text=True, timeout=60)
        check("the paths view over it ends", r.returncode == 0, r.stderr)
    except subprocess.TimeoutExpired:
        check("the paths view over it ends", False, "hung")
    return finish()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
