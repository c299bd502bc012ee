#!/usr/bin/env python3
# heapdig — MIT licence.
"""How much of real heaps heapdig names: the share of strong references
with no label (no attribute, key, index or local names them), on the heaps
of Django, Sphinx, mypy and pandas, as Debian's python3 runs them.

    bench/bench_labels.py HEAPDIG_CLI PYTHONPATH [BASELINE_PYTHONPATH]

PYTHONPATH holds a heapdig built for /usr/bin/python3 (build/py-debian);
a baseline (another commit's build/py-debian) is dumped and loaded in the
same run and printed beside it.  Per heap: strong references, unlabelled
ones (%), and the types whose objects hold the most unlabelled ones.
"""
import os
import sqlite3
import subprocess
import sys
import tempfile

PROGRAMS = {
    "django": """
import django
from django.conf import settings
settings.configure(SECRET_KEY="x", INSTALLED_APPS=[
    "django.contrib.contenttypes", "django.contrib.auth", "django.contrib.admin",
    "django.contrib.sessions", "django.contrib.messages"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})
django.setup()
import django.contrib.admin, django.contrib.auth.models
""",
    "sphinx": """
import sphinx.application, sphinx.domains.python, sphinx.ext.autodoc
import docutils.parsers.rst
""",
    "mypy": """
import os, sys, tempfile
from mypy import build, options
from mypy.modulefinder import BuildSource
src = os.path.join(tempfile.mkdtemp(), "checked.py")
with open(src, "w") as f:
    f.write("def f(x: int) -> str:\\n    return str(x)\\n" * 200)
opts = options.Options()
opts.incremental = False
result = build.build([BuildSource(src, None)], opts)
""",
    "pandas": """
import numpy as np, pandas as pd
N = 200000
frame = pd.DataFrame({"n": np.arange(N), "x": np.random.rand(N),
                      "name": ["x%d" % (i % 1000) for i in range(N)]})
""",
}
DUMP = "\nimport heapdig, sys\nheapdig.dump(sys.argv[1])\n"


def measure(cli, pythonpath, name, work):
    dump = os.path.join(work, "%s-%d.hdig" % (name, abs(hash(pythonpath))))
    env = dict(os.environ, PYTHONPATH=pythonpath)
    r = subprocess.run(["/usr/bin/python3", "-c", PROGRAMS[name] + DUMP, dump],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1:]
    subprocess.run([cli, "load", "-q", dump, "-o", dump + ".db"], check=True)
    con = sqlite3.connect(dump + ".db")
    total, bare = con.execute(
        "SELECT count(*), sum(label IS NULL) FROM edges WHERE weak = 0"
    ).fetchone()
    top = con.execute(
        "SELECT t.name, count(*) FROM edges e JOIN objects o ON o.id = e.src "
        "JOIN types t ON t.id = o.type WHERE e.weak = 0 AND e.label IS NULL "
        "GROUP BY t.name ORDER BY count(*) DESC LIMIT 4").fetchall()
    con.close()
    for f in (dump, dump + ".db"):
        os.unlink(f)
    return (total, bare or 0), top


def main(cli, pythonpath, baseline=None):
    work = tempfile.mkdtemp(prefix="heapdig-labels-")
    print("%-7s %12s %18s %18s" % ("heap", "strong refs", "unlabelled",
                                    "baseline" if baseline else ""))
    for name in PROGRAMS:
        now, top = measure(cli, pythonpath, name, work)
        if now is None:
            print("%-7s skipped: %s" % (name, " ".join(top)))
            continue
        base = ""
        if baseline:
            was, _ = measure(cli, baseline, name, work)
            if was:
                base = "%d (%.2f%%)" % (was[1], 100.0 * was[1] / was[0])
        print("%-7s %12d %9d (%5.2f%%) %18s" % (name, now[0], now[1],
                                                100.0 * now[1] / now[0], base))
        print("        most from: " + ", ".join("%s %d" % t for t in top))
    os.rmdir(work)
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
