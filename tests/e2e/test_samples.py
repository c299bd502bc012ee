"""The samples, end to end: samples/README.md is run and checked, and each
sample's leak is asserted in SQL.

    python test_samples.py REPO_DIR OUTDIR

1. Every command block in the README runs as one bash script (from
   REPO_DIR, with the README's /tmp/heapdig-samples replaced by OUTDIR), and
   every line of the output shown after it appears in what it printed ('…'
   matches anything; runs of spaces compare as one).
2. For each sample, SQL on its database: the top suspect is the right
   object, its chain names the right variable, sizes are in range.
"""
import os
import re
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish  # noqa: E402

PLACE = "/tmp/heapdig-samples"


def readme_blocks(text):
    """[(commands, expected_lines)] in order."""
    out, cmds = [], None
    for m in re.finditer(r"```(sh|text)\n(.*?)```", text, re.S):
        kind, body = m.group(1), m.group(2)
        if kind == "sh":
            cmds = [l[2:] for l in body.splitlines() if l.startswith("$ ")]
            out.append((cmds, []))
        elif out:
            out[-1] = (out[-1][0], [l for l in body.splitlines() if l.strip()])
    return out


SIZE = re.compile(r"\d[\d.,]* (?:B|KiB|MiB|GiB)\b|\d[\d.]*%|\b\d+\.\d\b")


def pattern(line, any_sizes=False):
    """The README's line as a regex: '…' matches anything; with any_sizes
    (an interpreter other than the one the README was recorded with, whose
    objects are of other sizes), so do byte sizes and percentages."""
    norm = " ".join(line.split())
    if any_sizes:
        norm = SIZE.sub("…", norm)
    return re.compile(".*".join(re.escape(p) for p in norm.split("…")))


def numpy_available(repo):
    r = subprocess.run(["/usr/bin/python3", "-c", "import numpy, heapdig"],
                       capture_output=True, cwd=repo,
                       env=dict(os.environ, PYTHONPATH="build/py-debian"))
    return r.returncode == 0


def run_readme(repo, outdir, any_sizes):
    text = open(os.path.join(repo, "samples", "README.md")).read()
    have_numpy = numpy_available(repo)
    for cmds, expected in readme_blocks(text):
        # A block runs as one script (so `&` and `$!` work across lines);
        # its expected lines may come from any of its commands.
        script = "set -e\n" + "\n".join(c.replace(PLACE, outdir)
                                         for c in cmds) + "\nwait\n"
        if "numpy" in script and not have_numpy:
            print("skip (no NumPy or heapdig for /usr/bin/python3): %s" %
                  cmds[0])
            continue
        r = subprocess.run(["bash", "-c", script], cwd=repo,
                           capture_output=True, text=True)
        check("runs: %s" % cmds[0][:90], r.returncode == 0, r.stderr[-300:])
        output = r.stdout
        lines = [" ".join(l.split()) for l in output.splitlines()]
        for e in expected:
            p = pattern(e, any_sizes)
            check("shows: %s" % e.strip()[:80],
                  any(p.fullmatch(l) for l in lines),
                  "\n" + "\n".join(lines[:12]))


def sql(outdir, name, query, *args):
    con = sqlite3.connect(os.path.join(outdir, name + ".hdig.db"))
    try:
        return con.execute(query, args).fetchall()
    finally:
        con.close()


def assert_leaks(outdir):
    # 1: the cache dict dominates 20,000 Requests
    r = sql(outdir, "leaky", "SELECT t.name, count(*), sum(o.retained) FROM "
            "objects o JOIN types t ON t.id = o.type WHERE o.idom = (SELECT "
            "r.dst FROM refs r WHERE r.label = \"['_REQUEST_CACHE']\" LIMIT 1)"
            " GROUP BY t.name ORDER BY 3 DESC LIMIT 1")
    check("leaky: the cache dominates the requests",
          r and r[0][0] == "Request" and r[0][1] == 20000 and
          5 * 2**20 < r[0][2] < 8 * 2**20, repr(r))
    # 2: each Report is dominated by its closure cell, listed under BUS
    r = sql(outdir, "closure", "SELECT count(*), min(d.retained) FROM objects"
            " o JOIN types t ON t.id = o.type JOIN objects d ON d.id = o.idom "
            "JOIN types dt ON dt.id = d.type WHERE t.name = 'Report' AND "
            "dt.name = 'cell'")
    check("closure: 20 reports held by closure cells", r == [(20, r[0][1])]
          and r[0][1] > 200 * 1024, repr(r))
    # 3: 50 garbage cycles, each with one finaliser
    r = sql(outdir, "cycles", "SELECT count(*), sum(finalizers), min(members)"
            " FROM cycles WHERE reachable = 0 AND retained > 4096")
    check("cycles: 50 garbage cycles with finalisers", r == [(50, 50, 2)],
          repr(r))
    # 4: dict instances retain more than slots instances
    r = dict(sql(outdir, "points", "SELECT name, retained FROM types WHERE "
                 "name IN ('PointDict', 'PointSlots')"))
    check("points: __dict__ costs more than __slots__",
          r.get("PointDict", 0) > 1.5 * r.get("PointSlots", 1), repr(r))
    # 5: the weak cache retains none of the users
    r = sql(outdir, "weak", "SELECT (SELECT o.retained FROM objects o JOIN "
            "types t ON t.id = o.type WHERE t.name = 'WeakValueDictionary'), "
            "(SELECT count(*) FROM objects o JOIN types t ON t.id = o.type "
            "WHERE t.name = 'User'), (SELECT retained FROM types WHERE name ="
            " 'User')")
    wvd, users, users_ret = r[0]
    check("weak: 250 live users, not retained by the cache",
          users == 250 and wvd < users_ret / 5, repr(r))
    # 6: ten orphaned batches, each retaining ~100 KiB
    r = sql(outdir, "cext", "SELECT count(*), min(o.retained) FROM objects o "
            "JOIN types t ON t.id = o.type WHERE t.name = 'list' AND "
            "o.external = 1 AND o.refcount = 1 AND o.retained > 100000")
    check("cext: the ten leaked batches are orphans", r[0][0] == 10, repr(r))


def main(repo, outdir, any_sizes):
    os.makedirs(outdir, exist_ok=True)
    run_readme(repo, outdir, any_sizes)
    assert_leaks(outdir)
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], "--any-sizes" in sys.argv[3:]))
