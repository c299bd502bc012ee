/* heapdig — MIT licence.
 *
 * report_tree.c: the dominator tree as the report embeds it, bounded.
 *
 * The tree is grown best-first: the embedded node retaining most is opened
 * next, showing its largest children (at most max_children, the rest as
 * "… N more"), until max_nodes are in.  So a 10 M-object heap gives a few
 * thousand rows, and they are the ones that hold the memory.  It is written
 * twice: as nested <details> (expandable with scripts off) and as JSON for
 * the script's picture and retainers panel, with each node's shortest chain
 * from a root (the objects on it shared in one table) and the chain as
 * Python where it has one.
 */
#include "query/query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tnode {
    int64_t id, retained, shallow;
    int64_t below_n, below_retained; /* children left out ("… N more") */
    char *below_types;   /* their largest types: "Request ×19,975, str ×2" */
    int parent;                      /* index, -1 for the top */
    int first_child, n_children;     /* children are contiguous */
    int opened;                      /* its children were looked up */
    int has_children;                /* it dominates anything */
    char *type, *label, *value;
} tnode;

typedef struct tree {
    tnode *n;
    int len, cap;
} tree;

static int
tree_add(tree *t, int parent)
{
    if (t->len == t->cap) {
        int cap = t->cap ? 2 * t->cap : 256;
        tnode *p = realloc(t->n, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return hd_error_set(HD_ENOMEM, "report: out of memory");
        t->n = p;
        t->cap = cap;
    }
    t->n[t->len] = (tnode){.parent = parent, .first_child = -1};
    return t->len++;
}

static char *
dup_col(hd_rows *r, int col, size_t *len)
{
    const char *s = hd_rows_text(r, col);
    size_t n = s ? hd_rows_len(r, col) : 0;
    char *d;
    if (len)
        *len = n;
    if (s == NULL || (d = malloc(n + 1)) == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Opens node i: its largest children become nodes. */
static int
open_node(tree *t, int i, hd_rows *kids, hd_rows *top, hd_rows *rest,
          hd_rows *rest_top, int max_children)
{
    int64_t p[2] = {t->n[i].id, max_children};
    hd_rows *r = i == 0 ? top : kids;
    hd_rows *more = i == 0 ? rest_top : rest;
    int err;
    t->n[i].opened = 1;
    if ((err = hd_rows_rerun(r, 2, p)) < 0)
        return err;
    int first = t->len, count = 0;
    while ((err = hd_rows_next(r)) == 1) {
        int k = tree_add(t, i);
        if (k < 0)
            return k;
        tnode *c = &t->n[k];
        c->id = hd_rows_int(r, 0);
        c->retained = hd_rows_int(r, 1);
        c->shallow = hd_rows_int(r, 2);
        c->type = dup_col(r, 3, NULL);
        if (hd_rows_text(r, 4)) { /* kept as shown: 'text', b'\x00', 42 */
            char v[256];
            size_t len = hd_value_text(v, sizeof(v), hd_rows_text(r, 4),
                                     hd_rows_len(r, 4), hd_rows_int(r, 7), 60);
            c->value = malloc(len + 1);
            if (c->value)
                memcpy(c->value, v, len + 1);
        }
        c->label = dup_col(r, 5, NULL);
        c->has_children = hd_rows_int(r, 6) != 0;
        count++;
    }
    if (err < 0)
        return err;
    t->n[i].first_child = count ? first : -1;
    t->n[i].n_children = count;
    if ((err = hd_rows_rerun(more, 2, p)) < 0)
        return err;
    /* one row per type of the children left out, largest first */
    char types[256] = "", c[32];
    size_t k = 0;
    int shown = 0;
    while ((err = hd_rows_next(more)) == 1) {
        const char *ty = hd_rows_text(more, 0);
        t->n[i].below_n += hd_rows_int(more, 1);
        t->n[i].below_retained += hd_rows_int(more, 2);
        if (shown < 3 && ty && k + strlen(ty) + 40 < sizeof(types)) {
            k += (size_t)snprintf(types + k, sizeof(types) - k, "%s%s \xc3\x97%s",
                                  shown ? ", " : "", ty,
                                  hd_count_str(c, sizeof(c),
                                               hd_rows_int(more, 1)));
            shown++;
        } else if (shown == 3 && k + 8 < sizeof(types)) {
            k += (size_t)snprintf(types + k, sizeof(types) - k, ", …");
            shown++;
        }
    }
    if (k && (t->n[i].below_types = strdup(types)) == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory");
    return err < 0 ? err : 0;
}

/* The children past the first ?2 (those shown), by type, largest first. */
#define REST_BY_TYPE(where)                                                   \
    "SELECT t.name, count(*), sum(x.retained) FROM (SELECT retained, type "   \
    "FROM objects WHERE " where " ORDER BY retained DESC, id DESC LIMIT -1 "  \
    "OFFSET ?2) x JOIN types t ON t.id = x.type GROUP BY x.type ORDER BY "    \
    "sum(x.retained) DESC"

/* The node to open next: the unopened one retaining most.  A linear scan:
 * max_nodes is a few thousand. */
static int
next_to_open(const tree *t)
{
    int best = -1;
    for (int i = 0; i < t->len; i++)
        if (!t->n[i].opened && t->n[i].has_children &&
            (best < 0 || t->n[i].retained > t->n[best].retained))
            best = i;
    return best;
}

/* The largest children first, then their names: naming every child of a
 * dict with a million items before sorting would cost a query each. */
#define CHILD_COLS                                                            \
    "SELECT o.id, o.retained, o.size, t.name, o.value, "                      \
    "%s, EXISTS (SELECT 1 FROM objects k WHERE k.idom = o.id), o.flags "      \
    "FROM (SELECT id, idom, parent, retained, size, type, value, flags, "     \
    "held_as FROM "                                                          \
    "objects "                                                                \
    "WHERE %s ORDER BY retained DESC, id DESC LIMIT ?2) o JOIN types t ON t.id = " \
    "o.type ORDER BY o.retained DESC, o.id DESC"
/* The label its dominator holds it under, when it holds it directly. */
#define LABEL_FROM_IDOM                                                       \
    "(SELECT text FROM labels WHERE id = o.held_as)"
/* A top object's name is its root's. */
#define ROOT_NAME "(SELECT name FROM roots WHERE object = o.id LIMIT 1)"
/* A module's namespace is the module's, though a running frame (module
 * code's f_locals) names it as a root too. */
#define MODULE_DICT                                                           \
    "(SELECT " VIA_PARENT " FROM objects p JOIN types pt ON pt.id = p.type "  \
    "WHERE p.id = o.parent AND pt.name = 'module')"
/* Else say how the shortest chain reaches it: "via module typing .__dict__"
 * (a module's namespace is held by the module and by its functions). */
#define VIA_PARENT                                                            \
    "(SELECT 'via ' || pt.name || coalesce(' ' || substr(p.value, 1, 60), "   \
    "'') || coalesce(' ' || (SELECT label FROM refs r WHERE r.src = p.id AND " \
    "r.dst = o.id AND r.kind = 'strong' LIMIT 1), '') FROM objects p JOIN "  \
    "types pt ON pt.id = p.type WHERE p.id = o.parent LIMIT 1)"

/* The child of node i that is object id, or -1. */
static int
child_with(const tree *t, int i, int64_t id)
{
    for (int k = 0; k < t->n[i].n_children; k++)
        if (t->n[t->n[i].first_child + k].id == id)
            return t->n[i].first_child + k;
    return -1;
}

typedef struct queries {
    hd_rows *kids, *top, *rest, *rest_top, *idom;
    int max_children;
} queries;

static int
open_q(tree *t, int i, queries *q)
{
    return t->n[i].opened ? 0 : open_node(t, i, q->kids, q->top, q->rest,
                                          q->rest_top, q->max_children);
}

/* Opens the tree down to a suspect and a little below it (its largest
 * children), so the leak's members can be expanded in the page however
 * small each is beside the rest of the heap. */
static int
open_suspect(tree *t, queries *q, int64_t id)
{
    int64_t path[256];
    int n = 0, err, at = 0;
    for (int64_t cur = id; n < 256;) {
        int64_t p[1] = {cur};
        path[n++] = cur;
        if ((err = hd_rows_rerun(q->idom, 1, p)) < 0 ||
            (err = hd_rows_next(q->idom)) < 0)
            return err;
        if (err == 0 || !hd_rows_is_number(q->idom, 0))
            break;
        cur = hd_rows_int(q->idom, 0);
    }
    while (n > 0) {
        if ((err = open_q(t, at, q)) < 0)
            return err;
        if ((at = child_with(t, at, path[--n])) < 0)
            return 0; /* not among the largest: the search goes on */
    }
    if ((err = open_q(t, at, q)) < 0)
        return err;
    for (int k = 0; k < 3 && k < t->n[at].n_children; k++)
        if ((err = open_q(t, t->n[at].first_child + k, q)) < 0)
            return err;
    return 0;
}

static int
grow(tree *t, hd_db *db, int max_nodes, int max_children,
     const int64_t *suspects, size_t n_suspects)
{
    hd_rows *kids = NULL, *top = NULL, *rest = NULL, *rest_top = NULL,
            *idom = NULL;
    char sql[2048];
    int err, root;
    if ((root = tree_add(t, -1)) < 0)
        return root;
    t->n[root].has_children = 1;
    snprintf(sql, sizeof(sql), CHILD_COLS,
             "coalesce(" LABEL_FROM_IDOM ", " VIA_PARENT ")", "idom = ?1");
    if ((err = hd_query(&kids, db, sql, 0, NULL)) < 0)
        goto done;
    snprintf(sql, sizeof(sql), CHILD_COLS,
             "coalesce(" MODULE_DICT ", " ROOT_NAME ", " VIA_PARENT ")",
             "idom IS NULL AND reachable = 1 AND ?1 = ?1");
    if ((err = hd_query(&top, db, sql, 0, NULL)) < 0)
        goto done;
    if ((err = hd_query(&rest, db, REST_BY_TYPE("idom = ?1"), 0, NULL)) < 0 ||
        (err = hd_query(&rest_top, db, REST_BY_TYPE("idom IS NULL AND "
                        "reachable = 1 AND ?1 = ?1"), 0, NULL)) < 0)
        goto done;
    if ((err = hd_query(&idom, db, "SELECT idom FROM objects WHERE id = ?1",
                        0, NULL)) < 0)
        goto done;
    queries q = {kids, top, rest, rest_top, idom, max_children};
    for (size_t k = 0; k < n_suspects && t->len < max_nodes; k++)
        if ((err = open_suspect(t, &q, suspects[k])) < 0)
            goto done;
    for (int i = t->n[root].opened ? next_to_open(t) : root;
         i >= 0 && t->len < max_nodes; i = next_to_open(t)) {
        int room = max_nodes - t->len;
        if ((err = open_node(t, i, kids, top, rest, rest_top,
                             room < max_children ? room : max_children)) < 0)
            goto done;
    }
    for (int i = 0; i < t->len; i++)
        t->n[0].retained += t->n[i].parent == 0 ? t->n[i].retained : 0;
    t->n[0].retained += t->n[0].below_retained;
    err = 0;
done:
    hd_rows_free(kids);
    hd_rows_free(top);
    hd_rows_free(rest);
    hd_rows_free(rest_top);
    hd_rows_free(idom);
    return err;
}

static void
tree_free(tree *t)
{
    for (int i = 0; i < t->len; i++) {
        free(t->n[i].type);
        free(t->n[i].label);
        free(t->n[i].value);
        free(t->n[i].below_types);
    }
    free(t->n);
}

/* ---- HTML ------------------------------------------------------------------ */

static void
row_html(hd_buf *b, const tnode *n, int idx, int64_t total)
{
    char s1[32], s2[32];
    double share = 100.0 * (double)n->retained / (double)(total ? total : 1);
    hd_buf_printf(b, "<span class=\"row\" data-node=\"%d\">"
                  "<span class=\"bar\" style=\"width:%.1f%%\"></span>"
                  "<span class=\"ty\">", idx, share > 100 ? 100 : share);
    hd_html_text(b, n->type, strlen(n->type ? n->type : ""), HD_TEXT_PLAIN, 80);
    hd_buf_puts(b, "</span>");
    if (n->label) {
        hd_buf_puts(b, " <span class=\"lb\">");
        hd_html_text(b, n->label, strlen(n->label), HD_TEXT_RENDERED, 120);
        hd_buf_puts(b, "</span>");
    }
    if (n->value) {
        hd_buf_puts(b, " <span class=\"val\">");
        hd_html_text(b, n->value, strlen(n->value), HD_TEXT_RENDERED, 0);
        hd_buf_puts(b, "</span>");
    }
    hd_buf_printf(b, "<span class=\"num\"><span class=\"sh\">%s</span>"
                  "<span class=\"rt\">%s</span><span class=\"pc\">%.1f%%"
                  "</span></span></span>",
                  hd_bytes_str(s1, sizeof(s1), (double)n->shallow),
                  hd_bytes_str(s2, sizeof(s2), (double)n->retained), share);
}

static void
node_html(hd_buf *b, const tree *t, int idx, int64_t total, int depth)
{
    const tnode *n = &t->n[idx];
    char s1[32], c1[32];
    int expandable = n->n_children > 0 || n->below_n > 0 ||
                     (n->has_children && !n->opened);
    if (!expandable) {
        hd_buf_puts(b, "<div class=\"leaf\">");
        row_html(b, n, idx, total);
        hd_buf_puts(b, "</div>\n");
        return;
    }
    /* open where the memory is: the top, and what holds a tenth of it */
    hd_buf_printf(b, "<details%s><summary>",
                  depth == 0 || 10 * n->retained >= total ? " open" : "");
    row_html(b, n, idx, total);
    hd_buf_puts(b, "</summary>\n");
    for (int k = 0; k < n->n_children; k++)
        node_html(b, t, n->first_child + k, total, depth + 1);
    if (n->below_n > 0) {
        hd_buf_printf(b, "<div class=\"more\">… %s more retaining %s",
                      hd_count_str(c1, sizeof(c1), n->below_n),
                      hd_bytes_str(s1, sizeof(s1), (double)n->below_retained));
        if (n->below_types) {
            hd_buf_puts(b, ": ");
            hd_html_text(b, n->below_types, strlen(n->below_types),
                         HD_TEXT_PLAIN, 200); /* type names: heap text */
        }
        hd_buf_puts(b, "</div>\n");
    }
    if (n->has_children && !n->opened)
        hd_buf_printf(b, "<div class=\"more\">not in this report: <code>"
                      "heapdig tree DB #%" PRId64 "</code> shows what it "
                      "holds</div>\n", n->id);
    hd_buf_puts(b, "</details>\n");
}

/* ---- JSON: nodes, and the chains to them ----------------------------------- */

/* id -> index in the chain-object table (open addressing). */
typedef struct idmap {
    int64_t *keys;
    int *vals;
    size_t cap, n;
} idmap;

static int
idmap_get(const idmap *m, int64_t id)
{
    if (m->cap == 0)
        return -1;
    for (size_t h = (size_t)(id * 0x9E3779B97F4A7C15ull) & (m->cap - 1);;
         h = (h + 1) & (m->cap - 1)) {
        if (m->vals[h] < 0)
            return -1;
        if (m->keys[h] == id)
            return m->vals[h];
    }
}

static int
idmap_put(idmap *m, int64_t id, int val)
{
    if (2 * (m->n + 1) > m->cap) {
        idmap bigger = {0};
        bigger.cap = m->cap ? 2 * m->cap : 1024;
        bigger.keys = malloc(bigger.cap * sizeof(int64_t));
        bigger.vals = malloc(bigger.cap * sizeof(int));
        if (!bigger.keys || !bigger.vals) {
            free(bigger.keys);
            free(bigger.vals);
            return hd_error_set(HD_ENOMEM, "report: out of memory");
        }
        for (size_t i = 0; i < bigger.cap; i++)
            bigger.vals[i] = -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->vals[i] >= 0)
                idmap_put(&bigger, m->keys[i], m->vals[i]);
        free(m->keys);
        free(m->vals);
        *m = bigger;
    }
    size_t h = (size_t)(id * 0x9E3779B97F4A7C15ull) & (m->cap - 1);
    while (m->vals[h] >= 0 && m->keys[h] != id)
        h = (h + 1) & (m->cap - 1);
    if (m->vals[h] < 0)
        m->n++;
    m->keys[h] = id;
    m->vals[h] = val;
    return 0;
}

/* Writes the chain objects not written yet as [id, type, value, parent
 * index or -1, label] rows into objs, and returns the index of the last. */
static int
chain_objs(hd_buf *objs, idmap *seen, int *n_objs, hd_rows *desc,
           const hd_chain *c)
{
    int prev = -1, err;
    for (size_t k = 0; k < c->n; k++) {
        int at = idmap_get(seen, c->ids[k]);
        if (at >= 0) {
            prev = at;
            continue;
        }
        int64_t p[1] = {c->ids[k]};
        const char *ty = NULL, *val = NULL;
        size_t vlen = 0;
        if ((err = hd_rows_rerun(desc, 1, p)) < 0)
            return err;
        if ((err = hd_rows_next(desc)) < 0)
            return err;
        char shown[256];
        if (err == 1) {
            ty = hd_rows_text(desc, 0);
            if (hd_rows_text(desc, 1)) {
                vlen = hd_value_text(shown, sizeof(shown),
                                     hd_rows_text(desc, 1),
                                     hd_rows_len(desc, 1),
                                     hd_rows_int(desc, 2), 60);
                val = shown;
            }
        }
        hd_buf_printf(objs, "%s[%" PRId64 ",", *n_objs ? ",\n" : "",
                      c->ids[k]);
        hd_json_str(objs, ty ? ty : "?", ty ? strlen(ty) : 1, HD_TEXT_PLAIN,
                    80);
        hd_buf_puts(objs, ",");
        hd_json_str(objs, val, vlen, HD_TEXT_RENDERED, 0);
        hd_buf_printf(objs, ",%d,", prev);
        hd_json_str(objs, c->labels[k], c->labels[k] ? strlen(c->labels[k]) : 0,
                    HD_TEXT_RENDERED, 200);
        hd_buf_printf(objs, ",%d]", c->weak && c->weak[k] ? 1 : 0);
        if ((err = idmap_put(seen, c->ids[k], *n_objs)) < 0)
            return err;
        prev = (*n_objs)++;
    }
    return prev;
}

static int
tree_json(hd_buf *b, const tree *t, hd_db *db)
{
    hd_buf objs = {0};
    idmap seen = {0};
    hd_rows *desc = NULL;
    int n_objs = 0, err;
    char python[4096];
    if ((err = hd_query(&desc, db, "SELECT t.name, o.value, o.flags FROM objects o "
                        "JOIN types t ON t.id = o.type WHERE o.id = ?1", 0,
                        NULL)) < 0)
        goto done;
    hd_buf_puts(b, "\"nodes\": [\n");
    for (int i = 0; i < t->len; i++) {
        const tnode *n = &t->n[i];
        hd_chain *c = NULL;
        int last = -1;
        const char *py = NULL;
        if (i > 0 && hd_refchain_find(&c, db, n->id, NULL) == 0) {
            if ((last = chain_objs(&objs, &seen, &n_objs, desc, c)) < -1) {
                err = last;
                hd_chain_free(c);
                goto done;
            }
            py = hd_chain_python(python, sizeof(python), db, c);
        }
        hd_chain_free(c);
        /* [id, parent, type, label, value, shallow, retained, children...,
         *  more, more retained, chain's last object, python] */
        hd_buf_printf(b, "%s[%" PRId64 ",%d,", i ? ",\n" : "", n->id,
                      n->parent);
        hd_json_str(b, n->type, n->type ? strlen(n->type) : 0, HD_TEXT_PLAIN,
                    80);
        hd_buf_puts(b, ",");
        hd_json_str(b, n->label, n->label ? strlen(n->label) : 0,
                    HD_TEXT_RENDERED, 200);
        hd_buf_puts(b, ",");
        hd_json_str(b, n->value, n->value ? strlen(n->value) : 0,
                    HD_TEXT_RENDERED, 0);
        hd_buf_printf(b, ",%" PRId64 ",%" PRId64 ",%d,%d,%" PRId64 ",%" PRId64
                      ",%d,%d,", n->shallow, n->retained, n->first_child,
                      n->n_children, n->below_n, n->below_retained, last,
                      n->has_children && !n->opened);
        hd_json_str(b, py, py ? strlen(py) : 0, HD_TEXT_RENDERED, 0);
        hd_buf_puts(b, "]");
    }
    hd_buf_puts(b, "],\n\"objects\": [\n");
    if (objs.n)
        hd_buf_put(b, objs.p, objs.n);
    hd_buf_puts(b, "]");
    if (objs.oom)
        b->oom = 1;
    err = 0;
done:
    hd_rows_free(desc);
    hd_buf_free(&objs);
    free(seen.keys);
    free(seen.vals);
    return err;
}

int
hd__report_tree(hd_buf *html, hd_buf *json, hd_db *db, int64_t total,
                int max_nodes, int max_children, const int64_t *suspects,
                size_t n_suspects)
{
    tree t = {0};
    int err;
    if ((err = grow(&t, db, max_nodes, max_children, suspects,
                    n_suspects)) < 0)
        goto done;
    t.n[0].type = strdup("all reachable objects");
    if (t.n[0].type == NULL) {
        err = hd_error_set(HD_ENOMEM, "report: out of memory");
        goto done;
    }
    t.n[0].opened = 1;
    node_html(html, &t, 0, total, 0);
    err = tree_json(json, &t, db);
done:
    tree_free(&t);
    return err;
}
