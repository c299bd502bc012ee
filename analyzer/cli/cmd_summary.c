/* heapdig — MIT licence.
 *
 * cmd_summary.c: `heapdig summary DB` — totals and the type histogram.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char *const meta_keys[] = {
    "python_version", "pid", "time", "argv", "executable", "objects", "refs",
    "roots", "types", "total_size", "truncated", "dangling_refs"};
#define N_META (sizeof(meta_keys) / sizeof(meta_keys[0]))

/* Prints text in lines of at most width columns, each after indent. */
static void
print_wrapped(const char *text, const char *indent, int width)
{
    while (*text) {
        int n = (int)strlen(text), cut = n;
        if (n > width) {
            for (cut = width; cut > 0 && text[cut] != ' '; cut--)
                ;
            if (cut == 0)
                cut = width;
        }
        printf("%s%.*s\n", indent, cut, text);
        text += cut;
        while (*text == ' ')
            text++;
    }
}

/* "Is it even Python objects?": the RSS split into what the objects, the
 * allocators' free space and nothing explain. */
static void
print_memory(const hd_memory *m)
{
    char b[32];
    const char *advice = hd_memory_advice(m);
    double rss = (double)m->rss;
    hd_memory_share parts[HD_MEMORY_SHARES];
    if (!m->present)
        return;
    hd_memory_shares(m, parts);
    printf("Memory: RSS %s when the dump began\n",
           out_bytes(b, sizeof(b), rss));
    for (size_t i = 0; i < HD_MEMORY_SHARES; i++)
        if (parts[i].bytes >= 0)
            printf("  %-31s %12s %4.0f%%\n", parts[i].what,
                   out_bytes(b, sizeof(b), (double)parts[i].bytes),
                   rss > 0 ? 100.0 * (double)parts[i].bytes / rss : 0.0);
    printf("    (C extensions, native buffers, thread stacks, memory-mapped "
           "files)\n");
    if (m->unaccounted_allocated > 0)
        printf("    %s of it was handed out by the allocators to C code\n",
               out_bytes(b, sizeof(b), (double)m->unaccounted_allocated));
    if (advice)
        print_wrapped(advice, "  ", 74);
    printf("\n");
}

/* The meta values the summary shows; meta[k] is NULL where absent. */
static int
read_meta(hd_db *db, char **meta)
{
    hd_rows *rows = NULL;
    int err = 0;
    for (size_t k = 0; k < N_META && err >= 0; k++) {
        const char *p[1] = {meta_keys[k]};
        if ((err = hd_query(&rows, db, "SELECT value FROM meta WHERE key=?1",
                            1, p)) < 0 ||
            (err = hd_rows_next(rows)) < 0)
            break;
        if (err == 1 && hd_rows_text(rows, 0) &&
            (meta[k] = strdup(hd_rows_text(rows, 0))) == NULL)
            err = HD_ENOMEM;
        hd_rows_free(rows);
        rows = NULL;
    }
    hd_rows_free(rows);
    return err < 0 ? err : 0;
}

static int
print_json(hd_db *db, char **meta, hd_rows *types, const hd_memory *mem)
{
    out_json j;
    hd_rows *rows = NULL;
    int64_t waste = 0;
    int err;
    oj_init(&j, stdout);
    oj_obj(&j);
    oj_key(&j, "dump");
    oj_obj(&j);
    for (size_t k = 0; k < N_META; k++) {
        oj_key(&j, meta_keys[k]);
        /* numbers stay numbers; argv is a JSON array where the dump holds
         * a well-formed one, else a string */
        if (!strcmp(meta_keys[k], "truncated")) {
            oj_bool(&j, meta[k] && atoi(meta[k]));
        } else if (meta[k] && meta[k][0] &&
                   (strspn(meta[k], "0123456789") == strlen(meta[k]) ||
                    (!strcmp(meta_keys[k], "argv") &&
                     out_is_json_string_array(meta[k])))) {
            oj_raw(&j);
            fputs(meta[k], stdout);
        } else {
            oj_str(&j, meta[k]);
        }
    }
    oj_end(&j);
    oj_key(&j, "types");
    oj_raw(&j);
    if ((err = out_rows(stdout, types, OUT_JSON_NESTED)) < 0)
        goto done;
    oj_key(&j, "memory");
    if (!mem->present) {
        oj_arr(&j);
        oj_end(&j);
    } else {
        oj_raw(&j);
        if ((err = hd_query(&rows, db, "SELECT part, bytes, note FROM memory "
                            "ORDER BY rowid", 0, NULL)) < 0 ||
            (err = out_rows(stdout, rows, OUT_JSON_NESTED)) < 0)
            goto done;
    }
    if ((err = hd_waste_total(db, &waste)) < 0)
        goto done;
    oj_key(&j, "waste_saved_size");
    oj_int(&j, waste);
    oj_done(&j);
done:
    hd_rows_free(rows);
    return err;
}

#define M(k) (meta[k] ? meta[k] : "?")

static int
print_table(hd_db *db, char **meta, hd_rows *types, const hd_memory *mem,
            const char *by, long limit)
{
    char v[512], a[2048]; /* meta comes from the dump: input */
    char b1[32], b2[32], b3[32];
    int64_t waste = 0;
    int err;
    hd_text_escape(v, sizeof(v), M(0), strlen(M(0)), HD_TEXT_PLAIN, 200);
    hd_text_escape(a, sizeof(a), M(3), strlen(M(3)), HD_TEXT_RENDERED, 0);
    printf("Python %s, pid %s, dumped %s\n", v, M(1), M(2));
    printf("argv: %s\n\n", a);
    print_memory(mem);
    printf("  objects     %14s\n", out_count(b1, sizeof(b1), atoll(M(5))));
    printf("  references  %14s\n", out_count(b2, sizeof(b2), atoll(M(6))));
    printf("  roots       %14s\n", out_count(b3, sizeof(b3), atoll(M(7))));
    printf("  types       %14s\n", out_count(b1, sizeof(b1), atoll(M(8))));
    printf("  total size  %14s  (shallow, as sys.getsizeof counts it)\n",
           out_bytes(b2, sizeof(b2), atof(M(9))));
    if (hd_waste_total(db, &waste) == 0 && waste > 0)
        printf("  waste       %14s  (duplicate strings, empty containers, "
               "__dict__s: heapdig waste)\n",
               out_bytes(b3, sizeof(b3), (double)waste));
    if (meta[10] && atoi(meta[10]))
        printf("  WARNING: the dump was truncated; this is what it held\n");
    if (meta[11] && atoi(meta[11]))
        printf("  WARNING: %s references point outside the dump\n", meta[11]);
    printf("\nTypes by %s (top %ld):\n", by, limit);
    if ((err = out_rows(stdout, types, OUT_TABLE)) < 0)
        return err;
    cli_print_more(db, "SELECT count(*) FROM type_stats", 0, NULL, limit,
                   OUT_TABLE);
    return 0;
}

static const cli_option OPTIONS[] = {OPT_FORMAT, OPT_LIMIT, OPT_BY, OPT_END};

static int
run(int argc, char **argv)
{
    cli_opts o;
    hd_db *db = NULL;
    hd_rows *types = NULL;
    char *meta[N_META] = {0};
    char sql[512];
    int err = 0, rc = cli_parse(&hd_cmd_summary, &o, argc, argv, OPTIONS);
    hd_memory mem;

    if (rc)
        return rc;
    const char *by = cli_choice(&hd_cmd_summary, "--by", o.by,
                                (const char *const[]){"size", "count", NULL},
                                &rc);
    if (by == NULL || (rc = cli_open(&hd_cmd_summary, &o, 0, &db, NULL)))
        return rc;
    snprintf(sql, sizeof(sql),
             "SELECT name AS type, module, count, size, "
             "round(100.0 * size / (SELECT max(value, 1) FROM meta WHERE "
             "key = 'total_size'), 1) "
             "AS percent FROM type_stats ORDER BY %s DESC, name LIMIT %ld",
             by, o.limit);
    if ((err = read_meta(db, meta)) < 0 ||
        (err = hd_memory_read(db, &mem)) < 0 ||
        (err = hd_query(&types, db, sql, 0, NULL)) < 0)
        goto done;
    if (o.format == OUT_JSON)
        err = print_json(db, meta, types, &mem);
    else if (o.format == OUT_CSV)
        err = out_rows(stdout, types, OUT_CSV);
    else
        err = print_table(db, meta, types, &mem, by, o.limit);
done:
    rc = err < 0 ? cli_fail("summary", err) : HD_EXIT_OK;
    hd_rows_free(types);
    hd_db_close(db);
    for (size_t k = 0; k < N_META; k++)
        free(meta[k]);
    return rc;
}

const hd_cmd hd_cmd_summary = {
    "summary", "totals and the type histogram of a loaded database",
    "DB [--by size|count] [-n N] [--format table|json|csv]", run};
