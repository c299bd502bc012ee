/* heapdig — MIT licence.
 *
 * pack.c: an index b-tree rebuilt with full pages as graft.c moves it.
 * SQLite fills pages fully only where it knows the rows come in order (its
 * index sorts, its transfer of a table); a table written by ordered
 * INSERTs keeps its pages 1/8 empty (edges: 968 pages for 2 M objects
 * against 847).  A tree to pack is read in key order twice: once for the
 * entries' sizes, from which every level's pages are planned (greedily
 * full; the entry that does not fit goes up as the separator between two
 * pages), and once to write the pages as planned.  Index b-trees without
 * overflow only; any other is copied as it is.
 */
#include "store/dbfile.h"

#include <stdlib.h>
#include <string.h>

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
    const db_file *from, *to;
    unsigned char *seen; /* the source's pages reached */
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
    return p->from->usable - (k ? 12 : 8);
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
    int err = hd__write_all(p->to, b, p->to->page_size,
                        page_offset(p->to, L->page[L->j]));
    L->j++;
    L->cells = 0;
    L->content = p->from->usable;
    memset(b, 0, p->to->page_size);
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
                            p->from->path);
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
    const db_file *f = p->from;
    int err;
    if (depth >= PACK_DEPTH)
        return hd__dbfile_bad(f, page, 0, "a b-tree too deep");
    unsigned char *b = p->in[depth];
    if ((err = hd__page_read(f, page, b)) < 0)
        return err;
    int interior = b[0] == 2;
    if (b[0] != 2 && b[0] != 10)
        return hd__dbfile_bad(f, page, 0, "not an index b-tree page");
    uint32_t head = interior ? 12 : 8, cells = be16(b + 3);
    if ((err = hd__check_cells(f, page, b, head, cells)) < 0)
        return err;
    for (uint32_t i = 0; i <= cells; i++) {
        uint32_t at = i < cells ? be16(b + head + 2 * i) : 8;
        if (interior) {
            uint32_t child = be32(b + at);
            if (!p->writing) {
                if ((err = hd__reach(f, p->seen, page, at, child)) < 0)
                    return err;
                if (p->n_marked % 1024 == 0) {
                    uint32_t *m = realloc(p->marked, (p->n_marked + 1024) *
                                                         sizeof(*m));
                    if (m == NULL)
                        return hd_error_set(HD_ENOMEM,
                                            "out of memory (packing)");
                    p->marked = m;
                }
                p->marked[p->n_marked++] = child;
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
        if (hd__varint(b, f->usable, &q, &n) < 0)
            return hd__dbfile_bad(f, page, at, "a cell runs past the page");
        if (n > p->max_local || q + n > f->usable) /* overflow */
            return p->writing ? hd__dbfile_bad(f, page, at, "changed while packed") : 1;
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

int
hd__btree_pack(const db_file *from, const db_file *to, unsigned char *seen,
               uint32_t *next, uint32_t root, uint32_t to_root)
{
    packer p = {.from = from, .to = to, .seen = seen};
    const db_file *f = from;
    uint32_t u = f->usable;
    int err = 0;
    p.max_local = index_max_local(u);
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
            if ((err = hd__next_page(to, next, &L->page[j])) < 0)
                goto done;
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
            seen[p.marked[i]] = 0;
    packer_free(&p);
    return err;
}

