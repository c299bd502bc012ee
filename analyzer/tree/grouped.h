/* heapdig — MIT licence.
 *
 * tree/grouped.h: the dominator tree grouped the way a person reads it
 * (heapdig.h: hd_tree_walk), from any source of children: the database
 * (query/tree.c) or, at load, the heap's arrays (store/tree.c, which keeps
 * the walks of the default thresholds so that `heapdig tree` and its flame
 * graph answer at once on any heap).  Building the rows and telling them
 * to a visitor are two steps, so both kinds of walk tell them alike.
 */
#ifndef HEAPDIG_TREE_GROUPED_H
#define HEAPDIG_TREE_GROUPED_H

#include "base/base.h"
#include "heapdig/heapdig.h"

/* A kind of label that stands for any item or key ("[...]"). */
#define HD_GT_ITEM INT64_MIN

/* An object in the dominator tree, under the object that dominates it.
 * label is a number its source gives (a labels row id, a name's number
 * from hd_gt_names, 0 for none) whose text the source tells; kind is the
 * label again, or HD_GT_ITEM for any item or key. */
typedef struct hd_gt_child {
    int64_t id, retained, size, type, label, kind;
} hd_gt_child;

/* The kind of a label whose text is text: any item or key ("[...]"), or
 * the label itself. */
static inline int64_t
hd_gt_kind(const char *text, int64_t label)
{
    return text[0] == '[' ? HD_GT_ITEM : label;
}

/* Where the children come from. */
typedef struct hd_gt_source {
    void *ctx;
    /* Appends to c (hd_grow'n: *len used of *cap) what the n objects of
     * ids dominate, or (top) the tops of the tree, labelled by their
     * roots' names. */
    int (*children)(void *ctx, const int64_t *ids, size_t n, int top,
                    hd_gt_child **c, size_t *len, size_t *cap);
    /* The text of a label number; NULL for none. */
    const char *(*label_text)(void *ctx, int64_t label);
} hd_gt_source;

/* Texts given numbers -1, -2, ... (the tops' root names), one per text. */
typedef struct hd_gt_names {
    hd_hmap at; /* hash of the text -> text[] */
    char **text;
    size_t n, cap;
} hd_gt_names;
int hd_gt_name(hd_gt_names *m, const char *text, int64_t *label);
const char *hd_gt_name_text(const hd_gt_names *m, int64_t label);
void hd_gt_names_free(hd_gt_names *m);

/* A row of the grouped tree; row 0 is where the walk starts (the tops'
 * parent, or hd_tree_opts.root), the others in the order they are shown
 * (depth first, largest first), each after its parent. */
typedef struct hd_gt_row {
    size_t parent;
    int64_t retained, size, first, type;
    size_t count;
    char *label; /* NULL: none */
} hd_gt_row;

typedef struct hd_gtree {
    hd_gt_row *row;
    size_t n, cap;
    int depth0; /* the depth of row 0's rows: 0 at the tops, 1 below root */
} hd_gtree;

/* Groups what the start dominates: the tops (o->root < 0), or o->root,
 * which retains root_retained of root_size bytes itself.  Rows go down to
 * o->max_depth (0: 1000), all of each level, the first o->max_rows (0:
 * all) walked into.  A source whose rows retain other than they and what
 * they dominate is an error. */
int hd_gtree_build(const hd_gt_source *src, const hd_tree_opts *o,
                   int64_t root_retained, int64_t root_size, hd_gtree *out);
/* Appends a row (its label copied); for rows read back. */
int hd_gtree_add(hd_gtree *t, const hd_gt_row *r);
/* Tells visit t's rows as hd_tree_walk promises, within o's max_depth and
 * max_rows; type_name gives a type's text. */
int hd_gtree_tell(const hd_gtree *t, const hd_tree_opts *o,
                  const char *(*type_name)(void *, int64_t), void *type_ctx,
                  hd_tree_visit visit, void *ctx);
void hd_gtree_free(hd_gtree *t);

#endif /* HEAPDIG_TREE_GROUPED_H */
