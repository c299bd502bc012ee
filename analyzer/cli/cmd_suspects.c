/* heapdig — MIT licence.
 *
 * cmd_suspects.c: `heapdig suspects` — leak suspects, after Eclipse MAT.
 *
 * A suspect is a dominator subtree holding at least --min percent of the
 * heap.  From each subtree root we walk down the dominator tree while one
 * child keeps at least 80% of the retained size; where that stops, the size
 * fans out into many small children: the accumulation point (typically the
 * dict or list a cache keeps growing).  For each we print what it holds
 * (children grouped by type) and the chain from a root.  Types whose
 * instances together retain a large share are reported too.
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

/* Walks down from `id` to its accumulation point. */
static int64_t
accumulation_point(hd_db *db, int64_t id, int64_t retained)
{
    hd_rows *r = NULL;
    if (hd_query(&r, db, "SELECT id, retained FROM objects WHERE idom = ?1 "
                 "ORDER BY retained DESC LIMIT 1", 0, NULL) < 0)
        return id;
    for (int steps = 0; steps < 10000; steps++) {
        int64_t p[1] = {id};
        hd_rows_rerun(r, 1, p);
        if (hd_rows_next(r) != 1)
            break;
        int64_t child = hd_rows_int(r, 0), cr = hd_rows_int(r, 1);
        if ((double)cr < ACCUMULATION * (double)retained)
            break;
        id = child;
        retained = cr;
    }
    hd_rows_free(r);
    return id;
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
    hd_rows *r = NULL, *kids = NULL;
    char desc[160], b1[32], b2[32], num[32];
    int64_t seen[64];
    int n_seen = 0, shown = 0, rc, err = 0;
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
    snprintf(num, sizeof(num), "%" PRId64, threshold);
    const char *p[1] = {num};
    /* Subtrees under the virtual root, largest first. */
    if ((err = hd_query(&r, db, "SELECT id, retained FROM objects WHERE "
                        "reachable = 1 AND idom IS NULL AND retained >= ?1 "
                        "ORDER BY retained DESC LIMIT 50", 1, p)) < 0 ||
        (err = hd_query(&kids, db, "SELECT t.name, count(*), sum(o.retained)"
                        " FROM objects o JOIN types t ON t.id = o.type WHERE "
                        "o.idom = ?1 GROUP BY t.name ORDER BY 3 DESC LIMIT 4",
                        0, NULL)) < 0)
        goto fail;
    if (o.format == OUT_JSON)
        printf("{\"total_size\": %" PRId64 ", \"suspects\": [", total);
    else if (o.format == OUT_CSV) /* one table: a row per suspect */
        printf("suspect,id,object,retained,percent,holds,chain\n");
    while ((err = hd_rows_next(r)) == 1 && shown < o.limit) {
        int64_t top = hd_rows_int(r, 0), ret = hd_rows_int(r, 1);
        int64_t acc = accumulation_point(db, top, ret);
        int dup = 0;
        for (int i = 0; i < n_seen; i++)
            dup |= seen[i] == acc;
        if (dup || n_seen == 64)
            continue;
        seen[n_seen++] = acc;
        /* retained of the accumulation point */
        hd_rows *ar = NULL;
        int64_t acc_ret = 0;
        snprintf(num, sizeof(num), "%" PRId64, acc);
        const char *ap[1] = {num};
        if (hd_query(&ar, db, "SELECT retained FROM objects WHERE id = ?1", 1,
                     ap) == 0 && hd_rows_next(ar) == 1)
            acc_ret = hd_rows_int(ar, 0);
        hd_rows_free(ar);
        shown++;
        char holds[1024] = "";
        size_t hk = 0;
        if (o.format == OUT_CSV) {
            printf("%d,%" PRId64 ",", shown, acc);
            out_csv_field(stdout, hd_obj_describe(desc, sizeof(desc), db, acc));
            printf(",%" PRId64 ",%.1f,", acc_ret,
                   100.0 * acc_ret / (total ? total : 1));
        } else if (o.format == OUT_JSON) {
            printf("%s\n  {\"id\": %" PRId64 ", \"object\": ", shown > 1 ? ","
                                                                          : "",
                   acc);
            out_json_str(stdout, hd_obj_describe(desc, sizeof(desc), db, acc));
            printf(", \"retained\": %" PRId64 ", \"percent\": %.1f, "
                   "\"holds\": [", acc_ret, 100.0 * acc_ret / (total ? total : 1));
        } else {
            printf("Suspect %d: %s retains %s (%.1f%% of %s)\n", shown,
                   hd_obj_describe(desc, sizeof(desc), db, acc),
                   out_bytes(b1, sizeof(b1), (double)acc_ret),
                   100.0 * acc_ret / (total ? total : 1),
                   out_bytes(b2, sizeof(b2), (double)total));
        }
        int64_t kp[1] = {acc};
        hd_rows_rerun(kids, 1, kp);
        int first = 1;
        while (hd_rows_next(kids) == 1) {
            if (o.format == OUT_JSON) {
                printf("%s{\"type\": ", first ? "" : ", ");
                out_json_str(stdout, hd_rows_text(kids, 0));
                printf(", \"count\": %" PRId64 ", \"retained\": %" PRId64 "}",
                       hd_rows_int(kids, 1), hd_rows_int(kids, 2));
            } else if (o.format == OUT_CSV) {
                const char *tn = hd_rows_text(kids, 0);
                hk += (size_t)snprintf(holds + hk, sizeof(holds) - hk,
                                       "%s%" PRId64 " %s", first ? "" : "; ",
                                       hd_rows_int(kids, 1), tn ? tn : "?");
                if (hk >= sizeof(holds))
                    hk = sizeof(holds) - 1;
            } else {
                char c[32], tn[256];
                const char *t = hd_rows_text(kids, 0);
                hd_text_escape(tn, sizeof(tn), t ? t : "?", t ? strlen(t) : 1,
                               HD_TEXT_PLAIN, 60); /* heap text */
                printf("    holds %s %s objects retaining %s\n",
                       out_count(c, sizeof(c), (long long)hd_rows_int(kids, 1)),
                       tn,
                       out_bytes(b1, sizeof(b1), (double)hd_rows_int(kids, 2)));
            }
            first = 0;
        }
        if (o.format == OUT_JSON) {
            hd_chain *c = NULL;
            printf("], \"chain\": ");
            if (hd_refchain_find(&c, db, acc, NULL) == 0) {
                printf("[");
                for (size_t i = 0; i < c->n; i++) {
                    printf("%s", i ? ", " : "");
                    out_json_str(stdout, c->labels[i]);
                }
                printf("]");
            } else
                printf("null");
            hd_chain_free(c);
            printf("}");
        } else if (o.format == OUT_CSV) {
            hd_chain *c = NULL;
            char chain[2048] = "";
            size_t ck = 0;
            if (hd_refchain_find(&c, db, acc, NULL) == 0)
                for (size_t i = 0; i < c->n && ck < sizeof(chain) - 1; i++)
                    ck += (size_t)snprintf(chain + ck, sizeof(chain) - ck,
                                           "%s%s", i ? " → " : "",
                                           c->labels[i] ? c->labels[i] : "?");
            hd_chain_free(c);
            out_csv_field(stdout, holds);
            putchar(',');
            out_csv_field(stdout, chain);
            putchar('\n');
        } else {
            print_chain(db, acc);
            printf("\n");
        }
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
    hd_rows_free(r);
    hd_rows_free(kids);
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_suspects = {
    "suspects", "leak suspects: what holds a large share of the heap, and why",
    "DB [--by PERCENT] [-n N] [--format table|json|csv]\n\n"
    "--by PERCENT: the share of the heap a suspect must retain (default 10).",
    run};
