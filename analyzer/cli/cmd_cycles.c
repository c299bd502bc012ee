/* heapdig — MIT licence.
 *
 * cmd_cycles.c: `heapdig cycles` — reference cycles, live or garbage, with
 * their members' types, sizes and finalisers.
 */
#include "cli.h"

#include <stdio.h>

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    char sql[1024];
    int rc = cli_parse(&hd_cmd_cycles, &o, argc, argv,
                       OPT_FORMAT | OPT_LIMIT | OPT_GARBAGE);
    if (rc)
        return rc;
    if ((rc = cli_open(&hd_cmd_cycles, &o, 0, &db, NULL)))
        return rc;
    snprintf(sql, sizeof(sql),
             "SELECT c.id AS cycle, CASE c.reachable WHEN 1 THEN 'live' ELSE "
             "'garbage' END AS state, c.members, c.size, c.retained, "
             "c.finalizers, (SELECT group_concat(n, ', ') FROM (SELECT t.name "
             "|| ' x' || count(*) AS n FROM objects m JOIN types t ON t.id = "
             "m.type WHERE m.scc = c.id GROUP BY t.name ORDER BY count(*) "
             "DESC, t.name LIMIT 4)) AS types, (SELECT min(m.id) FROM objects"
             " m WHERE m.scc = c.id) AS example FROM cycles c %s ORDER BY "
             "c.retained DESC, c.id LIMIT %ld",
             o.garbage ? "WHERE c.reachable = 0" : "", o.limit);
    rc = cli_print_query(&hd_cmd_cycles, db, sql, 0, NULL, o.format);
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_cycles = {
    "cycles", "reference cycles; --garbage: what gc.collect() would free",
    "DB [--garbage] [-n N] [--format table|json|csv]\n\n"
    "finalizers counts members with __del__ (tp_finalize) or tp_del;\n"
    "example is a member's row id, for `heapdig show DB #ID`.",
    run};
