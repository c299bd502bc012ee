/* heapdig — MIT licence.
 *
 * waste.c: memory a program could keep without changing what it does
 * (heapdig.h: hd_waste_query), as Eclipse MAT reports it: the same string
 * or bytes held many times over, empty and nearly empty containers, and
 * instances whose __dict__ a __slots__ declaration would replace.  Only
 * what a root reaches counts: garbage is gc.collect()'s to free.
 *
 * Found at load, over the heap in memory (hd_waste__compute: hashing the
 * values is linear; grouping them in SQL was the slowest query heapdig
 * had, 27 s on 5 M objects), and kept in the waste table; the query side
 * reads that.  Every kind has the same columns (kind, type, what, count,
 * size, saved_size, held_at) so that one table, one JSON array or one CSV
 * holds them all; held_at is where most of them are held.
 */
#include "analyze/analyze.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- At load ------------------------------------------------------------- */

typedef struct waste_acc {
    const uint32_t *path; /* each object's signature */
    hd_wastes *out;
    hd_hmap groups;     /* key -> row */
    hd_hmap paths;      /* (row << 32 | path) + 1 -> objects there */
    uint32_t *best_n;   /* per row: objects at its most common path */
    uint32_t cap;
} waste_acc;

static int
type_is(const hd_heap *h, uint32_t t, const char *module, const char *name)
{
    const char *m = h->type_module[t] ? hd_heap__str(h, h->type_module[t], NULL)
                                      : NULL;
    return m && !strcmp(m, module) &&
           !strcmp(hd_heap__str(h, h->type_name[t], NULL), name);
}

/* The row for a group made of `key` (its hash) and equal() to an example,
 * new or found; NULL out of memory. */
static hd_waste *
row_for(const hd_heap *h, waste_acc *a, uint64_t key, const char *kind,
        uint32_t type, uint32_t example,
        int (*same)(const hd_heap *, const waste_acc *, uint32_t, uint32_t),
        uint32_t o)
{
    hd_wastes *out = a->out;
    if (hd_hmap_reserve(&a->groups, 1) < 0)
        return NULL;
    uint64_t slot = hd_hmap_first(&a->groups, key);
    for (; a->groups.keys[slot]; slot = (slot + 1) & a->groups.mask) {
        hd_waste *w = &out->row[a->groups.vals[slot]];
        if (a->groups.keys[slot] == key && w->kind == kind && w->type == type &&
            (!same || same(h, a, w->example, o)))
            return w;
    }
    if (out->n + 1 >= a->cap) {
        uint32_t nc = a->cap ? a->cap * 2 : 1024;
        hd_waste *t = realloc(out->row, (size_t)nc * sizeof(hd_waste));
        uint32_t *b = t ? realloc(a->best_n, (size_t)nc * sizeof(uint32_t)) : NULL;
        if (t)
            out->row = t;
        if (b == NULL)
            return NULL;
        a->best_n = b;
        a->cap = nc;
    }
    uint32_t id = ++out->n;
    out->row[id] = (hd_waste){kind, type, example, 0, 0, 0, 0};
    a->best_n[id] = 0;
    hd_hmap_put_at(&a->groups, slot, key, id);
    return &out->row[id];
}

/* One more of row w's objects held at path: the row's path is where most
 * are. */
static int
count_path(waste_acc *a, hd_waste *w, uint32_t path)
{
    uint32_t row = (uint32_t)(w - a->out->row);
    uint64_t key = (((uint64_t)row << 32) | path) + 1;
    if (hd_hmap_reserve(&a->paths, 1) < 0)
        return -1;
    uint64_t slot = hd_hmap_first(&a->paths, key);
    while (a->paths.keys[slot] && a->paths.keys[slot] != key)
        slot = (slot + 1) & a->paths.mask;
    uint32_t n = (a->paths.keys[slot] ? a->paths.vals[slot] : 0) + 1;
    hd_hmap_put_at(&a->paths, slot, key, n);
    if (n > a->best_n[row]) {
        a->best_n[row] = n;
        w->path = path;
    }
    return 0;
}

static uint64_t
mix(uint64_t x, uint64_t v)
{
    return (x ^ v) * 1099511628211ull;
}

/* Duplicates: the same type, value, size, length and cut. */
static int
same_value(const hd_heap *h, const waste_acc *acc, uint32_t a, uint32_t b)
{
    (void)acc;
    return hd_heap__size(h, a) == hd_heap__size(h, b) &&
           hd_heap__length(h, a) == hd_heap__length(h, b) &&
           (h->flags[a] & HD_OBJ_VALUE_TRUNC) ==
               (h->flags[b] & HD_OBJ_VALUE_TRUNC) &&
           h->value_n[a] == h->value_n[b] &&
           !memcmp(h->val_data + h->value_off[a], h->val_data + h->value_off[b],
                   h->value_n[a]);
}

/* Empty containers: held at the same place, and both empty or not. */
static int
same_place(const hd_heap *h, const waste_acc *acc, uint32_t a, uint32_t b)
{
    return acc->path[a] == acc->path[b] &&
           (hd_heap__length(h, a) == 0) == (hd_heap__length(h, b) == 0);
}

/* The hash a duplicate's group is found by: type, size, length, value. */
static uint64_t
value_hash(const hd_heap *h, uint64_t o)
{
    uint64_t k = mix(mix(mix(1469598103934665603ull, h->type[o]),
                         hd_heap__size(h, o)),
                     (uint64_t)hd_heap__length(h, o));
    const char *v = h->val_data + h->value_off[o];
    for (uint32_t i = 0; i < h->value_n[o]; i++)
        k = mix(k, (uint8_t)v[i]);
    return k | 1;
}

/* Which values may occur twice: two bits per slot of a table of some
 * eight slots a candidate, by value hash (seen, seen again).  A value seen
 * once, as most strings are, then makes no row; a slot two values share
 * only lets one through to the exact grouping, which drops a group of one.
 * A row and its map entries for every distinct string had been the
 * load's peak (10 M objects: 1.82 -> 1.66 GB with the filter).  Each
 * candidate's hash is taken twice, here and for its row, rather than kept
 * (8 bytes a candidate, near the peak). */
typedef struct maybe_dup {
    uint64_t *seen, *again;
    uint64_t mask;
} maybe_dup;

static int
maybe_dup_count(maybe_dup *m, const hd_heap *h, const uint8_t *reachable,
                const uint8_t *dup_type)
{
    uint64_t n_cand = 0, slots = 64;
    for (uint64_t o = 0; o < h->n_objects; o++)
        n_cand += reachable[o] && dup_type[h->type[o]] &&
                  h->value_off[o] != UINT64_MAX;
    while (slots < 8 * n_cand)
        slots *= 2;
    m->mask = slots - 1;
    m->seen = calloc(slots / 64, sizeof(uint64_t));
    m->again = calloc(slots / 64, sizeof(uint64_t));
    if (!m->seen || !m->again)
        return -1;
    for (uint64_t o = 0; o < h->n_objects; o++) {
        if (!reachable[o] || !dup_type[h->type[o]] ||
            h->value_off[o] == UINT64_MAX)
            continue;
        uint64_t s = (value_hash(h, o) >> 11) & m->mask, bit = 1ull << (s & 63);
        if (m->seen[s >> 6] & bit)
            m->again[s >> 6] |= bit;
        m->seen[s >> 6] |= bit;
    }
    return 0;
}

static int
maybe_dup_has(const maybe_dup *m, uint64_t k)
{
    uint64_t s = (k >> 11) & m->mask;
    return (m->again[s >> 6] >> (s & 63)) & 1;
}

static const char KIND_DUP[] = "duplicate", KIND_EMPTY[] = "empty",
                  KIND_SLOTS[] = "slots";

void
hd_waste__free(hd_wastes *w)
{
    free(w->row);
    w->row = NULL;
    w->n = 0;
}

int
hd_waste__compute(const hd_heap *h, const uint8_t *reachable,
                  const uint32_t *path, hd_wastes *out)
{
    waste_acc a = {path, out, {0}, {0}, NULL, 0};
    uint64_t n = h->n_objects;
    uint8_t *is_dict_of = NULL; /* an object's .__dict__ (not "empty") */
    uint8_t *dup_type = NULL, *empty_type = NULL, *slots_type = NULL;
    uint8_t *dict_name = NULL; /* by string id: the text is "__dict__" */
    maybe_dup maybe = {NULL, NULL, 0};
    int err = 0;
    out->row = NULL;
    out->n = 0;
    if (!h->type_name || !h->type_module || !h->value_off || !h->length.v ||
        !path)
        return 0; /* a bare graph (the unit tests'): no values, no names */
    is_dict_of = calloc((size_t)n + 1, 1);
    dup_type = calloc((size_t)h->n_types + 1, 1);
    empty_type = calloc((size_t)h->n_types + 1, 1);
    slots_type = calloc((size_t)h->n_types + 1, 1);
    dict_name = hd_heap__strings_named(h, "__dict__");
    if (!is_dict_of || !dup_type || !empty_type || !slots_type || !dict_name)
        goto nomem;
    static const char *const containers[][2] = {
        {"builtins", "dict"}, {"builtins", "list"}, {"builtins", "set"},
        {"collections", "deque"}, {"collections", "OrderedDict"},
        {"collections", "defaultdict"}};
    for (uint32_t t = 1; t <= h->n_types; t++) {
        dup_type[t] = type_is(h, t, "builtins", "str") ||
                      type_is(h, t, "builtins", "bytes");
        for (size_t k = 0; k < sizeof(containers) / sizeof(containers[0]); k++)
            empty_type[t] |= type_is(h, t, containers[k][0], containers[k][1]);
        /* a class of the program's (or a library's) own */
        const char *m = h->type_module[t]
                            ? hd_heap__str(h, h->type_module[t], NULL) : NULL;
        slots_type[t] = m && strcmp(m, "builtins") != 0;
    }
    /* instances with a __dict__: a strong .__dict__ reference */
    for (uint64_t o = 0; o < n; o++) {
        for (uint64_t e = h->edge_start[o]; e < h->edge_start[o + 1]; e++) {
            uint8_t w = h->edge_word[e];
            if (!hd_heap__edge_is_attr(h, e, dict_name))
                continue;
            uint32_t d = h->edge_dst[e];
            is_dict_of[d] = 1;
            if ((w & HD_EDGE_WEAK) || !slots_type[h->type[o]] ||
                (h->flags[o] & (HD_OBJ_TYPE | HD_OBJ_MODULE)) ||
                !reachable[o])
                continue;
            hd_waste *r = row_for(h, &a, mix(3, h->type[o]) | 1, KIND_SLOTS,
                                  h->type[o], (uint32_t)o, NULL, 0);
            if (r == NULL || count_path(&a, r, path[o]) < 0)
                goto nomem;
            /* a pointer a slot instead of the dict (a crafted length may
             * be past any size: no overflow) */
            int64_t length = hd_heap__length(h, d);
            uint64_t len = length > 0 ? (uint64_t)length : 0;
            uint64_t size = hd_heap__size(h, d);
            r->count++;
            r->size += size;
            r->saved += len < size / 8 ? size - 8 * len : 0;
        }
    }
    if (maybe_dup_count(&maybe, h, reachable, dup_type) < 0)
        goto nomem;
    for (uint64_t o = 0; o < n; o++) {
        uint32_t t = h->type[o];
        if (!reachable[o])
            continue;
        if (dup_type[t] && h->value_off[o] != UINT64_MAX) {
            uint64_t k = value_hash(h, o);
            if (!maybe_dup_has(&maybe, k))
                continue; /* its value is there once */
            hd_waste *r = row_for(h, &a, k, KIND_DUP, t, (uint32_t)o,
                                  same_value, (uint32_t)o);
            if (r == NULL || count_path(&a, r, path[o]) < 0)
                goto nomem;
            r->count++;
            r->size += hd_heap__size(h, o);
        } else if (empty_type[t] && hd_heap__length(h, o) >= 0 &&
                   hd_heap__length(h, o) <= 2 && !is_dict_of[o]) {
            /* by type, empty or not, and where they are held */
            uint64_t k = mix(mix(mix(7, t), hd_heap__length(h, o) == 0), path[o]);
            hd_waste *r = row_for(h, &a, k | 1, KIND_EMPTY, t, (uint32_t)o,
                                  same_place, (uint32_t)o);
            if (r == NULL)
                goto nomem;
            r->count++;
            r->size += hd_heap__size(h, o);
            r->saved += hd_heap__size(h, o);
            r->path = path[o];
        }
    }
    /* what is kept: the rows worth reading; a duplicate saves all but one */
    uint32_t kept = 0;
    for (uint32_t i = 1; i <= out->n; i++) {
        hd_waste w = out->row[i];
        if (w.kind == KIND_DUP)
            w.saved = w.size - w.size / (w.count ? w.count : 1);
        if (w.count < 2)
            continue;
        out->row[++kept] = w;
    }
    out->n = kept;
    goto done;
nomem:
    err = hd_error_set(HD_ENOMEM, "out of memory (waste)");
done:
    hd_hmap_free(&a.groups);
    hd_hmap_free(&a.paths);
    free(a.best_n);
    free(maybe.seen);
    free(maybe.again);
    free(is_dict_of);
    free(dup_type);
    free(empty_type);
    free(slots_type);
    free(dict_name);
    if (err < 0)
        hd_waste__free(out);
    return err;
}
