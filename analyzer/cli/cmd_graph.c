/* heapdig — MIT licence.
 *
 * cmd_graph.c: `heapdig graph` — a picture of the references around an
 * object, drawn by Graphviz: who holds it (default), what it holds, its
 * chain from a root, its cycle, or what it dominates.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
run(int argc, char **argv)
{
    hd_graph_opts g;
    hd_db *db = NULL;
    const char *out = NULL, *fmt = NULL, *obj_spec = NULL, *dbp = NULL;
    const char *excl_types[64], *excl_specs[64];
    int64_t excl_ids[64], obj;
    size_t n_nodes = 0;
    int rc;

    memset(&g, 0, sizeof(g));
    g.mode = HD_GRAPH_BACKREFS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--backrefs"))
            g.mode = HD_GRAPH_BACKREFS;
        else if (!strcmp(a, "--refs"))
            g.mode = HD_GRAPH_REFS;
        else if (!strcmp(a, "--path"))
            g.mode = HD_GRAPH_PATH;
        else if (!strcmp(a, "--cycle"))
            g.mode = HD_GRAPH_CYCLE;
        else if (!strcmp(a, "--dominated"))
            g.mode = HD_GRAPH_DOMINATED;
        else if (!strcmp(a, "--weak"))
            g.chain.weak = 1;
        else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && v)
            out = argv[++i];
        else if (!strcmp(a, "--format") && v)
            fmt = argv[++i];
        else if (!strcmp(a, "--depth") && v) {
            long d;
            if (cli_number(argv[++i], &d) < 0 || d <= 0 || d > 1000)
                return cli_usage(&hd_cmd_graph, "--depth takes a positive "
                                 "number");
            g.depth = (int)d;
            if (g.depth <= 0)
                return cli_usage(&hd_cmd_graph, "--depth takes a positive "
                                 "number");
        } else if (!strcmp(a, "--max-nodes") && v) {
            long m;
            if (cli_number(argv[++i], &m) < 0)
                m = 0;
            g.max_nodes = (int)(m > 0 && m <= 2000 ? m : 0);
            if (g.max_nodes < 2 || g.max_nodes > 2000)
                return cli_usage(&hd_cmd_graph, "--max-nodes takes 2 to 2000");
        } else if (!strcmp(a, "--exclude") && v) {
            const char *x = argv[++i];
            if (g.chain.n_exclude_ids + g.chain.n_exclude_types >= 64)
                return cli_usage(&hd_cmd_graph, "at most 64 --exclude");
            if (cli_looks_like_object(x))
                excl_specs[g.chain.n_exclude_ids++] = x; /* resolved below */
            else
                excl_types[g.chain.n_exclude_types++] = x;
        } else if (a[0] == '-' && a[1])
            return cli_usage(&hd_cmd_graph, "unknown option %s", a);
        else if (dbp == NULL)
            dbp = a;
        else if (obj_spec == NULL)
            obj_spec = a;
        else
            return cli_usage(&hd_cmd_graph, "too many arguments");
    }
    if (dbp == NULL || obj_spec == NULL)
        return cli_usage(&hd_cmd_graph, "which database and object?");
    if (out == NULL)
        return cli_usage(&hd_cmd_graph, "-o FILE is required (.svg, .png, "
                         ".pdf or .dot)");
    if ((dbp = cli_database_arg(&hd_cmd_graph, dbp, &rc)) == NULL)
        return rc;
    int err = hd_db_open(&db, dbp);
    if (err < 0)
        return cli_fail("graph", err);
    if ((err = hd_obj_resolve(&obj, db, obj_spec)) < 0)
        goto fail;
    for (size_t i = 0; i < g.chain.n_exclude_ids; i++)
        if ((err = hd_obj_resolve(&excl_ids[i], db, excl_specs[i])) < 0)
            goto fail;
    g.chain.exclude_ids = excl_ids;
    g.chain.exclude_types = excl_types;
    g.format = fmt;
    if ((err = hd_graph_render(db, obj, &g, out, &n_nodes)) < 0)
        goto fail;
    /* the picture itself may be on stdout (-o -) */
    fprintf(strcmp(out, "-") ? stdout : stderr, "%s: %zu node%s\n",
            strcmp(out, "-") ? out : "(standard output)", n_nodes,
            n_nodes == 1 ? "" : "s");
    hd_db_close(db);
    return HD_EXIT_OK;
fail:
    rc = cli_fail("graph", err);
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_graph = {
    "graph", "draw the references around an object (Graphviz)",
    "DB OBJ -o FILE [--backrefs|--refs|--path|--cycle|--dominated]\n"
    "       [--depth D] [--max-nodes N] [--format svg|png|pdf|dot]\n"
    "       [--exclude TYPE|OBJ ...] [--weak]\n\n"
    "  --backrefs   who holds OBJ, up to --depth (default 4), stopping at\n"
    "               roots (default)\n"
    "  --refs       what OBJ holds\n"
    "  --path       the shortest chain from a root (as `heapdig path`)\n"
    "  --cycle      the reference cycle OBJ is on\n"
    "  --dominated  what OBJ dominates: what goes away if it goes\n"
    "  --max-nodes  bound on the picture (default 30); more neighbours than\n"
    "               fit become one '... N more' node\n"
    "The format comes from the file name unless --format is given.  The\n"
    "object is yellow, roots blue, garbage red; weak references dashed.",
    run};
