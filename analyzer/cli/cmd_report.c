/* heapdig — MIT licence.
 *
 * cmd_report.c: `heapdig report DB|DUMP [-o FILE.html]` and `heapdig
 * report A B [C]`: the HTML report, or the growth report across dumps
 * (analyzer/report.c writes them).  A dump is loaded first, into DUMP.db as
 * `heapdig load` would, unless that database is newer than the dump.  The
 * page goes beside the input by default: app.hdig and app.hdig.db both
 * give app.html; a growth report goes beside the newest, as
 * NEWEST.growth.html.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* app.hdig.db, app.hdig, app.db -> app.html (app.growth.html) */
static char *
default_output(const char *in, int growth)
{
    size_t n = strlen(in);
    char *out = malloc(n + 16);
    if (out == NULL)
        return NULL;
    memcpy(out, in, n + 1);
    static const char *const ext[] = {".db", ".hdig"};
    for (size_t i = 0; i < 2; i++) {
        size_t k = strlen(out), e = strlen(ext[i]);
        const char *slash = strrchr(out, '/');
        if (k > e && !strcmp(out + k - e, ext[i]) &&
            (slash == NULL || out + k - e > slash + 1))
            out[k - e] = 0;
    }
    strcat(out, growth ? ".growth.html" : ".html");
    return out;
}

static const cli_option OPTIONS[] = {OPT_OUTPUT, OPT_THRESHOLD, OPT_FORCE,
                                     OPT_END};

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    char *dbs[3] = {NULL, NULL, NULL}, *out = NULL;
    int err, rc = cli_parse(&hd_cmd_report, &o, argc, argv, OPTIONS);
    if (rc)
        return rc;
    double min_pct = o.threshold > 0 ? o.threshold : 10.0;
    if (o.n_pos < 1)
        return cli_usage(&hd_cmd_report, "which dump or database?");
    for (int i = 0; i < o.n_pos; i++)
        if ((rc = cli_database_for(&hd_cmd_report, o.pos[i], &dbs[i])))
            goto done;
    const char *in = o.pos[o.n_pos - 1];
    if ((out = o.output ? strdup(o.output)
                        : default_output(in, o.n_pos > 1)) == NULL) {
        rc = cli_fail("report", HD_ENOMEM);
        goto done;
    }
    const char *inputs[6];
    for (int i = 0; i < o.n_pos; i++) {
        inputs[2 * i] = o.pos[i];
        inputs[2 * i + 1] = dbs[i];
    }
    if ((rc = cli_output_ok(&hd_cmd_report, out, o.force, inputs,
                            2 * o.n_pos)))
        goto done;
    hd_report_opts ro = {.min_pct = min_pct, .source = in};
    if (o.n_pos > 1) {
        char src[1024];
        snprintf(src, sizeof(src), "%s → %s%s%s", o.pos[0],
                 o.n_pos == 3 ? o.pos[1] : "", o.n_pos == 3 ? " → " : "",
                 in);
        ro.source = src;
        if ((err = hd_diff_open(&db, (const char *const *)dbs, o.n_pos)) == 0) {
            cli_warn_order(&hd_cmd_report, db, (const char *const *)o.pos,
                           o.n_pos);
            err = hd_report_growth_write(db, (const char *const *)dbs,
                                         o.n_pos, &ro, out);
        }
    } else if ((err = hd_db_open(&db, dbs[0])) == 0)
        err = hd_report_write(db, &ro, out);
    if (err < 0) {
        rc = cli_fail("report", err);
        goto done;
    }
    if (strcmp(out, "-"))
        printf("%s\n", out);
    rc = HD_EXIT_OK;
done:
    hd_db_close(db);
    for (int i = 0; i < 3; i++)
        free(dbs[i]);
    free(out);
    return rc;
}

const hd_cmd hd_cmd_report = {
    "report", "one HTML page that shows the leak (or, given 2-3 dumps, what "
    "grew)",
    "DB|DUMP [-o FILE.html] [--threshold PERCENT] [--force]\n"
    "       heapdig report A B [C] [-o FILE.html] [--force]\n\n"
    "A dump is loaded into DUMP.db first (unless that is newer).  The page\n"
    "is written beside the input (app.hdig -> app.html; with 2-3 inputs,\n"
    "oldest first, beside the newest as NEWEST.growth.html) unless -o says\n"
    "where.  It is one file, needs no network and reads with scripts off.\n"
    "--threshold PERCENT: the share of the heap a suspect must retain\n"
    "(default 10).\n"
    "--force: replace FILE even if it is a heapdig dump or database (never\n"
    "one of the inputs).",
    run};
