"""Sample 4: the same data as __dict__ instances and as __slots__
instances; `heapdig types` shows what each instance costs.

    PYTHONPATH=build/python python3 samples/dict_vs_slots.py OUT.hdig
"""
import sys

import heapdig


class PointDict(object):
    def __init__(self, x, y, z):
        self.x, self.y, self.z = x, y, z


class PointSlots(object):
    __slots__ = ("x", "y", "z")

    def __init__(self, x, y, z):
        self.x, self.y, self.z = x, y, z


def main(out):
    floats = [float(i) for i in range(3 * 10000)]
    with_dict = [PointDict(*floats[3 * i:3 * i + 3]) for i in range(10000)]
    for p in with_dict[::2]:
        p.__dict__  # code that touches __dict__ makes it a real dict
    with_slots = [PointSlots(*floats[3 * i:3 * i + 3]) for i in range(10000)]
    heapdig.dump(out)
    return with_dict, with_slots


if __name__ == "__main__":
    KEEP = main(sys.argv[1] if len(sys.argv) > 1 else "dict_vs_slots.hdig")
