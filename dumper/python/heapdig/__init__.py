"""heapdig: snapshot a CPython heap for offline analysis.

    import heapdig
    heapdig.dump("app.hdig")                      # the whole heap, now
    job = heapdig.dump("app.hdig", background=True)  # fork; the process goes on
    job.wait()
    heapdig.dump_on_signal()                      # kill -USR2 <pid> dumps
    python -m heapdig run --on-signal USR2 app.py # no code change

Then `heapdig load app.hdig` and dig in (see the heapdig CLI).  The walk
itself is C (heapdig._heapdig): it runs no Python code, allocates no Python
object per object and leaves the heap as it found it.
"""
import itertools as _itertools
import os
import signal as _signal
import sys as _sys
import sysconfig as _sysconfig
import time as _time

if _sysconfig.get_config_var("Py_GIL_DISABLED"):
    # Objects live in per-thread heaps there and other threads run during a
    # walk; the C core refuses to build for it, and says so here too.
    raise ImportError("heapdig does not support free-threaded CPython "
                      "builds (%s); use the default build" % _sys.version)

from heapdig._heapdig import FORMAT_MAJOR, FORMAT_MINOR, __version__
from heapdig._heapdig import _dump_fork
from heapdig._heapdig import dump as _dump

__all__ = ["dump", "dump_on_signal", "BackgroundDump", "expand_path",
           "FORMAT_MAJOR", "FORMAT_MINOR", "__version__"]

_counter = _itertools.count(1)  # next() is one step: no two dumps share n


def expand_path(template):
    """Fills a path template: {pid} the process id, {n} a counter (1, 2, ...
    per process), {time} the local time as YYYYmmdd-HHMMSS."""
    return template.format(pid=os.getpid(), n=next(_counter),
                           time=_time.strftime("%Y%m%d-%H%M%S"))


class BackgroundDump(object):
    """A dump being written by a forked child.  poll() returns None while it
    runs; wait() blocks; both return the statistics dict when it succeeded
    and raise OSError with the child's message when it failed."""

    def __init__(self, pid, fd, path):
        self.pid = pid
        self.path = path
        self._fd = fd
        self._result = None
        self._error = None

    def _finish(self, status):
        data = b""
        while True:
            chunk = os.read(self._fd, 4096)
            if not chunk:
                break
            data += chunk
        os.close(self._fd)
        self._fd = None
        line = data.decode("utf-8", "replace").strip()
        if line.startswith("ok "):
            objects, refs, nbytes, secs = line.split()[1:5]
            self._result = {"objects": int(objects), "references": int(refs),
                            "bytes_written": int(nbytes),
                            "seconds": float(secs), "pid": self.pid,
                            "path": self.path}
        else:
            msg = line[6:] if line.startswith("error ") else (
                "background dump process ended with status %d" % status)
            self._error = OSError(msg)

    def poll(self):
        """The result if the child has finished, else None."""
        if self._fd is not None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                return None
            self._finish(status)
        if self._error:
            raise self._error
        return self._result

    def wait(self, timeout=None):
        """Waits for the child (at most `timeout` seconds: then None)."""
        deadline = None if timeout is None else _time.monotonic() + timeout
        while self._fd is not None:
            if deadline is None:
                pid, status = os.waitpid(self.pid, 0)
                self._finish(status)
                break
            if self.poll() is not None or self._fd is None:
                break
            if _time.monotonic() >= deadline:
                return None
            _time.sleep(0.01)
        return self.poll()


def dump(path, background=False, **options):
    """Writes a snapshot of the whole heap to `path` (gzip, mode 0600,
    atomic: a failed dump leaves no file).

    options: values=True (record short values; turn off for secrets),
    max_value_len=64, compression=1 (zlib level 0-9), tracebacks=False
    (allocation sites while tracemalloc traces).

    background=False: returns a statistics dict (objects, references,
    bytes_written, seconds, ...).  background=True: forks; the child walks
    the copy-on-write image (all threads included), writes the file and
    leaves with _exit; returns a BackgroundDump to poll() or wait() on.
    """
    if not background:
        return _dump(path, **options)
    pid, fd = _dump_fork(path, **options)
    return BackgroundDump(pid, fd, os.fspath(path))


def dump_on_signal(signum=_signal.SIGUSR2, path="heap-{pid}-{n}.hdig",
                   background=False, **options):
    """Dumps to `path` (a template, see expand_path) each time the process
    receives `signum`.  Python runs the handler in the main thread between
    bytecodes, never inside the C signal handler (on 3.11+ CPython creates
    the interrupted frame's object to pass it to any handler).  With
    background=True each dump forks; finished children are reaped at the
    next signal.  Returns the previous handler."""
    def _on_signal(sig, frame):
        for job in list(_pending):
            try:
                if job.poll() is not None:
                    _pending.remove(job)
            except OSError:
                _pending.remove(job)
        result = dump(expand_path(path), background=background, **options)
        if background:
            _pending.append(result)
    return _signal.signal(signum, _on_signal)


_pending = []  # background dumps started by signals, not yet reaped
