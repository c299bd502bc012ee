/* heapdig — MIT licence.
 *
 * heapdig.h: the public analyzer API.  Everything the CLI (or any other
 * program) needs to load a dump into SQLite and query it.  Types are opaque;
 * this header never includes sqlite3.h, zlib.h, gvc.h or Python.h.
 *
 * Conventions: functions return 0 on success or a negative hd_err; details
 * of the last failure on this thread come from hd_error_last().  `T **out`
 * parameters receive an object the caller owns and frees with the matching
 * hd_*_free() or hd_*_close(), all of which accept NULL.
 */
#ifndef HEAPDIG_HEAPDIG_H
#define HEAPDIG_HEAPDIG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Error codes (negative; 0 is success). */
typedef enum hd_err {
    HD_OK = 0,
    HD_ENOMEM = -1,     /**< out of memory */
    HD_EIO = -2,        /**< reading or writing a file failed */
    HD_ECORRUPT = -3,   /**< the dump breaks schema/FORMAT.md */
    HD_ETRUNCATED = -4, /**< the dump ends before its END record */
    HD_EVERSION = -5,   /**< a format major version we do not know */
    HD_ESQL = -6,       /**< SQLite failed */
    HD_EGRAPH = -7,     /**< Graphviz failed */
    HD_EINVAL = -8,     /**< bad argument (unknown object, option, ...) */
    HD_ECALLBACK = -9   /**< a callback asked to stop */
} hd_err;

/** The last error on this thread. */
typedef struct hd_error {
    int code;          /**< an hd_err */
    uint64_t offset;   /**< byte offset in the uncompressed dump, or 0 */
    char message[512]; /**< what failed, where, and why */
} hd_error;

/** The last error raised on this thread (never NULL). */
const hd_error *hd_error_last(void);
/** A short description of an error code. */
const char *hd_strerror(int code);

/* ---- Loading ---------------------------------------------------------------- */

/** Called now and then during a load: bytes of the dump file consumed so far
 *  and its total size.  Return nonzero to cancel (HD_ECALLBACK). */
typedef int (*hd_progress_cb)(uint64_t done, uint64_t total, void *payload);

/** What a load found. */
typedef struct hd_load_stats {
    uint64_t n_objects;
    uint64_t n_refs;
    uint64_t n_roots;
    uint64_t n_types;
    uint64_t n_strings;
    uint64_t n_tracebacks;
    uint64_t n_dangling;    /**< references to objects not in the dump */
    uint64_t total_size;    /**< sum of shallow sizes, bytes */
    int truncated;          /**< the dump ended early; what it held loaded */
    uint64_t n_unreachable; /**< objects no root reaches (garbage) */
    uint64_t unreachable_size; /**< their shallow bytes */
    uint64_t small_size;    /**< shallow bytes of objects of 512 or less,
                                 the ones pymalloc serves */
    uint64_t n_cycles;      /**< strongly connected components on cycles */
    double seconds_read;    /**< decompress + decode + resolve */
    double seconds_analyze; /**< roots, BFS, SCCs, dominators */
    double seconds_graph, seconds_roots, seconds_bfs, seconds_scc,
        seconds_dom;        /**< the analysis phases */
    uint64_t peak_rss;      /**< bytes, after the whole load */
    uint64_t addr_longest_probe; /**< the address map's worst probe: stays
                                      small whatever addresses a dump holds */
    double seconds_store;   /**< every table's rows, and edges_dst */
    double seconds_index;   /**< the other indexes on objects, and the
                                 query planner's statistics */
} hd_load_stats;

/** The i-th temporary file a load is writing now (i = 0, 1, ...), or NULL
 *  past the last: a program's SIGINT/SIGTERM handler removes them all
 *  (unlink is async-signal-safe). */
const char *hd_load_temp(int i);

/**
 * Loads a dump into a new SQLite database (schema/heapdig.sql).
 *
 * The database is written under a temporary name beside db_path and renamed
 * only when complete.  A truncated dump loads what it holds, sets
 * stats->truncated and returns HD_ETRUNCATED (the database is kept); a dump
 * cut before its header returns HD_ETRUNCATED with stats->truncated 0 and no
 * database; any other failure leaves no database behind.
 *
 * @param stats    filled in (may be NULL)
 * @param dump     path of the .hdig file
 * @param db_path  database to create (replaced if it exists)
 * @param progress optional progress callback
 * @return 0, HD_ETRUNCATED, or another negative hd_err
 */
int hd_load_file(hd_load_stats *stats, const char *dump, const char *db_path,
                 hd_progress_cb progress, void *payload);

/* ---- Querying a loaded database ------------------------------------------------ */

typedef struct hd_db hd_db;
typedef struct hd_rows hd_rows;

/** Opens a database written by hd_load_file (read-only). */
int hd_db_open(hd_db **out, const char *path);
void hd_db_close(hd_db *db);

/**
 * Runs one SQL statement with text parameters bound to ?1..?n.
 * @return 0 with *out a cursor positioned before the first row.
 */
int hd_query(hd_rows **out, hd_db *db, const char *sql, int n_params,
             const char *const *params);
/** The same with integer parameters bound as integers to ?1..?n. */
int hd_query_int(hd_rows **out, hd_db *db, const char *sql, int n_params,
                 const int64_t *params);
/** Advances: 1 if a row is available, 0 at the end, <0 on error. */
int hd_rows_next(hd_rows *rows);
int hd_rows_ncol(const hd_rows *rows);
const char *hd_rows_name(const hd_rows *rows, int col);
/** The column as text, or NULL for SQL NULL.  Valid until the next step. */
const char *hd_rows_text(hd_rows *rows, int col);
/** The column as an integer (0 for NULL). */
/** Bytes in column col's text, which may hold NULs (a str value's). */
size_t hd_rows_len(hd_rows *rows, int col);
int64_t hd_rows_int(hd_rows *rows, int col);
/** 1 if the column is an INTEGER or REAL in this row. */
int hd_rows_is_number(hd_rows *rows, int col);
void hd_rows_free(hd_rows *rows);
/** Rewinds a cursor to run its statement again with new integer
 *  parameters ?1..?n (cheaper than preparing it again); <0 if one cannot
 *  be bound (the statement has fewer), which the next hd_rows_next
 *  returns too. */
int hd_rows_rerun(hd_rows *rows, int n_params, const int64_t *params);

/* ---- Objects and chains ------------------------------------------------------ */

/**
 * Finds an object by "0x7f3a..." (address), a decimal id() as Python
 * printed it, or "#123" (objects.id).  HD_EINVAL if there is none.
 */
int hd_obj_resolve(int64_t *id_out, hd_db *db, const char *spec);

/**
 * Heap text made safe for a reader (analyzer/text.c has the rule): strict
 * UTF-8, controls, C1, bidi overrides and noncharacters escaped as Python
 * writes them, invalid bytes as \xNN.  HD_TEXT_JSON writes a JSON string
 * body instead (\uXXXX escapes, invalid bytes as U+FFFD).  At most
 * max_chars characters (0: no limit) and cap bytes, with "…" where cut.
 * Returns the bytes written; out is always NUL-terminated.
 */
#define HD_TEXT_PLAIN 0
#define HD_TEXT_JSON 1
#define HD_TEXT_RENDERED 2 /* already escaped by heapdig (labels): keep \ */
size_t hd_text_escape(char *out, size_t cap, const char *s, size_t n,
                      int mode, size_t max_chars);
/** objects.flags bit the load adds (object_flags 'value_str'): the value
 *  is a str's text; every other value is already written as Python would
 *  (b'\x00', 42, True, a name). */
#define HD_DB_VALUE_STR 0x1000
/**
 * An object's value as a person reads it, escaped as hd_text_escape does:
 * a str's text in quotes ('GET /'), any other value as recorded (b'\x00').
 */
size_t hd_value_text(char *out, size_t cap, const char *value, size_t n,
                     int64_t flags, size_t max_chars);
/** Columns a terminal gives the text (wide CJK and emoji count two). */
size_t hd_text_width(const char *s);

/** "12.3 MiB": bytes in binary units, into buf. */
const char *hd_bytes_str(char *buf, size_t cap, double bytes);
/** "20,000": a count with thousands separators, into buf. */
const char *hd_count_str(char *buf, size_t cap, long long n);
/** "1 object", "20,000 objects": a count and its noun, one or many. */
const char *hd_count_of(char *buf, size_t cap, long long n, const char *one,
                        const char *many);

/** "<User 0x7f3a12 'alice'>": type, address and a short value, into buf. */
const char *hd_obj_describe(char *buf, size_t cap, hd_db *db, int64_t id);

/** A chain of references from a root to an object. */
typedef struct hd_chain {
    size_t n;          /**< objects on the chain, root first */
    int64_t *ids;      /**< objects.id */
    char **labels;     /**< labels[i]: how ids[i-1] refers to ids[i] (NULL
                            if unlabelled); labels[0] is the root's name */
    int *weak;         /**< weak[i]: the reference into ids[i] is weak */
} hd_chain;

/** What a chain search may not pass through. */
typedef struct hd_chain_opts {
    const int64_t *exclude_ids;    /**< objects to ignore as retainers */
    size_t n_exclude_ids;
    const char *const *exclude_types; /**< type names to ignore */
    size_t n_exclude_types;
    int weak;                      /**< also follow weak references */
    uint64_t max_visit;            /**< search bound (0: 5,000,000) */
} hd_chain_opts;

/**
 * The shortest chain of references from any root to `id`.  Without options
 * it is the BFS chain stored at load time (walks objects.parent); with
 * exclusions or weak references it searches backwards over referrers, like
 * "ignore this retainer" in a browser's heap tools.  HD_EINVAL with a
 * message if no root reaches the object that way (garbage, or everything
 * holding it was excluded).
 */
int hd_refchain_find(hd_chain **out, hd_db *db, int64_t id,
                     const hd_chain_opts *opts);
void hd_chain_free(hd_chain *chain);

/**
 * Up to `max` chains to `id`, one through each object that holds it
 * directly (the shortest chain to that holder, then the hop), shortest
 * first; a root gives itself.  *out is an array of *n chains the caller
 * frees with hd_chain_free and free().  Holders no root reaches are left
 * out.
 */
int hd_refchain_all(hd_chain ***out, size_t *n, hd_db *db, int64_t id,
                    size_t max, const hd_chain_opts *opts);

/**
 * The chain as a Python expression a person can paste into a debugger in
 * the process (`sys.modules['app']._CACHE['/api/items/19'].payload`), in
 * buf; NULL when it has none: the root is no module (a frame, a holder
 * outside the heap), or a hop has no name Python can follow (an unlabelled
 * or weak reference, a key recorded without its value, lru_cache's cache).
 */
const char *hd_chain_python(char *buf, size_t cap, hd_db *db,
                            const hd_chain *chain);

/* ---- Leak suspects ------------------------------------------------------------ */

/** A meta value (meta table) as an integer; 0 if it is absent. */
int64_t hd_meta_int(hd_db *db, const char *key);
/** 0 if the dominator tree's tops (no idom) retain all that is reachable,
 *  as a load leaves it; else the error of a database that contradicts
 *  itself (an idom loop hides what it holds from every walk down). */
int hd_db_check_dominators(hd_db *db);

#define HD_SUSPECT_HOLDS 4
/** One group of what a suspect holds directly: its children in the
 *  dominator tree of one type, held under one label. */
typedef struct hd_suspect_hold {
    char *type;       /**< type name */
    char *where;      /**< "_CACHE[*]" (any item), "_CACHE.payload", the
                           suspect's name for keys (as_keys), or NULL when
                           they hang below it rather than from it */
    int as_keys;      /**< held as a dict's keys */
    int64_t count, retained;
} hd_suspect_hold;

/** A leak suspect: an accumulation point of the dominator tree. */
typedef struct hd_suspect {
    int64_t id;        /**< objects.id */
    int64_t retained;  /**< bytes */
    double percent;    /**< of the heap's total shallow size */
    char name[256];    /**< what holds it, as rendered: the chain's last
                            variable, attribute or key ("_CACHE"); "" if none */
    hd_chain *chain;   /**< shortest chain from a root */
    char *python;      /**< the chain as Python, or NULL (hd_chain_python) */
    hd_suspect_hold holds[HD_SUSPECT_HOLDS]; /**< largest first */
    size_t n_holds;
} hd_suspect;

/**
 * The leak suspects, largest first, after Eclipse MAT: every dominator
 * subtree retaining at least min_pct percent of the heap, followed down to
 * its accumulation point (through the largest child while it keeps 80% of
 * its parent, and through namespaces: modules, classes, their and
 * instances' __dict__s).  At most max; free with hd_suspects_free.
 */
int hd_suspects_find(hd_suspect **out, size_t *n, hd_db *db, double min_pct,
                     size_t max);
void hd_suspects_free(hd_suspect *suspects, size_t n);

/* ---- The process's memory beside the objects --------------------------------- */

/** The memory table's reconciliation (bytes; -1 where the dump has none). */
typedef struct hd_memory {
    int present;          /**< the dump recorded the process's memory */
    int64_t rss;          /**< resident when the dump began */
    int64_t objects;      /**< the objects' sizes, added up */
    int64_t python_free;  /**< free and overhead inside Python's allocator */
    int64_t malloc_free;  /**< free inside malloc's heap */
    int64_t unaccounted;  /**< resident and explained by none of those */
    int64_t unaccounted_allocated; /**< of it, what allocators handed out */
    int64_t unseen_small; /**< pymalloc blocks in use beyond the small
                               objects the dump found (-1: no pymalloc) */
} hd_memory;

/** Reads the memory table; m->present is 0 for a dump without figures. */
int hd_memory_read(hd_db *db, hd_memory *m);
/** One share of the RSS, as summary and the report show it. */
typedef struct hd_memory_share {
    const char *part; /**< the memory table's row: "objects", ... */
    const char *what; /**< "Python objects", "free inside malloc", ... */
    int64_t bytes;    /**< -1 where the dump has no such figure */
} hd_memory_share;
#define HD_MEMORY_SHARES 4
/** The RSS split: objects, Python's allocator's free space, malloc's,
 *  and what no object explains, in that order. */
void hd_memory_shares(const hd_memory *m,
                      hd_memory_share out[HD_MEMORY_SHARES]);
/** What to try next when one part dominates (native memory, free space
 *  inside an allocator), or NULL. */
const char *hd_memory_advice(const hd_memory *m);

/* ---- The dominator tree, grouped --------------------------------------------- */

/**
 * One row of the dominator tree as `heapdig tree` shows it: the objects an
 * object dominates, grouped by type and label (`dict ['_CACHE']`), or by
 * type and kind of label (`Request [*]`: any item or key) where no single
 * one retains the threshold.
 */
typedef struct hd_tree_row {
    int depth;         /**< 0: the tops (1 under hd_tree_opts.root) */
    int64_t retained;  /**< the group's, in all */
    int64_t size;      /**< the group's own shallow bytes */
    size_t count;      /**< objects in the group (HD_TREE_MORE: rows) */
    int64_t first;     /**< one of them */
    const char *type;  /**< the type's name */
    const char *label; /**< as stored ("['_CACHE']", "[*]", a root's name
                            at the top), or NULL */
} hd_tree_row;
typedef enum hd_tree_event {
    HD_TREE_ENTER, /**< a row, before the rows under it */
    HD_TREE_LEAVE, /**< the row entered last is done (row NULL): `unshown`
                        is what it retains that no row under it shows, its
                        own bytes included.  The walk ends with one LEAVE
                        that has no ENTER: the tops' (what no top row
                        shows), or hd_tree_opts.root's */
    HD_TREE_MORE   /**< rows past max_rows: row->count of them, retaining
                        row->retained */
} hd_tree_event;
typedef struct hd_tree_opts {
    int64_t threshold; /**< bytes a group must retain to be a row */
    int max_depth;     /**< the deepest row's depth (0: 1000) */
    long max_rows;     /**< rows under each row (0: all) */
    int64_t root;      /**< walk below this object; -1: from the tops */
} hd_tree_opts;
/** The thresholds of `heapdig tree` (percent of the heap), whose walks
 *  the load keeps: hd_tree_walk answers them without walking. */
#define HD_TREE_TABLE_PCT 0.5
#define HD_TREE_FOLDED_PCT 0.01
/** The bytes pct percent of a heap of total bytes is, as a threshold. */
static inline int64_t
hd_tree_threshold(int64_t total, double pct)
{
    int64_t t = (int64_t)((double)total * pct / 100.0);
    return t < 1 ? 1 : t;
}
/** 0 goes on, HD_TREE_STOP ends the walk (hd_tree_walk returns 0), and
 *  HD_TREE_SKIP after an ENTER leaves out the rows under it and its LEAVE
 *  (its bytes count as shown in its parent's). */
enum { HD_TREE_STOP = 1, HD_TREE_SKIP = 2 };
typedef int (*hd_tree_visit)(void *ctx, hd_tree_event ev,
                             const hd_tree_row *row, int64_t unshown);
/**
 * Walks the grouped tree depth first, largest row first, telling visit.
 * A database whose rows retain other than they and what they dominate do
 * (an idom that loops) is an error, not a tree with pieces missing.
 */
int hd_tree_walk(hd_db *db, const hd_tree_opts *opts, hd_tree_visit visit,
                 void *ctx);

/* ---- Waste ------------------------------------------------------------------------ */

/**
 * Memory the program could keep for less, largest saving first, as Eclipse
 * MAT reports it; kind is "duplicate" (equal str/bytes values held as
 * distinct objects), "empty" (built-in containers with 0 or 1-2 items, by
 * type and where they are held) or "slots" (instances whose __dict__ a
 * __slots__ would replace).  Columns: kind, type, what (the value, "empty"
 * or "1-2 items", ...), count, size, saved_size (bytes), held_at (where most
 * of them are held).  limit 0: 20; negative: all.
 */
int hd_waste_query(hd_rows **out, hd_db *db, const char *kind, long limit);
/** The saved_size column of every kind's rows, added up. */
int hd_waste_total(hd_db *db, int64_t *saved);

/* ---- Growth between dumps --------------------------------------------------- */

/** Opens the oldest of 2 or 3 databases and attaches the others. */
int hd_diff_open(hd_db **out, const char *const *paths, int n);
/** The first i (1..n-1) whose dump was taken before an earlier one's (that
 *  one in *earlier), or 0 if they are oldest first; growth read newest
 *  first is shrinkage.  A database without a dump time is passed over. */
int hd_diff_misordered(hd_db *db, int n, int *earlier);
/**
 * What grew from the first dump to the last, best first: by type (columns
 * type, module) or by_path, by where it is held (held_at, type: the chain
 * from a root with indices and keys generalised to [*]); then count_1..n,
 * trend ('steady' if it grew in both intervals, 3 dumps only),
 * count_growth, size_growth, retained_growth.  Steady rows come first,
 * then by rank: retained growth (what the growth keeps alive), shallow
 * size growth or count growth.
 */
typedef enum hd_rank {
    HD_RANK_RETAINED, /**< retained growth, then size growth */
    HD_RANK_SIZE,     /**< shallow size growth, then retained */
    HD_RANK_COUNT     /**< count growth, then retained */
} hd_rank;
int hd_diff_query(hd_rows **out, hd_db *db, int n, int by_path, hd_rank rank,
                  long limit);
/** How many rows hd_diff_query has without a limit. */
int hd_diff_count(hd_db *db, int n, int by_path, int64_t *rows);

/* ---- The HTML report ------------------------------------------------------------- */

typedef struct hd_report_opts {
    double min_pct;     /**< a suspect's share of the heap (0: 10) */
    int max_nodes;      /**< dominator tree rows embedded (0: 2000) */
    int max_children;   /**< children shown per tree row (0: 25) */
    const char *source; /**< the dump or database shown, for the page */
} hd_report_opts;

/**
 * Writes one self-contained HTML page about the heap in db to path
 * (atomically, mode 0600): overview, leak suspects with their chains,
 * the dominator tree, a picture of retained sizes, types, garbage and
 * cycles.  It needs no network and reads with scripts off.
 */
int hd_report_write(hd_db *db, const hd_report_opts *opts, const char *path);

/**
 * The growth report across 2 or 3 databases, oldest first, as diff opened
 * them (hd_diff_open(&diff, dbs, n); the caller closes it): the dumps side
 * by side, what grew by where it is held and by type (hd_diff_query's
 * rows, steady growth first, a chart of each row's counts), and the
 * newest dump's suspects.
 */
int hd_report_growth_write(hd_db *diff, const char *const *dbs, int n,
                           const hd_report_opts *opts, const char *path);

/* ---- Pictures (Graphviz) --------------------------------------------------- */

/** What a picture shows around an object. */
typedef enum hd_graph_mode {
    HD_GRAPH_BACKREFS,  /**< who holds it, up to depth, stopping at roots */
    HD_GRAPH_REFS,      /**< what it holds, up to depth */
    HD_GRAPH_PATH,      /**< the shortest chain from a root (hd_refchain_find) */
    HD_GRAPH_CYCLE,     /**< the reference cycle it is on */
    HD_GRAPH_DOMINATED  /**< its dominator subtree: what goes if it goes */
} hd_graph_mode;

typedef struct hd_graph_opts {
    hd_graph_mode mode;
    int depth;          /**< levels to follow (0: 4) */
    int max_nodes;      /**< bound on drawn nodes (0: 30); the rest are
                             summarised in "... N more" nodes */
    const char *format; /**< svg, png, pdf, dot (NULL: from the file name) */
    hd_chain_opts chain; /**< exclusions for HD_GRAPH_PATH */
} hd_graph_opts;

/**
 * Draws a picture of the references around `id` into `path` with Graphviz
 * (cgraph builds it, gvc lays it out with dot and renders it).  The file is
 * written under a temporary name and renamed when complete.
 * @param n_nodes_out number of nodes drawn (may be NULL)
 * @return 0, HD_EINVAL (unknown object or format), HD_EGRAPH, HD_EIO, ...
 */
int hd_graph_render(hd_db *db, int64_t id, const hd_graph_opts *opts,
                    const char *path, size_t *n_nodes_out);

#ifdef __cplusplus
}
#endif

#endif /* HEAPDIG_HEAPDIG_H */
