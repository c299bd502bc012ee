/* heapdig — MIT licence.
 *
 * ptrset.c: pointer-keyed sets and maps.  The mark set (a paged bitmap, see
 * dumper_int.h) records visited objects; the pointer map numbers types and
 * strings.  Open addressing with linear probing over power-of-two tables kept
 * at most 5/8 full.  Plain
 * malloc: the dumper never allocates Python memory while it walks.
 */
#include "dumper_int.h"

#include <stdlib.h>
#include <string.h>

/* Fibonacci hashing; objects are 16-byte aligned, so drop the low bits. */
static inline size_t
slot_of(uintptr_t p, size_t mask)
{
    return (size_t)(((uint64_t)(p >> 4) * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

static int
map_grow(hd_ptrmap *m)
{
    size_t cap = m->keys ? (m->mask + 1) * 2 : 256;
    uintptr_t *keys = calloc(cap, sizeof(*keys));
    uint32_t *vals = malloc(cap * sizeof(*vals));
    if (keys == NULL || vals == NULL) {
        free(keys);
        free(vals);
        return -1;
    }
    for (size_t i = 0; m->keys && i <= m->mask; i++) {
        if (m->keys[i] == 0)
            continue;
        size_t j = slot_of(m->keys[i], cap - 1);
        while (keys[j] != 0)
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->mask = cap - 1;
    return 0;
}

uint32_t
hd_ptrmap_get(const hd_ptrmap *m, const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    if (m->keys == NULL)
        return 0;
    size_t i = slot_of(p, m->mask);
    while (m->keys[i] != 0) {
        if (m->keys[i] == p)
            return m->vals[i];
        i = (i + 1) & m->mask;
    }
    return 0;
}

int
hd_ptrmap_put(hd_ptrmap *m, const void *ptr, uint32_t v)
{
    uintptr_t p = (uintptr_t)ptr;
    if (m->keys == NULL || (m->n + 1) * 8 > (m->mask + 1) * 5) {
        if (map_grow(m) < 0)
            return -1;
    }
    size_t i = slot_of(p, m->mask);
    while (m->keys[i] != 0 && m->keys[i] != p)
        i = (i + 1) & m->mask;
    if (m->keys[i] == 0)
        m->n++;
    m->keys[i] = p;
    m->vals[i] = v;
    return 0;
}

void
hd_ptrmap_dispose(hd_ptrmap *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->mask = m->n = 0;
}

/* ---- The mark set ------------------------------------------------------- */

#define PAGE_WORDS ((1u << (HD_MARK_PAGE_SHIFT - 4)) / 64)

static int
mark_grow(hd_markset *s)
{
    size_t cap = s->pages ? (s->mask + 1) * 2 : 256;
    uintptr_t *pages = calloc(cap, sizeof(*pages));
    uint64_t **bits = malloc(cap * sizeof(*bits));
    if (pages == NULL || bits == NULL) {
        free(pages);
        free(bits);
        return -1;
    }
    for (size_t i = 0; s->pages && i <= s->mask; i++) {
        if (s->pages[i] == 0)
            continue;
        size_t j = slot_of(s->pages[i] << 4, cap - 1);
        while (pages[j] != 0)
            j = (j + 1) & (cap - 1);
        pages[j] = s->pages[i];
        bits[j] = s->bits[i];
    }
    free(s->pages);
    free(s->bits);
    s->pages = pages;
    s->bits = bits;
    s->mask = cap - 1;
    return 0;
}

static uint64_t *
mark_page(hd_markset *s, uintptr_t page)
{
    if (s->pages == NULL || (s->n_pages + 1) * 8 > (s->mask + 1) * 5) {
        if (mark_grow(s) < 0)
            return NULL;
    }
    size_t i = slot_of((page + 1) << 4, s->mask);
    while (s->pages[i] != 0) {
        if (s->pages[i] == page + 1)
            return s->bits[i];
        i = (i + 1) & s->mask;
    }
    uint64_t *b = calloc(PAGE_WORDS, sizeof(uint64_t));
    if (b == NULL)
        return NULL;
    s->pages[i] = page + 1;
    s->bits[i] = b;
    s->n_pages++;
    return b;
}

int
hd_markset_add(hd_markset *s, const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr, page = p >> HD_MARK_PAGE_SHIFT;
    uint64_t *bits = s->last_bits;
    if (bits == NULL || page != s->last_page) {
        if ((bits = mark_page(s, page)) == NULL)
            return -1;
        s->last_page = page;
        s->last_bits = bits;
    }
    size_t g = (p >> 4) & ((1u << (HD_MARK_PAGE_SHIFT - 4)) - 1);
    uint64_t m = 1ull << (g & 63);
    if (bits[g >> 6] & m)
        return 0;
    bits[g >> 6] |= m;
    s->n++;
    return 1;
}

void
hd_markset_dispose(hd_markset *s)
{
    for (size_t i = 0; s->pages && i <= s->mask; i++)
        if (s->pages[i])
            free(s->bits[i]);
    free(s->pages);
    free(s->bits);
    memset(s, 0, sizeof(*s));
}

size_t
hd_markset_memory(const hd_markset *s)
{
    return s->n_pages * PAGE_WORDS * sizeof(uint64_t) +
           (s->pages ? (s->mask + 1) * (sizeof(uintptr_t) + sizeof(void *))
                     : 0);
}
