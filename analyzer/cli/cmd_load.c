/* heapdig — MIT licence.
 *
 * cmd_load.c: `heapdig load DUMP [-o DB]` — reads a dump into a new SQLite
 * database, with a progress bar on stderr when it is a terminal.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int
progress_bar(uint64_t done, uint64_t total, void *payload)
{
    (void)payload;
    if (total == 0)
        return 0;
    int pct = (int)(done * 100 / total), bar = pct / 4;
    fprintf(stderr, "\rreading  [%.*s%*s] %3d%%",
            bar, "#########################", 25 - bar, "", pct);
    return 0;
}

/* The load's figures as one JSON object, or a CSV header and row. */
static void
print_stats(const hd_load_stats *st, const char *db, out_format fmt,
            int truncated)
{
    static const char *const names[] = {
        "objects", "references", "roots", "types", "total_size",
        "unreachable", "unreachable_size", "cycles", "dangling_refs",
        "peak_rss"};
    const uint64_t v[] = {st->n_objects, st->n_refs, st->n_roots,
                          st->n_types, st->total_size, st->n_unreachable,
                          st->unreachable_size, st->n_cycles,
                          st->n_dangling, st->peak_rss};
    const double secs[] = {st->seconds_read, st->seconds_analyze,
                           st->seconds_store, st->seconds_index};
    static const char *const sec_names[] = {"read_seconds", "analyze_seconds",
                                            "store_seconds", "index_seconds"};
    size_t n = sizeof(v) / sizeof(v[0]);
    if (fmt == OUT_JSON) {
        out_json j;
        oj_init(&j, stdout);
        oj_obj(&j);
        oj_key(&j, "database");
        oj_str(&j, db);
        for (size_t i = 0; i < n; i++) {
            oj_key(&j, names[i]);
            oj_int(&j, (int64_t)v[i]);
        }
        for (size_t i = 0; i < 4; i++) {
            oj_key(&j, sec_names[i]);
            oj_num(&j, secs[i], 3);
        }
        oj_key(&j, "truncated");
        oj_bool(&j, truncated);
        oj_done(&j);
        return;
    }
    out_csv c;
    oc_init(&c, stdout);
    oc_str(&c, "database");
    for (size_t i = 0; i < n; i++)
        oc_str(&c, names[i]);
    for (size_t i = 0; i < 4; i++)
        oc_str(&c, sec_names[i]);
    oc_str(&c, "truncated");
    oc_row(&c);
    oc_str(&c, db);
    for (size_t i = 0; i < n; i++)
        oc_int(&c, (int64_t)v[i]);
    for (size_t i = 0; i < 4; i++)
        oc_num(&c, secs[i], 3);
    oc_str(&c, truncated ? "true" : "false");
    oc_row(&c);
}

static const cli_option OPTIONS[] = {
    OPT_OUTPUT, CLI_OPTION("-q", "--quiet", FLAG, quiet),
    CLI_OPTION("-v", "--verbose", FLAG, verbose), OPT_FORCE, OPT_FORMAT,
    OPT_END};

static int
run(int argc, char **argv)
{
    char *db_alloc = NULL;
    int err, rc;
    hd_load_stats st;
    char b1[48], b2[48], b3[48], b4[32], b5[32], b6[48];
    cli_opts o;

    if ((rc = cli_parse(&hd_cmd_load, &o, argc, argv, OPTIONS)))
        return rc;
    if (o.n_pos > 1)
        return cli_usage(&hd_cmd_load, "one dump at a time");
    const char *dump = o.n_pos ? o.pos[0] : NULL, *db = o.output;
    const out_format fmt = o.format;
    if (dump == NULL)
        return cli_usage(&hd_cmd_load, "which dump?");
    if (db == NULL) {
        size_t n = strlen(dump);
        if ((db_alloc = malloc(n + 4)) == NULL)
            return cli_fail("load", HD_ENOMEM);
        snprintf(db_alloc, n + 4, "%s.db", dump);
        db = db_alloc;
    }
    /* A database replaces a database; anything else (a dump, a report)
     * only with --force. */
    if (!o.force && access(db, F_OK) == 0 && !cli_is_database(db)) {
        fprintf(stderr, "heapdig: load: %s exists and is not a heapdig "
                "database; not replacing it (--force does)\n", db);
        rc = HD_EXIT_ERROR;
        goto done;
    }
    err = hd_load_file(&st, dump, db,
                       !o.quiet && isatty(2) ? progress_bar : NULL, NULL);
    if (!o.quiet && isatty(2))
        fputc('\n', stderr);
    /* Truncated with no database: not even the header arrived. */
    if (err < 0 && (err != HD_ETRUNCATED || !st.truncated)) {
        rc = cli_fail("load", err);
        goto done;
    }
    if (err == HD_ETRUNCATED)
        fprintf(stderr, "heapdig: warning: %s\nheapdig: loaded what the dump "
                "holds; results are incomplete\n", hd_error_last()->message);
    if (fmt != OUT_TABLE) {
        print_stats(&st, db, fmt, err == HD_ETRUNCATED);
        rc = err == HD_ETRUNCATED ? HD_EXIT_TRUNCATED : HD_EXIT_OK;
        goto done;
    }
    if (!o.quiet)
        printf("%s: %s, %s, %s, %s in all\n"
               "  %s unreachable (garbage), %s\n"
               "  read %.2fs, analyse %.2fs, store %.2fs, index %.2fs%s\n",
               db,
               hd_count_of(b1, sizeof(b1), (long long)st.n_objects, "object",
                           "objects"),
               hd_count_of(b2, sizeof(b2), (long long)st.n_refs, "reference",
                           "references"),
               hd_count_of(b3, sizeof(b3), (long long)st.n_roots, "root",
                           "roots"),
               out_bytes(b4, sizeof(b4), (double)st.total_size),
               out_count(b5, sizeof(b5), (long long)st.n_unreachable),
               hd_count_of(b6, sizeof(b6), (long long)st.n_cycles, "cycle",
                           "cycles"),
               st.seconds_read, st.seconds_analyze, st.seconds_store,
               st.seconds_index,
               st.n_dangling ? " (some references point outside the dump)"
                             : "");
    if (o.verbose)
        printf("  phases: read %.2fs | graph %.2fs, roots %.2fs, bfs %.2fs, "
               "scc %.2fs, dominators+retained %.2fs | store %.2fs | index "
               "%.2fs\n  peak memory %s (%.0f bytes per object+reference)\n"
               "  address map: longest probe %llu slots\n",
               st.seconds_read, st.seconds_graph, st.seconds_roots,
               st.seconds_bfs, st.seconds_scc, st.seconds_dom,
               st.seconds_store, st.seconds_index,
               out_bytes(b1, sizeof(b1), (double)st.peak_rss),
               (double)st.peak_rss / (double)(st.n_objects + st.n_refs + 1),
               (unsigned long long)st.addr_longest_probe);
    rc = err == HD_ETRUNCATED ? HD_EXIT_TRUNCATED : HD_EXIT_OK;
done:
    free(db_alloc);
    return rc;
}

const hd_cmd hd_cmd_load = {
    "load", "load a dump into a SQLite database (DUMP.db by default)",
    "DUMP [-o DB] [-q] [-v] [-f] [--format table|json|csv]\n\n"
    "  -o, --output DB  database to create (a database there is replaced;\n"
    "                   any other file only with --force)\n"
    "  -f, --force      replace DB even if it is not a database\n"
    "  -q, --quiet      no progress or summary line\n"
    "  -v, --verbose    time each phase and report peak memory\n"
    "  --format json|csv  the load's figures as one JSON object or CSV row\n\n"
    "Exit status: 0 loaded, 1 failed (corrupt or unreadable dump: no\n"
    "database is written), 3 the dump was truncated (what it held is loaded).",
    run};
