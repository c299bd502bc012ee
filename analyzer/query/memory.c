/* heapdig — MIT licence.
 *
 * memory.c: the memory table read back from a database, the shares of the
 * reconciliation and the advice it leads to (analyze/memory.c makes it).
 */
#include "query/query.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

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
                    v < 0 ? -1 : hd_bytes_bounded((uint64_t)v);
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
