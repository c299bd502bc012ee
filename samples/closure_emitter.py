"""Sample 2: a closure captures a large object and is registered on a
long-lived event emitter that nobody unsubscribes from.

    PYTHONPATH=build/python python3 samples/closure_emitter.py OUT.hdig
"""
import sys

import heapdig


class EventEmitter(object):
    """Lives as long as the process (a module-level singleton)."""

    def __init__(self):
        self.listeners = {}

    def on(self, event, fn):
        self.listeners.setdefault(event, []).append(fn)


BUS = EventEmitter()


class Report(object):
    def __init__(self, n):
        self.rows = [("row-%d" % i, i * 1.5) for i in range(n)]


def render_page(page):
    report = Report(2000)  # big, meant to be temporary

    def on_refresh():      # captures `report` in a cell
        return len(report.rows)

    BUS.on("refresh", on_refresh)  # the leak: never removed
    return page


def main(out):
    for page in range(20):
        render_page(page)
    heapdig.dump(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "closure_emitter.hdig")
