"""`heapdig load` on damaged dumps: clean errors, never a crash.

    python test_corrupt.py HEAPDIG_CLI GOOD_DUMP CORPUS_DIR OUTDIR

* the crafted corpus (tests/corrupt/NNNN-<what>.hdig): each must fail with
  exit status 1 and a message naming the problem, leaving no database;
* the good dump cut at many places: exit status 3 ("truncated"), a database
  with what it held;
* the good dump with bytes damaged at many places: exit 1 or 3, never a
  signal, never exit 0.
Run under an ASan/UBSan build, a memory error fails the run too.
"""
import os
import random
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hdtest import check as _check, finish  # noqa: E402


def check(name, ok, detail=""):
    _check(name, ok, detail, quiet=True)  # hundreds of cases: failures only


def load(cli, path, db):
    if os.path.exists(db):
        os.unlink(db)
    r = subprocess.run([cli, "load", "-q", path, "-o", db],
                       capture_output=True, text=True)
    return r.returncode, r.stderr


def inflated_on_a_thread(cli, good, outdir, db):
    """A gzip dump is inflated on a thread of its own while the records are
    parsed: what it says of a damaged or unusual file must be what reading
    it in one piece says (the uncompressed stream is read in one thread)."""
    import gzip
    import struct
    import zlib
    data = gzip.decompress(open(good, "rb").read())
    raw = os.path.join(outdir, "raw.hdig")
    gz = os.path.join(outdir, "gz.hdig")

    def put(path, b):
        with open(path, "wb") as f:
            f.write(b)

    def objects(path):
        r = subprocess.run([cli, "load", path, "-o", db, "--force",
                            "--format", "json"], capture_output=True,
                           text=True)
        return (r.returncode, __import__("json").loads(r.stdout)["objects"]
                if r.returncode == 0 else r.stderr)

    # a record spoiled inside a deflate stream that is itself well formed,
    # whose CRC inflate only checks at the member's end: the record's error
    # (at its byte) comes first, as it does uncompressed
    spoiled = bytearray(data)
    for k in range(len(spoiled) // 3, len(spoiled) // 3 + 24):
        spoiled[k] ^= 0xA5
    member = bytearray(gzip.compress(bytes(spoiled), mtime=0))
    member[-8:-4] = struct.pack("<I", zlib.crc32(data))  # the good CRC
    put(raw, bytes(spoiled))
    put(gz, bytes(member))
    rc_raw, err_raw = load(cli, raw, db)
    rc_gz, err_gz = load(cli, gz, db)
    check("a spoiled record under a bad CRC: the record's error, as "
          "uncompressed", rc_gz == rc_raw == 1 and "corrupt dump at byte" in
          err_gz and err_gz.replace("gz.hdig", "raw.hdig") == err_raw,
          "%r / %r" % (err_gz, err_raw))
    print("ok   spoiled record under a bad CRC: %s" % err_gz.strip()[:100])
    # damage inflate sees at once (a deflate block of the reserved type
    # after a good member's worth of records): said with the byte it reached
    whole = gzip.compress(data, mtime=0)
    put(gz, whole + gzip.compress(b"", mtime=0)[:10] + b"\x07" + b"\0" * 64)
    rc, err = load(cli, gz, db)
    check("damage inflate finds: exit 1, 'compressed data is damaged' at "
          "the byte after the good member's", rc == 1 and
          "compressed data is damaged (invalid block type" in err and
          ("corrupt dump at byte %d:" % len(data)) in err, err)
    # the gzip trailer cut off after the END record
    put(gz, open(good, "rb").read()[:-8])
    rc, err = load(cli, gz, db)
    check("the compressed stream cut after the END record: exit 3, said",
          rc == 3 and "ends early (after the END record)" in err, err)
    # several gzip members, a pipe, the uncompressed stream: the same heap
    want = objects(good)
    third = len(data) // 3
    put(gz, b"".join(gzip.compress(data[i:i + third], mtime=0)
                     for i in range(0, len(data), third)))
    check("a dump of several gzip members loads whole", objects(gz) == want,
          repr((objects(gz), want)))
    put(raw, data)
    check("the uncompressed stream loads whole", objects(raw) == want)
    for path in (good, raw):
        r = subprocess.run("%s load /dev/stdin -o %s --force --format json "
                           "< %s" % (cli, db, path), shell=True,
                           capture_output=True, text=True)
        got = __import__("json").loads(r.stdout)["objects"] \
            if r.returncode == 0 else r.stderr
        check("%s through a pipe loads whole (nothing read twice)" %
              ("gzip" if path == good else "uncompressed"),
              (0, got) == want, repr((got, want)))


def main(cli, good, corpus, outdir):
    os.makedirs(outdir, exist_ok=True)
    db = os.path.join(outdir, "x.db")

    names = sorted(n for n in os.listdir(corpus) if n.endswith(".hdig"))
    check("the crafted corpus is there", len(names) >= 22, repr(names))
    for name in names:
        rc, err = load(cli, os.path.join(corpus, name), db)
        expect_rc = 3 if "truncated" in name else 1
        check("corpus %s" % name, rc == expect_rc and err.startswith(
            "heapdig: ") and any(w in err for w in ("corrupt", "version",
                                                    "truncated")),
            "rc=%d %s" % (rc, err.strip()))
        if expect_rc == 1:
            check("corpus %s leaves no db" % name, not os.path.exists(db))
        print("ok   %-40s %s" % (name, err.strip()[:110]))

    inflated_on_a_thread(cli, good, outdir, db)
    data = open(good, "rb").read()
    rng = random.Random(1234)
    cut_points = sorted(set([1, 2, 10, 20, len(data) - 1, len(data) - 8] +
                            [rng.randrange(len(data)) for _ in range(25)]))
    bad = os.path.join(outdir, "bad.hdig")
    for n in cut_points:
        with open(bad, "wb") as f:
            f.write(data[:n])
        rc, err = load(cli, bad, db)
        # Exit 3 with what the dump held; exit 1 when not even the header
        # arrived (nothing to load, no database).
        check("cut at %d" % n, rc in (1, 3) and "truncated" in err and
              os.path.exists(db) == (rc == 3), "rc=%d %s" % (rc, err.strip()))
    for k in range(40):
        b = bytearray(data)
        pos = rng.randrange(10, len(b))
        b[pos] ^= 1 << rng.randrange(8)
        with open(bad, "wb") as f:
            f.write(bytes(b))
        rc, err = load(cli, bad, db)
        check("flip at %d" % pos, rc in (1, 3) and err.startswith("heapdig:"),
              "rc=%d %s" % (rc, err.strip()))
    return finish()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
