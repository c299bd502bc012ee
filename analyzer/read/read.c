/* heapdig — MIT licence.
 *
 * read.c: records -> the heap model.  It feeds the dump file to the
 * reader in 1 MiB pieces, appends each record to structure-of-arrays tables
 * (objects get dense ids in dump order; edges are CSR), renders values to
 * the text the database stores, and finally maps every edge's target address
 * to an object id through an open-addressing hash table.  The analysis and
 * SQLite stages (store/) work on dense ids only.
 */
#include "read/read.h"
#include "heapdig/format.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- Growable arrays ------------------------------------------------------ */

/* Room for n + extra elements of size sz at *arr (hd_grow). */
static int
reserve(void **arr, uint64_t *cap, uint64_t n, uint64_t extra, size_t sz)
{
    size_t c = (size_t)*cap;
    if (n + extra < n)
        return hd_error_set(HD_ENOMEM, "table too large");
    int err = hd_grow(arr, &c, (size_t)(n + extra), sz);
    *cap = c;
    return err;
}

#define RESERVE(h, arr, capf, n, extra)                                       \
    reserve((void **)&(h)->arr, &(st)->capf, (n), (extra), sizeof(*(h)->arr))

typedef struct hd_size_rec {
    uint64_t address, size;
    int approx;
} hd_size_rec;

typedef struct load_state {
    hd_heap *h;
    uint64_t cap_str_data, cap_str, cap_types, cap_obj, cap_edges, cap_roots,
        cap_tb, cap_frames, cap_val;
    uint64_t str_len;
    uint64_t *edge_addr;  /* target addresses before resolution */
    uint64_t *root_addr;
    uint64_t n_frames;
    hd_size_rec *sizes;   /* SIZE records, applied once addresses resolve */
    uint64_t n_sizes, cap_sizes;
    uint32_t last_value_n; /* length of the value render_value wrote */
} load_state;

/* ---- Value rendering --------------------------------------------------------- */

/* Appends n bytes to the value arena. */
static int
val_put(load_state *st, const char *s, size_t n)
{
    hd_heap *h = st->h;
    if (reserve((void **)&h->val_data, &st->cap_val, h->val_len, n + 1, 1) < 0)
        return HD_ENOMEM;
    memcpy(h->val_data + h->val_len, s, n);
    h->val_len += n;
    return 0;
}

/* Python's repr of bytes: b'ab\x00', \t \n \r, b"it's".  Written a run
 * at a time: a byte at a time through snprintf was a visible share of a
 * load. */
static int
val_bytes(load_state *st, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[256];
    size_t k = 0;
    /* repr's quotes: double ones when there is a ' and no " */
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    char open_q[2] = {'b', q};
    if (val_put(st, open_q, 2) < 0)
        return HD_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (k + 4 > sizeof(tmp)) {
            if (val_put(st, tmp, k) < 0)
                return HD_ENOMEM;
            k = 0;
        }
        if (c == '\\' || c == (uint8_t)q) {
            tmp[k++] = '\\';
            tmp[k++] = (char)c;
        } else if (c == '\t' || c == '\n' || c == '\r') {
            tmp[k++] = '\\';
            tmp[k++] = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
        } else if (c < 0x20 || c >= 0x7f) {
            tmp[k++] = '\\';
            tmp[k++] = 'x';
            tmp[k++] = hex[c >> 4];
            tmp[k++] = hex[c & 15];
        } else {
            tmp[k++] = (char)c;
        }
    }
    if (k && val_put(st, tmp, k) < 0)
        return HD_ENOMEM;
    return val_put(st, &q, 1);
}

/* Shortest %g that reads back as the same double (like Python's repr).
 * %.15g already drops trailing zeros, so it is the shortest form whenever 15
 * digits suffice; otherwise 16 or 17 digits are needed. */
static int
format_double(char *buf, size_t cap, double d)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (!strchr(buf, '.') && !strchr(buf, 'e') && !strchr(buf, 'n') &&
        !strchr(buf, 'i'))
        strncat(buf, ".0", cap - strlen(buf) - 1);
    return (int)strlen(buf);
}

static int
render_value(load_state *st, const hd_obj_rec *o, uint64_t *off)
{
    hd_heap *h = st->h;
    char tmp[64];
    int k, err = 0;
    *off = h->val_len;
    switch (o->value_kind) {
    case HD_VAL_STR:
    case HD_VAL_NAME:
        err = val_put(st, (const char *)o->value, o->value_len);
        break;
    case HD_VAL_BYTES:
        err = val_bytes(st, o->value, o->value_len);
        break;
    case HD_VAL_INT:
        k = snprintf(tmp, sizeof(tmp), "%" PRId64, o->value_int);
        err = val_put(st, tmp, (size_t)k);
        break;
    case HD_VAL_FLOAT:
        k = format_double(tmp, sizeof(tmp), o->value_float);
        err = val_put(st, tmp, (size_t)k);
        break;
    case HD_VAL_BIGINT:
        k = snprintf(tmp, sizeof(tmp), "~%.6g", o->value_float);
        err = val_put(st, tmp, (size_t)k);
        break;
    case HD_VAL_TRUE:
        err = val_put(st, "True", 4);
        break;
    case HD_VAL_FALSE:
        err = val_put(st, "False", 5);
        break;
    case HD_VAL_NONE:
        err = val_put(st, "None", 4);
        break;
    default:
        *off = UINT64_MAX;
        return 0;
    }
    if (err < 0)
        return err;
    st->last_value_n = (uint32_t)(h->val_len - *off);
    h->val_data[h->val_len++] = 0;
    return 0;
}

/* ---- Reader callbacks ----------------------------------------------------------- */

static int
on_header(const hd_header *hdr, void *payload)
{
    load_state *st = payload;
    hd_heap *h = st->h;
    h->hdr = *hdr;
    h->hdr.meta = NULL;
    h->hdr.meta_len = NULL;
    h->meta = calloc(2 * hdr->n_meta + 1, sizeof(char *));
    if (h->meta == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory");
    h->n_meta = hdr->n_meta;
    for (size_t i = 0; i < 2 * hdr->n_meta; i++) {
        if ((h->meta[i] = malloc(hdr->meta_len[i] + 1)) == NULL)
            return hd_error_set(HD_ENOMEM, "out of memory");
        memcpy(h->meta[i], hdr->meta[i], hdr->meta_len[i]);
        h->meta[i][hdr->meta_len[i]] = 0;
    }
    return 0;
}

static int
on_string(uint32_t id, const uint8_t *s, size_t n, void *payload)
{
    load_state *st = payload;
    hd_heap *h = st->h;
    if (RESERVE(h, str_off, cap_str, (uint64_t)id + 1, 1) < 0 ||
        reserve((void **)&h->str_data, &st->cap_str_data, st->str_len, n + 1,
                1) < 0)
        return HD_ENOMEM;
    if (id == 1)
        h->str_off[0] = h->str_off[1] = 0;
    memcpy(h->str_data + st->str_len, s, n);
    st->str_len += n;
    h->str_data[st->str_len++] = 0; /* NUL-terminated for convenience */
    h->str_off[id + 1] = st->str_len;
    h->n_strings = id;
    return 0;
}

static int
on_type(uint32_t id, uint64_t addr, uint32_t name, uint32_t module,
        void *payload)
{
    load_state *st = payload;
    hd_heap *h = st->h;
    uint64_t old_cap = st->cap_types;
    if (RESERVE(h, type_addr, cap_types, id, 1) < 0)
        return HD_ENOMEM;
    if (st->cap_types != old_cap) { /* the three arrays share one capacity */
        uint32_t *n2 = realloc(h->type_name, (size_t)st->cap_types * 4);
        if (n2 == NULL)
            return hd_error_set(HD_ENOMEM, "out of memory");
        h->type_name = n2;
        uint32_t *m2 = realloc(h->type_module, (size_t)st->cap_types * 4);
        if (m2 == NULL)
            return hd_error_set(HD_ENOMEM, "out of memory");
        h->type_module = m2;
    }
    h->type_addr[id] = addr;
    h->type_name[id] = name;
    h->type_module[id] = module;
    h->n_types = id;
    return 0;
}

/* Grows all per-object arrays together. */
static int
reserve_objects(load_state *st, uint64_t n)
{
    hd_heap *h = st->h;
    uint64_t cap = st->cap_obj;
    if (n + 1 <= cap)
        return 0;
    uint64_t c = cap ? cap * 2 : 65536;
    while (c < n + 1)
        c *= 2;
#define GROW(arr)                                                             \
    do {                                                                      \
        void *p_ = realloc(h->arr, (size_t)c * sizeof(*h->arr));              \
        if (p_ == NULL)                                                       \
            return hd_error_set(HD_ENOMEM, "out of memory (%" PRIu64          \
                                " objects)", c);                              \
        h->arr = p_;                                                          \
    } while (0)
    GROW(addr);
    GROW(type);
    GROW(size.v);
    GROW(refcount.v);
    GROW(flags);
    GROW(length.v);
    GROW(value_off);
    GROW(value_n);
    GROW(traceback);
    GROW(edge_start);
#undef GROW
    st->cap_obj = c;
    return 0;
}

static int
add_edges(load_state *st, const hd_edge_rec *e, size_t n)
{
    hd_heap *h = st->h;
    uint64_t cap = st->cap_edges;
    if (h->n_edges + n > cap) {
        uint64_t c = cap ? cap : 65536;
        while (c < h->n_edges + n)
            c *= 2;
        void *a = realloc(st->edge_addr, (size_t)c * 8);
        if (a == NULL)
            return hd_error_set(HD_ENOMEM, "out of memory");
        st->edge_addr = a;
        void *p = realloc(h->edge_payload.v, (size_t)c * 4);
        if (p == NULL)
            return hd_error_set(HD_ENOMEM, "out of memory");
        h->edge_payload.v = p;
        void *w = realloc(h->edge_word, (size_t)c);
        if (w == NULL)
            return hd_error_set(HD_ENOMEM, "out of memory");
        h->edge_word = w;
        st->cap_edges = c;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t k = h->n_edges++;
        st->edge_addr[k] = e[i].target;
        if (hd_col_set(&h->edge_payload, k, e[i].payload) < 0)
            return HD_ENOMEM;
        h->edge_word[k] = (uint8_t)(e[i].label_kind << 1 | e[i].weak);
    }
    h->edge_start[h->n_objects] = h->n_edges;
    return 0;
}

static int
on_object(const hd_obj_rec *o, void *payload)
{
    load_state *st = payload;
    hd_heap *h = st->h;
    uint64_t id = h->n_objects;
    if (id >= UINT32_MAX - 1)
        return hd_error_set(HD_ENOMEM, "more than 4 billion objects");
    if (reserve_objects(st, id + 1) < 0)
        return HD_ENOMEM;
    h->addr[id] = o->address;
    h->type[id] = o->type;
    /* no refcount comes near 2^62 (3.12's immortal ones are about 2^32);
     * clamping keeps refcount - references arithmetic in range */
    if (hd_col_set(&h->size, id, o->size) < 0 ||
        hd_col_set(&h->refcount, id,
                   o->refcount > (UINT64_C(1) << 62) ? UINT64_C(1) << 62
                                                     : o->refcount) < 0 ||
        hd_col_set(&h->length, id, (uint64_t)o->length + 1) < 0)
        return HD_ENOMEM;
    h->flags[id] = o->flags |
                   (o->value_kind == HD_VAL_STR ? HD_DB_VALUE_STR : 0);
    h->traceback[id] = o->traceback;
    if (render_value(st, o, &h->value_off[id]) < 0)
        return HD_ENOMEM;
    h->value_n[id] = st->last_value_n;
    h->edge_start[id] = h->n_edges;
    h->n_objects = id + 1;
    return add_edges(st, o->edges, o->n_edges);
}

static int
on_edges(const hd_edge_rec *e, size_t n, void *payload)
{
    return add_edges(payload, e, n);
}

static int
on_root(uint64_t addr, int kind, uint32_t name, void *payload)
{
    load_state *st = payload;
    hd_heap *h = st->h;
    if (RESERVE(st, root_addr, cap_roots, h->n_roots, 1) < 0)
        return HD_ENOMEM;
    void *k = realloc(h->root_kind, (size_t)st->cap_roots);
    void *n = k ? realloc(h->root_name, (size_t)st->cap_roots * 4) : NULL;
    if (k)
        h->root_kind = k;
    if (n == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory");
    h->root_name = n;
    st->root_addr[h->n_roots] = addr;
    h->root_kind[h->n_roots] = (uint8_t)kind;
    h->root_name[h->n_roots] = name;
    h->n_roots++;
    return 0;
}

static int
on_memory(const char *part, uint64_t bytes, void *payload)
{
    load_state *st = payload;
    hd_heap *h = st->h;
    void *p = realloc(h->memory, (h->n_memory + 1) * sizeof(*h->memory));
    if (p == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory");
    h->memory = p;
    snprintf(h->memory[h->n_memory].part, sizeof(h->memory[0].part), "%s",
             part);
    h->memory[h->n_memory].bytes = bytes;
    h->n_memory++;
    return 0;
}

static int
on_size(uint64_t address, uint64_t size, int approx, void *payload)
{
    load_state *st = payload;
    if (RESERVE(st, sizes, cap_sizes, st->n_sizes, 1) < 0)
        return HD_ENOMEM;
    st->sizes[st->n_sizes].address = address;
    st->sizes[st->n_sizes].size = size;
    st->sizes[st->n_sizes].approx = approx;
    st->n_sizes++;
    return 0;
}

static int
on_traceback(uint32_t id, const hd_tb_frame *f, size_t n, void *payload)
{
    load_state *st = payload;
    hd_heap *h = st->h;
    if (RESERVE(h, tb_start, cap_tb, (uint64_t)id + 1, 1) < 0 ||
        RESERVE(h, tb_frames, cap_frames, st->n_frames, n) < 0)
        return HD_ENOMEM;
    if (id == 1)
        h->tb_start[0] = h->tb_start[1] = 0;
    if (n) /* a traceback of no frames has no array to copy */
        memcpy(h->tb_frames + st->n_frames, f, n * sizeof(*f));
    st->n_frames += n;
    h->tb_start[id + 1] = st->n_frames;
    h->n_tracebacks = id;
    return 0;
}

/* ---- Address resolution -------------------------------------------------------- */

/* Object ids by address + 1 (0 marks an empty slot); the longest probe an
 * insert made is kept for `load -v` (hostile addresses show there). */
static int
addr_map_build(hd_hmap *m, const hd_heap *h, uint64_t *longest_probe)
{
    if (h->n_objects > UINT32_MAX || hd_hmap_reserve(m, h->n_objects) < 0)
        return hd_error_set(HD_ENOMEM, "out of memory (address map)");
    for (uint64_t i = 0; i < h->n_objects; i++) {
        uint64_t k = h->addr[i] + 1, s = hd_hmap_first(m, k), probe = 0;
        for (; m->keys[s] != 0; s = (s + 1) & m->mask, probe++)
            if (m->keys[s] == k)
                return hd_error_set(HD_ECORRUPT, "corrupt dump: object "
                                    "0x%" PRIx64 " appears twice", h->addr[i]);
        if (probe > *longest_probe)
            *longest_probe = probe;
        hd_hmap_put_at(m, s, k, (uint32_t)i);
    }
    return 0;
}

static int64_t
addr_map_get(const hd_hmap *m, uint64_t a)
{
    uint64_t k = a + 1, s = hd_hmap_first(m, k);
    for (; m->keys[s] != 0; s = (s + 1) & m->mask)
        if (m->keys[s] == k)
            return m->vals[s];
    return -1;
}

/* Replaces target addresses by object ids; edges to objects the dump does
 * not hold (a faithful dump has none) are dropped and counted. */
static int
resolve(load_state *st)
{
    hd_heap *h = st->h;
    hd_hmap m = {0};
    uint64_t w = 0, cursor = 0, kept = 0; /* the payloads' wide list */
    hd_col_update *sizes = NULL;
    int err;
    if ((err = addr_map_build(&m, h, &h->addr_longest_probe)) < 0)
        goto done;
    h->edge_dst = malloc((size_t)(h->n_edges ? h->n_edges : 1) * 4);
    h->root_obj = malloc((size_t)(h->n_roots ? h->n_roots : 1) * 4);
    if (h->edge_dst == NULL || h->root_obj == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory");
        goto done;
    }
    for (uint64_t o = 0; o < h->n_objects; o++) {
        uint64_t start = h->edge_start[o], end = h->edge_start[o + 1];
        h->edge_start[o] = w;
        for (uint64_t e = start; e < end; e++) {
            int64_t id = addr_map_get(&m, st->edge_addr[e]);
            if (id < 0) {
                h->n_dangling++;
                continue;
            }
            h->edge_dst[w] = (uint32_t)id;
            hd_col_move(&h->edge_payload, e, w, &cursor, &kept);
            h->edge_word[w] = h->edge_word[e];
            w++;
        }
    }
    h->edge_start[h->n_objects] = w;
    h->n_edges = w;
    hd_col_compacted(&h->edge_payload, kept);
    uint64_t r = 0;
    for (uint64_t i = 0; i < h->n_roots; i++) {
        int64_t id = addr_map_get(&m, st->root_addr[i]);
        if (id < 0) {
            h->n_dangling++;
            continue;
        }
        h->root_obj[r] = (uint32_t)id;
        h->root_kind[r] = h->root_kind[i];
        h->root_name[r] = h->root_name[i];
        r++;
    }
    h->n_roots = r;
    /* in one merge: SIZE records come in any order of ids, and one at a
     * time each could move the whole list of wide sizes */
    if (st->n_sizes &&
        (sizes = malloc((size_t)st->n_sizes * sizeof(*sizes))) == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory (SIZE records)");
        goto done;
    }
    for (uint64_t i = 0; i < st->n_sizes; i++) {
        int64_t id = addr_map_get(&m, st->sizes[i].address);
        if (id < 0) {
            err = hd_error_set(HD_ECORRUPT, "corrupt dump: a SIZE record for 0x%" PRIx64
                               ", which no OBJECT record describes",
                               st->sizes[i].address);
            goto done;
        }
        sizes[i] = (hd_col_update){(uint64_t)id, i, st->sizes[i].size};
        if (!st->sizes[i].approx)
            h->flags[id] &= ~(uint32_t)HD_OBJ_SIZE_APPROX;
    }
    err = hd_col_set_many(&h->size, sizes, (size_t)st->n_sizes);
done:
    hd_hmap_free(&m);
    free(sizes);
    return err;
}

/* ---- Reading a file ---------------------------------------------------------------- */

int
hd_heap__read(hd_heap **out, const char *path, hd_progress_cb progress,
              void *payload)
{
    static const hd_reader_cb cb = {on_header, on_string,    on_type,
                                    on_object, on_edges,     on_root,
                                    on_traceback, on_size, on_memory};
    load_state st;
    hd_reader *rd = NULL;
    hd_inflater *z = NULL;
    FILE *f = NULL;
    uint8_t *buf = NULL;
    uint64_t done_bytes = 0, total = 0;
    struct stat sb;
    int err = 0, truncated = 0;

    *out = NULL;
    memset(&st, 0, sizeof(st));
    if ((st.h = calloc(1, sizeof(hd_heap))) == NULL ||
        (buf = malloc(1u << 20)) == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory");
        goto done;
    }
    if ((f = fopen(path, "rb")) == NULL) {
        err = hd_error_set(HD_EIO, "cannot open %s: %s", path,
                           strerror(errno));
        goto done;
    }
    if (fstat(fileno(f), &sb) == 0)
        total = (uint64_t)sb.st_size;
    if ((err = hd_reader_new(&rd, &cb, &st)) < 0)
        goto done;
    /* An empty reservation so that edge_start[0] exists for empty dumps. */
    if ((err = reserve_objects(&st, 0)) < 0)
        goto done;
    st.h->edge_start[0] = 0;
    /* A gzip dump (as the dumper writes it) is inflated on a thread of its
     * own while this one parses; anything else is read here. */
    /* read(2), not stdio: stdio could read ahead into its own buffer, and
     * the inflating thread reads the descriptor; two bytes decide, and a
     * pipe is not waited on for more */
    size_t n_first = 0;
    for (ssize_t r = 1; r > 0 && n_first < 2;) {
        r = read(fileno(f), buf + n_first, (1u << 20) - n_first);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = hd_error_set(HD_EIO, "reading %s: %s", path,
                               strerror(errno));
            goto done;
        }
        n_first += (size_t)r;
    }
    if (n_first >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
        const uint8_t *p;
        size_t n;
        int more;
        hd_reader_set_inflated(rd);
        if ((err = hd_inflater_start(&z, f, path, buf, n_first)) < 0)
            goto done;
        while ((more = hd_inflater_next(z, &p, &n, &done_bytes)) == 1) {
            if ((err = hd_reader_feed(rd, p, n)) < 0)
                goto done;
            if (progress && progress(done_bytes, total, payload)) {
                err = hd_error_set(HD_ECALLBACK, "load cancelled");
                goto done;
            }
        }
        if ((err = more) < 0)
            goto done;
    }
    for (size_t n = n_first; z == NULL; n = fread(buf, 1, 1u << 20, f)) {
        if (n == 0) {
            if (ferror(f)) {
                err = hd_error_set(HD_EIO, "reading %s: %s", path,
                                   strerror(errno));
                goto done;
            }
            break;
        }
        if ((err = hd_reader_feed(rd, buf, n)) < 0)
            goto done;
        done_bytes += n;
        if (progress && progress(done_bytes, total, payload)) {
            err = hd_error_set(HD_ECALLBACK, "load cancelled");
            goto done;
        }
    }
    err = hd_reader_finish(rd);
    if (err == 0 && z && hd_inflater_cut_short(z))
        err = hd_error_set_offset(HD_ETRUNCATED, hd_reader_offset(rd),
                                  "truncated dump: the compressed stream "
                                  "ends early (after the END record)");
    if (err == HD_ETRUNCATED) {
        truncated = 1;
        err = 0;
    } else if (err < 0)
        goto done;
    if (st.h->n_strings == 0 && st.h->hdr.major == 0) {
        err = hd_error_set(HD_ETRUNCATED, "truncated dump: it ends before "
                           "its header; nothing to load");
        goto done;
    }
    if ((err = resolve(&st)) < 0)
        goto done;
    st.h->truncated = truncated;
done:
    if (err < 0 && err != HD_ETRUNCATED && err == hd_error_last()->code &&
        strstr(hd_error_last()->message, path) == NULL) {
        /* Say which file, keeping the reader's message. */
        char msg[sizeof(hd_error_last()->message) + 256];
        snprintf(msg, sizeof(msg), "%.200s: %s", path,
                 hd_error_last()->message);
        hd_error_set_offset(err, hd_error_last()->offset, "%s", msg);
    }
    hd_inflater_stop(z); /* before the file it reads is closed */
    hd_reader_free(rd);
    if (f)
        fclose(f);
    free(buf);
    free(st.edge_addr);
    free(st.root_addr);
    free(st.sizes);
    if (err < 0) {
        hd_heap__free(st.h);
        return err;
    }
    *out = st.h;
    return truncated ? HD_ETRUNCATED : 0;
}
