"""mypyc's native classes against CPython: their attributes are C fields
that only getset descriptors name (mypy's own heap is two thirds such
references).  The dumper reads each field's offset from its getter's first
instructions, never calling it; this checks the names against getattr().

    python oracle_mypyc.py HEAPDIG_CLI OUTDIR

Run by Debian's python3, whose mypy is compiled by mypyc.  For objects of
mypy's own classes: every reference labelled .attr points at what
getattr(x, attr) returns (never misnamed); the object-valued attributes
that are set are named; the chain to a type held in a Var's .type reads
`.type` and its Python expression evaluates to it.
"""
import json
import os
import platform
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish  # noqa: E402

import heapdig  # noqa: E402
import mypy.nodes as nodes  # noqa: E402
import mypy.types as types  # noqa: E402


def build():
    """A few objects of mypy's classes, held by this module."""
    info = nodes.TypeInfo(nodes.SymbolTable(), nodes.ClassDef("Leak", nodes.Block([])),
                          "app")
    inst = types.Instance(info, [])
    var = nodes.Var("leak_name", inst)
    var._fullname = "app.leak_name"
    name = nodes.NameExpr("leak_name")
    name.node = var
    return [var, inst, name, info]


KEEP = build()
HOLDER = KEEP[0]  # the Var: HOLDER.type.type is the TypeInfo


def main(cli, outdir):
    if not nodes.__file__.endswith(".so"):
        print("skip: this mypy is not compiled by mypyc (%s)" % nodes.__file__)
        return 0
    if platform.machine() not in ("x86_64", "AMD64"):
        print("skip: native attributes are read on x86-64 only")
        return 0
    os.makedirs(outdir, exist_ok=True)
    dump = os.path.join(outdir, "mypyc.hdig")
    for f in (dump, dump + ".db"):
        if os.path.exists(f):
            os.unlink(f)
    heapdig.dump(dump)
    r = subprocess.run([cli, "load", "-q", dump], capture_output=True, text=True)
    check("the dump loads", r.returncode == 0, r.stderr)
    con = sqlite3.connect(dump + ".db")

    def row(obj):
        got = con.execute("SELECT id FROM objects WHERE address = ?",
                          (id(obj),)).fetchone()
        return got[0] if got else None

    for obj in KEEP:
        cls = type(obj).__name__
        refs = con.execute("SELECT r.label, o.address FROM refs r JOIN "
                           "objects o ON o.id = r.dst WHERE r.src = ? AND "
                           "r.kind = 'strong'", (row(obj),)).fetchall()
        attrs = [a for c in type(obj).__mro__
                 for a in c.__dict__.get("__mypyc_attrs__", ())]
        wrong, named, expected = [], set(), set()
        items = 0
        for label, address in refs:
            if label and label.startswith(".") and label[1:] in attrs:
                value = getattr(obj, label[1:], None)
                if id(value) != address:
                    wrong.append(label)
                named.add(label[1:])
            elif label and label.startswith(".") and label.endswith("]"):
                # an unboxed tuple's item: .__match_args__[0]
                name, _, index = label[1:-1].partition("[")
                value = getattr(obj, name, ())
                if name not in attrs or not index.isdigit() or \
                        int(index) >= len(value) or \
                        id(value[int(index)]) != address:
                    wrong.append(label)
                items += 1
        for a in attrs:
            try:
                value = getattr(obj, a)
            except AttributeError:
                continue  # not set
            if any(addr == id(value) for _, addr in refs) and \
                    not isinstance(value, (tuple, int)):  # unboxed in C
                expected.add(a)
        check("%s: every .attr is what getattr returns, every .attr[i] its "
              "item (%d items)" % (cls, items), not wrong, repr(wrong))
        if "__match_args__" in attrs and getattr(obj, "__match_args__", ()):
            check("%s: __match_args__ (an unboxed tuple) is named item by "
                  "item" % cls, items == len(obj.__match_args__),
                  "%d of %d" % (items, len(obj.__match_args__)))
        check("%s: its set object attributes are named (%d)" % (
            cls, len(expected)), expected and expected <= named,
              "missing %r" % sorted(expected - named))
    # KEEP (a list) holds it too: without lists, the way is HOLDER.type
    r = subprocess.run([cli, "path", dump + ".db", hex(id(KEEP[1])),
                        "--exclude", "list", "--format", "json"],
                       capture_output=True, text=True)
    chain = json.loads(r.stdout) if r.returncode == 0 else {}
    hops = [s["label"] for s in chain.get("steps", [])[1:]]
    check("the chain to the Instance names .type",
          hops[-2:] == ["['HOLDER']", ".type"], repr(hops) + r.stderr)
    r = subprocess.run([cli, "path", dump + ".db", hex(id(KEEP[3])),
                        "--exclude", "list", "--format", "json"],
                       capture_output=True, text=True)
    chain = json.loads(r.stdout) if r.returncode == 0 else {}
    hops = [s["label"] for s in chain.get("steps", [])[1:]]
    expr = chain.get("python")
    check("a chain through native attributes is named hop by hop",
          hops and None not in hops and any(h in (".type", ".info", ".node")
                                            for h in hops), repr(hops))
    try:
        same = expr is not None and eval(expr, {"sys": sys}) is KEEP[3]
    except Exception as e:  # a wrong expression is a failure
        same = repr(e)
    check("its Python expression is the object: %s" % expr, same is True,
          repr(same))
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
