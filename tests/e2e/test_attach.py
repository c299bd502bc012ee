"""`heapdig attach PID` against processes that were never prepared for it.

    python test_attach.py HEAPDIG_CLI OUTDIR [--gdb GDB] [PYTHON...]

Targets run with no heapdig on their path (-I: isolated mode), each in one
of the states a leaking service is found in: a busy main thread, a main
thread asleep in time.sleep, one waiting on a lock, eight threads
churning; and --foreground.  Each is attached, the dump loaded, and it must
hold what the target planted, with its chain; the target must go on (a
SIGUSR1 then ends it: its sleep or lock wait must come back intact) and
exit with its own code, its output untouched.

PYTHONs are the target interpreters (default: this one, and sid's
python3.14/3.15 when present).  3.9-3.13 are attached through gdb (GDB, or
$HEAPDIG_GDB, or gdb on PATH); 3.14+ through sys.remote_exec, with gdb
standing in where that cannot reach (a main thread asleep, remote
debugging disabled) and `--gdb none` showing what happens without it.
Always: the errors (no such process, not a Python process, another user's,
usage, an existing output file) and a gdb that fails its probe (Debian
12's 13.1 on this CPU) refused before it touches the target.
"""
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402

TARGET = r'''
import signal, sys, threading, time
class Planted:
    pass
class Stop(Exception):
    pass
KEEP = {"needle": Planted()}
stop = []
def on_usr1(sig, frame):
    stop.append(1)
    if mode in ("sleep", "lock"):
        raise Stop
signal.signal(signal.SIGUSR1, on_usr1)
mode = sys.argv[1]
if mode == "threads":
    def churn():
        while not stop:
            [str(i) for i in range(200)]
    ts = [threading.Thread(target=churn) for _ in range(8)]
    for t in ts:
        t.start()
if mode == "sigpipe":
    # A thread that keeps getting SIGPIPE (ignored, as Python sets it) while
    # the main thread sleeps: a debugger sees every one of them.
    import os
    r, w = os.pipe()
    os.close(r)
    def pipe_writer():
        while not stop:
            try:
                os.write(w, b"x")
            except BrokenPipeError:
                pass
    pw = threading.Thread(target=pipe_writer, daemon=True)
    pw.start()
    mode = "sleep"
if mode == "cblock":  # found before "ready": then the block is one call away
    import ctypes
    c_sleep = ctypes.PyDLL(None).sleep
print("ready", flush=True)
try:
    if mode == "sleep":
        time.sleep(120)
    elif mode == "nap":  # ends by itself: a signal is not let in
        time.sleep(4)
    elif mode == "cblock":  # asleep in C while holding the GIL: no way in
        c_sleep(60)
    elif mode == "lock":
        lock = threading.Lock()
        lock.acquire()
        lock.acquire(timeout=120)
    else:
        end = time.time() + 120
        while not stop and time.time() < end:
            sum(range(1000))
except Stop:
    pass
if mode == "threads":
    for t in ts:
        t.join()
print("done", flush=True)
sys.exit(7)
'''


def start(python, outdir, mode, flags=()):
    script = os.path.join(outdir, "target.py")
    with open(script, "w") as f:
        f.write(TARGET)
    p = subprocess.Popen([python, "-I"] + list(flags) + [script, mode],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    p.stdout.readline()  # "ready": its heap is built
    time.sleep(0.2)      # and it is in the state asked for
    return p


def ended(p):
    """Lets the target finish (SIGUSR1) and returns (code, stdout, stderr)."""
    if p.poll() is None:
        p.send_signal(signal.SIGUSR1)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        err += "\n(killed: it did not end on SIGUSR1)"
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


def dumped(cli, python, outdir, tag, mode, *args, flags=()):
    """Attaches a target in `mode`, checks the dump and the target."""
    p = start(python, outdir, mode, flags)
    dump = os.path.join(outdir, "%s%s-%s.hdig" % (
        mode, "".join(args).replace("-", "_"), tag.replace(" ", "_")))
    t0 = time.time()
    rc, out, err = run(cli, "attach", p.pid, "-o", dump, *args)
    took = time.time() - t0
    what = "%s %s%s" % (tag, mode, "".join(" " + a for a in args))
    check("%s: attach exits 0 and says where" % what,
          rc == 0 and dump in out and "objects" in out, out + err)
    print("     attach took %.2f s" % took)
    if rc == 0:
        rc_load, _, lerr = run(cli, "load", dump)
        check("%s: it holds the planted object under KEEP['needle']" % what,
              rc_load == 0 and ("['needle']",) in planted_chain(dump + ".db"),
              lerr)
    check("%s: the target was still running" % what, p.poll() is None)
    code, tout, terr = ended(p)
    check("%s: the target exits with its own code, output untouched" % what,
          code == 7 and tout == "done\n" and terr == "",
          "%r %r %r" % (code, tout, terr))


def check_attach(cli, python, outdir):
    ver = version(python)
    tag = "py%d.%d%s" % (ver + ("-debian" if python.startswith("/usr/")
                                else "",))
    for mode in ("busy", "sleep", "lock", "threads", "sigpipe"):
        dumped(cli, python, outdir, tag, mode)
    dumped(cli, python, outdir, tag, "busy", "--foreground")
    dumped(cli, python, outdir, tag, "sleep", "--foreground")

    if ver >= (3, 14):
        # Without gdb, remote_exec waits for an asleep main thread: the
        # attach times out and what it left does nothing when it wakes.
        p = start(python, outdir, "nap")
        dump = os.path.join(outdir, "sleep-nogdb-%s.hdig" % tag)
        rc, out, err = run(cli, "attach", p.pid, "-o", dump, "--timeout",
                           "1.5", "--gdb", "none")
        check("%s asleep, --gdb none: times out with a clear message" % tag,
              rc == 1 and "timed out" in err and "blocked" in err, err)
        code, tout, terr = p.wait(30), p.stdout.read(), p.stderr.read()
        check("%s asleep, --gdb none: nothing is dumped after it wakes" % tag,
              not os.path.exists(dump), repr(os.listdir(outdir)))
        check("%s asleep, --gdb none: the target goes on, output untouched" %
              tag, code == 7 and tout == "done\n" and terr == "",
              "%r %r %r" % (code, tout, terr))
        # remote debugging disabled (-I ignores PYTHON_DISABLE_REMOTE_DEBUG,
        # so the option): gdb stands in; without it, the message
        flags = ["-X", "disable-remote-debug"]
        dumped(cli, python, outdir, tag + " remote-debug-disabled", "busy",
               flags=flags)
        p = start(python, outdir, "busy", flags=flags)
        dump = os.path.join(outdir, "disabled-%s.hdig" % tag)
        rc, out, err = run(cli, "attach", p.pid, "-o", dump, "--gdb", "none")
        check("%s remote debugging disabled, --gdb none: says so" % tag,
              rc == 1 and "not enabled" in err and "disable-remote-debug" in
              err and not os.path.exists(dump), err)
        ended(p)

    # The target dies while heapdig waits for it (asleep in C holding the
    # GIL, so no way in can run): said so, no file left.
    p = start(python, outdir, "cblock")
    dump = os.path.join(outdir, "died-%s.hdig" % tag)
    a = subprocess.Popen([cli, "attach", str(p.pid), "-o", dump],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(3)
    p.kill()
    p.wait()
    out, err = a.communicate(timeout=60)
    check("%s the target dies during the attach: says so, leaves no file" %
          tag, a.returncode == 1 and "exited during the attach" in err and
          not os.path.exists(dump), "exit %r, %r, left %r" % (
              a.returncode, err, [f for f in os.listdir(outdir)
                                  if f.startswith("died-%s" % tag)]))
    # --pythonpath without the extension for this version
    p = start(python, outdir, "busy")
    empty = os.path.join(outdir, "empty")
    os.makedirs(empty, exist_ok=True)
    rc, out, err = run(cli, "attach", p.pid, "--pythonpath", empty)
    check("%s --pythonpath without the extension names the version" % tag,
          rc == 1 and ("Python %d.%d" % ver) in err, err)
    ended(p)


def check_probe_refusal(cli, python, outdir, gdb):
    """A gdb that cannot give a sleeping process back intact is refused
    before it touches the target; one that can, attaches."""
    p = start(python, outdir, "sleep")
    dump = os.path.join(outdir, "probe.hdig")
    rc, out, err = run(cli, "attach", p.pid, "-o", dump, "--gdb", gdb)
    code, tout, terr = ended(p)
    if rc == 0:
        check("%s passes its probe here and attaches" % gdb,
              os.path.exists(dump) and code == 7 and terr == "", out + err)
        return True
    else:
        print("     %s" % err.strip())
        check("%s fails its probe here: refused, nothing done to the target"
              % gdb, rc == 1 and "nothing was done" in err and
              "gdb" in err and not os.path.exists(dump), err)
        check("%s refused: the sleeping target's sleep is intact" % gdb,
              code == 7 and tout == "done\n" and terr == "",
              "%r %r %r" % (code, tout, terr))
        return False


def main(cli, outdir, *args):
    args = list(args)
    gdb_arg = None
    if "--gdb" in args:
        i = args.index("--gdb")
        gdb_arg = os.path.abspath(args[i + 1])
        os.environ["HEAPDIG_GDB"] = gdb_arg
        del args[i:i + 2]
    pythons = args or [sys.executable] + [
        p for p in ("/usr/bin/python3.14", "/usr/bin/python3.15")
        if os.path.exists(p)]
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
    if os.getuid() == 0 and shutil.which("unshare"):
        # From inside another PID namespace the target is not there to see.
        victim = subprocess.Popen([sys.executable, "-c",
                                   "import time; time.sleep(30)"])
        r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", cli,
                            "attach", str(victim.pid)], capture_output=True,
                           text=True)
        if r.stderr.startswith("unshare:"):
            print("     PID namespace not checked here: %s" % r.stderr.strip())
        else:
            check("from another PID namespace: no such process, says why",
                  r.returncode == 1 and "no such process" in r.stderr and
                  "PID namespace" in r.stderr, r.stderr)
        victim.kill()
        victim.wait()
    py38 = sorted(__import__("glob").glob(os.path.expanduser(
        "~/.pyenv/versions/3.8.*/bin/python3.8")))
    if py38:  # older than heapdig supports: said before anything is done
        victim = subprocess.Popen([py38[-1], "-c", "import time; time.sleep(30)"])
        time.sleep(0.2)
        rc, out, err = run(cli, "attach", victim.pid)
        check("Python 3.8: not supported, says which are",
              rc == 1 and "Python 3.8 is not supported" in err and
              "3.9 to 3.15" in err, err)
        victim.kill()
        victim.wait()
    rc, out, err = run(cli, "attach", "12x")
    check("a pid that is not a number: usage, exit 2",
          rc == 2 and "not a process id" in err, err)
    rc, out, err = run(cli, "attach", os.getpid(), "--timeout", "0")
    check("--timeout 0: usage, exit 2", rc == 2, err)
    # attach parses with the other commands' table: --opt=value, a value
    # given twice refused, strict numbers
    rc, out, err = run(cli, "attach", os.getpid(), "--timeout=2x")
    check("--timeout=2x: usage, exit 2", rc == 2 and "'2x'" in err, err)
    rc, out, err = run(cli, "attach", os.getpid(), "--gdb", "a", "--gdb", "b")
    check("--gdb given twice: usage, exit 2",
          rc == 2 and "given twice" in err, err)
    rc, out, err = run(cli, "attach", os.getpid(), "--bogus")
    check("an unknown option: usage, exit 2",
          rc == 2 and "unknown option --bogus" in err, err)
    taken = os.path.join(outdir, "taken.hdig")
    open(taken, "w").close()
    rc, out, err = run(cli, "attach", os.getpid(), "-o", taken)
    check("an existing output file is never overwritten",
          rc == 1 and "exists" in err and os.path.getsize(taken) == 0, err)

    gdb_ok = gdb_arg is not None
    old = [py for py in pythons if version(py) < (3, 14)]
    if gdb_arg is None and old and os.path.exists("/usr/bin/gdb"):
        gdb_ok = check_probe_refusal(cli, old[0], outdir, "/usr/bin/gdb")
    if gdb_ok and os.getuid() == 0 and shutil.which("setpriv"):
        # As in a container without CAP_SYS_PTRACE: root that may signal
        # another user's process but not trace it.
        victim = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534",
                                   "--clear-groups", "/usr/bin/python3", "-c",
                                   "import time; time.sleep(60)"])
        time.sleep(0.3)
        dump = os.path.join(outdir, "noptrace.hdig")
        r = subprocess.run(["setpriv", "--bounding-set=-sys_ptrace",
                            "--inh-caps=-sys_ptrace", cli, "attach",
                            str(victim.pid), "-o", dump],
                           capture_output=True, text=True)
        check("no CAP_SYS_PTRACE: permission denied, says why and the fix",
              r.returncode == 1 and "permission denied by ptrace" in r.stderr
              and "CAP_SYS_PTRACE" in r.stderr and not os.path.exists(dump),
              r.stderr)
        check("... and the target goes on", victim.poll() is None)
        victim.kill()
        victim.wait()
    rc, out, err = run(cli, "attach", os.getpid(), "--gdb", "/nonexistent/gdb")
    if version(sys.executable) < (3, 14):
        check("gdb missing: says so and how to get it", rc == 1 and
              "gdb is missing" in err and "apt-get install gdb" in err, err)
    tested = set()
    for python in pythons:
        ver = version(python)
        if os.path.realpath(python) in tested:
            continue
        tested.add(os.path.realpath(python))
        if ver >= (3, 14) or gdb_ok:
            check_attach(cli, python, outdir)
        else:
            print("     Python %d.%d: no gdb here passes its probe; attached "
                  "by the e2e_attach_gdb test with sid's" % ver)
    return finish()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
