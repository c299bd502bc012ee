"""Sample 7: NumPy arrays.  An array that owns its buffer reports it in
sys.getsizeof (ndarray.__sizeof__), so the buffers count in sizes; views
own nothing and retain their base.  Needs NumPy (Debian's python3-numpy
with Debian's python3).

    PYTHONPATH=build/py-debian /usr/bin/python3 samples/numpy_arrays.py OUT.hdig
"""
import sys

import numpy as np

import heapdig

FRAMES = []  # a "history" that keeps every frame ever rendered


def render(i):
    frame = np.zeros((256, 256), dtype=np.float64)  # 512 KiB each
    frame += i
    FRAMES.append(frame)
    return frame[:16, :16]  # a view


def main(out):
    views = [render(i) for i in range(20)]
    heapdig.dump(out)
    return views


if __name__ == "__main__":
    KEEP = main(sys.argv[1] if len(sys.argv) > 1 else "numpy_arrays.hdig")
