/* heapdig — MIT licence.
 *
 * leakmod.c: a C extension with the classic bug, for the tests:
 * keep(obj) takes a reference it never releases (a forgotten Py_DECREF).
 */
#include <Python.h>

static PyObject *
leakmod_keep(PyObject *self, PyObject *obj)
{
    (void)self;
    Py_INCREF(obj); /* the bug: nothing ever releases this reference */
    Py_RETURN_NONE;
}

static PyMethodDef leakmod_methods[] = {
    {"keep", leakmod_keep, METH_O, "Take a reference and never drop it."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef leakmod_module = {
    PyModuleDef_HEAD_INIT, "leakmod", NULL, -1, leakmod_methods,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC
PyInit_leakmod(void)
{
    return PyModule_Create(&leakmod_module);
}
