/* heapdig — MIT licence.
 *
 * query.c: naming objects in a loaded database: resolving what a user types
 * (0x address, decimal id(), #row) and describing an object in one line.
 * Built on the public hd_query cursor only.
 */
#include "query/query.h"
#include "heapdig/format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 if objects has a row with this id, 0 if not, <0 on error. */
static int
row_exists(hd_db *db, int64_t id)
{
    hd_rows *r = NULL;
    int64_t p[1] = {id};
    int err = hd_query_int(&r, db, "SELECT 1 FROM objects WHERE id = ?1", 1,
                           p);
    if (err == 0)
        err = hd_rows_next(r);
    hd_rows_free(r);
    return err;
}

int
hd_obj_resolve(int64_t *id_out, hd_db *db, const char *spec)
{
    hd_rows *r = NULL;
    const char *sql;
    char *end;
    int err;
    uint64_t v;

    char plain[64];
    *id_out = -1;
    errno = 0;
    /* Tables print row ids with thousands separators: "#34,606" is the
     * id a person copies from one. */
    if (spec[0] == '#' && strchr(spec, ',') && strlen(spec) < sizeof(plain)) {
        size_t k = 0;
        for (const char *q = spec; *q; q++)
            if (*q != ',')
                plain[k++] = *q;
        plain[k] = 0;
        spec = plain;
    }
    if (spec[0] == '#') {
        v = strtoull(spec + 1, &end, 10);
        sql = "SELECT id FROM objects WHERE id = ?1";
    } else {
        v = strtoull(spec, &end, 0); /* 0x... or decimal id() */
        sql = "SELECT id FROM objects WHERE address = ?1";
    }
    if (errno || *end || end == spec || (spec[0] == '#' && end == spec + 1)) {
        /* "34,606" is a row id copied from a table without its # */
        size_t digits = strspn(spec, "0123456789,");
        if (spec[0] >= '0' && spec[0] <= '9' && spec[digits] == 0 &&
            strchr(spec, ','))
            return hd_error_set(HD_EINVAL, "'%s' is not an object: for row "
                                "%s of a table, write #%s", spec, spec, spec);
        return hd_error_set(HD_EINVAL, "'%s' is not an object: use an "
                            "address (0x7f..), an id() or #row", spec);
    }
    int64_t p[1] = {(int64_t)v};
    if ((err = hd_query_int(&r, db, sql, 1, p)) < 0)
        return err;
    err = hd_rows_next(r);
    if (err == 1)
        *id_out = hd_rows_int(r, 0);
    hd_rows_free(r);
    if (err == 1)
        return 0;
    if (err < 0)
        return err;
    /* A bare number that is no address may be a row id from a table. */
    if (spec[0] != '#' && (end - spec) < 12 && row_exists(db, (int64_t)v) == 1)
        return hd_error_set(HD_EINVAL, "no object at address %s in this "
                            "dump; for row %s of a table, write #%s", spec,
                            spec, spec);
    return hd_error_set(HD_EINVAL, "no object %s in this dump", spec);
}

const char *
hd_obj_describe(char *buf, size_t cap, hd_db *db, int64_t id)
{
    hd_rows *r = NULL;
    int64_t p[1] = {id};
    snprintf(buf, cap, "<#%" PRId64 ">", id);
    if (hd_query_int(&r, db, "SELECT t.name, o.address, o.value, o.flags "
                     "FROM objects o JOIN types t ON t.id = o.type WHERE "
                     "o.id = ?1", 1, p) < 0)
        return buf;
    if (hd_rows_next(r) == 1) {
        const char *val = hd_rows_text(r, 2);
        char v[160] = "", name[128];
        if (val) {
            v[0] = ' ';
            hd_value_text(v + 1, sizeof(v) - 1, val, hd_rows_len(r, 2),
                          hd_rows_int(r, 3), 38);
        }
        const char *tn = hd_rows_text(r, 0);
        hd_text_escape(name, sizeof(name), tn ? tn : "?", tn ? strlen(tn) : 1,
                       HD_TEXT_PLAIN, 60);
        snprintf(buf, cap, "<%s 0x%" PRIx64 "%s>", name,
                 (uint64_t)hd_rows_int(r, 1), v);
    }
    hd_rows_free(r);
    return buf;
}

/* ---- A chain as Python ------------------------------------------------------ */

/* Flags and type name of an object; 0 or -1. */
static int
obj_kind(hd_db *db, int64_t id, int64_t *flags, char *type, size_t n)
{
    hd_rows *r = NULL;
    int64_t p[1] = {id};
    int err = hd_query_int(&r, db, "SELECT o.flags, t.name FROM objects o "
                           "JOIN types t ON t.id = o.type WHERE o.id = ?1",
                           1, p);
    if (err == 0 && (err = hd_rows_next(r)) == 1) {
        const char *t = hd_rows_text(r, 1);
        *flags = hd_rows_int(r, 0);
        snprintf(type, n, "%s", t ? t : "");
        err = 0;
    } else
        err = -1;
    hd_rows_free(r);
    return err;
}

/* Whether s[0..n) is a Python identifier (ASCII: what can be typed). */
static int
is_identifier(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}

const char *
hd_chain_python(char *buf, size_t cap, hd_db *db, const hd_chain *c)
{
    size_t k = 0;
    char type[128];
    int64_t flags;
#define PUT(...)                                                             \
    do {                                                                     \
        int w_ = snprintf(buf + k, cap - k, __VA_ARGS__);                    \
        if (w_ < 0 || (size_t)w_ >= cap - k)                                 \
            return NULL;                                                     \
        k += (size_t)w_;                                                     \
    } while (0)
    if (cap == 0 || c == NULL || c->n == 0 || c->labels[0] == NULL)
        return NULL;
    buf[0] = 0;
    /* Only module-rooted chains can be typed into a debugger as they are;
     * a frame or an outside holder has no expression a program can name. */
    if (!strcmp(c->labels[0], "sys.modules"))
        PUT("sys.modules");
    else if (!strcmp(c->labels[0], "builtins"))
        PUT("vars(builtins)");
    else
        return NULL;
    for (size_t i = 1; i < c->n; i++) {
        const char *l = c->labels[i];
        if (obj_kind(db, c->ids[i - 1], &flags, type, sizeof(type)) < 0)
            return NULL;
        /* a read-only view's mapping has no name: proxy[k] is mapping[k] */
        if (l == NULL && !c->weak[i] && !strcmp(type, "mappingproxy") &&
            i + 1 < c->n && c->labels[i + 1] &&
            !strncmp(c->labels[i + 1], "[", 1))
            continue;
        if (l == NULL || c->weak[i] || strstr(l, "\xe2\x80\xa6") /* … */ ||
            strstr(l, "[<") || l[0] == '<')
            return NULL; /* unnamed, weak, cut short, a key with no value,
                          * or a dict's key object itself (<key>) */
        if (!strcmp(type, "functools._lru_cache_wrapper") ||
            !strcmp(type, "_lru_cache_wrapper"))
            return NULL; /* its cache is no attribute */
        /* x.__dict__['name'] is x.name for a module or an instance; a
         * class's __dict__ holds descriptors that x.name would call. */
        const char *next = i + 1 < c->n ? c->labels[i + 1] : NULL;
        if (!strcmp(l, ".__dict__") && next && !(flags & HD_OBJ_TYPE) &&
            !strncmp(next, "['", 2) && !c->weak[i + 1]) {
            size_t n = strlen(next);
            if (n > 4 && !strcmp(next + n - 2, "']") &&
                is_identifier(next + 2, n - 4)) {
                PUT(".%.*s", (int)(n - 4), next + 2);
                i++;
                continue;
            }
        }
        /* a suspended generator's locals are its frame's */
        if (!strncmp(l, ".f_locals[", 10)) {
            if (!strcmp(type, "generator"))
                PUT(".gi_frame");
            else if (!strcmp(type, "coroutine"))
                PUT(".cr_frame");
            else if (!strcmp(type, "async_generator"))
                PUT(".ag_frame");
        }
        PUT("%s", l);
    }
#undef PUT
    return buf;
}
