/* heapdig — MIT licence.
 *
 * store/write.h: what the store's writers share, inside store/ only:
 * SQL helpers and batched inserts (rows.c), label texts stored once
 * (labels.c), the grouped dominator tree (tree.c), and the b-trees of
 * the objects, the edges and their indexes written as pages (bulk.c makes
 * their entries, btree.c the pages).
 */
#ifndef HEAPDIG_STORE_WRITE_H
#define HEAPDIG_STORE_WRITE_H

#include "analyze/analyze.h"
#include "heap/heap.h"
#include "base/base.h"

#include <sqlite3.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- rows.c ---------------------------------------------------------------- */

int hd_sql_error(sqlite3 *db, const char *what);
int hd_sql_exec(sqlite3 *db, const char *sql, const char *what);
int hd_sql_prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql);
/* Steps a statement that returns no rows, and resets it. */
int hd_sql_step(sqlite3 *db, sqlite3_stmt *st, const char *what);

/* A database file opened for a bulk load: no journal, no syncs (flags:
 * SQLITE_OPEN_CREATE or 0). */
int hd_sql_open(sqlite3 **db, const char *path, int flags);
/* A new database file (mode, O_EXCL: never someone else's) opened for a
 * bulk load, with the pre-load part of the schema. */
int hd_sql_create(sqlite3 **db, const char *path, mode_t mode,
                  const char *schema);

/* Batched inserts: BATCH_ROWS rows to a statement (SQLite's cost per step,
 * not per value, dominates a bulk load: 1.6 M edges took 1.6 s a row at a
 * time, 0.6 s 32 at a time).  Values wait in `vals` until a batch is full;
 * texts must outlive the batch. */
#define HD_BATCH_ROWS 32
#define HD_BATCH_MAX_COLS 18

typedef struct hd_batch_val {
    const char *text; /* NULL: an integer, or NULL when is_null */
    int64_t num;
    int len, is_null;
} hd_batch_val;

typedef struct hd_batch {
    sqlite3 *db;
    sqlite3_stmt *full;
    const char *table;
    int cols, n; /* values per row; values waiting */
    hd_batch_val vals[HD_BATCH_ROWS * HD_BATCH_MAX_COLS];
} hd_batch;

int hd_batch_open(hd_batch *b, sqlite3 *db, const char *table, int cols);
void hd_batch_int(hd_batch *b, int64_t v);
void hd_batch_text(hd_batch *b, const char *t, int len);
void hd_batch_null(hd_batch *b);
void hd_batch_id(hd_batch *b, uint32_t v); /* NULL for HD_NONE */
/* After each row: a full batch goes in. */
int hd_batch_row(hd_batch *b);
/* The last, partial batch, and the statements; returns err if set. */
int hd_batch_close(hd_batch *b, int err);

/* ---- labels.c -------------------------------------------------------------- */

/* Label texts, each stored once: text -> labels.id (1..n). */
typedef struct hd_label_ids {
    hd_hmap map; /* hash of the text -> id */
    char **text; /* [1..n] */
    uint32_t n;
    size_t cap;
} hd_label_ids;

/* The id of a label's text, made if new; 0 out of memory. */
uint32_t hd_label_id(hd_label_ids *li, const char *text);
void hd_label_ids_free(hd_label_ids *li);
int hd_labels_write(sqlite3 *db, const hd_label_ids *li);

/* Every edge's labels.id (0: none) into edge_label[n_edges], and for each
 * object the id of the label its immediate dominator (idom[]) holds it under (its
 * first strong reference to it) into held_as[] (HD_NONE: not held
 * directly), if held_as is not NULL. */
int hd_labels_of_edges(const hd_heap *h, const uint32_t *idom,
                       hd_label_ids *li, uint32_t *edge_label,
                       uint32_t *held_as);

/* ---- tree.c ---------------------------------------------------------------- */

/* The tree table: the grouped dominator tree at HD_TREE_TABLE_PCT and
 * HD_TREE_FOLDED_PCT of total bytes, held_as and li as the objects'. */
int hd_tree_rows_write(sqlite3 *db, const hd_heap *h, const hd_analysis *a,
                       const uint32_t *held_as, const hd_label_ids *li,
                       int64_t total);

/* ---- btree.c ---------------------------------------------------------------- */

/* Where SQLite keeps its lock bytes (its PENDING_BYTE): the page holding it
 * is never used. */
#define HD_SQLITE_PENDING_BYTE 0x40000000u

/* A value of an SQLite record. */
enum { HD_V_NULL, HD_V_INT, HD_V_TEXT };
typedef struct hd_value {
    int kind;
    int64_t num;
    const char *text; /* UTF-8, len bytes */
    uint32_t len;
} hd_value;

/* The record of n values into buf if it has room (cap bytes): its length
 * either way. */
size_t hd__record(unsigned char *buf, size_t cap, const hd_value *v, int n);

/* A b-tree's entries in key order, made on demand (asked for in order,
 * 0 to n - 1, twice; one may be asked again at once): entry i's
 * record into buf if it has room (cap bytes; buf NULL and cap 0 when only
 * the length is wanted), its length returned either way; a table b-tree's
 * (rowid keys, ascending) rowid into *rowid.  An index b-tree's records
 * are its key columns, then the table's key. */
typedef struct hd_btree_source {
    const char *name; /* for errors */
    uint64_t n;
    int table;
    size_t (*entry)(void *ctx, uint64_t i, unsigned char *buf, size_t cap,
                    int64_t *rowid);
    void *ctx;
} hd_btree_source;

typedef struct hd_btree_fill_tree {
    uint32_t root; /* an empty table or index of the source's kind */
    hd_btree_source src;
} hd_btree_fill_tree;

/* Writes each tree's entries into its empty b-tree of the database file at
 * path (not open in SQLite; rollback journal, no auto_vacuum, schema
 * format 4, UTF-8) as full pages after the file's last one, SQLite's
 * lock-byte page (at pending_byte) skipped.  Every root is checked before
 * anything is written; after a later failure the file is half-written (the
 * caller removes it). */
int hd_btree_fill(const char *path, const hd_btree_fill_tree *trees,
                  size_t n, uint64_t pending_byte);

/* ---- bulk.c ---------------------------------------------------------------- */

/* The objects and edges tables and their indexes, empty in *db (the
 * schema's, checked to be those written here), in two parts: the tables
 * and edges_dst, then the other indexes (the other tables' rows go in
 * between, once the objects' columns are freed).  *db is closed, the
 * b-trees written (btree.c), the database at db_path opened again into
 * *db.  held_as may be NULL; edge_label[e] 0 for none.  Frees each array
 * of h and a once the trees that need it are written (what is left is for
 * the caller to free), edge_label with the edges and held_as with
 * objects_idom (set to NULL then).  ready: hd_bulk_orders_start's, for
 * the second part (NULL for the first). */
enum { HD_BULK_TABLES, HD_BULK_INDEXES };
typedef struct hd_bulk_orders hd_bulk_orders;
int hd_bulk_write(const char *db_path, sqlite3 **db, hd_heap *h,
                  hd_analysis *a, uint32_t **held_as, uint32_t **edge_label,
                  int part, hd_bulk_orders *ready);

/* Starts making the second part's two slowest orders (by address, by
 * dominator) on a thread, for hd_bulk_write(..., HD_BULK_INDEXES, ready):
 * a load's other core sorts while SQLite writes the small tables.  h, a
 * and held_as must stay as they are until that call (it joins the
 * thread; without a thread, they are made here).  NULL: out of memory.
 * hd_bulk_orders_free joins and frees, on every path. */
hd_bulk_orders *hd_bulk_orders_start(hd_heap *h, hd_analysis *a,
                                     uint32_t *held_as);
void hd_bulk_orders_free(hd_bulk_orders *o);

#endif /* HEAPDIG_STORE_WRITE_H */
