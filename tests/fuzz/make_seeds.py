"""Writes the fuzzers' seed corpus in seeds/ (run by hand; the files are
committed): small well-formed dumps that reach every record kind, every
label kind and the analysis (roots, a cycle, garbage, a traceback, a SIZE
and a MEMORY record), gzip-compressed as the dumper writes them and raw.
The crafted corrupt dumps in tests/corrupt are seeds too (the CMake rule
passes both folders)."""
import gzip
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "corrupt"))
from make_corpus import HEADER, end, prelude, rec, v, zz  # noqa: E402

STRINGS = b"".join(rec(2, s) for s in (b"dict", b"builtins", b"Node", b"app",
                                       b"key", b"attr", b"local", b"f.py",
                                       b"rss"))
TYPES = rec(3, v(0x1000) + v(1) + v(2)) + rec(3, v(0x1100) + v(3) + v(4))


def obj(addr, prev, type_id, edges, flags=1, size=64, refcount=1,
        extra=b""):
    """extra: the optional fields the flags announce (length, value, tb)."""
    body = v(zz(addr - prev)) + v(type_id) + v(size) + v(refcount) + \
        v(flags) + extra + v(len(edges)) + b"".join(edges)
    return rec(4, body)


def edge(owner, target, kind, payload=b"", weak=0):
    return v(zz(target - owner)) + v(kind << 1 | weak) + payload


def heap():
    """A dict holding nodes by every label kind, a cycle, and garbage."""
    d, a, b, c, g1, g2 = 0x2000, 0x2100, 0x2200, 0x2300, 0x2400, 0x2500
    out = obj(d, 0, 1, [edge(d, a, 2, v(5)), edge(d, b, 3, v(zz(-7))),
                        edge(d, c, 4, v(6)), edge(d, a, 5),
                        edge(d, b, 6, v(2))], refcount=2)
    out += obj(a, d, 2, [edge(a, b, 1, v(6)), edge(a, c, 7, v(7))])
    out += obj(b, a, 2, [edge(b, a, 1, v(6)), edge(b, c, 0, b"", 1)])
    # a str value (kind 1), a length and a traceback id
    out += obj(c, b, 2, [], flags=1 | 0x80 | 0x100 | 0x200, size=48,
               extra=v(3) + v(1) + v(3) + b"abc" + v(1))
    out += obj(g1, c, 2, [edge(g1, g2, 1, v(6))], flags=1 | 2)
    out += obj(g2, g1, 2, [edge(g2, g1, 1, v(6))])
    return out


def dump(minor):
    tb = rec(7, v(1) + v(8) + v(12))
    size = rec(8, v(0x2300) + v(56) + v(0)) if minor >= 1 else b""
    mem = rec(9, v(1) + v(3) + b"rss" + v(1 << 20)) if minor >= 3 else b""
    root = rec(6, v(0x2000) + v(1) + v(0))
    body = prelude(minor=minor) + HEADER + mem + STRINGS + TYPES + tb + \
        heap() + size + root
    # counts: strings, types, objects, edges, roots, tracebacks
    return body + end(body, counts=[9, 2, 6, 11, 1, 1])


def main():
    os.makedirs(os.path.join(HERE, "seeds"), exist_ok=True)
    for minor in (0, 3):
        raw = dump(minor)
        with open(os.path.join(HERE, "seeds", "heap-1.%d.hdig" % minor),
                  "wb") as f:
            f.write(gzip.compress(raw, mtime=0))
        with open(os.path.join(HERE, "seeds", "heap-1.%d.raw" % minor),
                  "wb") as f:
            f.write(raw)
    print("wrote 4 seeds")


if __name__ == "__main__":
    main()
