/* heapdig — MIT licence.
 *
 * cli.h: what the subcommands share: the command table entry, option
 * parsing helpers and the table/JSON/CSV printer.  The CLI uses only the
 * public heapdig.h; library errors become messages and exit codes here.
 */
#ifndef HEAPDIG_CLI_H
#define HEAPDIG_CLI_H

#include "heapdig/heapdig.h"

#include <stddef.h>

#include <stdio.h>

/* Exit codes. */
#define HD_EXIT_OK 0
#define HD_EXIT_ERROR 1     /* the operation failed */
#define HD_EXIT_USAGE 2     /* bad command line */
#define HD_EXIT_TRUNCATED 3 /* loaded, but the dump was truncated */

typedef struct hd_cmd {
    const char *name;
    const char *summary;
    const char *usage;
    int (*run)(int argc, char **argv);
} hd_cmd;

extern const hd_cmd hd_cmd_load, hd_cmd_summary, hd_cmd_top, hd_cmd_types,
    hd_cmd_cycles, hd_cmd_path, hd_cmd_show, hd_cmd_referrers,
    hd_cmd_referents, hd_cmd_external, hd_cmd_suspects, hd_cmd_graph,
    hd_cmd_diff, hd_cmd_attach, hd_cmd_report, hd_cmd_tree, hd_cmd_waste;

/* Prints "heapdig: <what>: <library message>" and returns HD_EXIT_ERROR. */
int cli_fail(const char *what, int err);
/* Prints a usage error and returns HD_EXIT_USAGE. */
int cli_usage(const hd_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- common.c: shared options ------------------------------------------- */

#define CLI_MAX_EXCLUDE 64

typedef struct cli_opts {
    int format;        /* out_format */
    long limit;        /* -n (default 20) */
    const char *by;    /* --by */
    const char *type;  /* --type */
    int garbage;       /* --garbage */
    int weak;          /* --weak */
    int depth;         /* --depth (0: command default) */
    long all;          /* --all N (path) */
    const char *output; /* -o */
    const char *kind;  /* --kind */
    const char *rank;  /* --rank */
    int quiet, verbose, force; /* -q, -v, -f (load) */
    const char *own_format; /* OPT_OWN_FORMAT's --format, as given */
    long max_nodes;      /* graph --max-nodes */
    int mode;            /* graph: the HD_GRAPH_* of the mode given, or -1 */
    double timeout;      /* attach --timeout (0: not given) */
    double threshold;    /* --threshold, a percentage (0: not given) */
    const char *pythonpath, *gdb; /* attach */
    int foreground;      /* attach */
    const char *exclude[CLI_MAX_EXCLUDE];
    int n_exclude;
    const char *pos[3]; /* DB [OBJ], or up to three DBs (diff) */
    int n_pos;
} cli_opts;

/* Strict numbers for options: the whole text (no "2x", " 2", "inf", "0x10");
 * 0 or -1.  An integer, a finite decimal, a percentage in (0, 100]. */
int cli_number(const char *s, long *out);
int cli_decimal(const char *s, double *out);
int cli_percent(const char *s, double *out);
/* How an option takes its value.  A value option given twice is refused
 * (which one would count?); a TAKES_LIST one accumulates (--exclude). */
typedef enum {
    TAKES_TEXT, TAKES_FORMAT, TAKES_COUNT, TAKES_DEPTH, TAKES_SECONDS,
    TAKES_PERCENT, TAKES_LIST, FLAG,
    MODE /* one of several: the field gets `mode`; two of them conflict */
} cli_option_kind;
/* One option a command takes: each command has a static table of them,
 * ended by {NULL}, read by the one parser (at most 64 options). */
typedef struct cli_option {
    const char *name, *alias;
    cli_option_kind kind;
    size_t field; /* offsetof(cli_opts, ...) */
    int mode;
} cli_option;
#define CLI_OPTION(name, alias, kind, field) \
    {name, alias, kind, offsetof(cli_opts, field), 0}
/* The options several commands share, spelled the same everywhere. */
#define OPT_FORMAT CLI_OPTION("--format", NULL, TAKES_FORMAT, format)
#define OPT_OWN_FORMAT /* the command's own words: svg|png, table|folded */ \
    CLI_OPTION("--format", NULL, TAKES_TEXT, own_format)
#define OPT_LIMIT CLI_OPTION("-n", NULL, TAKES_COUNT, limit)
#define OPT_BY CLI_OPTION("--by", NULL, TAKES_TEXT, by)
#define OPT_TYPE CLI_OPTION("--type", NULL, TAKES_TEXT, type)
#define OPT_EXCLUDE CLI_OPTION("--exclude", NULL, TAKES_LIST, exclude)
#define OPT_DEPTH CLI_OPTION("--depth", NULL, TAKES_DEPTH, depth)
#define OPT_OUTPUT CLI_OPTION("-o", "--output", TAKES_TEXT, output)
#define OPT_WEAK CLI_OPTION("--weak", NULL, FLAG, weak)
#define OPT_FORCE CLI_OPTION("-f", "--force", FLAG, force)
#define OPT_THRESHOLD CLI_OPTION("--threshold", NULL, TAKES_PERCENT, threshold)
#define OPT_END {NULL, NULL, FLAG, 0, 0}

/* Parses argv[1..] by the command's options ("--" ends the options); 0 or
 * an exit code. */
int cli_parse(const hd_cmd *cmd, cli_opts *o, int argc, char **argv,
              const cli_option *options);
/* The database for an input: itself, or for a dump DUMP.db beside it,
 * loaded now unless it is newer than the dump and finished.  *db_path is
 * the caller's to free; 0 or an exit code. */
int cli_database_for(const hd_cmd *cmd, const char *in, char **db_path);
/* The same, with the path kept until exit; NULL (and *rc) on failure. */
const char *cli_database_arg(const hd_cmd *cmd, const char *in, int *rc);
/* Whether path starts as a SQLite database does. */
int cli_is_database(const char *path);
/* Whether the command may write its output to out: never over one of its
 * inputs (a dump, a database: even with --force), over another heapdig dump
 * or database only with --force.  0, or prints why not and returns
 * HD_EXIT_ERROR. */
int cli_output_ok(const hd_cmd *cmd, const char *out, int force,
                  const char *const *inputs, int n_inputs);
/* Opens pos[0] (a database, or a dump: cli_database_arg) and (need_obj)
 * resolves pos[1]; 0 or an exit code. */
int cli_open(const hd_cmd *cmd, cli_opts *o, int need_obj, hd_db **db,
             int64_t *obj);
/* An --exclude value names an object (#row, 0x address, id()) rather than a
 * type when it looks like one. */
int cli_looks_like_object(const char *s);
/* After a table cut at `shown` rows: "... 19,985 more; -n to show more"
 * when count_sql counts more (tables only). */
void cli_print_more(hd_db *db, const char *count_sql, int n,
                    const char *const *params, long shown, int format);
/* One of a NULL-ended list of words for an option (NULL: the first), as
 * the list's own string, so no command-line text goes into SQL; NULL with
 * *rc the usage error's exit code. */
const char *cli_choice(const hd_cmd *cmd, const char *opt, const char *given,
                       const char *const *choices, int *rc);
/* Warns on stderr if the databases of a hd_diff_open are not oldest
 * first. */
void cli_warn_order(const hd_cmd *cmd, hd_db *db, const char *const *paths,
                    int n);
/* Runs a query and prints its rows; returns an exit code. */
int cli_print_query(const hd_cmd *cmd, hd_db *db, const char *sql, int n,
                    const char *const *params, int format);

/* ---- output.c ------------------------------------------------------------- */

typedef int out_format;
enum {
    OUT_TABLE, OUT_JSON, OUT_CSV,
    OUT_CSV_ROWS,   /* no header line */
    OUT_JSON_NESTED /* a list that is a value inside an out_json document */
};

/* Parses "table", "json" or "csv"; returns -1 if unknown. */
int out_parse_format(const char *s, out_format *f);

/* Prints every row of a query in the chosen format.  Columns whose name
 * ends in "size" or "retained" are shown as human sizes in tables. */
int out_rows(FILE *fp, hd_rows *rows, out_format f);

/* Human-readable bytes: "1.5 MiB". */
const char *out_bytes(char *buf, size_t cap, double bytes);
/* Thousands separators: "1,234,567". */
const char *out_count(char *buf, size_t cap, long long n);
/* One JSON document written as it goes: the writer puts the commas and
 * knows where it is, so a command says what it writes, not how:
 *   oj_obj(&j); oj_key(&j, "id"); oj_int(&j, 3); oj_end(&j);
 * Nesting is bounded (OJ_DEPTH); deeper values are written as null. */
#define OJ_DEPTH 16
typedef struct out_json {
    FILE *fp;
    int depth;
    unsigned char first[OJ_DEPTH + 1]; /* nothing written yet at a level */
    unsigned char is_obj[OJ_DEPTH + 1];
    int after_key;                     /* a key was written: its value next */
} out_json;
void oj_init(out_json *j, FILE *fp);
void oj_obj(out_json *j);  /* { */
void oj_arr(out_json *j);  /* [ */
void oj_end(out_json *j);  /* } or ], whichever is open */
void oj_key(out_json *j, const char *key);
void oj_str(out_json *j, const char *s); /* NULL: null */
void oj_strn(out_json *j, const char *s, size_t n); /* may hold NULs */
void oj_int(out_json *j, int64_t v);
void oj_num(out_json *j, double v, int decimals);
void oj_bool(out_json *j, int v);
/* Before a value the caller prints itself (a query's rows): the comma. */
void oj_raw(out_json *j);
/* The document's end: a newline after the last value. */
void oj_done(out_json *j);

/* A JSON string literal of s (NULL prints null). */
void out_json_str(FILE *fp, const char *s);
/* The same for n bytes that may hold NULs. */
void out_json_strn(FILE *fp, const char *s, size_t n);
/* Whether s may stand in JSON as it is: a number (not inf/nan), or (argv
 * meta) an array of strings. */
int out_is_json_number(const char *s);
int out_is_json_string_array(const char *s);
/* A CSV field (RFC 4180 quoting), heap text escaped for a reader. */
void out_csv_field(FILE *fp, const char *s);
void out_csv_fieldn(FILE *fp, const char *s, size_t n);
/* CSV written a row at a time: the writer puts the commas and the quotes.
 *   oc_str(&c, "id"); oc_str(&c, "name"); oc_row(&c);
 *   oc_int(&c, 3); oc_str(&c, name); oc_row(&c); */
typedef struct out_csv {
    FILE *fp;
    int fields; /* written in this row so far */
} out_csv;
void oc_init(out_csv *c, FILE *fp);
void oc_str(out_csv *c, const char *s); /* NULL: an empty field */
void oc_int(out_csv *c, int64_t v);
void oc_num(out_csv *c, double v, int decimals);
void oc_row(out_csv *c); /* ends the row */
void oc_header(out_csv *c, const char *const *names); /* NULL-ended */
/* A label (text heapdig rendered) made safe for a terminal, into buf. */
const char *out_label(char *buf, size_t cap, const char *label);

/* The value column of an object table: as a person reads it in a table
 * ('text' quoted, b'\x00' as recorded), the stored text in json and csv. */
#define CLI_VALUE_COL(fmt)                                                    \
    ((fmt) == OUT_TABLE ? "shown_value(o.value, o.flags) AS value" : "o.value")

#endif /* HEAPDIG_CLI_H */
