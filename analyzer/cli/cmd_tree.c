/* heapdig — MIT licence.
 *
 * cmd_tree.c: `heapdig tree DB [OBJ]`: the dominator tree, grouped.
 *
 * What an object dominates is grouped the way a person reads it: by type
 * and by the label it is held under ("dict ['_CACHE']"), and where no
 * single one is big enough, by type and kind of label ("Request [*]": any
 * item or key), so 20,000 cached requests are one row, and so are their
 * 20,000 headers dicts below it.  A group retaining less than --threshold
 * of the heap is not a row; its bytes count in its parent's own.
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

typedef struct child {
    int64_t id, retained, size, type;
    char *label; /* as rendered, or NULL */
} child;

typedef struct walk {
    hd_db *db;
    hd_rows *kids, *top, *type_name;
    int64_t threshold, total;
    int folded, max_depth;
    long max_groups;
    char stack[65536]; /* the folded frames so far */
    char inconsistent[400]; /* why the walk stopped, if the database lies */
    int err;
} walk;

#define LABEL_FROM_IDOM                                                       \
    "(SELECT text FROM labels WHERE id = o.held_as)"

/* "[*]" for an item or key of a container, else the label. */
static const char *
kind_of(const char *label)
{
    return label && label[0] == '[' ? "[*]" : label;
}

static int
cmp_exact(const void *a, const void *b)
{
    const child *x = a, *y = b;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    if (!x->label || !y->label)
        return !x->label - !y->label;
    return strcmp(x->label, y->label);
}

static int
cmp_kind(const void *a, const void *b)
{
    const child *x = a, *y = b;
    const char *kx = kind_of(x->label), *ky = kind_of(y->label);
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    if (!kx || !ky)
        return !kx - !ky;
    return strcmp(kx, ky);
}

typedef struct group {
    size_t first, n;   /* a run of the sorted children */
    int64_t retained, size;
    int by_kind;
} group;

static int
by_retained(const void *a, const void *b)
{
    const group *x = a, *y = b;
    return x->retained < y->retained ? 1 : x->retained > y->retained ? -1 : 0;
}

/* The children of every object in ids (what they dominate). */
static int
children_of(walk *w, const int64_t *ids, size_t n, int top, child **out,
            size_t *n_out)
{
    size_t cap = 0, len = 0;
    child *c = NULL;
    int err = 0;
    for (size_t i = 0; i < (top ? 1 : n) && err >= 0; i++) {
        hd_rows *r = top ? w->top : w->kids;
        int64_t p[1] = {top ? 0 : ids[i]};
        if ((err = hd_rows_rerun(r, 1, p)) < 0)
            break;
        while ((err = hd_rows_next(r)) == 1) {
            if (len == cap) {
                cap = cap ? 2 * cap : 64;
                child *g = realloc(c, cap * sizeof(*c));
                if (g == NULL) {
                    err = HD_ENOMEM;
                    break;
                }
                c = g;
            }
            const char *l = hd_rows_text(r, 3);
            c[len] = (child){hd_rows_int(r, 0), hd_rows_int(r, 1),
                             hd_rows_int(r, 4), hd_rows_int(r, 2),
                             l ? strdup(l) : NULL};
            len++;
        }
    }
    *out = c;
    *n_out = len;
    return err < 0 ? err : 0;
}

/* The row's text: "Request [*]", heap text escaped. */
static const char *
frame_text(walk *w, char *buf, size_t cap, int64_t type, const char *label)
{
    char tn[256] = "?", lab[1024];
    int64_t p[1] = {type};
    if (hd_rows_rerun(w->type_name, 1, p) == 0 &&
        hd_rows_next(w->type_name) == 1 && hd_rows_text(w->type_name, 0)) {
        const char *t = hd_rows_text(w->type_name, 0);
        hd_text_escape(tn, sizeof(tn), t, strlen(t), HD_TEXT_PLAIN, 80);
    }
    if (label)
        snprintf(buf, cap, "%s %s", tn, out_label(lab, sizeof(lab), label));
    else
        snprintf(buf, cap, "%s", tn);
    if (w->folded)
        for (char *s = buf; *s; s++)
            if (*s == ';')
                *s = ',';
    return buf;
}

static void emit(walk *w, const int64_t *ids, size_t n, int64_t retained,
                 int64_t size, size_t stack_len, int depth, int top);

/* Groups the children (exactly, then by kind of label for what is left)
 * and walks into each group that retains the threshold.  Returns the bytes
 * the groups shown retain. */
static int64_t
walk_groups(walk *w, child *c, size_t n, size_t stack_len, int depth)
{
    group *g = NULL;
    size_t ng = 0, i;
    int64_t shown = 0;
    int64_t *ids = NULL;
    char text[1400], b1[32], c1[32];
    if (n == 0)
        return 0;
    if ((g = calloc(n, sizeof(*g))) == NULL ||
        (ids = malloc(n * sizeof(*ids))) == NULL) {
        w->err = HD_ENOMEM;
        goto done;
    }
    /* exact groups that are big enough stay; the rest regroup by kind */
    qsort(c, n, sizeof(*c), cmp_exact);
    size_t keep = 0;
    for (i = 0; i < n;) {
        size_t j = i;
        int64_t sum = 0, size = 0;
        for (; j < n && cmp_exact(&c[i], &c[j]) == 0; j++) {
            sum += c[j].retained;
            size += c[j].size;
        }
        if (sum >= w->threshold)
            g[ng++] = (group){i, j - i, sum, size, 0};
        i = j;
    }
    /* move the kept runs to the front, the rest after them */
    child *tmp = malloc(n * sizeof(*c));
    if (tmp == NULL) {
        w->err = HD_ENOMEM;
        goto done;
    }
    char *used = calloc(n, 1);
    if (used == NULL) {
        free(tmp);
        w->err = HD_ENOMEM;
        goto done;
    }
    for (size_t k = 0; k < ng; k++) {
        memcpy(tmp + keep, c + g[k].first, g[k].n * sizeof(*c));
        memset(used + g[k].first, 1, g[k].n);
        g[k].first = keep;
        keep += g[k].n;
    }
    size_t rest = keep;
    for (i = 0; i < n; i++)
        if (!used[i])
            tmp[rest++] = c[i];
    memcpy(c, tmp, n * sizeof(*c));
    free(tmp);
    free(used);
    qsort(c + keep, n - keep, sizeof(*c), cmp_kind);
    for (i = keep; i < n;) {
        size_t j = i;
        int64_t sum = 0, size = 0;
        for (; j < n && cmp_kind(&c[i], &c[j]) == 0; j++) {
            sum += c[j].retained;
            size += c[j].size;
        }
        if (sum >= w->threshold)
            g[ng++] = (group){i, j - i, sum, size, 1};
        i = j;
    }
    qsort(g, ng, sizeof(*g), by_retained);
    for (size_t k = 0; k < ng && w->err == 0; k++) {
        const child *first = &c[g[k].first];
        shown += g[k].retained;
        if (!w->folded && (long)k == w->max_groups) {
            int64_t more = 0;
            for (size_t m = k; m < ng; m++)
                more += g[m].retained;
            printf("%*s… %zu more row%s retaining %s\n", 2 * depth + 21, "",
                   ng - k, ng - k > 1 ? "s" : "",
                   out_bytes(b1, sizeof(b1), (double)more));
            break;
        }
        frame_text(w, text, sizeof(text), first->type,
                   g[k].by_kind ? kind_of(first->label) : first->label);
        for (size_t m = 0; m < g[k].n; m++)
            ids[m] = c[g[k].first + m].id;
        size_t len = stack_len;
        if (w->folded) {
            int k2 = snprintf(w->stack + len, sizeof(w->stack) - len, "%s%s",
                              len ? ";" : "", text);
            if (k2 < 0 || (size_t)k2 >= sizeof(w->stack) - len)
                continue; /* deeper than any picture shows */
            len += (size_t)k2;
        } else {
            double pct = 100.0 * (double)g[k].retained /
                         (double)(w->total ? w->total : 1);
            char cnt[40] = "";
            if (g[k].n > 1)
                snprintf(cnt, sizeof(cnt), "%s × ",
                         out_count(c1, sizeof(c1), (long long)g[k].n));
            printf("%10s %5.1f%%  %*s%s%s\n",
                   out_bytes(b1, sizeof(b1), (double)g[k].retained), pct,
                   2 * depth, "", cnt, text);
        }
        emit(w, ids, g[k].n, g[k].retained, g[k].size, len, depth + 1, 0);
    }
done:
    free(g);
    free(ids);
    return shown;
}

/* Walks into a row (the objects in ids, retaining `retained` in all, of
 * `size` bytes themselves). */
static void
emit(walk *w, const int64_t *ids, size_t n, int64_t retained, int64_t size,
     size_t stack_len, int depth, int top)
{
    child *c = NULL;
    size_t nc = 0;
    int64_t shown = 0, below = 0;
    if (w->err || (!w->folded && depth > w->max_depth) || depth > 1000)
        return;
    if ((w->err = children_of(w, ids, n, top, &c, &nc)) < 0)
        goto done;
    /* what a row retains is itself and what it dominates: a database that
     * says otherwise (an idom loop below it) is not shown as if whole */
    for (size_t i = 0; i < nc; i++)
        below += c[i].retained;
    if (!top && below != retained - size) {
        char more[48] = "";
        if (n > 1)
            snprintf(more, sizeof(more), " (and %zu more)", n - 1);
        snprintf(w->inconsistent, sizeof(w->inconsistent), "the database "
                 "is inconsistent: #%" PRId64 "%s retains %" PRId64 " bytes, "
                 "but is %" PRId64 " itself and dominates %" PRId64 ": load "
                 "the dump again", ids[0], more, retained, size, below);
        w->err = HD_EINVAL;
        goto done;
    }
    shown = walk_groups(w, c, nc, stack_len, depth);
    if (top) { /* the roots too small to be a row: one frame */
        retained = 0;
        for (size_t i = 0; i < nc; i++)
            retained += c[i].retained;
        if (w->folded && retained - shown > 0)
            printf("(smaller roots) %" PRId64 "\n", retained - shown);
    } else if (w->folded && retained - shown > 0)
        printf("%.*s %" PRId64 "\n", (int)stack_len, w->stack,
               retained - shown);
done:
    for (size_t i = 0; i < nc; i++)
        free(c[i].label);
    free(c);
}

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    hd_rows *r = NULL;
    walk *w = NULL;
    int64_t obj = 0;
    char b1[32], text[1400];
    int rc, err = 0, folded = 0;

    rc = cli_parse(&hd_cmd_tree, &o, argc, argv, OPT_OWN_FORMAT | OPT_LIMIT |
                   OPT_THRESHOLD | OPT_DEPTH);
    if (rc)
        return rc;
    const char *format = cli_choice(&hd_cmd_tree, "--format", o.own_format,
                                    (const char *const[]){"table", "folded",
                                                          NULL}, &rc);
    if (format == NULL)
        return rc;
    folded = !strcmp(format, "folded");
    double pct = o.threshold > 0 ? o.threshold : folded ? 0.01 : 0.5;
    if ((rc = cli_open(&hd_cmd_tree, &o, o.n_pos > 1, &db, &obj)))
        return rc;
    if ((w = calloc(1, sizeof(*w))) == NULL) {
        err = HD_ENOMEM;
        goto fail;
    }
    w->db = db;
    w->folded = folded;
    w->max_depth = o.depth ? o.depth : 6;
    w->max_groups = o.limit;
    w->total = hd_meta_int(db, "total_size");
    w->threshold = (int64_t)((double)w->total * pct / 100.0);
    if (w->threshold < 1)
        w->threshold = 1;
    if ((err = hd_db_check_dominators(db)) < 0 ||
        (err = hd_query(&w->kids, db, "SELECT o.id, o.retained, o.type, "
                        LABEL_FROM_IDOM ", o.size FROM objects o WHERE "
                        "o.idom = ?1", 0, NULL)) < 0 ||
        (err = hd_query(&w->top, db, "SELECT o.id, o.retained, o.type, "
                        "coalesce((SELECT name FROM roots WHERE object = o.id LIMIT 1),"
                        " '(held by several roots)'), o.size "
                        "FROM objects o WHERE o.idom IS NULL AND o.reachable "
                        "= 1 AND ?1 = ?1", 0, NULL)) < 0 ||
        (err = hd_query(&w->type_name, db, "SELECT name FROM types WHERE id "
                        "= ?1", 0, NULL)) < 0)
        goto fail;
    if (o.n_pos > 1) { /* one object's subtree: it is the first frame */
        int64_t p[1] = {obj};
        if ((err = hd_query(&r, db, "SELECT type, retained, size FROM objects "
                            "WHERE id = ?1", 0, NULL)) < 0 ||
            (err = hd_rows_rerun(r, 1, p)) < 0 || hd_rows_next(r) != 1)
            goto fail;
        int64_t type = hd_rows_int(r, 0), ret = hd_rows_int(r, 1),
                size = hd_rows_int(r, 2);
        frame_text(w, text, sizeof(text), type, NULL);
        size_t len = (size_t)snprintf(w->stack, sizeof(w->stack), "%s", text);
        if (!folded)
            printf("%10s %5.1f%%  %s #%" PRId64 "\n",
                   out_bytes(b1, sizeof(b1), (double)ret),
                   100.0 * (double)ret / (double)(w->total ? w->total : 1),
                   text, obj);
        emit(w, &obj, 1, ret, size, len, 1, 0);
    } else {
        emit(w, NULL, 0, 0, 0, 0, 0, 1);
        /* garbage is memory too: one frame, what gc.collect() frees */
        hd_rows_free(r);
        r = NULL;
        if ((err = hd_query(&r, db, "SELECT coalesce(sum(size), 0) FROM "
                            "objects WHERE reachable = 0", 0, NULL)) < 0 ||
            hd_rows_next(r) != 1)
            goto fail;
        int64_t junk = hd_rows_int(r, 0);
        if (junk > 0 && folded)
            printf("garbage (unreachable) %" PRId64 "\n", junk);
        else if (junk >= w->threshold)
            printf("%10s %5.1f%%  garbage (unreachable: gc.collect() frees "
                   "it)\n", out_bytes(b1, sizeof(b1), (double)junk),
                   100.0 * (double)junk / (double)(w->total ? w->total : 1));
    }
    if ((err = w->err) < 0)
        goto fail;
    rc = HD_EXIT_OK;
    goto done;
fail:
    if (w && w->inconsistent[0]) {
        fprintf(stderr, "heapdig: tree: %s\n", w->inconsistent);
        rc = HD_EXIT_ERROR;
    } else {
        rc = cli_fail("tree", err ? err : HD_ESQL);
    }
done:
    if (w) {
        hd_rows_free(w->kids);
        hd_rows_free(w->top);
        hd_rows_free(w->type_name);
    }
    free(w);
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
