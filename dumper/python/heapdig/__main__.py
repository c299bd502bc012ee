"""python -m heapdig run [options] (-m module | script.py) [args...]

Runs a program unchanged and dumps its heap when told:

  --at-exit PATH      when the program's main code ends (normally, by an
                      exception or sys.exit), while its globals still exist
  --on-signal SIG     each time the process gets SIG (USR1, USR2, a number)
  --every SECONDS     every SECONDS, from a background thread
  --rss-above MB      once, when the resident set first exceeds MB
  --path TEMPLATE     file name for --on-signal/--every/--rss-above dumps
                      (default heap-{pid}-{n}.hdig; {pid}, {n}, {time})
  --background        fork for signal/timer dumps, so the program barely pauses

The program's argv, __main__, stdin/stdout, tracebacks and exit status are
what they would be without heapdig; everything after -m MODULE or the
script is the program's.  Each dump says its file name on stderr.
"""
import atexit
import math
import os
import runpy
import signal
import sys
import threading
import time
import traceback

import heapdig

PROG = "python -m heapdig run"


class UsageError(Exception):
    pass


def _number(opt, text, positive=True):
    try:
        v = float(text)
    except ValueError:
        raise UsageError("%s takes a number of %s, not %r" % (
            opt, "seconds" if opt == "--every" else "MB", text))
    if not math.isfinite(v) or (positive and not v > 0):
        raise UsageError("%s takes a positive number, not %s" % (opt, text))
    return v


def _signal(text):
    """USR1, SIGUSR1, usr1 or 10: the signal, or a usage error."""
    name = text.upper()
    try:
        if name.isdigit():
            sig = signal.Signals(int(name))
        else:
            sig = signal.Signals[name if name.startswith("SIG") else
                                 "SIG" + name]
    except (KeyError, ValueError):
        raise UsageError("--on-signal: no signal %r here (USR1, USR2, HUP, "
                         "or a number)" % text)
    if sig in (signal.SIGKILL, signal.SIGSTOP):
        raise UsageError("--on-signal: %s cannot be caught" % sig.name)
    return sig


def _parse(argv):
    """heapdig's options, up to -m MODULE or the script: what follows is
    the program's, '-x' and '--flag' included."""
    a = {"at_exit": None, "on_signal": None, "every": None, "rss_above": None,
         "path": "heap-{pid}-{n}.hdig", "background": False, "module": None,
         "target": []}
    takes = {"--at-exit": "at_exit", "--on-signal": "on_signal",
             "--every": "every", "--rss-above": "rss_above", "--path": "path"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        opt, eq, val = arg.partition("=")
        if opt in takes:
            if not eq:
                if i + 1 == len(argv):
                    raise UsageError("%s needs a value" % opt)
                i += 1
                val = argv[i]
            a[takes[opt]] = val
        elif arg == "--background":
            a["background"] = True
        elif arg == "-m":
            if i + 1 == len(argv):
                raise UsageError("-m needs a module")
            a["module"], a["target"] = argv[i + 1], argv[i + 2:]
            break
        elif arg == "--":
            a["target"] = argv[i + 1:]
            break
        elif arg.startswith("-") and arg != "-":
            raise UsageError("unknown option %s" % arg)
        else:
            a["target"] = argv[i:]
            break
        i += 1
    if a["module"] is None and not a["target"]:
        raise UsageError("what should it run? (-m module or script.py)")
    if a["every"] is not None:
        a["every"] = _number("--every", a["every"])
    if a["rss_above"] is not None:
        a["rss_above"] = _number("--rss-above", a["rss_above"])
    if a["on_signal"] is not None:
        a["on_signal"] = _signal(a["on_signal"])
    try:  # the template's fields, checked before the program starts
        a["path"].format(pid=0, n=0, time="")
    except (KeyError, IndexError, ValueError) as e:
        raise UsageError("--path %s: not a file name template (%s; it takes "
                         "{pid}, {n} and {time})" % (a["path"], e))
    if a["at_exit"] is not None:
        # checked now: finding out when the program ends loses the dump
        if os.path.isdir(a["at_exit"]):
            raise UsageError("--at-exit %s: is a directory; give the dump's "
                             "file name" % a["at_exit"])
        where = os.path.dirname(os.path.abspath(a["at_exit"]))
        if not os.path.isdir(where) or not os.access(where, os.W_OK):
            raise UsageError("--at-exit %s: cannot write in %s" % (
                a["at_exit"], where))
    if a["module"] is None and not os.path.exists(a["target"][0]):
        raise UsageError("no such script: %s" % a["target"][0])
    return a


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _said(path):
    sys.stderr.write("heapdig: wrote %s\n" % path)
    sys.stderr.flush()


def _dump_now(a):
    """A dump to the next --path name; a background one is waited for (and
    reaped) on a thread of its own, then named."""
    # Never the program's failure: from a signal handler an exception would
    # surface at whatever line it was running (MemoryError is likely when
    # --rss-above fires).
    try:
        path = heapdig.expand_path(a["path"])
        job = heapdig.dump(path, background=a["background"])
    except Exception as e:
        sys.stderr.write("heapdig: dump failed: %s\n" % e)
        return
    if not a["background"]:
        _said(path)
        return

    def reap():
        try:
            job.wait()
            _said(path)
        except Exception as e:
            sys.stderr.write("heapdig: dump failed: %s\n" % e)
    threading.Thread(target=reap, daemon=True, name="heapdig-reap").start()


def _watch(a):
    """The timer/RSS thread: dumps from here, holding the GIL for the walk
    like any thread would; daemon, so it never delays the program's exit."""
    last = time.monotonic()
    fired = False
    while True:
        time.sleep(0.2)
        now = time.monotonic()
        if a["every"] and now - last >= a["every"]:
            last = now
            _dump_now(a)
        if a["rss_above"] and not fired and _rss_mb() > a["rss_above"]:
            fired = True
            _dump_now(a)


# Frames that are not the program's: python itself shows none of them.
_NOT_THE_PROGRAM = {os.path.abspath(__file__), runpy.__file__,
                    "<frozen runpy>"}


def _program_traceback(tb):
    """The traceback from the program's first frame on."""
    start = tb
    while tb is not None:
        f = tb.tb_frame.f_code.co_filename
        if f not in _NOT_THE_PROGRAM and os.path.abspath(f) not in \
                _NOT_THE_PROGRAM:
            return tb
        tb = tb.tb_next
    return start


def _run(a):
    """Runs the program; its module globals, kept for the --at-exit dump."""
    if a["module"]:
        sys.argv = [a["module"]] + a["target"]
        return runpy.run_module(a["module"], run_name="__main__",
                                alter_sys=True)
    script = a["target"][0]
    sys.argv = a["target"]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    return runpy.run_path(script, run_name="__main__")


def main(argv):
    if argv and argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(__doc__)
        return 0
    if not argv or argv[0] != "run":
        sys.stderr.write(__doc__)
        return 2
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0
    try:
        a = _parse(argv[1:])
    except UsageError as e:
        sys.stderr.write("%s: %s\n" % (PROG, e))
        return 2
    if a["on_signal"] is not None:
        signal.signal(a["on_signal"], lambda sig, frame: _dump_now(a))
    if a["every"] or a["rss_above"]:
        threading.Thread(target=_watch, args=(a,), daemon=True,
                         name="heapdig-watch").start()
    def dump_at_exit():
        # While an exception (SystemExit included) unwinds, its traceback
        # still holds the program's frames and globals; by atexit time they
        # are gone.
        if a["at_exit"]:
            try:  # a failed dump must not replace the program's own exit
                heapdig.dump(a["at_exit"])
                _said(a["at_exit"])
            except Exception as e:
                sys.stderr.write("heapdig: at-exit dump failed: %s\n" % e)

    try:
        kept = _run(a)
    except SystemExit:
        dump_at_exit()
        raise
    except BaseException as e:
        dump_at_exit()
        # (python prints the exception's own __traceback__, not the one
        # passed to the hook)
        e.__traceback__ = _program_traceback(e.__traceback__)
        sys.excepthook(type(e), e, e.__traceback__)
        if isinstance(e, KeyboardInterrupt):
            # as python exits on an uncaught ^C: finalized, then killed by
            # SIGINT (atexit handlers run, buffered output is written)
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        return 1
    dump_at_exit()
    del kept
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
