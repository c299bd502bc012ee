/* heapdig — MIT licence.
 *
 * cmd_external.c: `heapdig external` — objects held from outside the heap.
 *
 * An object's refcount counts every reference to it; the dump finds the
 * ones held by other objects.  The rest (external) come from outside the
 * traced heap: C code, the interpreter, a running frame's stack.  Named roots
 * explain some; what nothing explains, and especially a big object nobody in
 * the heap refers to at all, is where C-extension refcount leaks show up
 * (a forgotten Py_DECREF leaves exactly such an orphan).
 */
#include "cli.h"
#include "heapdig/format.h"

#include <stdio.h>
#include <string.h>

static const cli_option OPTIONS[] = {OPT_FORMAT, OPT_LIMIT, OPT_TYPE, OPT_BY,
                                     OPT_END};

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    char sql[1200];
    int rc = cli_parse(&hd_cmd_external, &o, argc, argv, OPTIONS);
    if (rc)
        return rc;
    const char *by = cli_choice(&hd_cmd_external, "--by", o.by,
                                (const char *const[]){"retained", "type",
                                                      NULL}, &rc);
    if (by == NULL)
        return rc;
    if ((rc = cli_open(&hd_cmd_external, &o, 0, &db, NULL)))
        return rc;
    /* what is held from outside: not a root's, and no immortal (3.12+:
     * its refcount is a marker, not a count of holders) */
    char where[256], count_sql[400];
    snprintf(where, sizeof(where), "FROM objects o JOIN types t ON t.id = "
             "o.type WHERE o.external > 0 AND NOT o.flags & "
             HD_SQL(HD_OBJ_IMMORTAL) " %s AND o.id NOT IN (SELECT object "
             "FROM roots)", o.type ? "AND t.name = ?1" : "");
    if (!strcmp(by, "type"))
        snprintf(sql, sizeof(sql),
                 "SELECT t.name AS type, count(*) AS objects, sum(o.external) "
                 "AS external_refs, sum(o.refcount = o.external) AS orphans, "
                 "sum(o.retained) AS retained %s GROUP BY t.name "
                 "ORDER BY sum(o.retained) DESC LIMIT %ld", where, o.limit);
    else
        snprintf(sql, sizeof(sql),
                 "SELECT o.id, printf('0x%%x', o.address) AS address, t.name "
                 "AS type, o.external AS external_refs, o.refcount - "
                 "o.external AS heap_refs, CASE WHEN o.refcount = o.external "
                 "THEN 'orphan' WHEN o.flags & " HD_SQL(HD_OBJ_TYPE) " THEN "
                 "'type' ELSE '' END AS note, o.size, o.retained, %s %s "
                 "ORDER BY o.retained DESC, o.id LIMIT %ld",
                 CLI_VALUE_COL(o.format), where, o.limit);
    snprintf(count_sql, sizeof(count_sql), "SELECT count(%s) %s",
             strcmp(by, "type") ? "*" : "DISTINCT t.name", where);
    if (o.format == OUT_TABLE)
        printf("Held from outside the heap, not explained by a named root "
               "(orphan: no object in the heap refers to it):\n");
    const char *p[1] = {o.type};
    rc = cli_print_query(&hd_cmd_external, db, sql, o.type ? 1 : 0, p,
                         o.format);
    if (rc == 0)
        cli_print_more(db, count_sql, o.type ? 1 : 0, p, o.limit, o.format);
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_external = {
    "external", "objects held from outside the heap: C-extension leaks",
    "DB [--by retained|type] [--type NAME] [-n N] [--format table|json|csv]\n\n"
    "external_refs = refcount minus references found in the heap.  An orphan\n"
    "(no heap referrer) that retains a lot is the classic forgotten Py_DECREF.",
    run};
