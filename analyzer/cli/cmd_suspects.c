/* heapdig — MIT licence.
 *
 * cmd_suspects.c: `heapdig suspects` — leak suspects, after Eclipse MAT.
 *
 * The rule lives in the library (analyzer/suspects.c, hd_suspects_find):
 * the report shows the same suspects.  This file prints them: each with
 * the name that holds it, its chain as labels and as Python, and what it
 * holds grouped by label and type; then the types whose instances together
 * retain a large share.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
print_chain(hd_db *db, const hd_chain *c)
{
    char desc[160], lab[1024];
    printf("    chain: %s", c->labels[0] && c->labels[0][0]
                                ? out_label(lab, sizeof(lab), c->labels[0])
                                : "(root)");
    for (size_t i = 1; i < c->n; i++)
        printf(" → %s", c->labels[i]
                            ? out_label(lab, sizeof(lab), c->labels[i])
                            : hd_obj_describe(desc, sizeof(desc), db,
                                              c->ids[i]));
    printf("\n");
}

/* {"total_size": .., "suspects": [{"id", "name", "object", "retained",
 * "percent", "python", "holds": [{"type", "label", "count", "retained"}],
 * "chain": [labels]}], "types": [rows of types_sql]} */
static int
print_json(hd_db *db, const hd_suspect *sus, size_t n_sus, int64_t total,
           const char *types_sql)
{
    char desc[160], where[600];
    out_json j;
    oj_init(&j, stdout);
    oj_obj(&j);
    oj_key(&j, "total_size");
    oj_int(&j, total);
    oj_key(&j, "suspects");
    oj_arr(&j);
    for (size_t si = 0; si < n_sus; si++) {
        const hd_suspect *x = &sus[si];
        oj_obj(&j);
        oj_key(&j, "id");
        oj_int(&j, x->id);
        oj_key(&j, "name");
        oj_str(&j, x->name[0] ? x->name : NULL);
        oj_key(&j, "object");
        oj_str(&j, hd_obj_describe(desc, sizeof(desc), db, x->id));
        oj_key(&j, "retained");
        oj_int(&j, x->retained);
        oj_key(&j, "percent");
        oj_num(&j, x->percent, 1);
        oj_key(&j, "python");
        oj_str(&j, x->python);
        oj_key(&j, "holds");
        oj_arr(&j);
        for (size_t k = 0; k < x->n_holds; k++) {
            const hd_suspect_hold *h = &x->holds[k];
            snprintf(where, sizeof(where), "%s%s", h->as_keys ? "keys of " : "",
                     h->where ? h->where : "");
            oj_obj(&j);
            oj_key(&j, "type");
            oj_str(&j, h->type);
            oj_key(&j, "label");
            oj_str(&j, h->where ? where : NULL);
            oj_key(&j, "count");
            oj_int(&j, h->count);
            oj_key(&j, "retained");
            oj_int(&j, h->retained);
            oj_end(&j);
        }
        oj_end(&j);
        oj_key(&j, "chain");
        if (x->chain) {
            oj_arr(&j);
            for (size_t i = 0; i < x->chain->n; i++)
                oj_str(&j, x->chain->labels[i]);
            oj_end(&j);
        } else
            oj_str(&j, NULL);
        oj_end(&j);
    }
    oj_end(&j);
    oj_key(&j, "types");
    oj_raw(&j);
    int rc = cli_print_query(&hd_cmd_suspects, db, types_sql, 0, NULL,
                             OUT_JSON_NESTED);
    oj_done(&j);
    return rc;
}

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    hd_suspect *sus = NULL;
    size_t n_sus = 0;
    char desc[160], b1[32], b2[32];
    int rc, err = 0;

    rc = cli_parse(&hd_cmd_suspects, &o, argc, argv,
                   OPT_FORMAT | OPT_LIMIT | OPT_THRESHOLD);
    if (rc)
        return rc;
    double min_pct = o.threshold > 0 ? o.threshold : 10.0;
    if ((rc = cli_open(&hd_cmd_suspects, &o, 0, &db, NULL)))
        return rc;
    int64_t total = hd_meta_int(db, "total_size");
    int64_t threshold = (int64_t)((double)total * min_pct / 100.0);
    if ((err = hd_suspects_find(&sus, &n_sus, db, min_pct,
                                (size_t)o.limit)) < 0)
        goto fail;
    char sql[400];
    snprintf(sql, sizeof(sql), "SELECT name AS type, module, count, retained,"
             " round(100.0 * retained / %" PRId64 ", 1) AS percent FROM types "
             "WHERE retained >= %" PRId64 " AND count > 1 AND name NOT IN "
             "('dict', 'list', 'tuple', 'str', 'module', 'type', 'function',"
             " 'cell', 'code') ORDER BY retained DESC LIMIT %ld",
             total ? total : 1, threshold, o.limit);
    if (o.format == OUT_JSON) {
        rc = print_json(db, sus, n_sus, total, sql);
        goto done;
    }
    if (o.format == OUT_CSV) /* one table: a row per suspect */
        printf("suspect,id,name,object,retained,percent,holds,chain,python\n");
    for (size_t si = 0; si < n_sus; si++) {
        const hd_suspect *x = &sus[si];
        const hd_chain *c = x->chain;
        const char *name = x->name, *py = x->python;
        char lab[1024], holds[1024] = "";
        size_t hk = 0;
        if (o.format == OUT_CSV) {
            printf("%zu,%" PRId64 ",", si + 1, x->id);
            out_csv_field(stdout, name[0] ? name : NULL);
            putchar(',');
            out_csv_field(stdout, hd_obj_describe(desc, sizeof(desc), db,
                                                  x->id));
            printf(",%" PRId64 ",%.1f,", x->retained, x->percent);
        } else {
            printf("Suspect %zu: %s%s%s retains %s (%.1f%% of %s)\n", si + 1,
                   name[0] ? out_label(lab, sizeof(lab), name) : "",
                   name[0] ? " " : "",
                   hd_obj_describe(desc, sizeof(desc), db, x->id),
                   out_bytes(b1, sizeof(b1), (double)x->retained), x->percent,
                   out_bytes(b2, sizeof(b2), (double)total));
        }
        for (size_t k = 0; k < x->n_holds; k++) {
            const hd_suspect_hold *h = &x->holds[k];
            char tn[256], cnt[32], where[600] = "";
            if (h->as_keys && (h->where == NULL || !h->where[0]))
                snprintf(where, sizeof(where), "its keys"); /* unnamed */
            else if (h->as_keys)
                snprintf(where, sizeof(where), "keys of %s", h->where);
            else if (h->where)
                snprintf(where, sizeof(where), "%s", h->where);
            if (o.format == OUT_CSV) {
                hk += (size_t)snprintf(holds + hk, sizeof(holds) - hk,
                                       "%s%" PRId64 " %s%s%s", k ? "; " : "",
                                       h->count, h->type,
                                       h->as_keys ? " as " : h->where ? " in "
                                                                      : "",
                                       where);
                if (hk >= sizeof(holds))
                    hk = sizeof(holds) - 1;
            } else {
                hd_text_escape(tn, sizeof(tn), h->type, strlen(h->type),
                               HD_TEXT_PLAIN, 60); /* heap text */
                out_count(cnt, sizeof(cnt), (long long)h->count);
                if (h->where)
                    printf("    holds %s %s %s %s retaining %s\n", cnt, tn,
                           h->as_keys ? "as" : "in",
                           out_label(lab, sizeof(lab), where),
                           out_bytes(b1, sizeof(b1), (double)h->retained));
                else
                    printf("    holds %s %s %s retaining %s\n", cnt, tn,
                           h->count == 1 ? "object" : "objects",
                           out_bytes(b1, sizeof(b1), (double)h->retained));
            }
        }
        if (o.format == OUT_CSV) {
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
            print_chain(db, x->chain);
            if (py)
                printf("    as Python: %s\n", out_label(lab, sizeof(lab), py));
            printf("\n");
        }
    }
    if (o.format == OUT_CSV)
        goto done; /* one well-formed table; `types` lists the types */
    if (n_sus == 0)
        printf("No object retains %.0f%% or more of the heap.\n\n", min_pct);
    printf("Types whose instances together retain %.0f%% or more:\n",
           min_pct);
    rc = cli_print_query(&hd_cmd_suspects, db, sql, 0, NULL, o.format);
    goto done;
fail:
    rc = cli_fail("suspects", err);
done:
    hd_suspects_free(sus, n_sus);
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_suspects = {
    "suspects", "leak suspects: what holds a large share of the heap, and why",
    "DB [--threshold PERCENT] [-n N] [--format table|json|csv]\n\n"
    "--threshold PERCENT: the share of the heap a suspect must retain\n"
    "(default 10).",
    run};
