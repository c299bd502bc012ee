/* heapdig — MIT licence.
 *
 * walk.c: finds every object and its references.
 *
 * Seeds are the named roots (sys.modules, builtins, every thread's frames and
 * their locals) and every object on the collector's lists.  From each seed an
 * iterative depth-first search follows references, so untracked containers
 * and atomic objects (str, int, float, bytes) reached from anything are found
 * too.  A pointer set marks what was found; an explicit stack replaces
 * recursion (a 10 M-long linked list must not overflow the C stack).
 *
 * References of an object come from two places:
 *   - tp_traverse, exactly as gc.get_referents() sees them (unlabelled), and
 *   - labellers for types we understand, which name references (dict key,
 *     index, attribute, slot, local) and add the strong references the
 *     collector does not need to see (str keys, a type's name, code constants).
 * Labels are matched onto traverse edges by target, in order (labellers walk
 * in the same order as tp_traverse, so matching is linear); a labelled
 * reference with no traverse edge is appended when it is a strong reference
 * the object owns.  Exact dicts, lists and tuples skip tp_traverse entirely.
 *
 * The walk holds the GIL throughout, runs no Python code and allocates no
 * Python objects (see emit.c size_of() and traceback_of() for the two
 * documented exceptions).
 */
#include "dumper_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <structmember.h> /* PyMemberDef, T_OBJECT_EX for __slots__ */

#define STRONG(kind) ((uint32_t)(kind) << 1)
#define WEAK(kind) (((uint32_t)(kind) << 1) | HD_EDGE_WEAK)

/* ---- The work stack and edge buffer ------------------------------------ */

static int
push_object(hd_dumpctx *ctx, PyObject *op)
{
    int r = hd_markset_add(&ctx->seen, op);
    if (r <= 0) {
        if (r < 0)
            ctx->nomem = 1;
        return r;
    }
    if (ctx->n_stack == ctx->cap_stack) {
        size_t cap = ctx->cap_stack ? 2 * ctx->cap_stack : 4096;
        PyObject **s = realloc(ctx->stack, cap * sizeof(*s));
        if (s == NULL) {
            ctx->nomem = 1;
            return -1;
        }
        ctx->stack = s;
        ctx->cap_stack = cap;
    }
    ctx->stack[ctx->n_stack++] = op;
    __builtin_prefetch(op); /* its header is read when it is popped */
    return 1;
}

int
hd_walk__push_edge(hd_dumpctx *ctx, PyObject *target, uint32_t word,
                   uint64_t payload)
{
    if (ctx->n_edges == ctx->cap_edges) {
        size_t cap = ctx->cap_edges ? 2 * ctx->cap_edges : 256;
        hd_edge *e = realloc(ctx->edges, cap * sizeof(*e));
        if (e == NULL) {
            ctx->nomem = 1;
            return -1;
        }
        ctx->edges = e;
        ctx->cap_edges = cap;
    }
    ctx->edges[ctx->n_edges].target = target;
    ctx->edges[ctx->n_edges].word = word;
    ctx->edges[ctx->n_edges].payload = payload;
    ctx->n_edges++;
    return 0;
}

static int
visit_collect(PyObject *op, void *arg)
{
    return hd_walk__push_edge(arg, op, 0, 0) < 0 ? -1 : 0;
}

/* Names an existing unlabelled strong edge to target, or appends one if
 * `owned` (the object holds this reference whether or not tp_traverse says
 * so).  Labellers walk in tp_traverse's order, so the edge is expected just
 * after the previous match: we look LABEL_WINDOW edges ahead of the cursor,
 * and search everything only for small objects.  A bounded search keeps big
 * dict subclasses linear; its cost is that an out-of-order reference in a
 * large object may stay unlabelled. */
#define LABEL_WINDOW 8
#define LABEL_FULL_SCAN 64

static int
label(hd_dumpctx *ctx, PyObject *target, uint32_t word, uint64_t payload,
      int owned)
{
    size_t n = ctx->n_edges;
    size_t span = n <= LABEL_FULL_SCAN ? n : LABEL_WINDOW;
    if (target == NULL)
        return 0;
    for (size_t k = 0; k < span; k++) {
        size_t i = ctx->label_cursor + k;
        if (i >= n)
            i -= n;
        if (i >= n)
            break;
        hd_edge *e = &ctx->edges[i];
        if (e->target == target && e->word == 0) {
            e->word = word;
            e->payload = payload;
            ctx->label_cursor = i + 1;
            return 0;
        }
    }
    return owned ? hd_walk__push_edge(ctx, target, word, payload) : 0;
}

static int
label_attr(hd_dumpctx *ctx, PyObject *target, const char *name, int owned)
{
    uint32_t sid;
    if (target == NULL)
        return 0;
    if ((sid = hd_emit_cstr(ctx, name, strlen(name), name)) == 0)
        return -1;
    return label(ctx, target, STRONG(HD_LBL_ATTR), sid, owned);
}

/* Names edge i itself (where the same object may be visited more than
 * once and the first is not the one meant). */
static int
label_attr_at(hd_dumpctx *ctx, size_t i, const char *name)
{
    uint32_t sid = hd_emit_cstr(ctx, name, strlen(name), name);
    if (sid == 0)
        return -1;
    ctx->edges[i].word = STRONG(HD_LBL_ATTR);
    ctx->edges[i].payload = sid;
    return 0;
}

static int
label_fields(hd_dumpctx *ctx, PyObject *op, const hd_field *f, int owned)
{
    for (; f->name; f++) {
        PyObject *v = *(PyObject **)((char *)op + f->offset);
        if (label_attr(ctx, v, f->name, owned) < 0)
            return -1;
    }
    return 0;
}

/* ---- Labellers ---------------------------------------------------------- */

/* ---- A dict key as Python writes it ---------------------------------------
 *
 * Cache keys are often tuples, floats, None or bytes: the label says which
 * one, as repr() would (format 1.2, §6), for None, bool, int, float, str,
 * bytes and tuples of them, bounded; without running Python code.  Anything
 * else is named by its type, "<Request>". */

#define KEY_REPR_MAX 120 /* bytes; longer keys end in "…" */
#define KEY_REPR_DEPTH 3 /* tuples in tuples */

typedef struct key_writer {
    char *p;
    size_t left; /* bytes left before the cut */
    int cut;     /* it did not fit: "…" written */
} key_writer;

static void
kw_put(key_writer *w, const char *s, size_t n)
{
    if (w->cut)
        return;
    if (n > w->left - (w->left >= 3 ? 3 : w->left)) {
        /* leave room for the ellipsis (3 bytes of UTF-8) */
        size_t fit = w->left >= 3 ? w->left - 3 : 0;
        memcpy(w->p, s, fit);
        w->p += fit;
        memcpy(w->p, "\xe2\x80\xa6", 3);
        w->p += 3;
        w->left = 0;
        w->cut = 1;
        return;
    }
    memcpy(w->p, s, n);
    w->p += n;
    w->left -= n;
}

/* A quoted str or bytes body, escaped as repr() does (controls as \n,
 * \t, \xNN; the quote and backslash). */
static void
kw_quoted(key_writer *w, const char *s, size_t n, int is_bytes)
{
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    char esc[8];
    if (is_bytes)
        kw_put(w, "b", 1);
    kw_put(w, &q, 1);
    for (size_t i = 0; i < n && !w->cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == (unsigned char)q)
            esc[0] = '\\', esc[1] = (char)c, kw_put(w, esc, 2);
        else if (c == '\n')
            kw_put(w, "\\n", 2);
        else if (c == '\t')
            kw_put(w, "\\t", 2);
        else if (c == '\r')
            kw_put(w, "\\r", 2);
        else if (c < 0x20 || c == 0x7f || (is_bytes && c >= 0x80))
            kw_put(w, esc, (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c));
        else
            kw_put(w, (const char *)&c, 1);
    }
    kw_put(w, &q, 1);
}

/* 0, or -1 for a key that has no such form. */
static int
key_repr(key_writer *w, PyObject *k, int depth)
{
    char num[64];
    if (k == Py_None)
        return kw_put(w, "None", 4), 0;
    if (k == Py_True || k == Py_False)
        return k == Py_True ? kw_put(w, "True", 4) : kw_put(w, "False", 5), 0;
    if (PyLong_CheckExact(k)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(k, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return -1;
        }
        return kw_put(w, num, (size_t)snprintf(num, sizeof(num), "%lld", v)), 0;
    }
    if (PyFloat_CheckExact(k)) {
        double d = PyFloat_AS_DOUBLE(k);
        if (!isfinite(d)) /* as an expression, not repr()'s bare inf */
            return kw_put(w, num, (size_t)snprintf(num, sizeof(num),
                                                   "float('%s')", isnan(d) ?
                                                   "nan" : d > 0 ? "inf" :
                                                   "-inf")), 0;
        /* repr()'s shortest round-tripping digits; C memory, no object */
        char *r = PyOS_double_to_string(PyFloat_AS_DOUBLE(k), 'r', 0,
                                        Py_DTSF_ADD_DOT_0, NULL);
        if (r == NULL) {
            PyErr_Clear();
            return -1;
        }
        kw_put(w, r, strlen(r));
        PyMem_Free(r);
        return 0;
    }
    if (PyUnicode_CheckExact(k)) {
        char buf[KEY_REPR_MAX + 4];
        int trunc = 0;
        size_t n = hd_str_utf8(k, buf, sizeof(buf), &trunc);
        kw_quoted(w, buf, n, 0);
        if (trunc)
            kw_put(w, "\xe2\x80\xa6", 3), w->cut = 1;
        return 0;
    }
    if (PyBytes_CheckExact(k)) {
        Py_ssize_t n = PyBytes_GET_SIZE(k);
        kw_quoted(w, PyBytes_AS_STRING(k),
                  n > KEY_REPR_MAX ? KEY_REPR_MAX : (size_t)n, 1);
        if (n > KEY_REPR_MAX)
            kw_put(w, "\xe2\x80\xa6", 3), w->cut = 1;
        return 0;
    }
    /* a context's variable: <ContextVar 'request_id'> (its name is the
     * first field of its struct in every version) */
    if (Py_TYPE(k) == &PyContextVar_Type) {
        PyObject *name = *(PyObject **)((char *)k + sizeof(PyObject));
        if (name == NULL || !PyUnicode_CheckExact(name))
            return -1;
        char buf[KEY_REPR_MAX + 4];
        int trunc = 0;
        size_t n = hd_str_utf8(name, buf, sizeof(buf), &trunc);
        kw_put(w, "<ContextVar ", 12);
        kw_quoted(w, buf, n, 0);
        kw_put(w, ">", 1);
        return 0;
    }
    /* lru_cache's key for several arguments is a functools._HashedSeq, a
     * list of them: written as the tuple of the call's arguments */
    int hashed_seq = Py_TYPE(k)->tp_base == &PyList_Type &&
                     !strcmp(Py_TYPE(k)->tp_name, "_HashedSeq");
    if ((PyTuple_CheckExact(k) || hashed_seq) && depth < KEY_REPR_DEPTH) {
        Py_ssize_t n = hashed_seq ? PyList_GET_SIZE(k) : PyTuple_GET_SIZE(k);
        kw_put(w, "(", 1);
        for (Py_ssize_t i = 0; i < n && !w->cut; i++) {
            if (i)
                kw_put(w, ", ", 2);
            if (key_repr(w, hashed_seq ? PyList_GET_ITEM(k, i)
                                       : PyTuple_GET_ITEM(k, i),
                         depth + 1) < 0)
                return -1;
        }
        if (n == 1)
            kw_put(w, ",", 1);
        kw_put(w, ")", 1);
        return 0;
    }
    return -1;
}

/* A threading.local's per-thread dict is keyed by the thread's
 * _thread._localdummy (3.13+) or a weak reference to it: the label names
 * the thread, [<thread 1403…>], as its roots are named.  1 if it did. */
static int
thread_local_key(hd_dumpctx *ctx, PyObject *key, uint32_t *word,
                 uint64_t *payload)
{
    PyObject *dummy = key;
    char text[64];
    if (ctx->n_threads == 0)
        return 0;
    if (PyWeakref_CheckRefExact(key))
        dummy = ((PyWeakReference *)key)->wr_object;
    uint32_t t = dummy ? hd_ptrmap_get(&ctx->local_dummies, dummy) : 0;
    if (t == 0 || t > ctx->n_threads)
        return 0;
    snprintf(text, sizeof(text), "<thread %lu>", ctx->thread_ids[t - 1]);
    *word = STRONG(HD_LBL_KEY_OTHER);
    *payload = hd_emit_cstr(ctx, text, strlen(text), NULL);
    return *payload ? 1 : -1;
}

/* The label of a dict value, from its key. */
static int
key_label(hd_dumpctx *ctx, PyObject *key, uint32_t *word, uint64_t *payload)
{
    if (PyUnicode_Check(key)) {
        *word = STRONG(HD_LBL_KEY_STR);
        *payload = hd_emit_str(ctx, key);
        return *payload ? 0 : -1;
    }
    if (PyLong_CheckExact(key)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (!overflow && !(v == -1 && PyErr_Occurred())) {
            *word = STRONG(HD_LBL_KEY_INT);
            *payload = hd_zigzag(v);
            return 0;
        }
        PyErr_Clear();
    }
    int local = thread_local_key(ctx, key, word, payload);
    if (local != 0)
        return local < 0 ? -1 : 0;
    char text[KEY_REPR_MAX + 8];
    key_writer w = {text, sizeof(text) - 1, 0};
    *word = STRONG(HD_LBL_KEY_OTHER);
    if (key_repr(&w, key, 0) == 0) {
        *w.p = 0;
        *payload = hd_emit_cstr(ctx, text, strlen(text), NULL);
    } else {
        /* one string per type, however many such keys: keyed by the
         * type's tp_name field (type names are keyed by the name itself) */
        PyTypeObject *tp = Py_TYPE(key);
        snprintf(text, sizeof(text), "<%.*s>", KEY_REPR_MAX, tp->tp_name);
        *payload = hd_emit_cstr(ctx, text, strlen(text), &tp->tp_name);
    }
    return *payload ? 0 : -1;
}

/* Dict entries: each value labelled by its key, and each key itself when
 * the table is this dict's own (split tables share keys with the class). */
static int
label_dict(hd_dumpctx *ctx, PyObject *op, int direct)
{
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    int own_keys = hd_compat_dict_owns_keys(op);
    int own_values = hd_compat_dict_owns_values(op);
    while (PyDict_Next(op, &pos, &k, &v)) {
        uint32_t word;
        uint64_t payload;
        if (own_values) {
            if (key_label(ctx, k, &word, &payload) < 0)
                return -1;
            if ((direct ? hd_walk__push_edge(ctx, v, word, payload)
                        : label(ctx, v, word, payload, 1)) < 0)
                return -1;
        }
        if (own_keys) {
            if ((direct ? hd_walk__push_edge(ctx, k, STRONG(HD_LBL_KEY_OBJ), 0)
                        : label(ctx, k, STRONG(HD_LBL_KEY_OBJ), 0, 1)) < 0)
                return -1;
        }
    }
    return 0;
}

static int
label_sequence(hd_dumpctx *ctx, PyObject **items, Py_ssize_t n, int direct)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (items[i] == NULL)
            continue;
        if ((direct ? hd_walk__push_edge(ctx, items[i], STRONG(HD_LBL_INDEX),
                                         (uint64_t)i)
                    : label(ctx, items[i], STRONG(HD_LBL_INDEX), (uint64_t)i,
                            0)) < 0)
            return -1;
    }
    return 0;
}

static int
attr_cb(PyObject *value, PyObject *name, void *payload)
{
    hd_dumpctx *ctx = payload;
    uint32_t sid = hd_emit_str(ctx, name);
    if (sid == 0)
        return -1;
    return label(ctx, value, STRONG(HD_LBL_ATTR), sid, 0) < 0 ? -1 : 0;
}

/* Instances of classes: __class__, __slots__ members, instance attributes
 * (managed dict values / inline values), __dict__. */
static int
label_instance(hd_dumpctx *ctx, PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject *dict = NULL;
    if (label_attr(ctx, (PyObject *)tp, "__class__", 0) < 0)
        return -1;
    for (PyTypeObject *t = tp; t && (t->tp_flags & Py_TPFLAGS_HEAPTYPE);
         t = t->tp_base) {
        PyMemberDef *m = t->tp_members;
        for (; m && m->name; m++) {
            if (m->type != T_OBJECT_EX && m->type != T_OBJECT)
                continue;
            if (m->flags & READONLY)
                continue;
            PyObject *v = *(PyObject **)((char *)op + m->offset);
            if (label_attr(ctx, v, m->name, 0) < 0)
                return -1;
        }
    }
    if (hd_compat_instance_attrs(op, &dict, attr_cb, ctx) != 0)
        return -1;
    /* Owned: 3.13 does not traverse a materialised dict whose values are
     * still inline, but the instance holds it all the same. */
    return label_attr(ctx, dict, "__dict__", 1);
}

static int
label_type(hd_dumpctx *ctx, PyTypeObject *tp)
{
    /* Static types are not gc objects: no traverse edges, so every
     * reference they own is appended; heap types get theirs labelled. */
    if (label_attr(ctx, tp->tp_dict, "__dict__", 1) < 0 ||
        label_attr(ctx, tp->tp_mro, "__mro__", 1) < 0 ||
        label_attr(ctx, tp->tp_bases, "__bases__", 1) < 0)
        return -1;
    if (tp->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        PyHeapTypeObject *ht = (PyHeapTypeObject *)tp;
        if (label_attr(ctx, (PyObject *)tp->tp_base, "__base__", 0) < 0 ||
            label_attr(ctx, ht->ht_name, "__name__", 1) < 0 ||
            label_attr(ctx, ht->ht_qualname, "__qualname__", 1) < 0 ||
            label_attr(ctx, ht->ht_slots, "__slots__", 1) < 0)
            return -1;
    }
    return 0;
}

/* An interpreter frame's locals by name (3.11+ frames not running). */
static int
label_locals(hd_dumpctx *ctx, const hd_frame *f)
{
    for (int i = 0; i < f->n_locals; i++) {
        PyObject *v = hd_compat_frame_local(f, i);
        uint32_t sid;
        if (v == NULL)
            continue;
        if ((sid = hd_emit_str(ctx, hd_compat_local_name(f->code, i))) == 0 ||
            label(ctx, v, STRONG(HD_LBL_LOCAL), sid, 0) < 0)
            return -1;
    }
    return 0;
}

static int
label_frame_object(hd_dumpctx *ctx, PyObject *op)
{
    PyFrameObject *fo = (PyFrameObject *)op;
    PyObject **slots = hd_compat_frameobj_localsplus(fo);
    Py_ssize_t n = hd_compat_frameobj_n_locals(fo);
    hd_frame f;
    if (label_fields(ctx, op, hd_frame_fields, 0) < 0)
        return -1;
    for (Py_ssize_t i = 0; slots && i < n; i++) {
        PyObject *name = hd_compat_frameobj_local_name(fo, i);
        uint32_t sid = name ? hd_emit_str(ctx, name) : 0;
        if (sid && label(ctx, slots[i], STRONG(HD_LBL_LOCAL), sid, 0) < 0)
            return -1;
    }
    /* 3.11+: the frame a finished call left to a traceback or generator
     * lives inside the frame object; only then does the object traverse
     * (and so reference) it. */
    if (!hd_compat_frameobj_frame(fo, &f))
        return 0;
    if (label_attr(ctx, (PyObject *)f.code, "f_code", 0) < 0 ||
        label_attr(ctx, hd_compat_frame_globals(&f, 0), "f_globals", 0) < 0 ||
        label_attr(ctx, hd_compat_frame_globals(&f, 1), "f_builtins", 0) < 0 ||
        label_attr(ctx, f.f_locals, "f_locals", 0) < 0)
        return -1;
    return label_locals(ctx, &f);
}

/* A generator's (coroutine's) frame: its locals by name, as a frame
 * object's are (gen.gi_frame.f_locals[name] in Python). */
static int
label_generator(hd_dumpctx *ctx, PyObject *op)
{
    hd_frame f;
    PyObject *frame_obj;
    const char *frame_attr = PyCoro_CheckExact(op)      ? "cr_frame"
                             : PyAsyncGen_CheckExact(op) ? "ag_frame"
                                                         : "gi_frame";
    if (!hd_compat_gen_frame(op, &f, &frame_obj))
        return label_attr(ctx, frame_obj, frame_attr, 0);
    if (label_attr(ctx, (PyObject *)f.code, frame_attr[0] == 'c' ? "cr_code"
                   : frame_attr[0] == 'a' ? "ag_code" : "gi_code", 0) < 0)
        return -1;
    return label_locals(ctx, &f);
}

/* A C type's own named fields: its tp_members of object kind, and its
 * __dict__ slot.  That names functools.partial's func/args/keywords,
 * property's fget/fset/fdel, staticmethod's and classmethod's __func__,
 * defaultdict's default_factory, a descriptor's __objclass__ and the fields
 * of C exceptions (StopIteration.value, OSError.filename, ...).  A member
 * is a slot in the object's own struct: reading it runs nothing.  Python
 * classes' own members are label_instance's. */
static int
label_c_members(hd_dumpctx *ctx, PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    for (PyTypeObject *t = tp; t; t = t->tp_base) {
        int heap = (t->tp_flags & Py_TPFLAGS_HEAPTYPE) != 0;
        for (PyMemberDef *m = t->tp_members; m && m->name; m++) {
            if (hd_member_is_c_field(m, heap)) {
                PyObject *v = *(PyObject **)((char *)op + m->offset);
                if (label_attr(ctx, v, m->name, 0) < 0)
                    return -1;
            }
        }
    }
    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE) && tp->tp_dictoffset > 0)
        return label_attr(ctx, *(PyObject **)((char *)op + tp->tp_dictoffset),
                          "__dict__", 0);
    return 0;
}

/* A deque's blocks are private to _collections, but its tp_traverse
 * visits the items left to right (after its type, where that is a heap
 * type): the k-th item visited is d[k].  Only when the count is exactly
 * len(d), so a layout that differs leaves them unnamed, never misnamed. */
static int
label_deque(hd_dumpctx *ctx, PyObject *op)
{
    size_t first = 0;
    Py_ssize_t n = Py_SIZE(op); /* a deque's length is its ob_size */
    if (ctx->n_edges > 0 && ctx->edges[0].target == (PyObject *)Py_TYPE(op))
        first = 1;
    if (ctx->n_edges - first != (size_t)n)
        return 0;
    for (size_t k = first; k < ctx->n_edges; k++)
        if (ctx->edges[k].word != 0)
            return 0;
    for (size_t k = first; k < ctx->n_edges; k++) {
        ctx->edges[k].word = STRONG(HD_LBL_INDEX);
        ctx->edges[k].payload = (uint64_t)(k - first);
    }
    return 0;
}

/* A bounded lru_cache keeps each result in a link of its private list, not
 * in the cache dict (which maps the key to the link): its tp_traverse
 * visits the links oldest first, each as key, result (3.9, 3.10) or as
 * key, result, the link's type (3.11+).  Each result is labelled by its
 * key as a dict entry would be (`[3]`, `[('GET', '/a')]`), each key
 * `<key>`; only when the edges have exactly that shape, n_links of them
 * (the cache's size), so another layout leaves them unnamed, never
 * misnamed.  An unbounded cache (maxsize=None) has no links. */
static int
label_lru_links(hd_dumpctx *ctx, PyObject *op, Py_ssize_t n_links)
{
    size_t first = 0, stride = 2, n = ctx->n_edges;
    if (n_links <= 0)
        return 0;
    if (n > 0 && ctx->edges[0].target == (PyObject *)Py_TYPE(op))
        first = 1;
    PyObject *t = first + 2 < n ? ctx->edges[first + 2].target : NULL;
    if (t && PyType_Check(t) &&
        strstr(((PyTypeObject *)t)->tp_name, "_lru_list_elem"))
        stride = 3;
    if (first + stride * (size_t)n_links > n)
        return 0;
    for (size_t j = 0; j < (size_t)n_links; j++) {
        const hd_edge *e = &ctx->edges[first + stride * j];
        if ((stride == 3 && e[2].target != t) || e[0].word != 0 ||
            e[1].word != 0)
            return 0;
    }
    for (size_t j = 0; j < (size_t)n_links; j++) {
        hd_edge *e = &ctx->edges[first + stride * j];
        uint32_t word;
        uint64_t payload;
        if (key_label(ctx, e[0].target, &word, &payload) < 0)
            return -1;
        e[0].word = STRONG(HD_LBL_KEY_OBJ);
        e[0].payload = 0;
        e[1].word = word;
        e[1].payload = payload;
    }
    return 0;
}

/* contextvars: a Context's variables are a HAMT whose bitmap and
 * collision nodes hold key, value pairs in one array after their header (a
 * NULL key: the value is a child node), a layout unchanged since 3.7.
 * Each value is labelled by its key, as a dict entry would be:
 * [<ContextVar 'request_id'>]. */
typedef struct {
    PyObject_VAR_HEAD
    uint32_t bitmap_or_hash; /* b_bitmap, or a collision node's c_hash */
    PyObject *array[1];      /* Py_SIZE of them */
} hd_hamt_node;

static int
label_hamt_node(hd_dumpctx *ctx, PyObject *op)
{
    hd_hamt_node *node = (hd_hamt_node *)op;
    Py_ssize_t n = Py_SIZE(op);
    for (Py_ssize_t i = 0; i + 1 < n; i += 2) {
        PyObject *k = node->array[i], *v = node->array[i + 1];
        uint32_t word;
        uint64_t payload;
        if (k == NULL)
            continue; /* v is a child node */
        if (key_label(ctx, k, &word, &payload) < 0 ||
            label(ctx, v, word, payload, 0) < 0 ||
            label(ctx, k, STRONG(HD_LBL_KEY_OBJ), 0, 0) < 0)
            return -1;
    }
    return 0;
}

/* functools.lru_cache's wrapper keeps its cache in a dict of its private
 * struct, whose layout changes between versions: of the dicts it
 * references, the cache is the one that is not its __dict__. */
static int
label_lru_cache(hd_dumpctx *ctx, PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject *dict = tp->tp_dictoffset > 0
                         ? *(PyObject **)((char *)op + tp->tp_dictoffset)
                         : NULL;
    PyObject *k, *v, *wrapped = NULL;
    Py_ssize_t pos = 0;
    /* The wrapped function is its __dict__['__wrapped__'] too (set by
     * update_wrapper): found without making a str to look it up with. */
    while (dict && PyDict_CheckExact(dict) && PyDict_Next(dict, &pos, &k, &v))
        if (PyUnicode_CheckExact(k) &&
            PyUnicode_CompareWithASCIIString(k, "__wrapped__") == 0)
            wrapped = v;
    if (label_attr(ctx, wrapped, "__wrapped__", 0) < 0)
        return -1;
    /* tp_traverse visits the links (a cached result may be a dict) before
     * the cache: the cache is the last dict that is not its __dict__ */
    for (size_t i = ctx->n_edges; i-- > 0;) {
        v = ctx->edges[i].target;
        if (ctx->edges[i].word == 0 && v != dict && PyDict_CheckExact(v)) {
            if (label_attr_at(ctx, i, "cache") < 0)
                return -1;
            return label_lru_links(ctx, op, PyDict_GET_SIZE(v));
        }
    }
    return 0;
}



/* ---- mypyc's native classes ---------------------------------------------
 *
 * A class compiled by mypyc keeps its attributes in C fields of the object,
 * named only by getset descriptors (mypy's own heap is two thirds such
 * references).  A getter runs code, so it is never called; but every object
 * attribute's getter that mypyc emits begins by loading the field and
 * testing it for NULL, with no stack frame before (`mov rax, [rdi + offset];
 * test rax, rax` on x86-64):
 * the offset is read from those instructions, once per class, and only
 * from classes whose dict has __mypyc_attrs__.  A field is named only where
 * tp_traverse visited the very object it holds, so an offset misread
 * leaves a reference unnamed, never misnamed.  Other CPUs: unnamed. */

/* What a getter's first instructions say of the field it reads. */
enum getter_kind {
    GETTER_UNKNOWN,
    GETTER_OBJECT, /* returns the object in the field */
    GETTER_TUPLE,  /* builds a tuple from fields starting there */
    GETTER_BYTE    /* a bool: a byte there (only bounds a tuple) */
};

static int
getter_offset(const void *getter, size_t *offset)
{
#if defined(__x86_64__)
    const unsigned char *p = getter;
    uint32_t d32;
    int frame = 0;
    if (p[0] == 0xf3 && p[1] == 0x0f && p[2] == 0x1e && p[3] == 0xfa)
        p += 4; /* endbr64 */
    if (p[0] == 0x80 && p[1] == 0x7f && p[3] == 0x00) {
        *offset = p[2]; /* cmp byte [rdi + disp8], 0 */
        return GETTER_BYTE;
    }
    /* A stack frame before the load: the getter builds its value (an
     * unboxed tuple's fields into a new tuple). */
    if (p[0] == 0x53 && p[1] == 0x48 && p[2] == 0x83 && p[3] == 0xec) {
        frame = 1; /* push rbx; sub rsp, imm8 */
        p += 5;
    }
    if (p[0] == 0x48 && p[1] == 0x8b && p[2] == 0x47) {
        *offset = p[3]; /* mov rax, [rdi + disp8] */
        p += 4;
    } else if (p[0] == 0x48 && p[1] == 0x8b && p[2] == 0x87) {
        memcpy(&d32, p + 3, 4); /* mov rax, [rdi + disp32] */
        *offset = d32;
        p += 7;
    } else
        return GETTER_UNKNOWN;
    if (!(p[0] == 0x48 && p[1] == 0x85 && p[2] == 0xc0)) /* test rax, rax */
        return GETTER_UNKNOWN;
    return frame ? GETTER_TUPLE : GETTER_OBJECT;
#else
    (void)getter;
    (void)offset;
    return GETTER_UNKNOWN;
#endif
}

/* A mypyc class's __mypyc_attrs__ (the names of its attributes, a tuple
 * of str; borrowed), or NULL for any other class. */
static PyObject *
mypyc_attrs(PyTypeObject *t)
{
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    if (!(t->tp_flags & Py_TPFLAGS_HEAPTYPE) || t->tp_dict == NULL ||
        !PyDict_CheckExact(t->tp_dict))
        return NULL;
    while (PyDict_Next(t->tp_dict, &pos, &k, &v))
        if (PyUnicode_CheckExact(k) &&
            PyUnicode_CompareWithASCIIString(k, "__mypyc_attrs__") == 0)
            return PyTuple_CheckExact(v) ? v : NULL;
    return NULL;
}

/* Whether the str name is in dict d or tuple t, compared as exact str
 * only: a key of another type is never asked (its __eq__ is code). */
static int
str_in_dict(PyObject *d, PyObject *name)
{
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &k, &v))
        if (PyUnicode_CheckExact(k) && PyUnicode_Compare(k, name) == 0)
            return 1;
    return 0;
}

static int
str_in_tuple(PyObject *t, PyObject *name)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) {
        PyObject *k = PyTuple_GET_ITEM(t, i);
        if (PyUnicode_CheckExact(k) && PyUnicode_Compare(k, name) == 0)
            return 1;
    }
    return 0;
}

/* 1 if a class before mro[i] in the MRO has name in its dict: there,
 * x.name is that class's, not mro[i]'s descriptor. */
static int
shadowed(PyObject *mro, Py_ssize_t i, PyObject *name)
{
    for (Py_ssize_t j = 0; j < i; j++) {
        PyObject *d = ((PyTypeObject *)PyTuple_GET_ITEM(mro, j))->tp_dict;
        if (d && PyDict_CheckExact(d) && str_in_dict(d, name))
            return 1;
    }
    return 0;
}

static int
add_native(hd_dumpctx *ctx, hd_typeinfo *ti, size_t off, size_t limit,
           const char *name, int kind, char *owned)
{
    hd_native_attr *a = realloc(ti->native, (ti->n_native + 1) * sizeof(*a));
    if (a == NULL) {
        free(owned);
        ctx->nomem = 1;
        return -1;
    }
    ti->native = a;
    a[ti->n_native].offset = off;
    a[ti->n_native].name = owned ? owned : name;
    a[ti->n_native].kind = kind;
    a[ti->n_native].limit = limit;
    a[ti->n_native].owned = owned;
    ti->n_native++;
    return 0;
}

/* mypyc's `__match_args__` (an unboxed tuple of str, so flat: one object
 * field an item) is its items in consecutive fields from the one its
 * getter loads first, up to the next field another getter reads or the
 * end of the class that defines it: each named `__match_args__[i]`, as
 * x.__match_args__[i] reads it.  Other unboxed tuples may nest or hold
 * native ints, so their fields are not counted: they stay unnamed. */
static int
tuple_fields(hd_dumpctx *ctx, hd_typeinfo *ti)
{
    uint32_t n = ti->n_native;
    PyTypeObject *tp = ti->type;
    for (uint32_t i = 0; i < n; i++) {
        if (ti->native[i].kind != GETTER_TUPLE)
            continue;
        size_t start = ti->native[i].offset, end = ti->native[i].limit;
        for (uint32_t j = 0; j < n; j++)
            if (j != i && ti->native[j].offset > start &&
                ti->native[j].offset < end)
                end = ti->native[j].offset;
        if (tp->tp_dictoffset > 0 && (size_t)tp->tp_dictoffset > start &&
            (size_t)tp->tp_dictoffset < end)
            end = (size_t)tp->tp_dictoffset;
        if (tp->tp_weaklistoffset > 0 &&
            (size_t)tp->tp_weaklistoffset > start &&
            (size_t)tp->tp_weaklistoffset < end)
            end = (size_t)tp->tp_weaklistoffset;
        const char *name = ti->native[i].name;
        for (size_t off = start, k = 0; off + sizeof(PyObject *) <= end;
             off += sizeof(PyObject *), k++) {
            size_t len = strlen(name) + 24;
            char *item = malloc(len);
            if (item == NULL) {
                ctx->nomem = 1;
                return -1;
            }
            snprintf(item, len, "%s[%zu]", name, k);
            if (add_native(ctx, ti, off, end, NULL, GETTER_OBJECT, item) < 0)
                return -1;
        }
    }
    return 0;
}

/* Works out ti's native attributes (none for most classes): 0 or -1.  The
 * getset descriptors in the dicts of the class's mypyc classes, each only
 * where attribute lookup would reach it (a class attribute of the same
 * name before it in the MRO wins: mypy's TypeInfo.FLAGS). */
static int
native_attrs(hd_dumpctx *ctx, hd_typeinfo *ti)
{
    PyTypeObject *tp = ti->type;
    PyObject *mro = tp->tp_mro;
    ti->native_known = 1;
    if (mro == NULL || !PyTuple_CheckExact(mro))
        return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *t = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        PyObject *k, *v, *attrs;
        Py_ssize_t pos = 0;
        if (!PyType_Check((PyObject *)t) || (attrs = mypyc_attrs(t)) == NULL)
            continue;
        while (PyDict_Next(t->tp_dict, &pos, &k, &v)) {
            size_t off;
            if (Py_TYPE(v) != &PyGetSetDescr_Type ||
                ((PyDescrObject *)v)->d_type != t || !PyUnicode_CheckExact(k))
                continue;
            PyGetSetDef *g = ((PyGetSetDescrObject *)v)->d_getset;
            int kind = g && g->get && g->name
                           ? getter_offset((const void *)g->get, &off)
                           : GETTER_UNKNOWN;
            if (kind == GETTER_UNKNOWN || off < 2 * sizeof(PyObject *) ||
                off >= (size_t)tp->tp_basicsize ||
                (kind != GETTER_BYTE &&
                 (off % sizeof(PyObject *) ||
                  off + sizeof(PyObject *) > (size_t)t->tp_basicsize)) ||
                /* an attribute, not a @property that reads a field */
                !str_in_tuple(attrs, k) ||
                (kind == GETTER_TUPLE && strcmp(g->name, "__match_args__")) ||
                shadowed(mro, i, k))
                continue;
            if (add_native(ctx, ti, off, (size_t)t->tp_basicsize, g->name,
                           kind, NULL) < 0)
                return -1;
        }
    }
    return tuple_fields(ctx, ti);
}

static int
label_native(hd_dumpctx *ctx, PyObject *op, hd_typeinfo *ti)
{
    if (!ti->native_known && native_attrs(ctx, ti) < 0)
        return -1;
    for (uint32_t i = 0; i < ti->n_native; i++) {
        if (ti->native[i].kind != GETTER_OBJECT)
            continue;
        PyObject *v = *(PyObject **)((char *)op + ti->native[i].offset);
        if (label_attr(ctx, v, ti->native[i].name, 0) < 0)
            return -1;
    }
    return 0;
}

/* Collects ctx->edges for op, whose type is ti. */
static int
collect_edges(hd_dumpctx *ctx, PyObject *op, hd_typeinfo *ti)
{
    uint32_t t = ti->traits;
    PyTypeObject *tp = Py_TYPE(op);
    ctx->n_edges = 0;
    ctx->label_cursor = 0;

    /* Fast paths: the whole reference set, labelled, without tp_traverse. */
    if (tp == &PyDict_Type)
        return label_dict(ctx, op, 1);
    if (tp == &PyList_Type)
        return label_sequence(ctx, ((PyListObject *)op)->ob_item,
                              PyList_GET_SIZE(op), 1);
    if (tp == &PyTuple_Type)
        return label_sequence(ctx, ((PyTupleObject *)op)->ob_item,
                              PyTuple_GET_SIZE(op), 1);
    if (!(t & (HD_T_GC | HD_T_TYPE | HD_T_CODE | HD_T_WEAKREF)))
        return 0; /* str, int, float, bytes, ...: no references */

    /* gc.get_referents() rule: traverse only what the collector would. */
    if ((t & HD_T_GC) && tp->tp_traverse != NULL &&
        (tp->tp_is_gc == NULL || tp->tp_is_gc(op))) {
        if (tp->tp_traverse(op, visit_collect, ctx) != 0)
            return -1;
    }

    /* Instances of classes; a class whose metaclass is a class too (ABCMeta)
     * has its __dict__ named by label_type, not twice. */
    if ((t & HD_T_HEAPTYPE) && !(t & HD_T_TYPE)) {
        if (label_instance(ctx, op) < 0 || label_native(ctx, op, ti) < 0)
            return -1;
    } else if (t & HD_T_HEAPTYPE) {
        if (label_attr(ctx, (PyObject *)tp, "__class__", 0) < 0)
            return -1;
    }
    if ((t & HD_T_CMEMBERS) && label_c_members(ctx, op) < 0)
        return -1;
    if (t & HD_T_EXCEPTION)
        return label_fields(ctx, op, hd_exception_fields, 0);
    if (t & HD_T_TRACEBACK)
        return label_fields(ctx, op, hd_traceback_fields, 0);
    if (t & HD_T_LRU_CACHE)
        return label_lru_cache(ctx, op);
    if (t & HD_T_DEQUE)
        return label_deque(ctx, op);
    if (t & HD_T_HAMT_NODE)
        return label_hamt_node(ctx, op);
    if (t & HD_T_DICT)
        return label_dict(ctx, op, 0);
    if (t & HD_T_LIST)
        return label_sequence(ctx, ((PyListObject *)op)->ob_item,
                              PyList_GET_SIZE(op), 0);
    if (t & HD_T_TUPLE)
        return label_sequence(ctx, ((PyTupleObject *)op)->ob_item,
                              PyTuple_GET_SIZE(op), 0);
    if (t & HD_T_TYPE)
        return label_type(ctx, (PyTypeObject *)op);
    if (t & HD_T_FUNCTION)
        return label_fields(ctx, op, hd_function_fields, 1);
    if (t & HD_T_CODE)
        return label_fields(ctx, op, hd_code_fields, 1);
    if (t & HD_T_CELL)
        return label_attr(ctx, PyCell_GET(op), "cell_contents", 1);
    if (t & HD_T_METHOD) {
        if (label_attr(ctx, PyMethod_GET_FUNCTION(op), "__func__", 1) < 0)
            return -1;
        return label_attr(ctx, PyMethod_GET_SELF(op), "__self__", 1);
    }
    if (t & HD_T_MODULE)
        return label_attr(ctx, PyModule_GetDict(op), "__dict__", 1);
    if (t & HD_T_CFUNCTION)
        return label_fields(ctx, op, hd_cfunction_fields, 0);
    if (t & HD_T_FRAME)
        return label_frame_object(ctx, op);
    if (t & HD_T_GEN)
        return label_generator(ctx, op);
    if (t & HD_T_WEAKREF) {
        PyWeakReference *wr = (PyWeakReference *)op;
        if (label_attr(ctx, wr->wr_callback, "__callback__", 0) < 0)
            return -1;
        /* The referent: a weak edge (dead references point at None). */
        if (wr->wr_object != NULL && wr->wr_object != Py_None &&
            Py_REFCNT(wr->wr_object) > 0)
            return hd_walk__push_edge(ctx, wr->wr_object, WEAK(HD_LBL_NONE),
                                      0);
    }
    return 0;
}

/* ---- The search --------------------------------------------------------- */

/* Encodes everything reachable from the objects on the stack. */
static int
drain(hd_dumpctx *ctx)
{
    while (ctx->n_stack > 0) {
        PyObject *op = ctx->stack[--ctx->n_stack];
        uint32_t tid = hd_emit_type(ctx, Py_TYPE(op));
        if (tid == 0 || collect_edges(ctx, op, &ctx->types[tid - 1]) < 0 ||
            ctx->nomem)
            return -1;
        for (size_t i = 0; i < ctx->n_edges; i++)
            if (push_object(ctx, ctx->edges[i].target) < 0)
                return -1;
        /* The type is dumped too (TYPE records name its object). */
        if (push_object(ctx, (PyObject *)Py_TYPE(op)) < 0)
            return -1;
        if (hd_emit_object(ctx, op, tid) < 0)
            return -1;
    }
    return 0;
}

static int
seed(hd_dumpctx *ctx, PyObject *op)
{
    if (op == NULL)
        return 0;
    if (push_object(ctx, op) < 0)
        return -1;
    return drain(ctx);
}

static int
root(hd_dumpctx *ctx, PyObject *op, int kind, const char *name)
{
    uint32_t sid;
    if (op == NULL)
        return 0;
    if ((sid = hd_emit_cstr(ctx, name, strlen(name), NULL)) == 0)
        return -1;
    if (hd_emit_root(ctx, op, kind, sid) < 0)
        return -1;
    return seed(ctx, op);
}

/* "thread 140234 #0 main (app.py:12)" */
static void
frame_name(char *buf, size_t cap, unsigned long tid, int depth, hd_frame *f)
{
    char qn[128], fn[256];
    int t1, t2;
    size_t a = hd_str_utf8(hd_compat_code_qualname(f->code), qn,
                           sizeof(qn) - 1, &t1);
    size_t b = hd_str_utf8(f->code->co_filename, fn, sizeof(fn) - 1, &t2);
    qn[a] = fn[b] = 0;
    snprintf(buf, cap, "thread %lu #%d %s (%s:%d)", tid, depth, qn, fn,
             f->line);
}

static int
note_dummy(PyObject *dummy, void *arg)
{
    hd_dumpctx *ctx = arg;
    return hd_ptrmap_put(&ctx->local_dummies, dummy,
                         (uint32_t)ctx->n_threads) < 0 ? -1 : 0;
}

/* Which thread each threading.local dummy stands for, before any dict is
 * labelled. */
static int
map_thread_locals(hd_dumpctx *ctx)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts;
         ts = PyThreadState_Next(ts)) {
        unsigned long *ids = realloc(ctx->thread_ids, (ctx->n_threads + 1) *
                                                          sizeof(*ids));
        if (ids == NULL)
            goto nomem;
        ctx->thread_ids = ids;
        ids[ctx->n_threads++] = (unsigned long)ts->thread_id;
        if (hd_compat_thread_local_dummies(ts, note_dummy, ctx) < 0)
            goto nomem;
    }
    return 0;
nomem:
    ctx->nomem = 1;
    return -1;
}

static int
walk_threads(hd_dumpctx *ctx)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    char name[512], lname[700];
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts;
         ts = PyThreadState_Next(ts)) {
        hd_frame f;
        int depth = 0;
        unsigned long tid = (unsigned long)ts->thread_id;
        snprintf(name, sizeof(name), "thread %lu dict", tid);
        if (root(ctx, ts->dict, HD_ROOT_THREAD, name) < 0)
            return -1;
        /* its contextvars (the Context a ContextVar.get() reads) */
        snprintf(name, sizeof(name), "thread %lu context", tid);
        if (root(ctx, ts->context, HD_ROOT_THREAD, name) < 0)
            return -1;
        for (int ok = hd_compat_thread_frame(ts, &f); ok;
             ok = hd_compat_frame_next(&f), depth++) {
            frame_name(name, sizeof(name), tid, depth, &f);
            if (root(ctx, f.frame_obj ? f.frame_obj : f.func, HD_ROOT_FRAME,
                     name) < 0)
                return -1;
            /* 3.11+: a running frame is not an object; what it holds are
             * references from outside the heap, named here. */
            if (f.f_locals && !f.frame_obj) {
                snprintf(lname, sizeof(lname), "%s f_locals", name);
                if (root(ctx, f.f_locals, HD_ROOT_LOCAL, lname) < 0)
                    return -1;
            }
            for (int i = 0; i < f.n_locals; i++) {
                char ln[128];
                int t;
                PyObject *v = hd_compat_frame_local(&f, i);
                if (v == NULL)
                    continue;
                size_t n = hd_str_utf8(hd_compat_local_name(f.code, i), ln,
                                       sizeof(ln) - 1, &t);
                ln[n] = 0;
                snprintf(lname, sizeof(lname), "%s local %s", name, ln);
                if (root(ctx, v, HD_ROOT_LOCAL, lname) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* "atexit callback #0 (logging.shutdown)": a function by its module and
 * qualified name, anything else by its type. */
static int
atexit_root(PyObject *obj, int i, const char *part, void *arg)
{
    hd_dumpctx *ctx = arg;
    char name[300], qn[200] = "", mod[100] = "";
    int t;
    /* a missing args or kwargs is the shared () or None: no root of its */
    if (obj == NULL || (*part && (obj == Py_None || (PyTuple_CheckExact(obj) &&
                                                     PyTuple_GET_SIZE(obj) == 0))))
        return 0;
    if (i < 0)
        return root(ctx, obj, HD_ROOT_INTERP, "atexit callbacks");
    if (PyFunction_Check(obj)) {
        PyFunctionObject *fn = (PyFunctionObject *)obj;
        if (fn->func_qualname && PyUnicode_Check(fn->func_qualname))
            qn[hd_str_utf8(fn->func_qualname, qn, sizeof(qn) - 1, &t)] = 0;
        if (fn->func_module && PyUnicode_Check(fn->func_module))
            mod[hd_str_utf8(fn->func_module, mod, sizeof(mod) - 1, &t)] = 0;
        snprintf(name, sizeof(name), "atexit callback #%d%s (%s%s%s)", i,
                 part, mod, mod[0] ? "." : "", qn);
    } else if (PyCFunction_Check(obj) && !*part)
        snprintf(name, sizeof(name), "atexit callback #%d (%s)", i,
                 ((PyCFunctionObject *)obj)->m_ml->ml_name);
    else
        snprintf(name, sizeof(name), "atexit callback #%d%s (%s)", i, part,
                 Py_TYPE(obj)->tp_name);
    return root(ctx, obj, HD_ROOT_INTERP, name);
}

int
hd_walk(hd_dumpctx *ctx)
{
    PyGC_Head *heads[HD_GC_MAX_LISTS];
    PyObject *interned = hd_compat_interned_dict();
    int n_lists;

    /* Marked as found, so that it is never encoded (see compat.h). */
    if (interned != NULL && hd_markset_add(&ctx->seen, interned) < 0) {
        ctx->nomem = 1;
        return -1;
    }
    if (map_thread_locals(ctx) < 0)
        return -1;
    if (root(ctx, PyImport_GetModuleDict(), HD_ROOT_SYS_MODULES,
             "sys.modules") < 0)
        return -1;
    if (root(ctx, PyEval_GetBuiltins(), HD_ROOT_BUILTINS, "builtins") < 0)
        return -1;
    if (walk_threads(ctx) < 0)
        return -1;
    if (hd_compat_atexit(atexit_root, ctx) < 0)
        return -1;

    /* Everything the collector knows, including cyclic garbage that no root
     * reaches (the analyzer finds it unreachable). */
    n_lists = hd_compat_gc_lists(heads);
    for (int l = 0; l < n_lists; l++) {
        for (PyGC_Head *g = hd_compat_gc_next(heads[l]); g != heads[l];
             g = hd_compat_gc_next(g)) {
            PyObject *op = hd_compat_gc_object(g);
            if (seed(ctx, op) < 0)
                return -1;
        }
    }
    return 0;
}
