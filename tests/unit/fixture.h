/* heapdig — MIT licence.
 *
 * fixture.h: the unit tests that need a real database load the fixture dump
 * (HD_TEST_DUMP, made by tests/e2e/make_fixture.py) into a database of their
 * own beside it, and remove it when done.
 */
#ifndef HEAPDIG_TEST_FIXTURE_H
#define HEAPDIG_TEST_FIXTURE_H

#include "heapdig/heapdig.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Loads the fixture into path (cap bytes; `tag` names the test) and opens
 * it: 0, or 1 with the reason printed. */
static int
fixture_open(hd_db **db, char *path, size_t cap, const char *tag)
{
    const char *dump = getenv("HD_TEST_DUMP");
    hd_load_stats st;
    if (dump == NULL) {
        fprintf(stderr, "HD_TEST_DUMP: the fixture dump to load\n");
        return 1;
    }
    snprintf(path, cap, "%s.%s-%d.db", dump, tag, (int)getpid());
    if (hd_load_file(&st, dump, path, NULL, NULL) < 0 ||
        hd_db_open(db, path) < 0) {
        fprintf(stderr, "cannot load %s: %s\n", dump, hd_error_last()->message);
        unlink(path);
        return 1;
    }
    return 0;
}

static void
fixture_close(hd_db *db, const char *path)
{
    hd_db_close(db);
    unlink(path);
}

#endif /* HEAPDIG_TEST_FIXTURE_H */
