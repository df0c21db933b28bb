/* sipsniff.correlate._fastcorr: Correlator.add in C (optional; correlate/correlator.py is the
 * reference, and its Python add is what runs without this module).
 *
 * add(correlator, msg) does what Correlator.add(correlator, msg) does, step for step, on the same
 * objects. The common path is here: the look-ups, the transaction of an RFC 3261 branch
 * (_tx_3261, _miss_3261, _new_tx), the retransmission search, the bookkeeping, the tags
 * (_add_tag), the dialog's phase (_step) and its words (_describe). What is rare stays in the
 * correlator's own methods, called from here: _open (a new Call-ID), _match_2543 (no RFC 3261
 * branch), _joins (an ACK that may join its INVITE), _file_copies (a flood), _first_request (link
 * headers), _register_expires. So the rule for changing either side: the two give the same
 * entries, dialogs, transactions and states for every message (tests/correlate/test_fastcorr.py
 * correlates every capture both ways and compares everything, the states included).
 *
 * The message's own fields are read by index (the indices of model.Message's fields, given to
 * setup); the slots of the correlator's _State, of Dialog and of Transaction through their member
 * descriptors' offsets when the object is of that very class (else by name); the rest by name. A
 * message that is no model.Message, or whose fields are not of their usual types, goes to the
 * Python add whole.
 *
 * method is add made a method (an instancemethod), which correlate.correlator makes
 * Correlator.add: correlator.add(msg) is then add(correlator, msg).
 *
 * setup(python_add, message_type, indices, names) is called once by correlate.correlator:
 * indices of model.Message's fields (F_ below), and by name the classes, constants and helpers
 * (what the correlator module and correlate.states hold under those names).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* -- what setup gives ------------------------------------------------------------------------ */

enum { F_METHOD, F_STATUS, F_CALL_ID, F_CSEQ_NUM, F_CSEQ_METHOD, F_BRANCH, F_SENT_BY, F_FROM_TAG,
       F_TO_TAG, F_BODY_START, F_COUNT };
static Py_ssize_t field_at[F_COUNT];
static Py_ssize_t field_last; /* the largest of field_at */
#define FIELD(msg, f) PyTuple_GET_ITEM((msg), field_at[(f)])

static PyObject *python_add;
static PyTypeObject *message_type;

#define CONSTANTS(X)                                                                              \
    X(State) X(Dialog) X(Transaction) X(Endpoint) X(MAKE_ENTRY) X(COOKIE) X(SCAN) X(JOINS)       \
    X(NO_DIALOG_TAG) X(DIALOG_METHODS) X(CREDENTIALS) X(STALE_CHALLENGE) X(CALL_REQUESTS)        \
    X(CALL_TABLE) X(OTHER_TABLE) X(FINAL_EVENTS) X(verdict) X(SETUP) X(DONE) X(EV_INVITE)         \
    X(EV_INVITE_AUTH) X(EV_RELAYED) X(EV_REQUEST) X(EV_REQUEST_AUTH) X(EV_PROVISIONAL)           \
    X(EV_SUCCESS) X(EV_CHALLENGE) X(EV_STALE) X(EV_FAILURE)
#define DECLARE(n) static PyObject *c_##n;
CONSTANTS(DECLARE)
#undef DECLARE
static Py_ssize_t scan = 16;

/* Names of attributes, interned. */
#define NAMES(X)                                                                                   \
    X(added) X(first_ns) X(_states) X(transactions) X(entries) X(created) X(_finished) X(ts_ns)   \
    X(frame) X(src) X(dst) X(raw) X(status)                                                      \
    X(retransmission_of) X(ip) X(port) X(label) X(outcome) X(_open) X(_match_2543) X(_joins)     \
    X(_file_copies) X(_first_request) X(_register_expires) X(search) X(get) X(sent_by)
#define DECLARE(n) static PyObject *s_##n;
NAMES(DECLARE)
#undef DECLARE
static PyObject *empty, *one, *zero, *s_INVITE, *s_REGISTER;

/* Slots of _State, Dialog and Transaction, read and written at their offsets. */
enum { T_STATE, T_DIALOG, T_TX, T_COUNT };
enum {
    A_DIALOG, A_TXS, A_COPIES, A_CALLER_TAGS, A_REQUESTED, A_CALL, A_PHASE, A_CALLER,
    A_RESPONDED, A_ST_METHOD, A_LAST_STATUS, A_CODE, A_EXPIRES, A_TAG_SET,
    A_D_ID, A_D_MESSAGES, A_D_RETRANSMISSIONS, A_D_END, A_D_START, A_D_TO_TAGS,
    A_D_TRANSACTIONS, A_D_STATE, A_D_OUTCOME, A_D_PHASE, A_D_CALL,
    A_T_METHOD, A_T_MESSAGES, A_T_REQUEST, A_T_FINAL, A_COUNT
};
static struct {
    int type;
    const char *name;
    PyObject *str;
    Py_ssize_t offset; /* -1: by name */
} attrs[A_COUNT] = {
#define SLOT(type, name) {type, name, NULL, -1}
    SLOT(T_STATE, "dialog"), SLOT(T_STATE, "txs"), SLOT(T_STATE, "copies"),
    SLOT(T_STATE, "caller_tags"), SLOT(T_STATE, "requested"), SLOT(T_STATE, "call"),
    SLOT(T_STATE, "phase"), SLOT(T_STATE, "caller"), SLOT(T_STATE, "responded"),
    SLOT(T_STATE, "method"), SLOT(T_STATE, "last_status"), SLOT(T_STATE, "code"),
    SLOT(T_STATE, "expires"), SLOT(T_STATE, "tag_set"),
    SLOT(T_DIALOG, "id"), SLOT(T_DIALOG, "messages"), SLOT(T_DIALOG, "retransmissions"),
    SLOT(T_DIALOG, "end_ns"), SLOT(T_DIALOG, "start_ns"), SLOT(T_DIALOG, "to_tags"),
    SLOT(T_DIALOG, "transactions"), SLOT(T_DIALOG, "state"), SLOT(T_DIALOG, "outcome"),
    SLOT(T_DIALOG, "phase"), SLOT(T_DIALOG, "call"),
    SLOT(T_TX, "method"),
    SLOT(T_TX, "messages"), SLOT(T_TX, "request"), SLOT(T_TX, "final"),
#undef SLOT
};
static PyTypeObject *slot_types[T_COUNT];

/* obj.<a>: a new reference, or NULL with an exception. */
static PyObject *get(PyObject *obj, int a) {
    if (attrs[a].offset >= 0 && Py_TYPE(obj) == slot_types[attrs[a].type]) {
        PyObject *v = *(PyObject **)((char *)obj + attrs[a].offset);
        if (v == NULL) {
            PyErr_SetObject(PyExc_AttributeError, attrs[a].str);
            return NULL;
        }
        return Py_NewRef(v);
    }
    return PyObject_GetAttr(obj, attrs[a].str);
}

/* obj.<a> = v: 0, or -1 with an exception. */
static int set(PyObject *obj, int a, PyObject *v) {
    if (attrs[a].offset >= 0 && Py_TYPE(obj) == slot_types[attrs[a].type]) {
        Py_XSETREF(*(PyObject **)((char *)obj + attrs[a].offset), Py_NewRef(v));
        return 0;
    }
    return PyObject_SetAttr(obj, attrs[a].str, v);
}

/* bool(obj.<a>): 1, 0, or -1 with an exception. */
static int truth_of(PyObject *obj, int a) {
    PyObject *v = get(obj, a);
    if (v == NULL) return -1;
    int t = PyObject_IsTrue(v);
    Py_DECREF(v);
    return t;
}

/* -- small pieces ------------------------------------------------------------------------------ */

/* An endpoint's address and port: by index for a model.Endpoint, else by name. New references. */
static int ends_of(PyObject *ep, PyObject **ip, PyObject **port) {
    if (Py_TYPE(ep) == (PyTypeObject *)c_Endpoint && PyTuple_GET_SIZE(ep) == 2) {
        *ip = Py_NewRef(PyTuple_GET_ITEM(ep, 0));
        *port = Py_NewRef(PyTuple_GET_ITEM(ep, 1));
        return 0;
    }
    if ((*ip = PyObject_GetAttr(ep, s_ip)) == NULL) return -1;
    if ((*port = PyObject_GetAttr(ep, s_port)) == NULL) {
        Py_CLEAR(*ip);
        return -1;
    }
    return 0;
}

/* Whether the int n >= bound: 1, 0, or -1 with an exception. */
static int at_least(PyObject *n, long bound) {
    int overflow;
    long v = PyLong_AsLongAndOverflow(n, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow) return overflow > 0;
    return v >= bound;
}

/* x.cseq_method or x.method or "" of a model.Message (a new reference). */
static PyObject *method_of(PyObject *x) {
    PyObject *m = FIELD(x, F_CSEQ_METHOD);
    for (int second = 0;; second = 1) {
        int t = PyObject_IsTrue(m);
        if (t < 0) return NULL;
        if (t) return Py_NewRef(m);
        if (second) return Py_NewRef(empty);
        m = FIELD(x, F_METHOD);
    }
}

/* correlator._signature(ti, x) of a model.Message (a new reference): what a retransmission
 * repeats. */
static PyObject *signature(PyObject *ti, PyObject *x) {
    PyObject *src = NULL, *dst = NULL, *method = NULL, *sig = NULL, *ends[4] = {NULL};
    PyObject *status = FIELD(x, F_STATUS);
    if ((src = PyObject_GetAttr(x, s_src)) == NULL || (dst = PyObject_GetAttr(x, s_dst)) == NULL)
        goto done;
    if (ends_of(src, &ends[0], &ends[1]) < 0 || ends_of(dst, &ends[2], &ends[3]) < 0) goto done;
    if (status == Py_None)
        sig = PyTuple_Pack(8, ti, FIELD(x, F_METHOD), FIELD(x, F_CSEQ_NUM), FIELD(x, F_TO_TAG),
                           ends[0], ends[1], ends[2], ends[3]);
    else if ((method = method_of(x)) != NULL)
        sig = PyTuple_Pack(9, ti, status, FIELD(x, F_CSEQ_NUM), method, FIELD(x, F_TO_TAG),
                           ends[0], ends[1], ends[2], ends[3]);
done:
    for (int i = 0; i < 4; i++) Py_XDECREF(ends[i]);
    Py_XDECREF(src);
    Py_XDECREF(dst);
    Py_XDECREF(method);
    return sig;
}

/* pattern.search(msg.raw, 0, msg.body_start) is not None: 1, 0, or -1. */
static int found_in_head(PyObject *pattern, PyObject *msg) {
    PyObject *raw = PyObject_GetAttr(msg, s_raw);
    if (raw == NULL) return -1;
    PyObject *call[] = {pattern, raw, zero, FIELD(msg, F_BODY_START)};
    PyObject *m = PyObject_VectorcallMethod(s_search, call, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                            NULL);
    Py_DECREF(raw);
    if (m == NULL) return -1;
    int found = m != Py_None;
    Py_DECREF(m);
    return found;
}

/* d.get(key) (a new reference; None when absent), for a dict or not. */
static PyObject *dict_get(PyObject *d, PyObject *key) {
    if (PyDict_CheckExact(d)) {
        PyObject *v = PyDict_GetItemWithError(d, key);
        if (v == NULL && PyErr_Occurred()) return NULL;
        return Py_NewRef(v != NULL ? v : Py_None);
    }
    PyObject *call[] = {d, key};
    return PyObject_VectorcallMethod(s_get, call, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

/* -- the correlator's methods ------------------------------------------------------------------ */

/* _add_tag(st, tag): append tag to the dialog's to_tags unless it is there. */
static int add_tag(PyObject *st, PyObject *tag) {
    PyObject *dialog = NULL, *tags = NULL, *known = NULL;
    int ok = -1, in;
    if ((dialog = get(st, A_DIALOG)) == NULL) goto done;
    if ((tags = get(dialog, A_D_TO_TAGS)) == NULL) goto done;
    if ((known = get(st, A_TAG_SET)) == NULL) goto done;
    if (known == Py_None) {
        if ((in = PySequence_Contains(tags, tag)) != 0) {
            ok = in < 0 ? -1 : 0;
            goto done;
        }
        Py_ssize_t n = PyObject_Length(tags);
        if (n < 0) goto done;
        if (n >= 8) {
            Py_SETREF(known, PySet_New(tags));
            if (known == NULL || set(st, A_TAG_SET, known) < 0) goto done;
        }
    } else if ((in = PySequence_Contains(known, tag)) != 0) {
        ok = in < 0 ? -1 : 0;
        goto done;
    }
    if (known != Py_None && PySet_Add(known, tag) < 0) goto done;
    if (PyList_CheckExact(tags)) {
        ok = PyList_Append(tags, tag);
    } else {
        PyObject *r = PyObject_CallMethod(tags, "append", "O", tag);
        ok = r == NULL ? -1 : 0;
        Py_XDECREF(r);
    }
done:
    Py_XDECREF(dialog);
    Py_XDECREF(tags);
    Py_XDECREF(known);
    return ok;
}

/* _tx_3261(txs, branch, sent_by, method): the transaction filed under the RFC 3261 key, or None
 * (a new reference). The first key of a branch is filed under the branch alone, and stands for
 * the method and the first message's sent-by of its transaction. */
static PyObject *tx_3261(PyObject *transactions, PyObject *entries, PyObject *txs,
                         PyObject *branch, PyObject *sent_by, PyObject *method) {
    PyObject *ti = NULL, *tx = NULL, *tx_method = NULL, *messages = NULL;
    PyObject *first = NULL, *entry = NULL, *by = NULL, *key = NULL;
    int t;
    if ((ti = dict_get(txs, branch)) == NULL || ti == Py_None) return ti;
    if ((tx = PyObject_GetItem(transactions, ti)) == NULL) goto error;
    if ((tx_method = get(tx, A_T_METHOD)) == NULL) goto error;
    if ((t = PyObject_RichCompareBool(tx_method, method, Py_EQ)) < 0) goto error;
    if (t) {
        if ((messages = get(tx, A_T_MESSAGES)) == NULL) goto error;
        if ((first = PySequence_GetItem(messages, 0)) == NULL) goto error;
        if ((entry = PyObject_GetItem(entries, first)) == NULL) goto error;
        if (PyObject_TypeCheck(entry, message_type) && PyTuple_GET_SIZE(entry) > field_last)
            by = Py_NewRef(FIELD(entry, F_SENT_BY));
        else if ((by = PyObject_GetAttr(entry, s_sent_by)) == NULL)
            goto error;
        if ((t = PyObject_RichCompareBool(by, sent_by, Py_EQ)) < 0) goto error;
    }
    if (!t) {
        Py_CLEAR(ti);
        if ((key = PyTuple_Pack(3, branch, sent_by, method)) == NULL) goto error;
        ti = dict_get(txs, key);
    }
    goto done;
error:
    Py_CLEAR(ti);
done:
    Py_XDECREF(tx);
    Py_XDECREF(tx_method);
    Py_XDECREF(messages);
    Py_XDECREF(first);
    Py_XDECREF(entry);
    Py_XDECREF(by);
    Py_XDECREF(key);
    return ti;
}

/* _miss_3261(st, msg, branch, method): the transaction of a key not filed yet (a new
 * reference); transactions and entries: the correlator's. */
static PyObject *miss_3261(PyObject *self, PyObject *transactions, PyObject *entries,
                           PyObject *st, PyObject *msg, PyObject *branch, PyObject *method) {
    PyObject *txs = NULL, *joined = NULL, *key = NULL, *ti = NULL, *dialog = NULL;
    PyObject *created = NULL, *tx = NULL, *list = NULL, *dialog_id = NULL;
    PyObject *sent_by = FIELD(msg, F_SENT_BY);
    int t;
    if ((txs = get(st, A_TXS)) == NULL) goto error;
    if ((joined = dict_get(c_JOINS, method)) == NULL) goto error;
    if (joined != Py_None) {
        if ((ti = tx_3261(transactions, entries, txs, branch, sent_by, joined)) == NULL)
            goto error;
        if (ti != Py_None) {
            int joins = FIELD(msg, F_STATUS) != Py_None;
            if (!joins) {
                PyObject *call[] = {self, ti, msg};
                PyObject *r = PyObject_VectorcallMethod(
                    s__joins, call, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
                if (r == NULL) goto error;
                joins = PyObject_IsTrue(r);
                Py_DECREF(r);
                if (joins < 0) goto error;
            }
            if (joins) {
                if ((key = PyTuple_Pack(3, branch, sent_by, method)) == NULL) goto error;
                if (PyObject_SetItem(txs, key, ti) < 0) goto error;
                goto done;
            }
        }
        Py_CLEAR(ti);
    }
    /* _new_tx(st, method) */
    if ((created = PyObject_GetAttr(self, s_created)) == NULL) goto error;
    if ((ti = PyNumber_Add(created, one)) == NULL) goto error;
    if (PyObject_SetAttr(self, s_created, ti) < 0) goto error;
    if ((dialog = get(st, A_DIALOG)) == NULL) goto error;
    if ((dialog_id = get(dialog, A_D_ID)) == NULL) goto error;
    {
        PyObject *call[] = {ti, method, dialog_id};
        if ((tx = PyObject_Vectorcall(c_Transaction, call, 3, NULL)) == NULL) goto error;
    }
    if (PyObject_SetItem(transactions, ti, tx) < 0) goto error;
    if ((list = get(dialog, A_D_TRANSACTIONS)) == NULL) goto error;
    if (!PyList_CheckExact(list)) {
        PyErr_SetString(PyExc_TypeError, "Dialog.transactions is no list");
        goto error;
    }
    if (PyList_Append(list, ti) < 0) goto error;
    /* the branch's first key: filed under the branch alone (the whole key for the others) */
    if ((t = PySequence_Contains(txs, branch)) < 0) goto error;
    if (t && (key = PyTuple_Pack(3, branch, sent_by, method)) == NULL) goto error;
    if (PyObject_SetItem(txs, t ? key : branch, ti) < 0) goto error;
    goto done;
error:
    Py_CLEAR(ti);
done:
    Py_XDECREF(txs);
    Py_XDECREF(joined);
    Py_XDECREF(key);
    Py_XDECREF(dialog);
    Py_XDECREF(created);
    Py_XDECREF(tx);
    Py_XDECREF(list);
    Py_XDECREF(dialog_id);
    return ti;
}

/* _step(st, msg, method, tx): move the dialog's phase by one message; whether its label may have
 * changed: 1, 0, or -1 with an exception. */
static int step(PyObject *self, PyObject *st, PyObject *msg, PyObject *method, PyObject *tx) {
    PyObject *status = FIELD(msg, F_STATUS);
    PyObject *event = NULL, *v = NULL, *src = NULL, *key = NULL, *phase = NULL;
    int became_call = 0, call, t, result = -1;
    if ((call = truth_of(st, A_CALL)) < 0) return -1;
    if (status == Py_None) {
        PyObject *m = FIELD(msg, F_METHOD);
        if (!call && m != Py_None && PyUnicode_Compare(m, s_INVITE) == 0) {
            if (set(st, A_CALL, Py_True) < 0 || set(st, A_PHASE, c_SETUP) < 0) return -1;
            call = became_call = 1;
        }
        if (call) {
            PyObject *name = m != Py_None && PyUnicode_GET_LENGTH(m) ? m : empty;
            if ((event = dict_get(c_CALL_REQUESTS, name)) == NULL) goto done;
            if ((t = PyObject_RichCompareBool(event, c_EV_INVITE, Py_EQ)) < 0) goto done;
            if (t) {
                if ((src = PyObject_GetAttr(msg, s_src)) == NULL) goto done;
                if ((v = get(st, A_CALLER)) == NULL) goto done;
                if (v == Py_None) {
                    if (set(st, A_CALLER, src) < 0) goto done;
                    Py_SETREF(v, Py_NewRef(src));
                }
                if ((t = PyObject_RichCompareBool(src, v, Py_NE)) < 0) goto done;
                Py_CLEAR(v);
                if (t) {
                    Py_SETREF(event, Py_NewRef(c_EV_RELAYED));
                } else {
                    if (set(st, A_RESPONDED, Py_False) < 0) goto done;
                    if ((t = found_in_head(c_CREDENTIALS, msg)) < 0) goto done;
                    if (t) Py_SETREF(event, Py_NewRef(c_EV_INVITE_AUTH));
                }
            }
        } else {
            if ((v = get(st, A_ST_METHOD)) == NULL) goto done;
            t = PyObject_RichCompareBool(m, v, Py_EQ);
            Py_CLEAR(v);
            if (t < 0) goto done;
            if (!t) {
                result = 0;
                goto done;
            }
            event = Py_NewRef(c_EV_REQUEST);
            if ((t = found_in_head(c_CREDENTIALS, msg)) < 0) goto done;
            if (t) Py_SETREF(event, Py_NewRef(c_EV_REQUEST_AUTH));
        }
    } else {
        if (set(st, A_LAST_STATUS, status) < 0) goto done;
        if (call)
            v = Py_NewRef(s_INVITE);
        else if ((v = get(st, A_ST_METHOD)) == NULL)
            goto done;
        t = PyObject_RichCompareBool(method, v, Py_NE);
        Py_CLEAR(v);
        if (t) {
            result = t < 0 ? -1 : 0;
            goto done;
        }
        if (call && set(st, A_RESPONDED, Py_True) < 0) goto done;
        /* states.response_event(status) */
        int over_199 = at_least(status, 200), over_100 = at_least(status, 101);
        int over_299 = at_least(status, 300);
        if (over_199 < 0 || over_100 < 0 || over_299 < 0) goto done;
        if (!over_199)
            event = Py_NewRef(over_100 ? c_EV_PROVISIONAL : Py_None);
        else if (!over_299)
            event = Py_NewRef(c_EV_SUCCESS);
        else {
            if ((event = dict_get(c_FINAL_EVENTS, status)) == NULL) goto done;
            if (event == Py_None) Py_SETREF(event, Py_NewRef(c_EV_FAILURE));
        }
        if ((t = PyObject_RichCompareBool(event, c_EV_CHALLENGE, Py_EQ)) < 0) goto done;
        if (t) {
            if ((t = found_in_head(c_STALE_CHALLENGE, msg)) < 0) goto done;
            if (t) Py_SETREF(event, Py_NewRef(c_EV_STALE));
        }
    }
    if (event == Py_None) {
        result = became_call;
        goto done;
    }
    if ((t = truth_of(st, A_CALL)) < 0) goto done;
    if ((v = get(st, A_PHASE)) == NULL) goto done;
    key = PyTuple_Pack(2, v, event);
    Py_CLEAR(v);
    if (key == NULL) goto done;
    if ((phase = dict_get(t ? c_CALL_TABLE : c_OTHER_TABLE, key)) == NULL) goto done;
    if (phase == Py_None) {
        result = became_call;
        goto done;
    }
    if (set(st, A_PHASE, phase) < 0) goto done;
    if (status != Py_None) {
        if (set(st, A_CODE, status) < 0) goto done;
        if ((t = PyObject_RichCompareBool(phase, c_DONE, Py_EQ)) < 0) goto done;
        if (t) {
            if ((v = get(st, A_ST_METHOD)) == NULL) goto done;
            t = PyObject_RichCompareBool(v, s_REGISTER, Py_EQ);
            Py_CLEAR(v);
            if (t < 0) goto done;
            if (t) {
                PyObject *call_args[] = {self, msg, tx};
                v = PyObject_VectorcallMethod(s__register_expires, call_args,
                                              3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
                if (v == NULL || set(st, A_EXPIRES, v) < 0) goto done;
                Py_CLEAR(v);
            }
        }
    }
    result = 1;
done:
    Py_XDECREF(event);
    Py_XDECREF(v);
    Py_XDECREF(src);
    Py_XDECREF(key);
    Py_XDECREF(phase);
    return result;
}

/* _describe(st, ended=False): the dialog's state words, outcome, phase and whether it is a call. */
static int describe(PyObject *st) {
    PyObject *a[9] = {NULL};
    PyObject *v = NULL, *label = NULL, *outcome = NULL, *dialog = NULL;
    int ok = -1, requested, i;
    static const int fields[] = {A_CALL, A_PHASE, A_ST_METHOD, A_CODE, A_EXPIRES, A_REQUESTED};
    for (i = 0; i < 6; i++)
        if ((a[i] = get(st, fields[i])) == NULL) goto done;
    if ((requested = PyObject_IsTrue(a[5])) < 0) goto done;
    if (requested)
        a[6] = Py_NewRef(zero);
    else if ((a[6] = get(st, A_LAST_STATUS)) == NULL)
        goto done;
    a[7] = Py_NewRef(Py_False);
    /* st.responded or not st.call */
    if ((a[8] = get(st, A_RESPONDED)) == NULL) goto done;
    int t = PyObject_IsTrue(a[8]);
    if (t < 0) goto done;
    if (!t) {
        int call = PyObject_IsTrue(a[0]);
        if (call < 0) goto done;
        Py_SETREF(a[8], Py_NewRef(call ? Py_False : Py_True));
    }
    if ((v = PyObject_Vectorcall(c_verdict, a, 9, NULL)) == NULL) goto done;
    if ((label = PyObject_GetAttr(v, s_label)) == NULL) goto done;
    if ((outcome = PyObject_GetAttr(v, s_outcome)) == NULL) goto done;
    if ((dialog = get(st, A_DIALOG)) == NULL) goto done;
    if (set(dialog, A_D_STATE, label) < 0 || set(dialog, A_D_OUTCOME, outcome) < 0 ||
        set(dialog, A_D_PHASE, a[1]) < 0 || set(dialog, A_D_CALL, a[0]) < 0)
        goto done;
    ok = 0;
done:
    for (i = 0; i < 9; i++) Py_XDECREF(a[i]);
    Py_XDECREF(v);
    Py_XDECREF(label);
    Py_XDECREF(outcome);
    Py_XDECREF(dialog);
    return ok;
}

/* -- add ---------------------------------------------------------------------------------------- */

/* Whether a message's fields are of the types taken for granted here. */
static int usual(PyObject *msg) {
    PyObject *v;
    if (!PyObject_TypeCheck(msg, message_type) || PyTuple_GET_SIZE(msg) <= field_last) return 0;
    v = FIELD(msg, F_STATUS);
    if (v != Py_None && !PyLong_CheckExact(v)) return 0;
    v = FIELD(msg, F_BRANCH);
    if (v != Py_None && !PyUnicode_CheckExact(v)) return 0;
    v = FIELD(msg, F_METHOD);
    if (v != Py_None && !PyUnicode_CheckExact(v)) return 0;
    v = FIELD(msg, F_CSEQ_METHOD);
    if (v != Py_None && !PyUnicode_CheckExact(v)) return 0;
    return 1;
}

static PyObject *add(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add(correlator, msg)");
        return NULL;
    }
    if (python_add == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_fastcorr.setup first");
        return NULL;
    }
    PyObject *self = args[0], *msg = args[1];
    if (!usual(msg)) return PyObject_CallFunctionObjArgs(python_add, self, msg, NULL);

    PyObject *index = NULL, *ts = NULL, *earliest = NULL, *states = NULL, *st = NULL;
    PyObject *dialog = NULL, *method = NULL, *key = NULL, *txs = NULL, *ti = NULL;
    PyObject *transactions = NULL, *tx = NULL, *sig = NULL;
    PyObject *tx_method = NULL, *earlier = NULL, *copies = NULL, *filed = NULL, *first = NULL;
    PyObject *entries = NULL, *entry = NULL, *dialog_messages = NULL, *dialog_id = NULL;
    PyObject *v = NULL, *w = NULL, *caller_tags = NULL;
    PyObject *result = NULL;
    int t;

    PyObject *status = FIELD(msg, F_STATUS);
    PyObject *to_tag = FIELD(msg, F_TO_TAG);

    /* self.added += 1; index = self.added */
    if ((v = PyObject_GetAttr(self, s_added)) == NULL) goto error;
    if ((index = PyNumber_Add(v, one)) == NULL) goto error;
    Py_CLEAR(v);
    /* if index == msg.frame: index = msg.frame (one int for both) */
    if ((v = PyObject_GetAttr(msg, s_frame)) == NULL) goto error;
    if ((t = PyObject_RichCompareBool(index, v, Py_EQ)) < 0) goto error;
    if (t) Py_SETREF(index, Py_NewRef(v));
    Py_CLEAR(v);
    if (PyObject_SetAttr(self, s_added, index) < 0) goto error;
    /* if earliest is None or msg.ts_ns < earliest: self.first_ns = msg.ts_ns */
    if ((ts = PyObject_GetAttr(msg, s_ts_ns)) == NULL) goto error;
    if ((earliest = PyObject_GetAttr(self, s_first_ns)) == NULL) goto error;
    t = earliest == Py_None ? 1 : PyObject_RichCompareBool(ts, earliest, Py_LT);
    if (t < 0 || (t && PyObject_SetAttr(self, s_first_ns, ts) < 0)) goto error;

    /* st = self._states.get(msg.call_id), else self._open(msg) */
    if ((states = PyObject_GetAttr(self, s__states)) == NULL) goto error;
    if ((st = dict_get(states, FIELD(msg, F_CALL_ID))) == NULL) goto error;
    if (st == Py_None) {
        Py_SETREF(st, PyObject_CallMethodOneArg(self, s__open, msg));
        if (st == NULL) goto error;
    }
    if ((dialog = get(st, A_DIALOG)) == NULL) goto error;

    if ((method = method_of(msg)) == NULL) goto error;
    if ((transactions = PyObject_GetAttr(self, s_transactions)) == NULL) goto error;
    if ((entries = PyObject_GetAttr(self, s_entries)) == NULL) goto error;

    /* The transaction (the table at the top of correlator.py). */
    PyObject *branch = FIELD(msg, F_BRANCH);
    t = branch != Py_None && PyUnicode_GET_LENGTH(branch) > 7
            ? (int)PyUnicode_Tailmatch(branch, c_COOKIE, 0, PY_SSIZE_T_MAX, -1)
            : 0;
    if (t < 0) goto error;
    if (t) {
        if ((txs = get(st, A_TXS)) == NULL) goto error;
        ti = tx_3261(transactions, entries, txs, branch, FIELD(msg, F_SENT_BY), method);
        if (ti == NULL) goto error;
        if (ti == Py_None) {
            Py_SETREF(ti, miss_3261(self, transactions, entries, st, msg, branch, method));
            if (ti == NULL) goto error;
        }
    } else {
        PyObject *call[] = {self, st, msg, method};
        ti = PyObject_VectorcallMethod(s__match_2543, call, 4 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                       NULL);
        if (ti == NULL) goto error;
    }
    if ((tx = PyObject_GetItem(transactions, ti)) == NULL) goto error;

    /* Retransmission: the same signature as an earlier first copy of the transaction. */
    if ((tx_method = get(tx, A_T_METHOD)) == NULL) goto error;
    if (status == Py_None) {
        if ((v = get(tx, A_T_REQUEST)) == NULL) goto error;
        if (v == Py_None) {
            if ((t = PyObject_RichCompareBool(method, tx_method, Py_EQ)) < 0) goto error;
            if (t && set(tx, A_T_REQUEST, index) < 0) goto error;
        }
        Py_CLEAR(v);
    } else {
        if ((t = at_least(status, 200)) < 0) goto error;
        if (t) {
            if ((v = get(tx, A_T_FINAL)) == NULL) goto error;
            if (v == Py_None) {
                if ((t = PyObject_RichCompareBool(method, tx_method, Py_EQ)) < 0) goto error;
                if (t && set(tx, A_T_FINAL, index) < 0) goto error;
            }
            Py_CLEAR(v);
        }
    }
    if ((sig = signature(ti, msg)) == NULL) goto error;
    if ((earlier = get(tx, A_T_MESSAGES)) == NULL) goto error;
    if (!PyList_CheckExact(earlier)) {
        PyErr_SetString(PyExc_TypeError, "Transaction.messages is no list");
        goto error;
    }
    if ((copies = get(st, A_COPIES)) == NULL) goto error;
    if (copies != Py_None) {
        if ((filed = dict_get(copies, ti)) == NULL) goto error;
        if (filed == Py_None) Py_CLEAR(filed);
    }
    if (filed == NULL && PyList_GET_SIZE(earlier) >= scan) {
        PyObject *call[] = {self, st, ti, earlier};
        filed = PyObject_VectorcallMethod(s__file_copies, call,
                                          4 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
        if (filed == NULL) goto error;
    }
    if (filed != NULL) {
        if ((first = dict_get(filed, sig)) == NULL) goto error;
        if (first == Py_None) Py_CLEAR(first);
    } else {
        for (Py_ssize_t j = PyList_GET_SIZE(earlier) - 1; j >= 0 && first == NULL; j--) {
            if (j >= PyList_GET_SIZE(earlier)) continue;
            PyObject *at = Py_NewRef(PyList_GET_ITEM(earlier, j));
            PyObject *e = PyObject_GetItem(entries, at);
            int hit = 0;
            if (e != NULL && (v = PyObject_GetAttr(e, s_retransmission_of)) != NULL) {
                if (v == Py_None && (w = PyObject_GetAttr(e, s_status)) != NULL) {
                    hit = PyObject_RichCompareBool(w, status, Py_EQ);
                    if (hit > 0) {
                        Py_SETREF(w, signature(ti, e));
                        hit = w == NULL ? -1 : PyObject_RichCompareBool(w, sig, Py_EQ);
                    }
                }
                Py_CLEAR(v);
                Py_CLEAR(w);
            }
            Py_XDECREF(e);
            if (hit > 0)
                first = at;
            else
                Py_DECREF(at);
            if (PyErr_Occurred()) goto error;
        }
    }
    if (first != NULL) {
        int fresh = 0; /* another provisional response, with other bytes (RFC 3262 RSeq...) */
        if (status != Py_None) {
            if ((t = at_least(status, 200)) < 0) goto error;
            if (!t) {
                PyObject *before = PyObject_GetItem(entries, first);
                if (before == NULL) goto error;
                v = PyObject_GetAttr(before, s_raw);
                Py_DECREF(before);
                if (v == NULL || (w = PyObject_GetAttr(msg, s_raw)) == NULL) goto error;
                if ((fresh = PyObject_RichCompareBool(v, w, Py_NE)) < 0) goto error;
                Py_CLEAR(v);
                Py_CLEAR(w);
            }
        }
        if (fresh) {
            Py_CLEAR(first);
        } else {
            if ((v = get(dialog, A_D_RETRANSMISSIONS)) == NULL) goto error;
            if ((w = PyNumber_Add(v, one)) == NULL) goto error;
            if (set(dialog, A_D_RETRANSMISSIONS, w) < 0) goto error;
            Py_CLEAR(v);
            Py_CLEAR(w);
        }
    }
    if (first == NULL && filed != NULL && PyObject_SetItem(filed, sig, index) < 0) goto error;
    if (PyList_Append(earlier, index) < 0) goto error;
    if ((dialog_messages = get(dialog, A_D_MESSAGES)) == NULL) goto error;
    if (!PyList_CheckExact(dialog_messages)) {
        PyErr_SetString(PyExc_TypeError, "Dialog.messages is no list");
        goto error;
    }
    if (PyList_Append(dialog_messages, index) < 0) goto error;
    if ((v = get(dialog, A_D_END)) == NULL) goto error;
    t = PyObject_RichCompareBool(ts, v, Py_GT);
    Py_CLEAR(v);
    if (t < 0) goto error;
    if (t) {
        if (set(dialog, A_D_END, ts) < 0) goto error;
    } else {
        if ((v = get(dialog, A_D_START)) == NULL) goto error;
        t = PyObject_RichCompareBool(ts, v, Py_LT);
        Py_CLEAR(v);
        if (t < 0 || (t && set(dialog, A_D_START, ts) < 0)) goto error;
    }
    if ((dialog_id = get(dialog, A_D_ID)) == NULL) goto error;
    {
        PyObject *call[] = {index, msg, dialog_id, ti, first != NULL ? first : Py_None};
        if ((entry = PyObject_Vectorcall(c_MAKE_ENTRY, call, 5, NULL)) == NULL) goto error;
    }
    if (PyObject_SetItem(entries, index, entry) < 0) goto error;
    if (first != NULL) goto done;
    msg = entry; /* the message from here on */

    /* Early dialogs: the callee's tags (see the Python add). */
    if ((caller_tags = get(st, A_CALLER_TAGS)) == NULL) goto error;
    if ((t = PyObject_IsTrue(to_tag)) < 0) goto error;
    if (!t) {
        PyObject *ftag = FIELD(msg, F_FROM_TAG);
        if (status == Py_None) {
            if ((t = PyObject_IsTrue(ftag)) < 0) goto error;
            Py_ssize_t n = t ? PyObject_Length(caller_tags) : 16;
            if (n < 0) goto error;
            if (n < 16) {
                if ((t = PySequence_Contains(caller_tags, ftag)) < 0) goto error;
                if (!t) {
                    PyObject *more = PyTuple_Pack(1, ftag);
                    if (more == NULL) goto error;
                    v = PySequence_Concat(caller_tags, more);
                    Py_DECREF(more);
                    if (v == NULL || set(st, A_CALLER_TAGS, v) < 0) goto error;
                    Py_CLEAR(v);
                }
            }
        }
    } else {
        int dialog_tag;
        if (status == Py_None) {
            if ((dialog_tag = PyObject_RichCompareBool(method, tx_method, Py_EQ)) < 0) goto error;
            if (dialog_tag) {
                if ((t = PySequence_Contains(c_NO_DIALOG_TAG, method)) < 0) goto error;
                dialog_tag = !t;
            }
        } else {
            int over = at_least(status, 101), under = at_least(status, 300);
            if (over < 0 || under < 0) goto error;
            dialog_tag = over && !under;
            if (dialog_tag && (dialog_tag = PySequence_Contains(c_DIALOG_METHODS, method)) < 0)
                goto error;
        }
        if (dialog_tag) {
            if ((t = PySequence_Contains(caller_tags, to_tag)) < 0) goto error;
            PyObject *tag = t ? FIELD(msg, F_FROM_TAG) : to_tag;
            if ((t = PyObject_IsTrue(tag)) < 0) goto error;
            if (t && add_tag(st, tag) < 0) goto error;
        }
    }

    /* The dialog's state. */
    int opened = 0;
    if (status == Py_None) {
        if ((t = truth_of(st, A_REQUESTED)) < 0) goto error;
        opened = !t;
    }
    if (opened) {
        PyObject *call[] = {self, st, msg};
        if ((v = PyObject_VectorcallMethod(s__first_request, call,
                                           3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL)) == NULL)
            goto error;
        Py_CLEAR(v);
    }
    if ((t = step(self, st, msg, method, tx)) < 0) goto error;
    if (!t) t = opened;
    if (!t) {
        if ((t = truth_of(st, A_REQUESTED)) < 0) goto error;
        t = !t;
    }
    if (!t) {
        if ((v = PyObject_GetAttr(self, s__finished)) == NULL) goto error;
        t = PyObject_IsTrue(v);
        Py_CLEAR(v);
        if (t < 0) goto error;
    }
    if (t && describe(st) < 0) goto error;
done:
    result = Py_NewRef(entry);
error:
    Py_XDECREF(index);
    Py_XDECREF(ts);
    Py_XDECREF(earliest);
    Py_XDECREF(states);
    Py_XDECREF(st);
    Py_XDECREF(dialog);
    Py_XDECREF(method);
    Py_XDECREF(key);
    Py_XDECREF(txs);
    Py_XDECREF(ti);
    Py_XDECREF(transactions);
    Py_XDECREF(tx);
    Py_XDECREF(sig);
    Py_XDECREF(tx_method);
    Py_XDECREF(earlier);
    Py_XDECREF(copies);
    Py_XDECREF(filed);
    Py_XDECREF(first);
    Py_XDECREF(entries);
    Py_XDECREF(entry);
    Py_XDECREF(dialog_messages);
    Py_XDECREF(dialog_id);
    Py_XDECREF(v);
    Py_XDECREF(w);
    Py_XDECREF(caller_tags);
    return result;
}

/* -- setup ---------------------------------------------------------------------------------------- */

static int interned(void) {
#define INTERN(n)                                                                                  \
    if (s_##n == NULL && (s_##n = PyUnicode_InternFromString(#n)) == NULL) return -1;
    NAMES(INTERN)
#undef INTERN
    for (int a = 0; a < A_COUNT; a++)
        if (attrs[a].str == NULL && (attrs[a].str = PyUnicode_InternFromString(attrs[a].name)) == NULL)
            return -1;
    if (empty == NULL && (empty = PyUnicode_InternFromString("")) == NULL) return -1;
    if (s_INVITE == NULL && (s_INVITE = PyUnicode_InternFromString("INVITE")) == NULL) return -1;
    if (s_REGISTER == NULL && (s_REGISTER = PyUnicode_InternFromString("REGISTER")) == NULL)
        return -1;
    if (one == NULL && (one = PyLong_FromLong(1)) == NULL) return -1;
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) return -1;
    return 0;
}

/* The offset of a writable object slot of type (a member descriptor), or -1. */
static Py_ssize_t slot_offset(PyTypeObject *type, PyObject *name) {
    PyObject *d = PyObject_GetAttr((PyObject *)type, name);
    Py_ssize_t at = -1;
    if (d == NULL) {
        PyErr_Clear();
        return -1;
    }
    if (Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type == T_OBJECT_EX && !(m->flags & READONLY)) at = m->offset;
    }
    Py_DECREF(d);
    return at;
}

static PyObject *setup(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *py_add, *msg_type, *indices, *names;
    if (!PyArg_ParseTuple(args, "OO!O!O!:setup", &py_add, &PyType_Type, &msg_type, &PyTuple_Type,
                          &indices, &PyDict_Type, &names))
        return NULL;
    if (PyTuple_GET_SIZE(indices) != F_COUNT) {
        PyErr_SetString(PyExc_ValueError, "setup: indices of method, status, call_id, cseq_num, "
                                          "cseq_method, branch, sent_by, from_tag, to_tag, "
                                          "body_start");
        return NULL;
    }
    for (int f = 0; f < F_COUNT; f++) {
        Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(indices, f));
        if (at == -1 && PyErr_Occurred()) return NULL;
        if (at < 0) {
            PyErr_SetString(PyExc_ValueError, "setup: a negative index");
            return NULL;
        }
        field_at[f] = at;
        if (f == 0 || at > field_last) field_last = at;
    }
    if (interned() < 0) return NULL;
#define TAKE(n)                                                                                    \
    {                                                                                              \
        PyObject *value = PyDict_GetItemString(names, #n);                                        \
        if (value == NULL) {                                                                       \
            PyErr_SetString(PyExc_KeyError, "setup: " #n " is missing");                          \
            return NULL;                                                                           \
        }                                                                                          \
        Py_XSETREF(c_##n, Py_NewRef(value));                                                      \
    }
    CONSTANTS(TAKE)
#undef TAKE
    PyObject *types[T_COUNT] = {c_State, c_Dialog, c_Transaction};
    for (int k = 0; k < T_COUNT; k++) {
        if (!PyType_Check(types[k])) {
            PyErr_SetString(PyExc_TypeError, "setup: State, Dialog and Transaction are classes");
            return NULL;
        }
        Py_XSETREF(slot_types[k], (PyTypeObject *)Py_NewRef(types[k]));
    }
    if (!PyType_Check(c_Endpoint) || !PyUnicode_Check(c_COOKIE)) {
        PyErr_SetString(PyExc_TypeError, "setup: Endpoint a class, COOKIE a str");
        return NULL;
    }
    for (int a = 0; a < A_COUNT; a++) attrs[a].offset = slot_offset(slot_types[attrs[a].type], attrs[a].str);
    scan = PyLong_AsSsize_t(c_SCAN);
    if (scan == -1 && PyErr_Occurred()) return NULL;
    Py_XSETREF(python_add, Py_NewRef(py_add));
    Py_XSETREF(message_type, (PyTypeObject *)Py_NewRef(msg_type));
    Py_RETURN_NONE;
}

static PyMethodDef functions[] = {
    {"add", (PyCFunction)(void (*)(void))add, METH_FASTCALL,
     "add(correlator, msg) -> Entry: Correlator.add's, in C."},
    {"setup", setup, METH_VARARGS, "setup(python_add, message_type, indices, names)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastcorr", "Correlator.add in C (see correlate/correlator.py).", -1,
    functions, NULL, NULL, NULL, NULL,
};

/* The module, with `method`: add as a method (an instancemethod: correlator.add binds it as it
 * binds a function), to be Correlator.add. Bound in each correlator instead (a bound method in its
 * own __dict__), it would make each correlator a cycle, kept until the collector runs: the whole
 * correlator, states and all, after a read (the collector is off then), 8 MB for 30,000 calls. */
PyMODINIT_FUNC PyInit__fastcorr(void) {
    PyObject *m = PyModule_Create(&module), *f, *method;
    if (m == NULL) return NULL;
    if ((f = PyObject_GetAttrString(m, "add")) == NULL) goto error;
    method = PyInstanceMethod_New(f);
    Py_DECREF(f);
    if (method == NULL || PyModule_AddObject(m, "method", method) < 0) {
        Py_XDECREF(method);
        goto error;
    }
    return m;
error:
    Py_DECREF(m);
    return NULL;
}
