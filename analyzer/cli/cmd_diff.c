/* heapdig — MIT licence.
 *
 * cmd_diff.c: `heapdig diff A B [C]` — what grew between dumps, by type
 * and by where it is held (analyzer/diff.c has the rule; the growth report
 * shows the same rows).
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* Under a table cut at -n: how many rows it left out. */
static int
print_more(hd_db *db, int n, int by_path, long shown, out_format f)
{
    int64_t rows;
    char c[32];
    int err = f == OUT_TABLE ? hd_diff_count(db, n, by_path, &rows) : 0;
    if (err == 0 && f == OUT_TABLE && rows > shown)
        printf("... %s more; -n to show more\n",
               out_count(c, sizeof(c), rows - shown));
    return err;
}

static const cli_option OPTIONS[] = {
    OPT_FORMAT, OPT_LIMIT, OPT_BY, CLI_OPTION("--rank", NULL, TAKES_TEXT, rank),
    OPT_END};

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    const char *paths[3] = {NULL, NULL, NULL};
    int n = 0, rc;
    hd_rank rank = HD_RANK_RETAINED;

    if ((rc = cli_parse(&hd_cmd_diff, &o, argc, argv, OPTIONS)))
        return rc;
    /* in hd_rank's order */
    static const char *const ranks[] = {"retained", "size", "count", NULL};
    const char *r_name = cli_choice(&hd_cmd_diff, "--rank", o.rank, ranks,
                                    &rc);
    if (r_name == NULL)
        return rc;
    while (strcmp(ranks[rank], r_name))
        rank++;
    n = o.n_pos;
    for (int i = 0; i < n; i++)
        paths[i] = o.pos[i];
    if (n < 2)
        return cli_usage(&hd_cmd_diff, "give two or three databases, oldest "
                         "first");
    /* a CSV file holds one table: where it is held, unless --by type */
    if (o.format == OUT_CSV && o.by && !strcmp(o.by, "both"))
        return cli_usage(&hd_cmd_diff, "csv is one table: --by type or "
                         "--by path");
    const char *by = cli_choice(&hd_cmd_diff, "--by", o.by,
                                o.format == OUT_CSV
                                    ? (const char *const[]){"path", "type",
                                                            NULL}
                                    : (const char *const[]){"both", "type",
                                                            "path", NULL},
                                &rc);
    if (by == NULL)
        return rc;
    for (int i = 0; i < n; i++)
        if ((paths[i] = cli_database_arg(&hd_cmd_diff, paths[i], &rc)) == NULL)
            return rc;
    int err = hd_diff_open(&db, paths, n);
    if (err < 0)
        return cli_fail("diff", err);
    cli_warn_order(&hd_cmd_diff, db, (const char *const *)o.pos, n);
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
            (err = out_rows(stdout, r, both_json ? OUT_JSON_NESTED :
                                                  o.format)) < 0 ||
            (err = print_more(db, n, 0, o.limit, o.format)) < 0) {
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
            (err = out_rows(stdout, r, both_json ? OUT_JSON_NESTED :
                                                  o.format)) < 0 ||
            (err = print_more(db, n, 1, o.limit, o.format)) < 0) {
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
