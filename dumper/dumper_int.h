/* heapdig — MIT licence.
 *
 * dumper_int.h: declarations shared inside dumper/ only.  The dump context
 * (all state of one dump: no mutable globals), the pointer set/map the walk
 * marks objects with, the sink, and the emitters.  compat.h comes first so
 * that Py_BUILD_CORE is seen before Python.h.
 */
#ifndef HEAPDIG_DUMPER_INT_H
#define HEAPDIG_DUMPER_INT_H

#include "compat.h"

#include <stdint.h>
#include <sys/types.h> /* pid_t */

#include "heapdig/format.h"

/* ---- ptrset.c: pointer-keyed sets and maps -------------------------------- */

typedef struct hd_ptrmap {
    uintptr_t *keys;  /* 0 marks an empty slot */
    uint32_t *vals;   /* value per slot */
    size_t mask;      /* capacity - 1 */
    size_t n;         /* entries */
} hd_ptrmap;

/* The set of objects found so far: one bit per 16 bytes of address space,
 * in 1 MiB pages found through a small directory.  Distinct objects start at
 * least 16 bytes apart (a PyObject header is 16 bytes), so address >> 4
 * identifies an object; neighbours share cache lines, and the whole set
 * costs 8 KiB per MiB of heap instead of 8+ bytes per object. */
#define HD_MARK_PAGE_SHIFT 20
typedef struct hd_markset {
    uintptr_t *pages;  /* page number + 1 per slot (0: empty) */
    uint64_t **bits;   /* bitmap per slot */
    size_t mask;       /* directory capacity - 1 */
    size_t n_pages;
    uintptr_t last_page; /* cache of the last page used */
    uint64_t *last_bits;
    uint64_t n;        /* members */
} hd_markset;

/* Adds p; returns 1 if it was new, 0 if present, -1 on allocation failure. */
int hd_markset_add(hd_markset *s, const void *p);
void hd_markset_dispose(hd_markset *s);
size_t hd_markset_memory(const hd_markset *s);

/* Returns the value stored for p, or 0 if none (0 is never stored). */
uint32_t hd_ptrmap_get(const hd_ptrmap *m, const void *p);
/* Stores p -> v (v != 0); returns 0 or -1 on allocation failure. */
int hd_ptrmap_put(hd_ptrmap *m, const void *p, uint32_t v);
void hd_ptrmap_dispose(hd_ptrmap *m);

/* ---- sink.c: buffered deflate on a second thread, atomic file commit ---- */

typedef struct hd_sink hd_sink;

/* Creates a temporary file next to `path` (mode 0600) and starts the
 * compressor thread.  On failure returns -1 with errno set and *out NULL. */
int hd_sink_open(hd_sink **out, const char *path, int level);
/* A pointer to at least n free bytes (n <= HD_SINK_MAX_RESERVE), or NULL
 * once the sink has failed (the failure is sticky, see hd_sink_close). */
#define HD_SINK_MAX_RESERVE (HD_REC_MAX_LEN + 64)
uint8_t *hd_sink_reserve(hd_sink *s, size_t n);
void hd_sink_commit(hd_sink *s, size_t n);
/* Waits until everything written so far is compressed; returns the crc32 of
 * all bytes written so far. */
uint32_t hd_sink_crc(hd_sink *s);
/* Finishes the stream.  commit != 0 and no error: fsync and rename onto the
 * final path.  Otherwise the temporary file is removed.  Returns 0, or -1
 * with errno set and *what naming the failed step.  Frees the sink. */
int hd_sink_close(hd_sink *s, int commit, const char **what);
uint64_t hd_sink_bytes_in(const hd_sink *s);

/* ---- The dump context ---------------------------------------------------- */

/* One outgoing reference of the object being encoded. */
typedef struct hd_edge {
    PyObject *target; /* referent (borrowed) */
    uint32_t word;    /* label_kind << 1 | weak */
    uint64_t payload; /* label payload: string id, index or zigzag key */
} hd_edge;

/* How a type's __sizeof__ is computed (chosen once per type). */
enum hd_sizeof_kind {
    HD_SZ_OBJECT,  /* object.__sizeof__: basicsize + itemsize * size */
    HD_SZ_LIST,
    HD_SZ_DICT,
    HD_SZ_SET,
    HD_SZ_STR,
    HD_SZ_INT,
    HD_SZ_CALL,    /* a vetted C __sizeof__: called, its int discarded */
    HD_SZ_PROBE    /* any other C __sizeof__: called in a child (probe.c) */
};
#define HD_N_KNOWN_SIZEOF 7

/* What a type's instances are, decided once per type so that the walk does
 * not call PyType_IsSubtype for every object. */
enum hd_trait {
    HD_T_GC = 1 << 0,        /* PyType_IS_GC */
    HD_T_HEAPTYPE = 1 << 1,
    HD_T_DICT = 1 << 2,      /* dict or subclass */
    HD_T_LIST = 1 << 3,
    HD_T_TUPLE = 1 << 4,
    HD_T_TYPE = 1 << 5,
    HD_T_MODULE = 1 << 6,
    HD_T_FUNCTION = 1 << 7,
    HD_T_CODE = 1 << 8,
    HD_T_CELL = 1 << 9,
    HD_T_METHOD = 1 << 10,
    HD_T_FRAME = 1 << 11,
    HD_T_WEAKREF = 1 << 12,
    HD_T_STR = 1 << 13,
    HD_T_BYTES = 1 << 14,
    HD_T_BYTEARRAY = 1 << 15,
    HD_T_INT = 1 << 16,
    HD_T_BOOL = 1 << 17,
    HD_T_FLOAT = 1 << 18,
    HD_T_SET = 1 << 19,      /* set, frozenset or subclass */
    HD_T_CFUNCTION = 1 << 20,
    HD_T_NONE = 1 << 21,
    HD_T_CMEMBERS = 1 << 22, /* a C type (or base) with object members */
    HD_T_EXCEPTION = 1 << 23,
    HD_T_TRACEBACK = 1 << 24,
    HD_T_LRU_CACHE = 1 << 25, /* functools._lru_cache_wrapper */
    HD_T_GEN = 1 << 26,       /* generator, coroutine or async generator */
    HD_T_DEQUE = 1 << 27,     /* collections.deque (exactly) */
    HD_T_HAMT_NODE = 1 << 28  /* contextvars' hamt_bitmap/collision_node */
};

/* An attribute of a mypyc native class: where its getter reads it. */
typedef struct hd_native_attr {
    size_t offset;
    const char *name; /* the getset's name (static in the compiled module)
                         or owned */
    char *owned;      /* "name[i]" of an unboxed tuple's item, or NULL */
    int kind;         /* enum getter_kind (walk.c) */
    size_t limit;     /* the end of the class that defines it */
} hd_native_attr;

typedef struct hd_typeinfo {
    PyTypeObject *type;  /* borrowed */
    hd_native_attr *native; /* mypyc classes' attributes (walk.c) */
    uint32_t n_native;
    uint8_t native_known;   /* native/n_native are worked out */
    uint32_t traits;     /* enum hd_trait */
    uint8_t sizeof_kind; /* enum hd_sizeof_kind */
    uint8_t approx;      /* a Python-level __sizeof__ was skipped */
    PyObject *descr;     /* the C __sizeof__ (HD_SZ_CALL/PROBE), borrowed */
} hd_typeinfo;

/* memstat.c: the process's memory figures (FORMAT.md §7b), by part name. */
#define HD_MEMSTAT_MAX 160 /* pymalloc: 2 per size class, up to 64 */
typedef struct hd_memstat {
    int n;
    struct {
        const char *name; /* a static string: "rss", "pymalloc_free", ... */
        uint64_t bytes;
    } part[HD_MEMSTAT_MAX];
} hd_memstat;

/* Reads them now, the kernel's figures of process proc (0: this one).  Call
 * with the GIL held, before the walk. */
void hd_memstat_take(hd_memstat *m, pid_t proc);

typedef struct hd_options {
    int values;         /* record short values */
    int max_value_len;  /* bytes */
    int tracebacks;     /* record tracemalloc tracebacks */
    int level;          /* zlib level 0-9 */
} hd_options;

typedef struct hd_stats {
    uint64_t n_objects;
    uint64_t n_edges;
    uint64_t n_roots;
    uint64_t n_strings;
    uint64_t n_types;
    uint64_t n_tracebacks;
    uint64_t n_sizeof_calls; /* objects whose C __sizeof__ was called */
    uint64_t n_sizes_probed; /* ... in a probe child, successfully */
    uint64_t n_sizes_unknown; /* ... which failed: provisional size kept */
} hd_stats;

/* ---- probe.c: unvetted C __sizeof__s, called in a throwaway child -------- */

#define HD_PROBE_STALL_MS 2000   /* a child this long on one object hangs */
#define HD_PROBE_MAX_FAILURES 8  /* then the rest keep provisional sizes */

typedef struct hd_probe_item {
    PyObject *op;    /* the object (borrowed; the heap does not change) */
    PyObject *descr; /* its type's C __sizeof__ (borrowed) */
} hd_probe_item;

typedef struct hd_probe {
    hd_probe_item *items; /* in the order the walk found them */
    size_t n, cap;
    size_t n_failed;      /* children that crashed or hung */
} hd_probe;

/* 1 if descr is a C __sizeof__ safe to call in the process (VETTED). */
int hd_probe_vetted(PyObject *descr);
/* Queues op for measuring; returns 0 or -1 on allocation failure. */
int hd_probe_add(hd_probe *p, PyObject *op, PyObject *descr);
/* Measures every queued object in child processes.  *sizes_out (the
 * caller frees it) gets one __sizeof__ result per item, -1 where the
 * child failed on it.  Returns 0, or -1 on allocation failure. */
int hd_probe_run(hd_probe *p, int64_t **sizes_out);
void hd_probe_dispose(hd_probe *p);

typedef struct hd_dumpctx {
    hd_options opt;
    hd_stats st;
    hd_sink *sink;
    hd_markset seen;       /* objects found so far */
    hd_ptrmap type_ids;    /* type object -> type id */
    hd_typeinfo *types;    /* indexed by type id - 1 */
    size_t cap_types;
    hd_ptrmap str_ids;     /* str object -> string id */
    hd_ptrmap cstr_ids;    /* C string (tp_name) -> string id */
    hd_ptrmap tb_ids;      /* traceback hash -> traceback id */
    /* threading.local: each thread's _thread._localdummy -> 1 + its index
     * in thread_ids, so a local's per-thread dicts are named by thread */
    hd_ptrmap local_dummies;
    unsigned long *thread_ids;
    size_t n_threads;
    PyObject **stack;      /* objects found, not yet encoded */
    size_t n_stack, cap_stack;
    hd_edge *edges;        /* references of the object being encoded */
    size_t n_edges, cap_edges;
    size_t label_cursor;   /* where the next label match starts */
    uintptr_t prev_addr;   /* delta base for object addresses */
    PyObject *name_sizeof; /* interned "__sizeof__", borrowed */
    PyObject *known_sizeof[HD_N_KNOWN_SIZEOF]; /* C __sizeof__ of built-ins */
    uint8_t known_kind[HD_N_KNOWN_SIZEOF];     /* enum hd_sizeof_kind */
    hd_probe probe;        /* objects whose size a probe child measures */
    int nomem;             /* an allocation failed (sticky) */
} hd_dumpctx;

/* ---- emit.c: encode records (FORMAT.md) ----------------------------------- */

int hd_emit_prelude(hd_dumpctx *ctx);
/* Writes the HEADER record; meta is n pairs of UTF-8 key/value C strings. */
int hd_emit_header(hd_dumpctx *ctx, uint64_t time_ns, const char **meta,
                   size_t n_meta);
/* String id of a str object's UTF-8 text (interned by identity), 0 on error. */
uint32_t hd_emit_str(hd_dumpctx *ctx, PyObject *str);
/* String id of a C string; key identifies it for interning (NULL: never). */
uint32_t hd_emit_cstr(hd_dumpctx *ctx, const char *s, size_t n,
                      const void *key);
/* Type id of a type, writing its TYPE record the first time; 0 on error. */
uint32_t hd_emit_type(hd_dumpctx *ctx, PyTypeObject *tp);
/* Writes the OBJECT record of op (of type id tid) with ctx->edges;
 * returns 0 or -1. */
int hd_emit_object(hd_dumpctx *ctx, PyObject *op, uint32_t tid);
int hd_emit_root(hd_dumpctx *ctx, PyObject *op, int kind, uint32_t name);
/* Writes the MEMORY record (§7b) if m has any part; returns 0 or -1. */
int hd_emit_memory(hd_dumpctx *ctx, const hd_memstat *m);
/* Measures the objects queued in ctx->probe and writes a SIZE record for
 * each one measured; returns 0 or -1. */
int hd_emit_probed_sizes(hd_dumpctx *ctx);
int hd_emit_end(hd_dumpctx *ctx);
/* UTF-8 of a str's first code points, at most cap bytes, never splitting a
 * character; lone surrogates become U+FFFD.  Sets *trunc if cut short. */
size_t hd_str_utf8(PyObject *s, char *buf, size_t cap, int *trunc);

/* ---- walk.c: find every object and its labelled references ------------ */

/* Walks the heap, emitting ROOT and OBJECT records.  Returns 0 or -1 (no
 * Python exception: the caller looks at ctx->nomem and the sink). */
int hd_walk(hd_dumpctx *ctx);
/* Appends an edge to ctx->edges; returns 0 or -1. */
int hd_walk__push_edge(hd_dumpctx *ctx, PyObject *target, uint32_t word,
                       uint64_t payload);

#endif /* HEAPDIG_DUMPER_INT_H */
