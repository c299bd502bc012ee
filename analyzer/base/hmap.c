/* heapdig — MIT licence.
 *
 * hmap.c: the analyzer's one hash map: open addressing, linear probing,
 * nonzero 64-bit keys to 32-bit values.  Callers probe themselves from
 * hd_hmap_first(), so a key may stand for more than itself (a text's hash,
 * checked against the text on a match).  Keys are spread by a Fibonacci
 * multiply, so sequential ids and weak hashes both probe short.
 */
#include "base/base.h"

#include <stdlib.h>

static int
rehash(hd_hmap *m, int bits)
{
    uint64_t cap = (uint64_t)1 << bits;
    hd_hmap t = {calloc((size_t)cap, sizeof(uint64_t)),
                 malloc((size_t)cap * sizeof(uint32_t)), cap - 1, m->n,
                 64 - bits};
    if (t.keys == NULL || t.vals == NULL) {
        free(t.keys);
        free(t.vals);
        return -1;
    }
    for (uint64_t i = 0; m->keys && i <= m->mask; i++) {
        if (!m->keys[i])
            continue;
        uint64_t j = hd_hmap_first(&t, m->keys[i]);
        while (t.keys[j])
            j = (j + 1) & t.mask;
        t.keys[j] = m->keys[i];
        t.vals[j] = m->vals[i];
    }
    hd_hmap_free(m);
    *m = t;
    return 0;
}

int
hd_hmap_reserve(hd_hmap *m, uint64_t more)
{
    int bits = m->keys ? 64 - m->shift : 10;
    while (((uint64_t)1 << bits) < 2 * (m->n + more))
        bits++;
    if (m->keys && bits == 64 - m->shift)
        return 0;
    return rehash(m, bits);
}

void
hd_hmap_put_at(hd_hmap *m, uint64_t slot, uint64_t key, uint32_t val)
{
    if (!m->keys[slot])
        m->n++;
    m->keys[slot] = key;
    m->vals[slot] = val;
}

void
hd_hmap_free(hd_hmap *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->mask = m->n = 0;
}
