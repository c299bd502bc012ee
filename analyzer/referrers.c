/* heapdig — MIT licence.
 *
 * referrers.c: shortest referrer chains.
 *
 * Design: one breadth-first search over strong edges from all roots at once
 * (multi-source BFS, roots at depth 0 in hd_graph__roots order).  For every
 * object it records depth (distance from the nearest root) and parent (the
 * object that first reached it), so the shortest labelled chain from a root
 * to any object is a walk up `parent`, in C or in a recursive SQL query.
 * Because the queue is seeded with named roots first, ties resolve towards
 * sys.modules/builtins/frames, the chains people can read.  Weak edges are
 * never followed: they keep nothing alive.  O(V+E) time, one u32 queue.
 */
#include "analyzer_int.h"
#include "heapdig/format.h"

#include <stdlib.h>

int
hd_refchain__bfs(hd_heap *h)
{
    uint64_t n = h->n_objects, head = 0, tail = 0;
    uint32_t *queue = malloc(((size_t)n + 1) * sizeof(uint32_t));
    h->reachable = calloc((size_t)n + 1, 1);
    h->depth = malloc(((size_t)n + 1) * sizeof(uint32_t));
    h->parent = malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (queue == NULL || h->reachable == NULL || h->depth == NULL ||
        h->parent == NULL) {
        free(queue);
        return hd_error_set(HD_ENOMEM, "out of memory (BFS)");
    }
    for (uint64_t o = 0; o < n; o++)
        h->depth[o] = h->parent[o] = HD_NONE;
    for (uint64_t i = 0; i < h->n_root_order; i++) {
        uint32_t r = h->root_order[i];
        h->reachable[r] = 1;
        h->depth[r] = 0;
        queue[tail++] = r;
    }
    while (head < tail) {
        uint32_t v = queue[head++];
        for (uint64_t e = h->edge_start[v]; e < h->edge_start[v + 1]; e++) {
            uint32_t w = h->edge_dst[e];
            if ((h->edge_word[e] & HD_EDGE_WEAK) || h->reachable[w])
                continue;
            h->reachable[w] = 1;
            h->depth[w] = h->depth[v] + 1;
            h->parent[w] = v;
            queue[tail++] = w;
        }
    }
    free(queue);
    return 0;
}
