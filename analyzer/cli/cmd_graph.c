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

#define GRAPH_MODE(name, m) {name, NULL, MODE, offsetof(cli_opts, mode), m}
static const cli_option OPTIONS[] = {
    GRAPH_MODE("--backrefs", HD_GRAPH_BACKREFS),
    GRAPH_MODE("--refs", HD_GRAPH_REFS),
    GRAPH_MODE("--path", HD_GRAPH_PATH),
    GRAPH_MODE("--cycle", HD_GRAPH_CYCLE),
    GRAPH_MODE("--dominated", HD_GRAPH_DOMINATED),
    OPT_WEAK, OPT_OUTPUT, OPT_OWN_FORMAT, OPT_DEPTH,
    CLI_OPTION("--max-nodes", NULL, TAKES_COUNT, max_nodes),
    OPT_EXCLUDE, OPT_FORCE, OPT_END};

static int
run(int argc, char **argv)
{
    hd_graph_opts g;
    hd_db *db = NULL;
    cli_opts o;
    const char *excl_types[CLI_MAX_EXCLUDE], *excl_specs[CLI_MAX_EXCLUDE];
    int64_t excl_ids[CLI_MAX_EXCLUDE], obj;
    size_t n_nodes = 0;
    int rc;

    if ((rc = cli_parse(&hd_cmd_graph, &o, argc, argv, OPTIONS)))
        return rc;
    memset(&g, 0, sizeof(g));
    g.mode = o.mode >= 0 ? (hd_graph_mode)o.mode : HD_GRAPH_BACKREFS;
    g.chain.weak = o.weak;
    g.depth = o.depth;
    if (o.max_nodes && (o.max_nodes < 2 || o.max_nodes > 2000))
        return cli_usage(&hd_cmd_graph, "--max-nodes takes 2 to 2000");
    g.max_nodes = (int)o.max_nodes;
    for (int i = 0; i < o.n_exclude; i++) {
        if (cli_looks_like_object(o.exclude[i]))
            excl_specs[g.chain.n_exclude_ids++] = o.exclude[i]; /* below */
        else
            excl_types[g.chain.n_exclude_types++] = o.exclude[i];
    }
    const char *dbp = o.n_pos > 0 ? o.pos[0] : NULL;
    const char *obj_spec = o.n_pos > 1 ? o.pos[1] : NULL, *out = o.output;
    if (dbp == NULL || obj_spec == NULL)
        return cli_usage(&hd_cmd_graph, "which database and object?");
    if (o.n_pos > 2)
        return cli_usage(&hd_cmd_graph, "too many arguments");
    if (out == NULL)
        return cli_usage(&hd_cmd_graph, "-o FILE is required (.svg, .png, "
                         ".pdf or .dot)");
    const char *inputs[2] = {dbp, NULL};
    if ((dbp = cli_database_arg(&hd_cmd_graph, dbp, &rc)) == NULL)
        return rc;
    inputs[1] = dbp;
    if ((rc = cli_output_ok(&hd_cmd_graph, out, o.force, inputs, 2)))
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
    g.format = o.own_format;
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
    "       [--exclude TYPE|OBJ ...] [--weak] [--force]\n\n"
    "  --backrefs   who holds OBJ, up to --depth (default 4), stopping at\n"
    "               roots (default)\n"
    "  --refs       what OBJ holds\n"
    "  --path       the shortest chain from a root (as `heapdig path`)\n"
    "  --cycle      the reference cycle OBJ is on\n"
    "  --dominated  what OBJ dominates: what goes away if it goes\n"
    "  --max-nodes  bound on the picture (default 30); more neighbours than\n"
    "               fit become one '... N more' node\n"
    "  --force      replace FILE even if it is a heapdig dump or database\n"
    "               (never the one drawn)\n"
    "The format comes from the file name unless --format is given.  The\n"
    "object is yellow, roots blue, garbage red; weak references dashed.",
    run};
