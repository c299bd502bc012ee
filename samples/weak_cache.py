"""Sample 5: a weakref.WeakValueDictionary cache that does NOT leak.
Its entries are weak edges, which retain nothing: the cache's retained size
is tiny while the objects are owned (and retained) by the live sessions.

    PYTHONPATH=build/python python3 samples/weak_cache.py OUT.hdig
"""
import sys
import weakref

import heapdig


class User(object):
    def __init__(self, uid):
        self.uid = uid
        self.profile = bytes(2000)


CACHE = weakref.WeakValueDictionary()
SESSIONS = []


def login(uid):
    user = CACHE.get(uid)
    if user is None:
        user = CACHE[uid] = User(uid)
    SESSIONS.append(user)


def main(out):
    for uid in range(500):
        login(uid)
    del SESSIONS[250:]  # half log out: their users are freed at once
    heapdig.dump(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "weak_cache.hdig")
