/* heapdig — MIT licence.
 *
 * graft_test.c: store/graft.c against SQLite itself.  B-trees of every
 * kind (a WITHOUT ROWID table, an index, a rowid table), deep (512-byte
 * pages), with overflow chains, written in random order and with pages
 * freed, grafted into a database that has rows of its own: SQLite's
 * integrity_check passes and every row reads back, through the index too,
 * and the grafted tables take new rows.  SQLite's lock-byte page is moved
 * low (SQLITE_TESTCTRL_PENDING_BYTE) so that both files span it.  And what
 * a graft refuses: a destination root with rows, other page sizes, a source
 * page pointing out of the file or at a page twice; and sources with bytes
 * flipped at random.
 */
#include "store/write.h"
#include "harness.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 512
#define PENDING (PAGE * 40) /* the lock-byte page: page 41 */

/* 1..n as s(value) (generate_series is the shell's, not the library's) */
#define SERIES(n) "RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value + 1 " \
                  "FROM s WHERE value < " #n ")"

static char dir[] = "/tmp/hd-graft-XXXXXX";
static char from_path[64], to_path[64];

static const char *const schema =
    "CREATE TABLE w (a INTEGER, b INTEGER, c BLOB, PRIMARY KEY (a, b)) "
    "WITHOUT ROWID;"
    "CREATE INDEX w_c ON w(c);"
    "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);";

static void
cleanup(void) /* also after run()'s exit */
{
    unlink(from_path);
    unlink(to_path);
    rmdir(dir);
}

static sqlite3 *
open_db(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "  cannot open %s\n", path);
        exit(2);
    }
    return db;
}

static void
run(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "  %s: %s\n", sql, msg);
        exit(2);
    }
}

static int64_t
one(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *
text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    char *v = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

/* from: w, w_c and t full (random order, some rows deleted) and a table
 * of its own; to: the same tables empty and one with rows of its own. */
static int keep_bytes = 100; /* of each of to's own 100 rows */

static void
make_files(int to_page)
{
    sqlite3 *db;
    unlink(from_path);
    unlink(to_path);
    db = open_db(from_path);
    run(db, "PRAGMA page_size=512; PRAGMA journal_mode=OFF; BEGIN");
    run(db, schema);
    run(db, "CREATE TABLE other (x);"
            "WITH " SERIES(200) " INSERT INTO other SELECT randomblob(300) FROM s;"
            "WITH " SERIES(3000) " INSERT INTO w SELECT abs(random()) % 100000, "
            "  value, randomblob(abs(random()) % 1500) FROM s;"
            "WITH " SERIES(2000) " INSERT INTO t SELECT abs(random()), "
            "  hex(randomblob(abs(random()) % 1200)) FROM s WHERE 1 "
            "  ON CONFLICT DO NOTHING;"
            "DELETE FROM t WHERE id % 3 = 0; DELETE FROM other WHERE rowid % 2;"
            "COMMIT");
    sqlite3_close(db);
    db = open_db(to_path);
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA page_size=%d", to_page);
    run(db, pragma);
    run(db, "PRAGMA journal_mode=OFF");
    run(db, schema);
    char keep[192];
    snprintf(keep, sizeof(keep), "CREATE TABLE keep (x); WITH " SERIES(100)
             " INSERT INTO keep SELECT randomblob(%d) FROM s", keep_bytes);
    run(db, keep);
    sqlite3_close(db);
}

static uint32_t
root(sqlite3 *db, const char *name)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT rootpage FROM sqlite_schema WHERE "
             "name = '%s'", name);
    return (uint32_t)one(db, sql);
}

static int pack_all; /* trees() asks for packing: none of these can be */

/* The trees w, w_c and t, from's roots to to's. */
static size_t
trees(hd_graft_tree *t)
{
    static const char *const names[3] = {"w", "w_c", "t"};
    sqlite3 *f = open_db(from_path), *d = open_db(to_path);
    for (int i = 0; i < 3; i++)
        t[i] = (hd_graft_tree){root(f, names[i]), root(d, names[i]), pack_all};
    sqlite3_close(f);
    sqlite3_close(d);
    return 3;
}

static void
trees_move_whole(void)
{
    hd_graft_tree t[3];
    make_files(PAGE);
    size_t n = trees(t);
    CHECK_EQ(hd_btree_graft(from_path, to_path, t, n, PENDING), 0);
    sqlite3 *db = open_db(to_path);
    char *ok = text(db, "PRAGMA integrity_check");
    CHECK(ok && strcmp(ok, "ok") == 0);
    if (ok && strcmp(ok, "ok"))
        fprintf(stderr, "  integrity_check: %s\n", ok);
    free(ok);
    /* both files span the lock-byte page; the source's trees are deep */
    CHECK(one(db, "PRAGMA page_count") > PENDING / PAGE + 1);
    CHECK(one(db, "SELECT count(*) FROM keep") == 100);
    char attach[128];
    snprintf(attach, sizeof(attach), "ATTACH '%s' AS f", from_path);
    run(db, attach);
    CHECK(one(db, "PRAGMA f.page_count") > PENDING / PAGE + 1);
    CHECK(one(db, "SELECT count(*) FROM w") > 2900);
    CHECK(one(db, "SELECT count(*) FROM w WHERE length(c) > 1000") > 100);
    CHECK(one(db, "SELECT count(*) FROM t") > 1000);
    CHECK_EQ(one(db, "SELECT count(*) FROM w"), one(db, "SELECT count(*) FROM f.w"));
    CHECK_EQ(one(db, "SELECT count(*) FROM t"), one(db, "SELECT count(*) FROM f.t"));
    CHECK_EQ(one(db, "SELECT count(*) FROM (SELECT * FROM w EXCEPT SELECT * FROM f.w)"), 0);
    CHECK_EQ(one(db, "SELECT count(*) FROM (SELECT * FROM t EXCEPT SELECT * FROM f.t)"), 0);
    /* the index, read alone, holds every row's c */
    CHECK_EQ(one(db, "SELECT sum(length(c)) FROM w INDEXED BY w_c WHERE c >= x''"),
             one(db, "SELECT sum(length(c)) FROM f.w"));
    CHECK_EQ(one(db, "SELECT count(*) FROM w INDEXED BY w_c WHERE c > x'80'"),
             one(db, "SELECT count(*) FROM f.w WHERE c > x'80'"));
    /* the source's other table stays behind */
    CHECK_EQ(one(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'other'"), 0);
    /* and the grafted trees take new rows */
    run(db, "DETACH f;"
            "WITH " SERIES(500) " INSERT INTO w SELECT -value, 0, randomblob(900) FROM s;"
            "WITH " SERIES(300) " INSERT INTO t (v) SELECT hex(randomblob(700)) FROM s");
    ok = text(db, "PRAGMA integrity_check");
    CHECK(ok && strcmp(ok, "ok") == 0);
    free(ok);
    sqlite3_close(db);
}

/* The destination below the lock-byte page, and past it already; asked to
 * pack trees that cannot be (overflow, a rowid table), copied as they are. */
static void
test_graft__trees_move_whole(void)
{
    for (keep_bytes = 100; keep_bytes <= 2000; keep_bytes += 1900) {
        pack_all = keep_bytes > 100;
        trees_move_whole();
        sqlite3 *db = open_db(to_path);
        if (keep_bytes > 100) /* to had pages past it before the graft */
            CHECK(one(db, "SELECT sum(length(x)) FROM keep") > PENDING);
        sqlite3_close(db);
    }
    keep_bytes = 100;
    pack_all = 0;
}

/* A WITHOUT ROWID table of n rows (blobs of len bytes, or 0..len-1 bytes
 * if vary), written in random order (pages not full), packed into an empty
 * one with page_size and reserved bytes: SQLite finds it whole and sound.
 * The destination's growth in pages, or -1. */
static int64_t
pack_case_of(int n, int len, int vary, int page_size, int reserved)
{
    char sql[512];
    sqlite3 *db;
    unlink(from_path);
    unlink(to_path);
    for (int side = 0; side < 2; side++) {
        db = open_db(side ? to_path : from_path);
        snprintf(sql, sizeof(sql), "PRAGMA page_size=%d; PRAGMA "
                 "journal_mode=OFF; PRAGMA synchronous=OFF", page_size);
        run(db, sql);
        int r = reserved; /* set before the first page is written; the
                           * old value comes back in it */
        if (r)
            sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &r);
        run(db, "CREATE TABLE p (a INTEGER, b BLOB, PRIMARY KEY (a, b)) "
                "WITHOUT ROWID");
        sqlite3_close(db);
    }
    FILE *f = fopen(from_path, "rb"); /* header byte 20: reserved bytes */
    unsigned char hdr[21] = {0};
    CHECK(f && fread(hdr, 1, 21, f) == 21 && hdr[20] == reserved);
    if (f)
        fclose(f);
    db = open_db(from_path);
    char blob[64];
    snprintf(blob, sizeof(blob), vary ? "abs(random()) %% %d" : "%d", len);
    snprintf(sql, sizeof(sql), "BEGIN; WITH RECURSIVE s(value) AS (SELECT 1 "
             "UNION ALL SELECT value + 1 FROM s WHERE value < %d) INSERT INTO "
             "p SELECT value, randomblob(%s) FROM s ORDER BY random(); COMMIT",
             n, blob);
    run(db, sql);
    uint32_t from_root = root(db, "p");
    sqlite3_close(db);
    db = open_db(to_path);
    hd_graft_tree t = {from_root, root(db, "p"), 1};
    int64_t before = one(db, "PRAGMA page_count");
    sqlite3_close(db);
    if (hd_btree_graft(from_path, to_path, &t, 1, PENDING) < 0) {
        fprintf(stderr, "  n=%d: %s\n", n, hd_error_last()->message);
        return -1;
    }
    db = open_db(to_path);
    char *ok = text(db, "PRAGMA integrity_check");
    int64_t grew = one(db, "PRAGMA page_count") - before;
    snprintf(sql, sizeof(sql), "ATTACH '%s' AS f", from_path);
    run(db, sql);
    int same = one(db, "SELECT count(*) FROM p") == n &&
               one(db, "SELECT count(*) FROM (SELECT * FROM p EXCEPT "
                   "SELECT * FROM f.p)") == 0 &&
               one(db, "SELECT count(*) FROM p WHERE a = 1") == 1;
    if (!ok || strcmp(ok, "ok") || !same) {
        fprintf(stderr, "  n=%d len=%d vary=%d page %d reserved %d: %s, rows "
                "%s\n", n, len, vary, page_size, reserved, ok ? ok : "?",
                same ? "same" : "differ");
        grew = -1;
    }
    free(ok);
    sqlite3_close(db);
    return grew;
}

static int64_t
pack_case(int n, int len)
{
    return pack_case_of(n, len, 0, PAGE, 0);
}

static void
test_graft__packs_full_pages(void)
{
    int bad = 0;
    for (int n = 1; n <= 420 && bad < 5; n++)
        bad += pack_case(n, 20) < 0;
    for (int n = 2700; n <= 2760 && bad < 5; n++)
        bad += pack_case(n, 20) < 0;
    CHECK_EQ(bad, 0);
    /* entries of many lengths (the pages' free space then counts to the
     * byte), and with reserved bytes (the load's 65536-byte pages cannot
     * hold the lowered lock byte: test_load packs a 600 k-reference load) */
    for (int n = 50; n <= 2000 && bad < 5; n += 97)
        bad += pack_case_of(n, 90, 1, PAGE, 0) < 0;
    for (int r = 1; r <= 32 && bad < 5; r += 15) /* 512 - 32 usable at least */
        bad += pack_case_of(1500, 60, 1, PAGE, r) < 0;
    CHECK_EQ(bad, 0);
    /* payloads at the most a 512-byte index page keeps (102 bytes; here
     * blobs of 96 + a record header and integer) and one byte over: the
     * tree is copied as it is, every row there */
    bad += pack_case_of(300, 97, 1, PAGE, 0) < 0;
    bad += pack_case_of(300, 99, 1, PAGE, 0) < 0;
    CHECK_EQ(bad, 0);
    int64_t packed = pack_case(6000, 20);
    sqlite3 *db = open_db(from_path);
    int64_t source = one(db, "PRAGMA page_count") - 2; /* page 1, the root */
    sqlite3_close(db);
    int ok = packed > 0 && packed < source &&
             packed <= 6000 * 28 / 504 * 105 / 100 + 1;
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  packed %lld pages against %lld\n",
                (long long)packed, (long long)source);
}

static char *
slurp(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f && fseek(f, 0, SEEK_END) == 0 && (*n = ftell(f)) > 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)*n)) &&
        fread(buf, 1, (size_t)*n, f) != (size_t)*n) {
        free(buf);
        buf = NULL;
    }
    if (f)
        fclose(f);
    return buf;
}

static void
test_graft__refuses_a_root_with_rows(void)
{
    hd_graft_tree t[3];
    long n0 = 0, n1 = 0;
    make_files(PAGE);
    trees(t);
    sqlite3 *db = open_db(to_path);
    run(db, "INSERT INTO t VALUES (1, 'x')");
    sqlite3_close(db);
    char *before = slurp(to_path, &n0);
    CHECK_EQ(hd_btree_graft(from_path, to_path, t, 3, PENDING), HD_ECORRUPT);
    CHECK(strstr(hd_error_last()->message, "not an empty b-tree") != NULL);
    /* every root is checked before anything is written */
    char *after = slurp(to_path, &n1);
    CHECK(before && after && n0 == n1 && memcmp(before, after, (size_t)n0) == 0);
    free(before);
    free(after);

    make_files(1024);
    trees(t);
    CHECK_EQ(hd_btree_graft(from_path, to_path, t, 3, PENDING), HD_EINVAL);
    CHECK(strstr(hd_error_last()->message, "different page sizes") != NULL);
}

/* A source page pointing out of the file, or at a page already reached,
 * is named with its byte offset. */
static void
test_graft__names_a_bad_source_page(void)
{
    hd_graft_tree t[3];
    unsigned char child[4];
    char want[256];
    for (int bad = 0; bad < 2; bad++) {
        make_files(PAGE);
        trees(t);
        FILE *f = fopen(from_path, "r+b");
        long at = (long)(t[0].from - 1) * PAGE; /* w's root: interior */
        unsigned char head[16];
        CHECK(f && fseek(f, at, SEEK_SET) == 0 && fread(head, 1, 16, f) == 16);
        CHECK(head[0] == 2);
        if (bad == 0) {
            memcpy(child, "\x7f\xff\xff\xff", 4);
        } else { /* the first cell's child again */
            unsigned cell = (unsigned)head[12] << 8 | head[13];
            CHECK(fseek(f, at + (long)cell, SEEK_SET) == 0 &&
                  fread(child, 1, 4, f) == 4);
        }
        CHECK(fseek(f, at + 8, SEEK_SET) == 0 && fwrite(child, 1, 4, f) == 4);
        fclose(f);
        CHECK_EQ(hd_btree_graft(from_path, to_path, t, 3, PENDING), HD_ECORRUPT);
        snprintf(want, sizeof(want), "%s: page %u (byte %ld): %s", from_path,
                 t[0].from, at + 8,
                 bad ? "a page reached twice" : "a page number out of range");
        CHECK(strcmp(hd_error_last()->message, want) == 0);
        if (strcmp(hd_error_last()->message, want))
            fprintf(stderr, "  got: %s\n  want: %s\n", hd_error_last()->message,
                    want);
    }
}

static void
spit(const char *path, const char *buf, long n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, (size_t)n, f) == (size_t)n);
    if (f)
        fclose(f);
}

/* Sources with bytes flipped at random: every graft returns, an error or
 * not, and reads and writes only inside its pages (the ASan build runs this
 * too). */
static void
test_graft__survives_flipped_bytes(void)
{
    hd_graft_tree t[3];
    long nf = 0, nt = 0;
    int failed = 0;
    make_files(PAGE);
    trees(t);
    char *from = slurp(from_path, &nf), *to = slurp(to_path, &nt);
    char *bent = malloc((size_t)(nf > 0 ? nf : 1));
    CHECK(from && to && bent);
    srand(1);
    for (int round = 0; from && to && bent && round < 80; round++) {
        memcpy(bent, from, (size_t)nf);
        for (int k = 0; k < 1 + round % 16; k++)
            bent[PAGE + rand() % (nf - PAGE)] ^= (char)(1 << rand() % 8);
        spit(from_path, bent, nf);
        spit(to_path, to, nt);
        failed += hd_btree_graft(from_path, to_path, t, 3, PENDING) < 0;
    }
    /* most flips land where no page number is */
    CHECK(failed > 0 && failed < 80);
    free(from);
    free(to);
    free(bent);
}

int
main(int argc, char **argv)
{
    /* before any connection: SQLite and the graft agree on the lock page
     * (an SQLite that ignored this would test nothing of it); SQLite's
     * random() seeded, so that a failure comes back */
    if (sqlite3_test_control(SQLITE_TESTCTRL_PENDING_BYTE, PENDING) !=
        (int)HD_SQLITE_PENDING_BYTE) {
        fprintf(stderr, "this SQLite does not move its lock-byte page\n");
        return 2;
    }
    sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, 1, NULL);
    if (mkdtemp(dir) == NULL)
        return 2;
    atexit(cleanup);
    snprintf(from_path, sizeof(from_path), "%s/from.db", dir);
    snprintf(to_path, sizeof(to_path), "%s/to.db", dir);
    static const hd_test_case cases[] = {
        TEST(test_graft__trees_move_whole),
        TEST(test_graft__refuses_a_root_with_rows),
        TEST(test_graft__names_a_bad_source_page),
        TEST(test_graft__packs_full_pages),
        TEST(test_graft__survives_flipped_bytes),
    };
    return hd_test_main(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
