"""The analysis commands, end to end, on a program with a known leak.

    python test_analysis.py HEAPDIG_CLI OUTDIR

An `app` module (only reachable through sys.modules) keeps a growing
_CACHE of User objects and an INDEX list; a garbage cycle with __del__ is
left for the collector; a C extension (leakmod) leaks a reference to a big
bytearray.  After dump + load the commands must say so: path (with and
without --exclude), suspects, top, types, cycles --garbage, external, show,
referrers, referents.  The chain is compared with objgraph's when objgraph is
importable (Debian's python3-objgraph).
"""
import gc
import json
import os
import subprocess
import sys
import types

import heapdig
import leakmod
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402

N_USERS = 3000




class User(object):
    def __init__(self, uid):
        self.uid = uid
        self.payload = b"p" * 1000 + str(uid).encode()


class Marker(object):
    pass


class Conn(object):
    def __init__(self, session):
        self.session = session


class Session(object):  # a cycle a person made: Session <-> Conn
    def __init__(self):
        self.conn = Conn(self)


class Finalized(object):
    def __del__(self):
        pass


def build():
    app = types.ModuleType("app")
    app._CACHE = {}
    for i in range(N_USERS):
        app._CACHE["user:%d" % i] = User(i)
    sys.modules["app"] = app
    # a set member (no name in Python) and a key two columns wide a char
    app.IN_SET = {Marker()}
    app.WIDE = {"日本語キー": Marker()}
    app.SESSIONS = [Session() for _ in range(5)]
    # a second, shorter way to it: builtins is a root
    import builtins
    builtins.RECENT = [app._CACHE["user:42"]]
    # garbage: a cycle with a finaliser, never collected before the dump
    a, b = Finalized(), Finalized()
    a.peer, b.peer = b, a
    # a C extension leaks a reference to a list holding a big buffer (a lone
    # non-gc object leaked from C is invisible to any heap walk: nothing
    # refers to it and no collector list holds it)
    leaked = [bytearray(2 * 1024 * 1024)]
    leakmod.keep(leaked)
    return (id(app._CACHE["user:42"]), id(app._CACHE), id(leaked), id(a),
            id(next(iter(app.IN_SET))), id(app.WIDE["日本語キー"]))




def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    gc.disable()
    u42, cache, leaked, garbage, member, wide = build()
    dump = os.path.join(outdir, "analysis.hdig")
    heapdig.dump(dump)
    user42 = sys.modules["app"]._CACHE["user:42"]
    objgraph_chain = None
    try:
        import objgraph
        objgraph_chain = objgraph.find_backref_chain(
            user42, objgraph.is_proper_module)
    except ImportError:
        print("skip objgraph comparison: objgraph not importable")
    gc.enable()
    db = dump + ".db"
    rc, out, err = run(cli, "load", dump)
    check("load", rc == 0, err)

    # path: shortest chain (via builtins.RECENT), then with lists excluded
    rc, out, err = run(cli, "path", db, hex(u42))
    first = out.splitlines()[0] if out else ""
    check("path", rc == 0 and first.startswith(
        "builtins → ['RECENT'] → [0] → <User"), first + err)
    rc, out, err = run(cli, "path", db, str(u42), "--exclude", "list")
    first = out.splitlines()[0] if out else ""
    check("path --exclude list", rc == 0 and first.startswith(
        "sys.modules → ['app'] → .__dict__ → ['_CACHE'] → ['user:42'] → "
        "<User"), first + err)
    rc, out, err = run(cli, "path", db, hex(u42), "--format", "json")
    doc = json.loads(out)
    labels = [s["label"] for s in doc["steps"]]
    shortest = len(labels)
    check("path json", labels[1:] == ["['RECENT']", "[0]"] and
          doc["root"] == "builtins", repr(doc))
    rc, out, err = run(cli, "path", db, hex(u42), "--exclude", "list",
                       "--format", "json")
    labels = [s["label"] for s in json.loads(out)["steps"]]
    if objgraph_chain is not None:
        # objgraph's chain starts at a module; ours at the sys.modules root
        # (one step before it).  Ours must be no longer.
        check("chain no longer than objgraph's",
              shortest <= len(objgraph_chain),
              "ours %d objects from a root, objgraph %d from a module" % (
                  shortest, len(objgraph_chain)))
    rc, out, err = run(cli, "path", db, hex(cache))
    check("path: objects on the chain line are written once, <dict 0x…>, "
          "never <<dict 0x…>>", rc == 0 and "<<" not in out and
          ">>" not in out, out[:300])
    rc, out, err = run(cli, "path", db, hex(member))
    first = out.splitlines()[0] if out else ""
    check("path: an unnamed last hop is the object, shown once",
          rc == 0 and first.endswith("→ ['IN_SET'] → <Marker 0x%x>" % member)
          and first.count("<Marker") == 1, first + err)
    rc, out, err = run(cli, "path", db, hex(wide))
    rows = [l for l in out.splitlines() if l.startswith("  ") and "<" in l]

    def column(line):  # display column where the object starts
        head = line[:line.index("<")]
        return sum(2 if "\u3000" <= ch <= "\u9fff" or
                   "\u30a0" <= ch <= "\u30ff" else 1 for ch in head)
    check("path's step table aligns a CJK label by display width",
          rc == 0 and len(rows) >= 5 and
          len({column(l) for l in rows}) == 1 and "['日本語キー']" in out,
          out)
    rc, out, err = run(cli, "path", db, hex(garbage))
    check("path of garbage says so", rc == 1 and "garbage" in err, err)

    # suspects: the accumulation point is _CACHE
    rc, out, err = run(cli, "suspects", db, "--format", "json")
    doc = json.loads(out)
    sus = doc["suspects"]
    check("suspect is the cache", sus and hex(cache) in sus[0]["object"] and
          sus[0]["holds"][0]["type"] == "User" and
          sus[0]["holds"][0]["count"] == N_USERS - 1, repr(sus[:1]))
    check("suspect chain names the variable",
          sus and "['_CACHE']" in sus[0]["chain"], repr(sus[:1]))
    rc, out, err = run(cli, "suspects", db)
    check("suspects table", rc == 0 and "Suspect 1:" in out and
          "['_CACHE']" in out, out[:300])

    # types: retained size of the set of User instances
    rc, out, err = run(cli, "types", db, "--format", "json", "-n", "200")
    users = [t for t in json.loads(out) if t["type"] == "User"]
    want = sum(sys.getsizeof(u) + sys.getsizeof(u.payload)
               for u in sys.modules["app"]._CACHE.values())
    check("types: User count and retained", users and
          users[0]["count"] == N_USERS and users[0]["retained"] >= want,
          "%r vs >= %d" % (users, want))

    # top dicts by retained include the cache
    rc, out, err = run(cli, "top", db, "--type", "dict", "-n", "5",
                       "--format", "json")
    check("top --type dict", any(r["address"] == hex(cache)
                                 for r in json.loads(out)), out[:300])

    # garbage cycle with finalisers
    rc, out, err = run(cli, "cycles", db, "--garbage", "--format", "json")
    cyc = json.loads(out)
    check("cycles --garbage", any(c["finalizers"] == 2 and
                                  c["state"] == "garbage" and
                                  "Finalized x2" in c["types"] for c in cyc),
          repr(cyc[:3]))
    rc, out, err = run(cli, "cycles", db, "-n", "1000", "--format", "json")
    cyc = json.loads(out)
    states = [c["state"] for c in cyc]
    order = {"garbage": 0, "live": 1, "backbone": 2}
    check("cycles: garbage first, the module/class backbone last",
          states and states[0] == "garbage" and "backbone" in states and
          [order[x] for x in states] == sorted(order[x] for x in states),
          repr(states[:8]))
    # a module global's instances are in the module's component (instance
    # -> class -> method -> __globals__ -> module dict): the cycles among
    # them are rows of their own, never summed up in the backbone
    mine = [c for c in cyc if "Session x1" in c["types"] and
            "Conn x1" in c["types"]]
    check("cycles: each Session <-> Conn cycle is a live row of its own, "
          "not in the backbone", len(mine) == 5 and
          all(c["state"] == "live" and c["members"] <= 4 for c in mine),
          repr(mine[:2]))
    rc, out, err = run(cli, "cycles", db, "-n", "3")
    rows = [l for l in out.splitlines()[2:] if l.strip()]
    check("cycles table: leads with garbage, sums the backbone in one line",
          rc == 0 and rows and " garbage " in rows[0] and
          "backbone" not in rows[0] and "live cycles through modules and "
          "classes" in out, out[:500])

    # external: the leaked buffer is an orphan at the top
    rc, out, err = run(cli, "external", db, "-n", "5", "--format", "json")
    ext = json.loads(out)
    check("external names the leak", ext and ext[0]["address"] ==
          hex(leaked) and ext[0]["note"] == "orphan" and
          ext[0]["retained"] >= 2 * 1024 * 1024, repr(ext[:2]))
    rc, out, err = run(cli, "external", db, "--by", "type", "--format", "csv")
    check("external --by type", rc == 0 and "list," in out, out[:200])

    # show / referrers / referents
    rc, out, err = run(cli, "show", db, hex(u42), "--format", "json")
    s = json.loads(out)
    row = s["id"]
    rc2, out2, err2 = run(cli, "show", db, "#{:,}".format(row), "--format",
                          "json")
    check("an id as tables print it (#34,606) names the same object",
          rc2 == 0 and json.loads(out2)["id"] == row, err2)
    rc2, out2, err2 = run(cli, "show", db, str(row))
    check("a bare row id is no address: the error says to write #N",
          rc2 == 1 and ("write #%d" % row) in err2, err2)
    import sqlite3
    con = sqlite3.connect(db)
    big = con.execute("SELECT max(id) FROM objects").fetchone()[0]
    con.close()
    if big >= 1000:  # a table's "34,606" pasted without its #
        rc2, out2, err2 = run(cli, "show", db, "{:,}".format(big))
        check("a row id as a table prints it, without #: the error says "
              "write #34,606", rc2 == 1 and ("write #{:,}".format(big)) in err2,
              err2)
    check("show", s["type"] == "User" and s["reachable"] is True and
          s["depth"] == 2 and s["referrers"] == 2, repr(s))
    check("show --format json: one object, flags a list of names",
          isinstance(s, dict) and isinstance(s["flags"], list) and
          "gc_type" in s["flags"] and "flag_bits" not in s, repr(s))
    rc, out, err = run(cli, "show", db, hex(garbage), "--format", "json")
    check("show --format json of garbage: reachable is false",
          rc == 0 and json.loads(out)["reachable"] is False, out + err)
    rc, out, err = run(cli, "show", db, hex(garbage))
    check("... and the table says 'no (garbage)'",
          rc == 0 and "no (garbage)" in out, out)
    rc, out, err = run(cli, "referrers", db, hex(u42), "--format", "json")
    labels = sorted(r["label"] for r in json.loads(out))
    check("referrers", labels == ["['user:42']", "[0]"], repr(labels))
    rc, out, err = run(cli, "external", db, "-n", "400", "--format", "json")
    check("no static objects with huge external counts",
          all(r["external_refs"] < 10**6 for r in json.loads(out)),
          repr([r for r in json.loads(out) if r["external_refs"] >= 10**6][:3]))
    rc, out, err = run(cli, "referents", db, hex(u42), "--format", "json")
    labels = set(r["label"] for r in json.loads(out))
    check("referents", {".payload", ".__class__"} <= labels or
          {".__dict__", ".__class__"} <= labels, repr(labels))
    rc, out, err = run(cli, "show", db, "#99999999")
    check("unknown object", rc == 1 and "no object" in err, err)
    rc, out, err = run(cli, "path", db)
    check("usage", rc == 2 and "usage" in err, err)
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
