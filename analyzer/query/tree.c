/* heapdig — MIT licence.
 *
 * tree.c: the dominator tree grouped the way a person reads it
 * (heapdig.h: hd_tree_walk), for `heapdig tree` and its flame graphs: the
 * walk the load kept for the threshold asked (tree/grouped.h builds the
 * same rows), below one object when it is a row by itself, or else one
 * over the database's rows.
 */
#include "query/query.h"
#include "tree/grouped.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The database as a source of children: one indexed query per object
 * walked into, each label's text fetched once. */
typedef struct sql_source {
    hd_rows *kids, *top, *label_text, *type_name;
    hd_hmap label_at;  /* labels row id + 1 -> texts[] */
    char **texts;
    size_t n_texts, cap_texts;
    hd_gt_names names; /* the tops' root names */
} sql_source;

static const char *
sql_label_text(void *ctx, int64_t label)
{
    sql_source *s = ctx;
    if (label <= 0)
        return label ? hd_gt_name_text(&s->names, label) : NULL;
    uint64_t key = (uint64_t)label + 1, j = hd_hmap_first(&s->label_at, key);
    for (; s->label_at.keys[j]; j = (j + 1) & s->label_at.mask)
        if (s->label_at.keys[j] == key)
            return s->texts[s->label_at.vals[j]];
    return NULL; /* not yet fetched: label_number did */
}

/* A labels row id as a label number, its text fetched once; 0 if the
 * database has no such label. */
static int
label_number(sql_source *s, int64_t id, int64_t *label, int64_t *kind)
{
    int err;
    *label = *kind = 0;
    if (id <= 0)
        return 0;
    if (hd_hmap_reserve(&s->label_at, 1) < 0)
        return hd_error_set(HD_ENOMEM, "tree: out of memory");
    uint64_t key = (uint64_t)id + 1, j = hd_hmap_first(&s->label_at, key);
    for (; s->label_at.keys[j]; j = (j + 1) & s->label_at.mask)
        if (s->label_at.keys[j] == key)
            break;
    if (!s->label_at.keys[j]) {
        int64_t p[1] = {id};
        if ((err = hd_rows_rerun(s->label_text, 1, p)) < 0 ||
            (err = hd_rows_next(s->label_text)) < 0)
            return err;
        if (err == 0 || !hd_rows_text(s->label_text, 0))
            return 0;
        if (hd_grow(&s->texts, &s->cap_texts, s->n_texts + 1,
                    sizeof(*s->texts)) < 0 ||
            (s->texts[s->n_texts] = strdup(hd_rows_text(s->label_text,
                                                        0))) == NULL)
            return hd_error_set(HD_ENOMEM, "tree: out of memory");
        hd_hmap_put_at(&s->label_at, j, key, (uint32_t)s->n_texts++);
    }
    *label = id;
    *kind = hd_gt_kind(s->texts[s->label_at.vals[j]], id);
    return 0;
}

static int
sql_children(void *ctx, const int64_t *ids, size_t n, int top,
             hd_gt_child **c, size_t *len, size_t *cap)
{
    sql_source *s = ctx;
    int err = 0;
    for (size_t i = 0; i < (top ? 1 : n) && err >= 0; i++) {
        hd_rows *r = top ? s->top : s->kids;
        int64_t p[1] = {top ? 0 : ids[i]};
        if ((err = hd_rows_rerun(r, 1, p)) < 0)
            break;
        while ((err = hd_rows_next(r)) == 1) {
            if ((err = hd_grow(c, cap, *len + 1, sizeof(**c))) < 0)
                break;
            hd_gt_child *x = &(*c)[(*len)++];
            *x = (hd_gt_child){hd_rows_int(r, 0), hd_rows_int(r, 1),
                               hd_rows_int(r, 4), hd_rows_int(r, 2), 0, 0};
            if (top &&
                (err = hd_gt_name(&s->names, hd_rows_text(r, 3),
                                  &x->label)) == 0)
                x->kind = hd_gt_kind(hd_rows_text(r, 3), x->label);
            else if (!top)
                err = label_number(s, hd_rows_is_number(r, 3) ?
                                   hd_rows_int(r, 3) : 0, &x->label,
                                   &x->kind);
            if (err < 0)
                break;
        }
    }
    return err < 0 ? err : 0;
}

/* The type's name, valid until the next call; "?" if the database has
 * none for it. */
static const char *
type_name(void *ctx, int64_t type)
{
    sql_source *s = ctx;
    int64_t p[1] = {type};
    if (hd_rows_rerun(s->type_name, 1, p) == 0 &&
        hd_rows_next(s->type_name) == 1 && hd_rows_text(s->type_name, 0))
        return hd_rows_text(s->type_name, 0);
    return "?";
}

/* The rows the load kept for this threshold (none: not kept). */
static int
kept_walk(hd_db *db, int64_t threshold, hd_gtree *t)
{
    hd_rows *r = NULL;
    int64_t p[1] = {threshold};
    int err;
    memset(t, 0, sizeof(*t));
    if ((err = hd_query_int(&r, db, "SELECT id, parent, retained, size, "
                            "count, object, type, label FROM tree WHERE "
                            "threshold = ?1 ORDER BY id", 1, p)) < 0)
        return err;
    while ((err = hd_rows_next(r)) == 1) {
        int64_t id = hd_rows_int(r, 0), parent = hd_rows_int(r, 1);
        hd_gt_row row = {(size_t)parent, hd_rows_int(r, 2), hd_rows_int(r, 3),
                         hd_rows_int(r, 5), hd_rows_int(r, 6),
                         (size_t)hd_rows_int(r, 4),
                         (char *)hd_rows_text(r, 7)};
        if (id != (int64_t)t->n || (id > 0 && (parent < 0 || parent >= id))) {
            err = hd_error_set(HD_EINVAL, "the database is inconsistent: "
                               "tree row %" PRId64 " (threshold %" PRId64
                               ") is out of order: load the dump again", id,
                               threshold);
            break;
        }
        if ((err = hd_gtree_add(t, &row)) < 0)
            break;
    }
    hd_rows_free(r);
    if (err < 0)
        hd_gtree_free(t);
    return err < 0 ? err : 0;
}

/* The rows under the kept row of root alone (a row of one object: what
 * `tree DB OBJ` shows, rooted there), if the kept walk goes as deep below
 * it as o asks; none otherwise. */
static int
kept_subtree(const hd_gtree *all, const hd_tree_opts *o, hd_gtree *sub)
{
    size_t at = 0, *map = NULL;
    int depth = 0, err = 0;
    memset(sub, 0, sizeof(*sub));
    for (size_t i = 1; i < all->n && at == 0; i++)
        if (all->row[i].first == o->root && all->row[i].count == 1)
            at = i;
    if (at == 0)
        return 0;
    for (size_t i = at; i != 0; i = all->row[i].parent) /* parents first */
        depth++;
    if (depth - 1 + (o->max_depth > 0 ? o->max_depth : 1000) > 1000)
        return 0; /* the load's walk stops at 1000 levels from the tops */
    if ((map = malloc(all->n * sizeof(*map))) == NULL)
        return hd_error_set(HD_ENOMEM, "tree: out of memory");
    for (size_t i = 0; i < all->n; i++)
        map[i] = SIZE_MAX;
    hd_gt_row top = all->row[at];
    top.parent = 0;
    top.label = NULL;
    sub->depth0 = 1;
    map[at] = 0;
    err = hd_gtree_add(sub, &top);
    /* its rows follow it, each after its parent, until one that is not
     * below it */
    for (size_t i = at + 1; i < all->n && err == 0; i++) {
        if (map[all->row[i].parent] == SIZE_MAX)
            break;
        hd_gt_row r = all->row[i];
        r.parent = map[r.parent];
        map[i] = sub->n;
        err = hd_gtree_add(sub, &r);
    }
    free(map);
    if (err < 0)
        hd_gtree_free(sub);
    return err;
}

int
hd_tree_walk(hd_db *db, const hd_tree_opts *o, hd_tree_visit visit,
             void *ctx)
{
    sql_source s = {0};
    hd_gt_source src = {&s, sql_children, sql_label_text};
    hd_gtree t = {0};
    hd_rows *r = NULL;
    int err;
    if ((err = hd_db_check_dominators(db)) < 0 ||
        (err = hd_query(&s.type_name, db, "SELECT name FROM types WHERE id "
                        "= ?1", 0, NULL)) < 0)
        goto done;
    if ((err = kept_walk(db, o->threshold, &t)) < 0)
        goto done;
    if (t.n > 0 && o->root >= 0) { /* below one object: its rows, if kept */
        hd_gtree all = t;
        err = kept_subtree(&all, o, &t);
        hd_gtree_free(&all);
        if (err < 0)
            goto done;
    }
    if (t.n > 0) { /* the load's walk: its rows, told within o's limits */
        err = hd_gtree_tell(&t, o, type_name, &s, visit, ctx);
        goto done;
    }
    if ((err = hd_query(&s.kids, db, "SELECT o.id, o.retained, o.type, "
                        "o.held_as, o.size FROM objects o WHERE o.idom = ?1",
                        0, NULL)) < 0 ||
        (err = hd_query(&s.label_text, db, "SELECT text FROM labels WHERE "
                        "id = ?1", 0, NULL)) < 0 ||
        (err = hd_query(&s.top, db, "SELECT o.id, o.retained, o.type, "
                        "coalesce((SELECT name FROM roots WHERE object = "
                        "o.id LIMIT 1), '(held by several roots)'), o.size "
                        "FROM objects o WHERE o.idom IS NULL AND o.reachable "
                        "= 1 AND ?1 = ?1", 0, NULL)) < 0)
        goto done;
    int64_t retained = 0, size = 0;
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
        retained = hd_rows_int(r, 0);
        size = hd_rows_int(r, 1);
    }
    if ((err = hd_gtree_build(&src, o, retained, size, &t)) == 0)
        err = hd_gtree_tell(&t, o, type_name, &s, visit, ctx);
done:
    hd_gtree_free(&t);
    hd_rows_free(r);
    hd_rows_free(s.kids);
    hd_rows_free(s.top);
    hd_rows_free(s.type_name);
    hd_rows_free(s.label_text);
    hd_hmap_free(&s.label_at);
    for (size_t i = 0; i < s.n_texts; i++)
        free(s.texts[i]);
    free(s.texts);
    hd_gt_names_free(&s.names);
    return err;
}
