"""The memory reconciliation on real programs (Debian's python3 and its
python3-* packages).

    /usr/bin/python3 reconcile_debian.py HEAPDIG_CLI OUTDIR

Django with its admin set up, Sphinx's application, mypy checking a file,
and a pandas frame of 2,000,000 rows with a column of str: each is dumped
and loaded.  For the first three, what no object explains must be the
libraries' resident pages, what the allocators handed out to C code, and
at most MARGIN more (thread stacks, the interpreter's static tables).  For
pandas, whose object column holds 2,000,000 str that only a NumPy array
refers to (it has no tp_traverse: no walker sees them), the summary must
say that Python's allocator holds far more small blocks than the objects
found.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402

MiB = 1 << 20
MARGIN = 8 * MiB

PROGRAMS = {
    "django": r'''
import django
from django.conf import settings
settings.configure(SECRET_KEY="x", INSTALLED_APPS=[
    "django.contrib.contenttypes", "django.contrib.auth", "django.contrib.admin",
    "django.contrib.sessions", "django.contrib.messages"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})
django.setup()
import django.contrib.admin, django.contrib.auth.models
''',
    "sphinx": r'''
import sphinx.application, sphinx.domains.python, sphinx.ext.autodoc
import docutils.parsers.rst
''',
    "mypy": r'''
import os, sys
from mypy import build, options
from mypy.modulefinder import BuildSource
src = os.path.join(os.path.dirname(sys.argv[1]), "checked.py")
with open(src, "w") as f:
    f.write("def f(x: int) -> str:\n    return str(x)\n" * 200)
opts = options.Options()
opts.incremental = False
result = build.build([BuildSource(src, None)], opts)
''',
    "pandas": r'''
import numpy as np, pandas as pd
N = 2000000
frame = pd.DataFrame({"n": np.arange(N), "x": np.random.rand(N),
                      "name": ["x%d" % (i % 1000) for i in range(N)]})
''',
}


def measure(cli, outdir, name):
    dump = os.path.join(outdir, name + ".hdig")
    for p in (dump, dump + ".db"):
        if os.path.exists(p):
            os.unlink(p)
    code = PROGRAMS[name] + "\nimport heapdig, sys\nheapdig.dump(sys.argv[1])\n"
    r = subprocess.run([sys.executable, "-c", code, dump], capture_output=True,
                       text=True)
    if r.returncode != 0:
        check("%s runs" % name, False, r.stderr[-1500:])
        return None, ""
    rc, out, err = run(cli, "load", "-q", dump)
    rc, out, err = run(cli, "summary", dump + ".db", "--format", "json")
    mem = {row["part"]: row["bytes"] for row in json.loads(out)["memory"]}
    rc, text, err = run(cli, "summary", dump + ".db", "-n", "1")
    return mem, text


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    for name in ("django", "sphinx", "mypy"):
        m, text = measure(cli, outdir, name)
        if m is None:
            continue
        rest = m["unaccounted"] - m.get("rss_file", 0) - \
            m.get("unaccounted_allocated", 0)
        check("%s: what no object explains is libraries (%.1f MiB) and C "
              "allocations (%.1f MiB), and %.1f MiB more (at most %d)"
              % (name, m.get("rss_file", 0) / MiB,
                 m.get("unaccounted_allocated", 0) / MiB, rest / MiB,
                 MARGIN // MiB),
              rest <= MARGIN and m["objects"] > 10 * MiB, repr(m))
        check("%s: no advice about unseen objects" % name,
              "many more small blocks" not in text, text[:800])
    m, text = measure(cli, outdir, "pandas")
    if m is not None:
        strs = 2000000 * sys.getsizeof("x123")
        check("pandas: the str items of an object column are unseen, and the "
              "figures show it (%.0f MiB beyond the small objects)"
              % (m.get("unseen_small", 0) / MiB),
              m.get("unseen_small", 0) >= 0.8 * strs, repr(m))
        check("pandas: the summary says so",
              "many more small blocks than the objects" in text and
              "NumPy object arrays" in " ".join(text.split()), text[:900])
    return finish()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
