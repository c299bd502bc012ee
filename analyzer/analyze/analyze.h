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
/* The order the searches start from: module roots, the other named
 * roots, objects held from outside, immortals (graph.c). */
typedef struct hd_roots {
    uint32_t *order;
    uint64_t n_order, n_module, n_named; /* order[0..n_module) modules' */
    uint64_t n_negative_external, n_external_roots;
} hd_roots;
int hd_graph__roots(const hd_heap *h, const hd_rev *rev, hd_roots *out);
void hd_graph__roots_free(hd_roots *r);
/* Each object's references from outside the heap: refcount minus the
 * strong ones found in it, 0 for immortals (*out[0..n), caller frees). */
int hd_graph__external(const hd_heap *h, const hd_rev *rev, int64_t **out);
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
int hd_refchain__bfs(const hd_heap *h, const hd_roots *roots, hd_bfs *out);
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
    uint8_t *reachable, *backbone; /* backbone: a module or class in it */
} hd_cycles;
int hd_cycles__compute(const hd_heap *h, const uint8_t *reachable,
                       hd_cycles *out, uint32_t **garbage_reps,
                       uint64_t *n_reps);
void hd_cycles__free(hd_cycles *c);
/* The dominator tree: each object's immediate dominator (HD_NONE under
 * the virtual root, whose edges are roots->order and extra_roots) and the
 * bytes it retains, its own included (dominators.c). */
typedef struct hd_dom {
    uint32_t *idom;
    uint64_t *retained;
} hd_dom;
int hd_dom__compute(const hd_heap *h, const hd_rev *rev,
                    const hd_roots *roots, const uint32_t *extra_roots,
                    uint64_t n_extra, hd_dom *out);
void hd_dom__free(hd_dom *d);
/* Retained size of each group of objects (group[o] in 1..n_groups, 0 for
 * none), counting an object only where no dominator-tree ancestor belongs to
 * the same group, so sets are not double counted. */
int hd_dom__group_retained(const hd_heap *h, const hd_dom *dom,
                           const uint32_t *group, uint32_t n_groups,
                           uint64_t *out);

/* ---- waste.c: what could be kept for less ---------------------------------- */

/* A row of the waste table: kind is "duplicate", "empty" or "slots";
 * example one of its objects (a duplicate's value, an empty container's
 * length); path the signature where most of them are held. */
typedef struct hd_waste {
    const char *kind;
    uint32_t type, example, path;
    uint64_t count, size, saved;
} hd_waste;
typedef struct hd_wastes {
    hd_waste *row; /* [1..n] */
    uint32_t n;
} hd_wastes;
/* Over the reachable objects, path[o] their signatures (hd_signatures). */
int hd_waste__compute(const hd_heap *h, const uint8_t *reachable,
                      const uint32_t *path, hd_wastes *out);
void hd_waste__free(hd_wastes *w);

/* ---- analysis.c: every stage, in order ------------------------------------- */

/* Objects by where they are held and their type (the diff's rows): group
 * g is (path, type), path 0 for garbage, with the bytes freeing all of
 * them would free (nested members once). */
typedef struct hd_held {
    uint32_t path, type;
    uint64_t count, size, retained;
} hd_held;
/* Retained sizes of sets of objects: per type, per (held, type). */
typedef struct hd_sets {
    uint64_t *type_count, *type_retained; /* [1..n_types] */
    hd_held *held;                        /* [1..n_held] */
    uint32_t n_held;
} hd_sets;

/* What the store writes of the analysis: each stage's results as it
 * returned them (the BFS without its order and tree edges, which only the
 * signatures need; the cycles with their retained sizes filled in). */
typedef struct hd_analysis {
    hd_roots roots;
    int64_t *external; /* hd_graph__external */
    hd_bfs bfs;
    hd_signatures sigs;
    hd_cycles cycles;
    hd_dom dom;
    hd_sets sets;
    hd_wastes waste;
    double t_graph, t_roots, t_bfs, t_scc, t_dom; /* seconds per stage */
} hd_analysis;
/* Runs every stage on h, which it does not change; on failure *out is
 * freed (and may be freed again). */
int hd_analyze(const hd_heap *h, hd_analysis *out);
void hd_analysis__free(hd_analysis *a);

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
