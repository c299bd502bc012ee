"""heapdig installs like a Python tool: `pip install .` and `pip wheel .`
from the checkout, with no network (--no-index), into a fresh venv of each
interpreter given (and of Debian's /usr/bin/python3).  From the venv: the
package imports and dumps, the `heapdig` command loads the dump, and
`heapdig attach` finds the venv's extension for a target of that version
and dumps the target (3.9-3.13 through gdb: $HEAPDIG_GDB when it runs,
else a gdb that fails its probe must be refused with the reason).

    python test_pip.py REPO OUTDIR PYTHON...
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish  # noqa: E402

TARGET = r'''
import sys, time
class Planted:
    pass
KEEP = [Planted()]
print("ready", flush=True)
end = time.time() + 15
while time.time() < end:
    sum(range(1000))
sys.exit(3)
'''


def sh(*argv, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True,
                       text=True, **kw)
    return r.returncode, r.stdout, r.stderr


def version(python):
    return tuple(int(x) for x in subprocess.check_output(
        [python, "-c", "import sys; print(*sys.version_info[:2])"],
        text=True).split())


def check_venv(repo, python, outdir):
    ver = version(python)
    tag = "%s (%d.%d)" % (python, ver[0], ver[1])
    venv = os.path.join(outdir, "venv-%d.%d-%d" % (ver + (len(python),)))
    shutil.rmtree(venv, ignore_errors=True)
    rc, out, err = sh(python, "-m", "venv", venv)
    if rc != 0:
        check("%s: venv" % tag, False, err[-300:])
        return None
    vpy, vcli = os.path.join(venv, "bin", "python"), os.path.join(
        venv, "bin", "heapdig")
    rc, out, err = sh(vpy, "-m", "pip", "install", "--no-index", repo,
                      cwd=outdir)
    check("%s: pip install . (no network)" % tag, rc == 0, err[-500:])
    if rc != 0:
        return None
    dump = os.path.join(venv, "self.hdig")
    rc, out, err = sh(vpy, "-c", "import heapdig, sys; "
                      "print(heapdig.__file__); "
                      "print(heapdig.dump(sys.argv[1])['objects'])", dump,
                      cwd=outdir)
    check("%s: the venv imports its own heapdig and dumps" % tag,
          rc == 0 and venv in out and os.path.exists(dump), out + err)
    rc, out, err = sh(vcli, "load", dump)
    check("%s: the venv's heapdig command loads it" % tag,
          rc == 0 and "objects" in out, err)

    script = os.path.join(venv, "target.py")
    with open(script, "w") as f:
        f.write(TARGET)
    # The target is the venv's interpreter without the package on its path.
    p = subprocess.Popen([vpy, "-I", "-S", script], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.readline()
    attached = os.path.join(venv, "attached.hdig")
    rc, out, err = sh(vcli, "attach", p.pid, "-o", attached)
    if ver >= (3, 14) or GDB_WORKS:
        check("%s: heapdig attach from the venv dumps the target" % tag,
              rc == 0 and os.path.exists(attached), out + err)
        sh(vcli, "load", attached)
        con = sqlite3.connect(attached + ".db")
        n = con.execute("SELECT count(*) FROM objects o JOIN types t ON "
                        "t.id = o.type WHERE t.name = 'Planted'").fetchone()
        con.close()
        check("%s: ... holding what the target planted" % tag, n == (1,),
              repr(n))
    else:
        check("%s: heapdig attach from the venv, with no gdb that passes its "
              "probe, says why it did nothing" % tag,
              rc == 1 and "needs gdb" in err and "nothing was done" in err,
              err)
    p.kill()
    p.communicate()
    return vpy


def check_wheel(repo, python, outdir):
    wheels = os.path.join(outdir, "wheels")
    shutil.rmtree(wheels, ignore_errors=True)
    rc, out, err = sh(python, "-m", "pip", "wheel", "--no-index",
                      "--no-deps", "-w", wheels, repo, cwd=outdir)
    made = os.listdir(wheels) if os.path.isdir(wheels) else []
    check("pip wheel . makes one wheel", rc == 0 and len(made) == 1,
          err[-300:])
    if len(made) == 1:
        names = zipfile.ZipFile(os.path.join(wheels, made[0])).namelist()
        ver = version(python)
        check("the wheel holds the package, its C core and the command",
              "heapdig/__init__.py" in names and
              any(n.startswith("heapdig/_heapdig.cpython-%d%d" % ver)
                  for n in names) and
              any(n.endswith(".data/scripts/heapdig") for n in names),
              repr(names))
        check("the wheel is tagged for this interpreter",
              made[0].split("-")[2] == "cp%d%d" % ver, made[0])


GDB_WORKS = False


def main(repo, outdir, pythons):
    global GDB_WORKS
    gdb = os.environ.get("HEAPDIG_GDB")
    GDB_WORKS = bool(gdb) and sh(gdb, "--version")[0] == 0
    print("gdb for 3.9-3.13 targets: %s" % (gdb if GDB_WORKS else "none"))
    os.makedirs(outdir, exist_ok=True)
    seen = set()
    chosen = []
    for py in pythons + ["/usr/bin/python3"]:
        if not os.path.exists(py):
            continue
        real = os.path.realpath(py)
        if real in seen:
            continue
        seen.add(real)
        if version(py) in ((3, 11), (3, 13), (3, 14), (3, 15)) or \
                py == "/usr/bin/python3":
            chosen.append(py)
    check("interpreters to install into", chosen, repr(pythons))
    venv_pythons = [check_venv(repo, py, outdir) for py in chosen]
    if venv_pythons and venv_pythons[0]:  # a venv has pip; a system may not
        check_wheel(repo, venv_pythons[0], outdir)
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
