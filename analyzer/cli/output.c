/* heapdig — MIT licence.
 *
 * output.c: tables for people, JSON and CSV for programs.  Tables are
 * buffered to size their columns; numbers are right-aligned, sizes human.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int
out_parse_format(const char *s, out_format *f)
{
    if (!strcmp(s, "table"))
        *f = OUT_TABLE;
    else if (!strcmp(s, "json"))
        *f = OUT_JSON;
    else if (!strcmp(s, "csv"))
        *f = OUT_CSV;
    else
        return -1;
    return 0;
}

const char *
out_bytes(char *buf, size_t cap, double b)
{
    return hd_bytes_str(buf, cap, b);
}

const char *
out_count(char *buf, size_t cap, long long n)
{
    return hd_count_str(buf, cap, n);
}

void
out_json_str(FILE *fp, const char *s)
{
    out_json_strn(fp, s, s ? strlen(s) : 0);
}

void
out_json_strn(FILE *fp, const char *s, size_t n)
{
    if (s == NULL) {
        fputs("null", fp);
        return;
    }
    size_t cap = 6 * n + 8;
    char stack[512], *buf = cap <= sizeof(stack) ? stack : malloc(cap);
    if (buf == NULL) {
        fputs("null", fp);
        return;
    }
    hd_text_escape(buf, cap, s, n, HD_TEXT_JSON, 0);
    fprintf(fp, "\"%s\"", buf);
    if (buf != stack)
        free(buf);
}

/* ---- The JSON writer ------------------------------------------------------- */

void
oj_init(out_json *j, FILE *fp)
{
    memset(j, 0, sizeof(*j));
    j->fp = fp;
    j->first[0] = 1;
}

/* Before a value or a key: the comma, and a newline between the items of
 * a top-level container so that long documents stay readable. */
static void
oj_sep(out_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (!j->first[j->depth])
        fputs(j->depth == 1 ? ",\n  " : ", ", j->fp);
    else if (j->depth == 1)
        fputs("\n  ", j->fp);
    j->first[j->depth] = 0;
}

static void
oj_open(out_json *j, int obj)
{
    oj_sep(j);
    fputc(obj ? '{' : '[', j->fp);
    if (j->depth < OJ_DEPTH)
        j->depth++;
    j->first[j->depth] = 1;
    j->is_obj[j->depth] = (unsigned char)obj;
}

void
oj_obj(out_json *j)
{
    oj_open(j, 1);
}

void
oj_arr(out_json *j)
{
    oj_open(j, 0);
}

void
oj_end(out_json *j)
{
    if (j->depth == 0)
        return;
    int obj = j->is_obj[j->depth];
    if (j->depth == 1 && !j->first[1])
        fputs("\n", j->fp);
    j->depth--;
    fputc(obj ? '}' : ']', j->fp);
}

void
oj_key(out_json *j, const char *key)
{
    oj_sep(j);
    out_json_str(j->fp, key);
    fputs(": ", j->fp);
    j->after_key = 1;
}

void
oj_str(out_json *j, const char *s)
{
    oj_sep(j);
    out_json_str(j->fp, s);
}

void
oj_strn(out_json *j, const char *s, size_t n)
{
    oj_sep(j);
    out_json_strn(j->fp, s, n);
}

void
oj_int(out_json *j, int64_t v)
{
    oj_sep(j);
    fprintf(j->fp, "%" PRId64, v);
}

void
oj_num(out_json *j, double v, int decimals)
{
    oj_sep(j);
    if (v != v || v > 1e300 || v < -1e300)
        fputs("null", j->fp); /* NaN and infinities are no JSON */
    else
        fprintf(j->fp, "%.*f", decimals, v);
}

void
oj_bool(out_json *j, int v)
{
    oj_sep(j);
    fputs(v ? "true" : "false", j->fp);
}

void
oj_raw(out_json *j)
{
    oj_sep(j);
    fflush(j->fp); /* the caller may write through another stream */
}

void
oj_done(out_json *j)
{
    while (j->depth > 0)
        oj_end(j);
    fputc('\n', j->fp);
}

void
oc_init(out_csv *c, FILE *fp)
{
    c->fp = fp;
    c->fields = 0;
}

static void
oc_sep(out_csv *c)
{
    if (c->fields++)
        fputc(',', c->fp);
}

void
oc_str(out_csv *c, const char *s)
{
    oc_sep(c);
    out_csv_field(c->fp, s);
}

void
oc_int(out_csv *c, int64_t v)
{
    oc_sep(c);
    fprintf(c->fp, "%" PRId64, v);
}

void
oc_num(out_csv *c, double v, int decimals)
{
    oc_sep(c);
    if (v == v && v < 1e300 && v > -1e300) /* NaN and infinities: empty */
        fprintf(c->fp, "%.*f", decimals, v);
}

void
oc_row(out_csv *c)
{
    fputc('\n', c->fp);
    c->fields = 0;
}

void
oc_header(out_csv *c, const char *const *names)
{
    for (; *names; names++)
        oc_str(c, *names);
    oc_row(c);
}

/* A CSV field: heap text escaped as for a terminal (a spreadsheet is one),
 * quoted when it holds a comma or a quote, quotes doubled. */
void
out_csv_field(FILE *fp, const char *s)
{
    out_csv_fieldn(fp, s, s ? strlen(s) : 0);
}

void
out_csv_fieldn(FILE *fp, const char *s, size_t n)
{
    if (s == NULL)
        return;
    size_t cap = 4 * n + 8;
    char stack[512], *buf = cap <= sizeof(stack) ? stack : malloc(cap);
    if (buf == NULL)
        return;
    hd_text_escape(buf, cap, s, n, HD_TEXT_PLAIN, 0);
    if (strpbrk(buf, ",\"") == NULL) {
        fputs(buf, fp);
    } else {
        fputc('"', fp);
        for (const char *p = buf; *p; p++) {
            if (*p == '"')
                fputc('"', fp);
            fputc(*p, fp);
        }
        fputc('"', fp);
    }
    if (buf != stack)
        free(buf);
}

/* Byte columns: size, avg_size, retained, size_growth, ... */
static int
is_size_col(const char *name)
{
    return strstr(name, "size") != NULL || strstr(name, "retained") != NULL;
}

/* Columns of text heapdig rendered itself: their backslashes are escapes
 * already.  1 for labels, chains and signatures (printed whole), 2 for
 * values as shown_value() writes them (value, waste's what: cut like any
 * value). */
static int
is_rendered_col(const char *name)
{
    if (!strcmp(name, "value") || !strcmp(name, "what"))
        return 2;
    return strstr(name, "label") != NULL || strstr(name, "held_at") != NULL ||
           strstr(name, "chain") != NULL || strstr(name, "signature") != NULL;
}

/* Cuts a table cell to something a terminal row can hold, replacing control
 * characters (values come from the heap and are untrusted). */
static char *
cell(const char *s, size_t n, int is_num, int size_col, long long v,
     int rendered)
{
    char buf[128];
    if (s == NULL)
        return strdup("");
    if (is_num && size_col) {
        if (v < 0) { /* shrinkage in a diff */
            buf[0] = '-';
            out_bytes(buf + 1, sizeof(buf) - 1, (double)-v);
            return strdup(buf);
        }
        return strdup(out_bytes(buf, sizeof(buf), (double)v));
    }
    if (is_num && strchr(s, '.') == NULL)
        return strdup(out_count(buf, sizeof(buf), v));
    /* Values are cut at 60 characters; chains and signatures (rendered
     * columns) are whole, up to the 400 a signature has: two different
     * places must never print as the same text. */
    size_t max = rendered == 1 ? 420 : 60;
    size_t cap = 4 * max + 8;
    char *c = malloc(cap);
    if (c == NULL)
        return NULL;
    hd_text_escape(c, cap, s, n, rendered ? HD_TEXT_RENDERED : HD_TEXT_PLAIN,
                   max);
    return c;
}

/* Display width of a cell (cells are escaped: valid UTF-8). */
static size_t
width(const char *s)
{
    return hd_text_width(s);
}

int
out_rows(FILE *fp, hd_rows *rows, out_format f)
{
    int ncol = hd_rows_ncol(rows), r;
    long long nrow = 0;
    char ***cells = NULL;
    int *numeric = calloc((size_t)ncol, sizeof(int));
    size_t *w = calloc((size_t)ncol, sizeof(size_t));
    size_t cap = 0;
    int err = 0, nested = f == OUT_JSON_NESTED;

    if (nested)
        f = OUT_JSON;
    if (numeric == NULL || w == NULL) {
        err = HD_ENOMEM;
        goto done;
    }
    if (f == OUT_JSON)
        fputs("[", fp);
    if (f == OUT_CSV) {
        for (int c = 0; c < ncol; c++) {
            if (c)
                fputc(',', fp);
            out_csv_field(fp, hd_rows_name(rows, c));
        }
        fputc('\n', fp);
    }
    while ((r = hd_rows_next(rows)) == 1) {
        if (f == OUT_JSON) {
            fprintf(fp, "%s\n%s{", nrow ? "," : "", nested ? "    " : "  ");
            for (int c = 0; c < ncol; c++) {
                fprintf(fp, "%s", c ? ", " : "");
                out_json_str(fp, hd_rows_name(rows, c));
                fputs(": ", fp);
                if (hd_rows_is_number(rows, c) &&
                    out_is_json_number(hd_rows_text(rows, c)))
                    fputs(hd_rows_text(rows, c), fp);
                else /* text, and inf/nan, which JSON has no number for */
                    out_json_strn(fp, hd_rows_text(rows, c),
                                  hd_rows_len(rows, c));
            }
            fputs("}", fp);
        } else if (f == OUT_CSV || f == OUT_CSV_ROWS) {
            for (int c = 0; c < ncol; c++) {
                if (c)
                    fputc(',', fp);
                out_csv_fieldn(fp, hd_rows_text(rows, c), hd_rows_len(rows, c));
            }
            fputc('\n', fp);
        } else {
            if ((size_t)nrow == cap) {
                cap = cap ? cap * 2 : 64;
                char ***nc = realloc(cells, cap * sizeof(*cells));
                if (nc == NULL) {
                    err = HD_ENOMEM;
                    goto done;
                }
                cells = nc;
            }
            cells[nrow] = calloc((size_t)ncol, sizeof(char *));
            if (cells[nrow] == NULL) {
                err = HD_ENOMEM;
                goto done;
            }
            for (int c = 0; c < ncol; c++) {
                int num = hd_rows_is_number(rows, c);
                numeric[c] |= num;
                cells[nrow][c] = cell(hd_rows_text(rows, c),
                                      hd_rows_len(rows, c), num,
                                      is_size_col(hd_rows_name(rows, c)),
                                      hd_rows_int(rows, c),
                                      is_rendered_col(hd_rows_name(rows, c)));
                if (cells[nrow][c] && width(cells[nrow][c]) > w[c])
                    w[c] = width(cells[nrow][c]);
            }
        }
        nrow++;
    }
    if (r < 0) {
        err = r;
        goto done;
    }
    if (f == OUT_JSON && nested)
        fputs(nrow ? "\n  ]" : "]", fp);
    else if (f == OUT_JSON)
        fputs(nrow ? "\n]\n" : "]\n", fp);
    if (f == OUT_TABLE) {
        for (int c = 0; c < ncol; c++)
            if (width(hd_rows_name(rows, c)) > w[c])
                w[c] = width(hd_rows_name(rows, c));
        for (int c = 0; c < ncol; c++) /* no blanks at a line's end */
            fprintf(fp, numeric[c] ? "%*s%s" : "%-*s%s",
                    numeric[c] || c + 1 < ncol ? (int)w[c] : 0,
                    hd_rows_name(rows, c), c + 1 < ncol ? "  " : "\n");
        for (int c = 0; c < ncol; c++) {
            for (size_t i = 0; i < w[c]; i++)
                fputc('-', fp);
            fputs(c + 1 < ncol ? "  " : "\n", fp);
        }
        for (long long i = 0; i < nrow; i++)
            for (int c = 0; c < ncol; c++) {
                const char *s = cells[i][c] ? cells[i][c] : "";
                size_t pad = w[c] - width(s);
                if (numeric[c])
                    fprintf(fp, "%*s%s", (int)pad, "", s);
                else
                    fprintf(fp, "%s%*s", s, c + 1 < ncol ? (int)pad : 0, "");
                fputs(c + 1 < ncol ? "  " : "\n", fp);
            }
    }
done:
    for (long long i = 0; cells && i < nrow && (size_t)i < cap; i++) {
        for (int c = 0; cells[i] && c < ncol; c++)
            free(cells[i][c]);
        free(cells[i]);
    }
    free(cells);
    free(numeric);
    free(w);
    return err;
}

const char *
out_label(char *buf, size_t cap, const char *label)
{
    hd_text_escape(buf, cap, label, strlen(label), HD_TEXT_RENDERED, 0);
    return buf;
}

int
out_is_json_number(const char *s)
{
    /* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    if (s == NULL)
        return 0;
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return 0;
    if (*s == '.') {
        if (!(*++s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == 0;
}

int
out_is_json_string_array(const char *s)
{
    /* [ "..." , "..." ] with JSON escapes and no raw control bytes; the
     * dumper writes argv so, but a dump is input and may say anything. */
    const unsigned char *p = (const unsigned char *)s;
    int first = 1;
    if (p == NULL || *p++ != '[')
        return 0;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == ']' && first)
            return p[1] == 0;
        if (*p++ != '"')
            return 0;
        while (*p != '"') {
            if (*p < 0x20)
                return 0; /* includes the end of the string */
            if (*p == '\\') {
                p++;
                if (*p == 'u') {
                    for (int i = 1; i <= 4; i++)
                        if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                            return 0;
                    p += 4;
                } else if (!*p || !strchr("\"\\/bfnrt", *p))
                    return 0;
            }
            p++;
        }
        p++;
        while (*p == ' ')
            p++;
        if (*p == ']')
            return p[1] == 0;
        if (*p++ != ',')
            return 0;
        first = 0;
    }
}
