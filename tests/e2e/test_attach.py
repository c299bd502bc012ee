"""`heapdig attach PID` against processes that were never prepared for it.

    python test_attach.py HEAPDIG_CLI OUTDIR

Targets run with no heapdig on their path (-I: isolated mode).  For each
target interpreter of 3.14+ (this one, and sid's python3.14/3.15 when
present): a busy main thread, --foreground, eight threads churning, a main
thread asleep (timeout: nothing dumped, then or later), a target with remote
debugging disabled, and --pythonpath naming a folder without the extension.
The dump must hold what the target planted, with its chain; the target must
go on and exit with its own code, its output untouched.  On every version:
the errors (no such process, not a Python process, usage, an existing
output file) and, before 3.14, the message that says what to do instead.
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402

TARGET = r'''
import sys, threading, time
class Planted:
    pass
KEEP = {"needle": Planted()}
mode, seconds = sys.argv[1], float(sys.argv[2])
print("ready", flush=True)
if mode == "threads":
    stop = []
    def churn():
        while not stop:
            [str(i) for i in range(200)]
    ts = [threading.Thread(target=churn) for _ in range(8)]
    for t in ts:
        t.start()
if mode == "sleep":
    time.sleep(seconds)
else:
    end = time.time() + seconds
    while time.time() < end:
        sum(range(1000))
if mode == "threads":
    stop.append(1)
    for t in ts:
        t.join()
print("done", flush=True)
sys.exit(7)
'''


def start(python, outdir, mode, seconds, flags=()):
    script = os.path.join(outdir, "target.py")
    with open(script, "w") as f:
        f.write(TARGET)
    p = subprocess.Popen([python, "-I"] + list(flags) +
                         [script, mode, str(seconds)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    p.stdout.readline()  # "ready": its heap is built
    return p


def ended(p):
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


def planted_chain(db):
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "SELECT r.label FROM objects o JOIN types t ON t.id = o.type "
            "JOIN refs r ON r.dst = o.id WHERE t.name = 'Planted'").fetchall()
    finally:
        con.close()


def version(python):
    return tuple(int(x) for x in subprocess.check_output(
        [python, "-c", "import sys; print(*sys.version_info[:2])"],
        text=True).split())


def check_attach(cli, python, outdir):
    ver = "%d.%d" % version(python)
    tag = "py%s" % ver

    # a busy main thread, background (fork) dump
    p = start(python, outdir, "busy", 12)
    dump = os.path.join(outdir, "busy-%s.hdig" % ver)
    t0 = time.time()
    rc, out, err = run(cli, "attach", p.pid, "-o", dump)
    took = time.time() - t0
    check("%s busy: attach exits 0 and says where" % tag,
          rc == 0 and dump in out and "objects" in out, out + err)
    print("     attach took %.2f s" % took)
    rc_load, _, lerr = run(cli, "load", dump)
    check("%s busy: the dump loads" % tag, rc_load == 0, lerr)
    check("%s busy: it holds the planted object under KEEP['needle']" % tag,
          ("['needle']",) in planted_chain(dump + ".db"))
    check("%s busy: the target was still running" % tag, p.poll() is None)
    code, tout, terr = ended(p)
    check("%s busy: the target exits with its own code, output untouched" %
          tag, code == 7 and tout == "done\n" and terr == "",
          "%r %r %r" % (code, tout, terr))

    # --foreground
    p = start(python, outdir, "busy", 12)
    dump = os.path.join(outdir, "fg-%s.hdig" % ver)
    rc, out, err = run(cli, "attach", p.pid, "-o", dump, "--foreground")
    check("%s --foreground: dumped" % tag, rc == 0 and os.path.exists(dump),
          out + err)
    code, tout, terr = ended(p)
    check("%s --foreground: the target goes on" % tag,
          code == 7 and terr == "", "%r %r" % (code, terr))

    # eight threads churning
    p = start(python, outdir, "threads", 12)
    dump = os.path.join(outdir, "threads-%s.hdig" % ver)
    rc, out, err = run(cli, "attach", p.pid, "-o", dump)
    check("%s 8 threads: dumped" % tag, rc == 0 and os.path.exists(dump),
          out + err)
    run(cli, "load", dump)
    check("%s 8 threads: the planted object is there" % tag,
          ("['needle']",) in planted_chain(dump + ".db"))
    code, tout, terr = ended(p)
    check("%s 8 threads: the target goes on" % tag,
          code == 7 and terr == "", "%r %r" % (code, terr))

    # a main thread asleep: remote_exec waits for it; the attach times out
    # and what it left behind does nothing when the target wakes
    p = start(python, outdir, "sleep", 6)
    dump = os.path.join(outdir, "sleep-%s.hdig" % ver)
    rc, out, err = run(cli, "attach", p.pid, "-o", dump, "--timeout", "1.5")
    check("%s asleep: times out with a clear message" % tag,
          rc == 1 and "timed out" in err and "blocked" in err, err)
    code, tout, terr = ended(p)
    check("%s asleep: nothing is dumped after it wakes" % tag,
          not os.path.exists(dump), repr(os.listdir(outdir)))
    check("%s asleep: the target goes on, output untouched" % tag,
          code == 7 and tout == "done\n" and terr == "",
          "%r %r %r" % (code, tout, terr))

    # remote debugging disabled in the target (-I ignores the environment
    # variable PYTHON_DISABLE_REMOTE_DEBUG, so the option)
    p = start(python, outdir, "busy", 8, flags=["-X", "disable-remote-debug"])
    dump = os.path.join(outdir, "disabled-%s.hdig" % ver)
    rc, out, err = run(cli, "attach", p.pid, "-o", dump)
    check("%s remote debugging disabled: says so" % tag,
          rc == 1 and "not enabled" in err and "disable-remote-debug" in err
          and not os.path.exists(dump), err)
    p.kill()
    p.communicate()

    # --pythonpath without the extension for this version
    p = start(python, outdir, "busy", 8)
    empty = os.path.join(outdir, "empty")
    os.makedirs(empty, exist_ok=True)
    rc, out, err = run(cli, "attach", p.pid, "--pythonpath", empty)
    check("%s --pythonpath without the extension names the version" % tag,
          rc == 1 and ("Python %s" % ver) in err, err)
    p.kill()
    p.communicate()


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        if f.endswith((".hdig", ".db")):
            os.unlink(os.path.join(outdir, f))

    rc, out, err = run(cli, "attach", 999999)
    check("no such process", rc == 1 and "999999: no such process" in err,
          err)
    sleeper = subprocess.Popen(["sleep", "30"])
    rc, out, err = run(cli, "attach", sleeper.pid)
    check("not a Python process, says what it runs",
          rc == 1 and "not a Python process" in err and "sleep" in err, err)
    sleeper.kill()
    sleeper.wait()
    if os.getuid() == 0 and shutil.which("setpriv"):
        # Another user's process: as nobody, attach to one of root's.
        victim = subprocess.Popen([sys.executable, "-c",
                                   "import time; time.sleep(30)"])
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                            "--clear-groups", cli, "attach", str(victim.pid)],
                           capture_output=True, text=True)
        check("another user's process: permission denied, says whose",
              r.returncode == 1 and "permission denied" in r.stderr and
              "uid 0" in r.stderr, r.stderr)
        victim.kill()
        victim.wait()
    rc, out, err = run(cli, "attach", "12x")
    check("a pid that is not a number: usage, exit 2",
          rc == 2 and "not a process id" in err, err)
    rc, out, err = run(cli, "attach", os.getpid(), "--timeout", "0")
    check("--timeout 0: usage, exit 2", rc == 2, err)
    taken = os.path.join(outdir, "taken.hdig")
    open(taken, "w").close()
    rc, out, err = run(cli, "attach", os.getpid(), "-o", taken)
    check("an existing output file is never overwritten",
          rc == 1 and "exists" in err and os.path.getsize(taken) == 0, err)

    pythons = [sys.executable] + [p for p in ("/usr/bin/python3.14",
                                              "/usr/bin/python3.15")
                                  if os.path.exists(p)]
    tested = set()
    for python in pythons:
        ver = version(python)
        if ver in tested:
            continue
        tested.add(ver)
        if ver < (3, 14):
            p = start(python, outdir, "busy", 8)
            rc, out, err = run(cli, "attach", p.pid, "-o",
                               os.path.join(outdir, "old.hdig"))
            check("Python %d.%d: says attach needs 3.14 and what to do "
                  "instead" % ver, rc == 1 and "remote_exec" in err and
                  "dump_on_signal" in err and
                  not os.path.exists(os.path.join(outdir, "old.hdig")), err)
            p.kill()
            p.communicate()
        else:
            check_attach(cli, python, outdir)
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
