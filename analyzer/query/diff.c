/* heapdig — MIT licence.
 *
 * diff.c: what grew between two or three dumps (heapdig.h: hd_diff_open,
 * hd_diff_query), for `heapdig diff` and the growth report.
 *
 * Addresses are reused between dumps, so objects are not matched one by
 * one: they are counted by type, and by where they are held (paths: the
 * generalised chain from a root, "sys.modules['app'].__dict__['_CACHE'][*]"),
 * and the counts compared.  With three dumps, what grew in both intervals is
 * a steady leak and ranks first.
 */
#include "query/query.h"

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
    if (err < 0)
        return err;
    return hd__db_check(db, alias, path); /* as hd_db_open checks main */
}

int
hd_diff_open(hd_db **out, const char *const *paths, int n)
{
    static const char *const alias[] = {"b", "c"};
    int err;
    *out = NULL;
    if (n < 2 || n > 3)
        return hd_error_set(HD_EINVAL, "diff: two or three databases, not %d",
                            n);
    if ((err = hd_db_open(out, paths[0])) < 0)
        return err;
    for (int i = 1; i < n; i++)
        if ((err = attach(*out, paths[i], alias[i - 1])) < 0) {
            hd_db_close(*out);
            *out = NULL;
            return err;
        }
    return 0;
}

int
hd_diff_misordered(hd_db *db, int n, int *earlier)
{
    static const char *const alias[] = {"main", "b", "c"};
    int64_t prev = 0;
    int err = 0, found = 0, prev_i = -1;
    for (int i = 0; i < n && i < 3 && !found && err >= 0; i++) {
        hd_rows *t = NULL;
        char sql[96];
        snprintf(sql, sizeof(sql), "SELECT value FROM %s.meta WHERE key = "
                 "'time_ns'", alias[i]);
        if ((err = hd_query(&t, db, sql, 0, NULL)) == 0 &&
            (err = hd_rows_next(t)) == 1) {
            int64_t ns = hd_rows_int(t, 0);
            if (prev_i >= 0 && ns < prev) {
                found = i;
                *earlier = prev_i;
            }
            prev = ns;
            prev_i = i;
        }
        hd_rows_free(t);
    }
    return err < 0 ? err : found;
}

/* The growth query into sql; count: one row, how many rows it has without
 * a limit (and without writing out where each is held). */
static int
diff_sql(char *sql, size_t cap, int n, int by_path, hd_rank rank, long limit,
         int count)
{
    char steady[300], cols[600];
    int w;
    static const char *const order[] = {
        [HD_RANK_RETAINED] = "retained_growth DESC, size_growth DESC",
        [HD_RANK_SIZE] = "size_growth DESC, retained_growth DESC",
        [HD_RANK_COUNT] = "count_growth DESC, retained_growth DESC"};
    if ((unsigned)rank > HD_RANK_COUNT)
        return hd_error_set(HD_EINVAL, "diff: no ranking %d", (int)rank);
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
    if (count)
        limit = -1; /* SQLite: no limit */
    if (!by_path) {
        w = snprintf(sql, cap,
                 "%sWITH x AS (SELECT name, module, count n, size s, retained r"
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
                 "ORDER BY %s DESC, %s "
                 "LIMIT %ld%s", count ? "SELECT count(*) FROM (" : "",
                 n == 3 ? ", z AS (SELECT name, module, count n, size s, "
                          "retained r FROM c.types)" : "",
                 n == 3 ? " UNION SELECT name, module FROM z" : "", cols, z, z,
                 z, n == 3 ? " LEFT JOIN z USING (name, module)" : "", z,
                 steady, order[rank], limit, count ? ")" : "");
    } else {
/* Rows by the hash of where they are held (0: garbage) and type; the text
 * is written out for the rows shown only, from the newest dump holding
 * them (held_text walks the signature tree). */
#define PATHS(db)                                                             \
    "SELECT coalesce(p.hash, 0) sig, min(g.path) pid, t.name type, "         \
    "sum(g.count) n, sum(g.size) s, sum(g.retained) r FROM " db ".held g "    \
    "LEFT JOIN " db ".path_steps p ON p.id = g.path JOIN " db ".types t ON "  \
    "t.id = g.type GROUP BY sig, g.type"
        w = snprintf(sql, cap,
                 "WITH x AS (" PATHS("main") "), y AS (" PATHS("b") ")%s, k AS"
                 " (SELECT sig, type FROM x UNION SELECT sig, type FROM y%s), "
                 "top AS MATERIALIZED (SELECT k.sig, k.type, x.pid AS xp, "
                 "y.pid AS yp, %s AS zp, %s %s AS st, "
                 "coalesce(%s.n,0) - coalesce(x.n,0) AS count_growth, "
                 "coalesce(%s.s,0) - coalesce(x.s,0) AS size_growth, "
                 "coalesce(%s.r,0) - coalesce(x.r,0) AS retained_growth "
                 "FROM k LEFT JOIN x USING (sig, type) LEFT JOIN y USING "
                 "(sig, type)%s WHERE coalesce(%s.n,0) > coalesce(x.n,0) "
                 "ORDER BY st DESC, %s LIMIT %ld) ",
                 n == 3 ? ", z AS (" PATHS("c") ")" : "",
                 n == 3 ? " UNION SELECT sig, type FROM z" : "",
                 n == 3 ? "z.pid" : "NULL", cols, steady, z, z, z,
                 n == 3 ? " LEFT JOIN z USING (sig, type)" : "", z,
                 order[rank], limit);
        if (w > 0 && (size_t)w < cap && count)
            w += snprintf(sql + w, cap - (size_t)w,
                          "SELECT count(*) FROM top");
        else if (w > 0 && (size_t)w < cap)
            w += snprintf(sql + w, cap - (size_t)w,
                 "SELECT CASE WHEN sig = 0 THEN '(garbage: gc.collect() would "
                 "free it)' ELSE coalesce(held_text('c', zp), held_text('b', "
                 "yp), held_text('main', xp)) END AS held_at, type, %s"
                 "count_growth, size_growth, retained_growth FROM top "
                 "ORDER BY st DESC, %s",
                 n == 3 ? "count_1, count_2, count_3, trend, "
                        : "count_1, count_2, ",
                 order[rank]);
#undef PATHS
    }
    if (w < 0 || (size_t)w >= cap)
        return hd_error_set(HD_EINVAL, "diff: the query does not fit");
    return 0;
}

int
hd_diff_query(hd_rows **out, hd_db *db, int n, int by_path, hd_rank rank,
              long limit)
{
    char sql[4096];
    int err = diff_sql(sql, sizeof(sql), n, by_path, rank, limit, 0);
    return err < 0 ? err : hd_query(out, db, sql, 0, NULL);
}

int
hd_diff_count(hd_db *db, int n, int by_path, int64_t *rows)
{
    char sql[4096];
    hd_rows *r = NULL;
    int err = diff_sql(sql, sizeof(sql), n, by_path, HD_RANK_RETAINED, 0, 1);
    *rows = 0;
    if (err == 0 && (err = hd_query(&r, db, sql, 0, NULL)) == 0 &&
        (err = hd_rows_next(r)) == 1) {
        *rows = hd_rows_int(r, 0);
        err = 0;
    }
    hd_rows_free(r);
    return err < 0 ? err : 0;
}
