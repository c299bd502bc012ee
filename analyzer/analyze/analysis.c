/* heapdig — MIT licence.
 *
 * analysis.c: runs the analysis stages on a loaded heap, in dependency
 * order, timing each: reverse graph + roots (graph.c) -> BFS: reachable,
 * depth, parent (paths.c) -> SCCs and garbage islands (cycles.c) ->
 * dominators and retained sizes (dominators.c) -> retained sizes of sets:
 * per type, per cycle and per (where it is held, type) for the diff.  The
 * stages take the heap const and return their own results (hd_roots,
 * hd_bfs, hd_signatures, hd_cycles, hd_dom), which are handed to the heap
 * here for the store; the set passes and waste still write into it.
 */
#include "analyze/analyze.h"

#include <stdlib.h>
#include <time.h>


/* Numbers each object's (signature, type) pair, 0 for none: the groups
 * of h->held, counted, sized and with their retained bytes. */
static int
held_groups(hd_heap *h)
{
    uint64_t n = h->n_objects;
    hd_hmap m = {0}; /* (path << 32 | type) + 1 -> group */
    uint32_t *group = malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint64_t *retained = NULL;
    size_t cap = 1024;
    int err = 0;
    free(h->held);
    h->n_held = 0;
    h->held = malloc(cap * sizeof(hd_held));
    if (!group || !h->held)
        goto nomem;
    for (uint64_t o = 0; o < n; o++) {
        uint32_t path = h->path ? h->path[o] : 0;
        uint64_t key = (((uint64_t)path << 32) | h->type[o]) + 1;
        if (hd_hmap_reserve(&m, 1) < 0)
            goto nomem;
        uint64_t slot = hd_hmap_first(&m, key);
        while (m.keys[slot] && m.keys[slot] != key)
            slot = (slot + 1) & m.mask;
        if (!m.keys[slot]) {
            if (hd_grow(&h->held, &cap, (size_t)h->n_held + 2,
                        sizeof(*h->held)) < 0)
                goto nomem;
            hd_hmap_put_at(&m, slot, key, ++h->n_held);
            h->held[h->n_held] = (hd_held){path, h->type[o], 0, 0, 0};
        }
        group[o] = m.vals[slot];
        h->held[group[o]].count++;
        h->held[group[o]].size += h->size[o];
    }
    if ((retained = malloc(((size_t)h->n_held + 1) * sizeof(uint64_t))) == NULL)
        goto nomem;
    if ((err = hd_dom__group_retained(h, group, h->n_held, retained)) < 0)
        goto done;
    for (uint32_t g = 1; g <= h->n_held; g++)
        h->held[g].retained = retained[g];
    goto done;
nomem:
    err = hd_error_set(HD_ENOMEM, "out of memory (where objects are held)");
done:
    hd_hmap_free(&m);
    free(group);
    free(retained);
    return err;
}

int
hd_analyze(hd_heap *h)
{
    hd_rev rev = {0};
    hd_bfs bfs = {0};
    uint32_t *reps = NULL, *group = NULL;
    uint64_t n_reps = 0, n = h->n_objects;
    double t = hd__now();
    int err;

    if ((err = hd_graph__reverse(h, &rev)) < 0)
        goto done;
    h->t_graph = hd__now() - t;
    t = hd__now();
    hd_roots roots;
    if ((err = hd_graph__roots(h, &rev, &roots)) < 0)
        goto done;
    h->external = roots.external; /* the heap keeps them for the store */
    h->root_order = roots.order;
    h->n_root_order = roots.n_order;
    h->n_module_roots = roots.n_module;
    h->n_named_roots = roots.n_named;
    h->n_negative_external = roots.n_negative_external;
    h->n_external_roots = roots.n_external_roots;
    h->t_roots = hd__now() - t;
    t = hd__now();
    hd_signatures sigs;
    if ((err = hd_refchain__bfs(h, &bfs)) < 0 ||
        (err = hd_refchain__signatures(h, &bfs, &sigs)) < 0)
        goto done;
    h->path = sigs.path;
    h->path_step = sigs.step;
    h->path_base = sigs.base;
    h->path_hash = sigs.hash;
    h->n_paths = sigs.n;
    /* the heap keeps what the store writes; the BFS order and tree edges
     * served the signatures alone: 12 bytes an object back before the
     * dominators need theirs */
    h->reachable = bfs.reachable;
    h->depth = bfs.depth;
    h->parent = bfs.parent;
    bfs.reachable = NULL;
    bfs.depth = NULL;
    bfs.parent = NULL;
    hd_refchain__bfs_free(&bfs);
    h->t_bfs = hd__now() - t;
    t = hd__now();
    hd_cycles cyc;
    if ((err = hd_cycles__compute(h, &cyc, &reps, &n_reps)) < 0)
        goto done;
    h->scc = cyc.scc; /* the heap keeps them for the store */
    h->n_cycles = cyc.n;
    h->cycle_members = cyc.members;
    h->cycle_size = cyc.size;
    h->cycle_retained = cyc.retained;
    h->cycle_reachable = cyc.reachable;
    h->cycle_finalizers = cyc.finalizers;
    h->t_scc = hd__now() - t;
    t = hd__now();
    hd_dom dom = {0};
    if ((err = hd_dom__compute(h, &rev, reps, n_reps, &dom)) < 0)
        goto done;
    h->idom = dom.idom; /* the heap keeps the results the store writes */
    h->retained = dom.retained;
    hd_graph__rev_free(&rev); /* free before the set passes allocate */

    h->type_retained = calloc((size_t)h->n_types + 1, sizeof(uint64_t));
    h->type_count = calloc((size_t)h->n_types + 1, sizeof(uint64_t));
    group = malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (!h->type_retained || !h->type_count || !group) {
        err = hd_error_set(HD_ENOMEM, "out of memory (retained sets)");
        goto done;
    }
    for (uint64_t o = 0; o < n; o++)
        h->type_count[h->type[o]]++;
    if ((err = hd_dom__group_retained(h, h->type, h->n_types,
                                      h->type_retained)) < 0)
        goto done;
    for (uint64_t o = 0; o < n; o++)
        group[o] = h->scc[o] == HD_NONE ? 0 : h->scc[o];
    if ((err = hd_dom__group_retained(h, group, h->n_cycles,
                                      h->cycle_retained)) < 0 ||
        (err = held_groups(h)) < 0 || (err = hd_waste__compute(h)) < 0)
        goto done;
    h->t_dom = hd__now() - t;
    h->analyzed = 1;
done:
    hd_refchain__bfs_free(&bfs);
    hd_graph__rev_free(&rev);
    free(reps);
    free(group);
    return err;
}
