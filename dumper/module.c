/* heapdig — MIT licence.
 *
 * module.c: the `heapdig._heapdig` extension module (the `heapdig` package
 * in dumper/python/ wraps it): argument parsing, background forks, the dump's
 * life cycle (header, walk, end, atomic commit) and turning failures into
 * Python exceptions (the only file that raises OSError).  Everything that
 * might allocate Python objects (parsing arguments, reading sys.argv,
 * building the result) happens before or after the walk, never during it.
 */
#include "dumper_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HD_DUMPER_VERSION "0.1.0"

/* ---- Header metadata ------------------------------------------------------- */

/* Appends s to a growing buffer as a JSON string. */
static int
json_str(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    size_t need = *len + 6 * n + 3;
    if (need > *cap) {
        char *b = realloc(*buf, need * 2);
        if (b == NULL)
            return -1;
        *buf = b;
        *cap = need * 2;
    }
    char *p = *buf + *len;
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20) {
            p += sprintf(p, "\\u%04x", c);
        } else
            *p++ = (char)c;
    }
    *p++ = '"';
    *p = 0;
    *len = (size_t)(p - *buf);
    return 0;
}

/* sys.argv as a JSON array (read before the walk). */
static char *
argv_json(void)
{
    PyObject *argv = PySys_GetObject("argv"); /* borrowed */
    size_t len = 1, cap = 64;
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    strcpy(buf, "[");
    for (Py_ssize_t i = 0; argv && PyList_Check(argv) &&
                           i < PyList_GET_SIZE(argv);
         i++) {
        PyObject *a = PyList_GET_ITEM(argv, i);
        char tmp[1024];
        int t;
        size_t n = PyUnicode_Check(a) ? hd_str_utf8(a, tmp, sizeof(tmp), &t)
                                      : 0;
        if (i > 0)
            strcat(buf, ","), len++;
        if (json_str(&buf, &len, &cap, tmp, n) < 0) {
            free(buf);
            return NULL;
        }
    }
    if (len + 2 > cap) {
        char *b = realloc(buf, len + 2);
        if (b == NULL) {
            free(buf);
            return NULL;
        }
        buf = b;
    }
    strcpy(buf + len, "]");
    return buf;
}

/* ---- dump() ------------------------------------------------------------------ */

static int
parse_int_kw(PyObject *v, const char *name, int lo, int hi, int *out)
{
    long x = PyLong_AsLong(v);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (x < lo || x > hi) {
        PyErr_Format(PyExc_ValueError, "%s must be in [%d, %d], got %ld",
                     name, lo, hi, x);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static size_t
ctx_memory(const hd_dumpctx *ctx)
{
    return hd_markset_memory(&ctx->seen) +
           ctx->cap_stack * sizeof(PyObject *) +
           ctx->cap_edges * sizeof(hd_edge) +
           ctx->cap_types * sizeof(hd_typeinfo) +
           (ctx->type_ids.mask + 1 + ctx->str_ids.mask + 1 +
            ctx->cstr_ids.mask + 1 + ctx->tb_ids.mask + 1) *
               (sizeof(uintptr_t) + sizeof(uint32_t));
}

static void
ctx_dispose(hd_dumpctx *ctx)
{
    hd_markset_dispose(&ctx->seen);
    hd_ptrmap_dispose(&ctx->type_ids);
    hd_ptrmap_dispose(&ctx->str_ids);
    hd_ptrmap_dispose(&ctx->cstr_ids);
    hd_ptrmap_dispose(&ctx->tb_ids);
    hd_ptrmap_dispose(&ctx->local_dummies);
    free(ctx->thread_ids);
    hd_probe_dispose(&ctx->probe);
    for (size_t i = 0; ctx->types && i < ctx->st.n_types; i++) {
        for (uint32_t j = 0; j < ctx->types[i].n_native; j++)
            free(ctx->types[i].native[j].owned);
        free(ctx->types[i].native);
    }
    free(ctx->types);
    free(ctx->stack);
    free(ctx->edges);
}

/* The C __sizeof__ descriptors of the built-ins whose sizes we compute
 * ourselves (frozenset has its own descriptor for set's formula). */
static int
find_known_sizeof(hd_dumpctx *ctx)
{
    static const struct {
        PyTypeObject *type;
        int kind;
    } known[HD_N_KNOWN_SIZEOF] = {
        {&PyBaseObject_Type, HD_SZ_OBJECT}, {&PyList_Type, HD_SZ_LIST},
        {&PyDict_Type, HD_SZ_DICT},         {&PySet_Type, HD_SZ_SET},
        {&PyFrozenSet_Type, HD_SZ_SET},     {&PyUnicode_Type, HD_SZ_STR},
        {&PyLong_Type, HD_SZ_INT}};
    PyObject *name = PyUnicode_InternFromString("__sizeof__");
    if (name == NULL)
        return -1;
    /* Interned and a key of object's dict, so it outlives our reference;
     * we keep it borrowed so that its refcount is not disturbed. */
    Py_DECREF(name);
    ctx->name_sizeof = name;
    for (int k = 0; k < HD_N_KNOWN_SIZEOF; k++) {
        ctx->known_sizeof[k] = hd_compat_type_lookup(known[k].type, name);
        ctx->known_kind[k] = (uint8_t)known[k].kind;
    }
    return 0;
}

static double
now(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* mem_of: the process whose memory the dump records: 0 for this one, the
 * parent's pid in a background dump's child. */
static PyObject *
dump_impl(const char *path, hd_options *opt, pid_t mem_of)
{
    hd_dumpctx ctx;
    char *argv = NULL, exe[1024];
    const char *what = NULL;
    PyObject *result = NULL, *exe_obj;
    int walked = -1, gc_was, t;
    double t0 = now(CLOCK_MONOTONIC), t_walk;
    struct stat st;
    size_t mem;
    hd_memstat process_mem;

    memset(&ctx, 0, sizeof(ctx));
    hd_memstat_take(&process_mem, mem_of);
    ctx.opt = *opt;
    if (find_known_sizeof(&ctx) < 0)
        return NULL;
    if ((argv = argv_json()) == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    exe_obj = PySys_GetObject("executable");
    exe[exe_obj && PyUnicode_Check(exe_obj)
            ? hd_str_utf8(exe_obj, exe, sizeof(exe) - 1, &t)
            : 0] = 0;
    PyErr_Clear();
    if (hd_sink_open(&ctx.sink, path, opt->level) < 0) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        free(argv);
        return NULL;
    }
    const char *meta[] = {"python_version", Py_GetVersion(),
                          "implementation", "cpython",
                          "executable", exe,
                          "argv", argv,
                          "platform", Py_GetPlatform(),
                          "dumper_version", HD_DUMPER_VERSION};

    /* From here to the end of the walk: no Python code, no allocation of
     * Python objects, the GIL held throughout and the collector off. */
    gc_was = hd_compat_gc_set_enabled(0);
    if (hd_emit_prelude(&ctx) == 0 &&
        hd_emit_header(&ctx, (uint64_t)(now(CLOCK_REALTIME) * 1e9), meta,
                       sizeof(meta) / sizeof(meta[0]) / 2) == 0 &&
        hd_emit_memory(&ctx, &process_mem) == 0 &&
        hd_walk(&ctx) == 0 && !ctx.nomem &&
        hd_emit_probed_sizes(&ctx) == 0 && !ctx.nomem)
        walked = hd_emit_end(&ctx);
    hd_compat_gc_set_enabled(gc_was);
    t_walk = now(CLOCK_MONOTONIC) - t0;
    mem = ctx_memory(&ctx);
    uint64_t raw = hd_sink_bytes_in(ctx.sink);

    if (hd_sink_close(ctx.sink, walked == 0 && !ctx.nomem, &what) < 0) {
        if (errno == ENOMEM || ctx.nomem)
            PyErr_NoMemory();
        else
            PyErr_Format(PyExc_OSError, "heapdig: %s of %s failed: %s",
                         what ? what : "writing", path, strerror(errno));
        goto done;
    }
    if (ctx.nomem || walked != 0) {
        PyErr_NoMemory();
        goto done;
    }
    if (stat(path, &st) < 0) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        goto done;
    }
    result = Py_BuildValue(
        "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:n,s:n,s:d,s:d}",
        "objects",
        (unsigned long long)ctx.st.n_objects, "references",
        (unsigned long long)ctx.st.n_edges, "roots",
        (unsigned long long)ctx.st.n_roots, "strings",
        (unsigned long long)ctx.st.n_strings, "types",
        (unsigned long long)ctx.st.n_types, "tracebacks",
        (unsigned long long)ctx.st.n_tracebacks, "sizeof_calls",
        (unsigned long long)ctx.st.n_sizeof_calls, "sizes_probed",
        (unsigned long long)ctx.st.n_sizes_probed, "sizes_unknown",
        (unsigned long long)ctx.st.n_sizes_unknown, "probe_failures",
        (Py_ssize_t)ctx.probe.n_failed, "bytes_written",
        (unsigned long long)st.st_size, "uncompressed_bytes",
        (unsigned long long)raw, "dumper_memory", (Py_ssize_t)mem,
        "walk_seconds", t_walk, "seconds", now(CLOCK_MONOTONIC) - t0);
done:
    ctx_dispose(&ctx);
    free(argv);
    return result;
}

PyDoc_STRVAR(dump_doc,
"dump(path, *, values=True, max_value_len=64, compression=1, tracebacks=False)\n"
"--\n\n"
"Write a snapshot of the whole heap to `path` (gzip, mode 0600, atomic).\n\n"
"values: record short values (str/bytes prefixes, numbers, names); turn\n"
"  off when heap contents are secret.\n"
"max_value_len: longest value prefix in bytes (0-4096).\n"
"compression: zlib level 0-9 (1 is fastest, 6 is smaller).\n"
"tracebacks: record allocation tracebacks while tracemalloc is tracing.\n\n"
"Returns a dict of statistics (objects, references, bytes_written, seconds,\n"
"...).  Raises OSError and leaves no file behind if the dump fails.");

/* Parses dump()'s arguments: one path, keyword options. */
static int
parse_dump_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                hd_options *opt, PyObject **path_bytes)
{
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    opt->values = 1;
    opt->max_value_len = 64;
    opt->tracebacks = 0;
    opt->level = 1;
    *path_bytes = NULL;
    if (nargs != 1) {
        PyErr_Format(PyExc_TypeError,
                     "dump() takes exactly one positional argument (%zd given)",
                     nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *k = PyTuple_GET_ITEM(kwnames, i), *v = args[nargs + i];
        int r;
        if (PyUnicode_CompareWithASCIIString(k, "values") == 0)
            r = opt->values = PyObject_IsTrue(v);
        else if (PyUnicode_CompareWithASCIIString(k, "max_value_len") == 0)
            r = parse_int_kw(v, "max_value_len", 0, 4096, &opt->max_value_len);
        else if (PyUnicode_CompareWithASCIIString(k, "compression") == 0)
            r = parse_int_kw(v, "compression", 0, 9, &opt->level);
        else if (PyUnicode_CompareWithASCIIString(k, "tracebacks") == 0)
            r = opt->tracebacks = PyObject_IsTrue(v);
        else {
            PyErr_Format(PyExc_TypeError,
                         "dump() got an unexpected keyword argument '%U'", k);
            return -1;
        }
        if (r < 0)
            return -1;
    }
    return PyUnicode_FSConverter(args[0], path_bytes) ? 0 : -1;
}

static PyObject *
heapdig_dump(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
             PyObject *kwnames)
{
    hd_options opt;
    PyObject *path_bytes = NULL, *result;
    (void)self;
    if (parse_dump_args(args, nargs, kwnames, &opt, &path_bytes) < 0)
        return NULL;
    result = dump_impl(PyBytes_AS_STRING(path_bytes), &opt, 0);
    Py_DECREF(path_bytes);
    return result;
}

/* Writes all of s to fd, ignoring failures (the child is about to exit). */
static void
write_str(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0 && errno != EINTR)
            return;
        if (w > 0) {
            s += w;
            n -= (size_t)w;
        }
    }
}

/* The child of a background dump: the whole interpreter (every thread's
 * state, since PyOS_AfterFork_Child is deliberately not called) is a
 * copy-on-write image that nothing else mutates.  It dumps, reports on the
 * pipe and leaves with _exit: no atexit handlers, no flushing of the
 * parent's stdio buffers, no Python code. */
static void
background_child(const char *path, hd_options *opt, pid_t parent, int fd)
{
    char msg[700];
    PyObject *r = dump_impl(path, opt, parent);
    if (r != NULL) {
        PyObject *o = PyDict_GetItemString(r, "objects");
        PyObject *e = PyDict_GetItemString(r, "references");
        PyObject *b = PyDict_GetItemString(r, "bytes_written");
        PyObject *t = PyDict_GetItemString(r, "seconds");
        snprintf(msg, sizeof(msg), "ok %lld %lld %lld %.6f\n",
                 o ? PyLong_AsLongLong(o) : -1, e ? PyLong_AsLongLong(e) : -1,
                 b ? PyLong_AsLongLong(b) : -1,
                 t ? PyFloat_AsDouble(t) : -1.0);
        write_str(fd, msg);
        _exit(0);
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *s = value ? PyObject_Str(value) : NULL;
    const char *text = s ? PyUnicode_AsUTF8(s) : NULL;
    snprintf(msg, sizeof(msg), "error %s\n", text ? text : "dump failed");
    write_str(fd, msg);
    _exit(1);
}

PyDoc_STRVAR(dump_fork_doc,
"_dump_fork(path, **options) -> (pid, fd)\n"
"--\n\n"
"Fork; the child writes the dump and reports on the pipe fd ('ok objects\n"
"references bytes seconds' or 'error message') before _exit.  Use\n"
"heapdig.dump(path, background=True), which wraps this in a handle.");

static PyObject *
heapdig_dump_fork(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                  PyObject *kwnames)
{
    hd_options opt;
    PyObject *path_bytes = NULL;
    int fds[2];
    pid_t pid;
    (void)self;
    if (parse_dump_args(args, nargs, kwnames, &opt, &path_bytes) < 0)
        return NULL;
    if (pipe(fds) < 0) {
        Py_DECREF(path_bytes);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    /* Everything the child needs is ready: it only reads memory.  The
     * process's figures it records are the parent's (memstat.c). */
    pid_t parent = getpid();
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        Py_DECREF(path_bytes);
        errno = e;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (pid == 0) {
        close(fds[0]);
        background_child(PyBytes_AS_STRING(path_bytes), &opt, parent, fds[1]);
    }
    close(fds[1]);
    Py_DECREF(path_bytes);
    return Py_BuildValue("(ii)", (int)pid, fds[0]);
}

static PyMethodDef heapdig_methods[] = {
    {"dump", (PyCFunction)(void (*)(void))heapdig_dump,
     METH_FASTCALL | METH_KEYWORDS, dump_doc},
    {"_dump_fork", (PyCFunction)(void (*)(void))heapdig_dump_fork,
     METH_FASTCALL | METH_KEYWORDS, dump_fork_doc},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef heapdig_module = {
    PyModuleDef_HEAD_INIT, "heapdig._heapdig",
    "heapdig: snapshot a CPython heap for offline analysis.", -1,
    heapdig_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit__heapdig(void)
{
    PyObject *m = PyModule_Create(&heapdig_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddStringConstant(m, "__version__", HD_DUMPER_VERSION) < 0 ||
        PyModule_AddIntConstant(m, "FORMAT_MAJOR", HD_FORMAT_MAJOR) < 0 ||
        PyModule_AddIntConstant(m, "FORMAT_MINOR", HD_FORMAT_MINOR) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
