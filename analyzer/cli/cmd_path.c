/* heapdig — MIT licence.
 *
 * cmd_path.c: `heapdig path` — the shortest labelled chain of references
 * from a root to an object, as a person reads it:
 *   sys.modules → ['app'] → .__dict__ → ['_CACHE'] → ['user:42'] → <User 0x7f..>
 * --exclude ignores a retainer (object or type) and searches again.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The expression for the chain's first i + 1 objects, or NULL. */
static const char *
step_python(char *buf, size_t cap, hd_db *db, const hd_chain *c, size_t i)
{
    hd_chain prefix = *c;
    prefix.n = i + 1;
    return hd_chain_python(buf, cap, db, &prefix);
}

/* {"object": .., "root": .., "python": .., "steps": [...]} */
static void
print_json(out_json *j, hd_db *db, const hd_chain *c, int64_t obj,
           int with_object)
{
    char desc[160], py[4096];
    oj_obj(j);
    if (with_object) {
        oj_key(j, "object");
        oj_int(j, obj);
    }
    oj_key(j, "root");
    oj_str(j, c->labels[0]);
    oj_key(j, "python");
    oj_str(j, hd_chain_python(py, sizeof(py), db, c));
    oj_key(j, "steps");
    oj_arr(j);
    for (size_t i = 0; i < c->n; i++) {
        oj_obj(j);
        oj_key(j, "id");
        oj_int(j, c->ids[i]);
        oj_key(j, "label");
        oj_str(j, i ? c->labels[i] : NULL);
        oj_key(j, "weak");
        oj_bool(j, c->weak[i]);
        oj_key(j, "object");
        oj_str(j, hd_obj_describe(desc, sizeof(desc), db, c->ids[i]));
        oj_key(j, "python");
        oj_str(j, step_python(py, sizeof(py), db, c, i));
        oj_end(j);
    }
    oj_end(j);
    oj_end(j);
}

/* One row per step; with a leading chain number when chain > 0. */
static void
print_csv(out_csv *csv, hd_db *db, const hd_chain *c, long chain)
{
    char desc[160], py[4096];
    for (size_t i = 0; i < c->n; i++) {
        if (chain > 0)
            oc_int(csv, chain);
        oc_int(csv, (int64_t)i);
        oc_int(csv, c->ids[i]);
        oc_str(csv, c->labels[i]);
        oc_str(csv, c->weak[i] ? "weak" : "strong");
        oc_str(csv, hd_obj_describe(desc, sizeof(desc), db, c->ids[i]));
        oc_str(csv, step_python(py, sizeof(py), db, c, i));
        oc_row(csv);
    }
}

/* root → label → label → <object>, and the chain as Python if it has one */
static void
print_arrows(hd_db *db, const hd_chain *c, int64_t obj)
{
    char desc[160], lab[4096], py[4096];
    printf("%s", c->labels[0] && c->labels[0][0]
                     ? out_label(lab, sizeof(lab), c->labels[0])
                     : hd_obj_describe(desc, sizeof(desc), db, c->ids[0]));
    /* An unnamed hop is shown as its object; the last one is the object
     * the line ends with, so it is not shown twice. */
    for (size_t i = 1; i < c->n; i++) {
        if (c->labels[i] == NULL && i + 1 == c->n && c->ids[i] == obj) {
            printf(" %s %s\n", c->weak[i] ? "~>" : "→",
                   hd_obj_describe(desc, sizeof(desc), db, obj));
            goto python;
        }
        printf(" %s %s", c->weak[i] ? "~>" : "→",
               c->labels[i] ? out_label(lab, sizeof(lab), c->labels[i])
                            : hd_obj_describe(desc, sizeof(desc), db,
                                              c->ids[i]));
    }
    printf(" → %s\n", hd_obj_describe(desc, sizeof(desc), db, obj));
python:
    if (hd_chain_python(py, sizeof(py), db, c))
        printf("as Python: %s\n", out_label(lab, sizeof(lab), py));
}

/* Each hop's label and the object it reaches (its type, address, value),
 * the label column padded by display width (CJK is two wide). */
static void
print_steps(hd_db *db, const hd_chain *c)
{
    char desc[160], lab[4096];
    size_t w = 28;
    for (size_t i = 1; i < c->n; i++)
        if (c->labels[i] &&
            hd_text_width(out_label(lab, sizeof(lab), c->labels[i])) > w)
            w = hd_text_width(lab) < 60 ? hd_text_width(lab) : 60;
    for (size_t i = 0; i < c->n; i++) {
        const char *l = i ? (c->labels[i] ? out_label(lab, sizeof(lab),
                                                      c->labels[i])
                                          : "(unnamed)")
                          : "(root)";
        size_t lw = hd_text_width(l);
        printf("  %2zu  %s%*s %s\n", i, l, (int)(lw < w ? w - lw : 0), "",
               hd_obj_describe(desc, sizeof(desc), db, c->ids[i]));
    }
}

static const cli_option OPTIONS[] = {
    OPT_FORMAT, OPT_EXCLUDE, OPT_WEAK, CLI_OPTION("--all", NULL, TAKES_COUNT, all),
    OPT_END};

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    hd_chain *c = NULL;
    hd_chain_opts co;
    out_csv csv;
    int64_t obj, ex_ids[CLI_MAX_EXCLUDE];
    const char *ex_types[CLI_MAX_EXCLUDE];
    oc_init(&csv, stdout);
    int rc = cli_parse(&hd_cmd_path, &o, argc, argv, OPTIONS);
    if (rc)
        return rc;
    if ((rc = cli_open(&hd_cmd_path, &o, 1, &db, &obj)))
        return rc;
    memset(&co, 0, sizeof(co));
    for (int i = 0; i < o.n_exclude; i++) {
        if (cli_looks_like_object(o.exclude[i])) {
            int err = hd_obj_resolve(&ex_ids[co.n_exclude_ids], db,
                                     o.exclude[i]);
            if (err < 0) {
                rc = cli_fail("path --exclude", err);
                goto done;
            }
            co.n_exclude_ids++;
        } else
            ex_types[co.n_exclude_types++] = o.exclude[i];
    }
    co.exclude_ids = ex_ids;
    co.exclude_types = ex_types;
    co.weak = o.weak;
    int err;
    if (o.all > 0) {
        hd_chain **all = NULL;
        size_t n = 0;
        if ((err = hd_refchain_all(&all, &n, db, obj, (size_t)o.all, &co)) <
            0) {
            rc = cli_fail("path", err);
            goto done;
        }
        out_json j;
        oj_init(&j, stdout);
        if (o.format == OUT_JSON) {
            oj_obj(&j);
            oj_key(&j, "object");
            oj_int(&j, obj);
            oj_key(&j, "chains");
            oj_arr(&j);
        }
        else if (o.format == OUT_CSV)
            oc_header(&csv, (const char *const[]){"chain", "step", "id",
                                                  "label", "kind", "object",
                                                  "python", NULL});
        for (size_t k = 0; k < n; k++) {
            if (o.format == OUT_JSON) {
                print_json(&j, db, all[k], obj, 0);
            } else if (o.format == OUT_CSV) {
                print_csv(&csv, db, all[k], (long)k + 1);
            } else {
                printf("%s%zu. ", k ? "\n" : "", k + 1);
                print_arrows(db, all[k], obj);
                print_steps(db, all[k]);
            }
            hd_chain_free(all[k]);
        }
        free(all);
        if (o.format == OUT_JSON)
            oj_done(&j);
        else if (o.format == OUT_TABLE && n == 0)
            printf("no root reaches it through any of its holders\n");
        goto done;
    }
    if ((err = hd_refchain_find(&c, db, obj, &co)) < 0) {
        rc = cli_fail("path", err);
        goto done;
    }
    if (o.format == OUT_JSON) {
        out_json j;
        oj_init(&j, stdout);
        print_json(&j, db, c, obj, 1);
        oj_done(&j);
    } else if (o.format == OUT_CSV) {
        oc_header(&csv, (const char *const[]){"step", "id", "label", "kind",
                                              "object", "python", NULL});
        print_csv(&csv, db, c, 0);
    } else {
        print_arrows(db, c, obj);
        putchar('\n');
        print_steps(db, c);
    }
done:
    hd_chain_free(c);
    hd_db_close(db);
    return rc;
}

const hd_cmd hd_cmd_path = {
    "path", "why is it alive: the shortest chain of references from a root",
    "DB OBJ [--exclude TYPE|OBJ ...] [--weak] [--all N] [--format table|json|csv]\n\n"
    "--all N: the shortest chain through each of its direct holders, up to\n"
    "N, shortest first (Eclipse MAT's paths to GC roots).\n"
    "--exclude ignores a retainer (a type name, or an object) and finds the\n"
    "next shortest chain; --weak lets the chain pass through weak references\n"
    "(shown as ~>).",
    run};
