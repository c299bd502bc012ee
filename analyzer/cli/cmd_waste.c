/* heapdig — MIT licence.
 *
 * cmd_waste.c: `heapdig waste DB` — memory the program could keep for less:
 * duplicate strings and bytes, empty and nearly empty containers, __dict__s
 * that __slots__ would replace (the rules: analyzer/analyze/waste.c).
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *kind, *title;
} KINDS[] = {
    {"duplicate", "The same value held as distinct str/bytes objects (saved: "
                  "keeping one copy, e.g. sys.intern)"},
    {"empty", "Empty and nearly empty containers, by where they are held "
              "(saved: at most, by not making them until needed)"},
    {"slots", "Instances with a __dict__ (saved: with __slots__, a pointer "
              "per attribute instead of a dict)"}};
#define N_KINDS (sizeof(KINDS) / sizeof(KINDS[0]))

static const cli_option OPTIONS[] = {
    OPT_FORMAT, OPT_LIMIT, CLI_OPTION("--kind", NULL, TAKES_TEXT, kind),
    OPT_END};

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    hd_rows *rows = NULL;
    int64_t total = 0;
    char b1[32], b2[32];
    int err = 0, rc, printed = 0;

    if ((rc = cli_parse(&hd_cmd_waste, &o, argc, argv, OPTIONS)))
        return rc;
    if (o.kind) {
        size_t k = 0;
        while (k < N_KINDS && strcmp(KINDS[k].kind, o.kind))
            k++;
        if (k == N_KINDS)
            return cli_usage(&hd_cmd_waste, "--kind duplicate, empty or "
                             "slots, not %s", o.kind);
    }
    if ((rc = cli_open(&hd_cmd_waste, &o, 0, &db, NULL)))
        return rc;
    out_json j;
    oj_init(&j, stdout);
    if (o.format == OUT_JSON)
        oj_obj(&j);
    for (size_t k = 0; k < N_KINDS; k++) {
        if (o.kind && strcmp(KINDS[k].kind, o.kind))
            continue;
        if ((err = hd_waste_query(&rows, db, KINDS[k].kind, o.limit)) < 0)
            goto fail;
        if (o.format == OUT_JSON) {
            oj_key(&j, KINDS[k].kind);
            oj_raw(&j);
        } else if (o.format == OUT_TABLE) {
            printf("%s%s:\n", printed ? "\n" : "", KINDS[k].title);
        }
        err = out_rows(stdout, rows,
                       o.format == OUT_JSON                ? OUT_JSON_NESTED
                       : o.format == OUT_CSV && printed    ? OUT_CSV_ROWS
                                                           : o.format);
        hd_rows_free(rows);
        rows = NULL;
        if (err < 0)
            goto fail;
        const char *kind[1] = {KINDS[k].kind};
        cli_print_more(db, "SELECT count(*) FROM waste WHERE kind = ?1", 1,
                       kind, o.limit, o.format);
        printed++;
    }
    if (!o.kind && (err = hd_waste_total(db, &total)) < 0)
        goto fail;
    if (o.format == OUT_JSON && !o.kind) {
        oj_key(&j, "saved");
        oj_int(&j, total);
    }
    if (o.format == OUT_JSON)
        oj_done(&j);
    else if (o.format == OUT_TABLE && !o.kind)
        printf("\nIn all, about %s could be saved (of %s of objects).\n",
               out_bytes(b1, sizeof(b1), (double)total),
               out_bytes(b2, sizeof(b2),
                         (double)hd_meta_int(db, "total_size")));
    rc = HD_EXIT_OK;
    goto done;
fail:
    rc = cli_fail("waste", err);
done:
    hd_rows_free(rows);
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_waste = {
    "waste", "memory kept for nothing: duplicate strings, empty containers, "
             "__dict__s __slots__ would shrink",
    "DB [--kind duplicate|empty|slots] [-n N] [--format table|json|csv]", run};
