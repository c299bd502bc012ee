/* heapdig — MIT licence.
 *
 * inflate.c: a thread that reads a gzip file and inflates it while the
 * caller parses what it has already been given, so that reading a dump
 * takes both cores (inflating is a third of it).  The pieces come in file
 * order; an error the thread meets (damaged compressed data, a read error)
 * comes after every piece inflated before it, as it would inflating and
 * parsing in turn, so the parser's own error, earlier in the stream, wins.
 *
 * The thread reads its own descriptor with read(2), and a caller that
 * wants no more does not wait for it: a pipe whose writer stalls could hold
 * a read for ever.  Whichever of the two lets go last frees the state.
 */
#include "read/read.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
    int fd;          /* the thread's own (a dup), closed by it */
    char path[1024];
    uint8_t *first;  /* the file's first bytes, read by the caller */
    size_t n_first;
    pthread_mutex_t mu;
    pthread_cond_t filled, freed;
    slot slots[SLOTS];
    int head, count; /* the oldest filled slot; how many are filled */
    int held;        /* the caller holds slots[head] (until its next call) */
    int done;        /* the thread has filled its last slot */
    int stop;        /* the caller wants no more */
    int refs;        /* the caller and the thread: the last one frees */
    int cut_short;   /* the file ended inside a gzip member */
    hd_error error;  /* the thread's, said to the caller at the end */
    int err;
};

static void
destroy(hd_inflater *z)
{
    for (int i = 0; i < SLOTS; i++)
        free(z->slots[i].p);
    free(z->first);
    pthread_mutex_destroy(&z->mu);
    pthread_cond_destroy(&z->filled);
    pthread_cond_destroy(&z->freed);
    free(z);
}

/* One side lets go; the last frees. */
static void
release(hd_inflater *z)
{
    pthread_mutex_lock(&z->mu);
    int last = --z->refs == 0;
    pthread_mutex_unlock(&z->mu);
    if (last)
        destroy(z);
}

static int
stopped(hd_inflater *z)
{
    pthread_mutex_lock(&z->mu);
    int stop = z->stop;
    pthread_mutex_unlock(&z->mu);
    return stop;
}

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
    int member_done = 0, eof = 0, last = 0;
    int pending = 0; /* inflate filled its output: it may hold more */
    slot *s = NULL;
    memset(&zs, 0, sizeof(zs));
    if (in == NULL || inflateInit2(&zs, 15 + 32) != Z_OK) {
        fail(z, hd_error_set(HD_ENOMEM, "out of memory"));
        publish(z, 1);
        last = 1;
    }
    zs.next_in = z->first;
    zs.avail_in = (uInt)z->n_first;
    /* each read is inflated and handed over before the next one waits:
     * a slow pipe's bytes are parsed as they come */
    while (!last) {
        if (zs.avail_in == 0 && !pending && !eof && !stopped(z)) {
            ssize_t n;
            do
                n = read(z->fd, in, IN_BYTES);
            while (n < 0 && errno == EINTR);
            if (n < 0)
                fail(z, hd_error_set(HD_EIO, "reading %s: %s", z->path,
                                     strerror(errno)));
            eof = n <= 0;
            file_bytes += n > 0 ? (uint64_t)n : 0;
            zs.next_in = in;
            zs.avail_in = n > 0 ? (uInt)n : 0;
        }
        if (s == NULL) {
            if ((s = free_slot(z)) == NULL)
                break; /* the caller wants no more */
            s->n = 0;
        }
        while ((zs.avail_in > 0 || pending) && s->n < SLOT_BYTES &&
               z->err == 0) {
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
            pending = zs.avail_out == 0 && zr == Z_OK;
            if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR ||
                (zr == Z_BUF_ERROR && zs.avail_in > 0))
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
            else if (zr == Z_BUF_ERROR)
                break; /* all it holds is out: it wants input */
            if (zr == Z_STREAM_END)
                member_done = 1;
        }
        last = z->err != 0 || (zs.avail_in == 0 && !pending && eof) ||
               stopped(z);
        if (last)
            z->cut_short = !member_done && z->err == 0;
        /* a full slot, or all this read gave, or the end */
        if (s->n == SLOT_BYTES || last ||
            (s->n > 0 && zs.avail_in == 0 && !pending)) {
            s->file_bytes = file_bytes;
            publish(z, last);
            s = NULL;
        }
    }
    inflateEnd(&zs);
    free(in);
    close(z->fd);
    release(z);
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
    snprintf(z->path, sizeof(z->path), "%s", path);
    pthread_mutex_init(&z->mu, NULL);
    pthread_cond_init(&z->filled, NULL);
    pthread_cond_init(&z->freed, NULL);
    z->refs = 1;
    for (int i = 0; i < SLOTS; i++)
        if ((z->slots[i].p = malloc(SLOT_BYTES)) == NULL) {
            destroy(z);
            return hd_error_set(HD_ENOMEM, "out of memory");
        }
    if ((z->fd = dup(fileno(f))) < 0) {
        destroy(z);
        return hd_error_set(HD_EIO, "reading %s: %s", path, strerror(errno));
    }
    pthread_t t;
    z->refs = 2;
    if (hd__thread_start(&t, inflate_file, z) != 0) {
        close(z->fd);
        destroy(z);
        return hd_error_set(HD_ENOMEM, "cannot start a thread");
    }
    pthread_detach(t);
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
    int err = z->err;
    hd_error e = z->error;
    pthread_mutex_unlock(&z->mu);
    if (have)
        return 1;
    if (err) /* said again in this thread, where the caller reads it */
        return hd_error_set_offset(err, e.offset, "%s", e.message);
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
    pthread_mutex_lock(&z->mu);
    z->stop = 1;
    pthread_cond_broadcast(&z->freed);
    pthread_mutex_unlock(&z->mu);
    release(z); /* the thread may still be in a read: it frees at its end */
}
