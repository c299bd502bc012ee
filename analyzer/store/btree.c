/* heapdig — MIT licence.
 *
 * btree.c: an SQLite b-tree written page by page from entries made in key
 * order (hd_btree_source), into an empty table or index of a database file
 * that SQLite does not have open.  SQLite's own way, INSERT and then
 * CREATE INDEX, encodes every row, sorts every index in temporary files and
 * then inserts the sorted keys: 10 M objects and 15 M references spent
 * 20 s there.  Here the heap's arrays, already in memory and put in order by
 * a counting or radix sort, become full pages directly.
 *
 * The entries are read twice: once for their sizes, from which every
 * level's pages are planned (greedily full), and once to write the pages as
 * planned.  In an index b-tree the entry that does not fit goes up as the
 * separator between two pages; in a table b-tree (rowid keys) every row
 * stays in a leaf and the last rowid of each leaf goes up.  A table row
 * longer than a page keeps spills into overflow pages.  What it relies on
 * is SQLite's file format (https://www.sqlite.org/fileformat2.html):
 * records (a header of serial types, then the values; schema format 4,
 * where 0 and 1 take no bytes), b-tree pages (type byte, cell count at 3,
 * content start at 5, right-most child at 8 on interior pages, the cell
 * pointer array after the 8- or 12-byte header), cells (a 4-byte left
 * child on interior pages; a leaf cell's payload size, rowid for tables,
 * the local part of the payload and a 4-byte overflow page where it
 * spills) and overflow pages (the next page's number, then the payload).
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

/* ---- The file's pages ------------------------------------------------------ */

typedef struct db_file {
    const char *path;
    int fd;
    uint32_t page_size, usable, pages, lock_page;
    unsigned char hdr[100];
} db_file;

/* SQLite's own limit on page numbers (2^31 - 1). */
#define MAX_PAGE 0x7fffffffu

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

/* The most of a payload an index b-tree page keeps (the rest overflows). */
static uint32_t
index_max_local(uint32_t usable)
{
    return (usable - 12) * 64 / 255 - 23;
}

/* A page that breaks the format: HD_ECORRUPT naming file, page and byte. */
static int
page_bad(const db_file *f, uint32_t page, uint32_t at, const char *what)
{
    return hd_error_set(HD_ECORRUPT, "%s: page %u (byte %llu): %s", f->path,
                        page,
                        (unsigned long long)(page_offset(f, page) + at), what);
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

/* The next free page number (SQLite's lock-byte page skipped) from *next,
 * or an error past MAX_PAGE. */
static int
next_page(const db_file *to, uint32_t *next, uint32_t *page)
{
    if (*next == to->lock_page)
        (*next)++;
    if (*next > MAX_PAGE)
        return hd_error_set(HD_EINVAL, "%s: more than %u pages", to->path,
                            MAX_PAGE);
    *page = (*next)++;
    return 0;
}

/* ---- Records ----------------------------------------------------------------- */

static int
varint_len(uint64_t v)
{
    if (v > 0x00ffffffffffffffull)
        return 9;
    int n = 1;
    while (v >>= 7)
        n++;
    return n;
}

static int
varint_put(unsigned char *p, uint64_t v)
{
    if (v > 0x00ffffffffffffffull) {
        p[8] = (unsigned char)v;
        v >>= 8;
        for (int i = 7; i >= 0; i--, v >>= 7)
            p[i] = (unsigned char)((v & 0x7f) | 0x80);
        return 9;
    }
    int n = varint_len(v);
    for (int i = n - 1; i >= 0; i--, v >>= 7)
        p[i] = (unsigned char)((v & 0x7f) | (i == n - 1 ? 0 : 0x80));
    return n;
}

/* SQLite's serial type for an integer (schema format 4) and its bytes. */
static uint32_t
int_type(int64_t v, int *bytes)
{
    static const int size[] = {0, 1, 2, 3, 4, 6, 8};
    uint64_t u = v < 0 ? ~(uint64_t)v : (uint64_t)v;
    uint32_t t;
    if (v == 0 || v == 1)
        t = 8 + (uint32_t)v;
    else if (u <= 127)
        t = 1;
    else if (u <= 32767)
        t = 2;
    else if (u <= 8388607)
        t = 3;
    else if (u <= 2147483647)
        t = 4;
    else if (u <= 140737488355327ll)
        t = 5;
    else
        t = 6;
    *bytes = t >= 8 ? 0 : size[t];
    return t;
}

size_t
hd__record(unsigned char *buf, size_t cap, const hd_value *v, int n)
{
    uint64_t types = 0, body = 0;
    for (int i = 0; i < n; i++) {
        int bytes = 0;
        uint64_t t = v[i].kind == HD_V_NULL ? 0
                     : v[i].kind == HD_V_TEXT ? 13 + 2 * (uint64_t)v[i].len
                                              : int_type(v[i].num, &bytes);
        if (v[i].kind == HD_V_TEXT)
            bytes = (int)v[i].len;
        types += (uint64_t)varint_len(t);
        body += (uint64_t)bytes;
    }
    /* the header's size counts its own varint */
    uint64_t head = types + 1;
    if (varint_len(head) > 1)
        head = types + (uint64_t)varint_len(types + 2);
    size_t total = (size_t)(head + body);
    if (total > cap)
        return total;
    unsigned char *p = buf + varint_put(buf, head), *d = buf + head;
    for (int i = 0; i < n; i++) {
        if (v[i].kind == HD_V_NULL) {
            *p++ = 0;
        } else if (v[i].kind == HD_V_TEXT) {
            p += varint_put(p, 13 + 2 * (uint64_t)v[i].len);
            memcpy(d, v[i].text, v[i].len);
            d += v[i].len;
        } else {
            int bytes;
            *p++ = (unsigned char)int_type(v[i].num, &bytes);
            for (int b = bytes - 1; b >= 0; b--)
                *d++ = (unsigned char)((uint64_t)v[i].num >> (8 * b));
        }
    }
    return total;
}

/* ---- Planning and writing -------------------------------------------------- */

#define DEPTH 20

typedef struct level {
    uint8_t *up;    /* [m]: index: item i goes up; table leaves: row i starts a leaf */
    uint16_t *len;  /* [m]: its cell's length (interior: without the child) */
    uint64_t m;     /* items: entries at level 0, separators above */
    uint32_t *page; /* [pages]: their page numbers */
    uint64_t pages;
    uint64_t ups;   /* writing: items gone up so far */
    uint64_t j;     /* the page being filled */
    uint32_t cells, content;
} level;

typedef struct builder {
    const db_file *to;
    const hd_btree_source *src;
    uint32_t *next;
    level lv[DEPTH];
    int top, table, writing;
    uint8_t *rowid_len; /* table: each row's rowid's varint length */
    unsigned char *out[DEPTH], *spill;
    unsigned char *rec;
    size_t cap;
    int64_t rowid, prev_rowid;
    uint32_t max_local, min_local;
} builder;

static void
builder_free(builder *b)
{
    for (int k = 0; k < DEPTH; k++) {
        free(b->lv[k].up);
        free(b->lv[k].len);
        free(b->lv[k].page);
        free(b->out[k]);
    }
    free(b->rowid_len);
    free(b->spill);
    free(b->rec);
}

/* A cell's size in a page of level k (with its pointer): SQLite keeps
 * leaf cells 4 bytes or more. */
static uint32_t
cell_cost(int k, uint32_t len)
{
    return (k ? 4 + len : (len < 4 ? 4 : len)) + 2;
}

static uint32_t
page_room(const builder *b, int k)
{
    return b->to->usable - (k ? 12 : 8);
}

/* How much of a table row's payload of n bytes stays in its leaf. */
static uint32_t
local_of(const builder *b, uint64_t n)
{
    if (n <= b->max_local)
        return (uint32_t)n;
    uint64_t k = b->min_local + (n - b->min_local) % (b->to->usable - 4);
    return k <= b->max_local ? (uint32_t)k : b->min_local;
}

/* Entry i's record into b->rec + HEADROOM (room before it for its cell's
 * payload size) when writing, its length alone when planning; the length
 * into *n. */
#define HEADROOM 9

static int
entry(builder *b, uint64_t i, uint64_t *n)
{
    size_t len;
    if (!b->writing) {
        len = b->src->entry(b->src->ctx, i, NULL, 0, &b->rowid);
    } else if ((len = b->src->entry(b->src->ctx, i, b->rec + HEADROOM,
                                    b->cap - HEADROOM, &b->rowid)) >
               b->cap - HEADROOM) {
        unsigned char *r = realloc(b->rec, len + HEADROOM);
        if (r == NULL)
            return hd_error_set(HD_ENOMEM, "out of memory (%s)", b->src->name);
        b->rec = r;
        b->cap = len + HEADROOM;
        len = b->src->entry(b->src->ctx, i, b->rec + HEADROOM,
                            b->cap - HEADROOM, &b->rowid);
    }
    if (b->table && i > 0 && b->rowid <= b->prev_rowid)
        return hd_error_set(HD_EINVAL, "%s: rowid %lld after %lld",
                            b->src->name, (long long)b->rowid,
                            (long long)b->prev_rowid);
    if (!b->table && len > b->max_local)
        return hd_error_set(HD_EINVAL, "%s: an entry of %zu bytes",
                            b->src->name, len);
    *n = len;
    return 0;
}

/* One page of level k as planned: the cells so far, the right-most child
 * (interior), written at its number. */
static int
flush(builder *b, int k, uint32_t right)
{
    level *L = &b->lv[k];
    unsigned char *p = b->out[k];
    p[0] = (unsigned char)(b->table ? (k ? 5 : 13) : (k ? 2 : 10));
    p[1] = p[2] = 0;
    p[3] = (unsigned char)(L->cells >> 8);
    p[4] = (unsigned char)L->cells;
    p[5] = (unsigned char)(L->content >> 8); /* 65536 is 0 */
    p[6] = (unsigned char)L->content;
    p[7] = 0;
    if (k)
        put32(p + 8, right);
    int err = write_all(b->to, p, b->to->page_size,
                            page_offset(b->to, L->page[L->j]));
    L->j++;
    L->cells = 0;
    L->content = b->to->usable;
    memset(p, 0, b->to->page_size);
    return err;
}

/* Room for a cell of len bytes at level k: where it starts. */
static unsigned char *
cell_at(builder *b, int k, uint32_t len)
{
    level *L = &b->lv[k];
    unsigned char *p = b->out[k];
    uint32_t head = k ? 12 : 8;
    L->content -= cell_cost(k, len) - 2;
    p[head + 2 * L->cells] = (unsigned char)(L->content >> 8);
    p[head + 2 * L->cells + 1] = (unsigned char)L->content;
    L->cells++;
    return p + L->content;
}

/* Item idx of level k placed: the pages it closes on its way up, then its
 * cell where it stays (interior: after its left child). */
static int
place(builder *b, int k, uint64_t idx, const unsigned char *e, uint32_t len)
{
    while (b->lv[k].up[idx]) {
        int err = flush(b, k, k ? b->lv[k - 1].page[idx] : 0);
        if (err < 0)
            return err;
        idx = b->lv[k].ups++;
        k++;
    }
    unsigned char *c = cell_at(b, k, len);
    if (k) {
        put32(c, b->lv[k - 1].page[idx]);
        c += 4;
    }
    memcpy(c, e, len);
    return 0;
}

/* A table row in its leaf: its payload's local part there, the rest in a
 * chain of overflow pages numbered as written. */
static int
place_row(builder *b, const unsigned char *rec, uint64_t n, uint32_t len)
{
    uint32_t local = local_of(b, n), u = b->to->usable;
    unsigned char *c = cell_at(b, 0, len);
    c += varint_put(c, n);
    c += varint_put(c, (uint64_t)b->rowid);
    memcpy(c, rec, local);
    if (local == n)
        return 0;
    uint32_t page = 0;
    int err;
    if ((err = next_page(b->to, b->next, &page)) < 0)
        return err;
    put32(c + local, page);
    for (uint64_t at = local; at < n;) {
        uint64_t part = n - at < u - 4 ? n - at : u - 4;
        uint32_t next = 0;
        if (at + part < n && (err = next_page(b->to, b->next, &next)) < 0)
            return err;
        memset(b->spill, 0, b->to->page_size);
        put32(b->spill, next);
        memcpy(b->spill + 4, rec + at, (size_t)part);
        if ((err = write_all(b->to, b->spill, b->to->page_size,
                                 page_offset(b->to, page))) < 0)
            return err;
        at += part;
        page = next;
    }
    return 0;
}

/* Every entry: planned (lengths) or written. */
static int
pass(builder *b)
{
    unsigned char sep[9];
    level *L = &b->lv[0];
    int err;
    for (uint64_t i = 0; i < b->src->n; i++) {
        uint64_t n = 0;
        if ((err = entry(b, i, &n)) < 0)
            return err;
        uint32_t local = b->table ? local_of(b, n) : (uint32_t)n;
        uint32_t len = (uint32_t)varint_len(n) + local +
                       (b->table ? (uint32_t)varint_len((uint64_t)b->rowid) +
                                       (local < n ? 4 : 0)
                                 : 0);
        if (!b->writing) {
            L->len[i] = (uint16_t)len;
            if (b->table)
                b->rowid_len[i] = (uint8_t)varint_len((uint64_t)b->rowid);
        } else if (len != L->len[i]) {
            return hd_error_set(HD_EINVAL, "%s: entry %llu changed while "
                                "written", b->src->name, (unsigned long long)i);
        } else if (b->table) {
            /* a new leaf: the last one's last rowid goes up */
            if (L->up[i] && ((err = flush(b, 0, 0)) < 0 ||
                             (err = place(b, 1, L->ups++, sep,
                                          (uint32_t)varint_put(
                                              sep, (uint64_t)b->prev_rowid))) < 0))
                return err;
            if ((err = place_row(b, b->rec + HEADROOM, n, len)) < 0)
                return err;
        } else {
            /* an index cell: the payload's size, then the record */
            int h = varint_len(n);
            unsigned char *cell = b->rec + HEADROOM - h;
            varint_put(cell, n);
            if ((err = place(b, 0, i, cell, len)) < 0)
                return err;
        }
        b->prev_rowid = b->rowid;
    }
    return 0;
}

/* Level k's pages (n_up items marked up, plus one) and the level above's
 * items: the separators' cell lengths, which for table leaves are the
 * last rowid before each new leaf. */
static int
lift(builder *b, int k, uint64_t n_up)
{
    level *L = &b->lv[k], *U = &b->lv[k + 1];
    int leaves = b->table && k == 0;
    L->pages = n_up + 1;
    if (n_up == 0)
        return 0;
    U->m = n_up;
    if ((U->len = malloc(n_up * sizeof(*U->len))) == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory (%s)", b->src->name);
    for (uint64_t i = 0, j = 0; i < L->m; i++)
        if (L->up[i])
            U->len[j++] = leaves ? b->rowid_len[i - 1] : L->len[i];
    return 0;
}

/* Table leaves: greedily full; a row that does not fit starts the next
 * leaf, and the last rowid before it goes up. */
static int
plan_leaves(builder *b)
{
    level *L = &b->lv[0];
    uint32_t room = page_room(b, 0), used = 0;
    uint64_t n_up = 0;
    for (uint64_t i = 0; i < L->m; i++) {
        uint32_t c = cell_cost(0, L->len[i]);
        if (used > 0 && used + c > room) {
            L->up[i] = 1;
            n_up++;
            used = 0;
        }
        used += c;
    }
    return lift(b, 0, n_up);
}

/* Which items of level k go up (index leaves and every interior level), so
 * that each page is full and none is empty; the level above's items are
 * those. */
static int
plan_level(builder *b, int k)
{
    level *L = &b->lv[k];
    uint32_t room = page_room(b, k), used = 0, cells = 0, prev_cells = 0;
    uint64_t last_up = UINT64_MAX, n_up = 0;
    for (uint64_t i = 0; i < L->m; i++) {
        uint32_t c = cell_cost(k, L->len[i]);
        if (c > room / 3) /* entries are at most a quarter of a page */
            return hd_error_set(HD_EINVAL, "%s: an entry of %u bytes",
                                b->src->name, L->len[i]);
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
            return hd_error_set(HD_EINVAL, "%s: pages of one entry",
                                b->src->name);
        L->up[last_up] = 0;
        L->up[last_up - 1] = 1;
    }
    return lift(b, k, n_up);
}

/* The b-tree of src's entries into `to`, its root at root (an empty leaf
 * of the kind), new pages numbered from *next. */
static int
build(const db_file *to, uint32_t *next, uint32_t root,
                const hd_btree_source *src)
{
    builder b = {.to = to, .src = src, .next = next, .table = src->table};
    uint32_t u = to->usable;
    int err = 0;
    if (src->n == 0) /* the root stays the empty leaf it is */
        return 0;
    b.max_local = b.table ? u - 35 : index_max_local(u);
    b.min_local = (u - 12) * 32 / 255 - 23;
    b.cap = 256;
    b.lv[0].m = src->n;
    if ((b.rec = malloc(b.cap)) == NULL ||
        (b.spill = malloc(to->page_size)) == NULL ||
        (b.lv[0].len = malloc(src->n * sizeof(uint16_t))) == NULL ||
        (b.table && (b.rowid_len = malloc(src->n)) == NULL)) {
        err = hd_error_set(HD_ENOMEM, "out of memory (%s)", src->name);
        goto done;
    }
    for (int k = 0; k < DEPTH; k++)
        if ((b.out[k] = calloc(1, to->page_size)) == NULL) {
            err = hd_error_set(HD_ENOMEM, "out of memory (%s)", src->name);
            goto done;
        }
    if ((err = pass(&b)) < 0)
        goto done;
    for (b.top = 0;; b.top++) {
        if (b.top + 1 >= DEPTH) {
            err = hd_error_set(HD_EINVAL, "%s: a b-tree too deep", src->name);
            goto done;
        }
        level *L = &b.lv[b.top];
        if ((L->up = calloc(L->m, 1)) == NULL) {
            err = hd_error_set(HD_ENOMEM, "out of memory (%s)", src->name);
            goto done;
        }
        if ((err = b.table && b.top == 0 ? plan_leaves(&b)
                                         : plan_level(&b, b.top)) < 0)
            goto done;
        if (L->pages == 1)
            break;
    }
    /* numbers: the leaves in order, then each level above; the root's own */
    for (int k = 0; k <= b.top; k++) {
        level *L = &b.lv[k];
        if ((L->page = malloc(L->pages * sizeof(*L->page))) == NULL) {
            err = hd_error_set(HD_ENOMEM, "out of memory (%s)", src->name);
            goto done;
        }
        for (uint64_t j = 0; j < L->pages; j++) {
            if (k == b.top)
                L->page[j] = root;
            else if ((err = next_page(to, next, &L->page[j])) < 0)
                goto done;
        }
        L->content = u;
    }
    b.writing = 1;
    if ((err = pass(&b)) < 0)
        goto done;
    for (int k = 0; k <= b.top && err == 0; k++)
        err = flush(&b, k, k ? b.lv[k - 1].page[b.lv[k - 1].pages - 1] : 0);
done:
    builder_free(&b);
    return err;
}

/* ---- The file ---------------------------------------------------------------- */

/* The file opened (flags: O_RDONLY or O_RDWR), its header read and
 * checked. */
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

/* The page count set after writing up to page next - 1. */
static int
file_finish(db_file *to, uint32_t next)
{
    /* the new page count, valid for a change counter one on, made by this
     * SQLite */
    unsigned char fields[8];
    int err;
    put32(fields, be32(to->hdr + 24) + 1);
    put32(fields + 4, next - 1);
    if ((err = write_all(to, fields, 8, 24)) == 0) {
        put32(fields + 4, (uint32_t)sqlite3_libversion_number());
        err = write_all(to, fields, 8, 92);
    }
    return err;
}

int
hd_btree_fill(const char *path, const hd_btree_fill_tree *trees, size_t n,
              uint64_t pending_byte)
{
    db_file to = {.fd = -1};
    unsigned char page[16];
    int err;
    if ((err = file_open(&to, path, O_RDWR, pending_byte)) < 0)
        goto done;
    /* records as this file encodes them: UTF-8 texts, 0 and 1 in no bytes */
    if (be32(to.hdr + 44) != 4 || be32(to.hdr + 56) != 1) {
        err = hd_error_set(HD_EINVAL, "%s: schema format %u, text encoding "
                           "%u (heapdig writes 4 and UTF-8)", path,
                           be32(to.hdr + 44), be32(to.hdr + 56));
        goto done;
    }
    /* every root checked before anything is written */
    for (size_t i = 0; i < n; i++) {
        uint32_t r = trees[i].root;
        if (r < 2 || r > to.pages || r == to.lock_page) {
            err = hd_error_set(HD_EINVAL, "%s: %s's root %u out of range",
                               path, trees[i].src.name, r);
            goto done;
        }
        if (pread(to.fd, page, sizeof(page), (off_t)page_offset(&to, r)) !=
            (ssize_t)sizeof(page)) {
            err = hd_error_set(HD_EIO, "cannot read %s, page %u", path, r);
            goto done;
        }
        if (page[0] != (trees[i].src.table ? 13 : 10) || be16(page + 3)) {
            err = page_bad(&to, r, 0, trees[i].src.table
                                 ? "not an empty table b-tree"
                                 : "not an empty index b-tree");
            goto done;
        }
    }
    uint32_t next = to.pages + 1;
    for (size_t i = 0; i < n; i++)
        if ((err = build(&to, &next, trees[i].root,
                                   &trees[i].src)) < 0)
            goto done;
    err = file_finish(&to, next);
done:
    if (to.fd >= 0 && close(to.fd) < 0 && err == 0)
        err = hd_error_set(HD_EIO, "cannot write %s: %s", path,
                           strerror(errno));
    return err;
}
