/* heapdig — MIT licence.
 *
 * cli.h: what the subcommands share: the command table entry, option
 * parsing helpers and the table/JSON/CSV printer.  The CLI uses only the
 * public heapdig.h; library errors become messages and exit codes here.
 */
#ifndef HEAPDIG_CLI_H
#define HEAPDIG_CLI_H

#include "heapdig/heapdig.h"

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

extern const hd_cmd hd_cmd_load, hd_cmd_summary;

/* Prints "heapdig: <what>: <library message>" and returns HD_EXIT_ERROR. */
int cli_fail(const char *what, int err);
/* Prints a usage error and returns HD_EXIT_USAGE. */
int cli_usage(const hd_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- output.c ------------------------------------------------------------- */

typedef enum { OUT_TABLE, OUT_JSON, OUT_CSV } out_format;

/* Parses "table", "json" or "csv"; returns -1 if unknown. */
int out_parse_format(const char *s, out_format *f);

/* Prints every row of a query in the chosen format.  Columns whose name
 * ends in "size" or "retained" are shown as human sizes in tables.  `title`
 * names the JSON array (NULL: a bare array). */
int out_rows(FILE *fp, hd_rows *rows, out_format f);

/* Human-readable bytes: "1.5 MiB". */
const char *out_bytes(char *buf, size_t cap, double bytes);
/* Thousands separators: "1,234,567". */
const char *out_count(char *buf, size_t cap, long long n);
/* A JSON string literal of s (NULL prints null). */
void out_json_str(FILE *fp, const char *s);

#endif /* HEAPDIG_CLI_H */
