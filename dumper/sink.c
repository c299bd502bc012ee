/* heapdig — MIT licence.
 *
 * sink.c: where encoded records go.  The walk fills 1 MiB buffers; two
 * compressor threads deflate full buffers, each into a gzip member of its own
 * (a dump is a sequence of members, FORMAT.md §1), and write them in order to
 * a temporary file (mode 0600) beside the target, so compression overlaps the
 * walk and uses both cores.  With libdeflate (when built with it) each member
 * is compressed in one call at twice zlib's speed; zlib is the fallback.  The first error of write/deflate/fsync/close is kept (sticky) and
 * reported at close; only a complete, error-free stream is renamed onto the
 * target path, so an interrupted dump never leaves a file that looks whole.
 * zlib is used here and in analyzer/reader.c only.
 */
#include "dumper_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#ifdef HD_HAVE_LIBDEFLATE
#include <libdeflate.h> /* 2x zlib's speed at level 1, same gzip output */
#endif

#define BUF_SIZE (1u << 20)
#define N_BUFS 6
#define N_COMPRESSORS 2
#define STACK_SIZE (1u << 20)

enum buf_state { BUF_FREE, BUF_FILLING, BUF_FULL, BUF_BUSY, BUF_DONE };

typedef struct buf {
    uint8_t *data;
    size_t len;
    uint8_t *zout;     /* this buffer's gzip member */
    size_t zlen, zcap;
    uint32_t crc;      /* of data[0..len) */
    uint64_t seq;      /* order in the stream */
    int state;         /* enum buf_state */
} buf;

struct hd_sink {
    int fd;
    char *path;           /* final name */
    char *tmp;            /* temporary name */
    int level;
    buf bufs[N_BUFS];
    int i_fill;           /* buffer the producer fills */
    uint64_t next_seq;    /* seq of the next submitted buffer */
    uint64_t next_write;  /* seq of the next member to write */
    int finishing;        /* producer is done */
    int n_threads;
    pthread_t threads[N_COMPRESSORS];
    void *stacks[N_COMPRESSORS]; /* our own thread stacks, see hd_sink_open */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t crc;         /* of all bytes written so far, in order */
    uint64_t bytes_in;
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
    }
    return 0;
}

/* The per-thread compressor: libdeflate's or a zlib stream. */
typedef struct compressor {
#ifdef HD_HAVE_LIBDEFLATE
    struct libdeflate_compressor *ld;
#else
    z_stream z;
    int live;
#endif
} compressor;

static int
compressor_init(compressor *c, int level)
{
    memset(c, 0, sizeof(*c));
#ifdef HD_HAVE_LIBDEFLATE
    c->ld = libdeflate_alloc_compressor(level);
    if (c->ld == NULL && level == 0) /* older libdeflate: no level 0 */
        c->ld = libdeflate_alloc_compressor(1);
    return c->ld ? 0 : -1;
#else
    /* memLevel 9: ~15% faster than the default 8 at the same ratio. */
    c->live = deflateInit2(&c->z, level, Z_DEFLATED, 15 + 16, 9,
                           Z_DEFAULT_STRATEGY) == Z_OK;
    return c->live ? 0 : -1;
#endif
}

static void
compressor_dispose(compressor *c)
{
#ifdef HD_HAVE_LIBDEFLATE
    if (c->ld)
        libdeflate_free_compressor(c->ld);
#else
    if (c->live)
        deflateEnd(&c->z);
#endif
}

/* Compresses b into one complete gzip member (FORMAT.md §1 allows many), so
 * that buffers can be compressed in parallel and written in order. */
static int
compress_member(compressor *c, buf *b)
{
#ifdef HD_HAVE_LIBDEFLATE
    size_t bound = libdeflate_gzip_compress_bound(c->ld, b->len);
#else
    size_t bound = deflateBound(&c->z, (uLong)b->len) + 64;
#endif
    if (bound > b->zcap) {
        uint8_t *p = realloc(b->zout, bound);
        if (p == NULL) {
            errno = ENOMEM;
            return -1;
        }
        b->zout = p;
        b->zcap = bound;
    }
#ifdef HD_HAVE_LIBDEFLATE
    b->zlen = libdeflate_gzip_compress(c->ld, b->data, b->len, b->zout,
                                       b->zcap);
    if (b->zlen == 0) {
        errno = EIO;
        return -1;
    }
    b->crc = libdeflate_crc32(0, b->data, b->len);
#else
    z_stream *z = &c->z;
    if (deflateReset(z) != Z_OK) {
        errno = EIO;
        return -1;
    }
    z->next_in = b->data;
    z->avail_in = (uInt)b->len;
    z->next_out = b->zout;
    z->avail_out = (uInt)b->zcap;
    if (deflate(z, Z_FINISH) != Z_STREAM_END) {
        errno = EIO;
        return -1;
    }
    b->zlen = b->zcap - z->avail_out;
    b->crc = (uint32_t)crc32(0, b->data, (uInt)b->len);
#endif
    return 0;
}

/* A compressor thread: takes the oldest full buffer, compresses it, and when
 * its turn comes writes it, so members land in submission order. */
static void *
compressor_main(void *arg)
{
    hd_sink *s = arg;
    compressor c;
    int z_ok = compressor_init(&c, s->level) == 0;
    pthread_mutex_lock(&s->mu);
    if (!z_ok)
        set_error(s, ENOMEM, "compressor");
    for (;;) {
        buf *b = NULL;
        for (;;) {
            for (int i = 0; i < N_BUFS; i++)
                if (s->bufs[i].state == BUF_FULL &&
                    (b == NULL || s->bufs[i].seq < b->seq))
                    b = &s->bufs[i];
            if (b || s->finishing)
                break;
            pthread_cond_wait(&s->cv, &s->mu);
        }
        if (b == NULL)
            break; /* finishing and nothing left */
        b->state = BUF_BUSY;
        int failed = s->err != 0;
        pthread_mutex_unlock(&s->mu);
        int r = failed || !z_ok ? 0 : compress_member(&c, b);
        int e = errno;
        pthread_mutex_lock(&s->mu);
        if (r < 0)
            set_error(s, e, "deflate");
        b->state = BUF_DONE;
        while (s->next_write != b->seq)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->err) {
            /* Only this thread may write now; others wait for next_write. */
            pthread_mutex_unlock(&s->mu);
            r = write_all(s, b->zout, b->zlen);
            e = errno;
            pthread_mutex_lock(&s->mu);
            if (r < 0)
                set_error(s, e, "write");
            s->crc = (uint32_t)crc32_combine(s->crc, b->crc, (z_off_t)b->len);
        }
        s->bytes_in += b->len;
        b->len = 0;
        b->state = BUF_FREE;
        s->next_write++;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    compressor_dispose(&c);
    return NULL;
}

/* ---- Temporary names ------------------------------------------------------ */

/* A dump is written to "<dir>/.hdig-tmp-<pid>-<start>-XXXXXX": short, so a
 * legal 255-byte final name never makes it too long, and naming its owner
 * process (pid and start time, so a reused pid is not mistaken for it), so
 * a dump that died (killed, out of memory) can be cleaned up later. */
#define TMP_PREFIX ".hdig-tmp-"

/* The start time of process pid in clock ticks since boot (field 22 of
 * /proc/PID/stat), 0 if there is no such process, UINT64_MAX if unknown. */
static uint64_t
process_start(long pid)
{
    char path[64], line[1024], *p;
    unsigned long long start = 0;
    FILE *f;
    size_t n;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if ((f = fopen(path, "r")) == NULL) {
        if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
            return 0;
        return UINT64_MAX; /* no /proc here, or not ours to read */
    }
    n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = 0;
    /* The command name (field 2) may hold spaces and parentheses. */
    if ((p = strrchr(line, ')')) == NULL)
        return UINT64_MAX;
    for (int field = 2; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p + 1, "%llu", &start) != 1)
        return UINT64_MAX;
    return (uint64_t)start;
}

/* Removes our leftover temporary files in dir whose owner process is gone.
 * Failures are ignored: cleaning up is a courtesy, never a reason to fail. */
static void
remove_leftovers(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        long pid;
        unsigned long long start;
        struct stat st;
        if (strncmp(e->d_name, TMP_PREFIX, sizeof(TMP_PREFIX) - 1) != 0 ||
            sscanf(e->d_name + sizeof(TMP_PREFIX) - 1, "%ld-%llu-", &pid,
                   &start) != 2 ||
            pid <= 0)
            continue;
        uint64_t now_start = process_start(pid);
        if (now_start == UINT64_MAX ||
            (now_start != 0 && now_start == (uint64_t)start))
            continue; /* its owner may still be writing it */
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode) && st.st_uid == geteuid())
            unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

int
hd_sink_open(hd_sink **out, const char *path, int level)
{
    hd_sink *s = NULL;
    const char *slash;
    size_t dirlen;
    int e;

    *out = NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        goto fail;
    s->fd = -1;
    s->level = level;
    slash = strrchr(path, '/');
    dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    if ((s->path = strdup(path)) == NULL ||
        (s->tmp = malloc(dirlen + 80)) == NULL)
        goto fail;
    /* In the same directory as the dump, so that rename is atomic. */
    memcpy(s->tmp, path, dirlen);
    s->tmp[dirlen] = 0;
    remove_leftovers(dirlen ? s->tmp : ".");
    snprintf(s->tmp + dirlen, 80, TMP_PREFIX "%ld-%" PRIu64 "-XXXXXX",
             (long)getpid(), process_start((long)getpid()));
    if ((s->fd = mkstemp(s->tmp)) < 0) /* mkstemp creates mode 0600 */
        goto fail;
    for (int i = 0; i < N_BUFS; i++)
        if ((s->bufs[i].data = malloc(BUF_SIZE)) == NULL)
            goto fail;
    s->bufs[0].state = BUF_FILLING;
    s->crc = (uint32_t)crc32(0, NULL, 0);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    /* The compressor threads run on stacks we allocate: in the child of a
     * background dump, glibc would otherwise hand them the cached stacks of
     * the parent's other threads, whose frames the walk is about to read. */
    for (int i = 0; i < N_COMPRESSORS; i++) {
        pthread_attr_t attr;
        if ((s->stacks[i] = aligned_alloc(4096, STACK_SIZE)) == NULL) {
            e = ENOMEM;
        } else {
            pthread_attr_init(&attr);
            pthread_attr_setstack(&attr, s->stacks[i], STACK_SIZE);
            e = pthread_create(&s->threads[i], &attr, compressor_main, s);
            pthread_attr_destroy(&attr);
        }
        if (e) {
            errno = e;
            hd_sink_close(s, 0, NULL);
            return -1;
        }
        s->n_threads++;
    }
    *out = s;
    return 0;

fail:
    e = errno;
    if (s) {
        if (s->fd >= 0) {
            close(s->fd);
            unlink(s->tmp);
        }
        for (int i = 0; i < N_BUFS; i++)
            free(s->bufs[i].data);
        free(s->tmp);
        free(s->path);
        free(s);
    }
    errno = e ? e : ENOMEM;
    return -1;
}

/* Hands the buffer being filled to the compressors and takes a free one,
 * waiting if all are busy.  Called with the mutex held. */
static void
submit_locked(hd_sink *s)
{
    buf *b = &s->bufs[s->i_fill];
    if (b->len == 0)
        return;
    b->seq = s->next_seq++;
    b->state = BUF_FULL;
    pthread_cond_broadcast(&s->cv);
    for (;;) {
        for (int i = 0; i < N_BUFS; i++)
            if (s->bufs[i].state == BUF_FREE) {
                s->i_fill = i;
                s->bufs[i].state = BUF_FILLING;
                return;
            }
        pthread_cond_wait(&s->cv, &s->mu);
    }
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
    while (s->next_write != s->next_seq && !s->err)
        pthread_cond_wait(&s->cv, &s->mu);
    crc = s->crc;
    pthread_mutex_unlock(&s->mu);
    return crc;
}

int
hd_sink_close(hd_sink *s, int commit, const char **what)
{
    int err;
    const char *err_what;

    if (s == NULL)
        return 0;
    pthread_mutex_lock(&s->mu);
    if (commit)
        submit_locked(s);
    s->finishing = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i], NULL);
    for (int i = 0; i < N_COMPRESSORS; i++)
        free(s->stacks[i]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    if (commit && !s->err && s->next_write != s->next_seq)
        set_error(s, EIO, "compress");
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
    for (int i = 0; i < N_BUFS; i++) {
        free(s->bufs[i].data);
        free(s->bufs[i].zout);
    }
    free(s->big);
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

