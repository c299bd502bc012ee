/* heapdig — MIT licence.
 *
 * hmap.c: the analyzer's one hash map: open addressing, linear probing,
 * nonzero 64-bit keys to 32-bit values.  Callers probe themselves from
 * hd_hmap_first(), so a key may stand for more than itself (a text's hash,
 * checked against the text on a match).  Keys are spread by a keyed
 * mixer, so sequential ids, weak hashes and chosen keys all probe short.
 */
#include "base/base.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

uint64_t hd__hmap_seed;

static void
seed_init(void)
{
    uint64_t s = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &s, sizeof(s)) != (ssize_t)sizeof(s))
            s = 0;
        close(fd);
    }
    if (s == 0) { /* no urandom: the clock and pid are a weaker secret */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^
            ((uint64_t)getpid() << 16);
    }
    hd__hmap_seed = s | 1;
}

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
    /* before any map has a key; once, whichever thread comes first (a map
     * made under one seed and probed under another would lose its keys) */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, seed_init);
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
