/* heapdig — MIT licence.
 *
 * cmd_diff.c: `heapdig diff A B [C]` — what grew between dumps, by type
 * and by where it is held (analyzer/diff.c has the rule; the growth report
 * shows the same rows).
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    const char *paths[3] = {NULL, NULL, NULL};
    int n = 0, rc;
    hd_rank rank = HD_RANK_RETAINED;

    if ((rc = cli_parse(&hd_cmd_diff, &o, argc, argv,
                        OPT_FORMAT | OPT_LIMIT | OPT_BY | OPT_RANK)))
        return rc;
    if (o.rank && !strcmp(o.rank, "size"))
        rank = HD_RANK_SIZE;
    else if (o.rank && !strcmp(o.rank, "count"))
        rank = HD_RANK_COUNT;
    else if (o.rank && strcmp(o.rank, "retained"))
        return cli_usage(&hd_cmd_diff, "--rank retained, size or count, not "
                         "%s", o.rank);
    n = o.n_pos;
    for (int i = 0; i < n; i++)
        paths[i] = o.pos[i];
    if (n < 2)
        return cli_usage(&hd_cmd_diff, "give two or three databases, oldest "
                         "first");
    /* a CSV file holds one table: where it is held, unless --by type */
    const char *by = o.by ? o.by : o.format == OUT_CSV ? "path" : "both";
    if (strcmp(by, "both") && strcmp(by, "type") && strcmp(by, "path"))
        return cli_usage(&hd_cmd_diff, "--by type, path or both");
    if (o.format == OUT_CSV && !strcmp(by, "both"))
        return cli_usage(&hd_cmd_diff, "csv is one table: --by type or "
                         "--by path");
    for (int i = 0; i < n; i++)
        if ((paths[i] = cli_database_arg(&hd_cmd_diff, paths[i], &rc)) == NULL)
            return rc;
    int err = hd_diff_open(&db, paths, n);
    if (err < 0)
        return cli_fail("diff", err);
    /* oldest first: a dump given out of order reads growth as shrinkage */
    {
        hd_rows *t = NULL;
        static const char *const alias[] = {"main", "b", "c"};
        int64_t prev = 0;
        for (int i = 0; i < n; i++) {
            char sql[96];
            snprintf(sql, sizeof(sql), "SELECT value FROM %s.meta WHERE key "
                     "= 'time_ns'", alias[i]);
            if (hd_query(&t, db, sql, 0, NULL) == 0 && hd_rows_next(t) == 1) {
                int64_t ns = hd_rows_int(t, 0);
                if (i > 0 && ns < prev)
                    fprintf(stderr, "heapdig: diff: warning: %s was dumped "
                            "before %s; give the oldest first\n", paths[i],
                            paths[i - 1]);
                prev = ns;
            }
            hd_rows_free(t);
            t = NULL;
        }
    }
    hd_rows *r = NULL;
    int both_json = o.format == OUT_JSON && !strcmp(by, "both");
    out_json j;
    oj_init(&j, stdout);
    if (both_json)
        oj_obj(&j);
    if (strcmp(by, "path")) {
        if (o.format == OUT_TABLE)
            printf("Growth by type (%s -> %s):\n", paths[0], paths[n - 1]);
        if (both_json) {
            oj_key(&j, "types");
            oj_raw(&j);
        }
        if ((err = hd_diff_query(&r, db, n, 0, rank, o.limit)) < 0 ||
            (err = out_rows(stdout, r, o.format)) < 0) {
            rc = cli_fail("diff", err);
            goto done;
        }
        hd_rows_free(r);
        r = NULL;
    }
    if (strcmp(by, "type")) {
        if (o.format == OUT_TABLE)
            printf("\nGrowth by where it is held:\n");
        if (both_json) {
            oj_key(&j, "paths");
            oj_raw(&j);
        }
        if ((err = hd_diff_query(&r, db, n, 1, rank, o.limit)) < 0 ||
            (err = out_rows(stdout, r, o.format)) < 0) {
            rc = cli_fail("diff", err);
            goto done;
        }
    }
    if (both_json)
        oj_done(&j);
done:
    hd_rows_free(r);
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_diff = {
    "diff", "what grew between two or three dumps, and where it is held",
    "A.db B.db [C.db] [--by type|path|both] [--rank retained|size|count]\n"
    "        [-n N] [--format table|json|csv]\n\n"
    "Oldest first.  Rows rank by retained growth (what the growth keeps\n"
    "alive), then shallow growth; --rank size or count ranks by those.  'held_at' generalises indices and data keys\n"
    "to [*], so a cache that gained 10,000 entries is one line.  With three\n"
    "dumps, what grew in both intervals is marked steady and listed first.  JSON with\n"
    "--by both is {\"types\": [...], \"paths\": [...]}; csv is one table\n"
    "(--by path unless --by type).",
    run};
