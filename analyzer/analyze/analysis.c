/* heapdig — MIT licence.
 *
 * analysis.c: runs the analysis stages on a loaded heap, in dependency
 * order, timing each: reverse graph + roots (graph.c) -> BFS: reachable,
 * depth, parent (paths.c) -> signatures (paths.c) -> SCCs and garbage
 * islands (cycles.c) -> dominators and retained sizes (dominators.c) ->
 * retained sizes of sets: per type, per cycle and per (where it is held,
 * type) for the diff -> waste (waste.c).  Each stage takes the heap and the
 * results it needs, const, and returns its own; hd_analysis holds them all
 * for the store.
 */
#include "analyze/analyze.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>


/* Numbers each object's (signature, type) pair into group[] (n + 1), 0
 * for none: the groups of s->held, counted, sized and with their retained
 * bytes. */
static int
held_groups(const hd_heap *h, const uint32_t *path, const hd_dom *dom,
            hd_sets *s, uint32_t *group)
{
    uint64_t n = h->n_objects;
    hd_hmap m = {0}; /* (path << 32 | type) + 1 -> group */
    uint64_t *retained = NULL;
    size_t cap = 1024;
    int err = 0;
    s->n_held = 0;
    s->held = malloc(cap * sizeof(hd_held));
    if (!s->held)
        goto nomem;
    for (uint64_t o = 0; o < n; o++) {
        uint32_t p = path ? path[o] : 0;
        uint64_t key = (((uint64_t)p << 32) | h->type[o]) + 1;
        if (hd_hmap_reserve(&m, 1) < 0)
            goto nomem;
        uint64_t slot = hd_hmap_first(&m, key);
        while (m.keys[slot] && m.keys[slot] != key)
            slot = (slot + 1) & m.mask;
        if (!m.keys[slot]) {
            if (hd_grow(&s->held, &cap, (size_t)s->n_held + 2,
                        sizeof(*s->held)) < 0)
                goto nomem;
            hd_hmap_put_at(&m, slot, key, ++s->n_held);
            s->held[s->n_held] = (hd_held){p, h->type[o], 0, 0, 0};
        }
        group[o] = m.vals[slot];
        s->held[group[o]].count++;
        s->held[group[o]].size += hd_heap__size(h, o);
    }
    if ((retained = malloc(((size_t)s->n_held + 1) * sizeof(uint64_t))) == NULL)
        goto nomem;
    if ((err = hd_dom__group_retained(h, dom, group, s->n_held, retained)) < 0)
        goto done;
    for (uint32_t g = 1; g <= s->n_held; g++)
        s->held[g].retained = retained[g];
    goto done;
nomem:
    err = hd_error_set(HD_ENOMEM, "out of memory (where objects are held)");
done:
    hd_hmap_free(&m);
    free(retained);
    return err;
}

/* The retained sizes of sets: per type, per cycle (into the cycles'
 * own), per (where held, type). */
static int
set_retained(const hd_heap *h, hd_analysis *a)
{
    uint64_t n = h->n_objects;
    hd_sets *s = &a->sets;
    uint32_t *group = malloc(((size_t)n + 1) * sizeof(uint32_t));
    int err;
    s->type_retained = calloc((size_t)h->n_types + 1, sizeof(uint64_t));
    s->type_count = calloc((size_t)h->n_types + 1, sizeof(uint64_t));
    if (!s->type_retained || !s->type_count || !group) {
        err = hd_error_set(HD_ENOMEM, "out of memory (retained sets)");
        goto done;
    }
    for (uint64_t o = 0; o < n; o++)
        s->type_count[h->type[o]]++;
    if ((err = hd_dom__group_retained(h, &a->dom, h->type, h->n_types,
                                      s->type_retained)) < 0)
        goto done;
    for (uint64_t o = 0; o < n; o++)
        group[o] = a->cycles.scc[o] == HD_NONE ? 0 : a->cycles.scc[o];
    if ((err = hd_dom__group_retained(h, &a->dom, group, a->cycles.n,
                                      a->cycles.retained)) < 0)
        goto done;
    err = held_groups(h, a->sigs.path, &a->dom, s, group);
done:
    free(group);
    return err;
}

int
hd_analyze(const hd_heap *h, hd_analysis *a)
{
    hd_rev rev = {0};
    uint32_t *reps = NULL;
    uint64_t n_reps = 0;
    double t = hd__now();
    int err;

    memset(a, 0, sizeof(*a));
    if ((err = hd_graph__reverse(h, &rev)) < 0)
        goto done;
    a->t_graph = hd__now() - t;
    t = hd__now();
    if ((err = hd_graph__roots(h, &rev, &a->roots)) < 0)
        goto done;
    a->t_roots = hd__now() - t;
    t = hd__now();
    if ((err = hd_refchain__bfs(h, &a->roots, &a->bfs)) < 0 ||
        (err = hd_refchain__signatures(h, &a->bfs, &a->sigs)) < 0)
        goto done;
    /* the BFS order and tree edges served the signatures alone: 12 bytes
     * an object back before the dominators need theirs */
    free(a->bfs.order);
    free(a->bfs.parent_edge);
    a->bfs.order = NULL;
    a->bfs.parent_edge = NULL;
    a->t_bfs = hd__now() - t;
    t = hd__now();
    if ((err = hd_cycles__compute(h, a->bfs.reachable, &a->cycles, &reps,
                                  &n_reps)) < 0)
        goto done;
    a->t_scc = hd__now() - t;
    t = hd__now();
    if ((err = hd_dom__compute(h, &rev, &a->roots, reps, n_reps,
                               &a->dom)) < 0)
        goto done;
    /* after the dominators, whose working arrays are the load's peak */
    if ((err = hd_graph__external(h, &rev, &a->external)) < 0)
        goto done;
    hd_graph__rev_free(&rev); /* free before the set passes allocate */
    if ((err = set_retained(h, a)) < 0 ||
        (err = hd_waste__compute(h, a->bfs.reachable, a->sigs.path,
                                 &a->waste)) < 0)
        goto done;
    a->t_dom = hd__now() - t;
done:
    hd_graph__rev_free(&rev);
    free(reps);
    if (err < 0)
        hd_analysis__free(a);
    return err;
}

void
hd_analysis__free(hd_analysis *a)
{
    hd_graph__roots_free(&a->roots);
    free(a->external);
    a->external = NULL;
    hd_refchain__bfs_free(&a->bfs);
    hd_refchain__signatures_free(&a->sigs);
    hd_cycles__free(&a->cycles);
    hd_dom__free(&a->dom);
    free(a->sets.type_count);
    free(a->sets.type_retained);
    free(a->sets.held);
    memset(&a->sets, 0, sizeof(a->sets));
    hd_waste__free(&a->waste);
}
