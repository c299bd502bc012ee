/* heapdig — MIT licence.
 *
 * rows.c: the store's SQL helpers and batched inserts (store/write.h).
 */
#include "store/write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef STORE_CACHE
#define STORE_CACHE "-16384" /* KiB: 16 MiB while the rows go in */
#endif
#ifndef STORE_TEMP
#define STORE_TEMP "temp_store=MEMORY"
#endif

int
hd_sql_error(sqlite3 *db, const char *what)
{
    return hd_error_set(HD_ESQL, "SQLite: %s: %s", what,
                        db ? sqlite3_errmsg(db) : "cannot open");
}

int
hd_sql_exec(sqlite3 *db, const char *sql, const char *what)
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

int
hd_sql_prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return hd_sql_error(db, sql);
    return 0;
}

int
hd_sql_step(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return hd_sql_error(db, what);
    return 0;
}

int
hd_sql_open(sqlite3 **out, const char *path, int flags)
{
    sqlite3 *db = NULL;
    int err;
    *out = NULL;
    /* One thread uses this connection: no mutexes. */
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | flags |
                                       SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        err = hd_error_set(HD_ESQL, "cannot open %s: %s", path,
                           db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return err;
    }
    /* Bulk load: no journal, no syncs until the end.  The rows are
     * appended in key order, so a small cache does. */
    if ((err = hd_sql_exec(db, "PRAGMA page_size=65536; PRAGMA journal_mode=OFF;"
                           "PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE;"
                           "PRAGMA " STORE_TEMP "; PRAGMA cache_size=" STORE_CACHE ";"
                           "PRAGMA threads=2;", "pragmas")) < 0) {
        sqlite3_close(db);
        return err;
    }
    *out = db;
    return 0;
}

int
hd_sql_create(sqlite3 **out, const char *path, mode_t mode, const char *schema)
{
    int err;
    *out = NULL;
    unlink(path);
    /* made here, with the dump's mode, before SQLite opens it */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                  mode | S_IRUSR | S_IWUSR);
    if (fd < 0)
        return hd_error_set(HD_EIO, "cannot create %s: %s", path,
                            strerror(errno));
    close(fd);
    if ((err = hd_sql_open(out, path, SQLITE_OPEN_CREATE)) < 0)
        return err;
    if ((err = hd_sql_exec(*out, schema, "schema")) < 0) {
        sqlite3_close(*out);
        *out = NULL;
    }
    return err;
}

/* ---- Batched inserts ------------------------------------------------------- */

static int
batch_prepare(hd_batch *b, sqlite3_stmt **st, int rows)
{
    char sql[HD_BATCH_ROWS * (HD_BATCH_MAX_COLS * 2 + 4) + 64];
    int n = snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES ", b->table);
    for (int r = 0; r < rows; r++) {
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s(", r ? "," : "");
        for (int c = 0; c < b->cols; c++)
            n += snprintf(sql + n, sizeof(sql) - (size_t)n, "%s?",
                          c ? "," : "");
        n += snprintf(sql + n, sizeof(sql) - (size_t)n, ")");
    }
    return hd_sql_prepare(b->db, st, sql);
}

int
hd_batch_open(hd_batch *b, sqlite3 *db, const char *table, int cols)
{
    b->db = db;
    b->table = table;
    b->cols = cols;
    b->n = 0;
    b->full = NULL;
    return batch_prepare(b, &b->full, HD_BATCH_ROWS);
}

/* Binds the n waiting values to st and steps it. */
static int
batch_step(hd_batch *b, sqlite3_stmt *st)
{
    for (int i = 0; i < b->n; i++) {
        const hd_batch_val *v = &b->vals[i];
        if (v->is_null)
            sqlite3_bind_null(st, i + 1);
        else if (v->text)
            sqlite3_bind_text(st, i + 1, v->text, v->len, SQLITE_STATIC);
        else
            sqlite3_bind_int64(st, i + 1, v->num);
    }
    b->n = 0;
    return hd_sql_step(b->db, st, b->table);
}

void
hd_batch_int(hd_batch *b, int64_t v)
{
    b->vals[b->n++] = (hd_batch_val){NULL, v, 0, 0};
}

void
hd_batch_text(hd_batch *b, const char *t, int len)
{
    b->vals[b->n++] = (hd_batch_val){t, 0, len, 0};
}

void
hd_batch_null(hd_batch *b)
{
    b->vals[b->n++] = (hd_batch_val){NULL, 0, 0, 1};
}

/* An id, or NULL for HD_NONE. */
void
hd_batch_id(hd_batch *b, uint32_t v)
{
    if (v == HD_NONE)
        hd_batch_null(b);
    else
        hd_batch_int(b, v);
}

/* After each row: a full batch goes in. */
int
hd_batch_row(hd_batch *b)
{
    return b->n == HD_BATCH_ROWS * b->cols ? batch_step(b, b->full) : 0;
}

/* The last, partial batch, and the statements. */
int
hd_batch_close(hd_batch *b, int err)
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
