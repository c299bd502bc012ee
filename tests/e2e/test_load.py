"""Round trip: a program's heap -> heapdig.dump -> heapdig load -> SQL.

    python test_load.py HEAPDIG_CLI OUTDIR

Asserts in SQL that the database holds what the program built: the planted
object with its size, type and labelled referrer chain from sys.modules, the
counts the dumper reported, roots, and that `heapdig summary` agrees in all
three output formats.  A truncated dump loads with exit status 3.
"""
import csv
import gzip
import io
import json
import os
import sqlite3
import subprocess
import sys

import heapdig
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402



class User(object):
    def __init__(self, uid):
        self.uid = uid
        self.email = "user%d@example.com" % uid
        self.history = [uid * 10 + k for k in range(5)]
        self.score = uid / 3.0


CACHE = {}
# bytes values as repr() writes them: its quotes and its escapes
BYTES = [b"it's", b'say "hi"', b"both ' and \"", b"tab\there\r\n\x00\x7f\xff",
         b"back\\slash"]
# A C __sizeof__ heapdig has not vetted is measured in a probe child and
# arrives in a SIZE record; on a half-made Struct it crashes the child only.
import struct  # noqa: E402
STRUCTS = {"made": struct.Struct("<iiq20s"),
           "half_made": struct.Struct.__new__(struct.Struct)}


def databases_are_input(cli, outdir, db, dump):
    """A database is checked before it is read: finished, of this schema,
    with heapdig's own views; a killed load's leftover goes away."""
    import shutil

    def changed(name, sql):
        path = os.path.join(outdir, name)
        shutil.copy(db, path)
        c = sqlite3.connect(path)
        c.executescript(sql)
        c.commit()
        c.close()
        return path

    unfinished = changed("unfinished.db",
                         "DELETE FROM meta WHERE key = 'schema_version'")
    rc, out, err = run(cli, "summary", unfinished)
    check("a database whose load never finished is refused, saying so",
          rc == 1 and "not a finished heapdig database" in err, err)
    future = changed("future.db",
                     "UPDATE meta SET value = 99 WHERE key = 'schema_version'")
    rc, out, err = run(cli, "top", future)
    check("a database of another schema is refused: load the dump again",
          rc == 1 and "schema 99" in err and "load the dump again" in err, err)
    major = changed("major99.db",
                    "UPDATE meta SET value = 99 WHERE key = 'format_major'")
    rc, out, err = run(cli, "summary", major)
    check("a database claiming a dump of format 99.x is refused",
          rc == 1 and "format 99" in err, err)
    recursive = ("AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 "
                 "FROM r) SELECT n AS name, '' AS module, 0 AS count, 0 AS "
                 "size FROM r")
    for name, view, what, says in (
            ("evil-view.db", "type_stats",
             "a redefined (recursive) view is refused, not run",
             "view type_stats"),
            ("upper-view.db", "TYPE_STATS",
             "... whatever the case of its name", "not the one")):
        path = changed(name, "DROP VIEW type_stats; CREATE VIEW %s %s"
                       % (view, recursive))
        try:
            r = subprocess.run([cli, "summary", path], capture_output=True,
                               text=True, timeout=60)
            check(what, r.returncode == 1 and says in r.stderr, r.stderr)
        except subprocess.TimeoutExpired:
            check(what, False, "summary hung")
    rc, out, err = run(cli, "diff", db, unfinished)
    check("diff checks every database it attaches",
          rc == 1 and "unfinished.db" in err and "finished" in err, err)
    # a killed load leaves DB.tmp-PID; the next load there removes it when
    # its process is gone, and leaves a live one's alone
    target = os.path.join(outdir, "again.db")
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = "%s.tmp-%d" % (target, dead.pid)
    live = "%s.tmp-%d" % (target, os.getpid())
    for p in (stale, live):
        shutil.copy(unfinished, p)
    rc, out, err = run(cli, "load", "-q", dump, "-o", target)
    check("a dead load's temporary database is removed by the next load",
          rc == 0 and not os.path.exists(stale), repr(os.listdir(outdir)))
    check("... a live one's is left alone", os.path.exists(live))
    os.unlink(live)


def many_classes(cli, outdir):
    """types.object names each type's own type object (matched by address,
    n log n: a dump of 20,000 classes used to take types x objects)."""
    code = ("import sys, heapdig\n"
            "classes = [type('K%d' % i, (), {}) for i in range(20000)]\n"
            "objs = [c() for c in classes]\n"
            "heapdig.dump(sys.argv[1])\n"
            "print(' '.join('%s=%d' % (c.__name__, id(c)) for c in classes[::997]))\n")
    dump = os.path.join(outdir, "classes.hdig")
    r = subprocess.run([sys.executable, "-c", code, dump], capture_output=True,
                       text=True, env=dict(os.environ))
    if r.returncode != 0:
        check("many classes: the program ran", False, r.stderr[-1000:])
        return
    want = dict(kv.split("=") for kv in r.stdout.split())
    rc, out, err = run(cli, "load", "-q", dump)
    c = sqlite3.connect(dump + ".db")
    got = dict(c.execute("SELECT t.name, o.address FROM types t JOIN objects "
                         "o ON o.id = t.object WHERE t.name LIKE 'K%'"))
    n = c.execute("SELECT count(*) FROM types WHERE name LIKE 'K%' AND "
                  "object IS NOT NULL").fetchone()[0]
    check("20,000 classes: each type row names its own class object",
          n == 20000 and all(got.get(k) == int(v) for k, v in want.items()),
          "%d mapped; %r" % (n, [(k, got.get(k), v) for k, v in
                                 list(want.items())[:3]]))


def peak_is_its_own(cli, outdir, dump):
    """load's peak memory is its own, not that of the process that started
    it (getrusage's ru_maxrss survives exec: loads run from a big benchmark
    process reported 93 bytes an object+reference where they took 59)."""
    ballast = b"\x01" * (1 << 30)  # resident in this process
    r = subprocess.run([cli, "load", dump, "-o", os.path.join(
        outdir, "peak.db"), "--format", "json"], capture_output=True,
        text=True)
    del ballast
    peak = json.loads(r.stdout)["peak_rss"] if r.returncode == 0 else None
    # (under ASan a load's own peak is some 400 MB: the bound is the ballast)
    check("load's peak memory is its own (%s bytes; this process holds "
          "1 GiB more)" % peak, peak is not None and 0 < peak < 1 << 30,
          r.stdout + r.stderr)


def full_disk(cli, outdir, dump, db):
    """A disk that fills during a load fails it: exit 1, says the disk is
    full (SQLite's words, or the system's for the pages heapdig writes
    itself), leaves no file, never hangs.  Tmpfs mounts of a twentieth to
    all but a page of the database's size, in a private mount namespace;
    SQLite's temporary files go there too."""
    import shutil
    if os.getuid() != 0 or not shutil.which("unshare"):
        print("     full disk not checked here: not root, or no unshare")
        return
    full = os.path.join(outdir, "full")
    os.makedirs(full, exist_ok=True)
    size = os.path.getsize(db)
    sizes = sorted({size * k // 10 for k in range(1, 10)} |
                   {size - 65536, size // 20})
    script = 'for s in %s; do mount -t tmpfs -o size=$s tmpfs "$1" || ' \
             'exit 99; SQLITE_TMPDIR="$1" timeout 60 "$2" load "$3" ' \
             '-o "$1/x.db" 2>"$4/full-$s.err" >/dev/null; echo "$s $? ' \
             '$(ls -A "$1" | tr "\\n" " ")"; umount "$1"; done' % (
                 " ".join(str(s) for s in sizes))
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh",
                        "-c", script, "sh", full, cli, dump, outdir],
                       capture_output=True, text=True)
    if r.stderr.startswith(("unshare:", "mount:")):
        # a chroot (the sid root) cannot make a private namespace; the
        # host's run of this test checks it
        print("     full disk not checked here: %s" % r.stderr.strip())
        return
    bad = []
    for line in r.stdout.splitlines():
        s, rc, left = (line.split(None, 2) + [""])[:3]
        err = open(os.path.join(outdir, "full-%s.err" % s)).read()
        if rc != "1" or not ("full" in err or "No space left" in err) \
                or left.strip():
            bad.append((s, rc, left, err.strip()[-200:]))
    check("a disk filling at %d points of a %d-byte load: each exits 1, "
          "says the disk is full, leaves nothing" % (len(sizes), size),
          r.returncode == 0 and len(r.stdout.splitlines()) == len(sizes)
          and not bad, "%r %r" % (bad, r.stderr))


def file_size_limit(cli, outdir):
    """A load that outgrows a file size limit ends cleanly wherever it is:
    in SQLite's part (the schema, the small tables' rows) or in the b-trees
    written page by page (bulk.c).  A heap of far more references than
    objects, the limit swept from a few pages to just below the whole
    database: each load exits 1 with the writer's error (the page writer's
    names the byte), leaves no file, and both writers are among them."""
    import resource
    import signal
    wide = [[None] * 20000 for _ in range(30)]  # 600,000 references
    dump = os.path.join(outdir, "wide.hdig")
    heapdig.dump(dump)
    del wide
    whole = os.path.join(outdir, "wide.db")
    r = subprocess.run([cli, "load", dump, "-o", whole], capture_output=True,
                       text=True)
    size = os.path.getsize(whole) if r.returncode == 0 else 0
    if size:  # 600 k references: deep b-trees
        con = sqlite3.connect(whole)
        check("integrity_check of a 600 k-reference load",
              con.execute("PRAGMA integrity_check").fetchall() == [("ok",)])
        con.close()

    def limit(n):
        def set_limit():  # EFBIG, not SIGXFSZ, past the limit
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
        return set_limit
    seen, bad = set(), []
    points = [65536 * 4] + [size * k // 20 for k in range(1, 20)]
    for k, n in enumerate(points):
        out = os.path.join(outdir, "limited-%d.db" % k)
        r = subprocess.run([cli, "load", dump, "-o", out],
                           capture_output=True, text=True, timeout=120,
                           preexec_fn=limit(n))
        left = [f for f in os.listdir(outdir)
                if f.startswith("limited-%d.db" % k)]
        # each limit is below the database's size: every load must fail
        for where in ("load: SQLite: ",
                      "load: writing the objects and references: cannot "
                      "write"):
            if where in r.stderr:
                seen.add(where)
        if r.returncode != 1 or not ("SQLite" in r.stderr or
                                     "too large" in r.stderr) or left or \
                "malformed" in r.stderr or \
                ("cannot write" in r.stderr and "at byte" not in r.stderr):
            bad.append((n, r.returncode, r.stderr.strip(), left))
    check("a file size limit at %d points of a %d-byte load: each exits 1 "
          "with the writer's error and leaves nothing, failing in SQLite's "
          "part and in the page writer's (%s)"
          % (len(points), size, "; ".join(sorted(seen))),
          size > 0 and not bad and len(seen) == 2, repr(bad))


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    for i in range(1000):
        CACHE["user:%d" % i] = User(i)
    planted = CACHE["user:42"]
    dump = os.path.join(outdir, "roundtrip.hdig")
    db = dump + ".db"
    stats = heapdig.dump(dump)

    peak_is_its_own(cli, outdir, dump)
    r = subprocess.run([cli, "load", dump], capture_output=True, text=True)
    check("load exits 0", r.returncode == 0, r.stderr)
    check("load reports counts", "objects" in r.stdout, r.stdout)
    con = sqlite3.connect(db)
    q = lambda sql, *a: con.execute(sql, a).fetchall()  # noqa: E731
    meta = dict(q("SELECT key, value FROM meta"))
    check("meta objects = dumper's count", meta["objects"] == stats["objects"],
          "%r vs %r" % (meta["objects"], stats["objects"]))
    check("meta refs = dumper's count", meta["refs"] == stats["references"])
    check("no dangling references", meta["dangling_refs"] == 0)
    check("meta python_version", meta["python_version"] == sys.version)
    check("meta pid", meta["pid"] == os.getpid())
    check("objects rows", q("SELECT count(*) FROM objects")[0][0] ==
          stats["objects"])
    check("refs rows", q("SELECT count(*) FROM refs")[0][0] ==
          stats["references"])
    # the objects' and edges' b-trees are written page by page (store/bulk.c)
    check("SQLite's integrity_check passes",
          q("PRAGMA integrity_check") == [("ok",)],
          repr(q("PRAGMA integrity_check")[:5]))

    row = q("SELECT o.id, t.name, t.module, o.size FROM objects o "
            "JOIN types t ON t.id = o.type WHERE o.address = ?", id(planted))
    check("planted object found by address", len(row) == 1, repr(row))
    oid, tname, tmod, size = row[0]
    check("its type", (tname, tmod) == ("User", "__main__"), repr(row))
    check("its size = sys.getsizeof", size == sys.getsizeof(planted))
    sizes = dict((k, q("SELECT size, flags & 64 FROM objects WHERE address = ?",
                       id(v))[0]) for k, v in STRUCTS.items())
    check("probed size (SIZE record) = sys.getsizeof",
          sizes["made"] == (sys.getsizeof(STRUCTS["made"]), 0), repr(sizes))
    check("a size the probe could not measure is flagged approximate",
          sizes["half_made"][1] == 64 and
          stats["sizes_unknown"] >= 1 and stats["sizes_probed"] >= 1,
          "%r %r" % (sizes, stats))
    held_by = q("SELECT label, kind FROM refs r JOIN objects s ON s.id = r.src"
                " WHERE r.dst = ? AND s.address = ?", oid, id(CACHE))
    check("held by CACHE under ['user:42']",
          held_by == [("['user:42']", "strong")], repr(held_by))
    email = q("SELECT d.value FROM refs r JOIN objects d ON d.id = r.dst "
              "WHERE r.src = ? AND r.label IN ('.email', '.__dict__')", oid)
    check("attribute edge labelled", any(e[0] == planted.email or e[0] is None
                                         for e in email), repr(email))

    vals = dict(q("SELECT d.value, d.value FROM objects d WHERE d.address IN "
                  "(?, ?, ?)", id(planted.score), id(CACHE["user:3"].score),
                  id(planted.uid)))
    check("float values as Python's repr", repr(planted.score) in vals and
          repr(CACHE["user:3"].score) in vals, repr(vals))
    check("int value", "42" in vals, repr(vals))
    got = [v for (v,) in [q("SELECT value FROM objects WHERE address = ?",
                            id(b))[0] for b in BYTES]]
    check("bytes values are repr() of them, quotes and escapes alike",
          got == [repr(b) for b in BYTES], repr(got))

    # The chain a person would follow, by recursive SQL from the sys.modules
    # root to the planted object (shortest, labels concatenated).
    chain = q("""
        WITH RECURSIVE walk(id, path, depth) AS (
            SELECT object, 'sys.modules', 0 FROM roots WHERE kind = 'sys.modules'
            UNION
            SELECT r.dst, walk.path || r.label, walk.depth + 1
            FROM walk JOIN refs r ON r.src = walk.id
            WHERE walk.depth < 4 AND r.kind = 'strong' AND r.label IS NOT NULL
              AND r.label != '<key>')
        SELECT path FROM walk WHERE id = ? ORDER BY depth LIMIT 1""", oid)
    want = ["sys.modules['__main__'].__dict__['CACHE']['user:42']",
            "sys.modules['__main__'].__dict__['CACHE']['user:42']"]
    check("labelled chain from sys.modules", chain and chain[0][0] in want,
          repr(chain))
    # where it is held, as the paths view writes it out of the signature
    # tree (a data dict's keys are [*]; a module's keep their names)
    held = q("SELECT p.signature FROM objects o JOIN paths p ON p.id = "
             "o.path WHERE o.address = ?", id(planted))
    check("paths: the signature of a cached object",
          held == [("sys.modules['__main__'].__dict__['CACHE'][*]",)],
          repr(held))

    roots = q("SELECT r.kind, o.address FROM roots r JOIN objects o "
              "ON o.id = r.object")
    check("sys.modules root", ("sys.modules", id(sys.modules)) in roots)
    frames = [n for (n,) in q("SELECT name FROM roots WHERE kind = 'frame'")]
    check("thread frame roots named", any(" main (" in n for n in frames),
          repr(frames[:3]))
    tt = q("SELECT o.flags & 8, o.value FROM types t JOIN objects o "
           "ON o.id = t.object WHERE t.name = 'User'")
    check("types.object is the type object", tt == [(8, "User")], repr(tt))
    views = q("SELECT type, address FROM object_view WHERE id = ?", oid)
    check("object_view", views == [("User", hex(id(planted)))], repr(views))

    # summary in three formats
    out = subprocess.run([cli, "summary", db, "--format", "json", "-n", "5"],
                         capture_output=True, text=True)
    doc = json.loads(out.stdout)
    check("summary json totals", doc["dump"]["objects"] == stats["objects"])
    check("summary json argv is the dumper's sys.argv",
          doc["dump"]["argv"] == sys.argv, repr(doc["dump"].get("argv")))
    check("summary json types", len(doc["types"]) == 5 and
          all(k in doc["types"][0] for k in ("type", "count", "size")))
    check("summary json: truncated is a boolean, memory a list",
          doc["dump"]["truncated"] is False and
          isinstance(doc["memory"], list), repr(doc["dump"]))
    out = subprocess.run([cli, "summary", db, "-n", "3"],
                         capture_output=True, text=True)
    check("summary -n 3 says how many types it left out",
          out.returncode == 0 and out.stdout.rstrip().endswith(
              "... %s more; -n to show more" % "{:,}".format(
                  len(q("SELECT 1 FROM type_stats")) - 3)),
          out.stdout[-300:])
    users = [t for t in json.loads(subprocess.run(
        [cli, "summary", db, "--format", "json", "--by", "count", "-n", "50"],
        capture_output=True, text=True).stdout)["types"]
        if t["type"] == "User"]
    check("User count", users and users[0]["count"] == 1000, repr(users))
    out = subprocess.run([cli, "summary", db, "--format", "csv"],
                         capture_output=True, text=True)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    check("summary csv", rows and "count" in rows[0], out.stdout[:200])
    out = subprocess.run([cli, "summary", db], capture_output=True, text=True)
    check("summary table", out.returncode == 0 and "objects" in out.stdout
          and "Types by size" in out.stdout, out.stdout[:300])

    # A truncated dump: loads what it holds, says so, exit status 3.
    raw = gzip.open(dump).read()
    cut = os.path.join(outdir, "cut.hdig")
    with gzip.open(cut, "wb") as f:
        f.write(raw[:len(raw) // 2])
    r = subprocess.run([cli, "load", cut, "-o", cut + ".db"],
                       capture_output=True, text=True)
    check("truncated: exit 3", r.returncode == 3, "%d %s" % (r.returncode,
                                                              r.stderr))
    check("truncated: says so", "truncated" in r.stderr, r.stderr)
    c2 = sqlite3.connect(cut + ".db")
    n = c2.execute("SELECT count(*) FROM objects").fetchone()[0]
    t = c2.execute("SELECT value FROM meta WHERE key='truncated'").fetchone()
    check("truncated: partial load", 0 < n < stats["objects"] and t == (1,),
          "%d objects, %r" % (n, t))
    out = subprocess.run([cli, "summary", cut + ".db", "--format", "json"],
                         capture_output=True, text=True)
    check("truncated: summary json says \"truncated\": true",
          out.returncode == 0 and
          json.loads(out.stdout)["dump"]["truncated"] is True, out.stdout[:300])

    databases_are_input(cli, outdir, db, dump)
    full_disk(cli, outdir, dump, db)
    file_size_limit(cli, outdir)
    many_classes(cli, outdir)

    # Usage errors.
    r = subprocess.run([cli, "load"], capture_output=True, text=True)
    check("usage error exit 2", r.returncode == 2 and "usage" in r.stderr)
    text = os.path.join(outdir, "notes.txt")
    with open(text, "w") as f:
        f.write("neither a dump nor a database\n")
    r = subprocess.run([cli, "summary", text], capture_output=True, text=True)
    check("summary of a file that is neither", r.returncode == 1 and
          "not a heapdig database" in r.stderr, r.stderr)
    r = subprocess.run([cli, "load", text, "-o", text + ".db"],
                       capture_output=True, text=True)
    check("load of a text file: not a dump (not 'compressed data is "
          "damaged')", r.returncode == 1 and "not a heapdig dump" in
          r.stderr and "damaged" not in r.stderr and
          not os.path.exists(text + ".db"), r.stderr)

    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
