/* heapdig — MIT licence.
 *
 * analyzer_int.h: declarations shared inside analyzer/ only (and by the unit
 * tests): the error helpers, the streaming reader, and the in-memory heap
 * that load.c builds and store.c writes.
 */
#ifndef HEAPDIG_ANALYZER_INT_H
#define HEAPDIG_ANALYZER_INT_H

#include "heapdig/heapdig.h"
#include "heapdig/format.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* mode_t */
#include <time.h> /* hd__now */

/* Monotonic seconds, for phase timings. */
static inline double
hd__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- error.c -------------------------------------------------------------- */

/* Records an error for hd_error_last() and returns code. */
int hd_error_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int hd_error_set_offset(int code, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hd_error_clear(void);

/* ---- file.c ----------------------------------------------------------------- */

/* Writes data to path atomically (a temporary name, then rename), mode
 * 0600; a full disk is an error and leaves nothing behind. */
int hd__write_file_atomic(const char *path, const char *data, size_t n);

/* ---- html.c: a growing buffer; text escaped for HTML and inline JSON ---- */

typedef struct hd_buf {
    char *p;       /* NUL-terminated */
    size_t n, cap;
    int oom;       /* a growth failed: the content is incomplete */
} hd_buf;
void hd_buf_put(hd_buf *b, const char *s, size_t n);
void hd_buf_puts(hd_buf *b, const char *s);
void hd_buf_printf(hd_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void hd_buf_free(hd_buf *b);
/* s (n bytes; mode HD_TEXT_PLAIN or HD_TEXT_RENDERED) as HTML text, safe in
 * element content and in quoted attributes. */
void hd_html_text(hd_buf *b, const char *s, size_t n, int mode,
                  size_t max_chars);
/* s as a JSON string literal safe inside a <script> element; NULL: null. */
void hd_json_str(hd_buf *b, const char *s, size_t n, int mode,
                 size_t max_chars);

/* ---- report_tree.c: the report's bounded dominator tree ---------------------- */

/* Appends the tree as nested <details> to html and as "nodes" and "objects"
 * members to json; the suspects' subtrees are opened first. */
int hd__report_tree(hd_buf *html, hd_buf *json, hd_db *db, int64_t total,
                    int max_nodes, int max_children, const int64_t *suspects,
                    size_t n_suspects);

/* ---- reader.c: inflate + bounded record decoding ------------------------ */

typedef struct hd_header {
    uint16_t major, minor;
    uint64_t pointer_size;
    uint64_t hexversion;
    uint64_t pid;
    uint64_t time_ns;
    uint64_t options;
    uint64_t max_value_len;
    size_t n_meta;
    const uint8_t *const *meta; /* 2 * n_meta pointers: key, value, ... */
    const size_t *meta_len;     /* their lengths */
} hd_header;

typedef struct hd_edge_rec {
    uint64_t target;    /* address */
    uint64_t payload;   /* string id, index, or zigzag key */
    uint8_t label_kind; /* enum hd_label_kind */
    uint8_t weak;
} hd_edge_rec;

typedef struct hd_obj_rec {
    uint64_t address;
    uint32_t type;      /* type id, 1-based */
    uint64_t size;
    uint64_t refcount;
    uint32_t flags;
    int64_t length;     /* -1 if absent */
    int value_kind;     /* 0 if absent */
    const uint8_t *value; /* str/bytes/name payload */
    size_t value_len;
    int64_t value_int;
    double value_float;
    uint32_t traceback; /* 0 if absent */
    const hd_edge_rec *edges;
    size_t n_edges;
} hd_obj_rec;

typedef struct hd_tb_frame {
    uint32_t filename; /* string id */
    uint64_t lineno;
} hd_tb_frame;

/* Record callbacks; each returns 0 or a negative hd_err to stop. */
typedef struct hd_reader_cb {
    int (*header)(const hd_header *h, void *payload);
    int (*string)(uint32_t id, const uint8_t *s, size_t n, void *payload);
    int (*type)(uint32_t id, uint64_t address, uint32_t name, uint32_t module,
                void *payload);
    int (*object)(const hd_obj_rec *o, void *payload);
    int (*edges)(const hd_edge_rec *e, size_t n, void *payload);
    int (*root)(uint64_t address, int kind, uint32_t name, void *payload);
    int (*traceback)(uint32_t id, const hd_tb_frame *f, size_t n,
                     void *payload);
    /* 1.1: the measured size of an object whose OBJECT record came first */
    int (*size)(uint64_t address, uint64_t size, int approx, void *payload);
    /* 1.3: one of the process's memory figures ("rss", ...; [a-z0-9_]) */
    int (*memory)(const char *part, uint64_t bytes, void *payload);
} hd_reader_cb;

typedef struct hd_reader hd_reader;

int hd_reader_new(hd_reader **out, const hd_reader_cb *cb, void *payload);
/* Feeds compressed bytes, any amount at a time; records are delivered as
 * soon as they are complete.  Returns 0 or a negative hd_err (sticky). */
int hd_reader_feed(hd_reader *rd, const void *data, size_t len);
/* Ends the input: 0 if the END record was seen and checked, HD_ETRUNCATED
 * if the stream stopped early, or the error already reported. */
int hd_reader_finish(hd_reader *rd);
/* Uncompressed bytes decoded so far. */
uint64_t hd_reader_offset(const hd_reader *rd);
void hd_reader_free(hd_reader *rd);

/* ---- load.c: the heap in memory (structure of arrays, dense ids) -------- */

/* One figure of a MEMORY record (FORMAT.md §7b) / a memory table row. */
typedef struct hd_memory_part {
    char part[HD_MEMORY_PART_MAX + 1];
    uint64_t bytes;
} hd_memory_part;
typedef struct hd_memory_row {
    char part[HD_MEMORY_PART_MAX + 1];
    int64_t bytes;
} hd_memory_row;

/* ---- hmap.c: nonzero 64-bit keys -> u32, open addressing ---------------- */
typedef struct hd_hmap {
    uint64_t *keys; /* 0 marks an empty slot */
    uint32_t *vals;
    uint64_t mask, n;
    int shift;      /* 64 - log2(slots) */
} hd_hmap;

/* Room for `more` keys at half load (the first call allocates): 0, or -1
 * out of memory with the map as it was. */
int hd_hmap_reserve(hd_hmap *m, uint64_t more);
/* Where key's probe starts; go on with (slot + 1) & mask while keys[slot]. */
static inline uint64_t
hd_hmap_first(const hd_hmap *m, uint64_t key)
{
    return (key * 0x9E3779B97F4A7C15ull) >> m->shift;
}
/* Stores key at a slot its probe reached (empty, or holding key). */
void hd_hmap_put_at(hd_hmap *m, uint64_t slot, uint64_t key, uint32_t val);
void hd_hmap_free(hd_hmap *m);

/* A row of the waste table (waste.c): kind is "duplicate", "empty" or
 * "slots"; example one of its objects (a duplicate's value, an empty
 * container's length); path where most of them are held. */
typedef struct hd_waste {
    const char *kind;
    uint32_t type, example, path;
    uint64_t count, size, saved;
} hd_waste;

typedef struct hd_held {
    uint32_t path, type;
    uint64_t count, size, retained;
} hd_held;

typedef struct hd_heap {
    /* strings: id i (1-based) is str_data[str_off[i] .. str_off[i+1]) */
    char *str_data;
    uint64_t *str_off;
    uint32_t n_strings;
    /* types, 1-based */
    uint64_t *type_addr;
    uint32_t *type_name, *type_module;
    uint32_t n_types;
    /* objects, 0-based dense ids in dump order */
    uint64_t *addr;
    uint32_t *type;
    uint64_t *size;
    uint64_t *refcount;
    uint32_t *flags;
    int64_t *length;
    uint64_t *value_off; /* into val_data, UINT64_MAX if none */
    uint32_t *value_n;   /* its length in bytes (a str may hold NULs) */
    uint32_t *traceback;
    uint64_t *edge_start; /* CSR: edges of o are [edge_start[o], edge_start[o+1]) */
    uint64_t n_objects;
    /* edges */
    uint32_t *edge_dst;  /* object id */
    uint64_t *edge_payload;
    uint8_t *edge_word;  /* label_kind << 1 | weak */
    uint64_t n_edges;
    /* roots */
    uint32_t *root_obj;
    uint8_t *root_kind;
    uint32_t *root_name;
    uint64_t n_roots;
    /* tracebacks: frames of tb i are tb_frames[tb_start[i] .. tb_start[i+1]) */
    uint64_t *tb_start;
    hd_tb_frame *tb_frames;
    uint32_t n_tracebacks;
    /* rendered values (NUL-terminated text) */
    char *val_data;
    size_t val_len;
    /* header */
    hd_header hdr;
    char **meta;         /* 2 * n_meta NUL-terminated strings */
    size_t n_meta;
    hd_memory_part *memory; /* the MEMORY record's parts, in dump order */
    size_t n_memory;
    uint64_t n_dangling;
    uint64_t addr_longest_probe; /* the address map's worst probe */
    int truncated;

    /* ---- analysis (analysis.c and the stages it runs) ---- */
    int analyzed;
    int64_t *external;   /* refcount - strong in-heap references */
    uint8_t *reachable;  /* from a root over strong edges */
    uint32_t *depth;     /* BFS distance from the roots, HD_NONE if none */
    uint32_t *parent;    /* BFS predecessor, HD_NONE for roots/unreached */
    uint64_t *parent_edge; /* the edge parent -> object the BFS used */
    uint32_t *bfs_order; /* reachable objects in BFS order */
    uint64_t n_bfs;
    uint32_t *path;      /* signature id (1-based) of the object's chain */
    /* signature id's text is path_step[id] after the text of path_base[id]
     * (0: none): "sys.modules['app'].__dict__['_CACHE']" + "[*]" */
    char **path_step;
    uint32_t *path_base;
    uint64_t *path_hash; /* of the whole text: equal across dumps */
    uint32_t n_paths;
    /* Objects by where they are held and their type (the diff's rows):
     * group g is (held_path[g], held_type[g]), path 0 for garbage, with
     * the bytes freeing all of them would free (nested members once). */
    hd_held *held;       /* [1..n_held] */
    uint32_t n_held;
    hd_waste *waste;     /* [1..n_waste] (waste.c) */
    uint32_t n_waste;
    uint32_t *scc;       /* cycle id (1-based), HD_NONE if on no cycle */
    uint32_t *idom;      /* immediate dominator, HD_NONE = virtual root */
    uint64_t *retained;  /* bytes dominated, own size included */
    uint32_t *root_order; /* all roots, in BFS seeding order */
    uint64_t n_root_order;
    /* root_order's phases: [0, n_module_roots) sys.modules and builtins,
     * then the threads' frames, locals and dicts up to n_named_roots, then
     * objects held from outside and immortal ones. */
    uint64_t n_module_roots, n_named_roots;
    uint64_t n_negative_external; /* consistency check: should be 0 */
    uint64_t n_external_roots;    /* objects held from outside */
    /* cycles, 1-based: members, total size, retained (as a set),
     * whether reachable, members with finalisers */
    uint32_t n_cycles;
    uint32_t *cycle_members;
    uint64_t *cycle_size, *cycle_retained;
    uint8_t *cycle_reachable;
    uint32_t *cycle_finalizers;
    uint64_t *type_retained; /* per type id, retained size of the set */
    uint64_t *type_count;
    double t_graph, t_roots, t_scc, t_dom, t_bfs;
} hd_heap;

#define HD_NONE UINT32_MAX

/* ---- The analysis stages (each file opens with its design) -------------- */

/* Reverse CSR of the strong edges: the referrers of o are
 * rev_src[rev_start[o] .. rev_start[o+1]). */
typedef struct hd_rev {
    uint64_t *start;
    uint32_t *src;
} hd_rev;

int hd_graph__reverse(const hd_heap *h, hd_rev *out);
void hd_graph__rev_free(hd_rev *r);
/* external counts and the root order (graph.c). */
int hd_graph__roots(hd_heap *h, const hd_rev *rev);
/* reachable, depth, parent (referrers.c). */
int hd_refchain__bfs(hd_heap *h);
/* Chain signatures for diffs: every reachable object's chain from a root
 * with indices and data keys generalised ("...['_CACHE'][*].payload"). */
int hd_refchain__signatures(hd_heap *h);
/* scc ids and the cycles summary; garbage_reps receives one object per
 * garbage source component (cycles.c). */
int hd_cycles__compute(hd_heap *h, uint32_t **garbage_reps, uint64_t *n_reps);
/* idom and retained, plus retained sizes of sets (dominators.c). */
int hd_dom__compute(hd_heap *h, const hd_rev *rev, const uint32_t *extra_roots,
                    uint64_t n_extra);
/* Retained size of each group of objects (group[o] in 1..n_groups, 0 for
 * none), counting an object only where no dominator-tree ancestor belongs to
 * the same group, so sets are not double counted. */
int hd_dom__group_retained(const hd_heap *h, const uint32_t *group,
                           uint32_t n_groups, uint64_t *out);
/* Runs every stage (analysis.c). */
int hd_analyze(hd_heap *h);

/* Reads a dump file into *out.  Returns 0, HD_ETRUNCATED (with *out holding
 * what was read), or another error (and *out NULL). */
int hd_heap__read(hd_heap **out, const char *path, hd_progress_cb progress,
                  void *payload);
void hd_heap__free(hd_heap *h);
/* The text of string id (1-based); "" for 0. */
const char *hd_heap__str(const hd_heap *h, uint32_t id, size_t *len);
/* Renders an edge label as its SQL text form (FORMAT.md §6) into buf;
 * returns NULL for unlabelled edges. */
const char *hd_heap__label(const hd_heap *h, uint8_t word, uint64_t payload,
                           char *buf, size_t cap);

/* ---- waste.c: what could be kept for less ---------------------------------- */

int hd_waste__compute(hd_heap *h);

/* ---- store.c: the SQLite side --------------------------------------------- */

extern const char hd_schema_sql[]; /* generated from schema/heapdig.sql */

/* Writes the heap's rows, then frees it (*heap = NULL, whatever the
 * outcome past the rows) before the indexes are built: the load's peak is
 * the larger of the two phases, not their sum. */
int hd_store__write(hd_heap **heap, const char *db_path, mode_t mode,
                    hd_load_stats *stats);

/* ---- picture.c / render.c: what a graph shows, and drawing it ----------- */

enum hd_pic_kind {
    HD_PIC_NORMAL,
    HD_PIC_TARGET,  /* the object asked about */
    HD_PIC_ROOT,    /* a root: named, held from outside, immortal */
    HD_PIC_GARBAGE, /* unreachable */
    HD_PIC_SUMMARY  /* "... N more" */
};

typedef struct hd_pic_node {
    int64_t id;        /* objects.id, or -1 for a summary node */
    int kind;          /* enum hd_pic_kind */
    char *type;        /* type name (summary: the text) */
    char *value;       /* short value or NULL */
    char *note;        /* root name, "held from outside", or NULL */
    int64_t address, size, retained;
    int is_type;       /* a type or module: drawn, not expanded by --refs */
    int level;         /* steps from the object the picture is about */
} hd_pic_node;

typedef struct hd_pic_edge {
    size_t src, dst;   /* node indices */
    char *label;       /* reference label or NULL */
    int weak;
    int dominates;     /* a dominator-tree edge, not a reference */
} hd_pic_edge;

typedef struct hd_picture {
    hd_pic_node *nodes;
    size_t n_nodes, cap_nodes;
    hd_pic_edge *edges;
    size_t n_edges, cap_edges;
    char title[256];
} hd_picture;

/* Chooses the nodes and edges of a picture (bounded by opts). */
int hd_picture__select(hd_picture *pic, hd_db *db, int64_t id,
                       const hd_graph_opts *opts);
void hd_picture__dispose(hd_picture *pic);
/* Draws a selected picture with Graphviz (render.c). */
int hd_render__draw(const hd_picture *pic, const char *format,
                    const char *path);

/* ---- store.c: the database --------------------------------------------------- */

/* The version of schema/heapdig.sql's tables, stored last by a load as meta
 * schema_version; databases of another are refused (load the dump again). */
#define HD_SCHEMA_VERSION 10
/* Checks that database `schema` ("main", or an attached alias) of d is one
 * a load finished, of HD_SCHEMA_VERSION, with heapdig's own definitions. */
int hd__db_check(hd_db *d, const char *schema, const char *path);

/* ---- memory.c: the memory table ---------------------------------------------- */

#define HD_MEMORY_ROWS 176
/* pymalloc serves requests up to this size; larger ones go to malloc. */
#define HD_PYMALLOC_MAX_BLOCK 512
/* The memory table's rows: the reconciliation (rss, objects, python_free,
 * malloc_free, unaccounted, unaccounted_allocated), then the other parts
 * the dumper measured.  None when the dump has no rss. */
int hd__memory_account(const hd_heap *h, const hd_load_stats *stats,
                       hd_memory_row *rows, size_t cap, size_t *n_out);
/* The one-line note of a part, for the memory table. */
const char *hd__memory_note(const char *part);

#endif /* HEAPDIG_ANALYZER_INT_H */
