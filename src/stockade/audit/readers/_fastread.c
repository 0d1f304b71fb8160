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
 *
 * The reader's files (one job each, sharing _fastread.h):
 *   _fastread.c          this file: setup()'s Python objects, the interned strings, the module
 *   _fastread_fields.c   field values and parser.parse_fields
 *   _fastread_syscall.c  the SYSCALL record's layout
 *   _fastread_event.c    a completed event: its context, kernel records, interpret_event
 *   _fastread_modules.c  AppArmor, SELinux, Landlock and seccomp records
 *   _fastread_rows.c     store rows for import (Reader(rows=...))
 *   _fastread_reader.c   the Reader type: lines, correlation into events
 */
#include "_fastread.h"

/* ---- Python objects given by setup() (declared in _fastread.h) ---- */
PyObject *g_tokens;      /* correlate._tokens: token -> (number, kind) */
PyObject *g_token_fn;    /* correlate._token */
PyObject *g_parse_line;  /* parser.parse_line */
PyObject *g_interpret;   /* interpret.interpret */
PyObject *g_raw_cls;     /* parser.RawRecord */
PyObject *g_record_cls;  /* record.AuditRecord */
PyObject *g_kernel_ops;  /* interpret._KERNEL_OPS: type -> (NAME, name) */
PyObject *g_type_name;   /* types.type_name */
PyObject *g_index;       /* interpret._INDEX */
PyObject *g_log_masks;   /* aalog.grammar.log_masks */
PyObject *g_cap_name;    /* lsm.caps.cap_name */
PyObject *g_syscall_name; /* syscalls.syscall_name */
PyObject *g_untrusted;   /* parser.UNTRUSTED */
PyObject *g_sysnames;    /* (arch, nr) -> syscall name, bounded */
PyObject *g_errno_action; /* interpret.errno_action */
PyObject *g_fallback;    /* interpret.FALLBACK_ENOSYS */
PyObject *g_avc_perms;   /* parser.avc_permissions */
PyObject *g_syscall_fields; /* interpret.syscall_fields */

/* ---- interned strings ---- */
PyObject *s_type_eq, *s_msg, *s_close, *s_empty, *s_kernel, *s_AUDIT, *s_enforce,
    *s_record_index, *s_type, *s_newline, *s_null, *s_pid, *s_uid, *s_comm, *s_exe, *s_name,
    *s_cwd, *s_apparmor_eq, *s_avc_colon, *s_msgq, *s_quote1, *s_slash, *s_node, *s_body,
    *s_line, *s_stamp, *s_proctitle, *s_space, *k_apparmor, *k_operation, *k_profile, *k_label,
    *k_capname, *k_capability, *k_peer, *k_peer_label, *k_family, *k_path, *k_fsuid, *k_syscall,
    *k_success, *k_exit, *k_ppid, *k_auid, *k_ses, *k_key, *v_DENIED, *v_ALLOWED, *v_KILL, *v_HINT,
    *v_STATUS, *v_ERROR, *v_complain, *v_apparmor, *v_capable, *v_signal, *v_ptrace;
PyObject *k_sock_type, *k_tcontext, *s_arch_eq, *p_proctitle, *p_inode, *v_denied, *v_granted, *v_one, *k_permissive, *k_tclass,
    *k_scontext, *k_ino, *v_colon, *v_comma, *v_cap_userns, *v_capability2, *v_avc, *v_perms,
    *v_selinux, *v_permissive, *k_blockers, *k_domain, *k_opid, *k_ocomm, *v_landlock, *k_status,
    *v_domain, *v_allocated, *k_code, *k_arch, *v_expected, *v_action, *v_syscall_name, *k_subj,
    *v_syscall, *v_seccomp;
PyObject *p_pid, *p_uid, *p_comm, *p_exe, *p_name, *p_cwd; /* " key=" probes */

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
    return PyLong_FromUnsignedLongLong(stk_deferred_events);
}

static PyObject *py_deferred_rows(PyObject *mod, PyObject *unused) {
    return PyLong_FromUnsignedLongLong(stk_deferred_rows);
}

static PyMethodDef module_methods[] = {
    {"deferred", py_deferred, METH_NOARGS, "deferred() -> events handed to interpret() so far"},
    {"deferred_rows", py_deferred_rows, METH_NOARGS,
     "deferred_rows() -> events whose store rows eventrows.event_rows built so far"},
    {"setup", setup, METH_VARARGS, "setup(...): the Python definitions this reader follows"},
    {"parse_fields", stk_py_parse_fields, METH_O, "parser.parse_fields(body), compiled"},
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
    for (int i = 0; i < SC_N; i++) INTERN(stk_sc_names[i], names[i]);
    if (PyType_Ready(&stk_ReaderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Reader", (PyObject *)&stk_ReaderType) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
