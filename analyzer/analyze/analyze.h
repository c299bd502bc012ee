/* heapdig — MIT licence.
 *
 * analyze/analyze.h: the analysis stages over the heap model: graph, roots,
 * BFS and signatures, cycles, dominators, waste, the memory reconciliation.
 */
#ifndef HEAPDIG_ANALYZE_ANALYZE_H
#define HEAPDIG_ANALYZE_ANALYZE_H

#include "heap/heap.h"

/* ---- The analysis stages (each file opens with its design) -------------- */

/* Reverse CSR of the strong edges: the referrers of o are
 * rev_src[rev_start[o] .. rev_start[o+1]). */
typedef struct hd_rev {
    uint64_t *start;
    uint32_t *src;
} hd_rev;

int hd_graph__reverse(const hd_heap *h, hd_rev *out);
void hd_graph__rev_free(hd_rev *r);
/* Each object's references from outside the heap (refcount minus the
 * strong ones found in it; 0 for immortals), and the order the searches
 * start from: module roots, the other named roots, objects held from
 * outside, immortals (graph.c). */
typedef struct hd_roots {
    int64_t *external;
    uint32_t *order;
    uint64_t n_order, n_module, n_named; /* order[0..n_module) modules' */
    uint64_t n_negative_external, n_external_roots;
} hd_roots;
int hd_graph__roots(const hd_heap *h, const hd_rev *rev, hd_roots *out);
/* The breadth-first search from the roots over strong edges, module roots
 * first (paths.c). */
typedef struct hd_bfs {
    uint8_t *reachable;
    uint32_t *depth;       /* distance from the roots, HD_NONE if none */
    uint32_t *parent;      /* predecessor, HD_NONE for roots/unreached */
    uint64_t *parent_edge; /* the edge parent -> object it used */
    uint32_t *order;       /* the reachable objects in the order reached */
    uint64_t n;
} hd_bfs;
int hd_refchain__bfs(const hd_heap *h, hd_bfs *out);
void hd_refchain__bfs_free(hd_bfs *b);
/* Chain signatures for diffs: every reachable object's chain from a root
 * with indices and data keys generalised ("...['_CACHE'][*].payload"):
 * path[o] is o's signature id (1..n, 0 for none), whose text is step[id]
 * after base[id]'s, and hash[id] the whole text's. */
typedef struct hd_signatures {
    uint32_t *path;
    char **step;    /* [1..n] */
    uint32_t *base; /* [1..n] */
    uint64_t *hash; /* [1..n] */
    uint32_t n;
} hd_signatures;
int hd_refchain__signatures(const hd_heap *h, const hd_bfs *b,
                            hd_signatures *out);
void hd_refchain__signatures_free(hd_signatures *s);
/* The reference cycles: each object's cycle id (1..n, HD_NONE if in none)
 * and per cycle its members, size, whether reachable, finalizers, and room
 * for its retained size; garbage_reps receives one object per garbage
 * source component (cycles.c). */
typedef struct hd_cycles {
    uint32_t *scc;
    uint32_t n;
    uint32_t *members, *finalizers; /* [1..n] */
    uint64_t *size, *retained;
    uint8_t *reachable;
} hd_cycles;
int hd_cycles__compute(const hd_heap *h, hd_cycles *out,
                       uint32_t **garbage_reps, uint64_t *n_reps);
void hd_cycles__free(hd_cycles *c);
/* The dominator tree: each object's immediate dominator (HD_NONE under
 * the virtual root, whose edges are the roots and extra_roots) and the
 * bytes it retains, its own included (dominators.c). */
typedef struct hd_dom {
    uint32_t *idom;
    uint64_t *retained;
} hd_dom;
int hd_dom__compute(const hd_heap *h, const hd_rev *rev,
                    const uint32_t *extra_roots, uint64_t n_extra,
                    hd_dom *out);
/* Retained size of each group of objects (group[o] in 1..n_groups, 0 for
 * none), counting an object only where no dominator-tree ancestor belongs to
 * the same group, so sets are not double counted. */
int hd_dom__group_retained(const hd_heap *h, const uint32_t *group,
                           uint32_t n_groups, uint64_t *out);
/* Runs every stage (analysis.c). */
int hd_analyze(hd_heap *h);

/* ---- waste.c: what could be kept for less ---------------------------------- */

int hd_waste__compute(hd_heap *h);

/* ---- memory.c: the memory table ---------------------------------------------- */

typedef struct hd_memory_row {
    char part[HD_MEMORY_PART_MAX + 1];
    int64_t bytes;
} hd_memory_row;

#define HD_MEMORY_ROWS 176
/* pymalloc serves requests up to this size; larger ones go to malloc. */
#define HD_PYMALLOC_MAX_BLOCK 512
/* The memory table's rows: the reconciliation (rss, objects, python_free,
 * malloc_free, unaccounted, unaccounted_allocated), then the other parts
 * the dumper measured.  None when the dump has no rss. */
int hd__memory_account(const hd_heap *h, const hd_load_stats *stats,
                       hd_memory_row *rows, size_t cap, size_t *n_out);
/* The one-line note of a part, for the memory table. */
const char *hd__memory_note(const char *part);

#endif /* HEAPDIG_ANALYZE_ANALYZE_H */
