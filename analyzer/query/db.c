/* heapdig — MIT licence.
 *
 * db.c: the read side of a database: hd_db_open (with heapdig's SQL
 * functions), the check that a database is one a load finished, and the
 * hd_query cursor.  sqlite3.h is included here and in store/store.c only.
 */
#include "query/query.h"
#include "heapdig/format.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
sql_error(sqlite3 *db, const char *what)
{
    return hd_error_set(HD_ESQL, "SQLite: %s: %s", what,
                        db ? sqlite3_errmsg(db) : "cannot open");
}

/* ---- Reading: hd_db and hd_rows --------------------------------------------- */

struct hd_db {
    sqlite3 *db;
};

struct hd_rows {
    hd_db *db;
    sqlite3_stmt *st;
    int bind_err; /* a parameter hd_rows_rerun could not bind: the next
                     hd_rows_next reports it (callers check that one) */
};

/* A database is input: it must be one a load finished, of this schema, with
 * the tables and views heapdig made (a view redefined in it, a recursive
 * type_stats say, would run as heapdig's). */
/* Each table and view heapdig's schema makes is there: a query of one
 * that is not would fail later with SQLite's words, not these. */
static int
check_every_table(hd_db *d, const char *schema, const char *path)
{
    sqlite3_stmt *st = NULL;
    char sql[160];
    int err = 0;
    snprintf(sql, sizeof(sql), "SELECT 1 FROM \"%s\".sqlite_master WHERE "
             "type IN ('table', 'view') AND name = ?1 COLLATE NOCASE", schema);
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
        return hd_error_set(HD_ESQL, "%s: %s", path, sqlite3_errmsg(d->db));
    for (const char *p = hd_schema_sql; err == 0 && *p; p++) {
        size_t skip = !strncmp(p, "\nCREATE TABLE ", 14) ? 14
                      : !strncmp(p, "\nCREATE VIEW ", 13) ? 13 : 0;
        if (skip == 0)
            continue;
        const char *name = p + skip;
        int n = (int)strcspn(name, " (\n");
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, name, n, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) /* busy, I/O, damage */
            err = hd_error_set(HD_ESQL, "%s: %s", path, sqlite3_errmsg(d->db));
        else if (rc == SQLITE_DONE)
            err = hd_error_set(HD_EINVAL, "%s has no %s %.*s: it is not a "
                               "database `heapdig load` made, or was changed "
                               "since; load the dump again", path,
                               skip == 14 ? "table" : "view", n, name);
    }
    sqlite3_finalize(st);
    return err;
}

int
hd__db_check(hd_db *d, const char *schema, const char *path)
{
    sqlite3_stmt *st = NULL;
    char sql[256];
    int err = 0, rc;
    snprintf(sql, sizeof(sql), "SELECT value FROM \"%s\".meta WHERE key = "
             "'schema_version'", schema);
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
        return hd_error_set(HD_ESQL, "%s is not a heapdig database (%s); "
                            "create one with `heapdig load`", path,
                            sqlite3_errmsg(d->db));
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        err = hd_error_set(HD_EINVAL, "%s is not a finished heapdig database "
                           "(its load did not end, or an older heapdig made "
                           "it): load the dump again", path);
    else if (sqlite3_column_int64(st, 0) != HD_SCHEMA_VERSION)
        err = hd_error_set(HD_EINVAL, "%s has database schema %lld; this "
                           "heapdig reads schema %d: load the dump again",
                           path, (long long)sqlite3_column_int64(st, 0),
                           HD_SCHEMA_VERSION);
    sqlite3_finalize(st);
    if (err < 0)
        return err;
    /* and of a dump this heapdig could have read */
    snprintf(sql, sizeof(sql), "SELECT value FROM \"%s\".meta WHERE key = "
             "'format_major'", schema);
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_int64(st, 0) != HD_FORMAT_MAJOR)
        err = hd_error_set(HD_EINVAL, "%s says it holds a dump of format %lld"
                           ".x; this heapdig reads %d.x: load the dump again "
                           "with a heapdig that reads it", path,
                           (long long)sqlite3_column_int64(st, 0),
                           HD_FORMAT_MAJOR);
    sqlite3_finalize(st);
    if (err < 0)
        return err;
    snprintf(sql, sizeof(sql), "SELECT type, name, sql FROM \"%s\"."
             "sqlite_master WHERE type IN ('table', 'view') AND sql NOT NULL",
             schema);
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
        return hd_error_set(HD_ESQL, "%s: %s", path, sqlite3_errmsg(d->db));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *text = (const char *)sqlite3_column_text(st, 2);
        char decl[2][160], lower[128];
        size_t k;
        if (!type || !name || !text)
            continue;
        /* SQLite names ignore case, and a view may stand in for a table */
        for (k = 0; name[k] && k + 1 < sizeof(lower); k++)
            lower[k] = (char)((name[k] >= 'A' && name[k] <= 'Z')
                                  ? name[k] - 'A' + 'a' : name[k]);
        lower[k] = 0;
        snprintf(decl[0], sizeof(decl[0]), "CREATE TABLE %s ", lower);
        snprintf(decl[1], sizeof(decl[1]), "CREATE VIEW %s ", lower);
        /* one of heapdig's names must hold heapdig's definition */
        if ((strstr(hd_schema_sql, decl[0]) || strstr(hd_schema_sql, decl[1])) &&
            !strstr(hd_schema_sql, text)) {
            err = hd_error_set(HD_EINVAL, "%s: its %s %s is not the one "
                               "`heapdig load` makes: load the dump again",
                               path, type, name);
            break;
        }
    }
    sqlite3_finalize(st);
    return err < 0 ? err : check_every_table(d, schema, path);
}

/* held_text(schema, id): the text of signature id in that database's
 * path_steps (main, or an attached b or c for diff), walked up to its
 * root; a text past HELD_MAX bytes keeps its head and tail around " … "
 * and ends in its hash, so two signatures never read the same. */
#define HELD_MAX 400
#define HELD_HEAD 200
#define HELD_TAIL 160

static void
sql_held_text(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *schema = (const char *)sqlite3_value_text(argv[0]);
    sqlite3 *db = sqlite3_context_db_handle(ctx);
    sqlite3_stmt *st = NULL;
    char **steps = NULL, *sql = NULL, *out = NULL;
    size_t n = 0, cap = 0, len = 0;
    uint64_t hash = 0;
    (void)argc;
    if (schema == NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    sqlite3_int64 id = sqlite3_value_int64(argv[1]);
    sql = sqlite3_mprintf("SELECT p.parent, l.text, p.hash FROM \"%w\"."
                          "path_steps p JOIN \"%w\".labels l ON l.id = p.step "
                          "WHERE p.id = ?1", schema, schema);
    if (sql == NULL || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_result_error(ctx, sql ? sqlite3_errmsg(db) : "out of memory", -1);
        goto done;
    }
    for (int has = 1; has; ) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) != SQLITE_ROW)
            break; /* a parent that is not there: the text so far */
        if (n == 0)
            hash = (uint64_t)sqlite3_column_int64(st, 2);
        if (hd_grow(&steps, &cap, n + 1, sizeof(*steps)) < 0) {
            sqlite3_result_error_nomem(ctx);
            goto done;
        }
        const char *text = (const char *)sqlite3_column_text(st, 1);
        steps[n] = strdup(text ? text : "");
        if (steps[n] == NULL) {
            sqlite3_result_error_nomem(ctx);
            goto done;
        }
        len += strlen(steps[n++]);
        has = sqlite3_column_type(st, 0) != SQLITE_NULL;
        sqlite3_int64 parent = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        /* a parent always has the lower id (the load numbers them parents
         * first): anything else is a loop in a database made by hand */
        if (has && parent >= id) {
            sqlite3_result_error(ctx, "the signatures loop: the database is "
                                 "inconsistent", -1);
            goto done;
        }
        id = parent;
    }
    if (n == 0) { /* no such signature */
        sqlite3_result_null(ctx);
        goto done;
    }
    if ((out = malloc(len + 1)) == NULL) {
        sqlite3_result_error_nomem(ctx);
        goto done;
    }
    len = 0;
    for (size_t i = n; i-- > 0;) {
        size_t k = strlen(steps[i]);
        memcpy(out + len, steps[i], k);
        len += k;
    }
    out[len] = 0;
    if (len > HELD_MAX) {
        size_t head = HELD_HEAD, from = len - HELD_TAIL;
        while (head > 0 && ((uint8_t)out[head] & 0xC0) == 0x80)
            head--;
        while (from < len && ((uint8_t)out[from] & 0xC0) == 0x80)
            from++;
        char *cut = sqlite3_mprintf("%.*s \xe2\x80\xa6 %s [#%012llx]",
                                    (int)head, out, out + from,
                                    (unsigned long long)(hash &
                                                         0xFFFFFFFFFFFFull));
        if (cut == NULL)
            sqlite3_result_error_nomem(ctx);
        else
            sqlite3_result_text(ctx, cut, -1, sqlite3_free);
    } else {
        sqlite3_result_text(ctx, out, (int)len, SQLITE_TRANSIENT);
    }
done:
    for (size_t i = 0; i < n; i++)
        free(steps[i]);
    free(steps);
    free(out);
    sqlite3_finalize(st);
    sqlite3_free(sql);
}

/* shown_value(value, flags): the value as a person reads it
 * (hd_value_text), for the CLI's tables; heapdig's connections only. */
static void
sql_shown_value(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    char buf[1024];
    const char *v = (const char *)sqlite3_value_text(argv[0]);
    (void)argc;
    if (v == NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    size_t n = hd_value_text(buf, sizeof(buf), v,
                             (size_t)sqlite3_value_bytes(argv[0]),
                             sqlite3_value_int64(argv[1]), 0);
    sqlite3_result_text(ctx, buf, (int)n, SQLITE_TRANSIENT);
}

int
hd_db_open(hd_db **out, const char *path)
{
    hd_db *d;
    sqlite3_stmt *st = NULL;
    *out = NULL;
    if (access(path, R_OK) != 0)
        return hd_error_set(HD_EIO, "cannot open %s: %s", path,
                            strerror(errno));
    if ((d = calloc(1, sizeof(*d))) == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory");
    if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(d->db, "SELECT value FROM meta WHERE key='objects'",
                           -1, &st, NULL) != SQLITE_OK) {
        int err = hd_error_set(HD_ESQL, "%s is not a heapdig database (%s); "
                               "create one with `heapdig load`", path,
                               d->db ? sqlite3_errmsg(d->db) : "?");
        sqlite3_finalize(st);
        sqlite3_close(d->db);
        free(d);
        return err;
    }
    sqlite3_finalize(st);
    int err = hd__db_check(d, "main", path);
    if (err < 0) {
        sqlite3_close(d->db);
        free(d);
        return err;
    }
    sqlite3_create_function(d->db, "shown_value", 2,
                            SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                            sql_shown_value, NULL, NULL);
    sqlite3_create_function(d->db, "held_text", 2, SQLITE_UTF8, NULL,
                            sql_held_text, NULL, NULL);
    /* 64 MiB of page cache, not 2: chains and the report revisit pages */
    sqlite3_exec(d->db, "PRAGMA cache_size = -65536", NULL, NULL, NULL);
    *out = d;
    return 0;
}

void
hd_db_close(hd_db *db)
{
    if (db == NULL)
        return;
    sqlite3_close(db->db);
    free(db);
}

int
hd_query(hd_rows **out, hd_db *db, const char *sql, int n_params,
         const char *const *params)
{
    hd_rows *r;
    *out = NULL;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory");
    r->db = db;
    if (sqlite3_prepare_v2(db->db, sql, -1, &r->st, NULL) != SQLITE_OK) {
        int err = sql_error(db->db, "query");
        free(r);
        return err;
    }
    for (int i = 0; i < n_params; i++)
        if (sqlite3_bind_text(r->st, i + 1, params[i], -1, SQLITE_TRANSIENT) !=
            SQLITE_OK) {
            int err = sql_error(db->db, "query parameter");
            hd_rows_free(r);
            return err;
        }
    *out = r;
    return 0;
}

int
hd_query_int(hd_rows **out, hd_db *db, const char *sql, int n_params,
             const int64_t *params)
{
    int err = hd_query(out, db, sql, 0, NULL);
    if (err == 0 && (err = hd_rows_rerun(*out, n_params, params)) < 0) {
        hd_rows_free(*out);
        *out = NULL;
    }
    return err;
}

int
hd_rows_next(hd_rows *r)
{
    if (r->bind_err)
        return r->bind_err;
    int rc = sqlite3_step(r->st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return sql_error(r->db->db, "query");
}

int
hd_rows_ncol(const hd_rows *r)
{
    return sqlite3_column_count(r->st);
}

const char *
hd_rows_name(const hd_rows *r, int col)
{
    return sqlite3_column_name(r->st, col);
}

const char *
hd_rows_text(hd_rows *r, int col)
{
    return (const char *)sqlite3_column_text(r->st, col);
}

size_t
hd_rows_len(hd_rows *r, int col)
{
    sqlite3_column_text(r->st, col); /* bytes of the text form */
    return (size_t)sqlite3_column_bytes(r->st, col);
}

int64_t
hd_rows_int(hd_rows *r, int col)
{
    return sqlite3_column_int64(r->st, col);
}

int
hd_rows_is_number(hd_rows *r, int col)
{
    int t = sqlite3_column_type(r->st, col);
    return t == SQLITE_INTEGER || t == SQLITE_FLOAT;
}

int
hd_rows_rerun(hd_rows *r, int n_params, const int64_t *params)
{
    sqlite3_reset(r->st);
    r->bind_err = 0;
    for (int i = 0; i < n_params; i++)
        if (sqlite3_bind_int64(r->st, i + 1, params[i]) != SQLITE_OK)
            return r->bind_err = sql_error(r->db->db, "query parameter");
    return 0;
}

void
hd_rows_free(hd_rows *r)
{
    if (r == NULL)
        return;
    sqlite3_finalize(r->st);
    free(r);
}

int
hd_db_check_dominators(hd_db *db)
{
    hd_rows *r = NULL;
    int64_t roots = 0;
    /* added here, wrapping as the load's sums do (SQLite's sum() stops at
     * 2^63 with an error, and a crafted dump's sizes reach it) */
    int err = hd_query(&r, db, "SELECT retained FROM objects WHERE idom IS "
                       "NULL AND reachable = 1", 0, NULL);
    while (err == 0 && (err = hd_rows_next(r)) == 1) {
        roots = (int64_t)((uint64_t)roots + (uint64_t)hd_rows_int(r, 0));
        err = 0;
    }
    hd_rows_free(r);
    if (err < 0)
        return err;
    int64_t reachable = (int64_t)((uint64_t)hd_meta_int(db, "total_size") -
                                  (uint64_t)hd_meta_int(db,
                                                        "unreachable_size"));
    if (roots != reachable)
        return hd_error_set(HD_EINVAL, "the database is inconsistent: the "
                            "dominator tree's tops retain %" PRId64 " bytes "
                            "but %" PRId64 " are reachable (an idom that "
                            "loops, or sizes changed since the load): load "
                            "the dump again", roots, reachable);
    return 0;
}
