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
#include <string.h>

typedef struct frame {
    uint32_t v;
    uint64_t e; /* next edge to look at */
} frame;

/* The scratch arrays of one Tarjan run (n + 1 entries each). */
typedef struct tarjan_work {
    uint32_t *index, *low, *stack;
    frame *calls;
} tarjan_work;

/* Tarjan over strong edges; an object with cut[o] set is left out (its
 * edges, and the edges into it, are not followed: it is its own
 * component).  comp[o] receives o's component; returns how many. */
static uint64_t
tarjan(const hd_heap *h, const uint8_t *cut, tarjan_work *t, uint32_t *comp,
       uint8_t *self_loop)
{
    uint64_t n = h->n_objects, n_comp = 0, sp = 0, next_index = 1;
    uint32_t *index = t->index, *low = t->low, *stack = t->stack;
    frame *calls = t->calls;
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
            if (f->e < h->edge_start[v + 1] && !(cut && cut[v])) {
                uint64_t e = f->e++;
                uint32_t w = h->edge_dst[e];
                if ((h->edge_word[e] & HD_EDGE_WEAK) || (cut && cut[w]))
                    continue;
                if (w == v && self_loop)
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
    return n_comp;
}

/* The backbone: a component through a module or a class takes in every
 * instance a module global holds (instance -> class -> method ->
 * __globals__ -> the module's dict -> instance), so the cycles a person
 * made among instances (a Session and its Connection) would be lost in
 * it.  Within such a component, the objects of the namespaces (modules,
 * classes, functions, and the __dict__ of a module or a class) are cut
 * and Tarjan runs again: the components of two or more of the rest (or
 * one that refers to itself) are cycles of their own; what remains is the
 * backbone's.  sub[o] receives o's component in the cut graph, or
 * HD_NONE where o stays in its component.  Returns how many, or -1. */
static int64_t
split_backbone(const hd_heap *h, tarjan_work *t, const uint32_t *comp,
               uint64_t n_comp, const uint8_t *self_loop, uint32_t *sub)
{
    uint64_t n = h->n_objects;
    uint8_t *backbone = calloc((size_t)n_comp + 1, 1);
    uint8_t *cut = calloc((size_t)n + 1, 1);
    uint8_t *dict_name = hd_heap__strings_named(h, "__dict__");
    uint32_t *count = NULL;
    int64_t out = -1;
    if (!backbone || !cut || !dict_name)
        goto done;
    for (uint64_t o = 0; o < n; o++)
        if (h->flags[o] & (HD_OBJ_TYPE | HD_OBJ_MODULE))
            backbone[comp[o]] = 1;
    for (uint64_t o = 0; o < n; o++) {
        if (!backbone[comp[o]])
            continue;
        const char *tn = hd_heap__str(h, h->type_name[h->type[o]], NULL);
        if ((h->flags[o] & (HD_OBJ_TYPE | HD_OBJ_MODULE)) ||
            !strcmp(tn, "function"))
            cut[o] = 1;
        if (!(h->flags[o] & (HD_OBJ_TYPE | HD_OBJ_MODULE)))
            continue;
        for (uint64_t e = h->edge_start[o]; e < h->edge_start[o + 1]; e++)
            if (hd_heap__edge_is_attr(h, e, dict_name))
                cut[h->edge_dst[e]] = 1;
    }
    uint64_t n_sub = tarjan(h, cut, t, sub, NULL);
    count = calloc((size_t)n_sub + 1, sizeof(uint32_t));
    if (count == NULL)
        goto done;
    for (uint64_t o = 0; o < n; o++)
        count[sub[o]]++;
    for (uint64_t o = 0; o < n; o++)
        if (!backbone[comp[o]] || cut[o] ||
            (count[sub[o]] < 2 && !self_loop[o]))
            sub[o] = HD_NONE;
    out = (int64_t)n_sub;
done:
    free(backbone);
    free(cut);
    free(dict_name);
    free(count);
    return out;
}

int
hd_cycles__compute(const hd_heap *h, const uint8_t *reachable, hd_cycles *c,
                   uint32_t **reps_out, uint64_t *n_reps_out)
{
    uint64_t n = h->n_objects;
    tarjan_work t = {
        malloc(((size_t)n + 1) * sizeof(uint32_t)),
        malloc(((size_t)n + 1) * sizeof(uint32_t)),
        malloc(((size_t)n + 1) * sizeof(uint32_t)),
        malloc(((size_t)n + 1) * sizeof(frame))};
    uint32_t *comp = malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint32_t *sub = malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint32_t *index = t.index;
    uint8_t *self_loop = calloc((size_t)n + 1, 1);
    uint8_t *has_in = NULL, *was_cycle = NULL;
    uint32_t *reps = NULL, *comp_first = NULL, *cycle_of = NULL;
    uint64_t n_comp = 0, n_reps = 0;
    int err = 0;

    *reps_out = NULL;
    *n_reps_out = 0;
    memset(c, 0, sizeof(*c));
    c->scc = malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (!t.index || !t.low || !t.stack || !t.calls || !comp || !sub ||
        !self_loop || !c->scc) {
        err = hd_error_set(HD_ENOMEM, "out of memory (cycles)");
        goto done;
    }
    n_comp = tarjan(h, NULL, &t, comp, self_loop);

    /* Which components are cycles: two or more members, or one that
     * refers to itself (index[] reused as counts per component). */
    was_cycle = calloc((size_t)n_comp + 1, 1);
    if (was_cycle == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory (cycles)");
        goto done;
    }
    for (uint64_t k = 0; k < n_comp; k++)
        index[k] = 0;
    for (uint64_t o = 0; o < n; o++)
        index[comp[o]]++;
    for (uint64_t o = 0; o < n; o++)
        if (index[comp[o]] > 1 || self_loop[o])
            was_cycle[comp[o]] = 1;
    int64_t n_sub = split_backbone(h, &t, comp, n_comp, self_loop, sub);
    if (n_sub < 0) {
        err = hd_error_set(HD_ENOMEM, "out of memory (cycles)");
        goto done;
    }
    /* Number the cycles in object order: component c is key c, a cycle
     * split from the backbone key n_comp + its component in the cut graph. */
    cycle_of = calloc((size_t)(n_comp + (uint64_t)n_sub) + 1, sizeof(uint32_t));
    if (cycle_of == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory (cycles)");
        goto done;
    }
    c->n = 0;
    for (uint64_t o = 0; o < n; o++) {
        uint64_t key = sub[o] != HD_NONE ? n_comp + sub[o] : comp[o];
        if ((sub[o] != HD_NONE || was_cycle[comp[o]]) && cycle_of[key] == 0)
            cycle_of[key] = ++c->n;
    }
    size_t nc = (size_t)c->n + 1;
    c->members = calloc(nc, sizeof(uint32_t));
    c->size = calloc(nc, sizeof(uint64_t));
    c->retained = calloc(nc, sizeof(uint64_t));
    c->reachable = calloc(nc, 1);
    c->backbone = calloc(nc, 1);
    c->finalizers = calloc(nc, sizeof(uint32_t));
    if (!c->members || !c->size || !c->retained ||
        !c->reachable || !c->backbone || !c->finalizers) {
        err = hd_error_set(HD_ENOMEM, "out of memory (cycles)");
        goto done;
    }
    for (uint64_t o = 0; o < n; o++) {
        uint32_t id = cycle_of[sub[o] != HD_NONE ? n_comp + sub[o] : comp[o]];
        c->scc[o] = id ? id : HD_NONE;
        if (!id)
            continue;
        c->members[id]++;
        c->size[id] += hd_heap__size(h, o);
        c->reachable[id] |= reachable[o];
        c->backbone[id] |= (h->flags[o] & (HD_OBJ_TYPE | HD_OBJ_MODULE)) != 0;
        if (h->flags[o] & (HD_OBJ_FINALIZER | HD_OBJ_LEGACY_DEL))
            c->finalizers[id]++;
    }

    /* Garbage sources: unreachable components with no strong edge in from
     * another component (reachable objects never point at garbage). */
    has_in = calloc((size_t)n_comp + 1, 1);
    comp_first = malloc(((size_t)n_comp + 1) * sizeof(uint32_t));
    if (has_in == NULL || comp_first == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory (cycles)");
        goto done;
    }
    for (uint64_t k = 0; k < n_comp; k++)
        comp_first[k] = HD_NONE;
    for (uint64_t o = 0; o < n; o++) {
        if (reachable[o])
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
    for (uint64_t k = 0; k < n_comp; k++)
        if (comp_first[k] != HD_NONE && !has_in[k])
            reps[n_reps++] = comp_first[k];
    *reps_out = reps;
    *n_reps_out = n_reps;
    reps = NULL;
done:
    free(t.index);
    free(t.low);
    free(t.stack);
    free(t.calls);
    free(comp);
    free(sub);
    free(was_cycle);
    free(cycle_of);
    free(self_loop);
    free(has_in);
    free(comp_first);
    free(reps);
    if (err < 0)
        hd_cycles__free(c);
    return err;
}

void
hd_cycles__free(hd_cycles *c)
{
    free(c->scc);
    free(c->members);
    free(c->size);
    free(c->retained);
    free(c->reachable);
    free(c->backbone);
    free(c->finalizers);
    memset(c, 0, sizeof(*c));
}
