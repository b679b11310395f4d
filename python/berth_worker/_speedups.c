/* Optional C versions of the worker's two per-request hot spots
 * (docs/performance.md, "The worker protocol's cost"):
 *
 *   environ(base, block)          a copy of `base` plus the REQUEST frame's pairs
 *   encode_start(status, headers) the RESPONSE_START frame, or None
 *
 * Each does exactly what its pure-Python twin in environ.py / response.py does for the
 * common case. encode_start returns None for anything it does not handle itself (an
 * invalid status or header, a non-latin-1 character, a header list that is not a list or
 * tuple of 2-tuples of str): the Python version then raises the error the app sees, so
 * the messages exist in one place only.
 *
 * Built by scripts/build-speedups.py (make setup) when Python's headers are present;
 * the worker runs without it (BERTH_NO_SPEEDUPS=1 forces the pure-Python path).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define RESPONSE_START 0x22
#define MAX_PAYLOAD (1 << 24)
#define HEADER_SIZE 8

/* Strings made by the modern API are always ready; before 3.12 an old-style one may not be. */
#if PY_VERSION_HEX < 0x030C0000
#define READY(s) (PyUnicode_READY(s) == 0)
#else
#define READY(s) 1
#endif

/* environ(base, block): `block` is the REQUEST payload decoded as latin-1: NUL-terminated
 * strings, key then value. */
static PyObject *
speedups_environ(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyDict_CheckExact(args[0]) || !PyUnicode_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "environ(base: dict, block: str)");
        return NULL;
    }
    PyObject *block = args[1];
    if (!READY(block))
        return NULL;
    if (PyUnicode_KIND(block) != PyUnicode_1BYTE_KIND) {
        PyErr_SetString(PyExc_ValueError, "the request block must be latin-1 text");
        return NULL;
    }
    const char *data = (const char *)PyUnicode_1BYTE_DATA(block);
    Py_ssize_t size = PyUnicode_GET_LENGTH(block);
    PyObject *environ = PyDict_Copy(args[0]);
    if (environ == NULL)
        return NULL;
    /* The same pairs as zip(it, it) over block.split('\0'): the piece after the last NUL
     * is a field too, so a final key without its NUL gets that piece as its value. */
    const char *p = data, *end = data + size;
    for (;;) {
        const char *key_end = memchr(p, 0, end - p);
        if (key_end == NULL)
            break;  /* the last field is a key without a value: dropped */
        const char *value = key_end + 1;
        const char *value_end = memchr(value, 0, end - value);
        const char *stop = value_end != NULL ? value_end : end;
        PyObject *k = PyUnicode_DecodeLatin1(p, key_end - p, NULL);
        if (k == NULL)
            goto fail;
        PyObject *v = PyUnicode_DecodeLatin1(value, stop - value, NULL);
        if (v == NULL) {
            Py_DECREF(k);
            goto fail;
        }
        int rc = PyDict_SetItem(environ, k, v);
        Py_DECREF(k);
        Py_DECREF(v);
        if (rc < 0)
            goto fail;
        if (value_end == NULL)
            break;
        p = value_end + 1;
    }
    return environ;
fail:
    Py_DECREF(environ);
    return NULL;
}

/* A str that may go into the block as is: latin-1, no NUL, CR or LF. */
static int
field_ok(PyObject *s, int is_name)
{
    if (!PyUnicode_CheckExact(s) || !READY(s) || PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
        PyErr_Clear();
        return 0;
    }
    const Py_UCS1 *d = PyUnicode_1BYTE_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (is_name && n == 0)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS1 c = d[i];
        if (c == 0 || c == '\r' || c == '\n' || (is_name && c == ':'))
            return 0;
    }
    return 1;
}

static PyObject *
speedups_encode_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "encode_start(status, headers)");
        return NULL;
    }
    PyObject *status = args[0], *headers = args[1];
    if (!field_ok(status, 0) || PyUnicode_GET_LENGTH(status) < 4)
        Py_RETURN_NONE;
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(status);
    if (s[3] != ' ' || s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
        Py_RETURN_NONE;
    if (!PyList_CheckExact(headers) && !PyTuple_CheckExact(headers))
        Py_RETURN_NONE;
    /* A list the app still holds: take a reference to each pair while measuring. */
    PyObject *seq = PySequence_Fast(headers, "headers");
    if (seq == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_ssize_t payload = PyUnicode_GET_LENGTH(status) + 1;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = items[i];
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2
            || !field_ok(PyTuple_GET_ITEM(pair, 0), 1) || !field_ok(PyTuple_GET_ITEM(pair, 1), 0)) {
            Py_DECREF(seq);
            Py_RETURN_NONE;
        }
        payload += PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(pair, 0)) + 1
                 + PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(pair, 1)) + 1;
        if (payload > MAX_PAYLOAD) {
            Py_DECREF(seq);
            Py_RETURN_NONE;
        }
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, HEADER_SIZE + payload);
    if (out == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    o[0] = (unsigned char)(payload >> 24);
    o[1] = (unsigned char)(payload >> 16);
    o[2] = (unsigned char)(payload >> 8);
    o[3] = (unsigned char)payload;
    o[4] = RESPONSE_START;
    o[5] = o[6] = o[7] = 0;
    o += HEADER_SIZE;
    Py_ssize_t n = PyUnicode_GET_LENGTH(status);
    memcpy(o, s, n);
    o += n;
    *o++ = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        for (int j = 0; j < 2; j++) {
            PyObject *f = PyTuple_GET_ITEM(items[i], j);
            n = PyUnicode_GET_LENGTH(f);
            memcpy(o, PyUnicode_1BYTE_DATA(f), n);
            o += n;
            *o++ = 0;
        }
    }
    Py_DECREF(seq);
    return out;
}

static PyMethodDef methods[] = {
    {"environ", (PyCFunction)(void (*)(void))speedups_environ, METH_FASTCALL,
     "environ(base, block) -> a copy of base with the block's key/value pairs."},
    {"encode_start", (PyCFunction)(void (*)(void))speedups_encode_start, METH_FASTCALL,
     "encode_start(status, headers) -> the RESPONSE_START frame, or None to let the "
     "pure-Python version validate (and raise)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "berth_worker._speedups",
    "C versions of the worker's per-request hot spots (optional).", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
