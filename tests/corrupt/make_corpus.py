"""Writes the crafted corrupt dumps in this folder (run by hand when adding
one; the files are committed).  Each file breaks one rule of FORMAT.md and
is named NNNN-<what>.hdig; test_corrupt.py checks heapdig refuses each with
a clear message (names with "truncated" must load partially, exit 3)."""
import gzip
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def v(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zz(n):
    return (n << 1) ^ (n >> 63)


def rec(tag, payload):
    return v(tag) + v(len(payload)) + payload


def prelude(major=1, minor=0):
    return b"\x89HDG\r\n\x1a\n" + struct.pack("<HH", major, minor)


HEADER = rec(1, v(8) + v(0x030B07F0) + v(1) + v(0) + v(1) + v(64) + v(0))
STRINGS = rec(2, b"T") + rec(2, b"m")
TYPE = rec(3, v(0x1000) + v(1) + v(2))


def obj(delta, type_id=1, flags=0, edges=b"\x00"):
    return rec(4, v(zz(delta)) + v(type_id) + v(16) + v(1) + v(flags) + edges)


def end(body, counts=None, crc=None):
    c = counts or [2, 1, 1, 0, 0, 0]
    crc = zlib.crc32(body) if crc is None else crc
    return rec(0x7F, b"".join(v(x) for x in c) + struct.pack("<I", crc))


def good_body():
    return prelude() + HEADER + STRINGS + TYPE + obj(0x2000)


CASES = {
    "0001-bad-magic": b"\x89HDX\r\n\x1a\n" + good_body()[8:],
    "0002-future-major": prelude(major=2) + HEADER,
    "0003-huge-record-length": prelude() + v(1) + v(1 << 40),
    "0004-label-undefined-string": (
        prelude() + HEADER + STRINGS + TYPE +
        obj(0x2000, edges=v(1) + v(zz(0)) + v(1 << 1) + v(99))),
    "0005-object-undefined-type": prelude() + HEADER + STRINGS + TYPE +
    obj(0x2000, type_id=7),
    "0006-end-count-mismatch": None,  # filled below
    "0007-duplicate-object": None,
    "0008-reserved-flag-bits": prelude() + HEADER + STRINGS + TYPE +
    obj(0x2000, flags=0x8000),
    "0009-edges-without-object": prelude() + HEADER + STRINGS +
    rec(5, v(0)),
    "0010-data-after-end": None,
    "0011-bad-checksum": None,
    "0012-truncated-no-end": good_body(),
    "0013-header-not-first": prelude() + STRINGS + HEADER,
    "0014-edge-count-overflow": prelude() + HEADER + STRINGS + TYPE +
    obj(0x2000, edges=v(1 << 50)),
    "0015-value-runs-past-record": prelude() + HEADER + STRINGS + TYPE +
    rec(4, v(zz(0x2000)) + v(1) + v(16) + v(1) + v(0x100) + v(1) + v(200) +
        b"abc"),
    "0016-unknown-label-kind": prelude() + HEADER + STRINGS + TYPE +
    obj(0x2000, edges=v(1) + v(0) + v(60 << 1)),
}
# 1.1: SIZE records
CASES["0018-size-bad-approx"] = (prelude(minor=1) + HEADER + STRINGS + TYPE +
                                 obj(0x2000) + rec(8, v(0x2000) + v(64) + v(2)))
b3 = prelude(minor=1) + HEADER + STRINGS + TYPE + obj(0x2000) + \
    rec(8, v(0x9999) + v(64) + v(0))
CASES["0019-size-of-unknown-object"] = b3 + end(b3)
# 1.3: the MEMORY record
def memory(*parts):
    return rec(9, v(len(parts)) + b"".join(v(len(n)) + n + v(x)
                                           for n, x in parts))


b4 = prelude(minor=3) + HEADER + memory((b"rss", 1 << 20)) + \
    memory((b"rss", 2 << 20)) + STRINGS + TYPE + obj(0x2000)
CASES["0020-memory-twice"] = b4 + end(b4)
b5 = prelude(minor=3) + HEADER + memory((b"rss\x1b[31m", 1)) + STRINGS + \
    TYPE + obj(0x2000)
CASES["0021-memory-part-name-not-a-name"] = b5 + end(b5)
b6 = prelude(minor=3) + HEADER + rec(9, v(3) + v(3) + b"rss" + v(1)) + \
    STRINGS + TYPE + obj(0x2000)
CASES["0022-memory-parts-run-past-record"] = b6 + end(b6)
b = good_body()
CASES["0006-end-count-mismatch"] = b + end(b, counts=[2, 1, 5, 0, 0, 0])
b2 = good_body() + obj(0)  # delta 0: the same address again
CASES["0007-duplicate-object"] = b2 + end(b2, counts=[2, 1, 2, 0, 0, 0])
CASES["0010-data-after-end"] = b + end(b) + rec(2, b"x")
CASES["0011-bad-checksum"] = b + end(b, crc=12345)



def main():
    for name, raw in CASES.items():
        with open(os.path.join(HERE, name + ".hdig"), "wb") as f:
            f.write(gzip.compress(raw, mtime=0))
    # not gzip at all
    with open(os.path.join(HERE, "0017-not-gzip.hdig"), "wb") as f:
        f.write(b"PK\x03\x04 this is a zip file, not a heap dump\n")
    print("wrote", len(CASES) + 1, "files")


if __name__ == "__main__":  # the helpers above serve tests/e2e too
    main()
