"""The dumper checked against CPython itself (run once per interpreter).

    python oracle_dumper.py OUTDIR

Builds a heap of known shape, dumps it, decodes the dump with the independent
reader in hdformat.py and checks, against the running interpreter:
  * every object's size equals sys.getsizeof (unless flagged approximate),
    and its refcount equals sys.getrefcount - 1;
  * every strong referent gc.get_referents reports is an edge (multiset);
  * weak edges exist exactly for live weak references;
  * labels on known structures (dict key, attribute, slot, list index,
    local variable, closure cell);
  * the dump disturbs nothing: gc-visible objects and refcounts are the same
    before and after, no instance __dict__ or frame object is created.
Prints one line per check and exits 1 if any failed.
"""
import collections
import gc
import os
import sys
import types
import weakref

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hdformat  # noqa: E402
import heapdig   # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, new_gc_objects, run  # noqa: E402



# ---- the heap under test -------------------------------------------------
class Plain(object):
    def __init__(self, n):
        self.name = "plain-%d" % n
        self.payload = [n, float(n), str(n) * 3]


class Slotted(object):
    __slots__ = ("x", "y", "label")

    def __init__(self, x, y, label):
        self.x, self.y, self.label = x, y, label


class WithDict(object):
    pass


class Finalized(object):
    def __del__(self):
        pass


class MyDict(dict):
    pass


def make_closure(captured):
    def inner():
        return captured
    return inner


LEAF = "leaf-" + "x" * 50
BIG = 12345678901234567890123
# Keys a cache uses, each written in its label as repr() writes it (§6).
OTHER_KEYS = [None, True, b"raw\x00\xff", (1, "a"), ("it's", "x\n", (1.0, -3)),
              -0.5, (), (7,), float("-inf")]
ROOT = {
    "plain": [Plain(i) for i in range(20)],
    "slotted": [Slotted(i, -i, "s%d" % i) for i in range(20)],
    "leaf_holder": [0, LEAF],
    "tuple": (1, 2.5, "three", b"four", None, True),
    "ints": {1: "one", -7: "minus seven", BIG: "big"},
    "other_keys": {(1, 2): "tuple key", 2.5: "float key",
                   frozenset([1]): "frozenset key"},
    "set": {1, 2, 3, "four"},
    "frozen": frozenset(["a", "b"]),
    "bytearray": bytearray(b"abc" * 100),
    "deque": collections.deque([1, 2, 3]),
    "odict": collections.OrderedDict(a=1, b=2),
    "mydict": MyDict(k="v"),
    "closure": make_closure(["captured list"]),
    "unicode": ["héllo wörld", "日本語テキスト", "\U0001F600 emoji", "\udcff"],
    "cycle": None,
    "finalized": Finalized(),
}
for _k, _key in enumerate(OTHER_KEYS):
    ROOT["other_keys"][_key] = "value under other key %d" % _k
_a, _b = WithDict(), WithDict()
_a.peer, _b.peer = _b, _a
ROOT["cycle"] = _a
_d = WithDict()
_d.attr = "materialized"
_d.__dict__  # force a real dict on 3.11+
ROOT["materialized"] = _d
_inline = WithDict()
_inline.only_inline = "never touched __dict__"
ROOT["inline"] = _inline
TARGET = Plain(999)
WEAK_REF = weakref.ref(TARGET)
DEAD_REF = weakref.ref(Plain(-1))
PROXY = weakref.proxy(TARGET)
WVD = weakref.WeakValueDictionary()
WVD["target"] = TARGET
WKD = weakref.WeakKeyDictionary()
WKD[TARGET] = "value"


def on_collect(ref):
    pass


CALLBACK_REF = weakref.ref(TARGET, on_collect)
BOUND = TARGET.__init__


def closure_of(roots, stop=()):
    """Transitive gc.get_referents from roots: {id: obj}.  Objects of the
    `stop` types are included but not expanded."""
    seen = {}
    stack = list(roots)
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen[id(o)] = o
        if not isinstance(o, stop):
            stack.extend(gc.get_referents(o))
    return seen


def _arg_refs():
    x = object()
    return sys.getrefcount(x) - 1


# The reference sys.getrefcount's own argument adds: 1 before 3.14, 0 since
# its argument is borrowed (3.14 loads locals without a new reference).
ARG_REFS = _arg_refs()


def snapshot(live):
    """What CPython says of each object, taken just before the dump so that
    nothing the checks do afterwards (ABC caches, struct caches) can skew it.
    Plain lists and ints only: no ABC isinstance calls in here."""
    snap = {}
    for i in list(live):
        o = live[i]
        # references now: `live`, `o`, getrefcount's argument
        snap[i] = (sys.getrefcount(o) - 2 - ARG_REFS, sys.getsizeof(o),
                   sorted(map(id, gc.get_referents(o))))
    del o
    return snap


def run_dump(path, inner_local):
    """Dumps from a nested call so that a frame holds `inner_local`."""
    frames_before = sum(1 for o in gc.get_objects()
                        if type(o) is types.FrameType)
    stats = heapdig.dump(path)
    frames_after = sum(1 for o in gc.get_objects()
                       if type(o) is types.FrameType)
    return stats, frames_before, frames_after


def main(outdir):
    outdir = os.path.join(outdir, "oracle-%d.%d" % sys.version_info[:2])
    if os.path.isdir(outdir):
        for f in os.listdir(outdir):
            os.unlink(os.path.join(outdir, f))
    else:
        os.makedirs(outdir)
    path = os.path.join(outdir, "oracle-%d.%d.hdig" % sys.version_info[:2])
    local_value = ["held only by a local"]
    inline_referents_before = [type(r).__name__
                               for r in gc.get_referents(_inline)]

    # -- the oracle: CPython's view just before the dump ------------------
    gc.collect()
    live = closure_of([ROOT, TARGET, WEAK_REF, DEAD_REF, PROXY, WVD, WKD,
                       CALLBACK_REF, BOUND, sys.modules, local_value])
    snapshot(dict(list(live.items())[:50]))  # warm caches it touches
    snap = snapshot(live)
    stats, _, _ = run_dump(path, local_value)

    # -- disturbs nothing: refcounts and gc objects before/after -----------
    path2 = path + ".second"
    gc.disable()
    objs = gc.get_objects()
    ids_before = set(map(id, objs))
    before = [sys.getrefcount(o) for o in objs]
    stats2, fr_before, fr_after = run_dump(path2, local_value)
    after = [sys.getrefcount(o) for o in objs]
    changed = [(type(o).__name__, b, a) for o, b, a in zip(objs, before, after)
               if a != b]
    check("refcounts unchanged by dump", not changed, repr(changed[:5]))
    control = new_gc_objects(lambda: dict(objects=0, path=path2))
    actual = new_gc_objects(lambda: heapdig.dump(path2))
    check("no new gc objects", actual == control,
          "%r vs control %r" % (actual, control))
    check("no frame object materialised", fr_before == fr_after,
          "%d -> %d" % (fr_before, fr_after))
    inline_after = [type(r).__name__ for r in gc.get_referents(_inline)]
    check("no instance __dict__ materialised",
          inline_after == inline_referents_before, repr(inline_after))
    del objs, before, after
    gc.enable()

    st = os.stat(path)
    check("file mode 0600", st.st_mode & 0o777 == 0o600, oct(st.st_mode))
    check("stats match file", stats["bytes_written"] == st.st_size)

    d = hdformat.Dump(path)
    check("header", d.header["hexversion"] == sys.hexversion and
          d.header["pid"] == os.getpid() and
          d.header["meta"]["python_version"] == sys.version)
    check("counts", stats["objects"] == len(d.objects) and
          stats["references"] == sum(len(o.edges) for o in d.objects.values()))

    check("closure found", len(live) > 1000, str(len(live)))

    # -- every object: present, size, refcount, referents ------------------
    missing, bad_size, bad_ref, bad_edges = [], [], [], []
    for i, (refcnt, size, referents) in snap.items():
        o = live[i]
        if type(o) is types.FrameType:
            continue  # running frames change while we look
        rec = d.objects.get(i)
        if rec is None:
            missing.append(type(o).__name__)
            continue
        if not rec.flags & 0x40 and rec.size != size:
            bad_size.append((type(o).__name__, rec.size, size))
        if not rec.flags & 0x20 and rec.refcount != refcnt + 1:
            bad_ref.append((type(o).__name__, rec.refcount, refcnt + 1, i))
        strong = collections.Counter(t for t, weak, _, _ in rec.edges
                                     if not weak)
        lacking = collections.Counter(referents) - strong
        if lacking:
            bad_edges.append((type(o).__name__, len(lacking)))
            what = [type(live[t]).__name__ if t in live else "?"
                    for t in lacking]
            print("     lacking from %s %x (%d items): %s" % (
                type(o).__name__, i, len(o) if hasattr(o, "__len__") else -1,
                what[:5]), repr(o)[:300], [(hex(t), w, l) for t, w, l, _ in rec.edges], [repr(live.get(t))[:80] for t in lacking])
    check("every live object dumped", not missing,
          repr(collections.Counter(missing).most_common(5)))
    check("sizes equal sys.getsizeof", not bad_size, repr(bad_size[:8]))
    check("every gc.get_referents target is an edge", not bad_edges,
          repr(collections.Counter(bad_edges).most_common(8)))
    # Code that runs between the snapshot and the dump (the call's stack,
    # constants it loads) moves a few refcounts; our own heap must be exact.
    code_like = (type, types.ModuleType, types.FunctionType, types.CodeType,
                 types.BuiltinFunctionType)
    ours = set(i for i, o in closure_of([ROOT], stop=code_like).items()
               if not isinstance(o, code_like + (str, int, bool, float,
                                                 type(None))))
    ours_bad = [b for b in bad_ref if b[3] in ours]
    check("refcounts equal sys.getrefcount - 1 (test heap)", not ours_bad,
          "%d of %d: %r" % (len(ours_bad), len(ours), ours_bad[:8]))
    check("refcounts equal sys.getrefcount - 1 (95%% of all)",
          len(bad_ref) < len(snap) / 20,
          "%d of %d: %r" % (len(bad_ref), len(snap), bad_ref[:8]))

    # -- weak edges ----------------------------------------------------------
    weak_from = collections.defaultdict(list)
    for o in d.objects.values():
        for t, weak, _, _ in o.edges:
            if weak:
                weak_from[o.address].append(t)
    wrong = []
    for i in snap:
        o = live[i]
        if isinstance(o, (weakref.ref, weakref.ProxyType,
                          weakref.CallableProxyType)):
            if isinstance(o, weakref.ref):
                target = o()
            else:
                try:
                    target = o.__repr__.__self__
                except ReferenceError:
                    target = None
            got = weak_from.pop(i, [])
            if target is None and got:
                wrong.append(("dead ref with edge", got))
            if target is not None and got != [id(target)]:
                wrong.append((type(o).__name__, got, id(target)))
    weak_from = {(type(live[k]).__name__, k): v
                 for k, v in weak_from.items() if k in snap}
    check("weak edges exactly for live weakrefs", not wrong and not weak_from,
          repr(wrong[:3]) + repr(list(weak_from.items())[:3]))
    check("WeakValueDictionary entry is weak",
          any(t == id(TARGET) for t, w, _, _ in
              d.objects[id(WVD.data["target"])].edges if w))

    # -- labels --------------------------------------------------------------
    def labels(src, dst):
        return [(k, p) for t, w, k, p in d.objects[id(src)].edges
                if t == id(dst)]

    check("dict value labelled by str key",
          ("key_str", "leaf_holder") in labels(ROOT, ROOT["leaf_holder"]))
    check("dict key edge", ("key_obj", None) in
          labels(ROOT, [k for k in ROOT if k == "leaf_holder"][0]))
    check("dict value labelled by int key",
          ("key_int", -7) in labels(ROOT["ints"], ROOT["ints"][-7]))
    check("dict value under a tuple key: the key as repr() writes it",
          ("key_other", "(1, 2)") in labels(ROOT["other_keys"],
                                            ROOT["other_keys"][(1, 2)]))
    check("dict value under a float key: the key as repr() writes it",
          ("key_other", "2.5") in labels(ROOT["other_keys"],
                                         ROOT["other_keys"][2.5]))
    for key in OTHER_KEYS:
        want = "float(%r)" % repr(key) if key in (float("inf"), float(
            "-inf")) else repr(key)  # an expression, where repr() is none
        check("key %r is labelled as repr() writes it" % (key,),
              ("key_other", want) in labels(ROOT["other_keys"],
                                                 ROOT["other_keys"][key]),
              repr(labels(ROOT["other_keys"], ROOT["other_keys"][key])))
    check("a key with no such form is named by its type",
          ("key_other", "<frozenset>") in labels(
              ROOT["other_keys"], ROOT["other_keys"][frozenset([1])]))
    check("list index", ("index", 1) in labels(ROOT["leaf_holder"], LEAF))
    check("tuple index", ("index", 2) in labels(ROOT["tuple"], "three"))
    s0 = ROOT["slotted"][3]
    check("slot name", ("attr", "label") in labels(s0, s0.label))
    p0 = ROOT["plain"][0]
    direct = labels(p0, p0.name)
    via_dict = [] if direct else labels(p0.__dict__, p0.name)
    check("instance attribute", ("attr", "name") in direct or
          ("key_str", "name") in via_dict, repr(direct or via_dict))
    check("inline attribute (no __dict__)",
          ("attr", "only_inline") in labels(_inline, _inline.only_inline) or
          sys.version_info < (3, 11))
    check("__class__", ("attr", "__class__") in labels(p0, Plain))
    check("__dict__ of materialized instance",
          ("attr", "__dict__") in labels(_d, _d.__dict__))
    fn = ROOT["closure"]
    check("function __closure__", ("attr", "__closure__") in
          labels(fn, fn.__closure__))
    check("closure cell index", ("index", 0) in
          labels(fn.__closure__, fn.__closure__[0]))
    check("cell contents", ("attr", "cell_contents") in
          labels(fn.__closure__[0], fn.__closure__[0].cell_contents))
    check("function __code__ and __globals__",
          ("attr", "__code__") in labels(fn, fn.__code__) and
          ("attr", "__globals__") in labels(fn, fn.__globals__))
    check("type __mro__", ("attr", "__mro__") in labels(Plain, Plain.__mro__))
    check("weakref callback is a strong labelled edge",
          ("attr", "__callback__") in labels(CALLBACK_REF, on_collect) and
          [w for t, w, _, _ in d.objects[id(CALLBACK_REF)].edges
           if t == id(TARGET)] == [True])
    check("bound method __self__ and __func__",
          ("attr", "__self__") in labels(BOUND, TARGET) and
          ("attr", "__func__") in labels(BOUND, BOUND.__func__))
    check("module __dict__", ("attr", "__dict__") in
          labels(sys.modules["os"], sys.modules["os"].__dict__))
    check("lengths", d.objects[id(ROOT["plain"])].length == 20 and
          d.objects[id(ROOT)].length == len(ROOT) and
          d.objects[id(LEAF)].length == len(LEAF) and
          d.objects[id(ROOT["set"])].length == 4 and
          d.objects[id(ROOT["plain"][0])].length is None)
    # 3.12+: immortal objects; 3.11: statically allocated ones (refcount
    # 999999999); before: none.
    check("immortal flag",
          bool(d.objects[id(None)].flags & 0x20) ==
          (sys.version_info >= (3, 12)) and
          bool(d.objects[id(0)].flags & 0x20) == (sys.version_info >= (3, 11))
          and not d.objects[id(ROOT)].flags & 0x20)
    check("gc-tracked flag", d.objects[id(ROOT)].flags & 0x1 and
          not d.objects[id(LEAF)].flags & 0x1)
    check("weakref callback-free ref has one weak edge",
          d.objects[id(WEAK_REF)].edges == [(id(TARGET), True, None, None)],
          repr(d.objects[id(WEAK_REF)].edges))

    # local variable of a running frame
    lv = id(local_value)
    held = {lv} | {o.address for o in d.objects.values()
                   if o.type[1] == "cell" and
                   any(t == lv for t, _, _, _ in o.edges)}
    if sys.version_info >= (3, 11):
        # `local_value` is a cell variable of main (comprehensions below
        # capture it), so main's frame holds a cell that holds the list.
        names = [n for a, k, n in d.roots if a in held]
        check("local variable root", any("main" in n and n.endswith(
            "local local_value") for n in names), repr(names))
    else:
        found = False
        for o in d.objects.values():
            if o.type[1] == "frame":
                if ("local", "local_value") in [
                        (k, p) for t, w, k, p in o.edges if t in held]:
                    found = True
        check("local variable edge", found)
    kinds = collections.Counter(k for _, k, _ in d.roots)
    check("roots: sys.modules, builtins, frames",
          kinds["sys.modules"] == 1 and kinds["builtins"] == 1 and
          kinds["frame"] >= 2, repr(kinds))
    check("sys.modules root is sys.modules",
          [a for a, k, _ in d.roots if k == "sys.modules"] == [id(sys.modules)])

    # values
    check("str value", d.objects[id(LEAF)].value == LEAF[:64])
    check("big int value", abs(d.objects[id(BIG)].value - float(BIG)) < 1e10)
    check("unicode value", d.objects[id(ROOT["unicode"][1])].value ==
          ROOT["unicode"][1])
    check("lone surrogate value", d.objects[id(ROOT["unicode"][3])].value ==
          "\ufffd")
    check("module name value",
          d.objects[id(sys.modules["os"])].value == "os")
    check("finaliser flag", d.objects[id(ROOT["finalized"])].flags & 0x2)
    check("type flag and name", d.objects[id(Plain)].flags & 0x8 and
          d.objects[id(Plain)].value == "Plain")

    # -- options --------------------------------------------------------------
    leaf_id = id(LEAF)
    del d, snap, live
    gc.collect()
    p2 = path + ".novalues"
    heapdig.dump(p2, values=False)
    d2 = hdformat.Dump(p2)
    check("values=False records no values",
          all(o.value is None for o in d2.objects.values()))
    del d2
    p3 = path + ".short"
    heapdig.dump(p3, max_value_len=4, compression=9)
    d3 = hdformat.Dump(p3)
    check("max_value_len", d3.objects[leaf_id].value == "leaf" and
          d3.objects[leaf_id].flags & 0x400)

    # -- tracebacks: the same frames tracemalloc reports ------------------------
    import tracemalloc
    tracemalloc.start(5)
    traced = ["traced-%d" % i for i in range(3)]
    instance = Plain(7)  # a managed-dict object on 3.11+
    line = sys._getframe().f_lineno - 1
    p4 = path + ".tb"
    heapdig.dump(p4, tracebacks=True)
    want = tracemalloc.get_object_traceback(traced[1])
    tracemalloc.stop()
    d4 = hdformat.Dump(p4)
    got = d4.objects[id(traced[1])].traceback
    # FORMAT.md: most recent call first; tracemalloc's Traceback is oldest
    # first.
    check("allocation traceback = tracemalloc's",
          got is not None and want is not None and
          list(got) == [(f.filename, f.lineno) for f in want][::-1],
          "%r vs %r" % (got, want and list(want)))
    # tracemalloc's own lookup misses managed-dict objects on 3.11 (it
    # subtracts only the gc header); the dump finds them on every version.
    inst = d4.objects[id(instance)].traceback
    check("traceback of a managed-dict instance",
          inst is not None and (__file__, line) in inst, repr(inst))
    check("tracebacks deduplicated", len(d4.tracebacks) - 1 <
          sum(1 for o in d4.objects.values() if o.traceback),
          "%d tracebacks" % (len(d4.tracebacks) - 1))
    del d4

    # -- failures leave no file ------------------------------------------------
    bad = os.path.join(outdir, "no-such-dir", "x.hdig")
    try:
        heapdig.dump(bad)
        check("OSError for a bad path", False)
    except OSError:
        check("OSError for a bad path", not os.path.exists(bad))
    leftovers = [f for f in os.listdir(outdir) if f.startswith(".hdig-tmp-")]
    check("no temporary files left", not leftovers, repr(leftovers))
    check_leftovers(outdir.rstrip("/") + "-leftovers")
    return finish()


def start_time(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def check_leftovers(d):
    """A dump that died leaves its temporary file; the next dump into the
    same directory removes it once its owner process is gone, never while
    the owner lives; and the temporary name never makes a long legal name
    too long."""
    os.makedirs(d, exist_ok=True)
    # A dump killed half-way: a child dumping a large heap, SIGKILLed.
    big = [str(i) * 3 for i in range(300000)]
    pid = os.fork()
    if pid == 0:
        heapdig.dump(os.path.join(d, "killed.hdig"), compression=9)
        os._exit(0)
    import signal
    import time
    deadline = time.time() + 20
    while time.time() < deadline and not any(
            f.startswith(".hdig-tmp-%d-" % pid) for f in os.listdir(d)):
        time.sleep(0.001)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    del big
    killed = [f for f in os.listdir(d) if f.startswith(".hdig-tmp-%d-" % pid)]
    check("a killed dump leaves its temporary file", len(killed) == 1,
          repr(os.listdir(d)))
    me, my_start = os.getpid(), start_time(os.getpid())
    live = ".hdig-tmp-%d-%d-AAAAAA" % (me, my_start)         # ours, running
    reused = ".hdig-tmp-%d-%d-BBBBBB" % (me, my_start + 1)   # pid reused
    foreign = "notours.tmp"
    for name in (live, reused, foreign):
        open(os.path.join(d, name), "w").close()
    heapdig.dump(os.path.join(d, "next.hdig"))
    left = set(os.listdir(d))
    check("the next dump removes the dead dump's file",
          not set(killed) & left, repr(sorted(left)))
    check("... and one whose pid was reused by another process",
          reused not in left, repr(sorted(left)))
    check("... but never a live owner's, nor other files",
          live in left and foreign in left, repr(sorted(left)))
    long_name = os.path.join(d, "x" * 245 + ".hdig")  # 250 bytes: legal
    try:
        heapdig.dump(long_name)
        ok = os.path.exists(long_name)
    except OSError as e:
        ok = repr(e)
    check("a 250-byte file name dumps", ok is True, repr(ok))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
