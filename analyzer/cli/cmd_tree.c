/* heapdig — MIT licence.
 *
 * cmd_tree.c: `heapdig tree DB [OBJ]`: the dominator tree, grouped
 * (hd_tree_walk does the grouping), as a table or as folded stacks.
 *
 * --format folded writes the tree as folded stacks ("frame;frame;frame
 * BYTES", a line per group, BYTES what it holds itself), the format
 * flamegraph.pl, inferno and speedscope read: their picture of it is the
 * retained-size flame graph.  Frames are the rows' text, with ';' made ','.
 * The table shows -n groups under each row, --depth levels deep.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEVELS 1002

typedef struct printer {
    int folded;
    int64_t total;
    int level;                /* rows entered and not yet left */
    size_t len[MAX_LEVELS];   /* the folded stack's length at each level */
    const char *top_frame;    /* the line for what the tops leave unshown */
    char stack[65536];        /* the folded frames so far */
} printer;

/* The row's text: "Request [*]", heap text escaped; ';' made ',' in a
 * folded frame. */
static const char *
row_text(char *buf, size_t cap, const char *type, const char *label,
         int folded)
{
    char tn[256], lab[1024];
    hd_text_escape(tn, sizeof(tn), type, strlen(type), HD_TEXT_PLAIN, 80);
    if (label)
        snprintf(buf, cap, "%s %s", tn, out_label(lab, sizeof(lab), label));
    else
        snprintf(buf, cap, "%s", tn);
    for (char *s = buf; folded && *s; s++)
        if (*s == ';')
            *s = ',';
    return buf;
}

static int
print_row(void *ctx, hd_tree_event ev, const hd_tree_row *row,
          int64_t unshown)
{
    printer *p = ctx;
    char text[1400], b1[32], c1[32], cnt[40] = "";
    size_t len = p->len[p->level];
    switch (ev) {
    case HD_TREE_MORE:
        if (!p->folded)
            printf("%*s… %zu more row%s retaining %s\n", 2 * row->depth + 21,
                   "", row->count, row->count > 1 ? "s" : "",
                   out_bytes(b1, sizeof(b1), (double)row->retained));
        return 0;
    case HD_TREE_LEAVE: /* a row's own bytes, or the tops' smaller ones */
        if (p->folded && unshown > 0 && p->level == 0 && p->top_frame)
            printf("%s %" PRId64 "\n", p->top_frame, unshown);
        else if (p->folded && unshown > 0)
            printf("%.*s %" PRId64 "\n", (int)len, p->stack, unshown);
        p->level -= p->level > 0;
        return 0;
    case HD_TREE_ENTER:
        break;
    }
    if (p->level + 1 >= MAX_LEVELS)
        return HD_TREE_SKIP;
    row_text(text, sizeof(text), row->type, row->label, p->folded);
    if (p->folded) {
        int k = snprintf(p->stack + len, sizeof(p->stack) - len, "%s%s",
                         len ? ";" : "", text);
        if (k < 0 || (size_t)k >= sizeof(p->stack) - len)
            return HD_TREE_SKIP; /* deeper than any picture shows */
        p->len[++p->level] = len + (size_t)k;
        return 0;
    }
    if (row->count > 1)
        snprintf(cnt, sizeof(cnt), "%s × ",
                 out_count(c1, sizeof(c1), (long long)row->count));
    printf("%10s %5.1f%%  %*s%s%s\n",
           out_bytes(b1, sizeof(b1), (double)row->retained),
           100.0 * (double)row->retained / (double)(p->total ? p->total : 1),
           2 * row->depth, "", cnt, text);
    p->level++;
    return 0;
}

static const cli_option OPTIONS[] = {OPT_OWN_FORMAT, OPT_LIMIT, OPT_THRESHOLD,
                                     OPT_DEPTH, OPT_END};

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    hd_rows *r = NULL;
    printer *p = NULL;
    int64_t obj = -1;
    char b1[32];
    int rc, err = 0;

    rc = cli_parse(&hd_cmd_tree, &o, argc, argv, OPTIONS);
    if (rc)
        return rc;
    const char *format = cli_choice(&hd_cmd_tree, "--format", o.own_format,
                                    (const char *const[]){"table", "folded",
                                                          NULL}, &rc);
    if (format == NULL)
        return rc;
    int folded = !strcmp(format, "folded");
    double pct = o.threshold > 0 ? o.threshold : folded ? 0.01 : 0.5;
    if ((rc = cli_open(&hd_cmd_tree, &o, o.n_pos > 1, &db, &obj)))
        return rc;
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        err = HD_ENOMEM;
        goto done;
    }
    p->folded = folded;
    p->total = hd_meta_int(db, "total_size");
    hd_tree_opts to = {(int64_t)((double)p->total * pct / 100.0),
                       folded ? 0 : (o.depth ? o.depth : 6),
                       folded ? 0 : o.limit, o.n_pos > 1 ? obj : -1};
    if (to.threshold < 1)
        to.threshold = 1;
    if (o.n_pos > 1) { /* one object's subtree: it is the first frame */
        int64_t q[1] = {obj};
        if ((err = hd_query_int(&r, db, "SELECT t.name, o.retained FROM "
                                "objects o JOIN types t ON t.id = o.type "
                                "WHERE o.id = ?1", 1, q)) < 0 ||
            (err = hd_rows_next(r)) < 0)
            goto done;
        int64_t ret = err == 1 ? hd_rows_int(r, 1) : 0;
        row_text(p->stack, sizeof(p->stack),
                 err == 1 && hd_rows_text(r, 0) ? hd_rows_text(r, 0) : "?",
                 NULL, folded);
        p->len[0] = strlen(p->stack);
        if (!folded)
            printf("%10s %5.1f%%  %s #%" PRId64 "\n",
                   out_bytes(b1, sizeof(b1), (double)ret),
                   100.0 * (double)ret / (double)(p->total ? p->total : 1),
                   p->stack, obj);
        hd_rows_free(r);
        r = NULL;
    } else {
        p->top_frame = "(smaller roots)";
    }
    if ((err = hd_tree_walk(db, &to, print_row, p)) < 0)
        goto done;
    if (o.n_pos == 1) {
        /* garbage is memory too: one frame, what gc.collect() frees (the
         * load's sum: a scan of every object took 0.6 s at 10 M) */
        int64_t junk = hd_meta_int(db, "unreachable_size");
        if (junk > 0 && folded)
            printf("garbage (unreachable) %" PRId64 "\n", junk);
        else if (junk >= to.threshold && !folded)
            printf("%10s %5.1f%%  garbage (unreachable: gc.collect() frees "
                   "it)\n", out_bytes(b1, sizeof(b1), (double)junk),
                   100.0 * (double)junk / (double)(p->total ? p->total : 1));
    }
    err = 0;
done:
    rc = err < 0 ? cli_fail("tree", err) : HD_EXIT_OK;
    free(p);
    hd_rows_free(r);
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_tree = {
    "tree", "the dominator tree grouped by type and label; --format folded "
    "for flame graphs",
    "DB [OBJ] [--threshold PERCENT] [-n N] [--depth D]\n"
    "        [--format table|folded]\n\n"
    "Rows group what an object dominates by type and label (\"dict\n"
    "['_CACHE']\"), or by type and kind of label (\"Request [*]\": any item\n"
    "or key) where no single one is big enough.  A row must retain\n"
    "--threshold percent of the heap (default 0.5; 0.01 for folded).  The table shows\n"
    "-n rows under each (default 20), --depth levels (default 6).\n"
    "--format folded: folded stacks weighted by bytes, for flamegraph.pl,\n"
    "inferno or speedscope (every level; ';' in a frame is written ',').",
    run};
