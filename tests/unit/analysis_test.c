/* heapdig — MIT licence.
 *
 * analysis_test.c: the analysis stages against brute force on many random
 * graphs (and long chains, which break recursive or Cooper-Harvey-Kennedy
 * implementations): external counts, reachability and BFS depth, SCCs
 * (mutual reachability via a transitive closure), garbage representatives,
 * dominators by their definition (remove d: is n still reachable?), and
 * retained sizes by recomputation.
 */
#include "read/read.h"
#include "analyze/analyze.h"
#include "harness.h"
#include "heapdig/format.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXN 48

static uint64_t rng_state = 88172645463325252ull;

static uint32_t
rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* A heap from an edge list; refcount = strong in-degree + extra[o]. */
static hd_heap *
make_heap(uint32_t n, const uint32_t (*edges)[3], uint32_t m,
          const int *extra, const uint32_t *named, uint32_t n_named,
          uint32_t n_types)
{
    hd_heap *h = calloc(1, sizeof(*h));
    h->n_objects = n;
    h->n_types = n_types;
    h->size.v = malloc((n + 1) * sizeof(uint32_t));
    h->refcount.v = calloc(n + 1, sizeof(uint32_t));
    h->flags = calloc(n + 1, sizeof(uint32_t));
    h->type = malloc((n + 1) * sizeof(uint32_t));
    h->edge_start = calloc(n + 2, sizeof(uint64_t));
    h->edge_dst = malloc((m + 1) * sizeof(uint32_t));
    h->edge_word = malloc(m + 1);
    h->edge_payload.v = calloc(m + 1, sizeof(uint32_t));
    uint32_t k = 0;
    for (uint32_t o = 0; o < n; o++) {
        h->size.v[o] = 16 + 8 * (o % 5);
        h->type[o] = 1 + o % n_types;
        h->edge_start[o] = k;
        for (uint32_t e = 0; e < m; e++)
            if (edges[e][0] == o) {
                h->edge_dst[k] = edges[e][1];
                h->edge_word[k] = (uint8_t)edges[e][2];
                if (!edges[e][2])
                    h->refcount.v[edges[e][1]]++;
                k++;
            }
    }
    h->edge_start[n] = k;
    h->n_edges = k;
    for (uint32_t o = 0; o < n; o++)
        h->refcount.v[o] += (uint32_t)extra[o];
    h->root_obj = malloc((n_named + 1) * sizeof(uint32_t));
    h->n_roots = n_named;
    for (uint32_t i = 0; i < n_named; i++)
        h->root_obj[i] = named[i];
    return h;
}

/* reach[v] = 1 for nodes reachable from the sources over strong edges,
 * never entering `removed` (HD_NONE: none). */
static void
reach_from(const hd_heap *h, const uint32_t *src, uint32_t n_src,
           uint32_t removed, uint8_t *reach)
{
    uint32_t n = (uint32_t)h->n_objects, stack[MAXN * 4], sp = 0;
    memset(reach, 0, n);
    for (uint32_t i = 0; i < n_src; i++)
        if (src[i] != removed && !reach[src[i]]) {
            reach[src[i]] = 1;
            stack[sp++] = src[i];
        }
    while (sp) {
        uint32_t v = stack[--sp];
        for (uint64_t e = h->edge_start[v]; e < h->edge_start[v + 1]; e++) {
            uint32_t w = h->edge_dst[e];
            if (h->edge_word[e] & HD_EDGE_WEAK || w == removed || reach[w])
                continue;
            reach[w] = 1;
            stack[sp++] = w;
        }
    }
}

static void
check_random_graph(uint32_t n, uint32_t m, int allow_garbage)
{
    uint32_t edges[MAXN * 4][3], named[3], n_named = rnd(3);
    int extra[MAXN];
    for (uint32_t e = 0; e < m; e++) {
        edges[e][0] = rnd(n);
        edges[e][1] = rnd(n);
        edges[e][2] = rnd(8) == 0; /* some weak */
    }
    for (uint32_t o = 0; o < n; o++)
        extra[o] = rnd(allow_garbage ? 6 : 2) == 0;
    for (uint32_t i = 0; i < n_named; i++)
        named[i] = rnd(n);
    hd_heap *h = make_heap(n, edges, m, extra, named, n_named, 3);
    hd_analysis an;
    CHECK_EQ(hd_analyze(h, &an), 0);
    if (an.bfs.reachable == NULL)
        goto done;

    /* external = refcount - strong in-degree */
    for (uint32_t o = 0; o < n; o++)
        CHECK_EQ(an.external[o], extra[o]);

    /* roots and reachability */
    uint32_t roots[MAXN + 3], n_roots = 0;
    uint8_t is_root[MAXN] = {0};
    for (uint32_t i = 0; i < n_named; i++)
        is_root[named[i]] = 1;
    for (uint32_t o = 0; o < n; o++)
        if (extra[o] > 0)
            is_root[o] = 1;
    for (uint32_t o = 0; o < n; o++)
        if (is_root[o])
            roots[n_roots++] = o;
    uint8_t reach[MAXN];
    reach_from(h, roots, n_roots, HD_NONE, reach);
    for (uint32_t o = 0; o < n; o++)
        CHECK_EQ(an.bfs.reachable[o], reach[o]);

    /* BFS depth: shortest distance by relaxation to a fixpoint, first from
     * the named roots; then, for what they do not reach, from the objects
     * held from outside (the phases of hd_refchain__bfs). */
    uint32_t dist[MAXN];
    uint8_t frozen[MAXN] = {0};
    for (uint32_t o = 0; o < n; o++)
        dist[o] = HD_NONE;
    for (uint32_t i = 0; i < n_named; i++)
        dist[named[i]] = 0;
    for (int phase = 0; phase < 2; phase++) {
        if (phase == 1)
            for (uint32_t o = 0; o < n; o++) {
                frozen[o] = dist[o] != HD_NONE;
                if (!frozen[o] && extra[o] > 0)
                    dist[o] = 0;
            }
        for (int changed = 1; changed;) {
            changed = 0;
            for (uint32_t v = 0; v < n; v++)
                for (uint64_t e = h->edge_start[v];
                     dist[v] != HD_NONE && e < h->edge_start[v + 1]; e++) {
                    uint32_t w = h->edge_dst[e];
                    if (!(h->edge_word[e] & 1) && !frozen[w] &&
                        dist[v] + 1 < dist[w]) {
                        dist[w] = dist[v] + 1;
                        changed = 1;
                    }
                }
        }
    }
    for (uint32_t o = 0; o < n; o++) {
        CHECK_EQ(an.bfs.depth[o], dist[o]);
        if (an.bfs.parent[o] != HD_NONE) {
            int has = 0;
            uint32_t p = an.bfs.parent[o];
            for (uint64_t e = h->edge_start[p]; e < h->edge_start[p + 1]; e++)
                has |= h->edge_dst[e] == o && !(h->edge_word[e] & 1);
            CHECK(has);
            CHECK_EQ(an.bfs.depth[p] + 1, an.bfs.depth[o]);
        }
    }

    /* SCCs: same cycle id iff mutually reachable; on a cycle iff its
     * component is larger than one or it refers to itself */
    uint8_t closure[MAXN][MAXN];
    for (uint32_t o = 0; o < n; o++) {
        uint32_t one = o;
        uint8_t r[MAXN];
        /* reachable from o in one or more steps */
        memset(closure[o], 0, n);
        for (uint64_t e = h->edge_start[o]; e < h->edge_start[o + 1]; e++)
            if (!(h->edge_word[e] & 1)) {
                one = h->edge_dst[e];
                reach_from(h, &one, 1, HD_NONE, r);
                for (uint32_t x = 0; x < n; x++)
                    closure[o][x] |= r[x];
            }
    }
    for (uint32_t a = 0; a < n; a++) {
        int cyclic = closure[a][a];
        CHECK_EQ(an.cycles.scc[a] != HD_NONE, cyclic);
        for (uint32_t b = 0; b < n; b++) {
            int same = a == b || (closure[a][b] && closure[b][a]);
            if (cyclic && an.cycles.scc[b] != HD_NONE)
                CHECK_EQ(an.cycles.scc[a] == an.cycles.scc[b], same);
        }
    }

    /* Dominators by definition over roots + garbage sources.  The garbage
     * sources are the unreachable nodes no other unreachable component
     * reaches; hd_analyze picked the lowest-numbered member of each. */
    uint32_t vsucc[MAXN + 3], n_vs = 0;
    for (uint32_t i = 0; i < n_roots; i++)
        vsucc[n_vs++] = roots[i];
    for (uint32_t o = 0; o < n; o++) {
        if (reach[o])
            continue;
        int source = 1, lowest = 1;
        for (uint32_t x = 0; x < n; x++) {
            int same = x == o || (closure[x][o] && closure[o][x]);
            if (!reach[x] && !same && closure[x][o])
                source = 0;
            if (same && x < o)
                lowest = 0;
        }
        if (source && lowest)
            vsucc[n_vs++] = o;
    }
    uint8_t all[MAXN], without[MAXN], dom[MAXN][MAXN];
    reach_from(h, vsucc, n_vs, HD_NONE, all);
    for (uint32_t o = 0; o < n; o++)
        CHECK(all[o]); /* every object hangs off a root or a garbage source */
    for (uint32_t d = 0; d < n; d++) {
        reach_from(h, vsucc, n_vs, d, without);
        for (uint32_t o = 0; o < n; o++)
            dom[d][o] = o == d || (all[o] && !without[o]);
    }
    for (uint32_t o = 0; o < n; o++) {
        /* idom: the strict dominator dominated by all other ones */
        uint32_t want = HD_NONE;
        for (uint32_t d = 0; d < n; d++) {
            if (d == o || !dom[d][o])
                continue;
            int deepest = 1;
            for (uint32_t d2 = 0; d2 < n; d2++)
                if (d2 != o && d2 != d && dom[d2][o] && !dom[d2][d])
                    deepest = 0;
            if (deepest)
                want = d;
        }
        CHECK_EQ(an.dom.idom[o], want);
        uint64_t ret = 0;
        for (uint32_t x = 0; x < n; x++)
            if (dom[o][x])
                ret += hd_heap__size(h, x);
        CHECK_EQ(an.dom.retained[o], ret);
    }
    /* type retained: the union of what the type's instances dominate */
    for (uint32_t t = 1; t <= h->n_types; t++) {
        uint64_t want = 0;
        for (uint32_t x = 0; x < n; x++) {
            int covered = 0;
            for (uint32_t d = 0; d < n; d++)
                covered |= h->type[d] == t && dom[d][x];
            if (covered)
                want += hd_heap__size(h, x);
        }
        CHECK_EQ(an.sets.type_retained[t], want);
    }
done:
    hd_analysis__free(&an);
    hd_heap__free(h);
}

static void
test_analysis__random_graphs(void)
{
    for (int i = 0; i < 400; i++) {
        uint32_t n = 1 + rnd(MAXN - 1);
        check_random_graph(n, rnd(3 * n + 1), i % 2);
    }
}

static void
test_analysis__dense_graphs(void)
{
    for (int i = 0; i < 60; i++) {
        uint32_t n = 2 + rnd(20);
        check_random_graph(n, 4 * n < MAXN * 4 ? 4 * n : MAXN * 4, 1);
    }
}

/* A 2M-long linked list with a garbage ring at its end: no recursion may
 * overflow, and retained sizes accumulate down the whole chain. */
static void
test_analysis__long_chain(void)
{
    uint32_t n = 2000000, ring = 5;
    hd_heap *h = calloc(1, sizeof(*h));
    h->n_objects = n;
    h->n_types = 1;
    h->size.v = malloc(n * sizeof(uint32_t));
    h->refcount.v = malloc(n * sizeof(uint32_t));
    h->flags = calloc(n, sizeof(uint32_t));
    h->type = malloc(n * sizeof(uint32_t));
    h->edge_start = malloc((n + 1) * sizeof(uint64_t));
    h->edge_dst = malloc(n * sizeof(uint32_t));
    h->edge_word = calloc(n, 1);
    h->edge_payload.v = calloc(n, sizeof(uint32_t));
    uint32_t chain = n - ring;
    for (uint32_t o = 0; o < n; o++) {
        h->size.v[o] = 10;
        h->type[o] = 1;
        h->refcount.v[o] = o == 0 ? 1 : 1; /* root: 1 external ref */
        h->edge_start[o] = o;
        /* chain: o -> o+1; ring: chain..n-1 -> next in ring */
        h->edge_dst[o] = o + 1 < chain ? o + 1
                         : o < chain   ? 0 /* last of chain -> head: cycle */
                         : chain + (o - chain + 1) % ring;
    }
    h->edge_start[n] = n;
    h->n_edges = n;
    h->refcount.v[0] = 2; /* one from the chain's tail, one from outside */
    hd_analysis an;
    CHECK_EQ(hd_analyze(h, &an), 0);
    CHECK_EQ(an.bfs.depth[chain - 1], chain - 1);
    CHECK_EQ(an.dom.retained[0], (uint64_t)chain * 10);
    CHECK_EQ(an.dom.idom[chain - 1], chain - 2);
    CHECK(!an.bfs.reachable[chain]);
    CHECK_EQ(an.cycles.n, 2);
    CHECK_EQ(an.dom.retained[chain], (uint64_t)ring * 10); /* the garbage ring */
    hd_analysis__free(&an);
    hd_heap__free(h);
}

/* A real dump (HD_TEST_DUMP): for sampled objects d, removing d must make
 * unreachable exactly the objects whose dominator chain passes through d,
 * and retained[d] must be their total size. */
static void
test_analysis__real_dump_sampled(void)
{
    const char *path = getenv("HD_TEST_DUMP");
    hd_heap *h = NULL;
    if (path == NULL) {
        printf("  (HD_TEST_DUMP not set; skipped)\n");
        return;
    }
    CHECK_EQ(hd_heap__read(&h, path, NULL, NULL), 0);
    if (h == NULL)
        return;
    hd_analysis an;
    CHECK_EQ(hd_analyze(h, &an), 0);
    uint64_t n = h->n_objects;
    CHECK(n > 1000);
    uint8_t *reach = malloc(n), *without = malloc(n);
    uint32_t *stack = malloc(n * sizeof(uint32_t));
    /* reachability from all roots, skipping `removed` */
    for (int sample = 0; sample < 60; sample++) {
        uint32_t d = (uint32_t)rnd((uint32_t)n), removed;
        for (int pass = 0; pass < 2; pass++) {
            uint8_t *r = pass ? without : reach;
            uint64_t sp = 0;
            removed = pass ? d : HD_NONE;
            memset(r, 0, n);
            for (uint64_t i = 0; i < an.roots.n_order; i++) {
                uint32_t v = an.roots.order[i];
                if (v != removed && !r[v]) {
                    r[v] = 1;
                    stack[sp++] = v;
                }
            }
            while (sp) {
                uint32_t v = stack[--sp];
                for (uint64_t e = h->edge_start[v]; e < h->edge_start[v + 1];
                     e++) {
                    uint32_t w = h->edge_dst[e];
                    if ((h->edge_word[e] & 1) || w == removed || r[w])
                        continue;
                    r[w] = 1;
                    stack[sp++] = w;
                }
            }
        }
        if (!reach[d])
            continue;
        uint64_t lost_size = 0, mismatches = 0;
        for (uint64_t o = 0; o < n; o++) {
            int dominated = 0;
            for (uint32_t x = (uint32_t)o; x != HD_NONE; x = an.dom.idom[x])
                if (x == d) {
                    dominated = 1;
                    break;
                }
            int lost = reach[o] && (!without[o] || o == d);
            mismatches += lost != dominated;
            lost_size += lost ? hd_heap__size(h, o) : 0;
        }
        CHECK_EQ(mismatches, 0);
        CHECK_EQ(an.dom.retained[d], lost_size);
    }
    free(reach);
    free(without);
    free(stack);
    hd_analysis__free(&an);
    hd_heap__free(h);
}

/* Two pictures in one process (a library user draws many): each must work
 * and the second must not touch what the first freed (run under ASan). */
static void
test_analysis__render_twice(void)
{
    const char *path = getenv("HD_TEST_DUMP");
    char db_path[4096], pic[4200];
    hd_db *db = NULL;
    if (path == NULL) {
        printf("  (HD_TEST_DUMP not set; skipped)\n");
        return;
    }
    snprintf(db_path, sizeof(db_path), "%s.twice.db", path);
    unlink(db_path);
    CHECK_EQ(hd_load_file(NULL, path, db_path, NULL, NULL), 0);
    CHECK_EQ(hd_db_open(&db, db_path), 0);
    if (db == NULL)
        return;
    for (int i = 0; i < 3; i++) {
        hd_graph_opts go;
        size_t nodes = 0;
        memset(&go, 0, sizeof(go));
        go.mode = i == 1 ? HD_GRAPH_REFS : HD_GRAPH_BACKREFS;
        snprintf(pic, sizeof(pic), "%s.twice-%d.%s", path, i,
                 i == 2 ? "dot" : "svg");
        unlink(pic);
        CHECK_EQ(hd_graph_render(db, 1, &go, pic, &nodes), 0);
        CHECK(nodes > 0);
        CHECK(access(pic, F_OK) == 0);
        unlink(pic);
    }
    hd_db_close(db);
    unlink(db_path);
}

int
main(int argc, char **argv)
{
    static const hd_test_case cases[] = {
        TEST(test_analysis__random_graphs),
        TEST(test_analysis__dense_graphs),
        TEST(test_analysis__long_chain),
        TEST(test_analysis__real_dump_sampled),
        TEST(test_analysis__render_twice),
    };
    return hd_test_main(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
