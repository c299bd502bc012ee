"""python -m heapdig run [options] (-m module | script.py) [args...]

Runs a program unchanged and dumps its heap when told:

  --at-exit PATH      when the program's main code ends (normally, by an
                      exception or sys.exit), while its globals still exist
  --on-signal SIG     each time the process gets SIG (USR1, USR2, ...)
  --every SECONDS     every SECONDS, from a background thread
  --rss-above MB      once, when the resident set first exceeds MB
  --path TEMPLATE     file name for --on-signal/--every/--rss-above dumps
                      (default heap-{pid}-{n}.hdig; {pid}, {n}, {time})
  --background        fork for signal/timer dumps, so the program barely pauses

The program's argv, __main__, stdin/stdout and exit status are what they
would be without heapdig.
"""
import argparse
import os
import runpy
import signal
import sys
import threading
import time

import heapdig


def _parse(argv):
    ap = argparse.ArgumentParser(prog="python -m heapdig run",
                                 description=__doc__.split("\n\n")[1])
    ap.add_argument("--at-exit", metavar="PATH")
    ap.add_argument("--on-signal", metavar="SIG")
    ap.add_argument("--every", type=float, metavar="SECONDS")
    ap.add_argument("--rss-above", type=float, metavar="MB")
    ap.add_argument("--path", default="heap-{pid}-{n}.hdig")
    ap.add_argument("--background", action="store_true")
    ap.add_argument("-m", dest="module", metavar="MODULE")
    ap.add_argument("target", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    if a.module is None and not a.target:
        ap.error("what should it run? (-m module or script.py)")
    return a


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _watch(a):
    """The timer/RSS thread: dumps from here, holding the GIL for the walk
    like any thread would; daemon, so it never delays the program's exit."""
    last = time.monotonic()
    fired = False
    while True:
        time.sleep(0.2)
        now = time.monotonic()
        if a.every and now - last >= a.every:
            last = now
            _dump_now(a)
        if a.rss_above and not fired and _rss_mb() > a.rss_above:
            fired = True
            _dump_now(a)


def _dump_now(a):
    try:
        job = heapdig.dump(heapdig.expand_path(a.path),
                           background=a.background)
        if a.background:
            job.wait()
    except OSError as e:
        sys.stderr.write("heapdig: dump failed: %s\n" % e)


def main(argv):
    if not argv or argv[0] != "run":
        sys.stderr.write(__doc__)
        return 2
    a = _parse(argv[1:])
    if a.on_signal:
        name = a.on_signal.upper()
        sig = getattr(signal, name if name.startswith("SIG") else "SIG" + name)
        heapdig.dump_on_signal(sig, a.path, background=a.background)
    if a.every or a.rss_above:
        threading.Thread(target=_watch, args=(a,), daemon=True,
                         name="heapdig-watch").start()
    try:
        if a.module:
            sys.argv = [a.module] + a.target
            runpy.run_module(a.module, run_name="__main__", alter_sys=True)
        else:
            script = a.target[0]
            sys.argv = a.target
            sys.path[0] = os.path.dirname(os.path.abspath(script))
            runpy.run_path(script, run_name="__main__")
    finally:
        # Here, not in atexit: while an exception (SystemExit included)
        # unwinds, its traceback still holds the program's frames and
        # globals; by atexit time they are gone.
        if a.at_exit:
            heapdig.dump(a.at_exit)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
