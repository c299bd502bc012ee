"""A running service that leaks: every request's session is kept forever.
For the walkthrough in samples/README.md (take two dumps while it runs).

    python3 samples/leaky_service.py [--seconds N]
"""
import argparse
import time


class Session(object):
    def __init__(self, sid, user):
        self.sid = sid
        self.user = user
        self.cart = [("item-%d" % i, i * 0.5) for i in range(20)]


_SESSIONS = {}  # the leak: sessions are added, never expired


def handle(n):
    session = Session(n, "user%d" % (n % 100))
    _SESSIONS["sess-%d" % n] = session
    return len(session.cart)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    a = ap.parse_args()
    deadline = time.monotonic() + a.seconds
    n = 0
    while time.monotonic() < deadline:
        handle(n)
        n += 1
        time.sleep(0.001)


if __name__ == "__main__":
    main()
