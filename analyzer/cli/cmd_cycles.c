/* heapdig — MIT licence.
 *
 * cmd_cycles.c: `heapdig cycles` — reference cycles, live or garbage, with
 * their members' types, sizes and finalisers.
 */
#include "cli.h"
#include "heapdig/format.h"

#include <stdio.h>

static const cli_option OPTIONS[] = {
    OPT_FORMAT, OPT_LIMIT, CLI_OPTION("--garbage", NULL, FLAG, garbage),
    OPT_END};

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    char sql[2048];
    int rc = cli_parse(&hd_cmd_cycles, &o, argc, argv, OPTIONS);
    if (rc)
        return rc;
    if ((rc = cli_open(&hd_cmd_cycles, &o, 0, &db, NULL)))
        return rc;
    /* What a person can act on first: garbage, then live cycles with
     * finalisers, then the rest; last the backbone every program has
     * (cycles through a module or a class: its functions' __globals__, its
     * methods, its instances), which the table sums up in one line. */
#define KIND "CASE WHEN c.reachable = 0 THEN 'garbage' WHEN c.backbone " \
             "THEN 'backbone' ELSE 'live' END"
#define ORDER "CASE state WHEN 'garbage' THEN 0 WHEN 'live' THEN 1 ELSE 2 " \
              "END, finalizers > 0 DESC, retained DESC, cycle"
    /* the rows shown chosen first, then what they hold counted (for all
     * 72,854 cycles of a 10 M heap that took a second) */
    snprintf(sql, sizeof(sql),
             "SELECT cycle, state, members, size, retained, finalizers, "
             "(SELECT group_concat(n, ', ') FROM (SELECT t.name || ' x' || "
             "count(*) AS n FROM objects m JOIN types t ON t.id = m.type "
             "WHERE m.scc = cycle GROUP BY t.name ORDER BY count(*) DESC, "
             "t.name LIMIT 4)) AS types, (SELECT min(m.id) FROM objects m "
             "WHERE m.scc = cycle) AS example FROM (SELECT c.id AS cycle, "
             KIND " AS state, c.members, c.size, c.retained, c.finalizers "
             "FROM cycles c WHERE %s AND %s ORDER BY " ORDER " LIMIT %ld) "
             "ORDER BY " ORDER,
             o.garbage ? "c.reachable = 0" : "1",
             o.format == OUT_TABLE ? KIND " != 'backbone'" : "1", o.limit);
    rc = cli_print_query(&hd_cmd_cycles, db, sql, 0, NULL, o.format);
    if (rc == 0) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM cycles c WHERE %s "
                 "AND %s", o.garbage ? "c.reachable = 0" : "1",
                 o.format == OUT_TABLE ? KIND " != 'backbone'" : "1");
        cli_print_more(db, sql, 0, NULL, o.limit, o.format);
    }
    if (rc == 0 && o.format == OUT_TABLE && !o.garbage) {
        hd_rows *r = NULL;
        char b[32], n1[48], n2[48];
        snprintf(sql, sizeof(sql), "SELECT count(*), coalesce(sum(members), "
                 "0), coalesce(sum(size), 0) FROM cycles c WHERE " KIND
                 " = 'backbone'");
        if (hd_query(&r, db, sql, 0, NULL) == 0 && hd_rows_next(r) == 1 &&
            hd_rows_int(r, 0) > 0)
            printf("\nAlso %s through modules and classes (%s, %s): the "
                   "module, class and function backbone every program has "
                   "(--format json lists them, as 'backbone').\n",
                   hd_count_of(n1, sizeof(n1), (long long)hd_rows_int(r, 0),
                               "live cycle", "live cycles"),
                   hd_count_of(n2, sizeof(n2), (long long)hd_rows_int(r, 1),
                               "object", "objects"),
                   out_bytes(b, sizeof(b), (double)hd_rows_int(r, 2)));
        hd_rows_free(r);
    }
#undef KIND
#undef ORDER
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_cycles = {
    "cycles", "reference cycles; --garbage: what gc.collect() would free",
    "DB [--garbage] [-n N] [--format table|json|csv]\n\n"
    "Garbage first, then live cycles with finalisers, then the rest; cycles\n"
    "through a module or a class (state 'backbone': every program has them)\n"
    "are summed up in one line in the table and listed last in JSON/CSV.\n"
    "Cycles among instances that the backbone would take in (a module\n"
    "global's Session and its Connection) are rows of their own.\n"
    "finalizers counts members with __del__ (tp_finalize) or tp_del;\n"
    "example is a member's row id, for `heapdig show DB #ID`.",
    run};
