/* heapdig — MIT licence.
 *
 * probe.c: sizes that only a C __sizeof__ we have not vetted can tell,
 * measured in a throwaway child so that the process being dumped can never
 * be harmed by one.
 *
 * A heap holds objects of types whose authors never thought of their
 * __sizeof__ being called on a half-built instance: `_struct.Struct.__new__
 * (Struct)` has no format codes yet and its __sizeof__ dereferences NULL.
 * heapdig calls __sizeof__ on every object, so it would be the one to crash
 * the host.  The rule (FORMAT.md §5.2):
 *
 *   - sizes of CPython's core layouts are computed from the layout itself
 *     (emit.c: object, list, dict, set, str, int);
 *   - a C __sizeof__ of one of CPython's own types that is safe in any state
 *     (VETTED below, checked on every version by tests/python/
 *     hostile_types.py with instances that never ran __init__, whose
 *     __init__ raised, or that were closed) is called in the process;
 *   - any other C __sizeof__ (every extension's, and CPython's own where it
 *     is not safe) is called here, after the walk, in a child forked from
 *     the dumping thread.  The child writes each result into shared memory
 *     and counts its progress there; if it dies or stalls, the object it was
 *     at keeps its provisional size (the C layout's, flagged approximate),
 *     and a new child carries on after it.  The OBJECT record carries the
 *     provisional size and a SIZE record (FORMAT.md §7a) the measured one.
 *
 * The child holds the GIL the parent held at fork time, runs only those C
 * functions, and leaves with _exit; it never returns into Python code.  Its
 * crashes are silent: default signal handlers (not faulthandler's) and no
 * core file.  The cost is one fork per dump that has such objects.
 */
#include "dumper_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* CPython's own types whose C __sizeof__ reads only state that every
 * instance has, however it was made or left (tp_name of the type that
 * defines it).  Only add a name together with its case in
 * tests/python/hostile_types.py. */
static const char *const VETTED[] = {
    "type", "code", "frame", "generator", "coroutine", "async_generator",
    "bytearray", "collections.OrderedDict", "collections.deque",
    "_io.BytesIO", "_io.BufferedReader", "_io.BufferedWriter",
    "_io.BufferedRandom", "_pickle.Pickler", "_pickle.Unpickler",
    "array.array", "decimal.Decimal", "itertools.combinations",
    "itertools.combinations_with_replacement", "itertools.permutations",
    "itertools.product", "xml.etree.ElementTree.Element",
};

int
hd_probe_vetted(PyObject *descr)
{
    PyTypeObject *owner;
    if (!Py_IS_TYPE(descr, &PyMethodDescr_Type) &&
        !Py_IS_TYPE(descr, &PyWrapperDescr_Type))
        return 0;
    owner = PyDescr_TYPE(descr);
    for (size_t i = 0; i < sizeof(VETTED) / sizeof(VETTED[0]); i++)
        if (strcmp(owner->tp_name, VETTED[i]) == 0)
            return 1;
    return 0;
}

int
hd_probe_add(hd_probe *p, PyObject *op, PyObject *descr)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        hd_probe_item *it = realloc(p->items, cap * sizeof(*it));
        if (it == NULL)
            return -1;
        p->items = it;
        p->cap = cap;
    }
    p->items[p->n].op = op;
    p->items[p->n].descr = descr;
    p->n++;
    return 0;
}

void
hd_probe_dispose(hd_probe *p)
{
    free(p->items);
    memset(p, 0, sizeof(*p));
}

/* What the parent and its children share: one result per item (-1: not
 * measured) and how far the current child got. */
typedef struct shared {
    volatile size_t next;  /* index the child is measuring */
    volatile int finished; /* the child measured everything */
    int64_t sizes[];       /* per item */
} shared;

static void
child_main(shared *sh, const hd_probe *p, size_t from)
{
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0); /* no core through a core_pattern pipe either */
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        signal(fatal[i], SIG_DFL);
    for (size_t i = from; i < p->n; i++) {
        sh->next = i;
        __sync_synchronize();
        PyObject *r = PyObject_CallOneArg(p->items[i].descr, p->items[i].op);
        Py_ssize_t v = r ? PyLong_AsSsize_t(r) : -1;
        Py_XDECREF(r);
        if (v < 0)
            PyErr_Clear();
        sh->sizes[i] = v < 0 ? -1 : (int64_t)v;
    }
    __sync_synchronize();
    sh->finished = 1;
    _exit(0);
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Runs one child from item `from`; returns the index of the item it failed
 * on (p->n if none), or -1 if no child could be started. */
static ssize_t
run_child(shared *sh, const hd_probe *p, size_t from)
{
    size_t last = from;
    int stalled_ms = 0, status;
    pid_t pid;

    sh->next = from;
    sh->finished = 0;
    __sync_synchronize();
    if ((pid = fork()) < 0)
        return -1;
    if (pid == 0)
        child_main(sh, p, from);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        /* ECHILD: the host ignores SIGCHLD, so the kernel reaped the child;
         * the shared flags still say how it ended. */
        if (w == pid || (w < 0 && errno == ECHILD))
            break;
        if (w < 0 && errno != EINTR)
            break;
        sleep_ms(1);
        if (sh->next != last) {
            last = sh->next;
            stalled_ms = 0;
        } else if (++stalled_ms >= HD_PROBE_STALL_MS) {
            kill(pid, SIGKILL); /* stuck on a lock nobody will release */
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            break;
        }
    }
    __sync_synchronize();
    return sh->finished ? (ssize_t)p->n : (ssize_t)sh->next;
}

int
hd_probe_run(hd_probe *p, int64_t **sizes_out)
{
    shared *sh;
    size_t bytes, from = 0;
    int64_t *sizes;

    *sizes_out = NULL;
    if (p->n == 0)
        return 0;
    bytes = sizeof(shared) + p->n * sizeof(int64_t);
    if ((sizes = malloc(p->n * sizeof(int64_t))) == NULL)
        return -1;
    sh = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
              -1, 0);
    if (sh == MAP_FAILED) {
        free(sizes);
        return -1;
    }
    for (size_t i = 0; i < p->n; i++)
        sh->sizes[i] = -1;
    while (from < p->n && p->n_failed < HD_PROBE_MAX_FAILURES) {
        ssize_t at = run_child(sh, p, from);
        if (at < 0)
            break; /* cannot fork: the rest keep their provisional sizes */
        if ((size_t)at >= p->n)
            break;
        p->n_failed++; /* item `at` crashed or hung its child */
        from = (size_t)at + 1;
    }
    memcpy(sizes, sh->sizes, p->n * sizeof(int64_t));
    munmap(sh, bytes);
    *sizes_out = sizes;
    return 0;
}
