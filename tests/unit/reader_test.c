/* heapdig — MIT licence.
 *
 * reader_test.c: analyzer/reader.c against dumps written byte by byte here
 * (so every field is under the test's control) and, when HD_TEST_DUMP names
 * one, a real dump.  Each dump is fed whole and in pieces of 1, 2, 7 and
 * 4096 bytes and must decode identically; every truncation and every bit
 * flip must give a clean error, never a crash (run under ASan/UBSan).
 */
#include "read/read.h"
#include "harness.h"
#include "heapdig/format.h"

#include <stdlib.h>
#include <zlib.h>

/* ---- A writer for crafted dumps ------------------------------------------ */

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
} wbuf;

static void
w_bytes(wbuf *w, const void *s, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
    }
    memcpy(w->p + w->n, s, n);
    w->n += n;
}

static void
w_v(wbuf *w, uint64_t v)
{
    uint8_t b[HD_VARINT_MAX];
    w_bytes(w, b, hd_put_varint(b, v));
}

static void
w_rec(wbuf *w, int tag, const wbuf *payload)
{
    w_v(w, (uint64_t)tag);
    w_v(w, payload->n);
    w_bytes(w, payload->p, payload->n);
}

/* A small valid dump: 2 strings, 1 type, 3 objects in a cycle plus a weak
 * edge, a root, a traceback, END.  `major` lets tests forge versions;
 * `extra_tag` inserts one unknown record. */
static wbuf
craft(int major, int extra_tag)
{
    wbuf w = {0}, r = {0};
    uint8_t pre[HD_PRELUDE_LEN];
    memcpy(pre, HD_MAGIC, HD_MAGIC_LEN);
    hd_put_u16le(pre + 8, (uint16_t)major);
    hd_put_u16le(pre + 10, HD_FORMAT_MINOR);
    w_bytes(&w, pre, sizeof(pre));
#define REC(tag, body)                                                        \
    do {                                                                      \
        r.n = 0;                                                              \
        body;                                                                 \
        w_rec(&w, tag, &r);                                                   \
    } while (0)
    REC(HD_REC_HEADER, {
        w_v(&r, 8); w_v(&r, 0x030B07F0); w_v(&r, 4242); w_v(&r, 1700000000ull * 1000000000ull);
        w_v(&r, HD_OPT_VALUES); w_v(&r, 64); w_v(&r, 1);
        w_v(&r, 3); w_bytes(&r, "key", 3); w_v(&r, 5); w_bytes(&r, "value", 5);
    });
    REC(HD_REC_STRING, w_bytes(&r, "Node", 4));
    REC(HD_REC_STRING, w_bytes(&r, "app", 3));
    REC(HD_REC_TYPE, { w_v(&r, 0x1000); w_v(&r, 1); w_v(&r, 2); });
    if (extra_tag)
        REC(extra_tag, w_bytes(&r, "future", 6));
    REC(HD_REC_TRACEBACK, { w_v(&r, 1); w_v(&r, 2); w_v(&r, 17); });
    /* object A at 0x2000 -> B (.next), -> C weak */
    REC(HD_REC_OBJECT, {
        w_v(&r, hd_zigzag(0x2000)); w_v(&r, 1); w_v(&r, 56); w_v(&r, 2);
        w_v(&r, HD_OBJ_GC_TRACKED | HD_OBJ_HAS_VALUE | HD_OBJ_HAS_TRACEBACK);
        w_v(&r, HD_VAL_STR); w_v(&r, 2); w_bytes(&r, "hi", 2);
        w_v(&r, 1);
        w_v(&r, 2);
        w_v(&r, hd_zigzag(0x100)); w_v(&r, HD_LBL_ATTR << 1); w_v(&r, 1);
        w_v(&r, hd_zigzag(0x200)); w_v(&r, HD_LBL_NONE << 1 | 1);
    });
    REC(HD_REC_OBJECT, {
        w_v(&r, hd_zigzag(0x100)); w_v(&r, 1); w_v(&r, 48); w_v(&r, 1);
        w_v(&r, HD_OBJ_HAS_LENGTH); w_v(&r, 3);
        w_v(&r, 1);
        w_v(&r, hd_zigzag(-0x100)); w_v(&r, HD_LBL_INDEX << 1); w_v(&r, 7);
    });
    REC(HD_REC_EDGES, {
        w_v(&r, 1);
        w_v(&r, hd_zigzag(-0x100)); w_v(&r, HD_LBL_KEY_INT << 1); w_v(&r, hd_zigzag(-5));
    });
    REC(HD_REC_OBJECT, {
        w_v(&r, hd_zigzag(0x100)); w_v(&r, 1); w_v(&r, 24); w_v(&r, 1);
        w_v(&r, HD_OBJ_HAS_VALUE); w_v(&r, HD_VAL_INT); w_v(&r, hd_zigzag(-12));
        w_v(&r, 0);
    });
    REC(HD_REC_ROOT, { w_v(&r, 0x2000); w_v(&r, HD_ROOT_SYS_MODULES); w_v(&r, 2); });
    uint32_t crc = (uint32_t)crc32(0, w.p, (uInt)w.n);
    REC(HD_REC_END, {
        w_v(&r, 2); w_v(&r, 1); w_v(&r, 3); w_v(&r, 4); w_v(&r, 1); w_v(&r, 1);
        uint8_t c[4]; hd_put_u32le(c, crc); w_bytes(&r, c, 4);
    });
#undef REC
    free(r.p);
    return w;
}

/* gzip of raw bytes, optionally split into two members at `split`. */
static wbuf
gz(const uint8_t *raw, size_t n, size_t split)
{
    wbuf out = {0};
    size_t parts[2][2] = {{0, split ? split : n}, {split, n}};
    for (int m = 0; m < (split ? 2 : 1); m++) {
        z_stream z;
        memset(&z, 0, sizeof(z));
        deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        size_t len = parts[m][1] - parts[m][0];
        size_t cap = deflateBound(&z, (uLong)len) + 64;
        uint8_t *tmp = malloc(cap);
        z.next_in = (Bytef *)raw + parts[m][0];
        z.avail_in = (uInt)len;
        z.next_out = tmp;
        z.avail_out = (uInt)cap;
        deflate(&z, Z_FINISH);
        w_bytes(&out, tmp, cap - z.avail_out);
        deflateEnd(&z);
        free(tmp);
    }
    return out;
}

/* ---- Decoding into a digest ------------------------------------------------- */

typedef struct digest {
    uint64_t h;
    int strings, types, objects, edges, roots, tbs, header;
} digest;

static void
mix(digest *d, uint64_t v)
{
    d->h = (d->h ^ v) * 1099511628211ull;
}

static int
d_header(const hd_header *h, void *p)
{
    digest *d = p;
    d->header++;
    mix(d, h->pid);
    mix(d, h->n_meta);
    return 0;
}
static int
d_string(uint32_t id, const uint8_t *s, size_t n, void *p)
{
    digest *d = p;
    d->strings++;
    mix(d, id);
    for (size_t i = 0; i < n; i++)
        mix(d, s[i]);
    return 0;
}
static int
d_type(uint32_t id, uint64_t a, uint32_t n, uint32_t m, void *p)
{
    digest *d = p;
    d->types++;
    mix(d, id);
    mix(d, a);
    mix(d, n);
    mix(d, m);
    return 0;
}
static int
d_edges(const hd_edge_rec *e, size_t n, void *p)
{
    digest *d = p;
    for (size_t i = 0; i < n; i++) {
        d->edges++;
        mix(d, e[i].target);
        mix(d, e[i].label_kind);
        mix(d, e[i].weak);
        mix(d, e[i].payload);
    }
    return 0;
}
static int
d_object(const hd_obj_rec *o, void *p)
{
    digest *d = p;
    d->objects++;
    mix(d, o->address);
    mix(d, o->type);
    mix(d, o->size);
    mix(d, o->refcount);
    mix(d, o->flags);
    mix(d, (uint64_t)o->length);
    mix(d, (uint64_t)o->value_kind);
    mix(d, (uint64_t)o->value_int);
    mix(d, o->value_len);
    mix(d, o->traceback);
    return d_edges(o->edges, o->n_edges, p);
}
static int
d_root(uint64_t a, int k, uint32_t n, void *p)
{
    digest *d = p;
    d->roots++;
    mix(d, a);
    mix(d, (uint64_t)k);
    mix(d, n);
    return 0;
}
static int
d_tb(uint32_t id, const hd_tb_frame *f, size_t n, void *p)
{
    digest *d = p;
    d->tbs++;
    mix(d, id);
    for (size_t i = 0; i < n; i++) {
        mix(d, f[i].filename);
        mix(d, f[i].lineno);
    }
    return 0;
}

static int
d_size(uint64_t address, uint64_t size, int approx, void *p)
{
    digest *d = p;
    mix(d, address);
    mix(d, size);
    mix(d, (uint64_t)approx);
    return 0;
}

static int
d_memory(const char *part, uint64_t bytes, void *p)
{
    digest *d = p;
    for (const char *c = part; *c; c++)
        mix(d, (uint64_t)(unsigned char)*c);
    mix(d, bytes);
    return 0;
}

static const hd_reader_cb digest_cb = {d_header, d_string, d_type,
                                       d_object, d_edges,  d_root,
                                       d_tb,     d_size,   d_memory};

/* Feeds `data` in pieces of `chunk` bytes (0: whole). */
static int
decode(const uint8_t *data, size_t n, size_t chunk, digest *d)
{
    hd_reader *rd = NULL;
    int err;
    memset(d, 0, sizeof(*d));
    d->h = 1469598103934665603ull;
    if ((err = hd_reader_new(&rd, &digest_cb, d)) < 0)
        return err;
    if (chunk == 0)
        chunk = n ? n : 1;
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        if ((err = hd_reader_feed(rd, data + off, k)) < 0)
            break;
    }
    if (err == 0)
        err = hd_reader_finish(rd);
    hd_reader_free(rd);
    return err;
}

/* ---- Cases ---------------------------------------------------------------------- */

static void
test_reader__varint_roundtrip(void)
{
    uint64_t vals[] = {0, 1, 127, 128, 300, 1ull << 35, UINT64_MAX};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        uint8_t b[HD_VARINT_MAX];
        size_t n = hd_put_varint(b, vals[i]);
        const uint8_t *p = b;
        uint64_t v = 0;
        CHECK_EQ(hd_get_varint(&p, b + n, &v), 0);
        CHECK(v == vals[i]);
        CHECK(p == b + n);
        p = b;
        if (n > 1)
            CHECK_EQ(hd_get_varint(&p, b + n - 1, &v), -1);
    }
    int64_t z[] = {0, -1, 1, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < 5; i++)
        CHECK(hd_unzigzag(hd_zigzag(z[i])) == z[i]);
    uint8_t over[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                        0xff, 0x7f, 0};
    const uint8_t *p = over;
    uint64_t v;
    CHECK_EQ(hd_get_varint(&p, over + 11, &v), -2);
}

static void
test_reader__crafted_decodes(void)
{
    wbuf raw = craft(HD_FORMAT_MAJOR, 0), z = gz(raw.p, raw.n, 0);
    digest d;
    CHECK_EQ(decode(z.p, z.n, 0, &d), 0);
    CHECK_EQ(d.header, 1);
    CHECK_EQ(d.strings, 2);
    CHECK_EQ(d.types, 1);
    CHECK_EQ(d.objects, 3);
    CHECK_EQ(d.edges, 4);
    CHECK_EQ(d.roots, 1);
    CHECK_EQ(d.tbs, 1);
    free(raw.p);
    free(z.p);
}

static void
test_reader__chunk_sizes_agree(void)
{
    wbuf raw = craft(HD_FORMAT_MAJOR, 0), z = gz(raw.p, raw.n, 0);
    size_t chunks[] = {1, 2, 7, 4096};
    digest whole, part;
    CHECK_EQ(decode(z.p, z.n, 0, &whole), 0);
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ(decode(z.p, z.n, chunks[i], &part), 0);
        CHECK(part.h == whole.h);
        /* uncompressed, its magic fed a byte at a time: the kind of stream
         * is decided by the first 8 bytes, not by the first feed */
        CHECK_EQ(decode(raw.p, raw.n, chunks[i], &part), 0);
        CHECK(part.h == whole.h);
    }
    free(raw.p);
    free(z.p);
}

static void
test_reader__two_gzip_members(void)
{
    wbuf raw = craft(HD_FORMAT_MAJOR, 0);
    wbuf one = gz(raw.p, raw.n, 0), two = gz(raw.p, raw.n, raw.n / 2);
    digest a, b;
    CHECK_EQ(decode(one.p, one.n, 0, &a), 0);
    CHECK_EQ(decode(two.p, two.n, 3, &b), 0);
    CHECK(a.h == b.h);
    free(raw.p);
    free(one.p);
    free(two.p);
}

static void
test_reader__unknown_record_skipped(void)
{
    wbuf raw = craft(HD_FORMAT_MAJOR, 0x42), z = gz(raw.p, raw.n, 0);
    digest d;
    CHECK_EQ(decode(z.p, z.n, 5, &d), 0);
    CHECK_EQ(d.objects, 3);
    free(raw.p);
    free(z.p);
}

static void
test_reader__new_major_refused(void)
{
    wbuf raw = craft(HD_FORMAT_MAJOR + 1, 0), z = gz(raw.p, raw.n, 0);
    digest d;
    CHECK_EQ(decode(z.p, z.n, 0, &d), HD_EVERSION);
    CHECK(strstr(hd_error_last()->message, "not supported") != NULL);
    free(raw.p);
    free(z.p);
}

static void
test_reader__every_truncation(void)
{
    wbuf raw = craft(HD_FORMAT_MAJOR, 0), z = gz(raw.p, raw.n, 0);
    digest d;
    for (size_t n = 0; n < z.n; n++) {
        int err = decode(z.p, n, 0, &d);
        CHECK(err == HD_ETRUNCATED || err == HD_ECORRUPT);
    }
    /* Truncating the uncompressed stream and compressing it whole: always
     * a clean "truncated", with the offset where it stopped. */
    for (size_t n = 0; n < raw.n; n++) {
        wbuf t = gz(raw.p, n, 0);
        int err = decode(t.p, t.n, 0, &d);
        CHECK(err == HD_ETRUNCATED || (n < HD_PRELUDE_LEN + 0 && err < 0));
        free(t.p);
    }
    free(raw.p);
    free(z.p);
}

static void
test_reader__every_bit_flip(void)
{
    wbuf raw = craft(HD_FORMAT_MAJOR, 0);
    digest d;
    int accepted = 0;
    for (size_t i = 0; i < raw.n * 8; i++) {
        raw.p[i / 8] ^= (uint8_t)(1u << (i % 8));
        wbuf z = gz(raw.p, raw.n, 0);
        int err = decode(z.p, z.n, 0, &d);
        /* The checksum and counts in END catch every single flip. */
        if (err == 0)
            accepted++;
        CHECK(err == HD_ECORRUPT || err == HD_ETRUNCATED ||
              err == HD_EVERSION || err == 0);
        if (err == HD_ECORRUPT)
            CHECK(strstr(hd_error_last()->message, "at byte") != NULL);
        raw.p[i / 8] ^= (uint8_t)(1u << (i % 8));
        free(z.p);
    }
    CHECK_EQ(accepted, 0);
    free(raw.p);
}

static void
test_reader__compressed_damage(void)
{
    wbuf raw = craft(HD_FORMAT_MAJOR, 0), z = gz(raw.p, raw.n, 0);
    digest good, d;
    int changed = 0;
    CHECK(decode(z.p, z.n, 0, &good) == 0);
    for (size_t i = 10; i < z.n; i++) { /* past the gzip header */
        z.p[i] ^= 0x5a;
        /* Damage that changes what inflates is always caught (gzip's CRC,
         * then ours); the last deflate byte's padding bits change nothing,
         * and a dump read the same is the right answer there. */
        if (decode(z.p, z.n, 0, &d) == 0 && d.h != good.h)
            changed++;
        z.p[i] ^= 0x5a;
    }
    CHECK_EQ(changed, 0);
    free(raw.p);
    free(z.p);
}

static void
test_reader__oversized_record_refused(void)
{
    wbuf w = {0};
    uint8_t pre[HD_PRELUDE_LEN];
    memcpy(pre, HD_MAGIC, HD_MAGIC_LEN);
    hd_put_u16le(pre + 8, HD_FORMAT_MAJOR);
    hd_put_u16le(pre + 10, HD_FORMAT_MINOR);
    w_bytes(&w, pre, sizeof(pre));
    w_v(&w, HD_REC_HEADER);
    w_v(&w, (uint64_t)1 << 40); /* a terabyte-long record */
    wbuf z = gz(w.p, w.n, 0);
    digest d;
    CHECK_EQ(decode(z.p, z.n, 0, &d), HD_ECORRUPT);
    CHECK(strstr(hd_error_last()->message, "exceeds") != NULL);
    free(w.p);
    free(z.p);
}

static void
test_reader__not_a_dump(void)
{
    const char *text = "hello, I am not a heap dump";
    wbuf z = gz((const uint8_t *)text, strlen(text), 0);
    digest d;
    CHECK_EQ(decode(z.p, z.n, 0, &d), HD_ECORRUPT);
    CHECK(strstr(hd_error_last()->message, "magic") != NULL);
    CHECK(decode((const uint8_t *)text, strlen(text), 0, &d) == HD_ECORRUPT);
    free(z.p);
}

/* A real dump (from the dumper), named by HD_TEST_DUMP. */
static void
test_reader__real_dump_chunks(void)
{
    const char *path = getenv("HD_TEST_DUMP");
    if (path == NULL) {
        printf("  (HD_TEST_DUMP not set; skipped)\n");
        return;
    }
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    wbuf b = {0};
    uint8_t tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        w_bytes(&b, tmp, n);
    fclose(f);
    digest whole, part;
    CHECK_EQ(decode(b.p, b.n, 0, &whole), 0);
    CHECK(whole.objects > 1000);
    size_t chunks[] = {1, 2, 7, 4096};
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ(decode(b.p, b.n, chunks[i], &part), 0);
        CHECK(part.h == whole.h);
    }
    /* Cut at a few places: truncated, never accepted. */
    for (size_t k = 1; k < 8; k++)
        CHECK(decode(b.p, b.n * k / 8, 0, &part) == HD_ETRUNCATED);
    free(b.p);
}

/* hd_col against a 64-bit array: appends (narrow and wide, HD_WIDE
 * itself), overwrites both ways in random order, then a compaction that
 * keeps a random subset, as the reader does to dangling edges. */
static void
test_reader__wide_numbers(void)
{
    enum { N = 5000 };
    static uint64_t want[N], kept_want[N];
    hd_col c = {0};
    uint64_t seed = 88172645463325252ull;
#define NEXT() (seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17)
#define PICK()                                                                \
    (NEXT() % 4 == 0 ? (uint64_t)HD_WIDE - 1 + NEXT() % 3                     \
     : NEXT() % 3 == 0 ? NEXT()                                               \
                       : NEXT() % 1000)
    c.v = malloc(N * sizeof(uint32_t));
    for (uint64_t i = 0; i < N; i++) {
        want[i] = PICK();
        CHECK_EQ(hd_col_set(&c, i, want[i]), 0);
    }
    for (int k = 0; k < 3 * N; k++) {
        uint64_t i = NEXT() % N;
        want[i] = PICK();
        CHECK_EQ(hd_col_set(&c, i, want[i]), 0);
    }
    int bad = 0;
    uint64_t n_wide = 0;
    for (uint64_t i = 0; i < N; i++) {
        bad += hd_col_get(&c, i) != want[i];
        n_wide += want[i] >= HD_WIDE;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(c.n_wide, n_wide); /* one entry each, none left behind */
    uint64_t cursor = 0, kept = 0, w = 0;
    for (uint64_t i = 0; i < N; i++)
        if (NEXT() % 3) {
            hd_col_move(&c, i, w, &cursor, &kept);
            kept_want[w++] = want[i];
        }
    hd_col_compacted(&c, kept);
    bad = 0;
    for (uint64_t i = 0; i < w; i++)
        bad += hd_col_get(&c, i) != kept_want[i];
    CHECK_EQ(bad, 0);
    for (uint64_t i = 0; i + 1 < c.n_wide; i++)
        bad += c.wide_at[i] >= c.wide_at[i + 1];
    CHECK_EQ(bad, 0);
    CHECK(c.n_wide > 0 && c.wide_at[c.n_wide - 1] < w);
    /* many at once, in any order, two for some indices (the later wins):
     * as the reader applies SIZE records */
    enum { M = 3000 };
    static hd_col_update u[M];
    for (uint64_t k = 0; k < M; k++) {
        uint64_t i = NEXT() % w;
        u[k] = (hd_col_update){i, k, PICK()};
        kept_want[i] = u[k].val;
    }
    CHECK_EQ(hd_col_set_many(&c, u, M), 0);
    bad = 0;
    n_wide = 0;
    for (uint64_t i = 0; i < w; i++) {
        bad += hd_col_get(&c, i) != kept_want[i];
        n_wide += kept_want[i] >= HD_WIDE;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(c.n_wide, n_wide);
    for (uint64_t i = 0; i + 1 < c.n_wide; i++)
        bad += c.wide_at[i] >= c.wide_at[i + 1];
    CHECK_EQ(bad, 0);
#undef PICK
#undef NEXT
    hd_col_free(&c);
}

int
main(int argc, char **argv)
{
    static const hd_test_case cases[] = {
        TEST(test_reader__varint_roundtrip),
        TEST(test_reader__wide_numbers),
        TEST(test_reader__crafted_decodes),
        TEST(test_reader__chunk_sizes_agree),
        TEST(test_reader__two_gzip_members),
        TEST(test_reader__unknown_record_skipped),
        TEST(test_reader__new_major_refused),
        TEST(test_reader__every_truncation),
        TEST(test_reader__every_bit_flip),
        TEST(test_reader__compressed_damage),
        TEST(test_reader__oversized_record_refused),
        TEST(test_reader__not_a_dump),
        TEST(test_reader__real_dump_chunks),
    };
    return hd_test_main(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
