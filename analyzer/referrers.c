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

/* ---- Chains from a loaded database (hd_refchain_find) ----------------------
 *
 * Without options the chain is the stored BFS tree: walk objects.parent up to
 * a root, then name each step by the label of a strong reference.  With
 * exclusions (or weak references allowed) it is a fresh backward BFS from the
 * object over referrers (refs_dst index) that skips excluded objects and
 * types and stops at the first root (objects.depth = 0): the first root found
 * is a nearest one, so the chain is shortest in the graph without the
 * excluded retainers.
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct idmap {
    int64_t *keys; /* id + 1; 0 marks empty */
    uint32_t *vals;
    uint64_t mask, n;
} idmap;

static int
idmap_put(idmap *m, int64_t id, uint32_t v)
{
    if (m->keys == NULL || (m->n + 1) * 2 > m->mask + 1) {
        uint64_t cap = m->keys ? (m->mask + 1) * 2 : 1024;
        int64_t *k = calloc((size_t)cap, sizeof(*k));
        uint32_t *vv = malloc((size_t)cap * sizeof(*vv));
        if (k == NULL || vv == NULL) {
            free(k);
            free(vv);
            return -1;
        }
        for (uint64_t i = 0; m->keys && i <= m->mask; i++) {
            if (!m->keys[i])
                continue;
            uint64_t j = ((uint64_t)m->keys[i] * 0x9E3779B97F4A7C15ull) &
                         (cap - 1);
            while (k[j])
                j = (j + 1) & (cap - 1);
            k[j] = m->keys[i];
            vv[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = k;
        m->vals = vv;
        m->mask = cap - 1;
    }
    uint64_t j = ((uint64_t)(id + 1) * 0x9E3779B97F4A7C15ull) & m->mask;
    while (m->keys[j] && m->keys[j] != id + 1)
        j = (j + 1) & m->mask;
    if (!m->keys[j])
        m->n++;
    m->keys[j] = id + 1;
    m->vals[j] = v;
    return 0;
}

static int
idmap_has(const idmap *m, int64_t id)
{
    if (m->keys == NULL)
        return 0;
    uint64_t j = ((uint64_t)(id + 1) * 0x9E3779B97F4A7C15ull) & m->mask;
    while (m->keys[j]) {
        if (m->keys[j] == id + 1)
            return 1;
        j = (j + 1) & m->mask;
    }
    return 0;
}

void
hd_chain_free(hd_chain *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; c->labels && i < c->n; i++)
        free(c->labels[i]);
    free(c->labels);
    free(c->ids);
    free(c->weak);
    free(c);
}

static hd_chain *
chain_new(size_t n)
{
    hd_chain *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->n = n;
    c->ids = calloc(n ? n : 1, sizeof(*c->ids));
    c->labels = calloc(n ? n : 1, sizeof(*c->labels));
    c->weak = calloc(n ? n : 1, sizeof(*c->weak));
    if (!c->ids || !c->labels || !c->weak) {
        hd_chain_free(c);
        return NULL;
    }
    return c;
}

/* How a root is named: the named root, or "held from outside (N refs)". */
static char *
root_name(hd_db *db, int64_t id)
{
    hd_rows *r = NULL;
    char buf[600];
    int64_t p[1] = {id};
    buf[0] = 0;
    if (hd_query(&r, db, "SELECT name FROM roots WHERE object = ?1 UNION ALL "
                 "SELECT CASE WHEN flags & 32 THEN 'immortal' ELSE "
                 "printf('held from outside (%d refs)', external) END FROM "
                 "objects WHERE id = ?1", 0, NULL) == 0) {
        hd_rows_rerun(r, 1, p);
        if (hd_rows_next(r) == 1 && hd_rows_text(r, 0))
            snprintf(buf, sizeof(buf), "%s", hd_rows_text(r, 0));
    }
    hd_rows_free(r);
    return strdup(buf);
}

/* The label of a reference src -> dst (labelled strong ones preferred). */
static int
edge_label(hd_rows *st, int64_t src, int64_t dst, char **label, int *weak)
{
    int64_t p[2] = {src, dst};
    *label = NULL;
    *weak = 0;
    hd_rows_rerun(st, 2, p);
    int r = hd_rows_next(st);
    if (r < 0)
        return r;
    if (r == 1) {
        const char *l = hd_rows_text(st, 0);
        *weak = hd_rows_text(st, 1) && !strcmp(hd_rows_text(st, 1), "weak");
        if (l && (*label = strdup(l)) == NULL)
            return hd_error_set(HD_ENOMEM, "out of memory");
    }
    return 0;
}

static int
chain_from_parents(hd_chain **out, hd_db *db, int64_t id)
{
    hd_rows *st = NULL, *lab = NULL;
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    hd_chain *c = NULL;
    int err = 0;
    if ((err = hd_query(&st, db, "SELECT parent, depth FROM objects WHERE "
                        "id = ?1", 0, NULL)) < 0 ||
        (err = hd_query(&lab, db, "SELECT label, kind FROM refs WHERE src = ?1"
                        " AND dst = ?2 ORDER BY kind = 'weak', label IS NULL "
                        "LIMIT 1", 0, NULL)) < 0)
        goto done;
    for (int64_t cur = id;;) {
        int64_t p[1] = {cur};
        hd_rows_rerun(st, 1, p);
        if ((err = hd_rows_next(st)) < 0)
            goto done;
        if (err == 0) {
            err = hd_error_set(HD_EINVAL, "no object #%" PRId64, cur);
            goto done;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            int64_t *x = realloc(ids, cap * sizeof(*x));
            if (x == NULL) {
                err = hd_error_set(HD_ENOMEM, "out of memory");
                goto done;
            }
            ids = x;
        }
        ids[n++] = cur;
        if (hd_rows_text(st, 1) == NULL) {
            err = hd_error_set(HD_EINVAL, "no root reaches #%" PRId64 ": it "
                               "is garbage (unreachable); see `heapdig "
                               "cycles --garbage`", id);
            goto done;
        }
        if (hd_rows_text(st, 0) == NULL)
            break; /* a root */
        cur = hd_rows_int(st, 0);
    }
    if ((c = chain_new(n)) == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        c->ids[i] = ids[n - 1 - i];
    c->labels[0] = root_name(db, c->ids[0]);
    for (size_t i = 1; i < n; i++)
        if ((err = edge_label(lab, c->ids[i - 1], c->ids[i], &c->labels[i],
                              &c->weak[i])) < 0)
            goto done;
    *out = c;
    c = NULL;
done:
    hd_chain_free(c);
    hd_rows_free(st);
    hd_rows_free(lab);
    free(ids);
    return err;
}

int
hd_refchain_find(hd_chain **out, hd_db *db, const int64_t id,
                 const hd_chain_opts *o)
{
    hd_rows *st = NULL, *self = NULL;
    idmap seen = {0};
    int64_t *node = NULL;     /* BFS nodes */
    uint32_t *next = NULL;    /* index of the node each leads to */
    char **label = NULL;      /* label of node -> next */
    uint8_t *weak = NULL;
    size_t n = 0, cap = 0, head = 0, found = SIZE_MAX;
    uint64_t limit = o && o->max_visit ? o->max_visit : 5000000;
    hd_chain *c = NULL;
    int err = 0;

    *out = NULL;
    if (o == NULL || (!o->n_exclude_ids && !o->n_exclude_types && !o->weak))
        return chain_from_parents(out, db, id);

#define PUSH(ID, NEXT, LABEL, WEAK)                                           \
    do {                                                                      \
        if (n == cap) {                                                       \
            cap = cap ? cap * 2 : 1024;                                       \
            int64_t *a_ = realloc(node, cap * sizeof(*node));                 \
            uint32_t *b_ = a_ ? realloc(next, cap * sizeof(*next)) : NULL;    \
            char **c_ = b_ ? realloc(label, cap * sizeof(*label)) : NULL;     \
            uint8_t *d_ = c_ ? realloc(weak, cap) : NULL;                     \
            if (a_) node = a_;                                                \
            if (b_) next = b_;                                                \
            if (c_) label = c_;                                               \
            if (d_ == NULL) {                                                 \
                err = hd_error_set(HD_ENOMEM, "out of memory");               \
                goto done;                                                    \
            }                                                                 \
            weak = d_;                                                        \
        }                                                                     \
        node[n] = (ID);                                                       \
        next[n] = (NEXT);                                                     \
        label[n] = (LABEL);                                                   \
        weak[n] = (WEAK);                                                     \
        if (idmap_put(&seen, (ID), (uint32_t)n) < 0) {                        \
            free(label[n]);                                                   \
            err = hd_error_set(HD_ENOMEM, "out of memory");                   \
            goto done;                                                        \
        }                                                                     \
        n++;                                                                  \
    } while (0)

    if ((err = hd_query(&self, db, "SELECT depth FROM objects WHERE id = ?1",
                        0, NULL)) < 0 ||
        (err = hd_query(&st, db, "SELECT r.src, r.label, r.kind, o.depth, "
                        "t.name FROM refs r JOIN objects o ON o.id = r.src "
                        "JOIN types t ON t.id = o.type WHERE r.dst = ?1", 0,
                        NULL)) < 0)
        goto done;
    {
        int64_t p[1] = {id};
        hd_rows_rerun(self, 1, p);
        if ((err = hd_rows_next(self)) < 0)
            goto done;
        if (err == 0) {
            err = hd_error_set(HD_EINVAL, "no object #%" PRId64, id);
            goto done;
        }
        err = 0;
        PUSH(id, UINT32_MAX, NULL, 0);
        if (hd_rows_text(self, 0) && hd_rows_int(self, 0) == 0)
            found = 0; /* the object is a root itself */
    }
    while (found == SIZE_MAX && head < n && n < limit) {
        size_t cur = head++;
        int64_t p[1] = {node[cur]};
        hd_rows_rerun(st, 1, p);
        while ((err = hd_rows_next(st)) == 1) {
            int64_t src = hd_rows_int(st, 0);
            const char *kind = hd_rows_text(st, 2), *tn = hd_rows_text(st, 4);
            int is_weak = kind && !strcmp(kind, "weak"), skip = 0;
            if ((is_weak && !o->weak) || idmap_has(&seen, src))
                continue;
            for (size_t i = 0; i < o->n_exclude_ids && !skip; i++)
                skip = o->exclude_ids[i] == src;
            for (size_t i = 0; i < o->n_exclude_types && !skip && tn; i++)
                skip = !strcmp(o->exclude_types[i], tn);
            if (skip)
                continue;
            char *l = hd_rows_text(st, 1) ? strdup(hd_rows_text(st, 1)) : NULL;
            PUSH(src, (uint32_t)cur, l, (uint8_t)is_weak);
            if (hd_rows_text(st, 3) && hd_rows_int(st, 3) == 0) {
                found = n - 1;
                break;
            }
        }
        if (err < 0)
            goto done;
        err = 0;
    }
    if (found == SIZE_MAX) {
        err = hd_error_set(HD_EINVAL, n >= limit
                                          ? "no chain found within %" PRIu64
                                            " objects"
                                          : "no root reaches #%" PRId64
                                            " without the excluded "
                                            "retainers",
                           n >= limit ? limit : (uint64_t)id);
        goto done;
    }
    size_t len = 0;
    for (size_t i = found; i != UINT32_MAX; i = next[i])
        len++;
    if ((c = chain_new(len)) == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory");
        goto done;
    }
    size_t k = 0;
    for (size_t i = found; i != UINT32_MAX; i = next[i], k++) {
        c->ids[k] = node[i];
        /* label[i] names node[i] -> node[next[i]]: it belongs to k + 1 */
        if (k + 1 < len) {
            c->labels[k + 1] = label[i];
            c->weak[k + 1] = weak[i];
            label[i] = NULL;
        }
    }
    c->labels[0] = root_name(db, c->ids[0]);
    *out = c;
    c = NULL;
done:
#undef PUSH
    for (size_t i = 0; label && i < n; i++)
        free(label[i]);
    free(label);
    free(node);
    free(next);
    free(weak);
    free(seen.keys);
    free(seen.vals);
    hd_rows_free(st);
    hd_rows_free(self);
    hd_chain_free(c);
    return err;
}
