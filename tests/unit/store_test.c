/* heapdig — MIT licence.
 *
 * store_test.c: a real dump through the store and back through the query
 * side (HD_TEST_DUMP, the fixture the other real-dump tests share): the
 * views read what the tables hold (refs over edges and labels, paths over
 * path_steps, agreeing with held_text()), the load's own tables add up,
 * and the query side reports what goes wrong.
 */
#include "store/store.h"
#include "query/query.h"
#include "harness.h"
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static hd_db *db;

/* The single integer a query answers, or -1. */
static int64_t
one(const char *sql)
{
    hd_rows *r = NULL;
    int64_t v = -1;
    if (hd_query(&r, db, sql, 0, NULL) == 0 && hd_rows_next(r) == 1)
        v = hd_rows_int(r, 0);
    hd_rows_free(r);
    return v;
}

static void
test_store__views_read_the_tables(void)
{
    CHECK(one("SELECT count(*) FROM refs") == one("SELECT value FROM meta "
                                                  "WHERE key = 'refs'"));
    CHECK(one("SELECT count(*) FROM refs WHERE kind = 'weak'") ==
          one("SELECT count(*) FROM edges WHERE weak = 1"));
    CHECK(one("SELECT count(*) FROM refs WHERE label IS NULL") ==
          one("SELECT count(*) FROM edges WHERE label IS NULL"));
    /* each label's text is stored once */
    CHECK(one("SELECT count(*) - count(DISTINCT text) FROM labels") == 0);
    CHECK(one("SELECT count(*) FROM paths") ==
          one("SELECT count(*) FROM path_steps"));
}

static void
test_store__held_text_is_the_paths_view(void)
{
    hd_rows *r = NULL;
    int rows = 0, same = 0;
    /* every signature (a sample of a big heap) written both ways */
    CHECK_EQ(hd_query(&r, db, "SELECT id, signature, held_text('main', id) "
                      "FROM paths WHERE id % (1 + (SELECT count(*) FROM "
                      "path_steps) / 2000) = 0", 0, NULL), 0);
    while (r && hd_rows_next(r) == 1) {
        const char *view = hd_rows_text(r, 1), *fn = hd_rows_text(r, 2);
        rows++;
        /* held_text cuts past 400 bytes: then head and tail agree */
        if (view && fn && strlen(view) <= 400)
            same += strcmp(view, fn) == 0;
        else if (view && fn)
            same += strncmp(view, fn, 100) == 0 && strstr(fn, " [#") != NULL;
    }
    hd_rows_free(r);
    CHECK(rows > 100);
    CHECK_EQ(same, rows);
    CHECK(one("SELECT held_text('main', NULL) IS NULL") == 1);
}

static void
test_store__tables_add_up(void)
{
    /* every object in exactly one (where held, type) row */
    CHECK(one("SELECT sum(count) FROM held") ==
          one("SELECT count(*) FROM objects"));
    CHECK(one("SELECT sum(size) FROM held") ==
          one("SELECT sum(size) FROM objects"));
    CHECK(one("SELECT count(*) FROM held WHERE path IS NULL AND count > 0") ==
          (one("SELECT count(*) FROM objects WHERE reachable = 0") > 0));
    /* a type's retained size never exceeds its objects' sum of retained */
    CHECK(one("SELECT count(*) FROM types t WHERE retained > (SELECT "
              "coalesce(sum(retained), 0) FROM objects WHERE type = t.id)") ==
          0);
    /* waste: groups of two or more, a saving within what they take */
    CHECK(one("SELECT count(*) FROM waste WHERE count < 2 OR saved_size > "
              "size OR saved_size < 0") == 0);
    /* holds: a big dominator's groups (the fixture's list of 6,000 bytes)
     * count all it dominates */
    CHECK(one("SELECT count(*) FROM holds WHERE label = '[*]'") >= 1);
    CHECK(one("SELECT count(*) FROM (SELECT object, sum(count) AS c, "
              "sum(retained) AS r FROM holds GROUP BY object) h WHERE c != "
              "(SELECT count(*) FROM objects WHERE idom = h.object) OR r != "
              "(SELECT sum(retained) FROM objects WHERE idom = h.object)") ==
          0);
    /* held_as names a reference its dominator really holds */
    CHECK(one("SELECT count(*) FROM objects o WHERE held_as IS NOT NULL AND "
              "NOT EXISTS (SELECT 1 FROM edges e WHERE e.src = o.idom AND "
              "e.dst = o.id AND e.label = o.held_as AND e.weak = 0)") == 0);
}

static void
test_store__query_errors_are_reported(void)
{
    hd_rows *r = NULL;
    CHECK(hd_query(&r, db, "SELECT nope FROM objects", 0, NULL) < 0);
    CHECK(r == NULL);
    CHECK(strstr(hd_error_last()->message, "nope") != NULL);
    CHECK(one("SELECT held_text('nowhere', 1)") == -1); /* an error, no row */
    const char *p[1] = {"dict"};
    CHECK_EQ(hd_query(&r, db, "SELECT count(*) FROM types WHERE name = ?1",
                      1, p), 0);
    CHECK(r && hd_rows_next(r) == 1 && hd_rows_int(r, 0) == 1);
    hd_rows_free(r);
    r = NULL;
    /* integers bound as integers; one past the statement's is an error that
     * the next step reports too (hd_rows_rerun was always 0) */
    int64_t ids[2] = {1, 2};
    CHECK_EQ(hd_query_int(&r, db, "SELECT typeof(?1), ?1 + 1", 1, ids), 0);
    CHECK(r && hd_rows_next(r) == 1 && hd_rows_int(r, 1) == 2 &&
          !strcmp(hd_rows_text(r, 0), "integer"));
    CHECK(hd_rows_rerun(r, 2, ids) < 0);
    CHECK(hd_rows_next(r) < 0);
    CHECK(hd_rows_rerun(r, 1, ids + 1) == 0);
    CHECK(hd_rows_next(r) == 1 && hd_rows_int(r, 1) == 3);
    hd_rows_free(r);
    r = NULL;
    CHECK(hd_query_int(&r, db, "SELECT ?1", 2, ids) < 0 && r == NULL);
}

int
main(int argc, char **argv)
{
    static const hd_test_case cases[] = {
        TEST(test_store__views_read_the_tables),
        TEST(test_store__held_text_is_the_paths_view),
        TEST(test_store__tables_add_up),
        TEST(test_store__query_errors_are_reported),
    };
    char path[4096];
    if (fixture_open(&db, path, sizeof(path), "store_test"))
        return 1;
    int rc = hd_test_main(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
    fixture_close(db, path);
    return rc;
}
