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


def same_inflated(a, b):
    """Whether two gzip files inflate to the same bytes, every member."""
    import zlib

    def inflate(x):
        out = []
        while x:
            d = zlib.decompressobj(31)
            try:
                out.append(d.decompress(x))
            except zlib.error:
                return None
            if not d.eof:
                return None
            x = d.unused_data
        return b"".join(out)
    return inflate(a) is not None and inflate(a) == inflate(b)


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
    # a pipe whose writer stalls after a spoiled record: the error is said
    # at once, not when the writer goes (the thread's read is not waited on)
    import time
    early = bytearray(data)  # a run of 0xff a quarter in: no record frames
    early[len(early) // 4:len(early) // 4 + 64] = b"\xff" * 64
    spoiled_gz = gzip.compress(bytes(early), mtime=0)
    p = subprocess.Popen([cli, "load", "/dev/stdin", "-o", db, "--force",
                          "-q"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.time()
    try:  # heapdig may have said its error and gone before the last byte
        p.stdin.write(spoiled_gz[:len(spoiled_gz) * 2 // 3])
        p.stdin.flush()
    except BrokenPipeError:
        pass
    try:
        rc = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.time() - t0
    try:
        p.stdin.close()
    except BrokenPipeError:
        pass
    if rc is None:
        p.wait()
    err = p.stderr.read().decode(errors="replace")
    check("a stalled pipe after a spoiled record: exit 1 at once (%.1f s)"
          % took, rc == 1 and took < 10 and "corrupt dump at byte" in err, err)
    # odd-sized writes through a pipe: every byte arrives once
    p = subprocess.Popen([cli, "load", "/dev/stdin", "-o", db, "--force",
                          "--format", "json"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    whole = open(good, "rb").read()
    sizes, i, k = (1, 999, 4097, 3, 70001, 13), 0, 0
    while i < len(whole):
        p.stdin.write(whole[i:i + sizes[k % len(sizes)]])
        p.stdin.flush()
        i += sizes[k % len(sizes)]
        k += 1
    p.stdin.close()
    out = p.stdout.read().decode()
    p.wait()
    got = __import__("json").loads(out)["objects"] if p.returncode == 0 \
        else p.stderr.read()
    check("a gzip dump written to a pipe in odd pieces loads whole",
          (0, got) == want, repr((got, want)))
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
        # a flip deflate never reads (the padding bits of a stored block or
        # of a member's last byte) changes nothing: then it loads as is
        check("flip at %d" % pos, (rc in (1, 3) and
                                   err.startswith("heapdig:")) or
              (rc == 0 and same_inflated(bytes(b), data)),
              "rc=%d %s" % (rc, err.strip()))
    return finish()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
