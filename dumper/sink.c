/* heapdig — MIT licence.
 *
 * sink.c: where encoded records go.  The walk fills 1 MiB buffers; a second
 * thread deflates full buffers into a gzip stream and writes them to a
 * temporary file (mode 0600) beside the target, so compression overlaps the
 * walk.  The first error of write/deflate/fsync/close is kept (sticky) and
 * reported at close; only a complete, error-free stream is renamed onto the
 * target path, so an interrupted dump never leaves a file that looks whole.
 * zlib is used here and in analyzer/reader.c only.
 */
#include "dumper_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define BUF_SIZE (1u << 20)
#define N_BUFS 4

typedef struct buf {
    uint8_t *data;
    size_t len;
    int full; /* waiting for the compressor */
} buf;

struct hd_sink {
    int fd;
    char *path;           /* final name */
    char *tmp;            /* temporary name */
    z_stream z;
    int z_live;           /* deflateInit2 succeeded */
    uint8_t *zout;        /* compressed output buffer */
    buf bufs[N_BUFS];
    int i_fill;           /* buffer the producer fills */
    int i_next_full;      /* next buffer the compressor takes */
    int finishing;        /* producer is done */
    int thread_live;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t crc;         /* of all bytes compressed so far */
    uint64_t bytes_in;
    uint64_t bytes_out;
    int err;              /* first errno, sticky */
    const char *err_what; /* the step that failed */
    uint8_t *big;         /* a reservation larger than a buffer */
    size_t big_len;
    int staged;           /* the last reservation was `big` */
};

static void
set_error(hd_sink *s, int err, const char *what)
{
    if (s->err == 0) {
        s->err = err ? err : EIO;
        s->err_what = what;
    }
}

static int
write_all(hd_sink *s, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(s->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        s->bytes_out += (uint64_t)w;
    }
    return 0;
}

/* Deflates [p, p+n) with the given flush mode and writes the output.
 * Runs on the compressor thread only (or after it has been joined). */
static int
deflate_out(hd_sink *s, const uint8_t *p, size_t n, int flush)
{
    s->z.next_in = (Bytef *)p;
    s->z.avail_in = (uInt)n;
    s->crc = (uint32_t)crc32(s->crc, p, (uInt)n);
    do {
        s->z.next_out = s->zout;
        s->z.avail_out = BUF_SIZE;
        int r = deflate(&s->z, flush);
        if (r == Z_STREAM_ERROR || (r == Z_BUF_ERROR && flush == Z_FINISH &&
                                    s->z.avail_out == BUF_SIZE)) {
            errno = EIO;
            return -1;
        }
        size_t have = BUF_SIZE - s->z.avail_out;
        if (have && write_all(s, s->zout, have) < 0)
            return -1;
    } while (s->z.avail_out == 0 || s->z.avail_in > 0);
    return 0;
}

static void *
compressor_main(void *arg)
{
    hd_sink *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        buf *b = &s->bufs[s->i_next_full];
        while (!b->full && !s->finishing)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!b->full)
            break; /* finishing and nothing left */
        int failed = s->err != 0;
        pthread_mutex_unlock(&s->mu);
        int r = failed ? 0 : deflate_out(s, b->data, b->len, Z_NO_FLUSH);
        int e = errno;
        pthread_mutex_lock(&s->mu);
        if (r < 0)
            set_error(s, e, "write");
        s->bytes_in += b->len;
        b->len = 0;
        b->full = 0;
        s->i_next_full = (s->i_next_full + 1) % N_BUFS;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int
hd_sink_open(hd_sink **out, const char *path, int level)
{
    hd_sink *s = NULL;
    const char *slash;
    size_t dirlen, len = strlen(path);
    int e;

    *out = NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        goto fail;
    s->fd = -1;
    slash = strrchr(path, '/');
    dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    if ((s->path = strdup(path)) == NULL ||
        (s->tmp = malloc(len + 32)) == NULL)
        goto fail;
    /* ".<name>.tmp-XXXXXX" in the same directory, so rename is atomic. */
    memcpy(s->tmp, path, dirlen);
    s->tmp[dirlen] = '.';
    memcpy(s->tmp + dirlen + 1, path + dirlen, len - dirlen);
    strcpy(s->tmp + len + 1, ".tmp-XXXXXX");
    if ((s->fd = mkstemp(s->tmp)) < 0) /* mkstemp creates mode 0600 */
        goto fail;
    if ((s->zout = malloc(BUF_SIZE)) == NULL)
        goto fail;
    for (int i = 0; i < N_BUFS; i++)
        if ((s->bufs[i].data = malloc(BUF_SIZE)) == NULL)
            goto fail;
    if (deflateInit2(&s->z, level, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        errno = EINVAL;
        goto fail;
    }
    s->z_live = 1;
    s->crc = (uint32_t)crc32(0, NULL, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if ((e = pthread_create(&s->thread, NULL, compressor_main, s)) != 0) {
        errno = e;
        goto fail;
    }
    s->thread_live = 1;
    *out = s;
    return 0;

fail:
    e = errno;
    if (s) {
        if (s->fd >= 0) {
            close(s->fd);
            unlink(s->tmp);
        }
        if (s->z_live)
            deflateEnd(&s->z);
        for (int i = 0; i < N_BUFS; i++)
            free(s->bufs[i].data);
        free(s->zout);
        free(s->tmp);
        free(s->path);
        free(s);
    }
    errno = e ? e : ENOMEM;
    return -1;
}

/* Hands the buffer being filled to the compressor and waits for a free one.
 * Called with the mutex held. */
static void
submit_locked(hd_sink *s)
{
    buf *b = &s->bufs[s->i_fill];
    if (b->len == 0)
        return;
    b->full = 1;
    pthread_cond_broadcast(&s->cv);
    s->i_fill = (s->i_fill + 1) % N_BUFS;
    while (s->bufs[s->i_fill].full)
        pthread_cond_wait(&s->cv, &s->mu);
}

uint8_t *
hd_sink_reserve(hd_sink *s, size_t n)
{
    buf *b = &s->bufs[s->i_fill];
    s->staged = 0;
    if (s->err)
        return NULL;
    if (b->len + n <= BUF_SIZE)
        return b->data + b->len;
    pthread_mutex_lock(&s->mu);
    submit_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (n <= BUF_SIZE)
        return s->bufs[s->i_fill].data;
    /* A record larger than a buffer: stage it, committed as its own buffer. */
    if (n > s->big_len) {
        uint8_t *p = realloc(s->big, n);
        if (p == NULL) {
            set_error(s, ENOMEM, "malloc");
            return NULL;
        }
        s->big = p;
        s->big_len = n;
    }
    s->staged = 1;
    return s->big;
}

void
hd_sink_commit(hd_sink *s, size_t n)
{
    if (!s->staged) {
        s->bufs[s->i_fill].len += n;
        return;
    }
    s->staged = 0;
    /* The staged large record: feed it through in buffer-sized pieces. */
    for (size_t off = 0; off < n;) {
        size_t k = n - off < BUF_SIZE ? n - off : BUF_SIZE;
        pthread_mutex_lock(&s->mu);
        submit_locked(s);
        pthread_mutex_unlock(&s->mu);
        memcpy(s->bufs[s->i_fill].data, s->big + off, k);
        s->bufs[s->i_fill].len = k;
        off += k;
    }
}

uint32_t
hd_sink_crc(hd_sink *s)
{
    uint32_t crc;
    pthread_mutex_lock(&s->mu);
    submit_locked(s);
    for (int i = 0; i < N_BUFS; i++)
        while (s->bufs[i].full)
            pthread_cond_wait(&s->cv, &s->mu);
    crc = s->crc;
    pthread_mutex_unlock(&s->mu);
    return crc;
}

int
hd_sink_close(hd_sink *s, int commit, const char **what)
{
    int err = 0;
    const char *err_what = NULL;

    if (s == NULL)
        return 0;
    if (s->thread_live) {
        pthread_mutex_lock(&s->mu);
        submit_locked(s);
        s->finishing = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    if (commit && !s->err && deflate_out(s, NULL, 0, Z_FINISH) < 0)
        set_error(s, errno, "write");
    if (commit && !s->err && fsync(s->fd) < 0)
        set_error(s, errno, "fsync");
    if (close(s->fd) < 0)
        set_error(s, errno, "close");
    if (commit && !s->err && rename(s->tmp, s->path) < 0)
        set_error(s, errno, "rename");
    if (!commit || s->err)
        unlink(s->tmp);
    err = s->err;
    err_what = s->err_what;
    deflateEnd(&s->z);
    for (int i = 0; i < N_BUFS; i++)
        free(s->bufs[i].data);
    free(s->big);
    free(s->zout);
    free(s->tmp);
    free(s->path);
    free(s);
    if (what)
        *what = err_what;
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

uint64_t
hd_sink_bytes_in(const hd_sink *s)
{
    return s->bytes_in;
}

uint64_t
hd_sink_bytes_out(const hd_sink *s)
{
    return s->bytes_out;
}
