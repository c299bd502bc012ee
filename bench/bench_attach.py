"""`heapdig attach` benchmark at one heap size (run by bench/run.sh --attach).

    python bench_attach.py N OUTDIR HEAPDIG_CLI

Starts a target of this interpreter that builds the shared workload heap of
N objects and then spins, timing each loop iteration; attaches to it
(background and --foreground), and reports the attach's wall time and the
longest gap the target saw during it, next to the pause of a bare
os.fork() measured in the same target.  One JSON line and a summary.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

TARGET = r'''
import os, sys, time
sys.path.insert(0, %r)
import workload
root = workload.build(int(sys.argv[1]))
def longest_gap(seconds):
    end = time.perf_counter() + seconds
    last, gap = time.perf_counter(), 0.0
    while last < end:
        now = time.perf_counter()
        gap = max(gap, now - last)
        last = now
    return gap
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os._exit(0)
fork_pause = time.perf_counter() - t0
os.waitpid(pid, 0)
print("ready %%f" %% fork_pause, flush=True)
for _ in range(2):
    sys.stdin.readline()          # the attach is about to start
    print("gap %%f" %% longest_gap(float(sys.argv[2])), flush=True)
''' % os.path.join(HERE, "..", "..", "shared", "bench")


def main(n, outdir, cli):
    os.makedirs(outdir, exist_ok=True)
    script = os.path.join(outdir, "attach_target.py")
    with open(script, "w") as f:
        f.write(TARGET)
    window = 8.0 if n <= 1000000 else 20.0
    p = subprocess.Popen([sys.executable, "-I", script, str(n), str(window)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    fork_pause = float(p.stdout.readline().split()[1])
    res = {"n": n, "python": sys.version.split()[0], "fork_pause_s": fork_pause}
    for mode in ("background", "foreground"):
        out = os.path.join(outdir, "attached-%s-%d.hdig" % (mode, n))
        if os.path.exists(out):
            os.unlink(out)
        p.stdin.write("go\n")
        p.stdin.flush()
        time.sleep(0.2)
        t0 = time.time()
        r = subprocess.run([cli, "attach", str(p.pid), "-o", out] +
                           (["--foreground"] if mode == "foreground" else []),
                           capture_output=True, text=True)
        res[mode + "_attach_s"] = time.time() - t0
        if r.returncode != 0:
            sys.exit("attach failed: " + r.stderr)
        res[mode + "_gap_s"] = float(p.stdout.readline().split()[1])
    p.wait()
    print(json.dumps(res))
    print("  N=%d: attach (background) %.2f s wall, target's longest pause "
          "%.1f ms vs a bare os.fork() %.1f ms -> %.2fx; --foreground %.2f s "
          "wall, pause %.0f ms" % (
              n, res["background_attach_s"], res["background_gap_s"] * 1e3,
              fork_pause * 1e3, res["background_gap_s"] / fork_pause,
              res["foreground_attach_s"], res["foreground_gap_s"] * 1e3))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
