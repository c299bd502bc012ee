/* heapdig — MIT licence.
 *
 * reader.c: the only byte parser of dumps.  A push parser: callers feed
 * compressed bytes in pieces of any size (hd_reader_feed); it inflates them
 * (one or more gzip members), frames records, checks every length, id, flag
 * and count against schema/FORMAT.md, and hands decoded records to
 * callbacks.  Untrusted sizes are capped before anything is allocated.
 * Corruption is reported with the uncompressed byte offset of the record and
 * the reader's file:line (HD_CORRUPT); running out of input is reported
 * separately as truncation.  zlib is used here and in dumper/sink.c only.
 */
#include "read/read.h"
#include "heapdig/format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CHUNK (256u << 10)

struct hd_reader {
    hd_reader_cb cb;
    void *payload;
    z_stream z;
    int z_live;
    int member_done;     /* a gzip member ended; next byte starts another */
    int raw;             /* 1: the stream is not compressed (decided at byte 0) */
    int started;         /* the first bytes decided raw or gzip */
    uint8_t head[16];    /* the first bytes, while they cannot decide yet */
    size_t n_head;
    uint8_t *buf;        /* decompressed bytes not yet consumed */
    size_t len, cap;
    size_t pos;          /* consumed prefix of buf */
    uint64_t base;       /* uncompressed offset of buf[0] */
    int state;           /* 0 prelude, 1 records, 2 after END */
    int error;           /* sticky */
    uint16_t minor;
    uint32_t crc;        /* of buf[..crc_pos) and all bytes before buf */
    size_t crc_pos;
    uint64_t n_strings, n_types, n_objects, n_edges, n_roots, n_tbs;
    int seen_header;
    int seen_memory;
    int last_was_object;
    uint64_t prev_addr;  /* OBJECT addresses are deltas from the previous */
    hd_edge_rec *edges;  /* decode scratch */
    size_t cap_edges;
    hd_tb_frame *frames;
    size_t cap_frames;
};

#define HD_CORRUPT(rd, off, ...)                                            \
    corrupt(rd, off, __FILE__, __LINE__, __VA_ARGS__)

static int
corrupt(hd_reader *rd, uint64_t off, const char *file, int line,
        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
corrupt(hd_reader *rd, uint64_t off, const char *file, int line,
        const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    /* where in heapdig the check is: for its developers (HEAPDIG_DEBUG=1) */
    if (getenv("HEAPDIG_DEBUG"))
        rd->error = hd_error_set_offset(HD_ECORRUPT, off,
                                        "corrupt dump at byte %llu: %s "
                                        "[%s:%d]", (unsigned long long)off,
                                        what, file, line);
    else
        rd->error = hd_error_set_offset(HD_ECORRUPT, off,
                                        "corrupt dump at byte %llu: %s",
                                        (unsigned long long)off, what);
    return rd->error;
}

int
hd_reader_new(hd_reader **out, const hd_reader_cb *cb, void *payload)
{
    hd_reader *rd;
    *out = NULL;
    if ((rd = calloc(1, sizeof(*rd))) == NULL)
        return hd_error_set(HD_ENOMEM, "out of memory creating a reader");
    rd->cb = *cb;
    rd->payload = payload;
    if (inflateInit2(&rd->z, 15 + 32) != Z_OK) { /* gzip or zlib header */
        free(rd);
        return hd_error_set(HD_ENOMEM, "inflateInit2 failed");
    }
    rd->z_live = 1;
    rd->crc = (uint32_t)crc32(0, NULL, 0);
    *out = rd;
    return 0;
}

void
hd_reader_free(hd_reader *rd)
{
    if (rd == NULL)
        return;
    if (rd->z_live)
        inflateEnd(&rd->z);
    free(rd->buf);
    free(rd->edges);
    free(rd->frames);
    free(rd);
}

void
hd_reader_set_inflated(hd_reader *rd)
{
    rd->started = 1;
    rd->raw = 1;
}

uint64_t
hd_reader_offset(const hd_reader *rd)
{
    return rd->base + rd->pos;
}

/* ---- Field decoding within one record ------------------------------------ */

typedef struct cur {
    const uint8_t *p, *end;
    hd_reader *rd;
    uint64_t off; /* offset of the record, for messages */
    const char *rec;
} cur;

#define GET(c, v)                                                            \
    do {                                                                     \
        if (hd_get_varint(&(c)->p, (c)->end, &(v)) != 0)                     \
            return HD_CORRUPT((c)->rd, (c)->off,                             \
                              "%s record: field runs past the record's end", \
                              (c)->rec);                                     \
    } while (0)

static int
get_bytes(cur *c, const uint8_t **s, size_t *n)
{
    uint64_t len;
    GET(c, len);
    if (len > (uint64_t)(c->end - c->p))
        return HD_CORRUPT(c->rd, c->off,
                          "%s record: a %llu-byte string runs past its end",
                          c->rec, (unsigned long long)len);
    *s = c->p;
    *n = (size_t)len;
    c->p += len;
    return 0;
}

static int
check_sid(cur *c, uint64_t sid, const char *what)
{
    if (sid > c->rd->n_strings)
        return HD_CORRUPT(c->rd, c->off,
                          "%s record: %s string id %llu is not defined "
                          "(%llu strings so far)",
                          c->rec, what, (unsigned long long)sid,
                          (unsigned long long)c->rd->n_strings);
    return 0;
}

static int
decode_edges(cur *c, const uint8_t **after, size_t *n_out, uint64_t base)
{
    hd_reader *rd = c->rd;
    uint64_t n;
    GET(c, n);
    /* Each edge takes at least 2 bytes: cap n before allocating. */
    if (n > (uint64_t)(c->end - c->p) / 2)
        return HD_CORRUPT(rd, c->off, "%s record: %llu edges cannot fit in "
                          "%zu bytes", c->rec, (unsigned long long)n,
                          (size_t)(c->end - c->p));
    if (n > rd->cap_edges) {
        hd_edge_rec *e = realloc(rd->edges, (size_t)n * sizeof(*e));
        if (e == NULL)
            return rd->error = hd_error_set(HD_ENOMEM, "out of memory");
        rd->edges = e;
        rd->cap_edges = (size_t)n;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t d, w, payload = 0;
        GET(c, d);
        GET(c, w);
        uint64_t kind = w >> 1;
        if (kind > HD_LBL_MAX)
            return HD_CORRUPT(rd, c->off, "%s record: edge %llu has unknown "
                              "label kind %llu", c->rec,
                              (unsigned long long)i, (unsigned long long)kind);
        if (kind != HD_LBL_NONE && kind != HD_LBL_KEY_OBJ) {
            GET(c, payload);
            if ((kind == HD_LBL_ATTR || kind == HD_LBL_KEY_STR ||
                 kind == HD_LBL_KEY_OTHER || kind == HD_LBL_LOCAL) &&
                (payload == 0 || check_sid(c, payload, "label") < 0))
                return rd->error ? rd->error
                                 : HD_CORRUPT(rd, c->off, "%s record: edge "
                                              "label names string 0", c->rec);
        }
        rd->edges[i].target = base + (uint64_t)hd_unzigzag(d);
        rd->edges[i].label_kind = (uint8_t)kind;
        rd->edges[i].weak = (uint8_t)(w & 1);
        rd->edges[i].payload = payload;
    }
    *after = c->p;
    *n_out = (size_t)n;
    return 0;
}

/* ---- Records ----------------------------------------------------------------- */

static int
rec_header(hd_reader *rd, cur *c)
{
    hd_header h;
    uint64_t n_meta;
    const uint8_t **meta = NULL;
    size_t *meta_len = NULL;
    int err = 0;

    memset(&h, 0, sizeof(h));
    h.major = HD_FORMAT_MAJOR;
    h.minor = rd->minor;
    GET(c, h.pointer_size);
    GET(c, h.hexversion);
    GET(c, h.pid);
    GET(c, h.time_ns);
    GET(c, h.options);
    GET(c, h.max_value_len);
    GET(c, n_meta);
    if (h.options & ~(uint64_t)HD_OPT_KNOWN && rd->minor <= HD_FORMAT_MINOR)
        return HD_CORRUPT(rd, c->off, "HEADER: reserved option bits 0x%llx",
                          (unsigned long long)h.options);
    if (n_meta > (uint64_t)(c->end - c->p) / 2)
        return HD_CORRUPT(rd, c->off, "HEADER: %llu metadata pairs cannot fit",
                          (unsigned long long)n_meta);
    meta = calloc(2 * (size_t)n_meta + 1, sizeof(*meta));
    meta_len = calloc(2 * (size_t)n_meta + 1, sizeof(*meta_len));
    if (meta == NULL || meta_len == NULL) {
        err = rd->error = hd_error_set(HD_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < 2 * (size_t)n_meta; i++)
        if ((err = get_bytes(c, &meta[i], &meta_len[i])) < 0)
            goto done;
    h.n_meta = (size_t)n_meta;
    h.meta = meta;
    h.meta_len = meta_len;
    if (rd->cb.header)
        err = rd->cb.header(&h, rd->payload);
done:
    free(meta);
    free(meta_len);
    return err;
}

static int
rec_object(hd_reader *rd, cur *c)
{
    hd_obj_rec o;
    uint64_t d, t, flags, v;
    const uint8_t *after;

    memset(&o, 0, sizeof(o));
    o.length = -1;
    GET(c, d);
    o.address = rd->prev_addr + (uint64_t)hd_unzigzag(d);
    rd->prev_addr = o.address;
    GET(c, t);
    if (t == 0 || t > rd->n_types)
        return HD_CORRUPT(rd, c->off, "OBJECT: type id %llu is not defined "
                          "(%llu types so far)", (unsigned long long)t,
                          (unsigned long long)rd->n_types);
    o.type = (uint32_t)t;
    GET(c, o.size);
    GET(c, o.refcount);
    GET(c, flags);
    if (flags & ~(uint64_t)HD_OBJ_KNOWN)
        return HD_CORRUPT(rd, c->off, "OBJECT: reserved flag bits 0x%llx",
                          (unsigned long long)flags);
    o.flags = (uint32_t)flags;
    if (flags & HD_OBJ_HAS_LENGTH) {
        GET(c, v);
        if (v > INT64_MAX)
            return HD_CORRUPT(rd, c->off, "OBJECT: length %llu too large",
                              (unsigned long long)v);
        o.length = (int64_t)v;
    }
    if (flags & HD_OBJ_HAS_VALUE) {
        GET(c, v);
        o.value_kind = (int)v;
        switch (v) {
        case HD_VAL_STR:
        case HD_VAL_BYTES:
        case HD_VAL_NAME:
            if (get_bytes(c, &o.value, &o.value_len) < 0)
                return rd->error;
            break;
        case HD_VAL_INT:
            GET(c, v);
            o.value_int = hd_unzigzag(v);
            break;
        case HD_VAL_FLOAT:
        case HD_VAL_BIGINT: {
            uint64_t bits;
            if (c->end - c->p < 8)
                return HD_CORRUPT(rd, c->off, "OBJECT: float value runs past "
                                  "the record's end");
            bits = hd_get_u64le(c->p);
            memcpy(&o.value_float, &bits, 8);
            c->p += 8;
            break;
        }
        case HD_VAL_TRUE:
        case HD_VAL_FALSE:
        case HD_VAL_NONE:
            break;
        default:
            return HD_CORRUPT(rd, c->off, "OBJECT: unknown value kind %llu",
                              (unsigned long long)v);
        }
    }
    if (flags & HD_OBJ_HAS_TRACEBACK) {
        GET(c, v);
        if (v == 0 || v > rd->n_tbs)
            return HD_CORRUPT(rd, c->off, "OBJECT: traceback id %llu is not "
                              "defined", (unsigned long long)v);
        o.traceback = (uint32_t)v;
    }
    if (decode_edges(c, &after, &o.n_edges, o.address) < 0)
        return rd->error;
    o.edges = rd->edges;
    rd->n_objects++;
    rd->n_edges += o.n_edges;
    return rd->cb.object ? rd->cb.object(&o, rd->payload) : 0;
}

static int
rec_traceback(hd_reader *rd, cur *c)
{
    uint64_t n, f, line;
    GET(c, n);
    if (n > (uint64_t)(c->end - c->p) / 2)
        return HD_CORRUPT(rd, c->off, "TRACEBACK: %llu frames cannot fit",
                          (unsigned long long)n);
    if (n > rd->cap_frames) {
        hd_tb_frame *fr = realloc(rd->frames, (size_t)n * sizeof(*fr));
        if (fr == NULL)
            return rd->error = hd_error_set(HD_ENOMEM, "out of memory");
        rd->frames = fr;
        rd->cap_frames = (size_t)n;
    }
    for (uint64_t i = 0; i < n; i++) {
        GET(c, f);
        GET(c, line);
        if (f == 0 || check_sid(c, f, "filename") < 0)
            return rd->error ? rd->error
                             : HD_CORRUPT(rd, c->off, "TRACEBACK: no filename");
        rd->frames[i].filename = (uint32_t)f;
        rd->frames[i].lineno = line;
    }
    rd->n_tbs++;
    return rd->cb.traceback ? rd->cb.traceback((uint32_t)rd->n_tbs, rd->frames,
                                               (size_t)n, rd->payload)
                            : 0;
}

static int
rec_end(hd_reader *rd, cur *c)
{
    uint64_t want[6], got[6] = {rd->n_strings, rd->n_types, rd->n_objects,
                                rd->n_edges, rd->n_roots, rd->n_tbs};
    static const char *what[6] = {"strings", "types", "objects", "edges",
                                  "roots", "tracebacks"};
    for (int i = 0; i < 6; i++)
        GET(c, want[i]);
    if (c->end - c->p < 4)
        return HD_CORRUPT(rd, c->off, "END: checksum runs past the record");
    for (int i = 0; i < 6; i++)
        if (want[i] != got[i])
            return HD_CORRUPT(rd, c->off, "END: says %llu %s, the dump holds "
                              "%llu", (unsigned long long)want[i], what[i],
                              (unsigned long long)got[i]);
    if (hd_get_u32le(c->p) != rd->crc)
        return HD_CORRUPT(rd, c->off, "END: checksum 0x%08x, computed 0x%08x",
                          hd_get_u32le(c->p), rd->crc);
    c->p += 4;
    rd->state = 2;
    return 0;
}

/* §7b: n pairs of a part name and a byte count. */
static int
rec_memory(hd_reader *rd, cur *c)
{
    uint64_t n, bytes;
    const uint8_t *name;
    size_t len;
    char part[HD_MEMORY_PART_MAX + 1];
    int err;

    GET(c, n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t at = c->off;
        if ((err = get_bytes(c, &name, &len)) < 0)
            return err;
        GET(c, bytes);
        if (len == 0 || len > HD_MEMORY_PART_MAX)
            return HD_CORRUPT(rd, at, "MEMORY: a part name of %zu bytes "
                              "(1-%d)", len, HD_MEMORY_PART_MAX);
        for (size_t k = 0; k < len; k++)
            if (!((name[k] >= 'a' && name[k] <= 'z') ||
                  (name[k] >= '0' && name[k] <= '9') || name[k] == '_'))
                return HD_CORRUPT(rd, at, "MEMORY: part name byte 0x%02x is "
                                  "not [a-z0-9_]", name[k]);
        memcpy(part, name, len);
        part[len] = 0;
        if (rd->cb.memory && (err = rd->cb.memory(part, bytes, rd->payload)))
            return err;
    }
    return 0;
}

static int
dispatch(hd_reader *rd, int tag, const uint8_t *p, size_t len, uint64_t off)
{
    static const char *names[] = {"?",     "HEADER", "STRING",    "TYPE",
                                  "OBJECT", "EDGES", "ROOT", "TRACEBACK",
                                  "SIZE", "MEMORY"};
    cur c = {p, p + len, rd, off, tag >= 1 && tag <= 9 ? names[tag] : "END"};
    uint64_t v, a, b;
    const uint8_t *after;
    size_t n;
    int err = 0, was_object = 0;

    if (!rd->seen_header && tag != HD_REC_HEADER)
        return HD_CORRUPT(rd, off, "the first record must be HEADER, not tag "
                          "0x%02x", tag);
    switch (tag) {
    case HD_REC_HEADER:
        if (rd->seen_header)
            return HD_CORRUPT(rd, off, "a second HEADER record");
        rd->seen_header = 1;
        err = rec_header(rd, &c);
        break;
    case HD_REC_STRING:
        if (rd->n_strings >= UINT32_MAX - 1)
            return HD_CORRUPT(rd, off, "too many strings");
        rd->n_strings++;
        if (rd->cb.string)
            err = rd->cb.string((uint32_t)rd->n_strings, p, len, rd->payload);
        c.p = c.end;
        break;
    case HD_REC_TYPE:
        GET(&c, v);
        GET(&c, a);
        GET(&c, b);
        if (a == 0)
            return HD_CORRUPT(rd, off, "TYPE record without a name");
        if (check_sid(&c, a, "name") < 0 || check_sid(&c, b, "module") < 0)
            return rd->error;
        if (rd->n_types >= UINT32_MAX - 1)
            return HD_CORRUPT(rd, off, "too many types");
        rd->n_types++;
        if (rd->cb.type)
            err = rd->cb.type((uint32_t)rd->n_types, v, (uint32_t)a,
                              (uint32_t)b, rd->payload);
        break;
    case HD_REC_OBJECT:
        err = rec_object(rd, &c);
        was_object = 1;
        break;
    case HD_REC_EDGES:
        if (!rd->last_was_object)
            return HD_CORRUPT(rd, off, "EDGES record does not follow an "
                              "OBJECT");
        if (decode_edges(&c, &after, &n, rd->prev_addr) < 0)
            return rd->error;
        rd->n_edges += n;
        if (rd->cb.edges)
            err = rd->cb.edges(rd->edges, n, rd->payload);
        was_object = 1;
        break;
    case HD_REC_ROOT:
        GET(&c, v);
        GET(&c, a);
        GET(&c, b);
        if ((a == 0 || a > HD_ROOT_MAX) && rd->minor <= HD_FORMAT_MINOR)
            return HD_CORRUPT(rd, off, "ROOT: unknown kind %llu",
                              (unsigned long long)a);
        if (check_sid(&c, b, "name") < 0)
            return rd->error;
        rd->n_roots++;
        if (rd->cb.root)
            err = rd->cb.root(v, (int)a, (uint32_t)b, rd->payload);
        break;
    case HD_REC_TRACEBACK:
        err = rec_traceback(rd, &c);
        break;
    case HD_REC_SIZE:
        GET(&c, v);
        GET(&c, a);
        GET(&c, b);
        if (b > 1)
            return HD_CORRUPT(rd, off, "SIZE: approx must be 0 or 1, not "
                              "%llu", (unsigned long long)b);
        if (rd->cb.size)
            err = rd->cb.size(v, a, (int)b, rd->payload);
        break;
    case HD_REC_MEMORY:
        if (rd->seen_memory++)
            return HD_CORRUPT(rd, off, "a second MEMORY record");
        err = rec_memory(rd, &c);
        break;
    case HD_REC_END:
        err = rec_end(rd, &c);
        break;
    default:
        c.p = c.end; /* a record from a newer minor version: skip it */
        break;
    }
    if (err < 0)
        return rd->error = err;
    /* Fields a newer minor version appended are skipped; in a dump of our
     * own version every byte must be accounted for. */
    if (c.p != c.end && rd->minor <= HD_FORMAT_MINOR)
        return HD_CORRUPT(rd, off, "%s record has %zu unexplained trailing "
                          "bytes", c.rec, (size_t)(c.end - c.p));
    rd->last_was_object = was_object;
    return 0;
}

/* ---- Framing ------------------------------------------------------------------ */

/* The checksum taken up to buf[upto]: over a span of records at a time
 * (a call a record was a visible share of reading). */
static void
crc_to(hd_reader *rd, size_t upto)
{
    if (upto > rd->crc_pos)
        rd->crc = (uint32_t)crc32_z(rd->crc, rd->buf + rd->crc_pos,
                                    upto - rd->crc_pos);
    rd->crc_pos = upto;
}

static int parse_records(hd_reader *rd);

/* Consumes every complete record in buf[pos..len). */
static int
parse(hd_reader *rd)
{
    int r = parse_records(rd);
    if (r == 0)
        crc_to(rd, rd->pos);
    return r;
}

static int
parse_records(hd_reader *rd)
{
    for (;;) {
        const uint8_t *start = rd->buf + rd->pos, *end = rd->buf + rd->len;
        const uint8_t *p = start;
        uint64_t off = rd->base + rd->pos, tag, len;

        if (rd->state == 0) {
            if (end - start < HD_PRELUDE_LEN)
                return 0;
            if (memcmp(start, HD_MAGIC, HD_MAGIC_LEN) != 0)
                return HD_CORRUPT(rd, 0, "not a heapdig dump (bad magic)");
            uint16_t major = hd_get_u16le(start + HD_MAGIC_LEN);
            rd->minor = hd_get_u16le(start + HD_MAGIC_LEN + 2);
            if (major != HD_FORMAT_MAJOR)
                return rd->error = hd_error_set_offset(
                           HD_EVERSION, HD_MAGIC_LEN,
                           "dump format version %u.%u is not supported by "
                           "this heapdig (it reads %d.x): use a newer heapdig",
                           major, rd->minor, HD_FORMAT_MAJOR);
            rd->pos += HD_PRELUDE_LEN;
            rd->state = 1;
            continue;
        }
        if (start == end)
            return 0;
        if (rd->state == 2)
            return HD_CORRUPT(rd, off, "data after the END record");
        int r1 = hd_get_varint(&p, end, &tag);
        int r2 = r1 == 0 ? hd_get_varint(&p, end, &len) : r1;
        if (r1 == -2 || r2 == -2)
            return HD_CORRUPT(rd, off, "malformed record header");
        if (r1 || r2)
            return 0; /* need more bytes */
        if (len > HD_REC_MAX_LEN)
            return HD_CORRUPT(rd, off, "record of %llu bytes exceeds the "
                              "%u-byte limit", (unsigned long long)len,
                              HD_REC_MAX_LEN);
        if ((uint64_t)(end - p) < len)
            return 0;
        if (tag == HD_REC_END)
            crc_to(rd, rd->pos); /* it covers everything before its tag */
        if (dispatch(rd, (int)tag, p, (size_t)len, off) < 0)
            return rd->error;
        rd->pos += (size_t)((p - start) + len);
    }
}

static int
grow(hd_reader *rd, size_t need)
{
    /* Drop the consumed prefix first (its checksum taken). */
    if (rd->pos > 0) {
        crc_to(rd, rd->pos);
        memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
        rd->len -= rd->pos;
        rd->base += rd->pos;
        rd->pos = 0;
        rd->crc_pos = 0;
    }
    if (rd->len + need <= rd->cap)
        return 0;
    size_t cap = rd->cap ? rd->cap : CHUNK;
    while (cap < rd->len + need)
        cap *= 2;
    uint8_t *b = realloc(rd->buf, cap);
    if (b == NULL)
        return rd->error = hd_error_set(HD_ENOMEM, "out of memory");
    rd->buf = b;
    rd->cap = cap;
    return 0;
}

static const char sqlite_magic[] = "SQLite format 3";

/* Whether the first n bytes could still begin either magic: then the
 * next bytes decide (a stream fed a byte at a time is the same stream). */
static int
undecided(const uint8_t *p, size_t n)
{
    return (n < HD_MAGIC_LEN && memcmp(p, HD_MAGIC, n) == 0) ||
           (n < sizeof(sqlite_magic) && memcmp(p, sqlite_magic, n) == 0);
}

/* What the first bytes say: a dump as the dumper writes it (gzip), one
 * uncompressed (zcat's output: accepted), or a heapdig database given in
 * place of a dump. */
static int
sniff(hd_reader *rd, const uint8_t *p, size_t len)
{
    rd->started = 1;
    if (len >= HD_MAGIC_LEN && memcmp(p, HD_MAGIC, HD_MAGIC_LEN) == 0)
        rd->raw = 1;
    else if (len >= sizeof(sqlite_magic) &&
             memcmp(p, sqlite_magic, sizeof(sqlite_magic)) == 0)
        return rd->error = hd_error_set_offset(
                   HD_ECORRUPT, 0, "this is a SQLite database, not a dump: "
                   "heapdig reads it as it is (heapdig summary FILE)");
    /* neither gzip nor zlib's header (what inflate takes): some other
     * file, not a dump whose compressed data is damaged */
    else if (len >= 2 && !(p[0] == 0x1f && p[1] == 0x8b) &&
             !((p[0] & 0x0f) == 8 && ((p[0] << 8) | p[1]) % 31 == 0))
        return HD_CORRUPT(rd, 0, "not a heapdig dump: neither gzip data "
                          "nor a dump's records (it begins %02x %02x)",
                          p[0], p[1]);
    return 0;
}

static int feed(hd_reader *rd, const uint8_t *data, size_t len);

/* The bytes held back while the stream's kind was undecided. */
static int
decide(hd_reader *rd)
{
    if (sniff(rd, rd->head, rd->n_head) < 0)
        return rd->error;
    return feed(rd, rd->head, rd->n_head);
}

int
hd_reader_feed(hd_reader *rd, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (rd->error)
        return rd->error;
    if (!rd->started) {
        size_t take = sizeof(rd->head) - rd->n_head;
        if (take > len)
            take = len;
        memcpy(rd->head + rd->n_head, p, take);
        rd->n_head += take;
        p += take;
        len -= take;
        if (undecided(rd->head, rd->n_head))
            return 0; /* len is 0: the head has room left */
        if (decide(rd) < 0)
            return rd->error;
    }
    return len ? feed(rd, p, len) : 0;
}

static int
feed(hd_reader *rd, const uint8_t *data, size_t len)
{
    if (rd->raw) {
        if (grow(rd, len) < 0)
            return rd->error;
        memcpy(rd->buf + rd->len, data, len);
        rd->len += len;
        rd->member_done = 1; /* no gzip member can be cut short */
        return parse(rd) < 0 ? rd->error : 0;
    }
    rd->z.next_in = (Bytef *)data;
    rd->z.avail_in = (uInt)len;
    while (rd->z.avail_in > 0) {
        if (rd->member_done) {
            /* Another gzip member follows (concatenated streams). */
            if (inflateReset(&rd->z) != Z_OK)
                return rd->error = hd_error_set(HD_ENOMEM, "inflateReset");
            rd->member_done = 0;
        }
        if (grow(rd, CHUNK) < 0)
            return rd->error;
        rd->z.next_out = rd->buf + rd->len;
        rd->z.avail_out = (uInt)(rd->cap - rd->len);
        int zr = inflate(&rd->z, Z_NO_FLUSH);
        rd->len = rd->cap - rd->z.avail_out;
        if (zr == Z_STREAM_END)
            rd->member_done = 1;
        else if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR) {
            /* what inflate gave before the damage is parsed first: a
             * record it spoils says so, wherever the output was cut (as
             * inflate.c does) */
            uint64_t at = hd_reader_offset(rd) + (rd->len - rd->pos);
            if (parse(rd) < 0)
                return rd->error;
            return HD_CORRUPT(rd, at, "compressed data is damaged (%s; %llu "
                              "compressed bytes in)",
                              rd->z.msg ? rd->z.msg : "inflate",
                              (unsigned long long)rd->z.total_in);
        }
        else if (zr == Z_MEM_ERROR)
            return rd->error = hd_error_set(HD_ENOMEM, "out of memory");
        if (parse(rd) < 0)
            return rd->error;
    }
    return 0;
}

int
hd_reader_finish(hd_reader *rd)
{
    if (rd->error)
        return rd->error;
    if (!rd->started && rd->n_head > 0 && undecided(rd->head, rd->n_head))
        return rd->error = hd_error_set_offset(
                   HD_ETRUNCATED, rd->n_head, "truncated dump: %zu bytes, "
                   "less than the magic", rd->n_head);
    if (!rd->started && rd->n_head > 0 && decide(rd) < 0)
        return rd->error; /* a stream shorter than a magic */
    if (rd->state == 2 && rd->member_done && rd->pos == rd->len)
        return 0;
    if (rd->state == 2 && !rd->member_done)
        return rd->error = hd_error_set_offset(
                   HD_ETRUNCATED, hd_reader_offset(rd),
                   "truncated dump: the compressed stream ends early (after "
                   "the END record)");
    return rd->error = hd_error_set_offset(
               HD_ETRUNCATED, hd_reader_offset(rd),
               "truncated dump: no END record after %llu bytes (%llu objects, "
               "%llu references read)",
               (unsigned long long)hd_reader_offset(rd),
               (unsigned long long)rd->n_objects,
               (unsigned long long)rd->n_edges);
}
