/* heapdig — MIT licence.
 *
 * ptrset.c: the pointer set that marks visited objects and the pointer map
 * that numbers types and strings.  Open addressing with linear probing over a
 * power-of-two table kept at most 5/8 full: 8 bytes per slot for the set, so
 * about 13 bytes per object, inside the dumper's 24-byte budget.  Plain
 * malloc: the dumper never allocates Python memory while it walks.
 */
#include "dumper_int.h"

#include <stdlib.h>

/* Fibonacci hashing; objects are 16-byte aligned, so drop the low bits. */
static inline size_t
slot_of(uintptr_t p, size_t mask)
{
    return (size_t)(((uint64_t)(p >> 4) * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

static int
set_grow(hd_ptrset *s)
{
    size_t cap = s->slots ? (s->mask + 1) * 2 : 1024;
    uintptr_t *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; s->slots && i <= s->mask; i++) {
        uintptr_t p = s->slots[i];
        if (p == 0)
            continue;
        size_t j = slot_of(p, cap - 1);
        while (slots[j] != 0)
            j = (j + 1) & (cap - 1);
        slots[j] = p;
    }
    free(s->slots);
    s->slots = slots;
    s->mask = cap - 1;
    return 0;
}

int
hd_ptrset_add(hd_ptrset *s, const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    if (s->slots == NULL || (s->n + 1) * 8 > (s->mask + 1) * 5) {
        if (set_grow(s) < 0)
            return -1;
    }
    size_t i = slot_of(p, s->mask);
    while (s->slots[i] != 0) {
        if (s->slots[i] == p)
            return 0;
        i = (i + 1) & s->mask;
    }
    s->slots[i] = p;
    s->n++;
    return 1;
}

int
hd_ptrset_has(const hd_ptrset *s, const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    if (s->slots == NULL)
        return 0;
    size_t i = slot_of(p, s->mask);
    while (s->slots[i] != 0) {
        if (s->slots[i] == p)
            return 1;
        i = (i + 1) & s->mask;
    }
    return 0;
}

void
hd_ptrset_dispose(hd_ptrset *s)
{
    free(s->slots);
    s->slots = NULL;
    s->mask = s->n = 0;
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
