"""Writes a real dump of a small, varied heap (the tests' shared fixture)."""
import collections
import os
import sys
import weakref

import heapdig


class Item(object):
    def __init__(self, i):
        self.i = i
        self.name = "item-%d" % i
        self.tags = ["t%d" % (i % 7)]


def main(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    items = [Item(i) for i in range(3000)]
    index = {it.name: it for it in items}
    ring = collections.deque(items[:100])
    refs = [weakref.ref(it) for it in items[:50]]
    # one list dominating 6,000 objects: the load groups what it holds
    blobs = [("blob-%d" % i).encode() for i in range(6000)]
    stats = heapdig.dump(path)
    print(stats)
    return items, index, ring, refs, blobs


if __name__ == "__main__":
    keep = main(sys.argv[1])
