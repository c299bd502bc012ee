"""Sample 6: a C extension that forgets a Py_DECREF (tests/leakext/leakmod.c:
keep() takes a reference it never releases).  Nothing in the heap refers to
the leaked objects; `heapdig external` names them.

    PYTHONPATH=build/python python3 samples/c_extension_leak.py OUT.hdig
"""
import sys

import heapdig
import leakmod  # built by CMake next to heapdig


def process(batch_id):
    batch = [bytes(1024) for _ in range(100)]  # ~100 KiB
    leakmod.keep(batch)  # the C code "borrows" it and forgets to let go
    return len(batch)


def main(out):
    for b in range(10):
        process(b)
    heapdig.dump(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "c_extension_leak.hdig")
