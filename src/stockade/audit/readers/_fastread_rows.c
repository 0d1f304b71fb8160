/* _fastread_rows.c: the store rows of a completed event for a Reader made with rows= (import):
 * eventrows._fast_apparmor in C for the common AppArmor file event, else eventrows.event_rows
 * in Python. */
#include "_fastread.h"

/* ---- import's rows (eventrows.event_rows), for a Reader made with rows= ---- */

unsigned long long stk_deferred_rows;  /* events whose rows Python built (tests, benchmarks) */

/* `"[^"]*"` or `[^"'\s]\S*` (want_bare) at p[i]: the end, or -1 */
static Py_ssize_t aa_value(const unsigned char *p, Py_ssize_t i, Py_ssize_t n) {
    if (i >= n) return -1;
    if (p[i] == '"') {
        const unsigned char *q = memchr(p + i + 1, '"', (size_t)(n - i - 1));
        return q ? q - p + 1 : -1;
    }
    if (p[i] == '\'' || Py_UNICODE_ISSPACE(p[i])) return -1;
    while (i < n && !Py_UNICODE_ISSPACE(p[i])) i++;
    return i;
}

/* `"[^"]*"` after a literal: the quoted text's span in g, the cursor past the closing quote */
static int aa_quoted(cursor *c, span *g) {
    const unsigned char *p = PyUnicode_1BYTE_DATA(c->s);
    const unsigned char *q = memchr(p + c->i, '"', (size_t)(c->n - c->i));
    if (!q) return 0;
    if (g) { g->a = c->i; g->b = q - p; }
    c->i = q - p + 1;
    return 1;
}

/* \d{1,9} then a space (or, for ouid, \d+ to the end): the value, -1 when it does not match */
static long aa_digits(cursor *c, int to_end) {
    const unsigned char *p = PyUnicode_1BYTE_DATA(c->s);
    Py_ssize_t i = c->i;
    long v = 0;
    while (i < c->n && p[i] >= '0' && p[i] <= '9') {
        if (!to_end && i - c->i >= 9) return -1;
        if (!to_end) v = v * 10 + (p[i] - '0');
        i++;
    }
    if (i == c->i || (to_end ? i != c->n : i >= c->n || p[i] != ' ')) return -1;
    c->i = i;
    return v;
}

/* an ASCII run of digits as a long long; 0 when it has more than 18 digits (Python decides) */
static int ll_of(PyObject *s, span g, int sign, long long *out) {
    const unsigned char *p = PyUnicode_1BYTE_DATA(s);
    Py_ssize_t i = g.a;
    int neg = 0;
    if (sign && i < g.b && p[i] == '-') { neg = 1; i++; }
    if (g.b - i < 1 || g.b - i > 18) return 0;
    long long v = 0;
    for (; i < g.b; i++) v = v * 10 + (p[i] - '0');
    *out = neg ? -v : v;
    return 1;
}

/* eventrows._fast_apparmor in C for an all-ASCII event: the row, Py_None (borrowed) to step
 * aside (Python's event_rows decides), NULL on error. Anything it is not sure about steps
 * aside: a bare name= (hex), a SYSCALL body of another layout, numbers past 18 digits. */
static PyObject *fast_row(PyObject *event, Py_ssize_t first) {
    Py_ssize_t n = PyList_GET_SIZE(event), avc_at = -1, sys_at = -1, total = 0;
    for (Py_ssize_t at = 0; at < n; at++) {
        PyObject *r = PyList_GET_ITEM(event, at);
        if (!PyUnicode_IS_ASCII(R_LINE(r)) || !PyUnicode_IS_ASCII(R_BODY(r))) return Py_None;
        total += PyUnicode_GET_LENGTH(R_LINE(r)) + 1;
        int big;
        long t = type_value(R_TYPE(r), &big);
        if (big) return Py_None;
        if (t == T_AVC) {
            if (avc_at >= 0) return Py_None;
            avc_at = at;
        } else if (t == T_SYSCALL) sys_at = at;
        else if (!is_aux(t)) return Py_None;
    }
    if (avc_at < 0) return Py_None;
    PyObject *avc = PyList_GET_ITEM(event, avc_at), *body = R_BODY(avc);
    cursor c = {body, 0, PyUnicode_GET_LENGTH(body)};
    const unsigned char *p = PyUnicode_1BYTE_DATA(body);
    PyObject *result;
    if (!c_lit(&c, "apparmor=\"")) return Py_None;
    if (c_lit(&c, "DENIED\"")) result = v_DENIED;
    else if (c_lit(&c, "ALLOWED\"")) result = v_ALLOWED;
    else if (c_lit(&c, "AUDIT\"")) result = s_AUDIT;
    else if (c_lit(&c, "KILL\"")) result = v_DENIED;
    else return Py_None;
    span op, profile, name;
    if (!(c_lit(&c, " operation=\"") && aa_quoted(&c, &op) && c_lit(&c, " "))) return Py_None;
    c_lit(&c, "class=\"file\" ");
    if (!(c_lit(&c, "profile=\"") && aa_quoted(&c, &profile) && c_lit(&c, " name="))) return Py_None;
    if (c.i >= c.n || p[c.i] != '"') return Py_None;  /* a bare (hex) name: Python decodes it */
    if (!aa_quoted(&(cursor){body, c.i + 1, c.n}, &name)) return Py_None;
    c.i = name.b + 1;
    long pid, fsuid;
    if (!c_lit(&c, " pid=") || (pid = aa_digits(&c, 0)) < 0 || !c_lit(&c, " comm=")) return Py_None;
    Py_ssize_t end = aa_value(p, c.i, c.n);
    if (end < 0) return Py_None;
    c.i = end;
    if (!(c_lit(&c, " requested_mask=\"") && aa_quoted(&c, NULL) && c_lit(&c, " denied_mask=\"")
          && aa_quoted(&c, NULL) && c_lit(&c, " fsuid=")))
        return Py_None;
    if ((fsuid = aa_digits(&c, 0)) < 0 || !c_lit(&c, " ouid=") || aa_digits(&c, 1) < 0) return Py_None;
    Py_ssize_t oplen = op.b - op.a;
    const char *ops = (const char *)p + op.a;
    if ((oplen == 7 && !memcmp(ops, "capable", 7)) || (oplen == 6 && !memcmp(ops, "signal", 6))
        || (oplen == 6 && !memcmp(ops, "ptrace", 6)))
        return Py_None;
    long long errno_ = 0;
    if (sys_at >= 0) {
        PyObject *sb = R_BODY(PyList_GET_ITEM(event, sys_at));
        if (PyUnicode_GET_LENGTH(sb)) {
            span g[SC_N];
            long long exit_code, spid;
            if (!stk_syscall_exact(sb, g) || !ll_of(sb, g[SC_EXIT], 1, &exit_code)) return Py_None;
            errno_ = exit_code < 0 ? -exit_code : 0;
            if (!pid) {
                if (!ll_of(sb, g[SC_PID], 0, &spid) || spid > 0x7fffffffLL) return Py_None;
                pid = (long)spid;
            }
        }
    }
    if (result == v_DENIED && !errno_) errno_ = 13;
    /* stamp_time: float(time), int(serial) */
    PyObject *stamp = R_STAMP(avc);
    if (!stamp_ascii_ok(stamp)) return Py_None;
    Py_ssize_t slen = PyUnicode_GET_LENGTH(stamp);
    Py_ssize_t colon = PyUnicode_FindChar(stamp, ':', 0, slen, 1);
    span sg = {colon + 1, slen};
    long long serial;
    if (!ll_of(stamp, sg, 0, &serial)) return Py_None;
    PyObject *ttext = PyUnicode_Substring(stamp, 0, colon);
    if (!ttext) return NULL;
    PyObject *timeobj = PyFloat_FromString(ttext);
    Py_DECREF(ttext);
    if (!timeobj) return NULL;
    double when = PyFloat_AS_DOUBLE(timeobj);
    if (!(when >= 0.0 && when < 9223372036854775807.0)) { Py_DECREF(timeobj); return Py_None; }
    /* event_text: MARK, first, then each line */
    char head[32];
    int hlen = snprintf(head, sizeof head, "\x1e%zd", first);
    PyObject *text = PyUnicode_New(hlen + total, 127);
    if (!text) { Py_DECREF(timeobj); return NULL; }
    char *w = (char *)PyUnicode_1BYTE_DATA(text);
    memcpy(w, head, (size_t)hlen);
    w += hlen;
    for (Py_ssize_t at = 0; at < n; at++) {
        PyObject *line = R_LINE(PyList_GET_ITEM(event, at));
        *w++ = '\n';
        memcpy(w, PyUnicode_1BYTE_DATA(line), (size_t)PyUnicode_GET_LENGTH(line));
        w += PyUnicode_GET_LENGTH(line);
    }
    PyObject *row = PyTuple_New(11);
    if (!row) { Py_DECREF(timeobj); Py_DECREF(text); return NULL; }
    PyTuple_SET_ITEM(row, 0, timeobj);
    PyTuple_SET_ITEM(row, 8, text);
    PyObject *items[] = {PyLong_FromLongLong(serial), sub(body, op.a, op.b), Py_NewRef(k_apparmor),
                         Py_NewRef(result), sub(body, profile.a, profile.b), PyLong_FromLong(pid),
                         sub(body, name.a, name.b)};
    int bad = 0;
    for (int i = 0; i < 7; i++) { PyTuple_SET_ITEM(row, i + 1, items[i]); bad |= !items[i]; }
    PyObject *tail[] = {PyLong_FromLong(T_AVC), PyLong_FromSsize_t(first + avc_at)};
    PyTuple_SET_ITEM(row, 9, tail[0]);
    PyTuple_SET_ITEM(row, 10, tail[1]);
    if (bad || !tail[0] || !tail[1]) { Py_DECREF(row); return NULL; }
    (void)fsuid;  /* at most 9 digits: always in range (as in Python) */
    return row;
}

/* eventrows.event_rows(event, first): in C for the common AppArmor file event, else Python */
PyObject *stk_event_rows(PyObject *rows_fn, PyObject *event, Py_ssize_t first) {
    PyObject *row = fast_row(event, first);
    if (!row) return NULL;
    if (row != Py_None) {
        PyObject *out = PyList_New(1);
        if (!out) { Py_DECREF(row); return NULL; }
        PyList_SET_ITEM(out, 0, row);
        return out;
    }
    stk_deferred_rows++;
    return stk_call_python(rows_fn, event, first);
}
