"""`heapdig graph`: pictures of a known heap, parsed, not grepped.

    python test_graph.py HEAPDIG_CLI OUTDIR

A `victim` object is held through a chain of labelled references, by a
10,000-entry list (more referrers than any picture shows), inside a
3-object cycle, and next to hostile strings (quotes, <, &, newlines,
control characters, backslash escapes, long keys; invalid UTF-8 and a 1 MB
label are written into the database directly).  Checks: the SVG parses as
XML and holds the expected nodes and labelled edges; --max-nodes holds;
every format is produced (PNG and PDF headers; DOT re-read by Graphviz's
dot); each mode draws what it should; errors are clean.
"""
import gc
import os
import shutil
import sqlite3
import subprocess
import sys
import types
import xml.etree.ElementTree as ET

import heapdig
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish, run  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"




class Victim(object):
    def __init__(self):
        self.payload = "victim payload %d" % id(self)


class Ring(object):
    pass


def build():
    app = types.ModuleType("graphapp")
    victim = Victim()
    app.holder = {"victim": victim, '"quoted" <script>&amp;': "x\ny",
                  "\x01ctrl\x7f": "\\N\\G\\l backslash", "k" * 5000: 1,
                  "日本語": "値", "nl\nkey": "v"}
    app.crowd = [victim] * 10000   # 10,000 references from one list
    app.many = [[victim] for _ in range(500)]  # 500 distinct holders
    a, b, c = Ring(), Ring(), Ring()
    a.next, b.next, c.next = b, c, a
    app.ring = a
    # a chain 3,000 hops deep: only the list reaches its end
    head = cur = Ring()
    for _ in range(3000):
        cur.next = Ring()
        cur = cur.next
    app.deep = head
    app.deep_end = id(cur)
    sys.modules["graphapp"] = app
    return id(victim), id(a), id(victim.payload)


def svg_graph(path):
    root = ET.parse(path).getroot()  # raises if not well-formed XML
    nodes, edges = {}, []
    for g in root.iter(SVG + "g"):
        cls = g.get("class")
        title = g.find(SVG + "title")
        texts = [t.text or "" for t in g.iter(SVG + "text")]
        if cls == "node":
            nodes[title.text] = texts
        elif cls == "edge":
            src, dst = title.text.split("->")
            edges.append((src, dst, texts))
    return nodes, edges




def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    # Pictures draw heap text: a key in Chinese or with an emoji needs a
    # font that has its glyphs (scripts/setup.sh installs Noto CJK and
    # Noto Color Emoji), else Graphviz draws boxes.
    for ch in ("\u7f13", "\U0001f600"):
        r = subprocess.run(["fc-list", ":charset=%x" % ord(ch)],
                           capture_output=True, text=True)
        check("a font draws %r (U+%04X) in pictures" % (ch, ord(ch)),
              r.returncode == 0 and r.stdout.strip() != "", r.stderr)
    gc.disable()
    victim_id, ring_id, payload_id = build()
    dump = os.path.join(outdir, "graph.hdig")
    heapdig.dump(dump)
    gc.enable()
    db = dump + ".db"
    rc, out, err = run(cli, "load", "-q", dump)
    check("load", rc == 0, err)
    vid = hex(victim_id)

    # backrefs (default) as SVG
    svg = os.path.join(outdir, "back.svg")
    rc, out, err = run(cli, "graph", db, vid, "-o", svg, "--max-nodes", "12")
    check("backrefs svg", rc == 0 and os.path.getsize(svg) > 0, err)
    nodes, edges = svg_graph(svg)
    real = [t for t in nodes.values() if not any("more" in x for x in t)]
    summaries = [t for t in nodes.values() if any("more" in x for x in t)]
    check("--max-nodes holds", len(real) <= 12, "%d nodes" % len(real))
    check("the victim is drawn", any(t[0].startswith("Victim 0x") for t in
                                     real), repr(list(nodes.values())[:3]))
    labels = [" ".join(e[2]) for e in edges]
    check("labelled edges, one per referrer", "['victim']" in labels and
          "[0] (x10000)" in labels, repr(labels))
    # 10,000 referrers: the crowd list is one object; make a crowd of
    # distinct holders to see the summary node
    check("edges drawn once", len(labels) == len(set(zip(
        [e[0] for e in edges], [e[1] for e in edges]))))
    check("500 distinct holders summarised", any(
        "... 4" in x and "more (list" in x for t in summaries for x in t),
        repr(summaries))
    check("the chain reaches a root",
          any(any(x.startswith("root: sys.modules") for x in t)
              for t in nodes.values()), repr(list(nodes.values())))

    # path: exactly the chain, root to victim
    svg = os.path.join(outdir, "path.svg")
    rc, out, err = run(cli, "graph", db, vid, "--path", "-o", svg,
                       "--exclude", "list")
    nodes, edges = svg_graph(svg)
    labels = [" ".join(e[2]) for e in edges]
    check("path picture", rc == 0 and labels == [
        "['graphapp']", ".__dict__", "['holder']", "['victim']"],
        repr(labels) + err)

    # a chain longer than --max-nodes keeps its ends and elides the middle
    svg = os.path.join(outdir, "deep.svg")
    end = hex(sys.modules["graphapp"].deep_end)
    rc, out, err = run(cli, "graph", db, end, "--path", "--max-nodes", "20",
                       "-o", svg)
    nodes, edges = svg_graph(svg) if rc == 0 else ({}, [])
    texts = [" ".join(t) for t in nodes.values()]
    check("a 3,000-hop chain with --max-nodes 20: 20 nodes, the middle one "
          "says how many hops it stands for",
          rc == 0 and len(nodes) <= 20 and
          any(" hops ..." in t and "2,98" in t for t in texts) and
          any("root: sys.modules" in t for t in texts) and
          any(("Ring 0x%x" % int(end, 16)) in t for t in texts),
          "%d nodes; %r" % (len(nodes), texts[:4]) + err)

    # refs: what the holder dict holds, hostile keys included, as valid XML
    holder = hex(id(sys.modules["graphapp"].holder))
    svg = os.path.join(outdir, "refs.svg")
    rc, out, err = run(cli, "graph", db, holder, "--refs", "--depth", "1",
                       "--max-nodes", "100", "-o", svg)
    nodes, edges = svg_graph(svg)
    labels = [" ".join(e[2]) for e in edges]
    check("a label is escaped once: ['nl\\nkey'] as repr writes it",
          "['nl\\nkey']" in labels, repr(labels))
    check("refs picture with hostile labels", rc == 0 and
          any("<script>&amp;" in l for l in labels) and
          all(len(l) < 200 for l in labels), repr(labels))

    # cycle: the three Ring objects
    svg = os.path.join(outdir, "cycle.svg")
    rc, out, err = run(cli, "graph", db, hex(ring_id), "--cycle", "-o", svg)
    nodes, edges = svg_graph(svg)
    check("cycle picture", rc == 0 and len(nodes) == 3 and
          sorted(" ".join(e[2]) for e in edges) == [".next"] * 3,
          repr((nodes, edges)) + err)

    # dominated: the victim's payload string
    svg = os.path.join(outdir, "dom.svg")
    rc, out, err = run(cli, "graph", db, vid, "--dominated", "-o", svg)
    nodes, edges = svg_graph(svg)
    check("dominated picture", rc == 0 and any(
        any("victim payload" in x for x in t) for t in nodes.values()),
        repr(nodes))

    # hostile content straight in the database: invalid UTF-8, 1 MB label
    con = sqlite3.connect(db)
    con.execute("UPDATE objects SET value = CAST(x'fffe41c328e282' AS TEXT) "
                "WHERE address = ?", (payload_id,))
    con.execute("UPDATE labels SET text = ? WHERE text = \"['victim']\"",
                ("<&\"\\N\n" * 200000,))
    con.commit()
    con.close()
    for fmt in ("svg", "dot", "png", "pdf"):
        f = os.path.join(outdir, "hostile." + fmt)
        rc, out, err = run(cli, "graph", db, vid, "--dominated", "-o", f,
                           "--depth", "2")
        if fmt == "dot":  # reach it through its holder too
            rc, out, err = run(cli, "graph", db, holder, "--refs", "-o", f)
        data = open(f, "rb").read() if os.path.exists(f) else b""
        check("format %s" % fmt, rc == 0 and len(data) > 100, err)
        if fmt == "svg":
            try:
                svg_graph(f)
                check("hostile SVG is valid XML", True)
            except ET.ParseError as e:
                check("hostile SVG is valid XML", False, str(e))
        if fmt == "png":
            check("PNG header", data[:8] == b"\x89PNG\r\n\x1a\n")
        if fmt == "pdf":
            check("PDF header", data[:5] == b"%PDF-")
        if fmt == "dot":
            r = subprocess.run(["dot", "-Tsvg", f], capture_output=True)
            check("hostile DOT re-read by Graphviz", r.returncode == 0 and
                  b"<svg" in r.stdout, r.stderr[:200])
    rc, out, err = run(cli, "graph", db, vid, "--format", "gif", "-o",
                       os.path.join(outdir, "x.gif"))
    check("unknown format", rc == 1 and "unknown picture format" in err, err)
    rc, out, err = run(cli, "graph", db, vid)
    check("-o required", rc == 2 and "-o" in err, err)
    check("no temporary files left", not [
        f for f in os.listdir(outdir) if ".tmp-" in f])
    # The format comes from the file name, never from a dot in a folder.
    dotted = os.path.join(outdir, "v1.2")
    os.makedirs(dotted, exist_ok=True)
    pic = os.path.join(dotted, "picture")
    if os.path.exists(pic):
        os.unlink(pic)
    rc, out, err = run(cli, "graph", db, vid, "-o", pic)
    head = open(pic, "rb").read(4000) if os.path.exists(pic) else b""
    check("a dot in a folder's name is no format: svg", rc == 0 and
          b"<svg" in head, err)
    check("the picture is 0600, as the dump it shows",
          os.path.exists(pic) and os.stat(pic).st_mode & 0o777 == 0o600)
    # A full disk is an error that leaves no file (Graphviz's own writer
    # exits the process there): a 16 KiB tmpfs in a private mount namespace.
    if os.getuid() == 0 and shutil.which("unshare"):
        full = os.path.join(outdir, "full")
        os.makedirs(full, exist_ok=True)
        r = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount -t tmpfs -o size=16k tmpfs "$1" && "$2" graph "$3" "$4" '
             '--max-nodes 200 -o "$1/big.svg"; rc=$?; ls -A "$1"; exit $rc',
             "sh", full, cli, db, vid], capture_output=True, text=True)
        if r.stderr.startswith(("unshare:", "mount:")):
            # a chroot (the sid root) cannot make a private namespace; the
            # host's run of this test checks it
            print("     full disk not checked here: %s" % r.stderr.strip())
        else:
            check("a full disk: exit 1, says so, leaves no file",
                  r.returncode == 1 and "No space" in r.stderr and
                  r.stdout.strip() == "", "%d %r %r" % (
                      r.returncode, r.stdout, r.stderr))
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
