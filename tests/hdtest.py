"""What the Python test scripts share: named checks, a closing line ctest
and CI can read ("N passed, N failed"), and running the CLI."""
import collections
import gc
import subprocess

PASSED, FAILED = [0], []


def check(name, ok, detail="", quiet=False):
    """Records one named check; prints it (failures always)."""
    if not ok or not quiet:
        print("%s %s %s" % ("ok  " if ok else "FAIL", name, detail))
    if ok:
        PASSED[0] += 1
    else:
        FAILED.append(name)


def run(cli, *args):
    """Runs the heapdig CLI: (exit status, stdout, stderr)."""
    r = subprocess.run([cli] + [str(a) for a in args], capture_output=True,
                       text=True)
    return r.returncode, r.stdout, r.stderr


def finish():
    """Prints the closing line; returns the exit status."""
    print("%d passed, %d failed" % (PASSED[0], len(FAILED)))
    return 1 if FAILED else 0


def new_gc_objects(fn):
    """Types of the gc objects that exist after fn() and did not before."""
    gc.disable()
    before = set(map(id, gc.get_objects()))
    fn()
    new = collections.Counter(type(o).__name__ for o in gc.get_objects()
                              if id(o) not in before)
    gc.enable()
    return new
