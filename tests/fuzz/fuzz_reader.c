/* heapdig — MIT licence.
 *
 * fuzz_reader.c: libFuzzer target for the dump reader (analyzer/reader.c)
 * on any bytes: the gzip stream the dumper writes and the raw record stream
 * (both sniffed from the first bytes), fed whole and in two pieces so that
 * records split across feeds are exercised.  Every record callback is set,
 * so the checks behind them run.  A crash, a sanitizer report or a hang is
 * a finding; an error return is the reader doing its job.
 */
#include "read/read.h"

#include <stddef.h>
#include <stdint.h>

static int on_header(const hd_header *h, void *p) { (void)h; (void)p; return 0; }
static int on_string(uint32_t id, const uint8_t *s, size_t n, void *p)
{ (void)id; (void)s; (void)n; (void)p; return 0; }
static int on_type(uint32_t id, uint64_t a, uint32_t n, uint32_t m, void *p)
{ (void)id; (void)a; (void)n; (void)m; (void)p; return 0; }
static int on_object(const hd_obj_rec *o, void *p) { (void)o; (void)p; return 0; }
static int on_edges(const hd_edge_rec *e, size_t n, void *p)
{ (void)e; (void)n; (void)p; return 0; }
static int on_root(uint64_t a, int k, uint32_t n, void *p)
{ (void)a; (void)k; (void)n; (void)p; return 0; }
static int on_tb(uint32_t id, const hd_tb_frame *f, size_t n, void *p)
{ (void)id; (void)f; (void)n; (void)p; return 0; }
static int on_size(uint64_t a, uint64_t s, int x, void *p)
{ (void)a; (void)s; (void)x; (void)p; return 0; }
static int on_memory(const char *part, uint64_t b, void *p)
{ (void)part; (void)b; (void)p; return 0; }

static const hd_reader_cb CB = {on_header, on_string, on_type,
                                on_object, on_edges,  on_root,
                                on_tb,     on_size,   on_memory};

static void
read_in_pieces(const uint8_t *data, size_t size, size_t split)
{
    hd_reader *rd = NULL;
    if (hd_reader_new(&rd, &CB, NULL) < 0)
        return;
    if (hd_reader_feed(rd, data, split) == 0 &&
        hd_reader_feed(rd, data + split, size - split) == 0)
        hd_reader_finish(rd);
    hd_reader_free(rd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_in_pieces(data, size, size);
    if (size > 1)
        read_in_pieces(data, size, size / 2 + 1);
    return 0;
}
