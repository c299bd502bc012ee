"""Sample 3: reference cycles whose objects define __del__, left for the
collector.  The dump is taken before gc runs: `heapdig cycles --garbage`
shows what gc.collect() would free and flags the finalisers.

    PYTHONPATH=build/python python3 samples/del_cycles.py OUT.hdig
"""
import gc
import sys

import heapdig


class Connection(object):
    def __init__(self, name):
        self.name = name
        self.buffer = bytearray(4096)
        self.session = None

    def __del__(self):
        pass  # "close" the connection


class Session(object):
    def __init__(self, conn):
        self.conn = conn
        conn.session = self  # the cycle: conn <-> session


def handle(i):
    Session(Connection("conn-%d" % i))  # dropped, but the cycle keeps it


def main(out):
    gc.disable()  # as when the collector has not run yet
    for i in range(50):
        handle(i)
    heapdig.dump(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "del_cycles.hdig")
