/* heapdig — MIT licence.
 *
 * format.h: the dump file format, shared by the dumper (writer) and the
 * analyzer (reader).  schema/FORMAT.md is normative; this header mirrors it
 * section by section.  It owns the magic, the version, record tags, flag bits
 * and the little-endian / LEB128 codecs.  It includes only <stdint.h> and
 * <stddef.h> so that both halves (one built against Python.h, one against
 * sqlite3.h) can use it.
 */
#ifndef HEAPDIG_FORMAT_H
#define HEAPDIG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* ---- FORMAT.md §1 Prelude --------------------------------------------- */

/* PNG-style magic: a high byte catches 7-bit transports, CR LF and ^Z catch
 * text-mode mangling. */
#define HD_MAGIC "\x89HDG\r\n\x1a\n"
#define HD_MAGIC_LEN 8
#define HD_FORMAT_MAJOR 1
#define HD_FORMAT_MINOR 4
#define HD_PRELUDE_LEN (HD_MAGIC_LEN + 4) /* magic, u16 major, u16 minor */

/* ---- FORMAT.md §2 Records --------------------------------------------- */

/* Our own numbers, never CPython values.  A reader skips tags it does not
 * know by their length. */
enum hd_rec_tag {
    HD_REC_HEADER = 0x01,
    HD_REC_STRING = 0x02,
    HD_REC_TYPE = 0x03,
    HD_REC_OBJECT = 0x04,
    HD_REC_EDGES = 0x05, /* more edges of the object just before */
    HD_REC_ROOT = 0x06,
    HD_REC_TRACEBACK = 0x07,
    HD_REC_SIZE = 0x08, /* 1.1: measured size of an earlier OBJECT */
    HD_REC_MEMORY = 0x09, /* 1.3: the process's memory figures */
    HD_REC_END = 0x7f
};

/* Longest part name in a MEMORY record (§7b). */
#define HD_MEMORY_PART_MAX 48

/* Largest record a writer may produce and a reader accepts (a cap applied
 * before any allocation).  Objects with many edges spill into EDGES records. */
#define HD_REC_MAX_LEN (16u << 20)
#define HD_EDGES_PER_RECORD 65536

/* ---- FORMAT.md §3 Header options ---------------------------------------- */

#define HD_OPT_VALUES 0x01     /* short values were recorded */
#define HD_OPT_TRACEBACKS 0x02 /* tracemalloc tracebacks were recorded */
#define HD_OPT_KNOWN 0x03

/* ---- FORMAT.md §5 Object flags ------------------------------------------ */

#define HD_OBJ_GC_TRACKED 0x0001   /* in a collector list at dump time */
#define HD_OBJ_FINALIZER 0x0002    /* type has tp_finalize (__del__ too) */
#define HD_OBJ_LEGACY_DEL 0x0004   /* type has tp_del */
#define HD_OBJ_TYPE 0x0008         /* object is a type */
#define HD_OBJ_MODULE 0x0010       /* object is a module */
#define HD_OBJ_IMMORTAL 0x0020     /* 3.12+ immortal: refcount is a marker */
#define HD_OBJ_SIZE_APPROX 0x0040  /* Python-level __sizeof__ not called */
#define HD_OBJ_HAS_LENGTH 0x0080   /* a length field follows */
#define HD_OBJ_HAS_VALUE 0x0100    /* a value field follows */
#define HD_OBJ_HAS_TRACEBACK 0x0200 /* a traceback id follows */
#define HD_OBJ_VALUE_TRUNC 0x0400  /* value is a prefix */
#define HD_OBJ_GC_TYPE 0x0800      /* type supports gc (tracked or not) */
#define HD_OBJ_KNOWN 0x0fff
/* A flag in SQL text, as the flag's own literal: "o.flags & " HD_SQL(HD_OBJ_TYPE) */
#define HD_SQL(x) HD_SQL_(x)
#define HD_SQL_(x) "(" #x ")"

/* Value kinds (FORMAT.md §5.1). */
enum hd_val_kind {
    HD_VAL_STR = 1,    /* UTF-8 prefix of a str */
    HD_VAL_BYTES = 2,  /* raw prefix of bytes/bytearray */
    HD_VAL_INT = 3,    /* zigzag varint */
    HD_VAL_FLOAT = 4,  /* 8 bytes, IEEE 754 LE */
    HD_VAL_TRUE = 5,
    HD_VAL_FALSE = 6,
    HD_VAL_NONE = 7,
    HD_VAL_NAME = 8,   /* UTF-8 name of a module/type/function/code */
    HD_VAL_BIGINT = 9, /* float approximation of an int beyond int64 */
    HD_VAL_MAX = 9
};

/* ---- FORMAT.md §6 Edges -------------------------------------------------- */

#define HD_EDGE_WEAK 0x1 /* low bit of the label word */

enum hd_label_kind {
    HD_LBL_NONE = 0,      /* from tp_traverse, no name known */
    HD_LBL_ATTR = 1,      /* string: .name (attribute, slot, field) */
    HD_LBL_KEY_STR = 2,   /* string: dict value under str key */
    HD_LBL_KEY_INT = 3,   /* zigzag: dict value under int key */
    HD_LBL_KEY_OTHER = 4, /* string: dict value under another key (type) */
    HD_LBL_KEY_OBJ = 5,   /* -: the edge is to the dict key itself */
    HD_LBL_INDEX = 6,     /* varint: list/tuple index */
    HD_LBL_LOCAL = 7,     /* string: frame local/cell/free variable */
    HD_LBL_MAX = 7
};

/* ---- FORMAT.md §7 Roots -------------------------------------------------- */

enum hd_root_kind {
    HD_ROOT_SYS_MODULES = 1, /* the sys.modules dict */
    HD_ROOT_BUILTINS = 2,    /* the builtins module dict */
    HD_ROOT_FRAME = 3,       /* a thread's frame object (or its function) */
    HD_ROOT_LOCAL = 4,       /* a value held by a running frame's local */
    HD_ROOT_THREAD = 5,      /* per-thread state (thread dict, context) */
    HD_ROOT_INTERP = 6,      /* 1.4: held by the interpreter (atexit) */
    HD_ROOT_MAX = 6
};

/* ---- Codecs -------------------------------------------------------------- */

/* Longest LEB128 encoding of a 64-bit value. */
#define HD_VARINT_MAX 10

static inline size_t
hd_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Decodes one varint from [*pp, end).  Returns 0 on success, -1 if the input
 * ends first, -2 if the encoding is longer than 64 bits allow. */
static inline int
hd_get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        if (shift == 63 && (b & 0x7e))
            return -2;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
        shift += 7;
        if (shift > 63)
            return -2;
    }
    *pp = p;
    *out = v;
    return 0;
}

static inline uint64_t
hd_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t
hd_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline void
hd_put_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline uint16_t
hd_get_u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline void
hd_put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t
hd_get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline void
hd_put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t
hd_get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#endif /* HEAPDIG_FORMAT_H */
