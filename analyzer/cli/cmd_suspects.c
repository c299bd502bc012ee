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

/* "20,000 Request in _CACHE[*]": a hold in words; human: for a terminal
 * (heap text escaped, thousands separated), else raw for a CSV field,
 * which escapes it itself. */
static const char *
hold_text(char *buf, size_t cap, const hd_suspect_hold *h, int human)
{
    char tn[256], cnt[32], where[600] = "", lab[1024];
    if (h->as_keys && (h->where == NULL || !h->where[0]))
        snprintf(where, sizeof(where), "its keys"); /* an unnamed suspect */
    else if (h->as_keys)
        snprintf(where, sizeof(where), "keys of %s", h->where);
    else if (h->where)
        snprintf(where, sizeof(where), "%s", h->where);
    if (human)
        hd_text_escape(tn, sizeof(tn), h->type, strlen(h->type),
                       HD_TEXT_PLAIN, 60);
    else
        snprintf(tn, sizeof(tn), "%s", h->type);
    if (human)
        out_count(cnt, sizeof(cnt), (long long)h->count);
    else
        snprintf(cnt, sizeof(cnt), "%" PRId64, h->count);
    if (h->where)
        snprintf(buf, cap, "%s %s %s %s", cnt, tn, h->as_keys ? "as" : "in",
                 human ? out_label(lab, sizeof(lab), where) : where);
    else
        snprintf(buf, cap, "%s %s %s", cnt, tn,
                 h->count == 1 ? "object" : "objects");
    return buf;
}

/* One table, a row per suspect (`types` lists the types). */
static void
print_csv(hd_db *db, const hd_suspect *sus, size_t n)
{
    out_csv c;
    char desc[160], holds[1024], one[1024], chain[2048];
    oc_init(&c, stdout);
    oc_header(&c, (const char *const[]){"suspect", "id", "name", "object",
                                        "retained", "percent", "holds",
                                        "chain", "python", NULL});
    for (size_t si = 0; si < n; si++) {
        const hd_suspect *x = &sus[si];
        size_t hk = 0, ck = 0;
        holds[0] = chain[0] = 0;
        for (size_t k = 0; k < x->n_holds && hk < sizeof(holds) - 1; k++)
            hk += (size_t)snprintf(holds + hk, sizeof(holds) - hk, "%s%s",
                                   k ? "; " : "",
                                   hold_text(one, sizeof(one), &x->holds[k],
                                             0));
        for (size_t i = 0; i < x->chain->n && ck < sizeof(chain) - 1; i++)
            ck += (size_t)snprintf(chain + ck, sizeof(chain) - ck, "%s%s",
                                   i ? " → " : "",
                                   x->chain->labels[i] ? x->chain->labels[i]
                                                       : "?");
        oc_int(&c, (int64_t)si + 1);
        oc_int(&c, x->id);
        oc_str(&c, x->name[0] ? x->name : NULL);
        oc_str(&c, hd_obj_describe(desc, sizeof(desc), db, x->id));
        oc_int(&c, x->retained);
        oc_num(&c, x->percent, 1);
        oc_str(&c, holds);
        oc_str(&c, chain);
        oc_str(&c, x->python);
        oc_row(&c);
    }
}

static void
print_table(hd_db *db, const hd_suspect *sus, size_t n, int64_t total)
{
    char desc[160], lab[1024], one[1024], b1[32], b2[32];
    for (size_t si = 0; si < n; si++) {
        const hd_suspect *x = &sus[si];
        printf("Suspect %zu: %s%s%s retains %s (%.1f%% of %s)\n", si + 1,
               x->name[0] ? out_label(lab, sizeof(lab), x->name) : "",
               x->name[0] ? " " : "",
               hd_obj_describe(desc, sizeof(desc), db, x->id),
               out_bytes(b1, sizeof(b1), (double)x->retained), x->percent,
               out_bytes(b2, sizeof(b2), (double)total));
        for (size_t k = 0; k < x->n_holds; k++)
            printf("    holds %s retaining %s\n",
                   hold_text(one, sizeof(one), &x->holds[k], 1),
                   out_bytes(b1, sizeof(b1), (double)x->holds[k].retained));
        print_chain(db, x->chain);
        if (x->python)
            printf("    as Python: %s\n",
                   out_label(lab, sizeof(lab), x->python));
        printf("\n");
    }
}

static const cli_option OPTIONS[] = {OPT_FORMAT, OPT_LIMIT, OPT_THRESHOLD,
                                     OPT_END};

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    hd_suspect *sus = NULL;
    size_t n_sus = 0;
    char sql[400];
    int rc, err = 0;

    rc = cli_parse(&hd_cmd_suspects, &o, argc, argv, OPTIONS);
    if (rc)
        return rc;
    double min_pct = o.threshold > 0 ? o.threshold : 10.0;
    if ((rc = cli_open(&hd_cmd_suspects, &o, 0, &db, NULL)))
        return rc;
    int64_t total = hd_meta_int(db, "total_size");
    int64_t threshold = (int64_t)((double)total * min_pct / 100.0);
    if ((err = hd_suspects_find(&sus, &n_sus, db, min_pct,
                                (size_t)o.limit)) < 0) {
        rc = cli_fail("suspects", err);
        goto done;
    }
    /* types whose instances together retain the share: no one instance
     * need (many small caches) */
    snprintf(sql, sizeof(sql), "SELECT name AS type, module, count, retained,"
             " round(100.0 * retained / %" PRId64 ", 1) AS percent FROM types "
             "WHERE retained >= %" PRId64 " AND count > 1 AND name NOT IN "
             "('dict', 'list', 'tuple', 'str', 'module', 'type', 'function',"
             " 'cell', 'code') ORDER BY retained DESC LIMIT %ld",
             total ? total : 1, threshold, o.limit);
    if (o.format == OUT_JSON) {
        rc = print_json(db, sus, n_sus, total, sql);
    } else if (o.format == OUT_CSV) {
        print_csv(db, sus, n_sus);
    } else {
        print_table(db, sus, n_sus, total);
        if (n_sus == 0)
            printf("No object retains %.0f%% or more of the heap.\n\n",
                   min_pct);
        printf("Types whose instances together retain %.0f%% or more:\n",
               min_pct);
        rc = cli_print_query(&hd_cmd_suspects, db, sql, 0, NULL, o.format);
    }
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
