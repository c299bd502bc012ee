"""The CLI's conventions and its care with files.

    python test_cli.py HEAPDIG_CLI OUTDIR

Help on stdout with exit 0 everywhere people ask for it (--help, -h,
`heapdig help [CMD]`); a usage error exits 2.  Output that could not be
written (a full disk) fails the command.  `load` never replaces the dump it
reads nor any file that is not a database (without --force), gives the
database the dump's mode, reads an uncompressed dump, says so when given a
database, keeps heapdig's source locations out of its messages, and leaves
no temporary database when interrupted.  report and graph never write over
their input, nor over another dump or database without --force, and write
into a pipe or device rather than replacing it.
"""
import gzip
import hashlib
import os
import signal
import stat
import shutil
import subprocess
import sys
import time

import heapdig
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402

COMMANDS = ["load", "summary", "types", "top", "suspects", "path", "show",
            "referrers", "referents", "cycles", "external", "graph", "diff",
            "attach", "report", "tree", "waste"]


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def conventions(cli):
    for args in (["--help"], ["-h"], ["help"]):
        rc, out, err = run(cli, *args)
        check("heapdig %s: help on stdout, exit 0" % " ".join(args),
              rc == 0 and "commands:" in out and "waste" in out, err)
    for cmd in COMMANDS:
        rc, out, err = run(cli, cmd, "--help")
        rc2, out2, _ = run(cli, "help", cmd)
        check("heapdig %s --help and heapdig help %s: its usage, exit 0"
              % (cmd, cmd), rc == 0 and rc2 == 0 and
              out.startswith("usage: heapdig %s " % cmd) and out == out2,
              repr((rc, out[:80], err[:80])))
    rc, out, err = run(cli, "frobnicate")
    check("an unknown command exits 2 with a hint",
          rc == 2 and "heapdig help" in err, err)
    rc, out, err = run(cli, "help", "frobnicate")
    check("help for an unknown command exits 2", rc == 2, err)
    rc, out, err = run(cli, "help", "help")
    check("help help is the help, exit 0", rc == 0 and "commands:" in out,
          err)
    rc, out, err = run(cli, "diff", "a.db", "b.db", "--by", "x")
    check("a usage error gives the synopsis, not the whole help",
          rc == 2 and "--by both, type or path, not 'x'" in err and
          "Oldest first" not in err and "heapdig help diff" in err, err)


def files(cli, outdir):
    dump = os.path.join(outdir, "cli.hdig")
    db = dump + ".db"
    for p in (dump, db):
        if os.path.exists(p):
            os.unlink(p)
    heapdig.dump(dump)
    before = digest(dump)

    rc, out, err = run(cli, "load", "-q", dump, "-o", dump)
    check("load -o onto its own dump is refused; the dump is intact",
          rc == 1 and digest(dump) == before, err)
    rc, out, err = run(cli, "load", "-q", dump, "-o", dump, "--force")
    check("... even with --force", rc == 1 and digest(dump) == before and
          "the dump itself" in err, err)
    other = os.path.join(outdir, "notes.txt")
    with open(other, "w") as f:
        f.write("keep me\n")
    rc, out, err = run(cli, "load", "-q", dump, "-o", other)
    check("load -o onto a file that is no database is refused",
          rc == 1 and open(other).read() == "keep me\n" and "--force" in err,
          err)
    rc, out, err = run(cli, "load", "-q", dump, "-o", other, "--force")
    check("... and replaces it with --force", rc == 0 and
          open(other, "rb").read(16) == b"SQLite format 3\0", err)

    rc, out, err = run(cli, "load", "-q", dump)
    check("the database has the dump's mode (0600)", rc == 0 and
          stat.S_IMODE(os.stat(db).st_mode) == 0o600,
          oct(os.stat(db).st_mode))
    os.chmod(dump, 0o640)
    rc, out, err = run(cli, "load", "-q", dump)
    check("... whatever it is (0640)", rc == 0 and
          stat.S_IMODE(os.stat(db).st_mode) == 0o640,
          oct(os.stat(db).st_mode))
    os.chmod(dump, 0o400)
    rc, out, err = run(cli, "load", "-q", dump, "-o", db)
    check("... a read-only dump loads into a read-only database",
          rc == 0 and stat.S_IMODE(os.stat(db).st_mode) == 0o400, err)
    os.chmod(dump, 0o600)
    os.chmod(db, 0o600)

    # report and graph write pictures and pages: never over what they read,
    # over another dump or database only with --force, into a pipe or a
    # device as into a file (a rename would replace the device)
    db_before = digest(db)
    for args in (["report", db, "-o", db], ["report", dump, "-o", dump],
                 ["report", dump, "-o", db, "--force"],
                 ["graph", db, "#1", "-o", db, "--force"],
                 ["graph", dump, "#1", "-o", dump]):
        rc, out, err = run(cli, *args)
        check("%s -o its own input is refused, the input intact"
              % " ".join(args[:1] + args[3:]).replace(outdir + "/", ""),
              rc == 1 and "goes elsewhere" in err and digest(db) == db_before
              and digest(dump) == before, err)
    second = os.path.join(outdir, "second.hdig")
    heapdig.dump(second)
    second_digest = digest(second)
    for args in (["report", db, "-o", second],
                 ["graph", db, "#1", "-o", second]):
        rc, out, err = run(cli, *args)
        check("%s -o another dump is refused without --force" % args[0],
              rc == 1 and "not replacing it (--force does)" in err and
              digest(second) == second_digest, err)
    rc, out, err = run(cli, "report", db, "-o", second, "--force")
    check("... and replaced with --force", rc == 0 and
          open(second, "rb").read(15) == b"<!DOCTYPE html>", err)
    old_page = os.path.join(outdir, "old.html")
    with open(old_page, "w") as f:
        f.write("<p>yesterday's page</p>\n")
    rc, out, err = run(cli, "report", db, "-o", old_page)
    check("report -o replaces an ordinary file (as -o does elsewhere)",
          rc == 0 and open(old_page, "rb").read(15) == b"<!DOCTYPE html>",
          err)
    fifo = os.path.join(outdir, "page.fifo")
    os.mkfifo(fifo)
    # cat into a file: a page larger than a pipe's buffer would block cat
    # (and so the report) if cat wrote into a pipe read only afterwards
    copy = os.path.join(outdir, "page.copy")
    with open(copy, "wb") as sink:
        reader = subprocess.Popen(["cat", fifo], stdout=sink)
        rc, out, err = run(cli, "report", db, "-o", fifo)
        reader.wait(timeout=60)
    page = open(copy, "rb").read()
    check("report -o a pipe writes into it and leaves the pipe a pipe",
          rc == 0 and page.startswith(b"<!DOCTYPE html>") and
          stat.S_ISFIFO(os.stat(fifo).st_mode), err)
    os.unlink(fifo)
    rc, out, err = run(cli, "report", db, "-o", outdir)
    check("report -o a directory is an error", rc == 1 and
          "is a directory" in err, err)

    # the option spellings other tools take
    rc, out, err = run(cli, "top", db, "--format=json", "-n2")
    check("--format=json and -n2 mean --format json -n 2",
          rc == 0 and len(__import__("json").loads(out)) == 2, out[:200] + err)
    for args, what in ((["top", db, "-n", "2x"], "-n 2x"),
                       (["top", db, "-n", "0"], "-n 0"),
                       (["top", db, "-n", " 2"], "-n ' 2'"),
                       (["top", db, "-n", "0x10"], "-n 0x10"),
                       (["suspects", db, "--threshold", "5%"], "--threshold 5%"),
                       (["tree", db, "--threshold", "2x"], "tree --threshold 2x"),
                       (["tree", db, "--threshold", "5%"], "tree --threshold 5%"),
                       (["tree", db, "--threshold", "inf"], "tree --threshold inf"),
                       (["report", db, "--threshold", "nan", "-o", "-"],
                        "report --threshold nan"),
                       (["attach", "0x10"], "attach 0x10"),
                       (["attach", "4294967297"], "attach 2^32 + 1 (no pid: "
                        "kill() would have taken it for pid 1)"),
                       (["attach", str(os.getpid()), "--timeout", "inf"],
                        "attach --timeout inf"),
                       (["graph", db, "#1", "--depth", "3.5", "-o",
                         os.path.join(outdir, "x.dot")], "--depth 3.5")):
        rc, out, err = run(cli, *args)
        check("%s: numbers are read whole, or it is a usage error" % what,
              rc == 2, err)
    # a threshold has its own name: --by groups or ranks everywhere else
    for cmd in ("suspects", "tree", "report"):
        rc, out, err = run(cli, cmd, db, "--by", "5", "-o", "-") \
            if cmd == "report" else run(cli, cmd, db, "--by", "5")
        check("%s --by is no option (its threshold is --threshold)" % cmd,
              rc == 2 and "--by" in err, err)
    import json as _json
    rc, out, err = run(cli, "suspects", db, "--format", "json")
    few = len(_json.loads(out)["suspects"]) if rc == 0 else None
    rc, out, err = run(cli, "suspects", db, "--threshold", "1", "--format",
                       "json")
    many = _json.loads(out)["suspects"] if rc == 0 else None
    check("suspects --threshold 1 finds the suspects of 1%% or more (%s, "
          "not %s)" % (many and len(many), few), many is not None and
          few is not None and len(many) > few and
          all(s["percent"] >= 1.0 for s in many), err)
    # top by retained walks the dominator tree best first: the same rows as
    # sorting every object (the brute force)
    import sqlite3
    con = sqlite3.connect(db)
    for n in (1, 7, 60):
        want = [r for (r,) in con.execute(
            "SELECT retained FROM objects ORDER BY retained DESC LIMIT ?",
            (n,))]
        rc, out, err = run(cli, "top", db, "-n", str(n), "--format", "json")
        got = [r["retained"] for r in __import__("json").loads(out)] \
            if rc == 0 else None
        check("top -n %d: the %d largest retained sizes, in order" % (n, n),
              got == want, repr((got, want)))
    con.close()
    rc, out, err = run(cli, "top", db, "-n", "3")
    check("a table cut at -n says how many rows it left out",
          rc == 0 and out.rstrip().splitlines()[-1].startswith("... ") and
          out.rstrip().endswith("more; -n to show more"), out[-200:])
    rc, out, err = run(cli, "graph", db, "#1", "--refs", "--format", "dot",
                       "-o", "-")
    check("graph -o - writes the picture to stdout, the count to stderr",
          rc == 0 and out.startswith("digraph") and "node" in err, err)
    rc, out, err = run(cli, "report", db, "-o", "-")
    check("report -o - writes the page to stdout",
          rc == 0 and out.startswith("<!DOCTYPE html>") and
          out.rstrip().endswith("</html>"), out[:80] + err)
    rc, out, err = run(cli, "top", db, "--", "-n")
    check("-- ends the options: what follows is an argument",
          rc == 2 and "too many arguments" in err, err)
    for args in (["top", db, "-n", "2", "-n", "3"],
                 ["diff", db, db, "--by", "type", "--by", "path"],
                 ["load", "-q", dump, "-o", db, "-o", db + "2"]):
        rc, out, err = run(cli, *args)
        check("%s: an option given twice is refused" % " ".join(args[:1] +
                                                                 args[-2:-1]),
              rc == 2 and "given twice" in err, err)
    rc, out, err = run(cli, "graph", db, "#1", "--refs", "--path", "-o",
                       os.path.join(outdir, "two.dot"))
    check("two pictures at once are refused", rc == 2 and
          "--refs and --path: one at a time" in err, err)
    rc, out, err = run(cli, "graph", db, "#1", "--max-nodes", "1", "-o",
                       os.path.join(outdir, "one.dot"))
    check("graph --max-nodes 1: a usage error", rc == 2 and "2 to 2000" in err,
          err)
    rc, out, err = run(cli, "graph", db, "#1", "--refs", "--format=dot",
                       "-o", os.path.join(outdir, "eq.x"))
    check("graph takes --format=dot like any option", rc == 0 and
          open(os.path.join(outdir, "eq.x")).read().startswith("digraph"),
          err)
    rc, out, err = run(cli, "top", db, "--type", "dcit", "-n", "1")
    check("--type naming no type warns (the command still answers)",
          rc == 0 and "no object of type 'dcit'" in err, err)
    rc, out, err = run(cli, "top", db, "--type", "DICT", "-n", "1")
    check("... and suggests the name that differs only in case",
          "did you mean 'dict'?" in err, err)
    rc, out, err = run(cli, "top", db, "--type", "dict", "-n", "1")
    check("a type that is there: no warning", rc == 0 and "warning" not in err,
          err)
    rc, out, err = run(cli, "load", "-q", "-q", dump, "-o", db + ".qq")
    check("a flag given twice is the flag (not refused)", rc == 0, err)
    rc, out, err = run(cli, "path", db, "#1", "--exclude", "x", "--exclude",
                       "y")
    check("--exclude naming no type warns", "no object of type 'x'" in err and
          "no object of type 'y'" in err, err)
    check("--exclude given twice accumulates", rc in (0, 1) and
          "given twice" not in err, err)
    dashed = os.path.join(outdir, "-dashed.hdig")
    shutil.copy(dump, dashed)
    rc, out, err = run(cli, "load", "-q", "-o", dashed + ".db", "--", dashed)
    check("load -- DUMP: a dump whose name starts with '-'",
          rc == 0 and os.path.exists(dashed + ".db"), err)
    rc, out, err = run(cli, "summary", db, "-n", "1")
    rc_full = subprocess.run([cli, "summary", db],
                             stdout=open("/dev/full", "w"),
                             stderr=subprocess.PIPE, text=True)
    check("output to a full disk fails, saying so",
          rc_full.returncode == 1 and "No space left" in rc_full.stderr,
          repr((rc_full.returncode, rc_full.stderr)))

    rc, out, err = run(cli, "load", "-q", db, "-o", db + "2")
    check("load given a database says it is one", rc == 1 and
          "SQLite database, not a dump" in err and "reader.c" not in err, err)

    raw = os.path.join(outdir, "raw.hdig")
    with open(raw, "wb") as f:
        f.write(gzip.open(dump).read())
    rc, out, err = run(cli, "load", raw, "-o", raw + ".db")
    rc2, out2, _ = run(cli, "load", dump, "-o", dump + ".again.db")
    check("an uncompressed dump (zcat's output) loads, the same",
          rc == 0 and out.split(":", 1)[1].split("read")[0] ==
          out2.split(":", 1)[1].split("read")[0], repr((out, out2, err)))

    bad = os.path.join(outdir, "bad.hdig")
    data = bytearray(gzip.open(dump).read())
    data[40] ^= 0xFF
    with open(bad, "wb") as f:
        f.write(gzip.compress(bytes(data)))
    rc, out, err = run(cli, "load", "-q", bad, "-o", bad + ".db")
    check("a corrupt dump's message has no source location",
          rc == 1 and "corrupt dump at byte" in err and ".c:" not in err, err)
    r = subprocess.run([cli, "load", "-q", bad, "-o", bad + ".db"],
                       capture_output=True, text=True,
                       env=dict(os.environ, HEAPDIG_DEBUG="1"))
    check("... unless HEAPDIG_DEBUG asks for it", "reader.c:" in r.stderr,
          r.stderr)


def read_only_folder(cli, outdir):
    """A dump in a folder heapdig cannot write goes into the cache once:
    ${XDG_CACHE_HOME}/heapdig/NAME-HASH.db, reused by the next command."""
    ro = os.path.join(outdir, "read-only")
    cache = os.path.join(outdir, "cache")
    for d in (ro, cache):
        if os.path.isdir(d):
            shutil.rmtree(d)
    os.makedirs(ro)
    heapdig.dump(os.path.join(ro, "app.hdig"))
    env = dict(os.environ, XDG_CACHE_HOME=cache)
    dump = os.path.join(ro, "app.hdig")
    cmds = ["%s summary %s -n 1" % (cli, dump), "%s top %s -n 1" % (cli, dump)]
    if os.geteuid() == 0:  # root writes a 0555 folder: a read-only mount
        script = "mount --bind -o ro %s %s && %s" % (
            ro, ro, " && ".join(c + " >/dev/null" for c in cmds))
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                script]
    else:
        os.chmod(ro, 0o555)
        argv = ["sh", "-c", " && ".join(c + " >/dev/null" for c in cmds)]
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    if r.returncode != 0 and "propagation" in r.stderr:
        # in a chroot (the sid root) / is no mount point: its namespace is
        # private already, so the mount made here stays here
        argv[3] = "unchanged"
        r = subprocess.run(argv, capture_output=True, text=True, env=env)
    os.chmod(ro, 0o755)
    made = os.listdir(os.path.join(cache, "heapdig")) \
        if os.path.isdir(os.path.join(cache, "heapdig")) else []
    check("a dump in a read-only folder loads into the cache, once",
          r.returncode == 0 and r.stderr.count("loading") == 1 and
          "(its folder is read-only)" in r.stderr and len(made) == 1 and
          made[0].startswith("app.hdig-") and made[0].endswith(".db") and
          not os.path.exists(dump + ".db"), r.stderr + repr(made))


def dumps_as_databases(cli, outdir):
    """Every command takes a dump where it takes a database: loaded once
    into DUMP.db, reused while it is newer than the dump."""
    a, b = (os.path.join(outdir, "seq-%d.hdig" % i) for i in (1, 2))
    for p in (a, b, a + ".db", b + ".db"):
        if os.path.exists(p):
            os.unlink(p)
    grow = []
    heapdig.dump(a)
    grow.extend(object() for _ in range(5000))
    time.sleep(0.01)
    heapdig.dump(b)
    rc, out, err = run(cli, "summary", a, "-n", "1")
    check("summary DUMP loads it into DUMP.db first, saying so",
          rc == 0 and "loading" in err and os.path.exists(a + ".db"), err)
    rc, out, err = run(cli, "top", a, "-n", "1")
    check("... and the next command reuses it", rc == 0 and "loading" not in
          err, err)
    rc, out, err = run(cli, "diff", a, b, "--by", "type", "--format", "json")
    rows = __import__("json").loads(out) if rc == 0 else []
    check("diff takes dumps", rc == 0 and any(
        r["type"] == "object" and r["count_growth"] >= 5000 for r in rows),
        err + out[:300])
    rc, out, err = run(cli, "diff", a, b, "--format", "csv")
    lines = out.splitlines()
    check("diff --format csv is one table (where it is held)",
          rc == 0 and lines and lines[0].startswith("held_at,") and
          sum(1 for l in lines if l.startswith(("held_at,", "type,"))) == 1,
          out[:300])
    rc, out, err = run(cli, "diff", a, b, "--by", "both", "--format", "csv")
    check("... and --by both with csv is a usage error", rc == 2, err)
    rc, out, err = run(cli, "load", a, "-o", a + ".j.db", "--format", "json")
    doc = __import__("json").loads(out) if rc == 0 else {}
    check("load --format json: one object with its figures",
          doc.get("objects", 0) > 1000 and doc.get("truncated") is False and
          doc.get("database") == a + ".j.db", out[:300] + err)
    rc, out, err = run(cli, "load", a, "-o", a + ".j.db", "--format", "csv")
    rows = out.splitlines()
    check("load --format csv: a header and a row", rc == 0 and
          len(rows) == 2 and rows[0].startswith("database,objects,"),
          out[:300])
    rc, out, err = run(cli, "diff", b, a, "--by", "type")
    check("dumps given newest first are said to be", rc == 0 and
          "give the oldest first" in err, err)
    rc, out, err = run(cli, "report", b, a, "-o", os.path.join(
        outdir, "backwards.html"))
    check("... by report too", rc == 0 and "give the oldest first" in err,
          err)
    rc, out, err = run(cli, "report", a, b, "-o", os.path.join(
        outdir, "forwards.html"))
    check("... and not when they are oldest first", rc == 0 and
          "oldest" not in err, err)
    c = os.path.join(outdir, "seq-3.hdig")
    heapdig.dump(c)
    with open(c + ".db", "w") as f:
        f.write("my notes, not a database\n")
    rc, out, err = run(cli, "summary", c)
    check("a file beside the dump that is no database is not replaced",
          rc == 1 and "not replacing it" in err and
          open(c + ".db").read() == "my notes, not a database\n", err)
    del grow


def interrupted(cli, outdir):
    """SIGINT or SIGTERM in the middle of a load leaves nothing behind."""
    big = os.path.join(outdir, "big.hdig")
    code = ("import sys, heapdig\n"
            "x = [{'k': [i, str(i)]} for i in range(300000)]\n"
            "heapdig.dump(sys.argv[1])\n")
    subprocess.check_call([sys.executable, "-c", code, big])
    for sig in (signal.SIGINT, signal.SIGTERM):
        target = os.path.join(outdir, "big-%d.db" % sig)
        if os.path.exists(target):  # an earlier run's
            os.unlink(target)
        p = subprocess.Popen([cli, "load", "-q", big, "-o", target],
                             stderr=subprocess.PIPE)
        tmp = "%s.tmp-%d" % (target, p.pid)
        deadline = time.time() + 60
        while not os.path.exists(tmp) and p.poll() is None and \
                time.time() < deadline:
            time.sleep(0.002)
        seen = os.path.exists(tmp)  # the database is being written
        p.send_signal(sig)
        p.wait()
        p.stderr.close()
        check("%s during a load: it stops, no temporary database is left"
              % signal.Signals(sig).name,
              seen and p.returncode == -sig and not os.path.exists(tmp) and
              not os.path.exists(target),
              repr((seen, p.returncode, os.listdir(outdir))))


class Pair:
    pass


def cut_tables(cli, outdir):
    """Every table cut at -n ends saying how many rows it left out, and the
    number is what the uncut JSON holds beyond the rows shown."""
    import json
    pairs = []
    for _ in range(5):  # live cycles of our own, not the module backbone
        a, b = Pair(), Pair()
        a.other, b.other = b, a
        pairs.append(a)
    dump = os.path.join(outdir, "cut.hdig")
    heapdig.dump(dump)
    rc, out, err = run(cli, "load", "-q", dump)
    db = dump + ".db"

    def more(out):
        return [int(l.split()[1].replace(",", "")) for l in out.splitlines()
                if l.startswith("... ") and l.endswith("-n to show more")]

    def every(*args):
        rc, out, err = run(cli, *args, "-n", "1000000", "--format", "json")
        return json.loads(out) if rc == 0 else None

    live = [c for c in every("cycles", db) if c["state"] != "backbone"]
    waste = every("waste", db)
    for args, rows in ((["cycles", db], [live]),
                       (["external", db], [every("external", db)]),
                       (["external", db, "--by", "type"],
                        [every("external", db, "--by", "type")]),
                       (["waste", db], [waste[k] for k in
                                        ("duplicate", "empty", "slots")]),
                       (["summary", db], [every("summary", db)["types"]])):
        rc, out, err = run(cli, *args, "-n", "2")
        want = [len(r) - 2 for r in rows if len(r) > 2]
        check("%s -n 2 ends saying how many it left out: %r" % (
              " ".join(a for a in args if a != db), want),
              rc == 0 and want and more(out) == want, out[-400:] + err)
    del pairs


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    conventions(cli)
    files(cli, outdir)
    cut_tables(cli, outdir)
    read_only_folder(cli, outdir)
    dumps_as_databases(cli, outdir)
    interrupted(cli, outdir)
    return finish()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
