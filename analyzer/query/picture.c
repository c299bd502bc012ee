/* heapdig — MIT licence.
 *
 * picture.c: what a reference-graph picture shows.  Five views of the
 * neighbourhood of one object, each a bounded walk over the database:
 *
 *   backrefs   breadth-first over referrers (who holds it), up to `depth`,
 *              never expanding past a root; referrers nearer a root first;
 *   refs       breadth-first over referents (what it holds);
 *   path       the chain hd_refchain_find returns (exclusions honoured);
 *   cycle      the members of its strongly connected component;
 *   dominated  its dominator subtree, biggest retained first.
 *
 * A picture never exceeds max_nodes real nodes.  Each node shows at most
 * `fan` neighbours; the rest become one summary node ("... 9,981 more
 * (list, 3 types)").  Graphviz is not used here (render.c draws).
 */
#include "query/query.h"
#include "heapdig/format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int
add_edge(hd_picture *p, size_t src, size_t dst, const char *label, int weak,
         int dominates)
{
    for (size_t i = 0; i < p->n_edges; i++) /* draw a reference once */
        if (p->edges[i].src == src && p->edges[i].dst == dst &&
            p->edges[i].dominates == dominates)
            return 0;
    if (p->n_edges == p->cap_edges) {
        size_t cap = p->cap_edges ? 2 * p->cap_edges : 64;
        hd_pic_edge *e = realloc(p->edges, cap * sizeof(*e));
        if (e == NULL)
            return hd_error_set(HD_ENOMEM, "out of memory");
        p->edges = e;
        p->cap_edges = cap;
    }
    hd_pic_edge *e = &p->edges[p->n_edges++];
    e->src = src;
    e->dst = dst;
    e->label = dup_or_null(label);
    e->weak = weak;
    e->dominates = dominates;
    return 0;
}

static int
grow_nodes(hd_picture *p)
{
    if (p->n_nodes < p->cap_nodes)
        return 0;
    size_t cap = p->cap_nodes ? 2 * p->cap_nodes : 64;
    hd_pic_node *n = realloc(p->nodes, cap * sizeof(*n));
    if (n == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory");
    p->nodes = n;
    p->cap_nodes = cap;
    return 0;
}

static ssize_t
find_node(const hd_picture *p, int64_t id)
{
    for (size_t i = 0; i < p->n_nodes; i++)
        if (p->nodes[i].id == id)
            return (ssize_t)i;
    return -1;
}

/* Adds object `id` (if new) with everything a node shows; sets *idx. */
static int
add_node(hd_picture *p, hd_db *db, int64_t id, size_t *idx)
{
    ssize_t found = find_node(p, id);
    hd_rows *r = NULL;
    int err;
    if (found >= 0) {
        *idx = (size_t)found;
        return 0;
    }
    if ((err = grow_nodes(p)) < 0)
        return err;
    if ((err = hd_query(&r, db, "SELECT t.name, o.value, o.address, o.size, "
                        "o.retained, o.reachable, o.depth, o.external, "
                        "o.flags, (SELECT name FROM roots WHERE object = o.id "
                        "LIMIT 1) FROM objects o JOIN types t ON t.id = "
                        "o.type WHERE o.id = ?1", 0, NULL)) < 0)
        return err;
    int64_t prm[1] = {id};
    hd_rows_rerun(r, 1, prm);
    if ((err = hd_rows_next(r)) <= 0) {
        hd_rows_free(r);
        return err < 0 ? err : hd_error_set(HD_EINVAL, "no object #%" PRId64,
                                            id);
    }
    hd_pic_node *n = &p->nodes[p->n_nodes];
    memset(n, 0, sizeof(*n));
    n->id = id;
    n->type = dup_or_null(hd_rows_text(r, 0));
    n->value = dup_or_null(hd_rows_text(r, 1));
    n->address = hd_rows_int(r, 2);
    n->size = hd_rows_int(r, 3);
    n->retained = hd_rows_int(r, 4);
    n->kind = hd_rows_int(r, 5) ? HD_PIC_NORMAL : HD_PIC_GARBAGE;
    n->is_type = (hd_rows_int(r, 8) & (8 | 16)) != 0;
    if (hd_rows_text(r, 6) && hd_rows_int(r, 6) == 0) {
        char buf[600];
        n->kind = HD_PIC_ROOT;
        if (hd_rows_text(r, 9))
            snprintf(buf, sizeof(buf), "root: %s", hd_rows_text(r, 9));
        else if (hd_rows_int(r, 8) & HD_OBJ_IMMORTAL)
            snprintf(buf, sizeof(buf), "root: immortal");
        else
            snprintf(buf, sizeof(buf), "held from outside the heap (%"
                     PRId64 " ref%s)", hd_rows_int(r, 7),
                     hd_rows_int(r, 7) == 1 ? "" : "s");
        n->note = strdup(buf);
    }
    hd_rows_free(r);
    *idx = p->n_nodes++;
    return 0;
}

/* One "... N more (types)" node for neighbours not drawn. */
static int
add_summary(hd_picture *p, hd_db *db, size_t near, int64_t more,
            const char *types_sql, int64_t id, int incoming)
{
    hd_rows *r = NULL;
    char text[300], types[200] = "";
    size_t k = 0, idx;
    int n_types = 0, err;
    if ((err = hd_query(&r, db, types_sql, 0, NULL)) < 0)
        return err;
    int64_t prm[1] = {id};
    hd_rows_rerun(r, 1, prm);
    while (hd_rows_next(r) == 1) {
        if (n_types < 2 && k + 40 < sizeof(types))
            k += (size_t)snprintf(types + k, sizeof(types) - k, "%s%s",
                                  n_types ? ", " : "", hd_rows_text(r, 0));
        n_types++;
    }
    hd_rows_free(r);
    if (n_types > 2)
        snprintf(types + k, sizeof(types) - k, ", %d types", n_types);
    snprintf(text, sizeof(text), "... %" PRId64 " more (%s)", more, types);
    if ((err = grow_nodes(p)) < 0)
        return err;
    hd_pic_node *n = &p->nodes[p->n_nodes];
    memset(n, 0, sizeof(*n));
    n->id = -1;
    n->kind = HD_PIC_SUMMARY;
    n->type = strdup(text);
    idx = p->n_nodes++;
    return incoming ? add_edge(p, idx, near, NULL, 0, 0)
                    : add_edge(p, near, idx, NULL, 0, 0);
}

/* Breadth-first over referrers (backrefs) or referents (refs). */
static int
select_bfs(hd_picture *p, hd_db *db, int64_t id, int depth, int max, int fan,
           int backwards)
{
    hd_rows *r = NULL, *cnt = NULL;
    size_t head = 0, idx;
    int err;
    /* one row per neighbouring object (a list may hold the same object
     * 10,000 times): its first label, its strongest kind, how many refs */
    const char *sql =
        backwards ? "SELECT r.src, min(r.label), min(r.kind), count(*) FROM "
                    "refs r JOIN objects o ON o.id = r.src WHERE r.dst = ?1 "
                    "GROUP BY r.src ORDER BY o.depth IS NULL, o.depth, "
                    "o.retained DESC"
                  : "SELECT r.dst, min(r.label), min(r.kind), count(*) FROM "
                    "refs r JOIN objects o ON o.id = r.dst WHERE r.src = ?1 "
                    "GROUP BY r.dst ORDER BY o.retained DESC, min(r.seq)";
    const char *count_sql =
        backwards ? "SELECT count(DISTINCT src) FROM refs WHERE dst = ?1"
                  : "SELECT count(DISTINCT dst) FROM refs WHERE src = ?1";
    const char *types_sql =
        backwards ? "SELECT t.name FROM refs r JOIN objects o ON o.id = r.src"
                    " JOIN types t ON t.id = o.type WHERE r.dst = ?1 GROUP BY"
                    " t.name ORDER BY count(*) DESC"
                  : "SELECT t.name FROM refs r JOIN objects o ON o.id = r.dst"
                    " JOIN types t ON t.id = o.type WHERE r.src = ?1 GROUP BY"
                    " t.name ORDER BY count(*) DESC";

    if ((err = add_node(p, db, id, &idx)) < 0)
        return err;
    p->nodes[idx].kind = HD_PIC_TARGET;
    if ((err = hd_query(&r, db, sql, 0, NULL)) < 0 ||
        (err = hd_query(&cnt, db, count_sql, 0, NULL)) < 0)
        goto done;
    while (head < p->n_nodes) {
        size_t cur = head++;
        hd_pic_node *n = &p->nodes[cur];
        int lv = n->level;
        /* backwards: stop at roots; forwards: do not wander into the
         * internals of classes and modules (the object's own class is
         * still shown) */
        if (n->kind == HD_PIC_SUMMARY || lv >= depth ||
            (backwards && n->kind == HD_PIC_ROOT) ||
            (!backwards && n->is_type && n->kind != HD_PIC_TARGET))
            continue;
        int64_t prm[1] = {n->id}, shown = 0, total;
        hd_rows_rerun(cnt, 1, prm);
        if ((err = hd_rows_next(cnt)) < 0)
            goto done;
        total = hd_rows_int(cnt, 0);
        hd_rows_rerun(r, 1, prm);
        while ((err = hd_rows_next(r)) == 1 && shown < fan) {
            int64_t other = hd_rows_int(r, 0), times = hd_rows_int(r, 3);
            const char *label = hd_rows_text(r, 1);
            char many[300];
            /* "strong" sorts before "weak": weak only if every ref is */
            int weak = hd_rows_text(r, 2) && !strcmp(hd_rows_text(r, 2), "weak");
            if (times > 1) {
                snprintf(many, sizeof(many), "%.200s (x%" PRId64 ")",
                         label ? label : "", times);
                label = many;
            }
            ssize_t known = find_node(p, other);
            size_t oi;
            if (known < 0 && p->n_nodes >= (size_t)max)
                break;
            if ((err = add_node(p, db, other, &oi)) < 0)
                goto done;
            if (known < 0)
                p->nodes[oi].level = lv + 1;
            if ((err = backwards ? add_edge(p, oi, cur, label, weak, 0)
                                 : add_edge(p, cur, oi, label, weak, 0)) < 0)
                goto done;
            shown++;
        }
        if (err < 0)
            goto done;
        if (total > shown &&
            (err = add_summary(p, db, cur, total - shown, types_sql,
                               p->nodes[cur].id, backwards)) < 0)
            goto done;
        err = 0;
    }
done:
    hd_rows_free(r);
    hd_rows_free(cnt);
    return err;
}

/* The node standing for the hops of a long chain left out of a picture. */
static int
add_elision(hd_picture *p, size_t hops, size_t *idx)
{
    char text[96], n[32];
    int err;
    if ((err = grow_nodes(p)) < 0)
        return err;
    hd_pic_node *e = &p->nodes[p->n_nodes];
    memset(e, 0, sizeof(*e));
    e->id = -1;
    e->kind = HD_PIC_SUMMARY;
    snprintf(text, sizeof(text), "... %s hops ...",
             hd_count_str(n, sizeof(n), (int64_t)hops));
    e->type = strdup(text);
    *idx = p->n_nodes++;
    return e->type ? 0 : hd_error_set(HD_ENOMEM, "out of memory");
}

/* The chain from a root; one longer than max keeps its two ends (the root
 * side and the object's side) and one node for the hops between. */
static int
select_path(hd_picture *p, hd_db *db, int64_t id, const hd_chain_opts *co,
            int max)
{
    hd_chain *c = NULL;
    size_t prev = 0, idx;
    int err = hd_refchain_find(&c, db, id, co);
    if (err < 0)
        return err;
    size_t keep = max < 4 ? 2 : (size_t)max - 1; /* real nodes drawn */
    size_t head = keep / 2, tail = keep - head;
    for (size_t i = 0; i < c->n; i++) {
        if (c->n > keep && i == head) {
            size_t gap = c->n - head - tail;
            if ((err = add_elision(p, gap, &idx)) < 0 ||
                (err = add_edge(p, prev, idx, NULL, 0, 0)) < 0)
                break;
            prev = idx;
            i += gap - 1;
            continue;
        }
        if ((err = add_node(p, db, c->ids[i], &idx)) < 0)
            break;
        if (i == 0 && c->labels[0] && c->labels[0][0]) {
            free(p->nodes[idx].note);
            size_t n = strlen(c->labels[0]) + 8;
            if ((p->nodes[idx].note = malloc(n)) != NULL)
                snprintf(p->nodes[idx].note, n, "root: %s", c->labels[0]);
            p->nodes[idx].kind = HD_PIC_ROOT;
        }
        /* the hop out of the elision has its label still */
        if (i > 0 &&
            (err = add_edge(p, prev, idx, c->labels[i], c->weak[i], 0)) < 0)
            break;
        prev = idx;
    }
    if (err == 0)
        p->nodes[prev].kind = HD_PIC_TARGET;
    hd_chain_free(c);
    return err;
}

static int
select_cycle(hd_picture *p, hd_db *db, int64_t id, int max)
{
    hd_rows *r = NULL, *e = NULL;
    size_t idx;
    int64_t scc, members;
    int err;
    if ((err = hd_query(&r, db, "SELECT o.scc, c.members FROM objects o "
                        "JOIN cycles c ON c.id = o.scc WHERE o.id = ?1", 0,
                        NULL)) < 0)
        return err;
    int64_t prm[1] = {id};
    hd_rows_rerun(r, 1, prm);
    if ((err = hd_rows_next(r)) <= 0) {
        hd_rows_free(r);
        return err < 0 ? err : hd_error_set(HD_EINVAL, "#%" PRId64 " is on no"
                                            " reference cycle", id);
    }
    scc = hd_rows_int(r, 0);
    members = hd_rows_int(r, 1);
    hd_rows_free(r);
    r = NULL;
    if ((err = add_node(p, db, id, &idx)) < 0)
        return err;
    p->nodes[idx].kind = HD_PIC_TARGET;
    /* Grow outwards from the object along references (either way) that stay
     * inside the cycle, so the picture is the part of the cycle around it. */
    if ((err = hd_query(&r, db, "SELECT r.dst FROM refs r JOIN objects o ON "
                        "o.id = r.dst WHERE r.src = ?1 AND o.scc = ?2 UNION "
                        "SELECT r.src FROM refs r JOIN objects o ON o.id = "
                        "r.src WHERE r.dst = ?1 AND o.scc = ?2", 0, NULL)) < 0)
        return err;
    for (size_t head = 0; head < p->n_nodes && p->n_nodes < (size_t)max;
         head++) {
        int64_t q[2] = {p->nodes[head].id, scc};
        hd_rows_rerun(r, 2, q);
        while ((err = hd_rows_next(r)) == 1 && p->n_nodes < (size_t)max)
            if ((err = add_node(p, db, hd_rows_int(r, 0), &idx)) < 0)
                break;
        if (err < 0)
            break;
        err = 0;
    }
    hd_rows_free(r);
    if (err < 0)
        return err;
    /* the references among the members drawn */
    if ((err = hd_query(&e, db, "SELECT dst, label, kind FROM refs WHERE "
                        "src = ?1", 0, NULL)) < 0)
        return err;
    size_t real = p->n_nodes;
    for (size_t i = 0; i < real; i++) {
        int64_t q[1] = {p->nodes[i].id};
        hd_rows_rerun(e, 1, q);
        while ((err = hd_rows_next(e)) == 1) {
            ssize_t j = find_node(p, hd_rows_int(e, 0));
            if (j >= 0 &&
                (err = add_edge(p, i, (size_t)j, hd_rows_text(e, 1),
                                hd_rows_text(e, 2) &&
                                    !strcmp(hd_rows_text(e, 2), "weak"),
                                0)) < 0)
                break;
        }
        if (err < 0)
            break;
        err = 0;
    }
    hd_rows_free(e);
    if (err == 0 && members > (int64_t)real) {
        char sql[200];
        snprintf(sql, sizeof(sql), "SELECT t.name FROM objects o JOIN types t"
                 " ON t.id = o.type WHERE o.scc = ?1 GROUP BY t.name ORDER BY"
                 " count(*) DESC");
        err = add_summary(p, db, 0, members - (int64_t)real, sql, scc, 1);
    }
    return err;
}

static int
select_dominated(hd_picture *p, hd_db *db, int64_t id, int depth, int max,
                 int fan)
{
    hd_rows *kids = NULL, *cnt = NULL, *lab = NULL;
    size_t head = 0, idx;
    int err;
    if ((err = add_node(p, db, id, &idx)) < 0)
        return err;
    p->nodes[idx].kind = HD_PIC_TARGET;
    if ((err = hd_query(&kids, db, "SELECT id FROM objects WHERE idom = ?1 "
                        "ORDER BY retained DESC", 0, NULL)) < 0 ||
        (err = hd_query(&cnt, db, "SELECT count(*) FROM objects WHERE idom ="
                        " ?1", 0, NULL)) < 0 ||
        (err = hd_query(&lab, db, "SELECT label, kind FROM refs WHERE src = "
                        "?1 AND dst = ?2 LIMIT 1", 0, NULL)) < 0)
        goto done;
    while (head < p->n_nodes) {
        size_t cur = head++;
        if (p->nodes[cur].kind == HD_PIC_SUMMARY ||
            p->nodes[cur].level >= depth)
            continue;
        int64_t prm[1] = {p->nodes[cur].id}, shown = 0, total;
        hd_rows_rerun(cnt, 1, prm);
        if ((err = hd_rows_next(cnt)) < 0)
            goto done;
        total = hd_rows_int(cnt, 0);
        hd_rows_rerun(kids, 1, prm);
        while ((err = hd_rows_next(kids)) == 1 && shown < fan &&
               p->n_nodes < (size_t)max) {
            int64_t child = hd_rows_int(kids, 0);
            size_t ci;
            if ((err = add_node(p, db, child, &ci)) < 0)
                goto done;
            p->nodes[ci].level = p->nodes[cur].level + 1;
            /* name the edge by a direct reference when there is one */
            int64_t q[2] = {p->nodes[cur].id, child};
            hd_rows_rerun(lab, 2, q);
            int direct = hd_rows_next(lab) == 1;
            if ((err = add_edge(p, cur, ci, direct ? hd_rows_text(lab, 0)
                                                   : NULL,
                                0, !direct)) < 0)
                goto done;
            shown++;
        }
        if (err < 0)
            goto done;
        if (total > shown &&
            (err = add_summary(p, db, cur, total - shown,
                               "SELECT t.name FROM objects o JOIN types t ON "
                               "t.id = o.type WHERE o.idom = ?1 GROUP BY "
                               "t.name ORDER BY sum(o.retained) DESC",
                               p->nodes[cur].id, 0)) < 0)
            goto done;
        err = 0;
    }
done:
    hd_rows_free(kids);
    hd_rows_free(cnt);
    hd_rows_free(lab);
    return err;
}

int
hd_picture__select(hd_picture *p, hd_db *db, int64_t id,
                   const hd_graph_opts *o)
{
    int depth = o->depth > 0 ? o->depth : 4;
    int max = o->max_nodes > 0 ? o->max_nodes : 30;
    int fan = max / 3 < 3 ? 3 : max / 3 > 25 ? 25 : max / 3;
    static const char *names[] = {"referrers", "referents", "path from a root",
                                  "reference cycle", "dominator subtree"};
    char desc[160];
    memset(p, 0, sizeof(*p));
    snprintf(p->title, sizeof(p->title), "%s of %s",
             names[o->mode <= HD_GRAPH_DOMINATED ? o->mode : 0],
             hd_obj_describe(desc, sizeof(desc), db, id));
    switch (o->mode) {
    case HD_GRAPH_BACKREFS:
        return select_bfs(p, db, id, depth, max, fan, 1);
    case HD_GRAPH_REFS:
        return select_bfs(p, db, id, depth, max, fan, 0);
    case HD_GRAPH_PATH:
        return select_path(p, db, id, &o->chain, max);
    case HD_GRAPH_CYCLE:
        return select_cycle(p, db, id, max);
    case HD_GRAPH_DOMINATED:
        return select_dominated(p, db, id, depth, max, fan);
    }
    return hd_error_set(HD_EINVAL, "unknown graph mode %d", (int)o->mode);
}

void
hd_picture__dispose(hd_picture *p)
{
    for (size_t i = 0; i < p->n_nodes; i++) {
        free(p->nodes[i].type);
        free(p->nodes[i].value);
        free(p->nodes[i].note);
    }
    for (size_t i = 0; i < p->n_edges; i++)
        free(p->edges[i].label);
    free(p->nodes);
    free(p->edges);
    memset(p, 0, sizeof(*p));
}
