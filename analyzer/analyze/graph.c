/* heapdig — MIT licence.
 *
 * graph.c: graph plumbing for the analysis stages and the roots.
 *
 * The forward graph is the loader's CSR (edge_start/edge_dst), weak edges
 * included and skipped where only strong edges count.  hd_graph__reverse
 * builds the reverse CSR of strong edges in two counting passes (O(V+E), 12
 * bytes per edge transiently).
 *
 * Roots follow CPython's own rule: an object whose refcount exceeds the
 * strong references found to it in the heap is held from outside (C code,
 * the interpreter, a running frame): external = refcount - in-heap strong
 * references, counted with multiplicity.  The root order seeds the BFS, so
 * chains start from the most readable root: first the named roots in dump
 * order (sys.modules, builtins, thread frames and locals), then objects held
 * from outside, then immortal objects (3.12+: never freed, refcount is a
 * marker, so their external count is reported as 0).  A negative external
 * count cannot happen in a faithful dump; such objects are counted
 * (n_negative_external, in meta) rather than hidden.
 */
#include "analyze/analyze.h"
#include "heapdig/format.h"

#include <stdlib.h>
#include <string.h>

int
hd_graph__reverse(const hd_heap *h, hd_rev *out)
{
    uint64_t n = h->n_objects;
    out->start = calloc((size_t)n + 2, sizeof(uint64_t));
    out->src = NULL;
    if (out->start == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory (reverse graph)");
    /* Count in-degrees into start[dst + 2] and prefix-sum, so that
     * start[d + 1] is where bucket d begins; then place. */
    for (uint64_t e = 0; e < h->n_edges; e++)
        if (!(h->edge_word[e] & HD_EDGE_WEAK))
            out->start[h->edge_dst[e] + 2]++;
    for (uint64_t i = 2; i < n + 2; i++)
        out->start[i] += out->start[i - 1];
    out->src = malloc((size_t)(out->start[n + 1] ? out->start[n + 1] : 1) *
                      sizeof(uint32_t));
    if (out->src == NULL) {
        free(out->start);
        out->start = NULL;
        return hd_error_set(HD_ENOMEM, "out of memory (reverse graph)");
    }
    for (uint64_t o = 0; o < n; o++)
        for (uint64_t e = h->edge_start[o]; e < h->edge_start[o + 1]; e++)
            if (!(h->edge_word[e] & HD_EDGE_WEAK))
                out->src[out->start[h->edge_dst[e] + 1]++] = (uint32_t)o;
    /* Each placement advanced start[d+1] from the beginning to the end of
     * bucket d, which is where bucket d+1 begins: start[] is now the CSR. */
    return 0;
}

void
hd_graph__rev_free(hd_rev *r)
{
    free(r->start);
    free(r->src);
    r->start = NULL;
    r->src = NULL;
}

/* o's references from outside the heap (0 for an immortal). */
static int64_t
external_of(const hd_heap *h, const hd_rev *rev, uint64_t o)
{
    if (h->flags[o] & HD_OBJ_IMMORTAL)
        return 0;
    return (int64_t)hd_heap__refcount(h, o) -
           (int64_t)(rev->start[o + 1] - rev->start[o]);
}

int
hd_graph__roots(const hd_heap *h, const hd_rev *rev, hd_roots *r)
{
    uint64_t n = h->n_objects, k = 0;
    uint8_t *seen = calloc((size_t)n + 1, 1);
    memset(r, 0, sizeof(*r));
    r->order = malloc(((size_t)n + h->n_roots + 1) * sizeof(uint32_t));
    if (seen == NULL || r->order == NULL) {
        free(seen);
        hd_graph__roots_free(r);
        return hd_error_set(HD_ENOMEM, "out of memory (roots)");
    }
    for (int modules = 1; modules >= 0; modules--) {
        for (uint64_t i = 0; i < h->n_roots; i++) {
            int kind = h->root_kind ? h->root_kind[i] : HD_ROOT_SYS_MODULES;
            int is_module = kind == HD_ROOT_SYS_MODULES ||
                            kind == HD_ROOT_BUILTINS;
            if (is_module == modules && !seen[h->root_obj[i]]) {
                seen[h->root_obj[i]] = 1;
                r->order[k++] = h->root_obj[i];
            }
        }
        if (modules)
            r->n_module = k;
    }
    r->n_named = k;
    for (uint64_t o = 0; o < n; o++) {
        int64_t x = external_of(h, rev, o);
        if (x < 0)
            r->n_negative_external++;
        if (x > 0) {
            r->n_external_roots++;
            if (!seen[o]) {
                seen[o] = 1;
                r->order[k++] = (uint32_t)o;
            }
        }
    }
    for (uint64_t o = 0; o < n; o++)
        if ((h->flags[o] & HD_OBJ_IMMORTAL) && !seen[o]) {
            seen[o] = 1;
            r->order[k++] = (uint32_t)o;
        }
    r->n_order = k;
    free(seen);
    return 0;
}

int
hd_graph__external(const hd_heap *h, const hd_rev *rev, int64_t **out)
{
    uint64_t n = h->n_objects;
    int64_t *x = malloc(((size_t)n + 1) * sizeof(int64_t));
    *out = x;
    if (x == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory (external references)");
    for (uint64_t o = 0; o < n; o++)
        x[o] = external_of(h, rev, o);
    return 0;
}

void
hd_graph__roots_free(hd_roots *r)
{
    free(r->order);
    memset(r, 0, sizeof(*r));
}
