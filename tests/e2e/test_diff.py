"""`heapdig diff` on three dumps of a program that leaks steadily.

    python test_diff.py HEAPDIG_CLI OUTDIR

_CACHE gains 1,000 Entry objects between each dump (a steady leak); `once`
grows only in the first interval.  The diff must rank the steady growth of
_CACHE[*] first, say where it is held in one line, and not call `once`
steady.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402

PROGRAM = """
import sys, types, heapdig
app = types.ModuleType("leakyapp")
sys.modules["leakyapp"] = app
class Entry(object):
    def __init__(self, i):
        self.i = i
        self.blob = b"x" * 200 + str(i).encode()
app._CACHE = {}
app.once = []
_ns = {}
exec("CACHE = []\\ndef handler():\\n    return CACHE\\n", _ns)
app.handler = _ns["handler"]  # its globals are in no module: __globals__
del _ns
import gc
gc.disable()
class Node(object):
    pass
class Link(object):  # a linked list that grows at its head
    def __init__(self, nxt):
        self.next = nxt
class Tree(object):  # a tree that grows a level deeper each time
    def __init__(self):
        self.children = []
class Level(object):
    pass
app.chain = None
app.tree = Tree()
# two chains 60 attributes deep, the same but for one name in the middle:
# their texts are cut, and must still differ
def long_chains():
    fork = app.deep = Level()
    for i in range(30):
        setattr(fork, "level_%02d_of_a_long_chain" % i, Level())
        fork = getattr(fork, "level_%02d_of_a_long_chain" % i)
    for side in ("left", "right"):
        o = Level()
        setattr(fork, side, o)
        for i in range(31, 60):
            setattr(o, "level_%02d_of_a_long_chain" % i, Level())
            o = getattr(o, "level_%02d_of_a_long_chain" % i)
        o.items = []
def chain_ends():
    fork = app.deep
    for i in range(30):
        fork = getattr(fork, "level_%02d_of_a_long_chain" % i)
    for side in ("left", "right"):
        o = getattr(fork, side)
        for i in range(31, 60):
            o = getattr(o, "level_%02d_of_a_long_chain" % i)
        yield o.items
long_chains()
def grow(n):
    for _ in range(n // 10):
        app.chain = Link(app.chain)
    t = app.tree
    while t.children:
        t = t.children[-1]
    t.children.extend(Tree() for _ in range(n // 100))
    for items in chain_ends():
        items.extend(bytearray(8) for _ in range(n // 100))
    start = len(app._CACHE)
    for i in range(start, start + n):
        app._CACHE["key-%d" % i] = Entry(i)
    app.handler.__globals__["CACHE"].extend(object() for _ in range(n // 10))
    for _ in range(n // 10):  # garbage: cycles nobody collects
        a, b = Node(), Node()
        a.other, b.other = b, a
grow(1000); heapdig.dump(sys.argv[1] + "/d1.hdig")
grow(1000); app.once.extend(object() for _ in range(3000))
heapdig.dump(sys.argv[1] + "/d2.hdig")
grow(1000); heapdig.dump(sys.argv[1] + "/d3.hdig")
"""


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    prog = os.path.join(outdir, "growing.py")
    with open(prog, "w") as f:
        f.write(PROGRAM)
    r = subprocess.run([sys.executable, prog, outdir], capture_output=True,
                       text=True)
    check("program ran", r.returncode == 0, r.stderr)
    dbs = []
    for i in (1, 2, 3):
        d = os.path.join(outdir, "d%d.hdig" % i)
        rc, out, err = run(cli, "load", "-q", d)
        dbs.append(d + ".db")
    rc, out, err = run(cli, "diff", *dbs, "--format", "json")
    doc = json.loads(out)
    paths, types = doc["paths"], doc["types"]
    top = paths[0]
    check("steady leak first, in one line",
          top["held_at"] == "sys.modules['leakyapp'].__dict__['_CACHE'][*]"
          and top["type"] == "Entry" and top["trend"] == "steady" and
          (top["count_1"], top["count_2"], top["count_3"]) ==
          (1000, 2000, 3000) and top["count_growth"] == 2000, repr(top))
    check("retained growth of the cache entries",
          top["retained_growth"] >= 2000 * 200, repr(top))
    once = [p for p in paths if p["held_at"].endswith("['once'][*]")]
    check("one-time growth is not steady", once and once[0]["trend"] == ""
          and paths.index(once[0]) > paths.index(top), repr(once))
    entry = [t for t in types if t["type"] == "Entry"]
    check("types: Entry grew steadily", entry and entry[0]["trend"] ==
          "steady" and entry[0]["count_growth"] == 2000, repr(entry))
    held = "sys.modules['leakyapp'].__dict__['handler'].__globals__['CACHE'][*]"
    check("a namespace reached through __globals__ keeps its keys",
          any(p["held_at"] == held and p["count_growth"] == 200
              for p in paths), repr([p["held_at"] for p in paths[:8]]))
    check("grown garbage has a row of its own",
          any(p["held_at"].startswith("(garbage") and p["type"] == "Node" and
              p["count_growth"] == 400 for p in paths),
          repr([(p["held_at"], p["type"]) for p in paths[:10]]))
    rc, out, err = run(cli, "diff", *dbs, "--by", "path", "-n", "1000",
                       "--format", "json")
    every = json.loads(out) if rc == 0 else []
    rc, out, err = run(cli, "diff", *dbs, "--by", "type", "-n", "1000",
                       "--format", "json")
    every_type = json.loads(out) if rc == 0 else []
    for by, rows in (("path", every), ("type", every_type)):
        rc, out, err = run(cli, "diff", *dbs, "--by", by, "-n", "3")
        check("diff --by %s -n 3 says how many rows it left out (%d)"
              % (by, len(rows) - 3), rc == 0 and len(rows) > 3 and
              out.rstrip().endswith("... %s more; -n to show more"
                                    % "{:,}".format(len(rows) - 3)),
              out[-300:])
    links = [p for p in every if p["type"] == "Link"]
    check("a linked list is one row however long: its recursion folded",
          len(links) == 1 and links[0]["held_at"].endswith(")+") and
          "next" in links[0]["held_at"] and
          (links[0]["count_1"], links[0]["count_3"]) == (99, 299),
          repr(links))
    check("... and its retained growth counts each link once (not the "
          "sum of the nested links' retained sizes)",
          links and links[0]["retained_growth"] < 400 * 200, repr(links))
    trees = [p for p in every if p["type"] == "Tree"]
    # 3.11+: "['tree'](.children[*])+"; 3.9's instance dicts fold one step
    # later: "['tree'].__dict__(['children'][*].__dict__)*['children'][*]"
    check("a tree growing deeper is one row: (.children[*])+",
          len(trees) == 1 and ")" in trees[0]["held_at"] and
          "children" in trees[0]["held_at"] and
          trees[0]["count_growth"] == 20, repr(trees))
    cut = [p["held_at"] for p in every if p["type"] == "bytearray"]
    check("two long chains that differ in the middle: both cut, never the "
          "same text", len(cut) == 2 and len(set(cut)) == 2 and
          all("\u2026" in c and "[#" in c and len(c) < 450 for c in cut),
          repr(cut))
    rc, out, err = run(cli, "diff", dbs[0], dbs[2], "--by", "path", "-n", "50")
    check("the table prints where it is held whole, never cut", held in out,
          out[:1500])
    rc, out, err = run(cli, "diff", dbs[0], dbs[2], "--by", "type",
                       "--format", "json")
    ranked = json.loads(out) if rc == 0 else []
    grew = {t["type"]: t for t in ranked}
    check("types rank by retained growth: Entry (which keeps its blob) above "
          "bytes, which grew more in shallow bytes",
          "Entry" in grew and "bytes" in grew and
          ranked.index(grew["Entry"]) < ranked.index(grew["bytes"]) and
          grew["bytes"]["size_growth"] > grew["Entry"]["size_growth"],
          repr([(t["type"], t["size_growth"], t["retained_growth"])
                for t in ranked[:4]]))
    for rank, col in (("size", "size_growth"), ("count", "count_growth")):
        rc, out, err = run(cli, "diff", dbs[0], dbs[2], "--by", "type",
                           "--rank", rank, "--format", "json")
        rows = json.loads(out) if rc == 0 else []
        check("--rank %s ranks types by %s" % (rank, col),
              len(rows) > 3 and [r[col] for r in rows] ==
              sorted((r[col] for r in rows), reverse=True),
              repr([(r["type"], r[col]) for r in rows[:5]]))
    rc, out, err = run(cli, "diff", dbs[0], dbs[2], "--by", "type",
                       "--rank", "size", "--format", "json")
    rows = json.loads(out) if rc == 0 else []
    check("--rank size puts bytes above Entry",
          rows and [r["type"] for r in rows].index("bytes") <
          [r["type"] for r in rows].index("Entry"),
          repr([r["type"] for r in rows[:5]]))
    rc, out, err = run(cli, "diff", dbs[0], dbs[2], "--rank", "nope")
    check("an unknown --rank is a usage error", rc == 2 and "nope" in err, err)
    rc, out, err = run(cli, "diff", dbs[0], dbs[1], "--by", "path",
                       "--format", "csv")
    lines = out.splitlines()
    check("two dumps, csv", rc == 0 and lines[0].startswith("held_at,type,") and
          any("['_CACHE'][*],Entry,1000,2000" in l for l in lines),
          "\n".join(lines[:4]))
    rc, out, err = run(cli, "diff", dbs[0], dbs[2])
    check("table output", rc == 0 and "Growth by where it is held" in out and
          "['_CACHE'][*]" in out, out[:400])
    rc, out, err = run(cli, "diff", dbs[0])
    check("usage", rc == 2, err)
    notes = os.path.join(outdir, "notes.txt")
    with open(notes, "w") as f:
        f.write("neither a dump nor a database\n")
    rc, out, err = run(cli, "diff", dbs[0], notes)
    check("not a database", rc == 1 and "heapdig" in err, err)
    rc, out, err = run(cli, "diff", os.path.join(outdir, "d1.hdig"),
                       os.path.join(outdir, "d3.hdig"), "--by", "type")
    check("dumps in place of databases (their DUMP.db, loaded already)",
          rc == 0 and "loading" not in err and "Entry" in out, err)
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
