/* heapdig — MIT licence.
 *
 * cmd_diff.c: `heapdig diff A B [C]` — what grew between dumps.
 *
 * Addresses are reused between dumps, so objects are not matched one by
 * one: they are counted by type, and by where they are held (paths: the
 * generalised chain from a root, "sys.modules['app'].__dict__['_CACHE'][*]"),
 * and the counts compared.  With three dumps, what grew in both intervals is
 * a steady leak and ranks first.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static int
attach(hd_db *db, const char *path, const char *alias)
{
    hd_rows *r = NULL;
    char sql[64];
    const char *p[1] = {path};
    snprintf(sql, sizeof(sql), "ATTACH DATABASE ?1 AS %s", alias);
    int err = hd_query(&r, db, sql, 1, p);
    if (err == 0 && (err = hd_rows_next(r)) > 0)
        err = 0;
    hd_rows_free(r);
    if (err == 0) { /* prove it is a heapdig database */
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.paths", alias);
        if ((err = hd_query(&r, db, sql, 0, NULL)) == 0)
            err = hd_rows_next(r) < 0 ? -1 : 0;
        hd_rows_free(r);
        if (err < 0)
            err = cli_fail("diff", HD_ESQL);
        else
            return 0;
        fprintf(stderr, "heapdig: diff: %s is not a heapdig database of "
                        "this version (load the dump again)\n", path);
        return HD_EXIT_ERROR;
    }
    return cli_fail("diff", err);
}

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    const char *paths[3] = {NULL, NULL, NULL};
    int n = 0, rc;
    char sql[4096];

    if ((rc = cli_parse(&hd_cmd_diff, &o, argc, argv,
                        OPT_FORMAT | OPT_LIMIT | OPT_BY)))
        return rc;
    n = o.n_pos;
    for (int i = 0; i < n; i++)
        paths[i] = o.pos[i];
    if (n < 2)
        return cli_usage(&hd_cmd_diff, "give two or three databases, oldest "
                         "first");
    const char *by = o.by ? o.by : "both";
    if (strcmp(by, "both") && strcmp(by, "type") && strcmp(by, "path"))
        return cli_usage(&hd_cmd_diff, "--by type, path or both");
    int err = hd_db_open(&db, paths[0]);
    if (err < 0)
        return cli_fail("diff", err);
    if ((rc = attach(db, paths[1], "b")) ||
        (n == 3 && (rc = attach(db, paths[2], "c"))))
        goto done;
    char steady[300], cols[600];
    /* growth: last - first; steady: grew in both intervals */
    if (n == 3) {
        snprintf(steady, sizeof(steady),
                 "(coalesce(y.n,0) > coalesce(x.n,0) AND coalesce(z.n,0) > "
                 "coalesce(y.n,0))");
        snprintf(cols, sizeof(cols),
                 "coalesce(x.n,0) AS count_1, coalesce(y.n,0) AS count_2, "
                 "coalesce(z.n,0) AS count_3, CASE WHEN %s THEN 'steady' "
                 "ELSE '' END AS trend, ", steady);
    } else {
        snprintf(steady, sizeof(steady), "(1 = 0)"); /* not a column number */
        snprintf(cols, sizeof(cols),
                 "coalesce(x.n,0) AS count_1, coalesce(y.n,0) AS count_2, ");
    }
    const char *z = n == 3 ? "z" : "y";
    if (strcmp(by, "path")) {
        snprintf(sql, sizeof(sql),
                 "WITH x AS (SELECT name, module, count n, size s, retained r"
                 " FROM main.types), y AS (SELECT name, module, count n, size"
                 " s, retained r FROM b.types)%s, k AS (SELECT name, module "
                 "FROM x UNION SELECT name, module FROM y%s) "
                 "SELECT k.name AS type, k.module, %s"
                 "coalesce(%s.n,0) - coalesce(x.n,0) AS count_growth, "
                 "coalesce(%s.s,0) - coalesce(x.s,0) AS size_growth, "
                 "coalesce(%s.r,0) - coalesce(x.r,0) AS retained_growth "
                 "FROM k LEFT JOIN x USING (name, module) LEFT JOIN y USING "
                 "(name, module)%s WHERE coalesce(%s.s,0) > coalesce(x.s,0) "
                 "OR retained_growth > 0 "
                 "ORDER BY %s DESC, retained_growth DESC, size_growth DESC "
                 "LIMIT %ld",
                 n == 3 ? ", z AS (SELECT name, module, count n, size s, "
                          "retained r FROM c.types)" : "",
                 n == 3 ? " UNION SELECT name, module FROM z" : "", cols, z, z,
                 z, n == 3 ? " LEFT JOIN z USING (name, module)" : "", z,
                 steady, o.limit);
        if (o.format == OUT_TABLE)
            printf("Growth by type (%s -> %s):\n", paths[0], paths[n - 1]);
        if (o.format == OUT_JSON && !strcmp(by, "both"))
            printf("{\"types\": ");
        if ((rc = cli_print_query(&hd_cmd_diff, db, sql, 0, NULL, o.format)))
            goto done;
    }
    if (strcmp(by, "type")) {
#define PATHS(db)                                                             \
    "SELECT coalesce(p.signature, '(garbage: gc.collect() would free it)') "  \
    "sig, t.name type, count(*) n, sum(o.size) s, sum(o.retained) r FROM "     \
    db ".objects o LEFT JOIN " db ".paths p ON p.id = o.path JOIN " db        \
    ".types t ON t.id = o.type WHERE o.path IS NOT NULL OR o.reachable = 0 "  \
    "GROUP BY sig, o.type"
        snprintf(sql, sizeof(sql),
                 "WITH x AS (" PATHS("main") "), y AS (" PATHS("b") ")%s, k AS"
                 " (SELECT sig, type FROM x UNION SELECT sig, type FROM y%s) "
                 "SELECT k.sig AS held_at, k.type, %s"
                 "coalesce(%s.n,0) - coalesce(x.n,0) AS count_growth, "
                 "coalesce(%s.s,0) - coalesce(x.s,0) AS size_growth, "
                 "coalesce(%s.r,0) - coalesce(x.r,0) AS retained_growth "
                 "FROM k LEFT JOIN x USING (sig, type) LEFT JOIN y USING "
                 "(sig, type)%s WHERE coalesce(%s.n,0) > coalesce(x.n,0) "
                 "ORDER BY %s DESC, retained_growth DESC, size_growth DESC "
                 "LIMIT %ld",
                 n == 3 ? ", z AS (" PATHS("c") ")" : "",
                 n == 3 ? " UNION SELECT sig, type FROM z" : "", cols, z, z, z,
                 n == 3 ? " LEFT JOIN z USING (sig, type)" : "", z, steady,
                 o.limit);
#undef PATHS
        if (o.format == OUT_TABLE)
            printf("\nGrowth by where it is held:\n");
        if (o.format == OUT_JSON && !strcmp(by, "both"))
            printf(", \"paths\": ");
        rc = cli_print_query(&hd_cmd_diff, db, sql, 0, NULL, o.format);
        if (o.format == OUT_JSON && !strcmp(by, "both"))
            printf("}\n");
    }
done:
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_diff = {
    "diff", "what grew between two or three dumps, and where it is held",
    "A.db B.db [C.db] [--by type|path|both] [-n N] [--format table|json|csv]\n\n"
    "Oldest first.  Rows rank by retained growth (what the growth keeps\n"
    "alive), then shallow growth.  'held_at' generalises indices and data keys\n"
    "to [*], so a cache that gained 10,000 entries is one line.  With three\n"
    "dumps, what grew in both intervals is marked steady and listed first.  JSON with\n"
    "--by both is {\"types\": [...], \"paths\": [...]}.",
    run};
