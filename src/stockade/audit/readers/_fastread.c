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
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
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
static PyObject *g_log_masks;   /* aalog.grammar.log_masks */
static PyObject *g_cap_name;    /* lsm.caps.cap_name */
static PyObject *g_syscall_name; /* syscalls.syscall_name */
static PyObject *g_untrusted;   /* parser.UNTRUSTED */
static PyObject *g_sysnames;    /* (arch, nr) -> syscall name, bounded */
static PyObject *g_errno_action; /* interpret.errno_action */
static PyObject *g_fallback;    /* interpret.FALLBACK_ENOSYS */
static PyObject *g_avc_perms;   /* parser.avc_permissions */
static PyObject *g_syscall_fields; /* interpret.syscall_fields */

/* ---- interned strings ---- */
static PyObject *s_type_eq, *s_msg, *s_close, *s_empty, *s_kernel, *s_AUDIT, *s_enforce,
    *s_record_index, *s_type, *s_newline, *s_null, *s_pid, *s_uid, *s_comm, *s_exe, *s_name,
    *s_cwd, *s_apparmor_eq, *s_avc_colon, *s_msgq, *s_quote1, *s_slash, *s_node, *s_body,
    *s_line, *s_stamp, *s_proctitle, *s_space, *k_apparmor, *k_operation, *k_profile, *k_label,
    *k_capname, *k_capability, *k_peer, *k_peer_label, *k_family, *k_path, *k_fsuid, *k_syscall,
    *k_success, *k_exit, *k_ppid, *k_auid, *k_ses, *k_key, *v_DENIED, *v_ALLOWED, *v_KILL, *v_HINT,
    *v_STATUS, *v_ERROR, *v_complain, *v_apparmor, *v_capable, *v_signal, *v_ptrace;
static PyObject *k_sock_type, *k_tcontext, *s_arch_eq, *p_proctitle, *p_inode, *v_denied, *v_granted, *v_one, *k_permissive, *k_tclass,
    *k_scontext, *k_ino, *v_colon, *v_comma, *v_cap_userns, *v_capability2, *v_avc, *v_perms,
    *v_selinux, *v_permissive, *k_blockers, *k_domain, *k_opid, *k_ocomm, *v_landlock, *k_status,
    *v_domain, *v_allocated, *k_code, *k_arch, *v_expected, *v_action, *v_syscall_name, *k_subj,
    *v_syscall, *v_seccomp;
static PyObject *p_pid, *p_uid, *p_comm, *p_exe, *p_name, *p_cwd; /* " key=" probes */

#define SEARCH_MAX (1 << 21)  /* longer SYSCALL bodies (none: lines are cut at 1 MiB) take Python's regex */
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

/* Python's regex classes for str patterns (Unicode), with an ASCII shortcut */
static inline int is_digit(Py_UCS4 ch) {
    return ch < 128 ? (ch >= '0' && ch <= '9') : Py_UNICODE_ISDECIMAL(ch);
}
static inline int is_word(Py_UCS4 ch) {
    if (ch < 128)
        return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
    return Py_UNICODE_ISALNUM(ch);
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

/* Short ASCII pieces (field names, small values, type tokens) come back again and again: one
 * str object per distinct piece is kept in a fixed table of SHORT_SLOTS (a new piece replaces
 * the one in its slot), so memory is bounded and no piece is allocated or hashed twice. */
#define SHORT_SLOTS 4096
#define SHORT_MAX 32
static PyObject *short_table[SHORT_SLOTS];

static PyObject *sub(PyObject *s, Py_ssize_t a, Py_ssize_t b) {
    Py_ssize_t n = b - a;
    if (n <= 0 || n > SHORT_MAX || !PyUnicode_IS_ASCII(s)) return PyUnicode_Substring(s, a, b);
    const unsigned char *p = PyUnicode_1BYTE_DATA(s) + a;
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    PyObject **slot = &short_table[h % SHORT_SLOTS];
    PyObject *hit = *slot;
    if (hit && PyUnicode_GET_LENGTH(hit) == n && memcmp(PyUnicode_1BYTE_DATA(hit), p, (size_t)n) == 0)
        return Py_NewRef(hit);
    PyObject *made = PyUnicode_FromStringAndSize((const char *)p, n);
    if (!made) return NULL;
    Py_XSETREF(*slot, Py_NewRef(made));
    return made;
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

/* parser.parse_fields(body): every `key=value` (_PAIR's findall), the first of a repeated key */
static PyObject *parse_fields(PyObject *body) {
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
                    Py_SETREF(value, bare(value, PyUnicode_Compare(key, s_proctitle) == 0));
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

static PyObject *py_parse_fields(PyObject *mod, PyObject *body) {
    if (!PyUnicode_Check(body)) { PyErr_SetString(PyExc_TypeError, "a body is a str"); return NULL; }
    return parse_fields(body);
}

/* ---- the SYSCALL record: interpret._SYSCALL_EXACT, matched from the start ---- */

typedef struct { Py_ssize_t a, b; } span;
enum { SC_ARCH, SC_SYSCALL, SC_SUCCESS, SC_EXIT, SC_PPID, SC_PID, SC_AUID, SC_UID, SC_SES,
       SC_COMM, SC_EXE, SC_KEY, SC_N };

typedef struct { PyObject *s; Py_ssize_t i, n; } cursor;

static int c_lit_n(cursor *c, const char *lit, Py_ssize_t k) {
    if (c->i + k > c->n) return 0;
    if (PyUnicode_KIND(c->s) == PyUnicode_1BYTE_KIND) {
        if (memcmp(PyUnicode_1BYTE_DATA(c->s) + c->i, lit, (size_t)k) != 0) return 0;
    } else {
        for (Py_ssize_t j = 0; j < k; j++)
            if (ch_at(c->s, c->i + j) != (Py_UCS4)(unsigned char)lit[j]) return 0;
    }
    c->i += k;
    return 1;
}
#define c_lit(c, lit) c_lit_n((c), (lit), (Py_ssize_t)sizeof(lit) - 1)  /* lit: a string literal */

/* one or more of a class: 'd' \d, 'w' \w, 'S' \S (Python's Unicode meanings) */
static int c_run(cursor *c, char cls, span *out) {
    Py_ssize_t start = c->i;
    if (PyUnicode_IS_ASCII(c->s)) {
        const unsigned char *p = PyUnicode_1BYTE_DATA(c->s);
        Py_ssize_t i = c->i, n = c->n;
        if (cls == 'd') while (i < n && p[i] >= '0' && p[i] <= '9') i++;
        else if (cls == 'w') while (i < n && is_word(p[i])) i++;
        else while (i < n && !Py_UNICODE_ISSPACE(p[i])) i++;
        c->i = i;
        if (out) { out->a = start; out->b = i; }
        return i > start;
    }
    while (c->i < c->n) {
        Py_UCS4 ch = ch_at(c->s, c->i);
        int ok = cls == 'd' ? is_digit(ch) : cls == 'w' ? is_word(ch) : !Py_UNICODE_ISSPACE(ch);
        if (!ok) break;
        c->i++;
    }
    if (out) { out->a = start; out->b = c->i; }
    return c->i > start;
}

#define c_field(c, lit, cls, out) (c_lit((c), lit) && c_run((c), (cls), (out)))

static void key_group(PyObject *body, Py_ssize_t from, Py_ssize_t n, span *g);

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
static int syscall_search(PyObject *body, span *g) {
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
    int have_sc; span sc[SC_N];  /* the exact layout's groups, or */
    PyObject *sc_dict;           /* interpret.syscall_fields(body) when the layout is odd */
    PyObject *cwd_value;  /* computed on demand */
    PyObject *first_path;
    PyObject *fields;     /* _Context.fields() */
    PyObject *pid, *comm, *exe, *uid, *errno_;  /* _base's values from the SYSCALL record */
} ctx_t;

static void ctx_clear(ctx_t *c) {
    Py_CLEAR(c->time); Py_CLEAR(c->serial); Py_CLEAR(c->cwd_value); Py_CLEAR(c->first_path);
    Py_CLEAR(c->fields); Py_CLEAR(c->pid); Py_CLEAR(c->comm); Py_CLEAR(c->exe); Py_CLEAR(c->uid);
    Py_CLEAR(c->errno_); Py_CLEAR(c->sc_dict);
}

static PyObject *sc_names[SC_N];  /* the SYSCALL fields' names, SC_* order */

/* ctx.syscall().get(name) as a new reference; NULL (no error) for None or absent */
static PyObject *scv(ctx_t *c, int i) {
    if (c->syscall < 0) return NULL;
    if (c->sc_dict) {
        PyObject *v = PyDict_GetItemWithError(c->sc_dict, sc_names[i]);
        return v && v != Py_None ? Py_NewRef(v) : NULL;
    }
    PyObject *body = R_BODY(PyList_GET_ITEM(c->event, c->syscall));
    if (i == SC_COMM || i == SC_EXE || i == SC_KEY) {
        PyObject *v = unquote(body, c->sc[i]);
        if (v == Py_None) { Py_DECREF(v); return NULL; }
        return v;
    }
    if (c->sc[i].a < 0) return NULL;  /* success= and exit= are optional in the lazy regex */
    return PyUnicode_Substring(body, c->sc[i].a, c->sc[i].b);
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
        pid = scv(c, SC_PID); uid = scv(c, SC_UID); comm = scv(c, SC_COMM); exe = scv(c, SC_EXE);
        if (PyErr_Occurred()) goto done;
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
    PyObject *names = PyDict_GetItemWithError(g_kernel_ops, type);
    if (names) owned_names = Py_NewRef(names);  /* held: the AuditRecord call runs Python code */
    else {
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

/* syscalls.syscall_name(arch, nr), remembered (bounded) */
static PyObject *syscall_name(PyObject *a, PyObject *b) {
    PyObject *key = PyTuple_Pack(2, a, b), *out = NULL;
    if (key) {
        out = PyDict_GetItemWithError(g_sysnames, key);
        if (out) Py_INCREF(out);
        else if (!PyErr_Occurred()) {
            out = PyObject_CallFunctionObjArgs(g_syscall_name, a, b, NULL);
            if (out && PyDict_GET_SIZE(g_sysnames) < 4096 && PyDict_SetItem(g_sysnames, key, out) < 0)
                Py_CLEAR(out);
        }
    }
    Py_XDECREF(key);
    return out;
}

/* _Context.fields(): the syscall context kept beside a decision (shared: copied into each) */
static PyObject *ctx_fields(ctx_t *c) {
    if (c->fields) return c->fields;
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    if (c->syscall >= 0) {
        PyObject *arch = scv(c, SC_ARCH), *nr = scv(c, SC_SYSCALL);
        PyObject *name = PyErr_Occurred() ? NULL : syscall_name(arch ? arch : s_empty, nr ? nr : s_empty);
        Py_XDECREF(arch); Py_XDECREF(nr);
        if (!name || PyDict_SetItem(d, k_syscall, name) < 0) { Py_XDECREF(name); goto error; }
        Py_DECREF(name);
        static const int kept[] = {SC_SUCCESS, SC_EXIT, SC_PPID, SC_AUID, SC_SES, SC_KEY};
        for (int i = 0; i < 6; i++) {
            PyObject *v = scv(c, kept[i]);
            if (!v) { if (PyErr_Occurred()) goto error; continue; }
            int bad = PyDict_SetItem(d, sc_names[kept[i]], v);
            Py_DECREF(v);
            if (bad < 0) goto error;
        }
    }
    if (c->proctitle >= 0) {
        PyObject *body = R_BODY(PyList_GET_ITEM(c->event, c->proctitle));
        if (PyUnicode_GET_LENGTH(body)) {
            PyObject *title = get_field(body, p_proctitle, 1, 1);
            if (!title && PyErr_Occurred()) goto error;
            int bad = PyDict_SetItem(d, s_proctitle, title ? title : s_empty);
            Py_XDECREF(title);
            if (bad < 0) goto error;
        }
    }
    PyObject *cwd = ctx_cwd(c);
    if (!cwd) goto error;
    if (PyUnicode_GET_LENGTH(cwd) && PyDict_SetItem(d, s_cwd, cwd) < 0) goto error;
    c->fields = d;
    return d;
error:
    Py_DECREF(d);
    return NULL;
}

/* _base()'s values from the SYSCALL record: pid, comm, exe, uid, errno */
static int ctx_base(ctx_t *c) {
    if (c->pid) return 0;
    if (c->syscall < 0) {
        c->pid = PyLong_FromLong(0);
        c->comm = Py_NewRef(s_empty);
        c->exe = Py_NewRef(s_empty);
        c->uid = Py_NewRef(Py_None);
        c->errno_ = PyLong_FromLong(0);
        return c->pid && c->errno_ ? 0 : -1;
    }
    PyObject *pid = scv(c, SC_PID), *uid = scv(c, SC_UID), *exit_ = scv(c, SC_EXIT);
    PyObject *comm = scv(c, SC_COMM), *exe = scv(c, SC_EXE);
    int rc = -1;
    if (PyErr_Occurred()) { Py_XDECREF(comm); Py_XDECREF(exe); goto done; }
    c->pid = to_int(pid, 0);
    c->uid = uid ? to_int(uid, 0) : Py_NewRef(Py_None);
    c->comm = comm ? comm : Py_NewRef(s_empty);
    c->exe = exe ? exe : Py_NewRef(s_empty);
    PyObject *code = to_int(exit_, 0);
    if (!c->pid || !c->uid || !code) { Py_XDECREF(code); goto done; }
    PyObject *zero = PyLong_FromLong(0);
    int lt = zero ? PyObject_RichCompareBool(code, zero, Py_LT) : -1;
    Py_XDECREF(zero);
    if (lt < 0) { Py_DECREF(code); goto done; }
    c->errno_ = lt ? PyNumber_Negative(code) : PyLong_FromLong(0);
    Py_DECREF(code);
    if (!c->errno_) goto done;
    if (PyUnicode_GET_LENGTH(c->comm) == 0) Py_SETREF(c->comm, Py_NewRef(s_empty));
    if (PyUnicode_GET_LENGTH(c->exe) == 0) Py_SETREF(c->exe, Py_NewRef(s_empty));
    rc = 0;
done:
    Py_XDECREF(pid); Py_XDECREF(uid); Py_XDECREF(exit_);
    return rc;
}

static PyObject *dget(PyObject *f, PyObject *key) {  /* borrowed, NULL when absent */
    return PyDict_GetItemWithError(f, key);
}

static int nonempty(PyObject *v) { return v && PyUnicode_Check(v) && PyUnicode_GET_LENGTH(v); }

static int eq(PyObject *a, PyObject *b) { return a && PyUnicode_Check(a) && PyUnicode_Compare(a, b) == 0; }

/* interpret._address(f): `host:port` from the first pair present, '' when none */
static PyObject *address(PyObject *f) {
    static const char *pairs[4][2] = {{"faddr", "fport"}, {"daddr", "dest"}, {"laddr", "lport"},
                                      {"saddr", "src"}};
    for (int i = 0; i < 4; i++) {
        PyObject *addr = PyDict_GetItemString(f, pairs[i][0]);
        PyObject *port = PyDict_GetItemString(f, pairs[i][1]);
        if (!addr && !port) continue;
        PyObject *text = PyUnicode_FromFormat("%U:%U", addr ? addr : s_empty, port ? port : s_empty);
        if (!text) return NULL;
        PyObject *out = PyObject_CallMethod(text, "lstrip", "s", ":");
        Py_DECREF(text);
        return out;
    }
    return Py_NewRef(s_empty);
}

/* interpret.apparmor(); NULL without an error: not sure here, Python interprets the event */
static PyObject *apparmor_record(ctx_t *c, PyObject *rec, long t, Py_ssize_t index, PyObject *f) {
    PyObject *out = NULL, *obj = NULL, *masks = NULL, *pid = NULL, *uid = NULL, *errno_ = NULL,
             *fields = NULL, *idx = NULL;
    if (ctx_base(c) < 0) return NULL;
    PyObject *cf = ctx_fields(c);
    if (!cf) return NULL;
    PyObject *verdict = dget(f, k_apparmor);
    if (!nonempty(verdict)) {
        verdict = t == 1502 ? v_ALLOWED : t == 1503 ? v_DENIED : t == 1504 ? v_HINT
                : t == 1505 ? v_STATUS : t == 1506 ? v_ERROR : t == 1507 ? v_KILL : s_AUDIT;
    }
    PyObject *result = eq(verdict, v_DENIED) || eq(verdict, v_KILL) ? v_DENIED
                     : eq(verdict, v_ALLOWED) ? v_ALLOWED : s_AUDIT;
    int denied_result = result == v_DENIED;
    PyObject *mode = eq(verdict, v_ALLOWED) ? v_complain : s_enforce;
    PyObject *op = dget(f, k_operation);
    if (!op) op = s_empty;
    PyObject *profile = dget(f, k_profile);
    if (!nonempty(profile)) { profile = dget(f, k_label); if (!profile) profile = s_empty; }
    PyObject *capname = dget(f, k_capname);
    if (eq(op, v_capable) || capname) {
        if (nonempty(capname)) obj = Py_NewRef(capname);
        else {
            PyObject *number = to_int(dget(f, k_capability), -1);
            obj = number ? PyObject_CallOneArg(g_cap_name, number) : NULL;
            Py_XDECREF(number);
        }
    } else if (dget(f, s_name) && !eq(op, v_signal) && !eq(op, v_ptrace)) {
        obj = Py_NewRef(dget(f, s_name));
    } else if (dget(f, k_peer) || dget(f, k_peer_label)) {
        PyObject *peer = dget(f, k_peer);
        if (!nonempty(peer)) { peer = dget(f, k_peer_label); if (!peer) peer = s_empty; }
        obj = Py_NewRef(peer);
    } else if (dget(f, k_family)) {  /* _address(f) or f"{family} {sock_type}".strip() */
        obj = address(f);
        if (obj && !PyUnicode_GET_LENGTH(obj)) {
            PyObject *type = dget(f, k_sock_type);
            PyObject *text = PyUnicode_FromFormat("%U %U", dget(f, k_family), type ? type : s_empty);
            Py_SETREF(obj, text ? PyObject_CallMethod(text, "strip", NULL) : NULL);
            Py_XDECREF(text);
        }
    } else {
        obj = dget(f, k_path);
        obj = Py_NewRef(obj ? obj : s_empty);
    }
    if (!obj || PyErr_Occurred()) goto done;
    masks = PyObject_CallOneArg(g_log_masks, f);
    if (!masks) goto done;
    if (!PyTuple_Check(masks) || PyTuple_GET_SIZE(masks) != 2) {
        PyErr_SetString(PyExc_TypeError, "log_masks() gives a pair");
        goto done;
    }
    PyObject *denied = PyTuple_GET_ITEM(masks, 1);
    PyObject *requested = PyObject_IsTrue(PyTuple_GET_ITEM(masks, 0)) ? PyTuple_GET_ITEM(masks, 0) : denied;
    if (denied_result && !PyObject_IsTrue(denied)) denied = requested;
    pid = to_int(dget(f, s_pid), 0);
    if (!pid) goto done;
    if (!PyObject_IsTrue(pid)) Py_SETREF(pid, Py_NewRef(c->pid));
    PyObject *comm = dget(f, s_comm);
    if (!nonempty(comm)) comm = c->comm;
    PyObject *exe = dget(f, s_exe);
    if (!nonempty(exe)) exe = c->exe;
    PyObject *fsuid = dget(f, k_fsuid);
    uid = fsuid ? to_int(fsuid, 0) : Py_NewRef(c->uid);
    if (!uid) goto done;
    errno_ = denied_result && !PyObject_IsTrue(c->errno_) ? PyLong_FromLong(13) : Py_NewRef(c->errno_);
    idx = index_str(index);
    fields = PyDict_New();
    if (!errno_ || !idx || !fields || PyDict_SetItem(fields, s_record_index, idx) < 0
        || PyDict_Update(fields, cf) < 0 || PyDict_Update(fields, f) < 0)
        goto done;
    PyObject *args[21] = {
        c->time, c->serial, op, v_apparmor, result, pid, comm, exe, uid, profile, obj, requested,
        denied, s_empty, mode, errno_, Py_False, profile, R_TYPE(rec), fields, R_LINE(rec)};
    out = PyObject_Vectorcall(g_record_cls, args, 21, NULL);
done:
    Py_XDECREF(obj); Py_XDECREF(masks); Py_XDECREF(pid); Py_XDECREF(uid); Py_XDECREF(errno_);
    Py_XDECREF(fields); Py_XDECREF(idx);
    return out;
}

/* the AuditRecord from _base()'s values and what a module's function set */
typedef struct {
    PyObject *operation, *module, *result, *pid, *comm, *exe, *uid, *subject, *object,
             *requested, *denied, *mode, *errno_, *profile;
} parts_t;

static PyObject *build(ctx_t *c, PyObject *rec, parts_t *p, PyObject *fields) {
    PyObject *args[21] = {
        c->time, c->serial, p->operation, p->module, p->result, p->pid, p->comm, p->exe, p->uid,
        p->subject, p->object, p->requested, p->denied, s_empty, p->mode, p->errno_, Py_False,
        p->profile, R_TYPE(rec), fields, R_LINE(rec)};
    return PyObject_Vectorcall(g_record_cls, args, 21, NULL);
}

/* {"record_index": ..., **ctx.fields()} */
static PyObject *base_fields(ctx_t *c, Py_ssize_t index) {
    PyObject *cf = ctx_fields(c);
    if (!cf) return NULL;
    PyObject *idx = index_str(index);
    PyObject *fields = idx ? PyDict_New() : NULL;
    if (!fields || PyDict_SetItem(fields, s_record_index, idx) < 0 || PyDict_Update(fields, cf) < 0) {
        Py_XDECREF(idx); Py_XDECREF(fields);
        return NULL;
    }
    Py_DECREF(idx);
    return fields;
}

static PyObject *or_(PyObject *v, PyObject *dflt) { return nonempty(v) ? v : dflt; }

static PyObject *prefixed(const char *prefix, PyObject *v) {
    return PyUnicode_FromFormat("%s%U", prefix, v ? v : s_empty);
}

/* _Context.full_path(name, inode) */
static PyObject *full_path(ctx_t *c, PyObject *name, PyObject *inode) {
    for (int i = 0; i < c->npaths; i++) {
        PyObject *body = R_BODY(PyList_GET_ITEM(c->event, c->paths[i]));
        PyObject *cand = get_field(body, p_name, 1, 0);
        if (!cand) { if (PyErr_Occurred()) return NULL; continue; }
        if (!PyUnicode_GET_LENGTH(cand) || PyUnicode_Compare(cand, s_null) == 0) { Py_DECREF(cand); continue; }
        int hit = 0;
        if (nonempty(inode)) {
            PyObject *ino = get_field(body, p_inode, 0, 0);
            if (!ino && PyErr_Occurred()) { Py_DECREF(cand); return NULL; }
            hit = ino && PyUnicode_Compare(ino, inode) == 0;
            Py_XDECREF(ino);
        }
        if (!hit) {
            Py_ssize_t n = PyUnicode_GET_LENGTH(cand);
            Py_ssize_t slash = PyUnicode_FindChar(cand, '/', 0, n, -1);
            PyObject *last = PyUnicode_Substring(cand, slash >= 0 ? slash + 1 : 0, n);
            if (!last) { Py_DECREF(cand); return NULL; }
            hit = PyUnicode_Compare(last, name) == 0;
            Py_DECREF(last);
        }
        if (hit) {
            PyObject *out = absolute(c, cand);
            Py_DECREF(cand);
            return out;
        }
        Py_DECREF(cand);
    }
    return Py_NewRef(name);
}

/* interpret.selinux() for an AVC record; NULL without an error: Python decides */
static PyObject *selinux_record(ctx_t *c, PyObject *rec, Py_ssize_t index, PyObject *body,
                                PyObject *f) {
    PyObject *out = NULL, *verdict_perms = NULL, *perms = NULL, *obj = NULL, *profile = NULL,
             *requested = NULL, *spaced = NULL, *pid = NULL, *errno_ = NULL, *fields = NULL, *parts = NULL;
    if (ctx_base(c) < 0) return NULL;
    verdict_perms = PyObject_CallOneArg(g_avc_perms, body);
    if (!verdict_perms) return NULL;
    PyObject *verdict;
    if (verdict_perms == Py_None) { verdict = v_denied; perms = PyList_New(0); }
    else { verdict = PyTuple_GET_ITEM(verdict_perms, 0); perms = Py_NewRef(PyTuple_GET_ITEM(verdict_perms, 1)); }
    if (!perms) goto done;
    int permissive = eq(dget(f, k_permissive), v_one);
    int granted = eq(verdict, v_granted);
    PyObject *result = granted ? s_AUDIT : permissive ? v_ALLOWED : v_DENIED;
    PyObject *tclass = dget(f, k_tclass);
    if (!tclass) tclass = s_empty;
    PyObject *subject = dget(f, k_scontext);
    if (!subject) subject = s_empty;
    parts = PyUnicode_Split(subject, v_colon, -1);
    if (!parts) goto done;
    profile = Py_NewRef(PyList_GET_SIZE(parts) > 2 ? PyList_GET_ITEM(parts, 2) : subject);
    if (dget(f, k_path)) obj = Py_NewRef(dget(f, k_path));
    else if (dget(f, s_name)) obj = full_path(c, dget(f, s_name), dget(f, k_ino));
    else if ((eq(tclass, k_capability) || eq(tclass, v_cap_userns) || eq(tclass, v_capability2))
             && dget(f, k_capability)) {
        PyObject *number = to_int(dget(f, k_capability), -1);
        if (!number) goto done;
        if (eq(tclass, v_capability2)) {
            PyObject *more = PyLong_FromLong(32);
            Py_SETREF(number, more ? PyNumber_Add(number, more) : NULL);
            Py_XDECREF(more);
            if (!number) goto done;
        }
        obj = PyObject_CallOneArg(g_cap_name, number);
        Py_DECREF(number);
    } else {  /* _address(f) or f.get("tcontext", "") */
        obj = address(f);
        if (obj && !PyUnicode_GET_LENGTH(obj)) {
            PyObject *tcontext = dget(f, k_tcontext);
            Py_SETREF(obj, Py_NewRef(tcontext ? tcontext : s_empty));
        }
    }
    if (!obj) goto done;
    requested = PyUnicode_Join(v_comma, perms);
    spaced = requested ? PyUnicode_Join(s_space, perms) : NULL;
    pid = to_int(dget(f, s_pid), 0);
    if (!spaced || !pid) goto done;
    if (!PyObject_IsTrue(pid)) Py_SETREF(pid, Py_NewRef(c->pid));
    errno_ = result == v_DENIED && !PyObject_IsTrue(c->errno_) ? PyLong_FromLong(13) : Py_NewRef(c->errno_);
    fields = errno_ ? base_fields(c, index) : NULL;
    if (!fields || PyDict_Update(fields, f) < 0 || PyDict_SetItem(fields, v_avc, verdict) < 0
        || PyDict_SetItem(fields, v_perms, spaced) < 0)
        goto done;
    parts_t p = {tclass, v_selinux, result, pid, or_(dget(f, s_comm), c->comm), c->exe, c->uid,
                 subject, obj, requested, result != s_AUDIT ? requested : s_empty,
                 permissive ? v_permissive : s_enforce, errno_, profile};
    out = build(c, rec, &p, fields);
done:
    Py_XDECREF(verdict_perms); Py_XDECREF(perms); Py_XDECREF(obj); Py_XDECREF(profile);
    Py_XDECREF(requested); Py_XDECREF(spaced); Py_XDECREF(pid); Py_XDECREF(errno_);
    Py_XDECREF(fields); Py_XDECREF(parts);
    return out;
}

/* interpret.landlock_access(); `creator` is the event's last allocated domain of its id */
static PyObject *landlock_access_record(ctx_t *c, PyObject *rec, Py_ssize_t index, PyObject *f,
                                        PyObject *domains) {
    PyObject *out = NULL, *obj = NULL, *subject = NULL, *fields = NULL, *pid = NULL, *errno_ = NULL;
    if (ctx_base(c) < 0) return NULL;
    PyObject *blockers = dget(f, k_blockers);
    if (!blockers) blockers = s_empty;
    PyObject *domain = dget(f, k_domain);
    if (!domain) domain = s_empty;
    subject = prefixed("domain=", domain);
    if (!subject) goto done;
    if (dget(f, k_path)) obj = Py_NewRef(dget(f, k_path));
    else if (dget(f, k_opid)) {
        PyObject *ocomm = dget(f, k_ocomm);
        obj = nonempty(ocomm) ? PyUnicode_FromFormat("pid %U (%U)", dget(f, k_opid), ocomm)
                              : PyUnicode_FromFormat("pid %U", dget(f, k_opid));
    } else obj = address(f);
    if (!obj) goto done;
    fields = base_fields(c, index);
    if (!fields) goto done;
    pid = Py_NewRef(c->pid);
    PyObject *comm = c->comm, *exe = c->exe;
    PyObject *creator = PyDict_GetItemWithError(domains, domain);
    if (creator) {
        static const char *keys[] = {"pid", "uid", "exe", "comm", "mode"};
        for (int i = 0; i < 5; i++) {
            PyObject *v = PyDict_GetItemString(creator, keys[i]);
            if (!v) continue;
            PyObject *k = PyUnicode_FromFormat("domain_%s", keys[i]);
            int bad = !k || PyDict_SetItem(fields, k, v) < 0;
            Py_XDECREF(k);
            if (bad) goto done;
        }
        if (!PyObject_IsTrue(pid)) {
            Py_SETREF(pid, to_int(PyDict_GetItemString(creator, "pid"), 0));
            if (!pid) goto done;
            comm = PyDict_GetItemString(creator, "comm");
            exe = PyDict_GetItemString(creator, "exe");
            if (!comm) comm = s_empty;
            if (!exe) exe = s_empty;
        }
    } else if (PyErr_Occurred()) goto done;
    errno_ = !PyObject_IsTrue(c->errno_) ? PyLong_FromLong(13) : Py_NewRef(c->errno_);
    if (!errno_ || PyDict_Update(fields, f) < 0) goto done;
    parts_t p = {blockers, v_landlock, v_DENIED, pid, comm, exe, c->uid, subject, obj, blockers,
                 blockers, s_enforce, errno_, s_empty};
    out = build(c, rec, &p, fields);
done:
    Py_XDECREF(obj); Py_XDECREF(subject); Py_XDECREF(fields); Py_XDECREF(pid); Py_XDECREF(errno_);
    return out;
}

/* interpret.landlock_domain() */
static PyObject *landlock_domain_record(ctx_t *c, PyObject *rec, Py_ssize_t index, PyObject *f) {
    PyObject *out = NULL, *op = NULL, *subject = NULL, *fields = NULL, *pid = NULL, *uid = NULL,
             *zero = NULL;
    if (ctx_base(c) < 0) return NULL;
    PyObject *status = dget(f, k_status);
    op = nonempty(status) ? prefixed("domain_", status) : Py_NewRef(v_domain);
    subject = prefixed("domain=", dget(f, k_domain));
    fields = base_fields(c, index);
    zero = PyLong_FromLong(0);
    if (!op || !subject || !fields || !zero || PyDict_Update(fields, f) < 0) goto done;
    PyObject *comm = c->comm, *exe = c->exe, *obj = s_empty;
    pid = Py_NewRef(c->pid);
    uid = Py_NewRef(c->uid);
    if (eq(status, v_allocated)) {
        Py_SETREF(pid, to_int(dget(f, s_pid), 0));
        if (!pid) goto done;
        if (!PyObject_IsTrue(pid)) Py_SETREF(pid, Py_NewRef(c->pid));
        if (dget(f, s_uid)) { Py_SETREF(uid, to_int(dget(f, s_uid), 0)); if (!uid) goto done; }
        exe = or_(dget(f, s_exe), exe);
        comm = or_(dget(f, s_comm), comm);
        obj = exe;
    }
    parts_t p = {op, v_landlock, s_AUDIT, pid, comm, exe, uid, subject, obj, s_empty, s_empty,
                 s_enforce, zero, s_empty};
    out = build(c, rec, &p, fields);
done:
    Py_XDECREF(op); Py_XDECREF(subject); Py_XDECREF(fields); Py_XDECREF(pid); Py_XDECREF(uid);
    Py_XDECREF(zero);
    return out;
}

/* interpret.seccomp(); NULL without an error: Python decides (a code past 64 bits) */
static PyObject *seccomp_record(ctx_t *c, PyObject *rec, Py_ssize_t index, PyObject *f) {
    PyObject *out = NULL, *action = NULL, *name = NULL, *errno_ = NULL, *denied = NULL,
             *pid = NULL, *uid = NULL, *fields = NULL;
    if (ctx_base(c) < 0) return NULL;
    PyObject *code_text = dget(f, k_code);
    long long code = 0;
    if (code_text) {
        PyObject *v = PyLong_FromUnicodeObject(code_text, 16);
        if (!v) {
            if (!PyErr_ExceptionMatches(PyExc_ValueError)) return NULL;
            PyErr_Clear();
        } else {
            int overflow = 0;
            code = PyLong_AsLongLongAndOverflow(v, &overflow);
            Py_DECREF(v);
            if (overflow || (code == -1 && PyErr_Occurred())) { PyErr_Clear(); return NULL; }
        }
    }
    long long act = code & 0xFFFF0000LL;
    const char *known = act == 0x80000000LL ? "kill_process" : act == 0 ? "kill_thread"
        : act == 0x00030000LL ? "trap" : act == 0x00050000LL ? "errno" : act == 0x7FC00000LL ? "user_notif"
        : act == 0x7FF00000LL ? "trace" : act == 0x7FFC0000LL ? "log" : act == 0x7FFF0000LL ? "allow" : NULL;
    char unknown[40];
    snprintf(unknown, sizeof(unknown), "action 0x%llx", act);
    action = PyUnicode_InternFromString(known ? known : unknown);
    if (!action) goto done;
    PyObject *result = known && (strcmp(known, "allow") == 0) ? v_ALLOWED
        : known && (!strcmp(known, "kill_process") || !strcmp(known, "kill_thread") || !strcmp(known, "trap")
                    || !strcmp(known, "errno")) ? v_DENIED : s_AUDIT;
    PyObject *arch = dget(f, k_arch), *nr = dget(f, k_syscall);
    name = syscall_name(arch ? arch : s_empty, nr ? nr : s_empty);
    if (!name) goto done;
    int is_errno = known && !strcmp(known, "errno");
    fields = base_fields(c, index);
    if (!fields) goto done;
    if (is_errno) {
        errno_ = (code & 0xFFFF) ? PyLong_FromLongLong(code & 0xFFFF) : Py_NewRef(c->errno_);
        if (!errno_) goto done;
        PyObject *expected = PyDict_GetItemWithError(g_fallback, name);
        if (!expected && PyErr_Occurred()) goto done;
        long e = PyLong_AsLong(errno_);
        if (e == -1 && PyErr_Occurred()) PyErr_Clear();
        if (expected && (e == 0 || e == ENOSYS)) {
            result = s_AUDIT;
            Py_SETREF(errno_, PyLong_FromLong(ENOSYS));
            if (!errno_ || PyDict_SetItem(fields, v_expected, expected) < 0) goto done;
        }
    } else {
        errno_ = PyLong_FromLong(0);
        if (!errno_) goto done;
    }
    if (result == v_DENIED) denied = is_errno ? PyObject_CallOneArg(g_errno_action, errno_) : Py_NewRef(action);
    else denied = Py_NewRef(s_empty);
    pid = to_int(dget(f, s_pid), 0);
    if (!denied || !pid) goto done;
    if (!PyObject_IsTrue(pid)) Py_SETREF(pid, Py_NewRef(c->pid));
    uid = dget(f, s_uid) ? to_int(dget(f, s_uid), 0) : Py_NewRef(c->uid);
    if (!uid || PyDict_Update(fields, f) < 0 || PyDict_SetItem(fields, v_action, action) < 0
        || PyDict_SetItem(fields, v_syscall_name, name) < 0)
        goto done;
    PyObject *subj = dget(f, k_subj);
    parts_t p = {v_syscall, v_seccomp, result, pid, or_(dget(f, s_comm), c->comm),
                 or_(dget(f, s_exe), c->exe), uid, subj ? subj : s_empty, name, name, denied,
                 s_enforce, errno_, s_empty};
    out = build(c, rec, &p, fields);
done:
    Py_XDECREF(action); Py_XDECREF(name); Py_XDECREF(errno_); Py_XDECREF(denied); Py_XDECREF(pid);
    Py_XDECREF(uid); Py_XDECREF(fields);
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

/* the event's allocated Landlock domains: {domain: fields} (the last of an id wins) */
static PyObject *domains_of(ctx_t *c) {
    PyObject *domains = PyDict_New();
    if (!domains) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(c->event);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *r = PyList_GET_ITEM(c->event, i);
        int big;
        if (type_value(R_TYPE(r), &big) != T_LL_DOMAIN || big) continue;
        PyObject *f = parse_fields(R_BODY(r));
        if (!f) goto error;
        if (eq(dget(f, k_status), v_allocated)) {
            PyObject *d = dget(f, k_domain);
            if (PyDict_SetItem(domains, d ? d : s_empty, f) < 0) { Py_DECREF(f); goto error; }
        }
        Py_DECREF(f);
    }
    return domains;
error:
    Py_DECREF(domains);
    return NULL;
}

/* interpret._decision() for a record _may_decide() accepts (not USER_AVC) */
static PyObject *decision(ctx_t *c, PyObject *rec, long t, Py_ssize_t index, PyObject *f) {
    if (t == T_AVC) {
        PyObject *body = R_BODY(rec);
        Py_ssize_t at = PyUnicode_Find(body, s_apparmor_eq, 0, PyUnicode_GET_LENGTH(body), 1);
        if (at == -2) return NULL;
        return at >= 0 ? apparmor_record(c, rec, t, index, f) : selinux_record(c, rec, index, body, f);
    }
    if (t == T_USER_AVC) {  /* the message inside msg='...', the outer fields under it */
        PyObject *inner = user_avc_inner(R_BODY(rec)), *out = NULL;
        if (!inner) return NULL;
        Py_ssize_t n = PyUnicode_GET_LENGTH(inner);
        Py_ssize_t at = PyUnicode_Find(inner, s_apparmor_eq, 0, n, 1);
        PyObject *fi = at == -2 ? NULL : parse_fields(inner);
        if (fi && at >= 0) {
            PyObject *merged = PyDict_Copy(f);
            if (merged && (PyDict_DelItemString(merged, "msg") == 0 || (PyErr_ExceptionMatches(PyExc_KeyError)
                                                                      && (PyErr_Clear(), 1)))
                && PyDict_Update(merged, fi) == 0)
                out = apparmor_record(c, rec, t, index, merged);
            Py_XDECREF(merged);
        } else if (fi) {
            out = selinux_record(c, rec, index, inner, fi);
        }
        Py_XDECREF(fi);
        Py_DECREF(inner);
        return out;
    }
    if (t >= 1500 && t <= 1507) return apparmor_record(c, rec, t, index, f);
    if (t == T_LL_ACCESS) {
        PyObject *domains = domains_of(c);
        if (!domains) return NULL;
        PyObject *out = landlock_access_record(c, rec, index, f, domains);
        Py_DECREF(domains);
        return out;
    }
    if (t == T_LL_DOMAIN) return landlock_domain_record(c, rec, index, f);
    if (t == T_SECCOMP) return seccomp_record(c, rec, index, f);
    return NULL;
}

static unsigned long long deferred_events;  /* events handed to Python (tests, benchmarks) */

/* fn(the event as RawRecords, first) in Python (interpret or event_rows), as a list */
static PyObject *call_python(PyObject *fn, PyObject *event, Py_ssize_t first) {
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
    PyObject *out = firstobj ? PyObject_CallFunctionObjArgs(fn, raws, firstobj, NULL) : NULL;
    Py_XDECREF(firstobj);
    Py_DECREF(raws);
    if (out && !PyList_CheckExact(out)) Py_SETREF(out, PySequence_List(out));
    return out;
}

static PyObject *python_interpret(PyObject *event, Py_ssize_t first) {
    deferred_events++;
    return call_python(g_interpret, event, first);
}

/* interpret.interpret(event, first): in C where it is sure, else in Python */
static PyObject *interpret_event(PyObject *event, Py_ssize_t first) {
    Py_ssize_t n = PyList_GET_SIZE(event);
    ctx_t c;
    memset(&c, 0, sizeof(c));
    c.event = event;
    c.syscall = c.cwd = c.proctitle = -1;
    Py_ssize_t primary = -1, rest_first = -1, nrest = 0, deciding = 0;
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
            if (r) deciding++;  /* a security module's record */
            if (rest_first < 0) rest_first = i;
            nrest++;
        }
    }
    if (c.many_paths) goto python;
    if (c.syscall >= 0) {
        PyObject *body = R_BODY(PyList_GET_ITEM(event, c.syscall));
        if (PyUnicode_GET_LENGTH(body) == 0) c.syscall = -1;  /* `if ctx.syscall_body:` */
        else if (!(c.have_sc = syscall_exact(body, c.sc))) {
            /* interpret.syscall_fields: the lazy regex, else every field */
            int found = PyUnicode_GET_LENGTH(body) <= SEARCH_MAX ? syscall_search(body, c.sc) : -2;
            if (found == -1) goto error;
            if (found == -2) {  /* a huge body: Python's own regex (the same cost as without C) */
                c.sc_dict = PyObject_CallOneArg(g_syscall_fields, body);
                if (!c.sc_dict) goto error;
            } else if (!found) {
                c.sc_dict = parse_fields(body);
                if (!c.sc_dict) goto error;
            }
        }
    }
    if ((r = ctx_when(&c, R_STAMP(PyList_GET_ITEM(event, 0)))) < 0) goto error;
    if (!r) goto python;
    out = PyList_New(0);
    if (!out) goto error;
    if (nrest == 0 || (nrest == 1 && !deciding)) {
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
            PyObject *rec;
            if ((r = may_decide(item, t)) < 0) goto error;
            if (r) {
                PyObject *f = parse_fields(R_BODY(item));
                if (!f) goto error;
                rec = decision(&c, item, t, first + i, f);
                Py_DECREF(f);
                if (!rec) {
                    if (PyErr_Occurred()) goto error;
                    Py_CLEAR(out);
                    goto python;
                }
            } else {
                rec = kernel_record(&c, item, first + i, R_LINE(item));
            }
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

/* ---- import's rows (eventrows.event_rows), for a Reader made with rows= ---- */

static unsigned long long deferred_rows;  /* events whose rows Python built (tests, benchmarks) */

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
            if (!syscall_exact(sb, g) || !ll_of(sb, g[SC_EXIT], 1, &exit_code)) return Py_None;
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
static PyObject *event_rows(PyObject *rows_fn, PyObject *event, Py_ssize_t first) {
    PyObject *row = fast_row(event, first);
    if (!row) return NULL;
    if (row != Py_None) {
        PyObject *out = PyList_New(1);
        if (!out) { Py_DECREF(row); return NULL; }
        PyList_SET_ITEM(out, 0, row);
        return out;
    }
    deferred_rows++;
    return call_python(rows_fn, event, first);
}

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
    return self->rows ? event_rows(self->rows, event, first) : interpret_event(event, first);
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

static PyTypeObject ReaderType = {
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
    if (!PyArg_ParseTuple(apparmor, "OOOO!OO!OO", &g_log_masks, &g_cap_name, &g_syscall_name,
                          &PyFrozenSet_Type, &g_untrusted, &g_errno_action, &PyDict_Type,
                          &g_fallback, &g_avc_perms, &g_syscall_fields))
        return NULL;
    Py_INCREF(g_syscall_fields);
    Py_INCREF(g_log_masks); Py_INCREF(g_cap_name); Py_INCREF(g_syscall_name); Py_INCREF(g_untrusted);
    Py_INCREF(g_errno_action); Py_INCREF(g_fallback); Py_INCREF(g_avc_perms);
    Py_XSETREF(g_sysnames, PyDict_New());
    if (!g_sysnames) return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_deferred(PyObject *mod, PyObject *unused) {
    return PyLong_FromUnsignedLongLong(deferred_events);
}

static PyObject *py_deferred_rows(PyObject *mod, PyObject *unused) {
    return PyLong_FromUnsignedLongLong(deferred_rows);
}

static PyMethodDef module_methods[] = {
    {"deferred", py_deferred, METH_NOARGS, "deferred() -> events handed to interpret() so far"},
    {"deferred_rows", py_deferred_rows, METH_NOARGS,
     "deferred_rows() -> events whose store rows eventrows.event_rows built so far"},
    {"setup", setup, METH_VARARGS, "setup(...): the Python definitions this reader follows"},
    {"parse_fields", py_parse_fields, METH_O, "parser.parse_fields(body), compiled"},
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
    INTERN(p_proctitle, " proctitle="); INTERN(s_space, " "); INTERN(k_apparmor, "apparmor");
    INTERN(k_operation, "operation"); INTERN(k_profile, "profile"); INTERN(k_label, "label");
    INTERN(k_capname, "capname"); INTERN(k_capability, "capability"); INTERN(k_peer, "peer");
    INTERN(k_peer_label, "peer_label"); INTERN(k_family, "family"); INTERN(k_path, "path");
    INTERN(k_fsuid, "fsuid"); INTERN(k_syscall, "syscall"); INTERN(k_success, "success");
    INTERN(k_exit, "exit"); INTERN(k_ppid, "ppid"); INTERN(k_auid, "auid"); INTERN(k_ses, "ses");
    INTERN(k_key, "key"); INTERN(v_DENIED, "DENIED"); INTERN(v_ALLOWED, "ALLOWED");
    INTERN(v_KILL, "KILL"); INTERN(v_HINT, "HINT"); INTERN(v_STATUS, "STATUS");
    INTERN(v_ERROR, "ERROR"); INTERN(v_complain, "complain"); INTERN(v_apparmor, "apparmor");
    INTERN(v_capable, "capable"); INTERN(v_signal, "signal"); INTERN(v_ptrace, "ptrace");
    INTERN(p_inode, " inode="); INTERN(s_arch_eq, "arch="); INTERN(k_sock_type, "sock_type");
    INTERN(k_tcontext, "tcontext"); INTERN(v_denied, "denied"); INTERN(v_granted, "granted");
    INTERN(v_one, "1"); INTERN(k_permissive, "permissive"); INTERN(k_tclass, "tclass");
    INTERN(k_scontext, "scontext"); INTERN(k_ino, "ino"); INTERN(v_colon, ":"); INTERN(v_comma, ",");
    INTERN(v_cap_userns, "cap_userns"); INTERN(v_capability2, "capability2"); INTERN(v_avc, "avc");
    INTERN(v_perms, "perms"); INTERN(v_selinux, "selinux"); INTERN(v_permissive, "permissive");
    INTERN(k_blockers, "blockers"); INTERN(k_domain, "domain"); INTERN(k_opid, "opid");
    INTERN(k_ocomm, "ocomm"); INTERN(v_landlock, "landlock"); INTERN(k_status, "status");
    INTERN(v_domain, "domain"); INTERN(v_allocated, "allocated"); INTERN(k_code, "code");
    INTERN(k_arch, "arch"); INTERN(v_expected, "expected"); INTERN(v_action, "action");
    INTERN(v_syscall_name, "syscall_name"); INTERN(k_subj, "subj"); INTERN(v_syscall, "syscall");
    INTERN(v_seccomp, "seccomp");
    static const char *names[SC_N] = {"arch", "syscall", "success", "exit", "ppid", "pid", "auid",
                                      "uid", "ses", "comm", "exe", "key"};
    for (int i = 0; i < SC_N; i++) INTERN(sc_names[i], names[i]);
    if (PyType_Ready(&ReaderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Reader", (PyObject *)&ReaderType) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
