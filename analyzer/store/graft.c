/* heapdig — MIT licence.
 *
 * graft.c: moves whole b-trees from one SQLite database file into another
 * by copying their pages, the page numbers inside them rewritten (child
 * pointers, overflow chains).  SQLite's own way (INSERT INTO t SELECT *
 * FROM u, its transfer optimisation) re-inserts every record and index
 * entry: 5.3 s for the 15.4 M edges of a 10 M-object load, most of the move
 * of edges.c; their pages copy in a fraction of that.
 *
 * What it relies on is SQLite's file format, which every SQLite 3 reads and
 * writes alike (https://www.sqlite.org/fileformat2.html): the 100-byte
 * header (page size at 16, reserved bytes at 20, change counter at 24,
 * page count at 28, "version valid for" at 92), b-tree pages (type byte,
 * cell count at 3, right-most child at 8 on interior pages, the cell
 * pointer array after the 8- or 12-byte header), cells (a 4-byte left child
 * on interior pages; the payload's local part, then a 4-byte overflow page,
 * when the payload is longer than the page keeps), overflow pages (the next
 * page's number first) and the lock-byte page (the page holding the
 * pending byte, which SQLite never uses).  The trees' roots keep their page
 * numbers in the destination (they are empty tables there), so its schema
 * does not change; every other page goes after its last one.  Neither file
 * may be open in SQLite meanwhile.  A tree asked to be packed is rebuilt
 * with full pages instead (pack.c), where it can be.
 */
#include "store/dbfile.h"
#include "store/write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { PAGE_INDEX, PAGE_TABLE, PAGE_OVERFLOW }; /* what a queued page is */

typedef struct queued {
    uint32_t from, to;
    int kind;
} queued;

typedef struct graft {
    db_file *from, *to;
    unsigned char *page;
    unsigned char *seen; /* the source's pages already queued */
    queued *queue;
    size_t head, tail;
    uint32_t next; /* the destination's next free page number */
} graft;

int
hd__dbfile_bad(const db_file *f, uint32_t page, uint32_t at, const char *what)
{
    return hd_error_set(HD_ECORRUPT, "%s: page %u (byte %llu): %s", f->path,
                        page,
                        (unsigned long long)(page_offset(f, page) + at), what);
}

int
hd__page_read(const db_file *f, uint32_t page, unsigned char *buf)
{
    ssize_t n = pread(f->fd, buf, f->page_size, (off_t)page_offset(f, page));
    if (n != (ssize_t)f->page_size)
        return hd_error_set(HD_EIO, "cannot read %s, page %u (byte %llu): %s",
                            f->path, page,
                            (unsigned long long)page_offset(f, page),
                            n < 0 ? strerror(errno) : "file too short");
    return 0;
}

/* All n bytes at off, or the error (a short write is retried: the retry
 * says why, a full disk or a file size limit). */
int
hd__write_all(const db_file *f, const unsigned char *buf, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(f->fd, buf, n, (off_t)off);
        if (w <= 0)
            return hd_error_set(HD_EIO, "cannot write %s at byte %llu: %s",
                                f->path, (unsigned long long)off,
                                w < 0 ? strerror(errno) : "nothing written");
        buf += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* A varint (1-9 bytes) at p within the page's usable bytes, or -1. */
int
hd__varint(const unsigned char *page, uint32_t usable, uint32_t *p, uint64_t *v)
{
    *v = 0;
    for (int i = 0; i < 9; i++) {
        if (*p >= usable)
            return -1;
        unsigned char c = page[(*p)++];
        if (i == 8) {
            *v = *v << 8 | c;
            return 0;
        }
        *v = *v << 7 | (c & 0x7f);
        if (!(c & 0x80))
            return 0;
    }
    return 0;
}

int
hd__check_cells(const db_file *f, uint32_t page, const unsigned char *b,
                uint32_t head, uint32_t cells)
{
    if (head + 2 * cells > f->usable)
        return hd__dbfile_bad(f, page, 3, "more cells than the page holds");
    for (uint32_t i = 0; i < cells; i++) {
        uint32_t cell = be16(b + head + 2 * i);
        if (cell < head + 2 * cells || cell + 4 > f->usable)
            return hd__dbfile_bad(f, page, head + 2 * i, "a cell off the page");
    }
    return 0;
}

int
hd__reach(const db_file *f, unsigned char *seen, uint32_t page, uint32_t at,
          uint32_t child)
{
    if (child < 2 || child > f->pages || child == f->lock_page)
        return hd__dbfile_bad(f, page, at, "a page number out of range");
    if (seen[child])
        return hd__dbfile_bad(f, page, at, "a page reached twice");
    seen[child] = 1;
    return 0;
}

int
hd__next_page(const db_file *to, uint32_t *next, uint32_t *page)
{
    if (*next == to->lock_page)
        (*next)++;
    if (*next > MAX_PAGE)
        return hd_error_set(HD_EINVAL, "%s: more than %u pages", to->path,
                            MAX_PAGE);
    *page = (*next)++;
    return 0;
}

/* A page number in a source page (at byte `at`): the destination's number
 * for it goes in its place, and the page in the queue. */
static int
redirect(graft *g, uint32_t page, uint32_t at, int kind)
{
    uint32_t old = be32(g->page + at), to = 0;
    int err;
    if ((err = hd__reach(g->from, g->seen, page, at, old)) < 0 ||
        (err = hd__next_page(g->to, &g->next, &to)) < 0)
        return err;
    g->queue[g->tail++] = (queued){old, to, kind};
    put32(g->page + at, to);
    return 0;
}

/* A cell's overflow page number, if its payload spills: where, or 0. */
static int
overflow_at(const graft *g, uint32_t page, int type, uint32_t cell,
            uint32_t *at)
{
    const db_file *f = g->from;
    uint32_t u = f->usable, p = cell + (type == 2 ? 4 : 0);
    uint64_t n, rowid;
    *at = 0;
    if (type == 5) /* table interior: child and key only */
        return 0;
    if (hd__varint(g->page, u, &p, &n) < 0 ||
        (type == 13 && hd__varint(g->page, u, &p, &rowid) < 0))
        return hd__dbfile_bad(f, page, cell, "a cell runs past the page");
    uint64_t max_local = type == 13 ? u - 35 : index_max_local(u);
    uint64_t min_local = (u - 12) * 32 / 255 - 23;
    if (n <= max_local)
        return 0;
    uint64_t k = min_local + (n - min_local) % (u - 4);
    uint64_t local = k <= max_local ? k : min_local;
    if (p + local + 4 > u)
        return hd__dbfile_bad(f, page, cell, "a cell runs past the page");
    *at = p + (uint32_t)local;
    return 0;
}

/* One queued page: its page numbers redirected, written at its new place. */
static int
copy_page(graft *g, const queued *q)
{
    const db_file *f = g->from;
    unsigned char *b = g->page;
    int err;
    if ((err = hd__page_read(f, q->from, b)) < 0)
        return err;
    if (q->kind == PAGE_OVERFLOW) {
        if (be32(b) && (err = redirect(g, q->from, 0, PAGE_OVERFLOW)) < 0)
            return err;
    } else {
        int type = b[0];
        int want_interior = q->kind == PAGE_INDEX ? 2 : 5;
        if (type != want_interior && type != want_interior + 8)
            return hd__dbfile_bad(f, q->from, 0, q->kind == PAGE_INDEX
                                          ? "not an index b-tree page"
                                          : "not a table b-tree page");
        uint32_t head = type == want_interior ? 12 : 8, cells = be16(b + 3);
        if ((err = hd__check_cells(f, q->from, b, head, cells)) < 0)
            return err;
        for (uint32_t i = 0; i < cells; i++) {
            uint32_t cell = be16(b + head + 2 * i), spill;
            if (head == 12 && (err = redirect(g, q->from, cell, q->kind)) < 0)
                return err;
            if ((err = overflow_at(g, q->from, type, cell, &spill)) < 0 ||
                (spill && (err = redirect(g, q->from, spill,
                                          PAGE_OVERFLOW)) < 0))
                return err;
        }
        if (head == 12 && (err = redirect(g, q->from, 8, q->kind)) < 0)
            return err;
    }
    return hd__write_all(g->to, b, g->to->page_size, page_offset(g->to, q->to));
}

/* The destination's root must be an empty leaf of the same kind. */
static int
check_root(graft *g, const hd_graft_tree *t, int *kind)
{
    int err;
    if (t->from < 2 || t->from > g->from->pages || t->to < 2 ||
        t->to > g->to->pages)
        return hd_error_set(HD_EINVAL, "b-tree roots %u of %s -> %u of %s: "
                            "out of range", t->from, g->from->path, t->to,
                            g->to->path);
    if ((err = hd__page_read(g->from, t->from, g->page)) < 0)
        return err;
    int type = g->page[0];
    if (type != 2 && type != 5 && type != 10 && type != 13)
        return hd__dbfile_bad(g->from, t->from, 0, "not a b-tree page");
    *kind = type == 2 || type == 10 ? PAGE_INDEX : PAGE_TABLE;
    if ((err = hd__page_read(g->to, t->to, g->page)) < 0)
        return err;
    if (g->page[0] != (*kind == PAGE_INDEX ? 10 : 13) || be16(g->page + 3))
        return hd__dbfile_bad(g->to, t->to, 0, "not an empty b-tree of the same kind");
    return 0;
}

int
hd_btree_graft(const char *from_path, const char *to_path,
               const hd_graft_tree *trees, size_t n, uint64_t pending_byte)
{
    db_file from = {.fd = -1}, to = {.fd = -1};
    graft g = {&from, &to, NULL, NULL, NULL, 0, 0, 0};
    int err, kinds[HD_GRAFT_MAX];
    if (n > HD_GRAFT_MAX)
        return hd_error_set(HD_EINVAL, "graft: %zu b-trees at once", n);
    if ((err = hd__dbfile_open(&from, from_path, O_RDONLY, pending_byte)) < 0 ||
        (err = hd__dbfile_open(&to, to_path, O_RDWR, pending_byte)) < 0)
        goto done;
    /* records as they are: same pages, encoding and payload fractions */
    if (from.page_size != to.page_size || from.usable != to.usable) {
        err = hd_error_set(HD_EINVAL, "%s and %s: different page sizes",
                           from_path, to_path);
        goto done;
    }
    if (memcmp(from.hdr + 21, to.hdr + 21, 3) != 0 ||
        be32(from.hdr + 56) != be32(to.hdr + 56)) {
        err = hd_error_set(HD_EINVAL, "%s and %s: different text encodings "
                           "or payload fractions", from_path, to_path);
        goto done;
    }
    g.page = malloc(from.page_size);
    g.seen = calloc((size_t)from.pages + 1, 1);
    g.queue = malloc(((size_t)from.pages + 1) * sizeof(*g.queue));
    if (g.page == NULL || g.seen == NULL || g.queue == NULL) {
        err = hd_error_set(HD_ENOMEM, "out of memory (graft)");
        goto done;
    }
    /* every root checked before the destination is touched */
    for (size_t i = 0; i < n; i++)
        if ((err = check_root(&g, &trees[i], &kinds[i])) < 0)
            goto done;
    g.next = to.pages + 1;
    for (size_t i = 0; i < n; i++) {
        if (g.seen[trees[i].from]) {
            err = hd__dbfile_bad(&from, trees[i].from, 0, "a page reached twice");
            goto done;
        }
        g.seen[trees[i].from] = 1;
        if (trees[i].pack && kinds[i] == PAGE_INDEX) {
            /* 1: not for packing (nothing written, no page numbered):
             * copied as it is */
            if ((err = hd__btree_pack(&from, &to, g.seen, &g.next,
                                      trees[i].from, trees[i].to)) < 0)
                goto done;
            if (err == 0)
                continue;
            err = 0;
        }
        g.queue[g.tail++] = (queued){trees[i].from, trees[i].to, kinds[i]};
        /* breadth first: each page written once, in the order numbered */
        while (g.head < g.tail)
            if ((err = copy_page(&g, &g.queue[g.head++])) < 0)
                goto done;
    }
    err = hd__dbfile_finish(&to, g.next);
done:
    if (from.fd >= 0)
        close(from.fd);
    if (to.fd >= 0 && close(to.fd) < 0 && err == 0)
        err = hd_error_set(HD_EIO, "cannot write %s: %s", to_path,
                           strerror(errno));
    free(g.page);
    free(g.seen);
    free(g.queue);
    return err;
}
