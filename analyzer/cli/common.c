/* heapdig — MIT licence.
 *
 * common.c: the option parser every query command shares, and opening the
 * database plus resolving object arguments with errors said once.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* strtol and strtod take more than a person means by a number: leading
 * blanks, "+", hex, "inf", "nan".  Only digits, one sign in front, and for
 * decimals a point and an exponent. */
static int
plain_number(const char *s, int decimal)
{
    const char *p = s + (*s == '-');
    if (!isdigit((unsigned char)*p) && !(decimal && *p == '.'))
        return 0;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p) &&
            !(decimal && strchr(".eE+-", *p)))
            return 0;
    return 1;
}

int
cli_number(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = plain_number(s, 0) ? strtol(s, &end, 10) : 0;
    if (!plain_number(s, 0) || errno || *end)
        return -1;
    *out = v;
    return 0;
}

int
cli_decimal(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = plain_number(s, 1) ? strtod(s, &end) : 0;
    if (!plain_number(s, 1) || errno || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int
cli_percent(const char *s, double *out)
{
    double v;
    if (cli_decimal(s, &v) < 0 || !(v > 0 && v <= 100))
        return -1;
    *out = v;
    return 0;
}


static int
take_value(const hd_cmd *cmd, cli_opts *o, const cli_option *opt,
           const char *a, const char *val)
{
    char *field = (char *)o + opt->field;
    long n;
    switch (opt->kind) {
    case TAKES_FORMAT:
        if (out_parse_format(val, (out_format *)(void *)field) < 0)
            return cli_usage(cmd, "--format table, json or csv");
        return 0;
    case TAKES_COUNT:
        if (cli_number(val, &n) < 0 || n <= 0)
            return cli_usage(cmd, "%s takes a positive number", a);
        *(long *)(void *)field = n;
        return 0;
    case TAKES_DEPTH:
        if (cli_number(val, &n) < 0 || n <= 0 || n > 1000)
            return cli_usage(cmd, "%s takes a positive number (at most "
                             "1000)", a);
        *(int *)(void *)field = (int)n;
        return 0;
    case TAKES_SECONDS: {
        double s;
        if (cli_decimal(val, &s) < 0 || !(s > 0) || s > 1e7)
            return cli_usage(cmd, "%s takes a positive number of seconds, "
                             "not '%s'", a, val);
        *(double *)(void *)field = s;
        return 0;
    }
    case TAKES_PERCENT:
        if (cli_percent(val, (double *)(void *)field) < 0)
            return cli_usage(cmd, "%s takes a percentage in (0, 100], not "
                             "'%s'", a, val);
        return 0;
    case TAKES_TEXT:
        *(const char **)(void *)field = val;
        return 0;
    case TAKES_LIST:
        if (o->n_exclude == CLI_MAX_EXCLUDE)
            return cli_usage(cmd, "at most %d %s", CLI_MAX_EXCLUDE, a);
        o->exclude[o->n_exclude++] = val;
        return 0;
    case MODE:
        *(int *)(void *)field = opt->mode;
        return 0;
    case FLAG:
        break;
    }
    *(int *)(void *)field = 1;
    return 0;
}

int
cli_parse(const hd_cmd *cmd, cli_opts *o, int argc, char **argv,
          const cli_option *options)
{
    int positional_only = 0, rc;
    uint64_t given = 0; /* by index in options */
    const char *mode_given = NULL;
    memset(o, 0, sizeof(*o));
    o->limit = 20;
    o->mode = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const cli_option *opt = NULL;
        if (!positional_only && !strcmp(a, "--")) {
            positional_only = 1; /* "--": the rest are arguments */
            continue;
        }
        for (size_t k = 0; !positional_only && k < 64 && options[k].name; k++)
            if (!strcmp(a, options[k].name) ||
                (options[k].alias && !strcmp(a, options[k].alias))) {
                opt = &options[k];
                break;
            }
        if (opt) {
            uint64_t bit = (uint64_t)1 << (opt - options);
            if (opt->kind == MODE && mode_given && strcmp(mode_given, opt->name))
                return cli_usage(cmd, "%s and %s: one at a time", mode_given,
                                 opt->name);
            /* a flag twice says the same; a value twice, which one? */
            if ((given & bit) && opt->kind != TAKES_LIST && opt->kind != FLAG)
                return cli_usage(cmd, "%s given twice", opt->name);
            given |= bit;
            if (opt->kind == MODE)
                mode_given = opt->name;
            int flag = opt->kind == FLAG || opt->kind == MODE;
            if (!flag && i + 1 == argc)
                return cli_usage(cmd, "%s needs a value", a);
            if ((rc = take_value(cmd, o, opt, a, flag ? NULL : argv[++i])) != 0)
                return rc;
        } else if (!positional_only && a[0] == '-' && a[1]) {
            return cli_usage(cmd, "unknown option %s", a);
        } else if (o->n_pos < 3) {
            o->pos[o->n_pos++] = a;
        } else {
            return cli_usage(cmd, "too many arguments");
        }
    }
    return 0;
}

/* Whether path starts as a dump does (gzip, or the raw stream). */
static int
is_dump(const char *path)
{
    unsigned char m[4] = {0};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    size_t n = fread(m, 1, sizeof(m), f);
    fclose(f);
    return n >= 2 && ((m[0] == 0x1f && m[1] == 0x8b) ||
                      (n == 4 && !memcmp(m, "\x89HDG", 4)));
}

int
cli_is_database(const char *path)
{
    char head[16] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(head, 1, sizeof(head), f) : 0;
    if (f)
        fclose(f);
    return n == sizeof(head) && memcmp(head, "SQLite format 3", 16) == 0;
}

static int
same_file(const struct stat *st, const char *path)
{
    struct stat other;
    return path && stat(path, &other) == 0 && other.st_dev == st->st_dev &&
           other.st_ino == st->st_ino;
}

int
cli_output_ok(const hd_cmd *cmd, const char *out, int force,
              const char *const *inputs, int n_inputs)
{
    struct stat st;
    if (strcmp(out, "-") == 0 || stat(out, &st) < 0 || !S_ISREG(st.st_mode))
        return 0; /* new, standard output, or a device written into */
    for (int i = 0; i < n_inputs; i++)
        if (same_file(&st, inputs[i])) {
            fprintf(stderr, "heapdig: %s: %s is the %s it reads; the output "
                    "goes elsewhere (-o)\n", cmd->name, out,
                    is_dump(out) ? "dump" : "database");
            return HD_EXIT_ERROR;
        }
    if (!force && (is_dump(out) || cli_is_database(out))) {
        fprintf(stderr, "heapdig: %s: %s is a heapdig %s; not replacing it "
                "(--force does)\n", cmd->name, out,
                is_dump(out) ? "dump" : "database");
        return HD_EXIT_ERROR;
    }
    return 0;
}

static int
newer(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
           (sa.st_mtim.tv_sec > sb.st_mtim.tv_sec ||
            (sa.st_mtim.tv_sec == sb.st_mtim.tv_sec &&
             sa.st_mtim.tv_nsec >= sb.st_mtim.tv_nsec));
}

/* Where a dump in a folder heapdig may not write goes:
 * ${XDG_CACHE_HOME:-~/.cache}/heapdig/NAME-HASH.db, HASH of its absolute
 * path (two app.hdig of two folders are two databases); the folders are
 * made, private.  NULL if there is no such place. */
static char *
cache_path(const char *in)
{
    char abs[4096], dir[4096];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    uint64_t h = 1469598103934665603ull;
    if (realpath(in, abs) == NULL)
        return NULL;
    for (const char *s = abs; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    if (xdg && xdg[0] == '/')
        snprintf(dir, sizeof(dir), "%s/heapdig", xdg);
    else if (home && home[0])
        snprintf(dir, sizeof(dir), "%s/.cache/heapdig", home);
    else
        return NULL;
    for (char *s = dir + 1; *s; s++) /* mkdir -p */
        if (*s == '/') {
            *s = 0;
            mkdir(dir, 0700);
            *s = '/';
        }
    mkdir(dir, 0700);
    const char *base = strrchr(abs, '/');
    size_t n = strlen(dir) + strlen(base) + 24;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s-%016llx.db", dir, base, (unsigned long long)h);
    return out;
}

/* Whether heapdig may make files in the folder that holds path. */
static int
folder_writable(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    return access(dir, W_OK) == 0;
}

int
cli_database_for(const hd_cmd *cmd, const char *in, char **db_path)
{
    hd_load_stats st;
    hd_db *db = NULL;
    *db_path = NULL;
    if (!is_dump(in))
        return (*db_path = strdup(in)) ? 0 : cli_fail(cmd->name, HD_ENOMEM);
    size_t n = strlen(in) + 4;
    if ((*db_path = malloc(n)) == NULL)
        return cli_fail(cmd->name, HD_ENOMEM);
    snprintf(*db_path, n, "%s.db", in);
    /* a file there that is no database is not ours to replace */
    if (access(*db_path, F_OK) == 0 && !cli_is_database(*db_path)) {
        fprintf(stderr, "heapdig: %s: %s exists and is not a heapdig "
                "database; not replacing it (heapdig load --force does)\n",
                cmd->name, *db_path);
        free(*db_path);
        *db_path = NULL;
        return HD_EXIT_ERROR;
    }
    if (newer(*db_path, in) && hd_db_open(&db, *db_path) == 0) {
        hd_db_close(db);
        return 0; /* a finished database of this schema, newer: use it */
    }
    const char *why = "";
    if (!folder_writable(*db_path)) { /* a read-only folder: the cache */
        char *cached = cache_path(in);
        if (cached == NULL) {
            fprintf(stderr, "heapdig: %s: cannot write %s, and there is no "
                    "cache folder (HOME, XDG_CACHE_HOME): heapdig load %s "
                    "-o DB\n", cmd->name, *db_path, in);
            free(*db_path);
            *db_path = NULL;
            return HD_EXIT_ERROR;
        }
        free(*db_path);
        *db_path = cached;
        if (newer(*db_path, in) && hd_db_open(&db, *db_path) == 0) {
            hd_db_close(db);
            return 0;
        }
        why = " (its folder is read-only)";
    }
    fprintf(stderr, "heapdig: loading %s into %s%s\n", in, *db_path, why);
    int err = hd_load_file(&st, in, *db_path, NULL, NULL);
    if (err < 0 && !(err == HD_ETRUNCATED && st.truncated)) {
        free(*db_path);
        *db_path = NULL;
        return cli_fail(cmd->name, err);
    }
    return 0;
}

/* cli_open's database paths live until the process ends. */
static char *opened[4];

static void
free_opened(void)
{
    for (size_t i = 0; i < sizeof(opened) / sizeof(opened[0]); i++)
        free(opened[i]);
}

const char *
cli_database_arg(const hd_cmd *cmd, const char *in, int *rc)
{
    static int registered;
    size_t i = 0;
    while (i < sizeof(opened) / sizeof(opened[0]) && opened[i])
        i++;
    if (i == sizeof(opened) / sizeof(opened[0])) {
        *rc = cli_fail(cmd->name, HD_ENOMEM);
        return NULL;
    }
    if (!registered) {
        atexit(free_opened);
        registered = 1;
    }
    if ((*rc = cli_database_for(cmd, in, &opened[i])) != 0)
        return NULL;
    return opened[i];
}

/* --type and --exclude name types by the names Python gives them: one
 * that no object has is most likely a typo, and would answer nothing, so
 * say so (with the name of one that is close, when there is one). */
static void
warn_unknown_type(const hd_cmd *cmd, hd_db *db, const char *what,
                  const char *name)
{
    hd_rows *r = NULL;
    const char *p[1] = {name};
    int known = hd_query(&r, db, "SELECT 1 FROM types WHERE name = ?1 AND "
                         "count > 0", 1, p) == 0 && hd_rows_next(r) == 1;
    hd_rows_free(r);
    r = NULL;
    if (known)
        return;
    fprintf(stderr, "heapdig: %s: warning: no object of type '%s' in the "
            "heap", cmd->name, name);
    /* the same but for case, else one whose name holds it or is held in
     * it (four letters or more: 'Eq' is in 'requests' by chance) */
    if (hd_query(&r, db, "SELECT name FROM types WHERE count > 0 AND "
                 "(instr(lower(name), lower(?1)) OR (length(name) >= 4 AND "
                 "instr(lower(?1), lower(name)))) ORDER BY lower(name) = "
                 "lower(?1) DESC, length(name) DESC, count DESC LIMIT 1", 1,
                 p) == 0 &&
        hd_rows_next(r) == 1)
        fprintf(stderr, " (did you mean '%s'?)", hd_rows_text(r, 0));
    fprintf(stderr, "; %s names nothing\n", what);
    hd_rows_free(r);
}

int
cli_open(const hd_cmd *cmd, cli_opts *o, int need_obj, hd_db **db,
         int64_t *obj)
{
    int err;
    if (o->n_pos < 1)
        return cli_usage(cmd, "which database?");
    if (need_obj && o->n_pos < 2)
        return cli_usage(cmd, "which object? (0x address, id() or #row)");
    if (o->n_pos > 1 + need_obj)
        return cli_usage(cmd, "too many arguments");
    int rc;
    const char *path = cli_database_arg(cmd, o->pos[0], &rc);
    if (path == NULL)
        return rc;
    if ((err = hd_db_open(db, path)) < 0)
        return cli_fail(cmd->name, err);
    if (o->type)
        warn_unknown_type(cmd, *db, "--type", o->type);
    for (int i = 0; i < o->n_exclude; i++)
        if (!cli_looks_like_object(o->exclude[i]))
            warn_unknown_type(cmd, *db, "--exclude", o->exclude[i]);
    if (need_obj && (err = hd_obj_resolve(obj, *db, o->pos[1])) < 0) {
        hd_db_close(*db);
        *db = NULL;
        return cli_fail(cmd->name, err);
    }
    return 0;
}

const char *
cli_choice(const hd_cmd *cmd, const char *opt, const char *given,
           const char *const *choices, int *rc)
{
    char list[256] = "";
    size_t k = 0, n = 0;
    *rc = 0;
    if (given == NULL)
        return choices[0];
    for (; choices[n]; n++)
        if (!strcmp(given, choices[n]))
            return choices[n];
    for (size_t i = 0; i < n && k < sizeof(list); i++)
        k += (size_t)snprintf(list + k, sizeof(list) - k, "%s%s",
                              i == 0 ? "" : i + 1 < n ? ", " : " or ",
                              choices[i]);
    *rc = cli_usage(cmd, "%s %s, not '%s'", opt, list, given);
    return NULL;
}

void
cli_warn_order(const hd_cmd *cmd, hd_db *db, const char *const *paths, int n)
{
    int earlier = 0, i = hd_diff_misordered(db, n, &earlier);
    if (i > 0)
        fprintf(stderr, "heapdig: %s: warning: %s was dumped before %s; give "
                "the oldest first (growth read backwards is shrinkage)\n",
                cmd->name, paths[i], paths[earlier]);
}

int
cli_print_query(const hd_cmd *cmd, hd_db *db, const char *sql, int n,
                const char *const *params, out_format f)
{
    hd_rows *r = NULL;
    int err = hd_query(&r, db, sql, n, params);
    if (err == 0)
        err = out_rows(stdout, r, f);
    hd_rows_free(r);
    return err < 0 ? cli_fail(cmd->name, err) : HD_EXIT_OK;
}

void
cli_print_more(hd_db *db, const char *count_sql, int n,
               const char *const *params, long shown, int format)
{
    hd_rows *r = NULL;
    char c[32];
    if (format != OUT_TABLE)
        return;
    if (hd_query(&r, db, count_sql, n, params) == 0 && hd_rows_next(r) == 1 &&
        hd_rows_int(r, 0) > shown)
        printf("... %s more; -n to show more\n",
               out_count(c, sizeof(c), hd_rows_int(r, 0) - shown));
    hd_rows_free(r);
}

int
cli_looks_like_object(const char *s)
{
    return s[0] == '#' || (s[0] == '0' && s[1] == 'x') ||
           isdigit((unsigned char)s[0]);
}
