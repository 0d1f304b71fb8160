/* The compiled audit.log reader: correlate.records_from_lines' loop in C.
 *
 * Each line's `type=T msg=audit(STAMP):` head is cut, records are grouped into events exactly as
 * correlate.Correlator.add() does (same pending table, same limits, same eviction order), and
 * each completed event is interpreted. Events made of kernel records only (syscall rules, user
 * messages, any record no security module wrote) and AppArmor AVC events whose SYSCALL record
 * has audit_log_exit()'s usual layout are turned into AuditRecords here; every other event
 * (and anything this code is not sure about: a non-ASCII stamp, an odd SYSCALL body, a record
 * type past a C long) is handed to the Python interpreter, readers.interpret.interpret, as
 * RawRecords. Lines that are not in auditd's usual shape go through readers.parser.parse_line.
 *
 * The Python modules stay the definition: this file must give the same AuditRecords, field for
 * field, and tests/audit/test_fastread.py checks that on generated, real and hostile input.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* ---- Python objects given by setup() ---- */
static PyObject *g_tokens;      /* correlate._tokens: token -> (number, kind) */
static PyObject *g_token_fn;    /* correlate._token */
static PyObject *g_parse_line;  /* parser.parse_line */
static PyObject *g_interpret;   /* interpret.interpret */
static PyObject *g_raw_cls;     /* parser.RawRecord */
static PyObject *g_record_cls;  /* record.AuditRecord */
static PyObject *g_kernel_ops;  /* interpret._KERNEL_OPS: type -> (NAME, name) */
static PyObject *g_type_name;   /* types.type_name */
static PyObject *g_index;       /* interpret._INDEX */
static PyObject *g_apparmor;    /* AppArmor helpers: (log_masks, cap_name, syscall_name) */

/* ---- interned strings ---- */
static PyObject *s_type_eq, *s_msg, *s_close, *s_empty, *s_kernel, *s_AUDIT, *s_enforce,
    *s_record_index, *s_type, *s_newline, *s_null, *s_pid, *s_uid, *s_comm, *s_exe, *s_name,
    *s_cwd, *s_apparmor_eq, *s_avc_colon, *s_msgq, *s_quote1, *s_slash, *s_node, *s_body,
    *s_line, *s_stamp, *s_proctitle;
static PyObject *p_pid, *p_uid, *p_comm, *p_exe, *p_name, *p_cwd; /* " key=" probes */

#define KERNEL_OPS_MAX 4096  /* as interpret._KERNEL_OPS_MAX */
enum { KIND_PLAIN = 0, KIND_USER = 1, KIND_EOE = 2 };

#define T_SYSCALL 1300
#define T_PATH 1302
#define T_SOCKADDR 1306
#define T_CWD 1307
#define T_EXECVE 1309
#define T_EOE 1320
#define T_SECCOMP 1326
#define T_PROCTITLE 1327
#define T_AVC 1400
#define T_AVC_PATH 1402
#define T_USER_AVC 1107
#define T_LL_ACCESS 1423
#define T_LL_DOMAIN 1424

/* ---- small string helpers (any str kind) ---- */

static inline Py_UCS4 ch_at(PyObject *s, Py_ssize_t i) {
    return PyUnicode_READ(PyUnicode_KIND(s), PyUnicode_DATA(s), i);
}

static int starts_at(PyObject *s, PyObject *prefix, Py_ssize_t at) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (at < 0 || at > n) return 0;
    return (int)PyUnicode_Tailmatch(s, prefix, at, n, -1);
}

/* a record type number as a C long; 0 with *big set when it does not fit */
static long type_value(PyObject *number, int *big) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(number, &overflow);
    *big = overflow != 0 || v > 1000000000LL || v < -1000000000LL;
    return *big ? 0 : (long)v;
}

static int is_user(long t) { return (t >= 1100 && t <= 1299) || (t >= 2100 && t <= 2999); }

static int is_aux(long t) {
    return t == T_SYSCALL || t == T_PATH || t == T_CWD || t == T_PROCTITLE || t == T_EOE
        || t == T_EXECVE || t == T_SOCKADDR || t == T_AVC_PATH;
}

/* `\d+(?:\.\d+)?:\d+` in ASCII digits only (a Unicode digit takes the general path) */
static int stamp_ascii_ok(PyObject *s) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s), i = 0, d;
    if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) return 0;
    const unsigned char *p = PyUnicode_1BYTE_DATA(s);
    for (d = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++) d++;
    if (!d) return 0;
    if (i < n && p[i] == '.') {
        i++;
        for (d = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++) d++;
        if (!d) return 0;
    }
    if (i >= n || p[i] != ':') return 0;
    i++;
    for (d = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++) d++;
    return d > 0 && i == n;
}

/* ---- hex and field values: parser._bare, field_value, get_field ---- */

static int hex_digit(Py_UCS4 c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* _bare(key, value) for an untrusted key: "(null)" as is, `(?:[0-9A-F]{2})+` decoded */
static PyObject *bare(PyObject *value, int proctitle) {
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
static PyObject *get_field(PyObject *body, PyObject *probe, int untrusted, int proctitle) {
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
    PyObject *out = bare(value, proctitle);
    Py_DECREF(value);
    return out;
}

/* interpret._int: int(value) or `dflt` on ValueError; NULL value -> dflt */
static PyObject *to_int(PyObject *value, long dflt) {
    if (value == NULL) return PyLong_FromLong(dflt);
    PyObject *out = PyLong_FromUnicodeObject(value, 10);
    if (out == NULL && PyErr_ExceptionMatches(PyExc_ValueError)) {
        PyErr_Clear();
        out = PyLong_FromLong(dflt);
    }
    return out;
}

/* ---- the SYSCALL record: interpret._SYSCALL_EXACT, matched from the start ---- */

typedef struct { Py_ssize_t a, b; } span;
enum { SC_ARCH, SC_SYSCALL, SC_SUCCESS, SC_EXIT, SC_PPID, SC_PID, SC_AUID, SC_UID, SC_SES,
       SC_COMM, SC_EXE, SC_KEY, SC_N };

typedef struct { PyObject *s; Py_ssize_t i, n; } cursor;

static int c_lit(cursor *c, const char *lit) {
    Py_ssize_t k = (Py_ssize_t)strlen(lit);
    if (c->i + k > c->n) return 0;
    for (Py_ssize_t j = 0; j < k; j++)
        if (ch_at(c->s, c->i + j) != (Py_UCS4)(unsigned char)lit[j]) return 0;
    c->i += k;
    return 1;
}

/* one or more of a class: 'd' \d, 'w' \w, 'S' \S (Python's Unicode meanings) */
static int c_run(cursor *c, char cls, span *out) {
    Py_ssize_t start = c->i;
    while (c->i < c->n) {
        Py_UCS4 ch = ch_at(c->s, c->i);
        int ok = cls == 'd' ? Py_UNICODE_ISDECIMAL(ch)
               : cls == 'w' ? (Py_UNICODE_ISALNUM(ch) || ch == '_')
               : !Py_UNICODE_ISSPACE(ch);
        if (!ok) break;
        c->i++;
    }
    if (out) { out->a = start; out->b = c->i; }
    return c->i > start;
}

static int c_field(cursor *c, const char *lit, char cls, span *out) {
    return c_lit(c, lit) && c_run(c, cls, out);
}

/* 1 when `body` has audit_log_exit()'s layout, the groups in g; 0 otherwise */
static int syscall_exact(PyObject *body, span *g) {
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
    /* (?:.* key=(\S+))? : the last ` key=` followed by a non-space before any newline */
    g[SC_KEY].a = g[SC_KEY].b = -1;
    Py_ssize_t limit = c.n, p;
    for (p = c.i; p < c.n; p++)
        if (ch_at(body, p) == '\n') { limit = p; break; }
    for (p = limit; p >= c.i; p--) {
        if (p + 6 > c.n) continue;
        cursor k = {body, p, c.n};
        span v;
        if (c_lit(&k, " key=") && c_run(&k, 'S', &v)) { g[SC_KEY] = v; break; }
    }
    return 1;
}

/* interpret._unquote(key, group) for comm/exe/key */
static PyObject *unquote(PyObject *body, span g) {
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
        out = bare(v, 0);
    }
    Py_DECREF(v);
    return out;
}

/* ---- an event ---- */

/* a record: (type number, stamp, body, line, node) */
static PyObject *make_rec(PyObject *type, PyObject *stamp, PyObject *body, PyObject *line,
                          PyObject *node) {
    return PyTuple_Pack(5, type, stamp, body, line, node);
}

#define R_TYPE(r) PyTuple_GET_ITEM(r, 0)
#define R_STAMP(r) PyTuple_GET_ITEM(r, 1)
#define R_BODY(r) PyTuple_GET_ITEM(r, 2)
#define R_LINE(r) PyTuple_GET_ITEM(r, 3)

static PyObject *index_str(Py_ssize_t index) {
    if (index >= 0 && index < PyTuple_GET_SIZE(g_index)) return Py_NewRef(PyTuple_GET_ITEM(g_index, index));
    return PyUnicode_FromFormat("%zd", index);
}

/* "\n".join of the event's lines */
static PyObject *join_lines(PyObject *event) {
    Py_ssize_t n = PyList_GET_SIZE(event);
    if (n == 1) return Py_NewRef(R_LINE(PyList_GET_ITEM(event, 0)));
    PyObject *lines = PyList_New(n);
    if (!lines) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) PyList_SET_ITEM(lines, i, Py_NewRef(R_LINE(PyList_GET_ITEM(event, i))));
    PyObject *out = PyUnicode_Join(s_newline, lines);
    Py_DECREF(lines);
    return out;
}

typedef struct {
    PyObject *event;
    Py_ssize_t syscall, cwd, proctitle;  /* positions of the last such record, -1 none */
    Py_ssize_t paths[8]; int npaths; int many_paths;
    PyObject *time, *serial;
    int have_sc; span sc[SC_N];
    PyObject *cwd_value;  /* computed on demand */
    PyObject *first_path;
} ctx_t;

static void ctx_clear(ctx_t *c) {
    Py_CLEAR(c->time); Py_CLEAR(c->serial); Py_CLEAR(c->cwd_value); Py_CLEAR(c->first_path);
}

static PyObject *ctx_cwd(ctx_t *c) {
    if (!c->cwd_value) {
        if (c->cwd < 0) {
            c->cwd_value = Py_NewRef(s_empty);
        } else {
            PyObject *v = get_field(R_BODY(PyList_GET_ITEM(c->event, c->cwd)), p_cwd, 1, 0);
            if (!v && PyErr_Occurred()) return NULL;
            c->cwd_value = v && PyUnicode_GET_LENGTH(v) ? v : (Py_XDECREF(v), Py_NewRef(s_empty));
        }
    }
    return c->cwd_value;
}

/* _Context._absolute */
static PyObject *absolute(ctx_t *c, PyObject *name) {
    if (starts_at(name, s_slash, 0)) return Py_NewRef(name);
    PyObject *cwd = ctx_cwd(c);
    if (!cwd) return NULL;
    if (PyUnicode_GET_LENGTH(cwd) == 0) return Py_NewRef(name);
    Py_ssize_t end = PyUnicode_GET_LENGTH(cwd);
    while (end > 0 && ch_at(cwd, end - 1) == '/') end--;
    PyObject *head = PyUnicode_Substring(cwd, 0, end);
    if (!head) return NULL;
    PyObject *out = PyUnicode_FromFormat("%U/%U", head, name);
    Py_DECREF(head);
    return out;
}

/* _Context.first_path */
static PyObject *ctx_first_path(ctx_t *c) {
    if (c->first_path) return c->first_path;
    for (int i = 0; i < c->npaths; i++) {
        PyObject *name = get_field(R_BODY(PyList_GET_ITEM(c->event, c->paths[i])), p_name, 1, 0);
        if (!name) {
            if (PyErr_Occurred()) return NULL;
            continue;
        }
        if (PyUnicode_GET_LENGTH(name) && PyUnicode_Compare(name, s_null) != 0) {
            c->first_path = absolute(c, name);
            Py_DECREF(name);
            return c->first_path;
        }
        Py_DECREF(name);
    }
    c->first_path = Py_NewRef(s_empty);
    return c->first_path;
}

/* the stamp's (time, serial); 0 when the stamp is not plain ASCII (Python decides then) */
static int ctx_when(ctx_t *c, PyObject *stamp) {
    if (c->time) return 1;
    if (!stamp_ascii_ok(stamp)) return 0;
    Py_ssize_t colon = PyUnicode_FindChar(stamp, ':', 0, PyUnicode_GET_LENGTH(stamp), 1);
    PyObject *t = PyUnicode_Substring(stamp, 0, colon);
    PyObject *s = PyUnicode_Substring(stamp, colon + 1, PyUnicode_GET_LENGTH(stamp));
    if (!t || !s) { Py_XDECREF(t); Py_XDECREF(s); return -1; }
    c->time = PyFloat_FromString(t);
    c->serial = PyLong_FromUnicodeObject(s, 10);
    Py_DECREF(t); Py_DECREF(s);
    return c->time && c->serial ? 1 : -1;
}

/* interpret.kernel() */
static PyObject *kernel_record(ctx_t *c, PyObject *rec, Py_ssize_t index, PyObject *raw) {
    PyObject *pid = NULL, *uid = NULL, *comm = NULL, *exe = NULL, *out = NULL;
    PyObject *pid_v = NULL, *uid_v = NULL, *fields = NULL, *idx = NULL, *owned_names = NULL;
    if (c->syscall >= 0) {
        PyObject *body = R_BODY(PyList_GET_ITEM(c->event, c->syscall));
        pid = PyUnicode_Substring(body, c->sc[SC_PID].a, c->sc[SC_PID].b);
        uid = PyUnicode_Substring(body, c->sc[SC_UID].a, c->sc[SC_UID].b);
        comm = unquote(body, c->sc[SC_COMM]);
        exe = unquote(body, c->sc[SC_EXE]);
        if (!pid || !uid || !comm || !exe) goto done;
    } else {
        PyObject *body = R_BODY(rec);
        pid = get_field(body, p_pid, 0, 0);
        if (!pid && PyErr_Occurred()) goto done;
        uid = get_field(body, p_uid, 0, 0);
        if (!uid && PyErr_Occurred()) goto done;
        comm = get_field(body, p_comm, 1, 0);
        if (!comm && PyErr_Occurred()) goto done;
        exe = get_field(body, p_exe, 1, 0);
        if (!exe && PyErr_Occurred()) goto done;
    }
    PyObject *type = R_TYPE(rec);
    PyObject *names = PyDict_GetItemWithError(g_kernel_ops, type);  /* borrowed */
    if (!names) {
        if (PyErr_Occurred()) goto done;
        PyObject *name = PyObject_CallOneArg(g_type_name, type);
        if (!name) goto done;
        PyObject *lower = PyObject_CallMethod(name, "lower", NULL);
        if (!lower) { Py_DECREF(name); goto done; }
        PyObject *pair = PyTuple_Pack(2, name, lower);
        Py_DECREF(name); Py_DECREF(lower);
        if (!pair) goto done;
        if (PyDict_GET_SIZE(g_kernel_ops) < KERNEL_OPS_MAX && PyDict_SetItem(g_kernel_ops, type, pair) < 0) {
            Py_DECREF(pair);
            goto done;
        }
        names = owned_names = pair;
    }
    pid_v = to_int(pid, 0);
    if (!pid_v) goto done;
    if (uid) { uid_v = to_int(uid, 0); if (!uid_v) goto done; }
    else uid_v = Py_NewRef(Py_None);
    idx = index_str(index);
    if (!idx) goto done;
    fields = PyDict_New();
    if (!fields || PyDict_SetItem(fields, s_record_index, idx) < 0
        || PyDict_SetItem(fields, s_type, PyTuple_GET_ITEM(names, 0)) < 0)
        goto done;
    PyObject *first_path = ctx_first_path(c);
    if (!first_path) goto done;
    PyObject *args[21] = {
        c->time, c->serial, PyTuple_GET_ITEM(names, 1), s_kernel, s_AUDIT, pid_v,
        comm && PyUnicode_GET_LENGTH(comm) ? comm : s_empty,
        exe && PyUnicode_GET_LENGTH(exe) ? exe : s_empty,
        uid_v, s_empty, first_path, s_empty, s_empty, s_empty, s_enforce, NULL, Py_False,
        s_empty, type, fields, raw};
    PyObject *zero = PyLong_FromLong(0);
    args[15] = zero;
    out = PyObject_Vectorcall(g_record_cls, args, 21, NULL);
    Py_DECREF(zero);
done:
    Py_XDECREF(pid); Py_XDECREF(uid); Py_XDECREF(comm); Py_XDECREF(exe);
    Py_XDECREF(pid_v); Py_XDECREF(uid_v); Py_XDECREF(fields); Py_XDECREF(idx);
    Py_XDECREF(owned_names);
    return out;
}

/* interpret._user_avc_inner(body) */
static PyObject *user_avc_inner(PyObject *body) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(body);
    Py_ssize_t start = PyUnicode_Find(body, s_msgq, 0, n, 1);
    if (start == -2) return NULL;
    if (start < 0) return Py_NewRef(body);
    Py_ssize_t end = PyUnicode_FindChar(body, '\'', 0, n, -1);
    if (end == -2) return NULL;
    return PyUnicode_Substring(body, start + 5, end > start + 5 ? end : n);
}

/* interpret._may_decide; -1 on error */
static int may_decide(PyObject *rec, long t) {
    if (t == T_AVC || t == T_USER_AVC) {
        PyObject *body = t == T_AVC ? Py_NewRef(R_BODY(rec)) : user_avc_inner(R_BODY(rec));
        if (!body) return -1;
        Py_ssize_t n = PyUnicode_GET_LENGTH(body);
        Py_ssize_t a = PyUnicode_Find(body, s_apparmor_eq, 0, n, 1);
        Py_ssize_t b = a >= 0 ? a : PyUnicode_Find(body, s_avc_colon, 0, n, 1);
        Py_DECREF(body);
        if (a == -2 || b == -2) return -1;
        return a >= 0 || b >= 0;
    }
    return t == T_LL_ACCESS || t == T_LL_DOMAIN || t == T_SECCOMP || (t >= 1500 && t <= 1507);
}

/* the event as RawRecords for the Python interpreter */
static PyObject *python_interpret(PyObject *event, Py_ssize_t first) {
    Py_ssize_t n = PyList_GET_SIZE(event);
    PyObject *raws = PyList_New(n);
    if (!raws) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *r = PyList_GET_ITEM(event, i);
        PyObject *raw = PyObject_Vectorcall(g_raw_cls, &PyTuple_GET_ITEM(r, 0), 5, NULL);
        if (!raw) { Py_DECREF(raws); return NULL; }
        PyList_SET_ITEM(raws, i, raw);
    }
    PyObject *firstobj = PyLong_FromSsize_t(first);
    PyObject *out = firstobj ? PyObject_CallFunctionObjArgs(g_interpret, raws, firstobj, NULL) : NULL;
    Py_XDECREF(firstobj);
    Py_DECREF(raws);
    return out;
}

/* interpret.interpret(event, first): in C where it is sure, else in Python */
static PyObject *interpret_event(PyObject *event, Py_ssize_t first) {
    Py_ssize_t n = PyList_GET_SIZE(event);
    ctx_t c;
    memset(&c, 0, sizeof(c));
    c.event = event;
    c.syscall = c.cwd = c.proctitle = -1;
    Py_ssize_t primary = -1, rest_first = -1, nrest = 0;
    PyObject *out = NULL;
    int big, r;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *rec = PyList_GET_ITEM(event, i);
        long t = type_value(R_TYPE(rec), &big);
        if (big) goto python;
        if (is_aux(t)) {
            if (t == T_SYSCALL) { c.syscall = i; if (primary < 0) primary = i; }
            else if (t == T_PATH) {
                if (c.npaths < 8) c.paths[c.npaths++] = i; else c.many_paths = 1;
            } else if (t == T_PROCTITLE) c.proctitle = i;
            else if (t == T_CWD) c.cwd = i;
        } else {
            if ((r = may_decide(rec, t)) < 0) goto error;
            if (r) goto python;  /* a security module's record: Python's interpret */
            if (rest_first < 0) rest_first = i;
            nrest++;
        }
    }
    if (c.many_paths) goto python;
    if (c.syscall >= 0) {
        c.have_sc = syscall_exact(R_BODY(PyList_GET_ITEM(event, c.syscall)), c.sc);
        if (!c.have_sc) goto python;  /* the regex's lazy fallback stays in Python */
    }
    if ((r = ctx_when(&c, R_STAMP(PyList_GET_ITEM(event, 0)))) < 0) goto error;
    if (!r) goto python;
    out = PyList_New(0);
    if (!out) goto error;
    if (nrest == 0 || nrest == 1) {
        Py_ssize_t at = nrest == 0 ? (primary > 0 ? primary : 0) : rest_first;
        PyObject *raw = join_lines(event);
        if (!raw) goto error;
        PyObject *rec = kernel_record(&c, PyList_GET_ITEM(event, at), first + at, raw);
        Py_DECREF(raw);
        if (!rec || PyList_Append(out, rec) < 0) { Py_XDECREF(rec); goto error; }
        Py_DECREF(rec);
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *item = PyList_GET_ITEM(event, i);
            long t = type_value(R_TYPE(item), &big);
            if (is_aux(t)) continue;
            PyObject *rec = kernel_record(&c, item, first + i, R_LINE(item));
            if (!rec || PyList_Append(out, rec) < 0) { Py_XDECREF(rec); goto error; }
            Py_DECREF(rec);
        }
    }
    ctx_clear(&c);
    return out;
python:
    ctx_clear(&c);
    return python_interpret(event, first);
error:
    ctx_clear(&c);
    Py_XDECREF(out);
    return NULL;
}

/* ---- the reader: Correlator state ---- */

typedef struct {
    PyObject_HEAD
    Py_ssize_t max_pending, max_records;
    PyObject *pending;  /* stamp -> list of records, oldest first */
    PyObject *done;     /* stamp -> records already seen of a completed event */
    PyObject *last;     /* the stamp of the pending event the previous line joined, or NULL */
    Py_ssize_t events, evicted, skipped;
} Reader;

static int reader_init(Reader *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"max_pending", "max_records", NULL};
    self->max_pending = 64;
    self->max_records = 256;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|nn", names, &self->max_pending, &self->max_records))
        return -1;
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
    Py_TYPE(self)->tp_free((PyObject *)self);
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
    rc = emit(out, interpret_event(event, first));
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
        int rc = emit(out, interpret_event(event, 0));
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
    token = PyUnicode_Substring(line, 5, space);
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

static PyGetSetDef reader_getset[] = {
    {"pending", (getter)reader_pending, NULL, "events waiting for more records", NULL},
    {NULL}};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "stockade.audit.readers._fastread.Reader",
    .tp_doc = "Reader(max_pending=64, max_records=256): lines in, AuditRecords out",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)reader_init,
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_methods = reader_methods,
    .tp_members = reader_members,
    .tp_getset = reader_getset,
};

static PyObject *setup(PyObject *mod, PyObject *args) {
    PyObject *tokens, *token_fn, *parse_line, *interpret, *raw_cls, *record_cls, *kernel_ops,
        *type_name, *index, *apparmor;
    if (!PyArg_ParseTuple(args, "O!OOOOOO!OO!O", &PyDict_Type, &tokens, &token_fn, &parse_line,
                          &interpret, &raw_cls, &record_cls, &PyDict_Type, &kernel_ops, &type_name,
                          &PyTuple_Type, &index, &apparmor))
        return NULL;
    Py_XSETREF(g_tokens, Py_NewRef(tokens));
    Py_XSETREF(g_token_fn, Py_NewRef(token_fn));
    Py_XSETREF(g_parse_line, Py_NewRef(parse_line));
    Py_XSETREF(g_interpret, Py_NewRef(interpret));
    Py_XSETREF(g_raw_cls, Py_NewRef(raw_cls));
    Py_XSETREF(g_record_cls, Py_NewRef(record_cls));
    Py_XSETREF(g_kernel_ops, Py_NewRef(kernel_ops));
    Py_XSETREF(g_type_name, Py_NewRef(type_name));
    Py_XSETREF(g_index, Py_NewRef(index));
    Py_XSETREF(g_apparmor, Py_NewRef(apparmor));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"setup", setup, METH_VARARGS, "setup(...): the Python definitions this reader follows"},
    {NULL}};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_fastread",
    "The compiled audit.log reader (readers.fast says whether it is in use).", -1, module_methods};

#define INTERN(var, text) if (!((var) = PyUnicode_InternFromString(text))) return NULL

PyMODINIT_FUNC PyInit__fastread(void) {
    INTERN(s_type_eq, "type="); INTERN(s_msg, " msg=audit("); INTERN(s_close, "):");
    INTERN(s_empty, ""); INTERN(s_kernel, "kernel"); INTERN(s_AUDIT, "AUDIT");
    INTERN(s_enforce, "enforce"); INTERN(s_record_index, "record_index"); INTERN(s_type, "type");
    INTERN(s_newline, "\n"); INTERN(s_null, "(null)"); INTERN(s_pid, "pid"); INTERN(s_uid, "uid");
    INTERN(s_comm, "comm"); INTERN(s_exe, "exe"); INTERN(s_name, "name"); INTERN(s_cwd, "cwd");
    INTERN(s_apparmor_eq, "apparmor="); INTERN(s_avc_colon, "avc:"); INTERN(s_msgq, "msg='");
    INTERN(s_quote1, "'"); INTERN(s_slash, "/"); INTERN(s_node, "node"); INTERN(s_body, "body");
    INTERN(s_line, "line"); INTERN(s_stamp, "stamp"); INTERN(s_proctitle, "proctitle");
    INTERN(p_pid, " pid="); INTERN(p_uid, " uid="); INTERN(p_comm, " comm=");
    INTERN(p_exe, " exe="); INTERN(p_name, " name="); INTERN(p_cwd, " cwd=");
    if (PyType_Ready(&ReaderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Reader", (PyObject *)&ReaderType) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
