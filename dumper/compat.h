/* heapdig — MIT licence.
 *
 * compat.h: every PY_VERSION_HEX branch of the dumper lives here (3.9–3.15).
 * It reaches into CPython's internal headers for the collector's lists, the
 * 3.11+ interpreter frames and managed dicts / inline values, because the
 * public API would materialise what we must only observe (PyThreadState_GetFrame
 * creates frame objects on 3.11+, _PyObject_GetDictPtr creates instance dicts,
 * gc.get_objects() takes a reference to everything).  Nothing outside this file
 * includes an internal header.
 */
#ifndef HEAPDIG_DUMPER_COMPAT_H
#define HEAPDIG_DUMPER_COMPAT_H

/* The internal headers below refuse to be included without Py_BUILD_CORE,
 * and it must be seen before Python.h so that both agree on declarations.
 * compat.h is therefore the first include of every dumper file. */
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#include <Python.h>
#include <frameobject.h>
#include <structmember.h> /* PyMemberDef, T_OBJECT */
#include <stddef.h> /* offsetof */

#if PY_VERSION_HEX < 0x03090000
#error "heapdig supports CPython 3.9 and later"
#endif
#ifdef Py_GIL_DISABLED
/* A free-threaded interpreter keeps objects in per-thread mimalloc heaps,
 * not in collector lists, and other threads run while we would walk: the
 * walk below would read a heap that changes under it. */
#error "heapdig does not support free-threaded (Py_GIL_DISABLED) CPython builds"
#endif

#include <internal/pycore_gc.h>
#include <internal/pycore_interp.h>
#if PY_VERSION_HEX >= 0x030B0000
#include <internal/pycore_dict.h>
#include <internal/pycore_long.h> /* _PyLong_DigitCount (3.12+) */
#include <internal/pycore_frame.h>
#include <internal/pycore_object.h>
#endif
#if PY_VERSION_HEX >= 0x030D0000
#include <internal/pycore_tracemalloc.h> /* _PyTraceMalloc_GetTraceback */
#endif
#if PY_VERSION_HEX >= 0x030E0000
#include <internal/pycore_interpframe.h> /* frames and their stack refs */
#include <internal/pycore_stackref.h>
#endif

/* ---- The collector's object lists ------------------------------------- */

/* Fills heads[] with every collector list of the current interpreter (the
 * generations plus the permanent generation of gc.freeze()).  Returns the
 * number of lists.  Walking them needs no allocation and takes no reference. */
static inline int
hd_compat_gc_lists(PyGC_Head **heads)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    struct _gc_runtime_state *gc = &interp->gc;
    int n = 0;
    for (int i = 0; i < NUM_GENERATIONS; i++)
        heads[n++] = &gc->generations[i].head;
    heads[n++] = &gc->permanent_generation.head;
    return n;
}
#define HD_GC_MAX_LISTS (NUM_GENERATIONS + 1)

static inline PyGC_Head *
hd_compat_gc_next(PyGC_Head *g)
{
    return (PyGC_Head *)g->_gc_next;
}

static inline PyObject *
hd_compat_gc_object(PyGC_Head *g)
{
    return (PyObject *)(g + 1);
}

/* The interpreter's table of interned strings (3.13+), or NULL.  Its
 * references to mortal interned strings are not counted in their refcounts
 * (unicodeobject.c), and 3.14 links it into a collector list; it belongs to
 * the interpreter, not the program, and the walk leaves it out. */
static inline PyObject *
hd_compat_interned_dict(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return _Py_INTERP_CACHED_OBJECT(PyInterpreterState_Get(),
                                    interned_strings);
#else
    return NULL;
#endif
}

/* Turns the collector on or off; returns the previous state.  Our own
 * mallocs never allocate Python objects, but a disabled collector makes sure
 * no finaliser runs if something inside CPython does. */
static inline int
hd_compat_gc_set_enabled(int on)
{
    struct _gc_runtime_state *gc = &PyInterpreterState_Get()->gc;
    int was = gc->enabled;
    gc->enabled = on;
    return was;
}

/* ---- Object facts -------------------------------------------------------- */

/* PyObject_IS_GC && PyObject_GC_IsTracked without two calls: a gc object is
 * tracked when its header is linked into a list (3.9-3.13). */
static inline int
hd_compat_gc_tracked(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    if (!PyType_IS_GC(tp) || (tp->tp_is_gc && !tp->tp_is_gc(op)))
        return 0;
    return ((PyGC_Head *)op - 1)->_gc_next != 0;
}

static inline int
hd_compat_is_immortal(PyObject *op)
{
#if PY_VERSION_HEX >= 0x030C0000
    return _Py_IsImmortal(op);
#elif PY_VERSION_HEX >= 0x030B0000
    /* 3.11 allocates deep-frozen code, its strings and the small ints
     * statically with a refcount of 999999999 (_PyObject_IMMORTAL_INIT)
     * and never frees them; no mortal object gets near 10^8 references. */
    return Py_REFCNT(op) >= 100000000;
#else
    (void)op;
    return 0;
#endif
}

/* What sys.getsizeof() adds to __sizeof__(): the collector header, and on
 * 3.11+ the managed dict / weakref pre-header.  3.11 and 3.12 add it to
 * static type objects too (which have none); 3.13 exempts them. */
static inline size_t
hd_compat_presize(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
#if PY_VERSION_HEX >= 0x030D0000
    if (PyType_Check(op) &&
        !PyType_HasFeature((PyTypeObject *)op, Py_TPFLAGS_HEAPTYPE) &&
        Py_IS_TYPE(op, &PyType_Type))
        return 0;
    return _PyType_PreHeaderSize(tp);
#elif PY_VERSION_HEX >= 0x030B0000
    return _PyType_PreHeaderSize(tp);
#else
    (void)tp;
    return PyObject_IS_GC(op) ? sizeof(PyGC_Head) : 0;
#endif
}

/* Where tracemalloc recorded the object's allocation: its start, before any
 * pre-header (mirrors _PyTraceMalloc_GetObjectTraceback). */
static inline uintptr_t
hd_compat_alloc_start(PyObject *op)
{
#if PY_VERSION_HEX >= 0x030B0000
    return (uintptr_t)((char *)op - _PyType_PreHeaderSize(Py_TYPE(op)));
#else
    if (PyType_IS_GC(Py_TYPE(op)))
        return (uintptr_t)((char *)op - sizeof(PyGC_Head));
    return (uintptr_t)op;
#endif
}

/* Looks `name` up along the type's MRO without side effects on refcounts.
 * Returns a borrowed reference or NULL.  Before 3.12 _PyType_Lookup's method
 * cache takes a reference to the name and may drop the last reference to the
 * name it evicts, so we scan the MRO's dicts instead (all types have one). */
static inline PyObject *
hd_compat_type_lookup(PyTypeObject *tp, PyObject *name)
{
#if PY_VERSION_HEX >= 0x030C0000
    return _PyType_Lookup(tp, name); /* interned names are immortal here */
#else
    PyObject *mro = tp->tp_mro;
    if (mro == NULL || !PyTuple_Check(mro))
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyObject *base = PyTuple_GET_ITEM(mro, i);
        PyObject *dict = ((PyTypeObject *)base)->tp_dict;
        if (dict == NULL || !PyDict_CheckExact(dict))
            continue;
        PyObject *v = PyDict_GetItemWithError(dict, name);
        if (v != NULL)
            return v;
        PyErr_Clear();
    }
    return NULL;
#endif
}

/* ---- Instance attributes ------------------------------------------------- */

/* Visits an instance's attributes that live outside a dict object: 3.11/3.12
 * "values" arrays and 3.13 inline values, keyed by the type's cached keys.
 * Calls cb(value, name) for each present attribute and sets *dict_out to the
 * instance's dict object if one exists (never creating it).  Returns 0, or the
 * first nonzero cb result. */
typedef int (*hd_attr_cb)(PyObject *value, PyObject *name, void *payload);

static inline int
hd_compat_instance_attrs(PyObject *op, PyObject **dict_out, hd_attr_cb cb,
                         void *payload)
{
    PyTypeObject *tp = Py_TYPE(op);
    *dict_out = NULL;
#if PY_VERSION_HEX >= 0x030B0000
    if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        PyDictValues *values = NULL;
        PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
#if PY_VERSION_HEX >= 0x030D0000
        if ((tp->tp_flags & Py_TPFLAGS_INLINE_VALUES) &&
            _PyObject_InlineValues(op)->valid)
            values = _PyObject_InlineValues(op);
        *dict_out = (PyObject *)_PyObject_ManagedDictPointer(op)->dict;
#if PY_VERSION_HEX >= 0x030E0000
        /* 3.14: once __dict__ exists it owns the values, even where they
         * still sit inline in the instance (subtype_traverse then visits
         * the dict, and dict_traverse the values). */
        if (*dict_out != NULL)
            values = NULL;
#endif
        if (values == NULL)
            return 0;
#elif PY_VERSION_HEX >= 0x030C0000
        PyDictOrValues dorv = *_PyObject_DictOrValuesPointer(op);
        if (!_PyDictOrValues_IsValues(dorv)) {
            *dict_out = (PyObject *)_PyDictOrValues_GetDict(dorv);
            return 0;
        }
        values = _PyDictOrValues_GetValues(dorv);
#else
        *dict_out = *_PyObject_ManagedDictPointer(op);
        values = *_PyObject_ValuesPointer(op);
        if (values == NULL)
            return 0;
#endif
        if (keys == NULL)
            return 0;
        PyDictUnicodeEntry *entries = DK_UNICODE_ENTRIES(keys);
        for (Py_ssize_t i = 0; i < keys->dk_nentries; i++) {
            PyObject *v = values->values[i];
            if (v == NULL)
                continue;
            int r = cb(v, entries[i].me_key, payload);
            if (r)
                return r;
        }
        return 0;
    }
#endif
    if (tp->tp_dictoffset != 0) {
        Py_ssize_t off = tp->tp_dictoffset;
        if (off < 0) { /* negative: counted from the end of a var object */
            Py_ssize_t n = Py_SIZE(op);
            if (n < 0)
                n = -n;
            off += (Py_ssize_t)_PyObject_VAR_SIZE(tp, n);
        }
        *dict_out = *(PyObject **)((char *)op + off);
    }
    (void)cb;
    (void)payload;
    return 0;
}

/* Whether a dict's values belong to it (3.13 embeds an instance's inline
 * values in its materialised __dict__ and the instance owns them; 3.14
 * gives them to the dict). */
static inline int
hd_compat_dict_owns_values(PyObject *dict)
{
#if PY_VERSION_HEX >= 0x030E0000
    (void)dict; /* 3.14: a materialised __dict__ owns its values */
    return 1;
#elif PY_VERSION_HEX >= 0x030D0000
    PyDictObject *mp = (PyDictObject *)dict;
    return mp->ma_values == NULL || !mp->ma_values->embedded;
#else
    (void)dict;
    return 1;
#endif
}

/* Whether the dict's keys are owned by it (combined table) rather than shared
 * with other instances of a class (split table). */
static inline int
hd_compat_dict_owns_keys(PyObject *dict)
{
    return ((PyDictObject *)dict)->ma_values == NULL;
}

/* ---- Frames -------------------------------------------------------------- */

/* A running frame, whatever its representation. */
typedef struct hd_frame {
    PyCodeObject *code;  /* borrowed; never NULL for frames we report */
    PyObject *func;      /* the running function, NULL if unknown */
    PyObject *frame_obj; /* an existing frame object, else NULL */
    PyObject *f_locals;  /* a locals mapping (class bodies, exec), or NULL */
    void *locals;        /* fast locals/cells/frees (3.11+), see below */
    int n_locals;        /* entries in locals */
    int line;            /* current line number, -1 if unknown */
    void *opaque;        /* the underlying frame, for hd_compat_frame_next */
} hd_frame;

/* The object a stack reference names (3.14+), NULL for an empty slot or a
 * tagged integer (which is no object). */
#if PY_VERSION_HEX >= 0x030E0000
static inline PyObject *
hd_compat_stackref(_PyStackRef r)
{
#if PY_VERSION_HEX >= 0x030F0000
    if (!PyStackRef_IsValid(r) || PyStackRef_IsTaggedInt(r))
#else
    if (PyStackRef_IsNull(r) || PyStackRef_IsTaggedInt(r))
#endif
        return NULL;
    return PyStackRef_AsPyObjectBorrow(r);
}
#endif

/* The thread's innermost frame; 0 if it has none. */
static inline int hd_compat_frame_fill(hd_frame *f, void *raw);

static inline int
hd_compat_thread_frame(PyThreadState *ts, hd_frame *f)
{
#if PY_VERSION_HEX >= 0x030D0000
    return hd_compat_frame_fill(f, ts->current_frame);
#elif PY_VERSION_HEX >= 0x030B0000
    return hd_compat_frame_fill(f, ts->cframe ? ts->cframe->current_frame
                                               : NULL);
#else
    return hd_compat_frame_fill(f, ts->frame);
#endif
}

static inline int
hd_compat_frame_next(hd_frame *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    return hd_compat_frame_fill(
        f, ((_PyInterpreterFrame *)f->opaque)->previous);
#else
    return hd_compat_frame_fill(f, ((PyFrameObject *)f->opaque)->f_back);
#endif
}

static inline int
hd_compat_frame_fill(hd_frame *f, void *raw)
{
    memset(f, 0, sizeof(*f));
#if PY_VERSION_HEX >= 0x030B0000
    _PyInterpreterFrame *fr = raw;
    /* Skip the C-stack shims and frames still being set up. */
    while (fr != NULL && _PyFrame_IsIncomplete(fr))
        fr = fr->previous;
    if (fr == NULL)
        return 0;
    f->opaque = fr;
#if PY_VERSION_HEX >= 0x030E0000
    PyObject *exe = hd_compat_stackref(fr->f_executable);
    if (exe == NULL || !PyCode_Check(exe))
        return hd_compat_frame_fill(f, fr->previous);
    f->code = (PyCodeObject *)exe;
    f->func = hd_compat_stackref(fr->f_funcobj);
#elif PY_VERSION_HEX >= 0x030D0000
    if (!PyCode_Check(fr->f_executable))
        return hd_compat_frame_fill(f, fr->previous);
    f->code = (PyCodeObject *)fr->f_executable;
    f->func = fr->f_funcobj;
#elif PY_VERSION_HEX >= 0x030C0000
    f->code = fr->f_code;
    f->func = fr->f_funcobj;
#else
    f->code = fr->f_code;
    f->func = (PyObject *)fr->f_func;
#endif
    f->frame_obj = (PyObject *)fr->frame_obj;
    f->f_locals = fr->f_locals;
    f->locals = fr->localsplus;
    f->n_locals = f->code->co_nlocalsplus;
    f->line = PyCode_Addr2Line(f->code, _PyInterpreterFrame_LASTI(fr) *
                                            (int)sizeof(_Py_CODEUNIT));
#else
    PyFrameObject *fo = raw;
    if (fo == NULL)
        return 0;
    f->opaque = fo;
    f->code = fo->f_code;
    f->frame_obj = (PyObject *)fo;
    f->line = PyFrame_GetLineNumber(fo);
#endif
    return 1;
}

/* Fast local i of a frame (3.11+), borrowed; NULL if unset.  3.14 made the
 * slots _PyStackRef, tagged pointers, instead of PyObject *. */
static inline PyObject *
hd_compat_frame_local(const hd_frame *f, int i)
{
#if PY_VERSION_HEX >= 0x030E0000
    return hd_compat_stackref(((_PyStackRef *)f->locals)[i]);
#else
    return ((PyObject **)f->locals)[i];
#endif
}

/* Name of fast local i of a code object (3.11+ layout), borrowed. */
static inline PyObject *
hd_compat_local_name(PyCodeObject *co, int i)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyTuple_GET_ITEM(co->co_localsplusnames, i);
#else
    (void)co;
    (void)i;
    return NULL;
#endif
}

/* Before 3.11 a frame object's f_localsplus holds co_varnames, then cellvars,
 * then freevars (then the value stack).  Returns the name of slot i, or NULL
 * past the named slots. */
static inline PyObject *
hd_compat_frameobj_local_name(PyFrameObject *fo, Py_ssize_t i)
{
#if PY_VERSION_HEX < 0x030B0000
    PyCodeObject *co = fo->f_code;
    Py_ssize_t nv = PyTuple_GET_SIZE(co->co_varnames);
    Py_ssize_t nc = PyTuple_GET_SIZE(co->co_cellvars);
    Py_ssize_t nf = PyTuple_GET_SIZE(co->co_freevars);
    if (i < nv)
        return PyTuple_GET_ITEM(co->co_varnames, i);
    if (i < nv + nc)
        return PyTuple_GET_ITEM(co->co_cellvars, i - nv);
    if (i < nv + nc + nf)
        return PyTuple_GET_ITEM(co->co_freevars, i - nv - nc);
#else
    (void)fo;
    (void)i;
#endif
    return NULL;
}

/* Number of named local slots of a frame object before 3.11. */
static inline Py_ssize_t
hd_compat_frameobj_n_locals(PyFrameObject *fo)
{
#if PY_VERSION_HEX < 0x030B0000
    PyCodeObject *co = fo->f_code;
    return PyTuple_GET_SIZE(co->co_varnames) +
           PyTuple_GET_SIZE(co->co_cellvars) +
           PyTuple_GET_SIZE(co->co_freevars);
#else
    (void)fo;
    return 0;
#endif
}

static inline PyObject **
hd_compat_frameobj_localsplus(PyFrameObject *fo)
{
#if PY_VERSION_HEX < 0x030B0000
    return fo->f_localsplus;
#else
    (void)fo;
    return NULL;
#endif
}

static inline PyObject *
hd_compat_code_qualname(PyCodeObject *co)
{
#if PY_VERSION_HEX >= 0x030B0000
    return co->co_qualname;
#else
    return co->co_name;
#endif
}


/* ---- C __sizeof__ of the hot built-ins (mirrors CPython Objects/) -------------- */

/* int.__sizeof__: digits only, whatever the subclass (longobject.c). */
static inline size_t
hd_compat_int_sizeof(PyObject *op)
{
#if PY_VERSION_HEX >= 0x030C0000
    size_t nd = (size_t)_PyLong_DigitCount((PyLongObject *)op);
    return offsetof(PyLongObject, long_value.ob_digit) +
           (nd ? nd : 1) * sizeof(digit);
#else
    Py_ssize_t nd = Py_SIZE(op);
    size_t n = (size_t)(nd < 0 ? -nd : nd);
#if PY_VERSION_HEX >= 0x030B0000
    if (n == 0) /* 3.11 counts one digit for zero */
        n = 1;
#endif
    return offsetof(PyLongObject, ob_digit) + n * sizeof(digit);
#endif
}

/* -1, 0 or 1 (3.14 deprecated _PyLong_Sign for PyLong_GetSign). */
static inline int
hd_compat_int_sign(PyObject *op)
{
#if PY_VERSION_HEX >= 0x030E0000
    int sign = 0;
    PyLong_GetSign(op, &sign);
    return sign;
#else
    return _PyLong_Sign(op);
#endif
}

/* str.__sizeof__ (unicodeobject.c unicode__sizeof__). */
static inline size_t
hd_compat_str_sizeof(PyObject *op)
{
    size_t size;
    size_t len = (size_t)PyUnicode_GET_LENGTH(op);
    size_t kind = PyUnicode_KIND(op);
    PyCompactUnicodeObject *cu = (PyCompactUnicodeObject *)op;
    if (PyUnicode_IS_COMPACT_ASCII(op))
        size = sizeof(PyASCIIObject) + len + 1;
    else if (PyUnicode_IS_COMPACT(op))
        size = sizeof(PyCompactUnicodeObject) + (len + 1) * kind;
    else {
        size = sizeof(PyUnicodeObject);
        if (((PyUnicodeObject *)op)->data.any)
            size += (len + 1) * kind;
    }
#if PY_VERSION_HEX < 0x030C0000
    PyASCIIObject *ao = (PyASCIIObject *)op;
    if (ao->wstr && (!PyUnicode_IS_READY(op) ||
                     (void *)ao->wstr != PyUnicode_DATA(op)))
        size += (cu->wstr_length + 1) * sizeof(wchar_t);
#endif
    if (!PyUnicode_IS_COMPACT_ASCII(op) && cu->utf8 &&
        (void *)cu->utf8 != PyUnicode_DATA(op))
        size += (size_t)cu->utf8_length + 1;
    return size;
}

/* ---- Labelled fields of built-in objects ---------------------------------- */

/* A strong reference held in a struct field, named as Python spells it. */
typedef struct hd_field {
    size_t offset;    /* offsetof the PyObject * field */
    const char *name; /* attribute name */
} hd_field;

#define HD_F(T, f, n) {offsetof(T, f), n}

static const hd_field hd_function_fields[] = {
    HD_F(PyFunctionObject, func_code, "__code__"),
    HD_F(PyFunctionObject, func_globals, "__globals__"),
    HD_F(PyFunctionObject, func_module, "__module__"),
    HD_F(PyFunctionObject, func_defaults, "__defaults__"),
    HD_F(PyFunctionObject, func_kwdefaults, "__kwdefaults__"),
    HD_F(PyFunctionObject, func_doc, "__doc__"),
    HD_F(PyFunctionObject, func_name, "__name__"),
    HD_F(PyFunctionObject, func_dict, "__dict__"),
    HD_F(PyFunctionObject, func_closure, "__closure__"),
    HD_F(PyFunctionObject, func_annotations, "__annotations__"),
    HD_F(PyFunctionObject, func_qualname, "__qualname__"),
#if PY_VERSION_HEX >= 0x030A0000
    HD_F(PyFunctionObject, func_builtins, "__builtins__"),
#endif
#if PY_VERSION_HEX >= 0x030C0000
    HD_F(PyFunctionObject, func_typeparams, "__type_params__"),
#endif
    {0, NULL}};

static const hd_field hd_code_fields[] = {
    HD_F(PyCodeObject, co_consts, "co_consts"),
    HD_F(PyCodeObject, co_names, "co_names"),
    HD_F(PyCodeObject, co_filename, "co_filename"),
    HD_F(PyCodeObject, co_name, "co_name"),
#if PY_VERSION_HEX >= 0x030B0000
    HD_F(PyCodeObject, co_qualname, "co_qualname"),
    HD_F(PyCodeObject, co_localsplusnames, "co_localsplusnames"),
    HD_F(PyCodeObject, co_localspluskinds, "co_localspluskinds"),
    HD_F(PyCodeObject, co_linetable, "co_linetable"),
    HD_F(PyCodeObject, co_exceptiontable, "co_exceptiontable"),
#else
    HD_F(PyCodeObject, co_code, "co_code"),
    HD_F(PyCodeObject, co_varnames, "co_varnames"),
    HD_F(PyCodeObject, co_freevars, "co_freevars"),
    HD_F(PyCodeObject, co_cellvars, "co_cellvars"),
#endif
#if PY_VERSION_HEX >= 0x030A0000 && PY_VERSION_HEX < 0x030B0000
    HD_F(PyCodeObject, co_linetable, "co_linetable"),
#elif PY_VERSION_HEX < 0x030A0000
    HD_F(PyCodeObject, co_lnotab, "co_lnotab"),
#endif
    {0, NULL}};

#if PY_VERSION_HEX < 0x030B0000
static const hd_field hd_frame_fields[] = {
    HD_F(PyFrameObject, f_back, "f_back"),
    HD_F(PyFrameObject, f_code, "f_code"),
    HD_F(PyFrameObject, f_builtins, "f_builtins"),
    HD_F(PyFrameObject, f_globals, "f_globals"),
    HD_F(PyFrameObject, f_locals, "f_locals"),
    HD_F(PyFrameObject, f_trace, "f_trace"),
    {0, NULL}};
#else
static const hd_field hd_frame_fields[] = {
    HD_F(PyFrameObject, f_back, "f_back"),
    HD_F(PyFrameObject, f_trace, "f_trace"),
    {0, NULL}};
#endif

/* A traceback's links, an exception's standard fields and a builtin
 * method's owner: public structs on every version. */
static const hd_field hd_traceback_fields[] = {
    HD_F(PyTracebackObject, tb_next, "tb_next"),
    HD_F(PyTracebackObject, tb_frame, "tb_frame"),
    {0, NULL}};

static const hd_field hd_exception_fields[] = {
    HD_F(PyBaseExceptionObject, dict, "__dict__"),
    HD_F(PyBaseExceptionObject, args, "args"),
#if PY_VERSION_HEX >= 0x030B0000
    HD_F(PyBaseExceptionObject, notes, "__notes__"),
#endif
    HD_F(PyBaseExceptionObject, traceback, "__traceback__"),
    HD_F(PyBaseExceptionObject, context, "__context__"),
    HD_F(PyBaseExceptionObject, cause, "__cause__"),
    {0, NULL}};

static const hd_field hd_cfunction_fields[] = {
    HD_F(PyCFunctionObject, m_self, "__self__"),
    HD_F(PyCFunctionObject, m_module, "__module__"),
    {0, NULL}};

/* Whether member m of a type is a C field label_c_members names: an object
 * slot at a fixed offset; in a heap type only a read-only one (a Python
 * class's writable __slots__ are label_instance's). */
static inline int
hd_member_is_c_field(const PyMemberDef *m, int heap)
{
    if (m->type != T_OBJECT && m->type != T_OBJECT_EX)
        return 0;
#ifdef Py_RELATIVE_OFFSET
    if (m->flags & Py_RELATIVE_OFFSET)
        return 0;
#endif
    return !heap || (m->flags & READONLY);
}

#if PY_VERSION_HEX >= 0x030B0000
/* The code an interpreter frame runs (borrowed), or NULL. */
static inline PyCodeObject *
hd_compat_iframe_code(_PyInterpreterFrame *fr)
{
#if PY_VERSION_HEX >= 0x030E0000
    PyObject *exe = hd_compat_stackref(fr->f_executable);
    return exe && PyCode_Check(exe) ? (PyCodeObject *)exe : NULL;
#elif PY_VERSION_HEX >= 0x030D0000
    PyObject *exe = fr->f_executable;
    return exe && PyCode_Check(exe) ? (PyCodeObject *)exe : NULL;
#else
    return fr->f_code;
#endif
}

/* An interpreter frame as an hd_frame (its code, locals and f_locals);
 * 0 if it runs no code object. */
static inline int
hd_compat_iframe_fill(hd_frame *f, _PyInterpreterFrame *fr)
{
    memset(f, 0, sizeof(*f));
    if (fr == NULL || (f->code = hd_compat_iframe_code(fr)) == NULL)
        return 0;
    f->locals = fr->localsplus;
    f->n_locals = f->code->co_nlocalsplus;
    f->f_locals = fr->f_locals;
    f->opaque = fr;
    return 1;
}
#endif

/* The code a frame object runs (borrowed), and (3.11+) its interpreter
 * frame as an hd_frame, so that a finished frame a traceback keeps names
 * its locals as a running one does.  0 if it has none. */
static inline PyCodeObject *
hd_compat_frameobj_code(PyFrameObject *fo)
{
#if PY_VERSION_HEX >= 0x030B0000
    return hd_compat_iframe_code(fo->f_frame);
#else
    return fo->f_code;
#endif
}

static inline int
hd_compat_frameobj_frame(PyFrameObject *fo, hd_frame *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    return hd_compat_iframe_fill(f, fo->f_frame);
#else
    (void)fo;
    memset(f, 0, sizeof(*f));
    return 0;
#endif
}

/* A suspended generator's, coroutine's or async generator's frame (they share
 * one layout).  3.11+: the frame lives inside the object, no frame object
 * exists until gi_frame is asked for, and the object's traverse visits the
 * frame's locals itself; 0 once it has finished (its locals are gone).
 * Before 3.11 the frame is a frame object (*frame_obj, labelled gi_frame). */
static inline int
hd_compat_gen_frame(PyObject *gen, hd_frame *f, PyObject **frame_obj)
{
    memset(f, 0, sizeof(*f));
    *frame_obj = NULL;
#if PY_VERSION_HEX >= 0x030B0000
    PyGenObject *g = (PyGenObject *)gen;
#ifdef FRAME_STATE_FINISHED /* 3.12+; 3.15 renumbers the states */
    if (FRAME_STATE_FINISHED(g->gi_frame_state))
        return 0;
#else
    if (g->gi_frame_state >= FRAME_COMPLETED)
        return 0;
#endif
    return hd_compat_iframe_fill(
        f, (_PyInterpreterFrame *)((char *)gen +
                                   offsetof(PyGenObject, gi_iframe)));
#else
    *frame_obj = (PyObject *)((PyGenObject *)gen)->gi_frame;
    return 0;
#endif
}

/* The globals and builtins an hd_frame from hd_compat_frameobj_frame runs
 * with (3.11+), borrowed. */
static inline PyObject *
hd_compat_frame_globals(const hd_frame *f, int builtins)
{
#if PY_VERSION_HEX >= 0x030B0000
    _PyInterpreterFrame *fr = f->opaque;
    return builtins ? fr->f_builtins : fr->f_globals;
#else
    (void)f;
    (void)builtins;
    return NULL;
#endif
}

/* ---- tracemalloc --------------------------------------------------------- */

/* The allocation traceback of an object as a new tuple of (filename, lineno)
 * tuples, or None when tracemalloc does not trace it. */
static inline PyObject *
hd_compat_traceback(PyObject *op)
{
    return _PyTraceMalloc_GetTraceback(0, hd_compat_alloc_start(op));
}

/* The _thread._localdummy that stands for thread ts in threading.local
 * objects' per-thread dicts: 3.13+ keeps one per thread (threading_local_key,
 * its key in every local's dict); before, each local puts its own in the thread's dict (the
 * local's dict is keyed by weak references to them).  Calls cb for each;
 * runs no Python code. */
static inline int
hd_compat_thread_local_dummies(PyThreadState *ts,
                               int (*cb)(PyObject *dummy, void *arg),
                               void *arg)
{
#if PY_VERSION_HEX >= 0x030D0000
    if (ts->threading_local_key != NULL)
        return cb(ts->threading_local_key, arg);
    return 0;
#else
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    if (ts->dict == NULL || !PyDict_CheckExact(ts->dict))
        return 0;
    while (PyDict_Next(ts->dict, &pos, &k, &v))
        if (!strcmp(Py_TYPE(v)->tp_name, "_thread._localdummy") && cb(v, arg))
            return -1;
    return 0;
#endif
}

/* ---- atexit's callbacks ---------------------------------------------------
 *
 * Functions registered with atexit are held by the interpreter from C: a
 * root of their own ("atexit callback #0 (logging.shutdown)"), not an
 * anonymous one.  Calls cb(obj, i, part) for each callback's function, args
 * and kwargs (part "", " args", " kwargs"), and on 3.14+ for the list that
 * holds them all (i = -1).  Runs no Python code.  Where they live:
 * 3.9, the atexit module's state; 3.10-3.13 an array in the interpreter;
 * 3.14+ a list in the interpreter. */
typedef int (*hd_atexit_cb)(PyObject *obj, int i, const char *part,
                            void *arg);

#if PY_VERSION_HEX < 0x030A0000
typedef struct { /* Modules/atexitmodule.c, 3.9 */
    PyObject *func, *args, *kwargs;
} hd_atexit39_callback;
typedef struct {
    hd_atexit39_callback **atexit_callbacks;
    int ncallbacks;
    int callback_len;
} hd_atexit39_state;
#endif

static inline int
hd_compat_atexit(hd_atexit_cb cb, void *arg)
{
#if PY_VERSION_HEX >= 0x030E0000
    /* a list of (func, args, kwargs) tuples */
    PyObject *list = PyInterpreterState_Get()->atexit.callbacks;
    static const char *const parts[3] = {"", " args", " kwargs"};
    if (list == NULL || !PyList_CheckExact(list))
        return 0;
    /* newest first: numbered in the order they were registered, as the
     * older versions' array is */
    Py_ssize_t n = PyList_GET_SIZE(list);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(list, i);
        for (Py_ssize_t j = 0; PyTuple_CheckExact(t) && j < 3 &&
                               j < PyTuple_GET_SIZE(t); j++)
            if (cb(PyTuple_GET_ITEM(t, j), (int)(n - 1 - i), parts[j], arg) <
                0)
                return -1;
    }
    return cb(list, -1, "", arg);
#else
#if PY_VERSION_HEX >= 0x030A0000
    struct atexit_state *st = &PyInterpreterState_Get()->atexit;
    int n = st->ncallbacks;
#if PY_VERSION_HEX >= 0x030C0000
    atexit_py_callback **calls = st->callbacks;
#else
    atexit_callback **calls = st->callbacks;
#endif
#else
    /* the module is found in sys.modules without making a str to look for */
    PyObject *k, *m = NULL, *mods = PyImport_GetModuleDict(), *v;
    Py_ssize_t pos = 0;
    while (mods && PyDict_Next(mods, &pos, &k, &v))
        if (PyUnicode_CheckExact(k) &&
            PyUnicode_CompareWithASCIIString(k, "atexit") == 0)
            m = v;
    hd_atexit39_state *st = m && PyModule_CheckExact(m)
                                ? (hd_atexit39_state *)PyModule_GetState(m)
                                : NULL;
    if (st == NULL) {
        PyErr_Clear();
        return 0;
    }
    int n = st->ncallbacks;
    hd_atexit39_callback **calls = st->atexit_callbacks;
#endif
    for (int i = 0; calls && i < n; i++) {
        if (calls[i] == NULL)
            continue; /* unregistered */
        if (cb(calls[i]->func, i, "", arg) < 0 ||
            cb(calls[i]->args, i, " args", arg) < 0 ||
            cb(calls[i]->kwargs, i, " kwargs", arg) < 0)
            return -1;
    }
    return 0;
#endif
}

#endif /* HEAPDIG_DUMPER_COMPAT_H */
