/* heapdig — MIT licence.
 *
 * edges.c: the edges table and its edges_dst index, built on a second
 * thread in a database file of their own and then grafted into the real
 * one, page by page (store/write.h says why).
 */
#include "store/write.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DST_INDEX "CREATE INDEX edges_dst"

/* The rows, from the heap and edge_label. */
static int
write_rows(hd_edges_job *job)
{
    const hd_heap *h = job->h;
    hd_batch b;
    int err;
    if ((err = hd_sql_create(&job->db, job->path, job->mode, job->schema)) < 0 ||
        (err = hd_sql_exec(job->db, "BEGIN", "begin")) < 0)
        return err;
    err = hd_batch_open(&b, job->db, "edges", 5);
    for (uint64_t o = 0; o < h->n_objects && err == 0; o++) {
        for (uint64_t e = h->edge_start[o]; e < h->edge_start[o + 1]; e++) {
            hd_batch_int(&b, (int64_t)o);
            hd_batch_int(&b, (int64_t)(e - h->edge_start[o]));
            hd_batch_int(&b, h->edge_dst[e]);
            hd_batch_int(&b, (h->edge_word[e] & HD_EDGE_WEAK) != 0);
            hd_batch_id(&b, job->edge_label[e] ? job->edge_label[e] : HD_NONE);
            if ((err = hd_batch_row(&b)) < 0)
                break;
        }
    }
    if ((err = hd_batch_close(&b, err)) == 0)
        err = hd_sql_exec(job->db, "COMMIT", "commit");
    return err;
}

/* The schema's own statement, so that both databases' indexes match. */
static int
write_index(hd_edges_job *job)
{
    const char *at = strstr(job->index_sql, DST_INDEX), *end;
    char sql[256];
    int err;
    if (at == NULL || (end = strchr(at, ';')) == NULL ||
        (size_t)(end - at) >= sizeof(sql))
        return hd_error_set(HD_EINVAL, "the schema has no edges_dst index");
    snprintf(sql, sizeof(sql), "%.*s", (int)(end - at), at);
    /* sorter helpers only on cores beyond the two this thread and the
     * main one (still writing the objects' rows) take: on two cores a
     * helper only shared them */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    char pragmas[128];
    snprintf(pragmas, sizeof(pragmas), HD_INDEX_PRAGMAS "; PRAGMA threads=%ld",
             cores > 2 ? cores - 2 : 0);
    if ((err = hd_sql_exec(job->db, pragmas, "pragmas")) == 0)
        err = hd_sql_exec(job->db, sql, "edges_dst");
    return err;
}

/* Rows, then (unless the caller has given up) the index: edges_dst is
 * sorted while the objects' rows go in on the main thread, rather than
 * beside the objects' own index sorts, which want both cores (10 M
 * objects: the thread was idle 5.7 s of the objects' rows, and the
 * index phase then shared the cores). */
static void
record(hd_edges_job *job, int err) /* under job->lock */
{
    job->err = err;
    if (err < 0)
        job->error = *hd_error_last(); /* this thread's own */
}

static void *
write_edges(void *arg)
{
    hd_edges_job *job = arg;
    int err = write_rows(job), stop;
    pthread_mutex_lock(&job->lock);
    job->rows_done = 1;
    record(job, err);
    stop = job->cancelled;
    pthread_cond_broadcast(&job->cond);
    pthread_mutex_unlock(&job->lock);
    if (err == 0 && !stop && (err = write_index(job)) < 0) {
        pthread_mutex_lock(&job->lock);
        record(job, err);
        pthread_mutex_unlock(&job->lock);
    }
    return NULL;
}

/* The thread's error, set on this one, saying whose it is (a full disk
 * may fill on either thread). */
static int
job_error(hd_edges_job *job)
{
    if (job->err < 0)
        return hd_error_set(job->error.code, "writing the references: %s",
                            job->error.message);
    return 0;
}

int
hd_edges_start(hd_edges_job *job)
{
    job->err = job->rows_done = job->cancelled = 0;
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->cond, NULL);
    job->sync = 1;
    /* on this thread if no thread can be made */
    if (hd__thread_start(&job->thread, write_edges, job) == 0)
        job->running = 1;
    else
        write_edges(job);
    return 0;
}

int
hd_edges_rows_wait(hd_edges_job *job)
{
    int err;
    if (!job->sync) /* never started */
        return 0;
    pthread_mutex_lock(&job->lock);
    while (!job->rows_done)
        pthread_cond_wait(&job->cond, &job->lock);
    err = job_error(job);
    pthread_mutex_unlock(&job->lock);
    return err;
}

int
hd_edges_wait(hd_edges_job *job)
{
    if (job->running) {
        pthread_join(job->thread, NULL);
        job->running = 0;
    }
    return job_error(job);
}

/* The b-trees of the edges table (itself and each index on it), by name:
 * their names, definitions and roots, at most HD_GRAFT_MAX. */
typedef struct edge_trees {
    size_t n;
    char name[HD_GRAFT_MAX][64], sql[HD_GRAFT_MAX][256];
    uint32_t root[HD_GRAFT_MAX];
} edge_trees;

static int
edge_trees_of(sqlite3 *db, edge_trees *t)
{
    sqlite3_stmt *st = NULL;
    int err, rc;
    t->n = 0;
    if ((err = hd_sql_prepare(db, &st, "SELECT name, coalesce(sql, ''), "
                              "rootpage FROM sqlite_schema WHERE tbl_name = "
                              "'edges' AND rootpage > 0 ORDER BY name")) < 0)
        return err;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && t->n < HD_GRAFT_MAX) {
        snprintf(t->name[t->n], sizeof(t->name[0]), "%s",
                 (const char *)sqlite3_column_text(st, 0));
        snprintf(t->sql[t->n], sizeof(t->sql[0]), "%s",
                 (const char *)sqlite3_column_text(st, 1));
        t->root[t->n++] = (uint32_t)sqlite3_column_int64(st, 2);
    }
    if (rc == SQLITE_ROW)
        err = hd_error_set(HD_EINVAL, "more than %d b-trees on edges",
                           HD_GRAFT_MAX);
    else if (rc != SQLITE_DONE)
        err = hd_sql_error(db, "schema");
    sqlite3_finalize(st);
    return err;
}

/* The edges' b-trees, each to its twin in db: both databases must define
 * the same ones (an index on edges that one lacked would be left empty). */
static int
trees_to_move(sqlite3 *from, sqlite3 *to, hd_graft_tree *trees, size_t *n)
{
    edge_trees f, t;
    int err;
    if ((err = edge_trees_of(from, &f)) < 0 || (err = edge_trees_of(to, &t)) < 0)
        return err;
    int same = f.n == t.n && f.n > 0;
    for (size_t i = 0; same && i < f.n; i++)
        same = strcmp(f.name[i], t.name[i]) == 0 && strcmp(f.sql[i], t.sql[i]) == 0;
    if (!same)
        return hd_error_set(HD_EINVAL, "the edges' database defines other "
                            "b-trees on edges (%zu) than the database (%zu)",
                            f.n, t.n);
    for (size_t i = 0; i < f.n; i++)
        /* edges' pages as ordered inserts left them: 1/8 empty */
        trees[i] = (hd_graft_tree){f.root[i], t.root[i],
                                   strcmp(f.name[i], "edges") == 0};
    *n = f.n;
    return 0;
}

int
hd_edges_move(hd_edges_job *job, sqlite3 **db, const char *db_path)
{
    hd_graft_tree trees[HD_GRAFT_MAX];
    size_t n = 0;
    int err;
    if ((err = trees_to_move(job->db, *db, trees, &n)) < 0)
        goto done;
    if (sqlite3_close(job->db) != SQLITE_OK) {
        err = hd_sql_error(job->db, "close");
        goto done;
    }
    job->db = NULL;
    if (sqlite3_close(*db) != SQLITE_OK) {
        err = hd_sql_error(*db, "close");
        goto done;
    }
    *db = NULL;
    if ((err = hd_btree_graft(job->path, db_path, trees, n,
                              HD_SQLITE_PENDING_BYTE)) < 0) {
        hd_error why = *hd_error_last();
        err = hd_error_set(err, "moving the references: %s", why.message);
        goto done;
    }
    if ((err = hd_sql_open(db, db_path, 0)) == 0)
        err = hd_sql_exec(*db, HD_INDEX_PRAGMAS, "pragmas");
done:
    hd_edges_discard(job);
    return err;
}

void
hd_edges_discard(hd_edges_job *job)
{
    if (job->sync) {
        /* the rows finish; the index is not begun, or is stopped (the
         * thread sets db before rows_done) */
        pthread_mutex_lock(&job->lock);
        job->cancelled = 1;
        if (job->rows_done && job->db)
            sqlite3_interrupt(job->db);
        pthread_mutex_unlock(&job->lock);
    }
    if (job->running) {
        pthread_join(job->thread, NULL);
        job->running = 0;
    }
    if (job->sync) {
        pthread_mutex_destroy(&job->lock);
        pthread_cond_destroy(&job->cond);
        job->sync = 0;
    }
    if (job->db) {
        sqlite3_close(job->db);
        job->db = NULL;
    }
    if (job->path[0])
        unlink(job->path);
}
