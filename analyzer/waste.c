/* heapdig — MIT licence.
 *
 * waste.c: memory a program could keep without changing what it does
 * (heapdig.h: hd_waste_query), as Eclipse MAT reports it: the same string
 * or bytes held many times over, empty and nearly empty containers, and
 * instances whose __dict__ a __slots__ declaration would replace.  Only
 * what a root reaches counts: garbage is gc.collect()'s to free.
 *
 * Every kind has the same columns (kind, type, what, count, size,
 * saved_size, held_at) so that one table, one JSON array or one CSV holds them all;
 * held_at is where most of them are held (paths: [*] for any index/key).
 */
#include "analyzer_int.h"

#include <stdio.h>
#include <string.h>

/* Equal values of distinct str and bytes objects.  A value the dumper cut
 * (value_truncated) matches on its length and prefix only: "prefix". */
#define DUPLICATES_SQL                                                        \
    "WITH d AS MATERIALIZED (SELECT o.type, o.value, o.size, o.length, "       \
    "o.flags & 1024 AS cut, o.flags, o.path FROM objects o JOIN types t ON "   \
    "t.id = o.type WHERE t.name IN ('str', 'bytes') AND t.module = "           \
    "'builtins' AND o.value IS NOT NULL AND o.reachable = 1), "                \
    "dp AS MATERIALIZED (SELECT type, value, size, length, cut, path, "        \
    "max(flags) AS flags, count(*) AS c FROM d GROUP BY type, value, size, "   \
    "length, cut, path), "                                                    \
    "g AS (SELECT type, value, size, length, cut, max(flags) AS flags, "      \
    "sum(c) AS n FROM dp GROUP BY type, value, size, length, cut HAVING "     \
    "sum(c) > 1 ORDER BY (sum(c) - 1) * size DESC LIMIT ?1) "                  \
    "SELECT 'duplicate' AS kind, t.name AS type, shown_value(g.value, "       \
    "g.flags) || CASE WHEN g.cut THEN ' (same length and prefix)' ELSE '' "   \
    "END AS what, g.n AS count, g.n * g.size AS size, (g.n - 1) * g.size AS " \
    "saved_size, (SELECT p.signature FROM dp JOIN paths p ON p.id = dp.path WHERE " \
    "dp.type = g.type AND dp.value = g.value AND dp.size = g.size AND "       \
    "dp.length IS g.length AND dp.cut = g.cut ORDER BY dp.c DESC LIMIT 1) AS " \
    "held_at FROM g JOIN types t ON t.id = g.type ORDER BY saved_size DESC"

/* The edges table names labels by id: a whole-table filter on the text
 * would look each edge's label up. */
#define DICT_LABEL "(SELECT id FROM labels WHERE text = '.__dict__')"

/* Built-in containers holding nothing or one or two items: all of an empty
 * one is overhead, and most of a small one. */
#define EMPTY_SQL                                                             \
    "SELECT 'empty' AS kind, t.name AS type, CASE WHEN o.length = 0 THEN "    \
    "'empty' ELSE '1-2 items' END AS what, count(*) AS count, sum(o.size) AS " \
    "size, sum(o.size) AS saved_size, p.signature AS held_at FROM objects o JOIN " \
    "types t ON t.id = o.type LEFT JOIN paths p ON p.id = o.path WHERE "       \
    "t.module IN ('builtins', 'collections') AND t.name IN ('dict', 'list', "  \
    "'set', 'deque', 'OrderedDict', 'defaultdict') AND o.length IS NOT NULL " \
    "AND o.length <= 2 AND o.reachable = 1 AND NOT EXISTS (SELECT 1 FROM "    \
    "edges r WHERE r.dst = o.id AND r.label = " DICT_LABEL ") GROUP BY o.type, " \
    "o.length = 0, o.path HAVING count(*) >= 2 ORDER BY sum(o.size) DESC "    \
    "LIMIT ?1"

/* Instances of a class whose __dict__ is a dict object: __slots__ would
 * keep a pointer per attribute in the instance instead (8 bytes each). */
#define SLOTS_SQL                                                             \
    "WITH inst AS MATERIALIZED (SELECT i.type, i.path, d.size, d.length FROM " \
    "edges r JOIN objects i ON i.id = r.src JOIN objects d ON d.id = r.dst "   \
    "JOIN types t ON t.id = i.type WHERE r.label = " DICT_LABEL " AND r.weak " \
    "= 0 AND NOT i.flags & 24 AND i.reachable = 1 AND t.module <> "            \
    "'builtins'), "                                                           \
    "ip AS MATERIALIZED (SELECT type, path, count(*) AS c FROM inst GROUP BY " \
    "type, path) "                                                            \
    "SELECT 'slots' AS kind, t.name AS type, 'instances with a __dict__' AS " \
    "what, count(*) AS count, sum(inst.size) AS size, sum(max(inst.size - 8 "\
    "* coalesce(inst.length, 0), 0)) AS saved_size, (SELECT p.signature FROM ip "   \
    "JOIN paths p ON p.id = ip.path WHERE ip.type = inst.type ORDER BY ip.c "  \
    "DESC LIMIT 1) AS held_at FROM inst JOIN types t ON t.id = inst.type "     \
    "GROUP BY inst.type HAVING count(*) >= 2 ORDER BY saved_size DESC LIMIT ?1"

static const struct {
    const char *kind, *sql;
} KINDS[] = {{"duplicate", DUPLICATES_SQL},
             {"empty", EMPTY_SQL},
             {"slots", SLOTS_SQL}};

int
hd_waste_query(hd_rows **out, hd_db *db, const char *kind, long limit)
{
    char n[32];
    const char *p[1] = {n};
    snprintf(n, sizeof(n), "%ld", limit > 0 ? limit : limit < 0 ? -1 : 20);
    for (size_t i = 0; i < sizeof(KINDS) / sizeof(KINDS[0]); i++)
        if (strcmp(KINDS[i].kind, kind) == 0)
            return hd_query(out, db, KINDS[i].sql, 1, p);
    return hd_error_set(HD_EINVAL, "waste: no kind '%s' (duplicate, empty, "
                        "slots)", kind);
}

int
hd_waste_total(hd_db *db, int64_t *saved)
{
    static const char *const kinds[] = {"duplicate", "empty", "slots"};
    int err = 0;
    *saved = 0;
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        hd_rows *r = NULL;
        if ((err = hd_waste_query(&r, db, kinds[k], -1)) < 0)
            return err;
        while ((err = hd_rows_next(r)) == 1)
            *saved += hd_rows_int(r, 5);
        hd_rows_free(r);
        if (err < 0)
            return err;
    }
    return 0;
}
