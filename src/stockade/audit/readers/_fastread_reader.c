/* _fastread_reader.c: the Reader type: lines in (the fast cut of auditd's usual line, else
 * parser.parse_line), records grouped into events as correlate.Correlator does, and each
 * completed event's AuditRecords (or store rows) out. */
#include "_fastread.h"

/* ---- the reader: Correlator state ---- */

typedef struct {
    PyObject_HEAD
    Py_ssize_t max_pending, max_records;
    PyObject *pending;  /* stamp -> list of records, oldest first */
    PyObject *done;     /* stamp -> records already seen of a completed event */
    PyObject *last;     /* the stamp of the pending event the previous line joined, or NULL */
    PyObject *rows;     /* eventrows.event_rows: completed events become store rows; or NULL */
    Py_ssize_t events, evicted, skipped;
} Reader;

static int reader_init(Reader *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"max_pending", "max_records", "rows", NULL};
    PyObject *rows = Py_None;
    self->max_pending = 64;
    self->max_records = 256;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|nnO", names, &self->max_pending, &self->max_records,
                                     &rows))
        return -1;
    if (rows != Py_None && !PyCallable_Check(rows)) {
        PyErr_SetString(PyExc_TypeError, "rows= takes eventrows.event_rows or None");
        return -1;
    }
    Py_XSETREF(self->rows, rows == Py_None ? NULL : Py_NewRef(rows));
    if (!g_record_cls) {
        PyErr_SetString(PyExc_RuntimeError, "_fastread.setup() was not called");
        return -1;
    }
    Py_XSETREF(self->pending, PyDict_New());
    Py_XSETREF(self->done, PyDict_New());
    Py_CLEAR(self->last);
    return self->pending && self->done ? 0 : -1;
}

static void reader_dealloc(Reader *self) {
    Py_XDECREF(self->pending);
    Py_XDECREF(self->done);
    Py_XDECREF(self->last);
    Py_XDECREF(self->rows);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* a completed event: its AuditRecords, or its store rows when the reader was made with rows= */
static PyObject *finish(Reader *self, PyObject *event, Py_ssize_t first) {
    return self->rows ? stk_event_rows(self->rows, event, first) : stk_interpret_event(event, first);
}

static int emit(PyObject *out, PyObject *records) {
    if (!records) return -1;
    int rc = 0;
    Py_ssize_t n = PyList_GET_SIZE(records);
    for (Py_ssize_t i = 0; i < n && rc == 0; i++) rc = PyList_Append(out, PyList_GET_ITEM(records, i));
    Py_DECREF(records);
    return rc;
}

static PyObject *first_key(PyObject *dict) {
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    return PyDict_Next(dict, &pos, &key, &value) ? key : NULL;  /* borrowed */
}

/* Correlator._complete(key) */
static int complete(Reader *self, PyObject *key, PyObject *out) {
    Py_INCREF(key);
    PyObject *event = PyDict_GetItemWithError(self->pending, key);
    if (!event) { Py_DECREF(key); if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, key); return -1; }
    Py_INCREF(event);
    int rc = -1;
    if (PyDict_DelItem(self->pending, key) < 0) goto done;
    self->events++;
    Py_ssize_t first = 0;
    PyObject *seen = PyDict_GetItemWithError(self->done, key);
    if (seen) {
        first = PyLong_AsSsize_t(seen);
        if (first == -1 && PyErr_Occurred()) goto done;
        if (PyDict_DelItem(self->done, key) < 0) goto done;
    } else if (PyErr_Occurred()) goto done;
    PyObject *count = PyLong_FromSsize_t(first + PyList_GET_SIZE(event));
    if (!count) goto done;
    rc = PyDict_SetItem(self->done, key, count);
    Py_DECREF(count);
    if (rc < 0) goto done;
    if (PyDict_GET_SIZE(self->done) > 4 * self->max_pending) {
        PyObject *oldest = first_key(self->done);
        if (oldest && PyDict_DelItem(self->done, oldest) < 0) { rc = -1; goto done; }
    }
    rc = emit(out, finish(self, event, first));
done:
    Py_DECREF(event);
    Py_DECREF(key);
    return rc;
}

/* Correlator.add(rec) */
static int add(Reader *self, PyObject *rec, PyObject *out) {
    int big;
    long t = type_value(R_TYPE(rec), &big);
    if (!big && is_user(t)) {
        self->events++;
        PyObject *event = PyList_New(1);
        if (!event) return -1;
        PyList_SET_ITEM(event, 0, Py_NewRef(rec));
        int rc = emit(out, finish(self, event, 0));
        Py_DECREF(event);
        return rc;
    }
    PyObject *key = R_STAMP(rec);
    PyObject *event = PyDict_GetItemWithError(self->pending, key);
    if (!event) {
        if (PyErr_Occurred()) return -1;
        if (!big && t == T_EOE) return 0;
        event = PyList_New(1);
        if (!event) return -1;
        PyList_SET_ITEM(event, 0, Py_NewRef(rec));
        int rc = PyDict_SetItem(self->pending, key, event);
        Py_DECREF(event);
        if (rc < 0) return -1;
        if (PyDict_GET_SIZE(self->pending) > self->max_pending) {
            self->evicted++;
            return complete(self, first_key(self->pending), out);
        }
        return 0;
    }
    if (!big && t == T_EOE) return complete(self, key, out);
    if (PyList_Append(event, rec) < 0) return -1;
    if (PyList_GET_SIZE(event) >= self->max_records) {
        self->evicted++;
        return complete(self, key, out);
    }
    return 0;
}

static PyObject *body_after(PyObject *line, Py_ssize_t close) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(line);
    Py_ssize_t at = close + 2;
    if (at < n && ch_at(line, at) == ' ') at++;
    return PyUnicode_Substring(line, at < n ? at : n, n);
}

/* one line: the fast cut of auditd's usual line, else parse_line(); -1 on error */
static int feed_line(Reader *self, PyObject *given, PyObject *out) {
    PyObject *line = given, *token = NULL, *stamp = NULL, *body = NULL, *rec = NULL;
    int rc = -1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(given);
    Py_ssize_t enriched = PyUnicode_FindChar(given, 0x1d, 0, n, 1);
    if (enriched == -2) return -1;
    Py_INCREF(line);
    if (enriched >= 0) {
        Py_SETREF(line, PyUnicode_Substring(given, 0, enriched));
        if (!line) return -1;
        n = enriched;
    }
    if (!starts_at(line, s_type_eq, 0)) goto general;
    Py_ssize_t space = PyUnicode_FindChar(line, ' ', 5, n, 1);
    if (space == -2) goto error;
    if (space <= 5) goto general;
    token = sub(line, 5, space);
    if (!token) goto error;
    PyObject *info = PyDict_GetItemWithError(g_tokens, token);  /* borrowed */
    PyObject *owned = NULL;
    if (!info) {
        if (PyErr_Occurred()) goto error;
        owned = info = PyObject_CallOneArg(g_token_fn, token);
        if (!info) goto error;
        if (info == Py_None) { Py_DECREF(owned); goto general; }
    }
    PyObject *number = Py_NewRef(PyTuple_GET_ITEM(info, 0));
    long kind = PyLong_AsLong(PyTuple_GET_ITEM(info, 1));
    Py_XDECREF(owned);
    if (!starts_at(line, s_msg, space)) { Py_DECREF(number); goto general; }
    Py_ssize_t close = PyUnicode_Find(line, s_close, space + 11, n, 1);
    if (close == -2) { Py_DECREF(number); goto error; }
    if (close < 0) { Py_DECREF(number); goto general; }
    if (self->last && PyUnicode_IS_ASCII(line) && PyUnicode_IS_ASCII(self->last)
        && PyUnicode_GET_LENGTH(self->last) == close - space - 11
        && memcmp(PyUnicode_1BYTE_DATA(line) + space + 11, PyUnicode_1BYTE_DATA(self->last),
                  (size_t)(close - space - 11)) == 0)
        stamp = Py_NewRef(self->last);  /* the previous line's event: no new str */
    else
        stamp = PyUnicode_Substring(line, space + 11, close);
    if (!stamp) { Py_DECREF(number); goto error; }
    if (self->last && PyUnicode_Compare(stamp, self->last) == 0) {
        body = body_after(line, close);
        rec = body ? make_rec(number, stamp, body, line, s_empty) : NULL;
        Py_DECREF(number);
        if (!rec) goto error;
        if (kind == KIND_PLAIN) {
            PyObject *event = PyDict_GetItemWithError(self->pending, stamp);
            if (!event) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_SystemError, "lost event"); goto error; }
            if (PyList_Append(event, rec) < 0) goto error;
            if (PyList_GET_SIZE(event) >= self->max_records) {
                self->evicted++;
                Py_CLEAR(self->last);
                if (complete(self, stamp, out) < 0) goto error;
            }
            rc = 0;
            goto done;
        }
        goto added;
    }
    if (!stamp_ascii_ok(stamp)) { Py_DECREF(number); goto general; }
    body = body_after(line, close);
    rec = body ? make_rec(number, stamp, body, line, s_empty) : NULL;
    Py_DECREF(number);
    if (!rec) goto error;
    if (kind == KIND_PLAIN) {
        int has = PyDict_Contains(self->pending, stamp);
        if (has < 0) goto error;
        if (!has) {  /* a new event */
            PyObject *event = PyList_New(1);
            if (!event) goto error;
            PyList_SET_ITEM(event, 0, Py_NewRef(rec));
            int bad = PyDict_SetItem(self->pending, stamp, event);
            Py_DECREF(event);
            if (bad < 0) goto error;
            Py_XSETREF(self->last, Py_NewRef(stamp));
            if (PyDict_GET_SIZE(self->pending) > self->max_pending) {
                self->evicted++;
                if (complete(self, first_key(self->pending), out) < 0) goto error;
                has = PyDict_Contains(self->pending, stamp);
                if (has < 0) goto error;
                if (!has) Py_CLEAR(self->last);
            }
            rc = 0;
            goto done;
        }
    }
    goto added;
general: {
        PyObject *raw = PyObject_CallOneArg(g_parse_line, given);
        if (!raw) goto error;
        if (raw == Py_None) {
            Py_DECREF(raw);
            self->skipped++;
            rc = 0;
            goto done;
        }
        PyObject *t = PyObject_GetAttr(raw, s_type);
        PyObject *st = PyObject_GetAttr(raw, s_stamp);
        PyObject *b = PyObject_GetAttr(raw, s_body);
        PyObject *l = PyObject_GetAttr(raw, s_line);
        PyObject *nd = PyObject_GetAttr(raw, s_node);
        Py_DECREF(raw);
        rec = t && st && b && l && nd ? make_rec(t, st, b, l, nd) : NULL;
        Py_XDECREF(t); Py_XDECREF(st); Py_XDECREF(b); Py_XDECREF(l); Py_XDECREF(nd);
        if (!rec) goto error;
    }
added:
    if (add(self, rec, out) < 0) goto error;
    {
        int has = PyDict_Contains(self->pending, R_STAMP(rec));
        if (has < 0) goto error;
        if (has) Py_XSETREF(self->last, Py_NewRef(R_STAMP(rec)));
        else Py_CLEAR(self->last);
    }
    rc = 0;
    goto done;
error:
    rc = -1;
done:
    Py_XDECREF(line); Py_XDECREF(token); Py_XDECREF(stamp); Py_XDECREF(body); Py_XDECREF(rec);
    return rc;
}

static PyObject *reader_feed(Reader *self, PyObject *lines) {
    PyObject *seq = PySequence_Fast(lines, "feed() takes a list of lines");
    if (!seq) return NULL;
    PyObject *out = PyList_New(0);
    if (!out) { Py_DECREF(seq); return NULL; }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *line = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyUnicode_Check(line)) {
            PyErr_SetString(PyExc_TypeError, "a line is a str");
            goto error;
        }
        if (feed_line(self, line, out) < 0) goto error;
    }
    Py_DECREF(seq);
    return out;
error:
    Py_DECREF(seq);
    Py_DECREF(out);
    return NULL;
}

static PyObject *reader_flush(Reader *self, PyObject *unused) {
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    while (PyDict_GET_SIZE(self->pending)) {
        if (complete(self, first_key(self->pending), out) < 0) { Py_DECREF(out); return NULL; }
    }
    Py_CLEAR(self->last);
    return out;
}

static PyObject *reader_pending(Reader *self, void *closure) {
    return PyLong_FromSsize_t(PyDict_GET_SIZE(self->pending));
}

static PyMethodDef reader_methods[] = {
    {"feed", (PyCFunction)reader_feed, METH_O,
     "feed(lines) -> the AuditRecords of every event these lines complete"},
    {"flush", (PyCFunction)reader_flush, METH_NOARGS,
     "flush() -> the AuditRecords of every pending event (end of input)"},
    {NULL}};

#include <structmember.h>
static PyMemberDef reader_members[] = {
    {"events", T_PYSSIZET, offsetof(Reader, events), READONLY, "events completed"},
    {"evicted", T_PYSSIZET, offsetof(Reader, evicted), READONLY,
     "events completed because the table was full or one grew too large"},
    {"skipped", T_PYSSIZET, offsetof(Reader, skipped), READONLY, "lines that were not records"},
    {"max_pending", T_PYSSIZET, offsetof(Reader, max_pending), READONLY, NULL},
    {"max_records", T_PYSSIZET, offsetof(Reader, max_records), READONLY, NULL},
    {NULL}};

static PyObject *reader_done(Reader *self, void *closure) { return Py_NewRef(self->done); }

static PyGetSetDef reader_getset[] = {
    {"pending", (getter)reader_pending, NULL, "events waiting for more records", NULL},
    {"done", (getter)reader_done, NULL,
     "recently completed stamps -> records seen (Correlator._done, bounded the same way)", NULL},
    {NULL}};

PyTypeObject stk_ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "stockade.audit.readers._fastread.Reader",
    .tp_doc = "Reader(max_pending=64, max_records=256, rows=None): lines in, AuditRecords "
              "(or, with rows=eventrows.event_rows, store rows) out",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)reader_init,
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_methods = reader_methods,
    .tp_members = reader_members,
    .tp_getset = reader_getset,
};
