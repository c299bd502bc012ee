"""One benchmark run at one heap size (run by bench/run.sh).

    python bench_dump.py N OUTDIR HEAPDIG_CLI

Builds the shared workload heap of N objects, then measures in this same
process, on the same heap:
  * baseline: a plain Python walk (gc.get_objects + transitive
    gc.get_referents + sys.getsizeof, writing nothing);
  * heapdig.dump: objects/s, file bytes per object, dumper memory per object
    (the dumper's own tables, and the process's peak RSS growth);
and then `heapdig load` of the dump in a child process (seconds, peak RSS).
Prints one JSON line and a readable summary with ratios.
"""
import gc
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "bench"))
import workload  # noqa: E402
import heapdig   # noqa: E402


def rss_peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def plain_walk():
    """What a pure-Python heap walker does at best (no output)."""
    tracked = gc.get_objects()
    seen = set(map(id, tracked))
    stack = list(tracked)
    total = 0
    getsizeof, get_referents = sys.getsizeof, gc.get_referents
    for o in tracked:
        total += getsizeof(o)
    while stack:
        batch = get_referents(*stack[-4096:])
        del stack[-4096:]
        for o in batch:
            i = id(o)
            if i not in seen:
                seen.add(i)
                total += getsizeof(o)
                stack.append(o)
    return len(seen), total


def main(n, outdir, cli):
    os.makedirs(outdir, exist_ok=True)
    root = workload.build(n)
    gc.collect()

    t0 = time.perf_counter()
    walked, _ = plain_walk()
    t_walk = time.perf_counter() - t0
    gc.collect()

    path = os.path.join(outdir, "bench-%d.hdig" % n)
    rss0 = rss_peak_kib()
    t0 = time.perf_counter()
    st = heapdig.dump(path)
    t_dump = time.perf_counter() - t0
    rss_growth = (rss_peak_kib() - rss0) * 1024

    # Background dumps: the parent's pause is the fork; compare with a bare
    # os.fork() of the same process (child exits at once).
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    t_fork = time.perf_counter() - t0
    os.waitpid(pid, 0)
    bg_path = path + ".bg"
    t0 = time.perf_counter()
    job = heapdig.dump(bg_path, background=True)
    t_bg_pause = time.perf_counter() - t0
    job.wait()

    db = path + ".db"
    del root
    gc.collect()
    t0 = time.perf_counter()
    out = subprocess.run([cli, "load", "-v", path, "-o", db], check=True,
                         capture_output=True, text=True).stdout
    t_load = time.perf_counter() - t0
    # load's own report (RUSAGE_CHILDREN would include the background
    # dump's child, whose RSS is this whole heap)
    peak = [l for l in out.splitlines() if "peak memory" in l][0]
    per_obj_edge = float(peak.split("(")[1].split()[0])
    phases = [l.strip() for l in out.splitlines() if "phases" in l][0]
    store_s = float(phases.split("store ")[1].split("s")[0])
    raw = float(subprocess.run(
        [os.path.join(os.path.dirname(cli), "hd_bench_sqlite"),
         str(st["objects"]), str(st["references"]), db + ".raw"],
        check=True, capture_output=True, text=True).stdout)

    db_bytes = os.path.getsize(db)
    # every query command on the database (goal: each under 1 s at 10 M)
    leaked = "#%d" % (st["objects"] // 2)
    queries = {}
    for args in (["summary"], ["suspects"], ["top"], ["types"], ["tree"],
                 ["tree", "--format", "folded"], ["cycles"], ["external"], ["waste"], ["path", leaked],
                 ["path", leaked, "--all", "3"], ["show", leaked],
                 ["referrers", leaked]):
        t0 = time.perf_counter()
        subprocess.run([cli] + args[:1] + [db] + args[1:], check=True,
                       capture_output=True)
        queries[" ".join(args).replace(leaked, "OBJ")] = round(
            time.perf_counter() - t0, 2)
    # diff of two dumps of this size: the background dump is the second
    bg_db = bg_path + ".db"
    subprocess.run([cli, "load", "-q", bg_path, "-o", bg_db], check=True)
    t0 = time.perf_counter()
    subprocess.run([cli, "diff", db, bg_db], check=True, capture_output=True)
    t_diff = time.perf_counter() - t0

    # the HTML report of the loaded heap: time against the load's own, size
    html = path + ".html"
    t0 = time.perf_counter()
    subprocess.run([cli, "report", db, "-o", html], check=True,
                   capture_output=True)
    t_report = time.perf_counter() - t0
    report_bytes = os.path.getsize(html)
    os.unlink(html)

    objs = st["objects"]
    res = {
        "n": n, "python": sys.version.split()[0],
        "objects": objs, "references": st["references"],
        "baseline_objects": walked, "baseline_s": round(t_walk, 3),
        "baseline_objs_per_s": round(walked / t_walk),
        "dump_s": round(t_dump, 3), "dump_objs_per_s": round(objs / t_dump),
        "speedup": round((objs / t_dump) / (walked / t_walk), 2),
        "file_bytes_per_obj": round(st["bytes_written"] / objs, 2),
        "raw_bytes_per_obj": round(st["uncompressed_bytes"] / objs, 2),
        "dumper_mem_per_obj": round(st["dumper_memory"] / objs, 2),
        "rss_growth_per_obj": round(rss_growth / objs, 2),
        "fork_s": round(t_fork, 4), "background_pause_s": round(t_bg_pause, 4),
        "background_vs_fork": round(t_bg_pause / t_fork, 2),
        "load_s": round(t_load, 2),
        "sqlite_store_s": store_s, "sqlite_raw_insert_s": raw,
        "sqlite_ratio": round(store_s / raw, 2),
        "load_peak_rss_per_obj_edge": per_obj_edge,
        "report_s": round(t_report, 2), "report_bytes": report_bytes,
        "report_vs_load": round(t_report / t_load, 3),
        "db_bytes_per_obj_edge": round(db_bytes / (objs + st["references"]),
                                       1),
        "diff_s": round(t_diff, 2), "diff_vs_load": round(t_diff / t_load, 3),
        "queries_s": queries,
    }
    print(json.dumps(res))
    print("  N=%d: dump %.2fs = %.2fM obj/s vs plain Python walk %.2fM obj/s "
          "-> %.2fx (target >= 3x)" % (n, t_dump, objs / t_dump / 1e6,
                                        walked / t_walk / 1e6,
                                        res["speedup"]))
    print("  file %.1f B/obj (raw %.1f); dumper memory %.1f B/obj (peak RSS "
          "growth %.1f B/obj; target <= 24)" % (
              res["file_bytes_per_obj"], res["raw_bytes_per_obj"],
              res["dumper_mem_per_obj"], res["rss_growth_per_obj"]))
    print("  background dump pauses the process %.1f ms vs bare os.fork() "
          "%.1f ms -> %.2fx (goal <= 2x); foreground pause %.0f ms" % (
              t_bg_pause * 1e3, t_fork * 1e3, t_bg_pause / t_fork,
              t_dump * 1e3))
    print("  heapdig load + analysis %.1fs (targets: < 15 s at 5M, < 30 s "
          "at 10M), peak %.0f B per object+edge (target <= 64)" % (
              t_load, res["load_peak_rss_per_obj_edge"]))
    print("  %s" % phases)
    print("  the rows (and edges_dst) %.1fs vs SQLite's raw insert of the "
          "same rows %.1fs -> %.2fx (target <= 1.5x)" % (store_s, raw,
                                                          store_s / raw))
    print("  heapdig report %.2fs = %.3fx the load, %.2f MB (goal: a few "
          "seconds, a few MB)" % (t_report, t_report / t_load,
                                  report_bytes / 1e6))
    print("  database %.1f B per object+reference (target <= 40); diff of "
          "two dumps %.2fs = %.3fx the load (target: two 10 M dumps < 60 s)"
          % (res["db_bytes_per_obj_edge"], t_diff, t_diff / t_load))
    slow = sorted(queries.items(), key=lambda kv: -kv[1])
    print("  queries: %s (goal: each < 1 s at 10 M)" % ", ".join(
        "%s %.2fs" % kv for kv in slow))
    for f in (path, db, bg_path, bg_db):
        os.unlink(f)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
