/* heapdig — MIT licence.
 *
 * edges.c: the edges table and its edges_dst index, built on a second
 * thread in a database file of their own and then copied into the real
 * one (store/write.h says why).
 */
#include "store/write.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define EDGES_DB "hd_edges"
#define DST_INDEX "CREATE INDEX edges_dst"

static void *
write_rows(void *arg)
{
    hd_edges_job *job = arg;
    const hd_heap *h = job->h;
    hd_batch b;
    int err;
    if ((err = hd_sql_create(&job->db, job->path, job->mode, job->schema)) < 0 ||
        (err = hd_sql_exec(job->db, "BEGIN", "begin")) < 0)
        goto done;
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
done:
    job->err = err;
    if (err < 0)
        job->error = *hd_error_last();
    return NULL;
}

/* The schema's own statement, so that both databases' indexes match. */
static void *
write_index(void *arg)
{
    hd_edges_job *job = arg;
    const char *at = strstr(job->index_sql, DST_INDEX), *end;
    char sql[256];
    int err;
    if (at == NULL || (end = strchr(at, ';')) == NULL ||
        (size_t)(end - at) >= sizeof(sql)) {
        err = hd_error_set(HD_EINVAL, "the schema has no edges_dst index");
        goto done;
    }
    snprintf(sql, sizeof(sql), "%.*s", (int)(end - at), at);
    if ((err = hd_sql_exec(job->db, HD_INDEX_PRAGMAS, "pragmas")) == 0)
        err = hd_sql_exec(job->db, sql, "edges_dst");
done:
    job->err = err;
    if (err < 0)
        job->error = *hd_error_last();
    return NULL;
}

/* On its own thread; on this one if no thread can be made. */
static int
start(hd_edges_job *job, void *(*step)(void *))
{
    job->err = 0;
    if (hd__thread_start(&job->thread, step, job) == 0)
        job->running = 1;
    else
        step(job);
    return 0;
}

int
hd_edges_rows_start(hd_edges_job *job)
{
    return start(job, write_rows);
}

int
hd_edges_index_start(hd_edges_job *job)
{
    return start(job, write_index);
}

int
hd_edges_wait(hd_edges_job *job)
{
    if (job->running) {
        pthread_join(job->thread, NULL);
        job->running = 0;
    }
    if (job->err < 0)
        return hd_error_set(job->error.code, "%s", job->error.message);
    return 0;
}

int
hd_edges_move(hd_edges_job *job, sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int err;
    if (sqlite3_close(job->db) != SQLITE_OK) {
        err = hd_sql_error(job->db, "close");
        goto done;
    }
    job->db = NULL;
    /* "INSERT INTO t SELECT * FROM u" with the same definitions and t
     * empty: SQLite copies the records and index entries as they are */
    if ((err = hd_sql_prepare(db, &st, "ATTACH ?1 AS " EDGES_DB)) < 0)
        goto done;
    sqlite3_bind_text(st, 1, job->path, -1, SQLITE_STATIC);
    if ((err = hd_sql_step(db, st, "attach")) < 0 ||
        (err = hd_sql_exec(db, "INSERT INTO main.edges SELECT * FROM "
                           EDGES_DB ".edges", "edges")) < 0 ||
        (err = hd_sql_exec(db, "DETACH " EDGES_DB, "detach")) < 0)
        goto done;
done:
    sqlite3_finalize(st);
    hd_edges_discard(job);
    return err;
}

void
hd_edges_discard(hd_edges_job *job)
{
    if (job->running) {
        pthread_join(job->thread, NULL);
        job->running = 0;
    }
    if (job->db) {
        sqlite3_close(job->db);
        job->db = NULL;
    }
    if (job->path[0])
        unlink(job->path);
}
