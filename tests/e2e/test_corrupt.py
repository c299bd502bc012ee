"""`heapdig load` on damaged dumps: clean errors, never a crash.

    python test_corrupt.py HEAPDIG_CLI GOOD_DUMP CORPUS_DIR OUTDIR

* the crafted corpus (tests/corrupt/NNNN-<what>.hdig): each must fail with
  exit status 1 and a message naming the problem, leaving no database;
* the good dump cut at many places: exit status 3 ("truncated"), a database
  with what it held;
* the good dump with bytes damaged at many places: exit 1 or 3, never a
  signal, never exit 0.
Run under an ASan/UBSan build, a memory error fails the run too.
"""
import os
import random
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check as _check, finish  # noqa: E402


def check(name, ok, detail=""):
    _check(name, ok, detail, quiet=True)  # hundreds of cases: failures only


def load(cli, path, db):
    if os.path.exists(db):
        os.unlink(db)
    r = subprocess.run([cli, "load", "-q", path, "-o", db],
                       capture_output=True, text=True)
    return r.returncode, r.stderr


def main(cli, good, corpus, outdir):
    os.makedirs(outdir, exist_ok=True)
    db = os.path.join(outdir, "x.db")

    names = sorted(n for n in os.listdir(corpus) if n.endswith(".hdig"))
    check("the crafted corpus is there", len(names) >= 22, repr(names))
    for name in names:
        rc, err = load(cli, os.path.join(corpus, name), db)
        expect_rc = 3 if "truncated" in name else 1
        check("corpus %s" % name, rc == expect_rc and err.startswith(
            "heapdig: ") and any(w in err for w in ("corrupt", "version",
                                                    "truncated")),
            "rc=%d %s" % (rc, err.strip()))
        if expect_rc == 1:
            check("corpus %s leaves no db" % name, not os.path.exists(db))
        print("ok   %-40s %s" % (name, err.strip()[:110]))

    data = open(good, "rb").read()
    rng = random.Random(1234)
    cut_points = sorted(set([1, 2, 10, 20, len(data) - 1, len(data) - 8] +
                            [rng.randrange(len(data)) for _ in range(25)]))
    bad = os.path.join(outdir, "bad.hdig")
    for n in cut_points:
        with open(bad, "wb") as f:
            f.write(data[:n])
        rc, err = load(cli, bad, db)
        # Exit 3 with what the dump held; exit 1 when not even the header
        # arrived (nothing to load, no database).
        check("cut at %d" % n, rc in (1, 3) and "truncated" in err and
              os.path.exists(db) == (rc == 3), "rc=%d %s" % (rc, err.strip()))
    for k in range(40):
        b = bytearray(data)
        pos = rng.randrange(10, len(b))
        b[pos] ^= 1 << rng.randrange(8)
        with open(bad, "wb") as f:
            f.write(bytes(b))
        rc, err = load(cli, bad, db)
        check("flip at %d" % pos, rc in (1, 3) and err.startswith("heapdig:"),
              "rc=%d %s" % (rc, err.strip()))
    return finish()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
