"""Taking dumps the way production needs: background forks, signals and
`python -m heapdig run`, end to end.

    python test_triggers.py HEAPDIG_CLI OUTDIR
"""
import gc
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402

import heapdig  # noqa: E402


class Marker(object):
    pass


def query(cli, dump, sql, *params):
    rc, out, err = run(cli, "load", "-q", dump)
    if rc != 0:
        raise RuntimeError(err)
    con = sqlite3.connect(dump + ".db")
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_background(cli, outdir):
    keep = [Marker() for _ in range(1000)]
    ready, release = threading.Event(), threading.Event()

    def worker():
        thread_marker = Marker()  # held only by this thread's frame
        ready.set()
        release.wait()
        return thread_marker

    t = threading.Thread(target=worker)
    t.start()
    ready.wait()
    path = os.path.join(outdir, "background.hdig")
    try:
        t0 = time.perf_counter()
        job = heapdig.dump(path, background=True)
        returned = time.perf_counter() - t0
        later = [Marker() for _ in range(500)]  # after the fork: not dumped
        try:
            stats = job.wait(timeout=60)
        except OSError as e:
            stats = None
            check("background dump", False, str(e))
    finally:
        release.set()
        t.join()
    check("background returns at once", returned < 1.0, "%.3fs" % returned)
    check("background result", stats and stats["objects"] > 1000 and
          os.path.exists(path), repr(stats))
    n = query(cli, path, "SELECT count(*) FROM objects o JOIN types t ON "
              "t.id = o.type WHERE t.name = 'Marker'")[0][0]
    check("snapshot taken at the fork", n == len(keep) + 1,
          "%d Marker objects, want %d" % (n, len(keep) + 1))
    names = [r[0] for r in query(cli, path, "SELECT name FROM roots")]
    if sys.version_info >= (3, 11):
        check("other threads' locals in the child's dump",
              any(n.endswith("local thread_marker") for n in names),
              repr(names[-5:]))
    else:
        check("other threads' frames in the child's dump",
              sum(1 for n in names if " worker (" in n) >= 1, repr(names))
    bad = heapdig.dump(os.path.join(outdir, "missing", "x.hdig"),
                       background=True)
    try:
        bad.wait(timeout=30)
        check("background failure raises OSError", False)
    except OSError as e:
        check("background failure raises OSError", "missing" in str(e), str(e))
    del keep, later


SIGNAL_SCRIPT = """
import os, signal, sys, time
import heapdig
heapdig.dump_on_signal(signal.SIGUSR2, sys.argv[1] + "/sig-{pid}-{n}.hdig")
data = [str(i) * 10 for i in range(1000)]
os.kill(os.getpid(), signal.SIGUSR2)
time.sleep(0.05)
data.append("more")
os.kill(os.getpid(), signal.SIGUSR2)
time.sleep(0.05)
print(os.getpid())
"""


def test_signal(cli, outdir):
    script = os.path.join(outdir, "sig.py")
    with open(script, "w") as f:
        f.write(SIGNAL_SCRIPT)
    r = subprocess.run([sys.executable, script, outdir], capture_output=True,
                       text=True)
    pid = r.stdout.strip()
    files = sorted(f for f in os.listdir(outdir) if f.startswith("sig-%s-" %
                                                                 pid))
    check("dump_on_signal: one dump per signal",
          r.returncode == 0 and files == ["sig-%s-1.hdig" % pid,
                                          "sig-%s-2.hdig" % pid],
          repr(files) + r.stderr)
    for f in files:
        rc, out, err = run(cli, "load", "-q", os.path.join(outdir, f))
        check("signal dump %s loads" % f, rc == 0, err)


PROGRAM = """
import sys
cache = {i: str(i) * 20 for i in range(2000)}
print("name", __name__, "argv", sys.argv[1:], "path0",
      sys.path[0] == __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
line = sys.stdin.readline().strip()
print("read", line)
sys.exit(7)
"""


def test_run(cli, outdir):
    prog = os.path.join(outdir, "prog.py")
    with open(prog, "w") as f:
        f.write(PROGRAM)
    direct = subprocess.run([sys.executable, prog, "a", "b c"],
                            input="hello\n", capture_output=True, text=True)
    at_exit = os.path.join(outdir, "atexit.hdig")
    wrapped = subprocess.run(
        [sys.executable, "-m", "heapdig", "run", "--at-exit", at_exit, prog,
         "a", "b c"], input="hello\n", capture_output=True, text=True)
    check("run: same exit status", wrapped.returncode == direct.returncode
          == 7, "%d vs %d %s" % (wrapped.returncode, direct.returncode,
                                 wrapped.stderr))
    check("run: same stdout (argv, __main__, stdin, sys.path[0])",
          wrapped.stdout == direct.stdout, repr((wrapped.stdout,
                                                 direct.stdout)))
    n = query(cli, at_exit, "SELECT length FROM objects o JOIN refs r ON "
              "r.dst = o.id WHERE r.label = \"['cache']\"")
    check("run --at-exit dumped the program's heap", (2000,) in n, repr(n))

    # -m module: json.tool, stdin to stdout
    direct = subprocess.run([sys.executable, "-m", "json.tool"],
                            input='{"b": [1, 2]}', capture_output=True,
                            text=True)
    out2 = os.path.join(outdir, "module.hdig")
    wrapped = subprocess.run([sys.executable, "-m", "heapdig", "run",
                              "--at-exit", out2, "-m", "json.tool"],
                             input='{"b": [1, 2]}', capture_output=True,
                             text=True)
    check("run -m module", wrapped.returncode == 0 and
          wrapped.stdout == direct.stdout and os.path.exists(out2),
          wrapped.stderr)

    # --on-signal, --every, --rss-above
    sleeper = os.path.join(outdir, "sleeper.py")
    with open(sleeper, "w") as f:
        f.write(textwrap.dedent("""
            import os, signal, sys, time
            big = []
            if sys.argv[1] == "grow":
                big.append(bytearray(200 * 2**20))
            if sys.argv[1] == "signal":
                os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(float(sys.argv[2]))
            """))
    for name, opts, args, want in [
            ("on-signal", ["--on-signal", "USR1"], ["signal", "0.3"], 1),
            ("every", ["--every", "0.4"], ["idle", "1.5"], 2),
            ("rss-above", ["--rss-above", "150"], ["grow", "0.8"], 1)]:
        sub = os.path.join(outdir, name)
        os.makedirs(sub, exist_ok=True)
        for f in os.listdir(sub):
            os.unlink(os.path.join(sub, f))
        r = subprocess.run([sys.executable, "-m", "heapdig", "run", "--path",
                            os.path.join(sub, "h-{n}.hdig")] + opts +
                           [sleeper] + args, capture_output=True, text=True)
        got = [f for f in os.listdir(sub) if f.endswith(".hdig")]
        check("run --%s" % name, r.returncode == 0 and len(got) >= want and
              (name != "rss-above" or len(got) == 1), "%r %s" % (got,
                                                                 r.stderr))
    r = subprocess.run([sys.executable, "-m", "heapdig", "run"],
                       capture_output=True, text=True)
    check("run without a program", r.returncode == 2 and "what should it run"
          in r.stderr, r.stderr)
    test_run_conventions(outdir)


def heapdig_run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "heapdig"] + list(args),
                          capture_output=True, text=True, timeout=60, **kw)


def test_run_conventions(outdir):
    for args in (["--help"], ["-h"], ["run", "--help"]):
        r = heapdig_run(*args)
        check("python -m heapdig %s: usage on stdout, exit 0" % " ".join(args),
              r.returncode == 0 and "python -m heapdig run" in r.stdout,
              r.stderr)
    show = os.path.join(outdir, "show_argv.py")
    with open(show, "w") as f:
        f.write("import sys\nprint(sys.argv[1:])\n")
    r = heapdig_run("run", show, "-x", "--every", "3", "--", "-m")
    check("the program's arguments are its own, '-' ones too",
          r.returncode == 0 and r.stdout.strip() ==
          repr(["-x", "--every", "3", "--", "-m"]), r.stdout + r.stderr)
    r = heapdig_run("run", "-m", "json.tool", "--sort-keys",
                    input='{"b": 1, "a": 2}')
    check("... after -m module too", r.returncode == 0 and
          r.stdout.index('"a"') < r.stdout.index('"b"'), r.stdout + r.stderr)
    ran = os.path.join(outdir, "ran.py")
    with open(ran, "w") as f:
        f.write("print('the program ran')\n")
    for opts, what in ((["--on-signal", "SIGFOO"], "no signal"),
                       (["--on-signal", "999"], "no signal"),
                       (["--every", "0"], "positive"),
                       (["--every", "-2"], "positive"),
                       (["--every", "soon"], "number"),
                       (["--every", "inf"], "positive"),
                       (["--every", "nan"], "positive"),
                       (["--rss-above", "1e999"], "positive"),
                       (["--at-exit", outdir], "is a directory"),
                       (["--rss-above", "0"], "positive"),
                       (["--on-signal", "KILL"], "cannot be caught"),
                       (["--path", "heap-{pid.hdig"], "template"),
                       (["--path", "heap-{host}.hdig"], "template"),
                       (["--at-exit", os.path.join(outdir, "no", "such",
                                                   "dir.hdig")], "cannot")):
        r = heapdig_run("run", *opts, ran)
        check("run %s: one line, exit 2, the program not started"
              % " ".join(opts), r.returncode == 2 and what in r.stderr and
              "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1
              and "the program ran" not in r.stdout, r.stderr)
    r = heapdig_run("run", "--on-signal", "10", ran)
    check("--on-signal takes a number", r.returncode == 0 and
          "the program ran" in r.stdout, r.stderr)
    boom = os.path.join(outdir, "boom.py")
    with open(boom, "w") as f:
        f.write("def f():\n    raise ValueError('boom')\nf()\n")
    direct = subprocess.run([sys.executable, boom], capture_output=True,
                            text=True)
    at_exit = os.path.join(outdir, "boom.hdig")
    r = heapdig_run("run", "--at-exit", at_exit, boom)
    check("a program's traceback is python's own: no runpy or heapdig "
          "frames", r.returncode == direct.returncode == 1 and
          r.stderr.replace("heapdig: wrote %s\n" % at_exit, "") ==
          direct.stderr, repr((r.stderr, direct.stderr)))
    check("each dump says its file on stderr",
          "heapdig: wrote %s" % at_exit in r.stderr and
          os.path.exists(at_exit), r.stderr)
    # a dump that fails at exit (its directory went away) says so and
    # leaves the program's own exit status
    gone = os.path.join(outdir, "gone")
    os.makedirs(gone, exist_ok=True)
    quits = os.path.join(outdir, "quits.py")
    with open(quits, "w") as f:
        f.write("import os, sys\nos.rmdir(sys.argv[1])\nsys.exit(3)\n")
    r = heapdig_run("run", "--at-exit", os.path.join(gone, "x.hdig"), quits,
                    gone)
    check("a failed --at-exit dump: said, and the program's exit status kept",
          r.returncode == 3 and "at-exit dump failed" in r.stderr and
          "Traceback" not in r.stderr, repr((r.returncode, r.stderr)))
    # background dumps on a signal: the child is reaped, no zombie stays
    zombies = os.path.join(outdir, "zombies.py")
    with open(zombies, "w") as f:
        f.write(textwrap.dedent('''
            import os, signal, time
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(2.0)
            me = str(os.getpid())
            dead = 0
            for pid in os.listdir("/proc"):
                try:
                    stat = open("/proc/%s/stat" % pid).read()
                except OSError:
                    continue
                fields = stat.rsplit(")", 1)[1].split()
                if fields[1] == me and fields[0] == "Z":
                    dead += 1
            print("zombies", dead)
            '''))
    sub = os.path.join(outdir, "bg")
    os.makedirs(sub, exist_ok=True)
    r = heapdig_run("run", "--background", "--on-signal", "USR1", "--path",
                    os.path.join(sub, "bg-{n}.hdig"), zombies)
    check("background dumps are reaped: no zombies",
          r.returncode == 0 and "zombies 0" in r.stdout and
          "heapdig: wrote %s" % os.path.join(sub, "bg-1.hdig") in r.stderr,
          r.stdout + r.stderr)


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    gc.collect()
    test_background(cli, outdir)
    test_signal(cli, outdir)
    test_run(cli, outdir)
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
