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

/* The root pages of edges and edges_dst in a database. */
static int
roots(sqlite3 *db, uint32_t root[2])
{
    static const char *const names[2] = {"edges", "edges_dst"};
    sqlite3_stmt *st = NULL;
    int err;
    if ((err = hd_sql_prepare(db, &st, "SELECT rootpage FROM sqlite_schema "
                              "WHERE name = ?1")) < 0)
        return err;
    for (int i = 0; i < 2 && err == 0; i++) {
        sqlite3_bind_text(st, 1, names[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW)
            err = hd_error_set(HD_ESQL, "SQLite: no %s to move", names[i]);
        else
            root[i] = (uint32_t)sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return err;
}

int
hd_edges_move(hd_edges_job *job, sqlite3 **db, const char *db_path)
{
    uint32_t from[2], to[2];
    int err;
    if ((err = roots(job->db, from)) < 0 || (err = roots(*db, to)) < 0)
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
    hd_graft_tree trees[2] = {{from[0], to[0]}, {from[1], to[1]}};
    if ((err = hd_btree_graft(job->path, db_path, trees, 2,
                              HD_SQLITE_PENDING_BYTE)) < 0) {
        hd_error why = *hd_error_last();
        err = hd_error_set(err, "moving the references: %s", why.message);
        goto done;
    }
    err = hd_sql_open(db, db_path, 0);
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
