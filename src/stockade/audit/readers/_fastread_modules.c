/* _fastread_modules.c: the security modules' records, as interpret.py reads them: AppArmor
 * (apparmor), SELinux AVCs (selinux), Landlock (landlock_access, landlock_domain) and seccomp;
 * _may_decide, and _decision, which picks one of them for a record. */
#include "_fastread.h"

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
    if (stk_ctx_base(c) < 0) return NULL;
    PyObject *cf = stk_ctx_fields(c);
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
            PyObject *number = stk_to_int(dget(f, k_capability), -1);
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
    pid = stk_to_int(dget(f, s_pid), 0);
    if (!pid) goto done;
    if (!PyObject_IsTrue(pid)) Py_SETREF(pid, Py_NewRef(c->pid));
    PyObject *comm = dget(f, s_comm);
    if (!nonempty(comm)) comm = c->comm;
    PyObject *exe = dget(f, s_exe);
    if (!nonempty(exe)) exe = c->exe;
    PyObject *fsuid = dget(f, k_fsuid);
    uid = fsuid ? stk_to_int(fsuid, 0) : Py_NewRef(c->uid);
    if (!uid) goto done;
    errno_ = denied_result && !PyObject_IsTrue(c->errno_) ? PyLong_FromLong(13) : Py_NewRef(c->errno_);
    idx = stk_index_str(index);
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

static PyObject *prefixed(const char *prefix, PyObject *v) {
    return PyUnicode_FromFormat("%s%U", prefix, v ? v : s_empty);
}

/* interpret.selinux() for an AVC record; NULL without an error: Python decides */
static PyObject *selinux_record(ctx_t *c, PyObject *rec, Py_ssize_t index, PyObject *body,
                                PyObject *f) {
    PyObject *out = NULL, *verdict_perms = NULL, *perms = NULL, *obj = NULL, *profile = NULL,
             *requested = NULL, *spaced = NULL, *pid = NULL, *errno_ = NULL, *fields = NULL, *parts = NULL;
    if (stk_ctx_base(c) < 0) return NULL;
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
    else if (dget(f, s_name)) obj = stk_full_path(c, dget(f, s_name), dget(f, k_ino));
    else if ((eq(tclass, k_capability) || eq(tclass, v_cap_userns) || eq(tclass, v_capability2))
             && dget(f, k_capability)) {
        PyObject *number = stk_to_int(dget(f, k_capability), -1);
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
    pid = stk_to_int(dget(f, s_pid), 0);
    if (!spaced || !pid) goto done;
    if (!PyObject_IsTrue(pid)) Py_SETREF(pid, Py_NewRef(c->pid));
    errno_ = result == v_DENIED && !PyObject_IsTrue(c->errno_) ? PyLong_FromLong(13) : Py_NewRef(c->errno_);
    fields = errno_ ? stk_base_fields(c, index) : NULL;
    if (!fields || PyDict_Update(fields, f) < 0 || PyDict_SetItem(fields, v_avc, verdict) < 0
        || PyDict_SetItem(fields, v_perms, spaced) < 0)
        goto done;
    parts_t p = {tclass, v_selinux, result, pid, or_(dget(f, s_comm), c->comm), c->exe, c->uid,
                 subject, obj, requested, result != s_AUDIT ? requested : s_empty,
                 permissive ? v_permissive : s_enforce, errno_, profile};
    out = stk_build(c, rec, &p, fields);
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
    if (stk_ctx_base(c) < 0) return NULL;
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
    fields = stk_base_fields(c, index);
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
            Py_SETREF(pid, stk_to_int(PyDict_GetItemString(creator, "pid"), 0));
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
    out = stk_build(c, rec, &p, fields);
done:
    Py_XDECREF(obj); Py_XDECREF(subject); Py_XDECREF(fields); Py_XDECREF(pid); Py_XDECREF(errno_);
    return out;
}

/* interpret.landlock_domain() */
static PyObject *landlock_domain_record(ctx_t *c, PyObject *rec, Py_ssize_t index, PyObject *f) {
    PyObject *out = NULL, *op = NULL, *subject = NULL, *fields = NULL, *pid = NULL, *uid = NULL,
             *zero = NULL;
    if (stk_ctx_base(c) < 0) return NULL;
    PyObject *status = dget(f, k_status);
    op = nonempty(status) ? prefixed("domain_", status) : Py_NewRef(v_domain);
    subject = prefixed("domain=", dget(f, k_domain));
    fields = stk_base_fields(c, index);
    zero = PyLong_FromLong(0);
    if (!op || !subject || !fields || !zero || PyDict_Update(fields, f) < 0) goto done;
    PyObject *comm = c->comm, *exe = c->exe, *obj = s_empty;
    pid = Py_NewRef(c->pid);
    uid = Py_NewRef(c->uid);
    if (eq(status, v_allocated)) {
        Py_SETREF(pid, stk_to_int(dget(f, s_pid), 0));
        if (!pid) goto done;
        if (!PyObject_IsTrue(pid)) Py_SETREF(pid, Py_NewRef(c->pid));
        if (dget(f, s_uid)) { Py_SETREF(uid, stk_to_int(dget(f, s_uid), 0)); if (!uid) goto done; }
        exe = or_(dget(f, s_exe), exe);
        comm = or_(dget(f, s_comm), comm);
        obj = exe;
    }
    parts_t p = {op, v_landlock, s_AUDIT, pid, comm, exe, uid, subject, obj, s_empty, s_empty,
                 s_enforce, zero, s_empty};
    out = stk_build(c, rec, &p, fields);
done:
    Py_XDECREF(op); Py_XDECREF(subject); Py_XDECREF(fields); Py_XDECREF(pid); Py_XDECREF(uid);
    Py_XDECREF(zero);
    return out;
}

/* interpret.seccomp(); NULL without an error: Python decides (a code past 64 bits) */
static PyObject *seccomp_record(ctx_t *c, PyObject *rec, Py_ssize_t index, PyObject *f) {
    PyObject *out = NULL, *action = NULL, *name = NULL, *errno_ = NULL, *denied = NULL,
             *pid = NULL, *uid = NULL, *fields = NULL;
    if (stk_ctx_base(c) < 0) return NULL;
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
    name = stk_syscall_name(arch ? arch : s_empty, nr ? nr : s_empty);
    if (!name) goto done;
    int is_errno = known && !strcmp(known, "errno");
    fields = stk_base_fields(c, index);
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
    pid = stk_to_int(dget(f, s_pid), 0);
    if (!denied || !pid) goto done;
    if (!PyObject_IsTrue(pid)) Py_SETREF(pid, Py_NewRef(c->pid));
    uid = dget(f, s_uid) ? stk_to_int(dget(f, s_uid), 0) : Py_NewRef(c->uid);
    if (!uid || PyDict_Update(fields, f) < 0 || PyDict_SetItem(fields, v_action, action) < 0
        || PyDict_SetItem(fields, v_syscall_name, name) < 0)
        goto done;
    PyObject *subj = dget(f, k_subj);
    parts_t p = {v_syscall, v_seccomp, result, pid, or_(dget(f, s_comm), c->comm),
                 or_(dget(f, s_exe), c->exe), uid, subj ? subj : s_empty, name, name, denied,
                 s_enforce, errno_, s_empty};
    out = stk_build(c, rec, &p, fields);
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
int stk_may_decide(PyObject *rec, long t) {
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
        PyObject *f = stk_parse_fields(R_BODY(r));
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
PyObject *stk_decision(ctx_t *c, PyObject *rec, long t, Py_ssize_t index, PyObject *f) {
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
        PyObject *fi = at == -2 ? NULL : stk_parse_fields(inner);
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
