/* heapdig — MIT licence.
 *
 * bulk.c: the objects and edges tables and every index on them, as b-tree
 * entries made from the heap and the analysis (btree.c writes them as
 * pages).  These are nearly all of a database: through SQLite (INSERTs,
 * then CREATE INDEX sorting each index in temporary files) a 10 M-object
 * heap's took 20 s of a 31 s load.  Each index's order comes from a
 * counting sort (by dominator, cycle, referent) or a radix sort (by
 * address), made just before its tree is written and freed after; the
 * two slowest (by address, by dominator) are made on a second thread while
 * SQLite writes the small tables (hd_bulk_orders_start).
 *
 * The entries must be what SQLite would have stored for the schema's
 * tables and indexes, so the schema is checked first: each table's columns
 * and key, and each index's definition, must be the ones written here; an
 * index on either table that this file does not know fails the load
 * rather than be left empty.
 */
#include "store/write.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The schema they must match ------------------------------------------ */

static const char *const object_columns[] = {
    "id",        "address", "type",  "size",  "refcount", "length",
    "flags",     "value",   "traceback", "external", "scc", "reachable",
    "depth",     "parent",  "idom",  "retained", "path", "held_as"};
#define OBJECT_COLUMNS 18

static const char *const edge_columns[] = {"src", "seq", "dst", "weak", "label"};
#define EDGE_COLUMNS 5

/* In the order written (bulk_write frees what each was the last to need) */
enum { T_EDGES, T_OBJECTS, T_EDGES_DST, T_ADDRESS, T_IDOM, T_SCC, T_EXTERNAL, N_TREES };

static const struct {
    const char *name, *sql; /* sql: an index's definition, spaces collapsed */
} tree_defs[N_TREES] = {
    {"edges", NULL},
    {"objects", NULL},
    {"edges_dst", "CREATE INDEX edges_dst ON edges(dst, src)"},
    {"objects_address", "CREATE UNIQUE INDEX objects_address ON objects(address)"},
    {"objects_idom", "CREATE INDEX objects_idom ON objects(idom, retained, type, held_as, size)"},
    {"objects_scc", "CREATE INDEX objects_scc ON objects(scc) WHERE scc IS NOT NULL"},
    {"objects_external", "CREATE INDEX objects_external ON objects(external) WHERE external > 0"},
};

/* Runs of white space as one space, none at the ends. */
static void
collapse(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    int space = 0;
    for (; *in && n + 1 < cap; in++) {
        if (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\r') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < cap)
            out[n++] = ' ';
        space = 0;
        out[n++] = *in;
    }
    out[n] = 0;
}

/* A table's columns, in order, their types (INTEGER, but text_col TEXT:
 * the affinity SQLite would have converted values by) and its key: as
 * written here. */
static int
check_table(sqlite3 *db, const char *table, const char *const *cols, int n,
            int pk_cols, const char *text_col)
{
    sqlite3_stmt *st = NULL;
    char sql[128];
    int err, i = 0, rc, ok = 1;
    snprintf(sql, sizeof(sql), "SELECT name, pk, upper(type) FROM "
             "pragma_table_info('%s') ORDER BY cid", table);
    if ((err = hd_sql_prepare(db, &st, sql)) < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 2);
        int pk = sqlite3_column_int(st, 1);
        ok = ok && i < n && name && type && strcmp(name, cols[i]) == 0 &&
             pk == (i < pk_cols ? i + 1 : 0) &&
             strcmp(type, text_col && strcmp(name, text_col) == 0
                              ? "TEXT" : "INTEGER") == 0;
        i++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return hd_sql_error(db, table);
    if (!ok || i != n)
        return hd_error_set(HD_EINVAL, "the schema's %s table is not the one "
                            "heapdig writes (its columns, their types or its "
                            "key differ)", table);
    return 0;
}

/* Every b-tree on objects and edges: known here, defined as here; their
 * roots into root[]. */
static int
find_trees(sqlite3 *db, uint32_t *root)
{
    sqlite3_stmt *st = NULL;
    int err, rc;
    if ((err = check_table(db, "objects", object_columns, OBJECT_COLUMNS, 1,
                           "value")) < 0 ||
        (err = check_table(db, "edges", edge_columns, EDGE_COLUMNS, 2,
                           NULL)) < 0)
        return err;
    memset(root, 0, N_TREES * sizeof(*root));
    if ((err = hd_sql_prepare(db, &st, "SELECT name, type, coalesce(sql, ''), "
                              "rootpage FROM sqlite_schema WHERE tbl_name IN "
                              "('objects', 'edges')")) < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 1);
        const char *raw = (const char *)sqlite3_column_text(st, 2);
        char sql[512];
        int t = 0;
        collapse(raw, sql, sizeof(sql));
        while (t < N_TREES && strcmp(tree_defs[t].name, name) != 0)
            t++;
        int table = strcmp(type, "table") == 0;
        if (t == N_TREES || (tree_defs[t].sql == NULL) != table ||
            (!table && strcmp(tree_defs[t].sql, sql) != 0)) {
            err = hd_error_set(HD_EINVAL, "the schema's %s %s is not one "
                               "heapdig writes itself", type, name);
            break;
        }
        /* rowid tables and WITHOUT ROWID ones as written here */
        if (table && (strstr(raw, "WITHOUT ROWID") != NULL) != (t == T_EDGES)) {
            err = hd_error_set(HD_EINVAL, "the schema's %s table: WITHOUT "
                               "ROWID where heapdig writes otherwise", name);
            break;
        }
        root[t] = (uint32_t)sqlite3_column_int64(st, 3);
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = hd_sql_error(db, "schema");
    sqlite3_finalize(st);
    for (int t = 0; err == 0 && t < N_TREES; t++)
        if (root[t] < 2)
            err = hd_error_set(HD_EINVAL, "the schema has no %s",
                               tree_defs[t].name);
    return err;
}

/* ---- Values ------------------------------------------------------------------ */

static hd_value
num(int64_t v)
{
    return (hd_value){HD_V_INT, v, NULL, 0};
}

static const hd_value null_value = {HD_V_NULL, 0, NULL, 0};

/* An id, or NULL for HD_NONE (and for 0 where none is 0). */
static hd_value
id(uint32_t v)
{
    return v == HD_NONE ? null_value : num(v);
}

static hd_value
id_nonzero(uint32_t v)
{
    return v == 0 ? null_value : id(v);
}

/* ---- The sources ------------------------------------------------------------- */

typedef struct hd_bulk {
    hd_heap *h;
    hd_analysis *a;
    uint32_t *held_as;    /* or NULL */
    uint32_t *edge_label; /* 0: none */
    uint32_t *order; /* the index being written: objects in key order */
    uint64_t *in_start; /* edges_dst: edges into o at [in_start[o], in_start[o+1]) */
    uint32_t *in_src, *in_seq;
    uint64_t walk; /* edges: the source of the edge asked for last (entries
                    * come in order); edges_dst: its referent */
    int64_t (*key)(const struct hd_bulk *, uint32_t); /* key_entry's column */
} hd_bulk;

static hd_value
held_as_of(const hd_bulk *b, uint64_t o)
{
    return b->held_as ? id_nonzero(b->held_as[o]) : null_value;
}

static size_t
object_entry(void *ctx, uint64_t o, unsigned char *buf, size_t cap,
             int64_t *rowid)
{
    const hd_bulk *b = ctx;
    const hd_heap *h = b->h;
    const hd_analysis *a = b->a;
    int64_t length = hd_heap__length(h, o);
    hd_value v[OBJECT_COLUMNS] = {
        null_value, /* id: the rowid's alias, stored as NULL */
        num((int64_t)h->addr[o]),
        num(h->type[o]),
        num((int64_t)hd_heap__size(h, o)),
        num((int64_t)hd_heap__refcount(h, o)),
        length >= 0 ? num(length) : null_value,
        num(h->flags[o] & ~(uint32_t)(HD_OBJ_HAS_LENGTH | HD_OBJ_HAS_VALUE |
                                      HD_OBJ_HAS_TRACEBACK)),
        h->value_off[o] != UINT64_MAX
            ? (hd_value){HD_V_TEXT, 0, h->val_data + h->value_off[o],
                         h->value_n[o]}
            : null_value,
        id_nonzero(h->traceback[o]),
        num(a->external[o]),
        id(a->cycles.scc[o]),
        num(a->bfs.reachable[o]),
        id(a->bfs.depth[o]),
        id(a->bfs.parent[o]),
        id(a->dom.idom[o]),
        num((int64_t)a->dom.retained[o]),
        id_nonzero(a->sigs.path[o]),
        held_as_of(b, o),
    };
    *rowid = (int64_t)o;
    return hd__record(buf, cap, v, OBJECT_COLUMNS);
}

/* An index of one column: (its value, the object's id). */
static size_t
key_entry(void *ctx, uint64_t i, unsigned char *buf, size_t cap,
          int64_t *rowid)
{
    const hd_bulk *b = ctx;
    uint32_t o = b->order[i];
    hd_value v[2] = {num(b->key(b, o)), num(o)};
    (void)rowid;
    return hd__record(buf, cap, v, 2);
}

static int64_t
address_of(const hd_bulk *b, uint32_t o)
{
    return (int64_t)b->h->addr[o];
}

static int64_t
scc_of(const hd_bulk *b, uint32_t o)
{
    return b->a->cycles.scc[o];
}

static int64_t
external_of(const hd_bulk *b, uint32_t o)
{
    return b->a->external[o];
}

static size_t
idom_entry(void *ctx, uint64_t i, unsigned char *buf, size_t cap,
           int64_t *rowid)
{
    const hd_bulk *b = ctx;
    uint32_t o = b->order[i];
    hd_value v[6] = {id(b->a->dom.idom[o]), num((int64_t)b->a->dom.retained[o]),
                     num(b->h->type[o]), held_as_of(b, o),
                     num((int64_t)hd_heap__size(b->h, o)), num(o)};
    (void)rowid;
    return hd__record(buf, cap, v, 6);
}

/* Edges in the table's order, (src, seq): the heap's CSR order; entry i
 * is edge i, its source found by walking (entries come in order). */
static size_t
edge_entry(void *ctx, uint64_t e, unsigned char *buf, size_t cap,
           int64_t *rowid)
{
    hd_bulk *b = ctx;
    const hd_heap *h = b->h;
    uint64_t *src = &b->walk;
    if (e == 0)
        *src = 0;
    while (h->edge_start[*src + 1] <= e)
        (*src)++;
    uint32_t label = b->edge_label[e];
    hd_value v[EDGE_COLUMNS] = {
        num((int64_t)*src), num((int64_t)(e - h->edge_start[*src])),
        num(h->edge_dst[e]), num((h->edge_word[e] & HD_EDGE_WEAK) != 0),
        label ? num(label) : null_value};
    (void)rowid;
    return hd__record(buf, cap, v, EDGE_COLUMNS);
}

static size_t
edge_dst_entry(void *ctx, uint64_t i, unsigned char *buf, size_t cap,
               int64_t *rowid)
{
    hd_bulk *b = ctx;
    uint64_t *dst = &b->walk;
    if (i == 0)
        *dst = 0;
    while (b->in_start[*dst + 1] <= i)
        (*dst)++;
    hd_value v[3] = {num((int64_t)*dst), num(b->in_src[i]), num(b->in_seq[i])};
    (void)rowid;
    return hd__record(buf, cap, v, 3);
}

/* ---- The orders ---------------------------------------------------------------- */

static int
no_memory(void)
{
    return hd_error_set(HD_ENOMEM, "out of memory (writing the database)");
}

/* Objects by address, as SQLite orders integers (signed): a radix sort of
 * 16-bit digits, those all alike skipped (an address's top bits). */
static int
by_address(hd_bulk *b)
{
    uint64_t n = b->h->n_objects;
    uint64_t *key = malloc(n * sizeof(*key) + 1), *key2 = malloc(n * sizeof(*key) + 1);
    uint32_t *tmp = malloc(n * sizeof(*tmp) + 1);
    uint64_t *count = malloc(65537 * sizeof(*count));
    int err = 0;
    if (!key || !key2 || !tmp || !count || !(b->order = malloc(n * sizeof(uint32_t) + 1))) {
        err = no_memory();
        goto done;
    }
    for (uint64_t i = 0; i < n; i++) {
        key[i] = b->h->addr[i] ^ 0x8000000000000000ull;
        b->order[i] = (uint32_t)i;
    }
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, 65537 * sizeof(*count));
        for (uint64_t i = 0; i < n; i++)
            count[(key[i] >> shift & 0xffff) + 1]++;
        if (n == 0 || count[(key[0] >> shift & 0xffff) + 1] == n)
            continue; /* one digit for all: nothing moves */
        for (int d = 0; d < 65536; d++)
            count[d + 1] += count[d];
        for (uint64_t i = 0; i < n; i++) {
            uint64_t at = count[key[i] >> shift & 0xffff]++;
            key2[at] = key[i];
            tmp[at] = b->order[i];
        }
        uint64_t *k = key;
        key = key2;
        key2 = k;
        uint32_t *o = b->order;
        b->order = tmp;
        tmp = o;
    }
done:
    free(key);
    free(key2);
    free(tmp);
    free(count);
    return err;
}

/* qsort's comparison has no context argument; one for each thread (the
 * orders' thread sorts while the load's may too) */
static _Thread_local hd_bulk *sorting;

/* Children of one dominator as objects_idom orders them. */
static int
cmp_idom(const void *x, const void *y)
{
    const hd_bulk *b = sorting;
    uint32_t p = *(const uint32_t *)x, q = *(const uint32_t *)y;
    uint64_t rp = b->a->dom.retained[p], rq = b->a->dom.retained[q];
    if (rp != rq)
        return (int64_t)rp < (int64_t)rq ? -1 : 1;
    if (b->h->type[p] != b->h->type[q])
        return b->h->type[p] < b->h->type[q] ? -1 : 1;
    hd_value hp = held_as_of(b, p), hq = held_as_of(b, q);
    if (hp.kind != hq.kind)
        return hp.kind == HD_V_NULL ? -1 : 1;
    if (hp.num != hq.num)
        return hp.num < hq.num ? -1 : 1;
    int64_t sp = (int64_t)hd_heap__size(b->h, p), sq = (int64_t)hd_heap__size(b->h, q);
    if (sp != sq)
        return sp < sq ? -1 : 1;
    return p < q ? -1 : 1;
}

/* Objects grouped by a key in 0..m (a counting sort: in id order within
 * each), then each group sorted by cmp if given; *n_out of them (key m:
 * left out). */
static int
by_key(hd_bulk *b, uint64_t m, uint64_t (*key)(const hd_bulk *, uint64_t),
       int (*cmp)(const void *, const void *), uint64_t *n_out)
{
    uint64_t n = b->h->n_objects;
    uint32_t *start = calloc(m + 2, sizeof(*start)); /* ids are 32-bit */
    if (start == NULL || (b->order = malloc(n * sizeof(uint32_t) + 1)) == NULL) {
        free(start);
        return no_memory();
    }
    for (uint64_t o = 0; o < n; o++)
        start[key(b, o) + 1]++;
    for (uint64_t k = 0; k <= m; k++)
        start[k + 1] += start[k];
    for (uint64_t o = 0; o < n; o++)
        b->order[start[key(b, o)]++] = (uint32_t)o;
    /* start[k] is now group k's end */
    sorting = b;
    for (uint64_t k = 0, from = 0; cmp && k < m; from = start[k++])
        if (start[k] - from > 1)
            qsort(b->order + from, start[k] - from, sizeof(uint32_t), cmp);
    *n_out = m ? start[m - 1] : 0;
    free(start);
    return 0;
}

static uint64_t
idom_key(const hd_bulk *b, uint64_t o) /* NULL first */
{
    uint32_t d = b->a->dom.idom[o];
    return d == HD_NONE ? 0 : (uint64_t)d + 1;
}

static uint64_t
scc_key(const hd_bulk *b, uint64_t o) /* cycles 1..n; none last, left out */
{
    uint32_t s = b->a->cycles.scc[o];
    return s == HD_NONE ? b->a->cycles.n + 1 : s;
}

static int
cmp_external(const void *x, const void *y)
{
    uint32_t p = *(const uint32_t *)x, q = *(const uint32_t *)y;
    int64_t ep = sorting->a->external[p], eq = sorting->a->external[q];
    if (ep != eq)
        return ep < eq ? -1 : 1;
    return p < q ? -1 : 1;
}

static uint64_t
external_key(const hd_bulk *b, uint64_t o) /* > 0 first, the rest left out */
{
    return b->a->external[o] > 0 ? 0 : 1;
}

/* The edges into each object, in (src, seq) order: a counting sort by
 * referent of the edges in the table's order. */
static int
by_referent(hd_bulk *b)
{
    const hd_heap *h = b->h;
    uint64_t n = h->n_objects, m = h->n_edges;
    b->in_start = calloc(n + 2, sizeof(*b->in_start));
    b->in_src = malloc(m * sizeof(uint32_t) + 1);
    b->in_seq = malloc(m * sizeof(uint32_t) + 1);
    if (!b->in_start || !b->in_src || !b->in_seq)
        return no_memory();
    for (uint64_t e = 0; e < m; e++)
        b->in_start[h->edge_dst[e] + 1]++;
    for (uint64_t o = 0; o < n; o++)
        b->in_start[o + 1] += b->in_start[o];
    for (uint64_t o = 0; o < n; o++) {
        if (h->edge_start[o + 1] - h->edge_start[o] > UINT32_MAX)
            return hd_error_set(HD_EINVAL, "object #%llu: more than 2^32 "
                                "references", (unsigned long long)o);
        for (uint64_t e = h->edge_start[o]; e < h->edge_start[o + 1]; e++) {
            uint64_t at = b->in_start[h->edge_dst[e]]++;
            b->in_src[at] = (uint32_t)o;
            b->in_seq[at] = (uint32_t)(e - h->edge_start[o]);
        }
    }
    /* back to starts: each end moved by its count */
    for (uint64_t o = n; o > 0; o--)
        b->in_start[o] = b->in_start[o - 1];
    b->in_start[0] = 0;
    return 0;
}

static void
orders_free(hd_bulk *b)
{
    free(b->order);
    free(b->in_start);
    free(b->in_src);
    free(b->in_seq);
    b->order = NULL;
    b->in_start = NULL;
    b->in_src = b->in_seq = NULL;
}

/* ---- Orders made beside SQLite ----------------------------------------------- */

/* objects_address's and objects_idom's orders, made on a thread of their
 * own: they read only addr, type, size, held_as and the dominators, which
 * nothing changes until those trees are written. */
struct hd_bulk_orders {
    hd_bulk b;
    pthread_t thread;
    int joined;
    uint32_t *by_address, *by_idom;
    uint64_t n_idom;
    int err;
    hd_error why;
};

static void *
make_orders(void *arg)
{
    hd_bulk_orders *o = arg;
    hd_bulk *b = &o->b;
    if ((o->err = by_address(b)) == 0) {
        o->by_address = b->order;
        b->order = NULL;
        if ((o->err = by_key(b, b->h->n_objects + 1, idom_key, cmp_idom,
                             &o->n_idom)) == 0) {
            o->by_idom = b->order;
            b->order = NULL;
        }
    }
    if (o->err < 0)
        o->why = *hd_error_last();
    free(b->order);
    b->order = NULL;
    return NULL;
}

hd_bulk_orders *
hd_bulk_orders_start(hd_heap *h, hd_analysis *a, uint32_t *held_as)
{
    hd_bulk_orders *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        no_memory();
        return NULL;
    }
    o->b.h = h;
    o->b.a = a;
    o->b.held_as = held_as;
    if (pthread_create(&o->thread, NULL, make_orders, o) != 0) {
        make_orders(o); /* no second thread: made here, before the tables */
        o->joined = 1;
    }
    return o;
}

/* Waits for the orders; < 0 (the thread's error, set again on this one)
 * if they could not be made. */
static int
orders_join(hd_bulk_orders *o)
{
    if (!o->joined) {
        pthread_join(o->thread, NULL);
        o->joined = 1;
    }
    return o->err < 0 ? hd_error_set(o->err, "%s", o->why.message) : 0;
}

void
hd_bulk_orders_free(hd_bulk_orders *o)
{
    if (o == NULL)
        return;
    if (!o->joined) /* joined only: its error, if any, was said already or
                     * would hide the one that stopped the load */
        pthread_join(o->thread, NULL);
    free(o->by_address);
    free(o->by_idom);
    free(o);
}

/* ---- Writing ---------------------------------------------------------------- */

/* What tree t was the last to need (10 M objects: the peak of a load was
 * the radix sort by address with every array still there). */
static void
drop_after(hd_bulk *b, int t)
{
    hd_heap *h = b->h;
    hd_analysis *a = b->a;
#define DROP(p) (free(p), (p) = NULL)
    switch (t) {
    case T_EDGES:
        DROP(h->edge_word);
        DROP(b->edge_label);
        break;
    case T_OBJECTS: /* the other tables' rows want the rest */
        hd_col_free(&h->refcount);
        hd_col_free(&h->length);
        DROP(h->flags);
        DROP(h->value_off);
        DROP(h->value_n);
        DROP(h->val_data);
        DROP(h->traceback);
        DROP(a->bfs.depth);
        DROP(a->bfs.parent);
        DROP(a->sigs.path);
        break;
    case T_EDGES_DST:
        DROP(h->edge_start);
        DROP(h->edge_dst);
        break;
    case T_ADDRESS:
        DROP(h->addr);
        break;
    case T_IDOM:
        DROP(b->held_as);
        hd_dom__free(&a->dom);
        break;
    case T_SCC:
        DROP(a->cycles.scc);
        break;
    }
#undef DROP
}

int
hd_bulk_write(const char *db_path, sqlite3 **db, hd_heap *h, hd_analysis *a,
              uint32_t **held_as, uint32_t **edge_label, int part,
              hd_bulk_orders *ready)
{
    hd_bulk b = {h, a, *held_as, *edge_label, NULL, NULL, NULL, NULL, 0, NULL};
    int from = part == HD_BULK_TABLES ? 0 : T_ADDRESS,
        to = part == HD_BULK_TABLES ? T_ADDRESS : N_TREES;
    uint32_t root[N_TREES];
    int err;
    if ((err = find_trees(*db, root)) < 0)
        return err;
    if (sqlite3_close(*db) != SQLITE_OK)
        return hd_sql_error(*db, "close");
    *db = NULL;
    /* a tree at a time, each order made just before and freed after */
    for (int t = from; t < to && err == 0; t++) {
        hd_btree_fill_tree tree = {root[t], {tree_defs[t].name, h->n_objects,
                                             t == T_OBJECTS, NULL, &b}};
        switch (t) {
        case T_OBJECTS:
            tree.src.entry = object_entry;
            break;
        case T_EDGES:
            tree.src.entry = edge_entry;
            tree.src.n = h->n_edges;
            break;
        case T_EDGES_DST:
            tree.src.entry = edge_dst_entry;
            tree.src.n = h->n_edges;
            err = by_referent(&b);
            break;
        case T_ADDRESS:
            tree.src.entry = key_entry;
            b.key = address_of;
            if ((err = orders_join(ready)) == 0) {
                b.order = ready->by_address;
                ready->by_address = NULL;
            }
            break;
        case T_IDOM:
            tree.src.entry = idom_entry;
            if ((err = orders_join(ready)) == 0) {
                b.order = ready->by_idom;
                ready->by_idom = NULL;
                tree.src.n = ready->n_idom;
            }
            break;
        case T_SCC:
            tree.src.entry = key_entry;
            b.key = scc_of;
            err = by_key(&b, a->cycles.n + 1, scc_key, NULL, &tree.src.n);
            break;
        case T_EXTERNAL:
            tree.src.entry = key_entry;
            b.key = external_of;
            err = by_key(&b, 1, external_key, cmp_external, &tree.src.n);
            break;
        }
        if (err == 0)
            err = hd_btree_fill(db_path, &tree, 1, HD_SQLITE_PENDING_BYTE);
        orders_free(&b);
        drop_after(&b, t);
    }
    *held_as = b.held_as;
    *edge_label = b.edge_label;
    if (err < 0) {
        hd_error why = *hd_error_last();
        return hd_error_set(err, "writing the objects and references: %s",
                            why.message);
    }
    return hd_sql_open(db, db_path, 0);
}
