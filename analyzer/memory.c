/* Where the process's memory went (the memory table): the figures the
 * dumper read (FORMAT.md §7b) reconciled with the objects' sizes.
 *
 * The model: what is resident is the objects, the free space and overhead
 * inside Python's allocator (pymalloc's arenas or mimalloc's heap) and
 * inside malloc's heap, and the rest, which no object explains.  Of that
 * rest, what the allocators say they handed out beyond the objects' sizes
 * is memory C code asked for (extensions' buffers, the interpreter's own
 * tables); the remainder is libraries, thread stacks and mapped files. */
#include "analyzer_int.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *part, *note;
} NOTES[] = {
    {"rss", "resident when the dump began (VmRSS)"},
    {"objects", "the objects' sys.getsizeof sizes, added up"},
    {"python_free", "free space and overhead inside Python's allocator"},
    {"malloc_free", "free inside the C allocator's heap, not given back"},
    {"unaccounted", "resident but no object's: C extensions, native buffers, "
                    "thread stacks, libraries, mapped files"},
    {"unaccounted_allocated", "of unaccounted, handed out by the allocators "
                              "beyond the objects' sizes (C code's own data)"},
    {"unseen_small", "pymalloc blocks in use beyond the objects of 512 bytes "
                     "or less: objects only C code reaches, C code's small "
                     "allocations, objects' small buffers"},
    {"rss_peak", "the most the process has been resident (VmHWM)"},
    {"pss", "its share of resident memory, shared pages divided among "
            "their processes"},
    {"rss_anon", "resident anonymous memory: heaps, arenas, stacks"},
    {"rss_file", "resident file pages: the executable, libraries, mapped "
                 "files"},
    {"rss_shmem", "resident shared memory"},
    {"swap", "swapped out"},
    {"pymalloc_arenas", "pymalloc's arenas (blocks of 512 bytes or less)"},
    {"pymalloc_used", "in pymalloc blocks handed out"},
    {"pymalloc_free", "free pymalloc blocks and empty pools"},
    {"pymalloc_overhead", "pymalloc's pool headers, rounding and arena "
                          "alignment"},
    {"mimalloc_used", "handed out by mimalloc, Python's allocator here"},
    {"mimalloc_free", "committed by mimalloc and not handed out"},
    {"malloc_used", "handed out by the C allocator (glibc's malloc): large "
                    "objects, buffers, C extensions"},
    {"malloc_mmapped", "of malloc_used, big blocks mapped on their own"},
    {"tracemalloc_traced", "traced by tracemalloc when the dump began"},
    {"tracemalloc_peak", "tracemalloc's peak"},
};
#define N_NOTES (sizeof(NOTES) / sizeof(NOTES[0]))

const char *
hd__memory_note(const char *part)
{
    unsigned size;
    char which[8];
    for (size_t i = 0; i < N_NOTES; i++)
        if (strcmp(NOTES[i].part, part) == 0)
            return NOTES[i].note;
    if (sscanf(part, "pymalloc_class_%u_%7s", &size, which) == 2)
        return strcmp(which, "used") == 0
                   ? "pymalloc blocks of this size class in use"
                   : "free blocks of this size class in pymalloc's pools";
    return "as the dumper named it";
}

/* Figures are input (a crafted dump or database may say 2^63): bounded
 * at 2^56 bytes, 64 PiB, so that sums of them and the advice's products
 * cannot overflow. */
#define BYTES_MAX ((int64_t)1 << 56)

static int64_t
bounded(uint64_t v)
{
    return v > (uint64_t)BYTES_MAX ? BYTES_MAX : (int64_t)v;
}

/* The part's bytes, or -1 if the dump has none. */
static int64_t
part(const hd_heap *h, const char *name)
{
    for (size_t i = 0; i < h->n_memory; i++)
        if (strcmp(h->memory[i].part, name) == 0)
            return bounded(h->memory[i].bytes);
    return -1;
}

static int64_t
nonneg(int64_t v)
{
    return v < 0 ? 0 : v;
}

int
hd__memory_account(const hd_heap *h, const hd_load_stats *stats,
                    hd_memory_row *rows, size_t cap, size_t *n_out)
{
    uint64_t objects_total = stats->total_size;
    size_t n = 0;
    int64_t rss = part(h, "rss");
    *n_out = 0;
    if (rss < 0)
        return 0; /* a dump before 1.3, or no /proc: nothing to reconcile */

    int64_t objects = bounded(objects_total);
    int64_t py_free = nonneg(part(h, "pymalloc_free")) +
                      nonneg(part(h, "pymalloc_overhead")) +
                      nonneg(part(h, "mimalloc_free"));
    int64_t py_used = nonneg(part(h, "pymalloc_used")) +
                      nonneg(part(h, "mimalloc_used"));
    int64_t m_free = nonneg(part(h, "malloc_free"));
    int64_t m_used = part(h, "malloc_used");
    int64_t unacc = nonneg(rss - objects - py_free - m_free);
    /* Small objects live in pymalloc's blocks; blocks in use beyond them
     * are objects the walk never reached (only C code holds them: a NumPy
     * object array's items, it has no tp_traverse) or C code's own small
     * allocations.  An object's separate buffer under 512 bytes (a list's
     * items) counts here too, so only a large share says much. */
    int64_t pm_used = part(h, "pymalloc_used");
    int64_t unseen = pm_used >= 0 ? nonneg(pm_used - bounded(stats->small_size))
                                  : -1;
    /* Allocators' figures are missing (not glibc, PYTHONMALLOC=malloc...):
     * then nothing can be said of how much of the rest they handed out. */
    int64_t unacc_alloc = -1;
    if (m_used >= 0) {
        unacc_alloc = nonneg(py_used + m_used - objects);
        if (unacc_alloc > unacc)
            unacc_alloc = unacc;
    }
    struct {
        const char *part;
        int64_t bytes;
    } derived[] = {{"rss", rss},
                   {"objects", objects},
                   {"python_free", py_used || py_free ? py_free : -1},
                   {"malloc_free", m_used >= 0 ? m_free : -1},
                   {"unaccounted", unacc},
                   {"unaccounted_allocated", unacc_alloc},
                   {"unseen_small", unseen}};
    for (size_t i = 0; i < sizeof(derived) / sizeof(derived[0]); i++) {
        if (derived[i].bytes < 0 || n >= cap)
            continue;
        snprintf(rows[n].part, sizeof(rows[n].part), "%s", derived[i].part);
        rows[n].bytes = derived[i].bytes;
        n++;
    }
    /* then what the dumper measured, as it measured it */
    for (size_t i = 0; i < h->n_memory && n < cap; i++) {
        const char *p = h->memory[i].part;
        if (strcmp(p, "rss") == 0 || strcmp(p, "malloc_free") == 0)
            continue;
        snprintf(rows[n].part, sizeof(rows[n].part), "%s", p);
        rows[n].bytes = bounded(h->memory[i].bytes);
        n++;
    }
    *n_out = n;
    return 0;
}

/* ---- Query: the reconciliation in words ---------------------------------- */

/* The memory table's rows that hd_memory holds. */
static const struct {
    const char *part;
    size_t offset;
} FIELDS[] = {{"rss", offsetof(hd_memory, rss)},
              {"objects", offsetof(hd_memory, objects)},
              {"python_free", offsetof(hd_memory, python_free)},
              {"malloc_free", offsetof(hd_memory, malloc_free)},
              {"unaccounted", offsetof(hd_memory, unaccounted)},
              {"unaccounted_allocated", offsetof(hd_memory, unaccounted_allocated)},
              {"unseen_small", offsetof(hd_memory, unseen_small)}};

void
hd_memory_shares(const hd_memory *m, hd_memory_share out[HD_MEMORY_SHARES])
{
    const hd_memory_share shares[HD_MEMORY_SHARES] = {
        {"objects", "Python objects", m->objects},
        {"python_free", "free inside Python's allocator", m->python_free},
        {"malloc_free", "free inside malloc", m->malloc_free},
        {"unaccounted", "not explained by any object", m->unaccounted}};
    memcpy(out, shares, sizeof(shares));
}

int
hd_memory_read(hd_db *db, hd_memory *m)
{
    hd_rows *r = NULL;
    int err, rc;
    memset(m, 0, sizeof(*m));
    m->rss = m->objects = m->python_free = m->malloc_free = -1;
    m->unaccounted = m->unaccounted_allocated = m->unseen_small = -1;
    /* a database made before the memory table has no figures */
    if ((err = hd_query(&r, db, "SELECT 1 FROM sqlite_master WHERE type = "
                        "'table' AND name = 'memory'", 0, NULL)) < 0)
        return err;
    rc = hd_rows_next(r);
    hd_rows_free(r);
    r = NULL;
    if (rc <= 0)
        return rc;
    if ((err = hd_query(&r, db, "SELECT part, bytes FROM memory", 0, NULL)) < 0)
        return err;
    while ((rc = hd_rows_next(r)) == 1) {
        const char *p = hd_rows_text(r, 0);
        for (size_t k = 0; p && k < sizeof(FIELDS) / sizeof(FIELDS[0]); k++)
            if (strcmp(p, FIELDS[k].part) == 0) {
                int64_t v = hd_rows_int(r, 1); /* a database is input too */
                *(int64_t *)((char *)m + FIELDS[k].offset) =
                    v < 0 ? -1 : bounded((uint64_t)v);
            }
    }
    hd_rows_free(r);
    m->present = m->rss >= 0 && m->objects >= 0 && m->unaccounted >= 0;
    return rc < 0 ? rc : 0;
}

const char *
hd_memory_advice(const hd_memory *m)
{
    if (!m->present || m->rss <= 0)
        return NULL;
    /* pandas' object columns: the items are there, but no walker sees them */
    if (m->unseen_small > 16 * 1048576 && m->unseen_small * 5 > m->rss)
        return "Python's allocator holds many more small blocks than the "
               "objects found: objects only C code can reach, such as the "
               "items of NumPy object arrays (pandas' object and string "
               "columns), which no tool that walks the collector sees; or a "
               "C extension's small allocations.";
    if (m->unaccounted * 2 > m->rss)
        return "Most of this memory is no Python object's: look at native "
               "allocations (memray run --native, heaptrack) and at the "
               "objects C code holds (heapdig external DB).";
    if (m->python_free * 5 > m->rss)
        return "Python's allocator holds much free memory: fragmentation "
               "after a peak (pymalloc gives an arena back only when all of "
               "it is free).";
    if (m->malloc_free * 4 > m->rss)
        return "malloc keeps much freed memory: malloc_trim(0), or fewer "
               "arenas (MALLOC_ARENA_MAX=2), gives it back.";
    return NULL;
}
