/* sipsniff.sip._fastsip: the parser's fast path in C (optional; sip/parser.py is the reference).
 *
 * parse(raw, pkt) returns the Message that sip.parser.parse_message(raw, pkt) would return, or
 * None. It answers only for the common, flawless message: a header section of printable ASCII
 * (and HTAB) in CRLF lines ended by an empty line, no folding, the usual start line, each eager
 * header once and in its usual shape (the shapes sip.headers' fast paths take: via_fields,
 * addr_fields, _param_value), a Content-Length equal to the body it has (or none). Such a
 * message has no problems, so nothing here words one. Anything else (any doubt at all) is None,
 * and the Python parser, which handles everything, takes the message. So the rule for changing
 * this file: when it returns a Message, that Message equals the Python parser's, field for field
 * (tests/sip/test_fastsip.py checks it on every message of the corpus and on generated ones).
 *
 * parse(raw, pkt, filed_type, offset, flows), offset >= 0: the same message as a filed_type (a
 * model.FiledMessage class of a capture file), holding offset << 32 | len(raw) (where raw is
 * in that file) instead of raw, its flow instead of pkt (filed_type.flow(pkt), found in flows,
 * filed_type.flows, by the same key when it is there), and pkt's frame, time, source and
 * destination after the Message's fields; what pipeline.stages.Pipeline.filed makes of the
 * Message.
 *
 * headers() and whole_ends() are the stream framer's short way (sip/framing.py: _py_headers and
 * _py_whole_ends are their reference, with the same answers for every input; the tests of
 * tests/sip/test_framing.py hold them to it); frame_whole() its common case, a piece of whole
 * messages (StreamFramer.feed in Python is its reference, held to it by the same tests).
 *
 * setup(message_type, kinds, methods) is called once by sip.parser: the Message class (a
 * NamedTuple, built here as a tuple of that type), the lower-case header names parsed eagerly
 * with their kind numbers (sip.parser._KIND), and the known methods (sip.parser.KNOWN_METHODS).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { K_NONE = 0, K_VIA, K_CALL_ID, K_CSEQ, K_FROM, K_TO, K_CLEN, K_CONTACT, K_DATE, K_MAX };

#define MAX_NAMES 64
#define MAX_NAME_LEN 32
#define MAX_METHODS 64
#define MAX_METHOD_LEN 32
#define N_FIELDS 21
#define N_FILED 4 /* a FiledMessage's frame, ts_ns, src and dst: pkt's first four */
#define N_PAYLOAD 12 /* model.Payload's fields */

/* A filed message's flow (model.FiledMessage.flow): the one in flows by pkt's transport, file,
   stream and gap, when pkt names no other frames; else (or when there is none yet) what
   filed_type.flow(pkt) makes. A new reference, or NULL with an exception. */
static PyObject *flow_of(PyObject *pkt, PyObject *filed_type, PyObject *flows) {
    static const int named[] = {7, 8, 11}; /* first_frame, first_ts_ns, frames */
    PyObject *const *p = &PyTuple_GET_ITEM(pkt, 0);
    int other = 0;
    for (int k = 0; k < 3 && !other; k++) {
        other = PyObject_IsTrue(p[named[k]]);
        if (other < 0)
            return NULL;
    }
    if (!other) {
        PyObject *key = PyTuple_Pack(4, p[4], p[6], p[9], p[10]);
        if (key == NULL)
            return NULL;
        PyObject *flow = PyDict_GetItemWithError(flows, key);
        Py_DECREF(key);
        if (flow != NULL)
            return Py_NewRef(flow);
        if (PyErr_Occurred())
            return NULL;
    }
    return PyObject_CallMethod(filed_type, "flow", "(O)", pkt);
}

static PyTypeObject *message_type = NULL;
static char names[MAX_NAMES][MAX_NAME_LEN];
static Py_ssize_t name_lens[MAX_NAMES];
static int name_kinds[MAX_NAMES];
static int n_names = 0;
static char methods[MAX_METHODS][MAX_METHOD_LEN];
static Py_ssize_t method_lens[MAX_METHODS];
static int n_methods = 0;

typedef struct {
    const char *p;
    Py_ssize_t n;
} span;

static inline int is_token(unsigned char c) {
    /* token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    switch (c) {
    case '-': case '.': case '!': case '%': case '*': case '_': case '+': case '`': case '\'':
    case '~':
        return 1;
    default:
        return 0;
    }
}

static inline int is_alpha(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int is_scheme(unsigned char c) {
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-';
}

static inline unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static inline int is_ws(char c) { return c == ' ' || c == '\t'; }

static span strip(span s) {
    while (s.n && is_ws(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && is_ws(s.p[s.n - 1]))
        s.n--;
    return s;
}

static const char *find_char(span s, char c) {
    return s.n ? (const char *)memchr(s.p, c, (size_t)s.n) : NULL;
}

static int contains(span s, const char *needle, Py_ssize_t k) {
    for (Py_ssize_t i = 0; i + k <= s.n; i++)
        if (memcmp(s.p + i, needle, (size_t)k) == 0)
            return 1;
    return 0;
}

static int starts_ci(span s, Py_ssize_t at, const char *key, Py_ssize_t k) {
    if (at + k > s.n)
        return 0;
    for (Py_ssize_t j = 0; j < k; j++)
        if (lower((unsigned char)s.p[at + j]) != (unsigned char)key[j])
            return 0;
    return 1;
}

/* sip.headers._param_value(params, key) for a key such as ";tag=" (lower case): 1 and the value
 * in *out (out->p NULL: None), or 0 where the Python function would go to parse_params. */
static int param_value(span params, const char *key, span *out) {
    Py_ssize_t k = (Py_ssize_t)strlen(key);
    Py_ssize_t i;
    if (params.n >= k && memcmp(params.p, key, (size_t)k) == 0) {
        i = 0;
    } else {
        /* low.count(key[:-1]): occurrences of the name with its ';' (they cannot overlap) */
        Py_ssize_t count = 0, first_full = -1;
        for (Py_ssize_t j = 0; j + k - 1 <= params.n; j++) {
            if (starts_ci(params, j, key, k - 1)) {
                count++;
                if (first_full < 0 && starts_ci(params, j, key, k))
                    first_full = j;
            }
        }
        if (count == 0) {
            out->p = NULL;
            out->n = 0;
            return 1;
        }
        if (count != 1 || first_full < 0)
            return 0;
        i = first_full;
    }
    i += k;
    span rest = {params.p + i, params.n - i};
    const char *semi = find_char(rest, ';');
    out->p = rest.p;
    out->n = semi ? (Py_ssize_t)(semi - rest.p) : rest.n;
    return 1;
}

/* ((?:;[^; \t"<>]+)*)\Z from s.p[at]: 1 when the rest of s is such parameters. */
static int all_params(span s, Py_ssize_t at) {
    Py_ssize_t i = at;
    while (i < s.n) {
        if (s.p[i] != ';')
            return 0;
        i++;
        Py_ssize_t begin = i;
        while (i < s.n) {
            char c = s.p[i];
            if (c == ';' || c == ' ' || c == '\t' || c == '"' || c == '<' || c == '>')
                break;
            i++;
        }
        if (i == begin)
            return 0;
    }
    return 1;
}

typedef struct {
    span uri, display, tag; /* tag.p NULL: None */
} addr;

/* sip.headers.addr_fields(value) where the pattern NAME_ADDR_SIMPLE matches (1), else 0. */
static int addr_fields(span v, addr *a) {
    Py_ssize_t i = 0;
    span display = {v.p, 0};
    span params;
    if (v.n && (v.p[0] == '"' || v.p[0] == '<' || is_token((unsigned char)v.p[0]) ||
                is_ws(v.p[0]))) {
        /* (?:"([^"\\]*)"[ \t]* | (token++(?:[ \t]++token++)*+)?[ \t]*) <([^<>" \t]+)> params */
        int ok = 1;
        if (v.p[0] == '"') {
            Py_ssize_t j = 1;
            while (j < v.n && v.p[j] != '"' && v.p[j] != '\\')
                j++;
            if (j >= v.n || v.p[j] != '"')
                ok = 0;
            else {
                display.p = v.p + 1;
                display.n = j - 1;
                i = j + 1;
            }
        } else if (is_token((unsigned char)v.p[0])) {
            Py_ssize_t j = 0;
            Py_ssize_t end = 0;
            while (j < v.n && is_token((unsigned char)v.p[j]))
                j++;
            end = j;
            for (;;) {
                Py_ssize_t k = j;
                while (k < v.n && is_ws(v.p[k]))
                    k++;
                if (k == j || k >= v.n || !is_token((unsigned char)v.p[k]))
                    break;
                while (k < v.n && is_token((unsigned char)v.p[k]))
                    k++;
                j = end = k;
            }
            display.n = end;
            i = end;
        }
        if (ok) {
            while (i < v.n && is_ws(v.p[i]))
                i++;
            if (i < v.n && v.p[i] == '<') {
                Py_ssize_t u = i + 1, j = u;
                while (j < v.n) {
                    char c = v.p[j];
                    if (c == '<' || c == '>' || c == '"' || c == ' ' || c == '\t')
                        break;
                    j++;
                }
                if (j > u && j < v.n && v.p[j] == '>' && all_params(v, j + 1)) {
                    a->uri.p = v.p + u;
                    a->uri.n = j - u;
                    a->display = display;
                    params.p = v.p + j + 1;
                    params.n = v.n - (j + 1);
                    if (params.n == 0) {
                        a->tag.p = NULL;
                        a->tag.n = 0;
                        return 1;
                    }
                    return param_value(params, ";tag=", &a->tag);
                }
            }
        }
    }
    /* ([A-Za-z][A-Za-z0-9+.\-]*:[^<>" \t;,?]+) params */
    if (!v.n || !is_alpha((unsigned char)v.p[0]))
        return 0;
    Py_ssize_t j = 1;
    while (j < v.n && is_scheme((unsigned char)v.p[j]))
        j++;
    if (j >= v.n || v.p[j] != ':')
        return 0;
    j++;
    Py_ssize_t b = j;
    while (j < v.n) {
        char c = v.p[j];
        if (c == '<' || c == '>' || c == '"' || c == ' ' || c == '\t' || c == ';' || c == ',' ||
            c == '?')
            break;
        j++;
    }
    if (j == b || !all_params(v, j))
        return 0;
    a->uri.p = v.p;
    a->uri.n = j;
    a->display.p = v.p;
    a->display.n = 0;
    params.p = v.p + j;
    params.n = v.n - j;
    if (params.n == 0) {
        a->tag.p = NULL;
        a->tag.n = 0;
        return 1;
    }
    return param_value(params, ";tag=", &a->tag);
}

/* sip.headers.via_fields on its fast shape: 1 with sent_by (to be lower-cased) and branch. */
static int via_fields(span v, span *sent_by, span *branch) {
    if (v.n < 8 || memcmp(v.p, "SIP/2.0/", 8) != 0 || find_char(v, '\t') || find_char(v, '"'))
        return 0;
    span after = {v.p + 8, v.n - 8};
    const char *spp = find_char(after, ' ');
    if (spp == NULL)
        return 0;
    Py_ssize_t sp = spp - v.p;
    if (sp <= 8)
        return 0;
    span tail = {v.p + sp, v.n - sp};
    const char *semip = find_char(tail, ';');
    Py_ssize_t semi = semip ? semip - v.p : v.n;
    span sb = {v.p + sp + 1, semi - sp - 1};
    span params = {v.p + semi, v.n - semi};
    if (sb.n <= 0 || find_char(sb, ' ') || find_char(params, ' ') || contains(params, ";;", 2) ||
        (params.n && params.p[params.n - 1] == ';'))
        return 0;
    *sent_by = sb;
    if (params.n == 0) {
        branch->p = NULL;
        branch->n = 0;
        return 1;
    }
    return param_value(params, ";branch=", branch);
}

static int header_kind(span name) {
    while (name.n && is_ws(name.p[name.n - 1]))
        name.n--;
    if (name.n == 0 || name.n >= MAX_NAME_LEN)
        return K_NONE;
    char low[MAX_NAME_LEN];
    for (Py_ssize_t i = 0; i < name.n; i++)
        low[i] = (char)lower((unsigned char)name.p[i]);
    for (int i = 0; i < n_names; i++)
        if (name_lens[i] == name.n && memcmp(names[i], low, (size_t)name.n) == 0)
            return name_kinds[i];
    return K_NONE;
}

static int known_method(span m) {
    for (int i = 0; i < n_methods; i++)
        if (method_lens[i] == m.n && memcmp(methods[i], m.p, (size_t)m.n) == 0)
            return 1;
    return 0;
}

static PyObject *str_of(span s) { return PyUnicode_DecodeASCII(s.p, s.n, NULL); }

/* The strings made last, by a hash of their text: a dialog repeats its Call-ID, tags, URIs and
 * sent-by in every message, a capture its methods and reasons, so most fields are found here and
 * shared instead of made, hashed and interned again. (The fields the Python parser interns are
 * interned here too; a Request-URI or a branch, which it does not intern, may be shared all the
 * same: that changes no value.) */
#define CACHE_SIZE 4096
static PyObject *cache[CACHE_SIZE];

static PyObject *shared(span s, int intern) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (Py_ssize_t i = 0; i < s.n; i++)
        h = (h ^ (unsigned char)s.p[i]) * 1099511628211ULL;
    size_t slot = (size_t)(h ^ (h >> 32)) & (CACHE_SIZE - 1);
    PyObject *hit = cache[slot];
    PyObject *o;
    if (hit != NULL && PyUnicode_GET_LENGTH(hit) == s.n &&
        memcmp(PyUnicode_1BYTE_DATA(hit), s.p, (size_t)s.n) == 0) {
        if (!intern || PyUnicode_CHECK_INTERNED(hit))
            return Py_NewRef(hit);
        /* made for a field that is not interned (a Request-URI), asked for one that is (the
         * same text as a From URI): interned now, and kept so */
        o = Py_NewRef(hit);
    } else {
        o = str_of(s);
        if (o == NULL)
            return NULL;
    }
    if (intern)
        PyUnicode_InternInPlace(&o);
    Py_XSETREF(cache[slot], Py_NewRef(o));
    return o;
}

static PyObject *interned(span s) { return shared(s, 1); }

static PyObject *lower_interned(span s) {
    char buf[256];
    char *p = s.n <= (Py_ssize_t)sizeof buf ? buf : PyMem_Malloc((size_t)s.n);
    if (p == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < s.n; i++)
        p[i] = (char)lower((unsigned char)s.p[i]);
    span l = {p, s.n};
    PyObject *o = interned(l);
    if (p != buf)
        PyMem_Free(p);
    return o;
}

/* A tag: None when absent, "" as is, otherwise interned. */
static PyObject *tag_of(span t) {
    if (t.p == NULL)
        Py_RETURN_NONE;
    return t.n ? interned(t) : str_of(t);
}

/* An int under SMALL_INTS as one shared object (Content-Length and body offsets repeat over a
   capture: one object each instead of one per message). */
#define SMALL_INTS 4096
static PyObject *small_ints[SMALL_INTS];

static PyObject *small_int(Py_ssize_t v) {
    if (v < 0 || v >= SMALL_INTS)
        return PyLong_FromSsize_t(v);
    if (small_ints[v] == NULL) {
        small_ints[v] = PyLong_FromSsize_t(v);
        if (small_ints[v] == NULL)
            return NULL;
    }
    return Py_NewRef(small_ints[v]);
}

/* A filed message's place, offset << 32 | length, as a Python int of any size (a capture file
   may be larger than 2 GiB: the shift would not fit 64 bits). */
static PyObject *place_of(long long offset, Py_ssize_t length) {
    if (offset < ((long long)1 << 30))
        return PyLong_FromLongLong((offset << 32) | (long long)length);
    PyObject *start = PyLong_FromLongLong(offset);
    PyObject *bits = PyLong_FromLong(32);
    PyObject *len = PyLong_FromSsize_t(length);
    PyObject *shifted = (start && bits) ? PyNumber_Lshift(start, bits) : NULL;
    PyObject *place = (shifted && len) ? PyNumber_Or(shifted, len) : NULL;
    Py_XDECREF(start);
    Py_XDECREF(bits);
    Py_XDECREF(len);
    Py_XDECREF(shifted);
    return place;
}

static PyObject *parse(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if ((nargs != 2 && nargs != 5) || !PyBytes_Check(args[0]) || !PyTuple_Check(args[1]) ||
        PyTuple_GET_SIZE(args[1]) != N_PAYLOAD || (nargs == 5 && !PyDict_Check(args[4]))) {
        PyErr_SetString(PyExc_TypeError,
                        "parse(raw: bytes, pkt: Payload[, filed_type, offset, flows: dict])");
        return NULL;
    }
    if (message_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_fastsip.setup was not called");
        return NULL;
    }
    /* Filed (model.FiledMessage): the message of that type holds the place of its bytes in
       its capture file, offset << 32 | length, instead of the bytes, and the flow instead of
       pkt, then pkt's first fields. */
    PyTypeObject *type = message_type;
    long long offset = -1;
    if (nargs == 5) {
        if (!PyType_Check(args[2]) || !PyType_IsSubtype((PyTypeObject *)args[2], message_type)) {
            PyErr_SetString(PyExc_TypeError, "parse: filed_type must be a Message type");
            return NULL;
        }
        offset = PyLong_AsLongLong(args[3]);
        if (offset == -1 && PyErr_Occurred())
            return NULL;
        if (offset >= 0)
            type = (PyTypeObject *)args[2];
    }
    PyObject *raw = args[0];
    const char *data = PyBytes_AS_STRING(raw);
    Py_ssize_t total = PyBytes_GET_SIZE(raw);
    if (total == 0 || !((unsigned char)data[0] >= 0x21 && (unsigned char)data[0] <= 0x7E))
        Py_RETURN_NONE;

    /* The header section: printable ASCII and HTAB in CRLF lines, up to the first empty line. */
    Py_ssize_t head_end = -1;
    for (Py_ssize_t i = 0; i < total; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c >= 0x20 && c <= 0x7E)
            continue;
        if (c == '\t')
            continue;
        if (c == '\r' && i + 1 < total && data[i + 1] == '\n') {
            if (i + 2 < total && (data[i + 2] == ' ' || data[i + 2] == '\t'))
                Py_RETURN_NONE; /* folded line */
            if (i + 3 < total && data[i + 2] == '\r' && data[i + 3] == '\n') {
                head_end = i;
                break;
            }
            i++;
            continue;
        }
        Py_RETURN_NONE;
    }
    if (head_end < 0)
        Py_RETURN_NONE;
    Py_ssize_t body_start = head_end + 4;

    /* -- start line -- */
    const char *eol = memchr(data, '\r', (size_t)head_end);
    span first = {data, eol ? eol - data : head_end};
    span method = {NULL, 0}, ruri = {NULL, 0}, reason = {NULL, 0};
    int status = -1;
    if (first.n >= 12 && memcmp(first.p, "SIP/2.0 ", 8) == 0 && first.p[8] >= '0' &&
        first.p[8] <= '9' && first.p[9] >= '0' && first.p[9] <= '9' && first.p[10] >= '0' &&
        first.p[10] <= '9' && first.p[11] == ' ') {
        status = (first.p[8] - '0') * 100 + (first.p[9] - '0') * 10 + (first.p[10] - '0');
        if (status < 100 || status > 699)
            Py_RETURN_NONE;
        span r = {first.p + 12, first.n - 12};
        reason = strip(r);
    } else {
        if (starts_ci(first, 0, "sip/", 4) || find_char(first, '\t'))
            Py_RETURN_NONE;
        const char *sp1 = find_char(first, ' ');
        if (sp1 == NULL)
            Py_RETURN_NONE;
        span rest = {sp1 + 1, first.n - (sp1 + 1 - first.p)};
        const char *sp2 = find_char(rest, ' ');
        if (sp2 == NULL)
            Py_RETURN_NONE;
        span version = {sp2 + 1, rest.n - (sp2 + 1 - rest.p)};
        method.p = first.p;
        method.n = sp1 - first.p;
        ruri.p = rest.p;
        ruri.n = sp2 - rest.p;
        if (version.n != 7 || memcmp(version.p, "SIP/2.0", 7) != 0 || method.n == 0 ||
            ruri.n == 0 || !known_method(method) || ruri.p[0] == '<' || find_char(ruri, '?'))
            Py_RETURN_NONE;
    }

    /* -- the eager headers, each once -- */
    span vals[K_MAX];
    int seen[K_MAX] = {0};
    Py_ssize_t pos = first.n + 2;
    while (pos < head_end + 2) {
        const char *e = memchr(data + pos, '\r', (size_t)(head_end + 2 - pos));
        Py_ssize_t line_end = e ? e - data : head_end;
        if (line_end > head_end)
            line_end = head_end;
        span line = {data + pos, line_end - pos};
        pos = line_end + 2;
        const char *colon = find_char(line, ':');
        if (colon == NULL)
            Py_RETURN_NONE;
        span name = {line.p, colon - line.p};
        int kind = header_kind(name);
        if (kind == K_NONE)
            continue;
        span value = {colon + 1, line.n - (colon + 1 - line.p)};
        if (kind == K_VIA) {
            if (!seen[K_VIA]) {
                seen[K_VIA] = 1;
                vals[K_VIA] = strip(value);
            }
            continue;
        }
        if (kind == K_CONTACT) {
            if (find_char(value, '?') && !find_char(value, '<'))
                Py_RETURN_NONE;
            continue;
        }
        if (kind == K_DATE) {
            span d = strip(value);
            if (d.n < 3 || memcmp(d.p + d.n - 3, "GMT", 3) != 0)
                Py_RETURN_NONE;
            continue;
        }
        if (seen[kind])
            Py_RETURN_NONE; /* repeated: a problem */
        seen[kind] = 1;
        vals[kind] = strip(value);
    }
    if (!seen[K_CALL_ID] || !seen[K_CSEQ] || !seen[K_VIA] || !seen[K_FROM] || !seen[K_TO])
        Py_RETURN_NONE;
    if (vals[K_CALL_ID].n == 0)
        Py_RETURN_NONE;

    /* CSeq: exactly "number method" */
    span cs = vals[K_CSEQ];
    Py_ssize_t i = 0;
    while (i < cs.n && cs.p[i] >= '0' && cs.p[i] <= '9')
        i++;
    if (i == 0 || i > 10 || i >= cs.n || !is_ws(cs.p[i]))
        Py_RETURN_NONE;
    unsigned long long cseq_num = 0;
    for (Py_ssize_t j = 0; j < i; j++)
        cseq_num = cseq_num * 10 + (unsigned long long)(cs.p[j] - '0');
    if (cseq_num > 0xFFFFFFFFULL)
        Py_RETURN_NONE;
    while (i < cs.n && is_ws(cs.p[i]))
        i++;
    span cseq_method = {cs.p + i, cs.n - i};
    for (Py_ssize_t j = 0; j < cseq_method.n; j++)
        if (is_ws(cseq_method.p[j]))
            Py_RETURN_NONE;
    if (method.p != NULL &&
        (cseq_method.n != method.n || memcmp(cseq_method.p, method.p, (size_t)method.n) != 0))
        Py_RETURN_NONE;

    /* Via: the first of the first header */
    span via = vals[K_VIA];
    if (find_char(via, '"'))
        Py_RETURN_NONE;
    const char *comma = find_char(via, ',');
    if (comma)
        via.n = comma - via.p;
    span sent_by, branch;
    if (!via_fields(via, &sent_by, &branch))
        Py_RETURN_NONE;
    if (branch.p != NULL && branch.n == 7 && memcmp(branch.p, "z9hG4bK", 7) == 0)
        Py_RETURN_NONE;

    addr from, to;
    if (!addr_fields(vals[K_FROM], &from) || !addr_fields(vals[K_TO], &to))
        Py_RETURN_NONE;

    /* Content-Length: absent, or the length of the body as it is */
    long content_length = -1;
    if (seen[K_CLEN]) {
        span cl = vals[K_CLEN];
        if (cl.n == 0 || cl.n >= 10)
            Py_RETURN_NONE;
        content_length = 0;
        for (Py_ssize_t j = 0; j < cl.n; j++) {
            if (cl.p[j] < '0' || cl.p[j] > '9')
                Py_RETURN_NONE;
            content_length = content_length * 10 + (cl.p[j] - '0');
        }
        if (content_length != total - body_start)
            Py_RETURN_NONE;
    }

    /* -- the Message -- */
    PyObject *flow = offset >= 0 ? flow_of(args[1], args[2], args[4]) : Py_NewRef(args[1]);
    if (flow == NULL)
        return NULL;
    Py_ssize_t n = offset >= 0 ? N_FIELDS + N_FILED : N_FIELDS;
    PyObject *f[N_FIELDS + N_FILED] = {NULL};
    f[0] = flow;
    for (Py_ssize_t k = N_FIELDS; k < n; k++)
        f[k] = Py_NewRef(PyTuple_GET_ITEM(args[1], k - N_FIELDS));
    f[1] = offset >= 0 ? place_of(offset, total) : Py_NewRef(raw);
    if (status < 0) {
        f[2] = interned(method);
        f[3] = shared(ruri, 0);
        f[4] = Py_NewRef(Py_None);
        f[5] = Py_NewRef(Py_None);
    } else {
        f[2] = Py_NewRef(Py_None);
        f[3] = Py_NewRef(Py_None);
        f[4] = PyLong_FromLong(status);
        f[5] = reason.n ? interned(reason) : str_of(reason);
    }
    f[6] = interned(vals[K_CALL_ID]);
    f[7] = PyLong_FromUnsignedLongLong(cseq_num);
    f[8] = interned(cseq_method);
    f[9] = branch.p == NULL ? Py_NewRef(Py_None) : shared(branch, 0);
    f[10] = lower_interned(sent_by);
    f[11] = interned(from.uri);
    f[12] = interned(from.display);
    f[13] = tag_of(from.tag);
    f[14] = interned(to.uri);
    f[15] = interned(to.display);
    f[16] = tag_of(to.tag);
    f[17] = content_length < 0 ? Py_NewRef(Py_None) : small_int(content_length);
    f[18] = small_int(body_start);
    f[19] = Py_NewRef(Py_False);
    f[20] = PyTuple_New(0);
    PyObject *msg = NULL;
    for (Py_ssize_t k = 0; k < n; k++)
        if (f[k] == NULL)
            goto done;
    msg = type->tp_alloc(type, n);
    if (msg == NULL)
        goto done;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyTuple_SET_ITEM(msg, k, f[k]);
        f[k] = NULL;
    }
done:
    for (Py_ssize_t k = 0; k < n; k++)
        Py_XDECREF(f[k]);
    return msg;
}

static PyObject *setup(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *type, *kinds, *known;
    if (!PyArg_ParseTuple(args, "O!O!O:setup", &PyType_Type, &type, &PyDict_Type, &kinds, &known))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "setup: the message type must be a tuple type");
        return NULL;
    }
    n_names = 0;
    PyObject *key, *value;
    Py_ssize_t it = 0;
    while (PyDict_Next(kinds, &it, &key, &value)) {
        long kind = PyLong_AsLong(value);
        if (kind == -1 && PyErr_Occurred())
            return NULL;
        if (kind <= K_NONE || kind >= K_MAX)
            continue;
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(key, &n);
        if (s == NULL)
            return NULL;
        if (n >= MAX_NAME_LEN || n_names >= MAX_NAMES) {
            PyErr_SetString(PyExc_ValueError, "setup: too many or too long header names");
            return NULL;
        }
        memcpy(names[n_names], s, (size_t)n);
        name_lens[n_names] = n;
        name_kinds[n_names] = (int)kind;
        n_names++;
    }
    n_methods = 0;
    PyObject *iter = PyObject_GetIter(known);
    if (iter == NULL)
        return NULL;
    PyObject *item;
    while ((item = PyIter_Next(iter)) != NULL) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(item, &n);
        if (s == NULL || n >= MAX_METHOD_LEN || n_methods >= MAX_METHODS) {
            Py_DECREF(item);
            Py_DECREF(iter);
            if (s != NULL)
                PyErr_SetString(PyExc_ValueError, "setup: too many or too long methods");
            return NULL;
        }
        memcpy(methods[n_methods], s, (size_t)n);
        method_lens[n_methods] = n;
        n_methods++;
        Py_DECREF(item);
    }
    Py_DECREF(iter);
    if (PyErr_Occurred())
        return NULL;
    Py_XSETREF(message_type, (PyTypeObject *)Py_NewRef(type));
    Py_RETURN_NONE;
}

/* -- framing (sip/framing.py is the reference; tests/sip/test_framing.py compares) ---------- */

/* framing._CONTENT_LENGTH.search(b, pos, hdr): the first line (from pos) that starts with
 * "Content-Length" (any case) or "l", blanks, ":"; its value is the rest of the line, or of the
 * next when that is a continuation (blanks first), stripped. Its value when 1 to 12 digits, else
 * -1 (no such header, or a value StreamFramer._content_length counts as bad). */
static long long other_length(const unsigned char *b, Py_ssize_t pos, Py_ssize_t hdr) {
    static const char name[] = "content-length";
    const Py_ssize_t nlen = (Py_ssize_t)(sizeof(name) - 1);
    Py_ssize_t i, j, e, n;
    long long value;
    for (i = pos; i < hdr; i++) {
        if (i && b[i - 1] != '\n') continue;
        j = -1;
        if ((b[i] | 0x20) == 'c' && hdr - i >= nlen) {
            for (n = 0; n < nlen; n++) { /* any case: ASCII letters only ("-" is "-") */
                unsigned char c = b[i + n];
                if ((name[n] == '-' ? c : (unsigned char)(c | 0x20)) != (unsigned char)name[n])
                    break;
            }
            if (n == nlen) j = i + nlen;
        } else if ((b[i] | 0x20) == 'l') {
            j = i + 1;
        }
        if (j < 0) continue;
        while (j < hdr && (b[j] == ' ' || b[j] == '\t')) j++;
        if (j >= hdr || b[j] != ':') continue;
        for (j++; j < hdr && (b[j] == ' ' || b[j] == '\t');) j++;
        e = j;
        if (e < hdr && b[e] == '\r') e++;
        if (e < hdr && b[e] == '\n' && e + 1 < hdr && (b[e + 1] == ' ' || b[e + 1] == '\t'))
            j = e + 1; /* a continuation line */
        for (e = j; e < hdr && b[e] != '\r' && b[e] != '\n';) e++;
        /* bytes.strip(): the value cannot hold CR or LF */
        while (j < e && (b[j] == ' ' || b[j] == '\t' || b[j] == 0x0b || b[j] == 0x0c)) j++;
        while (e > j && (b[e - 1] == ' ' || b[e - 1] == '\t' || b[e - 1] == 0x0b ||
                         b[e - 1] == 0x0c))
            e--;
        if (e == j || e - j > 12) return -1;
        for (value = 0; j < e; j++) {
            if (b[j] < '0' || b[j] > '9') return -1;
            value = value * 10 + (b[j] - '0');
        }
        return value;
    }
    return -1;
}

/* The end of the headers of the message at pos, searched from start to end (< len): the first LF
 * followed by LF or by CR LF; *hdr is the end of the last header line (before its CR when there is
 * one, and not before start), *body the offset after the empty line; both -1 when not found.
 * Then *length: the value of the first "\nContent-Length: " in pos..hdr when digits (1 to 12)
 * follow it at once and then blanks up to the end of the line (looked for up to len); else that
 * of other_length. */
static void scan_headers(const unsigned char *b, Py_ssize_t len, Py_ssize_t pos, Py_ssize_t start,
                         Py_ssize_t end, Py_ssize_t *hdr, Py_ssize_t *body, long long *length) {
    static const char needle[] = "\nContent-Length: ";
    const Py_ssize_t nlen = (Py_ssize_t)(sizeof(needle) - 1);
    Py_ssize_t i, k, digits;
    int found = 0;
    *hdr = *body = -1;
    *length = -1;
    for (i = start; i + 1 < end; i++) {
        const unsigned char *lf = memchr(b + i, '\n', (size_t)(end - 1 - i));
        if (lf == NULL) break;
        i = lf - b;
        if (b[i + 1] == '\n') { /* LF LF, CR LF LF */
            *hdr = (i > start && b[i - 1] == '\r') ? i - 1 : i;
            *body = i + 2;
            break;
        }
        if (b[i + 1] == '\r' && i + 2 < end && b[i + 2] == '\n') { /* LF CR LF, CR LF CR LF */
            *hdr = (i > start && b[i - 1] == '\r') ? i - 1 : i;
            *body = i + 3;
            break;
        }
    }
    if (*hdr < 0) return;
    for (k = pos; k + nlen <= *hdr; k++) {
        const unsigned char *lf = memchr(b + k, '\n', (size_t)(*hdr - nlen + 1 - k));
        if (lf == NULL) break;
        k = lf - b;
        if (memcmp(b + k, needle, (size_t)nlen) == 0) {
            found = 1;
            break;
        }
    }
    if (found) {
        i = k + nlen;
        for (digits = 0; i < len && digits <= 12 && b[i] >= '0' && b[i] <= '9'; i++) digits++;
        if (digits >= 1 && digits <= 12) {
            Py_ssize_t j = i;
            while (j < len && (b[j] == ' ' || b[j] == '\t')) j++;
            if (j < len && b[j] == '\r') j++;
            if (j < len && b[j] == '\n') {
                *length = 0;
                for (j = k + nlen; j < i; j++) *length = *length * 10 + (b[j] - '0');
                return;
            }
        }
    }
    *length = other_length(b, pos, *hdr);
}

static inline int is_blank(unsigned char c) { return c == ' ' || c == '\t'; }
static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* After "SIP/" 1*DIGIT "." 1*DIGIT ("SIP" in any case) at i, or -1. */
static Py_ssize_t version_end(const unsigned char *b, Py_ssize_t i, Py_ssize_t end) {
    Py_ssize_t d;
    if (end - i < 7 || (b[i] | 0x20) != 's' || (b[i + 1] | 0x20) != 'i' ||
        (b[i + 2] | 0x20) != 'p' || b[i + 3] != '/')
        return -1;
    for (i += 4, d = i; i < end && is_digit(b[i]);) i++;
    if (i == d || i >= end || b[i] != '.') return -1;
    for (i++, d = i; i < end && is_digit(b[i]);) i++;
    return i == d ? -1 : i;
}

/* Whether the line b[s:eol + 1] (b[eol] the only LF in it) matches framing._START_LINE. */
static int start_line(const unsigned char *b, Py_ssize_t s, Py_ssize_t eol) {
    Py_ssize_t end = eol, i, t, r, v, w;
    if (end > s && b[end - 1] == '\r') end--; /* \r? \n */
    for (i = s; i < end; i++)
        if (b[i] == '\r') return 0; /* nothing else takes a CR */
    /* Status-Line: SIP-Version 1*(SP/HTAB) 3DIGIT [(SP/HTAB) *(not CR LF)] */
    v = version_end(b, s, end);
    if (v > s && v < end && is_blank(b[v])) {
        for (i = v; i < end && is_blank(b[i]);) i++;
        if (end - i >= 3 && is_digit(b[i]) && is_digit(b[i + 1]) && is_digit(b[i + 2]) &&
            (i + 3 == end || is_blank(b[i + 3])))
            return 1;
    }
    /* Request-Line: token 1*(SP/HTAB) 1*(not CR LF) 1*(SP/HTAB) SIP-Version *(SP/HTAB): the
     * version ends at the last non-blank; the token is the run of token characters at the start,
     * followed by a blank; a blank ends the part before the version, one character at least
     * between the two blanks. */
    for (t = s; t < end && is_token(b[t]);) t++;
    if (t == s) return 0;
    for (r = end; r > s && is_blank(b[r - 1]);) r--;
    for (w = r; w > s && is_digit(b[w - 1]);) w--;
    if (w == r || w - 1 <= s || b[w - 1] != '.') return 0;
    for (r = --w; w > s && is_digit(b[w - 1]);) w--;
    if (w == r || w - 4 < s || b[w - 1] != '/' || (b[w - 2] | 0x20) != 'p' ||
        (b[w - 3] | 0x20) != 'i' || (b[w - 4] | 0x20) != 's')
        return 0;
    w -= 4; /* where the version starts */
    return w >= t + 3 && is_blank(b[t]) && is_blank(b[w - 1]);
}

static int get_buffer(PyObject *obj, Py_buffer *view) {
    return PyObject_GetBuffer(obj, view, PyBUF_SIMPLE);
}

/* headers(buf, pos, start, end) -> (hdr, body, length): framing._py_headers. */
/* looks_like_sip(data) -> bool: sip.parser._py_looks_like_sip, the same answer for every input
 * (tests/sip/test_fastsip.py compares them). After the CR and LF it may start with, data must
 * start with a visible ASCII character, and its first line (up to its first LF) must match
 * grammar.START_LINE_BYTES at its start:
 *   SIP/[0-9][^ \t\r\n]*+[ \t]++[0-9]                  a status line, or
 *   [!-~\x80-\xff]++[ \t]++[^\r\n]*[ \t]SIP/            a request line: a token, blanks, then
 *                                                        " SIP/" before any CR. */
static inline int is_visible(unsigned char c) { return (c >= 0x21 && c <= 0x7E) || c >= 0x80; }

static int start_line_bytes(const unsigned char *b, Py_ssize_t s, Py_ssize_t e) {
    Py_ssize_t i;
    if (e - s >= 5 && memcmp(b + s, "SIP/", 4) == 0 && is_digit(b[s + 4])) {
        for (i = s + 5; i < e && !is_blank(b[i]) && b[i] != '\r' && b[i] != '\n'; i++)
            ;
        if (i < e && is_blank(b[i])) {
            while (i < e && is_blank(b[i])) i++;
            if (i < e && is_digit(b[i])) return 1;
        }
    }
    for (i = s; i < e && is_visible(b[i]); i++)
        ;
    if (i == s || i >= e || !is_blank(b[i])) return 0;
    while (i < e && is_blank(b[i])) i++;
    for (; i + 5 <= e && b[i] != '\r'; i++)
        if (is_blank(b[i]) && memcmp(b + i + 1, "SIP/", 4) == 0) return 1;
    return 0;
}

static PyObject *looks_like_sip(PyObject *self, PyObject *data) {
    Py_buffer view;
    (void)self;
    if (get_buffer(data, &view) < 0) return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t n = view.len, s = 0, e;
    int yes = 0;
    while (s < n && (b[s] == '\r' || b[s] == '\n')) s++;
    if (s < n && b[s] >= 0x21 && b[s] <= 0x7E) {
        const unsigned char *lf = memchr(b + s, '\n', (size_t)(n - s));
        e = lf == NULL ? n : lf - b;
        yes = start_line_bytes(b, s, e);
    }
    PyBuffer_Release(&view);
    return PyBool_FromLong(yes);
}

static PyObject *headers(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer view;
    Py_ssize_t pos, start, end, hdr, body;
    long long length;
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "headers(buf, pos, start, end)");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    start = PyLong_AsSsize_t(args[2]);
    end = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred()) return NULL;
    if (start < 0 || pos < 0 || pos > start) {
        PyErr_SetString(PyExc_ValueError, "headers: 0 <= pos <= start");
        return NULL;
    }
    if (get_buffer(args[0], &view) < 0) return NULL;
    if (end > view.len) end = view.len;
    scan_headers((const unsigned char *)view.buf, view.len, pos, start, end, &hdr, &body, &length);
    PyBuffer_Release(&view);
    return Py_BuildValue("(nnL)", hdr, body, length);
}

/* Where the message at pos ends that framing._py_whole_ends would take (whole in b[:n], a start
 * line, the end of its headers, a Content-Length in its usual spelling, within max_message); -1
 * when there is none. */
static Py_ssize_t whole_end(const unsigned char *b, Py_ssize_t n, Py_ssize_t pos,
                            Py_ssize_t max_message, Py_ssize_t max_line) {
    Py_ssize_t hdr, body, end;
    long long length;
    const unsigned char *lf;
    if (pos >= n || b[pos] == '\r' || b[pos] == '\n') return -1;
    lf = memchr(b + pos, '\n', (size_t)(max_line < n - pos ? max_line : n - pos));
    if (lf == NULL || !start_line(b, pos, lf - b)) return -1;
    scan_headers(b, n, pos, lf - b, n, &hdr, &body, &length);
    if (hdr < 0 || body - pos > max_message || length < 0) return -1;
    end = body + (Py_ssize_t)length;
    if (end - pos > max_message || end > n) return -1;
    return end;
}

/* whole_ends(buf, pos, max_message, max_line) -> list of ends: framing._py_whole_ends. */
static PyObject *whole_ends(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer view;
    Py_ssize_t pos, max_message, max_line, n, end;
    const unsigned char *b;
    PyObject *ends, *item;
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "whole_ends(buf, pos, max_message, max_line)");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    max_message = PyLong_AsSsize_t(args[2]);
    max_line = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred()) return NULL;
    if (pos < 0 || max_line < 0) {
        PyErr_SetString(PyExc_ValueError, "whole_ends: pos and max_line not negative");
        return NULL;
    }
    if (get_buffer(args[0], &view) < 0) return NULL;
    ends = PyList_New(0);
    if (ends == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    b = (const unsigned char *)view.buf;
    n = view.len;
    while ((end = whole_end(b, n, pos, max_message, max_line)) >= 0) {
        item = PyLong_FromSsize_t(end);
        if (item == NULL || PyList_Append(ends, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(ends);
            PyBuffer_Release(&view);
            return NULL;
        }
        Py_DECREF(item);
        pos = end;
    }
    PyBuffer_Release(&view);
    return ends;
}

static PyObject *zero_int = NULL;

/* frame_whole(piece, max_message, max_line, gap, payload_type) -> [(msg, origin)] | None: what
 * StreamFramer.feed hands back for a piece (a model.Payload of a stream, its data bytes) when
 * nothing is under way in its framer and the piece is whole messages from its first byte to its
 * last, each as framing._py_whole_ends takes them: each message's bytes (the piece's own when it
 * is one message) and its origin, a payload_type as StreamFramer._put makes it (gap: the
 * framer's, for the first message). None otherwise: then the Python code frames it. */
static PyObject *frame_whole(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *piece, *data, *out, *msg = NULL, *origin, *pair;
    PyTypeObject *type;
    Py_ssize_t max_message, max_line, n, pos, end, count = 0;
    Py_ssize_t ends[64];
    const unsigned char *b;
    int gap, own_first;
    (void)self;
    if (nargs != 5 || !PyTuple_Check(args[0]) || PyTuple_GET_SIZE(args[0]) != N_PAYLOAD ||
        !PyType_Check(args[4]) || !PyType_IsSubtype((PyTypeObject *)args[4], &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError,
                        "frame_whole(piece, max_message, max_line, gap, payload_type)");
        return NULL;
    }
    piece = args[0];
    type = (PyTypeObject *)args[4];
    max_message = PyLong_AsSsize_t(args[1]);
    max_line = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) return NULL;
    if ((gap = PyObject_IsTrue(args[3])) < 0) return NULL;
    data = PyTuple_GET_ITEM(piece, 5);
    if (!PyBytes_CheckExact(data) || max_line < 0) Py_RETURN_NONE;
    b = (const unsigned char *)PyBytes_AS_STRING(data);
    n = PyBytes_GET_SIZE(data);
    for (pos = 0; pos < n; pos = end) {
        if (count == (Py_ssize_t)(sizeof ends / sizeof ends[0])) Py_RETURN_NONE; /* Python's */
        if ((end = whole_end(b, n, pos, max_message, max_line)) < 0) Py_RETURN_NONE;
        ends[count++] = end;
    }
    if (count == 0) Py_RETURN_NONE;
    /* the first message's first frame: the piece's, unless it is none or the piece's frame */
    PyObject *const *p = &PyTuple_GET_ITEM(piece, 0);
    own_first = PyObject_IsTrue(p[7]);
    if (own_first < 0) return NULL;
    if (own_first) {
        own_first = PyObject_RichCompareBool(p[7], p[0], Py_NE);
        if (own_first < 0) return NULL;
    }
    if (zero_int == NULL && (zero_int = PyLong_FromLong(0)) == NULL) return NULL;
    if ((out = PyList_New(count)) == NULL) return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t start = i ? ends[i - 1] : 0;
        if (start == 0 && ends[i] == n)
            msg = Py_NewRef(data);
        else if ((msg = PyBytes_FromStringAndSize((const char *)b + start, ends[i] - start)) == NULL)
            goto error;
        if ((origin = type->tp_alloc(type, N_PAYLOAD)) == NULL) goto error;
        for (int k = 0; k < N_PAYLOAD; k++) {
            PyObject *v = p[k];
            if (k == 5)
                v = msg;
            else if (k == 7 || k == 8)
                v = i == 0 && own_first ? p[k] : zero_int;
            else if (k == 9)
                v = Py_False;
            else if (k == 10)
                v = i == 0 && gap ? Py_True : Py_False;
            PyTuple_SET_ITEM(origin, k, Py_NewRef(v));
        }
        pair = PyTuple_Pack(2, msg, origin);
        Py_DECREF(origin);
        Py_CLEAR(msg);
        if (pair == NULL) goto error;
        PyList_SET_ITEM(out, i, pair);
    }
    return out;
error:
    Py_XDECREF(msg);
    Py_DECREF(out);
    return NULL;
}

/* entry(id, msg, dialog, transaction, retransmission_of) -> model.Entry: the message with the four
 * items after its own, of the class ``type(msg).entry_type`` (model.Entry.__new__ in Python). A
 * message that is an entry already (its class is its entry_type) gives its own items but the
 * last four. */
static PyObject *entry_type_name = NULL;

static PyObject *entry(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *msg, *kind, *out;
    PyTypeObject *type;
    Py_ssize_t size, i;
    (void)self;
    if (nargs != 5 || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "entry(id, msg, dialog, transaction, retransmission_of): msg a Message");
        return NULL;
    }
    msg = args[1];
    if (entry_type_name == NULL && (entry_type_name = PyUnicode_InternFromString("entry_type")) == NULL)
        return NULL;
    kind = PyObject_GetAttr((PyObject *)Py_TYPE(msg), entry_type_name);
    if (kind == NULL) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "entry: msg is no Message");
        }
        return NULL;
    }
    if (!PyType_Check(kind) || !PyType_IsSubtype((PyTypeObject *)kind, &PyTuple_Type)) {
        Py_DECREF(kind);
        PyErr_SetString(PyExc_TypeError, "entry: entry_type is no tuple class");
        return NULL;
    }
    type = (PyTypeObject *)kind;
    size = PyTuple_GET_SIZE(msg);
    if (Py_TYPE(msg) == type) size -= 4; /* an entry: its message's items */
    if (size < 0) {
        Py_DECREF(kind);
        PyErr_SetString(PyExc_TypeError, "entry: too short an entry");
        return NULL;
    }
    out = type->tp_alloc(type, size + 4);
    Py_DECREF(kind);
    if (out == NULL) return NULL;
    for (i = 0; i < size; i++) {
        PyObject *item = PyTuple_GET_ITEM(msg, i);
        Py_INCREF(item);
        PyTuple_SET_ITEM(out, i, item);
    }
    for (i = 0; i < 4; i++) {
        PyObject *item = args[i == 0 ? 0 : i + 1]; /* id, then dialog, transaction, ... */
        Py_INCREF(item);
        PyTuple_SET_ITEM(out, size + i, item);
    }
    return out;
}

static PyMethodDef functions[] = {
    {"headers", (PyCFunction)(void (*)(void))headers, METH_FASTCALL,
     "headers(buf, pos, start, end) -> (hdr, body, length): sip/framing.py _py_headers."},
    {"whole_ends", (PyCFunction)(void (*)(void))whole_ends, METH_FASTCALL,
     "whole_ends(buf, pos, max_message, max_line) -> ends: sip/framing.py _py_whole_ends."},
    {"frame_whole", (PyCFunction)(void (*)(void))frame_whole, METH_FASTCALL,
     "frame_whole(piece, max_message, max_line, gap, payload_type) -> [(msg, origin)] | None: "
     "StreamFramer.feed's common case."},
    {"parse", (PyCFunction)(void (*)(void))parse, METH_FASTCALL,
     "parse(raw, pkt[, filed_type, offset, flows]) -> Message | None: the common flawless message, "
     "else None."},
    {"setup", setup, METH_VARARGS, "setup(message_type, kinds, methods)"},
    {"looks_like_sip", looks_like_sip, METH_O,
     "looks_like_sip(data) -> bool: sip/parser.py _py_looks_like_sip."},
    {"entry", (PyCFunction)(void (*)(void))entry, METH_FASTCALL,
     "entry(id, msg, dialog, transaction, retransmission_of) -> Entry: model.Entry's."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastsip", "The SIP parser's fast path (see sip/parser.py).", -1,
    functions, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastsip(void) { return PyModule_Create(&module); }
