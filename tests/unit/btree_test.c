/* heapdig — MIT licence.
 *
 * btree_test.c: store/btree.c against SQLite itself.  Rows made at random
 * (integers of every serial type and sign, NULLs, texts from empty to
 * longer than a page, UTF-8, rowids from negative to near 2^63) go into a
 * rowid table, a WITHOUT ROWID table and an index on each, written page by
 * page by hd_btree_fill in one database and by SQLite's INSERTs in
 * another: SQLite's integrity_check passes (every index entry found by its
 * key: entries out of order fail it), both hold the same rows, lookups
 * through the indexes count what a scan does, and the tables take new rows
 * after.  Small pages (deep trees, overflow chains), reserved bytes, and
 * SQLite's lock-byte page moved low (SQLITE_TESTCTRL_PENDING_BYTE) so that
 * the trees span it.  And what a fill refuses: a root with rows, rowids not
 * ascending, a database of another schema format; and bulk.c a schema
 * whose objects or edges are not the ones it writes.
 */
#include "store/write.h"
#include "harness.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PENDING (512 * 40) /* the lock-byte page: 41 of 512-byte pages */

static char dir[] = "/tmp/hd-btree-XXXXXX";
static char fill_path[64], ref_path[64];

static const char *const schema =
    "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c INTEGER);"
    "CREATE INDEX t_ac ON t(a, c);"
    "CREATE TABLE w (x INTEGER NOT NULL, y INTEGER NOT NULL, z INTEGER, "
    "PRIMARY KEY (x, y)) WITHOUT ROWID;"
    "CREATE INDEX w_z ON w(z, x);";

static void
cleanup(void)
{
    unlink(fill_path);
    unlink(ref_path);
    rmdir(dir);
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

/* ---- Rows ------------------------------------------------------------------ */

static uint64_t seed;

static uint64_t
rnd(void)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return seed >> 11;
}

/* An integer of any serial type: 0, 1, and every width, either sign. */
static int64_t
any_int(void)
{
    uint64_t r = rnd();
    if (r % 8 == 0)
        return (int64_t)(r / 8 % 2);
    int bits = (int)(r / 8 % 64);
    int64_t v = (int64_t)(rnd() & (bits == 63 ? UINT64_MAX >> 1 : (1ull << bits) - 1));
    return r / 512 % 2 ? -v : v;
}

typedef struct cell {
    int null;
    int64_t v;
} cell;

typedef struct trow {
    int64_t id;
    cell a, c;
    char *b; /* NULL or text of blen bytes */
    uint32_t blen;
} trow;

typedef struct wrow {
    int64_t x, y;
    cell z;
} wrow;

static cell
maybe_null(void)
{
    cell c = {rnd() % 6 == 0, 0};
    if (!c.null)
        c.v = rnd() % 3 ? (int64_t)(rnd() % 50) - 25 : any_int();
    return c;
}

static char *
any_text(uint32_t *len, int long_ok)
{
    uint64_t r = rnd() % 100;
    uint32_t n = r < 70 ? (uint32_t)(rnd() % 40)
                 : r < 95 || !long_ok ? (uint32_t)(rnd() % 1500)
                                      : (uint32_t)(3000 + rnd() % 9000);
    char *t = malloc(n + 2);
    uint32_t i = 0;
    while (i < n) {
        if (rnd() % 10 == 0 && i + 2 <= n) { /* é */
            t[i++] = (char)0xc3;
            t[i++] = (char)0xa9;
        } else {
            t[i++] = (char)('a' + rnd() % 26);
        }
    }
    *len = n;
    return t;
}

typedef struct rows {
    trow *t;
    size_t nt;
    wrow *w;
    size_t nw;
    uint32_t *t_ac, *w_z; /* index orders */
} rows;

static int
cmp_cell(cell a, cell b)
{
    if (a.null || b.null)
        return b.null - a.null; /* NULL first */
    return a.v < b.v ? -1 : a.v > b.v;
}

static rows *sorting;

static int
cmp_t_ac(const void *x, const void *y)
{
    const trow *a = &sorting->t[*(const uint32_t *)x],
               *b = &sorting->t[*(const uint32_t *)y];
    int c = cmp_cell(a->a, b->a);
    if (c == 0)
        c = cmp_cell(a->c, b->c);
    return c ? c : (a->id > b->id) - (a->id < b->id);
}

static int
cmp_w_z(const void *x, const void *y)
{
    const wrow *a = &sorting->w[*(const uint32_t *)x],
               *b = &sorting->w[*(const uint32_t *)y];
    int c = cmp_cell(a->z, b->z);
    if (c == 0)
        c = (a->x > b->x) - (a->x < b->x);
    return c ? c : (a->y > b->y) - (a->y < b->y);
}

static void
make_rows(rows *r, size_t nt, size_t nw, int long_ok)
{
    r->t = calloc(nt + 1, sizeof(*r->t));
    r->w = calloc(nw + 1, sizeof(*r->w));
    r->nt = nt;
    r->nw = nw;
    int64_t id = -(int64_t)(rnd() % 1000) - 1;
    for (size_t i = 0; i < nt; i++) {
        r->t[i].id = id;
        /* rowids of every width, the last near the largest */
        id += i + 2 == nt ? INT64_MAX / 2 : (int64_t)(1 + (rnd() % 4 ? rnd() % 3
                                                      : rnd() % 100000000));
        r->t[i].a = maybe_null();
        r->t[i].c = maybe_null();
        if (rnd() % 5)
            r->t[i].b = any_text(&r->t[i].blen, long_ok);
    }
    int64_t x = any_int() / 4, y = 0;
    for (size_t i = 0; i < nw; i++) {
        if (rnd() % 3 == 0) {
            x += 1 + (int64_t)(rnd() % 1000);
            y = any_int() / 4;
        } else {
            y += 1 + (int64_t)(rnd() % 70000);
        }
        r->w[i] = (wrow){x, y, maybe_null()};
    }
    r->t_ac = malloc((nt + 1) * sizeof(uint32_t));
    r->w_z = malloc((nw + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < nt; i++)
        r->t_ac[i] = (uint32_t)i;
    for (size_t i = 0; i < nw; i++)
        r->w_z[i] = (uint32_t)i;
    sorting = r;
    qsort(r->t_ac, nt, sizeof(uint32_t), cmp_t_ac);
    qsort(r->w_z, nw, sizeof(uint32_t), cmp_w_z);
}

static void
free_rows(rows *r)
{
    for (size_t i = 0; i < r->nt; i++)
        free(r->t[i].b);
    free(r->t);
    free(r->w);
    free(r->t_ac);
    free(r->w_z);
}

static hd_value
val(cell c)
{
    return c.null ? (hd_value){HD_V_NULL, 0, NULL, 0} : (hd_value){HD_V_INT, c.v, NULL, 0};
}

static hd_value
num(int64_t v)
{
    return (hd_value){HD_V_INT, v, NULL, 0};
}

/* The sources: t's rows (the id column, the rowid's alias, stored NULL),
 * t_ac's entries (a, c, rowid), w's rows (x, y, z), w_z's (z, x, y). */
static size_t
t_entry(void *ctx, uint64_t i, unsigned char *buf, size_t cap, int64_t *rowid)
{
    const trow *t = &((rows *)ctx)->t[i];
    hd_value v[4] = {{HD_V_NULL, 0, NULL, 0}, val(t->a),
                     t->b ? (hd_value){HD_V_TEXT, 0, t->b, t->blen}
                          : (hd_value){HD_V_NULL, 0, NULL, 0},
                     val(t->c)};
    *rowid = t->id;
    return hd__record(buf, cap, v, 4);
}

static size_t
t_ac_entry(void *ctx, uint64_t i, unsigned char *buf, size_t cap, int64_t *rowid)
{
    const trow *t = &((rows *)ctx)->t[((rows *)ctx)->t_ac[i]];
    hd_value v[3] = {val(t->a), val(t->c), num(t->id)};
    (void)rowid;
    return hd__record(buf, cap, v, 3);
}

static size_t
w_entry(void *ctx, uint64_t i, unsigned char *buf, size_t cap, int64_t *rowid)
{
    const wrow *w = &((rows *)ctx)->w[i];
    hd_value v[3] = {num(w->x), num(w->y), val(w->z)};
    (void)rowid;
    return hd__record(buf, cap, v, 3);
}

static size_t
w_z_entry(void *ctx, uint64_t i, unsigned char *buf, size_t cap, int64_t *rowid)
{
    const wrow *w = &((rows *)ctx)->w[((rows *)ctx)->w_z[i]];
    hd_value v[3] = {val(w->z), num(w->x), num(w->y)};
    (void)rowid;
    return hd__record(buf, cap, v, 3);
}

/* ---- Databases ------------------------------------------------------------- */

static sqlite3 *
create(const char *path, int page_size, int reserved)
{
    sqlite3 *db = NULL;
    char sql[128];
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        exit(2);
    snprintf(sql, sizeof(sql), "PRAGMA page_size=%d; PRAGMA journal_mode=OFF",
             page_size);
    run(db, sql);
    if (reserved) /* before the first page is written */
        sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserved);
    run(db, schema);
    return db;
}

static void
bind_cell(sqlite3_stmt *st, int i, cell c)
{
    if (c.null)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, c.v);
}

/* The same rows by SQLite's own INSERTs. */
static void
insert_rows(sqlite3 *db, const rows *r)
{
    sqlite3_stmt *st = NULL;
    run(db, "BEGIN");
    sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?, ?, ?)", -1, &st, NULL);
    for (size_t i = 0; i < r->nt; i++) {
        sqlite3_bind_int64(st, 1, r->t[i].id);
        bind_cell(st, 2, r->t[i].a);
        if (r->t[i].b)
            sqlite3_bind_text(st, 3, r->t[i].b, (int)r->t[i].blen, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 3);
        bind_cell(st, 4, r->t[i].c);
        if (sqlite3_step(st) != SQLITE_DONE)
            exit(2);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "INSERT INTO w VALUES (?, ?, ?)", -1, &st, NULL);
    for (size_t i = 0; i < r->nw; i++) {
        sqlite3_bind_int64(st, 1, r->w[i].x);
        sqlite3_bind_int64(st, 2, r->w[i].y);
        bind_cell(st, 3, r->w[i].z);
        if (sqlite3_step(st) != SQLITE_DONE)
            exit(2);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    run(db, "COMMIT");
}

static uint32_t
root_of(sqlite3 *db, const char *name)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT rootpage FROM sqlite_schema WHERE "
             "name = '%s'", name);
    return (uint32_t)one(db, sql);
}

static size_t
trees_of(sqlite3 *db, rows *r, hd_btree_fill_tree *t)
{
    t[0] = (hd_btree_fill_tree){root_of(db, "t"), {"t", r->nt, 1, t_entry, r}};
    t[1] = (hd_btree_fill_tree){root_of(db, "t_ac"), {"t_ac", r->nt, 0, t_ac_entry, r}};
    t[2] = (hd_btree_fill_tree){root_of(db, "w"), {"w", r->nw, 0, w_entry, r}};
    t[3] = (hd_btree_fill_tree){root_of(db, "w_z"), {"w_z", r->nw, 0, w_z_entry, r}};
    return 4;
}

/* Filled and inserted alike: whole, sound, the same rows, and indexes that
 * find what a scan finds. */
static void
fill_case(size_t nt, size_t nw, int page_size, int reserved)
{
    rows r = {0};
    hd_btree_fill_tree trees[4];
    make_rows(&r, nt, nw, page_size < 4096);
    sqlite3 *ref = create(ref_path, page_size, reserved);
    insert_rows(ref, &r);
    sqlite3_close(ref);
    sqlite3 *db = create(fill_path, page_size, reserved);
    size_t n = trees_of(db, &r, trees);
    sqlite3_close(db);
    int err = hd_btree_fill(fill_path, trees, n, PENDING);
    CHECK_EQ(err, 0);
    if (err < 0)
        fprintf(stderr, "  %s\n", hd_error_last()->message);

    sqlite3_open(fill_path, &db);
    char *ok = text(db, "PRAGMA integrity_check");
    int good = ok && strcmp(ok, "ok") == 0;
    CHECK(good);
    if (!good)
        fprintf(stderr, "  t %zu w %zu page %d reserved %d: %s\n", nt, nw,
                page_size, reserved, ok ? ok : "?");
    free(ok);
    char attach[128];
    snprintf(attach, sizeof(attach), "ATTACH '%s' AS ref", ref_path);
    run(db, attach);
    CHECK_EQ(one(db, "SELECT count(*) FROM t"), (int64_t)nt);
    CHECK_EQ(one(db, "SELECT count(*) FROM w"), (int64_t)nw);
    CHECK_EQ(one(db, "SELECT count(*) FROM (SELECT * FROM t EXCEPT SELECT * FROM ref.t)"), 0);
    CHECK_EQ(one(db, "SELECT count(*) FROM (SELECT * FROM ref.t EXCEPT SELECT * FROM t)"), 0);
    CHECK_EQ(one(db, "SELECT count(*) FROM (SELECT * FROM w EXCEPT SELECT * FROM ref.w)"), 0);
    CHECK_EQ(one(db, "SELECT count(*) FROM (SELECT * FROM ref.w EXCEPT SELECT * FROM w)"), 0);
    /* every row found through each index by its key, as by a scan */
    CHECK_EQ(one(db, "SELECT count(*) FROM t AS o WHERE (SELECT count(*) FROM t "
                     "INDEXED BY t_ac WHERE a IS o.a AND c IS o.c AND id = o.id) = 1"),
             (int64_t)nt);
    CHECK_EQ(one(db, "SELECT count(*) FROM w AS o WHERE (SELECT count(*) FROM w "
                     "INDEXED BY w_z WHERE z IS o.z AND x = o.x) = (SELECT "
                     "count(*) FROM w NOT INDEXED WHERE z IS o.z AND x = o.x)"),
             (int64_t)nw);
    CHECK_EQ(one(db, "SELECT count(*) FROM t WHERE id = (SELECT max(id) FROM ref.t)"),
             nt ? 1 : 0);
    if (page_size == 512 && nt > 1000) {
        CHECK(one(db, "PRAGMA page_count") > PENDING / 512 + 1); /* spans it */
        CHECK(one(db, "SELECT count(*) FROM t WHERE length(b) > 3000") > 5);
        /* full pages: no more than SQLite's own */
        CHECK(one(db, "PRAGMA page_count") <= one(db, "PRAGMA ref.page_count"));
    }
    /* and they take new rows */
    run(db, "INSERT INTO t (a, b) SELECT a + 1, b FROM ref.t WHERE id % 7 = 0;"
            "INSERT INTO w SELECT x, y + 1, z FROM ref.w WHERE y % 5 = 0 AND "
            "y < 9000000000000000000");
    ok = text(db, "PRAGMA integrity_check");
    CHECK(ok && strcmp(ok, "ok") == 0);
    free(ok);
    sqlite3_close(db);
    free_rows(&r);
}

static void
test_btree__fills_as_sqlite_inserts(void)
{
    static const struct { size_t nt, nw; int page, reserved; } cases[] = {
        {0, 0, 512, 0},      {1, 1, 512, 0},     {3, 2, 512, 0},
        {40, 60, 512, 0},    {6000, 20000, 512, 0}, {3000, 9000, 1024, 16},
        {2000, 5000, 512, 31}, {20000, 60000, 4096, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        seed = 1000 + i;
        fill_case(cases[i].nt, cases[i].nw, cases[i].page, cases[i].reserved);
    }
}

/* Integers at the edges of every serial type read back as written, as
 * integers. */
static void
test_btree__records_read_back(void)
{
    static const int64_t nums[] = {0, 1, -1, 2, 127, 128, -128, -129, 32767,
                                   32768, -32769, 8388607, 8388608, 2147483647,
                                   2147483648ll, -2147483649ll,
                                   140737488355327ll, 140737488355328ll,
                                   INT64_MAX, INT64_MIN};
    rows r = {0};
    size_t n = sizeof(nums) / sizeof(nums[0]);
    r.t = calloc(n, sizeof(*r.t));
    r.nt = n;
    r.t_ac = malloc(n * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        r.t[i] = (trow){(int64_t)i, {0, nums[i]}, {1, 0}, NULL, 0};
        r.t_ac[i] = (uint32_t)i;
    }
    sorting = &r;
    qsort(r.t_ac, n, sizeof(uint32_t), cmp_t_ac);
    sqlite3 *db = create(fill_path, 512, 0);
    hd_btree_fill_tree trees[4];
    trees_of(db, &r, trees);
    sqlite3_close(db);
    CHECK_EQ(hd_btree_fill(fill_path, trees, 2, PENDING), 0);
    sqlite3_open(fill_path, &db);
    for (size_t i = 0; i < n; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT a = %lld AND typeof(a) = 'integer' "
                 "FROM t WHERE id = %zu", (long long)nums[i], i);
        CHECK_EQ(one(db, sql), 1);
    }
    char *ok = text(db, "PRAGMA integrity_check");
    CHECK(ok && strcmp(ok, "ok") == 0);
    free(ok);
    sqlite3_close(db);
    free(r.t);
    free(r.t_ac);
}

static void
test_btree__refuses(void)
{
    rows r = {0};
    hd_btree_fill_tree trees[4];
    seed = 7;
    make_rows(&r, 50, 50, 1);
    /* a root with rows */
    sqlite3 *db = create(fill_path, 512, 0);
    insert_rows(db, &r);
    size_t n = trees_of(db, &r, trees);
    sqlite3_close(db);
    CHECK(hd_btree_fill(fill_path, trees, n, PENDING) < 0);
    CHECK(strstr(hd_error_last()->message, "not an empty table b-tree") != NULL);
    /* rowids out of order: nothing past the planning pass */
    db = create(fill_path, 512, 0);
    n = trees_of(db, &r, trees);
    sqlite3_close(db);
    int64_t keep = r.t[20].id;
    r.t[20].id = r.t[19].id;
    CHECK(hd_btree_fill(fill_path, trees, n, PENDING) < 0);
    CHECK(strstr(hd_error_last()->message, "t: rowid") != NULL);
    r.t[20].id = keep;
    db = NULL;
    sqlite3_open(fill_path, &db);
    CHECK_EQ(one(db, "SELECT count(*) FROM t"), 0);
    sqlite3_close(db);
    /* a root out of range */
    trees[0].root = 100000;
    CHECK(hd_btree_fill(fill_path, trees, 1, PENDING) < 0);
    CHECK(strstr(hd_error_last()->message, "out of range") != NULL);
    /* schema format 1 (legacy): 0 and 1 would need bytes */
    unlink(fill_path);
    sqlite3_open(fill_path, &db);
    run(db, "PRAGMA legacy_file_format=ON; PRAGMA page_size=512; PRAGMA journal_mode=OFF");
    run(db, schema);
    n = trees_of(db, &r, trees);
    sqlite3_close(db);
    if (hd_btree_fill(fill_path, trees, n, PENDING) < 0)
        CHECK(strstr(hd_error_last()->message, "schema format") != NULL);
    free_rows(&r);
}

/* bulk.c writes the objects' and edges' b-trees itself: a schema whose
 * tables or indexes on them are not the ones it writes is refused before
 * anything is written (an index it did not know would be left empty). */
static void
test_btree__bulk_refuses_other_schemas(void)
{
    static const struct { const char *sql, *says; } cases[] = {
        {"", NULL},
        {"CREATE INDEX objects_size ON objects(size)", "index objects_size is not one"},
        {"DROP INDEX objects_idom; CREATE INDEX objects_idom ON objects(idom, retained)",
         "index objects_idom is not one"},
        {"ALTER TABLE objects ADD COLUMN extra INTEGER", "objects table is not the one"},
        {"DROP TABLE edges; CREATE TABLE edges (src INTEGER NOT NULL, seq INTEGER "
         "NOT NULL, dst INTEGER NOT NULL, weak INTEGER NOT NULL, label TEXT, "
         "PRIMARY KEY (src, seq)) WITHOUT ROWID; CREATE INDEX edges_dst ON "
         "edges(dst, src)", "edges table is not the one"},
        {"DROP INDEX edges_dst", "the schema has no edges_dst"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hd_heap *h = calloc(1, sizeof(*h)); /* no objects, no edges */
        hd_analysis a = {0};
        uint32_t *held_as = NULL, *edge_label = NULL;
        sqlite3 *db = NULL;
        unlink(fill_path);
        sqlite3_open(fill_path, &db);
        run(db, "PRAGMA page_size=512; PRAGMA journal_mode=OFF");
        run(db, hd_schema_sql);
        run(db, cases[i].sql);
        int err = hd_bulk_write(fill_path, &db, h, &a, &held_as, &edge_label,
                                HD_BULK_TABLES, NULL);
        if (cases[i].says == NULL) {
            CHECK_EQ(err, 0);
            CHECK(db != NULL); /* opened again */
            /* checked on a connection of the test's own: bulk's asks for
             * 65536-byte pages, which this SQLite's lock page (moved to
             * byte 20480 for the tests above) does not allow */
            sqlite3_close(db);
            sqlite3_open(fill_path, &db);
            char *ok = text(db, "PRAGMA integrity_check");
            CHECK(ok && strcmp(ok, "ok") == 0);
            free(ok);
        } else {
            CHECK(err < 0);
            const char *msg = hd_error_last()->message;
            CHECK(strstr(msg, cases[i].says) != NULL);
            if (strstr(msg, cases[i].says) == NULL)
                fprintf(stderr, "  %s: %s\n", cases[i].sql, msg);
        }
        sqlite3_close(db);
        free(h);
    }
}

int
main(int argc, char **argv)
{
    if (sqlite3_test_control(SQLITE_TESTCTRL_PENDING_BYTE, PENDING) !=
        (int)HD_SQLITE_PENDING_BYTE) {
        fprintf(stderr, "this SQLite does not move its lock-byte page\n");
        return 2;
    }
    if (mkdtemp(dir) == NULL)
        return 2;
    atexit(cleanup);
    snprintf(fill_path, sizeof(fill_path), "%s/fill.db", dir);
    snprintf(ref_path, sizeof(ref_path), "%s/ref.db", dir);
    static const hd_test_case cases[] = {
        TEST(test_btree__fills_as_sqlite_inserts),
        TEST(test_btree__records_read_back),
        TEST(test_btree__refuses),
        TEST(test_btree__bulk_refuses_other_schemas),
    };
    return hd_test_main(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
