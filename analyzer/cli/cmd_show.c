/* heapdig — MIT licence.
 *
 * cmd_show.c: `heapdig show` — everything known about one object.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const cli_option OPTIONS[] = {OPT_FORMAT, OPT_END};

/* One object, so one JSON object (not a list of one): numbers as numbers,
 * reachable as a boolean, the flags as a list of their names. */
static void
print_json(hd_rows *r)
{
    out_json j;
    oj_init(&j, stdout);
    oj_obj(&j);
    for (int c = 0; c < hd_rows_ncol(r); c++) {
        const char *v = hd_rows_text(r, c), *name = hd_rows_name(r, c);
        if (!strcmp(name, "flag_bits"))
            continue;
        oj_key(&j, name);
        if (!strcmp(name, "reachable")) {
            oj_bool(&j, (int)hd_rows_int(r, c));
        } else if (!strcmp(name, "flags")) {
            oj_arr(&j);
            for (const char *f = v; f && *f;) {
                size_t n = strcspn(f, ",");
                oj_strn(&j, f, n);
                f += n + (f[n] == ',');
            }
            oj_end(&j);
        } else if (hd_rows_is_number(r, c) && out_is_json_number(v)) {
            oj_int(&j, hd_rows_int(r, c));
        } else {
            oj_strn(&j, v, hd_rows_len(r, c));
        }
    }
    oj_done(&j);
}

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    hd_rows *r = NULL;
    int64_t obj;
    char num[32], desc[160];
    int rc = cli_parse(&hd_cmd_show, &o, argc, argv, OPTIONS);
    if (rc)
        return rc;
    if ((rc = cli_open(&hd_cmd_show, &o, 1, &db, &obj)))
        return rc;
    snprintf(num, sizeof(num), "%" PRId64, obj);
    const char *p[1] = {num};
    const char *sql =
        "SELECT o.id, printf('0x%x', o.address) AS address, o.address AS "
        "id_decimal, t.name AS type, t.module, o.size, o.retained, "
        "o.refcount, o.external, o.refcount - o.external AS heap_refs, "
        "o.length, o.value, (SELECT group_concat(f.name, ',') FROM "
        "object_flags f WHERE o.flags & f.bit) AS flags, o.reachable, o.depth, "
        "o.scc AS cycle, (SELECT members FROM cycles WHERE id = o.scc) AS "
        "cycle_members, o.idom, o.parent, (SELECT group_concat(name, '; ') "
        "FROM roots WHERE object = o.id) AS root_of, (SELECT count(*) FROM "
        "refs WHERE dst = o.id) AS referrers, (SELECT count(*) FROM refs "
        "WHERE src = o.id) AS referents, (SELECT group_concat(filename || ':'"
        " || lineno, ' < ') FROM tracebacks WHERE id = o.traceback) AS "
        "allocated_at, o.flags AS flag_bits FROM objects o JOIN types t ON "
        "t.id = o.type WHERE "
        "o.id = ?1";
    if (o.format == OUT_CSV) {
        rc = cli_print_query(&hd_cmd_show, db, sql, 1, p, o.format);
        goto done;
    }
    int err = hd_query(&r, db, sql, 1, p);
    if (err == 0 && (err = hd_rows_next(r)) == 1 && o.format == OUT_JSON) {
        print_json(r);
        err = 0;
    } else if (err == 1) {
        printf("%s\n", hd_obj_describe(desc, sizeof(desc), db, obj));
        for (int c = 0; c < hd_rows_ncol(r); c++) {
            const char *v = hd_rows_text(r, c), *name = hd_rows_name(r, c);
            char b[64], safe[1024];
            if (v == NULL || !strcmp(name, "flag_bits"))
                continue;
            if ((!strcmp(name, "size") || !strcmp(name, "retained")))
                v = out_bytes(b, sizeof(b), (double)hd_rows_int(r, c));
            if (!strcmp(name, "reachable"))
                v = hd_rows_int(r, c) ? "yes" : "no (garbage)";
            /* heap text: never raw to a terminal */
            if (!strcmp(name, "value"))
                hd_value_text(safe, sizeof(safe), v, hd_rows_len(r, c),
                              hd_rows_int(r, hd_rows_ncol(r) - 1), 0);
            else
                hd_text_escape(safe, sizeof(safe), v, strlen(v),
                               HD_TEXT_PLAIN, 0);
            printf("  %-14s %s\n", name, safe);
        }
        if (hd_rows_text(r, 17)) /* idom */
            printf("  %-14s %s\n", "dominated by",
                   hd_obj_describe(desc, sizeof(desc), db,
                                   hd_rows_int(r, 17)));
        err = 0;
    }
    if (err < 0)
        rc = cli_fail("show", err);
done:
    hd_rows_free(r);
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_show = {
    "show", "everything known about one object",
    "DB OBJ [--format table|json|csv]", run};
