/* heapdig — MIT licence.
 *
 * suspects.c: leak suspects, after Eclipse MAT (heapdig.h has the rule).
 *
 * A suspect is a dominator subtree holding at least min_pct of the heap.
 * From each subtree root we walk down the dominator tree to the
 * accumulation point, the object below which the retained size stops
 * concentrating: through the largest child while it keeps at least 80% of
 * its parent, and always through a namespace (a module, a class, their
 * __dict__s, an instance's __dict__) while its largest child still holds
 * the share: a namespace groups what the program named, it is not where
 * things pile up.  A suspect is named by the variable, attribute or key
 * that holds it (its chain's last name), and what it holds is grouped by
 * the label it is held under and its type ("20,000 Request in _CACHE[*]").
 * `heapdig suspects` and `heapdig report` both print these.
 */
#include "query/query.h"
#include "heapdig/format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCUMULATION 0.8
#define MAX_CANDIDATES 128

typedef struct candidate {
    int64_t id, retained;
} candidate;

int64_t
hd_meta_int(hd_db *db, const char *key)
{
    hd_rows *r = NULL;
    int64_t v = 0;
    const char *p[1] = {key};
    if (hd_query(&r, db, "SELECT value FROM meta WHERE key = ?1", 1, p) == 0 &&
        hd_rows_next(r) == 1)
        v = hd_rows_int(r, 0);
    hd_rows_free(r);
    return v;
}

/* Whether id is a namespace: a module or class, or a dict one of them (or
 * an instance) holds as its __dict__. */
static int
is_namespace(hd_db *db, int64_t id)
{
    hd_rows *r = NULL;
    int64_t p[1] = {id};
    int yes = 0;
    if (hd_query(&r, db, "SELECT (o.flags & " HD_SQL(HD_OBJ_TYPE | HD_OBJ_MODULE) ") != 0 OR EXISTS (SELECT 1 "
                 "FROM refs WHERE src = o.parent AND dst = o.id AND label = "
                 "'.__dict__') FROM objects o WHERE o.id = ?1", 0, NULL) == 0 &&
        hd_rows_rerun(r, 1, p) == 0 && hd_rows_next(r) == 1)
        yes = hd_rows_int(r, 0) != 0;
    hd_rows_free(r);
    return yes;
}

/* Adds a candidate unless it is there already. */
static void
add_candidate(candidate *list, int *n, int64_t id, int64_t retained)
{
    for (int i = 0; i < *n; i++)
        if (list[i].id == id)
            return;
    if (*n < MAX_CANDIDATES)
        list[(*n)++] = (candidate){id, retained};
}

/* Walks down from `id` to its accumulation point (see the top).  A
 * namespace passed through may hold more than one big thing: its other
 * children that retain the share become candidates of their own. */
static int64_t
accumulation_point(hd_db *db, int64_t id, int64_t retained, int64_t threshold,
                   candidate *cand, int *n_cand)
{
    hd_rows *r = NULL, *big = NULL;
    if (hd_query(&r, db, "SELECT id, retained FROM objects WHERE idom = ?1 "
                 "ORDER BY retained DESC LIMIT 1", 0, NULL) < 0 ||
        hd_query(&big, db, "SELECT id, retained FROM objects WHERE idom = ?1 "
                 "AND retained >= ?2 ORDER BY retained DESC LIMIT 16", 0,
                 NULL) < 0) {
        hd_rows_free(r);
        return id;
    }
    for (int steps = 0; steps < 10000; steps++) {
        int64_t p[2] = {id, threshold};
        hd_rows_rerun(r, 1, p);
        if (hd_rows_next(r) != 1)
            break;
        int64_t child = hd_rows_int(r, 0), cr = hd_rows_int(r, 1);
        int ns = cr >= threshold && is_namespace(db, id);
        if ((double)cr < ACCUMULATION * (double)retained && !ns)
            break;
        if (ns) {
            hd_rows_rerun(big, 2, p);
            while (hd_rows_next(big) == 1)
                if (hd_rows_int(big, 0) != child)
                    add_candidate(cand, n_cand, hd_rows_int(big, 0),
                                  hd_rows_int(big, 1));
        }
        id = child;
        retained = cr;
    }
    hd_rows_free(r);
    hd_rows_free(big);
    return id;
}

static int
by_retained(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    return x->retained < y->retained ? 1 : x->retained > y->retained ? -1 : 0;
}

/* The accumulation points, largest first. */
static int
find_points(hd_db *db, int64_t threshold, candidate *out)
{
    candidate cand[MAX_CANDIDATES];
    int n_cand = 0, n = 0, err;
    hd_rows *r = NULL, *ar = NULL;
    int64_t p[1] = {threshold};
    if ((err = hd_query_int(&r, db, "SELECT id, retained FROM objects WHERE "
                            "reachable = 1 AND idom IS NULL AND retained >= "
                            "?1 ORDER BY retained DESC LIMIT 50", 1, p)) < 0 ||
        (err = hd_query(&ar, db, "SELECT retained FROM objects WHERE id = ?1",
                        0, NULL)) < 0)
        goto done;
    while ((err = hd_rows_next(r)) == 1)
        add_candidate(cand, &n_cand, hd_rows_int(r, 0), hd_rows_int(r, 1));
    if (err < 0)
        goto done;
    for (int i = 0; i < n_cand; i++) { /* grows as namespaces add some */
        int64_t acc = accumulation_point(db, cand[i].id, cand[i].retained,
                                         threshold, cand, &n_cand);
        int64_t ap[1] = {acc};
        if (hd_rows_rerun(ar, 1, ap) == 0 && hd_rows_next(ar) == 1)
            add_candidate(out, &n, acc, hd_rows_int(ar, 0));
    }
    qsort(out, (size_t)n, sizeof(*out), by_retained);
    err = n;
done:
    hd_rows_free(r);
    hd_rows_free(ar);
    return err;
}

/* The name a suspect is held under: its chain's last hop that has one
 * ("_CACHE" for ['_CACHE'], "listeners" for .listeners), as rendered. */
static void
holder_name(char *out, size_t n, const hd_chain *c)
{
    out[0] = 0;
    for (size_t i = c ? c->n : 0; i-- > 1;) {
        const char *l = c->labels[i];
        size_t k;
        if (l == NULL || !strcmp(l, ".__dict__"))
            continue;
        if (!strncmp(l, "['", 2) && (k = strlen(l)) > 4 &&
            !strcmp(l + k - 2, "']"))
            snprintf(out, n, "%.*s", (int)(k - 4), l + 2);
        else if (l[0] == '.')
            snprintf(out, n, "%s", l + 1);
        else
            snprintf(out, n, "%s", l);
        return;
    }
}

/* What the suspect holds directly, grouped by (type, label): the label is
 * "[*]" for any item or key of a container, else the label itself (the
 * one the load kept as objects.held_as); what it dominates without
 * referring to it has none.  A big dominator's groups were found at load
 * (the holds table); a smaller one's are one range of the objects_idom
 * index, which covers the columns read. */
#define HOLDS_SQL                                                             \
    "WITH big AS (SELECT t.name, sum(h.count) c, sum(h.retained) r, h.label " \
    "g FROM holds h JOIN types t ON t.id = h.type WHERE h.object = ?1 GROUP " \
    "BY t.name, h.label), "                                                   \
    "k AS (SELECT o.type, o.retained, CASE WHEN l.text LIKE '[%' THEN "       \
    "'[*]' ELSE l.text END AS g FROM objects o LEFT JOIN labels l ON l.id = " \
    "o.held_as WHERE o.idom = ?1 AND NOT EXISTS (SELECT 1 FROM holds WHERE "  \
    "object = ?1)), "                                                         \
    "small AS (SELECT t.name, count(*) c, sum(k.retained) r, k.g FROM k JOIN " \
    "types t ON t.id = k.type GROUP BY t.name, k.g) "                          \
    "SELECT * FROM big UNION ALL SELECT * FROM small ORDER BY 3 DESC LIMIT 4"
static int
find_holds(hd_db *db, hd_rows *kids, hd_suspect *s)
{
    int64_t kp[1] = {s->id};
    int err;
    if ((err = hd_rows_rerun(kids, 1, kp)) < 0)
        return err;
    while (s->n_holds < HD_SUSPECT_HOLDS && (err = hd_rows_next(kids)) == 1) {
        hd_suspect_hold *h = &s->holds[s->n_holds++];
        const char *t = hd_rows_text(kids, 0), *g = hd_rows_text(kids, 3);
        char where[600];
        h->count = hd_rows_int(kids, 1);
        h->retained = hd_rows_int(kids, 2);
        h->as_keys = g && !strcmp(g, "<key>");
        if (h->as_keys)
            snprintf(where, sizeof(where), "%s", s->name);
        else if (g)
            snprintf(where, sizeof(where), "%s%s", s->name, g);
        if ((h->type = strdup(t ? t : "?")) == NULL ||
            (g && (h->where = strdup(where)) == NULL))
            return hd_error_set(HD_ENOMEM, "suspects: out of memory");
    }
    (void)db;
    return err < 0 ? err : 0;
}

int
hd_suspects_find(hd_suspect **out, size_t *n_out, hd_db *db, double min_pct,
                 size_t max)
{
    candidate pts[MAX_CANDIDATES];
    hd_suspect *s = NULL;
    hd_rows *kids = NULL;
    int n = 0, err;
    *out = NULL;
    *n_out = 0;
    if (min_pct <= 0 || min_pct > 100)
        return hd_error_set(HD_EINVAL, "suspects: the share must be in (0, "
                            "100], not %g", min_pct);
    int64_t total = hd_meta_int(db, "total_size");
    int64_t threshold = (int64_t)((double)total * min_pct / 100.0);
    if ((err = hd_db_check_dominators(db)) < 0 ||
        (err = n = find_points(db, threshold, pts)) < 0 ||
        (err = hd_query(&kids, db, HOLDS_SQL, 0, NULL)) < 0)
        goto done;
    if ((size_t)n > max)
        n = (int)max;
    if (n && (s = calloc((size_t)n, sizeof(*s))) == NULL) {
        err = hd_error_set(HD_ENOMEM, "suspects: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        hd_suspect *x = &s[i];
        char python[4096];
        x->id = pts[i].id;
        x->retained = pts[i].retained;
        x->percent = 100.0 * (double)x->retained / (double)(total ? total : 1);
        /* a reachable object has a chain: no chain is a database that
         * contradicts itself, said as such */
        if ((err = hd_refchain_find(&x->chain, db, x->id, NULL)) < 0)
            goto done;
        holder_name(x->name, sizeof(x->name), x->chain);
        if (x->chain && hd_chain_python(python, sizeof(python), db, x->chain) &&
            (x->python = strdup(python)) == NULL) {
            err = hd_error_set(HD_ENOMEM, "suspects: out of memory");
            goto done;
        }
        if ((err = find_holds(db, kids, x)) < 0)
            goto done;
    }
    *out = s;
    *n_out = (size_t)n;
    s = NULL;
    err = 0;
done:
    hd_suspects_free(s, (size_t)(n > 0 ? n : 0));
    hd_rows_free(kids);
    return err;
}

void
hd_suspects_free(hd_suspect *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        hd_chain_free(s[i].chain);
        free(s[i].python);
        for (size_t k = 0; k < s[i].n_holds; k++) {
            free(s[i].holds[k].type);
            free(s[i].holds[k].where);
        }
    }
    free(s);
}
