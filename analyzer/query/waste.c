/* heapdig — MIT licence.
 *
 * waste.c: the waste table's rows as a person reads them (analyze/waste.c
 * makes the table at load).
 */
#include "query/query.h"
#include "heapdig/format.h"

#include <stdio.h>
#include <string.h>

/* ---- Query ----------------------------------------------------------------- */

#define WASTE_SQL                                                             \
    "SELECT w.kind, t.name AS type, CASE w.kind WHEN 'duplicate' THEN "        \
    "shown_value(o.value, o.flags) || CASE WHEN o.flags & " HD_SQL(HD_OBJ_VALUE_TRUNC) " THEN "          \
    "' (same length and prefix)' ELSE '' END WHEN 'empty' THEN CASE WHEN "     \
    "o.length = 0 THEN 'empty' ELSE '1-2 items' END ELSE 'instances with a "   \
    "__dict__' END AS what, w.count, w.size, w.saved_size, held_text('main', " \
    "w.path) AS held_at FROM waste w JOIN types t ON t.id = w.type JOIN "      \
    "objects o ON o.id = w.example WHERE w.kind = ?2 "                        \
    "ORDER BY w.saved_size DESC, w.count DESC LIMIT ?1"

int
hd_waste_query(hd_rows **out, hd_db *db, const char *kind, long limit)
{
    char n[32];
    const char *p[2] = {n, kind};
    if (strcmp(kind, "duplicate") && strcmp(kind, "empty") &&
        strcmp(kind, "slots"))
        return hd_error_set(HD_EINVAL, "waste: no kind '%s' (duplicate, "
                            "empty, slots)", kind);
    snprintf(n, sizeof(n), "%ld", limit > 0 ? limit : limit < 0 ? -1 : 20);
    return hd_query(out, db, WASTE_SQL, 2, p);
}

int
hd_waste_total(hd_db *db, int64_t *saved)
{
    hd_rows *r = NULL;
    int err;
    *saved = 0;
    if ((err = hd_query(&r, db, "SELECT coalesce(sum(saved_size), 0) FROM "
                        "waste", 0, NULL)) < 0)
        return err;
    if ((err = hd_rows_next(r)) == 1)
        *saved = hd_rows_int(r, 0);
    hd_rows_free(r);
    return err < 0 ? err : 0;
}
