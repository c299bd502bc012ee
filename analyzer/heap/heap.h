/* heapdig — MIT licence.
 *
 * heap/heap.h: the heap in memory, as the reader builds it (structure
 * of arrays, dense 0-based object ids).  The analysis stages read it and
 * return their results apart (analyze/analyze.h: hd_analysis).
 */
#ifndef HEAPDIG_HEAP_HEAP_H
#define HEAPDIG_HEAP_HEAP_H

#include "base/base.h"
#include "heapdig/format.h"

/* ---- numbers kept in 32 bits -------------------------------------------------- */

/* A column of 64-bit numbers held in 32 bits each: one of HD_WIDE or more
 * is HD_WIDE in v[] and whole in wide_val[], by ascending index in
 * wide_at[].  Sizes past 4 GiB and dict keys that are big ints are few in
 * any heap; the refcounts of 3.12's and 3.13's immortal objects (2^32 - 1,
 * the marker) are the commonest.  With 64-bit arrays the peak of a 10 M
 * load was 66 bytes an object+reference; it is 59. */
typedef struct hd_col {
    uint32_t *v;
    uint64_t *wide_at, *wide_val;
    uint64_t n_wide, cap_wide;
} hd_col;

#define HD_WIDE UINT32_MAX

uint64_t hd_col__wide(const hd_col *c, uint64_t i);
int hd_col__set_wide(hd_col *c, uint64_t i, uint64_t x);

static inline uint64_t
hd_col_get(const hd_col *c, uint64_t i)
{
    uint32_t v = c->v[i];
    return v != HD_WIDE ? v : hd_col__wide(c, i);
}

/* c[i] = x, v[] having room for i; setting indices in ascending order is
 * O(1) each (a wide one is appended), in any other order O(wide ones) at
 * worst: many go through hd_col_set_many.  HD_ENOMEM when the wide list
 * cannot grow. */
static inline int
hd_col_set(hd_col *c, uint64_t i, uint64_t x)
{
    if (x < HD_WIDE && (c->n_wide == 0 || c->wide_at[c->n_wide - 1] < i)) {
        c->v[i] = (uint32_t)x;
        return 0;
    }
    return hd_col__set_wide(c, i, x);
}

/* Sets many: c[u.at] = u.val for each of the n updates, in any order (of
 * two for one index, the one of greater `order` wins), in O(n log n + wide
 * ones).  Sorts u. */
typedef struct hd_col_update {
    uint64_t at, order, val;
} hd_col_update;
int hd_col_set_many(hd_col *c, hd_col_update *u, size_t n);

/* Moves what index `from` holds to index `to`, for a compaction that walks
 * indices upwards (to <= from, each from once); *cursor (0 at the start)
 * tracks the wide list, and hd_col_compacted ends it. */
void hd_col_move(hd_col *c, uint64_t from, uint64_t to, uint64_t *cursor,
                 uint64_t *kept);
void hd_col_compacted(hd_col *c, uint64_t kept);
void hd_col_free(hd_col *c);

/* ---- the heap model: what a dump holds, as dense arrays -------------------- */

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

typedef struct hd_tb_frame {
    uint32_t filename; /* string id */
    uint64_t lineno;
} hd_tb_frame;

/* One figure of a MEMORY record (FORMAT.md §7b) / a memory table row. */
typedef struct hd_memory_part {
    char part[HD_MEMORY_PART_MAX + 1];
    uint64_t bytes;
} hd_memory_part;
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
    hd_col size;     /* hd_heap__size() */
    hd_col refcount; /* clamped to 2^62 */
    uint32_t *flags;
    hd_col length;   /* hd_heap__length(): length + 1, so -1 (none) is 0 */
    uint64_t *value_off; /* into val_data, UINT64_MAX if none */
    uint32_t *value_n;   /* its length in bytes (a str may hold NULs) */
    uint32_t *traceback;
    uint64_t *edge_start; /* CSR: edges of o are [edge_start[o], edge_start[o+1]) */
    uint64_t n_objects;
    /* edges */
    uint32_t *edge_dst;  /* object id */
    hd_col edge_payload; /* hd_heap__payload() */
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

} hd_heap;

#define HD_NONE UINT32_MAX

void hd_heap__free(hd_heap *h);

static inline uint64_t
hd_heap__size(const hd_heap *h, uint64_t o)
{
    return hd_col_get(&h->size, o);
}
static inline uint64_t
hd_heap__refcount(const hd_heap *h, uint64_t o)
{
    return hd_col_get(&h->refcount, o);
}
/* A container's len(), -1 for none. */
static inline int64_t
hd_heap__length(const hd_heap *h, uint64_t o)
{
    return (int64_t)(hd_col_get(&h->length, o) - 1);
}
static inline uint64_t
hd_heap__payload(const hd_heap *h, uint64_t e)
{
    return hd_col_get(&h->edge_payload, e);
}

/* The text of string id (1-based); "" for 0. */
const char *hd_heap__str(const hd_heap *h, uint32_t id, size_t *len);
/* A flag per string id (1..n_strings): its text is `text`; for testing
 * many edges' attribute names without a strcmp each.  Caller frees; NULL
 * when out of memory. */
uint8_t *hd_heap__strings_named(const hd_heap *h, const char *text);
/* Whether edge e is an attribute reference whose name is flagged. */
static inline int
hd_heap__edge_is_attr(const hd_heap *h, uint64_t e, const uint8_t *named)
{
    if ((h->edge_word[e] >> 1) != HD_LBL_ATTR)
        return 0;
    uint64_t name = hd_heap__payload(h, e);
    return name <= h->n_strings && named[name];
}
/* Renders an edge label as its SQL text form (FORMAT.md §6) into buf;
 * returns NULL for unlabelled edges. */
const char *hd_heap__label(const hd_heap *h, uint8_t word, uint64_t payload,
                           char *buf, size_t cap);

#endif /* HEAPDIG_HEAP_HEAP_H */
