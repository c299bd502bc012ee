/* heapdig — MIT licence.
 *
 * store/write.h: what the store's writers share, inside store/ only:
 * SQL helpers and batched inserts (rows.c), label texts stored once
 * (labels.c), the grouped dominator tree (tree.c), and the edges written
 * on a second core into a database of their own, then moved into the real
 * one (edges.c).
 */
#ifndef HEAPDIG_STORE_WRITE_H
#define HEAPDIG_STORE_WRITE_H

#include "analyze/analyze.h"
#include "heap/heap.h"
#include "base/base.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- rows.c ---------------------------------------------------------------- */

int hd_sql_error(sqlite3 *db, const char *what);
int hd_sql_exec(sqlite3 *db, const char *sql, const char *what);
int hd_sql_prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql);
/* Steps a statement that returns no rows, and resets it. */
int hd_sql_step(sqlite3 *db, sqlite3_stmt *st, const char *what);

/* For the index sorts, once the heap is freed: sorted runs of cache size,
 * in temporary files, merged on both cores, so that the index phase holds
 * a few hundred MB rather than the whole database (10 M objects: 1.25 GB
 * -> 0.27 GB, no slower).  16 MiB, not 64: each connection's sorter holds
 * a few runs at once, and at 64 the index phase was the peak of a 2 M
 * load (390 -> 314 MiB; objects_idom at 10 M built as fast). */
#define HD_INDEX_PRAGMAS "PRAGMA cache_size=-16384; PRAGMA temp_store=FILE"

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

/* ---- graft.c ---------------------------------------------------------------- */

/* A b-tree's root page in the source file, and the root of an empty table
 * or index of the same kind in the destination that takes its place. */
typedef struct hd_graft_tree {
    uint32_t from, to;
    int pack; /* an index b-tree rebuilt with full pages, if it can be */
} hd_graft_tree;

/* Where SQLite keeps its lock bytes (its PENDING_BYTE): the page holding it
 * is never used. */
#define HD_SQLITE_PENDING_BYTE 0x40000000u

#define HD_GRAFT_MAX 8

/* Moves n (<= HD_GRAFT_MAX) b-trees of the database file `from` into the file `to`
 * by copying their pages (their roots to the given empty roots, the rest
 * after to's last page); neither file open in SQLite, both with the same
 * page size, rollback-journal, no auto_vacuum.  Checks every root before
 * writing; a source that breaks the file format is an error naming the page
 * and byte. */
int hd_btree_graft(const char *from, const char *to,
                   const hd_graft_tree *trees, size_t n,
                   uint64_t pending_byte);

/* ---- btree.c ---------------------------------------------------------------- */

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

/* A b-tree's entries in key order, made on demand (read twice): entry i's
 * record into buf if it has room (cap bytes), its length returned either
 * way; a table b-tree's (rowid keys, ascending) rowid into *rowid.  An
 * index b-tree's records are its key columns, then the table's key. */
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
 * anything is written. */
int hd_btree_fill(const char *path, const hd_btree_fill_tree *trees,
                  size_t n, uint64_t pending_byte);

/* ---- edges.c ---------------------------------------------------------------
 *
 * SQLite has one writer per database, and the edges are most of the rows
 * and of the index work: they go into a database of their own on a second
 * thread (rows, then the edges_dst index) while the main one takes the
 * objects and their indexes; then both b-trees' pages are copied over
 * (graft.c: 10 M objects, SQLite's own transfer of the rows took 5.3 s). */
typedef struct hd_edges_job {
    const hd_heap *h;
    const uint32_t *edge_label;
    const char *schema;    /* the pre-load schema */
    const char *index_sql; /* the post-load statements */
    char path[4096 + 32];
    mode_t mode;
    sqlite3 *db;
    pthread_t thread;
    int sync;    /* lock and cond are set up (the main thread's) */
    int running; /* the thread is to be joined (the main thread's) */
    /* rows_done, cancelled, err and error while the thread runs (after
     * the join, without it) */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* rows_done was set */
    int rows_done, cancelled;
    int err;
    hd_error error; /* the thread's, when err < 0 */
} hd_edges_job;

/* Starts writing the edges' rows into job->path (created with mode), then
 * their edges_dst index. */
int hd_edges_start(hd_edges_job *job);
/* Waits for the rows: then the heap and edge_label may go.  The thread's
 * error so far (the rows', or the index's if it has failed already), set on
 * this thread. */
int hd_edges_rows_wait(hd_edges_job *job);
/* Waits for the index too; the thread's error, set on this one. */
int hd_edges_wait(hd_edges_job *job);
/* Moves every b-tree on edges (the table, packed, and edges_dst) into *db,
 * the database at db_path (whose edges table is still empty and already
 * has the same indexes): closes both, grafts the b-trees' pages (graft.c),
 * reopens *db; removes the edges' file. */
int hd_edges_move(hd_edges_job *job, sqlite3 **db, const char *db_path);
/* After a failure (and at the end of hd_edges_move): stops the index if
 * it is running, joins, closes and removes the file. */
void hd_edges_discard(hd_edges_job *job);

#endif /* HEAPDIG_STORE_WRITE_H */
