/* heapdig — MIT licence.
 *
 * sqlite_raw.c: the baseline for `heapdig load`'s SQLite phase: inserting
 * the same number of rows, of the same shape (16 integer/text columns per
 * object, 5 integers per reference), into plain tables with no keys or indexes, in one
 * transaction with the same pragmas and prepared statements.
 *
 *     hd_bench_sqlite N_OBJECTS N_REFS DB
 *
 * Prints the seconds taken.
 */
#define _POSIX_C_SOURCE 200809L
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    sqlite3 *db;
    sqlite3_stmt *o, *r;
    long long n = atoll(argv[1]), m = atoll(argv[2]);
    unlink(argv[3]);
    if (sqlite3_open(argv[3], &db) != SQLITE_OK)
        return 1;
    sqlite3_exec(db, "PRAGMA page_size=65536; PRAGMA journal_mode=OFF;"
                 "PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE;"
                 "PRAGMA cache_size=-524288; CREATE TABLE o(a,b,c,d,e,f,g,h,"
                 "i,j,k,l,m,n,p,q); CREATE TABLE r(a,b,c,d,e); BEGIN",
                 NULL, NULL, NULL);
    double t0 = now();
    sqlite3_prepare_v2(db, "INSERT INTO o VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,"
                       "?10,?11,?12,?13,?14,?15,?16)", -1, &o, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO r VALUES (?1,?2,?3,?4,?5)", -1, &r,
                       NULL);
    for (long long i = 0; i < n; i++) {
        sqlite3_bind_int64(o, 1, i);
        sqlite3_bind_int64(o, 2, 0x7f0000000000ll + i * 48);
        for (int c = 3; c <= 16; c++)
            if (c == 8)
                sqlite3_bind_text(o, c, "some value", -1, SQLITE_STATIC);
            else
                sqlite3_bind_int64(o, c, (i * c) & 0xffff);
        sqlite3_step(o);
        sqlite3_reset(o);
    }
    for (long long i = 0; i < m; i++) {
        sqlite3_bind_int64(r, 1, i / 2);
        sqlite3_bind_int64(r, 2, i & 1);
        sqlite3_bind_int64(r, 3, (i * 7919) % (n ? n : 1));
        sqlite3_bind_int64(r, 4, 0);              /* weak */
        sqlite3_bind_int64(r, 5, i % 1000 + 1);   /* labels.id */
        sqlite3_step(r);
        sqlite3_reset(r);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    printf("%.2f\n", now() - t0);
    sqlite3_finalize(o);
    sqlite3_finalize(r);
    sqlite3_close(db);
    unlink(argv[3]);
    return 0;
}
