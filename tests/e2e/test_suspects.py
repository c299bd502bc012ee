"""`heapdig suspects` finds what a person would call the leak, and names it.

    python test_suspects.py HEAPDIG_CLI OUTDIR

A registry holding 77% of its module's globals (so no single child keeps
80% of the globals dict) and a second big list beside it: both are
suspects, each named by its variable, with the chain as Python, and what
each holds is grouped by the label it is held under and its type.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402

APP = r'''
import sys, heapdig
class Env:
    def __init__(self):
        self.blob = bytearray(2000)
_ENV_REGISTRY = {"env-%d" % i: Env() for i in range(4000)}
OTHER = [bytearray(2000) for i in range(1200)]
heapdig.dump(sys.argv[1])
'''


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    dump = os.path.join(outdir, "registry.hdig")
    for f in (dump, dump + ".db"):
        if os.path.exists(f):
            os.unlink(f)
    app = os.path.join(outdir, "registry_app.py")
    with open(app, "w") as f:
        f.write(APP)
    subprocess.check_call([sys.executable, app, dump])
    rc, out, err = run(cli, "load", "-q", dump)
    check("loads", rc == 0, err)
    db = dump + ".db"
    con_share = subprocess.check_output(
        ["sqlite3", db, "SELECT 1.0 * r.retained / g.retained FROM objects r, "
         "objects g WHERE r.id = (SELECT dst FROM refs WHERE label = "
         "'[''_ENV_REGISTRY'']') AND g.id = r.idom"], text=True).strip()
    check("the registry keeps under 80% of the globals dict (the old rule "
          "stopped there)", con_share and float(con_share) < 0.8, con_share)

    rc, out, err = run(cli, "suspects", db, "--format", "json")
    sus = json.loads(out)["suspects"] if rc == 0 else []
    names = [s["name"] for s in sus]
    check("suspects are the registry, then the list beside it",
          names[:2] == ["_ENV_REGISTRY", "OTHER"], repr(names))
    if sus:
        s0 = sus[0]
        check("suspect 1 as Python",
              s0["python"] == "sys.modules['__main__']._ENV_REGISTRY",
              repr(s0["python"]))
        top = s0["holds"][0]
        check("what it holds, by label and type",
              top["type"] == "Env" and top["label"] == "_ENV_REGISTRY[*]" and
              top["count"] == 4000, repr(top))
    rc, out, err = run(cli, "suspects", db)
    check("the table names the registry and what it holds",
          "Suspect 1: _ENV_REGISTRY <dict" in out and
          "holds 4,000 Env in _ENV_REGISTRY[*]" in out and
          "as Python: sys.modules['__main__']._ENV_REGISTRY" in out and
          "Suspect 2: OTHER <list" in out, out[:600])
    rc, out, err = run(cli, "suspects", db, "--format", "csv")
    lines = out.splitlines()
    check("csv: one table with name and python columns",
          lines and lines[0].startswith("suspect,id,name,") and
          lines[0].endswith(",python") and ",_ENV_REGISTRY," in lines[1],
          out[:300])
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
