"""heapdig.dump() never harms its host, whatever state the heap's objects
are in: an instance of every type that the interpreter's modules (and, with
--third-party, the installed C extension packages) expose, made with
T.__new__(T) so that __init__ never ran, made and then given an __init__
that raised, and closed/released, all in one heap, dumped in process.

C code can crash on such objects without heapdig (that is not ours to
test), so a screening child first makes every instance, closes it and
calls sys.getsizeof on it, logging each step; where the child dies, the
step is left out of the real run (and a new child carries on).  The real
run then holds every instance that can exist, and checks that
  - the dump succeeds and contains every one of them;
  - its size equals sys.getsizeof wherever that is safe to call;
  - where getsizeof crashes (an uninitialised _struct.Struct), the dump
    still holds the object, with its C layout's size flagged approximate;
  - gc objects and refcounts of the instances are unchanged.

usage: hostile_types.py OUTDIR [--third-party | --package NAME]
"""
import gc
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from hdtest import check, finish, new_gc_objects  # noqa: E402
from hdformat import Dump  # noqa: E402

# Modules that open windows, start servers, read stdin or print on import.
SKIP_MODULES = {"antigravity", "this", "idlelib", "tkinter", "turtle",
                "turtledemo", "_tkinter", "pydoc", "__main__", "__phello__",
                "lib2to3", "ensurepip", "venv", "pip", "setuptools",
                "_distutils_hack", "xxlimited", "xxlimited_35", "xxsubtype",
                "_xxtestfuzz", "_testcapi", "_testinternalcapi",
                "_testbuffer", "_testimportmultiple", "_testmultiphase",
                "_testsinglephase", "_testclinic", "_testexternalinspection",
                "_testlimitedcapi", "_testclinic_limited", "_ctypes_test",
                "_xxinterpchannels", "_xxsubinterpreters", "_interpreters",
                "_interpchannels", "_interpqueues", "_remote_debugging",
                "_pyrepl", "idle", "curses", "_curses", "_curses_panel",
                "readline", "gi", "dbus"}
THIRD_PARTY = ["numpy", "pandas", "lxml.etree", "lxml.objectify", "yaml",
               "_yaml", "psutil", "cryptography.hazmat.bindings._rust",
               "cryptography.hazmat.bindings._openssl", "PIL.Image",
               "_cffi_backend", "msgpack", "markupsafe", "brotli",
               "networkx", "objgraph", "charset_normalizer", "regex",
               "ujson", "simplejson", "google.protobuf"]
VETTED = ["builtins.type", "builtins.code", "builtins.frame",
          "builtins.bytearray", "collections.OrderedDict",
          "collections.deque", "_io.BytesIO", "_io.BufferedReader",
          "array.array", "decimal.Decimal", "itertools.product",
          "xml.etree.ElementTree.Element"]


def stdlib_modules():
    names = set(sys.builtin_module_names)
    names |= set(getattr(sys, "stdlib_module_names", ()))
    if not hasattr(sys, "stdlib_module_names"):  # 3.9
        import sysconfig
        std = sysconfig.get_paths()["stdlib"]
        for m in pkgutil.iter_modules([std, os.path.join(std, "lib-dynload")]):
            names.add(m.name)
    return sorted(n for n in names if n not in SKIP_MODULES and
                  not n.startswith("test"))


def third_party_modules():
    names = list(THIRD_PARTY)
    for base in ("/usr/lib/python3/dist-packages",):
        if base not in sys.path:
            continue
        for m in pkgutil.iter_modules([base]):
            if m.name not in SKIP_MODULES and not m.ispkg:
                names.append(m.name)  # top-level C extensions and modules
    return names


def import_all(names):
    mods = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in names:
            if n.split(".")[0] in SKIP_MODULES:
                continue
            try:
                mods.append(importlib.import_module(n))
            except BaseException:
                pass
    return mods


def all_types(mods):
    """Every class reachable from the modules or from object's subclasses,
    by qualified name (the screening child and the real run agree)."""
    found = {}

    def add(t):
        try:
            key = "%s.%s" % (t.__module__, t.__qualname__)
        except Exception:
            return
        if key not in found:
            found[key] = t
            for v in list(vars(t).values()):
                if isinstance(v, type):
                    add(v)

    stack = [object]
    while stack:
        t = stack.pop()
        if t is type:
            subs = type.__subclasses__(type)
        else:
            try:
                subs = t.__subclasses__()
            except TypeError:
                subs = []
        if "%s.%s" % (t.__module__, t.__qualname__) not in found:
            add(t)
            stack.extend(subs)
    for m in mods:
        for v in list(vars(m).values()):
            if isinstance(v, type):
                add(v)
    # tests/hostile/hostilemod.c is hostile on purpose, checked on its own.
    return {k: t for k, t in found.items() if not k.startswith("hostilemod.")}


def package_types(mods, package):
    """The classes a package defines, and those its modules expose under
    another __module__ (PyO3 classes say 'builtins'), keyed by where they
    were found."""
    found = {k: t for k, t in all_types(mods).items()
             if k.split(".")[0] == package}
    seen = set(found.values())
    stack = [m for m in mods if m.__name__.split(".")[0] == package]
    visited = set()
    while stack:
        m = stack.pop()
        if id(m) in visited:
            continue
        visited.add(id(m))
        for v in list(vars(m).values()):
            if isinstance(v, type(sys)) and v.__name__.startswith(package):
                stack.append(v)
            elif isinstance(v, type) and v not in seen:
                seen.add(v)
                found["%s.%s" % (m.__name__, v.__qualname__)] = v
    return found


def is_c(fn):
    return type(fn).__name__ in ("method_descriptor", "wrapper_descriptor",
                                 "builtin_function_or_method")


def make(t, how):
    """One instance of t in state `how`, or None."""
    o = t.__new__(t)
    if how == "init_raised":
        init = type(o).__init__
        if not is_c(init) or init is object.__init__:
            return None
        try:
            init(o, object(), object(), object(), object())
        except BaseException:
            pass
    elif how == "closed":
        for name in ("close", "release", "clear"):
            fn = getattr(type(o), name, None)
            if fn is not None and is_c(fn):
                try:
                    fn(o)
                except BaseException:
                    pass
                break
        else:
            return None
    return o


STATES = ("uninit", "init_raised", "closed")


def normal_instances():
    """Types with a vetted C __sizeof__ that __new__ alone cannot make, in
    the states their life takes them through."""
    import array
    import io
    import struct

    def gen():
        yield 1

    async def coro():
        pass

    async def agen():
        yield 1

    finished = gen()
    list(finished)
    closed = gen()
    closed.close()
    co = coro()
    co.close()
    ag = agen()
    released = memoryview(b"abc")
    released.release()
    bio = io.BytesIO(b"x" * 100)
    bio.close()
    raw = io.BytesIO(b"y" * 100)
    reader = io.BufferedReader(raw)
    reader.close()
    arr = array.array("d", range(100))
    empty_arr = array.array("b")
    return [("builtins.type", "made", type("Made", (), {"x": 1})),
            ("builtins.code", "made", compile("x + 1", "<made>", "eval")),
            ("builtins.frame", "live", sys._getframe()),
            ("builtins.generator", "fresh", gen()),
            ("builtins.generator", "finished", finished),
            ("builtins.generator", "closed", closed),
            ("builtins.coroutine", "closed", co),
            ("builtins.async_generator", "fresh", ag),
            ("builtins.memoryview", "released", released),
            ("_io.BytesIO", "closed", bio),
            ("_io.BufferedReader", "closed", reader),
            ("array.array", "made", arr),
            ("array.array", "empty", empty_arr),
            ("_struct.Struct", "made", struct.Struct("<iiq20s"))]


def screen(pairs, types, log_path):
    """Child: makes each instance and sizes it, logging before each step so
    that the parent knows where a crash happened."""
    log = open(log_path, "a", buffering=1)
    keep = []  # instances stay alive: some crash only when freed
    for key, how in pairs:
        log.write("make %s %s\n" % (key, how))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                o = make(types[key], how)
        except BaseException:
            o = None
        if o is None:
            log.write("none %s %s\n" % (key, how))
            continue
        keep.append(o)
        log.write("size %s %s\n" % (key, how))
        try:
            sys.getsizeof(o)
        except BaseException:
            pass
        log.write("sized %s %s\n" % (key, how))
    log.write("all\n")
    log.close()
    os._exit(0)


def wait_with_progress(pid, log_path, stall=30):
    """Waits for the screening child; one that writes nothing to its log for
    `stall` seconds hangs on its last step and is killed."""
    import signal
    import time
    last_size, last_change = -1, time.time()
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        size = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        if size != last_size:
            last_size, last_change = size, time.time()
        elif time.time() - last_change > stall:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        time.sleep(0.05)


def run_screen(keys, types, outdir):
    """Returns {(key, how): 'ok'|'nosize'} for every instance that exists
    (nosize: sys.getsizeof crashes on it) and {key: reason} for the types
    left out because making them crashes."""
    log_path = os.path.join(outdir, "screen.log")
    todo = [(k, h) for k in keys for h in STATES]
    result, bad = {}, {}
    for _ in range(500):
        if os.path.exists(log_path):
            os.unlink(log_path)
        pid = os.fork()
        if pid == 0:
            import resource
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            for fd in (0, 1, 2):
                os.dup2(os.open(os.devnull, os.O_RDWR), fd)
            screen(todo, types, log_path)
        wait_with_progress(pid, log_path)
        finished, last, seen = False, None, set()
        with open(log_path) as f:
            for line in f:
                parts = line.split()
                if parts[0] == "all":
                    finished = True
                    continue
                pair = (parts[1], parts[2])
                seen.add(pair)
                if parts[0] == "size":
                    result[pair] = "nosize"
                elif parts[0] == "sized":
                    result[pair] = "ok"
                last = (parts[0], pair)
        if finished:
            break
        step, pair = last
        if step == "make":  # not heapdig's to survive: leave the type out
            bad[pair[0]] = "making it %s crashes the interpreter" % pair[1]
            for k in [k for k in result if k[0] == pair[0]]:
                del result[k]
        # Carry on after the pair that crashed, in a new child.
        todo = [p for p in todo if p not in seen and p[0] not in bad]
    return result, bad


def third_party_packages():
    """Top-level names of the installed packages that are not stdlib."""
    std = set(getattr(sys, "stdlib_module_names", ())) | set(
        sys.builtin_module_names)
    return sorted({n.split(".")[0] for n in third_party_modules()} - std -
                  SKIP_MODULES)


RUNS = [0]
CONTROL = [False]  # --control: CPython's own walk where the dump would be


def control_walk():
    """What a dump does to the C heap, without heapdig: every object
    visited, and megabytes malloc'd and freed in buffers of mixed sizes."""
    for o in gc.get_objects():
        gc.get_referents(o)
    for rnd in range(20):
        bufs = [bytearray(1 << (10 + i % 11)) for i in range(64)]
        del bufs


def heap_survives_cpython():
    """Whether CPython's own walk of this heap, and the mallocs of a dump's
    size, survive in a forked copy of the process: if not, the half-made
    objects have corrupted the C heap, and whatever crashes next is not
    heapdig's doing."""
    pid = os.fork()
    if pid == 0:
        for fd in (1, 2):
            os.dup2(os.open(os.devnull, os.O_RDWR), fd)
        for o in gc.get_objects():
            gc.get_referents(o)
        junk = [bytearray(i % 5000) for i in range(100000)]
        del junk
        os._exit(0)
    return os.waitpid(pid, 0)[1] == 0


TAINTED = {}  # package -> a type of it that broke CPython without heapdig
DIED_DUMPING = {}  # package -> [(types, how, stderr)] whose dump died


def run_package(outdir, pkg, only=None, depth=0):
    """Runs one package's check in a process of its own; returns the list
    of types covered.  A run that dies is split in halves and run again,
    down to single types.  A single type whose run dies before it starts
    dumping broke CPython itself (or glibc found its heap corrupted): it is
    reported and left out, and its package is marked as one that corrupts
    the C heap.  A single type whose run dies while dumping is heapdig's
    failure, unless its package corrupts the C heap (a corrupted heap fails
    wherever the next malloc happens to be) or CPython's own walk of the
    same heap dies too (--control)."""
    import subprocess
    RUNS[0] += 1
    tag = "%s-%d" % (pkg, RUNS[0])
    argv = [sys.executable, __file__, os.path.join(outdir, tag),
            "--package", pkg]
    if only is not None:
        os.makedirs(outdir, exist_ok=True)
        listing = os.path.join(outdir, tag + ".types")
        with open(listing, "w") as f:
            f.write("\n".join(only))
        argv += ["--only", listing]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    died = r.returncode < 0 or r.returncode == 99
    dumping = "\ndumping\n" in "\n" + r.stdout
    if died:
        names = only
        if names is None:
            names = [ln.split(" ", 1)[1] for ln in r.stdout.splitlines()
                     if ln.startswith("type ")]
        if len(names) > 1:
            half = len(names) // 2
            return (run_package(outdir, pkg, names[:half], depth + 1) +
                    run_package(outdir, pkg, names[half:], depth + 1))
        how = ("corrupt C heap" if r.returncode == 99 else
               "signal %d" % -r.returncode)
        if not dumping:
            TAINTED.setdefault(pkg, names)
            print("  left out %s: its half-made objects break CPython itself "
                  "(before any dump: %s)" % (names or pkg, how))
            return []
        c = subprocess.run(argv + ["--control"], capture_output=True,
                           text=True, timeout=600)
        if c.returncode < 0:
            print("  left out %s: died in the dump, but CPython's own walk "
                  "of that heap dies too" % names)
            return []
        # Judged once the whole package has run (run_packages).
        DIED_DUMPING.setdefault(pkg, []).append((names, how, r.stderr))
        return []
    fails = [ln for ln in r.stdout.splitlines() if ln.startswith("FAIL")]
    check("package %s%s" % (pkg, " (%d types in %s)" % (len(only), tag)
                            if only else ""),
          r.returncode == 0 and not fails,
          "rc=%d %s %s" % (r.returncode, fails[:3], r.stderr[-300:]))
    return [ln.split(" ", 1)[1] for ln in r.stdout.splitlines()
            if ln.startswith("type ")] if r.returncode == 0 else []


def run_packages(outdir):
    covered = {}
    for pkg in third_party_packages():
        covered[pkg] = run_package(outdir, pkg)
        for names, how, err in DIED_DUMPING.get(pkg, []):
            if pkg in TAINTED:
                print("  left out %s: died in the dump (%s), but its package "
                      "corrupts the C heap without heapdig (%s)" % (
                          names, how, TAINTED[pkg]))
            else:
                check("package %s: %s survives the dump" % (pkg, names),
                      False, "%s %s" % (how, err[-300:]))
    want = {"numpy", "pandas", "lxml", "yaml", "psutil", "cryptography"}
    print("types covered per package: %s" % ", ".join(
        "%s %d" % (k, len(v)) for k, v in sorted(covered.items()) if v))
    check("the packages the issue names are covered",
          all(covered.get(p) for p in want),
          repr(sorted(p for p in want if not covered.get(p))))
    return finish()


def check_hostile_extension(outdir):
    """__sizeof__s that crash, hang, or answer (tests/hostile/hostilemod.c):
    the dump survives the first two, bounded in time, and measures the
    third exactly; a heap of many crashing ones stops probing after
    HD_PROBE_MAX_FAILURES children."""
    import time
    import heapdig
    try:
        import hostilemod
    except ImportError:
        check("hostilemod is built for this interpreter", False)
        return
    crashing = [hostilemod.Crashing() for _ in range(3)]
    hanging = hostilemod.Hanging()
    exact = [hostilemod.Exact() for _ in range(2)]
    path = os.path.join(outdir, "hostilemod.hdig")
    t0 = time.time()
    stats = heapdig.dump(path)
    took = time.time() - t0
    d = Dump(path)
    recs = [d.objects.get(id(o)) for o in crashing + [hanging] + exact]
    check("crashing and hanging __sizeof__s: the dump survives",
          all(r is not None for r in recs) and
          stats["probe_failures"] == 4, repr(stats))
    check("... and the hang costs one stall timeout (2 s), not more",
          took < 10, "%.1f s" % took)
    check("... their sizes are the C layout's, flagged approximate",
          all(r.flags & 0x40 and r.size == type(o).__basicsize__
              for r, o in zip(recs[:4], crashing + [hanging])),
          repr([(r.size, r.flags) for r in recs[:4]]))
    check("... while a probed __sizeof__ that answers is exact",
          all(not r.flags & 0x40 and r.size == sys.getsizeof(o)
              for r, o in zip(recs[4:], exact)),
          repr([(r.size, sys.getsizeof(o)) for r, o in zip(recs[4:], exact)]))
    del d, recs
    many = [hostilemod.Crashing() for _ in range(20)]
    t0 = time.time()
    stats = heapdig.dump(path)
    check("20 crashing __sizeof__s: probing stops after 8 children",
          stats["probe_failures"] == 8 and stats["sizes_unknown"] >= 20,
          "%r in %.1f s" % (stats, time.time() - t0))
    del many


def main(outdir, package=None, only=None):
    import heapdig
    # Half-made objects complain in __del__; that is their business.
    sys.unraisablehook = lambda unraisable: None
    os.makedirs(outdir, exist_ok=True)
    if not package:  # first, while the heap holds nothing else hostile
        check_hostile_extension(outdir)
    if package:
        mods = import_all([package] + [n for n in third_party_modules()
                                       if n.split(".")[0] == package])
        types = {k: t for k, t in package_types(mods, package).items()
                 if only is None or k in only}
        for k in sorted(types):
            print("type %s" % k, flush=True)
    else:
        mods = import_all(stdlib_modules())
        types = all_types(mods)
    keys = sorted(types)
    screened, left_out = run_screen(keys, types, outdir)
    print("%d modules, %d types, %d instances to dump, %d types left out "
          "(their C code crashes without heapdig)" %
          (len(mods), len(keys), len(screened), len(left_out)))
    for k, why in sorted(left_out.items()):
        print("  left out %s: %s" % (k, why))

    instances = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for (key, how), state in sorted(screened.items()):
            try:
                o = make(types[key], how)
            except BaseException:
                o = None
            if o is not None:
                instances[(key, how)] = (o, state)
    for key, how, o in normal_instances():
        instances[(key, how)] = (o, "ok")
    holder = [o for o, _ in instances.values()]
    path = os.path.join(outdir, "hostile.hdig")
    refs_before = [sys.getrefcount(o) for o in holder]
    kept = []  # the control keeps its dict as the dump's result is kept
    control = new_gc_objects(lambda: kept.append(dict(objects=0, path=path)))
    if package and not heap_survives_cpython():
        print("the heap is broken before any dump", flush=True)
        os._exit(99)
    if CONTROL[0]:
        print("control", flush=True)
        control_walk()
        os._exit(0)
    print("dumping", flush=True)
    result = []
    actual = new_gc_objects(lambda: result.append(heapdig.dump(path)))
    print("dumped", flush=True)
    stats = result[0]
    refs_after = [sys.getrefcount(o) for o in holder]
    check("dump of %d hostile instances succeeded" % len(holder),
          stats["objects"] > len(holder), repr(stats))
    # Shared objects (int.__new__(int) is 0) are referred to from elsewhere.
    changed = [(k, b, a) for k, b, a in zip(instances, refs_before, refs_after)
               if a != b and b < 1000]
    check("refcounts unchanged", not changed, repr(changed[:5]))
    check("no new gc objects", actual == control,
          "%r vs control %r" % (actual, control))
    leftovers = [f for f in os.listdir(outdir) if f.startswith(".hdig-tmp-")]
    check("no temporary file left", not leftovers, repr(leftovers))

    d = Dump(path)
    missing = [k for k, (o, _) in instances.items() if id(o) not in d.objects]
    check("every instance is in the dump", not missing, repr(missing[:5]))
    wrong, approx_ok = [], 0
    for (key, how), (o, state) in instances.items():
        rec = d.objects.get(id(o))
        if rec is None:
            continue
        if state == "ok":
            try:
                want = sys.getsizeof(o)
            except Exception:  # a Python-level __sizeof__ that raises
                continue
            if rec.size != want and not rec.flags & 0x40:
                wrong.append((key, how, rec.size, want))
        elif rec.flags & 0x40:
            approx_ok += 1
        else:
            wrong.append((key, how, rec.size, "getsizeof crashes: want "
                          "the approximate flag"))
    check("sizes equal sys.getsizeof where it is safe", not wrong,
          repr(wrong[:8]))
    nosize = sorted(k for k, (o, s) in instances.items() if s == "nosize")
    if not package:
        # 3.14 made Struct.__new__ safe; before, its __sizeof__ crashed.
        check("an uninitialised _struct.Struct is among them",
              ("_struct.Struct", "uninit") in instances and
              (sys.version_info >= (3, 14) or
               ("_struct.Struct", "uninit") in nosize), repr(nosize[:8]))
    check("objects whose __sizeof__ crashes are flagged approximate",
          approx_ok == len(nosize), "%d of %d" % (approx_ok, len(nosize)))
    check("the crashing __sizeof__ was survived in a probe child",
          stats["sizes_unknown"] >= len(nosize), repr(stats))
    covered = {k for k, _ in instances}
    if not package:
        check("every vetted C __sizeof__ type was tried",
              all(v in covered for v in VETTED),
              repr([v for v in VETTED if v not in covered]))
    return finish()


if __name__ == "__main__":
    if "--third-party" in sys.argv[2:]:
        sys.exit(run_packages(sys.argv[1]))
    CONTROL[0] = "--control" in sys.argv
    pkg = sys.argv[3] if sys.argv[2:3] == ["--package"] else None
    only = None
    if sys.argv[4:5] == ["--only"]:
        only = set(open(sys.argv[5]).read().split("\n"))
    status = main(sys.argv[1], pkg, only)
    sys.stdout.flush()
    # Some of these instances crash their own dealloc: leave without it.
    os._exit(status)
