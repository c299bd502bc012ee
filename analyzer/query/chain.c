/* heapdig — MIT licence.
 *
 * chain.c: shortest referrer chains in a loaded database: the stored BFS
 * tree walked up from an object, or a fresh backward search that avoids
 * excluded retainers; and the N shortest chains through distinct holders.
 */
#include "query/query.h"
#include "heapdig/format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Object ids seen by the search: id + 1 -> its place in the queue. */
static int
idmap_put(hd_hmap *m, int64_t id, uint32_t v)
{
    if (hd_hmap_reserve(m, 1) < 0)
        return -1;
    uint64_t key = (uint64_t)id + 1, j = hd_hmap_first(m, key);
    while (m->keys[j] && m->keys[j] != key)
        j = (j + 1) & m->mask;
    hd_hmap_put_at(m, j, key, v);
    return 0;
}

static int
idmap_has(const hd_hmap *m, int64_t id)
{
    uint64_t key = (uint64_t)id + 1;
    if (m->keys == NULL)
        return 0;
    for (uint64_t j = hd_hmap_first(m, key); m->keys[j]; j = (j + 1) & m->mask)
        if (m->keys[j] == key)
            return 1;
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

/* How a root is named: the named root, or what the object is and that it
 * is held from outside the heap. */
static char *
root_name(hd_db *db, int64_t id)
{
    hd_rows *r = NULL;
    char buf[600];
    int64_t p[1] = {id};
    buf[0] = 0;
    /* an anonymous root says what it is: "function shutdown, held from
     * outside the heap (1 ref)" is atexit's, in C */
    if (hd_query(&r, db, "SELECT name FROM roots WHERE object = ?1 UNION ALL "
                 "SELECT CASE WHEN o.flags & " HD_SQL(HD_OBJ_IMMORTAL) " THEN 'immortal' ELSE "
                 "printf('%s%s, held from outside the heap (%d ref%s)', t.name,"
                 " coalesce(' ' || shown_value(substr(o.value, 1, 40), "
                 "o.flags), ''), o.external, CASE WHEN o.external = 1 THEN ''"
                 " ELSE 's' END) END FROM objects o JOIN types t ON t.id = "
                 "o.type WHERE o.id = ?1", 0, NULL) == 0) {
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
    /* depth falls by one at each step up: a database whose parent links
     * loop (or skip) is refused, never walked forever */
    int64_t want_depth = -1;
    for (int64_t cur = id;;) {
        int64_t p[1] = {cur};
        hd_rows_rerun(st, 1, p);
        if ((err = hd_rows_next(st)) < 0)
            goto done;
        if (err == 0) {
            err = n == 0 ? hd_error_set(HD_EINVAL, "no object #%" PRId64, cur)
                         : hd_error_set(HD_EINVAL, "the database is "
                                        "inconsistent: the parent of #%" PRId64
                                        " is #%" PRId64 ", which it does not "
                                        "hold (load the dump again)",
                                        ids[n - 1], cur);
            goto done;
        }
        if ((err = hd_grow(&ids, &cap, n + 1, sizeof(*ids))) < 0)
            goto done;
        ids[n++] = cur;
        if (hd_rows_text(st, 1) == NULL) {
            err = hd_error_set(HD_EINVAL, "no root reaches #%" PRId64 ": it "
                               "is garbage (unreachable); see `heapdig "
                               "cycles --garbage`", id);
            goto done;
        }
        int64_t depth = hd_rows_int(st, 1);
        if ((want_depth >= 0 && depth != want_depth) || depth < 0) {
            err = hd_error_set(HD_EINVAL, "the database is inconsistent: "
                               "#%" PRId64 " is at depth %" PRId64 " on the "
                               "way up from #%" PRId64 " (load the dump "
                               "again)", cur, depth, id);
            goto done;
        }
        want_depth = depth - 1;
        if (hd_rows_text(st, 0) == NULL)
            break; /* a root */
        if (depth == 0) {
            err = hd_error_set(HD_EINVAL, "the database is inconsistent: "
                               "root #%" PRId64 " has a parent (load the dump "
                               "again)", cur);
            goto done;
        }
        if (hd_rows_int(st, 0) == cur) {
            err = hd_error_set(HD_EINVAL, "the database is inconsistent: "
                               "#%" PRId64 " is its own parent (load the "
                               "dump again)", cur);
            goto done;
        }
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

/* How many more objects the search visits for a module's root once it has
 * found another root. */
#define MODULE_ROOT_SEARCH 100000

/* 1 if object id is the sys.modules or the builtins root, 0 if not; q is
 * the statement, prepared on first use. */
static int
is_module_root(hd_rows **q, hd_db *db, int64_t id)
{
    int64_t p[1] = {id};
    int err = *q ? hd_rows_rerun(*q, 1, p)
                 : hd_query_int(q, db, "SELECT 1 FROM roots WHERE object = ?1"
                                " AND kind IN ('sys.modules', 'builtins')",
                                1, p);
    return err < 0 ? err : hd_rows_next(*q);
}

/* The search backwards from the object: each node with the node it
 * leads to and the label of that reference. */
typedef struct bfs {
    int64_t *node;
    uint32_t *next;  /* index of the node each leads to */
    char **label;    /* label of node -> next (owned) */
    uint8_t *weak;
    size_t n, cap;
    hd_hmap seen;
} bfs;

static int
bfs_push(bfs *b, int64_t id, uint32_t next, char *label, uint8_t weak)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        int64_t *a = realloc(b->node, cap * sizeof(*a));
        if (a)
            b->node = a;
        uint32_t *x = a ? realloc(b->next, cap * sizeof(*x)) : NULL;
        if (x)
            b->next = x;
        char **l = x ? realloc(b->label, cap * sizeof(*l)) : NULL;
        if (l)
            b->label = l;
        uint8_t *w = l ? realloc(b->weak, cap) : NULL;
        if (w == NULL) {
            free(label);
            return hd_error_set(HD_ENOMEM, "out of memory");
        }
        b->weak = w;
        b->cap = cap;
    }
    if (idmap_put(&b->seen, id, (uint32_t)b->n) < 0) {
        free(label);
        return hd_error_set(HD_ENOMEM, "out of memory");
    }
    b->node[b->n] = id;
    b->next[b->n] = next;
    b->label[b->n] = label;
    b->weak[b->n] = weak;
    b->n++;
    return 0;
}

static void
bfs_free(bfs *b)
{
    for (size_t i = 0; b->label && i < b->n; i++)
        free(b->label[i]);
    free(b->label);
    free(b->node);
    free(b->next);
    free(b->weak);
    hd_hmap_free(&b->seen);
}

/* Whether the options keep src out of every chain. */
static int
excluded(const hd_chain_opts *o, int64_t src, const char *type_name)
{
    for (size_t i = 0; i < o->n_exclude_ids; i++)
        if (o->exclude_ids[i] == src)
            return 1;
    for (size_t i = 0; i < o->n_exclude_types && type_name; i++)
        if (!strcmp(o->exclude_types[i], type_name))
            return 1;
    return 0;
}

/* The chain from the root at node `found` to the object (node 0). */
static int
bfs_chain(hd_chain **out, bfs *b, hd_db *db, size_t found)
{
    size_t len = 0, k = 0;
    for (size_t i = found; i != UINT32_MAX; i = b->next[i])
        len++;
    hd_chain *c = chain_new(len);
    if (c == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory");
    for (size_t i = found; i != UINT32_MAX; i = b->next[i], k++) {
        c->ids[k] = b->node[i];
        /* label[i] names node[i] -> node[next[i]]: it belongs to k + 1 */
        if (k + 1 < len) {
            c->labels[k + 1] = b->label[i];
            c->weak[k + 1] = b->weak[i];
            b->label[i] = NULL;
        }
    }
    c->labels[0] = root_name(db, c->ids[0]);
    *out = c;
    return 0;
}

int
hd_refchain_find(hd_chain **out, hd_db *db, const int64_t id,
                 const hd_chain_opts *o)
{
    hd_rows *st = NULL, *self = NULL, *modroot = NULL;
    bfs b = {0};
    size_t head = 0, found = SIZE_MAX, fallback = SIZE_MAX, budget_end = 0;
    uint64_t limit = o && o->max_visit ? o->max_visit : 5000000;
    int64_t p[1] = {id};
    int err = 0;

    *out = NULL;
    if (o == NULL || (!o->n_exclude_ids && !o->n_exclude_types && !o->weak))
        return chain_from_parents(out, db, id);
    if ((err = hd_query(&self, db, "SELECT depth FROM objects WHERE id = ?1",
                        0, NULL)) < 0 ||
        (err = hd_query(&st, db, "SELECT r.src, r.label, r.kind, o.depth, "
                        "t.name FROM refs r JOIN objects o ON o.id = r.src "
                        "JOIN types t ON t.id = o.type WHERE r.dst = ?1", 0,
                        NULL)) < 0 ||
        (err = hd_rows_rerun(self, 1, p)) < 0 ||
        (err = hd_rows_next(self)) < 0)
        goto done;
    if (err == 0) {
        err = hd_error_set(HD_EINVAL, "no object #%" PRId64, id);
        goto done;
    }
    if ((err = bfs_push(&b, id, UINT32_MAX, NULL, 0)) < 0)
        goto done;
    if (hd_rows_text(self, 0) && hd_rows_int(self, 0) == 0)
        found = 0; /* the object is a root itself */
    while (found == SIZE_MAX && head < b.n && b.n < limit &&
           (fallback == SIZE_MAX || b.n < budget_end)) {
        size_t cur = head++;
        p[0] = b.node[cur];
        hd_rows_rerun(st, 1, p);
        while ((err = hd_rows_next(st)) == 1) {
            int64_t src = hd_rows_int(st, 0);
            const char *kind = hd_rows_text(st, 2), *l = hd_rows_text(st, 1);
            int is_weak = kind && !strcmp(kind, "weak");
            if ((is_weak && !o->weak) || idmap_has(&b.seen, src) ||
                excluded(o, src, hd_rows_text(st, 4)))
                continue;
            char *label = l ? strdup(l) : NULL;
            if ((l && label == NULL &&
                 (err = hd_error_set(HD_ENOMEM, "out of memory")) < 0) ||
                (err = bfs_push(&b, src, (uint32_t)cur, label,
                                (uint8_t)is_weak)) < 0)
                goto done;
            if (!hd_rows_text(st, 3) || hd_rows_int(st, 3) != 0)
                continue;
            /* a root: a module's (sys.modules, builtins) ends the search;
             * another (a thread's frame, an object held from outside) is
             * kept while a module's is looked for a while longer, as the
             * stored chains prefer modules */
            int mod = is_module_root(&modroot, db, src);
            if (mod < 0) {
                err = mod;
                goto done;
            }
            if (mod) {
                found = b.n - 1;
                break;
            }
            if (fallback == SIZE_MAX) {
                fallback = b.n - 1;
                budget_end = b.n + MODULE_ROOT_SEARCH;
            }
        }
        if (err < 0)
            goto done;
        err = 0;
    }
    if (found == SIZE_MAX)
        found = fallback;
    if (found == SIZE_MAX)
        err = hd_error_set(HD_EINVAL, b.n >= limit
                                          ? "no chain found within %" PRIu64
                                            " objects"
                                          : "no root reaches #%" PRId64
                                            " without the excluded "
                                            "retainers",
                           b.n >= limit ? limit : (uint64_t)id);
    else
        err = bfs_chain(out, &b, db, found);
done:
    bfs_free(&b);
    hd_rows_free(st);
    hd_rows_free(self);
    hd_rows_free(modroot);
    return err;
}

/* ---- One chain per holder ------------------------------------------------------
 *
 * MAT's "paths to GC roots": not only the shortest chain, but the shortest
 * one through each object that holds `id` directly, shortest first, so that
 * a session kept by both a cache and a forgotten list shows both.
 */

static int
by_length(const void *a, const void *b)
{
    const hd_chain *x = *(hd_chain *const *)a, *y = *(hd_chain *const *)b;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* Appends the hop holder -> id (label, weak) to c. */
static int
chain_extend(hd_chain *c, int64_t id, const char *label, int weak)
{
    int64_t *ids = realloc(c->ids, (c->n + 1) * sizeof(*ids));
    if (ids)
        c->ids = ids;
    char **labels = realloc(c->labels, (c->n + 1) * sizeof(*labels));
    if (labels)
        c->labels = labels;
    int *w = realloc(c->weak, (c->n + 1) * sizeof(*w));
    if (w)
        c->weak = w;
    if (!ids || !labels || !w)
        return hd_error_set(HD_ENOMEM, "out of memory (chains)");
    c->ids[c->n] = id;
    c->labels[c->n] = label ? strdup(label) : NULL;
    c->weak[c->n] = weak;
    c->n++;
    return 0;
}

int
hd_refchain_all(hd_chain ***out, size_t *n_out, hd_db *db, int64_t id,
                size_t max, const hd_chain_opts *opts)
{
    hd_rows *r = NULL;
    hd_chain **all = NULL, *c = NULL;
    size_t n = 0, cap = 0;
    int err;
    int64_t p[1] = {id};
    *out = NULL;
    *n_out = 0;
    /* a root is its own chain */
    if ((err = hd_refchain_find(&c, db, id, opts)) < 0)
        return err;
    if (c->n == 1) {
        all = malloc(sizeof(*all));
        if (all == NULL) {
            hd_chain_free(c);
            return hd_error_set(HD_ENOMEM, "out of memory (chains)");
        }
        all[0] = c;
        *out = all;
        *n_out = 1;
        return 0;
    }
    hd_chain_free(c);
    c = NULL;
    if ((err = hd_query_int(&r, db, "SELECT src, min(label), min(kind = "
                            "'weak') FROM refs WHERE dst = ?1 AND src != ?1 "
                            "GROUP BY src", 1, p)) < 0)
        return err;
    while ((err = hd_rows_next(r)) == 1) {
        int weak = (int)hd_rows_int(r, 2);
        if (weak && !(opts && opts->weak))
            continue;
        if (hd_refchain_find(&c, db, hd_rows_int(r, 0), opts) < 0) {
            hd_error_clear();
            continue; /* a holder no root reaches (garbage) or excluded */
        }
        if ((err = chain_extend(c, id, hd_rows_text(r, 1), weak)) < 0)
            break;
        if ((err = hd_grow(&all, &cap, n + 1, sizeof(*all))) < 0)
            break;
        all[n++] = c;
        c = NULL;
    }
    hd_rows_free(r);
    hd_chain_free(c);
    if (err < 0) {
        for (size_t i = 0; i < n; i++)
            hd_chain_free(all[i]);
        free(all);
        return err;
    }
    qsort(all, n, sizeof(*all), by_length);
    for (size_t i = max; i < n; i++)
        hd_chain_free(all[i]);
    *out = all;
    *n_out = n < max ? n : max;
    return 0;
}
