/* heapdig — MIT licence.
 *
 * grouped.c: the dominator tree grouped the way a person reads it
 * (tree/grouped.h).
 *
 * What an object dominates is grouped by type and by the label it is held
 * under ("dict ['_CACHE']"), and where no single one is big enough, by
 * type and kind of label ("Request [*]": any item or key), so 20,000
 * cached requests are one row, and so are their 20,000 headers dicts below
 * it.  A group retaining less than the threshold is not a row; its bytes
 * count in its parent's own.  Rows are ordered by what they retain, then
 * by type and label, alike from every source.
 */
#include "tree/grouped.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Names by number ----------------------------------------------------- */

static uint64_t
text_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h | 1; /* never 0: an empty slot */
}

int
hd_gt_name(hd_gt_names *m, const char *text, int64_t *label)
{
    uint64_t h = text_hash(text);
    if (hd_hmap_reserve(&m->at, 1) < 0)
        return hd_error_set(HD_ENOMEM, "tree: out of memory");
    uint64_t j = hd_hmap_first(&m->at, h);
    for (; m->at.keys[j]; j = (j + 1) & m->at.mask)
        if (m->at.keys[j] == h && !strcmp(m->text[m->at.vals[j]], text)) {
            *label = -(int64_t)m->at.vals[j] - 1;
            return 0;
        }
    if (hd_grow(&m->text, &m->cap, m->n + 1, sizeof(*m->text)) < 0 ||
        (m->text[m->n] = strdup(text)) == NULL)
        return hd_error_set(HD_ENOMEM, "tree: out of memory");
    hd_hmap_put_at(&m->at, j, h, (uint32_t)m->n);
    *label = -(int64_t)m->n++ - 1;
    return 0;
}

const char *
hd_gt_name_text(const hd_gt_names *m, int64_t label)
{
    size_t i = (size_t)(-label - 1);
    return label < 0 && i < m->n ? m->text[i] : NULL;
}

void
hd_gt_names_free(hd_gt_names *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->text[i]);
    free(m->text);
    hd_hmap_free(&m->at);
    memset(m, 0, sizeof(*m));
}

/* ---- Grouping ------------------------------------------------------------ */

/* Sums of sizes a crafted dump may make past 2^63: they wrap, as the
 * dominators' own do, instead of overflowing. */
static inline int64_t
add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

typedef struct group {
    size_t first, n; /* a run of the children (tally: the largest one) */
    int64_t retained, size, top; /* top: the member retaining most */
    int by_kind;
    int64_t type, label; /* the run's (label: its kind if by_kind) */
    const char *text;    /* the label's, "[*]" for any item */
} group;

typedef struct build {
    const hd_gt_source *src;
    const hd_tree_opts *o;
    hd_gtree *t;
    int err;
} build;

static int
cmp_int(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

/* Largest first; equals by type and label: labels rows by id (every
 * source numbers them alike), root names by text (numbered as met). */
static int
by_retained(const void *a, const void *b)
{
    const group *x = a, *y = b;
    if (x->retained != y->retained)
        return x->retained < y->retained ? 1 : -1;
    if (x->type != y->type)
        return cmp_int(x->type, y->type);
    if (x->by_kind != y->by_kind)
        return x->by_kind - y->by_kind;
    if (x->label > 0 && y->label > 0)
        return cmp_int(x->label, y->label);
    if (!x->text || !y->text)
        return !!x->text - !!y->text;
    return strcmp(x->text, y->text);
}

/* Numbers the children by (type, label), or (type, kind) if by_kind,
 * skipping those already in a group (gid[i] != SIZE_MAX), into a
 * candidate group per pair; cand grows, gid receives each one's. */
static int
tally(const hd_gt_child *c, size_t n, int by_kind, size_t *gid, group **cand,
      size_t *n_cand, size_t *cap)
{
    hd_hmap m = {0};
    int err = 0;
    for (size_t i = 0; i < n && err == 0; i++) {
        if (gid[i] != SIZE_MAX)
            continue;
        int64_t label = by_kind ? c[i].kind : c[i].label;
        uint64_t key = (((uint64_t)c[i].type * 1099511628211ull) ^
                        (uint64_t)label) * 0x9e3779b97f4a7c15ull | 1;
        if (hd_hmap_reserve(&m, 1) < 0) {
            err = -1;
            break;
        }
        uint64_t j = hd_hmap_first(&m, key);
        for (; m.keys[j]; j = (j + 1) & m.mask) {
            const group *g = &(*cand)[m.vals[j]];
            if (m.keys[j] == key && g->type == c[i].type && g->label == label)
                break;
        }
        if (!m.keys[j]) {
            if (hd_grow(cand, cap, *n_cand + 1, sizeof(**cand)) < 0) {
                err = -1;
                break;
            }
            (*cand)[*n_cand] = (group){i, 0, 0, 0, c[i].id, by_kind,
                                       c[i].type, label, NULL};
            hd_hmap_put_at(&m, j, key, (uint32_t)(*n_cand)++);
        }
        group *g = &(*cand)[m.vals[j]];
        g->n++;
        g->retained = add(g->retained, c[i].retained);
        g->size = add(g->size, c[i].size);
        if (c[i].retained > c[g->first].retained ||
            (c[i].retained == c[g->first].retained && c[i].id < g->top))
            g->first = i, g->top = c[i].id;
        gid[i] = m.vals[j];
    }
    hd_hmap_free(&m);
    return err;
}

/* The groups of the children that retain the threshold, largest first:
 * exact (type and label) where one is big enough, the rest by kind of
 * label; *ids receives the members' ids, each group a run of it.  By
 * hashing, not sorting: the load groups every level of a 10 M-object heap
 * twice. */
static int
group_children(build *b, const hd_gt_child *c, size_t n, group **out,
               size_t *n_out, int64_t **ids)
{
    size_t *gid = malloc((n ? n : 1) * sizeof(size_t));
    size_t *at = NULL, n_cand = 0, cap = 0, ng = 0;
    group *cand = NULL, *g = NULL;
    int64_t threshold = b->o->threshold;
    int err = 0;
    *ids = malloc((n ? n : 1) * sizeof(**ids));
    if (gid == NULL || *ids == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        gid[i] = SIZE_MAX;
    /* the exact pairs big enough, then the rest by kind of label */
    if (tally(c, n, 0, gid, &cand, &n_cand, &cap) < 0)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        if (cand[gid[i]].retained < threshold)
            gid[i] = SIZE_MAX;
    if (tally(c, n, 1, gid, &cand, &n_cand, &cap) < 0)
        goto nomem;
    /* the candidates kept as groups, their members' runs in group order
     * (a counting sort) */
    if ((g = malloc((n_cand ? n_cand : 1) * sizeof(*g))) == NULL ||
        (at = malloc((n_cand + 1) * sizeof(size_t))) == NULL)
        goto nomem;
    size_t run = 0;
    for (size_t k = 0; k < n_cand; k++) {
        at[k] = SIZE_MAX;
        if (cand[k].retained < threshold)
            continue;
        at[k] = ng;
        g[ng] = cand[k];
        g[ng].first = run;
        run += g[ng++].n;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = at[gid[i]];
        if (k != SIZE_MAX)
            (*ids)[g[k].first + --g[k].n] = c[i].id;
    }
    for (size_t k = 0; k < ng; k++) {
        g[k].n = (k + 1 < ng ? g[k + 1].first : run) - g[k].first;
        g[k].text = g[k].by_kind && g[k].label == HD_GT_ITEM
                        ? "[*]"
                        : b->src->label_text(b->src->ctx, g[k].label);
    }
    qsort(g, ng, sizeof(*g), by_retained);
    goto done;
nomem:
    err = hd_error_set(HD_ENOMEM, "tree: out of memory");
    free(g);
    g = NULL;
    ng = 0;
    free(*ids);
    *ids = NULL;
done:
    free(gid);
    free(cand);
    free(at);
    *out = g;
    *n_out = ng;
    return err;
}

static size_t
add_row(build *b, size_t parent, const group *g)
{
    hd_gt_row r = {parent, g->retained, g->size, g->top, g->type, g->n,
                   (char *)g->text};
    if (b->err == 0 && (b->err = hd_gtree_add(b->t, &r)) < 0)
        return 0;
    return b->t->n - 1;
}

static void build_under(build *b, size_t row, const int64_t *ids, size_t n,
                        int64_t retained, int64_t size, int depth, int top);

/* The rows of one level under row: all its groups, the first max_rows
 * walked into.  c is freed here, before the walk goes deeper. */
static void
build_groups(build *b, size_t row, hd_gt_child *c, size_t n, int depth)
{
    group *g = NULL;
    size_t ng = 0;
    int64_t *ids = NULL;
    b->err = n ? group_children(b, c, n, &g, &ng, &ids) : 0;
    free(c);
    for (size_t k = 0; k < ng && b->err == 0; k++) {
        size_t at = add_row(b, row, &g[k]);
        if (b->err || (b->o->max_rows > 0 && (long)k >= b->o->max_rows))
            continue;
        build_under(b, at, ids + g[k].first, g[k].n, g[k].retained,
                    g[k].size, depth + 1, 0);
    }
    free(g);
    free(ids);
}

/* The rows under row (the objects in ids, retaining `retained` in all, of
 * `size` bytes themselves; top: the tops, whose row 0 retains them). */
static void
build_under(build *b, size_t row, const int64_t *ids, size_t n,
            int64_t retained, int64_t size, int depth, int top)
{
    hd_gt_child *c = NULL;
    size_t nc = 0, cap = 0;
    int64_t below = 0;
    int max_depth = b->o->max_depth > 0 ? b->o->max_depth : 1000;
    if (b->err || depth > max_depth || depth > 1000)
        return;
    if ((b->err = b->src->children(b->src->ctx, ids, n, top, &c, &nc,
                                   &cap)) < 0)
        goto fail;
    for (size_t i = 0; i < nc; i++)
        below = add(below, c[i].retained);
    /* what a row retains is itself and what it dominates: a database that
     * says otherwise (an idom loop below it) is not shown as if whole */
    if (!top && below != add(retained, -size)) {
        char more[48] = "";
        if (n > 1)
            snprintf(more, sizeof(more), " (and %zu more)", n - 1);
        b->err = hd_error_set(HD_EINVAL, "the database is inconsistent: #%"
                              PRId64 "%s retains %" PRId64 " bytes, but is %"
                              PRId64 " itself and dominates %" PRId64
                              ": load the dump again", ids[0], more, retained,
                              size, below);
        goto fail;
    }
    if (top)
        b->t->row[row].retained = below;
    build_groups(b, row, c, nc, depth); /* frees c */
    return;
fail:
    free(c);
}

int
hd_gtree_build(const hd_gt_source *src, const hd_tree_opts *o,
               int64_t root_retained, int64_t root_size, hd_gtree *out)
{
    build b = {src, o, out, 0};
    int top = o->root < 0;
    memset(out, 0, sizeof(*out));
    out->depth0 = top ? 0 : 1;
    hd_gt_row start = {0, top ? 0 : root_retained, top ? 0 : root_size,
                       o->root, 0, 1, NULL};
    if ((b.err = hd_gtree_add(out, &start)) == 0)
        build_under(&b, 0, &o->root, top ? 0 : 1, root_retained, root_size,
                    out->depth0, top);
    if (b.err < 0)
        hd_gtree_free(out);
    return b.err;
}

int
hd_gtree_add(hd_gtree *t, const hd_gt_row *r)
{
    if (hd_grow(&t->row, &t->cap, t->n + 1, sizeof(*t->row)) < 0)
        return hd_error_set(HD_ENOMEM, "tree: out of memory");
    t->row[t->n] = *r;
    if (r->label && (t->row[t->n].label = strdup(r->label)) == NULL)
        return hd_error_set(HD_ENOMEM, "tree: out of memory");
    t->n++;
    return 0;
}

void
hd_gtree_free(hd_gtree *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->row[i].label);
    free(t->row);
    memset(t, 0, sizeof(*t));
}

/* ---- Telling ------------------------------------------------------------- */

typedef struct tell {
    const hd_gtree *t;
    const hd_tree_opts *o;
    const char *(*type_name)(void *, int64_t);
    void *type_ctx;
    hd_tree_visit visit;
    void *ctx;
    size_t *kid, *next; /* each row's first row under it; its next sibling */
    int stop;
} tell;

#define NO_ROW SIZE_MAX

static void
tell_under(tell *w, size_t row, int depth)
{
    int64_t shown = 0;
    int max_depth = w->o->max_depth > 0 ? w->o->max_depth : 1000;
    long k = 0;
    if (depth <= max_depth && depth <= 1000) {
        for (size_t r = w->kid[row]; r != NO_ROW && !w->stop;
             r = w->next[r], k++) {
            const hd_gt_row *g = &w->t->row[r];
            hd_tree_row out = {depth, g->retained, g->size, g->count,
                               g->first, w->type_name(w->type_ctx, g->type),
                               g->label};
            if (w->o->max_rows > 0 && k == w->o->max_rows) {
                out.retained = out.size = 0;
                out.count = 0;
                out.label = NULL;
                for (size_t m = r; m != NO_ROW; m = w->next[m]) {
                    out.retained = add(out.retained,
                                       w->t->row[m].retained);
                    out.count++;
                }
                if (w->visit(w->ctx, HD_TREE_MORE, &out, 0))
                    w->stop = 1;
                break;
            }
            shown = add(shown, g->retained);
            int v = w->visit(w->ctx, HD_TREE_ENTER, &out, 0);
            if (v == HD_TREE_SKIP)
                continue;
            if (v) {
                w->stop = 1;
                break;
            }
            tell_under(w, r, depth + 1);
        }
    }
    if (!w->stop && w->visit(w->ctx, HD_TREE_LEAVE, NULL,
                             add(w->t->row[row].retained, -shown)))
        w->stop = 1;
}

int
hd_gtree_tell(const hd_gtree *t, const hd_tree_opts *o,
              const char *(*type_name)(void *, int64_t), void *type_ctx,
              hd_tree_visit visit, void *ctx)
{
    tell w = {t, o, type_name, type_ctx, visit, ctx, NULL, NULL, 0};
    size_t *last = NULL;
    if (t->n == 0)
        return 0;
    w.kid = malloc(t->n * sizeof(size_t));
    w.next = malloc(t->n * sizeof(size_t));
    last = malloc(t->n * sizeof(size_t));
    if (!w.kid || !w.next || !last) {
        free(w.kid);
        free(w.next);
        free(last);
        return hd_error_set(HD_ENOMEM, "tree: out of memory");
    }
    for (size_t i = 0; i < t->n; i++)
        w.kid[i] = w.next[i] = last[i] = NO_ROW;
    for (size_t i = 1; i < t->n; i++) {
        size_t p = t->row[i].parent;
        if (p >= i) { /* rows read back: each after its parent */
            free(w.kid);
            free(w.next);
            free(last);
            return hd_error_set(HD_EINVAL, "the database is inconsistent: "
                                "tree row %zu is under row %zu, not one "
                                "before it: load the dump again", i, p);
        }
        if (last[p] == NO_ROW)
            w.kid[p] = i;
        else
            w.next[last[p]] = i;
        last[p] = i;
    }
    tell_under(&w, 0, t->depth0);
    free(w.kid);
    free(w.next);
    free(last);
    return 0;
}
