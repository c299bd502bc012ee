/* Where the process's memory went (the memory table): the figures the
 * dumper read (FORMAT.md §7b) reconciled with the objects' sizes.
 *
 * The model: what is resident is the objects, the free space and overhead
 * inside Python's allocator (pymalloc's arenas or mimalloc's heap) and
 * inside malloc's heap, and the rest, which no object explains.  Of that
 * rest, what the allocators say they handed out beyond the objects' sizes
 * is memory C code asked for (extensions' buffers, the interpreter's own
 * tables); the remainder is libraries, thread stacks and mapped files. */
#include "analyze/analyze.h"

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

/* The part's bytes, or -1 if the dump has none. */
static int64_t
part(const hd_heap *h, const char *name)
{
    for (size_t i = 0; i < h->n_memory; i++)
        if (strcmp(h->memory[i].part, name) == 0)
            return hd_bytes_bounded(h->memory[i].bytes);
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

    int64_t objects = hd_bytes_bounded(objects_total);
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
    int64_t unseen = pm_used >= 0 ? nonneg(pm_used - hd_bytes_bounded(stats->small_size))
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
        rows[n].bytes = hd_bytes_bounded(h->memory[i].bytes);
        n++;
    }
    *n_out = n;
    return 0;
}
