/* heapdig — MIT licence.
 *
 * cycles.c: reference cycles and the cyclic garbage.
 *
 * Design: Tarjan's strongly connected components over strong edges, made
 * iterative with an explicit call stack of (node, next edge) frames, so a
 * 10 M-long linked list does not overflow the C stack.  An object is "on a
 * cycle" when its component has more than one member or it refers to
 * itself; those components become the cycles, numbered from 1 in the order
 * Tarjan completes them.  Per cycle: members, total shallow size, whether it
 * is reachable from a root (all members are, or none), and how many members
 * have finalisers (__del__ / tp_finalize / tp_del) — finalisers in garbage
 * cycles are what used to make gc.garbage grow.
 *
 * Garbage: objects the BFS did not reach are what gc.collect() would free.
 * For retained sizes the dominator stage needs a root for each garbage
 * island: we pick, for every component with no strong edge into it from
 * another unreachable component (a source of the garbage condensation
 * DAG), its lowest-numbered member.  Invariant: every unreachable object is
 * reachable from some representative.  O(V+E) time; 13 bytes per node.
 */
#include "analyze/analyze.h"
#include "heapdig/format.h"

#include <stdlib.h>

typedef struct frame {
    uint32_t v;
    uint64_t e; /* next edge to look at */
} frame;

int
hd_cycles__compute(hd_heap *h, uint32_t **reps_out, uint64_t *n_reps_out)
{
    uint64_t n = h->n_objects;
    uint32_t *index = malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint32_t *low = malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint32_t *comp = malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint32_t *stack = malloc(((size_t)n + 1) * sizeof(uint32_t));
    frame *calls = malloc(((size_t)n + 1) * sizeof(frame));
    uint8_t *self_loop = calloc((size_t)n + 1, 1);
    uint8_t *has_in = NULL;
    uint32_t *reps = NULL, *comp_first = NULL;
    uint64_t n_comp = 0, n_reps = 0, sp = 0, next_index = 1;
    int err = 0;

    *reps_out = NULL;
    *n_reps_out = 0;
    h->scc = malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (!index || !low || !comp || !stack || !calls || !self_loop || !h->scc) {
        err = hd_error_set(HD_ENOMEM, "out of memory (cycles)");
        goto done;
    }
    for (uint64_t o = 0; o < n; o++)
        index[o] = 0;

    for (uint64_t root = 0; root < n; root++) {
        uint64_t cp = 0;
        if (index[root])
            continue;
        calls[cp++] = (frame){(uint32_t)root, h->edge_start[root]};
        index[root] = low[root] = (uint32_t)next_index++;
        stack[sp++] = (uint32_t)root;
        comp[root] = HD_NONE; /* on the stack */
        while (cp > 0) {
            frame *f = &calls[cp - 1];
            uint32_t v = f->v;
            if (f->e < h->edge_start[v + 1]) {
                uint64_t e = f->e++;
                uint32_t w = h->edge_dst[e];
                if (h->edge_word[e] & HD_EDGE_WEAK)
                    continue;
                if (w == v)
                    self_loop[v] = 1;
                if (!index[w]) {
                    index[w] = low[w] = (uint32_t)next_index++;
                    stack[sp++] = w;
                    comp[w] = HD_NONE;
                    calls[cp++] = (frame){w, h->edge_start[w]};
                } else if (comp[w] == HD_NONE && index[w] < low[v]) {
                    low[v] = index[w]; /* w is on the stack */
                }
                continue;
            }
            /* v is finished */
            if (low[v] == index[v]) {
                uint32_t w;
                do {
                    w = stack[--sp];
                    comp[w] = (uint32_t)n_comp;
                } while (w != v);
                n_comp++;
            }
            cp--;
            if (cp > 0) {
                uint32_t u = calls[cp - 1].v;
                if (low[v] < low[u])
                    low[u] = low[v];
            }
        }
    }

    /* Component sizes: reuse index[] as counts per component. */
    for (uint64_t c = 0; c < n_comp; c++)
        index[c] = 0;
    for (uint64_t o = 0; o < n; o++)
        index[comp[o]]++;
    /* Number the cycles; low[] maps component -> cycle id (0: not a cycle). */
    h->n_cycles = 0;
    for (uint64_t c = 0; c < n_comp; c++)
        low[c] = 0;
    for (uint64_t o = 0; o < n; o++) {
        uint32_t c = comp[o];
        if ((index[c] > 1 || self_loop[o]) && low[c] == 0)
            low[c] = ++h->n_cycles;
    }
    size_t nc = (size_t)h->n_cycles + 1;
    h->cycle_members = calloc(nc, sizeof(uint32_t));
    h->cycle_size = calloc(nc, sizeof(uint64_t));
    h->cycle_retained = calloc(nc, sizeof(uint64_t));
    h->cycle_reachable = calloc(nc, 1);
    h->cycle_finalizers = calloc(nc, sizeof(uint32_t));
    if (!h->cycle_members || !h->cycle_size || !h->cycle_retained ||
        !h->cycle_reachable || !h->cycle_finalizers) {
        err = hd_error_set(HD_ENOMEM, "out of memory (cycles)");
        goto done;
    }
    for (uint64_t o = 0; o < n; o++) {
        uint32_t id = low[comp[o]];
        h->scc[o] = id ? id : HD_NONE;
        if (!id)
            continue;
        h->cycle_members[id]++;
        h->cycle_size[id] += h->size[o];
        h->cycle_reachable[id] |= h->reachable[o];
        if (h->flags[o] & (HD_OBJ_FINALIZER | HD_OBJ_LEGACY_DEL))
            h->cycle_finalizers[id]++;
    }

    /* Garbage sources: unreachable components with no strong edge in from
     * another component (reachable objects never point at garbage). */
    has_in = calloc((size_t)n_comp + 1, 1);
    comp_first = malloc(((size_t)n_comp + 1) * sizeof(uint32_t));
    if (has_in == NULL || comp_first == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory (cycles)");
        goto done;
    }
    for (uint64_t c = 0; c < n_comp; c++)
        comp_first[c] = HD_NONE;
    for (uint64_t o = 0; o < n; o++) {
        if (h->reachable[o])
            continue;
        if (comp_first[comp[o]] == HD_NONE)
            comp_first[comp[o]] = (uint32_t)o;
        for (uint64_t e = h->edge_start[o]; e < h->edge_start[o + 1]; e++)
            if (!(h->edge_word[e] & HD_EDGE_WEAK) &&
                comp[h->edge_dst[e]] != comp[o])
                has_in[comp[h->edge_dst[e]]] = 1;
    }
    reps = malloc(((size_t)n_comp + 1) * sizeof(uint32_t));
    if (reps == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory (cycles)");
        goto done;
    }
    for (uint64_t c = 0; c < n_comp; c++)
        if (comp_first[c] != HD_NONE && !has_in[c])
            reps[n_reps++] = comp_first[c];
    *reps_out = reps;
    *n_reps_out = n_reps;
    reps = NULL;
done:
    free(index);
    free(low);
    free(comp);
    free(stack);
    free(calls);
    free(self_loop);
    free(has_in);
    free(comp_first);
    free(reps);
    return err;
}
