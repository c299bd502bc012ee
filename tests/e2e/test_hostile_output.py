"""Heap strings are attacker-controlled (request bodies, headers): whatever
they hold, what heapdig prints is inert and well-formed.

    python test_hostile_output.py HEAPDIG_CLI OUTDIR

A heap full of hostile text (terminal escapes, OSC titles, BEL, C1 CSI,
bidi overrides, NUL, U+FFFE/U+FFFF, lone surrogates, invalid bytes, in
values, dict keys, attribute names and type names) is dumped and loaded;
then every command's output must be valid UTF-8 with no control, C1, bidi
or noncharacter code point (tables), parse as JSON (--format json) and as
CSV (--format csv), and the picture must parse as XML.
"""
import csv
import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import heapdig
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check, finish  # noqa: E402

EVIL = ["\x1b[31mRED\x1b[0m", "\x1b]0;pwned\x07", "\x9b2J", "\u202egnp.exe",
        "\u2066iso\u2069", "nul\x00byte", "\ufffe\uffff", "lone\udcff",
        "tab\tcr\rlf\n", "back\\slash", "quote\"and'apos", "a,b;c"]


class Holder(object):
    pass


def build():
    h = Holder()
    h.values = list(EVIL) + [float("inf"), float("-inf"), float("nan"),
                             10 ** 400]
    h.by_key = {s: i for i, s in enumerate(EVIL)}
    h.bytes_keys = {s.encode("utf-8", "surrogatepass"): s for s in EVIL}
    h.raw = b"\x00\x01\\ok"
    for i, s in enumerate(EVIL):
        setattr(h, "attr_" + s, i)
    h.types = [type("Type" + s.replace("\x00", "").replace("\udcff", ""),
                    (), {})() for s in EVIL]
    return h


# Code points that must never reach a terminal as themselves.
BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-"
                 "\u202e\u2066-\u2069\ufdd0-\ufdef\ufffe\uffff]")


def strict_constant(name):
    raise ValueError("%s is not JSON" % name)


def inert(raw):
    """None if raw is valid UTF-8 with nothing that can act; else why."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return "invalid UTF-8 at byte %d" % e.start
    m = BAD.search(text)
    if m:
        return "U+%04X at %d: %r" % (ord(m.group()), m.start(),
                                     text[max(0, m.start() - 30):m.start() + 10])
    return None


def main(cli, outdir):
    os.makedirs(outdir, exist_ok=True)
    holder = build()
    dump = os.path.join(outdir, "hostile-strings.hdig")
    db = dump + ".db"
    for f in (dump, db):
        if os.path.exists(f):
            os.unlink(f)
    heapdig.dump(dump)
    r = subprocess.run([cli, "load", dump], capture_output=True)
    check("load", r.returncode == 0, r.stderr.decode(errors="replace"))
    obj = hex(id(holder))
    evil_str = hex(id(holder.values[0]))
    nul = holder.values[EVIL.index("nul\x00byte")]
    r = subprocess.run([cli, "show", db, hex(id(nul)), "--format", "json"],
                       capture_output=True)
    shown = json.loads(r.stdout)["value"] if r.returncode == 0 else None
    check("a NUL inside a str value is kept: JSON gives the exact string",
          shown == "nul\x00byte", repr(shown))
    r = subprocess.run([cli, "show", db, hex(id(nul))], capture_output=True)
    check("... and a table escapes it as Python does",
          b"nul\\x00byte" in r.stdout, r.stdout[:200])
    # Values read as Python writes them: a str quoted, bytes as their repr
    # (never b'\\x00', escaped twice), a number bare; JSON keeps the text.
    back = holder.values[EVIL.index("back\\slash")]
    raw = holder.raw
    r = subprocess.run([cli, "show", db, hex(id(back))], capture_output=True)
    check("a str value with a backslash reads 'back\\\\slash' (Python's repr)",
          b"<str 0x" in r.stdout and b"'back\\\\slash'>" in r.stdout.split(b"\n")[0],
          r.stdout[:200])
    r = subprocess.run([cli, "show", db, hex(id(raw))], capture_output=True)
    line = r.stdout.split(b"\n")[0]
    check("a bytes value reads b'\\x00\\x01\\\\' as Python writes it",
          b"b'\\x00\\x01\\\\ok'" in line and b"'b'" not in line,
          r.stdout[:300])
    r = subprocess.run([cli, "referents", db, obj], capture_output=True)
    rows = [l for l in r.stdout.split(b"\n") if b" bytes " in l]
    check("... and so in a table's value column",
          rows and b"b'\\x00\\x01\\\\ok'" in rows[0], repr(rows[:2]))
    r = subprocess.run([cli, "referents", db, obj, "--format", "json"],
                       capture_output=True)
    vals = [x["value"] for x in json.loads(r.stdout) if x["type"] == "bytes"]
    check("... while JSON keeps the stored text", vals == ["b'\\x00\\x01\\\\ok'"],
          repr(vals))
    runs = [("show", obj), ("show", evil_str), ("path", evil_str),
            ("referrers", evil_str), ("referents", obj), ("top", "-n", "50"),
            ("types", "-n", "60"), ("summary",), ("suspects",),
            ("external", "-n", "50")]
    for args in runs:
        cmd = [cli, args[0], db] + list(args[1:])
        r = subprocess.run(cmd, capture_output=True)
        name = " ".join(args[:1] + (("OBJ",) if len(args) > 1 and
                                    args[1].startswith("0x") else ()))
        check("%s: runs" % name, r.returncode == 0,
              r.stderr.decode(errors="replace")[-300:])
        why = inert(r.stdout)
        check("%s: the table is inert" % name, why is None, why or "")
        for fmt in ("json", "csv"):
            r = subprocess.run(cmd + ["--format", fmt], capture_output=True)
            if r.returncode != 0:
                check("%s --format %s runs" % (name, fmt), False,
                      r.stderr.decode(errors="replace")[-300:])
                continue
            try:
                text = r.stdout.decode("utf-8")
                if fmt == "json":  # strict: no Infinity, NaN, Inf
                    json.loads(text, parse_constant=strict_constant)
                else:
                    rows = list(csv.reader(io.StringIO(text)))
                    assert rows and all(len(x) == len(rows[0]) for x in rows), \
                        "ragged rows"
                ok, detail = True, ""
            except Exception as e:  # noqa: BLE001
                ok, detail = False, "%s: %s" % (type(e).__name__, e)
            if fmt == "json" and "csv" in detail:
                ok = False
            check("%s --format %s parses" % (name, fmt), ok, detail)
            if fmt == "csv":
                why = inert(r.stdout)
                check("%s --format csv is inert" % name, why is None,
                      why or "")
    # A database is input too: an argv meta that is not a JSON array of
    # strings must not be pasted into summary's JSON as it is.
    import shutil
    import sqlite3
    bad_db = os.path.join(outdir, "bad-argv.db")
    shutil.copy(db, bad_db)
    con = sqlite3.connect(bad_db)
    con.execute("UPDATE meta SET value = ? WHERE key = 'argv'",
                ('["a", "b\x1b]0;x\x07"], "pwned": [1',))
    con.commit()
    con.close()
    r = subprocess.run([cli, "summary", bad_db, "--format", "json"],
                       capture_output=True)
    try:
        doc = json.loads(r.stdout.decode("utf-8"),
                         parse_constant=strict_constant)
        ok = isinstance(doc["dump"]["argv"], str) and "pwned" not in doc["dump"]
    except Exception as e:  # noqa: BLE001
        ok = "%s: %s" % (type(e).__name__, e)
    check("a forged argv meta stays a string in summary's JSON", ok is True,
          repr(ok))
    r = subprocess.run([cli, "summary", bad_db], capture_output=True)
    why = inert(r.stdout)
    check("... and inert in its table", r.returncode == 0 and why is None,
          why or "")
    svg = os.path.join(outdir, "hostile.svg")
    r = subprocess.run([cli, "graph", db, obj, "--refs", "-o", svg],
                       capture_output=True)
    check("graph --refs runs", r.returncode == 0,
          r.stderr.decode(errors="replace")[-300:])
    try:
        ET.parse(svg)
        ok, detail = True, ""
    except Exception as e:  # noqa: BLE001
        ok, detail = False, str(e)
    check("the picture parses as XML", ok, detail)
    if os.path.exists(svg):
        why = inert(open(svg, "rb").read().replace(b"\n", b" "))
        check("the picture is inert", why is None, why or "")
    return finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
