/* heapdig — MIT licence.
 *
 * store.c: the SQLite side.  Writes the in-memory heap into a new database
 * with the schema of schema/heapdig.sql (embedded at build time), in one
 * transaction with prepared statements and the journal off, then builds the
 * indexes; the whole database is written under a temporary name and renamed
 * when complete.  The read side is query/db.c.
 */
#include "store/store.h"
#include "analyze/analyze.h"
#include "heapdig/format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define POST_LOAD_MARK "-- @post-load"
#ifndef STORE_CACHE
#define STORE_CACHE "-16384"   /* KiB: 16 MiB while the rows go in */
#endif
#ifndef INDEX_CACHE
#define INDEX_CACHE "-65536"   /* 64 MiB: the index sorts spill to files */
#endif
#ifndef STORE_TEMP
#define STORE_TEMP "temp_store=MEMORY"
#endif
#ifndef INDEX_TEMP
#define INDEX_TEMP "temp_store=FILE"
#endif

static int
sql_error(sqlite3 *db, const char *what)
{
    return hd_error_set(HD_ESQL, "SQLite: %s: %s", what,
                        db ? sqlite3_errmsg(db) : "cannot open");
}

static int
exec(sqlite3 *db, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int err = hd_error_set(HD_ESQL, "SQLite: %s: %s", what,
                               msg ? msg : "?");
        sqlite3_free(msg);
        return err;
    }
    return 0;
}


/* ---- Writing --------------------------------------------------------------- */

static const char *const root_kinds[] = {"?",     "sys.modules", "builtins",
                                         "frame", "local",       "thread",
                                         "interpreter"};

static int
prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return sql_error(db, sql);
    return 0;
}

static int
step_reset(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return sql_error(db, what);
    return 0;
}

/* ---- Batched inserts ----------------------------------------------------
 *
 * The two big tables go in BATCH_ROWS rows to a statement: SQLite's cost
 * per step, not per value, dominates a bulk load (1.6 M edges: 1.6 s a row
 * at a time, 0.6 s 32 at a time).  Values wait in `vals` until a batch is
 * full; texts are the heap's and outlive it. */
#define BATCH_ROWS 32
#define BATCH_MAX_COLS 18

typedef struct batch_val {
    const char *text; /* NULL: an integer, or NULL when is_null */
    int64_t num;
    int len, is_null;
} batch_val;

typedef struct batch {
    sqlite3 *db;
    sqlite3_stmt *full;
    const char *table;
    int cols, n;      /* values per row; values waiting */
    batch_val vals[BATCH_ROWS * BATCH_MAX_COLS];
} batch;

static int
batch_prepare(batch *b, sqlite3_stmt **st, int rows)
{
    char sql[BATCH_ROWS * (BATCH_MAX_COLS * 2 + 4) + 64];
    int n = snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES ", b->table);
    for (int r = 0; r < rows; r++) {
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s(", r ? "," : "");
        for (int c = 0; c < b->cols; c++)
            n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s?",
                          c ? "," : "");
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, ")");
    }
    return prepare(b->db, st, sql);
}

static int
batch_open(batch *b, sqlite3 *db, const char *table, int cols)
{
    b->db = db;
    b->table = table;
    b->cols = cols;
    b->n = 0;
    b->full = NULL;
    return batch_prepare(b, &b->full, BATCH_ROWS);
}

/* Binds the n waiting values to st and steps it. */
static int
batch_step(batch *b, sqlite3_stmt *st)
{
    for (int i = 0; i < b->n; i++) {
        const batch_val *v = &b->vals[i];
        if (v->is_null)
            sqlite3_bind_null(st, i + 1);
        else if (v->text)
            sqlite3_bind_text(st, i + 1, v->text, v->len, SQLITE_STATIC);
        else
            sqlite3_bind_int64(st, i + 1, v->num);
    }
    b->n = 0;
    return step_reset(b->db, st, b->table);
}

static void
batch_int(batch *b, int64_t v)
{
    b->vals[b->n++] = (batch_val){NULL, v, 0, 0};
}

static void
batch_text(batch *b, const char *t, int len)
{
    b->vals[b->n++] = (batch_val){t, 0, len, 0};
}

static void
batch_null(batch *b)
{
    b->vals[b->n++] = (batch_val){NULL, 0, 0, 1};
}

/* An id, or NULL for HD_NONE. */
static void
batch_id(batch *b, uint32_t v)
{
    if (v == HD_NONE)
        batch_null(b);
    else
        batch_int(b, v);
}

/* After each row: a full batch goes in. */
static int
batch_row(batch *b)
{
    return b->n == BATCH_ROWS * b->cols ? batch_step(b, b->full) : 0;
}

/* The last, partial batch, and the statements. */
static int
batch_close(batch *b, int err)
{
    sqlite3_stmt *rest = NULL;
    if (err == 0 && b->n > 0 &&
        (err = batch_prepare(b, &rest, b->n / b->cols)) == 0)
        err = batch_step(b, rest);
    sqlite3_finalize(rest);
    sqlite3_finalize(b->full);
    b->full = NULL;
    return err;
}

static int
put_meta(sqlite3 *db, sqlite3_stmt *st, const char *key, const char *text,
         int64_t num, int is_num)
{
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (is_num)
        sqlite3_bind_int64(st, 2, num);
    else
        sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
    return step_reset(db, st, "meta");
}

/* The memory table: the dump's figures reconciled with the objects. */
static int
write_memory(sqlite3 *db, const hd_heap *h, const hd_load_stats *stats)
{
    sqlite3_stmt *st = NULL;
    hd_memory_row rows[HD_MEMORY_ROWS];
    size_t n;
    int err;

    if ((err = hd__memory_account(h, stats, rows, HD_MEMORY_ROWS,
                                  &n)) < 0 || n == 0 ||
        (err = prepare(db, &st, "INSERT OR REPLACE INTO memory VALUES "
                                "(?1, ?2, ?3)")) < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(st, 1, rows[i].part, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, rows[i].bytes);
        sqlite3_bind_text(st, 3, hd__memory_note(rows[i].part), -1,
                          SQLITE_STATIC);
        if ((err = step_reset(db, st, "memory")) < 0)
            goto done;
    }
done:
    sqlite3_finalize(st);
    return err;
}

static int
write_meta(sqlite3 *db, const hd_heap *h, const hd_load_stats *stats)
{
    sqlite3_stmt *st = NULL;
    char buf[128];
    int err;
    time_t secs = (time_t)(h->hdr.time_ns / 1000000000ull);
    struct tm tm;

    if ((err = prepare(db, &st, "INSERT OR REPLACE INTO meta VALUES (?1, ?2)")) < 0)
        goto done;
    for (size_t i = 0; i < h->n_meta; i++)
        if ((err = put_meta(db, st, h->meta[2 * i], h->meta[2 * i + 1], 0, 0)) < 0)
            goto done;
    gmtime_r(&secs, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
    struct {
        const char *k;
        int64_t v;
    } nums[] = {
        {"pid", (int64_t)h->hdr.pid},
        {"python_hexversion", (int64_t)h->hdr.hexversion},
        {"pointer_size", (int64_t)h->hdr.pointer_size},
        {"time_ns", (int64_t)h->hdr.time_ns},
        {"options", (int64_t)h->hdr.options},
        {"max_value_len", (int64_t)h->hdr.max_value_len},
        {"format_major", h->hdr.major},
        {"format_minor", h->hdr.minor},
        {"objects", (int64_t)h->n_objects},
        {"refs", (int64_t)h->n_edges},
        {"roots", (int64_t)h->n_roots},
        {"types", (int64_t)h->n_types},
        {"total_size", (int64_t)stats->total_size},
        {"dangling_refs", (int64_t)h->n_dangling},
        {"truncated", h->truncated},
        {"unreachable", (int64_t)stats->n_unreachable},
        {"unreachable_size", (int64_t)stats->unreachable_size},
        {"cycles", (int64_t)h->n_cycles},
        {"external_roots", (int64_t)h->n_external_roots},
        {"negative_external", (int64_t)h->n_negative_external},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        if ((err = put_meta(db, st, nums[i].k, NULL, nums[i].v, 1)) < 0)
            goto done;
    err = put_meta(db, st, "time", buf, 0, 0);
done:
    sqlite3_finalize(st);
    return err;
}

static int
write_types(sqlite3 *db, const hd_heap *h, const uint32_t *type_obj)
{
    sqlite3_stmt *st = NULL;
    uint64_t *type_size = calloc((size_t)h->n_types + 1, sizeof(uint64_t));
    int err;
    if (type_size == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory");
    for (uint64_t o = 0; o < h->n_objects; o++)
        type_size[h->type[o]] += h->size[o];
    if ((err = prepare(db, &st, "INSERT INTO types VALUES (?1, ?2, ?3, ?4, "
                       "?5, ?6, ?7)")) < 0)
        goto done;
    for (uint32_t t = 1; t <= h->n_types; t++) {
        sqlite3_bind_int64(st, 1, t);
        if (type_obj[t] != UINT32_MAX)
            sqlite3_bind_int64(st, 2, type_obj[t]);
        else
            sqlite3_bind_null(st, 2);
        sqlite3_bind_text(st, 3, hd_heap__str(h, h->type_name[t], NULL), -1,
                          SQLITE_STATIC); /* h outlives the statement */
        if (h->type_module[t])
            sqlite3_bind_text(st, 4, hd_heap__str(h, h->type_module[t], NULL),
                              -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 4);
        sqlite3_bind_int64(st, 5, (int64_t)h->type_count[t]);
        sqlite3_bind_int64(st, 6, (int64_t)type_size[t]);
        sqlite3_bind_int64(st, 7, (int64_t)h->type_retained[t]);
        if ((err = step_reset(db, st, "types")) < 0)
            goto done;
    }
done:
    sqlite3_finalize(st);
    free(type_size);
    return err;
}


static int
write_held(sqlite3 *db, const hd_heap *h)
{
    batch b;
    int err = batch_open(&b, db, "held", 5);
    for (uint32_t g = 1; g <= h->n_held && err == 0; g++) {
        const hd_held *x = &h->held[g];
        batch_id(&b, x->path ? x->path : HD_NONE);
        batch_int(&b, x->type);
        batch_int(&b, (int64_t)x->count);
        batch_int(&b, (int64_t)x->size);
        batch_int(&b, (int64_t)x->retained);
        err = batch_row(&b);
    }
    return batch_close(&b, err);
}

static int
write_waste(sqlite3 *db, const hd_heap *h)
{
    batch b;
    int err = batch_open(&b, db, "waste", 7);
    for (uint32_t i = 1; i <= h->n_waste && err == 0; i++) {
        const hd_waste *w = &h->waste[i];
        batch_text(&b, w->kind, -1);
        batch_int(&b, w->type);
        batch_int(&b, w->example);
        batch_int(&b, (int64_t)w->count);
        batch_int(&b, (int64_t)w->size);
        batch_int(&b, (int64_t)w->saved);
        batch_id(&b, w->path ? w->path : HD_NONE);
        err = batch_row(&b);
    }
    return batch_close(&b, err);
}

static int
write_cycles(sqlite3 *db, const hd_heap *h)
{
    batch b;
    int err = batch_open(&b, db, "cycles", 6);
    for (uint32_t c = 1; c <= h->n_cycles && err == 0; c++) {
        batch_int(&b, c);
        batch_int(&b, h->cycle_members[c]);
        batch_int(&b, (int64_t)h->cycle_size[c]);
        batch_int(&b, (int64_t)h->cycle_retained[c]);
        batch_int(&b, h->cycle_reachable[c]);
        batch_int(&b, h->cycle_finalizers[c]);
        err = batch_row(&b);
    }
    return batch_close(&b, err);
}

static int
write_objects(sqlite3 *db, const hd_heap *h, const uint32_t *held_as)
{
    batch b;
    int err;
    if ((err = batch_open(&b, db, "objects", 18)) < 0)
        return batch_close(&b, err);
    for (uint64_t i = 0; i < h->n_objects && err == 0; i++) {
        batch_int(&b, (int64_t)i);
        batch_int(&b, (int64_t)h->addr[i]);
        batch_int(&b, h->type[i]);
        batch_int(&b, (int64_t)h->size[i]);
        batch_int(&b, (int64_t)h->refcount[i]);
        if (h->length[i] >= 0)
            batch_int(&b, h->length[i]);
        else
            batch_null(&b);
        batch_int(&b, h->flags[i] & ~(uint32_t)(HD_OBJ_HAS_LENGTH |
                                                 HD_OBJ_HAS_VALUE |
                                                 HD_OBJ_HAS_TRACEBACK));
        if (h->value_off[i] != UINT64_MAX)
            batch_text(&b, h->val_data + h->value_off[i], (int)h->value_n[i]);
        else
            batch_null(&b);
        batch_id(&b, h->traceback[i] ? h->traceback[i] : HD_NONE);
        batch_int(&b, h->external[i]);
        batch_id(&b, h->scc[i]);
        batch_int(&b, h->reachable[i]);
        batch_id(&b, h->depth[i]);
        batch_id(&b, h->parent[i]);
        batch_id(&b, h->idom[i]);
        batch_int(&b, (int64_t)h->retained[i]);
        batch_id(&b, h->path[i] ? h->path[i] : HD_NONE);
        batch_id(&b, held_as && held_as[i] && held_as[i] != HD_NONE
                         ? held_as[i] : HD_NONE);
        err = batch_row(&b);
    }
    return batch_close(&b, err);
}

/* Labels repeat (".name", "['id']" on every instance): those naming a
 * string are rendered once per string id and kind. */
typedef struct label_cache {
    char **text;   /* [kind][sid] flattened: text[k * (n_strings + 1) + sid] */
    uint32_t n_strings;
} label_cache;

static const char *
cached_label(label_cache *lc, const hd_heap *h, uint8_t w, uint64_t payload,
             char *buf, size_t cap)
{
    int k = w >> 1;
    int slot = k == HD_LBL_ATTR ? 0 : k == HD_LBL_KEY_STR ? 1 : -1;
    if (slot < 0 || lc->text == NULL || payload > lc->n_strings)
        return hd_heap__label(h, w, payload, buf, cap);
    char **t = &lc->text[(size_t)slot * (lc->n_strings + 1) + payload];
    if (*t == NULL) {
        const char *l = hd_heap__label(h, w, payload, buf, cap);
        *t = l ? strdup(l) : NULL;
        if (*t == NULL)
            return l;
    }
    return *t;
}

#define INDEX_IDS 65536 /* "[0]" .. "[65535]" keep their labels.id */

/* Label texts, each stored once: text -> labels.id. */
typedef struct label_ids {
    hd_hmap map;    /* hash of the text -> id */
    char **text;    /* [1..n] */
    uint32_t n, cap;
} label_ids;

static uint64_t
text_hash(const char *t)
{
    uint64_t x = 1469598103934665603ull;
    for (; *t; t++)
        x = (x ^ (uint8_t)*t) * 1099511628211ull;
    return x | 1;
}

/* The id of a label's text, made if new; 0 out of memory. */
static uint32_t
label_id(label_ids *li, const char *text)
{
    hd_hmap *m = &li->map;
    if (hd_hmap_reserve(m, 1) < 0)
        return 0;
    uint64_t hv = text_hash(text), slot = hd_hmap_first(m, hv);
    for (; m->keys[slot]; slot = (slot + 1) & m->mask)
        if (m->keys[slot] == hv && !strcmp(li->text[m->vals[slot]], text))
            return m->vals[slot];
    if (li->n + 1 >= li->cap) {
        uint32_t nc = li->cap ? li->cap * 2 : 1024;
        char **t = realloc(li->text, (size_t)nc * sizeof(char *));
        if (t == NULL)
            return 0;
        li->text = t;
        li->cap = nc;
    }
    if ((li->text[li->n + 1] = strdup(text)) == NULL)
        return 0;
    hd_hmap_put_at(m, slot, hv, ++li->n);
    return li->n;
}

/* The edges, and for each object the label its immediate dominator holds
 * it under (its first strong reference to it), into held_as[]. */
static int
write_refs(sqlite3 *db, const hd_heap *h, uint32_t *held_as, label_ids *li)
{
    batch b;
    char buf[600];
    label_cache lc = {NULL, h->n_strings};
    int err;
    /* best effort: without the caches labels are rendered per row */
    lc.text = calloc(2 * ((size_t)h->n_strings + 1), sizeof(char *));
    uint32_t *index_ids = calloc(INDEX_IDS, sizeof(uint32_t));
    err = batch_open(&b, db, "edges", 5);
    for (uint64_t o = 0; o < h->n_objects && err == 0; o++) {
        for (uint64_t e = h->edge_start[o]; e < h->edge_start[o + 1]; e++) {
            uint8_t w = h->edge_word[e];
            uint64_t payload = h->edge_payload[e];
            /* "[3]": the small indices' ids are kept, not rendered again */
            uint32_t *idx = (w >> 1) == HD_LBL_INDEX && payload < INDEX_IDS &&
                                    index_ids
                                ? &index_ids[payload]
                                : NULL;
            const char *label = NULL;
            uint32_t id = idx ? *idx : 0;
            if (id == 0) {
                label = cached_label(&lc, h, w, payload, buf, sizeof(buf));
                id = label ? label_id(li, label) : 0;
                if (idx)
                    *idx = id;
            }
            if (label && id == 0) {
                err = hd_error_set(HD_ENOMEM, "out of memory (labels)");
                break;
            }
            uint32_t d = h->edge_dst[e];
            /* the first strong reference, labelled or not (HD_NONE marks
             * none seen yet; 0 an unlabelled one) */
            if (held_as && !(w & HD_EDGE_WEAK) && h->idom[d] == o &&
                held_as[d] == HD_NONE)
                held_as[d] = id;
            batch_int(&b, (int64_t)o);
            batch_int(&b, (int64_t)(e - h->edge_start[o]));
            batch_int(&b, h->edge_dst[e]);
            batch_int(&b, (w & HD_EDGE_WEAK) != 0);
            batch_id(&b, id ? id : HD_NONE);
            if ((err = batch_row(&b)) < 0)
                break;
        }
    }
    err = batch_close(&b, err);
    for (size_t i = 0; lc.text && i < 2 * ((size_t)h->n_strings + 1); i++)
        free(lc.text[i]);
    free(lc.text);
    free(index_ids);
    return err;
}

/* Every label text the edges and the signatures use, once. */
static int
write_labels(sqlite3 *db, const label_ids *li)
{
    batch b;
    int err = batch_open(&b, db, "labels", 2);
    for (uint32_t i = 1; i <= li->n && err == 0; i++) {
        batch_int(&b, i);
        batch_text(&b, li->text[i], -1);
        err = batch_row(&b);
    }
    return batch_close(&b, err);
}

static void
label_ids_free(label_ids *li)
{
    for (uint32_t i = 1; i <= li->n; i++)
        free(li->text[i]);
    free(li->text);
    hd_hmap_free(&li->map);
    *li = (label_ids){0};
}

/* What an object that dominates many objects holds, grouped as suspects
 * reads it (by type, and by label with items and keys as "[*]"): grouping
 * a list's 1.2 M items at query time took 1.6 s on a 40 M heap.  Smaller
 * groups are grouped by the query itself. */
#define HOLDS_MIN 5000

typedef struct hold_row {
    uint32_t object, type, label; /* label: labels.id, UINT32_MAX "[*]" */
    uint64_t count, retained;
} hold_row;

static int
write_holds(sqlite3 *db, const hd_heap *h, const uint32_t *held_as,
            const label_ids *li)
{
    uint64_t n = h->n_objects;
    uint32_t *kids = calloc((size_t)n + 1, sizeof(uint32_t));
    hd_hmap m = {0};
    hold_row *rows = NULL;
    size_t n_rows = 0, cap = 0;
    int err = 0;
    if (kids == NULL)
        goto nomem;
    for (uint64_t o = 0; o < n; o++)
        if (h->idom[o] != HD_NONE && kids[h->idom[o]] < UINT32_MAX)
            kids[h->idom[o]]++;
    for (uint64_t o = 0; o < n; o++) {
        uint32_t p = h->idom[o];
        if (p == HD_NONE || kids[p] < HOLDS_MIN)
            continue;
        uint32_t l = held_as && held_as[o] != HD_NONE ? held_as[o] : 0;
        if (l && li->text[l][0] == '[')
            l = UINT32_MAX;
        uint64_t key = ((((uint64_t)p * 1099511628211ull) ^ h->type[o]) *
                        1099511628211ull ^ l) | 1;
        if (hd_hmap_reserve(&m, 1) < 0)
            goto nomem;
        uint64_t slot = hd_hmap_first(&m, key);
        for (; m.keys[slot]; slot = (slot + 1) & m.mask) {
            hold_row *r = &rows[m.vals[slot]];
            if (m.keys[slot] == key && r->object == p &&
                r->type == h->type[o] && r->label == l)
                break;
        }
        if (!m.keys[slot]) {
            if (n_rows == cap) {
                size_t nc = cap ? cap * 2 : 256;
                hold_row *t = realloc(rows, nc * sizeof(*rows));
                if (t == NULL)
                    goto nomem;
                rows = t;
                cap = nc;
            }
            rows[n_rows] = (hold_row){p, h->type[o], l, 0, 0};
            hd_hmap_put_at(&m, slot, key, (uint32_t)n_rows++);
        }
        rows[m.vals[slot]].count++;
        rows[m.vals[slot]].retained += h->retained[o];
    }
    batch b;
    err = batch_open(&b, db, "holds", 5);
    for (size_t i = 0; i < n_rows && err == 0; i++) {
        const hold_row *r = &rows[i];
        batch_int(&b, r->object);
        batch_int(&b, r->type);
        if (r->label == UINT32_MAX)
            batch_text(&b, "[*]", -1);
        else if (r->label)
            batch_text(&b, li->text[r->label], -1);
        else
            batch_null(&b);
        batch_int(&b, (int64_t)r->count);
        batch_int(&b, (int64_t)r->retained);
        err = batch_row(&b);
    }
    err = batch_close(&b, err);
    goto done;
nomem:
    err = hd_error_set(HD_ENOMEM, "out of memory (holds)");
done:
    hd_hmap_free(&m);
    free(rows);
    free(kids);
    return err;
}

/* Signatures as a tree: the one before, the last step (a label), the hash
 * of the whole text. */
static int
write_paths(sqlite3 *db, const hd_heap *h, label_ids *li)
{
    batch b;
    int err = batch_open(&b, db, "path_steps", 4);
    for (uint32_t i = 1; i <= h->n_paths && err == 0; i++) {
        uint32_t step = label_id(li, h->path_step[i]);
        if (step == 0) {
            err = hd_error_set(HD_ENOMEM, "out of memory (labels)");
            break;
        }
        batch_int(&b, i);
        batch_id(&b, h->path_base[i] ? h->path_base[i] : HD_NONE);
        batch_int(&b, step);
        batch_int(&b, (int64_t)h->path_hash[i]);
        err = batch_row(&b);
    }
    return batch_close(&b, err);
}


static int
write_roots_tracebacks(sqlite3 *db, const hd_heap *h)
{
    sqlite3_stmt *st = NULL;
    int err;
    if ((err = prepare(db, &st, "INSERT INTO roots VALUES (?1, ?2, ?3)")) < 0)
        goto done;
    for (uint64_t i = 0; i < h->n_roots; i++) {
        int k = h->root_kind[i];
        sqlite3_bind_int64(st, 1, h->root_obj[i]);
        sqlite3_bind_text(st, 2, k <= HD_ROOT_MAX ? root_kinds[k] : "other",
                          -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, hd_heap__str(h, h->root_name[i], NULL), -1,
                          SQLITE_STATIC);
        if ((err = step_reset(db, st, "roots")) < 0)
            goto done;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((err = prepare(db, &st, "INSERT INTO tracebacks VALUES (?1, ?2, ?3, ?4)")) < 0)
        goto done;
    for (uint32_t t = 1; t <= h->n_tracebacks; t++) {
        for (uint64_t f = h->tb_start[t]; f < h->tb_start[t + 1]; f++) {
            sqlite3_bind_int64(st, 1, t);
            sqlite3_bind_int64(st, 2, (int64_t)(f - h->tb_start[t]));
            sqlite3_bind_text(st, 3, hd_heap__str(h, h->tb_frames[f].filename,
                                                  NULL), -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, (int64_t)h->tb_frames[f].lineno);
            if ((err = step_reset(db, st, "tracebacks")) < 0)
                goto done;
        }
    }
done:
    sqlite3_finalize(st);
    return err;
}

typedef struct type_at {
    uint64_t addr;
    uint32_t type;
} type_at;

static int
cmp_addr(const void *a, const void *b)
{
    const type_at *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* by address, then type id: the lowest id first among equal addresses */
static int
cmp_type_at(const void *a, const void *b)
{
    const type_at *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->type < y->type ? -1 : x->type > y->type;
}

/* objects.id of each type's type object, UINT32_MAX where not dumped: the
 * types sorted by address, and each type object looked up (a dump with
 * 100,000 classes is n log n, not types x objects). */
static uint32_t *
type_objects(const hd_heap *h)
{
    uint32_t *map = malloc(((size_t)h->n_types + 1) * sizeof(*map));
    type_at *by_addr = malloc(((size_t)h->n_types + 1) * sizeof(*by_addr));
    if (map == NULL || by_addr == NULL) {
        free(map);
        free(by_addr);
        return NULL;
    }
    for (uint32_t t = 0; t <= h->n_types; t++) {
        map[t] = UINT32_MAX;
        by_addr[t] = (type_at){h->type_addr[t], t};
    }
    qsort(by_addr + 1, h->n_types, sizeof(*by_addr), cmp_type_at);
    /* Type objects carry the TYPE flag; match their addresses. */
    for (uint64_t i = 0; i < h->n_objects; i++) {
        if (!(h->flags[i] & HD_OBJ_TYPE))
            continue;
        type_at key = {h->addr[i], 0};
        type_at *hit = bsearch(&key, by_addr + 1, h->n_types,
                               sizeof(*by_addr), cmp_addr);
        if (hit == NULL)
            continue;
        /* the first type with that address, as before (TYPE records of one
         * address more than once would be a writer's bug) */
        while (hit > by_addr + 1 && hit[-1].addr == hit->addr)
            hit--;
        for (; hit < by_addr + 1 + h->n_types && hit->addr == h->addr[i];
             hit++)
            if (map[hit->type] == UINT32_MAX) {
                map[hit->type] = (uint32_t)i;
                break;
            }
    }
    free(by_addr);
    return map;
}

/* A load that was killed leaves DB.tmp-PID: the next load into DB removes
 * those whose process is gone (a live one may be another load at work). */
static void
remove_stale_temps(const char *db_path)
{
    const char *slash = strrchr(db_path, '/');
    const char *base = slash ? slash + 1 : db_path;
    size_t dir_len = slash ? (size_t)(slash - db_path) : 0, base_len = strlen(base);
    char dir[4096], path[4096 + 256];
    DIR *d;
    struct dirent *e;
    if (dir_len >= sizeof(dir))
        return;
    if (slash) {
        memcpy(dir, db_path, dir_len);
        dir[dir_len] = 0;
        if (dir_len == 0)
            snprintf(dir, sizeof(dir), "/");
    } else {
        snprintf(dir, sizeof(dir), ".");
    }
    if ((d = opendir(dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char *end;
        if (strncmp(e->d_name, base, base_len) != 0 ||
            strncmp(e->d_name + base_len, ".tmp-", 5) != 0)
            continue;
        long pid = strtol(e->d_name + base_len + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive, or not ours to judge */
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

/* The database being written, for a signal handler to remove (hd_load_temp):
 * a fixed buffer, readable at any moment. */
static char current_temp[4096];

const char *
hd_load_temp(void)
{
    return current_temp[0] ? current_temp : NULL;
}

int
hd_store__write(hd_heap **heap, const char *db_path, mode_t mode,
                hd_load_stats *stats)
{
    const hd_heap *h = *heap;
    sqlite3 *db = NULL;
    char *tmp = NULL, *schema = NULL;
    uint32_t *type_obj = NULL, *held_as = NULL;
    label_ids labels = {0};
    const char *post;
    size_t n = strlen(db_path);
    double t0;
    int err = 0;

    /* best effort: without it, held_as is NULL in the database */
    held_as = malloc(((size_t)h->n_objects + 1) * sizeof(uint32_t));
    for (uint64_t i = 0; held_as && i <= h->n_objects; i++)
        held_as[i] = HD_NONE;
    if ((tmp = malloc(n + 16)) == NULL ||
        (schema = strdup(hd_schema_sql)) == NULL ||
        (type_obj = type_objects(h)) == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory");
        goto done;
    }
    remove_stale_temps(db_path);
    snprintf(tmp, n + 16, "%s.tmp-%d", db_path, (int)getpid());
    unlink(tmp);
    /* made here, with the dump's mode, before SQLite opens it */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                  mode | S_IRUSR | S_IWUSR);
    if (fd < 0) {
        err = hd_error_set(HD_EIO, "cannot create %s: %s", tmp,
                           strerror(errno));
        goto done;
    }
    close(fd);
    snprintf(current_temp, sizeof(current_temp), "%s", tmp);
    /* One thread uses this connection: no mutexes. */
    if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                      SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        err = hd_error_set(HD_ESQL, "cannot create %s: %s", tmp,
                           db ? sqlite3_errmsg(db) : "out of memory");
        goto done;
    }
    /* Bulk load: no journal, no syncs until the end.  The rows are
     * appended in key order, so a small cache does; the index sorts get
     * more, once the heap is freed. */
    if ((err = exec(db, "PRAGMA page_size=65536; PRAGMA journal_mode=OFF;"
                    "PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE;"
                    "PRAGMA " STORE_TEMP "; PRAGMA cache_size=" STORE_CACHE ";"
                    "PRAGMA threads=2;", "pragmas")) < 0)
        goto done;
    post = strstr(schema, POST_LOAD_MARK);
    if (post)
        schema[post - schema] = 0;
    if ((err = exec(db, schema, "schema")) < 0 ||
        (err = exec(db, "BEGIN", "begin")) < 0)
        goto done;
    t0 = hd__now();
    if ((err = write_meta(db, h, stats)) < 0 ||
        (err = write_memory(db, h, stats)) < 0 ||
        (err = write_types(db, h, type_obj)) < 0 ||
        (err = write_refs(db, h, held_as, &labels)) < 0 ||
        (err = write_objects(db, h, held_as)) < 0 ||
        (err = write_holds(db, h, held_as, &labels)) < 0 ||
        (err = write_cycles(db, h)) < 0 ||
        (err = write_paths(db, h, &labels)) < 0 ||
        (err = write_labels(db, &labels)) < 0 ||
        (err = write_held(db, h)) < 0 || (err = write_waste(db, h)) < 0 ||
        (err = write_roots_tracebacks(db, h)) < 0 ||
        (err = exec(db, "COMMIT", "commit")) < 0)
        goto done;
    stats->seconds_store = hd__now() - t0;
    /* the indexes are built from the database alone */
    free(type_obj);
    type_obj = NULL;
    free(held_as);
    held_as = NULL;
    label_ids_free(&labels);
    hd_heap__free(*heap);
    *heap = NULL;
    t0 = hd__now();
    /* Sorted runs of cache size, in temporary files, merged: the sorter
     * works on both cores and the index phase holds a few hundred MB
     * rather than the whole database (10 M objects: 1.25 GB -> 0.27 GB,
     * no slower). */
    if ((err = exec(db, "PRAGMA cache_size=" INDEX_CACHE "; PRAGMA "
                    INDEX_TEMP, "pragmas")) < 0 ||
        (post && (err = exec(db, hd_schema_sql + (post - schema),
                             "indexes")) < 0))
        goto done;
    /* Statistics from a sample of each index: without them the planner
     * reads "src = ? AND dst = ?" through the primary key and walks all of
     * a million-item dict's edges for one label. */
    if ((err = exec(db, "PRAGMA analysis_limit=1000; ANALYZE", "analyze")) < 0)
        goto done;
    /* Last: a database without this row never finished (hd_db_open). */
    char done_sql[96];
    snprintf(done_sql, sizeof(done_sql), "INSERT OR REPLACE INTO meta VALUES "
             "('schema_version', %d)", HD_SCHEMA_VERSION);
    if ((err = exec(db, done_sql, "finishing")) < 0)
        goto done;
    stats->seconds_index = hd__now() - t0;
    if (sqlite3_close(db) != SQLITE_OK) {
        err = sql_error(db, "close");
        goto done;
    }
    db = NULL;
    /* the dump's own mode (a read-only dump gives a read-only database) */
    if (chmod(tmp, mode) < 0 || rename(tmp, db_path) < 0)
        err = hd_error_set(HD_EIO, "cannot rename %s to %s: %s", tmp, db_path,
                           strerror(errno));
done:
    if (db)
        sqlite3_close(db);
    if (err < 0 && tmp)
        unlink(tmp);
    current_temp[0] = 0;
    free(tmp);
    free(schema);
    free(type_obj);
    free(held_as);
    label_ids_free(&labels);
    return err;
}
