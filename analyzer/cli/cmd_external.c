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

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    char sql[1200];
    int rc = cli_parse(&hd_cmd_external, &o, argc, argv,
                       OPT_FORMAT | OPT_LIMIT | OPT_TYPE | OPT_BY);
    if (rc)
        return rc;
    const char *by = o.by ? o.by : "retained";
    if (strcmp(by, "retained") && strcmp(by, "type"))
        return cli_usage(&hd_cmd_external, "--by retained or type");
    if ((rc = cli_open(&hd_cmd_external, &o, 0, &db, NULL)))
        return rc;
    if (!strcmp(by, "type"))
        snprintf(sql, sizeof(sql),
                 "SELECT t.name AS type, count(*) AS objects, sum(o.external) "
                 "AS external_refs, sum(o.refcount = o.external) AS orphans, "
                 "sum(o.retained) AS retained FROM objects o JOIN types t ON "
                 "t.id = o.type WHERE o.external > 0 AND NOT o.flags & 32 %s "
                 "AND o.id NOT IN (SELECT object FROM roots) GROUP BY t.name "
                 "ORDER BY sum(o.retained) DESC LIMIT %ld",
                 o.type ? "AND t.name = ?1" : "", o.limit);
    else
        snprintf(sql, sizeof(sql),
                 "SELECT o.id, printf('0x%%x', o.address) AS address, t.name "
                 "AS type, o.external AS external_refs, o.refcount - "
                 "o.external AS heap_refs, CASE WHEN o.refcount = o.external "
                 "THEN 'orphan' WHEN o.flags & " HD_SQL(HD_OBJ_TYPE) " THEN 'type' ELSE '' END AS "
                 "note, o.size, o.retained, %s FROM objects o JOIN types t ON "
                 "t.id = o.type WHERE o.external > 0 AND NOT o.flags & 32"
                 " %s AND o.id NOT IN (SELECT object FROM roots) ORDER BY "
                 "o.retained DESC, o.id LIMIT %ld",
                 CLI_VALUE_COL(o.format), o.type ? "AND t.name = ?1" : "",
                 o.limit);
    if (o.format == OUT_TABLE)
        printf("Held from outside the heap, not explained by a named root "
               "(orphan: no object in the heap refers to it):\n");
    const char *p[1] = {o.type};
    rc = cli_print_query(&hd_cmd_external, db, sql, o.type ? 1 : 0, p,
                         o.format);
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_external = {
    "external", "objects held from outside the heap: C-extension leaks",
    "DB [--by retained|type] [--type NAME] [-n N] [--format table|json|csv]\n\n"
    "external_refs = refcount minus references found in the heap.  An orphan\n"
    "(no heap referrer) that retains a lot is the classic forgotten Py_DECREF.",
    run};
