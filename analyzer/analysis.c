/* heapdig — MIT licence.
 *
 * analysis.c: runs the analysis stages on a loaded heap, in dependency
 * order, timing each: reverse graph + roots (graph.c) -> BFS: reachable,
 * depth, parent (referrers.c) -> SCCs and garbage islands (cycles.c) ->
 * dominators and retained sizes (dominators.c) -> retained sizes of sets:
 * per type and per cycle.  Each stage owns its arrays in hd_heap.
 */
#include "analyzer_int.h"

#include <stdlib.h>
#include <time.h>


int
hd_analyze(hd_heap *h)
{
    hd_rev rev = {0};
    uint32_t *reps = NULL, *group = NULL;
    uint64_t n_reps = 0, n = h->n_objects;
    double t = hd__now();
    int err;

    if ((err = hd_graph__reverse(h, &rev)) < 0)
        goto done;
    h->t_graph = hd__now() - t;
    t = hd__now();
    if ((err = hd_graph__roots(h, &rev)) < 0)
        goto done;
    h->t_roots = hd__now() - t;
    t = hd__now();
    if ((err = hd_refchain__bfs(h)) < 0 ||
        (err = hd_refchain__signatures(h)) < 0)
        goto done;
    h->t_bfs = hd__now() - t;
    t = hd__now();
    if ((err = hd_cycles__compute(h, &reps, &n_reps)) < 0)
        goto done;
    h->t_scc = hd__now() - t;
    t = hd__now();
    if ((err = hd_dom__compute(h, &rev, reps, n_reps)) < 0)
        goto done;
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
                                      h->cycle_retained)) < 0)
        goto done;
    h->t_dom = hd__now() - t;
    h->analyzed = 1;
done:
    hd_graph__rev_free(&rev);
    free(reps);
    free(group);
    return err;
}
