/* heapdig — MIT licence.
 *
 * cmd_refs.c: `heapdig referrers` and `heapdig referents` — who holds an
 * object, and what it holds, with the labels of those references.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>

static const cli_option OPTIONS[] = {OPT_FORMAT, OPT_LIMIT, OPT_END};

static int
run_refs(const hd_cmd *cmd, int argc, char **argv, int referrers)
{
    cli_opts o;
    hd_db *db = NULL;
    int64_t obj;
    char sql[768], num[32], desc[160];
    int rc = cli_parse(cmd, &o, argc, argv, OPTIONS);
    if (rc)
        return rc;
    if ((rc = cli_open(cmd, &o, 1, &db, &obj)))
        return rc;
    snprintf(sql, sizeof(sql),
             "SELECT r.label, r.kind, o.id, printf('0x%%x', o.address) AS "
             "address, t.name AS type, o.size, o.retained, %s FROM refs r JOIN "
             "objects o ON o.id = r.%s JOIN types t ON t.id = o.type "
             "WHERE r.%s = ?1 ORDER BY o.retained DESC, r.src, r.seq LIMIT %ld",
             CLI_VALUE_COL(o.format), referrers ? "src" : "dst", referrers ? "dst" : "src", o.limit);
    snprintf(num, sizeof(num), "%" PRId64, obj);
    if (o.format == OUT_TABLE)
        printf("%s of %s:\n", referrers ? "Referrers" : "Referents",
               hd_obj_describe(desc, sizeof(desc), db, obj));
    const char *p[1] = {num};
    rc = cli_print_query(cmd, db, sql, 1, p, o.format);
    if (rc == HD_EXIT_OK)
        cli_print_more(db, referrers ? "SELECT count(*) FROM refs WHERE dst = ?1"
                                     : "SELECT count(*) FROM refs WHERE src = ?1",
                       1, p, o.limit, o.format);
    hd_db_close(db);
    return rc;
}

static int
run_referrers(int argc, char **argv)
{
    return run_refs(&hd_cmd_referrers, argc, argv, 1);
}

static int
run_referents(int argc, char **argv)
{
    return run_refs(&hd_cmd_referents, argc, argv, 0);
}

const hd_cmd hd_cmd_referrers = {
    "referrers", "who refers to an object, and by what name",
    "DB OBJ [-n N] [--format table|json|csv]\n\n"
    "OBJ is an address (0x7f..), a decimal id() or a row id (#123).",
    run_referrers};
const hd_cmd hd_cmd_referents = {
    "referents", "what an object refers to, and by what name",
    "DB OBJ [-n N] [--format table|json|csv]", run_referents};
