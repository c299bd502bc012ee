/* heapdig — MIT licence.
 *
 * read/read.h: the streaming reader (inflate, bounded record decoding)
 * and the load of a dump file into the heap model.
 */
#ifndef HEAPDIG_READ_READ_H
#define HEAPDIG_READ_READ_H

#include "heap/heap.h"

#include <stdio.h>

/* ---- reader.c: inflate + bounded record decoding ------------------------ */

typedef struct hd_edge_rec {
    uint64_t target;    /* address */
    uint64_t payload;   /* string id, index, or zigzag key */
    uint8_t label_kind; /* enum hd_label_kind */
    uint8_t weak;
} hd_edge_rec;

typedef struct hd_obj_rec {
    uint64_t address;
    uint32_t type;      /* type id, 1-based */
    uint64_t size;
    uint64_t refcount;
    uint32_t flags;
    int64_t length;     /* -1 if absent */
    int value_kind;     /* 0 if absent */
    const uint8_t *value; /* str/bytes/name payload */
    size_t value_len;
    int64_t value_int;
    double value_float;
    uint32_t traceback; /* 0 if absent */
    const hd_edge_rec *edges;
    size_t n_edges;
} hd_obj_rec;

/* Record callbacks; each returns 0 or a negative hd_err to stop. */
typedef struct hd_reader_cb {
    int (*header)(const hd_header *h, void *payload);
    int (*string)(uint32_t id, const uint8_t *s, size_t n, void *payload);
    int (*type)(uint32_t id, uint64_t address, uint32_t name, uint32_t module,
                void *payload);
    int (*object)(const hd_obj_rec *o, void *payload);
    int (*edges)(const hd_edge_rec *e, size_t n, void *payload);
    int (*root)(uint64_t address, int kind, uint32_t name, void *payload);
    int (*traceback)(uint32_t id, const hd_tb_frame *f, size_t n,
                     void *payload);
    /* 1.1: the measured size of an object whose OBJECT record came first */
    int (*size)(uint64_t address, uint64_t size, int approx, void *payload);
    /* 1.3: one of the process's memory figures ("rss", ...; [a-z0-9_]) */
    int (*memory)(const char *part, uint64_t bytes, void *payload);
} hd_reader_cb;

typedef struct hd_reader hd_reader;

int hd_reader_new(hd_reader **out, const hd_reader_cb *cb, void *payload);
/* Feeds compressed bytes, any amount at a time; records are delivered as
 * soon as they are complete.  Returns 0 or a negative hd_err (sticky). */
int hd_reader_feed(hd_reader *rd, const void *data, size_t len);
/* Ends the input: 0 if the END record was seen and checked, HD_ETRUNCATED
 * if the stream stopped early, or the error already reported. */
int hd_reader_finish(hd_reader *rd);
/* Uncompressed bytes decoded so far. */
uint64_t hd_reader_offset(const hd_reader *rd);
void hd_reader_free(hd_reader *rd);
/* Before the first feed: the bytes to come are inflated already (an
 * hd_inflater's), the records themselves. */
void hd_reader_set_inflated(hd_reader *rd);

/* ---- inflate.c: inflating on a thread of its own ---------------------------- */

typedef struct hd_inflater hd_inflater;
/* Starts a thread that inflates gzip file f (named path in errors): first
 * the n_first bytes the caller read from it, then the rest of it (f may be
 * a pipe: nothing is read twice). */
int hd_inflater_start(hd_inflater **out, FILE *f, const char *path,
                      const uint8_t *first, size_t n_first);
/* The next inflated piece, in file order: 1 with *p and *n valid until the
 * next call and *file_bytes the compressed bytes read by then; 0 at the
 * end; or the thread's error (damaged data, a read error), said after
 * every piece inflated before it. */
int hd_inflater_next(hd_inflater *z, const uint8_t **p, size_t *n,
                     uint64_t *file_bytes);
/* After the end: whether the file ended inside a gzip member. */
int hd_inflater_cut_short(const hd_inflater *z);
/* Stops the thread (at once, if the caller wants no more) and frees. */
void hd_inflater_stop(hd_inflater *z);

/* ---- read.c: records -> the heap model ------------------------------------ */

/* Reads a dump file into *out.  Returns 0, HD_ETRUNCATED (with *out holding
 * what was read), or another error (and *out NULL). */
int hd_heap__read(hd_heap **out, const char *path, hd_progress_cb progress,
                  void *payload);

#endif /* HEAPDIG_READ_READ_H */
