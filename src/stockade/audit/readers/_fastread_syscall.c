/* _fastread_syscall.c: the SYSCALL record's body: interpret.SYSCALL_EXACT (audit_log_exit()'s
 * usual layout) matched from the start, interpret._SYSCALL's search with the regex engine's
 * backtracking order, and _unquote for comm/exe/key. */
#include "_fastread.h"

/* ---- the SYSCALL record: interpret.SYSCALL_EXACT, matched from the start ---- */

static void key_group(PyObject *body, Py_ssize_t from, Py_ssize_t n, span *g);

/* 1 when `body` has audit_log_exit()'s layout, the groups in g; 0 otherwise */
int stk_syscall_exact(PyObject *body, span *g) {
    cursor c = {body, 0, PyUnicode_GET_LENGTH(body)};
    if (!(c_field(&c, "arch=", 'w', &g[SC_ARCH]) && c_field(&c, " syscall=", 'd', &g[SC_SYSCALL])
          && c_field(&c, " success=", 'w', &g[SC_SUCCESS]) && c_lit(&c, " exit=")))
        return 0;
    {
        Py_ssize_t start = c.i;
        if (c.i < c.n && ch_at(body, c.i) == '-') c.i++;
        span d;
        if (!c_run(&c, 'd', &d)) return 0;
        g[SC_EXIT].a = start; g[SC_EXIT].b = c.i;
    }
    if (!(c_field(&c, " a0=", 'w', NULL) && c_field(&c, " a1=", 'w', NULL)
          && c_field(&c, " a2=", 'w', NULL) && c_field(&c, " a3=", 'w', NULL)
          && c_field(&c, " items=", 'd', NULL) && c_field(&c, " ppid=", 'd', &g[SC_PPID])
          && c_field(&c, " pid=", 'd', &g[SC_PID]) && c_field(&c, " auid=", 'd', &g[SC_AUID])
          && c_field(&c, " uid=", 'd', &g[SC_UID]) && c_field(&c, " gid=", 'd', NULL)
          && c_field(&c, " euid=", 'd', NULL) && c_field(&c, " suid=", 'd', NULL)
          && c_field(&c, " fsuid=", 'd', NULL) && c_field(&c, " egid=", 'd', NULL)
          && c_field(&c, " sgid=", 'd', NULL) && c_field(&c, " fsgid=", 'd', NULL)
          && c_field(&c, " tty=", 'S', NULL) && c_field(&c, " ses=", 'd', &g[SC_SES])
          && c_field(&c, " comm=", 'S', &g[SC_COMM]) && c_field(&c, " exe=", 'S', &g[SC_EXE])))
        return 0;
    key_group(body, c.i, c.n, &g[SC_KEY]);
    return 1;
}

/* `(?:.* key=(\S+))?` from c->i: the last ` key=` followed by a non-space before any newline */
static void key_group(PyObject *body, Py_ssize_t from, Py_ssize_t n, span *g) {
    g->a = g->b = -1;
    Py_ssize_t limit = n, p;
    for (p = from; p < n; p++)
        if (ch_at(body, p) == '\n') { limit = p; break; }
    for (p = limit; p >= from; p--) {
        if (p + 6 > n) continue;
        cursor k = {body, p, n};
        span v;
        if (c_lit(&k, " key=") && c_run(&k, 'S', &v)) { *g = v; return; }
    }
}

/* the first newline at or after `from` (n when none): `.` stops there */
static Py_ssize_t line_end(PyObject *body, Py_ssize_t from, Py_ssize_t n) {
    Py_ssize_t nl = PyUnicode_FindChar(body, '\n', from, n, 1);
    return nl >= 0 ? nl : n;
}

/* interpret._SYSCALL.search(body): 1 with the groups in g, 0 when it does not match. Every
 * alternative the regex engine would try is tried in the same order: each `arch=` (the head
 * is atomic), then the lazy `.*?` before ` ppid=` and before ` ses=`, shortest first. */
int stk_syscall_search(PyObject *body, span *g) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(body);
    /* Where a lazy scan already failed to its line's end, a scan that starts later on the same
     * line fails too: it is skipped (the regex would repeat it: quadratic on a hostile line). */
    Py_ssize_t ppid_failed = -1, ppid_end = -1, ses_failed = -1, ses_end = -1;
    for (Py_ssize_t s = 0; s + 5 <= n; s++) {
        s = PyUnicode_Find(body, s_arch_eq, s, n, 1);
        if (s < 0) return s == -2 ? -1 : 0;
        cursor c = {body, s, n};
        if (!(c_field(&c, "arch=", 'w', &g[SC_ARCH]) && c_field(&c, " syscall=", 'd', &g[SC_SYSCALL])))
            continue;
        g[SC_SUCCESS].a = g[SC_SUCCESS].b = g[SC_EXIT].a = g[SC_EXIT].b = -1;
        {
            cursor o = c;
            span ok, ex;
            if (c_field(&o, " success=", 'w', &ok) && c_lit(&o, " exit=")) {
                Py_ssize_t start = o.i;
                if (o.i < n && ch_at(body, o.i) == '-') o.i++;
                if (c_run(&o, 'd', NULL)) {
                    ex.a = start; ex.b = o.i;
                    g[SC_SUCCESS] = ok; g[SC_EXIT] = ex;
                    c = o;
                } else if (ch_at(body, start) == '-') {
                    /* -? gives the '-' back: \d+ at '-' fails too */
                }
            }
        }
        Py_ssize_t end1 = line_end(body, c.i, n);
        if (ppid_failed >= 0 && c.i >= ppid_failed && end1 == ppid_end) continue;
        for (Py_ssize_t q = c.i; q <= end1; q++) {
            cursor d = {body, q, n};
            if (!(c_field(&d, " ppid=", 'd', &g[SC_PPID]) && c_field(&d, " pid=", 'd', &g[SC_PID])
                  && c_field(&d, " auid=", 'd', &g[SC_AUID]) && c_field(&d, " uid=", 'd', &g[SC_UID])
                  && c_lit(&d, " ")))
                continue;
            Py_ssize_t end2 = line_end(body, d.i, n);
            if (ses_failed >= 0 && d.i >= ses_failed && end2 == ses_end) continue;
            for (Py_ssize_t u = d.i; u <= end2; u++) {
                cursor e = {body, u, n};
                if (!(c_field(&e, " ses=", 'd', &g[SC_SES]) && c_field(&e, " comm=", 'S', &g[SC_COMM])
                      && c_field(&e, " exe=", 'S', &g[SC_EXE])))
                    continue;
                key_group(body, e.i, n, &g[SC_KEY]);
                return 1;
            }
            ses_failed = d.i;
            ses_end = end2;
        }
        ppid_failed = c.i;
        ppid_end = end1;
    }
    return 0;
}

/* interpret._unquote(key, group) for comm/exe/key */
PyObject *stk_unquote(PyObject *body, span g) {
    if (g.a < 0) return Py_NewRef(Py_None);
    PyObject *v = PyUnicode_Substring(body, g.a, g.b);
    if (!v) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    Py_UCS4 first = ch_at(v, 0);
    PyObject *out;
    if (first == '"') {
        out = PyUnicode_Substring(v, 1, n > 1 ? n - 1 : 1);  /* value[1:-1] */
        if (n == 1) { Py_DECREF(out); out = Py_NewRef(s_empty); }
    } else if (first == '\'') {
        out = PyUnicode_Substring(v, 1, (n > 1 && ch_at(v, n - 1) == '\'') ? n - 1 : n);
    } else if (PyUnicode_Compare(v, s_null) == 0) {
        out = Py_NewRef(v);
    } else {
        out = stk_bare(v, 0);
    }
    Py_DECREF(v);
    return out;
}
