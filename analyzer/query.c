/* heapdig — MIT licence.
 *
 * query.c: naming objects in a loaded database: resolving what a user types
 * (0x address, decimal id(), #row) and describing an object in one line.
 * Built on the public hd_query cursor only.
 */
#include "analyzer_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
hd_obj_resolve(int64_t *id_out, hd_db *db, const char *spec)
{
    hd_rows *r = NULL;
    const char *sql;
    char *end;
    char num[32];
    int err;
    uint64_t v;

    *id_out = -1;
    errno = 0;
    if (spec[0] == '#') {
        v = strtoull(spec + 1, &end, 10);
        sql = "SELECT id FROM objects WHERE id = ?1";
    } else {
        v = strtoull(spec, &end, 0); /* 0x... or decimal id() */
        sql = "SELECT id FROM objects WHERE address = ?1";
    }
    if (errno || *end || end == spec || (spec[0] == '#' && end == spec + 1))
        return hd_error_set(HD_EINVAL, "'%s' is not an object: use an "
                            "address (0x7f..), an id() or #row", spec);
    snprintf(num, sizeof(num), "%" PRId64, (int64_t)v);
    const char *p[1] = {num};
    if ((err = hd_query(&r, db, sql, 1, p)) < 0)
        return err;
    err = hd_rows_next(r);
    if (err == 1)
        *id_out = hd_rows_int(r, 0);
    hd_rows_free(r);
    if (err < 0)
        return err;
    if (err == 0)
        return hd_error_set(HD_EINVAL, "no object %s in this dump", spec);
    return 0;
}

const char *
hd_obj_describe(char *buf, size_t cap, hd_db *db, int64_t id)
{
    hd_rows *r = NULL;
    char num[32];
    snprintf(num, sizeof(num), "%" PRId64, id);
    const char *p[1] = {num};
    snprintf(buf, cap, "<#%" PRId64 ">", id);
    if (hd_query(&r, db, "SELECT t.name, o.address, o.value FROM objects o "
                 "JOIN types t ON t.id = o.type WHERE o.id = ?1", 1, p) < 0)
        return buf;
    if (hd_rows_next(r) == 1) {
        const char *val = hd_rows_text(r, 2);
        char v[160] = "", name[128];
        if (val) {
            v[0] = ' ';
            v[1] = '\'';
            size_t k = hd_text_escape(v + 2, sizeof(v) - 4, val, strlen(val),
                                      HD_TEXT_PLAIN, 38);
            v[2 + k] = '\'';
            v[3 + k] = 0;
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
