/* The process's memory beside its objects (FORMAT.md §7b): what the kernel
 * says is resident, what CPython's allocator and the C allocator hold, and
 * tracemalloc's totals.  Read before the walk, so the dumper's own buffers
 * are not in it; for a background dump, in the parent before the fork.
 *
 * Everything here reads counters; nothing runs Python code but tracemalloc's
 * two C getters, and only when tracemalloc is already imported.
 *
 * A background dump's child reads them itself, so that the parent pauses
 * for the fork alone: the allocators' state in the child is the parent's as
 * it was at the fork (the memory is a copy), and the kernel's figures are
 * read from the parent's /proc entry. */
#include "dumper_int.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exported by every CPython 3.9-3.15 "for the 3rd party guppy3 project"
 * (internal headers since 3.11).  Weak, so that an interpreter without it
 * still imports heapdig: the pymalloc rows are then absent. */
extern int _PyObject_DebugMallocStats(FILE *out) __attribute__((weak));

static void
put(hd_memstat *m, const char *part, uint64_t bytes)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->part[i].name, part) == 0) {
            m->part[i].bytes += bytes;
            return;
        }
    if (m->n < HD_MEMSTAT_MAX) {
        m->part[m->n].name = part;
        m->part[m->n].bytes = bytes;
        m->n++;
    }
}

/* "Key:   123 kB" lines of /proc/self/status or smaps_rollup. */
static void
read_proc_kb(hd_memstat *m, const char *path, const char *const *keys,
             const char *const *parts, int n)
{
    char line[256];
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        for (int i = 0; i < n; i++) {
            size_t k = strlen(keys[i]);
            unsigned long long kb;
            if (strncmp(line, keys[i], k) == 0 && line[k] == ':' &&
                sscanf(line + k + 1, "%llu kB", &kb) == 1)
                put(m, parts[i], (uint64_t)kb * 1024);
        }
    }
    fclose(f);
}

/* The number at the end of "text = 1,234,567" (thousands separators). */
static int
tail_number(const char *line, uint64_t *out)
{
    const char *eq = strrchr(line, '=');
    const char *p = eq ? eq + 1 : strrchr(line, ':');
    uint64_t v = 0;
    int digits = 0;
    if (p == NULL)
        return 0;
    for (p++; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            v = v * 10 + (uint64_t)(*p - '0');
            digits++;
        } else if (*p != ',' && *p != ' ' && *p != '\n') {
            return 0;
        }
    }
    *out = v;
    return digits > 0;
}

/* Part names of a pymalloc size class ("pymalloc_class_48_used"): static
 * strings, one pair per possible size (8 to 512 in steps of 8). */
static const char *
class_part(unsigned size, int free_part)
{
    static char names[64][2][40];
    unsigned i = size / 8 - 1;
    if (names[i][free_part][0] == 0)
        snprintf(names[i][free_part], sizeof(names[i][free_part]),
                 "pymalloc_class_%u_%s", size, free_part ? "free" : "used");
    return names[i][free_part];
}

/* Reads what sys._debugmallocstats() prints: pymalloc's arenas and each
 * size class in use, or mimalloc's heap where the interpreter runs on it. */
static void
read_pyalloc(hd_memstat *m)
{
    char *text = NULL, *line, *save = NULL;
    size_t len = 0;
    uint64_t v, mi_alloc = 0, mi_committed = 0;
    int mimalloc = 0, pymalloc_block = 1;
    FILE *f;

    if (_PyObject_DebugMallocStats == NULL ||
        (f = open_memstream(&text, &len)) == NULL)
        return;
    int enabled = _PyObject_DebugMallocStats(f);
    fclose(f);
    if (!enabled || text == NULL)
        goto done;
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "Medium block threshold", 22) == 0)
            mimalloc = 1;
        /* the size-class table: class, size, pools, blocks in use, free */
        unsigned cls, size, pools;
        unsigned long long used, avail;
        if (pymalloc_block && !mimalloc &&
            sscanf(line, " %u %u %u %llu %llu", &cls, &size, &pools, &used,
                   &avail) == 5 && size > 0 && size <= 512 && size % 8 == 0) {
            put(m, class_part(size, 0), (uint64_t)used * size);
            put(m, class_part(size, 1), (uint64_t)avail * size);
            continue;
        }
        if (!tail_number(line, &v))
            continue;
        if (mimalloc) {
            if (strstr(line, "Allocated Bytes w/ Overhead"))
                continue;
            if (strstr(line, "Allocated Bytes:"))
                mi_alloc = v;
            else if (strstr(line, "Bytes Committed:"))
                mi_committed = v;
            continue;
        }
        /* pymalloc: its arena block ends at the first "Total" line; the
         * arena map's block after it is address space, mostly untouched. */
        if (!pymalloc_block)
            continue;
        if (strncmp(line, "Total", 5) == 0) {
            put(m, "pymalloc_arenas", v);
            pymalloc_block = 0;
        } else if (strstr(line, "bytes in allocated blocks")) {
            put(m, "pymalloc_used", v);
        } else if (strstr(line, "bytes in available blocks") ||
                   strstr(line, "unused pools")) {
            put(m, "pymalloc_free", v);
        } else if (strstr(line, "bytes lost to")) {
            put(m, "pymalloc_overhead", v);
        }
    }
    if (mimalloc && mi_committed) {
        put(m, "mimalloc_used", mi_alloc);
        put(m, "mimalloc_free",
            mi_committed > mi_alloc ? mi_committed - mi_alloc : 0);
    }
done:
    free(text);
}

static void
read_malloc(hd_memstat *m)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 mi = mallinfo2();
    put(m, "malloc_used", (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd);
    put(m, "malloc_free", (uint64_t)mi.fordblks);
    put(m, "malloc_mmapped", (uint64_t)mi.hblkhd);
#else
    (void)m;  /* mallinfo's int fields wrap at 2 GiB: no figure beats a wrong one */
#endif
}

/* tracemalloc's (current, peak) when it is tracing; it is never imported
 * for this. */
static void
read_tracemalloc(hd_memstat *m)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *tm = modules ? PyDict_GetItemString(modules, "_tracemalloc")
                           : NULL;
    PyObject *tracing = NULL, *mem = NULL;
    if (tm == NULL)
        goto done;
    Py_INCREF(tm);
    tracing = PyObject_CallMethod(tm, "is_tracing", NULL);
    if (tracing != Py_True)
        goto done;
    mem = PyObject_CallMethod(tm, "get_traced_memory", NULL);
    if (mem && PyTuple_Check(mem) && PyTuple_GET_SIZE(mem) == 2) {
        unsigned long long cur = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(mem, 0));
        unsigned long long peak = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(mem, 1));
        if (!PyErr_Occurred()) {
            put(m, "tracemalloc_traced", cur);
            put(m, "tracemalloc_peak", peak);
        }
    }
done:
    PyErr_Clear();
    Py_XDECREF(mem);
    Py_XDECREF(tracing);
    Py_XDECREF(tm);
}

void
hd_memstat_take(hd_memstat *m, pid_t proc)
{
    static const char *const status_keys[] = {"VmRSS", "VmHWM", "RssAnon",
                                              "RssFile", "RssShmem", "VmSwap"};
    static const char *const status_parts[] = {"rss", "rss_peak", "rss_anon",
                                               "rss_file", "rss_shmem", "swap"};
    static const char *const rollup_keys[] = {"Pss"};
    static const char *const rollup_parts[] = {"pss"};

    char status[64], rollup[64];
    if (proc > 0) {
        snprintf(status, sizeof(status), "/proc/%d/status", (int)proc);
        snprintf(rollup, sizeof(rollup), "/proc/%d/smaps_rollup", (int)proc);
    } else {
        snprintf(status, sizeof(status), "/proc/self/status");
        snprintf(rollup, sizeof(rollup), "/proc/self/smaps_rollup");
    }
    memset(m, 0, sizeof(*m));
    /* first: it makes and frees two small objects.  Not in a background
     * dump's child: tracemalloc's table lock may have been held by another
     * thread (freeing without the GIL) at the fork, and never comes free. */
    if (proc <= 0)
        read_tracemalloc(m);
    read_proc_kb(m, status, status_keys, status_parts, 6);
    read_proc_kb(m, rollup, rollup_keys, rollup_parts, 1);
    read_pyalloc(m);
    read_malloc(m);
}
