/* heapdig — MIT licence.
 *
 * inflate.c: a thread that reads a gzip file and inflates it while the
 * caller parses what it has already been given, so that reading a dump
 * takes both cores (inflating is a third of it).  The pieces come in file
 * order; an error the thread meets (damaged compressed data, a read error)
 * comes after every piece inflated before it, as it would inflating and
 * parsing in turn, so the parser's own error, earlier in the stream, wins.
 */
#include "read/read.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SLOTS 4
#define SLOT_BYTES (1u << 20)
#define IN_BYTES (1u << 20)

typedef struct slot {
    uint8_t *p;
    size_t n;
    uint64_t file_bytes; /* compressed bytes read when it was filled */
} slot;

struct hd_inflater {
    FILE *f;
    const char *path;
    uint8_t *first;  /* the file's first bytes, read by the caller */
    size_t n_first;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t filled, freed;
    slot slots[SLOTS];
    int head, count; /* the oldest filled slot; how many are filled */
    int held;        /* the caller holds slots[head] (until its next call) */
    int done;        /* the thread has filled its last slot */
    int stop;        /* the caller wants no more */
    int cut_short;   /* the file ended inside a gzip member */
    hd_error error;  /* the thread's, said to the caller at the end */
    int err;
};

/* Waits for a free slot; NULL if the caller stopped. */
static slot *
free_slot(hd_inflater *z)
{
    slot *s = NULL;
    pthread_mutex_lock(&z->mu);
    while (!z->stop && z->count == SLOTS)
        pthread_cond_wait(&z->freed, &z->mu);
    if (!z->stop)
        s = &z->slots[(z->head + z->count) % SLOTS];
    pthread_mutex_unlock(&z->mu);
    return s;
}

static void
publish(hd_inflater *z, int last)
{
    pthread_mutex_lock(&z->mu);
    if (!last || z->slots[(z->head + z->count) % SLOTS].n)
        z->count++;
    z->done = last;
    pthread_cond_signal(&z->filled);
    pthread_mutex_unlock(&z->mu);
}

/* The thread's error, kept for the caller (errors are per thread). */
static void
fail(hd_inflater *z, int err)
{
    z->err = err;
    z->error = *hd_error_last();
}

static void *
inflate_file(void *arg)
{
    hd_inflater *z = arg;
    z_stream zs;
    uint8_t *in = malloc(IN_BYTES);
    uint64_t file_bytes = z->n_first, out_total = 0;
    int member_done = 0, eof = 0;
    memset(&zs, 0, sizeof(zs));
    if (in == NULL || inflateInit2(&zs, 15 + 32) != Z_OK) {
        fail(z, hd_error_set(HD_ENOMEM, "out of memory"));
        free(in);
        publish(z, 1);
        return NULL;
    }
    zs.next_in = z->first;
    zs.avail_in = (uInt)z->n_first;
    for (;;) {
        slot *s = free_slot(z);
        if (s == NULL)
            break;
        s->n = 0;
        while (s->n < SLOT_BYTES && z->err == 0) {
            if (zs.avail_in == 0 && !eof) {
                size_t n = fread(in, 1, IN_BYTES, z->f);
                if (n == 0 && ferror(z->f))
                    fail(z, hd_error_set(HD_EIO, "reading %s: %s", z->path,
                                         strerror(errno)));
                eof = n == 0;
                file_bytes += n;
                zs.next_in = in;
                zs.avail_in = (uInt)n;
            }
            if (zs.avail_in == 0)
                break; /* the end of the file */
            if (member_done) { /* another gzip member follows */
                if (inflateReset(&zs) != Z_OK) {
                    fail(z, hd_error_set(HD_ENOMEM, "inflateReset"));
                    break;
                }
                member_done = 0;
            }
            zs.next_out = s->p + s->n;
            zs.avail_out = (uInt)(SLOT_BYTES - s->n);
            int zr = inflate(&zs, Z_NO_FLUSH);
            size_t got = SLOT_BYTES - s->n - zs.avail_out;
            /* every byte inflate gave is parsed, a failing call's too: a
             * record it spoils says so before the damage itself does,
             * however the output was cut into pieces */
            out_total += got;
            s->n += got;
            if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR)
                /* as the reader says it: where the damage is in the
                 * inflated stream, and how far into the member */
                fail(z, hd_error_set_offset(
                            HD_ECORRUPT, out_total, "corrupt dump at byte "
                            "%llu: compressed data is damaged (%s; %llu "
                            "compressed bytes in)",
                            (unsigned long long)out_total,
                            zs.msg ? zs.msg : "inflate",
                            (unsigned long long)zs.total_in));
            else if (zr == Z_MEM_ERROR)
                fail(z, hd_error_set(HD_ENOMEM, "out of memory"));
            if (zr == Z_STREAM_END)
                member_done = 1;
        }
        s->file_bytes = file_bytes;
        int last = z->err != 0 || (zs.avail_in == 0 && eof);
        if (last)
            z->cut_short = !member_done && z->err == 0;
        publish(z, last);
        if (last)
            break;
    }
    inflateEnd(&zs);
    free(in);
    return NULL;
}

int
hd_inflater_start(hd_inflater **out, FILE *f, const char *path,
                  const uint8_t *first, size_t n_first)
{
    hd_inflater *z = calloc(1, sizeof(*z));
    *out = NULL;
    if (z == NULL || (z->first = malloc(n_first ? n_first : 1)) == NULL) {
        free(z);
        return hd_error_set(HD_ENOMEM, "out of memory");
    }
    memcpy(z->first, first, n_first);
    z->n_first = n_first;
    z->f = f;
    z->path = path;
    pthread_mutex_init(&z->mu, NULL);
    pthread_cond_init(&z->filled, NULL);
    pthread_cond_init(&z->freed, NULL);
    for (int i = 0; i < SLOTS; i++)
        if ((z->slots[i].p = malloc(SLOT_BYTES)) == NULL) {
            hd_inflater_stop(z);
            return hd_error_set(HD_ENOMEM, "out of memory");
        }
    if (pthread_create(&z->thread, NULL, inflate_file, z) != 0) {
        hd_inflater_stop(z);
        return hd_error_set(HD_ENOMEM, "cannot start a thread");
    }
    z->started = 1;
    *out = z;
    return 0;
}

int
hd_inflater_next(hd_inflater *z, const uint8_t **p, size_t *n,
                 uint64_t *file_bytes)
{
    pthread_mutex_lock(&z->mu);
    if (z->held) { /* the piece given last is parsed: its slot is free */
        z->head = (z->head + 1) % SLOTS;
        z->count--;
        z->held = 0;
        pthread_cond_signal(&z->freed);
    }
    while (z->count == 0 && !z->done)
        pthread_cond_wait(&z->filled, &z->mu);
    int have = z->count > 0;
    if (have) {
        *p = z->slots[z->head].p;
        *n = z->slots[z->head].n;
        *file_bytes = z->slots[z->head].file_bytes;
        z->held = 1;
    }
    pthread_mutex_unlock(&z->mu);
    if (have)
        return 1;
    if (z->err) /* said again in this thread, where the caller reads it */
        return hd_error_set_offset(z->err, z->error.offset, "%s",
                                   z->error.message);
    return 0;
}

int
hd_inflater_cut_short(const hd_inflater *z)
{
    return z->cut_short;
}

void
hd_inflater_stop(hd_inflater *z)
{
    if (z == NULL)
        return;
    if (z->started) {
        pthread_mutex_lock(&z->mu);
        z->stop = 1;
        pthread_cond_broadcast(&z->freed);
        pthread_mutex_unlock(&z->mu);
        pthread_join(z->thread, NULL);
    }
    for (int i = 0; i < SLOTS; i++)
        free(z->slots[i].p);
    free(z->first);
    pthread_mutex_destroy(&z->mu);
    pthread_cond_destroy(&z->filled);
    pthread_cond_destroy(&z->freed);
    free(z);
}
