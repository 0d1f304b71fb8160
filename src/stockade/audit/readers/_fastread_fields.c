/* _fastread_fields.c: a record body's fields: hex values (parser._bare), get_field, to_int, and
 * parser.parse_fields in C; and the table of short strings that sub() keeps. */
#include "_fastread.h"

PyObject *stk_short_table[SHORT_SLOTS];  /* sub()'s table (_fastread.h) */

/* ---- hex and field values: parser._bare, field_value, get_field ---- */

static int hex_digit(Py_UCS4 c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* _bare(key, value) for an untrusted key: "(null)" as is, `(?:[0-9A-F]{2})+` decoded */
PyObject *stk_bare(PyObject *value, int proctitle) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(value), i;
    if (n < 2 || n % 2) return Py_NewRef(value);
    for (i = 0; i < n; i++)
        if (hex_digit(ch_at(value, i)) < 0) return Py_NewRef(value);
    Py_ssize_t m = n / 2;
    char small[512];
    char *buf = m <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)m);
    if (!buf) return PyErr_NoMemory();
    for (i = 0; i < m; i++)
        buf[i] = (char)(hex_digit(ch_at(value, 2 * i)) * 16 + hex_digit(ch_at(value, 2 * i + 1)));
    if (proctitle) {
        while (m > 0 && buf[m - 1] == 0) m--;
        for (i = 0; i < m; i++)
            if (buf[i] == 0) buf[i] = ' ';
    }
    PyObject *out = PyUnicode_DecodeUTF8(buf, m, "backslashreplace");
    if (buf != small) PyMem_Free(buf);
    return out;
}

/* parser.get_field(body, key); NULL without error when absent */
PyObject *stk_get_field(PyObject *body, PyObject *probe, int untrusted, int proctitle) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(body), plen = PyUnicode_GET_LENGTH(probe), start;
    Py_ssize_t at = PyUnicode_Find(body, probe, 0, n, 1);
    if (at == -2) return NULL;
    if (at < 0) {  /* body.startswith(probe[1:]) */
        PyObject *rest = PyUnicode_Substring(probe, 1, plen);
        if (!rest) return NULL;
        Py_ssize_t ok = PyUnicode_Tailmatch(body, rest, 0, n, -1);
        Py_DECREF(rest);
        if (ok <= 0) return NULL;
        start = plen - 1;
    } else {
        start = at + plen;
    }
    if (start < n && ch_at(body, start) == '"') {
        Py_ssize_t end = PyUnicode_FindChar(body, '"', start + 1, n, 1);
        if (end == -2) return NULL;
        return PyUnicode_Substring(body, start + 1, end >= 0 ? end : n);
    }
    Py_ssize_t end = PyUnicode_FindChar(body, ' ', start, n, 1);
    if (end == -2) return NULL;
    PyObject *value = PyUnicode_Substring(body, start, end >= 0 ? end : n);
    if (!value || !untrusted || PyUnicode_GET_LENGTH(value) == 0) return value;
    if (PyUnicode_Compare(value, s_null) == 0) return value;
    PyObject *out = stk_bare(value, proctitle);
    Py_DECREF(value);
    return out;
}

/* interpret.to_int: int(value) or `dflt` on ValueError; NULL value -> dflt */
PyObject *stk_to_int(PyObject *value, long dflt) {
    if (value == NULL) return PyLong_FromLong(dflt);
    PyObject *out = PyLong_FromUnicodeObject(value, 10);
    if (out == NULL && PyErr_ExceptionMatches(PyExc_ValueError)) {
        PyErr_Clear();
        out = PyLong_FromLong(dflt);
    }
    return out;
}

/* parser.parse_fields(body): every `key=value` (_PAIR's findall), the first of a repeated key */
PyObject *stk_parse_fields(PyObject *body) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(body), i = 0;
    PyObject *fields = PyDict_New();
    if (!fields) return NULL;
    while (i < n) {
        Py_UCS4 ch = ch_at(body, i);
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_')) { i++; continue; }
        Py_ssize_t j = i + 1;
        while (j < n) {
            Py_UCS4 w = ch_at(body, j);
            if (!(is_word(w) || w == '-')) break;
            j++;
        }
        if (j >= n || ch_at(body, j) != '=') { i = j; continue; }  /* no key starts inside */
        Py_ssize_t v = j + 1, end = -1;
        if (v < n && (ch_at(body, v) == '"' || ch_at(body, v) == '\'')) {
            Py_ssize_t close = PyUnicode_FindChar(body, ch_at(body, v), v + 1, n, 1);
            if (close == -2) goto error;
            if (close >= 0) end = close + 1;
        }
        if (end < 0) {
            end = v;
            while (end < n && !Py_UNICODE_ISSPACE(ch_at(body, end))) end++;
        }
        PyObject *key = sub(body, i, j);
        if (!key) goto error;
        int has = PyDict_Contains(fields, key);
        if (has) {
            Py_DECREF(key);
            if (has < 0) goto error;
            i = end;
            continue;
        }
        PyObject *value;
        Py_ssize_t len = end - v;
        Py_UCS4 first = len ? ch_at(body, v) : 0;
        if (first == '"' || first == '\'') {
            if (len > 1 && ch_at(body, end - 1) == first) value = sub(body, v + 1, end - 1);
            else value = sub(body, v, end);
        } else {
            value = sub(body, v, end);
            if (value && len) {
                int untrusted = PySet_Contains(g_untrusted, key);
                if (untrusted < 0) { Py_DECREF(value); value = NULL; }
                else if (untrusted && PyUnicode_Compare(value, s_null) != 0)
                    Py_SETREF(value, stk_bare(value, PyUnicode_Compare(key, s_proctitle) == 0));
            }
        }
        if (!value) { Py_DECREF(key); goto error; }
        int bad = PyDict_SetItem(fields, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (bad < 0) goto error;
        i = end;
    }
    return fields;
error:
    Py_DECREF(fields);
    return NULL;
}

PyObject *stk_py_parse_fields(PyObject *mod, PyObject *body) {
    if (!PyUnicode_Check(body)) { PyErr_SetString(PyExc_TypeError, "a body is a str"); return NULL; }
    return stk_parse_fields(body);
}
