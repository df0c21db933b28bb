/* sipsniff.analysis._faststats: analysis/stats.py's tshark_figures in C (optional; its Python
 * code, _py_tshark_figures, is the reference: tests/analysis/test_faststats.py compares the two
 * on every capture of the corpus and on generated messages).
 *
 * sip_stat(entries, fields, filed, call_id_size, cseq_method_size)
 *     -> (messages, resent, resent_frames, methods, codes, setup_times) | None
 *
 * The replay of Wireshark's sip,stat tap over entries (an iterable of messages, capture order):
 * the count of messages, of resent ones and their frames (lists), the requests by method and the
 * responses by status (dicts, in order of first sight), the setup times in milliseconds (a list).
 * fields: the indexes in a message of pkt, method, status, call_id, cseq_num and cseq_method, then
 * in its pkt of frame, ts_ns, src, dst and transport, then in a message of the class filed
 * (model.FiledMessage) of its frame, ts_ns, src and dst, which follow one another: there, unless
 * its pkt has a frame of its own, pkt is the flow it shares, and they are not in it. None when a
 * message is not a tuple of those (then the Python code, which takes anything, does it), or a
 * number is beyond 64 bits.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

enum { F_PKT, F_METHOD, F_STATUS, F_CALL_ID, F_CSEQ_NUM, F_CSEQ_METHOD, F_COUNT };
enum { P_FRAME, P_TS_NS, P_SRC, P_DST, P_TRANSPORT, P_COUNT };
#define AT_COUNT (F_COUNT + P_COUNT + 1)

/* Wireshark's transaction states (_NOTHING ... _FINAL in stats.py). */
enum { NOTHING, REQUEST, PROVISIONAL, FINAL };

/* One (Call-ID, source, destination)'s state: stats.py's _Flow. */
typedef struct {
    long long cseq;
    PyObject *method; /* a strong reference */
    int state;
    long response_code;
    int has_request_time;
    long long request_time_ns;
} Flow;

typedef struct {
    Flow *items;
    Py_ssize_t n, room;
} Flows;

static void flows_free(Flows *flows) {
    for (Py_ssize_t i = 0; i < flows->n; i++) Py_DECREF(flows->items[i].method);
    PyMem_Free(flows->items);
}

static PyObject *s_udp, *s_ACK, *s_CANCEL;

/* a // b and a % b as Python has them (toward minus infinity), b > 0. */
static long long floor_div(long long a, long long b, long long *mod) {
    long long q = a / b, r = a % b;
    if (r < 0) {
        r += b;
        q -= 1;
    }
    *mod = r;
    return q;
}

/* _ms_between(later, earlier) & 0xFFFFFFFF: Wireshark's secs * 1000 + nsecs / 1000000. */
static unsigned long long ms_between(long long later, long long earlier) {
    long long later_ns, earlier_ns;
    long long secs = floor_div(later, 1000000000LL, &later_ns) -
                     floor_div(earlier, 1000000000LL, &earlier_ns);
    long long nsecs = later_ns - earlier_ns;
    /* C's integer division goes toward zero, as int(nsecs / 1_000_000) does */
    long long ms = secs * 1000 + nsecs / 1000000;
    return (unsigned long long)ms & 0xFFFFFFFFULL;
}

/* str equality (both str). */
static int same(PyObject *a, PyObject *b) {
    if (a == b) return 1;
    return PyUnicode_GET_LENGTH(a) == PyUnicode_GET_LENGTH(b) && PyUnicode_Compare(a, b) == 0;
}

/* counts[key] += 1, first sight appended. */
static int count(PyObject *counts, PyObject *key) {
    PyObject *n = PyDict_GetItemWithError(counts, key);
    if (n == NULL) {
        if (PyErr_Occurred()) return -1;
        PyObject *one = PyLong_FromLong(1);
        int r = one == NULL ? -1 : PyDict_SetItem(counts, key, one);
        Py_XDECREF(one);
        return r;
    }
    long v = PyLong_AsLong(n);
    if (v == -1 && PyErr_Occurred()) return -1;
    PyObject *more = PyLong_FromLong(v + 1);
    int r = more == NULL ? -1 : PyDict_SetItem(counts, key, more);
    Py_XDECREF(more);
    return r;
}

/* str cut to size - 1 characters when it has size or more (as stats.py cuts it). */
static PyObject *cut(PyObject *s, Py_ssize_t size) {
    if (PyUnicode_GET_LENGTH(s) >= size) return PyUnicode_Substring(s, 0, size - 1);
    return Py_NewRef(s);
}

/* An int of 64 bits: 0, or 1 when v is not one (or not an int). */
static int as_ll(PyObject *v, long long *out) {
    int overflow;
    if (!PyLong_Check(v)) return 1;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) return 1;
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static PyObject *sip_stat(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 5 || !PyTuple_Check(args[1]) || PyTuple_GET_SIZE(args[1]) != AT_COUNT ||
        !PyType_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "sip_stat(entries, fields, filed, call_id_size, cseq_method_size)");
        return NULL;
    }
    PyTypeObject *filed = (PyTypeObject *)args[2];
    Py_ssize_t at[AT_COUNT], last = 0, plast = 0;
    for (int f = 0; f < AT_COUNT; f++) {
        at[f] = PyLong_AsSsize_t(PyTuple_GET_ITEM(args[1], f));
        if (at[f] == -1 && PyErr_Occurred()) return NULL;
        if (at[f] < 0) {
            PyErr_SetString(PyExc_ValueError, "sip_stat: a negative index");
            return NULL;
        }
        if (f < F_COUNT && at[f] > last) last = at[f];
        if (f >= F_COUNT && f < AT_COUNT - 1 && at[f] > plast) plast = at[f];
    }
    Py_ssize_t *pat = at + F_COUNT, own = at[AT_COUNT - 1];
    Py_ssize_t call_id_size = PyLong_AsSsize_t(args[3]);
    if (call_id_size == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t cseq_method_size = PyLong_AsSsize_t(args[4]);
    if (cseq_method_size == -1 && PyErr_Occurred()) return NULL;
    if (call_id_size < 1 || cseq_method_size < 1) {
        PyErr_SetString(PyExc_ValueError, "sip_stat: sizes of at least 1");
        return NULL;
    }
    if (s_udp == NULL && (s_udp = PyUnicode_InternFromString("udp")) == NULL) return NULL;
    if (s_ACK == NULL && (s_ACK = PyUnicode_InternFromString("ACK")) == NULL) return NULL;
    if (s_CANCEL == NULL && (s_CANCEL = PyUnicode_InternFromString("CANCEL")) == NULL) return NULL;

    PyObject *it = PyObject_GetIter(args[0]);
    if (it == NULL) return NULL;
    PyObject *resent_frames = PyList_New(0), *setup_times = PyList_New(0);
    PyObject *methods = PyDict_New(), *codes = PyDict_New(), *index = PyDict_New();
    PyObject *e, *result = NULL;
    Flows flows = {NULL, 0, 0};
    long long messages = 0, resent_count = 0;
    int fallback = 0;
    if (resent_frames == NULL || setup_times == NULL || methods == NULL || codes == NULL ||
        index == NULL)
        goto done;
    while ((e = PyIter_Next(it)) != NULL) {
        PyObject *key = NULL, *method = NULL, *pkt;
        int bad = 0;
        if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) <= last) goto other;
        pkt = PyTuple_GET_ITEM(e, at[F_PKT]);
        if (!PyTuple_Check(pkt) || PyTuple_GET_SIZE(pkt) <= plast) goto other;
        /* frame, ts_ns, src and dst: in pkt, or after the message's fields (a shared flow) */
        PyObject *const *where = &PyTuple_GET_ITEM(pkt, 0);
        Py_ssize_t frame_at = pat[P_FRAME], ts_at = pat[P_TS_NS];
        Py_ssize_t src_at = pat[P_SRC], dst_at = pat[P_DST];
        if (PyObject_TypeCheck(e, filed)) {
            int its_own = PyObject_IsTrue(PyTuple_GET_ITEM(pkt, frame_at));
            if (its_own < 0) goto error;
            if (its_own) goto read;
            if (PyTuple_GET_SIZE(e) <= own + 3) goto other;
            where = &PyTuple_GET_ITEM(e, 0);
            frame_at = own, ts_at = own + 1, src_at = own + 2, dst_at = own + 3;
        }
    read:;
        PyObject *status = PyTuple_GET_ITEM(e, at[F_STATUS]);
        PyObject *req = PyTuple_GET_ITEM(e, at[F_METHOD]);
        PyObject *cseq_num = PyTuple_GET_ITEM(e, at[F_CSEQ_NUM]);
        PyObject *cseq_method = PyTuple_GET_ITEM(e, at[F_CSEQ_METHOD]);
        PyObject *call_id = PyTuple_GET_ITEM(e, at[F_CALL_ID]);
        PyObject *transport = PyTuple_GET_ITEM(pkt, pat[P_TRANSPORT]);
        messages++;
        int is_request = status == Py_None;
        long code = 0;
        if (!is_request) {
            if (!PyLong_Check(status)) goto other;
            code = PyLong_AsLong(status);
            if (code == -1 && PyErr_Occurred()) {
                if (!PyErr_ExceptionMatches(PyExc_OverflowError)) goto error;
                PyErr_Clear();
                goto other;
            }
            if (count(codes, status) < 0) goto error;
        } else if (req != Py_None) {
            if (count(methods, req) < 0) goto error;
        }
        if (cseq_num == Py_None) goto next;
        if (!PyUnicode_Check(transport) || !PyUnicode_Check(cseq_method) ||
            !PyUnicode_Check(call_id))
            goto other;
        if (!same(transport, s_udp)) goto next;
        long long cseq, ts_ns;
        if ((bad = as_ll(cseq_num, &cseq)) != 0 ||
            (bad = as_ll(where[ts_at], &ts_ns)) != 0)
            goto bad;
        method = cut(cseq_method, cseq_method_size);
        PyObject *cid = cut(call_id, call_id_size);
        if (method == NULL || cid == NULL) {
            Py_XDECREF(cid);
            goto error;
        }
        key = PyTuple_Pack(3, cid, where[src_at], where[dst_at]);
        Py_DECREF(cid);
        if (key == NULL) goto error;
        PyObject *found = PyDict_GetItemWithError(index, key);
        if (found == NULL && PyErr_Occurred()) goto error;
        Flow *flow = found == NULL ? NULL : &flows.items[PyLong_AsSsize_t(found)];
        int is_ack = same(method, s_ACK);
        /* sip_find_invite: an ACK's setup time, before the ACK itself updates the state */
        if (is_request && is_ack && flow != NULL && flow->has_request_time) {
            unsigned long long ms = ms_between(ts_ns, flow->request_time_ns);
            if (ms) {
                PyObject *v = PyLong_FromUnsignedLongLong(ms);
                int r = v == NULL ? -1 : PyList_Append(setup_times, v);
                Py_XDECREF(v);
                if (r < 0) goto error;
            }
        }
        /* sip_is_packet_resend */
        long long compare;
        if (flow == NULL) {
            if (flows.n == flows.room) {
                Py_ssize_t room = flows.room ? 2 * flows.room : 64;
                Flow *items = PyMem_Realloc(flows.items, (size_t)room * sizeof(Flow));
                if (items == NULL) {
                    PyErr_NoMemory();
                    goto error;
                }
                flows.items = items;
                flows.room = room;
            }
            PyObject *i = PyLong_FromSsize_t(flows.n);
            int r = i == NULL ? -1 : PyDict_SetItem(index, key, i);
            Py_XDECREF(i);
            if (r < 0) goto error;
            flow = &flows.items[flows.n++];
            flow->cseq = cseq;
            flow->method = Py_NewRef(method);
            flow->state = NOTHING;
            flow->response_code = 0;
            flow->has_request_time = is_request;
            flow->request_time_ns = ts_ns;
            compare = 0;
        } else {
            compare = flow->cseq;
            if (cseq != compare) {
                flow->cseq = cseq;
                Py_SETREF(flow->method, Py_NewRef(method));
                flow->state = NOTHING;
                if (is_request) {
                    flow->has_request_time = 1;
                    flow->request_time_ns = ts_ns;
                }
            }
        }
        int resent;
        if (is_request) {
            resent = cseq == compare && flow->state == REQUEST && same(method, flow->method) &&
                     !is_ack && !same(method, s_CANCEL);
            flow->state = REQUEST;
            if (!resent) {
                flow->has_request_time = 1;
                flow->request_time_ns = ts_ns;
            }
        } else {
            resent = cseq == compare && flow->state == FINAL && same(method, flow->method) &&
                     code >= 200 && code == flow->response_code;
            if (code >= 200) {
                flow->response_code = code;
                flow->state = FINAL;
            } else {
                flow->state = PROVISIONAL;
            }
        }
        if (resent) {
            resent_count++;
            if (PyList_Append(resent_frames, where[frame_at]) < 0) goto error;
        }
    next:
        Py_XDECREF(key);
        Py_XDECREF(method);
        Py_DECREF(e);
        continue;
    bad:
        if (bad < 0) goto error;
    other:
        fallback = 1;
        Py_XDECREF(key);
        Py_XDECREF(method);
        Py_DECREF(e);
        break;
    error:
        Py_XDECREF(key);
        Py_XDECREF(method);
        Py_DECREF(e);
        goto done;
    }
    if (PyErr_Occurred()) goto done;
    if (fallback) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    result = Py_BuildValue("(LLOOOO)", messages, resent_count, resent_frames, methods, codes,
                           setup_times);
done:
    flows_free(&flows);
    Py_DECREF(it);
    Py_XDECREF(resent_frames);
    Py_XDECREF(setup_times);
    Py_XDECREF(methods);
    Py_XDECREF(codes);
    Py_XDECREF(index);
    return result;
}

static PyMethodDef functions[] = {
    {"sip_stat", (PyCFunction)(void (*)(void))sip_stat, METH_FASTCALL,
     "sip_stat(entries, fields, filed, call_id_size, cseq_method_size) -> (messages, resent, "
     "resent_frames, methods, codes, setup_times) | None: stats.tshark_figures' replay."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_faststats",
    "The replay of Wireshark's sip,stat tap in C (see analysis/stats.py).", -1, functions, NULL,
    NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__faststats(void) { return PyModule_Create(&module); }
