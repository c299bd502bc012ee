/* heapdig — MIT licence.
 *
 * cmd_suspects.c: `heapdig suspects` — leak suspects, after Eclipse MAT.
 *
 * A suspect is a dominator subtree holding at least --by percent of the
 * heap.  From each subtree root we walk down the dominator tree to the
 * accumulation point, the object below which the retained size stops
 * concentrating: through the largest child while it keeps at least 80% of
 * its parent, and always through a namespace (a module, a class, their
 * __dict__s, an instance's __dict__) while its largest child still holds
 * the --by share: a namespace groups what the program named, it is not
 * where things pile up.  A suspect is named by the variable, attribute or
 * key that holds it (its chain's last name, and the chain as Python where
 * it has one), and what it holds is grouped by the label it is held under
 * and its type ("20,000 Request in _CACHE[*]").  Types whose instances
 * together retain a large share are reported too.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCUMULATION 0.8

static int64_t
meta_int(hd_db *db, const char *key)
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
    if (hd_query(&r, db, "SELECT (o.flags & 24) != 0 OR EXISTS (SELECT 1 "
                 "FROM refs WHERE src = o.parent AND dst = o.id AND label = "
                 "'.__dict__') FROM objects o WHERE o.id = ?1", 0, NULL) == 0 &&
        hd_rows_rerun(r, 1, p) == 0 && hd_rows_next(r) == 1)
        yes = hd_rows_int(r, 0) != 0;
    hd_rows_free(r);
    return yes;
}

typedef struct suspect {
    int64_t id, retained;
} suspect;
#define MAX_SUSPECTS 128

/* Adds a candidate unless it is there already. */
static void
add_candidate(suspect *list, int *n, int64_t id, int64_t retained)
{
    for (int i = 0; i < *n; i++)
        if (list[i].id == id)
            return;
    if (*n < MAX_SUSPECTS)
        list[(*n)++] = (suspect){id, retained};
}

/* Walks down from `id` to its accumulation point (see the top).  A
 * namespace passed through may hold more than one big thing: its other
 * children that retain the --by share become candidates of their own. */
static int64_t
accumulation_point(hd_db *db, int64_t id, int64_t retained, int64_t threshold,
                   suspect *cand, int *n_cand)
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
    const suspect *x = a, *y = b;
    return x->retained < y->retained ? 1 : x->retained > y->retained ? -1 : 0;
}

/* The suspects, largest first: the accumulation points of the dominator
 * subtrees (and of the namespaces' other big children) that retain at
 * least threshold bytes.  Returns their number, or <0. */
static int
find_suspects(hd_db *db, int64_t threshold, suspect *out)
{
    suspect cand[MAX_SUSPECTS];
    int n_cand = 0, n = 0, err;
    hd_rows *r = NULL, *ar = NULL;
    char num[32];
    snprintf(num, sizeof(num), "%" PRId64, threshold);
    const char *p[1] = {num};
    if ((err = hd_query(&r, db, "SELECT id, retained FROM objects WHERE "
                        "reachable = 1 AND idom IS NULL AND retained >= ?1 "
                        "ORDER BY retained DESC LIMIT 50", 1, p)) < 0 ||
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
 * ("_CACHE" for ['_CACHE'], "listeners" for .listeners), escaped. */
static const char *
holder_name(char *out, size_t n, const hd_chain *c)
{
    out[0] = 0;
    for (size_t i = c ? c->n : 0; i-- > 1;) {
        const char *l = c->labels[i];
        size_t k;
        if (l == NULL)
            continue;
        if (!strncmp(l, "['", 2) && (k = strlen(l)) > 4 &&
            !strcmp(l + k - 2, "']"))
            snprintf(out, n, "%.*s", (int)(k - 4), l + 2);
        else if (l[0] == '.' && strcmp(l, ".__dict__"))
            snprintf(out, n, "%s", l + 1);
        else if (!strcmp(l, ".__dict__"))
            continue;
        else
            snprintf(out, n, "%s", l);
        break;
    }
    return out;
}

static void
print_chain(hd_db *db, int64_t id)
{
    hd_chain *c = NULL;
    char desc[160], lab[1024];
    if (hd_refchain_find(&c, db, id, NULL) < 0) {
        printf("    chain: %s\n", hd_error_last()->message);
        return;
    }
    printf("    chain: %s", c->labels[0] && c->labels[0][0]
                                ? out_label(lab, sizeof(lab), c->labels[0])
                                : "(root)");
    for (size_t i = 1; i < c->n; i++)
        printf(" → %s", c->labels[i]
                            ? out_label(lab, sizeof(lab), c->labels[i])
                            : hd_obj_describe(desc, sizeof(desc), db,
                                              c->ids[i]));
    printf("\n");
    hd_chain_free(c);
}

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    hd_rows *kids = NULL;
    char desc[160], b1[32], b2[32];
    suspect sus[MAX_SUSPECTS];
    int n_sus, shown = 0, rc, err = 0;
    double min_pct = 10.0;

    rc = cli_parse(&hd_cmd_suspects, &o, argc, argv,
                   OPT_FORMAT | OPT_LIMIT | OPT_BY);
    if (rc)
        return rc;
    if (o.by) /* --by is spelt --min here: the share of the heap */
        min_pct = atof(o.by);
    if (min_pct <= 0 || min_pct > 100)
        return cli_usage(&hd_cmd_suspects, "--by takes a percentage (0-100]");
    if ((rc = cli_open(&hd_cmd_suspects, &o, 0, &db, NULL)))
        return rc;
    int64_t total = meta_int(db, "total_size");
    int64_t threshold = (int64_t)((double)total * min_pct / 100.0);
    if ((err = n_sus = find_suspects(db, threshold, sus)) < 0 ||
        (err = hd_query(&kids, db, "SELECT t.name, count(*), sum(o.retained),"
                        " g FROM (SELECT o.*, (SELECT CASE WHEN min(label) "
                        "LIKE '[%' THEN '[*]' ELSE min(label) END FROM refs "
                        "WHERE src = ?1 AND dst = o.id AND kind = 'strong') "
                        "AS g FROM objects o WHERE o.idom = ?1) o JOIN types t"
                        " ON t.id = o.type GROUP BY t.name, g ORDER BY 3 DESC "
                        "LIMIT 4", 0, NULL)) < 0)
        goto fail;
    if (o.format == OUT_JSON)
        printf("{\"total_size\": %" PRId64 ", \"suspects\": [", total);
    else if (o.format == OUT_CSV) /* one table: a row per suspect */
        printf("suspect,id,name,object,retained,percent,holds,chain,python\n");
    for (int si = 0; si < n_sus && shown < o.limit; si++) {
        int64_t acc = sus[si].id, acc_ret = sus[si].retained;
        shown++;
        hd_chain *c = NULL;
        if (hd_refchain_find(&c, db, acc, NULL) < 0)
            c = NULL;
        char name[256], python[4096], lab[1024];
        holder_name(name, sizeof(name), c);
        const char *py = c ? hd_chain_python(python, sizeof(python), db, c)
                           : NULL;
        char holds[1024] = "";
        size_t hk = 0;
        double pct = 100.0 * acc_ret / (total ? total : 1);
        if (o.format == OUT_CSV) {
            printf("%d,%" PRId64 ",", shown, acc);
            out_csv_field(stdout, name[0] ? name : NULL);
            putchar(',');
            out_csv_field(stdout, hd_obj_describe(desc, sizeof(desc), db, acc));
            printf(",%" PRId64 ",%.1f,", acc_ret, pct);
        } else if (o.format == OUT_JSON) {
            printf("%s\n  {\"id\": %" PRId64 ", \"name\": ", shown > 1 ? ","
                                                                        : "",
                   acc);
            out_json_str(stdout, name[0] ? name : NULL);
            printf(", \"object\": ");
            out_json_str(stdout, hd_obj_describe(desc, sizeof(desc), db, acc));
            printf(", \"retained\": %" PRId64 ", \"percent\": %.1f, "
                   "\"python\": ", acc_ret, pct);
            out_json_str(stdout, py);
            printf(", \"holds\": [");
        } else {
            printf("Suspect %d: %s%s%s retains %s (%.1f%% of %s)\n", shown,
                   name[0] ? out_label(lab, sizeof(lab), name) : "",
                   name[0] ? " " : "",
                   hd_obj_describe(desc, sizeof(desc), db, acc),
                   out_bytes(b1, sizeof(b1), (double)acc_ret), pct,
                   out_bytes(b2, sizeof(b2), (double)total));
        }
        int64_t kp[1] = {acc};
        hd_rows_rerun(kids, 1, kp);
        int first = 1;
        while (hd_rows_next(kids) == 1) {
            const char *t = hd_rows_text(kids, 0), *g = hd_rows_text(kids, 3);
            char where[600] = "", tn[256], cnt[32];
            /* "_CACHE[*]": the suspect's name and the label it holds them
             * under; nothing when they hang below it, not from it */
            int keys = g && !strcmp(g, "<key>");
            if (keys)
                snprintf(where, sizeof(where), "keys of %s", name);
            else if (g)
                snprintf(where, sizeof(where), "%s%s", name, g);
            if (o.format == OUT_JSON) {
                printf("%s{\"type\": ", first ? "" : ", ");
                out_json_str(stdout, t);
                printf(", \"label\": ");
                out_json_str(stdout, g ? where : NULL);
                printf(", \"count\": %" PRId64 ", \"retained\": %" PRId64 "}",
                       hd_rows_int(kids, 1), hd_rows_int(kids, 2));
            } else if (o.format == OUT_CSV) {
                hk += (size_t)snprintf(holds + hk, sizeof(holds) - hk,
                                       "%s%" PRId64 " %s%s%s", first ? "" : "; ",
                                       hd_rows_int(kids, 1), t ? t : "?",
                                       keys ? " as " : g ? " in " : "",
                                       g ? where : "");
                if (hk >= sizeof(holds))
                    hk = sizeof(holds) - 1;
            } else {
                hd_text_escape(tn, sizeof(tn), t ? t : "?", t ? strlen(t) : 1,
                               HD_TEXT_PLAIN, 60); /* heap text */
                out_count(cnt, sizeof(cnt), (long long)hd_rows_int(kids, 1));
                if (g)
                    printf("    holds %s %s %s %s retaining %s\n", cnt, tn,
                           keys ? "as" : "in",
                           out_label(lab, sizeof(lab), where),
                           out_bytes(b1, sizeof(b1),
                                     (double)hd_rows_int(kids, 2)));
                else
                    printf("    holds %s %s objects retaining %s\n", cnt, tn,
                           out_bytes(b1, sizeof(b1),
                                     (double)hd_rows_int(kids, 2)));
            }
            first = 0;
        }
        if (o.format == OUT_JSON) {
            printf("], \"chain\": ");
            if (c) {
                printf("[");
                for (size_t i = 0; i < c->n; i++) {
                    printf("%s", i ? ", " : "");
                    out_json_str(stdout, c->labels[i]);
                }
                printf("]");
            } else
                printf("null");
            printf("}");
        } else if (o.format == OUT_CSV) {
            char chain[2048] = "";
            size_t ck = 0;
            for (size_t i = 0; c && i < c->n && ck < sizeof(chain) - 1; i++)
                ck += (size_t)snprintf(chain + ck, sizeof(chain) - ck, "%s%s",
                                       i ? " → " : "",
                                       c->labels[i] ? c->labels[i] : "?");
            out_csv_field(stdout, holds);
            putchar(',');
            out_csv_field(stdout, chain);
            putchar(',');
            out_csv_field(stdout, py);
            putchar('\n');
        } else {
            print_chain(db, acc);
            if (py)
                printf("    as Python: %s\n", out_label(lab, sizeof(lab), py));
            printf("\n");
        }
        hd_chain_free(c);
    }
    if (err < 0)
        goto fail;
    if (o.format == OUT_CSV)
        goto done; /* one well-formed table; `types` lists the types */
    if (o.format == OUT_JSON) {
        printf("\n], \"types\": ");
        fflush(stdout);
    } else {
        if (shown == 0)
            printf("No object retains %.0f%% or more of the heap.\n\n",
                   min_pct);
        printf("Types whose instances together retain %.0f%% or more:\n",
               min_pct);
    }
    char sql[400];
    snprintf(sql, sizeof(sql), "SELECT name AS type, module, count, retained,"
             " round(100.0 * retained / %" PRId64 ", 1) AS percent FROM types "
             "WHERE retained >= %" PRId64 " AND count > 1 AND name NOT IN "
             "('dict', 'list', 'tuple', 'str', 'module', 'type', 'function',"
             " 'cell', 'code') ORDER BY retained DESC LIMIT %ld",
             total ? total : 1, threshold, o.limit);
    rc = cli_print_query(&hd_cmd_suspects, db, sql, 0, NULL,
                         o.format == OUT_CSV ? OUT_CSV : o.format);
    if (o.format == OUT_JSON)
        printf("}\n");
    goto done;
fail:
    rc = cli_fail("suspects", err);
done:
    hd_rows_free(kids);
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_suspects = {
    "suspects", "leak suspects: what holds a large share of the heap, and why",
    "DB [--by PERCENT] [-n N] [--format table|json|csv]\n\n"
    "--by PERCENT: the share of the heap a suspect must retain (default 10).",
    run};
