/* sipsniff.correlate._idmap: IdMap, a dict of int keys held as an array (optional; without it the
 * correlator's tables are dicts, which it behaves as).
 *
 * The correlator files its entries and transactions by id, and the ids come in increasing order
 * (1, 2, 3...). A dict holds each item in 24 bytes of its table and a few more of index, with a
 * table up to twice the size of what it holds: 10.5 MB for the 180,000 entries of 30,000 calls,
 * 5.2 MB for their 90,000 transactions. An IdMap holds a pointer per id: 1.4 MB and 0.7 MB.
 *
 * It is a dict in all it does: the same items in the same order (the order they were added: here
 * the order of their keys, since a key is added after the keys before it), the same errors. What
 * an array cannot hold the same way, it holds in a dict from then on ("dict mode"): a key that is
 * not an int (exactly), a key below the first one, a key in a hole (an id removed, then added
 * again: a dict puts it last), a key far beyond the last one, or more holes than items (entries
 * removed here and there, as a live capture lets dialogs go).
 *
 * Array mode: the value of key base + j is items[head + j] (NULL for a hole), for j from 0 to
 * len - 1; neither the first nor the last is a hole; count values in all.
 *
 * correlate/tables.py registers it as a collections.abc.MutableMapping; tests/correlate/test_idmap.py
 * runs the same operations on an IdMap and on a dict and compares them after each.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyObject **items;
    Py_ssize_t cap;   /* slots of items */
    Py_ssize_t head;  /* where the first key is */
    Py_ssize_t len;   /* keys from base to the last one */
    Py_ssize_t count; /* values held */
    Py_ssize_t base;  /* the first key */
    PyObject *dict;   /* dict mode: everything is here */
} IdMap;

static PyTypeObject IterType, ViewType;

#define KEYS 0
#define VALUES 1
#define ITEMS 2

/* Holes at most: beyond MIN_HOLES, not more than the values held. */
#define MIN_HOLES 1024

/* -- the array --------------------------------------------------------------------------------- */

/* Where key is: 1 with its slot in *j (a value is there), 0 when it is not there, -1 on error.
 * A key equal to an int (True, 1.0...) is found as a dict finds it: its hash is the int's. */
static int find(IdMap *self, PyObject *key, Py_ssize_t *j) {
    Py_ssize_t k;
    if (PyLong_CheckExact(key)) {
        int overflow;
        k = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (k == -1 && PyErr_Occurred()) return -1;
        if (overflow || k <= PY_SSIZE_T_MIN / 2 || k >= PY_SSIZE_T_MAX / 2) return 0;
    } else {
        Py_hash_t h = PyObject_Hash(key);
        if (h == -1) return -1;
        k = h; /* an int's hash is itself, but -1's: -2 (then the key may be -2 or -1) */
        for (int tries = 0; tries < (h == -2 ? 2 : 1); tries++, k = -1) {
            Py_ssize_t at = k - self->base;
            if (at < 0 || at >= self->len || self->items[self->head + at] == NULL) continue;
            PyObject *as_int = PyLong_FromSsize_t(k);
            if (as_int == NULL) return -1;
            int eq = PyObject_RichCompareBool(key, as_int, Py_EQ);
            Py_DECREF(as_int);
            if (eq < 0) return -1;
            if (eq) {
                *j = at;
                return 1;
            }
        }
        return 0;
    }
    Py_ssize_t at = k - self->base;
    if (at < 0 || at >= self->len || self->items[self->head + at] == NULL) return 0;
    *j = at;
    return 1;
}

/* A new dict of the array's items, in their order. */
static PyObject *as_dict(IdMap *self) {
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
    for (Py_ssize_t j = 0; j < self->len; j++) {
        PyObject *v = self->items[self->head + j];
        if (v == NULL) continue;
        PyObject *k = PyLong_FromSsize_t(self->base + j);
        if (k == NULL || PyDict_SetItem(d, k, v) < 0) {
            Py_XDECREF(k);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(k);
    }
    return d;
}

/* KeyError(key), as a dict raises it (KeyError((1, 2)) for the key (1, 2), not KeyError(1, 2)). */
static void key_error(PyObject *key) {
    PyObject *args = PyTuple_Pack(1, key);
    if (args != NULL) PyErr_SetObject(PyExc_KeyError, args);
    Py_XDECREF(args);
}

/* From now on a dict: the same items, in the same order. */
static int to_dict(IdMap *self) {
    PyObject *d = as_dict(self);
    if (d == NULL) return -1;
    PyObject **items = self->items;
    Py_ssize_t head = self->head, len = self->len;
    self->items = NULL;
    self->cap = self->head = self->len = self->count = self->base = 0;
    self->dict = d;
    for (Py_ssize_t j = 0; j < len; j++) Py_XDECREF(items[head + j]);
    PyMem_Free(items);
    return 0;
}

/* Room for key base + at (at >= len): the holes before it made NULL, len grown. */
static int extend(IdMap *self, Py_ssize_t at) {
    Py_ssize_t need = at + 1;
    if (self->head + need > self->cap) {
        if (self->head > 0 && need <= self->cap - self->cap / 4) {
            memmove(self->items, self->items + self->head, self->len * sizeof(PyObject *));
            self->head = 0;
        } else {
            Py_ssize_t cap = self->head + need;
            cap += cap / 2 + 8;
            if (cap > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(PyObject *)) {
                PyErr_NoMemory();
                return -1;
            }
            PyObject **items = PyMem_Realloc(self->items, cap * sizeof(PyObject *));
            if (items == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            self->items = items;
            self->cap = cap;
        }
    }
    for (Py_ssize_t j = self->len; j < need; j++) self->items[self->head + j] = NULL;
    self->len = need;
    return 0;
}

static int set(IdMap *self, PyObject *key, PyObject *value) {
    if (self->dict != NULL) return PyDict_SetItem(self->dict, key, value);
    Py_ssize_t j;
    if (PyLong_CheckExact(key)) {
        int overflow;
        long long k = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (k == -1 && PyErr_Occurred()) return -1;
        if (!overflow && k > PY_SSIZE_T_MIN / 2 && k < PY_SSIZE_T_MAX / 2) {
            if (self->count == 0) self->base = (Py_ssize_t)k; /* (head and len are 0 then) */
            Py_ssize_t at = (Py_ssize_t)k - self->base;
            if (at >= 0 && at < self->len && self->items[self->head + at] != NULL) {
                Py_SETREF(self->items[self->head + at], Py_NewRef(value));
                return 0;
            }
            Py_ssize_t holes = at - self->len;
            if (at >= self->len && (holes <= MIN_HOLES || holes <= self->count)) {
                if (extend(self, at) < 0) return -1;
                self->items[self->head + at] = Py_NewRef(value);
                self->count++;
                return 0;
            }
        }
    } else {
        int found = find(self, key, &j);
        if (found < 0) return -1;
        if (found) { /* an int's equal (True for 1): the key stays, the value changes */
            Py_SETREF(self->items[self->head + j], Py_NewRef(value));
            return 0;
        }
    }
    if (to_dict(self) < 0) return -1;
    return PyDict_SetItem(self->dict, key, value);
}

/* Takes the value of slot j out (a new reference for the caller). */
static PyObject *take(IdMap *self, Py_ssize_t j) {
    PyObject *v = self->items[self->head + j];
    self->items[self->head + j] = NULL;
    self->count--;
    if (self->count == 0) {
        self->head = self->len = 0;
    } else {
        while (self->items[self->head + self->len - 1] == NULL) self->len--;
        while (self->items[self->head] == NULL) {
            self->head++;
            self->base++;
            self->len--;
        }
    }
    return v;
}

/* After a removal: mostly holes, held as a dict (a failure to make it only leaves the holes). */
static void thin(IdMap *self) {
    if (self->dict == NULL && self->len - self->count > MIN_HOLES &&
        self->len - self->count > self->count) {
        if (to_dict(self) < 0) PyErr_Clear();
    }
    if (self->dict == NULL && self->count == 0 && self->cap > 64) {
        PyMem_Free(self->items);
        self->items = NULL;
        self->cap = 0;
    }
}

/* -- the type ---------------------------------------------------------------------------------- */

static PyObject *idmap_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    (void)args;
    (void)kwds;
    IdMap *self = (IdMap *)type->tp_alloc(type, 0);
    return (PyObject *)self;
}

static PyObject *view(IdMap *self, int kind);
static PyObject *iterate(IdMap *self, int kind, int backwards);
static PyTypeObject IdMapType;

static int update_from(IdMap *self, PyObject *source) {
    PyObject *it, *item;
    if (PyDict_Check(source) || PyObject_HasAttrString(source, "keys")) {
        PyObject *keys = PyMapping_Keys(source);
        if (keys == NULL) return -1;
        it = PyObject_GetIter(keys);
        Py_DECREF(keys);
        if (it == NULL) return -1;
        while ((item = PyIter_Next(it)) != NULL) {
            PyObject *v = PyObject_GetItem(source, item);
            int r = v == NULL ? -1 : set(self, item, v);
            Py_XDECREF(v);
            Py_DECREF(item);
            if (r < 0) {
                Py_DECREF(it);
                return -1;
            }
        }
    } else {
        it = PyObject_GetIter(source);
        if (it == NULL) return -1;
        while ((item = PyIter_Next(it)) != NULL) {
            PyObject *pair = PySequence_Tuple(item);
            Py_DECREF(item);
            if (pair == NULL || PyTuple_GET_SIZE(pair) != 2) {
                if (pair != NULL) {
                    PyErr_SetString(PyExc_ValueError, "IdMap: items are (key, value) pairs");
                    Py_DECREF(pair);
                }
                Py_DECREF(it);
                return -1;
            }
            int r = set(self, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1));
            Py_DECREF(pair);
            if (r < 0) {
                Py_DECREF(it);
                return -1;
            }
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

static int idmap_init(IdMap *self, PyObject *args, PyObject *kwds) {
    PyObject *source = NULL;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "IdMap() takes no keyword arguments");
        return -1;
    }
    if (!PyArg_UnpackTuple(args, "IdMap", 0, 1, &source)) return -1;
    return source == NULL ? 0 : update_from(self, source);
}

static int idmap_clear(IdMap *self) {
    PyObject **items = self->items;
    Py_ssize_t head = self->head, len = self->len;
    self->items = NULL;
    self->cap = self->head = self->len = self->count = self->base = 0;
    for (Py_ssize_t j = 0; j < len; j++) Py_XDECREF(items[head + j]);
    PyMem_Free(items);
    Py_CLEAR(self->dict);
    return 0;
}

static int idmap_traverse(IdMap *self, visitproc visit, void *arg) {
    for (Py_ssize_t j = 0; j < self->len; j++) Py_VISIT(self->items[self->head + j]);
    Py_VISIT(self->dict);
    return 0;
}

/* (A subclass's instance: its type is let go by the subclass's own dealloc, which calls this.) */
static void idmap_dealloc(IdMap *self) {
    PyObject_GC_UnTrack(self);
    idmap_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int positional(const char *name, Py_ssize_t n, Py_ssize_t least, Py_ssize_t most) {
    if (n >= least && n <= most) return 1;
    PyErr_Format(PyExc_TypeError, "%s expected %zd to %zd arguments, got %zd", name, least, most, n);
    return 0;
}

static Py_ssize_t idmap_length(IdMap *self) {
    return self->dict != NULL ? PyDict_GET_SIZE(self->dict) : self->count;
}

static PyObject *idmap_subscript(IdMap *self, PyObject *key) {
    if (self->dict != NULL) return PyObject_GetItem(self->dict, key);
    Py_ssize_t j;
    int found = find(self, key, &j);
    if (found < 0) return NULL;
    if (!found) {
        key_error(key);
        return NULL;
    }
    return Py_NewRef(self->items[self->head + j]);
}

static int idmap_ass_subscript(IdMap *self, PyObject *key, PyObject *value) {
    if (value != NULL) return set(self, key, value);
    if (self->dict != NULL) return PyObject_DelItem(self->dict, key);
    Py_ssize_t j;
    int found = find(self, key, &j);
    if (found < 0) return -1;
    if (!found) {
        key_error(key);
        return -1;
    }
    Py_DECREF(take(self, j));
    thin(self);
    return 0;
}

static int idmap_contains(IdMap *self, PyObject *key) {
    if (self->dict != NULL) return PyDict_Contains(self->dict, key);
    Py_ssize_t j;
    return find(self, key, &j);
}

static PyObject *idmap_get(IdMap *self, PyObject *const *args, Py_ssize_t n) {
    if (!positional("get", n, 1, 2)) return NULL;
    PyObject *otherwise = n > 1 ? args[1] : Py_None;
    if (self->dict != NULL) {
        PyObject *v = PyDict_GetItemWithError(self->dict, args[0]);
        if (v == NULL && PyErr_Occurred()) return NULL;
        return Py_NewRef(v != NULL ? v : otherwise);
    }
    Py_ssize_t j;
    int found = find(self, args[0], &j);
    if (found < 0) return NULL;
    return Py_NewRef(found ? self->items[self->head + j] : otherwise);
}

static PyObject *idmap_pop(IdMap *self, PyObject *const *args, Py_ssize_t n) {
    if (!positional("pop", n, 1, 2)) return NULL;
    if (self->dict != NULL) {
        PyObject *call[] = {self->dict, args[0], n > 1 ? args[1] : NULL};
        PyObject *name = PyUnicode_FromString("pop");
        if (name == NULL) return NULL;
        PyObject *v = PyObject_VectorcallMethod(name, call, n + 1, NULL);
        Py_DECREF(name);
        return v;
    }
    Py_ssize_t j;
    int found = find(self, args[0], &j);
    if (found < 0) return NULL;
    if (!found) {
        if (n > 1) return Py_NewRef(args[1]);
        key_error(args[0]);
        return NULL;
    }
    PyObject *v = take(self, j);
    thin(self);
    return v;
}

static PyObject *idmap_setdefault(IdMap *self, PyObject *const *args, Py_ssize_t n) {
    if (!positional("setdefault", n, 1, 2)) return NULL;
    PyObject *v = idmap_subscript(self, args[0]);
    if (v != NULL || !PyErr_ExceptionMatches(PyExc_KeyError)) return v;
    PyErr_Clear();
    v = n > 1 ? args[1] : Py_None;
    return set(self, args[0], v) < 0 ? NULL : Py_NewRef(v);
}

static PyObject *idmap_update(IdMap *self, PyObject *source) {
    return update_from(self, source) < 0 ? NULL : Py_NewRef(Py_None);
}

/* The last item, taken out. */
static PyObject *idmap_popitem(IdMap *self, PyObject *unused) {
    (void)unused;
    if (self->dict != NULL) return PyObject_CallMethod(self->dict, "popitem", NULL);
    if (self->count == 0) {
        PyErr_SetString(PyExc_KeyError, "popitem(): dictionary is empty");
        return NULL;
    }
    Py_ssize_t j = self->len - 1;
    PyObject *k = PyLong_FromSsize_t(self->base + j);
    if (k == NULL) return NULL;
    PyObject *v = take(self, j);
    thin(self);
    return Py_BuildValue("(NN)", k, v);
}

/* == and != with a dict or an IdMap: the same keys, with equal values (as dicts compare). */
static PyObject *idmap_richcompare(IdMap *self, PyObject *other, int op) {
    if ((op != Py_EQ && op != Py_NE) ||
        !(PyDict_Check(other) || PyObject_TypeCheck(other, &IdMapType)))
        Py_RETURN_NOTIMPLEMENTED;
    int same = PyObject_Size(other) == idmap_length(self);
    if (same) {
        PyObject *it = iterate(self, ITEMS, 0), *pair;
        if (it == NULL) return NULL;
        while (same && (pair = PyIter_Next(it)) != NULL) {
            PyObject *theirs = PyObject_GetItem(other, PyTuple_GET_ITEM(pair, 0));
            if (theirs == NULL) {
                if (PyErr_ExceptionMatches(PyExc_KeyError)) {
                    PyErr_Clear();
                    same = 0;
                } else {
                    same = -1;
                }
            } else {
                same = PyObject_RichCompareBool(PyTuple_GET_ITEM(pair, 1), theirs, Py_EQ);
                Py_DECREF(theirs);
            }
            Py_DECREF(pair);
        }
        Py_DECREF(it);
        if (same < 0 || PyErr_Occurred()) return NULL;
    }
    return PyBool_FromLong(op == Py_EQ ? same : !same);
}

static PyObject *idmap_clear_method(IdMap *self, PyObject *unused) {
    (void)unused;
    idmap_clear(self);
    Py_RETURN_NONE;
}


static PyObject *idmap_keys(IdMap *self, PyObject *unused) {
    (void)unused;
    return view(self, KEYS);
}

static PyObject *idmap_values(IdMap *self, PyObject *unused) {
    (void)unused;
    return view(self, VALUES);
}

static PyObject *idmap_items(IdMap *self, PyObject *unused) {
    (void)unused;
    return view(self, ITEMS);
}

static PyObject *idmap_iter(IdMap *self) { return iterate(self, KEYS, 0); }

static PyObject *idmap_reversed(IdMap *self, PyObject *unused) {
    (void)unused;
    return iterate(self, KEYS, 1);
}

/* A new map of the same type with the same items (dict.copy gives a dict: this, an IdMap). */
static PyObject *idmap_copy(IdMap *self, PyObject *unused) {
    (void)unused;
    return PyObject_CallOneArg((PyObject *)Py_TYPE(self), (PyObject *)self);
}

/* Pickled as its type and the list of its items. */
static PyObject *idmap_reduce(IdMap *self, PyObject *unused) {
    (void)unused;
    PyObject *items = view(self, ITEMS);
    if (items == NULL) return NULL;
    PyObject *list = PySequence_List(items);
    Py_DECREF(items);
    if (list == NULL) return NULL;
    return Py_BuildValue("(O(N))", (PyObject *)Py_TYPE(self), list);
}

static PyObject *idmap_sizeof(IdMap *self, PyObject *unused) {
    (void)unused;
    Py_ssize_t size = Py_TYPE(self)->tp_basicsize + self->cap * (Py_ssize_t)sizeof(PyObject *);
    return PyLong_FromSsize_t(size);
}

/* {key: value, ...}, as the dict of the same items says it. */
static PyObject *idmap_repr(IdMap *self) {
    if (self->dict != NULL) return PyObject_Repr(self->dict);
    PyObject *d = as_dict(self);
    if (d == NULL) return NULL;
    PyObject *text = PyObject_Repr(d);
    Py_DECREF(d);
    return text;
}

static PyObject *idmap_is_array(IdMap *self, void *closure) {
    (void)closure;
    return PyBool_FromLong(self->dict == NULL);
}

static PyMethodDef idmap_methods[] = {
    {"get", (PyCFunction)(void (*)(void))idmap_get, METH_FASTCALL, "get(key, default=None)"},
    {"pop", (PyCFunction)(void (*)(void))idmap_pop, METH_FASTCALL, "pop(key[, default])"},
    {"keys", (PyCFunction)idmap_keys, METH_NOARGS, "a view of the keys"},
    {"values", (PyCFunction)idmap_values, METH_NOARGS, "a view of the values"},
    {"items", (PyCFunction)idmap_items, METH_NOARGS, "a view of the (key, value) pairs"},
    {"setdefault", (PyCFunction)(void (*)(void))idmap_setdefault, METH_FASTCALL,
     "setdefault(key, default=None)"},
    {"update", (PyCFunction)idmap_update, METH_O, "update(mapping or (key, value) pairs)"},
    {"popitem", (PyCFunction)idmap_popitem, METH_NOARGS, "the last item, taken out"},
    {"clear", (PyCFunction)idmap_clear_method, METH_NOARGS, "remove every item"},
    {"copy", (PyCFunction)idmap_copy, METH_NOARGS, "a map of the same type with the same items"},
    {"__reversed__", (PyCFunction)idmap_reversed, METH_NOARGS, "the keys, last first"},
    {"__reduce__", (PyCFunction)idmap_reduce, METH_NOARGS, NULL},
    {"__sizeof__", (PyCFunction)idmap_sizeof, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef idmap_getset[] = {
    {"is_array", (getter)idmap_is_array, NULL, "whether its items are held as an array", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMappingMethods idmap_as_mapping = {
    (lenfunc)idmap_length,
    (binaryfunc)idmap_subscript,
    (objobjargproc)idmap_ass_subscript,
};

static PySequenceMethods idmap_as_sequence = {
    .sq_contains = (objobjproc)idmap_contains,
};

static PyTypeObject IdMapType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sipsniff.correlate._idmap.IdMap",
    .tp_basicsize = sizeof(IdMap),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_MAPPING,
    .tp_doc = "A dict of int keys added in increasing order, held as an array.",
    .tp_new = idmap_new,
    .tp_init = (initproc)idmap_init,
    .tp_dealloc = (destructor)idmap_dealloc,
    .tp_traverse = (traverseproc)idmap_traverse,
    .tp_clear = (inquiry)idmap_clear,
    .tp_repr = (reprfunc)idmap_repr,
    .tp_richcompare = (richcmpfunc)idmap_richcompare,
    .tp_as_mapping = &idmap_as_mapping,
    .tp_as_sequence = &idmap_as_sequence,
    .tp_iter = (getiterfunc)idmap_iter,
    .tp_methods = idmap_methods,
    .tp_getset = idmap_getset,
    .tp_hash = PyObject_HashNotImplemented,
};

/* -- iterators --------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    IdMap *map;      /* NULL when done */
    Py_ssize_t next; /* the key to look at next */
    Py_ssize_t count;
    int kind, backwards;
} Iter;

static PyObject *iterate(IdMap *self, int kind, int backwards) {
    if (self->dict != NULL) {
        static const char *names[] = {"keys", "values", "items"};
        PyObject *v = PyObject_CallMethod(self->dict, names[kind], NULL);
        if (v == NULL) return NULL;
        PyObject *it = backwards ? PyObject_CallMethod(v, "__reversed__", NULL) : PyObject_GetIter(v);
        Py_DECREF(v);
        return it;
    }
    Iter *it = PyObject_GC_New(Iter, &IterType);
    if (it == NULL) return NULL;
    it->map = (IdMap *)Py_NewRef(self);
    it->next = backwards ? self->base + self->len - 1 : self->base;
    it->count = self->count;
    it->kind = kind;
    it->backwards = backwards;
    PyObject_GC_Track(it);
    return (PyObject *)it;
}

static PyObject *iter_next(Iter *it) {
    IdMap *m = it->map;
    if (m == NULL) return NULL;
    if (m->dict != NULL || m->count != it->count) {
        PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
        Py_CLEAR(it->map);
        return NULL;
    }
    Py_ssize_t at = it->next - m->base;
    int step = it->backwards ? -1 : 1;
    if (at >= m->len) at = m->len - 1 + (step > 0); /* the map's own end */
    while (at >= 0 && at < m->len && m->items[m->head + at] == NULL) at += step;
    if (at < 0 || at >= m->len) {
        Py_CLEAR(it->map);
        return NULL;
    }
    it->next = m->base + at + step;
    PyObject *v = m->items[m->head + at];
    if (it->kind == VALUES) return Py_NewRef(v);
    PyObject *k = PyLong_FromSsize_t(m->base + at);
    if (it->kind == KEYS || k == NULL) return k;
    return Py_BuildValue("(NO)", k, v);
}

static int iter_traverse(Iter *it, visitproc visit, void *arg) {
    Py_VISIT(it->map);
    return 0;
}

static void iter_dealloc(Iter *it) {
    PyObject_GC_UnTrack(it);
    Py_XDECREF(it->map);
    PyObject_GC_Del(it);
}

static PyObject *iter_length_hint(Iter *it, PyObject *unused) {
    (void)unused;
    return PyLong_FromSsize_t(it->map != NULL && it->map->dict == NULL ? it->map->count : 0);
}

static PyMethodDef iter_methods[] = {
    {"__length_hint__", (PyCFunction)iter_length_hint, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject IterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sipsniff.correlate._idmap.iterator",
    .tp_basicsize = sizeof(Iter),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)iter_dealloc,
    .tp_traverse = (traverseproc)iter_traverse,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)iter_next,
    .tp_methods = iter_methods,
};

/* -- views ------------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    IdMap *map;
    int kind;
} View;

static PyObject *view(IdMap *self, int kind) {
    View *v = PyObject_GC_New(View, &ViewType);
    if (v == NULL) return NULL;
    v->map = (IdMap *)Py_NewRef(self);
    v->kind = kind;
    PyObject_GC_Track(v);
    return (PyObject *)v;
}

static Py_ssize_t view_length(View *v) { return idmap_length(v->map); }

static PyObject *view_iter(View *v) { return iterate(v->map, v->kind, 0); }

static PyObject *view_reversed(View *v, PyObject *unused) {
    (void)unused;
    return iterate(v->map, v->kind, 1);
}

/* key in keys(); (key, value) in items(); value in values() (a look at every value, as a dict's). */
static int view_contains(View *v, PyObject *x) {
    if (v->kind == KEYS) return idmap_contains(v->map, x);
    if (v->kind == ITEMS) {
        if (!PyTuple_Check(x) || PyTuple_GET_SIZE(x) != 2) return 0;
        PyObject *got = idmap_subscript(v->map, PyTuple_GET_ITEM(x, 0));
        if (got == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_KeyError)) return -1;
            PyErr_Clear();
            return 0;
        }
        int eq = PyObject_RichCompareBool(got, PyTuple_GET_ITEM(x, 1), Py_EQ);
        Py_DECREF(got);
        return eq;
    }
    PyObject *it = view_iter(v), *item;
    if (it == NULL) return -1;
    int found = 0;
    while (!found && (item = PyIter_Next(it)) != NULL) {
        found = PyObject_RichCompareBool(item, x, Py_EQ);
        Py_DECREF(item);
    }
    Py_DECREF(it);
    if (found < 0 || PyErr_Occurred()) return -1;
    return found;
}

static int view_traverse(View *v, visitproc visit, void *arg) {
    Py_VISIT(v->map);
    return 0;
}

static void view_dealloc(View *v) {
    PyObject_GC_UnTrack(v);
    Py_XDECREF(v->map);
    PyObject_GC_Del(v);
}

static PyObject *view_repr(View *v) {
    static const char *names[] = {"keys", "values", "items"};
    PyObject *list = PySequence_List((PyObject *)v);
    if (list == NULL) return NULL;
    PyObject *text = PyUnicode_FromFormat("IdMap_%s(%R)", names[v->kind], list);
    Py_DECREF(list);
    return text;
}

static PyObject *view_mapping(View *v, void *closure) {
    (void)closure;
    return Py_NewRef((PyObject *)v->map);
}

static PyMethodDef view_methods[] = {
    {"__reversed__", (PyCFunction)view_reversed, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef view_getset[] = {
    {"mapping", (getter)view_mapping, NULL, "the IdMap it shows", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods view_as_sequence = {
    .sq_length = (lenfunc)view_length,
    .sq_contains = (objobjproc)view_contains,
};

static PyTypeObject ViewType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sipsniff.correlate._idmap.view",
    .tp_basicsize = sizeof(View),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)view_dealloc,
    .tp_traverse = (traverseproc)view_traverse,
    .tp_repr = (reprfunc)view_repr,
    .tp_as_sequence = &view_as_sequence,
    .tp_iter = (getiterfunc)view_iter,
    .tp_methods = view_methods,
    .tp_getset = view_getset,
};

/* -- the module -------------------------------------------------------------------------------- */

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_idmap", "IdMap: a dict of int keys held as an array.", -1,
    NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__idmap(void) {
    if (PyType_Ready(&IdMapType) < 0 || PyType_Ready(&IterType) < 0 ||
        PyType_Ready(&ViewType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "IdMap", (PyObject *)&IdMapType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
