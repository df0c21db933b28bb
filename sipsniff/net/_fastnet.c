/* sipsniff.net._fastnet: the common frames of Decoder.decode in C (optional; net/decode.py's
 * Decoder.decode and net/tcp.py's TcpReassembler.segment are the reference: the Python code,
 * with the same results, runs wherever this answers None; tests/net/test_fastnet.py compares the
 * two on every capture and on generated frames).
 *
 * setup(half_type) is called once by net.decode with tcp._Half, whose slots (next_seq, pending,
 * gap, peer, strikes, acked) are read and written here at their offsets.
 *
 * decode(frame, pairs, halves, payload_type) -> list of payloads | None. For a frame that
 * Decoder.decode's fast path takes (Ethernet II, IPv4 with a 20-byte header, not a fragment,
 * whole in the frame), with its addresses and ports already in the cache pairs (Walk.pairs):
 * - UDP, not a tunnel's: its datagram, as decode makes it;
 * - TCP, when halves is a TcpReassembler's connections (TcpReassembler._halves) and the segment
 *   is the in-order one of a connection with nothing pending either way, no gap, no SYN, FIN or
 *   RST: what TcpReassembler.segment hands back (its piece of the stream, or nothing for a
 *   segment without data), with the same updates to the connection's state.
 * None, having changed nothing, for every other frame: then decode takes it in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>

#define N_PAYLOAD 12 /* model.Payload's fields */
#define TCP_ACK 0x10
#define TCP_CONTROL 0x07 /* FIN | SYN | RST */

enum { H_NEXT_SEQ, H_PENDING, H_GAP, H_PEER, H_STRIKES, H_ACKED, H_COUNT };
static const char *half_names[H_COUNT] = {"next_seq", "pending", "gap", "peer", "strikes", "acked"};
static Py_ssize_t half_at[H_COUNT];
static PyTypeObject *half_type = NULL;
static PyObject *s_udp, *s_tcp, *zero, *empty_tuple;

#define SLOT(obj, h) (*(PyObject **)((char *)(obj) + half_at[(h)]))

/* Set a slot (a new reference taken of value). */
static void set_slot(PyObject *obj, int h, PyObject *value) {
    PyObject *old = SLOT(obj, h);
    SLOT(obj, h) = Py_NewRef(value);
    Py_XDECREF(old);
}

static PyObject *setup(PyObject *module, PyObject *arg) {
    (void)module;
    if (!PyType_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "setup(half_type): a class");
        return NULL;
    }
    for (int h = 0; h < H_COUNT; h++) {
        PyObject *d = PyObject_GetAttrString(arg, half_names[h]);
        if (d == NULL) return NULL;
        Py_ssize_t at = -1;
        if (Py_IS_TYPE(d, &PyMemberDescr_Type)) {
            PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
            if (m->type == T_OBJECT_EX && !(m->flags & READONLY)) at = m->offset;
        }
        Py_DECREF(d);
        if (at < 0) {
            PyErr_Format(PyExc_TypeError, "setup: %s is no writable slot", half_names[h]);
            return NULL;
        }
        half_at[h] = at;
    }
    if ((s_udp == NULL && (s_udp = PyUnicode_InternFromString("udp")) == NULL) ||
        (s_tcp == NULL && (s_tcp = PyUnicode_InternFromString("tcp")) == NULL) ||
        (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) ||
        (empty_tuple == NULL && (empty_tuple = PyTuple_New(0)) == NULL))
        return NULL;
    Py_XSETREF(half_type, (PyTypeObject *)Py_NewRef(arg));
    Py_RETURN_NONE;
}

static unsigned be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }
static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A payload of payload_type: frame's number, time and file, the endpoints, transport and data;
 * no first frame, stream or not, no gap, no other frames. A new reference, or NULL. */
static PyObject *payload(PyTypeObject *type, PyObject *const *f, PyObject *src, PyObject *dst,
                         PyObject *transport, PyObject *data, int stream) {
    PyObject *p = type->tp_alloc(type, N_PAYLOAD);
    if (p == NULL) return NULL;
    PyObject *items[N_PAYLOAD] = {f[0], f[1], src, dst, transport, data, f[5], zero, zero,
                                  stream ? Py_True : Py_False, Py_False, empty_tuple};
    for (int k = 0; k < N_PAYLOAD; k++) PyTuple_SET_ITEM(p, k, Py_NewRef(items[k]));
    return p;
}

/* [item], or NULL (item NULL, or no memory); item's reference is taken. */
static PyObject *one(PyObject *item) {
    if (item == NULL) return NULL;
    PyObject *list = PyList_New(1);
    if (list == NULL) {
        Py_DECREF(item);
        return NULL;
    }
    PyList_SET_ITEM(list, 0, item);
    return list;
}

/* TcpReassembler.segment's in-order path, or None (nothing changed). */
static PyObject *segment(PyObject *halves, PyObject *const *f, PyObject *src, PyObject *dst,
                         uint32_t seq, uint32_t ack, unsigned flags, const unsigned char *data,
                         Py_ssize_t len, PyTypeObject *type) {
    PyObject *inner = PyDict_GetItemWithError(halves, src);
    if (inner == NULL || !PyDict_CheckExact(inner)) return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    PyObject *half = PyDict_GetItemWithError(inner, dst);
    if (half == NULL || Py_TYPE(half) != half_type)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    PyObject *peer = SLOT(half, H_PEER);
    PyObject *next = SLOT(half, H_NEXT_SEQ), *pending = SLOT(half, H_PENDING);
    PyObject *gap = SLOT(half, H_GAP);
    if (peer == NULL || next == NULL || pending == NULL || gap == NULL) return Py_NewRef(Py_None);
    if (peer != Py_None) {
        PyObject *theirs = Py_TYPE(peer) == half_type ? SLOT(peer, H_PENDING) : NULL;
        if (theirs == NULL || !PyList_CheckExact(theirs) || PyList_GET_SIZE(theirs))
            return Py_NewRef(Py_None);
    }
    if (flags & TCP_CONTROL || !PyList_CheckExact(pending) || PyList_GET_SIZE(pending) ||
        gap != Py_False || !PyLong_CheckExact(next))
        return Py_NewRef(Py_None);
    int overflow;
    long long expected = PyLong_AsLongLongAndOverflow(next, &overflow);
    if (expected == -1 && PyErr_Occurred()) return NULL;
    if (overflow || expected != (long long)seq) return Py_NewRef(Py_None);
    /* in order: the state as segment leaves it */
    if (peer != Py_None && flags & TCP_ACK) {
        PyObject *acked = PyLong_FromUnsignedLong(ack);
        if (acked == NULL) return NULL;
        set_slot(peer, H_ACKED, acked);
        Py_DECREF(acked);
    }
    if (len == 0) return PyList_New(0);
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)data, len);
    if (bytes == NULL) return NULL;
    PyObject *edge = PyLong_FromUnsignedLong((uint32_t)(seq + (uint32_t)len)); /* & _MASK */
    if (edge == NULL) {
        Py_DECREF(bytes);
        return NULL;
    }
    set_slot(half, H_NEXT_SEQ, edge);
    Py_DECREF(edge);
    set_slot(half, H_STRIKES, zero);
    PyObject *p = payload(type, f, src, dst, s_tcp, bytes, 1);
    Py_DECREF(bytes);
    return one(p);
}

static PyObject *decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 4 || !PyTuple_Check(args[0]) || PyTuple_GET_SIZE(args[0]) < 6 ||
        !PyDict_Check(args[1]) || !PyType_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "decode(frame, pairs, halves, payload_type)");
        return NULL;
    }
    if (half_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "decode: setup was not called");
        return NULL;
    }
    PyObject *const *f = &PyTuple_GET_ITEM(args[0], 0); /* number, ts_ns, linktype, data, _, file */
    PyObject *halves = args[2];
    PyTypeObject *type = (PyTypeObject *)args[3];
    int overflow;
    if (!PyLong_CheckExact(f[2]) || PyLong_AsLongAndOverflow(f[2], &overflow) != 1 ||
        !PyBytes_CheckExact(f[3]))
        Py_RETURN_NONE; /* (a linktype beyond a long is not 1 either) */
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(f[3]);
    Py_ssize_t n = PyBytes_GET_SIZE(f[3]);
    if (n < 42 || be16(d + 12) != 0x0800 || d[14] != 0x45 || be16(d + 20) & 0x3FFF)
        Py_RETURN_NONE;
    Py_ssize_t tl = be16(d + 16);
    int proto = d[23];
    PyObject *key, *pair;
    if (proto == 17) {
        Py_ssize_t ulen = be16(d + 38);
        if (!(8 < ulen && ulen <= tl - 20 && tl <= n - 14)) Py_RETURN_NONE;
    } else if (proto == 6 && halves != Py_None) {
        if (!(40 <= tl && tl <= n - 14)) Py_RETURN_NONE;
        Py_ssize_t doff = (Py_ssize_t)(be16(d + 46) >> 12) * 4;
        if (!(20 <= doff && doff <= tl - 20)) Py_RETURN_NONE;
    } else {
        Py_RETURN_NONE;
    }
    if ((key = PyBytes_FromStringAndSize((const char *)d + 26, 12)) == NULL) return NULL;
    pair = PyDict_GetItemWithError(args[1], key);
    Py_DECREF(key);
    if (pair == NULL) return PyErr_Occurred() ? NULL : Py_NewRef(Py_None); /* a new pair: Python's */
    if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 3) Py_RETURN_NONE;
    PyObject *src = PyTuple_GET_ITEM(pair, 0), *dst = PyTuple_GET_ITEM(pair, 1);
    if (proto == 17) {
        int tunnel = PyObject_IsTrue(PyTuple_GET_ITEM(pair, 2));
        if (tunnel < 0) return NULL;
        if (tunnel) Py_RETURN_NONE;
        Py_ssize_t ulen = be16(d + 38);
        PyObject *data = PyBytes_FromStringAndSize((const char *)d + 42, ulen - 8);
        if (data == NULL) return NULL;
        PyObject *p = payload(type, f, src, dst, s_udp, data, 0);
        Py_DECREF(data);
        return one(p);
    }
    if (!PyDict_CheckExact(halves)) Py_RETURN_NONE;
    Py_ssize_t doff = (Py_ssize_t)(be16(d + 46) >> 12) * 4;
    return segment(halves, f, src, dst, be32(d + 38), be32(d + 42), be16(d + 46) & 0x1FF,
                   d + 34 + doff, 14 + tl - (34 + doff), type);
}

static PyMethodDef functions[] = {
    {"setup", setup, METH_O, "setup(half_type): tcp._Half, whose slots are read at their offsets."},
    {"decode", (PyCFunction)(void (*)(void))decode, METH_FASTCALL,
     "decode(frame, pairs, halves, payload_type) -> payloads | None: Decoder.decode's common "
     "frames."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastnet", "The common frames of Decoder.decode in C (see net/decode.py).",
    -1, functions, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastnet(void) { return PyModule_Create(&module); }
