"""Sample 1: an unbounded module-level cache of request objects.

A web handler memoises every request it sees in a module-level dict and
never evicts anything, so memory grows with traffic.  Run it with a path and
it serves some fake traffic, then dumps its own heap there:

    PYTHONPATH=build/python python3 samples/leaky_cache.py leak.hdig
    build/heapdig load leak.hdig && build/heapdig summary leak.hdig.db
"""
import sys

import heapdig

_REQUEST_CACHE = {}  # the leak: grows forever


class Request(object):
    def __init__(self, rid, path, body):
        self.rid = rid
        self.path = path
        self.body = body
        self.headers = {"User-Agent": "demo/1.0", "X-Request-Id": str(rid)}


def handle(rid):
    path = "/api/items/%d" % rid
    req = Request(rid, path, b"x" * 512)
    _REQUEST_CACHE[path] = req  # "memoised" and never evicted
    return len(req.body)


def main(out):
    for rid in range(20000):
        handle(rid)
    stats = heapdig.dump(out)
    print("dumped %(objects)d objects, %(references)d references, "
          "%(bytes_written)d bytes in %(seconds).2fs" % stats)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "leaky_cache.hdig")
