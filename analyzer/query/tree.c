/* heapdig — MIT licence.
 *
 * tree.c: the dominator tree grouped the way a person reads it
 * (heapdig.h: hd_tree_walk), for `heapdig tree` and its flame graphs.
 *
 * What an object dominates is grouped by type and by the label it is held
 * under ("dict ['_CACHE']"), and where no single one is big enough, by
 * type and kind of label ("Request [*]": any item or key), so 20,000
 * cached requests are one row, and so are their 20,000 headers dicts below
 * it.  A group retaining less than the threshold is not a row; its bytes
 * count in its parent's own.
 */
#include "query/query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Labels by number while grouping (a million children are compared as
 * integers, no text fetched or copied): a labels row's id, a root's name
 * (negative: names[-label - 1]), or 0 for none.  kind is the label again,
 * or ITEM for any item or key ("[...]"). */
#define ITEM INT64_MIN
typedef struct child {
    int64_t id, retained, size, type, label, kind;
} child;

typedef struct group {
    size_t first, n; /* a run of the sorted children */
    int64_t retained, size;
    int by_kind;
    int64_t type, label; /* the run's (label: its kind if by_kind) */
} group;

typedef struct walk {
    const hd_tree_opts *o;
    hd_tree_visit visit;
    void *ctx;
    hd_rows *kids, *top, *type_name, *label_text;
    hd_hmap label_at;  /* labels row id + 1 -> texts[] */
    char **texts;      /* labels' texts, then roots' names */
    size_t n_texts, cap_texts;
    hd_hmap name_at;   /* hash of a root's name -> texts[] */
    int err; /* an error, or 1: the visitor stopped the walk */
} walk;

static int
keep_text(walk *w, const char *s, uint32_t *at)
{
    int err = hd_grow(&w->texts, &w->cap_texts, w->n_texts + 1,
                      sizeof(*w->texts));
    if (err < 0)
        return err;
    if ((w->texts[w->n_texts] = strdup(s)) == NULL)
        return hd_error_set(HD_ENOMEM, "tree: out of memory");
    *at = (uint32_t)w->n_texts++;
    return 0;
}

/* The text of a label number (NULL for none), fetched once. */
static const char *
label_text(walk *w, int64_t label)
{
    if (label == 0)
        return NULL;
    if (label < 0)
        return w->texts[-label - 1];
    uint64_t key = (uint64_t)label + 1, j = hd_hmap_first(&w->label_at, key);
    for (; w->label_at.keys[j]; j = (j + 1) & w->label_at.mask)
        if (w->label_at.keys[j] == key)
            return w->texts[w->label_at.vals[j]];
    return NULL; /* not yet fetched: label_number did */
}

/* A labels row id as a label number, its text fetched once; 0 if the
 * database has no such label. */
static int
label_number(walk *w, int64_t id, int64_t *label, int64_t *kind)
{
    uint32_t at;
    int err;
    *label = *kind = 0;
    if (id <= 0)
        return 0;
    if (hd_hmap_reserve(&w->label_at, 1) < 0)
        return hd_error_set(HD_ENOMEM, "tree: out of memory");
    uint64_t key = (uint64_t)id + 1, j = hd_hmap_first(&w->label_at, key);
    for (; w->label_at.keys[j]; j = (j + 1) & w->label_at.mask)
        if (w->label_at.keys[j] == key)
            break;
    if (!w->label_at.keys[j]) {
        int64_t p[1] = {id};
        if ((err = hd_rows_rerun(w->label_text, 1, p)) < 0 ||
            (err = hd_rows_next(w->label_text)) < 0)
            return err;
        if (err == 0 || !hd_rows_text(w->label_text, 0))
            return 0;
        if ((err = keep_text(w, hd_rows_text(w->label_text, 0), &at)) < 0)
            return err;
        hd_hmap_put_at(&w->label_at, j, key, at);
    }
    *label = id;
    *kind = w->texts[w->label_at.vals[j]][0] == '[' ? ITEM : id;
    return 0;
}

/* A root's name as a label number. */
static int
name_number(walk *w, const char *name, int64_t *label)
{
    uint64_t h = 1469598103934665603ull;
    uint32_t at;
    int err;
    for (const char *s = name; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h |= 1; /* never 0: an empty slot */
    if (hd_hmap_reserve(&w->name_at, 1) < 0)
        return hd_error_set(HD_ENOMEM, "tree: out of memory");
    uint64_t j = hd_hmap_first(&w->name_at, h);
    for (; w->name_at.keys[j]; j = (j + 1) & w->name_at.mask)
        if (w->name_at.keys[j] == h &&
            !strcmp(w->texts[w->name_at.vals[j]], name)) {
            *label = -(int64_t)w->name_at.vals[j] - 1;
            return 0;
        }
    if ((err = keep_text(w, name, &at)) < 0)
        return err;
    hd_hmap_put_at(&w->name_at, j, h, at);
    *label = -(int64_t)at - 1;
    return 0;
}

static int
cmp_int(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int
cmp_exact(const void *a, const void *b)
{
    const child *x = a, *y = b;
    return x->type != y->type ? cmp_int(x->type, y->type)
                              : cmp_int(x->label, y->label);
}

static int
cmp_kind(const void *a, const void *b)
{
    const child *x = a, *y = b;
    return x->type != y->type ? cmp_int(x->type, y->type)
                              : cmp_int(x->kind, y->kind);
}

/* Largest first; equals in one order, whatever order qsort left them. */
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
    return cmp_int(x->label, y->label);
}

/* The children of every object in ids (what they dominate); top: the
 * dominator tree's tops, labelled by the root that holds each. */
static int
children_of(walk *w, const int64_t *ids, size_t n, int top, child **out,
            size_t *n_out)
{
    size_t cap = 0, len = 0;
    child *c = NULL;
    int err = 0;
    for (size_t i = 0; i < (top ? 1 : n) && err >= 0; i++) {
        hd_rows *r = top ? w->top : w->kids;
        int64_t p[1] = {top ? 0 : ids[i]};
        if ((err = hd_rows_rerun(r, 1, p)) < 0)
            break;
        while ((err = hd_rows_next(r)) == 1) {
            if ((err = hd_grow(&c, &cap, len + 1, sizeof(*c))) < 0)
                break;
            child *x = &c[len++];
            *x = (child){hd_rows_int(r, 0), hd_rows_int(r, 1),
                         hd_rows_int(r, 4), hd_rows_int(r, 2), 0, 0};
            if (top)
                err = name_number(w, hd_rows_text(r, 3), &x->label);
            else
                err = label_number(w, hd_rows_is_number(r, 3) ?
                                   hd_rows_int(r, 3) : 0, &x->label,
                                   &x->kind);
            if (top && err == 0)
                x->kind = label_text(w, x->label)[0] == '[' ? ITEM : x->label;
            if (err < 0)
                break;
        }
    }
    *out = c;
    *n_out = len;
    return err < 0 ? err : 0;
}

/* The runs of c[from..n) equal under cmp (c sorted by it) that retain the
 * threshold, appended to g. */
static size_t
add_groups(const child *c, size_t from, size_t n,
           int (*cmp)(const void *, const void *), int by_kind,
           int64_t threshold, group *g, size_t ng)
{
    for (size_t i = from, j; i < n; i = j) {
        int64_t sum = 0, size = 0;
        for (j = i; j < n && cmp(&c[i], &c[j]) == 0; j++) {
            sum += c[j].retained;
            size += c[j].size;
        }
        if (sum >= threshold)
            g[ng++] = (group){i, j - i, sum, size, by_kind, c[i].type,
                              by_kind ? c[i].kind : c[i].label};
    }
    return ng;
}

/* The groups of the children that retain the threshold, largest first:
 * exact (type and label) where one is big enough, the rest by kind of
 * label.  c is reordered so that each group is a run of it. */
static int
group_children(walk *w, child *c, size_t n, group **out, size_t *n_out)
{
    group *g = calloc(n ? n : 1, sizeof(*g));
    child *tmp = malloc((n ? n : 1) * sizeof(*c));
    char *used = calloc(n ? n : 1, 1);
    size_t ng = 0, keep = 0, i;
    int64_t threshold = w->o->threshold;
    if (g == NULL || tmp == NULL || used == NULL) {
        free(g);
        free(tmp);
        free(used);
        return hd_error_set(HD_ENOMEM, "tree: out of memory");
    }
    qsort(c, n, sizeof(*c), cmp_exact);
    ng = add_groups(c, 0, n, cmp_exact, 0, threshold, g, ng);
    /* the kept runs to the front, the rest after them, regrouped by kind */
    for (size_t k = 0; k < ng; k++) {
        memcpy(tmp + keep, c + g[k].first, g[k].n * sizeof(*c));
        memset(used + g[k].first, 1, g[k].n);
        g[k].first = keep;
        keep += g[k].n;
    }
    size_t rest = keep;
    for (i = 0; i < n; i++)
        if (!used[i])
            tmp[rest++] = c[i];
    memcpy(c, tmp, n * sizeof(*c));
    free(tmp);
    free(used);
    qsort(c + keep, n - keep, sizeof(*c), cmp_kind);
    ng = add_groups(c, keep, n, cmp_kind, 1, threshold, g, ng);
    qsort(g, ng, sizeof(*g), by_retained);
    *out = g;
    *n_out = ng;
    return 0;
}

/* The type's name, valid until the next call; "?" if the database has
 * none for it. */
static const char *
type_name(walk *w, int64_t type)
{
    int64_t p[1] = {type};
    if (hd_rows_rerun(w->type_name, 1, p) == 0 &&
        hd_rows_next(w->type_name) == 1 && hd_rows_text(w->type_name, 0))
        return hd_rows_text(w->type_name, 0);
    return "?";
}

static void walk_into(walk *w, const int64_t *ids, size_t n, int64_t retained,
                      int64_t size, int depth, int top);

/* The rows under one row: each group an ENTER, what it holds, a LEAVE;
 * past max_rows one MORE.  Returns the bytes the rows shown retain. */
static int64_t
walk_groups(walk *w, child *c, size_t n, int depth)
{
    group *g = NULL;
    size_t ng = 0;
    int64_t shown = 0, *ids = NULL;
    if (n == 0)
        return 0;
    if ((w->err = group_children(w, c, n, &g, &ng)) < 0)
        return 0;
    if ((ids = malloc(n * sizeof(*ids))) == NULL) {
        w->err = hd_error_set(HD_ENOMEM, "tree: out of memory");
        goto done;
    }
    for (size_t k = 0; k < ng && w->err == 0; k++) {
        const child *first = &c[g[k].first];
        hd_tree_row row = {depth, g[k].retained, g[k].size, g[k].n,
                           first->id, type_name(w, first->type),
                           g[k].by_kind && first->kind == ITEM
                               ? "[*]"
                               : label_text(w, first->label)};
        if (w->o->max_rows > 0 && (long)k == w->o->max_rows) {
            row.retained = row.size = 0;
            row.count = ng - k;
            row.label = NULL;
            for (size_t m = k; m < ng; m++)
                row.retained += g[m].retained;
            if (w->visit(w->ctx, HD_TREE_MORE, &row, 0))
                w->err = 1;
            break;
        }
        shown += g[k].retained;
        int v = w->visit(w->ctx, HD_TREE_ENTER, &row, 0);
        if (v == HD_TREE_SKIP)
            continue;
        if (v) {
            w->err = 1;
            break;
        }
        for (size_t m = 0; m < g[k].n; m++)
            ids[m] = c[g[k].first + m].id;
        walk_into(w, ids, g[k].n, g[k].retained, g[k].size, depth + 1, 0);
    }
done:
    free(g);
    free(ids);
    return shown;
}

/* Walks into a row (the objects in ids, retaining `retained` in all, of
 * `size` bytes themselves) and says it is left. */
static void
walk_into(walk *w, const int64_t *ids, size_t n, int64_t retained,
          int64_t size, int depth, int top)
{
    child *c = NULL;
    size_t nc = 0;
    int64_t shown = 0, below = 0;
    int max_depth = w->o->max_depth > 0 ? w->o->max_depth : 1000;
    if (w->err || depth > max_depth || depth > 1000)
        goto leave;
    if ((w->err = children_of(w, ids, n, top, &c, &nc)) < 0)
        goto done;
    for (size_t i = 0; i < nc; i++)
        below += c[i].retained;
    /* what a row retains is itself and what it dominates: a database that
     * says otherwise (an idom loop below it) is not shown as if whole */
    if (!top && below != retained - size) {
        char more[48] = "";
        if (n > 1)
            snprintf(more, sizeof(more), " (and %zu more)", n - 1);
        w->err = hd_error_set(HD_EINVAL, "the database is inconsistent: #%"
                              PRId64 "%s retains %" PRId64 " bytes, but is %"
                              PRId64 " itself and dominates %" PRId64
                              ": load the dump again", ids[0], more, retained,
                              size, below);
        goto done;
    }
    if (top)
        retained = below;
    shown = walk_groups(w, c, nc, depth);
leave:
    if (w->err == 0 && w->visit(w->ctx, HD_TREE_LEAVE, NULL,
                                retained - shown))
        w->err = 1;
done:
    free(c);
}

int
hd_tree_walk(hd_db *db, const hd_tree_opts *o, hd_tree_visit visit,
             void *ctx)
{
    walk w = {.o = o, .visit = visit, .ctx = ctx};
    hd_rows *r = NULL;
    int err;
    if ((err = hd_db_check_dominators(db)) < 0 ||
        (err = hd_query(&w.kids, db, "SELECT o.id, o.retained, o.type, "
                        "o.held_as, o.size FROM objects o WHERE o.idom = ?1",
                        0, NULL)) < 0 ||
        (err = hd_query(&w.label_text, db, "SELECT text FROM labels WHERE "
                        "id = ?1", 0, NULL)) < 0 ||
        (err = hd_query(&w.top, db, "SELECT o.id, o.retained, o.type, "
                        "coalesce((SELECT name FROM roots WHERE object = "
                        "o.id LIMIT 1), '(held by several roots)'), o.size "
                        "FROM objects o WHERE o.idom IS NULL AND o.reachable "
                        "= 1 AND ?1 = ?1", 0, NULL)) < 0 ||
        (err = hd_query(&w.type_name, db, "SELECT name FROM types WHERE id "
                        "= ?1", 0, NULL)) < 0)
        goto done;
    if (o->root >= 0) {
        int64_t p[1] = {o->root};
        if ((err = hd_query_int(&r, db, "SELECT retained, size FROM objects "
                                "WHERE id = ?1", 1, p)) < 0 ||
            (err = hd_rows_next(r)) < 0)
            goto done;
        if (err == 0) {
            err = hd_error_set(HD_EINVAL, "no object #%" PRId64, o->root);
            goto done;
        }
        /* its rows are a level below it */
        walk_into(&w, &o->root, 1, hd_rows_int(r, 0), hd_rows_int(r, 1), 1,
                  0);
    } else {
        walk_into(&w, NULL, 0, 0, 0, 0, 1);
    }
    err = w.err < 0 ? w.err : 0;
done:
    hd_rows_free(r);
    hd_rows_free(w.kids);
    hd_rows_free(w.top);
    hd_rows_free(w.type_name);
    hd_rows_free(w.label_text);
    hd_hmap_free(&w.label_at);
    hd_hmap_free(&w.name_at);
    for (size_t i = 0; i < w.n_texts; i++)
        free(w.texts[i]);
    free(w.texts);
    return err;
}
