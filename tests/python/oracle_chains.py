"""Chains a person reads, checked against the live process that was dumped.

    python oracle_chains.py HEAPDIG_CLI OUTDIR

Plants objects behind the holders real leaks go through (stored exceptions
with their tracebacks and the frames those keep, an lru_cache, a
functools.partial, a defaultdict's factory, property/staticmethod/
classmethod, a bound method, a builtin method's __self__, a module global
that C code also holds), dumps this process, and for each object asks
`heapdig path --format json`:
  - every hop is named, the chain starts at sys.modules (a module's globals
    read as the module's, not as a frame's or "held from outside"), and
    names the holder the way the program does (.__traceback__, .tb_next,
    .tb_frame, .f_locals['name'], .args, .default_factory, .fget, ...);
  - where the chain has a Python expression, evaluating it here gives the
    very object (id() equal to the dumped address): CPython is the oracle.
"""
import atexit
import collections
import contextvars
import functools
import gc
import json
import os
import subprocess
import sys
import threading
import types
import weakref

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish  # noqa: E402

import heapdig  # noqa: E402


class Planted:
    """What the chains lead to."""


class UpstreamError(Exception):
    pass


ERRORS = []


def fetch(i):
    secret_local = Planted()  # noqa: F841 (kept alive by the traceback)
    raise UpstreamError("upstream %d timed out" % i)


for _i in range(2):
    try:
        fetch(_i)
    except UpstreamError as _e:
        ERRORS.append(_e)
del _i


def handle():
    caller_local = Planted()  # noqa: F841 (kept alive through f_back)
    try:
        fetch(99)
    except UpstreamError as e:
        return e.__traceback__.tb_next.tb_frame  # fetch's frame only


FRAMES = [handle()]
CAUSED = ValueError("outer")
CAUSED.__cause__ = KeyError("why")  # raise ... from ...
CONTEXTED = ValueError("while handling")
CONTEXTED.__context__ = KeyError("during")  # raised in an except block


@functools.lru_cache(maxsize=None)
def summarize(key):
    return Planted()


summarize("k")


@functools.lru_cache(maxsize=8)  # bounded: results live in its links
def lookup(a, b=0):
    return Planted()


@functools.lru_cache(maxsize=8)  # results that are dicts, as the cache is
def settings(name):
    return {"v": Planted()}


settings(1)
lookup(1)
lookup("x", 2)
lookup(1)  # a hit moves its link last: the key still names its result
PARTIAL = functools.partial(print, Planted())
FACTORY_RESULT = Planted()
BY_KEY = collections.defaultdict(lambda: FACTORY_RESULT)


class Holder:
    def __init__(self):
        self.payload = Planted()

    def method(self):
        return self

    @property
    def prop(self):
        return 1

    @staticmethod
    def static():
        return 2

    @classmethod
    def clsm(cls):
        return 3


HOLDER = Holder()
DQ = collections.deque([Planted() for _ in range(70)])  # more than a block
DQ.rotate(5)
_CACHE = {("GET", "/items"): Planted(), 2.5: Planted(), None: Planted(),
          b"raw": Planted()}
IN_SET = {Planted()}  # a set's members have no name: one unnamed hop
KEYED = {Planted(): "v"}  # held as a dict's key: <key>, no expression
READ_ONLY = types.MappingProxyType({"entry": Planted()})  # a view's dict
REQUEST_ID = contextvars.ContextVar("request_id")  # held by the context
REQUEST_ID.set(Planted())
def make_hook():
    held = Planted()

    def hook():  # only atexit holds it, from C
        return held
    return hook


atexit.register(make_hook())
LOCAL = threading.local()  # a value per thread
LOCAL.val = Planted()
SHARED = Planted()
_SESSIONS = {"sess-1": SHARED}
_FORGOTTEN = [SHARED]  # a second holder: path --all shows both
BOUND = HOLDER.method
APPEND = [Planted()].append  # a builtin method: its __self__ holds the list


def on_exit():  # held by atexit from C, and by this module
    return ON_EXIT_DATA


ON_EXIT_DATA = {"payload": Planted()}
atexit.register(on_exit)


# A generator paused at its yield keeps its locals; on 3.11+ in a frame
# inside the generator, with no frame object until gi_frame is asked for
# (so the test holds the locals only weakly and never asks).
LOCALS = {}


def suspended():
    gen_local = Planted()
    LOCALS["gen"] = weakref.ref(gen_local)
    yield 1


GEN = suspended()
next(GEN)


async def waiting():  # so does a coroutine paused at an await
    coro_local = Planted()
    LOCALS["coro"] = weakref.ref(coro_local)
    await Pause()
    return coro_local


class Pause:
    def __await__(self):
        yield


CORO = waiting()
CORO.send(None)

# A generator whose function is gone: its code object is held by the
# generator alone (gi_code, a member of its C struct on 3.9/3.10; inside its
# frame on 3.11+).
_ONLY_GEN_NS = {}
exec("def only_gen():\n    yield 1\n", _ONLY_GEN_NS)
ONLY_GEN = _ONLY_GEN_NS.pop("only_gen")()

# What each planted object's chain must name (a label on it), besides being
# rooted at sys.modules.
EXPECT = [
    (lambda: ERRORS[0].__traceback__.tb_next.tb_frame.f_locals["secret_local"],
     [".__traceback__", ".tb_next", ".tb_frame", "f_locals['secret_local']"]),
    (lambda: summarize("k"), [".cache"]),
    (lambda: lookup(1), ["['lookup']", "[1]"]),
    (lambda: lookup("x", 2), ["['lookup']", "[('x', 2)]"]),
    (lambda: settings(1)["v"], ["['settings']", "[1]", "['v']"]),
    (lambda: PARTIAL.args[0], [".args", "[0]"]),
    (lambda: FACTORY_RESULT, ["['FACTORY_RESULT']"]),
    (lambda: BY_KEY.default_factory, [".default_factory"]),
    (lambda: vars(Holder)["prop"].fget, [".fget"]),
    (lambda: HOLDER.payload, ["payload"]),  # .payload, or 3.9's __dict__
    (lambda: APPEND.__self__, [".__self__"]),
    (lambda: ON_EXIT_DATA["payload"], ["['ON_EXIT_DATA']", "['payload']"]),
    (lambda: _CACHE[("GET", "/items")], ["[('GET', '/items')]"]),
    (lambda: _CACHE[2.5], ["[2.5]"]),
    (lambda: _CACHE[None], ["[None]"]),
    (lambda: _CACHE[b"raw"], ["[b'raw']"]),
    (lambda: CAUSED.__cause__, ["['CAUSED']", ".__cause__"]),
    (lambda: CONTEXTED.__context__, ["['CONTEXTED']", ".__context__"]),
    (lambda: FRAMES[0].f_back.f_locals["caller_local"],
     ["['FRAMES']", ".f_back", "f_locals['caller_local']"]),
    (lambda: vars(Holder)["clsm"].__func__, [".__func__"]),
    (lambda: LOCALS["gen"](), ["['GEN']", "f_locals['gen_local']"]),
    (lambda: LOCALS["coro"](), ["['CORO']", "f_locals['coro_local']"]),
    (lambda: ONLY_GEN.gi_code, ["['ONLY_GEN']", ".gi_code"]),
    (lambda: DQ[66], ["['DQ']", "[66]"]),
]
if sys.version_info >= (3, 10):
    EXPECT.append((lambda: vars(Holder)["static"].__func__, [".__func__"]))


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    dump = os.path.join(outdir, "chains-%d.%d.hdig" % sys.version_info[:2])
    for f in (dump, dump + ".db"):
        if os.path.exists(f):
            os.unlink(f)
    targets = [get() for get, _ in EXPECT]
    # held only by C code: a dict nothing in the heap refers to, kept alive
    # by a reference taken through the C API
    import ctypes
    c_held = {"payload_key": Planted()}
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(c_held))
    c_payload_id = id(c_held["payload_key"])  # no reference of ours to it
    del c_held
    set_in_worker, release = threading.Event(), threading.Event()
    worker_val = []

    def worker():
        LOCAL.val = Planted()
        worker_val.append(id(LOCAL.val))
        set_in_worker.set()
        release.wait()
    th = threading.Thread(target=worker)
    th.start()
    set_in_worker.wait()
    heapdig.dump(dump)
    release.set()
    th.join()
    r = subprocess.run([cli, "load", dump], capture_output=True, text=True)
    check("the dump loads", r.returncode == 0, r.stderr)
    tag = "py%d.%d" % sys.version_info[:2]
    for obj, (_, labels) in zip(targets, EXPECT):
        what = "%s %s" % (tag, labels[-1])
        r = subprocess.run([cli, "path", dump + ".db", hex(id(obj)),
                            "--format", "json"], capture_output=True,
                           text=True)
        check("%s: path finds it" % what, r.returncode == 0, r.stderr)
        if r.returncode != 0:
            continue
        chain = json.loads(r.stdout)
        hops = [s["label"] for s in chain["steps"][1:]]
        text = " ".join(hops)
        check("%s: rooted at sys.modules, every hop named" % what,
              chain["root"] == "sys.modules" and None not in hops, text)
        check("%s: names %s" % (what, ", ".join(labels)),
              all(any(l in h for h in hops) for l in labels), text)
        expr = chain["python"]
        if labels[0] in (".cache", "['lookup']", "['settings']"):
            check("%s: no Python expression (lru_cache's cache is no "
                  "attribute)" % what, expr is None, repr(expr))
            continue
        try:
            value = eval(expr, {"sys": sys})
            same = id(value) == id(obj)
        except Exception as e:  # a wrong expression is a failure
            value, same = e, False
        check("%s: the expression %s is the object" % (what, expr), same,
              repr(value)[:200])
    r = subprocess.run([cli, "path", dump + ".db", hex(id(SHARED)), "--all",
                        "10", "--format", "json"], capture_output=True,
                       text=True)
    chains = json.loads(r.stdout)["chains"] if r.returncode == 0 else []
    exprs = [c["python"] for c in chains]
    check("%s path --all: one chain through each holder, shortest first" %
          tag, len(chains) == 3 and
          [len(c["steps"]) for c in chains] ==
          sorted(len(c["steps"]) for c in chains) and
          any("_SESSIONS['sess-1']" in (e or "") for e in exprs) and
          any("_FORGOTTEN[0]" in (e or "") for e in exprs), repr(exprs))
    r = subprocess.run([cli, "path", dump + ".db", hex(id(SHARED)), "--all",
                        "10"], capture_output=True, text=True)
    rows = [l for l in r.stdout.splitlines() if l.startswith("  ")]
    check("%s path --all: each chain with its hops' types" % tag,
          r.stdout.count("(root)") == 3 and
          sum("<list 0x" in l for l in rows) >= 1 and
          sum("<Planted 0x" in l for l in rows) == 3, r.stdout[:600])
    check("%s path --all: every expression is the object" % tag,
          exprs and all(e and eval(e, {"sys": sys}) is SHARED for e in exprs),
          repr(exprs))
    r = subprocess.run([cli, "path", dump + ".db", hex(c_payload_id)],
                       capture_output=True, text=True)
    check("%s a root held by C says what it is: dict, held from outside the "
          "heap (1 ref)" % tag, r.returncode == 0 and r.stdout.startswith(
              "dict, held from outside the heap (1 ref) → ['payload_key']"),
          r.stdout[:300] + r.stderr)
    r = subprocess.run([cli, "path", dump + ".db",
                        hex(id(READ_ONLY["entry"])), "--format", "json"],
                       capture_output=True, text=True)
    chain = json.loads(r.stdout) if r.returncode == 0 else {}
    hops = [s["label"] for s in chain.get("steps", [])[1:]]
    expr = chain.get("python")
    try:
        same = expr is not None and eval(expr, {"sys": sys}) is \
            READ_ONLY["entry"]
    except Exception as e:  # a wrong expression is a failure
        same = repr(e)
    check("%s a mappingproxy's entry: ['READ_ONLY'], its dict, ['entry']; "
          "as Python READ_ONLY['entry'] (%s)" % (tag, expr),
          hops[-3:-2] == ["['READ_ONLY']"] and hops[-1:] == ["['entry']"] and
          same is True, repr(hops) + repr(same))
    r = subprocess.run([cli, "path", dump + ".db", hex(id(REQUEST_ID.get())),
                        "--format", "json"], capture_output=True, text=True)
    chain = json.loads(r.stdout) if r.returncode == 0 else {}
    hops = [s["label"] for s in chain.get("steps", [])[1:]]
    check("%s a ContextVar's value: from the thread's context, labelled "
          "[<ContextVar 'request_id'>]" % tag,
          (chain.get("root") or "").startswith("thread ") and
          (chain.get("root") or "").endswith(" context") and
          hops[-1:] == ["[<ContextVar 'request_id'>]"],
          repr(chain.get("root")) + repr(hops) + r.stderr)
    for who, ident, value in (("this thread", threading.get_ident(),
                               id(LOCAL.val)),
                              ("another thread", th.ident, worker_val[0])):
        r = subprocess.run([cli, "path", dump + ".db", hex(value), "--format",
                            "json"], capture_output=True, text=True)
        chain = json.loads(r.stdout) if r.returncode == 0 else {}
        hops = [s["label"] for s in chain.get("steps", [])[1:]]
        check("%s a threading.local's value in %s: ['LOCAL'], its dicts, "
              "[<thread %d>], ['val']" % (tag, who, ident),
              "['LOCAL']" in hops and
              hops[-2:] == ["[<thread %d>]" % ident, "['val']"],
              repr(hops) + r.stderr)
    hook = [c for c in gc.get_objects() if getattr(c, "__qualname__", "") ==
            "make_hook.<locals>.hook"][0]
    r = subprocess.run([cli, "path", dump + ".db",
                        hex(id(hook.__closure__[0].cell_contents)),
                        "--format", "json"], capture_output=True, text=True)
    chain = json.loads(r.stdout) if r.returncode == 0 else {}
    root = chain.get("root") or ""
    if sys.version_info >= (3, 10):  # atexit's list is the interpreter's
        ok = root.startswith("atexit callback #") and \
            root.endswith("(__main__.make_hook.<locals>.hook)")
    else:  # 3.9: the atexit module's state, reached through the module
        ok = root == "sys.modules" and "['atexit']" in [
            s["label"] for s in chain.get("steps", [])]
    check("%s a function only atexit holds is rooted at its callback: %s" %
          (tag, root), ok, repr(chain)[:300] + r.stderr)
    import sqlite3
    con = sqlite3.connect(dump + ".db")
    shared = con.execute("SELECT name FROM roots WHERE kind = 'interpreter' "
                         "AND (name LIKE '%(NoneType)' OR object IN (SELECT "
                         "id FROM objects WHERE length = 0))").fetchall()
    con.close()
    check("%s a missing args or kwargs (the shared () or None) is no root" %
          tag, not shared, repr(shared))
    r = subprocess.run([cli, "path", dump + ".db", hex(id(next(iter(KEYED)))),
                        "--format", "json"], capture_output=True, text=True)
    chain = json.loads(r.stdout) if r.returncode == 0 else {}
    hops = [s["label"] for s in chain.get("steps", [])[1:]]
    check("%s a dict's key object: ['KEYED'] → <key>, and no Python "
          "expression (it was '...KEYED<key>')" % tag,
          hops[-2:] == ["['KEYED']", "<key>"] and chain.get("python") is None,
          repr(hops) + repr(chain.get("python")))
    member = next(iter(IN_SET))
    r = subprocess.run([cli, "path", dump + ".db", hex(id(member))],
                       capture_output=True, text=True)
    check("%s an unnamed hop is shown as its object, once bracketed" % tag,
          r.returncode == 0 and "['IN_SET'] → <Planted 0x" in r.stdout and
          "<<" not in r.stdout and "as Python" not in r.stdout,
          r.stdout[:300] + r.stderr)
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
