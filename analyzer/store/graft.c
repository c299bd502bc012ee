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
 * may be open in SQLite meanwhile.
 */
#include "store/write.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SQLITE_MAGIC "SQLite format 3"

enum { PAGE_INDEX, PAGE_TABLE, PAGE_OVERFLOW }; /* what a queued page is */

typedef struct db_file {
    const char *path;
    int fd;
    uint32_t page_size, usable, pages, lock_page;
    unsigned char hdr[100];
} db_file;

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

static uint32_t
be16(const unsigned char *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static void
put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint64_t
page_offset(const db_file *f, uint32_t page)
{
    return (uint64_t)(page - 1) * f->page_size;
}

static int
bad(const db_file *f, uint32_t page, uint32_t at, const char *what)
{
    return hd_error_set(HD_ECORRUPT, "%s: page %u (byte %llu): %s", f->path,
                        page,
                        (unsigned long long)(page_offset(f, page) + at), what);
}

/* SQLite's own limit on page numbers (2^31 - 1). */
#define MAX_PAGE 0x7fffffffu

static int
file_open(db_file *f, const char *path, int flags, uint64_t pending_byte)
{
    struct stat st;
    f->path = path;
    if ((f->fd = open(path, flags | O_CLOEXEC)) < 0)
        return hd_error_set(HD_EIO, "cannot open %s: %s", path,
                            strerror(errno));
    if (pread(f->fd, f->hdr, sizeof(f->hdr), 0) != (ssize_t)sizeof(f->hdr) ||
        memcmp(f->hdr, SQLITE_MAGIC, sizeof(SQLITE_MAGIC)) != 0)
        return hd_error_set(HD_ECORRUPT, "%s: not an SQLite database", path);
    f->page_size = be16(f->hdr + 16) == 1 ? 65536 : be16(f->hdr + 16);
    if (f->page_size < 512 || (f->page_size & (f->page_size - 1)) ||
        f->hdr[20] > f->page_size - 480)
        return hd_error_set(HD_ECORRUPT, "%s: page size %u, %u reserved",
                            path, f->page_size, f->hdr[20]);
    f->usable = f->page_size - f->hdr[20];
    /* rollback journal (not WAL), no pointer-map pages (auto_vacuum off):
     * no page outside the b-trees names a page */
    if (f->hdr[18] != 1 || f->hdr[19] != 1 || be32(f->hdr + 52) != 0)
        return hd_error_set(HD_EINVAL, "%s: WAL or auto_vacuum database",
                            path);
    if (fstat(f->fd, &st) < 0)
        return hd_error_set(HD_EIO, "%s: %s", path, strerror(errno));
    /* the header's page count where valid, never past the file's end */
    uint64_t in_file = (uint64_t)st.st_size / f->page_size;
    f->pages = be32(f->hdr + 28);
    if (f->pages == 0 || be32(f->hdr + 24) != be32(f->hdr + 92) ||
        f->pages > in_file)
        f->pages = in_file > MAX_PAGE ? MAX_PAGE : (uint32_t)in_file;
    f->lock_page = (uint32_t)(pending_byte / f->page_size) + 1;
    return 0;
}

static int
page_read(const db_file *f, uint32_t page, unsigned char *buf)
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
static int
write_all(const db_file *f, const unsigned char *buf, size_t n, uint64_t off)
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

/* A page number in a source page (at byte `at`): the destination's number
 * for it goes in its place, and the page in the queue. */
static int
redirect(graft *g, uint32_t page, uint32_t at, int kind)
{
    uint32_t old = be32(g->page + at), to;
    if (old < 2 || old > g->from->pages || old == g->from->lock_page)
        return bad(g->from, page, at, "a page number out of range");
    if (g->seen[old])
        return bad(g->from, page, at, "a page reached twice");
    if (g->next == g->to->lock_page)
        g->next++;
    if (g->next > MAX_PAGE)
        return hd_error_set(HD_EINVAL, "%s: more than %u pages", g->to->path,
                            MAX_PAGE);
    to = g->next++;
    g->seen[old] = 1;
    g->queue[g->tail++] = (queued){old, to, kind};
    put32(g->page + at, to);
    return 0;
}

/* A varint (1-9 bytes) at p within the page's usable bytes, or -1. */
static int
varint(const unsigned char *page, uint32_t usable, uint32_t *p, uint64_t *v)
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
    if (varint(g->page, u, &p, &n) < 0 ||
        (type == 13 && varint(g->page, u, &p, &rowid) < 0))
        return bad(f, page, cell, "a cell runs past the page");
    uint64_t max_local = type == 13 ? u - 35 : (u - 12) * 64 / 255 - 23;
    uint64_t min_local = (u - 12) * 32 / 255 - 23;
    if (n <= max_local)
        return 0;
    uint64_t k = min_local + (n - min_local) % (u - 4);
    uint64_t local = k <= max_local ? k : min_local;
    if (p + local + 4 > u)
        return bad(f, page, cell, "a cell runs past the page");
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
    if ((err = page_read(f, q->from, b)) < 0)
        return err;
    if (q->kind == PAGE_OVERFLOW) {
        if (be32(b) && (err = redirect(g, q->from, 0, PAGE_OVERFLOW)) < 0)
            return err;
    } else {
        int type = b[0];
        int want_interior = q->kind == PAGE_INDEX ? 2 : 5;
        if (type != want_interior && type != want_interior + 8)
            return bad(f, q->from, 0, q->kind == PAGE_INDEX
                                          ? "not an index b-tree page"
                                          : "not a table b-tree page");
        uint32_t head = type == want_interior ? 12 : 8, cells = be16(b + 3);
        if (head + 2 * cells > f->usable)
            return bad(f, q->from, 3, "more cells than the page holds");
        for (uint32_t i = 0; i < cells; i++) {
            uint32_t cell = be16(b + head + 2 * i), spill;
            if (cell < head + 2 * cells || cell + 4 > f->usable)
                return bad(f, q->from, head + 2 * i, "a cell off the page");
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
    return write_all(g->to, b, g->to->page_size, page_offset(g->to, q->to));
}

/* ---- Packing: an index b-tree rebuilt with full pages ----------------------
 *
 * SQLite fills pages fully only where it knows the rows come in order (its
 * index sorts, its transfer of a table); a table written by ordered
 * INSERTs keeps its pages 1/8 empty (edges: 968 pages for 2 M objects
 * against 847).  A tree to pack is read in key order twice: once for the
 * entries' sizes, from which every level's pages are planned (greedily
 * full; the entry that does not fit goes up as the separator between two
 * pages), and once to write the pages as planned.  Index b-trees without
 * overflow only; any other is copied as it is. */

#define PACK_DEPTH 20

typedef struct pack_level {
    uint8_t *up;      /* [m]: item i goes up as a separator (else a cell) */
    uint16_t *len;    /* [m]: its entry's length */
    uint64_t m;       /* items: entries at level 0, separators above */
    uint32_t *page;   /* [pages]: their page numbers */
    uint64_t pages;
    /* writing */
    uint64_t at, ups; /* level 0: entries placed so far; items gone up */
    uint64_t j;       /* the page being filled */
    uint32_t cells, content;
} pack_level;

typedef struct packer {
    graft *g;
    pack_level lv[PACK_DEPTH];
    int top; /* the level of the root page */
    unsigned char *in[PACK_DEPTH], *out[PACK_DEPTH];
    int writing;
    uint32_t max_local;
    uint32_t *marked; /* the pages the planning walk marked seen */
    size_t n_marked;
} packer;

static void
packer_free(packer *p)
{
    free(p->marked);
    for (int k = 0; k < PACK_DEPTH; k++) {
        free(p->lv[k].up);
        free(p->lv[k].len);
        free(p->lv[k].page);
        free(p->in[k]);
        free(p->out[k]);
    }
}

/* A cell's size in a page of level k (with its pointer): SQLite keeps
 * leaf cells 4 bytes or more. */
static uint32_t
cell_cost(int k, uint32_t len)
{
    return (k ? 4 + len : (len < 4 ? 4 : len)) + 2;
}

static uint32_t
page_room(const packer *p, int k)
{
    return p->g->from->usable - (k ? 12 : 8);
}

/* One page of level k as planned: the cells so far, the right-most child
 * (interior), written at its number. */
static int
pack_flush(packer *p, int k, uint32_t right)
{
    pack_level *L = &p->lv[k];
    unsigned char *b = p->out[k];
    b[0] = k ? 2 : 10;
    b[1] = b[2] = 0;
    b[3] = (unsigned char)(L->cells >> 8);
    b[4] = (unsigned char)L->cells;
    b[5] = (unsigned char)(L->content >> 8); /* 65536 is 0 */
    b[6] = (unsigned char)L->content;
    b[7] = 0;
    if (k)
        put32(b + 8, right);
    int err = write_all(p->g->to, b, p->g->to->page_size,
                        page_offset(p->g->to, L->page[L->j]));
    L->j++;
    L->cells = 0;
    L->content = p->g->from->usable;
    memset(b, 0, p->g->to->page_size);
    return err;
}

/* An entry in key order: planned (sizes) or placed (writing). */
static int
pack_entry(packer *p, const unsigned char *e, uint32_t len)
{
    int k = 0;
    if (!p->writing) {
        pack_level *L = &p->lv[0];
        if (L->m % 4096 == 0) {
            uint16_t *n = realloc(L->len, (L->m + 4096) * sizeof(*n));
            if (n == NULL)
                return hd_error_set(HD_ENOMEM, "out of memory (packing)");
            L->len = n;
        }
        L->len[L->m++] = (uint16_t)len;
        return 0;
    }
    uint64_t idx = p->lv[0].at++;
    if (idx >= p->lv[0].m || len != p->lv[0].len[idx]) /* not as planned */
        return hd_error_set(HD_ECORRUPT, "%s: changed while packed",
                            p->g->from->path);
    while (p->lv[k].up[idx]) { /* a boundary of level k: its page is done */
        pack_level *L = &p->lv[k];
        int err = pack_flush(p, k, k ? p->lv[k - 1].page[idx] : 0);
        if (err < 0)
            return err;
        idx = L->ups++;
        k++;
    }
    pack_level *L = &p->lv[k];
    unsigned char *b = p->out[k];
    uint32_t size = cell_cost(k, len) - 2, head = k ? 12 : 8;
    L->content -= size;
    if (k)
        put32(b + L->content, p->lv[k - 1].page[idx]);
    memcpy(b + L->content + (k ? 4 : 0), e, len);
    b[head + 2 * L->cells] = (unsigned char)(L->content >> 8);
    b[head + 2 * L->cells + 1] = (unsigned char)L->content;
    L->cells++;
    return 0;
}

/* The entries of the tree under page, in key order (checked in the
 * planning pass: types, bounds, no overflow, each page once). */
static int
pack_walk(packer *p, uint32_t page, int depth)
{
    const db_file *f = p->g->from;
    int err;
    if (depth >= PACK_DEPTH)
        return bad(f, page, 0, "a b-tree too deep");
    unsigned char *b = p->in[depth];
    if ((err = page_read(f, page, b)) < 0)
        return err;
    int interior = b[0] == 2;
    if (b[0] != 2 && b[0] != 10)
        return bad(f, page, 0, "not an index b-tree page");
    uint32_t head = interior ? 12 : 8, cells = be16(b + 3);
    if (head + 2 * cells > f->usable)
        return bad(f, page, 3, "more cells than the page holds");
    for (uint32_t i = 0; i <= cells; i++) {
        uint32_t at = i < cells ? be16(b + head + 2 * i) : 8;
        if (i < cells && (at < head + 2 * cells || at + 4 > f->usable))
            return bad(f, page, head + 2 * i, "a cell off the page");
        if (interior) {
            uint32_t child = be32(b + at);
            if (!p->writing) {
                if (child < 2 || child > f->pages || child == f->lock_page)
                    return bad(f, page, at, "a page number out of range");
                if (p->g->seen[child])
                    return bad(f, page, at, "a page reached twice");
                if (p->n_marked % 1024 == 0) {
                    uint32_t *m = realloc(p->marked, (p->n_marked + 1024) *
                                                         sizeof(*m));
                    if (m == NULL)
                        return hd_error_set(HD_ENOMEM,
                                            "out of memory (packing)");
                    p->marked = m;
                }
                p->marked[p->n_marked++] = child;
                p->g->seen[child] = 1;
            }
            if ((err = pack_walk(p, child, depth + 1)) != 0)
                return err; /* 1 too: the whole tree is not for packing */
            if (i == cells)
                break;
        } else if (i == cells) {
            break;
        }
        uint32_t q = at + (interior ? 4 : 0);
        uint64_t n;
        if (varint(b, f->usable, &q, &n) < 0)
            return bad(f, page, at, "a cell runs past the page");
        if (n > p->max_local || q + n > f->usable) /* overflow */
            return p->writing ? bad(f, page, at, "changed while packed") : 1;
        uint32_t start = at + (interior ? 4 : 0);
        if ((err = pack_entry(p, b + start, q + (uint32_t)n - start)) != 0)
            return err;
    }
    return 0;
}

/* Which items of level k go up, so that each page is full and none is
 * empty; the level above's items are those. */
static int
pack_plan_level(packer *p, int k)
{
    pack_level *L = &p->lv[k], *U = &p->lv[k + 1];
    uint32_t room = page_room(p, k), used = 0, cells = 0, prev_cells = 0;
    uint64_t last_up = UINT64_MAX, n_up = 0;
    if ((L->up = calloc(L->m ? L->m : 1, 1)) == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory (packing)");
    for (uint64_t i = 0; i < L->m; i++) {
        uint32_t c = cell_cost(k, L->len[i]);
        if (c > room / 3)
            return 1; /* pages of fewer than three cells: not for packing */
        if (cells > 0 && used + c > room) {
            L->up[i] = 1;
            last_up = i;
            n_up++;
            prev_cells = cells;
            used = cells = 0;
            continue;
        }
        used += c;
        cells++;
    }
    if (cells == 0 && last_up != UINT64_MAX) {
        /* the last item went up and left the last page empty: it stays,
         * alone, and the one before it (the previous page's last) goes up */
        if (prev_cells < 2)
            return 1;
        L->up[last_up] = 0;
        L->up[last_up - 1] = 1;
    }
    L->pages = n_up + 1;
    if (n_up == 0)
        return 0;
    U->m = n_up;
    if ((U->len = malloc(n_up * sizeof(*U->len))) == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory (packing)");
    for (uint64_t i = 0, j = 0; i < L->m; i++)
        if (L->up[i])
            U->len[j++] = L->len[i];
    return 0;
}

/* The tree at root packed into the destination, its root at to_root: 0, or
 * 1 where it is not for packing (nothing written, no page numbered). */
static int
pack_tree(graft *g, uint32_t root, uint32_t to_root)
{
    packer p = {.g = g};
    const db_file *f = g->from;
    uint32_t u = f->usable;
    int err = 0;
    p.max_local = (u - 12) * 64 / 255 - 23;
    for (int k = 0; k < PACK_DEPTH; k++)
        if ((p.in[k] = malloc(f->page_size)) == NULL ||
            (p.out[k] = calloc(1, f->page_size)) == NULL) {
            err = hd_error_set(HD_ENOMEM, "out of memory (packing)");
            goto done;
        }
    if ((err = pack_walk(&p, root, 0)) != 0 || p.lv[0].m == 0) {
        err = err ? err : 1;
        goto done;
    }
    for (p.top = 0;; p.top++) {
        if (p.top + 1 >= PACK_DEPTH) {
            err = 1;
            goto done;
        }
        if ((err = pack_plan_level(&p, p.top)) != 0)
            goto done;
        if (p.lv[p.top].pages == 1)
            break;
    }
    /* numbers: the leaves in order, then each level above; the root's own */
    for (int k = 0; k <= p.top; k++) {
        pack_level *L = &p.lv[k];
        if ((L->page = malloc(L->pages * sizeof(*L->page))) == NULL) {
            err = hd_error_set(HD_ENOMEM, "out of memory (packing)");
            goto done;
        }
        for (uint64_t j = 0; j < L->pages; j++) {
            if (k == p.top) {
                L->page[j] = to_root;
                continue;
            }
            if (g->next == g->to->lock_page)
                g->next++;
            if (g->next > MAX_PAGE) {
                err = hd_error_set(HD_EINVAL, "%s: more than %u pages",
                                   g->to->path, MAX_PAGE);
                goto done;
            }
            L->page[j] = g->next++;
        }
        L->content = u;
    }
    p.writing = 1;
    if ((err = pack_walk(&p, root, 0)) != 0)
        goto done;
    for (int k = 0; k <= p.top && err == 0; k++)
        err = pack_flush(&p, k, k ? p.lv[k - 1].page[p.lv[k - 1].pages - 1] : 0);
done:
    if (err == 1) /* copied as it is instead: its pages not yet seen */
        for (size_t i = 0; i < p.n_marked; i++)
            g->seen[p.marked[i]] = 0;
    packer_free(&p);
    return err;
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
    if ((err = page_read(g->from, t->from, g->page)) < 0)
        return err;
    int type = g->page[0];
    if (type != 2 && type != 5 && type != 10 && type != 13)
        return bad(g->from, t->from, 0, "not a b-tree page");
    *kind = type == 2 || type == 10 ? PAGE_INDEX : PAGE_TABLE;
    if ((err = page_read(g->to, t->to, g->page)) < 0)
        return err;
    if (g->page[0] != (*kind == PAGE_INDEX ? 10 : 13) || be16(g->page + 3))
        return bad(g->to, t->to, 0, "not an empty b-tree of the same kind");
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
    if ((err = file_open(&from, from_path, O_RDONLY, pending_byte)) < 0 ||
        (err = file_open(&to, to_path, O_RDWR, pending_byte)) < 0)
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
            err = bad(&from, trees[i].from, 0, "a page reached twice");
            goto done;
        }
        g.seen[trees[i].from] = 1;
        if (trees[i].pack && kinds[i] == PAGE_INDEX) {
            /* 1: not for packing (nothing written, no page numbered):
             * copied as it is */
            if ((err = pack_tree(&g, trees[i].from, trees[i].to)) < 0)
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
    /* the new page count, valid for a change counter one on, made by this
     * SQLite */
    unsigned char fields[8];
    uint32_t change = be32(to.hdr + 24) + 1;
    put32(fields, change);
    put32(fields + 4, g.next - 1);
    if ((err = write_all(&to, fields, 8, 24)) == 0) {
        put32(fields + 4, (uint32_t)sqlite3_libversion_number());
        err = write_all(&to, fields, 8, 92);
    }
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
