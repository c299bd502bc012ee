/* heapdig — MIT licence.
 *
 * base/base.h: what every stage of the analyzer shares and nothing of it
 * depends on: errors, timing, the atomic file write, the hash map, the
 * SQL schema's text and version.
 */
#ifndef HEAPDIG_BASE_BASE_H
#define HEAPDIG_BASE_BASE_H

#include "heapdig/heapdig.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h> /* hd__now */

/* Monotonic seconds, for phase timings. */
static inline double
hd__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Memory figures are input (a crafted dump or database may say 2^63):
 * bounded at 2^56 bytes (64 PiB), so that sums of a few cannot overflow. */
#define HD_BYTES_MAX ((int64_t)1 << 56)
static inline int64_t
hd_bytes_bounded(uint64_t v)
{
    return v > (uint64_t)HD_BYTES_MAX ? HD_BYTES_MAX : (int64_t)v;
}

/* ---- error.c -------------------------------------------------------------- */

/* Records an error for hd_error_last() and returns code. */
int hd_error_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int hd_error_set_offset(int code, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hd_error_clear(void);

/* ---- thread.c ----------------------------------------------------------------- */

#include <pthread.h>
/* pthread_create with every signal blocked in the new thread; 0 or an
 * errno value. */
int hd__thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* ---- grow.c ----------------------------------------------------------------- */

/* Room for `need` elements of `size` bytes in the array *arr (arr is a
 * T **) of room *cap: 0, or HD_ENOMEM said, the array as it was. */
int hd_grow(void *arr, size_t *cap, size_t need, size_t size);

/* ---- file.c ----------------------------------------------------------------- */

/* Writes data to path atomically (a temporary name, then rename), mode
 * 0600; a full disk is an error and leaves nothing behind. */
int hd__write_file_atomic(const char *path, const char *data, size_t n);

/* ---- hmap.c: nonzero 64-bit keys -> u32, open addressing ---------------- */
typedef struct hd_hmap {
    uint64_t *keys; /* 0 marks an empty slot */
    uint32_t *vals;
    uint64_t mask, n;
    int shift;      /* 64 - log2(slots) */
} hd_hmap;

/* Room for `more` keys at half load (the first call allocates): 0, or -1
 * out of memory with the map as it was. */
int hd_hmap_reserve(hd_hmap *m, uint64_t more);
/* Keys come from dumps (addresses, hashes of heap text), so a crafted one
 * could choose keys that share a slot and make every probe long: the mix
 * is keyed with a secret drawn per process (hd_hmap_reserve draws it). */
extern uint64_t hd__hmap_seed;
/* Where key's probe starts; go on with (slot + 1) & mask while keys[slot]. */
static inline uint64_t
hd_hmap_first(const hd_hmap *m, uint64_t key)
{
    uint64_t x = key ^ hd__hmap_seed; /* splitmix64's finaliser */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return (x ^ (x >> 31)) >> m->shift;
}
/* Stores key at a slot its probe reached (empty, or holding key). */
void hd_hmap_put_at(hd_hmap *m, uint64_t slot, uint64_t key, uint32_t val);
void hd_hmap_free(hd_hmap *m);

/* ---- the SQL contract (schema/heapdig.sql) ---------------------------------- */

extern const char hd_schema_sql[]; /* generated from schema/heapdig.sql */
/* The version of schema/heapdig.sql's tables, stored last by a load as meta
 * schema_version; databases of another are refused (load the dump again). */
#define HD_SCHEMA_VERSION 11

#endif /* HEAPDIG_BASE_BASE_H */
