/* _fastread.h: what the compiled audit.log reader's files share (the reader itself is described
 * in _fastread.c): the Python objects setup() gives, the interned strings, the record type
 * numbers, the small string helpers and cursor the hot path uses (static inline, so each file
 * keeps them inlined as when the reader was one file), the event context, and the functions one
 * file calls in another (stk_ names; everything else stays static in its file). Private: only
 * the _fastread*.c files include it. */
#ifndef STOCKADE_FASTREAD_H
#define STOCKADE_FASTREAD_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

/* Only PyInit__fastread is exported (PyMODINIT_FUNC), as when every other name was static. */
#pragma GCC visibility push(hidden)

/* ---- Python objects given by setup() ---- */
extern PyObject *g_tokens;      /* correlate._tokens: token -> (number, kind) */
extern PyObject *g_token_fn;    /* correlate._token */
extern PyObject *g_parse_line;  /* parser.parse_line */
extern PyObject *g_interpret;   /* interpret.interpret */
extern PyObject *g_raw_cls;     /* parser.RawRecord */
extern PyObject *g_record_cls;  /* record.AuditRecord */
extern PyObject *g_kernel_ops;  /* interpret._KERNEL_OPS: type -> (NAME, name) */
extern PyObject *g_type_name;   /* types.type_name */
extern PyObject *g_index;       /* interpret._INDEX */
extern PyObject *g_log_masks;   /* aalog.grammar.log_masks */
extern PyObject *g_cap_name;    /* lsm.caps.cap_name */
extern PyObject *g_syscall_name; /* syscalls.syscall_name */
extern PyObject *g_untrusted;   /* parser.UNTRUSTED */
extern PyObject *g_sysnames;    /* (arch, nr) -> syscall name, bounded */
extern PyObject *g_errno_action; /* interpret.errno_action */
extern PyObject *g_fallback;    /* interpret.FALLBACK_ENOSYS */
extern PyObject *g_avc_perms;   /* parser.avc_permissions */
extern PyObject *g_syscall_fields; /* interpret.syscall_fields */

/* ---- interned strings ---- */
extern PyObject *s_type_eq, *s_msg, *s_close, *s_empty, *s_kernel, *s_AUDIT, *s_enforce,
    *s_record_index, *s_type, *s_newline, *s_null, *s_pid, *s_uid, *s_comm, *s_exe, *s_name,
    *s_cwd, *s_apparmor_eq, *s_avc_colon, *s_msgq, *s_quote1, *s_slash, *s_node, *s_body,
    *s_line, *s_stamp, *s_proctitle, *s_space, *k_apparmor, *k_operation, *k_profile, *k_label,
    *k_capname, *k_capability, *k_peer, *k_peer_label, *k_family, *k_path, *k_fsuid, *k_syscall,
    *k_success, *k_exit, *k_ppid, *k_auid, *k_ses, *k_key, *v_DENIED, *v_ALLOWED, *v_KILL, *v_HINT,
    *v_STATUS, *v_ERROR, *v_complain, *v_apparmor, *v_capable, *v_signal, *v_ptrace;
extern PyObject *k_sock_type, *k_tcontext, *s_arch_eq, *p_proctitle, *p_inode, *v_denied, *v_granted, *v_one, *k_permissive, *k_tclass,
    *k_scontext, *k_ino, *v_colon, *v_comma, *v_cap_userns, *v_capability2, *v_avc, *v_perms,
    *v_selinux, *v_permissive, *k_blockers, *k_domain, *k_opid, *k_ocomm, *v_landlock, *k_status,
    *v_domain, *v_allocated, *k_code, *k_arch, *v_expected, *v_action, *v_syscall_name, *k_subj,
    *v_syscall, *v_seccomp;
extern PyObject *p_pid, *p_uid, *p_comm, *p_exe, *p_name, *p_cwd; /* " key=" probes */

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

static inline int starts_at(PyObject *s, PyObject *prefix, Py_ssize_t at) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (at < 0 || at > n) return 0;
    return (int)PyUnicode_Tailmatch(s, prefix, at, n, -1);
}

/* a record type number as a C long; 0 with *big set when it does not fit */
static inline long type_value(PyObject *number, int *big) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(number, &overflow);
    *big = overflow != 0 || v > 1000000000LL || v < -1000000000LL;
    return *big ? 0 : (long)v;
}

static inline int is_user(long t) { return (t >= 1100 && t <= 1299) || (t >= 2100 && t <= 2999); }

static inline int is_aux(long t) {
    return t == T_SYSCALL || t == T_PATH || t == T_CWD || t == T_PROCTITLE || t == T_EOE
        || t == T_EXECVE || t == T_SOCKADDR || t == T_AVC_PATH;
}

/* `\d+(?:\.\d+)?:\d+` in ASCII digits only (a Unicode digit takes the general path) */
static inline int stamp_ascii_ok(PyObject *s) {
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
extern PyObject *stk_short_table[SHORT_SLOTS];  /* in _fastread_fields.c */

static inline PyObject *sub(PyObject *s, Py_ssize_t a, Py_ssize_t b) {
    Py_ssize_t n = b - a;
    if (n <= 0 || n > SHORT_MAX || !PyUnicode_IS_ASCII(s)) return PyUnicode_Substring(s, a, b);
    const unsigned char *p = PyUnicode_1BYTE_DATA(s) + a;
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    PyObject **slot = &stk_short_table[h % SHORT_SLOTS];
    PyObject *hit = *slot;
    if (hit && PyUnicode_GET_LENGTH(hit) == n && memcmp(PyUnicode_1BYTE_DATA(hit), p, (size_t)n) == 0)
        return Py_NewRef(hit);
    PyObject *made = PyUnicode_FromStringAndSize((const char *)p, n);
    if (!made) return NULL;
    Py_XSETREF(*slot, Py_NewRef(made));
    return made;
}

/* ---- the SYSCALL record's groups, and a cursor over a str ---- */

typedef struct { Py_ssize_t a, b; } span;
enum { SC_ARCH, SC_SYSCALL, SC_SUCCESS, SC_EXIT, SC_PPID, SC_PID, SC_AUID, SC_UID, SC_SES,
       SC_COMM, SC_EXE, SC_KEY, SC_N };

typedef struct { PyObject *s; Py_ssize_t i, n; } cursor;

static inline int c_lit_n(cursor *c, const char *lit, Py_ssize_t k) {
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
static inline int c_run(cursor *c, char cls, span *out) {
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

/* ---- an event ---- */

/* a record: (type number, stamp, body, line, node) */
static inline PyObject *make_rec(PyObject *type, PyObject *stamp, PyObject *body, PyObject *line,
                                 PyObject *node) {
    return PyTuple_Pack(5, type, stamp, body, line, node);
}

#define R_TYPE(r) PyTuple_GET_ITEM(r, 0)
#define R_STAMP(r) PyTuple_GET_ITEM(r, 1)
#define R_BODY(r) PyTuple_GET_ITEM(r, 2)
#define R_LINE(r) PyTuple_GET_ITEM(r, 3)

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

/* the AuditRecord from _base()'s values and what a module's function set */
typedef struct {
    PyObject *operation, *module, *result, *pid, *comm, *exe, *uid, *subject, *object,
             *requested, *denied, *mode, *errno_, *profile;
} parts_t;

/* ---- a fields dict ---- */

static inline PyObject *dget(PyObject *f, PyObject *key) {  /* borrowed, NULL when absent */
    return PyDict_GetItemWithError(f, key);
}

static inline int nonempty(PyObject *v) { return v && PyUnicode_Check(v) && PyUnicode_GET_LENGTH(v); }

static inline int eq(PyObject *a, PyObject *b) { return a && PyUnicode_Check(a) && PyUnicode_Compare(a, b) == 0; }

static inline PyObject *or_(PyObject *v, PyObject *dflt) { return nonempty(v) ? v : dflt; }

/* ---- across files ---- */

/* _fastread_fields.c */
PyObject *stk_bare(PyObject *value, int proctitle);
PyObject *stk_get_field(PyObject *body, PyObject *probe, int untrusted, int proctitle);
PyObject *stk_to_int(PyObject *value, long dflt);
PyObject *stk_parse_fields(PyObject *body);
PyObject *stk_py_parse_fields(PyObject *mod, PyObject *body);

/* _fastread_syscall.c */
int stk_syscall_exact(PyObject *body, span *g);
int stk_syscall_search(PyObject *body, span *g);
PyObject *stk_unquote(PyObject *body, span g);

/* _fastread_event.c */
extern PyObject *stk_sc_names[SC_N];  /* the SYSCALL fields' names, SC_* order */
extern unsigned long long stk_deferred_events;  /* events handed to Python (tests, benchmarks) */
PyObject *stk_index_str(Py_ssize_t index);
PyObject *stk_syscall_name(PyObject *a, PyObject *b);
PyObject *stk_ctx_fields(ctx_t *c);
int stk_ctx_base(ctx_t *c);
PyObject *stk_build(ctx_t *c, PyObject *rec, parts_t *p, PyObject *fields);
PyObject *stk_base_fields(ctx_t *c, Py_ssize_t index);
PyObject *stk_full_path(ctx_t *c, PyObject *name, PyObject *inode);
PyObject *stk_call_python(PyObject *fn, PyObject *event, Py_ssize_t first);
PyObject *stk_interpret_event(PyObject *event, Py_ssize_t first);

/* _fastread_modules.c */
int stk_may_decide(PyObject *rec, long t);
PyObject *stk_decision(ctx_t *c, PyObject *rec, long t, Py_ssize_t index, PyObject *f);

/* _fastread_rows.c */
extern unsigned long long stk_deferred_rows;  /* events whose rows Python built (tests, benchmarks) */
PyObject *stk_event_rows(PyObject *rows_fn, PyObject *event, Py_ssize_t first);

/* _fastread_reader.c */
extern PyTypeObject stk_ReaderType;

#pragma GCC visibility pop

#endif
