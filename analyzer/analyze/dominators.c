/* heapdig — MIT licence.
 *
 * dominators.c: the dominator tree and retained sizes.
 *
 * Design: object d dominates object o when every path from the roots to o
 * passes through d; freeing d would free everything it dominates, so o's
 * retained size is the sum of the shallow sizes of its dominator subtree.
 * Only strong edges count (weak references keep nothing alive).
 *
 * A virtual root (numbered n) has an edge to every root (hd_graph__roots)
 * and to one representative of each garbage island (cycles.c), so garbage
 * gets its own retained sizes ("this garbage cycle holds 40 MB"); idom of
 * an object whose immediate dominator is the virtual root is HD_NONE.
 *
 * Algorithm: SEMI-NCA (Georgiadis, Tarjan, Werneck, "Finding dominators in
 * practice", JGAA 2006): (1) an iterative DFS from the virtual root numbers
 * the vertices in preorder and records DFS parents; (2) semidominators in
 * reverse preorder with Lengauer–Tarjan's eval/link using path compression
 * (made iterative: the compressed path is collected on an explicit stack);
 * (3) idom(w) is found by climbing from the DFS parent towards the root
 * while the candidate's preorder number exceeds sdom(w) — the nearest common
 * ancestor step.  Unlike the iterative Cooper–Harvey–Kennedy scheme it does
 * not stall on the long dominator chains heaps have (linked lists, deep
 * trees).  Time O(E log V) in theory, near-linear in practice; memory
 * 7 u32 and a byte per vertex plus the reverse graph, at the load's peak
 * or near it (each phase reuses what the one before left free).
 *
 * Retained sizes: in reverse preorder every vertex adds its retained size to
 * its idom (a dominator always precedes its dominatees in preorder).
 * Retained sizes of sets (all instances of a type, all members of a cycle)
 * count each object only where no dominator-tree ancestor is in the same
 * set (hd_dom__group_retained), so nothing is counted twice.
 */
#include "analyze/analyze.h"
#include "heapdig/format.h"

#include <stdlib.h>
#include <string.h>

/* Lengauer-Tarjan's working arrays; vertices are preorder numbers, 1 the
 * virtual root, 0 "not reached". */
typedef struct lt {
    uint32_t *pre;      /* object -> preorder number */
    uint32_t *order;    /* preorder number -> object */
    uint32_t *dparent, *semi, *label, *anc, *idom;
    uint8_t *from_vroot; /* object has an edge from the virtual root */
    uint32_t count;
} lt;

static int
lt_alloc(lt *t, uint64_t n)
{
    size_t m = (size_t)n + 2;
    t->pre = calloc((size_t)n + 1, sizeof(uint32_t));
    t->order = malloc(m * sizeof(uint32_t));
    t->dparent = malloc(m * sizeof(uint32_t));
    t->semi = malloc(m * sizeof(uint32_t));
    t->label = malloc(m * sizeof(uint32_t));
    t->anc = calloc(m, sizeof(uint32_t));
    t->idom = malloc(m * sizeof(uint32_t));
    t->from_vroot = calloc((size_t)n + 1, 1);
    return t->pre && t->order && t->dparent && t->semi && t->label &&
                   t->anc && t->idom && t->from_vroot
               ? 0
               : -1;
}

static void
lt_free(lt *t)
{
    free(t->pre);
    free(t->order);
    free(t->dparent);
    free(t->semi);
    free(t->label);
    free(t->anc);
    free(t->idom);
    free(t->from_vroot);
}

/* (1) Iterative DFS from the virtual root (its edges: the roots in order,
 * then extra), numbering in preorder; weak edges are not followed.  The
 * stack lives in arrays set up only after it: its objects in semi[], each
 * one's next edge (an offset from its first) in label[]; the virtual root,
 * always at the bottom, is not on it (16 bytes an object fewer than
 * frames). */
static void
lt_dfs(lt *t, const hd_heap *h, const hd_roots *roots, const uint32_t *extra,
       uint64_t n_vroot)
{
    uint32_t *stack = t->semi, *at = t->label;
    uint64_t sp = 0, next_root = 0;
    t->order[++t->count] = (uint32_t)h->n_objects; /* the virtual root */
    t->dparent[t->count] = 0;
    for (;;) {
        uint32_t w, from;
        if (sp == 0) {
            if (next_root >= n_vroot)
                break;
            w = next_root < roots->n_order
                    ? roots->order[next_root]
                    : extra[next_root - roots->n_order];
            next_root++;
            from = 1;
        } else {
            uint32_t v = stack[sp - 1];
            uint64_t e = h->edge_start[v] + at[sp - 1];
            /* (an object of 2^32 references or more, which no memory
             * holds, is cut there rather than walked again) */
            if (e >= h->edge_start[v + 1] || at[sp - 1] == UINT32_MAX) {
                sp--;
                continue;
            }
            at[sp - 1]++;
            if (h->edge_word[e] & HD_EDGE_WEAK)
                continue;
            w = h->edge_dst[e];
            from = t->pre[v];
        }
        if (t->pre[w])
            continue;
        t->pre[w] = ++t->count;
        t->order[t->count] = w;
        t->dparent[t->count] = from;
        stack[sp] = w;
        at[sp++] = 0;
    }
    for (uint32_t k = 1; k <= t->count; k++) {
        t->semi[k] = t->label[k] = k;
        t->anc[k] = 0;
    }
}

/* eval(j): compresses j's ancestor path, then takes its label; the path
 * is collected in idom[], free until (3). */
static inline uint32_t
lt_eval(lt *t, uint32_t j)
{
    uint32_t *anc = t->anc, *label = t->label, *semi = t->semi;
    if (anc[j] == 0)
        return j;
    uint32_t top = 0, x = j;
    while (anc[anc[x]] != 0) {
        t->idom[top++] = x;
        x = anc[x];
    }
    while (top > 0) {
        x = t->idom[--top];
        uint32_t a = anc[x];
        if (semi[label[a]] < semi[label[x]])
            label[x] = label[a];
        anc[x] = anc[a];
    }
    return label[j];
}

/* (2) Semidominators, in reverse preorder. */
static void
lt_semidominators(lt *t, const hd_rev *rev)
{
    for (uint32_t k = t->count; k >= 2; k--) {
        uint32_t w = t->order[k];
        uint64_t r0 = rev->start[w], r1 = rev->start[w + 1];
        for (uint64_t r = r0; r <= r1; r++) {
            uint32_t j;
            if (r == r1) { /* the virtual root's edge, if any */
                if (!t->from_vroot[w])
                    break;
                j = 1;
            } else {
                j = t->pre[rev->src[r]];
                if (j == 0)
                    continue; /* a predecessor the DFS never reached */
            }
            uint32_t u = lt_eval(t, j);
            if (t->semi[u] < t->semi[k])
                t->semi[k] = t->semi[u];
        }
        t->anc[k] = t->dparent[k]; /* link */
    }
}

/* (3) Immediate dominators by the nearest-common-ancestor climb, as
 * preorder numbers. */
static void
lt_idoms(lt *t)
{
    uint32_t *idom = t->idom;
    idom[1] = 1;
    for (uint32_t k = 2; k <= t->count; k++) {
        uint32_t d = t->dparent[k];
        while (d > t->semi[k])
            d = idom[d];
        idom[k] = d;
    }
}

/* The heap's idom (HD_NONE under the virtual root) and retained sizes,
 * children before parents. */
static void
lt_results(const lt *t, const hd_heap *h, hd_dom *out)
{
    const uint32_t *idom = t->idom, *order = t->order;
    for (uint64_t o = 0; o < h->n_objects; o++)
        out->idom[o] = HD_NONE;
    for (uint32_t k = 2; k <= t->count; k++)
        out->idom[order[k]] = idom[k] == 1 ? HD_NONE : order[idom[k]];
    for (uint32_t k = t->count; k >= 2; k--) {
        uint32_t w = order[k];
        out->retained[w] += hd_heap__size(h, w);
        if (idom[k] != 1)
            out->retained[order[idom[k]]] += out->retained[w];
    }
}

int
hd_dom__compute(const hd_heap *h, const hd_rev *rev, const hd_roots *roots,
                const uint32_t *extra, uint64_t n_extra, hd_dom *out)
{
    uint64_t n = h->n_objects;
    lt t = {0};
    int err = 0;
    memset(out, 0, sizeof(*out));
    if (lt_alloc(&t, n) < 0)
        goto nomem;
    for (uint64_t i = 0; i < roots->n_order; i++)
        t.from_vroot[roots->order[i]] = 1;
    for (uint64_t i = 0; i < n_extra; i++)
        t.from_vroot[extra[i]] = 1;
    lt_dfs(&t, h, roots, extra, roots->n_order + n_extra);
    lt_semidominators(&t, rev);
    /* the results take the room of what only (1) and (2) needed, then of
     * what only (3) did: the peak stays in (2) */
#define DROP(p) (free(p), (p) = NULL)
    DROP(t.label);
    DROP(t.anc);
    DROP(t.pre);
    DROP(t.from_vroot);
    lt_idoms(&t);
    DROP(t.dparent);
    DROP(t.semi);
#undef DROP
    out->idom = malloc(((size_t)n + 1) * sizeof(uint32_t));
    out->retained = calloc((size_t)n + 1, sizeof(uint64_t));
    if (!out->idom || !out->retained) {
        hd_dom__free(out);
        goto nomem;
    }
    lt_results(&t, h, out);
    goto done;
nomem:
    err = hd_error_set(HD_ENOMEM, "out of memory (dominators)");
done:
    lt_free(&t);
    return err;
}

void
hd_dom__free(hd_dom *d)
{
    free(d->idom);
    free(d->retained);
    d->idom = NULL;
    d->retained = NULL;
}

int
hd_dom__group_retained(const hd_heap *h, const hd_dom *dom,
                       const uint32_t *group, uint32_t n_groups, uint64_t *out)
{
    uint64_t n = h->n_objects;
    /* Children lists of the dominator tree (CSR), then a DFS keeping, per
     * group, how many ancestors on the current path belong to it. */
    /* n+1 buckets; a count of objects fits 32 bits (the reader's limit) */
    uint32_t *cstart = calloc((size_t)n + 3, sizeof(uint32_t));
    uint32_t *child = malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint32_t *active = calloc((size_t)n_groups + 1, sizeof(uint32_t));
    uint32_t *stack = malloc(((size_t)n + 1) * sizeof(uint32_t));
    uint8_t *exited = calloc((size_t)n + 1, 1);
    int err = 0;
    if (!cstart || !child || !active || !stack || !exited) {
        err = hd_error_set(HD_ENOMEM, "out of memory (retained sets)");
        goto done;
    }
    memset(out, 0, ((size_t)n_groups + 1) * sizeof(uint64_t));
    /* bucket n holds the virtual root's children */
    for (uint64_t o = 0; o < n; o++)
        cstart[(dom->idom[o] == HD_NONE ? n : dom->idom[o]) + 2]++;
    for (uint64_t i = 2; i < n + 3; i++)
        cstart[i] += cstart[i - 1];
    for (uint64_t o = 0; o < n; o++)
        child[cstart[(dom->idom[o] == HD_NONE ? n : dom->idom[o]) + 1]++] =
            (uint32_t)o;
    /* cstart[v]..cstart[v+1] are v's children; the virtual root's are
     * cstart[n]..cstart[n+1] */
    uint64_t sp = 0;
    for (uint32_t i = cstart[n]; i < cstart[n + 1]; i++)
        stack[sp++] = child[i];
    while (sp > 0) {
        uint32_t v = stack[sp - 1];
        uint32_t g = group[v];
        if (!exited[v]) {
            /* entering v */
            exited[v] = 1;
            if (g && active[g]++ == 0)
                out[g] += dom->retained[v];
            for (uint32_t i = cstart[v]; i < cstart[v + 1]; i++)
                stack[sp++] = child[i];
        } else {
            /* leaving v */
            sp--;
            if (g)
                active[g]--;
        }
    }
done:
    free(cstart);
    free(child);
    free(active);
    free(stack);
    free(exited);
    return err;
}
