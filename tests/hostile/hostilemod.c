/* heapdig — MIT licence.
 *
 * hostilemod.c: a C extension whose __sizeof__s are as bad as they get, for
 * the dumper's tests: Crashing's dereferences NULL, Hanging's never returns,
 * Exact's returns 4242 + its basicsize.  heapdig must dump a heap holding
 * all three without harm, measure Exact, and flag the others approximate.
 */
#include <Python.h>

#include <unistd.h>

typedef struct {
    PyObject_HEAD
    long *table; /* never allocated */
} hostile_object;

static PyObject *
crashing_sizeof(PyObject *self, PyObject *unused)
{
    (void)unused;
    /* The bug: reads state __init__ would have set up. */
    volatile long *t = ((hostile_object *)self)->table;
    return PyLong_FromLong(t[0]);
}

static PyObject *
hanging_sizeof(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    for (;;) /* waits on something that never comes */
        pause();
    return NULL;
}

static PyObject *
exact_sizeof(PyObject *self, PyObject *unused)
{
    (void)unused;
    return PyLong_FromSsize_t(4242 + Py_TYPE(self)->tp_basicsize);
}

#define HOSTILE_TYPE(NAME, FN)                                                 \
    static PyMethodDef NAME##_methods[] = {                                  \
        {"__sizeof__", FN, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};       \
    static PyType_Slot NAME##_slots[] = {{Py_tp_methods, NAME##_methods},    \
                                         {0, NULL}};                          \
    static PyType_Spec NAME##_spec = {"hostilemod." #NAME,                   \
                                      sizeof(hostile_object), 0,             \
                                      Py_TPFLAGS_DEFAULT, NAME##_slots};

HOSTILE_TYPE(Crashing, crashing_sizeof)
HOSTILE_TYPE(Hanging, hanging_sizeof)
HOSTILE_TYPE(Exact, exact_sizeof)

static struct PyModuleDef hostilemod_module = {
    PyModuleDef_HEAD_INIT, "hostilemod", NULL, -1, NULL,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit_hostilemod(void)
{
    PyType_Spec *specs[] = {&Crashing_spec, &Hanging_spec, &Exact_spec};
    PyObject *m = PyModule_Create(&hostilemod_module);
    for (size_t i = 0; m && i < sizeof(specs) / sizeof(specs[0]); i++) {
        PyObject *t = PyType_FromSpec(specs[i]);
        const char *name = specs[i]->name + sizeof("hostilemod.") - 1;
        if (t == NULL || PyModule_AddObject(m, name, t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
