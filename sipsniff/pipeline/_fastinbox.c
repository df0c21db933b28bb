/* sipsniff.pipeline._fastinbox: the common case of parallel.Inbox.take in C (optional;
 * parallel.py's Inbox._take is the reference: the tests of tests/pipeline/test_parallel.py and
 * every read on two cores run the one or the other, with the same results).
 *
 * take(batch, endpoints, endpoint, files, parse, add, observers, mark, rest, payload_type,
 *      sip_length)
 *
 * Takes in a batch of the worker's records, in order. Two kinds are done here:
 * - SIP data whose bytes are in a capture file of files (a record of sip_length items: the
 *   Payload's fields, the bytes, framed, their offset in the file, >= 0): its Payload made of
 *   payload_type with its endpoints from the cache endpoints (or endpoint(plain) when not there)
 *   and no data, as Inbox._take makes it; then parsed by the C parser,
 *   parse(raw, pkt, message, offset, message.flows) with the file's message class
 *   (files[file].message); the file's store marked where it is due (store.mark(offset, raw) at
 *   store.due or beyond, as Pipeline.parse_sip does), and the message given to add, then the
 *   entry add gives (when not None) to each of observers (a list, read as it is then). Where the C
 *   parser gives anything but a message of that class (a skipped record, or None: it leaves the
 *   message to Python), the record goes to Python as the others do.
 * - the end of a frame, (ts_ns,): mark(ts_ns), when mark is not None.
 * Every other record goes to rest (Inbox._take), a run of them at a time, in order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define PAYLOAD_DATA 5 /* model.Payload.data */
#define PAYLOAD_FILE 6 /* model.Payload.file */

/* rest(*run) for the records held in *run (when there are), then *run a new empty list (rest
 * may keep the other): 0, or -1 with an exception. */
static int flush(PyObject **run, PyObject *rest) {
    if (PyList_GET_SIZE(*run) == 0) return 0;
    PyObject *done = PyObject_CallOneArg(rest, *run);
    if (done == NULL) return -1;
    Py_DECREF(done);
    Py_SETREF(*run, PyList_New(0));
    return *run == NULL ? -1 : 0;
}

/* endpoints.get(plain) or endpoint(plain): a new reference, or NULL with an exception. */
static PyObject *endpoint_of(PyObject *endpoints, PyObject *endpoint, PyObject *plain) {
    PyObject *ep = PyDict_GetItemWithError(endpoints, plain);
    if (ep != NULL) return Py_NewRef(ep);
    if (PyErr_Occurred()) return NULL;
    return PyObject_CallOneArg(endpoint, plain);
}

/* The record's Payload, without its data: a new reference, or NULL with an exception. */
static PyObject *payload_of(PyObject *r, Py_ssize_t fields, PyTypeObject *type, PyObject *src,
                            PyObject *dst, PyObject *empty) {
    PyObject *pkt = type->tp_alloc(type, fields);
    if (pkt == NULL) return NULL;
    for (Py_ssize_t i = 0; i < fields; i++) {
        PyObject *v = i == 2 ? src : i == 3 ? dst : i == PAYLOAD_DATA ? empty : PyTuple_GET_ITEM(r, i);
        PyTuple_SET_ITEM(pkt, i, Py_NewRef(v));
    }
    return pkt;
}

static PyObject *s_message, *s_flows, *s_due, *s_mark, *empty;

static PyObject *take(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 11 || !PyList_Check(args[0]) || !PyDict_Check(args[1]) || !PyDict_Check(args[3]) ||
        !PyList_Check(args[6]) || !PyType_Check(args[9]) ||
        !PyType_IsSubtype((PyTypeObject *)args[9], &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError,
                        "take(batch: list, endpoints: dict, endpoint, files: dict, parse, add, "
                        "observers: list, mark, rest, payload_type, sip_length)");
        return NULL;
    }
    PyObject *batch = args[0], *endpoints = args[1], *endpoint = args[2], *files = args[3];
    PyObject *parse = args[4], *add = args[5], *observers = args[6], *mark = args[7];
    PyObject *rest = args[8];
    PyTypeObject *payload_type = (PyTypeObject *)args[9];
    Py_ssize_t sip_length = PyLong_AsSsize_t(args[10]);
    if (sip_length == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t fields = sip_length - 3; /* the Payload's */
    if (fields <= PAYLOAD_FILE) {
        PyErr_SetString(PyExc_ValueError, "take: sip_length too short for a Payload");
        return NULL;
    }
    if (s_message == NULL && (s_message = PyUnicode_InternFromString("message")) == NULL) return NULL;
    if (s_flows == NULL && (s_flows = PyUnicode_InternFromString("flows")) == NULL) return NULL;
    if (s_due == NULL && (s_due = PyUnicode_InternFromString("due")) == NULL) return NULL;
    if (s_mark == NULL && (s_mark = PyUnicode_InternFromString("mark")) == NULL) return NULL;
    if (empty == NULL && (empty = PyBytes_FromStringAndSize(NULL, 0)) == NULL) return NULL;

    PyObject *run = PyList_New(0);
    if (run == NULL) return NULL;
    /* the file of the last message taken here, its message class and their flows (a capture
       has few files: most records are of the same one) */
    PyObject *store = NULL, *message = NULL, *flows = NULL;
    /* (the batch's length read at each record, and each record held: the Python code it calls
       could change the list, though none does) */
    PyObject *r = NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(batch); i++) {
        r = Py_NewRef(PyList_GET_ITEM(batch, i));
        Py_ssize_t size = PyTuple_Check(r) ? PyTuple_GET_SIZE(r) : -1;
        if (size == 1 && mark != Py_None) {
            if (flush(&run, rest) < 0) goto error;
            PyObject *done = PyObject_CallOneArg(mark, PyTuple_GET_ITEM(r, 0));
            if (done == NULL) goto error;
            Py_DECREF(done);
            goto next;
        }
        if (size != sip_length) goto python;
        PyObject *raw = PyTuple_GET_ITEM(r, fields), *offset = PyTuple_GET_ITEM(r, fields + 2);
        if (!PyLong_Check(offset) || PyDict_GET_SIZE(files) == 0) goto python;
        Py_ssize_t at = PyLong_AsSsize_t(offset);
        if (at == -1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) goto error;
            PyErr_Clear();
            goto python;
        }
        if (at < 0) goto python;
        PyObject *file_store = PyDict_GetItemWithError(files, PyTuple_GET_ITEM(r, PAYLOAD_FILE));
        if (file_store == NULL) {
            if (PyErr_Occurred()) goto error;
            goto python;
        }
        if (file_store != store) {
            Py_CLEAR(message);
            Py_CLEAR(flows);
            Py_XSETREF(store, Py_NewRef(file_store));
            if ((message = PyObject_GetAttr(store, s_message)) == NULL) goto error;
            if ((flows = PyObject_GetAttr(message, s_flows)) == NULL) goto error;
        }
        PyObject *src = endpoint_of(endpoints, endpoint, PyTuple_GET_ITEM(r, 2));
        if (src == NULL) goto error;
        PyObject *dst = endpoint_of(endpoints, endpoint, PyTuple_GET_ITEM(r, 3));
        if (dst == NULL) {
            Py_DECREF(src);
            goto error;
        }
        PyObject *pkt = payload_of(r, fields, payload_type, src, dst, empty);
        Py_DECREF(src);
        Py_DECREF(dst);
        if (pkt == NULL) goto error;
        PyObject *call[5] = {raw, pkt, message, offset, flows};
        PyObject *parsed = PyObject_Vectorcall(parse, call, 5, NULL);
        Py_DECREF(pkt);
        if (parsed == NULL) goto error;
        if ((PyObject *)Py_TYPE(parsed) != message) {
            Py_DECREF(parsed); /* Python's, from the start (the parser has no side effects) */
            goto python;
        }
        if (flush(&run, rest) < 0) {
            Py_DECREF(parsed);
            goto error;
        }
        PyObject *due = PyObject_GetAttr(store, s_due);
        int marked = due == NULL ? -1 : PyObject_RichCompareBool(offset, due, Py_GE);
        Py_XDECREF(due);
        if (marked > 0) {
            PyObject *done = PyObject_CallMethodObjArgs(store, s_mark, offset, raw, NULL);
            marked = done == NULL ? -1 : 0;
            Py_XDECREF(done);
        }
        if (marked < 0) {
            Py_DECREF(parsed);
            goto error;
        }
        PyObject *entry = PyObject_CallOneArg(add, parsed);
        Py_DECREF(parsed);
        if (entry == NULL) goto error;
        for (Py_ssize_t k = 0; entry != Py_None && k < PyList_GET_SIZE(observers); k++) {
            PyObject *see = Py_NewRef(PyList_GET_ITEM(observers, k));
            PyObject *done = PyObject_CallOneArg(see, entry);
            Py_DECREF(see);
            if (done == NULL) {
                Py_DECREF(entry);
                goto error;
            }
            Py_DECREF(done);
        }
        Py_DECREF(entry);
        goto next;
    python:
        if (PyList_Append(run, r) < 0) goto error;
    next:
        Py_CLEAR(r);
    }
    if (flush(&run, rest) < 0) goto error;
    Py_DECREF(run);
    Py_XDECREF(store);
    Py_XDECREF(message);
    Py_XDECREF(flows);
    Py_RETURN_NONE;
error:
    Py_XDECREF(r);
    Py_XDECREF(run);
    Py_XDECREF(store);
    Py_XDECREF(message);
    Py_XDECREF(flows);
    return NULL;
}

static PyMethodDef functions[] = {
    {"take", (PyCFunction)(void (*)(void))take, METH_FASTCALL,
     "take(batch, endpoints, endpoint, files, parse, add, observers, mark, rest, payload_type, "
     "sip_length): "
     "parallel.Inbox.take's common case."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastinbox",
    "The common case of parallel.Inbox.take in C (see pipeline/parallel.py).", -1, functions, NULL,
    NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastinbox(void) { return PyModule_Create(&module); }
