/* heapdig — MIT licence.
 *
 * emit.c: encodes records as schema/FORMAT.md lays them out, section by
 * section, into the sink.  It owns the string, type and traceback tables
 * (numbered in order of first use) and the per-object encoding: size,
 * refcount, flags, length, short value.  It reads objects but never calls
 * Python code and never allocates Python objects (the one exception, a C
 * __sizeof__ we cannot compute ourselves, is documented at size_of()).
 */
#include "dumper_int.h"

#include <float.h>  /* DBL_MAX_EXP */
#include <math.h>   /* HUGE_VAL */
#include <string.h>
#include <unistd.h> /* getpid */

/* ---- Record framing (FORMAT.md §2) --------------------------------------- */

/* Records are encoded into a scratch area in the sink and framed once their
 * length is known.  Most records are shorter than 128 bytes, so we leave room
 * for a one-byte length and move the payload only when it turned out longer. */
#define PREFIX_GUESS 2    /* tag < 128, length < 128 */
#define PREFIX_MAX (1 + 4) /* tag < 128, length < 2^28 */

typedef struct rec {
    uint8_t *base; /* start of the reservation */
    uint8_t *p;    /* write position */
    int tag;
} rec;

static int
rec_begin(hd_dumpctx *ctx, rec *r, int tag, size_t max_payload)
{
    r->base = hd_sink_reserve(ctx->sink, PREFIX_MAX + max_payload);
    if (r->base == NULL)
        return -1;
    r->p = r->base + PREFIX_GUESS;
    r->tag = tag;
    return 0;
}

static void
rec_end(hd_dumpctx *ctx, rec *r)
{
    size_t len = (size_t)(r->p - (r->base + PREFIX_GUESS));
    uint8_t lenbuf[HD_VARINT_MAX];
    size_t n = hd_put_varint(lenbuf, len);
    if (1 + n != PREFIX_GUESS) /* rare: a long record, shift it up */
        memmove(r->base + 1 + n, r->base + PREFIX_GUESS, len);
    r->base[0] = (uint8_t)r->tag;
    memcpy(r->base + 1, lenbuf, n);
    hd_sink_commit(ctx->sink, 1 + n + len);
}

static inline void
put_v(rec *r, uint64_t v)
{
    r->p += hd_put_varint(r->p, v);
}

static inline void
put_bytes(rec *r, const void *s, size_t n)
{
    put_v(r, n);
    memcpy(r->p, s, n);
    r->p += n;
}

/* ---- §1 Prelude, §3 Header ------------------------------------------------ */

int
hd_emit_prelude(hd_dumpctx *ctx)
{
    uint8_t *p = hd_sink_reserve(ctx->sink, HD_PRELUDE_LEN);
    if (p == NULL)
        return -1;
    memcpy(p, HD_MAGIC, HD_MAGIC_LEN);
    hd_put_u16le(p + HD_MAGIC_LEN, HD_FORMAT_MAJOR);
    hd_put_u16le(p + HD_MAGIC_LEN + 2, HD_FORMAT_MINOR);
    hd_sink_commit(ctx->sink, HD_PRELUDE_LEN);
    return 0;
}

int
hd_emit_header(hd_dumpctx *ctx, uint64_t time_ns, const char **meta,
               size_t n_meta)
{
    rec r;
    size_t max = 8 * HD_VARINT_MAX;
    for (size_t i = 0; i < 2 * n_meta; i++)
        max += HD_VARINT_MAX + strlen(meta[i]);
    if (max > HD_REC_MAX_LEN || rec_begin(ctx, &r, HD_REC_HEADER, max) < 0)
        return -1;
    put_v(&r, sizeof(void *));
    put_v(&r, (uint64_t)PY_VERSION_HEX);
    put_v(&r, (uint64_t)getpid());
    put_v(&r, time_ns);
    put_v(&r, (ctx->opt.values ? HD_OPT_VALUES : 0) |
                  (ctx->opt.tracebacks ? HD_OPT_TRACEBACKS : 0));
    put_v(&r, (uint64_t)ctx->opt.max_value_len);
    put_v(&r, n_meta);
    for (size_t i = 0; i < 2 * n_meta; i++)
        put_bytes(&r, meta[i], strlen(meta[i]));
    rec_end(ctx, &r);
    return 0;
}

/* ---- §7b Memory ------------------------------------------------------------ */

int
hd_emit_memory(hd_dumpctx *ctx, const hd_memstat *m)
{
    rec r;
    size_t max = HD_VARINT_MAX;
    if (m->n == 0)
        return 0;
    for (int i = 0; i < m->n; i++)
        max += 2 * HD_VARINT_MAX + strlen(m->part[i].name);
    if (rec_begin(ctx, &r, HD_REC_MEMORY, max) < 0)
        return -1;
    put_v(&r, (uint64_t)m->n);
    for (int i = 0; i < m->n; i++) {
        put_bytes(&r, m->part[i].name, strlen(m->part[i].name));
        put_v(&r, m->part[i].bytes);
    }
    rec_end(ctx, &r);
    return 0;
}

/* ---- §4 Strings, types, tracebacks ---------------------------------------- */

/* Labels and names longer than this are cut (a dict key may be 1 MB). */
#define STR_MAX 256

static uint32_t
new_string(hd_dumpctx *ctx, const char *s, size_t n)
{
    rec r;
    if (rec_begin(ctx, &r, HD_REC_STRING, n) < 0)
        return 0;
    memcpy(r.p, s, n);
    r.p += n;
    rec_end(ctx, &r);
    return (uint32_t)++ctx->st.n_strings;
}

uint32_t
hd_emit_cstr(hd_dumpctx *ctx, const char *s, size_t n, const void *key)
{
    uint32_t id;
    if (key && (id = hd_ptrmap_get(&ctx->cstr_ids, key)) != 0)
        return id;
    if ((id = new_string(ctx, s, n)) == 0)
        return 0;
    if (key && hd_ptrmap_put(&ctx->cstr_ids, key, id) < 0) {
        ctx->nomem = 1;
        return 0;
    }
    return id;
}

uint32_t
hd_emit_str(hd_dumpctx *ctx, PyObject *str)
{
    char buf[STR_MAX];
    int trunc;
    uint32_t id = hd_ptrmap_get(&ctx->str_ids, str);
    if (id != 0)
        return id;
    size_t n = hd_str_utf8(str, buf, sizeof(buf), &trunc);
    if ((id = new_string(ctx, buf, n)) == 0)
        return 0;
    if (hd_ptrmap_put(&ctx->str_ids, str, id) < 0) {
        ctx->nomem = 1;
        return 0;
    }
    return id;
}

/* Chooses how sizes of this type's instances are computed: the first
 * __sizeof__ along the MRO that is C code decides; a Python-level one in
 * front of it is skipped (we run no Python code) and marks sizes approximate. */
static void
classify_sizeof(hd_dumpctx *ctx, hd_typeinfo *ti, PyTypeObject *tp)
{
    PyObject *mro = tp->tp_mro;
    ti->sizeof_kind = HD_SZ_OBJECT;
    if (mro == NULL || !PyTuple_Check(mro))
        return;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        PyObject *d = hd_compat_type_lookup(base, ctx->name_sizeof);
        if (d == NULL)
            return;
        for (int k = 0; k < HD_N_KNOWN_SIZEOF; k++) {
            if (d == ctx->known_sizeof[k]) {
                ti->sizeof_kind = ctx->known_kind[k];
                return;
            }
        }
        if (Py_IS_TYPE(d, &PyMethodDescr_Type) ||
            Py_IS_TYPE(d, &PyWrapperDescr_Type)) {
            ti->sizeof_kind = hd_probe_vetted(d) ? HD_SZ_CALL : HD_SZ_PROBE;
            ti->descr = d;
            return;
        }
        /* Python code (or something we will not call): look further up. */
        ti->approx = 1;
        while (i + 1 < PyTuple_GET_SIZE(mro) &&
               hd_compat_type_lookup(
                   (PyTypeObject *)PyTuple_GET_ITEM(mro, i + 1),
                   ctx->name_sizeof) == d)
            i++;
    }
}

/* "module" and "qualname" of a type without running Python code: heap types
 * keep __module__ in their dict and ht_qualname; static types spell it
 * "module.name" in tp_name (builtins when there is no dot). */
static int
type_names(hd_dumpctx *ctx, PyTypeObject *tp, uint32_t *name, uint32_t *mod)
{
    *name = *mod = 0;
    if (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        PyHeapTypeObject *ht = (PyHeapTypeObject *)tp;
        PyObject *m = NULL;
        if (tp->tp_dict && PyDict_CheckExact(tp->tp_dict)) {
            Py_ssize_t pos = 0;
            PyObject *k, *v;
            while (PyDict_Next(tp->tp_dict, &pos, &k, &v)) {
                if (PyUnicode_CheckExact(k) &&
                    PyUnicode_CompareWithASCIIString(k, "__module__") == 0) {
                    m = v;
                    break;
                }
            }
        }
        if (ht->ht_qualname && PyUnicode_Check(ht->ht_qualname))
            *name = hd_emit_str(ctx, ht->ht_qualname);
        if (m && PyUnicode_Check(m))
            *mod = hd_emit_str(ctx, m);
    }
    if (*name == 0) {
        const char *s = tp->tp_name, *dot = strrchr(s, '.');
        if (dot) {
            *name = hd_emit_cstr(ctx, dot + 1, strlen(dot + 1), NULL);
            *mod = hd_emit_cstr(ctx, s, (size_t)(dot - s), NULL);
        } else {
            *name = hd_emit_cstr(ctx, s, strlen(s), s);
        }
    }
    if (*mod == 0)
        *mod = hd_emit_cstr(ctx, "builtins", 8, "builtins");
    return (*name && *mod) ? 0 : -1;
}

static int
is_sub(PyTypeObject *tp, PyTypeObject *base)
{
    return tp == base || PyType_IsSubtype(tp, base);
}

static uint32_t
traits_of(PyTypeObject *tp)
{
    uint32_t t = 0;
    t |= PyType_IS_GC(tp) ? HD_T_GC : 0;
    t |= (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) ? HD_T_HEAPTYPE : 0;
    t |= PyType_FastSubclass(tp, Py_TPFLAGS_DICT_SUBCLASS) ? HD_T_DICT : 0;
    t |= PyType_FastSubclass(tp, Py_TPFLAGS_LIST_SUBCLASS) ? HD_T_LIST : 0;
    t |= PyType_FastSubclass(tp, Py_TPFLAGS_TUPLE_SUBCLASS) ? HD_T_TUPLE : 0;
    t |= PyType_FastSubclass(tp, Py_TPFLAGS_TYPE_SUBCLASS) ? HD_T_TYPE : 0;
    t |= PyType_FastSubclass(tp, Py_TPFLAGS_UNICODE_SUBCLASS) ? HD_T_STR : 0;
    t |= PyType_FastSubclass(tp, Py_TPFLAGS_BYTES_SUBCLASS) ? HD_T_BYTES : 0;
    t |= PyType_FastSubclass(tp, Py_TPFLAGS_LONG_SUBCLASS) ? HD_T_INT : 0;
    t |= is_sub(tp, &PyModule_Type) ? HD_T_MODULE : 0;
    t |= tp == &PyFunction_Type ? HD_T_FUNCTION : 0;
    t |= tp == &PyCode_Type ? HD_T_CODE : 0;
    t |= tp == &PyCell_Type ? HD_T_CELL : 0;
    t |= tp == &PyMethod_Type ? HD_T_METHOD : 0;
    t |= tp == &PyFrame_Type ? HD_T_FRAME : 0;
    t |= is_sub(tp, &_PyWeakref_RefType) || tp == &_PyWeakref_ProxyType ||
                 tp == &_PyWeakref_CallableProxyType
             ? HD_T_WEAKREF
             : 0;
    t |= is_sub(tp, &PyByteArray_Type) ? HD_T_BYTEARRAY : 0;
    t |= tp == &PyBool_Type ? HD_T_BOOL : 0;
    t |= is_sub(tp, &PyFloat_Type) ? HD_T_FLOAT : 0;
    t |= is_sub(tp, &PySet_Type) || is_sub(tp, &PyFrozenSet_Type) ? HD_T_SET
                                                                   : 0;
    t |= is_sub(tp, &PyCFunction_Type) ? HD_T_CFUNCTION : 0;
    t |= tp == Py_TYPE(Py_None) ? HD_T_NONE : 0;
    t |= PyType_FastSubclass(tp, Py_TPFLAGS_BASE_EXC_SUBCLASS) ? HD_T_EXCEPTION
                                                               : 0;
    t |= tp == &PyTraceBack_Type ? HD_T_TRACEBACK : 0;
    t |= tp == &PyGen_Type || tp == &PyCoro_Type || tp == &PyAsyncGen_Type
             ? HD_T_GEN
             : 0;
    t |= strcmp(tp->tp_name, "functools._lru_cache_wrapper") == 0
             ? HD_T_LRU_CACHE
             : 0;
    t |= strcmp(tp->tp_name, "collections.deque") == 0 ? HD_T_DEQUE : 0;
    t |= !(tp->tp_flags & Py_TPFLAGS_HEAPTYPE) &&
                 (!strcmp(tp->tp_name, "hamt_bitmap_node") ||
                  !strcmp(tp->tp_name, "hamt_collision_node"))
             ? HD_T_HAMT_NODE
             : 0;
    /* Types with a labeller of their own name their fields there (and
     * append the ones tp_traverse leaves out: named twice, they would
     * count twice). */
    const uint32_t own = HD_T_TYPE | HD_T_FUNCTION | HD_T_CODE | HD_T_CELL |
                         HD_T_METHOD | HD_T_MODULE | HD_T_FRAME |
                         HD_T_WEAKREF | HD_T_CFUNCTION | HD_T_GEN;
    /* A generator's labeller names its frame's contents; its own members
     * (gi_code on 3.9/3.10, cr_origin) still come from tp_members. */
    const uint32_t no_members = own & ~(uint32_t)HD_T_GEN;
    for (PyTypeObject *b = tp; b && !(t & (HD_T_CMEMBERS | no_members));
         b = b->tp_base) {
        int heap = (b->tp_flags & Py_TPFLAGS_HEAPTYPE) != 0;
        for (PyMemberDef *m = b->tp_members; m && m->name; m++)
            if (hd_member_is_c_field(m, heap))
                t |= HD_T_CMEMBERS;
    }
    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE) && tp->tp_dictoffset > 0 &&
        !(t & own))
        t |= HD_T_CMEMBERS;
    return t;
}

uint32_t
hd_emit_type(hd_dumpctx *ctx, PyTypeObject *tp)
{
    uint32_t id = hd_ptrmap_get(&ctx->type_ids, tp), name, mod;
    rec r;
    if (id != 0)
        return id;
    if (type_names(ctx, tp, &name, &mod) < 0)
        return 0;
    if (ctx->st.n_types == ctx->cap_types) {
        size_t cap = ctx->cap_types ? 2 * ctx->cap_types : 256;
        hd_typeinfo *t = realloc(ctx->types, cap * sizeof(*t));
        if (t == NULL) {
            ctx->nomem = 1;
            return 0;
        }
        ctx->types = t;
        ctx->cap_types = cap;
    }
    hd_typeinfo *ti = &ctx->types[ctx->st.n_types];
    memset(ti, 0, sizeof(*ti));
    ti->type = tp;
    ti->traits = traits_of(tp);
    classify_sizeof(ctx, ti, tp);
    if (rec_begin(ctx, &r, HD_REC_TYPE, 3 * HD_VARINT_MAX) < 0)
        return 0;
    put_v(&r, (uintptr_t)tp);
    put_v(&r, name);
    put_v(&r, mod);
    rec_end(ctx, &r);
    id = (uint32_t)++ctx->st.n_types;
    if (hd_ptrmap_put(&ctx->type_ids, tp, id) < 0) {
        ctx->nomem = 1;
        return 0;
    }
    return id;
}

/* Traceback id of the object's allocation site, 0 if none.  tracemalloc only
 * hands tracebacks out as new tuples: they are released at once (this is the
 * one per-object Python allocation, and only with tracebacks=True). */
static uint32_t
traceback_of(hd_dumpctx *ctx, PyObject *op)
{
    PyObject *tb = hd_compat_traceback(op);
    uint32_t id = 0;
    rec r;
    if (tb == NULL) {
        PyErr_Clear();
        return 0;
    }
    if (!PyTuple_Check(tb) || PyTuple_GET_SIZE(tb) == 0)
        goto done;
    /* Deduplicate by content: frames are (interned filename, lineno). */
    Py_ssize_t n = PyTuple_GET_SIZE(tb);
    uint64_t h = 1469598103934665603ull;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *fr = PyTuple_GET_ITEM(tb, i);
        h = (h ^ (uintptr_t)PyTuple_GET_ITEM(fr, 0)) * 1099511628211ull;
        h = (h ^ PyLong_AsUnsignedLong(PyTuple_GET_ITEM(fr, 1))) *
            1099511628211ull;
    }
    h |= 1; /* 0 marks an empty slot */
    if ((id = hd_ptrmap_get(&ctx->tb_ids, (void *)(uintptr_t)h)) != 0)
        goto done;
    uint32_t *sids = malloc((size_t)n * sizeof(*sids));
    if (sids == NULL) {
        ctx->nomem = 1;
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        sids[i] = hd_emit_str(ctx, PyTuple_GET_ITEM(PyTuple_GET_ITEM(tb, i), 0));
    if (rec_begin(ctx, &r, HD_REC_TRACEBACK, (size_t)(2 * n + 1) * HD_VARINT_MAX) == 0) {
        put_v(&r, (uint64_t)n);
        for (Py_ssize_t i = 0; i < n; i++) {
            put_v(&r, sids[i]);
            put_v(&r, PyLong_AsUnsignedLong(PyTuple_GET_ITEM(PyTuple_GET_ITEM(tb, i), 1)));
        }
        rec_end(ctx, &r);
        id = (uint32_t)++ctx->st.n_tracebacks;
        if (hd_ptrmap_put(&ctx->tb_ids, (void *)(uintptr_t)h, id) < 0)
            ctx->nomem = 1;
    }
    free(sids);
done:
    Py_DECREF(tb);
    return id;
}

/* ---- §5 Objects ------------------------------------------------------------ */

size_t
hd_str_utf8(PyObject *s, char *buf, size_t cap, int *trunc)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    size_t n = 0;
    *trunc = 0;
    if (PyUnicode_IS_ASCII(s)) { /* the common case: bytes are the text */
        n = (size_t)len < cap ? (size_t)len : cap;
        memcpy(buf, data, n);
        *trunc = n < (size_t)len;
        return n;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        size_t need = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        if (c >= 0xD800 && c <= 0xDFFF) {
            c = 0xFFFD; /* a lone surrogate has no UTF-8 form */
            need = 3;
        }
        if (n + need > cap) {
            *trunc = 1;
            break;
        }
        if (need == 1)
            buf[n++] = (char)c;
        else if (need == 2) {
            buf[n++] = (char)(0xC0 | (c >> 6));
            buf[n++] = (char)(0x80 | (c & 0x3F));
        } else if (need == 3) {
            buf[n++] = (char)(0xE0 | (c >> 12));
            buf[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
            buf[n++] = (char)(0x80 | (c & 0x3F));
        } else {
            buf[n++] = (char)(0xF0 | (c >> 18));
            buf[n++] = (char)(0x80 | ((c >> 12) & 0x3F));
            buf[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
            buf[n++] = (char)(0x80 | (c & 0x3F));
        }
    }
    return n;
}

/* sys.getsizeof(op) without calling Python code (FORMAT.md §5.2).  For
 * CPython's types whose C __sizeof__ we do not mirror but have vetted
 * (bytearray, deque, OrderedDict, type, ...) the C function is called and
 * the int it returns is released at once: a transient allocation, counted
 * in n_sizeof_calls.  Any other C __sizeof__ (NumPy arrays, _struct.Struct,
 * ...) is queued for a probe child (probe.c); the object's record gets the
 * C layout's size, flagged approximate, until its SIZE record. */
static size_t
size_of(hd_dumpctx *ctx, PyObject *op, hd_typeinfo *ti)
{
    PyTypeObject *tp = Py_TYPE(op);
    size_t size;
    switch (ti->sizeof_kind) {
    case HD_SZ_LIST:
        size = (size_t)tp->tp_basicsize +
               (size_t)((PyListObject *)op)->allocated * sizeof(void *);
        break;
    case HD_SZ_DICT:
        size = (size_t)_PyDict_SizeOf((PyDictObject *)op);
        break;
    case HD_SZ_SET: {
        PySetObject *so = (PySetObject *)op;
        size = (size_t)tp->tp_basicsize;
        if (so->table != so->smalltable)
            size += (size_t)(so->mask + 1) * sizeof(setentry);
        break;
    }
    case HD_SZ_STR:
        size = hd_compat_str_sizeof(op);
        break;
    case HD_SZ_INT:
        size = hd_compat_int_sizeof(op);
        break;
    case HD_SZ_CALL: {
        PyObject *r = PyObject_CallOneArg(ti->descr, op);
        Py_ssize_t v = r ? PyLong_AsSsize_t(r) : -1;
        Py_XDECREF(r);
        if (v < 0) {
            PyErr_Clear();
            goto object_default;
        }
        ctx->st.n_sizeof_calls++;
        size = (size_t)v;
        break;
    }
    case HD_SZ_PROBE:
        if (hd_probe_add(&ctx->probe, op, ti->descr) < 0)
            ctx->nomem = 1;
        goto object_default;
    default:
    object_default:
        size = (size_t)tp->tp_basicsize;
        if (tp->tp_itemsize > 0) {
            Py_ssize_t n = Py_SIZE(op);
            size += (size_t)(n < 0 ? -n : n) * (size_t)tp->tp_itemsize;
        }
        break;
    }
    return size + hd_compat_presize(op);
}

/* Length of built-in sized objects, read from their storage; -1 if none. */
static Py_ssize_t
length_of(PyObject *op, uint32_t t)
{
    if (t & HD_T_STR)
        return PyUnicode_GET_LENGTH(op);
    if (t & (HD_T_LIST | HD_T_TUPLE | HD_T_BYTES | HD_T_BYTEARRAY))
        return Py_SIZE(op);
    if (t & HD_T_DICT)
        return ((PyDictObject *)op)->ma_used;
    if (t & HD_T_SET)
        return PySet_GET_SIZE(op);
    return -1;
}

/* Writes a short value for the object if it has one we can read without
 * running code.  Returns the flags to add. */
static uint32_t
put_value(hd_dumpctx *ctx, rec *r, PyObject *op, uint32_t t)
{
    size_t cap = (size_t)ctx->opt.max_value_len;
    PyObject *name = NULL;
    int trunc = 0;

    if ((t & HD_T_STR) && cap < 128) { /* the length fits one byte */
        *r->p++ = HD_VAL_STR;
        uint8_t *lenp = r->p++;
        size_t n = hd_str_utf8(op, (char *)r->p, cap, &trunc);
        *lenp = (uint8_t)n;
        r->p += n;
        return HD_OBJ_HAS_VALUE | (trunc ? HD_OBJ_VALUE_TRUNC : 0);
    }
    if (t & HD_T_STR) {
        uint8_t *lenp = r->p;
        r->p += 1 + HD_VARINT_MAX; /* kind, length: fixed up below */
        size_t n = hd_str_utf8(op, (char *)r->p, cap, &trunc);
        uint8_t tmp[1 + HD_VARINT_MAX];
        size_t h = hd_put_varint(tmp + 1, n) + 1;
        tmp[0] = HD_VAL_STR;
        memmove(lenp + h, r->p, n);
        memcpy(lenp, tmp, h);
        r->p = lenp + h + n;
        return HD_OBJ_HAS_VALUE | (trunc ? HD_OBJ_VALUE_TRUNC : 0);
    }
    if (t & (HD_T_BYTES | HD_T_BYTEARRAY)) {
        size_t n = (size_t)Py_SIZE(op);
        const char *s = (t & HD_T_BYTES) ? PyBytes_AS_STRING(op)
                                          : PyByteArray_AS_STRING(op);
        put_v(r, HD_VAL_BYTES);
        put_bytes(r, s, n < cap ? n : cap);
        return HD_OBJ_HAS_VALUE | (n > cap ? HD_OBJ_VALUE_TRUNC : 0);
    }
    if (t & HD_T_BOOL) {
        put_v(r, op == Py_True ? HD_VAL_TRUE : HD_VAL_FALSE);
        return HD_OBJ_HAS_VALUE;
    }
    if (t & HD_T_NONE) {
        put_v(r, HD_VAL_NONE);
        return HD_OBJ_HAS_VALUE;
    }
    if (t & HD_T_INT) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(op, &overflow);
        if (!overflow && !(v == -1 && PyErr_Occurred())) {
            put_v(r, HD_VAL_INT);
            put_v(r, hd_zigzag(v));
        } else {
            double d;
            PyErr_Clear();
            /* Past the double range PyLong_AsDouble would raise, and an
             * exception is a Python object: say inf without asking. */
            if ((int64_t)_PyLong_NumBits(op) >= DBL_MAX_EXP)
                d = hd_compat_int_sign(op) < 0 ? -HUGE_VAL : HUGE_VAL;
            else
                d = PyLong_AsDouble(op);
            put_v(r, HD_VAL_BIGINT);
            uint64_t bits;
            memcpy(&bits, &d, 8);
            hd_put_u64le(r->p, bits);
            r->p += 8;
        }
        return HD_OBJ_HAS_VALUE;
    }
    if (t & HD_T_FLOAT) {
        double d = PyFloat_AS_DOUBLE(op);
        uint64_t bits;
        memcpy(&bits, &d, 8);
        put_v(r, HD_VAL_FLOAT);
        hd_put_u64le(r->p, bits);
        r->p += 8;
        return HD_OBJ_HAS_VALUE;
    }
    if (t & HD_T_TYPE) {
        PyTypeObject *tp = (PyTypeObject *)op;
        if ((tp->tp_flags & Py_TPFLAGS_HEAPTYPE) &&
            PyUnicode_Check(((PyHeapTypeObject *)tp)->ht_qualname))
            name = ((PyHeapTypeObject *)tp)->ht_qualname;
        else {
            size_t n = strlen(tp->tp_name);
            put_v(r, HD_VAL_NAME);
            put_bytes(r, tp->tp_name, n < cap ? n : cap);
            return HD_OBJ_HAS_VALUE | (n > cap ? HD_OBJ_VALUE_TRUNC : 0);
        }
    } else if (t & HD_T_FUNCTION)
        name = ((PyFunctionObject *)op)->func_qualname;
    else if (t & HD_T_FRAME) {
        PyCodeObject *co = hd_compat_frameobj_code((PyFrameObject *)op);
        name = co ? hd_compat_code_qualname(co) : NULL;
    } else if (t & HD_T_EXCEPTION) {
        /* What the program said when it raised: its first argument. */
        PyObject *args = ((PyBaseExceptionObject *)op)->args;
        if (args && PyTuple_CheckExact(args) && PyTuple_GET_SIZE(args) > 0 &&
            PyUnicode_CheckExact(PyTuple_GET_ITEM(args, 0)))
            return put_value(ctx, r, PyTuple_GET_ITEM(args, 0), HD_T_STR);
        return 0;
    }
    else if (t & HD_T_CODE)
        name = hd_compat_code_qualname((PyCodeObject *)op);
    else if (t & HD_T_MODULE) {
        PyObject *d = PyModule_GetDict(op), *k, *v;
        Py_ssize_t pos = 0;
        while (d && PyDict_CheckExact(d) && PyDict_Next(d, &pos, &k, &v)) {
            if (PyUnicode_CheckExact(k) &&
                PyUnicode_CompareWithASCIIString(k, "__name__") == 0) {
                name = v;
                break;
            }
        }
    } else if (t & HD_T_CFUNCTION) {
        const char *s = ((PyCFunctionObject *)op)->m_ml->ml_name;
        size_t n = strlen(s);
        put_v(r, HD_VAL_NAME);
        put_bytes(r, s, n < cap ? n : cap);
        return HD_OBJ_HAS_VALUE | (n > cap ? HD_OBJ_VALUE_TRUNC : 0);
    }
    if (name && PyUnicode_Check(name)) {
        char buf[STR_MAX];
        size_t n = hd_str_utf8(name, buf, cap < STR_MAX ? cap : STR_MAX,
                               &trunc);
        put_v(r, HD_VAL_NAME);
        put_bytes(r, buf, n);
        return HD_OBJ_HAS_VALUE | (trunc ? HD_OBJ_VALUE_TRUNC : 0);
    }
    return 0;
}

/* Encodes up to `n` edges starting at e, relative to base. */
static void
put_edges(rec *r, const hd_edge *e, size_t n, uintptr_t base)
{
    put_v(r, n);
    for (size_t i = 0; i < n; i++) {
        put_v(r, hd_zigzag((int64_t)((uintptr_t)e[i].target - base)));
        put_v(r, e[i].word);
        switch (e[i].word >> 1) {
        case HD_LBL_NONE:
        case HD_LBL_KEY_OBJ:
            break;
        default:
            put_v(r, e[i].payload);
        }
    }
}

#define EDGE_MAX (3 * HD_VARINT_MAX)

int
hd_emit_object(hd_dumpctx *ctx, PyObject *op, uint32_t tid)
{
    PyTypeObject *tp = Py_TYPE(op);
    uint32_t tb = 0, t;
    hd_typeinfo *ti;
    uint32_t flags = 0;
    Py_ssize_t len;
    uint64_t refcnt;
    size_t n_first, value_max;
    uint8_t *flags_at;
    rec r;

    if (tid == 0)
        return -1;
    ti = &ctx->types[tid - 1];
    t = ti->traits;
    if (ctx->opt.tracebacks)
        tb = traceback_of(ctx, op);
    n_first = ctx->n_edges < HD_EDGES_PER_RECORD ? ctx->n_edges
                                                  : HD_EDGES_PER_RECORD;
    value_max = ctx->opt.values ? (size_t)ctx->opt.max_value_len + 32 : 0;
    if (rec_begin(ctx, &r, HD_REC_OBJECT,
                  8 * HD_VARINT_MAX + value_max + n_first * EDGE_MAX) < 0)
        return -1;

    if ((t & HD_T_GC) && hd_compat_gc_tracked(op))
        flags |= HD_OBJ_GC_TRACKED;
    if (t & HD_T_GC)
        flags |= HD_OBJ_GC_TYPE;
    if (tp->tp_finalize)
        flags |= HD_OBJ_FINALIZER;
    if (tp->tp_del)
        flags |= HD_OBJ_LEGACY_DEL;
    if (t & HD_T_TYPE)
        flags |= HD_OBJ_TYPE;
    if (t & HD_T_MODULE)
        flags |= HD_OBJ_MODULE;
    if (hd_compat_is_immortal(op))
        flags |= HD_OBJ_IMMORTAL;
    if (ti->approx || ti->sizeof_kind == HD_SZ_PROBE)
        flags |= HD_OBJ_SIZE_APPROX;
    if ((len = length_of(op, t)) >= 0)
        flags |= HD_OBJ_HAS_LENGTH;
    if (tb)
        flags |= HD_OBJ_HAS_TRACEBACK;

    refcnt = (uint64_t)Py_REFCNT(op);

    put_v(&r, hd_zigzag((int64_t)((uintptr_t)op - ctx->prev_addr)));
    ctx->prev_addr = (uintptr_t)op;
    put_v(&r, tid);
    put_v(&r, size_of(ctx, op, ti));
    put_v(&r, refcnt);
    flags_at = r.p;
    r.p += 2; /* flags as a two-byte varint, patched once the value is known */
    if (len >= 0)
        put_v(&r, (uint64_t)len);
    if (ctx->opt.values)
        flags |= put_value(ctx, &r, op, t);
    if (tb)
        put_v(&r, tb);
    flags_at[0] = (uint8_t)(0x80 | (flags & 0x7f));
    flags_at[1] = (uint8_t)(flags >> 7);
    put_edges(&r, ctx->edges, n_first, (uintptr_t)op);
    rec_end(ctx, &r);

    for (size_t i = n_first; i < ctx->n_edges; i += HD_EDGES_PER_RECORD) {
        size_t k = ctx->n_edges - i;
        if (k > HD_EDGES_PER_RECORD)
            k = HD_EDGES_PER_RECORD;
        if (rec_begin(ctx, &r, HD_REC_EDGES, HD_VARINT_MAX + k * EDGE_MAX) < 0)
            return -1;
        put_edges(&r, ctx->edges + i, k, (uintptr_t)op);
        rec_end(ctx, &r);
    }
    ctx->st.n_objects++;
    ctx->st.n_edges += ctx->n_edges;
    return 0;
}

/* ---- §7 Roots, §8 End ------------------------------------------------------- */

int
hd_emit_root(hd_dumpctx *ctx, PyObject *op, int kind, uint32_t name)
{
    rec r;
    if (rec_begin(ctx, &r, HD_REC_ROOT, 3 * HD_VARINT_MAX) < 0)
        return -1;
    put_v(&r, (uintptr_t)op);
    put_v(&r, (uint64_t)kind);
    put_v(&r, name);
    rec_end(ctx, &r);
    ctx->st.n_roots++;
    return 0;
}

/* §7a SIZE: the measured size of an object written with a provisional one. */
int
hd_emit_probed_sizes(hd_dumpctx *ctx)
{
    int64_t *sizes = NULL;
    int err = -1;
    rec r;
    if (hd_probe_run(&ctx->probe, &sizes) < 0) {
        ctx->nomem = 1;
        goto done;
    }
    for (size_t i = 0; i < ctx->probe.n; i++) {
        PyObject *op = ctx->probe.items[i].op;
        uint32_t tid = hd_ptrmap_get(&ctx->type_ids, Py_TYPE(op));
        if (sizes[i] < 0 || tid == 0) {
            ctx->st.n_sizes_unknown++;
            continue;
        }
        if (rec_begin(ctx, &r, HD_REC_SIZE, 3 * HD_VARINT_MAX) < 0)
            goto done;
        put_v(&r, (uintptr_t)op);
        put_v(&r, (uint64_t)sizes[i] + hd_compat_presize(op));
        put_v(&r, ctx->types[tid - 1].approx ? 1 : 0);
        rec_end(ctx, &r);
        ctx->st.n_sizes_probed++;
    }
    err = 0;
done:
    free(sizes);
    return err;
}

int
hd_emit_end(hd_dumpctx *ctx)
{
    rec r;
    uint32_t crc = hd_sink_crc(ctx->sink);
    if (rec_begin(ctx, &r, HD_REC_END, 6 * HD_VARINT_MAX + 4) < 0)
        return -1;
    put_v(&r, ctx->st.n_strings);
    put_v(&r, ctx->st.n_types);
    put_v(&r, ctx->st.n_objects);
    put_v(&r, ctx->st.n_edges);
    put_v(&r, ctx->st.n_roots);
    put_v(&r, ctx->st.n_tracebacks);
    hd_put_u32le(r.p, crc);
    r.p += 4;
    rec_end(ctx, &r);
    return 0;
}
