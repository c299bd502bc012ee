/* heapdig — MIT licence.
 *
 * pipeline.c: hd_load_file, the public entry point: read the dump into the
 * heap model, analyse it, store it (read -> analyze -> store).
 */
#include "read/read.h"
#include "analyze/analyze.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h> /* getrusage: peak memory */
#include <sys/stat.h>

/* This process's peak resident memory in bytes: Linux's VmHWM, which is
 * this program's own; getrusage's ru_maxrss outlives exec, so a load
 * started from a big process (a benchmark's, a test runner's) reported
 * that process's size as its own. */
static uint64_t
peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kib = 0;
    int found = 0;
    while (f && !found && fgets(line, sizeof(line), f))
        found = sscanf(line, "VmHWM: %llu kB", &kib) == 1;
    if (f)
        fclose(f);
    if (found)
        return (uint64_t)kib * 1024;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        return (uint64_t)ru.ru_maxrss * 1024;
    return 0;
}


int
hd_load_file(hd_load_stats *stats, const char *dump, const char *db_path,
             hd_progress_cb progress, void *payload)
{
    hd_heap *h = NULL;
    hd_load_stats local;
    double t0 = hd__now();
    int err, read_err;

    hd_error_clear();
    if (stats == NULL)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    /* The database never replaces its own dump; it is as private as it
     * (it holds the same values). */
    struct stat in_st, out_st;
    mode_t mode = 0600;
    if (stat(dump, &in_st) == 0) {
        mode = in_st.st_mode & 0666;
        if (stat(db_path, &out_st) == 0 && out_st.st_dev == in_st.st_dev &&
            out_st.st_ino == in_st.st_ino)
            return hd_error_set(HD_EINVAL, "%s is the dump itself: the "
                                "database goes elsewhere (-o)", db_path);
    }
    read_err = hd_heap__read(&h, dump, progress, payload);
    if (h == NULL) /* nothing loadable, not even a header */
        return read_err;
    stats->seconds_read = hd__now() - t0;
    stats->n_objects = h->n_objects;
    stats->n_refs = h->n_edges;
    stats->n_roots = h->n_roots;
    stats->n_types = h->n_types;
    stats->n_strings = h->n_strings;
    stats->n_tracebacks = h->n_tracebacks;
    stats->n_dangling = h->n_dangling;
    stats->truncated = h->truncated;
    stats->addr_longest_probe = h->addr_longest_probe;
    for (uint64_t i = 0; i < h->n_objects; i++) {
        stats->total_size += hd_heap__size(h, i);
        if (hd_heap__size(h, i) <= HD_PYMALLOC_MAX_BLOCK)
            stats->small_size += hd_heap__size(h, i);
    }
    hd_error clone = *hd_error_last();
    double t1 = hd__now();
    hd_analysis a;
    if ((err = hd_analyze(h, &a)) < 0) {
        hd_heap__free(h);
        return err;
    }
    stats->seconds_analyze = hd__now() - t1;
    stats->seconds_graph = a.t_graph;
    stats->seconds_roots = a.t_roots;
    stats->seconds_bfs = a.t_bfs;
    stats->seconds_scc = a.t_scc;
    stats->seconds_dom = a.t_dom;
    stats->n_unreachable = 0;
    stats->unreachable_size = 0;
    for (uint64_t i = 0; i < h->n_objects; i++)
        if (!a.bfs.reachable[i]) {
            stats->n_unreachable++;
            stats->unreachable_size += hd_heap__size(h, i);
        }
    stats->n_cycles = a.cycles.n;
    err = hd_store__write(&h, &a, db_path, mode, stats);
    hd_heap__free(h); /* if the rows did not all go in */
    hd_analysis__free(&a);
    if (err < 0)
        return err;
    stats->peak_rss = peak_rss();
    if (read_err == HD_ETRUNCATED) {
        hd_error_set_offset(clone.code, clone.offset, "%s", clone.message);
        return HD_ETRUNCATED;
    }
    return 0;
}
