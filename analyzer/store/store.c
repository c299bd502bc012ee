/* heapdig — MIT licence.
 *
 * store.c: the SQLite side.  Writes the in-memory heap into a new database
 * with the schema of schema/heapdig.sql (embedded at build time): the
 * objects and edges tables and their indexes as pages (bulk.c), every other
 * table through SQLite in one transaction with the journal off; the whole
 * database is written under a temporary name and renamed when complete.
 * The read side is query/db.c.
 */
#include "store/store.h"
#include "store/write.h"
#include "heapdig/format.h"

#include <dirent.h>
#include <errno.h>
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

/* ---- Writing --------------------------------------------------------------- */

static const char *const root_kinds[] = {"?",     "sys.modules", "builtins",
                                         "frame", "local",       "thread",
                                         "interpreter"};

static int
put_meta(sqlite3 *db, sqlite3_stmt *st, const char *key, const char *text,
         int64_t num, int is_num)
{
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (is_num)
        sqlite3_bind_int64(st, 2, num);
    else
        sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
    return hd_sql_step(db, st, "meta");
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
        (err = hd_sql_prepare(db, &st, "INSERT OR REPLACE INTO memory VALUES "
                                "(?1, ?2, ?3)")) < 0)
        goto done;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(st, 1, rows[i].part, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, rows[i].bytes);
        sqlite3_bind_text(st, 3, hd__memory_note(rows[i].part), -1,
                          SQLITE_STATIC);
        if ((err = hd_sql_step(db, st, "memory")) < 0)
            goto done;
    }
done:
    sqlite3_finalize(st);
    return err;
}

static int
write_meta(sqlite3 *db, const hd_heap *h, const hd_analysis *a,
           const hd_load_stats *stats)
{
    sqlite3_stmt *st = NULL;
    char buf[128];
    int err;
    time_t secs = (time_t)(h->hdr.time_ns / 1000000000ull);
    struct tm tm;

    if ((err = hd_sql_prepare(db, &st, "INSERT OR REPLACE INTO meta VALUES (?1, ?2)")) < 0)
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
        {"cycles", (int64_t)a->cycles.n},
        {"external_roots", (int64_t)a->roots.n_external_roots},
        {"negative_external", (int64_t)a->roots.n_negative_external},
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
write_types(sqlite3 *db, const hd_heap *h, const hd_sets *sets,
            const uint32_t *type_obj)
{
    sqlite3_stmt *st = NULL;
    uint64_t *type_size = calloc((size_t)h->n_types + 1, sizeof(uint64_t));
    int err;
    if (type_size == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory");
    for (uint64_t o = 0; o < h->n_objects; o++)
        type_size[h->type[o]] += hd_heap__size(h, o);
    if ((err = hd_sql_prepare(db, &st, "INSERT INTO types VALUES (?1, ?2, ?3, ?4, "
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
        sqlite3_bind_int64(st, 5, (int64_t)sets->type_count[t]);
        sqlite3_bind_int64(st, 6, (int64_t)type_size[t]);
        sqlite3_bind_int64(st, 7, (int64_t)sets->type_retained[t]);
        if ((err = hd_sql_step(db, st, "types")) < 0)
            goto done;
    }
done:
    sqlite3_finalize(st);
    free(type_size);
    return err;
}


static int
write_held(sqlite3 *db, const hd_sets *sets)
{
    hd_batch b;
    int err = hd_batch_open(&b, db, "held", 5);
    for (uint32_t g = 1; g <= sets->n_held && err == 0; g++) {
        const hd_held *x = &sets->held[g];
        hd_batch_id(&b, x->path ? x->path : HD_NONE);
        hd_batch_int(&b, x->type);
        hd_batch_int(&b, (int64_t)x->count);
        hd_batch_int(&b, (int64_t)x->size);
        hd_batch_int(&b, (int64_t)x->retained);
        err = hd_batch_row(&b);
    }
    return hd_batch_close(&b, err);
}

static int
write_waste(sqlite3 *db, const hd_wastes *waste)
{
    hd_batch b;
    int err = hd_batch_open(&b, db, "waste", 7);
    for (uint32_t i = 1; i <= waste->n && err == 0; i++) {
        const hd_waste *w = &waste->row[i];
        hd_batch_text(&b, w->kind, -1);
        hd_batch_int(&b, w->type);
        hd_batch_int(&b, w->example);
        hd_batch_int(&b, (int64_t)w->count);
        hd_batch_int(&b, (int64_t)w->size);
        hd_batch_int(&b, (int64_t)w->saved);
        hd_batch_id(&b, w->path ? w->path : HD_NONE);
        err = hd_batch_row(&b);
    }
    return hd_batch_close(&b, err);
}

static int
write_cycles(sqlite3 *db, const hd_cycles *cyc)
{
    hd_batch b;
    int err = hd_batch_open(&b, db, "cycles", 7);
    for (uint32_t c = 1; c <= cyc->n && err == 0; c++) {
        hd_batch_int(&b, c);
        hd_batch_int(&b, cyc->members[c]);
        hd_batch_int(&b, (int64_t)cyc->size[c]);
        hd_batch_int(&b, (int64_t)cyc->retained[c]);
        hd_batch_int(&b, cyc->reachable[c]);
        hd_batch_int(&b, cyc->finalizers[c]);
        hd_batch_int(&b, cyc->backbone[c]);
        err = hd_batch_row(&b);
    }
    return hd_batch_close(&b, err);
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
write_holds(sqlite3 *db, const hd_heap *h, const hd_dom *dom,
            const uint32_t *held_as, const hd_label_ids *li)
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
        if (dom->idom[o] != HD_NONE && kids[dom->idom[o]] < UINT32_MAX)
            kids[dom->idom[o]]++;
    for (uint64_t o = 0; o < n; o++) {
        uint32_t p = dom->idom[o];
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
            if (hd_grow(&rows, &cap, n_rows + 1, sizeof(*rows)) < 0)
                goto nomem;
            rows[n_rows] = (hold_row){p, h->type[o], l, 0, 0};
            hd_hmap_put_at(&m, slot, key, (uint32_t)n_rows++);
        }
        rows[m.vals[slot]].count++;
        rows[m.vals[slot]].retained += dom->retained[o];
    }
    hd_batch b;
    err = hd_batch_open(&b, db, "holds", 5);
    for (size_t i = 0; i < n_rows && err == 0; i++) {
        const hold_row *r = &rows[i];
        hd_batch_int(&b, r->object);
        hd_batch_int(&b, r->type);
        if (r->label == UINT32_MAX)
            hd_batch_text(&b, "[*]", -1);
        else if (r->label)
            hd_batch_text(&b, li->text[r->label], -1);
        else
            hd_batch_null(&b);
        hd_batch_int(&b, (int64_t)r->count);
        hd_batch_int(&b, (int64_t)r->retained);
        err = hd_batch_row(&b);
    }
    err = hd_batch_close(&b, err);
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
write_paths(sqlite3 *db, const hd_signatures *sigs, hd_label_ids *li)
{
    hd_batch b;
    int err = hd_batch_open(&b, db, "path_steps", 4);
    for (uint32_t i = 1; i <= sigs->n && err == 0; i++) {
        uint32_t step = hd_label_id(li, sigs->step[i]);
        if (step == 0) {
            err = hd_error_set(HD_ENOMEM, "out of memory (labels)");
            break;
        }
        hd_batch_int(&b, i);
        hd_batch_id(&b, sigs->base[i] ? sigs->base[i] : HD_NONE);
        hd_batch_int(&b, step);
        hd_batch_int(&b, (int64_t)sigs->hash[i]);
        err = hd_batch_row(&b);
    }
    return hd_batch_close(&b, err);
}


static int
write_roots_tracebacks(sqlite3 *db, const hd_heap *h)
{
    sqlite3_stmt *st = NULL;
    int err;
    if ((err = hd_sql_prepare(db, &st, "INSERT INTO roots VALUES (?1, ?2, ?3)")) < 0)
        goto done;
    for (uint64_t i = 0; i < h->n_roots; i++) {
        int k = h->root_kind[i];
        sqlite3_bind_int64(st, 1, h->root_obj[i]);
        sqlite3_bind_text(st, 2, k <= HD_ROOT_MAX ? root_kinds[k] : "other",
                          -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, hd_heap__str(h, h->root_name[i], NULL), -1,
                          SQLITE_STATIC);
        if ((err = hd_sql_step(db, st, "roots")) < 0)
            goto done;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((err = hd_sql_prepare(db, &st, "INSERT INTO tracebacks VALUES (?1, ?2, ?3, ?4)")) < 0)
        goto done;
    for (uint32_t t = 1; t <= h->n_tracebacks; t++) {
        for (uint64_t f = h->tb_start[t]; f < h->tb_start[t + 1]; f++) {
            sqlite3_bind_int64(st, 1, t);
            sqlite3_bind_int64(st, 2, (int64_t)(f - h->tb_start[t]));
            sqlite3_bind_text(st, 3, hd_heap__str(h, h->tb_frames[f].filename,
                                                  NULL), -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, (int64_t)h->tb_frames[f].lineno);
            if ((err = hd_sql_step(db, st, "tracebacks")) < 0)
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

/* The database being written, for a signal handler to remove
 * (hd_load_temp): a fixed buffer, readable at any moment. */
static char current_temp[4096 + 32];

const char *
hd_load_temp(int i)
{
    return i == 0 && current_temp[0] ? current_temp : NULL;
}

/* The rows of every table but objects and edges (bulk.c's), in one
 * transaction. */
static int
write_rows(sqlite3 *db, const hd_heap *h, hd_analysis *a,
           hd_label_ids *labels, const uint32_t *type_obj,
           const uint32_t *held_as, hd_load_stats *stats)
{
    int err;
    if ((err = hd_sql_exec(db, "BEGIN", "begin")) < 0 ||
        (err = write_meta(db, h, a, stats)) < 0 ||
        (err = write_memory(db, h, stats)) < 0 ||
        (err = write_types(db, h, &a->sets, type_obj)) < 0 ||
        (err = write_holds(db, h, &a->dom, held_as, labels)) < 0 ||
        (err = write_cycles(db, &a->cycles)) < 0 ||
        (err = write_paths(db, &a->sigs, labels)) < 0 ||
        (err = hd_labels_write(db, labels)) < 0 ||
        (err = write_held(db, &a->sets)) < 0 ||
        (err = write_waste(db, &a->waste)) < 0 ||
        (err = hd_tree_rows_write(db, h, a, held_as, labels,
                                  (int64_t)stats->total_size)) < 0 ||
        (err = write_roots_tracebacks(db, h)) < 0)
        return err;
    return hd_sql_exec(db, "COMMIT", "commit");
}

int
hd_store__write(hd_heap **heap, hd_analysis *a, const char *db_path,
                mode_t mode, hd_load_stats *stats)
{
    const hd_heap *h = *heap;
    sqlite3 *db = NULL;
    char *tmp = NULL, *schema = NULL;
    uint32_t *type_obj = NULL, *held_as = NULL, *edge_label = NULL;
    hd_label_ids labels = {0};
    hd_bulk_orders *orders = NULL;
    const char *post;
    size_t n = strlen(db_path);
    double t0;
    int err = 0;

    /* best effort: without it, held_as is NULL in the database */
    held_as = malloc(((size_t)h->n_objects + 1) * sizeof(uint32_t));
    for (uint64_t i = 0; held_as && i <= h->n_objects; i++)
        held_as[i] = HD_NONE;
    if ((tmp = malloc(n + 32)) == NULL ||
        (schema = strdup(hd_schema_sql)) == NULL ||
        (type_obj = type_objects(h)) == NULL ||
        (edge_label = malloc(((size_t)h->n_edges + 1) * sizeof(uint32_t))) == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory");
        goto done;
    }
    post = strstr(schema, POST_LOAD_MARK);
    if (post)
        schema[post - schema] = 0;
    remove_stale_temps(db_path);
    snprintf(tmp, n + 32, "%s.tmp-%d", db_path, (int)getpid());
    snprintf(current_temp, sizeof(current_temp), "%s", tmp);
    if ((err = hd_sql_create(&db, tmp, mode, schema)) < 0)
        goto done;
    t0 = hd__now();
    /* the labels are all the edges' payloads were for: freed once they are
     * found (10 M objects: 123 MB back) */
    if ((err = hd_labels_of_edges(h, a->dom.idom, &labels, edge_label,
                                  held_as)) < 0)
        goto done;
    hd_col_free(&(*heap)->edge_payload);
    /* every index while the tables are empty (bulk.c writes those on
     * objects and edges with them; the others are small); the objects'
     * and edges' rows first, so that most of their columns are freed
     * before the other tables' rows (the tree's grouping wants room) */
    if ((post && (err = hd_sql_exec(db, hd_schema_sql + (post - schema),
                                    "indexes")) < 0) ||
        (err = hd_bulk_write(tmp, &db, *heap, a, &held_as, &edge_label,
                             HD_BULK_TABLES, NULL)) < 0)
        goto done;
    /* the other core sorts for the second part meanwhile (10 M objects:
     * the index phase 4.0 -> 2.8 s, the small tables no slower) */
    if ((orders = hd_bulk_orders_start(*heap, a, held_as)) == NULL) {
        err = HD_ENOMEM;
        goto done;
    }
    if ((err = write_rows(db, h, a, &labels, type_obj, held_as, stats)) < 0)
        goto done;
    stats->seconds_store = hd__now() - t0;
    t0 = hd__now();
    hd_label_ids_free(&labels);
    err = hd_bulk_write(tmp, &db, *heap, a, &held_as, &edge_label,
                        HD_BULK_INDEXES, orders);
    hd_bulk_orders_free(orders);
    orders = NULL;
    if (err < 0)
        goto done;
    free(type_obj);
    type_obj = NULL;
    free(held_as);
    held_as = NULL;
    free(edge_label);
    edge_label = NULL;
    hd_label_ids_free(&labels);
    hd_heap__free(*heap);
    *heap = NULL;
    hd_analysis__free(a);
    /* Statistics from a sample of each index: without them the planner
     * reads "src = ? AND dst = ?" through the primary key and walks all of
     * a million-item dict's edges for one label. */
    if ((err = hd_sql_exec(db, "PRAGMA analysis_limit=1000; ANALYZE",
                           "analyze")) < 0)
        goto done;
    /* Last: a database without this row never finished (hd_db_open). */
    char done_sql[96];
    snprintf(done_sql, sizeof(done_sql), "INSERT OR REPLACE INTO meta VALUES "
             "('schema_version', %d)", HD_SCHEMA_VERSION);
    if ((err = hd_sql_exec(db, done_sql, "finishing")) < 0)
        goto done;
    stats->seconds_index = hd__now() - t0;
    if (sqlite3_close(db) != SQLITE_OK) {
        err = hd_sql_error(db, "close");
        goto done;
    }
    db = NULL;
    /* the dump's own mode (a read-only dump gives a read-only database) */
    if (chmod(tmp, mode) < 0 || rename(tmp, db_path) < 0)
        err = hd_error_set(HD_EIO, "cannot rename %s to %s: %s", tmp, db_path,
                           strerror(errno));
done:
    hd_bulk_orders_free(orders); /* before anything it reads is freed */
    if (db)
        sqlite3_close(db);
    if (err < 0 && tmp)
        unlink(tmp);
    current_temp[0] = 0;
    free(tmp);
    free(schema);
    free(type_obj);
    free(held_as);
    free(edge_label);
    hd_label_ids_free(&labels);
    return err;
}
