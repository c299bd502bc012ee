/* heapdig — MIT licence.
 *
 * store/dbfile.h: an SQLite database file read and written as pages, for
 * graft.c (moving b-trees) and pack.c (rebuilding them full), inside store/
 * only.  The format: https://www.sqlite.org/fileformat2.html (graft.c says
 * which parts of it they rely on).
 */
#ifndef HEAPDIG_STORE_DBFILE_H
#define HEAPDIG_STORE_DBFILE_H

#include "base/base.h"
#include "store/write.h"

#include <stdint.h>

typedef struct db_file {
    const char *path;
    int fd;
    uint32_t page_size, usable, pages, lock_page;
    unsigned char hdr[100];
} db_file;

/* SQLite's own limit on page numbers (2^31 - 1). */
#define MAX_PAGE 0x7fffffffu

static inline uint32_t
be16(const unsigned char *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static inline void
put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline uint64_t
page_offset(const db_file *f, uint32_t page)
{
    return (uint64_t)(page - 1) * f->page_size;
}

/* The most of a payload an index b-tree page keeps (the rest overflows). */
static inline uint32_t
index_max_local(uint32_t usable)
{
    return (usable - 12) * 64 / 255 - 23;
}

/* A source that breaks the format: HD_ECORRUPT naming file, page and byte. */
int hd__dbfile_bad(const db_file *f, uint32_t page, uint32_t at,
                   const char *what);
int hd__page_read(const db_file *f, uint32_t page, unsigned char *buf);
/* All n bytes at off (a short write retried: the retry says why). */
int hd__write_all(const db_file *f, const unsigned char *buf, size_t n,
                  uint64_t off);
/* A varint (1-9 bytes) at *p within the page's usable bytes; -1 past them. */
int hd__varint(const unsigned char *page, uint32_t usable, uint32_t *p,
               uint64_t *v);
/* A b-tree page's cell pointer array (after its head-byte header, cells
 * long) within the page, and each pointer at a cell inside the content
 * area: else HD_ECORRUPT naming the byte. */
int hd__check_cells(const db_file *f, uint32_t page, const unsigned char *b,
                    uint32_t head, uint32_t cells);
/* A page number read in a source page (at byte `at`): within the file,
 * not the lock-byte page, not reached before; marked reached in seen. */
int hd__reach(const db_file *f, unsigned char *seen, uint32_t page,
              uint32_t at, uint32_t child);
/* The destination's next free page number (SQLite's lock-byte page
 * skipped) from *next, or an error past MAX_PAGE. */
int hd__next_page(const db_file *to, uint32_t *next, uint32_t *page);

/* pack.c: the index b-tree at root in `from` rebuilt with full pages into
 * `to`, its root at to_root, new pages numbered from *next; the source's
 * pages are marked in seen.  1 where it is not for packing (an overflowing
 * payload, pages of fewer than three cells): then nothing is written,
 * numbered or marked. */
int hd__btree_pack(const db_file *from, const db_file *to,
                   unsigned char *seen, uint32_t *next, uint32_t root,
                   uint32_t to_root);

/* btree.c: the file opened (flags: O_RDONLY or O_RDWR), its header read
 * and checked; the page count set after writing up to page next - 1. */
int hd__dbfile_open(db_file *f, const char *path, int flags,
                    uint64_t pending_byte);
int hd__dbfile_finish(db_file *to, uint32_t next);
/* The b-tree of src's entries into `to`, its root at root (an empty leaf
 * of the kind), new pages numbered from *next. */
int hd__btree_build(const db_file *to, uint32_t *next, uint32_t root,
                    const hd_btree_source *src);

#endif /* HEAPDIG_STORE_DBFILE_H */
