/* heapdig — MIT licence.
 *
 * tree.c: the tree table: the dominator tree grouped for `heapdig tree`
 * (tree/grouped.h) at its two default thresholds, walked at load over the
 * arrays in memory.  Over the database the same walk seeks the objects_idom
 * index once per object it walks into: 11-12 s on a 10 M-object heap.
 */
#include "store/write.h"
#include "tree/grouped.h"

#include <stdlib.h>
#include <string.h>

/* The heap's arrays as a source of children. */
typedef struct array_source {
    const hd_heap *h;
    const hd_analysis *a;
    const uint32_t *held_as;
    const hd_label_ids *li;
    uint32_t *start, *kid; /* what o dominates: kid[start[o] .. start[o+1]) */
    hd_hmap root_of;       /* object + 1 -> the first root naming it */
    hd_gt_names names;
} array_source;

static const char *
array_label_text(void *ctx, int64_t label)
{
    array_source *s = ctx;
    if (label < 0)
        return hd_gt_name_text(&s->names, label);
    return label > 0 && label <= s->li->n ? s->li->text[label] : NULL;
}

static int
add_child(array_source *s, uint32_t o, int top, hd_gt_child **c, size_t *len,
          size_t *cap)
{
    if (hd_grow(c, cap, *len + 1, sizeof(**c)) < 0)
        return hd_error_set(HD_ENOMEM, "tree: out of memory");
    hd_gt_child *x = &(*c)[(*len)++];
    *x = (hd_gt_child){o, (int64_t)s->a->dom.retained[o],
                       (int64_t)hd_heap__size(s->h, o), s->h->type[o], 0, 0};
    if (top) { /* as the tree query names them */
        const char *name = "(held by several roots)";
        uint64_t j = s->root_of.keys ? hd_hmap_first(&s->root_of, o + 1ull) : 0;
        for (; s->root_of.keys && s->root_of.keys[j];
             j = (j + 1) & s->root_of.mask)
            if (s->root_of.keys[j] == o + 1ull) {
                name = hd_heap__str(s->h, s->h->root_name[s->root_of.vals[j]],
                                    NULL);
                break;
            }
        int err = hd_gt_name(&s->names, name, &x->label);
        x->kind = hd_gt_kind(name, x->label);
        return err;
    }
    uint32_t l = s->held_as ? s->held_as[o] : HD_NONE;
    if (l != HD_NONE && l != 0) {
        x->label = l;
        x->kind = hd_gt_kind(s->li->text[l], l);
    }
    return 0;
}

static int
array_children(void *ctx, const int64_t *ids, size_t n, int top,
               hd_gt_child **c, size_t *len, size_t *cap)
{
    array_source *s = ctx;
    int err = 0;
    if (top) {
        for (uint64_t o = 0; o < s->h->n_objects && err == 0; o++)
            if (s->a->dom.idom[o] == HD_NONE && s->a->bfs.reachable[o])
                err = add_child(s, (uint32_t)o, 1, c, len, cap);
        return err;
    }
    for (size_t i = 0; i < n && err == 0; i++)
        for (uint32_t k = s->start[ids[i]]; k < s->start[ids[i] + 1] &&
                                            err == 0; k++)
            err = add_child(s, s->kid[k], 0, c, len, cap);
    return err;
}

static int
write_walk(sqlite3 *db, const hd_gtree *t, int64_t threshold)
{
    hd_batch b;
    int err = hd_batch_open(&b, db, "tree", 9);
    for (size_t i = 0; i < t->n && err == 0; i++) {
        const hd_gt_row *r = &t->row[i];
        hd_batch_int(&b, threshold);
        hd_batch_int(&b, (int64_t)i);
        if (i == 0) {
            hd_batch_null(&b);
        } else {
            hd_batch_int(&b, (int64_t)r->parent);
        }
        hd_batch_int(&b, r->retained);
        hd_batch_int(&b, r->size);
        hd_batch_int(&b, (int64_t)r->count);
        if (i == 0) {
            hd_batch_null(&b);
            hd_batch_null(&b);
        } else {
            hd_batch_int(&b, r->first);
            hd_batch_int(&b, r->type);
        }
        if (r->label)
            hd_batch_text(&b, r->label, -1);
        else
            hd_batch_null(&b);
        err = hd_batch_row(&b);
    }
    return hd_batch_close(&b, err);
}

int
hd_tree_rows_write(sqlite3 *db, const hd_heap *h, const hd_analysis *a,
                   const uint32_t *held_as, const hd_label_ids *li,
                   int64_t total)
{
    static const double pct[] = {HD_TREE_TABLE_PCT, HD_TREE_FOLDED_PCT};
    uint64_t n = h->n_objects;
    array_source s = {.h = h, .a = a, .held_as = held_as, .li = li};
    hd_gt_source src = {&s, array_children, array_label_text};
    int err = 0;
    s.start = calloc((size_t)n + 2, sizeof(uint32_t));
    s.kid = malloc(((size_t)n + 1) * sizeof(uint32_t));
    if (!s.start || !s.kid) {
        err = hd_error_set(HD_ENOMEM, "out of memory (tree)");
        goto done;
    }
    /* children by dominator, in object order (a counting sort) */
    for (uint64_t o = 0; o < n; o++)
        if (a->dom.idom[o] != HD_NONE)
            s.start[a->dom.idom[o] + 2]++;
    for (uint64_t o = 2; o < n + 2; o++)
        s.start[o] += s.start[o - 1];
    for (uint64_t o = 0; o < n; o++)
        if (a->dom.idom[o] != HD_NONE)
            s.kid[s.start[a->dom.idom[o] + 1]++] = (uint32_t)o;
    for (uint64_t i = 0; i < h->n_roots; i++) { /* the first one names it */
        uint64_t key = h->root_obj[i] + 1ull;
        if (hd_hmap_reserve(&s.root_of, 1) < 0) {
            err = hd_error_set(HD_ENOMEM, "out of memory (tree)");
            goto done;
        }
        uint64_t j = hd_hmap_first(&s.root_of, key);
        while (s.root_of.keys[j] && s.root_of.keys[j] != key)
            j = (j + 1) & s.root_of.mask;
        if (!s.root_of.keys[j])
            hd_hmap_put_at(&s.root_of, j, key, (uint32_t)i);
    }
    for (size_t k = 0; k < sizeof(pct) / sizeof(pct[0]) && err == 0; k++) {
        hd_tree_opts o = {hd_tree_threshold(total, pct[k]), 0, 0, -1};
        hd_gtree t;
        if (k > 0 && o.threshold == hd_tree_threshold(total, pct[0]))
            continue; /* a heap so small that both are 1 byte */
        if ((err = hd_gtree_build(&src, &o, 0, 0, &t)) == 0)
            err = write_walk(db, &t, o.threshold);
        hd_gtree_free(&t);
    }
done:
    free(s.start);
    free(s.kid);
    hd_hmap_free(&s.root_of);
    hd_gt_names_free(&s.names);
    return err;
}
