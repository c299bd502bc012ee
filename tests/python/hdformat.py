"""A second, independent reader of schema/FORMAT.md, in plain Python.

Used by the dumper's tests so that they do not depend on the C analyzer
(and so that the spec is checked by two implementations).  Strict: it raises
ValueError on anything the spec does not allow.
"""
import gzip
import struct
import zlib

MAGIC = b"\x89HDG\r\n\x1a\n"
LABEL_KINDS = {0: None, 1: "attr", 2: "key_str", 3: "key_int", 4: "key_other",
               5: "key_obj", 6: "index", 7: "local"}
ROOT_KINDS = {1: "sys.modules", 2: "builtins", 3: "frame", 4: "local",
              5: "thread", 6: "interpreter"}


class Obj(object):
    __slots__ = ("address", "type", "size", "refcount", "flags", "length",
                 "value", "traceback", "edges")


def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long at %d" % i)


def _zz(v):
    return (v >> 1) ^ -(v & 1)


class Dump(object):
    def __init__(self, path):
        data = gzip.open(path, "rb").read()
        if data[:8] != MAGIC:
            raise ValueError("bad magic")
        self.major, self.minor = struct.unpack_from("<HH", data, 8)
        self.strings = [None]
        self.types = [None]          # (address, name, module)
        self.objects = {}            # address -> Obj
        self.roots = []              # (address, kind, name)
        self.tracebacks = [None]
        self.header = None
        self.end = None
        self.memory = {}             # part -> bytes (MEMORY, 1.3)
        i = 12
        prev = 0
        last = None
        n_edges = 0
        while i < len(data):
            rec_start = i
            tag, i = _varint(data, i)
            ln, i = _varint(data, i)
            p, end = i, i + ln
            if end > len(data):
                raise ValueError("record past end at %d" % rec_start)
            if tag == 0x01:
                h = {}
                for k in ("pointer_size", "hexversion", "pid", "time_ns",
                          "options", "max_value_len", "n_meta"):
                    h[k], p = _varint(data, p)
                meta = {}
                for _ in range(h["n_meta"]):
                    kl, p = _varint(data, p)
                    k = data[p:p + kl].decode()
                    p += kl
                    vl, p = _varint(data, p)
                    meta[k] = data[p:p + vl].decode()
                    p += vl
                h["meta"] = meta
                self.header = h
            elif tag == 0x02:
                self.strings.append(data[p:end].decode("utf-8", "replace"))
            elif tag == 0x03:
                a, p = _varint(data, p)
                n, p = _varint(data, p)
                m, p = _varint(data, p)
                self.types.append((a, self.strings[n], self.strings[m]))
            elif tag == 0x04:
                o = Obj()
                d, p = _varint(data, p)
                o.address = prev + _zz(d)
                prev = o.address
                t, p = _varint(data, p)
                o.type = self.types[t]
                o.size, p = _varint(data, p)
                o.refcount, p = _varint(data, p)
                o.flags, p = _varint(data, p)
                o.length = o.value = o.traceback = None
                if o.flags & 0x80:
                    o.length, p = _varint(data, p)
                if o.flags & 0x100:
                    o.value, p = self._value(data, p)
                if o.flags & 0x200:
                    tb, p = _varint(data, p)
                    o.traceback = self.tracebacks[tb]
                o.edges = []
                p = self._edges(data, p, o)
                if o.address in self.objects:
                    self.duplicates = getattr(self, "duplicates", []) + [(self.objects[o.address], o)]
                    if not getattr(Dump, "allow_duplicates", False):
                        raise ValueError("duplicate object %x %s / %s" % (
                            o.address, o.type[1],
                            self.objects[o.address].type[1]))
                self.objects[o.address] = o
                last = o
                n_edges += len(o.edges)
            elif tag == 0x05:
                before = len(last.edges)
                p = self._edges(data, p, last)
                n_edges += len(last.edges) - before
            elif tag == 0x06:
                a, p = _varint(data, p)
                k, p = _varint(data, p)
                n, p = _varint(data, p)
                self.roots.append((a, ROOT_KINDS[k], self.strings[n]))
            elif tag == 0x07:
                n, p = _varint(data, p)
                frames = []
                for _ in range(n):
                    f, p = _varint(data, p)
                    ln_, p = _varint(data, p)
                    frames.append((self.strings[f], ln_))
                self.tracebacks.append(tuple(frames))
            elif tag == 0x08:  # SIZE (1.1): the measured size of an object
                a, p = _varint(data, p)
                size, p = _varint(data, p)
                approx, p = _varint(data, p)
                o = self.objects[a]
                o.size = size
                if not approx:
                    o.flags &= ~0x40
                self.n_sizes = getattr(self, "n_sizes", 0) + 1
            elif tag == 0x09:  # MEMORY (1.3): the process's figures
                n, p = _varint(data, p)
                self.memory = {}
                for _ in range(n):
                    ln_, p = _varint(data, p)
                    name = data[p:p + ln_].decode("ascii")
                    p += ln_
                    self.memory[name], p = _varint(data, p)
            elif tag == 0x7F:
                counts = []
                for _ in range(6):
                    c, p = _varint(data, p)
                    counts.append(c)
                crc, = struct.unpack_from("<I", data, p)
                if crc != zlib.crc32(data[:rec_start]) & 0xFFFFFFFF:
                    raise ValueError("END checksum mismatch")
                want = [len(self.strings) - 1, len(self.types) - 1,
                        len(self.objects), n_edges, len(self.roots),
                        len(self.tracebacks) - 1]
                if counts != want:
                    raise ValueError("END counts %r != %r" % (counts, want))
                self.end = counts
                if end != len(data):
                    raise ValueError("data after END")
            i = end
        if self.end is None:
            raise ValueError("truncated: no END record")

    def _value(self, b, p):
        kind, p = _varint(b, p)
        if kind in (1, 2, 8):
            n, p = _varint(b, p)
            raw = b[p:p + n]
            p += n
            return (raw.decode("utf-8") if kind != 2 else raw), p
        if kind == 3:
            v, p = _varint(b, p)
            return _zz(v), p
        if kind in (4, 9):
            return struct.unpack_from("<d", b, p)[0], p + 8
        return {5: True, 6: False, 7: None}[kind], p

    def _edges(self, b, p, o):
        n, p = _varint(b, p)
        for _ in range(n):
            d, p = _varint(b, p)
            w, p = _varint(b, p)
            kind = LABEL_KINDS[w >> 1]
            payload = None
            if kind in ("attr", "key_str", "key_other", "local"):
                s, p = _varint(b, p)
                payload = self.strings[s]
            elif kind == "key_int":
                v, p = _varint(b, p)
                payload = _zz(v)
            elif kind == "index":
                payload, p = _varint(b, p)
            o.edges.append((o.address + _zz(d), bool(w & 1), kind, payload))
        return p

    # -- helpers for tests ---------------------------------------------------
    def type_name(self, o):
        return o.type[1]

    def edges_between(self, src, dst):
        return [e for e in self.objects[id(src) if not isinstance(src, int)
                                        else src].edges if e[0] == dst]
